/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream.c - the server's event stream to its subscribers (see stream.h).
 *
 * Each subscriber fills one STREAM_EVENTS frame at a time in a buffer of its
 * own; a full frame, or a partial one at the end of a loop turn, is copied
 * into a frame of its exact size and queued. So a queue's byte count is the
 * memory it holds, whatever the mix of full and nearly empty frames.
 */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_RECORDS_PER_FRAME (proto_records_per_frame(sizeof(struct proto_stream_record)))

struct stream_batch {
    struct proto_header header;
    struct proto_stream_record records[];
};

static int stream_may_see(const struct stream_sub *sub, uint32_t uid)
{
    return sub->uid == 0 || sub->uid == uid;
}

/* Queue one frame of `type` with `len` payload bytes. */
static void stream_queue_frame(struct stream_sub *sub, enum proto_msg_type type,
                               const void *payload, size_t len)
{
    if (sub->failed)
        return;
    struct outq_frame *frame = outq_frame_new(sizeof(struct proto_header) + len);
    if (frame == NULL) {
        sub->failed = 1;
        return;
    }
    proto_put_header(frame->data, type, (uint32_t)len);
    if (len > 0)
        memcpy(frame->data + sizeof(struct proto_header), payload, len);
    if (outq_push(sub->out, frame) < 0)
        sub->failed = 1;
    outq_frame_unref(frame);
    sub->dirty = 1;
}

/* Queue the records batched so far as one STREAM_EVENTS frame. */
static void stream_queue_batch(struct stream_sub *sub)
{
    if (sub->batch_records == 0)
        return;
    struct stream_batch *batch = (struct stream_batch *)sub->batch->data;
    stream_queue_frame(sub, PROTO_STREAM_EVENTS, batch->records,
                       sub->batch_records * sizeof(batch->records[0]));
    sub->batch_records = 0;
}

static void stream_add_record(struct stream_sub *sub, const struct proto_stream_record *rec)
{
    struct stream_batch *batch = (struct stream_batch *)sub->batch->data;
    batch->records[sub->batch_records++] = *rec;
    if (sub->batch_records == STREAM_RECORDS_PER_FRAME)
        stream_queue_batch(sub);
}

static struct proto_stream_record stream_record(enum proto_stream_kind kind, int32_t pid,
                                                uint32_t device, uint8_t type, uint64_t address,
                                                uint64_t size, uint64_t timestamp_ns)
{
    struct proto_stream_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.kind = (uint8_t)kind;
    rec.pid = pid;
    rec.device = device;
    rec.type = type;
    rec.address = address;
    rec.size = size;
    rec.timestamp_ns = timestamp_ns;
    return rec;
}

size_t stream_held_bytes(const struct stream_sub *sub)
{
    return sub->out->bytes + sub->n_exit_buffers * sizeof(sub->exit_buffers[0]) +
           sub->n_exits * sizeof(sub->exits[0]);
}

/* An ALLOC, FREE or RESET_PEAK: dropped (and counted) while sub is behind. */
static void stream_add_droppable(struct stream *st, struct stream_sub *sub,
                                 const struct proto_stream_record *rec)
{
    if (sub->lost > 0 || stream_held_bytes(sub) > st->events_max + sub->state_bytes) {
        sub->lost++;
        return;
    }
    stream_add_record(sub, rec);
}

static void stream_queue_process(struct stream_sub *sub, const struct ledger_process *p,
                                 int32_t parent_pid, uint64_t now_ns)
{
    struct proto_stream_process msg;
    memset(&msg, 0, sizeof(msg));
    msg.pid = p->pid;
    msg.uid = p->uid;
    msg.parent_pid = parent_pid;
    msg.start_realtime_ns = p->start_ns;
    msg.timestamp_ns = now_ns;
    memcpy(msg.name, p->name, sizeof(msg.name));
    memcpy(msg.label, p->label, sizeof(msg.label));
    stream_queue_batch(sub);
    stream_queue_frame(sub, PROTO_STREAM_PROCESS, &msg, sizeof(msg));
}

/* The live state of every process sub may see, with the buffers of those
 * that ended while it was behind, then their EXITs. */
