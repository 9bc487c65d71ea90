/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn.c - tt-alloc-server's connections: accepting (identity from the
 * kernel, per-uid caps), reading whole frames (a bounded number per turn),
 * queueing and sending answers, kicking and closing. What a frame means is
 * dispatch.c's; this file never looks inside one past its header.
 *
 * Identity comes from the kernel at accept (SO_PEERCRED, SO_PEERPIDFD).
 * A connection closed during a turn of the loop goes to the graveyard and is
 * freed at the end of the turn, so a later event of the same batch never
 * touches freed memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "server_state.h"
#include "sockpath.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static void conn_read_comm(int32_t pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    if (nl != NULL)
        *nl = '\0';
}

static const char *conn_role_name(const struct conn *c)
{
    switch (c->state) {
    case CONN_PRODUCER:
        return "producer";
    case CONN_CONSUMER:
        return "consumer";
    case CONN_HELLO:
    default:
        return "client";
    }
}

void conn_close(struct server *s, struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    evloop_remove(&s->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
    if (c->stream != NULL) {
        ledger_stream_close(&s->ledger, c->stream, server_now_ns(CLOCK_MONOTONIC));
        c->stream = NULL;
    }
    if (c->n_flushes > 0) {
        c->n_flushes = 0;
        s->flushes_waiting--;
    }
    if (c->proc != NULL) {
        ledger_detach(&s->ledger, c->proc);
        c->proc = NULL;
    }
    if (c->streaming) {
        if (c->sub.lost > 0)
            log_info("pid %d (%s): event stream closed with %" PRIu64 " records undelivered",
                     (int)c->pid, c->name, c->sub.lost);
        stream_unsubscribe(&s->stream, &c->sub);
        c->streaming = 0;
    }
    outq_destroy(&c->out);
    if (c->user != NULL) {
        quota_conn_close(&s->ledger.quota, c->user);
        c->user = NULL;
    }

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->n_conns--;
    c->prev = NULL;
    c->next = s->dead_conns;
    s->dead_conns = c;
}

/* An orderly end of a connection: log it, then close. */
void conn_hangup(struct server *s, struct conn *c)
{
    s->disconnects[METRICS_REASON_EOF]++;
    if (c->state == CONN_PRODUCER)
        log_info("client disconnected: pid %d (%s), %s", (int)c->pid, c->name, conn_role_name(c));
    else
        log_debug("client disconnected: pid %d (%s), %s", (int)c->pid, c->name, conn_role_name(c));
    conn_close(s, c);
}

/* Send what the kernel takes; watch for EPOLLOUT only while frames wait.
 * Returns 0, or a negative errno after closing the connection. */
int conn_flush(struct server *s, struct conn *c)
{
    int rc = outq_send(&c->out, c->fd);
    if (rc < 0) {
        log_debug("pid %d (%s): send: %s", (int)c->pid, c->name, strerror(-rc));
        conn_hangup(s, c);
        return rc;
    }
    int want_out = rc == 1;
    if (want_out != c->want_out) {
        evloop_modify(&s->loop, c->fd, EPOLLIN | (want_out ? EPOLLOUT : 0), &c->handler);
        c->want_out = want_out;
    }
    size_t limit =
        c->streaming ? stream_queue_limit(&c->sub, s->config->max_queue) : s->config->max_queue;
    size_t held = c->streaming ? stream_held_bytes(&c->sub) : c->out.bytes;
    if (held > limit) {
        log_warnx("dropping slow client pid %d (%s): %zu bytes queued, over the %zu-byte "
                  "limit (--max-queue)",
                  (int)c->pid, c->name, held, limit);
        s->disconnects[METRICS_REASON_SLOW]++;
        conn_close(s, c);
        return -ENOBUFS;
    }
    return 0;
}

/* Queue every frame of r on c and send. Returns 0 or a negative errno (c closed). */
int conn_send_reply(struct server *s, struct conn *c, const struct reply *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (outq_push(&c->out, r->frames[i]) < 0) {
            log_warnx("pid %d (%s): out of memory queueing a reply", (int)c->pid, c->name);
            conn_close(s, c);
            return -ENOMEM;
        }
    }
    return conn_flush(s, c);
}

