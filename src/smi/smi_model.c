/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_model.c - build tt-smi's device/process model from discovery and the
 * server's snapshot (see smi_model.h).
 */
#include "smi_model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "boards.h"
#include "log.h"
#include "procs.h"
#include "shmmap.h"
#include "shmsnap.h"
#include "shmstats.h"
#include "shmusage.h"

static int smi_add_int(int **items, size_t *n, int value)
{
    size_t i = 0;
    while (i < *n && (*items)[i] < value)
        i++;
    if (i < *n && (*items)[i] == value)
        return 0;
    int *bigger = realloc(*items, (*n + 1) * sizeof(**items));
    if (bigger == NULL)
        return -ENOMEM;
    memmove(bigger + i + 1, bigger + i, (*n - i) * sizeof(*bigger));
    bigger[i] = value;
    *items = bigger;
    (*n)++;
    return 0;
}

/* The process with `pid`, added (from the real /proc, or with `fallback_name`
 * when it is gone) if missing. Keeps processes ascending by pid. */
static struct smi_process *smi_model_process(struct smi_model *m, pid_t pid,
                                             const char *fallback_name, uid_t fallback_uid)
{
    size_t i = 0;
    while (i < m->n_processes && m->processes[i].pid < pid)
        i++;
    if (i < m->n_processes && m->processes[i].pid == pid)
        return &m->processes[i];
    struct smi_process *bigger =
        realloc(m->processes, (m->n_processes + 1) * sizeof(*m->processes));
    if (bigger == NULL)
        return NULL;
    m->processes = bigger;
    memmove(&bigger[i + 1], &bigger[i], (m->n_processes - i) * sizeof(*bigger));
    m->n_processes++;
    struct smi_process *p = &bigger[i];
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    struct procs_info info;
    if (procs_info_read(pid, &info) == 0) {
        p->uid = info.uid;
        snprintf(p->name, sizeof(p->name), "%s", info.name);
        snprintf(p->user, sizeof(p->user), "%s", info.user);
        p->cmdline = info.cmdline;
    } else {
        procs_info_free(&info);
        p->uid = fallback_uid;
        snprintf(p->name, sizeof(p->name), "%s", fallback_name ? fallback_name : "");
        snprintf(p->user, sizeof(p->user), "%u", (unsigned)fallback_uid);
        p->cmdline = strdup("");
    }
    return p;
}

int smi_model_load(struct smi_model *m, const char *sysroot, pid_t self)
{
    memset(m, 0, sizeof(*m));
    const char *test_host = getenv("TTSMI_TEST_HOSTNAME");
    if (test_host != NULL)
        snprintf(m->hostname, sizeof(m->hostname), "%s", test_host);
    else if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
        m->hostname[0] = '\0';
    const char *test_time = getenv("TTSMI_TEST_TIME");
    int64_t fixed =
        test_time ? sysfs_parse_int(test_time, strlen(test_time), 0, INT32_MAX) : SYSFS_UNKNOWN;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m->time = fixed != SYSFS_UNKNOWN ? fixed : (int64_t)now.tv_sec;
    m->time_ms = fixed != SYSFS_UNKNOWN ? 0 : (int)(now.tv_nsec / 1000000);
    sysfs_driver_version(sysroot, m->driver_version, sizeof(m->driver_version));

    struct sysfs_device *devs;
    size_t n;
    int rc = sysfs_scan(sysroot, &devs, &n);
    if (rc < 0)
        return rc;
    m->devices = calloc(n ? n : 1, sizeof(*m->devices));
    if (m->devices == NULL) {
        free(devs);
        return -ENOMEM;
    }
    int *indexes = calloc(n ? n : 1, sizeof(*indexes));
    if (indexes == NULL) {
        free(devs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        m->devices[i].sys = devs[i];
        m->devices[i].selected = 1;
        boards_capacity(devs[i].card_type, m->devices[i].total);
        indexes[i] = devs[i].index;
    }
    m->n_devices = n;
    free(devs);

    struct procs_holder *holders;
    size_t n_holders;
    rc = procs_scan(sysroot, indexes, n, self, &holders, &n_holders, &m->used_fd_scan);
    free(indexes);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n_holders && rc == 0; i++) {
        m->used_pids_files |= holders[i].from_pids;
        struct smi_process *p = smi_model_process(m, holders[i].pid, NULL, (uid_t)-1);
        rc = p ? smi_add_int(&p->devices, &p->n_devices, holders[i].device) : -ENOMEM;
    }
    if (n > 0 && !m->used_fd_scan)
        m->used_pids_files = 1;
    free(holders);
    return rc;
}

