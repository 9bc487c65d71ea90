/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream.h - the server's event stream: every change the ledger applies,
 * in the order it applies it, sent to the consumers that asked for it
 * (STREAM_REQ; tt-alloc-record is one). docs/PROTOCOL.md draws the frames;
 * docs/tt-alloc-server.md says what a subscriber sees.
 *
 * A subscriber first gets what is known (STREAM_DEVICE for each described
 * device, STREAM_PROCESS for each tracked process it may see) and the live
 * state (LIVE_BEGIN, LIVE_BUFFER..., LIVE_END), then every ALLOC, FREE,
 * RESET_PEAK and EXIT as it is applied, and a STREAM_PROCESS or
 * STREAM_DEVICE when one appears. Records are batched into frames that go
 * out at the end of each loop turn (stream_flush).
 *
 * A slow subscriber never slows a producer: once its output queue holds
 * more than `events_max` bytes (past its last live state), its ALLOC, FREE
 * and RESET_PEAK records are dropped and counted; when the queue has
 * drained to half of that, it gets a GAP record with the count and a fresh
 * live state, so what it knows is exact again. Process starts are never
 * dropped. A process that exits while a subscriber is behind keeps its
 * place: its buffers at the exit are kept for that subscriber and sent in
 * the gap's live state, followed by its EXIT, so its leaks are exact too.
 * Root sees every process; another uid sees its own only.
 *
 * No I/O here: frames go into the subscriber's outq; the server sends them.
 */
#ifndef TTALLOC_STREAM_H
#define TTALLOC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "outq.h"
#include "proto.h"

/* A process that ended while its subscriber was behind: its EXIT and the
 * buffers it held then wait for the gap's live state. */
struct stream_exit {
    int32_t pid;
    uint64_t timestamp_ns;
};

struct stream_sub {
    struct stream_sub *prev, *next;
    void *owner;              /* the caller's (its connection); set after subscribing */
    struct outq *out;         /* the subscriber connection's queue */
    uint32_t uid;             /* 0: sees every process */
    int dirty;                /* frames were queued since the server last sent */
    int failed;               /* out of memory: the server drops the subscriber */
    struct outq_frame *batch; /* STREAM_EVENTS being filled, or NULL */
    size_t batch_records;
    uint64_t lost;             /* records dropped since the last gap */
    size_t state_bytes;        /* bytes of the last live state queued */
    uint64_t gaps;             /* gaps this subscriber had */
    struct stream_exit *exits; /* ended while behind, in order */
    size_t n_exits, cap_exits;
    struct proto_stream_record *exit_buffers;
    size_t n_exit_buffers, cap_exit_buffers;
};

struct stream {
    struct ledger *ledger;
    struct ledger_watcher watcher; /* set on the ledger while anyone subscribes */
    struct stream_sub *subs;
    size_t n_subs;
    size_t events_max;   /* queued bytes past which records are dropped */
    uint64_t lost_total; /* all subscribers, all time */
};

void stream_init(struct stream *st, struct ledger *l, size_t events_max);
/* Unsubscribes everyone (their queues keep what was queued). */
void stream_destroy(struct stream *st);

/* Subscribe a connection: queues what is known and the live state on out.
 * Returns 0, or -ENOMEM (sub not subscribed). `now_ns`: CLOCK_MONOTONIC. */
int stream_subscribe(struct stream *st, struct stream_sub *sub, struct outq *out, uint32_t uid,
                     uint64_t now_ns);
void stream_unsubscribe(struct stream *st, struct stream_sub *sub);

/* A process the ledger tracks now for the first time. */
void stream_process_started(struct stream *st, const struct ledger_process *p, int32_t parent_pid,
                            uint64_t now_ns);
/* A device description the server applied. */
void stream_device_described(struct stream *st, uint32_t device,
                             const struct ttalloc_device_desc *desc, uint64_t now_ns);

/* End of a loop turn: queue every partly filled batch and, for subscribers
 * that lost records and whose queue has drained, the GAP and a fresh live
 * state. Subscribers with new frames have `dirty` set. */
void stream_flush(struct stream *st, uint64_t now_ns);

/* Bytes held for sub: its queue, and the exits kept while it is behind. */
size_t stream_held_bytes(const struct stream_sub *sub);
/* The most bytes the server should hold for sub (stream_held_bytes) before
 * it drops the subscriber as stuck: `hard_max` plus its last live state. */
size_t stream_queue_limit(const struct stream_sub *sub, size_t hard_max);

#endif /* TTALLOC_STREAM_H */
