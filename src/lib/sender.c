/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sender.c - the background connection thread of libttalloc (see sender.h
 * and docs/libttalloc.md).
 *
 * The loop: wait in poll() on [eventfd, socket]; after a wake-up, wait one
 * batching window so that many events share a frame and a syscall; then
 * collect: take from the rings every event the merge may release, in
 * timestamp order, apply each to the tally and, while the connection is in
 * step, append it to the outbox as EVENTS frames. The outbox is bounded:
 * when the server stops reading and it fills, the events that follow go to
 * the tally only, and once the outbox has drained a resync (RESYNC_BEGIN,
 * every live buffer, PEAKS, RESYNC_END) replaces them; a new connection gets
 * the same resync. A FLUSH request rides behind the events recorded before
 * it and is answered by FLUSH_ACK.
 */
#include "sender.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "debuglog.h"
#include "eventclock.h"
#include "proto.h"
#include "rings.h"
#include "sockpath.h"
#include "tally.h"

#define SENDER_BATCH_NS 1000000LL /* batching window after a wake-up */
#define SENDER_BACKOFF_MIN_MS 10
#define SENDER_BACKOFF_MAX_MS 1000    /* a returning server is found within 1 s */
#define SENDER_BUSY_RETRY_MS 5        /* first retry after a full backlog (EAGAIN) */
#define SENDER_BUSY_RETRY_MAX_MS 250  /* a full backlog drains fast; refusing us costs nothing */
#define SENDER_STABLE_NS 1000000000LL /* a connection this old resets the backoff */
#define SENDER_RECALIBRATE_NS 1000000000LL
#define SENDER_SNDBUF (1 << 20)
#define SENDER_OUTBOX_MAX (8u << 20) /* unsent bytes before we fall back to a resync */
#define SENDER_KEEP_BYTES (1u << 20) /* give back buffers larger than this when idle */
#define SENDER_WAIT_SLICE_NS 50000L  /* an implicit flush waits for a stalled producer */

struct sender_desc {
    uint32_t device;
    struct ttalloc_device_desc desc;
};

struct sender {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* flush waiters: CLOCK_MONOTONIC */
    bool cond_ready;
    bool tally_ready;    /* tally and rings set up */
    bool running;        /* the thread exists */
    bool thread_started; /* ... and has entered its loop */
    bool stopping;
    pthread_t thread;
    int efd;
    int fd; /* -1: not connected */

    bool hello_acked; /* this connection got HELLO_ACK */
    bool resync_due;  /* the server is not in step: a resync must come next */
    bool connect_now; /* a flush wants an attempt without waiting */
    bool outage_reported;
    int backoff_ms;
    int busy_ms;      /* retry delay while the server's backlog is full */
    bool server_busy; /* the last attempt found a full backlog */
    unsigned jitter_seed;
    int64_t reconnect_at; /* monotonic ns */
    int64_t connected_at; /* when the current connection was made */
    int64_t drain_at;     /* 0: no drain scheduled */
    int64_t recalibrate_at;

    uint64_t flush_req;        /* highest token asked for */
    uint64_t flush_sent;       /* highest token sent on this connection */
    uint64_t flush_acked;      /* highest token the server acknowledged */
    uint64_t connect_failures; /* attempts that did not reach a working server */
    uint64_t stop_token;
    int64_t stop_deadline;
    uint64_t last_ns; /* timestamp of the last event merged */

    char *out; /* frames waiting to be sent, back to back */
    size_t out_head, out_len, out_cap;
    struct rings_batch batch;   /* events taken by the last collect */
    struct proto_event *resync; /* scratch for a resync's ALLOC list */
    size_t resync_cap;
    struct tally tally;
    struct sender_desc *descs;
    size_t n_descs;
    char label[TTALLOC_LABEL_MAX];
    char *rxbuf; /* PROTO_MAX_FRAME bytes */
};

static struct sender sender = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .efd = -1,
    .fd = -1,
    .backoff_ms = SENDER_BACKOFF_MIN_MS,
    .busy_ms = SENDER_BUSY_RETRY_MS,
};

/* 1 while the thread owes a drain: producers do not wake it again. */
static atomic_int sender_pending;

static int64_t sender_now(void)
{
    return (int64_t)eventclock_monotonic_ns();
}