static void stream_queue_live_state(struct stream *st, struct stream_sub *sub, uint64_t now_ns)
{
    const struct ledger *l = st->ledger;
    uint64_t count = sub->n_exit_buffers;
    for (size_t i = 0; i < l->n_procs; i++)
        if (stream_may_see(sub, l->procs[i]->uid))
            count += l->procs[i]->table.count;

    stream_queue_batch(sub);
    size_t before = sub->out->bytes;
    struct proto_stream_record rec =
        stream_record(PROTO_STREAM_LIVE_BEGIN, 0, 0, 0, 0, count, now_ns);
    stream_add_record(sub, &rec);
    for (size_t i = 0; i < l->n_procs && !sub->failed; i++) {
        const struct ledger_process *p = l->procs[i];
        if (!stream_may_see(sub, p->uid))
            continue;
        size_t pos = 0;
        const struct buftable_entry *e;
        while ((e = buftable_next(&p->table, &pos)) != NULL) {
            rec = stream_record(PROTO_STREAM_LIVE_BUFFER, p->pid, e->device, e->type, e->address,
                                e->size, 0);
            stream_add_record(sub, &rec);
        }
    }
    for (size_t i = 0; i < sub->n_exit_buffers; i++)
        stream_add_record(sub, &sub->exit_buffers[i]);
    rec = stream_record(PROTO_STREAM_LIVE_END, 0, 0, 0, 0, 0, now_ns);
    stream_add_record(sub, &rec);
    for (size_t i = 0; i < sub->n_exits; i++) {
        rec = stream_record(PROTO_STREAM_EXIT, sub->exits[i].pid, 0, 0, 0, 0,
                            sub->exits[i].timestamp_ns);
        stream_add_record(sub, &rec);
    }
    sub->n_exits = 0;
    sub->n_exit_buffers = 0;
    stream_queue_batch(sub);
    sub->state_bytes = sub->out->bytes - before;
}

/* sub is behind: send the GAP and a fresh live state now. */
static void stream_close_gap(struct stream *st, struct stream_sub *sub, uint64_t now_ns)
{
    stream_queue_batch(sub);
    struct proto_stream_record rec = stream_record(PROTO_STREAM_GAP, 0, 0, 0, 0, sub->lost, now_ns);
    st->lost_total += sub->lost;
    sub->lost = 0;
    sub->gaps++;
    stream_add_record(sub, &rec);
    stream_queue_live_state(st, sub, now_ns);
}

static int stream_has_pending_exit(const struct stream_sub *sub, int32_t pid)
{
    for (size_t i = 0; i < sub->n_exits; i++)
        if (sub->exits[i].pid == pid)
            return 1;
    return 0;
}

/* p ended while sub was behind: keep its EXIT and what it held for the gap. */
static int stream_hold_exit(struct stream_sub *sub, const struct ledger_process *p, uint64_t now_ns)
{
    size_t need = sub->n_exit_buffers + p->table.count;
    if (need > sub->cap_exit_buffers) {
        size_t cap = sub->cap_exit_buffers ? sub->cap_exit_buffers : 64;
        while (cap < need)
            cap *= 2;
        struct proto_stream_record *b = realloc(sub->exit_buffers, cap * sizeof(*b));
        if (b == NULL)
            return -ENOMEM;
        sub->exit_buffers = b;
        sub->cap_exit_buffers = cap;
    }
    if (sub->n_exits == sub->cap_exits) {
        size_t cap = sub->cap_exits ? sub->cap_exits * 2 : 16;
        struct stream_exit *e = realloc(sub->exits, cap * sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        sub->exits = e;
        sub->cap_exits = cap;
    }
    struct stream_exit *e = &sub->exits[sub->n_exits++];
    e->pid = p->pid;
    e->timestamp_ns = now_ns;
    size_t pos = 0;
    const struct buftable_entry *b;
    while ((b = buftable_next(&p->table, &pos)) != NULL)
        sub->exit_buffers[sub->n_exit_buffers++] = stream_record(
            PROTO_STREAM_LIVE_BUFFER, p->pid, b->device, b->type, b->address, b->size, 0);
    return 0;
}

/* ---- the ledger's watcher ---- */

static void stream_on_applied(void *ctx, const struct ledger_process *p,
                              const struct proto_event *ev, uint64_t size)
{
    struct stream *st = ctx;
    enum proto_stream_kind kind = ev->op == PROTO_OP_ALLOC  ? PROTO_STREAM_ALLOC
                                  : ev->op == PROTO_OP_FREE ? PROTO_STREAM_FREE
                                                            : PROTO_STREAM_RESET_PEAK;
    struct proto_stream_record rec =
        stream_record(kind, p->pid, ev->device, ev->type, ev->address, size, ev->timestamp_ns);
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next)
        if (stream_may_see(sub, p->uid))
            stream_add_droppable(st, sub, &rec);
}

/* p's buffers go without frees: tell subscribers as frees, at its last event's time. */
static void stream_on_dropping(void *ctx, const struct ledger_process *p)
{
    struct stream *st = ctx;
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next) {
        if (!stream_may_see(sub, p->uid))
            continue;
        size_t pos = 0;
        const struct buftable_entry *e;
        while ((e = buftable_next(&p->table, &pos)) != NULL) {
            struct proto_stream_record rec = stream_record(
                PROTO_STREAM_FREE, p->pid, e->device, e->type, e->address, e->size, p->applied_ns);
            stream_add_droppable(st, sub, &rec);
        }
    }
}

static uint64_t stream_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* p has ended, its events applied: an EXIT, or held while the subscriber is behind. */
static void stream_on_exiting(void *ctx, const struct ledger_process *p)
{
    struct stream *st = ctx;
    uint64_t now = stream_now_ns();
    struct proto_stream_record rec = stream_record(PROTO_STREAM_EXIT, p->pid, 0, 0, 0, 0, now);
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next) {
        if (!stream_may_see(sub, p->uid))
            continue;
        if (sub->lost == 0) {
            stream_add_record(sub, &rec);
        } else if (stream_hold_exit(sub, p, now) < 0) {
            sub->failed = 1;
        }
    }
}

