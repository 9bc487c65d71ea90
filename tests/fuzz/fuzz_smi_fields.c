/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_smi_fields.c - tt-smi's --query-device/--query-apps field lists and
 * --format: any text gives a query or -EINVAL naming a field inside it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smi_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int apps = 0; apps <= 1; apps++) {
        struct smi_csv_query q;
        memset(&q, 0, sizeof(q));
        const char *bad = NULL;
        size_t bad_len = 0;
        if (smi_csv_parse_fields(&q, apps, text, &bad, &bad_len) < 0) {
            if (bad == NULL || bad < text || bad + bad_len > text + strlen(text))
                abort();
        } else if (q.n_fields < 0 || q.n_fields > SMI_CSV_MAX_FIELDS) {
            abort();
        }
    }
    struct smi_csv_query q;
    memset(&q, 0, sizeof(q));
    smi_csv_parse_format(&q, text);
    free(text);
    return 0;
}