/* Add `bytes` to p's usage of device `ordinal` (created if missing), and
 * mark p as holding it and tracked. `peak` is the exact peak, or NULL when
 * unknown; a usage made of two figures has no exact peak. Returns 0 or
 * -ENOMEM. */
static int smi_model_add_usage(struct smi_process *p, int ordinal,
                               const uint64_t bytes[TTALLOC_NUM_TYPES],
                               const uint64_t peak[TTALLOC_NUM_TYPES], int unknown)
{
    if (smi_add_int(&p->devices, &p->n_devices, ordinal) < 0)
        return -ENOMEM;
    p->tracked = 1;
    size_t k = 0;
    while (k < p->n_usage && p->usage[k].device < ordinal)
        k++;
    if (k == p->n_usage || p->usage[k].device != ordinal) {
        struct smi_usage *bigger = realloc(p->usage, (p->n_usage + 1) * sizeof(*bigger));
        if (bigger == NULL)
            return -ENOMEM;
        memmove(&bigger[k + 1], &bigger[k], (p->n_usage - k) * sizeof(*bigger));
        memset(&bigger[k], 0, sizeof(*bigger));
        bigger[k].device = ordinal;
        bigger[k].peak_known = peak != NULL;
        if (peak != NULL)
            memcpy(bigger[k].peak, peak, sizeof(bigger[k].peak));
        p->usage = bigger;
        p->n_usage++;
    } else {
        p->usage[k].peak_known = 0;
    }
    p->usage[k].unknown |= unknown;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        p->usage[k].bytes[t] += bytes[t];
    return 0;
}

/* The shm_match name of a snapshot device's flags, or NULL. */
static const char *smi_model_match_of(uint32_t flags)
{
    if (flags & TTALLOC_DEVICE_SHM_ASIC_ID)
        return shmmap_match_name(SHMMAP_ASIC_ID);
    if (flags & TTALLOC_DEVICE_SHM_HOLDERS)
        return shmmap_match_name(SHMMAP_HOLDERS);
    if (flags & TTALLOC_DEVICE_SHM_DEVICE_ID)
        return shmmap_match_name(SHMMAP_DEVICE_ID);
    return NULL;
}

/* The tt-kmd ordinal a snapshot device stands for, or -1. A described
 * device with a serial matches the sysfs device with that serial; otherwise
 * the TT-Metal device id is taken to be the ordinal. */
static int smi_model_map_device(const struct smi_model *m, const struct ttalloc_device_stats *d)
{
    if ((d->flags & TTALLOC_DEVICE_DESCRIBED) && d->board_serial != 0) {
        char serial[20];
        snprintf(serial, sizeof(serial), "%016llX", (unsigned long long)d->board_serial);
        for (size_t i = 0; i < m->n_devices; i++) {
            if (strcmp(m->devices[i].sys.serial, serial) == 0)
                return m->devices[i].sys.index;
        }
        return -1;
    }
    if (d->flags & TTALLOC_DEVICE_REMOTE)
        return -1;
    for (size_t i = 0; i < m->n_devices; i++) {
        if ((uint32_t)m->devices[i].sys.index == d->device)
            return m->devices[i].sys.index;
    }
    return -1;
}

