/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dispatch.c - what each message does in tt-alloc-server: HELLO (a
 * producer's process is tracked from then on, with its pidfd watched),
 * a producer's events, descriptions, resyncs, peaks and flushes (into the
 * ledger, answered once applied), a consumer's requests (snapshots,
 * subscriptions, buffer lists, the leak history, the event stream). Frames
 * arrive parsed from conn.c; answers go back through conn.c's queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "procs.h"
#include "server_state.h"
#include "trust.h"

/* The parent of pid from /proc, 0 when it cannot be read. */
static int32_t dispatch_read_ppid(int32_t pid)
{
    int32_t ppid;
    return procs_read_stat(NULL, pid, NULL, &ppid) == 0 ? ppid : 0;
}

static void dispatch_hello(struct server *s, struct conn *c, const void *payload, size_t len)
{
    struct proto_hello hello;
    char msg[256];
    if (proto_check_hello(payload, len, &hello, msg, sizeof(msg)) < 0) {
        int mismatch = hello.magic == PROTO_MAGIC && hello.version != PROTO_VERSION;
        conn_kick_client(s, c, mismatch ? PROTO_ERR_VERSION : PROTO_ERR_MALFORMED, msg);
        return;
    }

    if (hello.role == PROTO_ROLE_PRODUCER) {
        if (c->pidfd < 0) {
            conn_kick_client(s, c, PROTO_ERR_MALFORMED,
                             "cannot watch this process (no pidfd); it may have ended");
            return;
        }
        /* A process of the same PID that ended but whose pidfd has not been
         * handled yet: settle it first, so the new one starts clean. (A PID
         * is reused only after its process is reaped, by which time its
         * pidfd is readable, so this check cannot miss a reuse.) */
        struct ledger_process *old = ledger_find(&s->ledger, c->pid);
        if (old != NULL && old->watch != NULL &&
            server_pidfd_has_exited(((struct pidwatch *)old->watch)->fd))
            server_process_ended(s, old);

        /* Every tracked process is created with its pidfd watch. */
        struct pidwatch *w = NULL;
        struct ledger_process *p = ledger_find(&s->ledger, c->pid);
        int new_process = p == NULL;
        if (p == NULL || p->watch == NULL) {
            w = server_watch_process(s, c->pidfd, c->pid);
            if (w == NULL) {
                conn_kick_client(s, c, PROTO_ERR_LIMIT, "server cannot watch more processes");
                return;
            }
        }
        if (ledger_attach(&s->ledger, c->pid, c->uid, c->name, hello.label,
                          server_now_ns(CLOCK_REALTIME), &p) < 0) {
            if (w != NULL)
                server_unwatch_process(s, w);
            conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory");
            return;
        }
        if (ledger_stream_open(&s->ledger, p, &c->stream) < 0) {
            c->proc = p; /* detached when closed */
            conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory");
            return;
        }
        c->proc = p;
        if (w != NULL) {
            p->watch = w;
            c->pidfd = -1; /* now the watch's */
        }
        c->state = CONN_PRODUCER;
        log_info("client connected: pid %d (%s), uid %u, producer%s%s", (int)c->pid, c->name,
                 c->uid, hello.label[0] ? ", label " : "", hello.label);
        if (new_process && s->stream.n_subs > 0)
            stream_process_started(&s->stream, p, dispatch_read_ppid(c->pid),
                                   server_now_ns(CLOCK_MONOTONIC));
    } else {
        c->state = CONN_CONSUMER;
        log_debug("client connected: pid %d (%s), uid %u, consumer", (int)c->pid, c->name, c->uid);
    }
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }

    struct proto_hello_ack ack;
    memset(&ack, 0, sizeof(ack));
    ack.magic = PROTO_MAGIC;
    ack.version = PROTO_VERSION;
    ack.server_pid = s->pid;
    ack.peer_pid = c->pid;
    ack.peer_uid = c->uid;
    snprintf(ack.server_version, sizeof(ack.server_version), "%s", TTALLOC_VERSION_STRING);
    conn_send_frame(s, c, PROTO_HELLO_ACK, &ack, sizeof(ack));
}

/* Why a producer's event could not be applied (rc from the ledger), for the
 * log and its ERROR frame; then kick it. */
