/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outq.c - reference-counted frames and bounded output queues (see outq.h).
 */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

struct outq_frame *outq_frame_new(size_t len)
{
    struct outq_frame *frame = malloc(sizeof(*frame) + len);
    if (frame == NULL)
        return NULL;
    frame->refs = 1;
    frame->len = (uint32_t)len;
    return frame;
}

struct outq_frame *outq_frame_ref(struct outq_frame *frame)
{
    frame->refs++;
    return frame;
}

void outq_frame_unref(struct outq_frame *frame)
{
    if (frame != NULL && --frame->refs == 0)
        free(frame);
}

void outq_init(struct outq *q)
{
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
    q->count = 0;
    q->bytes = 0;
}

void outq_destroy(struct outq *q)
{
    for (size_t i = 0; i < q->count; i++)
        outq_frame_unref(q->ring[(q->head + i) & (q->cap - 1)]);
    free(q->ring);
    outq_init(q);
}

static int outq_grow(struct outq *q)
{
    size_t new_cap = q->cap ? q->cap * 2 : 16;
    struct outq_frame **ring = malloc(new_cap * sizeof(*ring));
    if (ring == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = ring;
    q->cap = new_cap;
    q->head = 0;
    return 0;
}

int outq_push(struct outq *q, struct outq_frame *frame)
{
    if (q->count == q->cap) {
        int rc = outq_grow(q);
        if (rc < 0)
            return rc;
    }
    q->ring[(q->head + q->count) & (q->cap - 1)] = outq_frame_ref(frame);
    q->count++;
    q->bytes += frame->len;
    return 0;
}

int outq_send(struct outq *q, int fd)
{
    while (q->count > 0) {
        struct outq_frame *frame = q->ring[q->head];
        ssize_t n = send(fd, frame->data, frame->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            if (errno == EINTR)
                continue;
            return -errno;
        }
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        q->bytes -= frame->len;
        outq_frame_unref(frame);
    }
    return 0;
}
