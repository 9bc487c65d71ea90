/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.c - the consumer half of ttalloc.h: connect to tt-alloc-server as a
 * consumer, ask for snapshots, one process's buffers or the exit report, and
 * read the answer (a run of frames closed by an *_END frame). Every frame is
 * checked with proto_parse_frame and every record count against what the
 * server announced. A connection that fails mid-answer is marked broken: its
 * stream can no longer be trusted, so later calls return -ECONNRESET.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buftype.h"
#include "debuglog.h"
#include "proto.h"
#include "sockpath.h"
#include "ttalloc.h"

#define QUERY_HELLO_TIMEOUT_MS 5000
#define QUERY_REST_TIMEOUT_MS 2000 /* for the rest of a pushed snapshot */

struct ttalloc_conn {
    int fd;
    bool broken;
    char path[SOCKPATH_MAX];
    char *rx; /* PROTO_MAX_FRAME bytes */
};

/* A received frame; payload points into conn->rx. */
struct query_frame {
    struct proto_header hdr;
    const void *payload;
};

static int64_t query_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline in ms from now; -1 stands for never. */
static int64_t query_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : query_now_ms() + timeout_ms;
}

static int query_send(ttalloc_conn *conn, enum proto_msg_type type, const void *payload, size_t len)
{
    char frame[sizeof(struct proto_header) + sizeof(struct proto_hello)];
    if (conn->broken)
        return -ECONNRESET;
    size_t total = proto_put_header(frame, type, (uint32_t)len);
    if (len > 0)
        memcpy(frame + sizeof(struct proto_header), payload, len);
    for (;;) {
        ssize_t n = send(conn->fd, frame, total, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno != EINTR) {
            conn->broken = true;
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
    }
}

/* Receive one valid frame before the deadline: 0, -ETIMEDOUT, -ECONNRESET
 * (closed), -EPROTO (a frame that does not parse, or an ERROR frame). */
static int query_recv(ttalloc_conn *conn, int64_t deadline, struct query_frame *frame)
{
    if (conn->broken)
        return -ECONNRESET;
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - query_now_ms();
            timeout = left < 0 ? 0 : (int)(left > 60000 ? 60000 : left);
        }
        struct pollfd pfd = {.fd = conn->fd, .events = POLLIN, .revents = 0};
        int ready = poll(&pfd, 1, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (ready == 0) {
            if (deadline >= 0 && query_now_ms() >= deadline)
                return -ETIMEDOUT;
            continue;
        }
        ssize_t n = recv(conn->fd, conn->rx, PROTO_MAX_FRAME, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            conn->broken = true;
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        if (n == 0) {
            conn->broken = true;
            return -ECONNRESET;
        }
        char why[80];
        if (proto_parse_frame(conn->rx, (size_t)n, &frame->hdr, &frame->payload, why, sizeof(why)) <
            0) {
            debuglog("%s: bad frame from the server: %s", conn->path, why);
            conn->broken = true;
            return -EPROTO;
        }
        if (frame->hdr.type == PROTO_ERROR) {
            const char *text = (const char *)frame->payload + sizeof(struct proto_error);
            debuglog("%s: server error: %.*s", conn->path,
                     (int)(frame->hdr.length - sizeof(struct proto_error)), text);
            conn->broken = true;
            return -EPROTO;
        }
        return 0;
    }
}

static int query_unexpected(ttalloc_conn *conn, const struct query_frame *frame, const char *wanted)
{
    debuglog("%s: expected %s, got %s", conn->path, wanted,
             proto_type_name((enum proto_msg_type)frame->hdr.type));
    conn->broken = true;
    return -EPROTO;
}

/* The HELLO exchange on a fresh connection. */
static int query_hello(ttalloc_conn *conn)
{
    struct proto_hello hello;
    proto_make_hello(&hello, PROTO_ROLE_CONSUMER, NULL);
    hello.claimed_pid = (int32_t)getpid();
    int rc = query_send(conn, PROTO_HELLO, &hello, sizeof(hello));
    if (rc < 0)
        return rc;

    struct query_frame frame;
    rc = query_recv(conn, query_deadline(QUERY_HELLO_TIMEOUT_MS), &frame);
    if (rc < 0)
        return rc;
    if (frame.hdr.type != PROTO_HELLO_ACK)
        return query_unexpected(conn, &frame, "HELLO_ACK");
    struct proto_hello_ack ack;
    memset(&ack, 0, sizeof(ack));
    memcpy(&ack, frame.payload, frame.hdr.length < sizeof(ack) ? frame.hdr.length : sizeof(ack));
    if (ack.magic != PROTO_MAGIC || ack.version != PROTO_VERSION) {
        debuglog("%s: server speaks protocol version %u, this library %u", conn->path,
                 (unsigned)ack.version, PROTO_VERSION);
        return -EPROTO;
    }
    return 0;
}

static int query_connect_path(const char *path, ttalloc_conn **out)
{
    ttalloc_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return -ENOMEM;
    conn->fd = -1;
    snprintf(conn->path, sizeof(conn->path), "%s", path);
    conn->rx = malloc(PROTO_MAX_FRAME);
    if (conn->rx == NULL) {
        free(conn);
        return -ENOMEM;
    }
    int rc = sockpath_connect(path, 0);
    if (rc >= 0) {
        conn->fd = rc;
        rc = query_hello(conn);
    }
    if (rc < 0) {
        ttalloc_disconnect(conn);
        return rc;
    }
    *out = conn;
    return 0;
}

int ttalloc_connect(const char *socket_path, ttalloc_conn **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (socket_path != NULL)
        return query_connect_path(socket_path, out);

    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    int n = sockpath_candidates(paths);
    int best = -ENOENT;
    for (int i = 0; i < n; i++) {
        int rc = query_connect_path(paths[i], out);
        if (rc == 0)
            return 0;
        /* "Nothing there" is the least interesting answer. */
        if (best == -ENOENT)
            best = rc;
    }
    return best;
}

void ttalloc_disconnect(ttalloc_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->fd >= 0)
        close(conn->fd);
    free(conn->rx);
    free(conn);
}