static void sender_wake_locked(void)
{
    uint64_t one = 1;
    if (sender.efd >= 0) {
        ssize_t ignored = write(sender.efd, &one, sizeof(one));
        (void)ignored;
    }
}

void sender_notify(void)
{
    if (atomic_load_explicit(&sender_pending, memory_order_relaxed) != 0)
        return;
    if (atomic_exchange(&sender_pending, 1) == 0) {
        uint64_t one = 1;
        ssize_t ignored = write(sender.efd, &one, sizeof(one));
        (void)ignored;
    }
}

/* A delay of `ms` give or take a quarter, so that clients refused together
 * do not all come back together. */
static int64_t sender_jittered_ns(int ms)
{
    int quarter = ms / 4;
    int offset = quarter > 0 ? rand_r(&sender.jitter_seed) % (2 * quarter + 1) - quarter : 0;
    return (int64_t)(ms + offset) * 1000000LL;
}

static void sender_back_off(int64_t now)
{
    sender.reconnect_at = now + sender_jittered_ns(sender.backoff_ms);
    sender.backoff_ms = sender.backoff_ms * 2 > SENDER_BACKOFF_MAX_MS ? SENDER_BACKOFF_MAX_MS
                                                                      : sender.backoff_ms * 2;
}

/* ---- the outbox ---- */

static int sender_reserve(size_t more)
{
    if (sender.out_len + more <= sender.out_cap)
        return 0;
    size_t cap = sender.out_cap ? sender.out_cap : PROTO_MAX_FRAME;
    while (cap < sender.out_len + more)
        cap *= 2;
    char *grown = realloc(sender.out, cap);
    if (grown == NULL)
        return -ENOMEM;
    sender.out = grown;
    sender.out_cap = cap;
    return 0;
}

static int sender_put_frame(enum proto_msg_type type, const void *payload, size_t len)
{
    int rc = sender_reserve(sizeof(struct proto_header) + len);
    if (rc < 0)
        return rc;
    char *at = sender.out + sender.out_len;
    size_t total = proto_put_header(at, type, (uint32_t)len);
    if (len > 0)
        memcpy(at + sizeof(struct proto_header), payload, len);
    sender.out_len += total;
    return 0;
}

