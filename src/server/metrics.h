/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - tt-alloc-server's Prometheus endpoint (`--metrics ADDR:PORT`):
 * the text exposition format (version 0.0.4) rendered from the same merged
 * view a snapshot has (the ledger's records plus sysfs devices and TT-Metal's
 * SHM statistics: sources_snapshot), and the libmicrohttpd daemon that serves
 * it inside the server's own epoll loop.
 *
 * No thread: MHD runs in MHD_USE_EPOLL mode; its epoll fd sits in the
 * server's epoll set, and the server calls metrics_run() when that fd is
 * readable or metrics_timeout_ms() has passed. The page is rendered in the
 * loop, from the same single-threaded state every other answer comes from,
 * so it is consistent by construction. docs/fleet.md says why.
 *
 * The rendering (metrics_render) is pure, for the unit tests.
 */
#ifndef TTALLOC_METRICS_H
#define TTALLOC_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "strbuf.h"
#include "sysfs.h"
#include "ttalloc.h"

struct ledger;
struct sources;
struct exits_store;
struct exits_uid_total;

/* Why the server closed a client connection: ttalloc_client_disconnects_total{reason}. */
enum metrics_reason {
    METRICS_REASON_EOF,       /* the client hung up (or its socket failed) */
    METRICS_REASON_MALFORMED, /* bad frame, bad event, no HELLO in time */
    METRICS_REASON_VERSION,   /* another protocol version */
    METRICS_REASON_ROLE,      /* a message of the other role */
    METRICS_REASON_LIMIT,     /* a server limit (buffers, devices, memory, interval) */
    METRICS_REASON_SLOW,      /* its answers piled up past --max-queue */
    METRICS_REASON_EXIT,      /* its process ended */
    METRICS_NUM_REASONS
};

#define METRICS_DEFAULT_TOP 20u

/* The label value of a reason ("eof", "malformed", ...). */
const char *metrics_reason_name(enum metrics_reason reason);

/* Append `value` as a label value: \ " and newline escaped, bytes that are
 * not valid UTF-8 replaced by U+FFFD (the format requires UTF-8). */
void metrics_buf_label(struct strbuf *b, const char *value);

/* Everything one page is rendered from: a snapshot's records (as
 * sources_snapshot builds them: ledger + sysfs + SHM-only processes and
 * remote chips), sysfs telemetry, and the server's counters. */
struct metrics_input {
    const struct ttalloc_device_stats *devices; /* ascending device; one row each on the page */
    size_t n_devices;
    const struct ttalloc_process_info *processes; /* ascending pid */
    size_t n_processes;
    const struct ttalloc_usage *usage; /* ascending (pid, device) */
    size_t n_usage;
    const struct sysfs_device *devs; /* telemetry and identity by ordinal, ascending
                                           index; may be NULL */
    size_t n_devs;
    unsigned clients;      /* connections now */
    uint64_t events_total; /* the ledger's counters */
    uint64_t exits_total;
    uint64_t leaked_exits_total;
    const uint64_t *disconnects;          /* [METRICS_NUM_REASONS]; NULL = all 0 */
    const struct exits_uid_total *leaked; /* bytes leaked per uid, ascending uid */
    size_t n_leaked;
    unsigned top; /* processes shown by PID; the rest are "other" */
};

/* Render the whole page into out (appended). Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics_input *in, struct strbuf *out);

/* "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", "[::]:9464": numeric only,
 * port 1-65535. Returns 0 or -EINVAL. */
int metrics_parse_addr(const char *text, struct sockaddr_storage *out, socklen_t *len);

/* ---- the endpoint ---- */

struct MHD_Daemon;

/* What a scrape renders: the server's state, lent to metrics_run for the
 * length of one run (metrics keeps no pointer into the server). */
struct metrics_view {
    const struct sources *sources; /* sysfs devices (telemetry), SHM regions */
    const struct ledger *ledger;
    unsigned clients;                /* connections now */
    const uint64_t *disconnects;     /* [METRICS_NUM_REASONS] */
    const struct exits_store *exits; /* the leak history; NULL: none */
};

/* Limits of the endpoint against idle floods and slow clients. */
#define METRICS_MAX_CONNECTIONS 128u     /* at once, all addresses */
#define METRICS_PER_ADDR_CONNECTIONS 64u /* at once, from one address: half the total */
#define METRICS_CONN_TIMEOUT_S 10u       /* idle seconds before a connection is closed */

struct metrics {
    struct MHD_Daemon *daemon;
    int epoll_fd;         /* MHD's; registered by the caller */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC of MHD's next timeout; 0 = none */
    unsigned top;
    const struct metrics_view *view; /* during metrics_run only */
    uint64_t scrapes;
};

/* Listen on addr (exclusively: a port another process listens on is an
 * error naming the port) and serve /metrics. Each scrape renders
 * sources_snapshot(view) with the sources' sysfs telemetry (as fresh as
 * their last scan, every 2 s). Returns 0, or a negative errno with the
 * reason in why. */
int metrics_open(struct metrics *m, const char *addr, unsigned top, char *why, size_t why_cap);

/* The fd to watch for EPOLLIN, or -1 when closed. */
int metrics_fd(const struct metrics *m);

/* Milliseconds until MHD wants to run although its fd is quiet (a
 * connection's timeout, a connection with data already buffered); -1 for
 * none. Pass the smallest such value to epoll_wait. */
int metrics_timeout_ms(struct metrics *m);

/* Let MHD do its work: accept, read, answer, time out. Never blocks.
 * `readable`: its fd fired; 0: run only if its timeout has passed. Pages
 * are rendered from view. When connections closed during the run, MHD runs
 * once more, so a listener it paused at its connection limit is watched
 * again at once (else it would wait for an event that never comes). */
void metrics_run(struct metrics *m, int readable, const struct metrics_view *view);

void metrics_close(struct metrics *m);

#endif /* TTALLOC_METRICS_H */
