/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.h - tt-alloc-server's event loop: one thread, one epoll set holding
 * the listening socket, every client connection, one pidfd per tracked
 * process (death detection), a timerfd for subscriptions and a signalfd for
 * SIGTERM/SIGINT. Everything is non-blocking; no client can make it wait.
 */
#ifndef TTALLOC_SERVER_H
#define TTALLOC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "quota.h"

struct server_config {
    const char *socket_path;     /* NULL: TT_ALLOC_SOCKET or the default list */
    const char *sysroot;         /* NULL or "/": the real system */
    unsigned max_clients;        /* connections at once */
    size_t max_buffers;          /* live buffers per process */
    size_t max_queue;            /* bytes queued to one client before it is dropped */
    const char *metrics_addr;    /* NULL: no Prometheus endpoint; else "ADDR:PORT" */
    unsigned metrics_top;        /* processes shown by PID in the metrics (0: default) */
    unsigned order_hold_ms;      /* merge hold of a process's connections (0: default) */
    struct quota_limits per_uid; /* caps per uid (0 = unlimited); root has none */
    const char *state_path;      /* leak history file; NULL: beside the socket */
    size_t exits_max;            /* leak records kept (0: default) */
    uint64_t exits_max_age_s;    /* and for how long (0: default) */
};

#define SERVER_DEFAULT_MAX_CLIENTS 1024u
#define SERVER_DEFAULT_MAX_QUEUE (8u * 1024u * 1024u)

/* Run until SIGTERM or SIGINT. Returns the process exit status: 0 after a
 * clean stop, 1 when the server could not start (the reason is logged). */
int server_run(const struct server_config *config);

#endif /* TTALLOC_SERVER_H */
