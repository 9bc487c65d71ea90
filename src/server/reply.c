/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reply.c - consumer answers as frame lists (see reply.h).
 */
#include "reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void reply_init(struct reply *r)
{
    r->frames = NULL;
    r->n = 0;
    r->cap = 0;
}

void reply_release(struct reply *r)
{
    for (size_t i = 0; i < r->n; i++)
        outq_frame_unref(r->frames[i]);
    free(r->frames);
    reply_init(r);
}

int reply_add(struct reply *r, enum proto_msg_type type, const void *payload, size_t len)
{
    if (sizeof(struct proto_header) + len > PROTO_MAX_FRAME)
        return -EMSGSIZE;
    if (r->n == r->cap) {
        size_t new_cap = r->cap ? r->cap * 2 : 8;
        struct outq_frame **frames = realloc(r->frames, new_cap * sizeof(*frames));
        if (frames == NULL)
            return -ENOMEM;
        r->frames = frames;
        r->cap = new_cap;
    }
    struct outq_frame *frame = outq_frame_new(sizeof(struct proto_header) + len);
    if (frame == NULL)
        return -ENOMEM;
    proto_put_header(frame->data, type, (uint32_t)len);
    if (len > 0)
        memcpy(frame->data + sizeof(struct proto_header), payload, len);
    r->frames[r->n++] = frame;
    return 0;
}

int reply_add_records(struct reply *r, enum proto_msg_type type, const void *records, size_t n,
                      size_t size)
{
    const size_t per_frame = proto_records_per_frame(size);
    const unsigned char *next = records;

    while (n > 0) {
        size_t k = n < per_frame ? n : per_frame;
        int rc = reply_add(r, type, next, k * size);
        if (rc < 0)
            return rc;
        next += k * size;
        n -= k;
    }
    return 0;
}

int reply_snapshot_records(struct reply *r, const struct ledger *l,
                           const struct proto_snap_begin *head,
                           const struct ttalloc_device_stats *devs, size_t n_devs,
                           const struct ttalloc_process_info *procs, size_t n_procs,
                           const struct ttalloc_usage *usage, size_t n_usage)
{
    struct proto_snap_begin begin = *head;
    begin.events_total = l->counters.events_total;
    begin.exits_total = l->counters.exits_total;
    begin.leaked_exits_total = l->counters.leaked_exits_total;
    begin.n_devices = (uint32_t)n_devs;
    begin.n_processes = (uint32_t)n_procs;
    begin.n_usage = (uint32_t)n_usage;
    begin.reserved = 0;

    int rc = reply_add(r, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    if (rc == 0)
        rc = reply_add_records(r, PROTO_SNAP_DEVICES, devs, n_devs, sizeof(*devs));
    if (rc == 0)
        rc = reply_add_records(r, PROTO_SNAP_PROCESSES, procs, n_procs, sizeof(*procs));
    if (rc == 0)
        rc = reply_add_records(r, PROTO_SNAP_USAGE, usage, n_usage, sizeof(*usage));
    if (rc == 0)
        rc = reply_add(r, PROTO_SNAP_END, NULL, 0);
    return rc;
}

int reply_snapshot(struct reply *r, const struct ledger *l, const struct proto_snap_begin *head)
{
    size_t n_usage = ledger_count_usage(l);
    struct ttalloc_device_stats *devs = calloc(l->n_devs ? l->n_devs : 1, sizeof(*devs));
    struct ttalloc_process_info *procs = calloc(l->n_procs ? l->n_procs : 1, sizeof(*procs));
    struct ttalloc_usage *usage = calloc(n_usage ? n_usage : 1, sizeof(*usage));
    int rc = -ENOMEM;

    if (devs != NULL && procs != NULL && usage != NULL) {
        ledger_fill_devices(l, devs);
        ledger_fill_processes(l, procs);
        ledger_fill_usage(l, usage);
        rc = reply_snapshot_records(r, l, head, devs, l->n_devs, procs, l->n_procs, usage, n_usage);
    }
    free(devs);
    free(procs);
    free(usage);
    return rc;
}

int reply_buffers(struct reply *r, const struct ledger_process *p, size_t max)
{
    int rc = 0;
    if (p != NULL && p->table.count > 0 && max > 0) {
        if (max > p->table.count)
            max = p->table.count;
        struct ttalloc_buffer *bufs = calloc(max, sizeof(*bufs));
        if (bufs == NULL)
            return -ENOMEM;
        size_t n = ledger_top_buffers(p, max, bufs);
        rc = reply_add_records(r, PROTO_BUFFERS, bufs, n, sizeof(*bufs));
        free(bufs);
    }
    if (rc == 0)
        rc = reply_add(r, PROTO_BUFFERS_END, NULL, 0);
    return rc;
}

int reply_exits(struct reply *r, const struct ledger *l)
{
    int rc = 0;
    if (l->n_exits > 0) {
        struct ttalloc_exit *exits = calloc(l->n_exits, sizeof(*exits));
        if (exits == NULL)
            return -ENOMEM;
        ledger_fill_exits(l, exits);
        rc = reply_add_records(r, PROTO_EXITS, exits, l->n_exits, sizeof(*exits));
        free(exits);
    }
    if (rc == 0)
        rc = reply_add(r, PROTO_EXITS_END, NULL, 0);
    return rc;
}