const char *ttalloc_conn_path(const ttalloc_conn *conn)
{
    return conn ? conn->path : NULL;
}

int ttalloc_conn_fd(const ttalloc_conn *conn)
{
    return conn ? conn->fd : -1;
}

void ttalloc_snapshot_free(struct ttalloc_snapshot *snap)
{
    if (snap == NULL)
        return;
    free(snap->devices);
    free(snap->processes);
    free(snap->usage);
    free(snap);
}

/* Append k records of `size` bytes to a growable array of *n (capacity *cap). */
static int query_append(void **array, size_t *n, size_t *cap, size_t size, const void *src,
                        size_t k)
{
    if (*n + k > *cap) {
        size_t grown_cap = *cap ? *cap : 16;
        while (grown_cap < *n + k)
            grown_cap *= 2;
        void *grown = realloc(*array, grown_cap * size);
        if (grown == NULL)
            return -ENOMEM;
        *array = grown;
        *cap = grown_cap;
    }
    memcpy((char *)*array + *n * size, src, k * size);
    *n += k;
    return 0;
}

/* Records of one array frame, checked against the announced count. */
static int query_take_records(ttalloc_conn *conn, const struct query_frame *frame, void **array,
                              size_t *n, size_t *cap, size_t announced)
{
    size_t size = proto_record_size((enum proto_msg_type)frame->hdr.type);
    size_t k = frame->hdr.length / size;
    if (*n + k > announced) {
        debuglog("%s: more %s records than the %zu announced", conn->path,
                 proto_type_name((enum proto_msg_type)frame->hdr.type), announced);
        conn->broken = true;
        return -EPROTO;
    }
    return query_append(array, n, cap, size, frame->payload, k);
}

