/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.h - the wire protocol between libttalloc and tt-alloc-server.
 *
 * Transport: a Unix SOCK_SEQPACKET socket, so every send() is one frame and
 * boundaries are kept by the kernel. A frame is a proto_header followed by
 * `length` payload bytes; no frame exceeds PROTO_MAX_FRAME. Native byte order
 * (both ends are on one host). Every struct here has a fixed size, checked at
 * compile time in proto.c; docs/PROTOCOL.md draws each byte layout.
 *
 * Conversation: the client sends HELLO first; the server answers HELLO_ACK or
 * ERROR (a version mismatch names both versions) and closes on error.
 * Producers then send DEVICE_DESC, EVENTS, RESYNC_BEGIN/EVENTS.../RESYNC_END
 * and FLUSH (answered by FLUSH_ACK once everything before it is applied).
 * Consumers send SNAPSHOT_REQ, SUBSCRIBE, BUFFERS_REQ, EXITS_REQ and
 * STREAM_REQ (the event stream, for tt-alloc-record); answers
 * arrive as a run of frames closed by an *_END frame.
 */
#ifndef TTALLOC_PROTO_H
#define TTALLOC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"

#define PROTO_MAGIC 0x4c415454u /* "TTAL" in little-endian memory order */
#define PROTO_VERSION 2u        /* 2: events carry a timestamp; RESET_PEAK */
#define PROTO_MAX_FRAME 65536u  /* header included */

enum proto_msg_type {
    PROTO_HELLO = 1,
    PROTO_HELLO_ACK = 2,
    PROTO_ERROR = 3,

    /* producer -> server */
    PROTO_DEVICE_DESC = 10,
    PROTO_EVENTS = 11,
    PROTO_RESYNC_BEGIN = 12,
    PROTO_RESYNC_END = 13,
    PROTO_FLUSH = 14,
    PROTO_PEAKS = 16,
    /* server -> producer */
    PROTO_FLUSH_ACK = 15,

    /* consumer -> server */
    PROTO_SNAPSHOT_REQ = 20,
    PROTO_SUBSCRIBE = 21,
    PROTO_BUFFERS_REQ = 22,
    PROTO_EXITS_REQ = 23,
    PROTO_STREAM_REQ = 24,

    /* server -> consumer */
    PROTO_SNAP_BEGIN = 30,
    PROTO_SNAP_DEVICES = 31,
    PROTO_SNAP_PROCESSES = 32,
    PROTO_SNAP_USAGE = 33,
    PROTO_SNAP_END = 34,
    PROTO_BUFFERS = 35,
    PROTO_BUFFERS_END = 36,
    PROTO_EXITS = 37,
    PROTO_EXITS_END = 38,
    /* server -> consumer: the event stream (after STREAM_REQ) */
    PROTO_STREAM_EVENTS = 40,
    PROTO_STREAM_PROCESS = 41,
    PROTO_STREAM_DEVICE = 42,
};

struct proto_header {
    uint16_t type;   /* enum proto_msg_type */
    uint16_t flags;  /* 0 */
    uint32_t length; /* payload bytes after this header */
};

enum proto_role { PROTO_ROLE_PRODUCER = 1, PROTO_ROLE_CONSUMER = 2 };

struct proto_hello {
    uint32_t magic;      /* PROTO_MAGIC */
    uint16_t version;    /* PROTO_VERSION */
    uint16_t role;       /* enum proto_role */
    int32_t claimed_pid; /* informational only: the server uses the kernel's word */
    uint32_t reserved;
    char label[TTALLOC_LABEL_MAX]; /* NUL-padded */
};

struct proto_hello_ack {
    uint32_t magic;
    uint16_t version;
    uint16_t reserved;
    int32_t server_pid;
    int32_t peer_pid; /* the PID the server attributes this connection to */
    uint32_t peer_uid;
    uint32_t reserved2;
    char server_version[32];
};

/* ERROR: proto_error then `length - sizeof(struct proto_error)` bytes of text (no NUL). */
enum proto_error_code {
    PROTO_ERR_VERSION = 1,   /* incompatible protocol version */
    PROTO_ERR_MALFORMED = 2, /* a frame that does not parse */
    PROTO_ERR_LIMIT = 3,     /* over a configured limit */
    PROTO_ERR_ROLE = 4,      /* a message the connection's role may not send */
};

struct proto_error {
    uint32_t code; /* enum proto_error_code */
    uint32_t reserved;
};

struct proto_device_desc {
    uint32_t device;
    uint32_t reserved;
    struct ttalloc_device_desc desc;
};

/* RESET_PEAK resets the sending process's peaks at its place in the stream
 * (address, size, device and type are 0). */
enum proto_event_op { PROTO_OP_ALLOC = 1, PROTO_OP_FREE = 2, PROTO_OP_RESET_PEAK = 3 };

/* EVENTS payload: an array of these; BUFFERS uses struct ttalloc_buffer. */
struct proto_event {
    uint64_t address;
    uint64_t size; /* 0 for a free */
    uint32_t device;
    uint8_t type; /* enum ttalloc_buffer_type */
    uint8_t op;   /* enum proto_event_op */
    uint16_t reserved;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC, taken inside the record call */
};

/* RESYNC_BEGIN has no payload: the server forgets this process's buffers; the
 * EVENTS (all ALLOC) that follow are its full list; RESYNC_END closes it and
 * carries the sums so the server can check it got them all. */
struct proto_resync_end {
    uint64_t buffers;
    uint64_t bytes;
};

/* PEAKS: an array of these, sent only inside a resync (after its EVENTS,
 * before RESYNC_END): this process's peaks as the library counted them since
 * the process started or its last reset. The server keeps, per (device,
 * type), the larger of its own figure and this one for this process only;
 * device-wide peaks never take a client's word. */