/* ---- the server's calls ---- */

void stream_init(struct stream *st, struct ledger *l, size_t events_max)
{
    memset(st, 0, sizeof(*st));
    st->ledger = l;
    st->events_max = events_max;
    st->watcher.ctx = st;
    st->watcher.applied = stream_on_applied;
    st->watcher.dropping = stream_on_dropping;
    st->watcher.exiting = stream_on_exiting;
}

void stream_destroy(struct stream *st)
{
    while (st->subs != NULL)
        stream_unsubscribe(st, st->subs);
}

int stream_subscribe(struct stream *st, struct stream_sub *sub, struct outq *out, uint32_t uid,
                     uint64_t now_ns)
{
    memset(sub, 0, sizeof(*sub));
    sub->out = out;
    sub->uid = uid;
    sub->batch = outq_frame_new(PROTO_MAX_FRAME);
    if (sub->batch == NULL)
        return -ENOMEM;

    const struct ledger *l = st->ledger;
    for (size_t i = 0; i < l->n_devs; i++) {
        const struct ledger_device *dev = l->devs[i];
        if (!(dev->stats.flags & TTALLOC_DEVICE_DESCRIBED))
            continue;
        struct ttalloc_device_desc desc;
        memset(&desc, 0, sizeof(desc));
        desc.board_serial = dev->stats.board_serial;
        desc.asic_id = dev->stats.asic_id;
        memcpy(desc.capacity, dev->stats.total, sizeof(desc.capacity));
        desc.is_remote = (dev->stats.flags & TTALLOC_DEVICE_REMOTE) ? 1u : 0u;
        memcpy(desc.board_type, dev->stats.board_type, sizeof(desc.board_type));
        struct proto_stream_device msg;
        memset(&msg, 0, sizeof(msg));
        msg.device = dev->stats.device;
        msg.timestamp_ns = now_ns;
        msg.desc = desc;
        stream_queue_frame(sub, PROTO_STREAM_DEVICE, &msg, sizeof(msg));
    }
    for (size_t i = 0; i < l->n_procs; i++)
        if (stream_may_see(sub, l->procs[i]->uid))
            stream_queue_process(sub, l->procs[i], 0, now_ns);
    stream_queue_live_state(st, sub, now_ns);
    if (sub->failed) {
        outq_frame_unref(sub->batch);
        sub->batch = NULL;
        return -ENOMEM;
    }

    sub->prev = NULL;
    sub->next = st->subs;
    if (st->subs != NULL)
        st->subs->prev = sub;
    st->subs = sub;
    if (st->n_subs++ == 0)
        ledger_set_watcher(st->ledger, &st->watcher);
    return 0;
}

void stream_unsubscribe(struct stream *st, struct stream_sub *sub)
{
    if (sub->batch == NULL)
        return; /* never subscribed, or already gone */
    if (sub->prev != NULL)
        sub->prev->next = sub->next;
    else
        st->subs = sub->next;
    if (sub->next != NULL)
        sub->next->prev = sub->prev;
    sub->prev = sub->next = NULL;
    outq_frame_unref(sub->batch);
    sub->batch = NULL;
    free(sub->exits);
    free(sub->exit_buffers);
    sub->exits = NULL;
    sub->exit_buffers = NULL;
    sub->n_exits = sub->n_exit_buffers = 0;
    st->lost_total += sub->lost;
    if (--st->n_subs == 0)
        ledger_set_watcher(st->ledger, NULL);
}

void stream_process_started(struct stream *st, const struct ledger_process *p, int32_t parent_pid,
                            uint64_t now_ns)
{
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next) {
        if (!stream_may_see(sub, p->uid))
            continue;
        /* Its pid is that of a process whose exit waits for a gap: end the
         * gap first, so the two are never mixed up. */
        if (sub->lost > 0 && stream_has_pending_exit(sub, p->pid))
            stream_close_gap(st, sub, now_ns);
        stream_queue_process(sub, p, parent_pid, now_ns);
    }
}

void stream_device_described(struct stream *st, uint32_t device,
                             const struct ttalloc_device_desc *desc, uint64_t now_ns)
{
    struct proto_stream_device msg;
    memset(&msg, 0, sizeof(msg));
    msg.device = device;
    msg.timestamp_ns = now_ns;
    msg.desc = *desc;
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next) {
        stream_queue_batch(sub);
        stream_queue_frame(sub, PROTO_STREAM_DEVICE, &msg, sizeof(msg));
    }
}

void stream_flush(struct stream *st, uint64_t now_ns)
{
    for (struct stream_sub *sub = st->subs; sub != NULL; sub = sub->next) {
        stream_queue_batch(sub);
        if (sub->lost > 0 && sub->out->bytes <= st->events_max / 2)
            stream_close_gap(st, sub, now_ns);
    }
}

size_t stream_queue_limit(const struct stream_sub *sub, size_t hard_max)
{
    return hard_max + sub->state_bytes;
}
