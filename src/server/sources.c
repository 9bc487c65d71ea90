/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources.c - sysfs devices and TT-Metal SHM regions for tt-alloc-server
 * (see sources.h).
 */
#include "sources.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "boards.h"
#include "log.h"
#include "shmmap.h"
#include "shmsnap.h"
#include "shmusage.h"

#define SOURCES_INOTIFY_MASK                                                                 \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | \
     IN_MOVE_SELF | IN_ONLYDIR)

/* ---- reading the sources ---- */

static void sources_scan_sysfs(struct sources *s)
{
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    int rc = sysfs_scan(s->sysroot, &devs, &n);
    if (rc < 0) {
        if (rc != -ENOENT)
            log_debug("sysfs scan: %s", strerror(-rc));
        return; /* keep the last good scan */
    }
    if (n != s->n_devs)
        log_info("%zu Tenstorrent device%s in sysfs", n, n == 1 ? "" : "s");
    free(s->devs);
    s->devs = devs;
    s->n_devs = n;
}

/* The regions' live PIDs, as one number: when it has not changed since the
 * last look, neither have the processes to ask about. */
static uint64_t sources_pids_key(const struct sources *s)
{
    uint64_t key = 1469598103934665603ull; /* FNV-1a over the PIDs in file order */
    for (size_t r = 0; r < s->n_regions; r++) {
        for (size_t k = 0; k < s->regions[r].n_processes; k++) {
            key ^= (uint64_t)(uint32_t)s->regions[r].processes[k].pid;
            key *= 1099511628211ull;
        }
        key ^= 0xffu;
        key *= 1099511628211ull;
    }
    return key;
}

/* What the regions' processes hold and their TT_VISIBLE_DEVICES, for the
 * holders rule: asked again when the PIDs change and on every sysfs rescan
 * (an fd scan of /proc is not for every 200 ms tick). */
static void sources_find_holders(struct sources *s)
{
    uint64_t key = sources_pids_key(s);
    if (key == s->procs_key && s->ticks != 0)
        return;
    free(s->procs);
    s->procs = NULL;
    s->n_procs = 0;
    s->procs_key = key;
    if (shmusage_procs(s->sysroot, s->regions, s->n_regions, s->devs, s->n_devs, &s->procs,
                       &s->n_procs) < 0) {
        log_warnx("out of memory finding the holders of TT-Metal SHM regions");
        s->procs_key = 0;
    }
}

static void sources_refresh_shm(struct sources *s)
{
    int rc = shmstats_watch_refresh(s->watch);
    if (rc < 0) {
        log_warnx("reading %s: %s", shmstats_watch_dir(s->watch), strerror(-rc));
        return;
    }
    for (size_t i = 0; i < shmstats_watch_count(s->watch); i++) {
        const struct shmstats_file *f = shmstats_watch_get(s->watch, i);
        if (f->complain && f->status == -EAGAIN)
            log_info("TT-Metal SHM file not ready yet: %s", f->why);
        else if (f->complain && f->status == 0)
            log_warnx("TT-Metal SHM %s", f->why);
        else if (f->complain)
            log_warnx("ignoring a TT-Metal SHM file: %s", f->why);
    }
    struct shmstats_region *regions;
    size_t n;
    if (shmstats_watch_regions(s->watch, &regions, &n) < 0) {
        log_warnx("out of memory reading TT-Metal SHM files");
        return; /* keep the last good regions */
    }
    free(s->regions);
    s->regions = regions;
    s->n_regions = n;
    uint32_t stale = 0;
    for (size_t i = 0; i < n; i++)
        stale += regions[i].stale;
    sources_find_holders(s);
    if (stale != s->last_stale)
        log_debug("TT-Metal SHM: %u slot%s of dead processes ignored", stale,
                  stale == 1 ? "" : "s");
    s->last_stale = stale;
}

/* Watch the SHM directory if it exists now. */
static void sources_watch_dir(struct sources *s)
{
    if (s->shm_wd >= 0 || s->inotify_fd < 0)
        return;
    const char *dir = shmstats_watch_dir(s->watch);
    s->shm_wd = inotify_add_watch(s->inotify_fd, dir, SOURCES_INOTIFY_MASK);
    if (s->shm_wd >= 0)
        log_debug("watching %s for TT-Metal SHM statistics", dir);
}

