/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ledger.c - the server's accounting of live buffers (see ledger.h).
 *
 * The hot path is ledger_apply_events: per event one hash-table operation on
 * the process's buftable and a handful of additions on the (process, device)
 * usage record, which is found through a one-entry cache because events of a
 * batch almost always target the same device.
 *
 * The merge (ledger_submit and friends) sits in front of it: a process with
 * one stream applies at once; with several, events wait in a per-process
 * min-heap keyed by (timestamp, arrival) until the process's other streams
 * have caught up or the hold runs out.
 */
#include "ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lowerbound.h"

int ledger_init(struct ledger *l, const struct ledger_limits *limits)
{
    memset(l, 0, sizeof(*l));
    l->limits.max_buffers = LEDGER_DEFAULT_MAX_BUFFERS;
    l->limits.max_devices = LEDGER_DEFAULT_MAX_DEVICES;
    l->limits.exit_ring = LEDGER_DEFAULT_EXIT_RING;
    l->limits.hold_ns = LEDGER_DEFAULT_HOLD_NS;
    if (limits != NULL) {
        if (limits->max_buffers != 0)
            l->limits.max_buffers = limits->max_buffers;
        if (limits->max_devices != 0)
            l->limits.max_devices = limits->max_devices;
        if (limits->exit_ring != 0)
            l->limits.exit_ring = limits->exit_ring;
        if (limits->hold_ns != 0)
            l->limits.hold_ns = limits->hold_ns;
    }
    quota_init(&l->quota, limits != NULL ? limits->per_uid : NULL);
    l->limits.per_uid = NULL;
    l->exits = calloc(l->limits.exit_ring, sizeof(l->exits[0]));
    return l->exits == NULL ? -ENOMEM : 0;
}

/* Free p and give back what its usage records and its user record held. */
static void ledger_free_process(struct ledger *l, struct ledger_process *p)
{
    for (size_t i = 0; i < p->n_usage; i++) {
        p->usage[i].dev->usages--;
        quota_device_unref(p->user, p->usage[i].device);
    }
    if (p->n_usage > 0)
        l->sweepable++;
    p->user->procs--;
    quota_release(&l->quota, p->user);
    buftable_destroy(&p->table);
    for (size_t i = 0; i < p->n_streams; i++)
        p->streams[i]->proc = NULL; /* the caller still owns its stream */
    free(p->streams);
    free(p->pending);
    free(p->usage);
    free(p);
}

void ledger_destroy(struct ledger *l)
{
    for (size_t i = 0; i < l->n_procs; i++)
        ledger_free_process(l, l->procs[i]);
    quota_destroy(&l->quota);
    for (size_t i = 0; i < l->n_devs; i++)
        free(l->devs[i]);
    free(l->procs);
    free(l->devs);
    free(l->exits);
    memset(l, 0, sizeof(*l));
}

/* ---- lookups in the sorted arrays ---- */

/* Index of pid in l->procs, or where it would be inserted; *found says which. */
static int ledger_proc_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const int32_t *)key,
                          (*(const struct ledger_process *const *)element)->pid);
}

static int ledger_dev_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key,
                          (*(const struct ledger_device *const *)element)->stats.device);
}

static int ledger_usage_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key, ((const struct ledger_usage *)element)->device);
}

static size_t ledger_proc_index(const struct ledger *l, int32_t pid, int *found)
{
    size_t i = lowerbound(&pid, l->procs, l->n_procs, sizeof(l->procs[0]), ledger_proc_cmp);
    *found = i < l->n_procs && l->procs[i]->pid == pid;
    return i;
}

static size_t ledger_dev_index(const struct ledger *l, uint32_t device, int *found)
{
    size_t i = lowerbound(&device, l->devs, l->n_devs, sizeof(l->devs[0]), ledger_dev_cmp);
    *found = i < l->n_devs && l->devs[i]->stats.device == device;
    return i;
}

static size_t ledger_usage_index(const struct ledger_process *p, uint32_t device, int *found)
{
    size_t i = lowerbound(&device, p->usage, p->n_usage, sizeof(p->usage[0]), ledger_usage_cmp);
    *found = i < p->n_usage && p->usage[i].device == device;
    return i;
}

/* Grow an array of `*cap` elements of `size` bytes to hold one more. */
static int ledger_reserve(void **array, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return 0;
    size_t new_cap = *cap ? *cap * 2 : 8;
    void *grown = realloc(*array, new_cap * size);
    if (grown == NULL)
        return -ENOMEM;
    *array = grown;
    *cap = new_cap;
    return 0;
}

void ledger_set_watcher(struct ledger *l, const struct ledger_watcher *w)
{
    l->watcher = w;
}

