/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ledger.h - the server's accounting: who holds which device buffers.
 *
 * Pure bookkeeping, no I/O and no clock: the caller passes times in and does
 * the logging. Per process (keyed by the kernel's PID) a buftable of live
 * buffers and, per device it touched, bytes/buffers/peak per memory type; per
 * device, used/peak per type, buffer and process counts, and what an app
 * described about it; a bounded ring of recent exits that left buffers behind
 * (the leak report).
 *
 * Sums never wrap: one process's live bytes of one type on one device are
 * at most LEDGER_MAX_BYTES (no board has 1 TiB of any kind), and an alloc
 * past that is refused as implausible. The bound is on the sender's own
 * figure only, so what it refuses never depends on other processes; every
 * other total is a sum of such figures over at most 2^22 processes (the
 * kernel's PID_MAX_LIMIT) and cannot reach 2^64. Frees of unknown buffers
 * and allocs of live keys are counted, never fatal.
 *
 * Per-uid caps (live buffers, distinct devices) are quota.h's; each process
 * points at its user's record. Device entries no process uses any more
 * (no usage record with a live buffer, no live describer) are swept when the
 * table is full, so the table never stays full.
 *
 * Order: a process may send events over several connections (streams). The
 * ledger applies each process's events in timestamp order: a stream's events
 * wait in the process's merge queue until every other stream of the process
 * has sent an event at least as late, or until they are `hold_ns` old by the
 * caller's clock, whichever comes first (docs/tt-alloc-server.md, "Order and
 * peaks"). A process with one stream is applied at once. Timestamps a client
 * cannot have taken (later than the caller's now, earlier than that stream's
 * previous one, earlier than what the merge already applied) are clamped and
 * counted per process; they reorder only that process's own events.
 */
#ifndef TTALLOC_LEDGER_H
#define TTALLOC_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "buftable.h"
#include "proto.h"
#include "quota.h"
#include "ttalloc.h"

struct ledger_limits {
    size_t max_buffers; /* live buffers per process */
    size_t max_devices; /* distinct device ids, all processes together */
    size_t exit_ring;   /* exit records kept (one per process and device) */
    uint64_t hold_ns;   /* longest an event waits for the other streams of its process */
    const struct quota_limits *per_uid; /* NULL: quota.h's defaults */
};

#define LEDGER_DEFAULT_MAX_BUFFERS (4u * 1024u * 1024u)
#define LEDGER_DEFAULT_MAX_DEVICES 256u
#define LEDGER_DEFAULT_EXIT_RING 256u
#define LEDGER_DEFAULT_HOLD_NS 10000000ull /* 10 ms */
/* Most live bytes one process holds of one type on one device (1 TiB). */
#define LEDGER_MAX_BYTES (1ull << 40)

/* One process's use of one device. */
struct ledger_usage {
    uint32_t device;
    uint32_t reserved;
    struct ledger_device *dev;
    uint64_t bytes[TTALLOC_NUM_TYPES];
    uint64_t peak[TTALLOC_NUM_TYPES];
    uint64_t buffers[TTALLOC_NUM_TYPES];
    uint64_t total_buffers; /* sum of buffers[] */
};

struct ledger_device {
    struct ttalloc_device_stats stats; /* as queries report it (processes: with live buffers) */
    uint32_t usages;                   /* usage records pointing here */
    int32_t described_by;              /* pid of its describer (kept while alive) */
};

/* Timestamps a process sent that it cannot have taken, clamped (per process). */
struct ledger_order_counters {
    uint64_t future;    /* later than the server's clock at arrival */
    uint64_t backwards; /* earlier than the same stream's previous event */
    uint64_t late;      /* earlier than what the merge already applied */
};

/* An event waiting in a process's merge queue. */
struct ledger_pending {
    struct proto_event ev; /* timestamp_ns clamped */
    uint64_t seq;          /* arrival order: breaks ties of equal timestamps */
};

/* One connection's stream of events, in the process it belongs to. */
struct ledger_stream {
    struct ledger_process *proc;
    uint64_t watermark; /* its latest timestamp (clamped), once it sent one */
    uint64_t position;  /* where its latest event was queued: the watermark,
                                           or later when that was behind the merge */
    int has_watermark;
    int in_resync; /* between RESYNC_BEGIN and RESYNC_END */
};

struct ledger_process {
    int32_t pid;
    uint32_t uid;
    uint64_t start_ns;
    unsigned connections;    /* producer connections attached */
    void *watch;             /* the caller's (its pidfd watch); the ledger only keeps it */
    struct quota_user *user; /* its uid's record */
    char name[TTALLOC_NAME_MAX];
    char label[TTALLOC_LABEL_MAX];
    struct buftable table; /* live buffers */
    uint64_t bytes;        /* live bytes, all devices and types */
    uint64_t peak_bytes;
    struct ledger_usage *usage; /* ascending device */
    size_t n_usage;
    size_t cap_usage;
    size_t last_usage;              /* index of the last usage touched (a cache) */
    struct ledger_stream **streams; /* its open streams */
    size_t n_streams;
    size_t cap_streams;
    struct ledger_pending *pending; /* merge queue: a min-heap by (timestamp, seq) */
    size_t n_pending;
    size_t cap_pending;
    uint64_t next_seq;
    uint64_t applied_ns;                /* timestamp of the last event the merge applied */
    struct ledger_order_counters order; /* clamped timestamps */
    int order_reported;                 /* the caller logged its clamped timestamps */
    int fault;                          /* negative errno: an event could not be applied */
    struct proto_event fault_event;     /* ... this one */
};

/* Counters of odd but tolerated input, for logs and tests. */
struct ledger_counters {
    uint64_t events_total;       /* events applied */
    uint64_t exits_total;        /* tracked processes that ended */
    uint64_t leaked_exits_total; /* ... with buffers still live */
    uint64_t unknown_frees;      /* frees of buffers that were not live */
    uint64_t live_reallocs;      /* allocs of keys that were live */
    uint64_t resync_mismatches;  /* RESYNC_END sums that did not match */
    uint64_t dropped_buffers;    /* buffers forgotten by ledger_forget */
    uint64_t peak_resets;        /* RESET_PEAK events applied */
    uint64_t clamped_timestamps; /* all processes' ledger_order_counters together */
    uint64_t swept_devices;      /* device entries dropped when unused */
};

/* Told of every change to live buffers the ledger makes, in the order it
 * makes them: the server's event stream (stream.h) hangs here. */
struct ledger_watcher {
    void *ctx;
    /* ev (ALLOC, FREE or RESET_PEAK, timestamp clamped) was applied to p;
     * size is the buffer's (for a FREE, the freed buffer's). Frees of
     * buffers that were not live change nothing and are not told. */
    void (*applied)(void *ctx, const struct ledger_process *p, const struct proto_event *ev,
                    uint64_t size);
    /* Every live buffer of p is about to be dropped without a free (a kicked
     * producer, a resync); not at its exit (ledger_exit). */
    void (*dropping)(void *ctx, const struct ledger_process *p);
    /* p has ended: everything it sent is applied, and what it still holds
     * (its leaks) is about to be dropped. */
    void (*exiting)(void *ctx, const struct ledger_process *p);
};

struct ledger {
    struct ledger_limits limits;
    const struct ledger_watcher *watcher; /* NULL: nobody watches (no cost) */
    struct ledger_process **procs;        /* ascending pid */
    size_t n_procs;
    size_t cap_procs;
    struct ledger_device **devs; /* ascending device id */
    size_t n_devs;
    size_t cap_devs;
    struct ttalloc_exit *exits; /* ring of limits.exit_ring records */
    size_t exit_first;          /* index of the oldest */
    size_t n_exits;
    uint64_t live_buffers; /* all processes */
    size_t pending_events; /* in every merge queue */
    size_t faulted;        /* processes whose fault is set */
    struct quota quota;    /* per uid */
    size_t sweepable;      /* usage records emptied since the last sweep */
    struct ledger_counters counters;
};

/* limits may be NULL for the defaults; a zero field takes its default. */
int ledger_init(struct ledger *l, const struct ledger_limits *limits);
void ledger_destroy(struct ledger *l);

/* Watch changes (NULL: stop); w must outlive the watch. */
void ledger_set_watcher(struct ledger *l, const struct ledger_watcher *w);

/* The process with this PID, or NULL. */
struct ledger_process *ledger_find(const struct ledger *l, int32_t pid);

/* Find or create the process `pid` and count one more connection on it.
 * name and label may be NULL; a non-empty label replaces the old one.
 * Returns 0 and *out, or -ENOMEM. A new process has watch NULL. A process
 * keeps the uid it was created with. */
int ledger_attach(struct ledger *l, int32_t pid, uint32_t uid, const char *name, const char *label,
                  uint64_t now_ns, struct ledger_process **out);

/* One connection of p went away; p stays until ledger_exit. */
void ledger_detach(struct ledger *l, struct ledger_process *p);

/* Apply n events of process p, in order. Returns 0, or stops at the first
 * event it cannot apply and sets *done to how many were applied:
 * -EINVAL a malformed event (unknown type or op, alloc of size 0, a total
 * past LEDGER_MAX_BYTES), -E2BIG p is at limits.max_buffers, -EDQUOT p's
 * uid is at its live-buffer cap, -EXFULL a new device past p's uid's device
 * cap, -ENOSPC a new device past limits.max_devices (after a sweep),
 * -ENOMEM. done may be NULL. */
int ledger_apply_events(struct ledger *l, struct ledger_process *p,
                        const struct proto_event *events, size_t n, size_t *done);

/* What process `pid` says about a device, applied to the device's record
 * (the caller decides whether pid may: see docs/SECURITY.md). The entry is
 * kept while pid lives. Returns 0, -ENOSPC or -ENOMEM. */
int ledger_describe(struct ledger *l, int32_t pid, uint32_t device,
                    const struct ttalloc_device_desc *desc);

/* Drop every usage record without live buffers and every device entry no
 * usage record and no live describer needs. Returns how many device entries
 * were dropped. Runs by itself when a table is full. */
size_t ledger_sweep(struct ledger *l);

/* ---- order: a process's streams merged by timestamp ---- */

/* A new stream (connection) of p. Returns 0 and *out, or -ENOMEM. */
int ledger_stream_open(struct ledger *l, struct ledger_process *p, struct ledger_stream **out);

/* The stream ended; what it sent still counts, and no longer waits for it. */
void ledger_stream_close(struct ledger *l, struct ledger_stream *s, uint64_t now_ns);

/* n events from stream s, taken at now_ns by the caller's CLOCK_MONOTONIC:
 * timestamps are clamped, the events queued, and every event of s's process
 * that is due is applied (between RESYNC_BEGIN and RESYNC_END, events are
 * applied at once, as the state they replay). Returns 0; or a negative errno
 * as ledger_apply_events, with the offending event in *bad and the process
 * faulted (see ledger_take_fault): -EINVAL for an unknown type or op or an
 * alloc of size 0 (checked before anything is queued), or whatever applying
 * a due event of the process returned. */
int ledger_submit(struct ledger *l, struct ledger_stream *s, const struct proto_event *events,
                  size_t n, uint64_t now_ns, struct proto_event *bad);

/* Has every event s sent been applied? (A FLUSH on s is answered then.) */
int ledger_stream_synced(const struct ledger_stream *s);

/* Apply every queued event of s's process up to s's latest timestamp, so
 * everything s sent is applied now, even before the process's other streams
 * catch up (events of theirs that arrive later are then behind the merge).
 * Returns 0 or a fault as ledger_submit. */
int ledger_stream_sync(struct ledger *l, struct ledger_stream *s, struct proto_event *bad);

/* RESYNC_BEGIN on s: apply everything queued for the process, then forget
 * its buffers (ledger_forget). Returns how many buffers were forgotten. */
uint64_t ledger_resync_begin(struct ledger *l, struct ledger_stream *s);

/* PEAKS on s (only inside a resync: -EPROTO otherwise; -EINVAL for an
 * unknown type; -ENOSPC/-ENOMEM for a new device): for each record, the
 * process's peak of (device, type) becomes the larger of its own and the
 * client's. Device peaks never change. */
int ledger_merge_peaks(struct ledger *l, struct ledger_stream *s, const struct proto_peak *peaks,
                       size_t n);

/* Apply every queued event whose hold has run out at now_ns, in every
 * process. Returns how many processes faulted doing so. */
size_t ledger_release(struct ledger *l, uint64_t now_ns);

/* The earliest now_ns at which ledger_release has something to apply; 0 when
 * nothing is queued. */
uint64_t ledger_next_release(const struct ledger *l);

/* A faulted process: returns its fault (negative errno) and the event in
 * *bad, and clears it; 0 when p has none. A fault has dropped the process's
 * queued events; the caller drops its buffers (ledger_forget) and tells it. */
int ledger_take_fault(struct ledger *l, struct ledger_process *p, struct proto_event *bad);

/* Drop every buffer of p from every total, and its queued events (a kicked
 * producer). The process and its peaks stay. Returns how many buffers were
 * dropped. */
uint64_t ledger_forget(struct ledger *l, struct ledger_process *p);

/* RESYNC_END on s: 0 when its process's live buffers and bytes equal the
 * sums the client sent, -EBADMSG (counted in resync_mismatches) when not. */
int ledger_resync_end(struct ledger *l, struct ledger_stream *s, uint64_t buffers, uint64_t bytes);

/* Process p has ended: count the exit, put one exit record per device it
 * still held buffers on into the ring, drop its buffers and free it.
 * Returns how many exit records were added (0: it left nothing behind). */
size_t ledger_exit(struct ledger *l, struct ledger_process *p, uint64_t now_ns);

/* ---- reading, for snapshots and queries ---- */

/* Device records, ascending id: fills out[0..n_devs). */
void ledger_fill_devices(const struct ledger *l, struct ttalloc_device_stats *out);
/* Process records, ascending pid: fills out[0..n_procs). */
void ledger_fill_processes(const struct ledger *l, struct ttalloc_process_info *out);
/* Number of (process, device) usage records. */
size_t ledger_count_usage(const struct ledger *l);
/* Usage records, ascending (pid, device): fills out[0..ledger_count_usage). */
void ledger_fill_usage(const struct ledger *l, struct ttalloc_usage *out);

/* p's live buffers, largest first (ties: device, type, address ascending),
 * at most max; out has room for max. Returns how many were written. */
size_t ledger_top_buffers(const struct ledger_process *p, size_t max, struct ttalloc_buffer *out);

/* The exit records, oldest first: fills out[0..n_exits). */
void ledger_fill_exits(const struct ledger *l, struct ttalloc_exit *out);

/* Bytes of memory the ledger holds for live buffers (the buffer tables). */
size_t ledger_buffer_memory(const struct ledger *l);

#endif /* TTALLOC_LEDGER_H */
