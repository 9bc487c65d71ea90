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
#include "shmsnap.h"
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
 * docs/tt-alloc-server.md, "Sources"), in the one shape of a snapshot's
 * records (shmsnap.h). Returns 0 or -ENOMEM. Free with shmsnap_free. */
int sources_snapshot(const struct sources *s, const struct ledger *l, struct shmsnap *out);

#endif /* TTALLOC_SOURCES_H */