static int smi_model_map_id(const struct smi_model *m, const struct ttalloc_snapshot *snap,
                            uint32_t device)
{
    for (size_t i = 0; i < snap->n_devices; i++) {
        if (snap->devices[i].device == device)
            return smi_model_map_device(m, &snap->devices[i]);
    }
    struct ttalloc_device_stats plain = {.device = device};
    return smi_model_map_device(m, &plain);
}

/* Merge a snapshot's records: a server's (every device's figures known,
 * 0 where it has none), or SHM's alone (shmsnap.h: known only for the
 * devices a region maps to). */
static int smi_model_merge_records(struct smi_model *m, const struct ttalloc_snapshot *snap,
                                   pid_t self, int from_server)
{
    for (size_t i = 0; i < m->n_devices && from_server; i++) {
        m->devices[i].used_known = 1;
        memset(m->devices[i].used, 0, sizeof(m->devices[i].used));
        /* Until a server device stands for it, nothing was ever used here. */
        m->devices[i].peak_known = 1;
        memset(m->devices[i].peak, 0, sizeof(m->devices[i].peak));
    }
    unsigned char *mapped = calloc(m->n_devices ? m->n_devices : 1, 1);
    if (mapped == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < snap->n_devices; i++) {
        const struct ttalloc_device_stats *d = &snap->devices[i];
        struct smi_device *dev = smi_model_device(m, smi_model_map_device(m, d));
        if (dev == NULL)
            continue; /* remote chips and ids without a node are not shown */
        if (!from_server)
            dev->used_known = 1;
        size_t di = (size_t)(dev - m->devices);
        if (mapped[di]++ == 0)
            memcpy(dev->peak, d->peak, sizeof(dev->peak));
        else
            dev->peak_known = 0; /* two ids' peaks need not have coincided */
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            dev->used[t] += d->used[t];
            if (d->total[t] != 0)
                dev->total[t] = d->total[t]; /* the app's description wins */
        }
        if (smi_model_match_of(d->flags) != NULL)
            dev->shm_match = smi_model_match_of(d->flags);
        if (d->flags & TTALLOC_DEVICE_USED_UNKNOWN)
            dev->used_known = 0; /* part of it is unknown: all of it is */
    }
    for (size_t i = 0; i < snap->n_usage; i++) {
        const struct ttalloc_usage *u = &snap->usage[i];
        int ordinal = smi_model_map_id(m, snap, u->device);
        if (ordinal < 0 || u->pid == self)
            continue;
        const char *name = NULL;
        uid_t uid = (uid_t)-1;
        int unknown = 0;
        int shm_only = 0;
        for (size_t k = 0; k < snap->n_processes; k++) {
            if (snap->processes[k].pid == u->pid) {
                name = snap->processes[k].name;
                uid = snap->processes[k].uid;
                unknown = (snap->processes[k].flags & TTALLOC_PROCESS_BYTES_UNKNOWN) != 0;
                shm_only = (snap->processes[k].flags & TTALLOC_PROCESS_SHM) != 0;
            }
        }
        /* SHM statistics have no peak: the server's figure there is a sample. */
        struct smi_process *p = smi_model_process(m, u->pid, name, uid);
        if (p == NULL ||
            smi_model_add_usage(p, ordinal, u->bytes, shm_only ? NULL : u->peak, unknown) < 0) {
            free(mapped);
            return -ENOMEM;
        }
    }
    free(mapped);
    if (!from_server)
        return 0;
    /* Processes the server tracks but that hold no device yet still count. */
    for (size_t k = 0; k < snap->n_processes; k++) {
        if (snap->processes[k].flags & TTALLOC_PROCESS_SHM)
            m->shm = 1; /* the server read TT-Metal's SHM statistics */
        for (size_t i = 0; i < m->n_processes; i++) {
            if (m->processes[i].pid != snap->processes[k].pid)
                continue;
            m->processes[i].tracked = 1;
            m->processes[i].shm_only = (snap->processes[k].flags & TTALLOC_PROCESS_SHM) != 0;
            snprintf(m->processes[i].label, sizeof(m->processes[i].label), "%.*s",
                     (int)sizeof(snap->processes[k].label), snap->processes[k].label);
        }
    }
    return 0;
}