struct ledger_process *ledger_find(const struct ledger *l, int32_t pid)
{
    int found;
    size_t i = ledger_proc_index(l, pid, &found);
    return found ? l->procs[i] : NULL;
}

/* The device record for `device`, created when new. NULL: -ENOSPC or -ENOMEM in *rc. */
static struct ledger_device *ledger_get_device(struct ledger *l, uint32_t device, int *rc)
{
    int found;
    size_t i = ledger_dev_index(l, device, &found);
    if (found)
        return l->devs[i];
    if (l->n_devs >= l->limits.max_devices && l->sweepable > 0 && ledger_sweep(l) > 0)
        i = ledger_dev_index(l, device, &found);
    if (l->n_devs >= l->limits.max_devices) {
        *rc = -ENOSPC;
        return NULL;
    }
    if (ledger_reserve((void **)&l->devs, &l->cap_devs, l->n_devs, sizeof(l->devs[0])) < 0) {
        *rc = -ENOMEM;
        return NULL;
    }
    struct ledger_device *dev = calloc(1, sizeof(*dev));
    if (dev == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    dev->stats.device = device;
    dev->described_by = -1;
    memmove(&l->devs[i + 1], &l->devs[i], (l->n_devs - i) * sizeof(l->devs[0]));
    l->devs[i] = dev;
    l->n_devs++;
    return dev;
}

int ledger_attach(struct ledger *l, int32_t pid, uint32_t uid, const char *name, const char *label,
                  uint64_t now_ns, struct ledger_process **out)
{
    int found;
    size_t i = ledger_proc_index(l, pid, &found);
    struct ledger_process *p;

    if (found) {
        p = l->procs[i];
    } else {
        if (ledger_reserve((void **)&l->procs, &l->cap_procs, l->n_procs, sizeof(l->procs[0])) < 0)
            return -ENOMEM;
        struct quota_user *user = quota_get(&l->quota, uid);
        if (user == NULL)
            return -ENOMEM;
        p = calloc(1, sizeof(*p));
        if (p == NULL) {
            quota_release(&l->quota, user);
            return -ENOMEM;
        }
        p->user = user;
        user->procs++;
        p->pid = pid;
        p->uid = uid;
        p->start_ns = now_ns;
        buftable_init(&p->table);
        memmove(&l->procs[i + 1], &l->procs[i], (l->n_procs - i) * sizeof(l->procs[0]));
        l->procs[i] = p;
        l->n_procs++;
    }
    if (name != NULL && name[0] != '\0') {
        strncpy(p->name, name, sizeof(p->name) - 1);
        p->name[sizeof(p->name) - 1] = '\0';
    }
    if (label != NULL && label[0] != '\0') {
        strncpy(p->label, label, sizeof(p->label) - 1);
        p->label[sizeof(p->label) - 1] = '\0';
    }
    p->connections++;
    *out = p;
    return 0;
}

void ledger_detach(struct ledger *l, struct ledger_process *p)
{
    (void)l;
    if (p->connections > 0)
        p->connections--;
}

/* ---- the hot path ---- */

/* The usage record of p for `device`, created (with its device) when new. */
static struct ledger_usage *ledger_get_usage(struct ledger *l, struct ledger_process *p,
                                             uint32_t device, int *rc)
{
    if (p->last_usage < p->n_usage && p->usage[p->last_usage].device == device)
        return &p->usage[p->last_usage];

    int found;
    size_t i = ledger_usage_index(p, device, &found);
    if (!found) {
        if (ledger_reserve((void **)&p->usage, &p->cap_usage, p->n_usage, sizeof(p->usage[0])) <
            0) {
            *rc = -ENOMEM;
            return NULL;
        }
        int qrc = quota_device_ref(&l->quota, p->user, device);
        if (qrc == -EXFULL && l->sweepable > 0) {
            /* Its own emptied records may be what holds it at the cap. */
            ledger_sweep(l);
            i = ledger_usage_index(p, device, &found);
            qrc = quota_device_ref(&l->quota, p->user, device);
        }
        if (qrc < 0) {
            *rc = qrc;
            return NULL;
        }
        struct ledger_device *dev = ledger_get_device(l, device, rc);
        if (dev == NULL) {
            quota_device_unref(p->user, device);
            return NULL;
        }
        i = ledger_usage_index(p, device, &found); /* a sweep may have moved it */
        memmove(&p->usage[i + 1], &p->usage[i], (p->n_usage - i) * sizeof(p->usage[0]));
        memset(&p->usage[i], 0, sizeof(p->usage[i]));
        p->usage[i].device = device;
        p->usage[i].dev = dev;
        dev->usages++;
        p->n_usage++;
    }
    p->last_usage = i;
    return &p->usage[i];
}

/* Would adding `size` to p's bytes of `type` on u's device pass
 * LEDGER_MAX_BYTES? (u->bytes[type] never exceeds it.) Only the sender's own
 * figure decides: every shared total is bounded by these (ledger.h). */
static int ledger_would_overflow(const struct ledger_usage *u, unsigned type, uint64_t size)
{
    return size > LEDGER_MAX_BYTES - u->bytes[type];
}

static void ledger_add_bytes(struct ledger_process *p, struct ledger_usage *u, unsigned type,
                             uint64_t size)
{
    struct ledger_device *dev = u->dev;
    u->bytes[type] += size;
    if (u->bytes[type] > u->peak[type])
        u->peak[type] = u->bytes[type];
    dev->stats.used[type] += size;
    if (dev->stats.used[type] > dev->stats.peak[type])
        dev->stats.peak[type] = dev->stats.used[type];
    p->bytes += size;
    if (p->bytes > p->peak_bytes)
        p->peak_bytes = p->bytes;
}

static void ledger_sub_bytes(struct ledger_process *p, struct ledger_usage *u, unsigned type,
                             uint64_t size)
{
    u->bytes[type] -= size;
    u->dev->stats.used[type] -= size;
    p->bytes -= size;
}

static void ledger_add_buffer(struct ledger *l, struct ledger_process *p, struct ledger_usage *u,
                              unsigned type)
{
    p->user->buffers++;
    u->buffers[type]++;
    if (u->total_buffers++ == 0)
        u->dev->stats.processes++;
    u->dev->stats.buffers++;
    l->live_buffers++;
}

static void ledger_sub_buffer(struct ledger *l, struct ledger_process *p, struct ledger_usage *u,
                              unsigned type)
{
    p->user->buffers--;
    u->buffers[type]--;
    if (--u->total_buffers == 0) {
        u->dev->stats.processes--;
        l->sweepable++;
    }
    u->dev->stats.buffers--;
    l->live_buffers--;
}

static int ledger_alloc(struct ledger *l, struct ledger_process *p, const struct proto_event *ev)
{
    unsigned type = ev->type;
    if (ev->size == 0)
        return -EINVAL;
    int rc = 0;
    struct ledger_usage *u = ledger_get_usage(l, p, ev->device, &rc);
    if (u == NULL)
        return rc;

    uint64_t old = 0;
    if (p->table.count < l->limits.max_buffers && quota_buffer_allowed(&l->quota, p->user) &&
        !ledger_would_overflow(u, type, ev->size)) {
        /* The common case: one hash-table operation, whether new or live. */
        rc = buftable_insert(&p->table, ev->device, ev->type, ev->address, ev->size, &old);
    } else {
        /* Near a limit: whether the key is live decides. */
        old = buftable_lookup(&p->table, ev->device, ev->type, ev->address);
        if (old == 0 && p->table.count >= l->limits.max_buffers)
            return -E2BIG;
        if (old == 0 && !quota_buffer_allowed(&l->quota, p->user)) {
            p->user->refusals++;
            return -EDQUOT;
        }
        if (old == 0 ? ledger_would_overflow(u, type, ev->size)
                     : ev->size > old && ledger_would_overflow(u, type, ev->size - old))
            return -EINVAL;
        rc = buftable_insert(&p->table, ev->device, ev->type, ev->address, ev->size, &old);
    }
    if (rc < 0)
        return rc;
    if (rc == 0) {
        ledger_add_buffer(l, p, u, type);
    } else {
        /* An alloc of a live key: the client missed a free; take the new size. */
        l->counters.live_reallocs++;
        ledger_sub_bytes(p, u, type, old);
    }
    ledger_add_bytes(p, u, type, ev->size);
    return 0;
}

/* Returns the freed buffer's size, 0 when it was not live. */
static uint64_t ledger_free(struct ledger *l, struct ledger_process *p,
                            const struct proto_event *ev)
{
    uint64_t size;
    if (!buftable_remove(&p->table, ev->device, ev->type, ev->address, &size)) {
        l->counters.unknown_frees++;
        return 0;
    }
    int rc = 0;
    /* The buffer was live, so its usage record exists: no allocation here. */
    struct ledger_usage *u = ledger_get_usage(l, p, ev->device, &rc);
    if (u == NULL)
        return size;
    ledger_sub_bytes(p, u, ev->type, size);
    ledger_sub_buffer(l, p, u, ev->type);
    return size;
}

/* RESET_PEAK: p's peaks become what it holds now; device peaks stay. */
static void ledger_reset_peak(struct ledger *l, struct ledger_process *p)
{
    for (size_t i = 0; i < p->n_usage; i++)
        memcpy(p->usage[i].peak, p->usage[i].bytes, sizeof(p->usage[i].peak));
    p->peak_bytes = p->bytes;
    l->counters.peak_resets++;
}

int ledger_apply_events(struct ledger *l, struct ledger_process *p,
                        const struct proto_event *events, size_t n, size_t *done)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++) {
        const struct proto_event *ev = &events[i];
        if (ev->type >= TTALLOC_NUM_TYPES) {
            rc = -EINVAL;
            break;
        }
        uint64_t size = 0;
        if (ev->op == PROTO_OP_ALLOC) {
            rc = ledger_alloc(l, p, ev);
            if (rc < 0)
                break;
            size = ev->size;
        } else if (ev->op == PROTO_OP_FREE) {
            size = ledger_free(l, p, ev);
            if (size == 0)
                continue;
        } else if (ev->op == PROTO_OP_RESET_PEAK) {
            ledger_reset_peak(l, p);
        } else {
            rc = -EINVAL;
            break;
        }
        if (l->watcher != NULL)
            l->watcher->applied(l->watcher->ctx, p, ev, size);
    }
    l->counters.events_total += i;
    if (done != NULL)
        *done = i;
    return rc;
}

