/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server_state.h - what the parts of tt-alloc-server share: the server's
 * state, a connection, a process's pidfd watch, and the calls between
 * server.c (setup, the loop, timers, process deaths), conn.c (accepting,
 * reading frames, queueing and sending answers, closing) and dispatch.c
 * (what each message does). Transport stays out of the handlers, as in
 * OpenSMTPD: dispatch.c reads parsed frames and queues answers through
 * conn.c, never a socket. Not a public interface: only these three files
 * include it.
 */
#ifndef TTALLOC_SERVER_STATE_H
#define TTALLOC_SERVER_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "evloop.h"
#include "exits_store.h"
#include "ledger.h"
#include "listener.h"
#include "metrics.h"
#include "outq.h"
#include "proto.h"
#include "reply.h"
#include "server.h"
#include "sources.h"
#include "stream.h"

/* Frames read from one connection per wake-up, so a flooding client cannot
 * starve the others (epoll is level-triggered: the rest waits a turn). */
#define SERVER_FRAMES_PER_WAKE 64
/* Connections accepted per wake-up of the listener. */
#define SERVER_ACCEPTS_PER_WAKE 32
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

struct server;

enum conn_state { CONN_HELLO, CONN_PRODUCER, CONN_CONSUMER };

struct conn {
    struct evloop_handler handler; /* conn_on_ready */
    struct server *server;
    struct conn *prev, *next; /* live list, or the graveyard (next only) */
    int fd;
    int pidfd;    /* held from accept until HELLO decides */
    int dead;     /* closed; freed after this batch */
    int want_out; /* EPOLLOUT is registered */
    enum conn_state state;
    int32_t pid; /* from the kernel */
    uint32_t uid;
    struct quota_user *user;              /* its uid's connection count (quota.h) */
    char name[TTALLOC_NAME_MAX];          /* /proc/<pid>/comm at accept */
    struct ledger_process *proc;          /* producers */
    struct ledger_stream *stream;         /* producers: its events in its process's merge */
    uint64_t flushes[SERVER_MAX_FLUSHES]; /* FLUSH tokens waiting for the merge, in order */
    unsigned n_flushes;
    struct outq out;
    uint32_t sub_interval_ms;   /* 0: not subscribed */
    uint64_t sub_next_ns;       /* CLOCK_MONOTONIC of its next snapshot */
    uint64_t hello_deadline_ns; /* CLOCK_MONOTONIC; closed if no HELLO by then */
    int streaming;              /* consumers: sent STREAM_REQ; `sub` is subscribed */
    struct stream_sub sub;
};

/* A tracked process's pidfd; readable once the process has ended. */
struct pidwatch {
    struct evloop_handler handler; /* server_on_pidfd */
    struct server *server;
    struct pidwatch *next_dead;
    int fd;
    int32_t pid;
};

struct server {
    const struct server_config *config;
    struct evloop loop;
    struct listener listener;
    struct evloop_handler listener_handler; /* conn_on_listener */
    int sigfd;
    struct evloop_handler signal_handler; /* SIGTERM, SIGINT */
    int timerfd;
    struct evloop_handler timer_handler; /* subscriptions, HELLO deadlines */
    uint64_t timer_armed_ns;             /* 0: disarmed */
    unsigned max_clients;                /* --max-clients, lowered to fit the fd limit */
    int spare_fd;                        /* closed to accept when out of fds */
    struct conn *conns;                  /* live connections */
    unsigned n_conns;
    struct conn *dead_conns;
    struct pidwatch *dead_watches;
    struct ledger ledger;
    struct sources sources;                        /* sysfs devices, TT-Metal SHM regions */
    struct evloop_handler sources_timer_handler;   /* the periodic re-read */
    struct evloop_handler sources_inotify_handler; /* the SHM directory changed */
    unsigned char *rxbuf;                          /* PROTO_MAX_FRAME + 1 bytes */
    uint64_t snap_seq;
    int32_t pid;
    int stop_signal;
    struct metrics metrics; /* --metrics; daemon NULL when off */
    struct evloop_handler metrics_handler;
    uint64_t disconnects[METRICS_NUM_REASONS];
    unsigned flushes_waiting; /* connections with n_flushes > 0 */
    struct exits_store exits; /* the leak history, kept across restarts */
    struct stream stream;     /* the event stream's subscribers (tt-alloc-record) */
};

/* ---- server.c ---- */

uint64_t server_now_ns(clockid_t clock);
/* Re-arm the timer for the earliest subscription or HELLO deadline. */
void server_arm_timer(struct server *s);
/* Start watching process pid's pidfd (the watch takes it). NULL: out of memory or epoll. */
struct pidwatch *server_watch_process(struct server *s, int pidfd, int32_t pid);
/* Undo server_watch_process before the watch was given to a process; the pidfd stays open. */
void server_unwatch_process(struct server *s, struct pidwatch *w);
int server_pidfd_has_exited(int pidfd);
/* Process p has ended: read what its connections still hold, close them,
 * report leaks, and take it out of the ledger. */
void server_process_ended(struct server *s, struct ledger_process *p);

/* ---- conn.c ---- */

void conn_on_listener(void *server, uint32_t events);
void conn_close(struct server *s, struct conn *c);
void conn_hangup(struct server *s, struct conn *c);
int conn_flush(struct server *s, struct conn *c);
int conn_send_reply(struct server *s, struct conn *c, const struct reply *r);
int conn_send_frame(struct server *s, struct conn *c, enum proto_msg_type type, const void *payload,
                    size_t len);
void conn_kick_producer(struct server *s, struct conn *c, enum proto_error_code code,
                        const char *text);
void conn_kick_client(struct server *s, struct conn *c, enum proto_error_code code,
                      const char *text);
void conn_read_frames(struct server *s, struct conn *c, size_t max_frames);

/* ---- dispatch.c ---- */

/* One parsed frame from c. */
void dispatch_frame(struct server *s, struct conn *c, const struct proto_header *hdr,
                    const void *payload);
/* Kick the producer c for rc (a ledger error) caused by event bad. */
void dispatch_producer_fault(struct server *s, struct conn *c, int rc,
                             const struct proto_event *bad);
void dispatch_settle_faults(struct server *s);
void dispatch_answer_flushes(struct server *s);
/* End of a loop turn: queue what the stream gathered and send it. */
void dispatch_send_streams(struct server *s);
int dispatch_build_snapshot(struct server *s, struct reply *r);

#endif /* TTALLOC_SERVER_STATE_H */
