/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pids.c - tt-kmd's pids files (/proc/driver/tenstorrent/N/pids):
 * every PID kept is > 0, distinct, and the cap holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "procs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pid_t pids[64];
    size_t n = procs_parse_pids((const char *)data, size, pids, 0, 64);
    if (n > 64)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (pids[i] <= 0)
            abort();
        for (size_t j = i + 1; j < n; j++) {
            if (pids[i] == pids[j])
                abort();
        }
    }
    return 0;
}