/* ---- order: a process's streams merged by timestamp ---- */

/* Does queued event a come before b? */
static int ledger_pending_before(const struct ledger_pending *a, const struct ledger_pending *b)
{
    if (a->ev.timestamp_ns != b->ev.timestamp_ns)
        return a->ev.timestamp_ns < b->ev.timestamp_ns;
    return a->seq < b->seq;
}

static void ledger_pending_swap(struct ledger_pending *a, struct ledger_pending *b)
{
    struct ledger_pending tmp = *a;
    *a = *b;
    *b = tmp;
}

static int ledger_pending_push(struct ledger *l, struct ledger_process *p,
                               const struct proto_event *ev)
{
    if (ledger_reserve((void **)&p->pending, &p->cap_pending, p->n_pending, sizeof(p->pending[0])) <
        0)
        return -ENOMEM;
    size_t i = p->n_pending++;
    p->pending[i].ev = *ev;
    p->pending[i].seq = p->next_seq++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ledger_pending_before(&p->pending[i], &p->pending[parent]))
            break;
        ledger_pending_swap(&p->pending[i], &p->pending[parent]);
        i = parent;
    }
    l->pending_events++;
    return 0;
}

/* Take the earliest queued event of p off its heap. */
static struct proto_event ledger_pending_pop(struct ledger *l, struct ledger_process *p)
{
    struct proto_event top = p->pending[0].ev;
    p->pending[0] = p->pending[--p->n_pending];
    size_t i = 0, n = p->n_pending;
    for (;;) {
        size_t first = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < n && ledger_pending_before(&p->pending[left], &p->pending[first]))
            first = left;
        if (right < n && ledger_pending_before(&p->pending[right], &p->pending[first]))
            first = right;
        if (first == i)
            break;
        ledger_pending_swap(&p->pending[i], &p->pending[first]);
        i = first;
    }
    l->pending_events--;
    return top;
}

