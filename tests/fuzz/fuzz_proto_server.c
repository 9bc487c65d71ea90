/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proto_server.c - the server's side of the wire: a received datagram
 * through proto_parse_frame, then what server.c does with it (HELLO check,
 * events into the ledger, a device description, resync end). The input is
 * a sequence of frames, each prefixed by a 2-byte length, all from one
 * producer of a ledger with small limits (so limits are reached too). After
 * each frame the ledger's totals must still add up.
 *
 * An event-stream subscriber (stream.c) with a tiny queue watches it all,
 * reading its queue only when a frame's flags say so (so it falls behind and
 * gets gaps). What it rebuilds from the stream must equal the ledger's live
 * buffers at the end, and every FREE it is told must name a buffer it knows,
 * with its size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buftable.h"
#include "ledger.h"
#include "outq.h"
#include "proto.h"
#include "stream.h"

#define FUZZ_MAX_EXITS 16

/* What the subscriber knows: the live buffers of pids 100 and 101; and what
 * process 101 really held each time it ended, to check its EXIT against. */
struct fuzz_view {
    struct buftable table[2];
    int in_gap; /* between GAP and its LIVE_END: records are state */
    struct buftable exits[FUZZ_MAX_EXITS];
    size_t n_exits;   /* ends recorded */
    size_t n_checked; /* EXITs the stream has brought */
};

/* Does `mine` hold exactly what `truth` holds? */
static int fuzz_same(const struct buftable *mine, const struct buftable *truth)
{
    if (mine->count != truth->count)
        return 0;
    size_t pos = 0;
    const struct buftable_entry *e;
    while ((e = buftable_next(truth, &pos)) != NULL)
        if (buftable_lookup(mine, e->device, e->type, e->address) != e->size)
            return 0;
    return 1;
}

/* Process 101 is about to end holding `table`: remember it for its EXIT. */
static void fuzz_view_expect_exit(struct fuzz_view *v, const struct buftable *table)
{
    if (v->n_exits == FUZZ_MAX_EXITS)
        return;
    struct buftable *copy = &v->exits[v->n_exits++];
    buftable_init(copy);
    size_t pos = 0;
    const struct buftable_entry *e;
    uint64_t old;
    while ((e = buftable_next(table, &pos)) != NULL)
        if (buftable_insert(copy, e->device, e->type, e->address, e->size, &old) < 0)
            abort();
}

static struct buftable *fuzz_view_table(struct fuzz_view *v, int32_t pid)
{
    if (pid != 100 && pid != 101)
        abort(); /* the stream named a process that does not exist */
    return &v->table[pid - 100];
}

static void fuzz_view_apply(struct fuzz_view *v, const struct proto_stream_record *r)
{
    uint64_t size = 0;
    switch (r->kind) {
    case PROTO_STREAM_ALLOC:
    case PROTO_STREAM_LIVE_BUFFER:
        if (buftable_insert(fuzz_view_table(v, r->pid), r->device, r->type, r->address, r->size,
                            &size) < 0)
            abort();
        break;
    case PROTO_STREAM_FREE:
        if (!buftable_remove(fuzz_view_table(v, r->pid), r->device, r->type, r->address, &size) ||
            size != r->size)
            abort(); /* a free of something it was never told of */
        break;
    case PROTO_STREAM_EXIT:
        /* Its leaks as the subscriber knows them must be what it held. */
        if (r->pid == 101 && v->n_checked < v->n_exits &&
            !fuzz_same(fuzz_view_table(v, r->pid), &v->exits[v->n_checked++]))
            abort();
        buftable_clear(fuzz_view_table(v, r->pid));
        break;
    case PROTO_STREAM_LIVE_BEGIN:
        buftable_clear(&v->table[0]);
        buftable_clear(&v->table[1]);
        break;
    case PROTO_STREAM_GAP:
        v->in_gap = 1;
        break;
    case PROTO_STREAM_LIVE_END:
        v->in_gap = 0;
        break;
    case PROTO_STREAM_RESET_PEAK:
        break;
    default:
        abort();
    }
}

/* The subscriber reads everything queued. */
static void fuzz_view_read(struct fuzz_view *v, struct outq *q)
{
    for (size_t i = 0; i < q->count; i++) {
        const struct outq_frame *f = q->ring[(q->head + i) & (q->cap - 1)];
        struct proto_header hdr;
        const void *payload;
        if (proto_parse_frame(f->data, f->len, &hdr, &payload, NULL, 0) < 0)
            abort(); /* the server built a frame that does not parse */
        if (hdr.type != PROTO_STREAM_EVENTS)
            continue;
        const struct proto_stream_record *r = payload;
        for (size_t k = 0; k < hdr.length / sizeof(*r); k++)
            fuzz_view_apply(v, &r[k]);
    }
    outq_destroy(q);
    outq_init(q);
}

/* Does the subscriber's view equal the ledger's buffers of pid? */
static void fuzz_view_check(struct fuzz_view *v, const struct ledger *l, int32_t pid)
{
    const struct ledger_process *p = ledger_find(l, pid);
    const struct buftable *mine = fuzz_view_table(v, pid);
    if (p == NULL) {
        if (mine->count != 0)
            abort();
        return;
    }
    if (mine->count != p->table.count)
        abort();
    size_t pos = 0;
    const struct buftable_entry *e;
    while ((e = buftable_next(&p->table, &pos)) != NULL)
        if (buftable_lookup(mine, e->device, e->type, e->address) != e->size)
            abort();
}

