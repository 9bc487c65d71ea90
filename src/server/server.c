/*
 * server.c - the event loop, connections and protocol handling of
 * tt-alloc-server (see server.h; the manual is docs/tt-alloc-server.md).
 *
 * Every epoll registration points at a `struct server_source` whose kind
 * says what it is: the listener, the signalfd, the timerfd, a connection or
 * a process's pidfd. Connections and pidfd watches closed while a batch of
 * epoll events is being handled go to a graveyard freed after the batch, so
 * a later event of the same batch never touches freed memory.
 *
 * Identity comes from the kernel at accept (SO_PEERCRED, SO_PEERPIDFD). A
 * producer's buffers belong to its PID's ledger process, which lives until
 * that process's pidfd says it ended, even if the connection closed first.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "exits_store.h"
#include "ledger.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "outq.h"
#include "proto.h"
#include "reply.h"
#include "sockpath.h"
#include "sources.h"
#include "stream.h"
#include "trust.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* Frames read from one connection per wake-up, so a flooding client cannot
 * starve the others (epoll is level-triggered: the rest waits a turn). */
#define SERVER_FRAMES_PER_WAKE 64
/* Connections accepted per wake-up of the listener. */
#define SERVER_ACCEPTS_PER_WAKE 32
#define SERVER_EPOLL_BATCH 64
/* Kernel socket buffers per connection: whole 64 KiB frames must fit. */
#define SERVER_SOCKBUF (1024 * 1024)
/* Most buffers one BUFFERS_REQ is answered with (3 MiB of records). */
#define SERVER_MAX_BUFFERS_REPLY 131072u
#define SERVER_MIN_INTERVAL_MS 10u
/* Frames read from a dead process's connection before it is closed. Bounded
 * because a forked child may still hold (and write to) the inherited socket. */
#define SERVER_DRAIN_FRAMES 16384u
/* FLUSHes one connection may have waiting for its process's merge; past
 * this, its events are applied at once (ledger_stream_sync) and all answered. */
#define SERVER_MAX_FLUSHES 16u
/* A connection must say HELLO within this long, or it is closed. */
#define SERVER_HELLO_TIMEOUT_NS (5ull * 1000000000ull)

enum server_source_kind {
    SOURCE_LISTENER,
    SOURCE_SIGNAL,
    SOURCE_TIMER,
    SOURCE_CONN,
    SOURCE_PIDFD,
    SOURCE_SOURCES_TIMER,               /* sysfs and SHM: the periodic re-read */
    SOURCE_SOURCES_INOTIFY,             /* the SHM directory changed */
    SOURCE_METRICS,
};

struct server_source {
    enum server_source_kind kind;
};

enum conn_state { CONN_HELLO, CONN_PRODUCER, CONN_CONSUMER };

struct conn {
    struct server_source source;        /* first: epoll data points here */
    struct conn *prev, *next;           /* live list, or the graveyard (next only) */
    int fd;
    int pidfd;                          /* held from accept until HELLO decides */
    int dead;                           /* closed; freed after this batch */
    int want_out;                       /* EPOLLOUT is registered */
    enum conn_state state;
    int32_t pid;                        /* from the kernel */
    uint32_t uid;
    struct quota_user *user;            /* its uid's connection count (quota.h) */
    char name[TTALLOC_NAME_MAX];        /* /proc/<pid>/comm at accept */
    struct ledger_process *proc;        /* producers */
    struct ledger_stream *stream;       /* producers: its events in its process's merge */
    uint64_t flushes[SERVER_MAX_FLUSHES]; /* FLUSH tokens waiting for the merge, in order */
    unsigned n_flushes;
    struct outq out;
    uint32_t sub_interval_ms;           /* 0: not subscribed */
    uint64_t sub_next_ns;               /* CLOCK_MONOTONIC of its next snapshot */
    uint64_t hello_deadline_ns;         /* CLOCK_MONOTONIC; closed if no HELLO by then */
    int streaming;                      /* consumers: sent STREAM_REQ; `sub` is subscribed */
    struct stream_sub sub;
};

/* A tracked process's pidfd; readable once the process has ended. */
struct pidwatch {
    struct server_source source;        /* first: epoll data points here */
    struct pidwatch *next_dead;
    int fd;
    int32_t pid;
};

struct server {
    const struct server_config *config;
    int epfd;
    struct listener listener;
    struct server_source listener_source;
    int sigfd;
    struct server_source signal_source;
    int timerfd;
    struct server_source timer_source;
    uint64_t timer_armed_ns;            /* 0: disarmed */
    unsigned max_clients;               /* --max-clients, lowered to fit the fd limit */
    int spare_fd;                       /* closed to accept when out of fds */
    struct conn *conns;                 /* live connections */
    unsigned n_conns;
    struct conn *dead_conns;
    struct pidwatch *dead_watches;
    struct ledger ledger;
    struct sources sources;             /* sysfs devices, TT-Metal SHM regions */
    struct server_source sources_timer_source;
    struct server_source sources_inotify_source;
    unsigned char *rxbuf;               /* PROTO_MAX_FRAME + 1 bytes */
    uint64_t snap_seq;
    int32_t pid;
    int stop_signal;
    struct metrics metrics;             /* --metrics; daemon NULL when off */
    struct server_source metrics_source;
    uint64_t disconnects[METRICS_NUM_REASONS];
    unsigned flushes_waiting;           /* connections with n_flushes > 0 */
    struct exits_store exits;           /* the leak history, kept across restarts */
    struct stream stream;               /* the event stream's subscribers (tt-alloc-record) */
};

/* ---- small helpers ---- */