static void ledger_pending_clear(struct ledger *l, struct ledger_process *p)
{
    l->pending_events -= p->n_pending;
    p->n_pending = 0;
}

/* The latest timestamp every stream of p that has sent an event has reached
 * (UINT64_MAX when none has): queued events up to it cannot be overtaken. */
static uint64_t ledger_low_watermark(const struct ledger_process *p)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < p->n_streams; i++) {
        const struct ledger_stream *s = p->streams[i];
        if (s->has_watermark && s->position < low)
            low = s->position;
    }
    return low;
}

/* The same, leaving out stream `skip`. */
static uint64_t ledger_low_watermark_except(const struct ledger_process *p,
                                            const struct ledger_stream *skip)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < p->n_streams; i++) {
        const struct ledger_stream *s = p->streams[i];
        if (s != skip && s->has_watermark && s->position < low)
            low = s->position;
    }
    return low;
}

/* Record that applying ev failed with rc: p's queue is dropped and the fault
 * kept for the caller to report (and to drop p's buffers). */
static void ledger_set_fault(struct ledger *l, struct ledger_process *p, int rc,
                             const struct proto_event *ev)
{
    if (p->fault == 0)
        l->faulted++;
    p->fault = rc;
    p->fault_event = *ev;
    ledger_pending_clear(l, p);
}

/* Apply p's queued events with a timestamp up to `upto`, or whose hold has
 * run out at now_ns. Returns 0 or the fault (with the event in *bad). */
