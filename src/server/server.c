/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - tt-alloc-server's setup, loop and teardown (see server.h; the
 * manual is docs/tt-alloc-server.md), its timers (subscriptions, HELLO
 * deadlines), its signals, and the end of tracked processes (a pidfd per
 * process). Connections are conn.c's and messages dispatch.c's
 * (server_state.h says who calls what).
 *
 * Every descriptor is registered with the loop (evloop.h) with its own
 * callback. Connections and pidfd watches closed during a turn of the loop
 * go to a graveyard freed at its end, so a later event of the same batch
 * never touches freed memory. A producer's buffers belong to its PID's
 * ledger process, which lives until that process's pidfd says it ended,
 * even if the connection closed first.
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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bytesize.h"
#include "log.h"
#include "server_state.h"
#include "sockpath.h"

uint64_t server_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Stop watching a pidfd; the watch is freed after this batch of events. */
static void server_retire_watch(struct server *s, struct pidwatch *w)
{
    evloop_remove(&s->loop, w->fd);
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
void server_process_ended(struct server *s, struct ledger_process *p)
{
    struct conn *c = s->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->proc == p) {
            /* What it sent before dying still counts (e.g. for the exit record). */
            conn_read_frames(s, c, SERVER_DRAIN_FRAMES);
            if (!c->dead) {
                s->disconnects[METRICS_REASON_EXIT]++;
                conn_close(s, c);
            }
            next = s->conns; /* the list may have changed: rescan */
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
            bytesize_format(human, sizeof(human), bytes);
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
    size_t added = ledger_exit(&s->ledger, p, server_now_ns(CLOCK_REALTIME));
    server_keep_exits(s, added);
}

/* The loop's callback for a pidfd: its process has ended. */
static void server_on_pidfd(void *watch, uint32_t events)
{
    struct pidwatch *w = watch;
    struct server *s = w->server;
    (void)events;
    if (w->fd < 0)
        return; /* already handled in this batch */
    struct ledger_process *p = ledger_find(&s->ledger, w->pid);
    if (p != NULL && p->watch == w) {
        server_process_ended(s, p);
    } else {
        /* Not expected: a watch without its process. */
        server_retire_watch(s, w);
    }
}

struct pidwatch *server_watch_process(struct server *s, int pidfd, int32_t pid)
{
    struct pidwatch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->handler.on_ready = server_on_pidfd;
    w->handler.owner = w;
    w->server = s;
    w->fd = pidfd;
    w->pid = pid;
    if (evloop_add(&s->loop, pidfd, EPOLLIN, &w->handler) < 0) {
        free(w);
        return NULL;
    }
    return w;
}

void server_unwatch_process(struct server *s, struct pidwatch *w)
{
    evloop_remove(&s->loop, w->fd);
    free(w);
}

int server_pidfd_has_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

void server_arm_timer(struct server *s)
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

/* The loop's callback for the timerfd. */
static void server_on_timer(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
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
        struct conn *next = c->next; /* c may be closed below */
        if (c->state == CONN_HELLO && c->hello_deadline_ns <= now) {
            conn_kick_client(s, c, PROTO_ERR_MALFORMED, "no HELLO within 5 seconds");
        } else if (c->sub_interval_ms != 0 && c->sub_next_ns <= now) {
            uint64_t interval = (uint64_t)c->sub_interval_ms * 1000000ull;
            c->sub_next_ns += interval;
            if (c->sub_next_ns <= now)
                c->sub_next_ns = now + interval;
            if (!built) {
                /* One snapshot per tick, shared by every subscriber due. */
                if (dispatch_build_snapshot(s, &snap) < 0) {
                    log_warnx("out of memory building a snapshot");
                    reply_release(&snap);
                    break;
                }
                built = 1;
            }
            conn_send_reply(s, c, &snap);
        }
        c = next;
    }
    reply_release(&snap);
    server_arm_timer(s);
}