static int sender_put_array(enum proto_msg_type type, const void *records, size_t n,
                            size_t record_size)
{
    const size_t per_frame = proto_records_per_frame(record_size);
    for (size_t i = 0; i < n; i += per_frame) {
        size_t k = n - i < per_frame ? n - i : per_frame;
        int rc = sender_put_frame(type, (const char *)records + i * record_size, k * record_size);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool sender_outbox_empty(void)
{
    return sender.out_head == sender.out_len;
}

static void sender_trim_buffers(void)
{
    sender.out_head = sender.out_len = 0;
    if (sender.out_cap > SENDER_KEEP_BYTES) {
        free(sender.out);
        sender.out = NULL;
        sender.out_cap = 0;
    }
    if (sender.batch.cap * sizeof(struct proto_event) > SENDER_KEEP_BYTES)
        rings_batch_free(&sender.batch);
    if (sender.resync_cap * sizeof(struct proto_event) > SENDER_KEEP_BYTES) {
        free(sender.resync);
        sender.resync = NULL;
        sender.resync_cap = 0;
    }
}

/* ---- the merged order ---- */

/* Take what the rings may release, apply it to the tally in order and, if
 * the server is in step, queue it. Returns the watermark reached: every
 * event stamped below it has been applied; UINT64_MAX when memory ran out
 * (the events stay in the rings, and nobody should wait for them now). */
static uint64_t sender_collect(void)
{
    sender.batch.n = 0;
    if (rings_collect(&sender.batch) < 0)
        return UINT64_MAX;
    bool queue = sender.fd >= 0 && !sender.resync_due;
    for (size_t i = 0; i < sender.batch.n; i++) {
        struct proto_event *ev = &sender.batch.ev[i];
        ev->timestamp_ns = eventclock_to_ns(ev->timestamp_ns);
        sender.last_ns = ev->timestamp_ns;
        tally_apply(&sender.tally, ev);
    }
    if (queue && sender.batch.n > 0) {
        if (sender_put_array(PROTO_EVENTS, sender.batch.ev, sender.batch.n,
                             sizeof(struct proto_event)) < 0 ||
            sender.out_len - sender.out_head > SENDER_OUTBOX_MAX) {
            /* The server is not keeping up (or memory ran out): what follows
             * goes to the tally only, and a resync catches up later. */
            sender.resync_due = true;
        }
    }
    return sender.batch.watermark;
}

/* Collect until every event stamped before `reading` is applied: a producer
 * stalled between its clock read and its publication holds the merge back,
 * and it needs the CPU to finish. Called with the lock held. */
static void sender_collect_through(uint64_t reading)
{
    while (sender_collect() <= reading) {
        pthread_mutex_unlock(&sender.lock);
        struct timespec slice = {0, SENDER_WAIT_SLICE_NS};
        nanosleep(&slice, NULL);
        pthread_mutex_lock(&sender.lock);
    }
}

/* RESYNC_BEGIN, every live buffer, this process's peaks, RESYNC_END. */
static int sender_put_resync(void)
{
    struct proto_resync_end end;
    size_t n = 0;
    struct proto_peak *peaks = NULL;
    size_t n_peaks = 0;
    int rc = tally_buffers_as_events(&sender.tally, sender.last_ns, &sender.resync, &n,
                                     &sender.resync_cap, &end.buffers, &end.bytes);
    if (rc == 0)
        rc = tally_peaks(&sender.tally, &peaks, &n_peaks);
    if (rc == 0)
        rc = sender_put_frame(PROTO_RESYNC_BEGIN, NULL, 0);
    if (rc == 0)
        rc = sender_put_array(PROTO_EVENTS, sender.resync, n, sizeof(struct proto_event));
    if (rc == 0)
        rc = sender_put_array(PROTO_PEAKS, peaks, n_peaks, sizeof(struct proto_peak));
    if (rc == 0)
        rc = sender_put_frame(PROTO_RESYNC_END, &end, sizeof(end));
    free(peaks);
    return rc;
}

/* ---- the connection ---- */

static void sender_handle_frame(const struct proto_header *hdr, const void *payload);

/* Read every frame the server left before it went away: an ERROR frame
 * explains why, and the kernel reports the reset before the data. */
static void sender_read_leftovers(void)
{
    for (int tries = 0; tries < 64; tries++) {
        ssize_t n = recv(sender.fd, sender.rxbuf, PROTO_MAX_FRAME, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
            continue; /* the pending error, reported once; the data follows */
        if (n <= 0)
            return;
        struct proto_header hdr;
        const void *payload;
        if (proto_parse_frame(sender.rxbuf, (size_t)n, &hdr, &payload, NULL, 0) == 0 &&
            hdr.type == PROTO_ERROR)
            sender_handle_frame(&hdr, payload);
    }
}

static void sender_disconnect(const char *why, int err)
{
    bool was_working = sender.hello_acked;

    sender_read_leftovers();
    close(sender.fd);
    sender.fd = -1;
    sender.hello_acked = false;
    sender.out_head = sender.out_len = 0;
    sender.flush_sent = sender.flush_acked;
    int64_t now = sender_now();
    /* Only a connection that lasted resets the backoff: a server that
     * accepts and then refuses us (a cap, a bad frame) must not turn us
     * into a reconnect storm. */
    bool stable = was_working && now - sender.connected_at >= SENDER_STABLE_NS;
    if (stable) {
        sender.backoff_ms = SENDER_BACKOFF_MIN_MS;
        sender.outage_reported = false;
    }
    sender_back_off(now);
    if (stable) {
        /* A flush in progress deserves a prompt second chance. */
        if (sender.flush_req > sender.flush_acked)
            sender.connect_now = true;
    } else if (!was_working) {
        sender.connect_failures++;
    }
    if (!sender.outage_reported) {
        debuglog("lost the server (%s%s%s); recording locally and reconnecting", why,
                 err ? ": " : "", err ? strerror(err) : "");
        sender.outage_reported = true;
    }
    pthread_cond_broadcast(&sender.cond);
}

/* Connect without blocking (a stopped server's full backlog must not hang
 * this thread), with room in the socket for whole frames. */
static int sender_open(const char *path)
{
    int fd = sockpath_connect(path, SOCK_NONBLOCK);
    if (fd < 0)
        return fd;
    int sndbuf = SENDER_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return fd;
}

static void sender_connect(int64_t now)
{
    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    int n = sockpath_candidates(paths);
    int fd = -ENOENT;
    int i;

    sender.connect_now = false;
    for (i = 0; i < n; i++) {
        fd = sender_open(paths[i]);
        /* EAGAIN: a server listens there but its backlog is full. */
        if (fd >= 0 || fd == -EAGAIN)
            break;
    }
    sender.server_busy = fd == -EAGAIN;
    if (fd == -EAGAIN) {
        /* Busy, not absent: a flush keeps waiting; retry soon, then less
         * often. The kernel refuses us without waking the server, so the
         * ceiling is lower than after a refusal by the server itself. */
        sender.reconnect_at = now + sender_jittered_ns(sender.busy_ms);
        sender.busy_ms = sender.busy_ms * 2 > SENDER_BUSY_RETRY_MAX_MS ? SENDER_BUSY_RETRY_MAX_MS
                                                                       : sender.busy_ms * 2;
        return;
    }
    if (fd < 0) {
        sender.connect_failures++;
        if (!sender.outage_reported) {
            debuglog("no tt-alloc server reachable (%s: %s); recording locally and retrying",
                     paths[n - 1], strerror(-fd));
            sender.outage_reported = true;
        }
        sender_back_off(now);
        pthread_cond_broadcast(&sender.cond);
        return;
    }

    sender.busy_ms = SENDER_BUSY_RETRY_MS;
    sender.fd = fd;
    sender.connected_at = now;
    sender.hello_acked = false;
    sender.out_head = sender.out_len = 0;
    struct proto_hello hello;
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, sender.label);
    hello.claimed_pid = (int32_t)getpid();
    int rc = sender_put_frame(PROTO_HELLO, &hello, sizeof(hello));
    for (size_t k = 0; rc == 0 && k < sender.n_descs; k++) {
        struct proto_device_desc dd = {
            .device = sender.descs[k].device, .reserved = 0, .desc = sender.descs[k].desc};
        rc = sender_put_frame(PROTO_DEVICE_DESC, &dd, sizeof(dd));
    }
    if (rc < 0) {
        sender_disconnect("out of memory", ENOMEM);
        return;
    }
    /* The new server knows nothing of us: everything goes again. */
    sender.resync_due = true;
    debuglog("connected to %s", paths[i]);
}

static void sender_handle_frame(const struct proto_header *hdr, const void *payload)
{
    switch (hdr->type) {
    case PROTO_HELLO_ACK: {
        struct proto_hello_ack ack;
        memset(&ack, 0, sizeof(ack));
        memcpy(&ack, payload, hdr->length < sizeof(ack) ? hdr->length : sizeof(ack));
        if (ack.magic != PROTO_MAGIC || ack.version != PROTO_VERSION) {
            debuglog("server speaks protocol version %u, this library %u", (unsigned)ack.version,
                     PROTO_VERSION);
            sender_disconnect("incompatible server", EPROTO);
            return;
        }
        sender.hello_acked = true;
        break;
    }
    case PROTO_FLUSH_ACK: {
        struct proto_flush ack;
        memcpy(&ack, payload, sizeof(ack));
        if (ack.token > sender.flush_acked && ack.token <= sender.flush_sent) {
            sender.flush_acked = ack.token;
            pthread_cond_broadcast(&sender.cond);
        }
        break;
    }
    case PROTO_ERROR: {
        size_t text_len = hdr->length - sizeof(struct proto_error);
        debuglog("server error: %.*s", (int)text_len,
                 (const char *)payload + sizeof(struct proto_error));
        break;
    }
    default:
        debuglog("ignoring unexpected %s frame", proto_type_name(hdr->type));
        break;
    }
}

static void sender_receive(void)
{
    while (sender.fd >= 0) {
        ssize_t n = recv(sender.fd, sender.rxbuf, PROTO_MAX_FRAME, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sender_disconnect("receive failed", errno);
            return;
        }
        if (n == 0) {
            sender_disconnect("server closed the connection", 0);
            return;
        }
        struct proto_header hdr;
        const void *payload;
        char why[80];
        if (proto_parse_frame(sender.rxbuf, (size_t)n, &hdr, &payload, why, sizeof(why)) < 0) {
            sender_disconnect(why, EBADMSG);
            return;
        }
        sender_handle_frame(&hdr, payload);
    }
}

static void sender_send_some(void)
{
    while (sender.fd >= 0 && sender.out_head < sender.out_len) {
        struct proto_header hdr;
        memcpy(&hdr, sender.out + sender.out_head, sizeof(hdr));
        size_t size = sizeof(hdr) + hdr.length;
        ssize_t n =
            send(sender.fd, sender.out + sender.out_head, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sender_disconnect("send failed", errno);
            return;
        }
        sender.out_head += size;
    }
    if (sender.out_head == sender.out_len)
        sender_trim_buffers();
}

/* ---- one round of the loop ---- */

static bool sender_drain_due(int64_t now)
{
    return (sender.fd >= 0 && sender.resync_due && sender_outbox_empty()) ||
           sender.flush_req > sender.flush_sent || (sender.drain_at != 0 && now >= sender.drain_at);
}

static void sender_drain(void)
{
    atomic_store(&sender_pending, 0);
    sender.drain_at = 0;
    sender_collect();
    if (sender.batch.left >= RINGS_TAKE_MAX) {
        /* Behind: the next share at once, while it is still in cache. */
        sender.drain_at = sender_now();
    } else if (sender.batch.left > 0) {
        /* Events held back behind a producer in flight: look again soon
         * rather than wait for somebody's next record. */
        sender.drain_at = sender_now() + SENDER_BATCH_NS;
    }
    if (sender.fd < 0)
        return;
    int rc = 0;
    if (sender.resync_due && sender_outbox_empty()) {
        rc = sender_put_resync();
        if (rc == 0)
            sender.resync_due = false;
    }
    if (rc == 0 && !sender.resync_due && sender.flush_req > sender.flush_sent) {
        struct proto_flush flush = {.token = sender.flush_req};
        rc = sender_put_frame(PROTO_FLUSH, &flush, sizeof(flush));
        if (rc == 0)
            sender.flush_sent = sender.flush_req;
    }
    if (rc < 0) {
        /* Out of memory: drop what was built; a resync will carry it later. */
        sender.out_head = sender.out_len = 0;
        sender.resync_due = true;
        sender.drain_at = sender_now() + SENDER_BATCH_NS;
    }
}

static int sender_poll_timeout(int64_t now)
{
    int64_t wake = INT64_MAX;

    if (sender.fd < 0 && !sender.stopping)
        wake = sender.connect_now ? now : sender.reconnect_at;
    if (sender.drain_at != 0 && sender.drain_at < wake)
        wake = sender.drain_at;
    if (sender.fd >= 0 && sender.resync_due && sender_outbox_empty())
        wake = now;
    if (sender.stopping && sender.stop_deadline < wake)
        wake = sender.stop_deadline;
    if (eventclock_uses_tsc && sender.recalibrate_at < wake)
        wake = sender.recalibrate_at;
    if (wake == INT64_MAX)
        return -1;
    if (wake <= now)
        return 0;
    int64_t ms = (wake - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void *sender_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&sender.lock);
    sender.thread_started = true;
    pthread_cond_broadcast(&sender.cond);
    for (;;) {
        int64_t now = sender_now();
        if (now >= sender.recalibrate_at) {
            eventclock_recalibrate();
            sender.recalibrate_at = now + SENDER_RECALIBRATE_NS;
        }
        if (sender.fd < 0 && !sender.stopping && (sender.connect_now || now >= sender.reconnect_at))
            sender_connect(now);
        if (sender.fd >= 0 && sender.out_head < sender.out_len)
            sender_send_some();
        if (sender_drain_due(now))
            sender_drain();
        if (sender.fd >= 0 && sender.out_head < sender.out_len)
            sender_send_some();
        if (sender.stopping && (sender.fd < 0 || sender.flush_acked >= sender.stop_token ||
                                now >= sender.stop_deadline))
            break;

        struct pollfd pfd[2] = {{.fd = sender.efd, .events = POLLIN, .revents = 0},
                                {.fd = sender.fd, .events = POLLIN, .revents = 0}};
        nfds_t nfds = sender.fd >= 0 ? 2 : 1;
        if (sender.out_head < sender.out_len)
            pfd[1].events |= POLLOUT;
        int timeout = sender_poll_timeout(now);

        pthread_mutex_unlock(&sender.lock);
        int ready = poll(pfd, nfds, timeout);
        pthread_mutex_lock(&sender.lock);
        if (ready <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            uint64_t count;
            ssize_t ignored = read(sender.efd, &count, sizeof(count));
            (void)ignored;
            if (sender.drain_at == 0)
                sender.drain_at = sender_now() + SENDER_BATCH_NS;
        }
        if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            sender_receive();
    }
    pthread_cond_broadcast(&sender.cond);
    pthread_mutex_unlock(&sender.lock);
    return NULL;
}

/* ---- the public side ---- */

static void sender_free_connection(void)
{
    if (sender.efd >= 0)
        close(sender.efd);
    if (sender.fd >= 0)
        close(sender.fd);
    sender.efd = sender.fd = -1;
    free(sender.out);
    sender.out = NULL;
    sender.out_head = sender.out_len = sender.out_cap = 0;
    free(sender.rxbuf);
    sender.rxbuf = NULL;
}

static void sender_free_tally(void)
{
    if (sender.tally_ready)
        tally_destroy(&sender.tally);
    sender.tally_ready = false;
    rings_batch_free(&sender.batch);
    free(sender.resync);
    sender.resync = NULL;
    sender.resync_cap = 0;
}

/* Fresh per-process state: nothing sent, nothing asked, nobody connected. */
static void sender_reset_state(void)
{
    sender.running = false;
    sender.thread_started = false;
    sender.stopping = false;
    sender.hello_acked = false;
    sender.resync_due = false;
    sender.connect_now = false;
    sender.outage_reported = false;
    sender.backoff_ms = SENDER_BACKOFF_MIN_MS;
    sender.busy_ms = SENDER_BUSY_RETRY_MS;
    sender.server_busy = false;
    sender.jitter_seed = (unsigned)getpid();
    sender.reconnect_at = 0;
    sender.drain_at = 0;
    sender.recalibrate_at = sender_now() + SENDER_RECALIBRATE_NS;
    sender.flush_req = sender.flush_sent = sender.flush_acked = 0;
    sender.connect_failures = 0;
    sender.stop_token = 0;
    sender.stop_deadline = 0;
}

static void sender_init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sender.cond, &attr);
    pthread_condattr_destroy(&attr);
    sender.cond_ready = true;
}

