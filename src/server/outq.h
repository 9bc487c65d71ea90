/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outq.h - outgoing frames and the bounded per-connection output queue.
 *
 * A frame is reference counted so one snapshot, built once per timer tick,
 * can sit in every subscriber's queue without copies. A queue holds whole
 * frames (SOCK_SEQPACKET sends a frame entirely or not at all) and counts the
 * bytes it holds, so the server can drop a reader that falls too far behind.
 */
#ifndef TTALLOC_OUTQ_H
#define TTALLOC_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq_frame {
    unsigned refs;
    uint32_t len; /* bytes in data: header and payload */
    unsigned char data[];
};

/* A frame of len bytes (uninitialised data), one reference. NULL on ENOMEM. */
struct outq_frame *outq_frame_new(size_t len);
struct outq_frame *outq_frame_ref(struct outq_frame *frame);
void outq_frame_unref(struct outq_frame *frame);

struct outq {
    struct outq_frame **ring;
    size_t cap;  /* 0 or a power of two */
    size_t head; /* index of the oldest frame */
    size_t count;
    size_t bytes; /* sum of the queued frames' len */
};

void outq_init(struct outq *q);
/* Drop every queued frame and the ring. */
void outq_destroy(struct outq *q);

/* Queue a frame, taking a new reference to it. 0 or -ENOMEM. */
int outq_push(struct outq *q, struct outq_frame *frame);

/* Send queued frames on fd (non-blocking) until the queue is empty (returns
 * 0) or the socket is full (returns 1); a negative errno when the connection
 * is broken. */
int outq_send(struct outq *q, int fd);

#endif /* TTALLOC_OUTQ_H */