static int ledger_drain(struct ledger *l, struct ledger_process *p, uint64_t upto, uint64_t now_ns,
                        struct proto_event *bad)
{
    uint64_t hold = l->limits.hold_ns;
    uint64_t expired = now_ns > hold ? now_ns - hold : 0;
    while (p->n_pending > 0) {
        uint64_t ts = p->pending[0].ev.timestamp_ns;
        if (ts > upto && ts > expired)
            break;
        struct proto_event ev = ledger_pending_pop(l, p);
        int rc = ledger_apply_events(l, p, &ev, 1, NULL);
        if (rc < 0) {
            ledger_set_fault(l, p, rc, &ev);
            if (bad != NULL)
                *bad = ev;
            return rc;
        }
        p->applied_ns = ts;
    }
    return 0;
}

int ledger_stream_open(struct ledger *l, struct ledger_process *p, struct ledger_stream **out)
{
    (void)l;
    if (ledger_reserve((void **)&p->streams, &p->cap_streams, p->n_streams, sizeof(p->streams[0])) <
        0)
        return -ENOMEM;
    struct ledger_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->proc = p;
    p->streams[p->n_streams++] = s;
    *out = s;
    return 0;
}

void ledger_stream_close(struct ledger *l, struct ledger_stream *s, uint64_t now_ns)
{
    struct ledger_process *p = s->proc;
    if (p != NULL) {
        for (size_t i = 0; i < p->n_streams; i++) {
            if (p->streams[i] == s) {
                p->streams[i] = p->streams[--p->n_streams];
                break;
            }
        }
        /* Events that waited only for this stream are due now. A fault here
         * stays on the process for the caller (ledger_take_fault). */
        ledger_drain(l, p, ledger_low_watermark(p), now_ns, NULL);
    }
    free(s);
}

/* Is ev one the ledger could ever apply? (Limits are checked when applied.) */
static int ledger_event_valid(const struct proto_event *ev)
{
    if (ev->type >= TTALLOC_NUM_TYPES)
        return 0;
    if (ev->op == PROTO_OP_ALLOC)
        return ev->size != 0;
    return ev->op == PROTO_OP_FREE || ev->op == PROTO_OP_RESET_PEAK;
}

/* The timestamp to order ev by: what the client sent, clamped to what it can
 * have taken. Counts every clamp on p. */
static uint64_t ledger_clamp_timestamp(struct ledger *l, struct ledger_stream *s, uint64_t ts,
                                       uint64_t now_ns)
{
    struct ledger_process *p = s->proc;
    if (ts > now_ns) {
        ts = now_ns;
        p->order.future++;
        l->counters.clamped_timestamps++;
    }
    if (s->has_watermark && ts < s->watermark) {
        ts = s->watermark;
        p->order.backwards++;
        l->counters.clamped_timestamps++;
    }
    s->watermark = ts;
    s->has_watermark = 1;
    if (ts < p->applied_ns) {
        ts = p->applied_ns;
        p->order.late++;
        l->counters.clamped_timestamps++;
    }
    s->position = ts;
    return ts;
}

int ledger_submit(struct ledger *l, struct ledger_stream *s, const struct proto_event *events,
                  size_t n, uint64_t now_ns, struct proto_event *bad)
{
    struct ledger_process *p = s->proc;
    for (size_t i = 0; i < n; i++) {
        if (!ledger_event_valid(&events[i])) {
            ledger_set_fault(l, p, -EINVAL, &events[i]);
            *bad = events[i];
            return -EINVAL;
        }
    }
    if (s->in_resync) {
        /* A replay of state, not history: applied as it comes. */
        size_t done = 0;
        int rc = ledger_apply_events(l, p, events, n, &done);
        if (rc < 0) {
            ledger_set_fault(l, p, rc, &events[done]);
            *bad = events[done];
        }
        return rc;
    }
    /* Events no other stream can precede (at or before every other stream's
     * position, nothing queued) are applied at once, as one run: the common
     * case, and every event of a process with a single stream. Within a
     * stream clamped timestamps never decrease, so that run is a prefix. */
    uint64_t others = ledger_low_watermark_except(p, s);
    size_t direct = p->n_pending == 0 ? n : 0;
    uint64_t direct_ts = p->applied_ns;
    for (size_t i = 0; i < n; i++) {
        uint64_t ts = ledger_clamp_timestamp(l, s, events[i].timestamp_ns, now_ns);
        if (i < direct && ts <= others) {
            direct_ts = ts;
            continue;
        }
        if (i < direct)
            direct = i;
        struct proto_event ev = events[i];
        ev.timestamp_ns = ts;
        if (ledger_pending_push(l, p, &ev) < 0) {
            ledger_set_fault(l, p, -ENOMEM, &events[i]);
            *bad = events[i];
            return -ENOMEM;
        }
    }
    if (direct > 0) {
        size_t done = 0;
        int rc = ledger_apply_events(l, p, events, direct, &done);
        if (rc < 0) {
            ledger_set_fault(l, p, rc, &events[done]);
            *bad = events[done];
            return rc;
        }
        p->applied_ns = direct_ts;
    }
    if (p->n_pending == 0)
        return 0;
    return ledger_drain(l, p, ledger_low_watermark(p), now_ns, bad);
}