int sender_start(void)
{
    int rc = 0;

    pthread_mutex_lock(&sender.lock);
    if (sender.running)
        goto out;
    if (!sender.cond_ready)
        sender_init_cond();
    sender_reset_state();
    if (!sender.tally_ready) {
        tally_init(&sender.tally);
        sender.tally_ready = true;
    }
    sender.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sender.rxbuf = malloc(PROTO_MAX_FRAME);
    if (sender.efd < 0 || sender.rxbuf == NULL) {
        rc = sender.efd < 0 ? -errno : -ENOMEM;
        goto fail;
    }
    atomic_store(&sender_pending, 0);

    /* The thread takes no signals: they belong to the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&sender.thread, NULL, sender_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rc = -err;
        goto fail;
    }
    sender.running = true;
    /* Return only once the thread runs its loop: its start-up allocates
     * (the C library, a sanitizer), and an allocator lock held by a thread
     * still starting would be held forever in the child of a fork() that
     * the application makes right after its first record. */
    while (!sender.thread_started)
        pthread_cond_wait(&sender.cond, &sender.lock);
    goto out;
fail:
    sender_free_connection();
    /* No thread: never try to wake one. The tally stays for
     * ttalloc_process_memory. */
    atomic_store(&sender_pending, 1);
out:
    pthread_mutex_unlock(&sender.lock);
    return rc;
}

