/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_exits_store.c - the leak history's state file (exits_store.c): any
 * bytes in the file load as an empty history or as records that keep the
 * store's invariants (bounded count, NUL-terminated strings, ascending uids),
 * and the store then saves and reloads the same records.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exits_store.h"
#include "log.h"

static char path[64];

static void fuzz_setup(void)
{
    static char dir[] = "/tmp/fuzz_exits_store.XXXXXX";
    if (path[0] != '\0')
        return;
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/state", dir);
    log_init("fuzz_exits_store", -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_setup();
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
        abort();
    close(fd);
    const uint64_t now = 1800000000ull * 1000000000ull;
    struct exits_store s;
    if (exits_store_open(&s, path, 8, 0, now) < 0)
        abort();
    if (s.n_records > 8 || s.n_uids > EXITS_STORE_MAX_UIDS)
        abort();
    for (size_t i = 0; i < s.n_records; i++) {
        if (memchr(s.records[i].name, '\0', sizeof(s.records[i].name)) == NULL ||
            memchr(s.records[i].label, '\0', sizeof(s.records[i].label)) == NULL ||
            s.records[i].pid <= 0)
            abort();
    }
    for (size_t i = 1; i < s.n_uids; i++) {
        if (s.uids[i - 1].uid >= s.uids[i].uid)
            abort();
    }
    size_t n = s.n_records;
    struct ttalloc_exit first;
    if (n > 0)
        first = s.records[0];
    s.dirty = 1;
    if (exits_store_flush(&s) != 0)
        abort();
    exits_store_close(&s);
    if (exits_store_open(&s, path, 8, 0, now) < 0 || s.n_records != n ||
        (n > 0 && memcmp(&first, &s.records[0], sizeof(first)) != 0))
        abort();
    exits_store_close(&s);
    return 0;
}