void dispatch_producer_fault(struct server *s, struct conn *c, int rc,
                             const struct proto_event *bad)
{
    struct ledger *l = &s->ledger;
    char text[192];
    switch (rc) {
    case -EINVAL:
        snprintf(text, sizeof(text),
                 "malformed event (type %u, op %u, size %" PRIu64
                 "): unknown type or op, zero size, or past 1 TiB of one type on one device",
                 (unsigned)bad->type, (unsigned)bad->op, bad->size);
        conn_kick_producer(s, c, PROTO_ERR_MALFORMED, text);
        return;
    case -E2BIG:
        snprintf(text, sizeof(text),
                 "over the limit of %zu live buffers per process "
                 "(--max-buffers)",
                 l->limits.max_buffers);
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -ENOSPC:
        snprintf(text, sizeof(text), "device %u would exceed the server's %zu devices", bad->device,
                 l->limits.max_devices);
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -EDQUOT:
        snprintf(text, sizeof(text),
                 "uid %u is over its limit of %" PRIu64 " live buffers "
                 "(--max-buffers-per-uid)",
                 c->uid, l->quota.limits.max_buffers);
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -EXFULL:
        snprintf(text, sizeof(text),
                 "device %u is past uid %u's limit of %u devices "
                 "(--max-devices-per-uid)",
                 bad->device, c->uid, l->quota.limits.max_devices);
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    default:
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, "server out of memory");
        return;
    }
}

/* Say once per process that it sent timestamps it cannot have taken: they
 * were clamped, and reorder only its own events. */
static void dispatch_report_order(struct ledger_process *p)
{
    const struct ledger_order_counters *o = &p->order;
    if (p->order_reported || (o->future == 0 && o->backwards == 0 && o->late == 0))
        return;
    p->order_reported = 1;
    log_warnx("pid %d (%s): clamped event timestamps (%" PRIu64 " in the future, %" PRIu64
              " going backwards, %" PRIu64 " behind the merge); only its own figures are "
              "affected (said once per process)",
              (int)p->pid, p->name, o->future, o->backwards, o->late);
}

/* Send the stream frames queued so far (full batches), without the turn's
 * partial ones or the gap check (dispatch_send_streams does those). */
static void dispatch_push_streams(struct server *s)
{
    struct stream_sub *sub = s->stream.subs;
    while (sub != NULL) {
        struct stream_sub *next = sub->next; /* sub may be dropped below */
        if (sub->dirty && !sub->failed) {
            sub->dirty = 0;
            conn_flush(s, sub->owner);
        }
        sub = next;
    }
}

static void dispatch_events(struct server *s, struct conn *c, const void *payload, size_t len)
{
    struct ledger *l = &s->ledger;
    const struct proto_event *events = payload;
    size_t n = len / sizeof(*events);
    uint64_t unknown_before = l->counters.unknown_frees;
    uint64_t realloc_before = l->counters.live_reallocs;
    struct proto_event bad;

    int rc = ledger_submit(l, c->stream, events, n, server_now_ns(CLOCK_MONOTONIC), &bad);
    if (l->counters.unknown_frees != unknown_before)
        log_debug("pid %d (%s): %" PRIu64 " free(s) of buffers that were not live", (int)c->pid,
                  c->name, l->counters.unknown_frees - unknown_before);
    if (l->counters.live_reallocs != realloc_before)
        log_debug("pid %d (%s): %" PRIu64 " alloc(s) of buffers already live (size replaced)",
                  (int)c->pid, c->name, l->counters.live_reallocs - realloc_before);
    dispatch_report_order(c->proc);
    if (rc < 0)
        dispatch_producer_fault(s, c, rc, &bad);
    /* Full stream frames go out now, not at the end of the turn: a turn may
     * read 64 frames of a producer, more than a recorder's queue may hold. */
    if (s->stream.n_subs > 0)
        dispatch_push_streams(s);
}

/* PEAKS: the process's own peaks as its library counted them (in a resync). */
static void dispatch_peaks(struct server *s, struct conn *c, const void *payload, size_t len)
{
    const struct proto_peak *peaks = payload;
    int rc = ledger_merge_peaks(&s->ledger, c->stream, peaks, len / sizeof(*peaks));
    if (rc == -EPROTO)
        conn_kick_producer(s, c, PROTO_ERR_MALFORMED, "PEAKS outside a resync");
    else if (rc == -EINVAL)
        conn_kick_producer(s, c, PROTO_ERR_MALFORMED, "PEAKS with an unknown memory type");
    else if (rc == -ENOSPC || rc == -EXFULL)
        conn_kick_producer(s, c, PROTO_ERR_LIMIT,
                           rc == -ENOSPC ? "PEAKS name more devices than the server keeps"
                                         : "PEAKS name more devices than its uid may use "
                                           "(--max-devices-per-uid)");
    else if (rc < 0)
        conn_kick_producer(s, c, PROTO_ERR_LIMIT, "server out of memory");
}