int conn_send_frame(struct server *s, struct conn *c, enum proto_msg_type type, const void *payload,
                    size_t len)
{
    struct reply r;
    reply_init(&r);
    int rc = reply_add(&r, type, payload, len);
    if (rc == 0)
        rc = conn_send_reply(s, c, &r);
    else
        conn_close(s, c);
    reply_release(&r);
    return rc;
}

/* Tell the client why (an ERROR frame, if its socket takes it) and close. */
static void conn_kick(struct server *s, struct conn *c, enum proto_error_code code,
                      const char *text)
{
    unsigned char frame[sizeof(struct proto_header) + sizeof(struct proto_error) + 512];
    size_t len = proto_put_error(frame, sizeof(frame), code, "%s", text);
    /* Straight to the socket: whatever is queued before it may never drain. */
    ssize_t ignored = send(c->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)ignored;
    s->disconnects[code == PROTO_ERR_VERSION ? METRICS_REASON_VERSION
                   : code == PROTO_ERR_ROLE  ? METRICS_REASON_ROLE
                   : code == PROTO_ERR_LIMIT ? METRICS_REASON_LIMIT
                                             : METRICS_REASON_MALFORMED]++;
    conn_close(s, c);
}

/* A producer that broke a rule: log, tell it, drop its buffers, close. */
void conn_kick_producer(struct server *s, struct conn *c, enum proto_error_code code,
                        const char *text)
{
    uint64_t dropped = 0;
    if (c->proc != NULL) {
        ledger_take_fault(&s->ledger, c->proc, NULL);
        dropped = ledger_forget(&s->ledger, c->proc);
    }
    log_warnx("pid %d (%s): %s; disconnecting it and dropping its %" PRIu64 " buffers", (int)c->pid,
              c->name, text, dropped);
    conn_kick(s, c, code, text);
}

void conn_kick_client(struct server *s, struct conn *c, enum proto_error_code code,
                      const char *text)
{
    log_warnx("pid %d (%s): %s; disconnecting it", (int)c->pid, c->name, text);
    conn_kick(s, c, code, text);
}

static void conn_bad_frame(struct server *s, struct conn *c, const char *text)
{
    if (c->state == CONN_PRODUCER)
        conn_kick_producer(s, c, PROTO_ERR_MALFORMED, text);
    else
        conn_kick_client(s, c, PROTO_ERR_MALFORMED, text);
}

void conn_read_frames(struct server *s, struct conn *c, size_t max_frames)
{
    for (size_t i = 0; i < max_frames && !c->dead; i++) {
        ssize_t n = recv(c->fd, s->rxbuf, PROTO_MAX_FRAME + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            log_debug("pid %d (%s): recv: %s", (int)c->pid, c->name, strerror(errno));
            conn_hangup(s, c);
            return;
        }
        if (n == 0) {
            conn_hangup(s, c);
            return;
        }
        if ((size_t)n > PROTO_MAX_FRAME) {
            char text[128];
            snprintf(text, sizeof(text), "frame of %zd bytes is larger than the %u-byte maximum", n,
                     PROTO_MAX_FRAME);
            conn_bad_frame(s, c, text);
            return;
        }
        struct proto_header hdr;
        const void *payload;
        char why[80];
        if (proto_parse_frame(s->rxbuf, (size_t)n, &hdr, &payload, why, sizeof(why)) < 0) {
            char text[160];
            struct proto_header raw = {0, 0, 0};
            memcpy(&raw, s->rxbuf, (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw));
            snprintf(text, sizeof(text), "bad frame (%zd bytes, type %u): %s", n,
                     (size_t)n >= sizeof(raw) ? (unsigned)raw.type : 0u, why);
            conn_bad_frame(s, c, text);
            return;
        }
        dispatch_frame(s, c, &hdr, payload);
    }
}

