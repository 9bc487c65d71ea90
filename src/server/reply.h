/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reply.h - answers to consumers, built as lists of ready-to-send frames:
 * snapshots (SNAP_BEGIN, SNAP_DEVICES..., SNAP_PROCESSES..., SNAP_USAGE...,
 * SNAP_END), a process's buffers (BUFFERS... BUFFERS_END) and the exit report
 * (EXITS... EXITS_END). Record arrays are split over as many frames as
 * PROTO_MAX_FRAME requires; empty arrays send no frame. No I/O here.
 */
#ifndef TTALLOC_REPLY_H
#define TTALLOC_REPLY_H

#include <stddef.h>

#include "ledger.h"
#include "outq.h"
#include "proto.h"

struct reply {
    struct outq_frame **frames;
    size_t n;
    size_t cap;
};

void reply_init(struct reply *r);
/* Drop this list's references to its frames (queued copies stay alive). */
void reply_release(struct reply *r);

/* Append one frame of `type` carrying `len` payload bytes. 0 or -ENOMEM. */
int reply_add(struct reply *r, enum proto_msg_type type, const void *payload, size_t len);

/* Append `n` records of `size` bytes as frames of `type`, as few as fit. */
int reply_add_records(struct reply *r, enum proto_msg_type type, const void *records, size_t n,
                      size_t size);

/* A whole snapshot of the ledger. `head` gives seq, timestamp, clients and
 * server pid; the counts and counters are filled in here. */
int reply_snapshot(struct reply *r, const struct ledger *l, const struct proto_snap_begin *head);

/* A whole snapshot of records the caller built (the ledger's merged with the
 * server's other sources, sources.h); the ledger gives only the counters. */
int reply_snapshot_records(struct reply *r, const struct ledger *l,
                           const struct proto_snap_begin *head,
                           const struct ttalloc_device_stats *devs, size_t n_devs,
                           const struct ttalloc_process_info *procs, size_t n_procs,
                           const struct ttalloc_usage *usage, size_t n_usage);

/* The buffers of p (NULL: none), largest first, at most max. */
int reply_buffers(struct reply *r, const struct ledger_process *p, size_t max);

/* The exit records, oldest first. */
int reply_exits(struct reply *r, const struct ledger *l);

#endif /* TTALLOC_REPLY_H */