/* Processes whose queued events failed to apply outside a read of theirs
 * (a hold ran out, a connection closed): kick their connections, and drop
 * the buffers of those that have none left. */
void dispatch_settle_faults(struct server *s)
{
    struct ledger *l = &s->ledger;
    if (l->faulted == 0)
        return;
    struct conn *c = s->conns;
    while (c != NULL && l->faulted > 0) {
        struct conn *next = c->next;
        struct proto_event bad;
        if (c->proc != NULL && c->proc->fault != 0) {
            int rc = c->proc->fault;
            bad = c->proc->fault_event;
            dispatch_producer_fault(s, c, rc, &bad);
            next = s->conns; /* the list may have changed: rescan */
        }
        c = next;
    }
    for (size_t i = 0; i < l->n_procs && l->faulted > 0; i++) {
        struct ledger_process *p = l->procs[i];
        if (ledger_take_fault(l, p, NULL) != 0) {
            uint64_t dropped = ledger_forget(l, p);
            log_warnx("pid %d (%s): an event could not be applied; dropping its %" PRIu64
                      " buffers",
                      (int)p->pid, p->name, dropped);
        }
    }
}

/* Answer c's waiting FLUSHes, in order. Returns 0, or a negative errno
 * when c was closed. */
static int dispatch_ack_flushes(struct server *s, struct conn *c)
{
    unsigned n = c->n_flushes;
    c->n_flushes = 0;
    s->flushes_waiting--;
    for (unsigned i = 0; i < n; i++) {
        struct proto_flush ack = {.token = c->flushes[i]};
        if (conn_send_frame(s, c, PROTO_FLUSH_ACK, &ack, sizeof(ack)) < 0)
            return -EPIPE;
    }
    return 0;
}

/* FLUSH: answered once every event this connection sent is applied. That
 * may wait for the process's other connections (at most --order-hold); a
 * connection with too many FLUSHes waiting has its events applied at once. */
static void dispatch_flush(struct server *s, struct conn *c, const void *payload)
{
    struct proto_flush flush;
    memcpy(&flush, payload, sizeof(flush));
    if (c->n_flushes == SERVER_MAX_FLUSHES) {
        struct proto_event bad;
        int rc = ledger_stream_sync(&s->ledger, c->stream, &bad);
        if (rc < 0) {
            dispatch_producer_fault(s, c, rc, &bad);
            return;
        }
        if (dispatch_ack_flushes(s, c) < 0)
            return;
    }
    if (c->n_flushes == 0 && ledger_stream_synced(c->stream)) {
        conn_send_frame(s, c, PROTO_FLUSH_ACK, &flush, sizeof(flush));
        return;
    }
    if (c->n_flushes++ == 0)
        s->flushes_waiting++;
    c->flushes[c->n_flushes - 1] = flush.token;
}

/* Answer the FLUSHes whose connection's events have all been applied since. */
void dispatch_answer_flushes(struct server *s)
{
    struct conn *c = s->conns;
    while (c != NULL && s->flushes_waiting > 0) {
        struct conn *next = c->next;
        if (c->n_flushes > 0 && ledger_stream_synced(c->stream) && dispatch_ack_flushes(s, c) < 0)
            next = s->conns; /* c was closed: rescan */
        c = next;
    }
}