int sender_flush(int timeout_ms)
{
    int rc = 0;
    struct timespec deadline;
    uint64_t reading = eventclock_read();

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }

    pthread_mutex_lock(&sender.lock);
    if (!sender.running || sender.stopping) {
        pthread_mutex_unlock(&sender.lock);
        return -ENOTCONN;
    }
    /* Everything recorded before the call is in the outbox (or the tally,
     * for the resync) before the FLUSH frame is. */
    sender_collect_through(reading);
    uint64_t token = ++sender.flush_req;
    uint64_t failures = sender.connect_failures;
    if (sender.fd < 0)
        sender.connect_now = true;
    sender_wake_locked();
    while (sender.flush_acked < token) {
        if (!sender.running || sender.stopping ||
            (sender.fd < 0 && sender.connect_failures != failures)) {
            rc = -ENOTCONN;
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&sender.cond, &sender.lock);
        } else if (pthread_cond_timedwait(&sender.cond, &sender.lock, &deadline) == ETIMEDOUT) {
            /* Not connected when time is up: no server was reachable in
             * time. Connected, or a server whose backlog is full: a server
             * is there but has not applied it. */
            if (sender.flush_acked >= token)
                rc = 0;
            else
                rc = sender.fd < 0 && !sender.server_busy ? -ENOTCONN : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&sender.lock);
    return rc;
}

