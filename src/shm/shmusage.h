/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmusage.h - the one rule that turns TT-Metal SHM regions (shmstats.h)
 * and the sysfs devices into per-device and per-process memory figures.
 * tt-alloc-server (src/server/sources.c) and tt-smi without a server both
 * call it, so the two can never disagree.
 *
 * The rule (docs/tt-metal-shm.md, "From regions to figures"):
 *  - Rows come from shmmap_build (which device each region and chip is).
 *  - A region's counted bytes S (per type) are its totals less what the
 *    slots of dead PIDs (stale) and of PIDs the caller counts itself (the
 *    server skips every PID that reports through libttalloc) still claim.
 *    Totals, not the sum of the slots: a process with TT-Metal's per-PID
 *    tracking disabled has no slot but its bytes are in the totals. Its
 *    extra chip rows (remote chips of a gateway) take, in row order, their
 *    chip counters capped by what is left of S; the region's own row takes
 *    the rest. So no byte is counted twice.
 *  - Each counted live process is one entry per (pid, own row's device), with
 *    the process's bytes from its slot.
 *  - A region whose figures are unknown (shmstats.h) gives its rows and its
 *    processes unknown figures (`unknown`), never 0.
 *  - A device row is kept when it has a node (the figures are known, if 0),
 *    or when its region has live processes (a remote chip in use); rows of
 *    stale files without a node are left out.
 *  - Slots of dead PIDs are listed (stale[]), with the device they were on.
 */
#ifndef TTALLOC_SHMUSAGE_H
#define TTALLOC_SHMUSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmmap.h"
#include "shmstats.h"
#include "sysfs.h"
#include "ttalloc.h"

struct shmusage_device {
    uint32_t device;       /* id to show (shmmap_row.device) */
    int sysfs;             /* index into the sysfs array, -1 = no node */
    int board_sysfs;       /* a node on the same board, -1 = unknown */
    enum shmmap_match how; /* how the row's node was found */
    int unknown;           /* used[] is unknown (reported as null) */
    uint32_t processes;    /* counted processes on this row */
    uint64_t used[TTALLOC_NUM_TYPES];
};

struct shmusage_process {
    pid_t pid;
    uint32_t device;              /* as in shmusage_device.device */
    int sysfs;                    /* index into the sysfs array, -1 = no node */
    char name[SHMSTATS_NAME_MAX]; /* from the region ("" = none given) */
    int unknown;                  /* bytes[] unknown: the region's figures are */
    uint64_t bytes[TTALLOC_NUM_TYPES];
};

/* A slot whose PID no longer runs: not a user; shown as stale. */
struct shmusage_stale {
    pid_t pid;
    uint32_t device; /* the region's own row's device */
    int sysfs;       /* index into the sysfs array, -1 = no node */
    char name[SHMSTATS_NAME_MAX];
};

struct shmusage {
    struct shmusage_device *devices; /* ascending device */
    size_t n_devices;
    struct shmusage_process *processes; /* ascending (pid, device) */
    size_t n_processes;
    struct shmusage_stale *stale_pids; /* ascending (pid, device) */
    size_t n_stale_pids;
    uint32_t stale;   /* slots of dead PIDs, ignored */
    uint32_t skipped; /* slots of PIDs the caller counts itself */
};

/* Return 1 to leave pid's slots out (the caller has its figures). */
typedef int (*shmusage_skip_fn)(void *ctx, pid_t pid);

/* Build the figures of `n` regions over `ndev` sysfs devices, with what is
 * known of the regions' processes (shmmap.h; may be NULL). skip may be
 * NULL. Returns 0, or -ENOMEM (then *out is empty). Free with
 * shmusage_free. */
int shmusage_build(const struct shmstats_region *regions, size_t n, const struct sysfs_device *devs,
                   size_t ndev, const struct shmmap_proc *procs, size_t nprocs,
                   shmusage_skip_fn skip, void *ctx, struct shmusage *out);

/* What shmmap needs about the live processes of `regions`: the nodes each
 * holds (tt-kmd's pids files under `sysroot`, else its fds in the real /proc)
 * and its TT_VISIBLE_DEVICES (the real /proc/<pid>/environ). *out is one
 * malloc'd block; free() it. Returns 0 or -ENOMEM. */
int shmusage_procs(const char *sysroot, const struct shmstats_region *regions, size_t n,
                   const struct sysfs_device *devs, size_t ndev, struct shmmap_proc **out,
                   size_t *nprocs);

void shmusage_free(struct shmusage *u);

#endif /* TTALLOC_SHMUSAGE_H */
