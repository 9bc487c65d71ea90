/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_pids.h - keep a fake tt-kmd pids file ($SYSROOT/proc/driver/
 * tenstorrent/<N>/pids) true for a simulated process: one line per open fd,
 * as the real driver writes it. A process adds its line when it opens the fake
 * node and removes it when it closes it; a process killed before it could
 * has its line dropped by the next writer (its PID no longer exists).
 * Writers serialise on flock() of the file's directory and replace the file
 * whole (temporary + rename), so a reader never sees half a file. A
 * `tt-alloc-sim sysroot --live` tree rewrites the same files from a scan of
 * /proc/<pid>/fd; both agree on what the file should say.
 */
#ifndef TTALLOC_SIM_PIDS_H
#define TTALLOC_SIM_PIDS_H

#include <sys/types.h>

/* Add one line for `pid` to device `index`'s pids file under `sysroot`.
 * Returns 0, -ENOENT when the tree has no pids file (a driver older than
 * 2.5: nothing to keep), or another negative errno. */
int sim_pids_add(const char *sysroot, int index, pid_t pid);

/* Remove one line for `pid` (and the lines of dead PIDs). Same returns. */
int sim_pids_remove(const char *sysroot, int index, pid_t pid);

#endif /* TTALLOC_SIM_PIDS_H */