static void dispatch_producer_frame(struct server *s, struct conn *c,
                                    const struct proto_header *hdr, const void *payload)
{
    switch (hdr->type) {
    case PROTO_EVENTS:
        dispatch_events(s, c, payload, hdr->length);
        return;
    case PROTO_DEVICE_DESC: {
        struct proto_device_desc desc;
        char why[160];
        memcpy(&desc, payload, sizeof(desc));
        if (!trust_may_describe(s->config->sysroot, s->sources.devs, s->sources.n_devs, &s->ledger,
                                c->pid, desc.device, &desc.desc, why, sizeof(why))) {
            log_info("pid %d (%s), uid %u: description of device %u not applied: %s", (int)c->pid,
                     c->name, c->uid, desc.device, why);
            return;
        }
        int rc = ledger_describe(&s->ledger, c->pid, desc.device, &desc.desc);
        if (rc == 0)
            stream_device_described(&s->stream, desc.device, &desc.desc,
                                    server_now_ns(CLOCK_MONOTONIC));
        if (rc < 0) {
            char text[128];
            snprintf(text, sizeof(text), "cannot describe device %u: %s", desc.device,
                     rc == -ENOSPC ? "too many devices" : "out of memory");
            conn_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        }
        return;
    }
    case PROTO_RESYNC_BEGIN: {
        uint64_t dropped = ledger_resync_begin(&s->ledger, c->stream);
        log_debug("pid %d (%s): resync begins, forgot %" PRIu64 " buffers", (int)c->pid, c->name,
                  dropped);
        return;
    }
    case PROTO_RESYNC_END: {
        struct proto_resync_end end;
        memcpy(&end, payload, sizeof(end));
        if (ledger_resync_end(&s->ledger, c->stream, end.buffers, end.bytes) < 0)
            log_warnx("pid %d (%s): resync mismatch: client sent %" PRIu64 " buffers, %" PRIu64
                      " bytes; server has %zu buffers, %" PRIu64 " bytes",
                      (int)c->pid, c->name, end.buffers, end.bytes, c->proc->table.count,
                      c->proc->bytes);
        else
            log_debug("pid %d (%s): resync done, %" PRIu64 " buffers", (int)c->pid, c->name,
                      end.buffers);
        return;
    }
    case PROTO_PEAKS:
        dispatch_peaks(s, c, payload, hdr->length);
        return;
    case PROTO_FLUSH:
        dispatch_flush(s, c, payload);
        return;
    default: {
        char text[128];
        snprintf(text, sizeof(text), "a producer may not send %s", proto_type_name(hdr->type));
        conn_kick_producer(s, c, PROTO_ERR_ROLE, text);
        return;
    }
    }
}

/* A snapshot: the ledger's records merged with sysfs and SHM (sources.c). */
/* A new snapshot, numbered, of the merged view (ledger, sysfs, SHM). */
int dispatch_build_snapshot(struct server *s, struct reply *r)
{
    struct proto_snap_begin head;
    memset(&head, 0, sizeof(head));
    head.seq = ++s->snap_seq;
    head.timestamp_ns = server_now_ns(CLOCK_REALTIME);
    head.clients = s->n_conns;
    head.server_pid = s->pid;

    struct shmsnap snap;
    int rc = sources_snapshot(&s->sources, &s->ledger, &snap);
    if (rc == 0)
        rc = reply_snapshot_records(r, &s->ledger, &head, snap.devices, snap.n_devices,
                                    snap.processes, snap.n_processes, snap.usage, snap.n_usage);
    shmsnap_free(&snap);
    return rc;
}

static int dispatch_send_snapshot(struct server *s, struct conn *c)
{
    struct reply r;
    reply_init(&r);
    int rc = dispatch_build_snapshot(s, &r);
    if (rc == 0)
        rc = conn_send_reply(s, c, &r);
    else
        conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory building a snapshot");
    reply_release(&r);
    return rc;
}

static void dispatch_subscribe(struct server *s, struct conn *c, const void *payload)
{
    struct proto_subscribe sub;
    memcpy(&sub, payload, sizeof(sub));
    if (sub.interval_ms != 0 && sub.interval_ms < SERVER_MIN_INTERVAL_MS) {
        char text[96];
        snprintf(text, sizeof(text), "subscription interval %u ms is below the minimum of %u ms",
                 sub.interval_ms, SERVER_MIN_INTERVAL_MS);
        conn_kick_client(s, c, PROTO_ERR_LIMIT, text);
        return;
    }
    c->sub_interval_ms = sub.interval_ms;
    if (sub.interval_ms == 0) {
        log_debug("pid %d (%s): unsubscribed", (int)c->pid, c->name);
        return;
    }
    log_debug("pid %d (%s): subscribed every %u ms", (int)c->pid, c->name, sub.interval_ms);
    c->sub_next_ns = server_now_ns(CLOCK_MONOTONIC) + (uint64_t)sub.interval_ms * 1000000ull;
    /* The first snapshot right away, then one per interval. */
    if (dispatch_send_snapshot(s, c) == 0)
        server_arm_timer(s);
}

static void dispatch_buffers_req(struct server *s, struct conn *c, const void *payload)
{
    struct proto_buffers_req req;
    memcpy(&req, payload, sizeof(req));
    const struct ledger_process *p = ledger_find(&s->ledger, req.pid);
    size_t max =
        req.max == 0 || req.max > SERVER_MAX_BUFFERS_REPLY ? SERVER_MAX_BUFFERS_REPLY : req.max;
    /* Buffer lists are for root and the process's own user. */
    if (p != NULL && c->uid != 0 && c->uid != p->uid) {
        log_debug("pid %d (%s): not shown the buffers of pid %d (uid %u)", (int)c->pid, c->name,
                  (int)p->pid, p->uid);
        p = NULL;
    }
    struct reply r;
    reply_init(&r);
    if (reply_buffers(&r, p, max) == 0)
        conn_send_reply(s, c, &r);
    else
        conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory listing buffers");
    reply_release(&r);
}