/* The loop's callback for a connection. */
static void conn_on_ready(void *conn, uint32_t events)
{
    struct conn *c = conn;
    struct server *s = c->server;
    if (c->dead)
        return;
    if (events & EPOLLOUT) {
        if (conn_flush(s, c) < 0)
            return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_read_frames(s, c, SERVER_FRAMES_PER_WAKE);
}

static int conn_peer_pidfd(int fd, int32_t pid)
{
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
        return pidfd;
    /* Older kernels: open it by PID (a PID reused in between is unlikely). */
    pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    return pidfd >= 0 ? pidfd : -errno;
}

static void conn_refuse(int fd, const char *text)
{
    unsigned char frame[256];
    size_t len = proto_put_error(frame, sizeof(frame), PROTO_ERR_LIMIT, "%s", text);
    ssize_t ignored = send(fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)ignored;
    close(fd);
}

static void conn_accept_one(struct server *s, int fd)
{
    pid_t pid;
    uid_t uid;
    if (sockpath_peer(fd, &pid, &uid) < 0 || pid <= 0) {
        log_warnx("refused a connection without peer credentials");
        close(fd);
        return;
    }
    if (s->n_conns >= s->max_clients) {
        char text[96];
        snprintf(text, sizeof(text),
                 "server has reached its limit of %u clients "
                 "(--max-clients)",
                 s->max_clients);
        log_warnx("refused pid %d: %s", (int)pid, text);
        conn_refuse(fd, text);
        return;
    }
    struct quota_user *user = NULL;
    int qrc = quota_conn_open(&s->ledger.quota, (uint32_t)uid, &user);
    if (qrc < 0) {
        char text[128];
        if (qrc == -EUSERS)
            snprintf(text, sizeof(text),
                     "uid %u has reached its limit of %u connections "
                     "(--max-conns-per-uid)",
                     (unsigned)uid, s->ledger.quota.limits.max_conns);
        else
            snprintf(text, sizeof(text), "server out of memory");
        log_warnx("refused pid %d: %s", (int)pid, text);
        conn_refuse(fd, text);
        return;
    }
    int size = SERVER_SOCKBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));

    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_warnx("out of memory accepting pid %d", (int)pid);
        quota_conn_close(&s->ledger.quota, user);
        close(fd);
        return;
    }
    c->user = user;
    c->handler.on_ready = conn_on_ready;
    c->handler.owner = c;
    c->server = s;
    c->fd = fd;
    c->pid = (int32_t)pid;
    c->uid = (uint32_t)uid;
    c->state = CONN_HELLO;
    c->pidfd = conn_peer_pidfd(fd, c->pid);
    c->hello_deadline_ns = server_now_ns(CLOCK_MONOTONIC) + SERVER_HELLO_TIMEOUT_NS;
    conn_read_comm(c->pid, c->name, sizeof(c->name));
    outq_init(&c->out);
    if (evloop_add(&s->loop, fd, EPOLLIN, &c->handler) < 0) {
        log_warn("epoll_ctl for pid %d", (int)pid);
        if (c->pidfd >= 0)
            close(c->pidfd);
        quota_conn_close(&s->ledger.quota, user);
        close(fd);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    server_arm_timer(s);
}

/* The loop's callback for the listening socket. */
void conn_on_listener(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
    for (int i = 0; i < SERVER_ACCEPTS_PER_WAKE; i++) {
        int fd = accept4(s->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_accept_one(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
            /* Out of descriptors: free the spare to take the connection off
             * the backlog (else epoll would wake us forever), and close it. */
            log_warnx("out of file descriptors: refusing a connection");
            close(s->spare_fd);
            fd = accept4(s->listener.fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                conn_refuse(fd, "server is out of file descriptors");
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warn("accept");
        return;
    }
}