/* Read a snapshot whose SNAP_BEGIN is `first`; the rest must come by deadline. */
static int query_read_snapshot(ttalloc_conn *conn, const struct query_frame *first,
                               int64_t deadline, struct ttalloc_snapshot **out)
{
    if (first->hdr.type != PROTO_SNAP_BEGIN)
        return query_unexpected(conn, first, "SNAP_BEGIN");
    struct proto_snap_begin begin;
    memcpy(&begin, first->payload, sizeof(begin));

    struct ttalloc_snapshot *snap = calloc(1, sizeof(*snap));
    if (snap == NULL) {
        conn->broken = true;
        return -ENOMEM;
    }
    snap->seq = begin.seq;
    snap->timestamp_ns = begin.timestamp_ns;
    snap->clients = begin.clients;
    snap->server_pid = begin.server_pid;
    snap->events_total = begin.events_total;
    snap->exits_total = begin.exits_total;
    snap->leaked_exits_total = begin.leaked_exits_total;

    size_t cap_dev = 0, cap_proc = 0, cap_usage = 0;
    int rc;
    for (;;) {
        struct query_frame frame;
        rc = query_recv(conn, deadline, &frame);
        if (rc < 0)
            break;
        if (frame.hdr.type == PROTO_SNAP_DEVICES) {
            rc = query_take_records(conn, &frame, (void **)&snap->devices, &snap->n_devices,
                                    &cap_dev, begin.n_devices);
        } else if (frame.hdr.type == PROTO_SNAP_PROCESSES) {
            rc = query_take_records(conn, &frame, (void **)&snap->processes, &snap->n_processes,
                                    &cap_proc, begin.n_processes);
        } else if (frame.hdr.type == PROTO_SNAP_USAGE) {
            rc = query_take_records(conn, &frame, (void **)&snap->usage, &snap->n_usage, &cap_usage,
                                    begin.n_usage);
        } else if (frame.hdr.type == PROTO_SNAP_END) {
            if (snap->n_devices != begin.n_devices || snap->n_processes != begin.n_processes ||
                snap->n_usage != begin.n_usage) {
                debuglog("%s: snapshot ended short of its announced counts", conn->path);
                rc = -EPROTO;
            }
            break;
        } else {
            rc = query_unexpected(conn, &frame, "a snapshot frame");
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        conn->broken = true;
        ttalloc_snapshot_free(snap);
        return rc;
    }
    *out = snap;
    return 0;
}

int ttalloc_snapshot(ttalloc_conn *conn, int timeout_ms, struct ttalloc_snapshot **out)
{
    if (conn == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    int64_t deadline = query_deadline(timeout_ms);
    int rc = query_send(conn, PROTO_SNAPSHOT_REQ, NULL, 0);
    if (rc < 0)
        return rc;
    struct query_frame first;
    rc = query_recv(conn, deadline, &first);
    if (rc < 0) {
        conn->broken = true;
        return rc;
    }
    return query_read_snapshot(conn, &first, deadline, out);
}

int ttalloc_subscribe(ttalloc_conn *conn, uint32_t interval_ms)
{
    if (conn == NULL || (interval_ms != 0 && interval_ms < 10))
        return -EINVAL;
    struct proto_subscribe sub = {.interval_ms = interval_ms, .reserved = 0};
    return query_send(conn, PROTO_SUBSCRIBE, &sub, sizeof(sub));
}

int ttalloc_next_snapshot(ttalloc_conn *conn, int timeout_ms, struct ttalloc_snapshot **out)
{
    if (conn == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    struct query_frame first;
    int rc = query_recv(conn, query_deadline(timeout_ms), &first);
    if (rc == -ETIMEDOUT)
        return -EAGAIN; /* nothing started: the stream is still in step */
    if (rc < 0)
        return rc;
    /* Once a snapshot has begun, the rest follows promptly. */
    return query_read_snapshot(conn, &first, query_deadline(QUERY_REST_TIMEOUT_MS), out);
}

/* Read BUFFERS or EXITS records until their END frame, at most `max`. */
static int query_read_list(ttalloc_conn *conn, int64_t deadline, enum proto_msg_type type,
                           enum proto_msg_type end, size_t max, void **out, size_t *n)
{
    void *array = NULL;
    size_t count = 0, cap = 0;
    int rc;
    for (;;) {
        struct query_frame frame;
        rc = query_recv(conn, deadline, &frame);
        if (rc < 0)
            break;
        if (frame.hdr.type == end)
            break;
        if (frame.hdr.type != type) {
            rc = query_unexpected(conn, &frame, proto_type_name(type));
            break;
        }
        rc = query_take_records(conn, &frame, &array, &count, &cap, max);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        conn->broken = true;
        free(array);
        return rc;
    }
    *out = array;
    *n = count;
    return 0;
}

int ttalloc_buffers(ttalloc_conn *conn, pid_t pid, uint32_t max, int timeout_ms,
                    struct ttalloc_buffer **out, size_t *n)
{
    if (conn == NULL || out == NULL || n == NULL)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    int64_t deadline = query_deadline(timeout_ms);
    struct proto_buffers_req req = {.pid = (int32_t)pid, .max = max};
    int rc = query_send(conn, PROTO_BUFFERS_REQ, &req, sizeof(req));
    if (rc < 0)
        return rc;
    return query_read_list(conn, deadline, PROTO_BUFFERS, PROTO_BUFFERS_END, max, (void **)out, n);
}

int ttalloc_exits(ttalloc_conn *conn, int timeout_ms, struct ttalloc_exit **out, size_t *n)
{
    if (conn == NULL || out == NULL || n == NULL)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    int64_t deadline = query_deadline(timeout_ms);
    int rc = query_send(conn, PROTO_EXITS_REQ, NULL, 0);
    if (rc < 0)
        return rc;
    return query_read_list(conn, deadline, PROTO_EXITS, PROTO_EXITS_END, SIZE_MAX, (void **)out, n);
}

const char *ttalloc_type_name(enum ttalloc_buffer_type type)
{
    return buftype_key((unsigned)type);
}