static void fuzz_check_totals(const struct ledger *l)
{
    uint64_t buffers = 0;
    for (size_t i = 0; i < l->n_procs; i++)
        buffers += l->procs[i]->table.count;
    if (buffers != l->live_buffers)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct quota_limits caps = {.max_conns = 2, .max_buffers = 512, .max_devices = 8};
    struct ledger_limits limits = {.max_buffers = 1024, .max_devices = 16, .per_uid = &caps};
    struct ledger l;
    if (ledger_init(&l, &limits) < 0)
        return 0;
    struct ledger_process *p = NULL, *q = NULL;
    ledger_attach(&l, 100, 1000, "fuzz", NULL, 1, &p);
    ledger_attach(&l, 101, 1000, "other", NULL, 1, &q);
    /* Two streams of p (its events are merged by timestamp), one of q. */
    struct ledger_stream *streams[3] = {NULL, NULL, NULL};
    if (p != NULL) {
        ledger_stream_open(&l, p, &streams[0]);
        ledger_stream_open(&l, p, &streams[1]);
    }
    if (q != NULL)
        ledger_stream_open(&l, q, &streams[2]);
    uint64_t now = 1000000000ull; /* the server's clock, moving on per frame */
    struct stream st;
    stream_init(&st, &l, 2048);
    struct outq out;
    outq_init(&out);
    struct stream_sub sub;
    struct fuzz_view view;
    memset(&view, 0, sizeof(view));
    buftable_init(&view.table[0]);
    buftable_init(&view.table[1]);
    int subscribed = stream_subscribe(&st, &sub, &out, 0, now) == 0;
    /* 8-byte aligned copies, as the server's receive buffer is. */
    uint64_t *frame = malloc(PROTO_MAX_FRAME + 8);
    while (frame != NULL && size >= 2) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        memcpy(frame, data, len);
        data += len;
        size -= len;
        now += 1000000u;
        struct proto_header hdr;
        const void *payload;
        if (proto_parse_frame(frame, len, &hdr, &payload, NULL, 0) < 0)
            continue;
        if (hdr.flags & 8) {
            /* Process 101 ends (its leaks go to the stream), or a new
             * process takes its pid (the stream is told it started). */
            if (q != NULL) {
                if (streams[2] != NULL)
                    ledger_stream_close(&l, streams[2], now);
                streams[2] = NULL;
                fuzz_view_expect_exit(&view, &q->table);
                ledger_exit(&l, q, now);
                q = NULL;
            } else if (ledger_attach(&l, 101, 1000, "again", NULL, now, &q) == 0) {
                stream_process_started(&st, q, 0, now);
                ledger_stream_open(&l, q, &streams[2]);
            }
            stream_flush(&st, now);
            continue;
        }
        struct ledger_stream *s = streams[hdr.flags % 3];
        struct ledger_process *who = hdr.flags % 3 == 2 ? q : p;
        if (s == NULL || who == NULL)
            continue;
        struct proto_event bad;
        switch (hdr.type) {
        case PROTO_HELLO: {
            struct proto_hello hello;
            char msg[256];
            proto_check_hello(payload, hdr.length, &hello, msg, sizeof(msg));
            break;
        }
        case PROTO_EVENTS:
            ledger_submit(&l, s, payload, hdr.length / sizeof(struct proto_event), now, &bad);
            break;
        case PROTO_FLUSH:
            ledger_stream_sync(&l, s, &bad);
            break;
        case PROTO_DEVICE_DESC: {
            struct proto_device_desc desc;
            memcpy(&desc, payload, sizeof(desc));
            ledger_describe(&l, who->pid, desc.device, &desc.desc);
            break;
        }
        case PROTO_RESYNC_BEGIN:
            ledger_resync_begin(&l, s);
            break;
        case PROTO_PEAKS:
            ledger_merge_peaks(&l, s, payload, hdr.length / sizeof(struct proto_peak));
            break;
        case PROTO_RESYNC_END: {
            struct proto_resync_end end;
            memcpy(&end, payload, sizeof(end));
            ledger_resync_end(&l, s, end.buffers, end.bytes);
            break;
        }
        default:
            break;
        }
        ledger_release(&l, now);
        /* A faulted process loses its buffers, as the server kicks it. */
        if (ledger_take_fault(&l, who, &bad) != 0)
            ledger_forget(&l, who);
        fuzz_check_totals(&l);
        stream_flush(&st, now);
        if (hdr.flags & 4)
            fuzz_view_read(&view, &out);
    }
    free(frame);
    for (int i = 0; i < 3; i++) {
        if (streams[i] != NULL)
            ledger_stream_close(&l, streams[i], now);
    }
    if (q != NULL && size == 0) {
        fuzz_view_expect_exit(&view, &q->table);
        ledger_exit(&l, q, 2); /* the stream hears of it from the ledger */
    }
    fuzz_check_totals(&l);
    if (subscribed) {
        /* Read until caught up: a pending gap then sends the state. */
        for (int round = 0; round < 3; round++) {
            stream_flush(&st, now);
            fuzz_view_read(&view, &out);
        }
        if (sub.lost != 0 || view.in_gap)
            abort();
        fuzz_view_check(&view, &l, 100);
        fuzz_view_check(&view, &l, 101);
    }
    stream_destroy(&st);
    outq_destroy(&out);
    buftable_destroy(&view.table[0]);
    buftable_destroy(&view.table[1]);
    for (size_t i = 0; i < view.n_exits; i++)
        buftable_destroy(&view.exits[i]);
    ledger_destroy(&l);
    return 0;
}