static uint64_t server_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "1.5 GiB", "512 B": for log lines. */
static void server_format_bytes(uint64_t bytes, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = (double)bytes;
    unsigned u = 0;
    while (value >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        value /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%" PRIu64 " B", bytes);
    else
        snprintf(out, cap, "%.1f %s", value, units[u]);
}

static void server_read_comm(int32_t pid, char *out, size_t cap)
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

/* The parent of pid from /proc/<pid>/stat, 0 when it cannot be read. The
 * name field may hold spaces and parentheses: the state and ppid follow
 * its last ')'. */
static int32_t server_read_ppid(int32_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *end = strrchr(buf, ')');
    char state;
    int ppid;
    if (end == NULL || sscanf(end + 1, " %c %d", &state, &ppid) != 2 || ppid < 0)
        return 0;
    return (int32_t)ppid;
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

static int server_epoll_add(struct server *s, int fd, uint32_t events,
                            struct server_source *source)
{
    struct epoll_event ev = {.events = events, .data.ptr = source};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

/* ---- connections: closing, output ---- */

static void server_close_conn(struct server *s, struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
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
static void server_hangup(struct server *s, struct conn *c)
{
    s->disconnects[METRICS_REASON_EOF]++;
    if (c->state == CONN_PRODUCER)
        log_info("client disconnected: pid %d (%s), %s", (int)c->pid, c->name,
                 conn_role_name(c));
    else
        log_debug("client disconnected: pid %d (%s), %s", (int)c->pid, c->name,
                  conn_role_name(c));
    server_close_conn(s, c);
}

/* Send what the kernel takes; watch for EPOLLOUT only while frames wait.
 * Returns 0, or a negative errno after closing the connection. */
static int server_flush_conn(struct server *s, struct conn *c)
{
    int rc = outq_send(&c->out, c->fd);
    if (rc < 0) {
        log_debug("pid %d (%s): send: %s", (int)c->pid, c->name, strerror(-rc));
        server_hangup(s, c);
        return rc;
    }
    int want_out = rc == 1;
    if (want_out != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
                                 .data.ptr = &c->source};
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want_out;
    }
    size_t limit = c->streaming ? stream_queue_limit(&c->sub, s->config->max_queue)
                                : s->config->max_queue;
    if (c->out.bytes > limit) {
        log_warnx("dropping slow client pid %d (%s): %zu bytes queued, over the %zu-byte "
                  "limit (--max-queue)", (int)c->pid, c->name, c->out.bytes, limit);
        s->disconnects[METRICS_REASON_SLOW]++;
        server_close_conn(s, c);
        return -ENOBUFS;
    }
    return 0;
}

/* Queue every frame of r on c and send. Returns 0 or a negative errno (c closed). */
static int server_send_reply(struct server *s, struct conn *c, const struct reply *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (outq_push(&c->out, r->frames[i]) < 0) {
            log_warnx("pid %d (%s): out of memory queueing a reply", (int)c->pid, c->name);
            server_close_conn(s, c);
            return -ENOMEM;
        }
    }
    return server_flush_conn(s, c);
}

static int server_send_frame(struct server *s, struct conn *c, enum proto_msg_type type,
                             const void *payload, size_t len)
{
    struct reply r;
    reply_init(&r);
    int rc = reply_add(&r, type, payload, len);
    if (rc == 0)
        rc = server_send_reply(s, c, &r);
    else
        server_close_conn(s, c);
    reply_release(&r);
    return rc;
}

/* Tell the client why (an ERROR frame, if its socket takes it) and close. */
static void server_kick(struct server *s, struct conn *c, enum proto_error_code code,
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
    server_close_conn(s, c);
}

/* A producer that broke a rule: log, tell it, drop its buffers, close. */
static void server_kick_producer(struct server *s, struct conn *c, enum proto_error_code code,
                                 const char *text)
{
    uint64_t dropped = 0;
    if (c->proc != NULL) {
        ledger_take_fault(&s->ledger, c->proc, NULL);
        dropped = ledger_forget(&s->ledger, c->proc);
    }
    log_warnx("pid %d (%s): %s; disconnecting it and dropping its %" PRIu64 " buffers",
              (int)c->pid, c->name, text, dropped);
    server_kick(s, c, code, text);
}

static void server_kick_client(struct server *s, struct conn *c, enum proto_error_code code,
                               const char *text)
{
    log_warnx("pid %d (%s): %s; disconnecting it", (int)c->pid, c->name, text);
    server_kick(s, c, code, text);
}

/* ---- processes and their deaths ---- */

static void server_read_frames(struct server *s, struct conn *c, size_t max_frames);

/* Stop watching a pidfd; the watch is freed after this batch of events. */
static void server_retire_watch(struct server *s, struct pidwatch *w)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
    w->next_dead = s->dead_watches;
    s->dead_watches = w;
}

/* The `added` newest records of the ledger's exit ring go into the leak
 * history, which outlives the ring and the server. */
static void server_keep_exits(struct server *s, size_t added)
{
    size_t n = s->ledger.n_exits;
    if (added == 0 || n == 0)
        return;
    struct ttalloc_exit *all = calloc(n, sizeof(*all));
    if (all == NULL) {
        log_warnx("out of memory: a leak record is not kept");
        return;
    }
    ledger_fill_exits(&s->ledger, all);
    if (added > n)
        added = n;
    exits_store_add(&s->exits, all + n - added, added, server_now_ns(CLOCK_REALTIME),
                    server_now_ns(CLOCK_MONOTONIC));
    free(all);
}

/* Process p has ended: read what its connections still hold, close them,
 * report leaks, and take it out of the ledger. */
static void server_process_ended(struct server *s, struct ledger_process *p)
{
    struct conn *c = s->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->proc == p) {
            /* What it sent before dying still counts (e.g. for the exit record). */
            server_read_frames(s, c, SERVER_DRAIN_FRAMES);
            if (!c->dead) {
                s->disconnects[METRICS_REASON_EXIT]++;
                server_close_conn(s, c);
            }
            next = s->conns;    /* the list may have changed: rescan */
        }
        c = next;
    }

    if (p->table.count > 0) {
        char line[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < p->n_usage && used < sizeof(line) - 64; i++) {
            const struct ledger_usage *u = &p->usage[i];
            uint64_t bytes = 0;
            if (u->total_buffers == 0)
                continue;
            for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++)
                bytes += u->bytes[t];
            char human[32];
            server_format_bytes(bytes, human, sizeof(human));
            int n = snprintf(line + used, sizeof(line) - used, "%s%s on device %u",
                             used ? ", " : "", human, u->device);
            if (n > 0)
                used += (size_t)n;
        }
        log_info("pid %d (%s) exited holding %zu buffer%s, %s", (int)p->pid, p->name,
                 p->table.count, p->table.count == 1 ? "" : "s", line);
    } else {
        log_debug("pid %d (%s) exited", (int)p->pid, p->name);
    }

    if (p->watch != NULL)
        server_retire_watch(s, p->watch);
    int32_t pid = p->pid;
    uint32_t uid = p->uid;
    size_t added = ledger_exit(&s->ledger, p, server_now_ns(CLOCK_REALTIME));
    stream_process_exited(&s->stream, pid, uid, server_now_ns(CLOCK_MONOTONIC));
    server_keep_exits(s, added);
}