struct proto_peak {
    uint32_t device;
    uint8_t type; /* enum ttalloc_buffer_type */
    uint8_t reserved[3];
    uint64_t peak_bytes;
};

struct proto_flush {
    uint64_t token; /* echoed in FLUSH_ACK */
};

struct proto_subscribe {
    uint32_t interval_ms; /* 0 stops the subscription */
    uint32_t reserved;
};

/* STREAM_REQ: from now on, send this connection every change the server
 * applies, in the order it applies them (tt-alloc-record). It is answered
 * by STREAM_DEVICE and STREAM_PROCESS frames for what is known now, then a
 * STREAM_EVENTS frame holding the live state (LIVE_BEGIN, LIVE_BUFFER...,
 * LIVE_END), then STREAM_* frames as things happen, until the connection
 * closes. A consumer that is not root sees only processes of its own uid. */
struct proto_stream_req {
    uint32_t flags; /* 0 */
    uint32_t reserved;
};

/* What one record of a STREAM_EVENTS frame says. */
enum proto_stream_kind {
    PROTO_STREAM_ALLOC = 1,      /* pid device type address size */
    PROTO_STREAM_FREE = 2,       /* pid device type address size (of the freed buffer) */
    PROTO_STREAM_RESET_PEAK = 3, /* pid reset its peaks */
    PROTO_STREAM_EXIT = 4,       /* pid ended; its live buffers were left behind */
    PROTO_STREAM_GAP = 5,        /* size: events this consumer lost; a live state follows */
    PROTO_STREAM_LIVE_BEGIN = 6, /* size: LIVE_BUFFER records that follow */
    PROTO_STREAM_LIVE_BUFFER =
        7,                     /* pid device type address size; timestamp 0 (alloc time unknown) */
    PROTO_STREAM_LIVE_END = 8, /* the live state is complete */
};

/* STREAM_EVENTS payload: an array of these. */
struct proto_stream_record {
    uint64_t address;
    uint64_t size;
    uint32_t device;
    uint8_t type; /* enum ttalloc_buffer_type */
    uint8_t kind; /* enum proto_stream_kind */
    uint16_t reserved;
    int32_t pid;
    uint32_t reserved2;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC: the event's (clamped) time, else when it was sent */
};

/* STREAM_PROCESS: a process the server tracks (sent when it first connects,
 * and for every tracked process when the stream starts). */
struct proto_stream_process {
    int32_t pid;
    uint32_t uid;
    int32_t parent_pid; /* 0 = unknown */
    uint32_t reserved;
    uint64_t start_realtime_ns;    /* CLOCK_REALTIME when the server first saw it */
    uint64_t timestamp_ns;         /* CLOCK_MONOTONIC now */
    char name[TTALLOC_NAME_MAX];   /* NUL-padded */
    char label[TTALLOC_LABEL_MAX]; /* NUL-padded, "" = none */
};

/* STREAM_DEVICE: a device's description, as an app gave it and the server
 * applied it. */
struct proto_stream_device {
    uint32_t device;
    uint32_t reserved;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC */
    struct ttalloc_device_desc desc;
};

struct proto_buffers_req {
    int32_t pid;
    uint32_t max;
};

/* SNAP_BEGIN starts a snapshot; SNAP_DEVICES, SNAP_PROCESSES and SNAP_USAGE
 * frames carry arrays of ttalloc_device_stats, ttalloc_process_info and
 * ttalloc_usage (several frames each when they do not fit one); SNAP_END (no
 * payload) closes it. The counts say how many records will follow. */
struct proto_snap_begin {
    uint64_t seq;
    uint64_t timestamp_ns;
    uint64_t events_total;
    uint64_t exits_total;
    uint64_t leaked_exits_total;
    uint32_t n_devices;
    uint32_t n_processes;
    uint32_t n_usage;
    uint32_t clients;
    int32_t server_pid;
    uint32_t reserved;
};

/* ---- helpers shared by both ends ---- */

/* Largest number of records of `record_size` bytes that fit one frame. */
static inline size_t proto_records_per_frame(size_t record_size)
{
    return (PROTO_MAX_FRAME - sizeof(struct proto_header)) / record_size;
}

/* Check a received frame of `len` bytes: a whole header, a payload length
 * that matches, a known type, and a payload size the type allows. Returns 0
 * and sets *hdr_out and *payload_out, or -EBADMSG with a short explanation
 * for the log in why (why_cap bytes; may be NULL), as every function of
 * the tree that explains a failure does. */
int proto_parse_frame(const void *buf, size_t len, struct proto_header *hdr_out,
                      const void **payload_out, char *why, size_t why_cap);

/* Size of one record for array-carrying types (EVENTS, SNAP_*, BUFFERS,
 * EXITS); 0 for others. */
size_t proto_record_size(enum proto_msg_type type);

/* Fill a frame header. Returns the frame's total size. */
size_t proto_put_header(void *buf, enum proto_msg_type type, uint32_t payload_len);

/* Build an ERROR frame in buf (capacity cap) with printf-style text.
 * Returns the frame size. */
size_t proto_put_error(void *buf, size_t cap, enum proto_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A HELLO for the given role and label (label may be NULL). */
void proto_make_hello(struct proto_hello *hello, enum proto_role role, const char *label);

/* Check a HELLO payload of len bytes (as proto_parse_frame gave it) and copy
 * it to *out: 0, or -EPROTO with an explanation in why (why_cap bytes) that names
 * both versions on a mismatch. */
int proto_check_hello(const void *payload, size_t len, struct proto_hello *out, char *why,
                      size_t why_cap);

const char *proto_type_name(enum proto_msg_type type);

#endif /* TTALLOC_PROTO_H */
