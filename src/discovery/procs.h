/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procs.h - which processes hold which Tenstorrent device, and the facts
 * about a process (name, user, command line).
 *
 * Holders come from tt-kmd's /proc/driver/tenstorrent/<N>/pids under the
 * sysroot (driver >= 2.5: one line per open fd, so duplicates are merged).
 * When a device has no readable pids file (older drivers), every /proc/<pid>/fd
 * is scanned for links to $TT_SYSROOT/dev/tenstorrent/<N> (complete only as
 * root). Per-process facts always come from the real /proc.
 */
#ifndef TTALLOC_PROCS_H
#define TTALLOC_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One (process, device) pair. */
struct procs_holder {
    pid_t pid;
    int device;    /* tt-kmd ordinal */
    int from_pids; /* 1: listed in the pids file; 0: found by the fd scan */
};

/* The holders of the devices `indexes[0..n_indexes)`, ascending by (pid,
 * device), without duplicates, leaving out `exclude_pid` (0 = nobody; tt-smi
 * passes its own pid). PIDs that no longer exist in /proc are dropped.
 * *used_fd_scan is set to 1 when any device needed the fd scan.
 * free() *out. Returns 0 or -ENOMEM. */
int procs_scan(const char *sysroot, const int *indexes, size_t n_indexes, pid_t exclude_pid,
               struct procs_holder **out, size_t *n, int *used_fd_scan);

/* The raw fd scan: one entry per open fd of any process on a node
 * $TT_SYSROOT/dev/tenstorrent/<N> with N in want[] (duplicates kept, as
 * tt-kmd's pids file has them; from_pids = 0). Returns 0 or a negative errno
 * (-ENOMEM, or why /proc could not be read); free() *out. The simulator uses
 * it to keep its fake pids files true. */
int procs_fd_scan(const char *sysroot, const int *want, size_t n_want, struct procs_holder **out,
                  size_t *n);

/* Parse the text of a pids file: PIDs (> 0), one per line; blank lines and
 * garbage lines are skipped. Appends to pids (deduplicated), up to cap.
 * Returns how many distinct PIDs it holds now. Public for the tests. */
size_t procs_parse_pids(const char *text, size_t len, pid_t *pids, size_t count, size_t cap);

struct procs_info {
    pid_t pid;
    uid_t uid;     /* (uid_t)-1 when unknown */
    char name[64]; /* /proc/<pid>/comm, "" when gone */
    char user[64]; /* user name, or the uid in decimal */
    char *cmdline; /* arguments joined by spaces (malloc'd; "" if none) */
};

/* Read `pid`'s facts from the real /proc. Returns 0, or -ESRCH when the
 * process is gone. Free with procs_info_free. */
int procs_info_read(pid_t pid, struct procs_info *info);
void procs_info_free(struct procs_info *info);

/* The value of environment variable `name` in `pid`'s initial environment
 * (the real /proc/<pid>/environ, readable for one's own processes or as
 * root), cut to cap-1 bytes. Returns 1 and the value (possibly ""), 0 when
 * the variable is not set, or a negative errno (-EACCES, -ENOENT when the
 * process is gone). */
int procs_environ_get(pid_t pid, const char *name, char *out, size_t cap);

/* The state letter ('R', 'S', 'Z', ...) and parent of `pid` from
 * <proc_root>/<pid>/stat (proc_root NULL: "/proc"). The name field may hold
 * spaces and parentheses: the fields after it follow its last ')'. Returns
 * 0, or -ESRCH when the file cannot be read, -EINVAL when it does not parse
 * (a parent outside 0..INT32_MAX included). state or ppid may be NULL. */
int procs_read_stat(const char *proc_root, int32_t pid, char *state, int32_t *ppid);

#endif /* TTALLOC_PROCS_H */