static void server_on_pidfd(struct server *s, struct pidwatch *w)
{
    if (w->fd < 0)
        return;     /* already handled in this batch */
    struct ledger_process *p = ledger_find(&s->ledger, w->pid);
    if (p != NULL && p->watch == w) {
        server_process_ended(s, p);
    } else {
        /* Not expected: a watch without its process. */
        server_retire_watch(s, w);
    }
}

static int server_pidfd_has_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* ---- HELLO ---- */

static void server_on_hello(struct server *s, struct conn *c, const void *payload, size_t len)
{
    struct proto_hello hello;
    char msg[256];
    if (proto_check_hello(payload, len, &hello, msg, sizeof(msg)) < 0) {
        int mismatch = hello.magic == PROTO_MAGIC && hello.version != PROTO_VERSION;
        server_kick_client(s, c, mismatch ? PROTO_ERR_VERSION : PROTO_ERR_MALFORMED, msg);
        return;
    }

    if (hello.role == PROTO_ROLE_PRODUCER) {
        if (c->pidfd < 0) {
            server_kick_client(s, c, PROTO_ERR_MALFORMED,
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
            w = calloc(1, sizeof(*w));
            if (w != NULL) {
                w->source.kind = SOURCE_PIDFD;
                w->fd = c->pidfd;
                w->pid = c->pid;
            }
            if (w == NULL || server_epoll_add(s, c->pidfd, EPOLLIN, &w->source) < 0) {
                free(w);
                server_kick_client(s, c, PROTO_ERR_LIMIT, "server cannot watch more processes");
                return;
            }
        }
        if (ledger_attach(&s->ledger, c->pid, c->uid, c->name, hello.label,
                          server_now_ns(CLOCK_REALTIME), &p) < 0) {
            if (w != NULL) {
                epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, NULL);
                free(w);
            }
            server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory");
            return;
        }
        if (ledger_stream_open(&s->ledger, p, &c->stream) < 0) {
            c->proc = p;    /* detached when closed */
            server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory");
            return;
        }
        c->proc = p;
        if (w != NULL) {
            p->watch = w;
            c->pidfd = -1;  /* now the watch's */
        }
        c->state = CONN_PRODUCER;
        log_info("client connected: pid %d (%s), uid %u, producer%s%s", (int)c->pid, c->name,
                 c->uid, hello.label[0] ? ", label " : "", hello.label);
        if (new_process && s->stream.n_subs > 0)
            stream_process_started(&s->stream, p, server_read_ppid(c->pid),
                                   server_now_ns(CLOCK_MONOTONIC));
    } else {
        c->state = CONN_CONSUMER;
        log_debug("client connected: pid %d (%s), uid %u, consumer", (int)c->pid, c->name,
                  c->uid);
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
    server_send_frame(s, c, PROTO_HELLO_ACK, &ack, sizeof(ack));
}

/* ---- producer messages ---- */

/* Why a producer's event could not be applied (rc from the ledger), for the
 * log and its ERROR frame; then kick it. */
static void server_producer_fault(struct server *s, struct conn *c, int rc,
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
        server_kick_producer(s, c, PROTO_ERR_MALFORMED, text);
        return;
    case -E2BIG:
        snprintf(text, sizeof(text), "over the limit of %zu live buffers per process "
                 "(--max-buffers)", l->limits.max_buffers);
        server_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -ENOSPC:
        snprintf(text, sizeof(text), "device %u would exceed the server's %zu devices",
                 bad->device, l->limits.max_devices);
        server_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -EDQUOT:
        snprintf(text, sizeof(text), "uid %u is over its limit of %" PRIu64 " live buffers "
                 "(--max-buffers-per-uid)", c->uid, l->quota.limits.max_buffers);
        server_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    case -EXFULL:
        snprintf(text, sizeof(text), "device %u is past uid %u's limit of %u devices "
                 "(--max-devices-per-uid)", bad->device, c->uid,
                 l->quota.limits.max_devices);
        server_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        return;
    default:
        server_kick_producer(s, c, PROTO_ERR_LIMIT, "server out of memory");
        return;
    }
}

/* Say once per process that it sent timestamps it cannot have taken: they
 * were clamped, and reorder only its own events. */
static void server_report_order(struct ledger_process *p)
{
    const struct ledger_order_counters *o = &p->order;
    if (p->order_reported || (o->future == 0 && o->backwards == 0 && o->late == 0))
        return;
    p->order_reported = 1;
    log_warnx("pid %d (%s): clamped event timestamps (%" PRIu64 " in the future, %" PRIu64
              " going backwards, %" PRIu64 " behind the merge); only its own figures are "
              "affected (said once per process)", (int)p->pid, p->name, o->future,
              o->backwards, o->late);
}