int smi_model_merge_snapshot(struct smi_model *m, const struct ttalloc_snapshot *snap, pid_t self)
{
    m->server = 1;
    return smi_model_merge_records(m, snap, self, 1);
}

/* Keep the stale PIDs of u (those on a node, or on a chip without one). */
static int smi_model_take_stale(struct smi_model *m, const struct shmusage *u, pid_t self)
{
    if (u->n_stale_pids == 0)
        return 0;
    m->stale = calloc(u->n_stale_pids, sizeof(*m->stale));
    if (m->stale == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < u->n_stale_pids; i++) {
        const struct shmusage_stale *s = &u->stale_pids[i];
        if (s->pid == self)
            continue;
        struct smi_stale *out = &m->stale[m->n_stale++];
        out->pid = s->pid;
        out->device = s->sysfs >= 0 ? m->devices[s->sysfs].sys.index : -1;
        snprintf(out->name, sizeof(out->name), "%s", s->name);
    }
    return 0;
}

int smi_model_merge_shm(struct smi_model *m, const char *sysroot, pid_t self, int figures)
{
    struct shmstats_watch *w = shmstats_watch_new(sysroot);
    struct shmstats_region *regions = NULL;
    struct sysfs_device *devs = calloc(m->n_devices ? m->n_devices : 1, sizeof(*devs));
    struct shmmap_proc *procs = NULL;
    size_t n_procs = 0;
    struct shmusage u;
    size_t n = 0;
    int rc = -ENOMEM;
    memset(&u, 0, sizeof(u));
    if (w == NULL || devs == NULL || shmstats_watch_refresh(w) < 0)
        goto out;
    for (size_t i = 0; i < shmstats_watch_count(w); i++)
        if (shmstats_watch_get(w, i)->why[0] != '\0')
            log_debug("%s", shmstats_watch_get(w, i)->why);
    if (shmstats_watch_regions(w, &regions, &n) < 0)
        goto out;
    rc = 0;
    if (n == 0)
        goto out;
    for (size_t i = 0; i < m->n_devices; i++)
        devs[i] = m->devices[i].sys;
    rc = shmusage_procs(sysroot, regions, n, devs, m->n_devices, &procs, &n_procs);
    if (rc == 0)
        rc = shmusage_build(regions, n, devs, m->n_devices, procs, n_procs, NULL, NULL, &u);
    if (rc == 0)
        rc = smi_model_take_stale(m, &u, self);
    if (rc < 0 || !figures)
        goto out;
    /* The server's rule and the server's merge (shmsnap.h), then merged like
     * a server's snapshot: both answers are the same by construction. */
    struct shmsnap ss;
    rc = shmsnap_build(&u, devs, m->n_devices, &ss);
    if (rc < 0)
        goto out;
    struct ttalloc_snapshot snap = {.n_devices = ss.n_devices,
                                    .devices = ss.devices,
                                    .n_processes = ss.n_processes,
                                    .processes = ss.processes,
                                    .n_usage = ss.n_usage,
                                    .usage = ss.usage};
    m->shm = 1;
    rc = smi_model_merge_records(m, &snap, self, 0);
    shmsnap_free(&ss);
out:
    shmusage_free(&u);
    free(procs);
    free(regions);
    free(devs);
    shmstats_watch_free(w);
    return rc;
}

struct smi_device *smi_model_device(struct smi_model *m, int index)
{
    for (size_t i = 0; i < m->n_devices; i++) {
        if (m->devices[i].sys.index == index)
            return &m->devices[i];
    }
    return NULL;
}