int ledger_stream_synced(const struct ledger_stream *s)
{
    const struct ledger_process *p = s->proc;
    /* Every event of s has a timestamp at or before its position. */
    return p == NULL || !s->has_watermark || p->n_pending == 0 ||
           p->pending[0].ev.timestamp_ns > s->position;
}

int ledger_stream_sync(struct ledger *l, struct ledger_stream *s, struct proto_event *bad)
{
    struct ledger_process *p = s->proc;
    if (!s->has_watermark || p->n_pending == 0)
        return 0;
    /* now_ns 0: only the stream's position decides. */
    return ledger_drain(l, p, s->position, 0, bad);
}

uint64_t ledger_resync_begin(struct ledger *l, struct ledger_stream *s)
{
    struct ledger_process *p = s->proc;
    ledger_drain(l, p, UINT64_MAX, 0, NULL);
    s->in_resync = 1;
    return ledger_forget(l, p);
}

int ledger_merge_peaks(struct ledger *l, struct ledger_stream *s, const struct proto_peak *peaks,
                       size_t n)
{
    struct ledger_process *p = s->proc;
    if (!s->in_resync)
        return -EPROTO;
    for (size_t i = 0; i < n; i++) {
        if (peaks[i].type >= TTALLOC_NUM_TYPES)
            return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        struct ledger_usage *u = ledger_get_usage(l, p, peaks[i].device, &rc);
        if (u == NULL)
            return rc;
        unsigned type = peaks[i].type;
        if (peaks[i].peak_bytes > u->peak[type])
            u->peak[type] = peaks[i].peak_bytes;
        /* The process-wide peak is at least any one part of it. */
        if (peaks[i].peak_bytes > p->peak_bytes)
            p->peak_bytes = peaks[i].peak_bytes;
    }
    return 0;
}

size_t ledger_release(struct ledger *l, uint64_t now_ns)
{
    size_t faults = 0;
    if (l->pending_events == 0)
        return 0;
    for (size_t i = 0; i < l->n_procs; i++) {
        struct ledger_process *p = l->procs[i];
        if (p->n_pending > 0 && ledger_drain(l, p, ledger_low_watermark(p), now_ns, NULL) < 0)
            faults++;
    }
    return faults;
}

uint64_t ledger_next_release(const struct ledger *l)
{
    uint64_t next = 0;
    if (l->pending_events == 0)
        return 0;
    for (size_t i = 0; i < l->n_procs; i++) {
        const struct ledger_process *p = l->procs[i];
        if (p->n_pending == 0)
            continue;
        uint64_t due = p->pending[0].ev.timestamp_ns + l->limits.hold_ns;
        if (due < p->pending[0].ev.timestamp_ns)
            due = UINT64_MAX;
        if (next == 0 || due < next)
            next = due;
    }
    return next;
}

int ledger_take_fault(struct ledger *l, struct ledger_process *p, struct proto_event *bad)
{
    int rc = p->fault;
    if (rc == 0)
        return 0;
    if (bad != NULL)
        *bad = p->fault_event;
    p->fault = 0;
    l->faulted--;
    return rc;
}

/* ---- devices, resync, exits ---- */

int ledger_describe(struct ledger *l, int32_t pid, uint32_t device,
                    const struct ttalloc_device_desc *desc)
{
    int rc = 0;
    struct ledger_device *dev = ledger_get_device(l, device, &rc);
    if (dev == NULL)
        return rc;
    dev->described_by = pid;
    dev->stats.board_serial = desc->board_serial;
    dev->stats.asic_id = desc->asic_id;
    memcpy(dev->stats.total, desc->capacity, sizeof(dev->stats.total));
    dev->stats.flags |= TTALLOC_DEVICE_DESCRIBED;
    if (desc->is_remote)
        dev->stats.flags |= TTALLOC_DEVICE_REMOTE;
    else
        dev->stats.flags &= ~TTALLOC_DEVICE_REMOTE;
    memcpy(dev->stats.board_type, desc->board_type, sizeof(dev->stats.board_type));
    dev->stats.board_type[sizeof(dev->stats.board_type) - 1] = '\0';
    return 0;
}

