/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_stream.h - tt-alloc-record's side of the server's event stream:
 * connect (ttalloc_connect does the HELLO and the socket search), ask for
 * the stream (STREAM_REQ), and turn each frame into records of the .ttrec
 * file (ttrec.h), keeping only the processes the filter keeps.
 *
 * Every frame is checked by proto_parse_frame before it is read; a record
 * of an unknown kind, a live state whose count does not match, or an ERROR
 * from the server ends the stream with a message (record_stream.error).
 * A live state is held until its LIVE_END, so the file gets the count of
 * the buffers it keeps, not the server's.
 */
#ifndef TTALLOC_RECORD_STREAM_H
#define TTALLOC_RECORD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "record_filter.h"
#include "ttalloc.h"
#include "ttrec.h"

struct record_stream {
    ttalloc_conn *conn;
    int fd;
    unsigned char *rx;           /* PROTO_MAX_FRAME + 1 bytes */
    struct ttrec_writer *writer; /* NULL: read and drop (before the file, or after an error) */
    struct record_filter *filter;
    uint64_t realtime_offset_ns;      /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
    struct proto_stream_record *live; /* the live state being received (kept buffers) */
    size_t n_live, cap_live;
    uint64_t live_expected; /* LIVE_BEGIN's count; records still to come */
    uint64_t live_time;
    int in_live;
    int first_state_done;       /* the first live state is complete */
    int root_seen, root_exited; /* the filter's root process in the stream */
    uint64_t gaps;              /* GAP records */
    uint64_t lost;              /* events the server dropped for us */
    int write_error;            /* the writer's first error (negative errno), 0 */
    char error[256];            /* why the stream ended, "" while it runs */
};

/* Connect and say HELLO (socket_path NULL: TT_ALLOC_SOCKET or the defaults).
 * Returns 0, or a negative errno (-ENOENT, -ECONNREFUSED: no server) with a
 * message in error. */
int record_stream_open(struct record_stream *rs, const char *socket_path,
                       struct record_filter *filter);

/* The path of the server's socket (after a successful open). */
const char *record_stream_path(const struct record_stream *rs);

/* Send STREAM_REQ and wait (up to timeout_ms) for the server's first answer.
 * Returns 0 when the stream has started (the caller may now create the
 * file), or a negative errno with a message in error (the server refused,
 * went away, or said nothing in time). */
int record_stream_start(struct record_stream *rs, int timeout_ms);

/* Records from now on go to w (time 0 of the file: start). */
void record_stream_attach(struct record_stream *rs, struct ttrec_writer *w,
                          const struct ttrec_start *start);

/* Read and record what the socket holds, at most max_frames. Returns the
 * number of frames read (0: nothing waiting), or -EPIPE when the server
 * closed the stream, -EPROTO for a frame that does not parse or an ERROR
 * (the message is in error). */
int record_stream_read(struct record_stream *rs, size_t max_frames);

void record_stream_close(struct record_stream *rs);

#endif /* TTALLOC_RECORD_STREAM_H */