static void server_on_events(struct server *s, struct conn *c, const void *payload, size_t len)
{
    struct ledger *l = &s->ledger;
    const struct proto_event *events = payload;
    size_t n = len / sizeof(*events);
    uint64_t unknown_before = l->counters.unknown_frees;
    uint64_t realloc_before = l->counters.live_reallocs;
    struct proto_event bad;

    int rc = ledger_submit(l, c->stream, events, n, server_now_ns(CLOCK_MONOTONIC), &bad);
    if (l->counters.unknown_frees != unknown_before)
        log_debug("pid %d (%s): %" PRIu64 " free(s) of buffers that were not live",
                  (int)c->pid, c->name, l->counters.unknown_frees - unknown_before);
    if (l->counters.live_reallocs != realloc_before)
        log_debug("pid %d (%s): %" PRIu64 " alloc(s) of buffers already live (size replaced)",
                  (int)c->pid, c->name, l->counters.live_reallocs - realloc_before);
    server_report_order(c->proc);
    if (rc < 0)
        server_producer_fault(s, c, rc, &bad);
}

/* PEAKS: the process's own peaks as its library counted them (in a resync). */
static void server_on_peaks(struct server *s, struct conn *c, const void *payload, size_t len)
{
    const struct proto_peak *peaks = payload;
    int rc = ledger_merge_peaks(&s->ledger, c->stream, peaks, len / sizeof(*peaks));
    if (rc == -EPROTO)
        server_kick_producer(s, c, PROTO_ERR_MALFORMED, "PEAKS outside a resync");
    else if (rc == -EINVAL)
        server_kick_producer(s, c, PROTO_ERR_MALFORMED, "PEAKS with an unknown memory type");
    else if (rc == -ENOSPC || rc == -EXFULL)
        server_kick_producer(s, c, PROTO_ERR_LIMIT, rc == -ENOSPC
                             ? "PEAKS name more devices than the server keeps"
                             : "PEAKS name more devices than its uid may use "
                               "(--max-devices-per-uid)");
    else if (rc < 0)
        server_kick_producer(s, c, PROTO_ERR_LIMIT, "server out of memory");
}

/* Processes whose queued events failed to apply outside a read of theirs
 * (a hold ran out, a connection closed): kick their connections, and drop
 * the buffers of those that have none left. */
static void server_settle_faults(struct server *s)
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
            server_producer_fault(s, c, rc, &bad);
            next = s->conns;    /* the list may have changed: rescan */
        }
        c = next;
    }
    for (size_t i = 0; i < l->n_procs && l->faulted > 0; i++) {
        struct ledger_process *p = l->procs[i];
        if (ledger_take_fault(l, p, NULL) != 0) {
            uint64_t dropped = ledger_forget(l, p);
            log_warnx("pid %d (%s): an event could not be applied; dropping its %" PRIu64
                      " buffers", (int)p->pid, p->name, dropped);
        }
    }
}

/* Answer c's waiting FLUSHes, in order. Returns 0, or a negative errno
 * when c was closed. */
static int server_ack_flushes(struct server *s, struct conn *c)
{
    unsigned n = c->n_flushes;
    c->n_flushes = 0;
    s->flushes_waiting--;
    for (unsigned i = 0; i < n; i++) {
        struct proto_flush ack = {.token = c->flushes[i]};
        if (server_send_frame(s, c, PROTO_FLUSH_ACK, &ack, sizeof(ack)) < 0)
            return -EPIPE;
    }
    return 0;
}

/* FLUSH: answered once every event this connection sent is applied. That
 * may wait for the process's other connections (at most --order-hold); a
 * connection with too many FLUSHes waiting has its events applied at once. */
static void server_on_flush(struct server *s, struct conn *c, const void *payload)
{
    struct proto_flush flush;
    memcpy(&flush, payload, sizeof(flush));
    if (c->n_flushes == SERVER_MAX_FLUSHES) {
        struct proto_event bad;
        int rc = ledger_stream_sync(&s->ledger, c->stream, &bad);
        if (rc < 0) {
            server_producer_fault(s, c, rc, &bad);
            return;
        }
        if (server_ack_flushes(s, c) < 0)
            return;
    }
    if (c->n_flushes == 0 && ledger_stream_synced(c->stream)) {
        server_send_frame(s, c, PROTO_FLUSH_ACK, &flush, sizeof(flush));
        return;
    }
    if (c->n_flushes++ == 0)
        s->flushes_waiting++;
    c->flushes[c->n_flushes - 1] = flush.token;
}

/* Answer the FLUSHes whose connection's events have all been applied since. */
static void server_answer_flushes(struct server *s)
{
    struct conn *c = s->conns;
    while (c != NULL && s->flushes_waiting > 0) {
        struct conn *next = c->next;
        if (c->n_flushes > 0 && ledger_stream_synced(c->stream) &&
            server_ack_flushes(s, c) < 0)
            next = s->conns;    /* c was closed: rescan */
        c = next;
    }
}

static void server_on_producer_frame(struct server *s, struct conn *c,
                                     const struct proto_header *hdr, const void *payload)
{
    switch (hdr->type) {
    case PROTO_EVENTS:
        server_on_events(s, c, payload, hdr->length);
        return;
    case PROTO_DEVICE_DESC: {
        struct proto_device_desc desc;
        char why[160];
        memcpy(&desc, payload, sizeof(desc));
        if (!trust_may_describe(s->config->sysroot, s->sources.devs, s->sources.n_devs,
                                &s->ledger, c->pid, desc.device, &desc.desc, why,
                                sizeof(why))) {
            log_info("pid %d (%s), uid %u: description of device %u not applied: %s",
                     (int)c->pid, c->name, c->uid, desc.device, why);
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
            server_kick_producer(s, c, PROTO_ERR_LIMIT, text);
        }
        return;
    }
    case PROTO_RESYNC_BEGIN: {
        uint64_t dropped = ledger_resync_begin(&s->ledger, c->stream);
        log_debug("pid %d (%s): resync begins, forgot %" PRIu64 " buffers", (int)c->pid,
                  c->name, dropped);
        return;
    }
    case PROTO_RESYNC_END: {
        struct proto_resync_end end;
        memcpy(&end, payload, sizeof(end));
        if (ledger_resync_end(&s->ledger, c->stream, end.buffers, end.bytes) < 0)
            log_warnx("pid %d (%s): resync mismatch: client sent %" PRIu64 " buffers, %" PRIu64
                      " bytes; server has %zu buffers, %" PRIu64 " bytes", (int)c->pid,
                      c->name, end.buffers, end.bytes, c->proc->table.count, c->proc->bytes);
        else
            log_debug("pid %d (%s): resync done, %" PRIu64 " buffers", (int)c->pid, c->name,
                      end.buffers);
        return;
    }
    case PROTO_PEAKS:
        server_on_peaks(s, c, payload, hdr->length);
        return;
    case PROTO_FLUSH:
        server_on_flush(s, c, payload);
        return;
    default: {
        char text[128];
        snprintf(text, sizeof(text), "a producer may not send %s",
                 proto_type_name(hdr->type));
        server_kick_producer(s, c, PROTO_ERR_ROLE, text);
        return;
    }
    }
}

