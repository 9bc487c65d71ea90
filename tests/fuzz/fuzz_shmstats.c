/*
 * fuzz_shmstats.c - TT-Metal's SHM region format (src/shm/shmstats.c): any
 * bytes another user leaves in /dev/shm, at any length, give a region or a
 * clear refusal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *copy = malloc(size + 8);      /* 8-byte aligned, as the reader's copy is */
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    struct shmstats_region region;
    char why[256];
    shmstats_parse(copy, size, "/dev/shm/tt_device_1_memory", &region, why, sizeof(why));
    free(copy);
    return 0;
}
