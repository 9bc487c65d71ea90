/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources.h - tt-alloc-server's sources besides its clients: the devices
 * tt-kmd shows in sysfs, and TT-Metal's own SHM statistics
 * ($TT_SYSROOT/dev/shm/tt_device_*_memory) of apps that do not link
 * libttalloc.
 *
 * Two descriptors for the server's epoll set: a periodic timerfd
 * (SOURCES_TICK_MS: re-read the regions, whose counters change without any
 * inotify event; every SOURCES_SYSFS_TICKS ticks, rescan sysfs and retry a
 * missing SHM directory) and an inotify fd on the SHM directory (files
 * created, removed, replaced).
 *
 * Nothing here touches the ledger's accounting: sources_snapshot builds the
 * records of a snapshot from the ledger's plus these sources' figures (the
 * rule for SHM regions is shmusage.h's; a PID the ledger knows is counted
 * from the ledger only).
 */
#ifndef TTALLOC_SOURCES_H
#define TTALLOC_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "shmmap.h"
#include "shmstats.h"
#include "sysfs.h"
#include "ttalloc.h"

#define SOURCES_TICK_MS 200u
#define SOURCES_SYSFS_TICKS 10u /* sysfs rescans every 2 s */

struct sources {
    char sysroot[SHMSTATS_PATH_MAX];
    struct sysfs_device *devs; /* last scan, ascending index */
    size_t n_devs;
    struct shmstats_watch *watch;
    struct shmstats_region *regions; /* readable regions of the last refresh */
    size_t n_regions;
    struct shmmap_proc *procs; /* their processes: nodes held, TT_VISIBLE_DEVICES */
    size_t n_procs;
    uint64_t procs_key; /* the regions' PIDs procs was found for */
    int timerfd;
    int inotify_fd;
    int shm_wd; /* -1: the SHM directory is not watched (yet) */
    unsigned ticks;
    uint32_t last_stale; /* for the debug line when it changes */
};

/* A snapshot's records, malloc'd; free with sources_snap_free. */
struct sources_snap {
    struct ttalloc_device_stats *devices; /* ascending device */
    size_t n_devices;
    struct ttalloc_process_info *processes; /* ascending pid */
    size_t n_processes;
    struct ttalloc_usage *usage; /* ascending (pid, device) */
    size_t n_usage;
};

/* Scan sysfs, read the regions once and create the two descriptors.
 * sysroot NULL or "" = "/". Returns 0 or a negative errno (-ENOMEM, or
 * what timerfd/inotify said); logs nothing. */
int sources_init(struct sources *s, const char *sysroot);
void sources_destroy(struct sources *s);

int sources_timer_fd(const struct sources *s);
int sources_inotify_fd(const struct sources *s);

/* The timerfd fired / the inotify fd is readable. */
void sources_on_timer(struct sources *s);
void sources_on_inotify(struct sources *s);

/* The ledger's records merged with sysfs devices and SHM figures (see
 * docs/tt-alloc-server.md, "Sources"). Returns 0 or -ENOMEM. */
int sources_snapshot(const struct sources *s, const struct ledger *l, struct sources_snap *out);
void sources_snap_free(struct sources_snap *snap);

#endif /* TTALLOC_SOURCES_H */
