/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_shmstats.c - TT-Metal's SHM region format (src/shm/shmstats.c): any
 * bytes another user leaves in /dev/shm, at any length, give a region or a
 * clear refusal; and a region read from them, mapped and counted
 * (shmusage.c), makes no device row unless a live process uses it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmstats.h"
#include "shmusage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *copy = malloc(size + 8); /* 8-byte aligned, as the reader's copy is */
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    struct shmstats_region region;
    char why[256];
    int rc = shmstats_parse(copy, size, "/dev/shm/tt_device_1_memory", &region, why, sizeof(why));
    free(copy);
    if (rc == 0) {
        struct shmusage u;
        if (shmusage_build(&region, 1, NULL, 0, NULL, 0, NULL, NULL, &u) == 0) {
            /* no node exists here: a row needs a live process (no phantoms) */
            if (u.n_devices > 0 && region.n_processes == 0)
                abort();
            shmusage_free(&u);
        }
    }
    return 0;
}
