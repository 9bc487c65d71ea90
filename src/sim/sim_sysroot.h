/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_sysroot.h - `tt-alloc-sim sysroot`: build a fake tt-kmd tree (sysfs,
 * hwmon, device nodes, pids files, driver version) that tt-smi, the server
 * and the monitor read through TT_SYSROOT / --sysroot. With --live it keeps
 * running: telemetry moves and the pids files follow the real processes that
 * hold the fake nodes open. docs/simulated-sysfs.md compares it with the
 * real driver file by file.
 */
#ifndef TTALLOC_SIM_SYSROOT_H
#define TTALLOC_SIM_SYSROOT_H

#include <stddef.h>

#define SIM_SYSROOT_MAX_DEVICES 256

struct sim_sysroot_spec {
    int index;         /* tt-kmd ordinal */
    const char *board; /* points into a static table */
};

/* Parse "n150,p150a" (ordinals 0,1,...) or "0:n150,3:p150a" (sparse; the two
 * forms may mix, an item without an ordinal takes the previous one + 1).
 * Returns how many, or -EINVAL (unknown board, duplicate or bad ordinal, too
 * many). Public for the tests. */
int sim_sysroot_parse_devices(const char *list, struct sim_sysroot_spec *out, size_t cap);

int sim_sysroot_main(int argc, char **argv);

#endif /* TTALLOC_SIM_SYSROOT_H */