/* ---- consumer messages ---- */

/* A snapshot: the ledger's records merged with sysfs and SHM (sources.c). */
/* A new snapshot, numbered, of the merged view (ledger, sysfs, SHM). */
static int server_build_snapshot(struct server *s, struct reply *r)
{
    struct proto_snap_begin head;
    memset(&head, 0, sizeof(head));
    head.seq = ++s->snap_seq;
    head.timestamp_ns = server_now_ns(CLOCK_REALTIME);
    head.clients = s->n_conns;
    head.server_pid = s->pid;

    struct sources_snap snap;
    int rc = sources_snapshot(&s->sources, &s->ledger, &snap);
    if (rc == 0)
        rc = reply_snapshot_records(r, &s->ledger, &head, snap.devices, snap.n_devices,
                                    snap.processes, snap.n_processes, snap.usage, snap.n_usage);
    sources_snap_free(&snap);
    return rc;
}

static int server_send_snapshot(struct server *s, struct conn *c)
{
    struct reply r;
    reply_init(&r);
    int rc = server_build_snapshot(s, &r);
    if (rc == 0)
        rc = server_send_reply(s, c, &r);
    else
        server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory building a snapshot");
    reply_release(&r);
    return rc;
}

static void server_arm_timer(struct server *s);

static void server_on_subscribe(struct server *s, struct conn *c, const void *payload)
{
    struct proto_subscribe sub;
    memcpy(&sub, payload, sizeof(sub));
    if (sub.interval_ms != 0 && sub.interval_ms < SERVER_MIN_INTERVAL_MS) {
        char text[96];
        snprintf(text, sizeof(text), "subscription interval %u ms is below the minimum of %u ms",
                 sub.interval_ms, SERVER_MIN_INTERVAL_MS);
        server_kick_client(s, c, PROTO_ERR_LIMIT, text);
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
    if (server_send_snapshot(s, c) == 0)
        server_arm_timer(s);
}

static void server_on_buffers_req(struct server *s, struct conn *c, const void *payload)
{
    struct proto_buffers_req req;
    memcpy(&req, payload, sizeof(req));
    const struct ledger_process *p = ledger_find(&s->ledger, req.pid);
    size_t max = req.max == 0 || req.max > SERVER_MAX_BUFFERS_REPLY ? SERVER_MAX_BUFFERS_REPLY
                                                                    : req.max;
    /* Buffer lists are for root and the process's own user. */
    if (p != NULL && c->uid != 0 && c->uid != p->uid) {
        log_debug("pid %d (%s): not shown the buffers of pid %d (uid %u)", (int)c->pid,
                  c->name, (int)p->pid, p->uid);
        p = NULL;
    }
    struct reply r;
    reply_init(&r);
    if (reply_buffers(&r, p, max) == 0)
        server_send_reply(s, c, &r);
    else
        server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory listing buffers");
    reply_release(&r);
}

static void server_on_exits_req(struct server *s, struct conn *c)
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
        server_send_reply(s, c, &r);
    else
        server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory listing exits");
    reply_release(&r);
}

/* STREAM_REQ: from now on every change, in order (stream.h). */
static void server_on_stream_req(struct server *s, struct conn *c, const void *payload)
{
    struct proto_stream_req req;
    memcpy(&req, payload, sizeof(req));
    if (req.flags != 0 || req.reserved != 0) {
        server_kick_client(s, c, PROTO_ERR_MALFORMED, "STREAM_REQ with unknown flags");
        return;
    }
    if (c->streaming) {
        server_kick_client(s, c, PROTO_ERR_MALFORMED, "a second STREAM_REQ");
        return;
    }
    if (stream_subscribe(&s->stream, &c->sub, &c->out, c->uid,
                         server_now_ns(CLOCK_MONOTONIC)) < 0) {
        server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory starting a stream");
        return;
    }
    c->sub.owner = c;
    c->streaming = 1;
    log_info("pid %d (%s), uid %u: event stream started (%s)", (int)c->pid, c->name, c->uid,
             c->uid == 0 ? "every process" : "this uid's processes");
    c->sub.dirty = 0;
    server_flush_conn(s, c);
}

/* End of a loop turn: queue what the stream gathered and send it. */
static void server_send_streams(struct server *s)
{
    if (s->stream.n_subs == 0)
        return;
    stream_flush(&s->stream, server_now_ns(CLOCK_MONOTONIC));
    struct stream_sub *sub = s->stream.subs;
    while (sub != NULL) {
        struct stream_sub *next = sub->next;    /* sub may be unsubscribed below */
        struct conn *c = sub->owner;
        if (sub->failed) {
            server_kick_client(s, c, PROTO_ERR_LIMIT, "server out of memory queueing the stream");
        } else if (sub->dirty) {
            sub->dirty = 0;
            server_flush_conn(s, c);
        }
        sub = next;
    }
}

