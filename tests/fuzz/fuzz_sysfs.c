/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sysfs.c - sysfs and /proc values (sysfs_parse_int), as tt-kmd or a
 * hostile sysroot writes them: any bytes, any bounds order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sysfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t v = sysfs_parse_int(text, size, 0, INT64_MAX);
    if (v != SYSFS_UNKNOWN && v < 0)
        abort();
    v = sysfs_parse_int(text, size, -1000, 1000);
    if (v != SYSFS_UNKNOWN && (v < -1000 || v > 1000))
        abort();
    free(text);
    return 0;
}