/* Take every buffer of p out of every total. Returns how many there were. */
static uint64_t ledger_clear_process(struct ledger *l, struct ledger_process *p)
{
    uint64_t dropped = p->table.count;
    for (size_t i = 0; i < p->n_usage; i++) {
        struct ledger_usage *u = &p->usage[i];
        struct ledger_device *dev = u->dev;
        for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++) {
            dev->stats.used[t] -= u->bytes[t];
            dev->stats.buffers -= u->buffers[t];
            u->bytes[t] = 0;
            u->buffers[t] = 0;
        }
        if (u->total_buffers > 0) {
            dev->stats.processes--;
            l->sweepable++;
        }
        u->total_buffers = 0;
    }
    p->user->buffers -= dropped;
    l->live_buffers -= dropped;
    p->bytes = 0;
    buftable_clear(&p->table);
    return dropped;
}

uint64_t ledger_forget(struct ledger *l, struct ledger_process *p)
{
    ledger_pending_clear(l, p);
    if (l->watcher != NULL && p->table.count > 0)
        l->watcher->dropping(l->watcher->ctx, p);
    uint64_t dropped = ledger_clear_process(l, p);
    l->counters.dropped_buffers += dropped;
    return dropped;
}

int ledger_resync_end(struct ledger *l, struct ledger_stream *s, uint64_t buffers, uint64_t bytes)
{
    const struct ledger_process *p = s->proc;
    s->in_resync = 0;
    if (p->table.count == buffers && p->bytes == bytes)
        return 0;
    l->counters.resync_mismatches++;
    return -EBADMSG;
}

static void ledger_push_exit(struct ledger *l, const struct ttalloc_exit *rec)
{
    size_t cap = l->limits.exit_ring;
    if (l->n_exits < cap) {
        l->exits[(l->exit_first + l->n_exits) % cap] = *rec;
        l->n_exits++;
    } else {
        l->exits[l->exit_first] = *rec;
        l->exit_first = (l->exit_first + 1) % cap;
    }
}

size_t ledger_exit(struct ledger *l, struct ledger_process *p, uint64_t now_ns)
{
    size_t records = 0;

    /* What it sent before it died counts, in order. */
    ledger_drain(l, p, UINT64_MAX, 0, NULL);
    if (p->fault != 0) {
        p->fault = 0;
        l->faulted--;
    }

    if (l->watcher != NULL)
        l->watcher->exiting(l->watcher->ctx, p);
    l->counters.exits_total++;
    if (p->table.count > 0)
        l->counters.leaked_exits_total++;
    for (size_t i = 0; i < p->n_usage; i++) {
        const struct ledger_usage *u = &p->usage[i];
        if (u->total_buffers == 0)
            continue;
        struct ttalloc_exit rec;
        memset(&rec, 0, sizeof(rec));
        rec.pid = p->pid;
        rec.uid = p->uid;
        rec.time_ns = now_ns;
        memcpy(rec.name, p->name, sizeof(rec.name));
        memcpy(rec.label, p->label, sizeof(rec.label));
        rec.device = u->device;
        memcpy(rec.bytes, u->bytes, sizeof(rec.bytes));
        memcpy(rec.buffers, u->buffers, sizeof(rec.buffers));
        ledger_push_exit(l, &rec);
        records++;
    }
    ledger_clear_process(l, p);

    int found;
    size_t i = ledger_proc_index(l, p->pid, &found);
    if (found && l->procs[i] == p) {
        memmove(&l->procs[i], &l->procs[i + 1], (l->n_procs - i - 1) * sizeof(l->procs[0]));
        l->n_procs--;
    }
    ledger_free_process(l, p);
    return records;
}

/* Drop p's usage records that hold no buffer (their per-device peaks go too). */
static void ledger_sweep_process(struct ledger_process *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->n_usage; i++) {
        struct ledger_usage *u = &p->usage[i];
        if (u->total_buffers == 0) {
            u->dev->usages--;
            quota_device_unref(p->user, u->device);
            continue;
        }
        if (kept != i)
            p->usage[kept] = *u;
        kept++;
    }
    p->n_usage = kept;
    p->last_usage = 0;
}

size_t ledger_sweep(struct ledger *l)
{
    for (size_t i = 0; i < l->n_procs; i++)
        ledger_sweep_process(l->procs[i]);
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < l->n_devs; i++) {
        struct ledger_device *dev = l->devs[i];
        int describer_alive = dev->described_by >= 0 && ledger_find(l, dev->described_by) != NULL;
        if (dev->usages == 0 && dev->stats.buffers == 0 && !describer_alive) {
            free(dev);
            dropped++;
            continue;
        }
        l->devs[kept++] = dev;
    }
    l->n_devs = kept;
    l->sweepable = 0;
    l->counters.swept_devices += dropped;
    return dropped;
}