static void server_on_consumer_frame(struct server *s, struct conn *c,
                                     const struct proto_header *hdr, const void *payload)
{
    switch (hdr->type) {
    case PROTO_STREAM_REQ:
        server_on_stream_req(s, c, payload);
        return;
    case PROTO_SNAPSHOT_REQ:
        server_send_snapshot(s, c);
        return;
    case PROTO_SUBSCRIBE:
        server_on_subscribe(s, c, payload);
        return;
    case PROTO_BUFFERS_REQ:
        server_on_buffers_req(s, c, payload);
        return;
    case PROTO_EXITS_REQ:
        server_on_exits_req(s, c);
        return;
    default: {
        char text[128];
        snprintf(text, sizeof(text), "a consumer may not send %s", proto_type_name(hdr->type));
        server_kick_client(s, c, PROTO_ERR_ROLE, text);
        return;
    }
    }
}

/* ---- reading ---- */

static void server_on_frame(struct server *s, struct conn *c, const struct proto_header *hdr,
                            const void *payload)
{
    if (c->state == CONN_HELLO) {
        if (hdr->type != PROTO_HELLO) {
            char text[96];
            snprintf(text, sizeof(text), "first frame must be HELLO, got %s",
                     proto_type_name(hdr->type));
            server_kick_client(s, c, PROTO_ERR_MALFORMED, text);
            return;
        }
        server_on_hello(s, c, payload, hdr->length);
        return;
    }
    if (hdr->type == PROTO_HELLO) {
        if (c->state == CONN_PRODUCER)
            server_kick_producer(s, c, PROTO_ERR_MALFORMED, "a second HELLO");
        else
            server_kick_client(s, c, PROTO_ERR_MALFORMED, "a second HELLO");
        return;
    }
    if (c->state == CONN_PRODUCER)
        server_on_producer_frame(s, c, hdr, payload);
    else
        server_on_consumer_frame(s, c, hdr, payload);
}

static void server_bad_frame(struct server *s, struct conn *c, const char *text)
{
    if (c->state == CONN_PRODUCER)
        server_kick_producer(s, c, PROTO_ERR_MALFORMED, text);
    else
        server_kick_client(s, c, PROTO_ERR_MALFORMED, text);
}

static void server_read_frames(struct server *s, struct conn *c, size_t max_frames)
{
    for (size_t i = 0; i < max_frames && !c->dead; i++) {
        ssize_t n = recv(c->fd, s->rxbuf, PROTO_MAX_FRAME + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            log_debug("pid %d (%s): recv: %s", (int)c->pid, c->name, strerror(errno));
            server_hangup(s, c);
            return;
        }
        if (n == 0) {
            server_hangup(s, c);
            return;
        }
        if ((size_t)n > PROTO_MAX_FRAME) {
            char text[128];
            snprintf(text, sizeof(text), "frame of %zd bytes is larger than the %u-byte maximum",
                     n, PROTO_MAX_FRAME);
            server_bad_frame(s, c, text);
            return;
        }
        struct proto_header hdr;
        const void *payload;
        const char *why;
        if (proto_parse_frame(s->rxbuf, (size_t)n, &hdr, &payload, &why) < 0) {
            char text[160];
            struct proto_header raw = {0, 0, 0};
            memcpy(&raw, s->rxbuf, (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw));
            snprintf(text, sizeof(text), "bad frame (%zd bytes, type %u): %s", n,
                     (size_t)n >= sizeof(raw) ? (unsigned)raw.type : 0u, why);
            server_bad_frame(s, c, text);
            return;
        }
        server_on_frame(s, c, &hdr, payload);
    }
}