/* The loop's callback for the signalfd (SIGTERM, SIGINT). */
static void server_on_signal(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
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
        conn_close(s, s->conns);
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
    evloop_close(&s->loop);
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

/* The loop's callbacks for sysfs and SHM: the periodic re-read, and the SHM
 * directory changing. */
static void server_on_sources_timer(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
    sources_on_timer(&s->sources);
}

static void server_on_sources_inotify(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
    sources_on_inotify(&s->sources);
}

/* What /metrics renders: the server's merged view. */
static struct metrics_view server_metrics_view(struct server *s)
{
    struct metrics_view view = {&s->sources, &s->ledger, s->n_conns, s->disconnects, &s->exits};
    return view;
}

/* The loop's callback for the metrics daemon's descriptor. */
static void server_on_metrics(void *server, uint32_t events)
{
    struct server *s = server;
    (void)events;
    struct metrics_view view = server_metrics_view(s);
    metrics_run(&s->metrics, 1, &view);
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
    int loop_rc = evloop_init(&s->loop);
    if (s->sigfd < 0 || s->timerfd < 0 || loop_rc < 0) {
        snprintf(why, why_cap, "cannot set up the event loop: %s",
                 strerror(loop_rc < 0 ? -loop_rc : errno));
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

    s->listener_handler = (struct evloop_handler){conn_on_listener, s};
    s->signal_handler = (struct evloop_handler){server_on_signal, s};
    s->timer_handler = (struct evloop_handler){server_on_timer, s};
    s->sources_timer_handler = (struct evloop_handler){server_on_sources_timer, s};
    s->sources_inotify_handler = (struct evloop_handler){server_on_sources_inotify, s};
    if (evloop_add(&s->loop, s->listener.fd, EPOLLIN, &s->listener_handler) < 0 ||
        evloop_add(&s->loop, s->sigfd, EPOLLIN, &s->signal_handler) < 0 ||
        evloop_add(&s->loop, s->timerfd, EPOLLIN, &s->timer_handler) < 0 ||
        evloop_add(&s->loop, sources_timer_fd(&s->sources), EPOLLIN, &s->sources_timer_handler) <
            0 ||
        evloop_add(&s->loop, sources_inotify_fd(&s->sources), EPOLLIN,
                   &s->sources_inotify_handler) < 0) {
        snprintf(why, why_cap, "epoll_ctl: %s", strerror(errno));
        return -EIO;
    }
    if (config->metrics_addr != NULL) {
        rc = metrics_open(&s->metrics, config->metrics_addr,
                          config->metrics_top ? config->metrics_top : METRICS_DEFAULT_TOP, why,
                          why_cap);
        s->metrics_handler = (struct evloop_handler){server_on_metrics, s};
        if (rc == 0 &&
            evloop_add(&s->loop, metrics_fd(&s->metrics), EPOLLIN, &s->metrics_handler) < 0) {
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
    s.sigfd = s.timerfd = s.loop.epfd = s.spare_fd = -1;

    char why[256] = "";
    if (server_setup(&s, config, why, sizeof(why)) < 0) {
        server_teardown(&s);
        fatalx("%s", why);
    }
    log_info("listening on %s%s (tt-alloc %s, protocol %u)", s.listener.path,
             s.listener.activated ? " (from systemd)" : "", TTALLOC_VERSION_STRING, PROTO_VERSION);
    sd_notify(0, "READY=1");

    while (s.stop_signal == 0) {
        int n = evloop_wait(&s.loop, server_timeout_ms(&s));
        /* Events whose hold ran out are applied before anything reads. */
        ledger_release(&s.ledger, server_now_ns(CLOCK_MONOTONIC));
        dispatch_settle_faults(&s);
        dispatch_answer_flushes(&s);
        if (n < 0) {
            errno = -n;
            log_warn("epoll_wait");
            break;
        }
        evloop_dispatch(&s.loop);
        struct metrics_view view = server_metrics_view(&s);
        metrics_run(&s.metrics, 0, &view); /* its timeouts (runs only when one is due) */
        dispatch_settle_faults(&s);
        dispatch_answer_flushes(&s);
        dispatch_send_streams(&s);
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