void sender_memory(uint32_t device, uint8_t type, uint64_t *live, uint64_t *peak)
{
    uint64_t reading = eventclock_read();
    *live = *peak = 0;
    pthread_mutex_lock(&sender.lock);
    if (sender.tally_ready) {
        sender_collect_through(reading);
        tally_memory(&sender.tally, device, type, live, peak);
        if (sender.running && sender.batch.n > 0)
            sender_wake_locked(); /* what was queued here goes out now */
    }
    pthread_mutex_unlock(&sender.lock);
}

void sender_help(void)
{
    if (pthread_mutex_trylock(&sender.lock) != 0)
        return; /* the sender (or another helper) is at it already */
    if (sender.tally_ready) {
        sender_collect();
        if (sender.running)
            sender_wake_locked(); /* what was queued here goes out now */
    }
    pthread_mutex_unlock(&sender.lock);
}

int sender_describe(uint32_t device, const struct ttalloc_device_desc *desc)
{
    int rc = 0;

    pthread_mutex_lock(&sender.lock);
    size_t k;
    for (k = 0; k < sender.n_descs; k++) {
        if (sender.descs[k].device == device)
            break;
    }
    if (k == sender.n_descs) {
        struct sender_desc *grown = realloc(sender.descs, (k + 1) * sizeof(*grown));
        if (grown == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        sender.descs = grown;
        sender.n_descs++;
    }
    sender.descs[k].device = device;
    sender.descs[k].desc = *desc;
    if (sender.fd >= 0) {
        struct proto_device_desc dd = {.device = device, .reserved = 0, .desc = *desc};
        rc = sender_put_frame(PROTO_DEVICE_DESC, &dd, sizeof(dd));
        sender_wake_locked();
    }
out:
    pthread_mutex_unlock(&sender.lock);
    return rc;
}

void sender_set_label(const char *label)
{
    pthread_mutex_lock(&sender.lock);
    memset(sender.label, 0, sizeof(sender.label));
    strncpy(sender.label, label, sizeof(sender.label) - 1);
    pthread_mutex_unlock(&sender.lock);
}

void sender_stop(int bound_ms)
{
    pthread_mutex_lock(&sender.lock);
    if (sender.running) {
        /* Every event recorded so far goes into the last frames. */
        sender.stopping = true;
        sender.stop_token = ++sender.flush_req;
        sender.stop_deadline = sender_now() + (int64_t)bound_ms * 1000000LL;
        sender_wake_locked();
        pthread_mutex_unlock(&sender.lock);
        pthread_join(sender.thread, NULL);
        pthread_mutex_lock(&sender.lock);
    }
    /* No producer may write to the eventfd once it is closed. */
    atomic_store(&sender_pending, 1);
    sender_free_connection();
    sender_free_tally();
    free(sender.descs);
    sender.descs = NULL;
    sender.n_descs = 0;
    sender_reset_state();
    pthread_mutex_unlock(&sender.lock);
}

void sender_atfork_prepare(void)
{
    pthread_mutex_lock(&sender.lock);
}

void sender_atfork_parent(void)
{
    pthread_mutex_unlock(&sender.lock);
}

void sender_atfork_child(void)
{
    /* The thread did not come along: the parent's connection, wake-ups,
     * tally and descriptions are not ours. Keep only the label (like the
     * process name). */
    sender_free_connection();
    sender_free_tally();
    free(sender.descs);
    sender.descs = NULL;
    sender.n_descs = 0;
    sender_reset_state();
    if (sender.cond_ready)
        sender_init_cond();
    atomic_store(&sender_pending, 0);
    pthread_mutex_unlock(&sender.lock);
}
