/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_run.h - `tt-alloc-sim run`: one simulated TT-Metal process. It opens
 * the fake device nodes of its devices under the sysroot (and keeps their
 * pids files true), describes the devices to tt-alloc-server, and records
 * through libttalloc the allocations of a workload profile (profiles.h),
 * paced at --rate events per second, until --duration, a signal, or the
 * SIGKILL it sends itself after --crash-after. With --shm it also writes
 * TT-Metal's SHM statistics (shmwriter.h); --no-ttalloc leaves libttalloc
 * out. docs/tt-alloc-sim.md is the manual.
 */
#ifndef TTALLOC_SIM_RUN_H
#define TTALLOC_SIM_RUN_H

#include <stddef.h>
#include <stdint.h>

#define SIM_RUN_MAX_DEVICES 32

struct sim_run_device {
    int index;      /* tt-kmd ordinal = TT-Metal device id */
    char board[32]; /* "" = read from sysfs */
};

/* Parse "0,2" or "0:n150,2:p150a" (ordinals, each with an optional board).
 * Returns how many, or -EINVAL (bad or duplicate ordinal, too many). Public
 * for the tests. */
int sim_run_parse_devices(const char *list, struct sim_run_device *out, size_t cap);

int sim_run_main(int argc, char **argv);

#endif /* TTALLOC_SIM_RUN_H */
