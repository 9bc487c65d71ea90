/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exits_store.h - the leak history: processes that ended with buffers still
 * live (one ttalloc_exit per process and device), bounded by count and age,
 * kept in a small state file so it survives the server's own restart, and
 * the bytes leaked per uid since the history began (a Prometheus counter).
 *
 * The file is written atomically (a temporary file in the same directory,
 * then rename) with mode 0600. A file that is not a regular file owned by the
 * server's user, is writable by group or others, or does not parse (wrong
 * magic, version or size, a bad checksum, a record that makes no sense) is
 * refused with one log line; the server then starts with an empty history and
 * replaces the file on the next save. Nothing in it can crash the server.
 */
#ifndef TTALLOC_EXITS_STORE_H
#define TTALLOC_EXITS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"

#define EXITS_STORE_DEFAULT_MAX 256u            /* records kept */
#define EXITS_STORE_LIMIT_MAX 100000u           /* most records --exits-max allows */
#define EXITS_STORE_DEFAULT_AGE_S (7u * 86400u) /* a week */
#define EXITS_STORE_MAX_UIDS 4096u              /* uids with a leaked-bytes counter */
#define EXITS_STORE_FILE "tt-alloc-exits.state" /* beside the socket by default */

/* Bytes leaked by one uid's processes, per memory type, since the history began. */
struct exits_uid_total {
    uint32_t uid;
    uint32_t reserved;
    uint64_t bytes[TTALLOC_NUM_TYPES];
};

struct exits_store {
    char *path; /* NULL: kept in memory only */
    size_t max_records;
    uint64_t max_age_ns;
    struct ttalloc_exit *records; /* oldest first */
    size_t n_records;
    struct exits_uid_total *uids; /* ascending uid */
    size_t n_uids;
    int dirty;             /* changed since the last save */
    uint64_t last_save_ns; /* CLOCK_MONOTONIC */
    int save_failing;      /* the last save failed (logged once) */
};

/* Set up the store and load `path` (NULL: memory only). max_records and
 * max_age_s of 0 take the defaults. Never fails for a bad file (it is
 * refused and logged); returns -ENOMEM only. */
int exits_store_open(struct exits_store *s, const char *path, size_t max_records,
                     uint64_t max_age_s, uint64_t now_realtime_ns);

/* Add n records of processes that just ended, count their bytes for their
 * uid, drop what is over the bounds and save (at most once a second; the
 * rest is left to exits_store_tick). */
void exits_store_add(struct exits_store *s, const struct ttalloc_exit *records, size_t n,
                     uint64_t now_realtime_ns, uint64_t now_monotonic_ns);

/* Called from the event loop: age out old records, and save if a change is
 * waiting and the last save is a second old. */
void exits_store_tick(struct exits_store *s, uint64_t now_realtime_ns, uint64_t now_monotonic_ns);

/* Save now if anything changed (at shutdown). Returns 0 or a negative errno. */
int exits_store_flush(struct exits_store *s);

void exits_store_close(struct exits_store *s);

/* The default state file for a server listening on socket_path: the same
 * directory, EXITS_STORE_FILE. Returns 0, or -ENAMETOOLONG. */
int exits_store_default_path(const char *socket_path, char *out, size_t cap);

#endif /* TTALLOC_EXITS_STORE_H */
