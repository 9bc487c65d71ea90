/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_stream.c - the event stream into a .ttrec file (see record_stream.h).
 */
#include "record_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Kernel receive buffer of the stream socket: room for bursts while we write. */
#define RECORD_STREAM_RCVBUF (4 * 1024 * 1024)

static void record_stream_fail(struct record_stream *rs, const char *fmt, const char *detail)
{
    if (rs->error[0] == '\0')
        snprintf(rs->error, sizeof(rs->error), fmt, detail);
}

/* An ERROR frame's text (payload as proto_parse_frame checked it), cut to cap. */
static void record_stream_error_text(const void *payload, size_t len, char *out, size_t cap)
{
    size_t tlen = len - sizeof(struct proto_error);
    if (tlen >= cap)
        tlen = cap - 1;
    memcpy(out, (const char *)payload + sizeof(struct proto_error), tlen);
    out[tlen] = '\0';
}

int record_stream_open(struct record_stream *rs, const char *socket_path,
                       struct record_filter *filter)
{
    memset(rs, 0, sizeof(*rs));
    rs->fd = -1;
    rs->filter = filter;
    rs->rx = malloc(PROTO_MAX_FRAME + 1);
    if (rs->rx == NULL) {
        record_stream_fail(rs, "%s", "out of memory");
        return -ENOMEM;
    }
    int rc = ttalloc_connect(socket_path, &rs->conn);
    if (rc < 0) {
        record_stream_fail(rs, "%s", strerror(-rc));
        return rc;
    }
    rs->fd = ttalloc_conn_fd(rs->conn);
    int size = RECORD_STREAM_RCVBUF;
    if (setsockopt(rs->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(rs->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    return 0;
}

const char *record_stream_path(const struct record_stream *rs)
{
    return ttalloc_conn_path(rs->conn);
}

int record_stream_start(struct record_stream *rs, int timeout_ms)
{
    unsigned char frame[sizeof(struct proto_header) + sizeof(struct proto_stream_req)];
    struct proto_stream_req req = {0, 0};
    size_t len = proto_put_header(frame, PROTO_STREAM_REQ, sizeof(req));
    memcpy(frame + sizeof(struct proto_header), &req, sizeof(req));
    if (send(rs->fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len) {
        record_stream_fail(rs, "cannot ask for the event stream: %s", strerror(errno));
        return -EPIPE;
    }
    struct pollfd pfd = {.fd = rs->fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        record_stream_fail(rs, "%s", "the server did not answer the stream request in time");
        return -ETIMEDOUT;
    }
    /* Look at the first frame without taking it: an ERROR means no file. */
    struct proto_header hdr;
    ssize_t got = recv(rs->fd, rs->rx, PROTO_MAX_FRAME + 1, MSG_PEEK | MSG_DONTWAIT);
    if (got <= 0) {
        record_stream_fail(rs, "%s", "the server closed the connection");
        return -EPIPE;
    }
    const void *payload;
    char why[80];
    if (proto_parse_frame(rs->rx, (size_t)got, &hdr, &payload, why, sizeof(why)) < 0) {
        record_stream_fail(rs, "bad frame from the server: %s", why);
        return -EPROTO;
    }
    if (hdr.type == PROTO_ERROR) {
        char text[200];
        record_stream_error_text(payload, hdr.length, text, sizeof(text));
        record_stream_fail(rs, "the server refused the stream: %s", text);
        return -EPROTO;
    }
    return 0;
}

void record_stream_attach(struct record_stream *rs, struct ttrec_writer *w,
                          const struct ttrec_start *start)
{
    rs->writer = w;
    rs->realtime_offset_ns = start->realtime_ns - start->monotonic_ns;
}

/* A writer call's result: keep the first error, stop writing after it. */
static void record_stream_wrote(struct record_stream *rs, int rc)
{
    if (rc < 0 && rs->write_error == 0) {
        rs->write_error = rc;
        rs->writer = NULL;
    }
}

static void record_stream_on_process(struct record_stream *rs,
                                     const struct proto_stream_process *msg)
{
    char name[TTALLOC_NAME_MAX], label[TTALLOC_LABEL_MAX];
    memcpy(name, msg->name, sizeof(name));
    name[sizeof(name) - 1] = '\0';
    memcpy(label, msg->label, sizeof(label));
    label[sizeof(label) - 1] = '\0';
    int32_t parent = msg->parent_pid;
    if (parent == 0)
        parent = record_filter_parent(rs->filter->proc_root, msg->pid);
    if (!record_filter_decide(rs->filter, msg->pid, parent))
        return;
    if (msg->pid == rs->filter->root)
        rs->root_seen = 1;
    uint64_t start_mono = msg->start_realtime_ns > rs->realtime_offset_ns
                              ? msg->start_realtime_ns - rs->realtime_offset_ns
                              : 0;
    if (rs->writer != NULL)
        record_stream_wrote(rs,
                            ttrec_write_process_start(rs->writer, msg->pid, parent, msg->uid, name,
                                                      label, start_mono, msg->timestamp_ns));
}

static void record_stream_on_device(struct record_stream *rs, const struct proto_stream_device *msg)
{
    if (rs->writer != NULL)
        record_stream_wrote(
            rs, ttrec_write_device(rs->writer, msg->device, &msg->desc, msg->timestamp_ns));
}

/* LIVE_END: the kept buffers of the state, with their count, into the file. */
static void record_stream_write_live(struct record_stream *rs, uint64_t end_time)
{
    struct ttrec_writer *w = rs->writer;
    if (w != NULL)
        record_stream_wrote(rs, ttrec_write_live_begin(w, rs->live_time, rs->n_live));
    for (size_t i = 0; i < rs->n_live && rs->writer != NULL; i++) {
        const struct proto_stream_record *r = &rs->live[i];
        record_stream_wrote(rs, ttrec_write_live_buffer(rs->writer, r->pid, r->device, r->type,
                                                        r->address, r->size, 0));
    }
    if (rs->writer != NULL)
        record_stream_wrote(rs, ttrec_write_live_end(rs->writer, end_time));
    rs->n_live = 0;
}

static int record_stream_keep_live(struct record_stream *rs, const struct proto_stream_record *r)
{
    if (!record_filter_keeps(rs->filter, r->pid))
        return 0;
    if (rs->n_live == rs->cap_live) {
        size_t cap = rs->cap_live ? rs->cap_live * 2 : 1024;
        struct proto_stream_record *live = realloc(rs->live, cap * sizeof(*live));
        if (live == NULL)
            return -ENOMEM;
        rs->live = live;
        rs->cap_live = cap;
    }
    rs->live[rs->n_live++] = *r;
    return 0;
}

/* One record of a STREAM_EVENTS frame. Returns 0 or -EPROTO. */
static int record_stream_on_record(struct record_stream *rs, const struct proto_stream_record *r)
{
    if (rs->in_live) {
        if (r->kind == PROTO_STREAM_LIVE_BUFFER && rs->live_expected > 0) {
            rs->live_expected--;
            if (r->type >= TTALLOC_NUM_TYPES || record_stream_keep_live(rs, r) < 0) {
                record_stream_fail(rs, "%s",
                                   r->type >= TTALLOC_NUM_TYPES
                                       ? "a live buffer of an unknown memory type"
                                       : "out of memory holding the live state");
                return -EPROTO;
            }
            return 0;
        }
        if (r->kind == PROTO_STREAM_LIVE_END && rs->live_expected == 0) {
            rs->in_live = 0;
            rs->first_state_done = 1;
            record_stream_write_live(rs, r->timestamp_ns);
            return 0;
        }
        record_stream_fail(rs, "%s", "the server's live state does not add up");
        return -EPROTO;
    }
    struct ttrec_writer *w = rs->writer;
    switch (r->kind) {
    case PROTO_STREAM_ALLOC:
    case PROTO_STREAM_FREE:
        if (r->type >= TTALLOC_NUM_TYPES) {
            record_stream_fail(rs, "%s", "an event of an unknown memory type");
            return -EPROTO;
        }
        if (w == NULL || !record_filter_keeps(rs->filter, r->pid))
            return 0;
        if (r->kind == PROTO_STREAM_ALLOC)
            record_stream_wrote(rs, ttrec_write_alloc(w, r->pid, r->device, r->type, r->address,
                                                      r->size, r->timestamp_ns));
        else
            record_stream_wrote(rs, ttrec_write_free(w, r->pid, r->device, r->type, r->address,
                                                     r->size, r->timestamp_ns));
        return 0;
    case PROTO_STREAM_RESET_PEAK:
        if (w != NULL && record_filter_keeps(rs->filter, r->pid))
            record_stream_wrote(rs, ttrec_write_peak_reset(w, r->pid, r->timestamp_ns));
        return 0;
    case PROTO_STREAM_EXIT:
        if (!record_filter_keeps(rs->filter, r->pid))
            return 0;
        if (w != NULL)
            record_stream_wrote(rs, ttrec_write_process_exit(w, r->pid, r->timestamp_ns));
        if (r->pid == rs->filter->root)
            rs->root_exited = 1;
        record_filter_forget(rs->filter, r->pid);
        return 0;
    case PROTO_STREAM_GAP:
        rs->gaps++;
        rs->lost += r->size;
        if (w != NULL)
            record_stream_wrote(rs, ttrec_write_gap(w, r->size, r->timestamp_ns));
        return 0;
    case PROTO_STREAM_LIVE_BEGIN:
        rs->in_live = 1;
        rs->live_expected = r->size;
        rs->live_time = r->timestamp_ns;
        rs->n_live = 0;
        return 0;
    default:
        record_stream_fail(rs, "%s", "a stream record of an unknown kind");
        return -EPROTO;
    }
}

int record_stream_read(struct record_stream *rs, size_t max_frames)
{
    size_t frames = 0;
    while (frames < max_frames) {
        ssize_t n = recv(rs->fd, rs->rx, PROTO_MAX_FRAME + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            record_stream_fail(rs, "reading the stream: %s", strerror(errno));
            return -EPIPE;
        }
        if (n == 0) {
            record_stream_fail(rs, "%s", "the server closed the stream");
            return -EPIPE;
        }
        struct proto_header hdr;
        const void *payload;
        char why[80];
        if (proto_parse_frame(rs->rx, (size_t)n, &hdr, &payload, why, sizeof(why)) < 0) {
            record_stream_fail(rs, "bad frame from the server: %s", why);
            return -EPROTO;
        }
        frames++;
        switch (hdr.type) {
        case PROTO_STREAM_EVENTS: {
            const struct proto_stream_record *r = payload;
            size_t count = hdr.length / sizeof(*r);
            for (size_t i = 0; i < count; i++) {
                struct proto_stream_record rec;
                memcpy(&rec, &r[i], sizeof(rec));
                if (record_stream_on_record(rs, &rec) < 0)
                    return -EPROTO;
            }
            break;
        }
        case PROTO_STREAM_PROCESS: {
            struct proto_stream_process msg;
            memcpy(&msg, payload, sizeof(msg));
            record_stream_on_process(rs, &msg);
            break;
        }
        case PROTO_STREAM_DEVICE: {
            struct proto_stream_device msg;
            memcpy(&msg, payload, sizeof(msg));
            record_stream_on_device(rs, &msg);
            break;
        }
        case PROTO_ERROR: {
            char text[200];
            record_stream_error_text(payload, hdr.length, text, sizeof(text));
            record_stream_fail(rs, "the server ended the stream: %s", text);
            return -EPROTO;
        }
        default:
            record_stream_fail(rs, "%s", "an unexpected frame on the stream");
            return -EPROTO;
        }
    }
    return (int)frames;
}

void record_stream_close(struct record_stream *rs)
{
    ttalloc_disconnect(rs->conn);
    rs->conn = NULL;
    rs->fd = -1;
    free(rs->rx);
    free(rs->live);
    rs->rx = NULL;
    rs->live = NULL;
}