static void server_on_conn(struct server *s, struct conn *c, uint32_t events)
{
    if (c->dead)
        return;
    if (events & EPOLLOUT) {
        if (server_flush_conn(s, c) < 0)
            return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        server_read_frames(s, c, SERVER_FRAMES_PER_WAKE);
}

/* ---- accepting ---- */

static int server_peer_pidfd(int fd, int32_t pid)
{
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
        return pidfd;
    /* Older kernels: open it by PID (a PID reused in between is unlikely). */
    pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    return pidfd >= 0 ? pidfd : -errno;
}

static void server_refuse(int fd, const char *text)
{
    unsigned char frame[256];
    size_t len = proto_put_error(frame, sizeof(frame), PROTO_ERR_LIMIT, "%s", text);
    ssize_t ignored = send(fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)ignored;
    close(fd);
}

static void server_accept_one(struct server *s, int fd)
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
        snprintf(text, sizeof(text), "server has reached its limit of %u clients "
                 "(--max-clients)", s->max_clients);
        log_warnx("refused pid %d: %s", (int)pid, text);
        server_refuse(fd, text);
        return;
    }
    struct quota_user *user = NULL;
    int qrc = quota_conn_open(&s->ledger.quota, (uint32_t)uid, &user);
    if (qrc < 0) {
        char text[128];
        if (qrc == -EUSERS)
            snprintf(text, sizeof(text), "uid %u has reached its limit of %u connections "
                     "(--max-conns-per-uid)", (unsigned)uid, s->ledger.quota.limits.max_conns);
        else
            snprintf(text, sizeof(text), "server out of memory");
        log_warnx("refused pid %d: %s", (int)pid, text);
        server_refuse(fd, text);
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
    c->source.kind = SOURCE_CONN;
    c->fd = fd;
    c->pid = (int32_t)pid;
    c->uid = (uint32_t)uid;
    c->state = CONN_HELLO;
    c->pidfd = server_peer_pidfd(fd, c->pid);
    c->hello_deadline_ns = server_now_ns(CLOCK_MONOTONIC) + SERVER_HELLO_TIMEOUT_NS;
    server_read_comm(c->pid, c->name, sizeof(c->name));
    outq_init(&c->out);
    if (server_epoll_add(s, fd, EPOLLIN, &c->source) < 0) {
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

static void server_on_listener(struct server *s)
{
    for (int i = 0; i < SERVER_ACCEPTS_PER_WAKE; i++) {
        int fd = accept4(s->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            server_accept_one(s, fd);
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
                server_refuse(fd, "server is out of file descriptors");
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warn("accept");
        return;
    }
}

/* ---- subscriptions ---- */

static void server_arm_timer(struct server *s)
{
    uint64_t next = 0;
    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        if (c->sub_interval_ms != 0 && (next == 0 || c->sub_next_ns < next))
            next = c->sub_next_ns;
        if (c->state == CONN_HELLO && (next == 0 || c->hello_deadline_ns < next))
            next = c->hello_deadline_ns;
    }
    if (next == s->timer_armed_ns)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (next != 0) {
        its.it_value.tv_sec = (time_t)(next / 1000000000ull);
        its.it_value.tv_nsec = (long)(next % 1000000000ull);
    }
    timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
    s->timer_armed_ns = next;
}

static void server_on_timer(struct server *s)
{
    uint64_t expirations;
    ssize_t ignored = read(s->timerfd, &expirations, sizeof(expirations));
    (void)ignored;
    s->timer_armed_ns = 0;

    uint64_t now = server_now_ns(CLOCK_MONOTONIC);
    struct reply snap;
    int built = 0;
    reply_init(&snap);

    struct conn *c = s->conns;
    while (c != NULL) {
        struct conn *next = c->next;    /* c may be closed below */
        if (c->state == CONN_HELLO && c->hello_deadline_ns <= now) {
            server_kick_client(s, c, PROTO_ERR_MALFORMED, "no HELLO within 5 seconds");
        } else if (c->sub_interval_ms != 0 && c->sub_next_ns <= now) {
            uint64_t interval = (uint64_t)c->sub_interval_ms * 1000000ull;
            c->sub_next_ns += interval;
            if (c->sub_next_ns <= now)
                c->sub_next_ns = now + interval;
            if (!built) {
                /* One snapshot per tick, shared by every subscriber due. */
                if (server_build_snapshot(s, &snap) < 0) {
                    log_warnx("out of memory building a snapshot");
                    reply_release(&snap);
                    break;
                }
                built = 1;
            }
            server_send_reply(s, c, &snap);
        }
        c = next;
    }
    reply_release(&snap);
    server_arm_timer(s);
}

/* ---- signals, setup, teardown ---- */

static void server_on_signal(struct server *s)
{
    struct signalfd_siginfo si;
    if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        s->stop_signal = (int)si.ssi_signo;
}

static void server_bury_dead(struct server *s)
{
    while (s->dead_conns != NULL) {
        struct conn *c = s->dead_conns;
        s->dead_conns = c->next;
        free(c);
    }
    while (s->dead_watches != NULL) {
        struct pidwatch *w = s->dead_watches;
        s->dead_watches = w->next_dead;
        free(w);
    }
}

static void server_teardown(struct server *s)
{
    while (s->conns != NULL)
        server_close_conn(s, s->conns);
    stream_destroy(&s->stream);
    for (size_t i = 0; i < s->ledger.n_procs; i++) {
        struct pidwatch *w = s->ledger.procs[i]->watch;
        if (w != NULL) {
            close(w->fd);
            free(w);
        }
    }
    server_bury_dead(s);
    int exits_rc = exits_store_flush(&s->exits);
    if (exits_rc < 0)
        log_warnx("cannot save the leak history to %s: %s", s->exits.path, strerror(-exits_rc));
    exits_store_close(&s->exits);
    metrics_close(&s->metrics);
    sources_destroy(&s->sources);
    ledger_destroy(&s->ledger);
    listener_close(&s->listener);
    if (s->timerfd >= 0)
        close(s->timerfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s->rxbuf);
}

/* Descriptors kept free of clients: the loop's own, sysfs and SHM reads,
 * /metrics connections. */
#define SERVER_FD_RESERVE 256u

/* Room for every client's socket and pidfd: raise the soft limit, and
 * lower --max-clients to what the limit allows, so the server refuses a
 * client cleanly rather than running out of descriptors for everyone. */
static void server_fit_fd_limit(struct server *s)
{
    struct rlimit rl;
    s->max_clients = s->config->max_clients;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    /* Two descriptors per client: its socket and its process's pidfd. */
    rlim_t fit = rl.rlim_cur > SERVER_FD_RESERVE * 2 ? (rl.rlim_cur - SERVER_FD_RESERVE) / 2 : 16;
    if (fit < s->max_clients) {
        log_warnx("--max-clients %u lowered to %u to fit the limit of %llu open files",
                  s->max_clients, (unsigned)fit, (unsigned long long)rl.rlim_cur);
        s->max_clients = (unsigned)fit;
    }
}

/* Everything before the loop. Returns 0, or a negative errno with the
 * reason in why. */
static int server_setup(struct server *s, const struct server_config *config, char *why,
                        size_t why_cap)
{
    char path[SOCKPATH_MAX];

    s->config = config;
    s->pid = (int32_t)getpid();
    s->listener.fd = -1;
    int src_rc = sources_init(&s->sources, config->sysroot);
    if (src_rc < 0) {
        snprintf(why, why_cap, "cannot watch sysfs and TT-Metal SHM: %s", strerror(-src_rc));
        return src_rc;
    }

    struct ledger_limits limits = {.max_buffers = config->max_buffers,
                                   .hold_ns = (uint64_t)config->order_hold_ms * 1000000ull,
                                   .per_uid = &config->per_uid};
    s->rxbuf = malloc(PROTO_MAX_FRAME + 1);
    if (ledger_init(&s->ledger, &limits) < 0 || s->rxbuf == NULL) {
        snprintf(why, why_cap, "out of memory");
        return -ENOMEM;
    }
    stream_init(&s->stream, &s->ledger, config->max_queue / 2);
    server_fit_fd_limit(s);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->sigfd < 0 || s->timerfd < 0 || s->epfd < 0) {
        snprintf(why, why_cap, "cannot set up the event loop: %s", strerror(errno));
        return -EIO;
    }

    int rc = sockpath_for_server(config->socket_path, path, why, why_cap);
    if (rc == 0)
        rc = listener_open(&s->listener, path, why, why_cap);
    if (rc < 0) {
        if (why[0] == '\0')
            snprintf(why, why_cap, "%s", strerror(-rc));
        return rc;
    }

    char state[PATH_MAX];
    const char *state_path = config->state_path;
    if (state_path == NULL && exits_store_default_path(s->listener.path, state, sizeof(state)) == 0)
        state_path = state;
    if (exits_store_open(&s->exits, state_path, config->exits_max, config->exits_max_age_s,
                         server_now_ns(CLOCK_REALTIME)) < 0) {
        snprintf(why, why_cap, "out of memory");
        return -ENOMEM;
    }

    s->listener_source.kind = SOURCE_LISTENER;
    s->signal_source.kind = SOURCE_SIGNAL;
    s->timer_source.kind = SOURCE_TIMER;
    s->sources_timer_source.kind = SOURCE_SOURCES_TIMER;
    s->sources_inotify_source.kind = SOURCE_SOURCES_INOTIFY;
    if (server_epoll_add(s, s->listener.fd, EPOLLIN, &s->listener_source) < 0 ||
        server_epoll_add(s, s->sigfd, EPOLLIN, &s->signal_source) < 0 ||
        server_epoll_add(s, s->timerfd, EPOLLIN, &s->timer_source) < 0 ||
        server_epoll_add(s, sources_timer_fd(&s->sources), EPOLLIN,
                         &s->sources_timer_source) < 0 ||
        server_epoll_add(s, sources_inotify_fd(&s->sources), EPOLLIN,
                         &s->sources_inotify_source) < 0) {
        snprintf(why, why_cap, "epoll_ctl: %s", strerror(errno));
        return -EIO;
    }
    if (config->metrics_addr != NULL) {
        rc = metrics_open(&s->metrics, config->metrics_addr,
                          config->metrics_top ? config->metrics_top : METRICS_DEFAULT_TOP, why,
                          why_cap);
        s->metrics_source.kind = SOURCE_METRICS;
        if (rc == 0 && server_epoll_add(s, metrics_fd(&s->metrics), EPOLLIN,
                                        &s->metrics_source) < 0) {
            snprintf(why, why_cap, "epoll_ctl: %s", strerror(errno));
            rc = -EIO;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* epoll_wait's timeout: the metrics daemon's, or sooner when a queued event
 * of some process is due (ledger_next_release). */
static int server_timeout_ms(struct server *s)
{
    int timeout = metrics_timeout_ms(&s->metrics);
    uint64_t due = ledger_next_release(&s->ledger);
    if (due == 0)
        return timeout;
    uint64_t now = server_now_ns(CLOCK_MONOTONIC);
    uint64_t wait_ms = due <= now ? 0 : (due - now + 999999ull) / 1000000ull;
    if (wait_ms > INT32_MAX)
        wait_ms = INT32_MAX;
    if (timeout < 0 || (uint64_t)timeout > wait_ms)
        timeout = (int)wait_ms;
    return timeout;
}

int server_run(const struct server_config *config)
{
    struct server s;
    memset(&s, 0, sizeof(s));
    s.sigfd = s.timerfd = s.epfd = s.spare_fd = -1;

    char why[256] = "";
    if (server_setup(&s, config, why, sizeof(why)) < 0) {
        server_teardown(&s);
        fatalx("%s", why);
    }
    log_info("listening on %s%s (tt-alloc %s, protocol %u)", s.listener.path,
             s.listener.activated ? " (from systemd)" : "", TTALLOC_VERSION_STRING,
             PROTO_VERSION);
    sd_notify(0, "READY=1");

    struct epoll_event events[SERVER_EPOLL_BATCH];
    while (s.stop_signal == 0) {
        int n = epoll_wait(s.epfd, events, SERVER_EPOLL_BATCH, server_timeout_ms(&s));
        /* Events whose hold ran out are applied before anything reads. */
        ledger_release(&s.ledger, server_now_ns(CLOCK_MONOTONIC));
        server_settle_faults(&s);
        server_answer_flushes(&s);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct server_source *source = events[i].data.ptr;
            switch (source->kind) {
            case SOURCE_LISTENER:
                server_on_listener(&s);
                break;
            case SOURCE_SIGNAL:
                server_on_signal(&s);
                break;
            case SOURCE_TIMER:
                server_on_timer(&s);
                break;
            case SOURCE_CONN:
                server_on_conn(&s, (struct conn *)source, events[i].events);
                break;
            case SOURCE_PIDFD:
                server_on_pidfd(&s, (struct pidwatch *)source);
                break;
            case SOURCE_SOURCES_TIMER:
                sources_on_timer(&s.sources);
                break;
            case SOURCE_SOURCES_INOTIFY:
                sources_on_inotify(&s.sources);
                break;
            case SOURCE_METRICS: {
                struct metrics_view view = {&s.sources, &s.ledger, s.n_conns, s.disconnects,
                                    &s.exits};
                metrics_run(&s.metrics, 1, &view);
                break;
            }
            }
        }
        struct metrics_view view = {&s.sources, &s.ledger, s.n_conns, s.disconnects,
                                    &s.exits};
        metrics_run(&s.metrics, 0, &view);  /* its timeouts (runs only when one is due) */
        server_settle_faults(&s);
        server_answer_flushes(&s);
        server_send_streams(&s);
        server_bury_dead(&s);
        exits_store_tick(&s.exits, server_now_ns(CLOCK_REALTIME), server_now_ns(CLOCK_MONOTONIC));
    }

    sd_notify(0, "STOPPING=1");
    log_info("stopping (%s): %u clients, %zu processes, %" PRIu64 " live buffers",
             s.stop_signal ? strsignal(s.stop_signal) : "error", s.n_conns, s.ledger.n_procs,
             s.ledger.live_buffers);
    int status = s.stop_signal ? 0 : 1;
    server_teardown(&s);
    return status;
}