/* ---- reading ---- */

void ledger_fill_devices(const struct ledger *l, struct ttalloc_device_stats *out)
{
    for (size_t i = 0; i < l->n_devs; i++)
        out[i] = l->devs[i]->stats;
}

void ledger_fill_processes(const struct ledger *l, struct ttalloc_process_info *out)
{
    for (size_t i = 0; i < l->n_procs; i++) {
        const struct ledger_process *p = l->procs[i];
        struct ttalloc_process_info *s = &out[i];
        memset(s, 0, sizeof(*s));
        s->pid = p->pid;
        s->uid = p->uid;
        s->flags = p->connections > 0 ? TTALLOC_PROCESS_CONNECTED : 0;
        s->buffers = p->table.count;
        s->bytes = p->bytes;
        s->peak_bytes = p->peak_bytes;
        s->start_ns = p->start_ns;
        memcpy(s->name, p->name, sizeof(s->name));
        memcpy(s->label, p->label, sizeof(s->label));
    }
}

size_t ledger_count_usage(const struct ledger *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_procs; i++)
        n += l->procs[i]->n_usage;
    return n;
}

void ledger_fill_usage(const struct ledger *l, struct ttalloc_usage *out)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n_procs; i++) {
        const struct ledger_process *p = l->procs[i];
        for (size_t j = 0; j < p->n_usage; j++) {
            const struct ledger_usage *u = &p->usage[j];
            struct ttalloc_usage *s = &out[k++];
            memset(s, 0, sizeof(*s));
            s->pid = p->pid;
            s->device = u->device;
            memcpy(s->bytes, u->bytes, sizeof(s->bytes));
            memcpy(s->peak, u->peak, sizeof(s->peak));
            s->buffers = u->total_buffers;
        }
    }
}

/* Does buffer a come before b in "largest first" order? */
static int ledger_buffer_before(const struct ttalloc_buffer *a, const struct ttalloc_buffer *b)
{
    if (a->size != b->size)
        return a->size > b->size;
    if (a->device != b->device)
        return a->device < b->device;
    if (a->type != b->type)
        return a->type < b->type;
    return a->address < b->address;
}

/* Restore the heap property below index i of a heap whose root is the
 * buffer that comes LAST in order (so it is the first to be replaced). */
static void ledger_heap_down(struct ttalloc_buffer *heap, size_t n, size_t i)
{
    for (;;) {
        size_t last = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < n && ledger_buffer_before(&heap[last], &heap[left]))
            last = left;
        if (right < n && ledger_buffer_before(&heap[last], &heap[right]))
            last = right;
        if (last == i)
            return;
        struct ttalloc_buffer tmp = heap[i];
        heap[i] = heap[last];
        heap[last] = tmp;
        i = last;
    }
}

static void ledger_heap_up(struct ttalloc_buffer *heap, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ledger_buffer_before(&heap[parent], &heap[i]))
            return;
        struct ttalloc_buffer tmp = heap[i];
        heap[i] = heap[parent];
        heap[parent] = tmp;
        i = parent;
    }
}

size_t ledger_top_buffers(const struct ledger_process *p, size_t max, struct ttalloc_buffer *out)
{
    size_t n = 0, pos = 0;
    const struct buftable_entry *e;

    if (max == 0)
        return 0;
    /* Keep the best `max` seen in a heap whose root is the worst of them. */
    while ((e = buftable_next(&p->table, &pos)) != NULL) {
        struct ttalloc_buffer b;
        memset(&b, 0, sizeof(b));
        b.address = e->address;
        b.size = e->size;
        b.device = e->device;
        b.type = e->type;
        if (n < max) {
            out[n] = b;
            ledger_heap_up(out, n);
            n++;
        } else if (ledger_buffer_before(&b, &out[0])) {
            out[0] = b;
            ledger_heap_down(out, n, 0);
        }
    }
    /* Heap sort: repeatedly move the worst to the end. */
    for (size_t end = n; end > 1; end--) {
        struct ttalloc_buffer tmp = out[0];
        out[0] = out[end - 1];
        out[end - 1] = tmp;
        ledger_heap_down(out, end - 1, 0);
    }
    return n;
}

void ledger_fill_exits(const struct ledger *l, struct ttalloc_exit *out)
{
    for (size_t i = 0; i < l->n_exits; i++)
        out[i] = l->exits[(l->exit_first + i) % l->limits.exit_ring];
}

size_t ledger_buffer_memory(const struct ledger *l)
{
    size_t bytes = 0;
    for (size_t i = 0; i < l->n_procs; i++)
        bytes += buftable_memory(&l->procs[i]->table);
    return bytes;
}