static void dispatch_exits_req(struct server *s, struct conn *c)
{
    struct reply r;
    reply_init(&r);
    int rc = 0;
    if (s->exits.n_records > 0)
        rc = reply_add_records(&r, PROTO_EXITS, s->exits.records, s->exits.n_records,
                               sizeof(s->exits.records[0]));
    if (rc == 0)
        rc = reply_add(&r, PROTO_EXITS_END, NULL, 0);
    if (rc == 0)
        conn_send_reply(s, c, &r);
    else
        conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory listing exits");
    reply_release(&r);
}

/* STREAM_REQ: from now on every change, in order (stream.h). */
static void dispatch_stream_req(struct server *s, struct conn *c, const void *payload)
{
    struct proto_stream_req req;
    memcpy(&req, payload, sizeof(req));
    if (req.flags != 0 || req.reserved != 0) {
        conn_kick_client(s, c, PROTO_ERR_MALFORMED, "STREAM_REQ with unknown flags");
        return;
    }
    if (c->streaming) {
        conn_kick_client(s, c, PROTO_ERR_MALFORMED, "a second STREAM_REQ");
        return;
    }
    if (stream_subscribe(&s->stream, &c->sub, &c->out, c->uid, server_now_ns(CLOCK_MONOTONIC)) <
        0) {
        conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory starting a stream");
        return;
    }
    c->sub.owner = c;
    c->streaming = 1;
    log_info("pid %d (%s), uid %u: event stream started (%s)", (int)c->pid, c->name, c->uid,
             c->uid == 0 ? "every process" : "this uid's processes");
    c->sub.dirty = 0;
    conn_flush(s, c);
}

/* End of a loop turn: queue what the stream gathered and send it. */
void dispatch_send_streams(struct server *s)
{
    if (s->stream.n_subs == 0)
        return;
    stream_flush(&s->stream, server_now_ns(CLOCK_MONOTONIC));
    struct stream_sub *sub = s->stream.subs;
    while (sub != NULL) {
        struct stream_sub *next = sub->next; /* sub may be unsubscribed below */
        struct conn *c = sub->owner;
        if (sub->failed) {
            conn_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory queueing the stream");
        } else if (sub->dirty) {
            sub->dirty = 0;
            conn_flush(s, c);
        }
        sub = next;
    }
}

static void dispatch_consumer_frame(struct server *s, struct conn *c,
                                    const struct proto_header *hdr, const void *payload)
{
    switch (hdr->type) {
    case PROTO_STREAM_REQ:
        dispatch_stream_req(s, c, payload);
        return;
    case PROTO_SNAPSHOT_REQ:
        dispatch_send_snapshot(s, c);
        return;
    case PROTO_SUBSCRIBE:
        dispatch_subscribe(s, c, payload);
        return;
    case PROTO_BUFFERS_REQ:
        dispatch_buffers_req(s, c, payload);
        return;
    case PROTO_EXITS_REQ:
        dispatch_exits_req(s, c);
        return;
    default: {
        char text[128];
        snprintf(text, sizeof(text), "a consumer may not send %s", proto_type_name(hdr->type));
        conn_kick_client(s, c, PROTO_ERR_ROLE, text);
        return;
    }
    }
}

void dispatch_frame(struct server *s, struct conn *c, const struct proto_header *hdr,
                    const void *payload)
{
    if (c->state == CONN_HELLO) {
        if (hdr->type != PROTO_HELLO) {
            char text[96];
            snprintf(text, sizeof(text), "first frame must be HELLO, got %s",
                     proto_type_name(hdr->type));
            conn_kick_client(s, c, PROTO_ERR_MALFORMED, text);
            return;
        }
        dispatch_hello(s, c, payload, hdr->length);
        return;
    }
    if (hdr->type == PROTO_HELLO) {
        if (c->state == CONN_PRODUCER)
            conn_kick_producer(s, c, PROTO_ERR_MALFORMED, "a second HELLO");
        else
            conn_kick_client(s, c, PROTO_ERR_MALFORMED, "a second HELLO");
        return;
    }
    if (c->state == CONN_PRODUCER)
        dispatch_producer_frame(s, c, hdr, payload);
    else
        dispatch_consumer_frame(s, c, hdr, payload);
}