/* Does item (not NUL-terminated) name device d? */
static int smi_model_matches(const struct smi_device *d, const char *item, size_t len)
{
    int64_t idx = sysfs_parse_int(item, len, 0, INT32_MAX);
    if (idx != SYSFS_UNKNOWN && isdigit((unsigned char)item[0]))
        return idx == d->sys.index;
    const char *bus = d->sys.bus_id;
    size_t blen = strlen(bus);
    if (blen > 0 && len == blen && strncasecmp(item, bus, len) == 0)
        return 1;
    /* "01:00.0" without the domain */
    if (blen > 5 && len == blen - 5 && strncasecmp(item, bus + 5, len) == 0)
        return 1;
    size_t slen = strlen(d->sys.serial);
    return slen > 0 && len == slen && strncasecmp(item, d->sys.serial, len) == 0;
}

int smi_model_select(struct smi_model *m, const char *list, const char **bad, size_t *bad_len)
{
    if (list == NULL)
        return 0;
    for (size_t i = 0; i < m->n_devices; i++)
        m->devices[i].selected = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        *bad = p;
        *bad_len = len;
        if (len == 0)
            return -EINVAL;
        int found = 0;
        for (size_t i = 0; i < m->n_devices; i++) {
            if (smi_model_matches(&m->devices[i], p, len)) {
                m->devices[i].selected = 1;
                found = 1;
            }
        }
        if (!found)
            return -ENODEV;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int smi_model_process_selected(const struct smi_model *m, const struct smi_process *p)
{
    for (size_t i = 0; i < p->n_devices; i++) {
        for (size_t k = 0; k < m->n_devices; k++) {
            if (m->devices[k].sys.index == p->devices[i] && m->devices[k].selected)
                return 1;
        }
    }
    return 0;
}

int smi_model_process_peak_known(const struct smi_model *m, const struct smi_process *p,
                                 const struct smi_usage *u)
{
    if (!m->server)
        return 0;
    return u != NULL ? u->peak_known : p->tracked && !p->shm_only;
}

int smi_model_device_peak_known(const struct smi_device *d)
{
    return d->used_known && d->peak_known;
}

const struct smi_usage *smi_model_usage(const struct smi_process *p, int device)
{
    for (size_t i = 0; i < p->n_usage; i++) {
        if (p->usage[i].device == device)
            return &p->usage[i];
    }
    return NULL;
}

int smi_model_usage_known(const struct smi_model *m, const struct smi_process *p,
                          const struct smi_usage *u)
{
    return u != NULL ? !u->unknown : (m->server && p->tracked);
}

void smi_model_free(struct smi_model *m)
{
    for (size_t i = 0; i < m->n_processes; i++) {
        free(m->processes[i].cmdline);
        free(m->processes[i].devices);
        free(m->processes[i].usage);
    }
    free(m->processes);
    free(m->devices);
    free(m->exits);
    free(m->stale);
    memset(m, 0, sizeof(*m));
}

int smi_model_free_bytes(const struct smi_device *d, int type, uint64_t *out)
{
    if (!d->used_known || d->total[type] == 0)
        return -ENODATA;
    uint64_t used = d->used[type];
    int parts[2] = {-1, -1};
    if (type == TTALLOC_DRAM) {
        parts[0] = TTALLOC_TRACE;
    } else if (type == TTALLOC_L1) {
        parts[0] = TTALLOC_L1_SMALL;
        parts[1] = TTALLOC_CB;
    }
    for (int i = 0; i < 2; i++) {
        if (parts[i] < 0 || d->total[parts[i]] != 0)
            continue; /* a region of its own: its own free figure */
        if (used + d->used[parts[i]] < used)
            return -ENODATA;
        used += d->used[parts[i]];
    }
    if (used > d->total[type])
        return -ENODATA;
    *out = d->total[type] - used;
    return 0;
}