int sources_init(struct sources *s, const char *sysroot)
{
    memset(s, 0, sizeof(*s));
    s->timerfd = s->inotify_fd = s->shm_wd = -1;
    snprintf(s->sysroot, sizeof(s->sysroot), "%s", sysfs_sysroot(sysroot));
    s->watch = shmstats_watch_new(s->sysroot);
    if (s->watch == NULL)
        return -ENOMEM;
    s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->timerfd < 0 || s->inotify_fd < 0)
        return -errno;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_nsec = (long)SOURCES_TICK_MS * 1000000L;
    its.it_value = its.it_interval;
    if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0)
        return -errno;
    sources_scan_sysfs(s);
    sources_watch_dir(s);
    sources_refresh_shm(s);
    return 0;
}

void sources_destroy(struct sources *s)
{
    if (s->timerfd >= 0)
        close(s->timerfd);
    if (s->inotify_fd >= 0)
        close(s->inotify_fd);
    shmstats_watch_free(s->watch);
    free(s->regions);
    free(s->procs);
    free(s->devs);
    memset(s, 0, sizeof(*s));
    s->timerfd = s->inotify_fd = s->shm_wd = -1;
}

int sources_timer_fd(const struct sources *s)
{
    return s->timerfd;
}

int sources_inotify_fd(const struct sources *s)
{
    return s->inotify_fd;
}

void sources_on_timer(struct sources *s)
{
    uint64_t expirations;
    ssize_t ignored = read(s->timerfd, &expirations, sizeof(expirations));
    (void)ignored;
    if (++s->ticks >= SOURCES_SYSFS_TICKS) {
        s->ticks = 0;
        sources_scan_sysfs(s);
        sources_watch_dir(s);
    }
    sources_refresh_shm(s);
}

void sources_on_inotify(struct sources *s)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(s->inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->wd == s->shm_wd && (ev->mask & IN_IGNORED)) {
                log_debug("%s went away", shmstats_watch_dir(s->watch));
                s->shm_wd = -1;
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    sources_refresh_shm(s);
}

/* ---- the snapshot ---- */

static int sources_skip_known(void *ctx, pid_t pid)
{
    return ledger_find(ctx, (int32_t)pid) != NULL;
}

/* The record of `device` in out (which has room), added zeroed if missing. */
static struct ttalloc_device_stats *sources_device(struct shmsnap *out, uint32_t device, int *added)
{
    *added = 0;
    for (size_t i = 0; i < out->n_devices; i++) {
        if (out->devices[i].device == device)
            return &out->devices[i];
    }
    struct ttalloc_device_stats *d = &out->devices[out->n_devices++];
    memset(d, 0, sizeof(*d));
    d->device = device;
    *added = 1;
    return d;
}

/* board type and capacities of a sysfs card, where d does not know them. */
static void sources_board(struct ttalloc_device_stats *d, const struct sysfs_device *sys)
{
    if (d->board_type[0] == '\0') {
        size_t len = strnlen(sys->card_type, sizeof(d->board_type) - 1);
        memcpy(d->board_type, sys->card_type, len);
        d->board_type[len] = '\0';
    }
}

/* Capacities from the board table for every device whose board is known
 * (from sysfs or an app's description), type by type where an app's
 * description gave none. The one place tools get totals from. */
static void sources_fill_capacity(struct shmsnap *out)
{
    for (size_t i = 0; i < out->n_devices; i++) {
        struct ttalloc_device_stats *d = &out->devices[i];
        char board[sizeof(d->board_type) + 1];
        memcpy(board, d->board_type, sizeof(d->board_type));
        board[sizeof(d->board_type)] = '\0';
        uint64_t cap[TTALLOC_NUM_TYPES];
        if (boards_capacity(board, cap) < 0)
            continue;
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (d->total[t] == 0)
                d->total[t] = cap[t];
        }
    }
}

static void sources_merge_sysfs(const struct sources *s, struct shmsnap *out)
{
    for (size_t i = 0; i < s->n_devs; i++) {
        const struct sysfs_device *sys = &s->devs[i];
        int added;
        struct ttalloc_device_stats *d = sources_device(out, (uint32_t)sys->index, &added);
        d->flags |= TTALLOC_DEVICE_SYSFS;
        if (d->board_serial == 0)
            d->board_serial = shmmap_parse_hex16(sys->serial);
        if (d->asic_id == 0)
            d->asic_id = shmmap_parse_hex16(sys->asic_id);
        sources_board(d, sys);
    }
}

/* a + b, or UINT64_MAX when that would wrap: SHM figures come from files
 * any user can write, so a sum with them must not wrap to a small number. */
static uint64_t sources_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The SHM records (shmsnap.h, the one merge tt-smi uses too) added to the
 * ledger's: device figures summed, processes and usage appended (a PID the
 * ledger knows was skipped, so none is there twice). */
static void sources_merge_shm(struct shmsnap *out, const struct shmsnap *ss)
{
    for (size_t i = 0; i < ss->n_devices; i++) {
        const struct ttalloc_device_stats *sd = &ss->devices[i];
        int added;
        struct ttalloc_device_stats *d = sources_device(out, sd->device, &added);
        d->flags |= sd->flags;
        if (added)
            memcpy(d->board_type, sd->board_type, sizeof(d->board_type));
        d->processes += sd->processes;
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            d->used[t] = sources_add(d->used[t], sd->used[t]);
            if (d->peak[t] < d->used[t])
                d->peak[t] = d->used[t];
        }
    }
    memcpy(&out->processes[out->n_processes], ss->processes,
           ss->n_processes * sizeof(*ss->processes));
    out->n_processes += ss->n_processes;
    memcpy(&out->usage[out->n_usage], ss->usage, ss->n_usage * sizeof(*ss->usage));
    out->n_usage += ss->n_usage;
}

static int sources_cmp_device(const void *x, const void *y)
{
    const struct ttalloc_device_stats *a = x, *b = y;
    return a->device < b->device ? -1 : a->device > b->device;
}

static int sources_cmp_process(const void *x, const void *y)
{
    const struct ttalloc_process_info *a = x, *b = y;
    return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int sources_cmp_usage(const void *x, const void *y)
{
    const struct ttalloc_usage *a = x, *b = y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return a->device < b->device ? -1 : a->device > b->device;
}

int sources_snapshot(const struct sources *s, const struct ledger *l, struct shmsnap *out)
{
    struct shmusage u;
    struct shmsnap ss;
    memset(out, 0, sizeof(*out));
    if (shmusage_build(s->regions, s->n_regions, s->devs, s->n_devs, s->procs, s->n_procs,
                       sources_skip_known, (void *)l, &u) < 0)
        return -ENOMEM;
    int rc = shmsnap_build(&u, s->devs, s->n_devs, &ss);
    shmusage_free(&u);
    if (rc < 0)
        return rc;

    size_t n_usage = ledger_count_usage(l);
    size_t cap_devs = l->n_devs + s->n_devs + ss.n_devices;
    size_t cap_procs = l->n_procs + ss.n_processes;
    size_t cap_usage = n_usage + ss.n_usage;
    out->devices = calloc(cap_devs ? cap_devs : 1, sizeof(*out->devices));
    out->processes = calloc(cap_procs ? cap_procs : 1, sizeof(*out->processes));
    out->usage = calloc(cap_usage ? cap_usage : 1, sizeof(*out->usage));
    if (out->devices == NULL || out->processes == NULL || out->usage == NULL) {
        shmsnap_free(&ss);
        shmsnap_free(out);
        return -ENOMEM;
    }
    ledger_fill_devices(l, out->devices);
    ledger_fill_processes(l, out->processes);
    ledger_fill_usage(l, out->usage);
    out->n_devices = l->n_devs;
    out->n_processes = l->n_procs;
    out->n_usage = n_usage;

    sources_merge_sysfs(s, out);
    sources_merge_shm(out, &ss);
    shmsnap_free(&ss);
    sources_fill_capacity(out);

    qsort(out->devices, out->n_devices, sizeof(*out->devices), sources_cmp_device);
    qsort(out->processes, out->n_processes, sizeof(*out->processes), sources_cmp_process);
    qsort(out->usage, out->n_usage, sizeof(*out->usage), sources_cmp_usage);
    return 0;
}
