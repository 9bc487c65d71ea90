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
    size_t max_buffers;     /* live buffers per process */
    size_t max_devices;     /* distinct device ids, all processes together */
    size_t exit_ring;       /* exit records kept (one per process and device) */
    const struct quota_limits *per_uid;     /* NULL: quota.h's defaults */
};

#define LEDGER_DEFAULT_MAX_BUFFERS (4u * 1024u * 1024u)
#define LEDGER_DEFAULT_MAX_DEVICES 256u
#define LEDGER_DEFAULT_EXIT_RING 256u
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
    uint64_t total_buffers;             /* sum of buffers[] */
};

struct ledger_device {
    uint32_t device;
    uint32_t flags;                     /* TTALLOC_DEVICE_* */
    uint64_t board_serial;
    uint64_t asic_id;
    uint64_t used[TTALLOC_NUM_TYPES];
    uint64_t total[TTALLOC_NUM_TYPES];
    uint64_t peak[TTALLOC_NUM_TYPES];
    uint64_t buffers;
    uint32_t processes;                 /* processes with live buffers here */
    uint32_t usages;                    /* usage records pointing here */
    int32_t described_by;               /* pid of its describer (kept while alive) */
    char board_type[16];
};

struct ledger_process {
    int32_t pid;
    uint32_t uid;
    uint64_t start_ns;
    unsigned connections;               /* producer connections attached */
    void *watch;                        /* the caller's (its pidfd watch); the ledger only keeps it */
    struct quota_user *user;            /* its uid's record */
    char name[TTALLOC_NAME_MAX];
    char label[TTALLOC_LABEL_MAX];
    struct buftable table;              /* live buffers */
    uint64_t bytes;                     /* live bytes, all devices and types */
    uint64_t peak_bytes;
    struct ledger_usage *usage;         /* ascending device */
    size_t n_usage;
    size_t cap_usage;
    size_t last_usage;                  /* index of the last usage touched (a cache) */
};

/* Counters of odd but tolerated input, for logs and tests. */
struct ledger_counters {
    uint64_t events_total;              /* events applied */
    uint64_t exits_total;               /* tracked processes that ended */
    uint64_t leaked_exits_total;        /* ... with buffers still live */
    uint64_t unknown_frees;             /* frees of buffers that were not live */
    uint64_t live_reallocs;             /* allocs of keys that were live */
    uint64_t resync_mismatches;         /* RESYNC_END sums that did not match */
    uint64_t dropped_buffers;           /* buffers forgotten by ledger_forget */
    uint64_t swept_devices;             /* device entries dropped when unused */
};

struct ledger {
    struct ledger_limits limits;
    struct ledger_process **procs;      /* ascending pid */
    size_t n_procs;
    size_t cap_procs;
    struct ledger_device **devs;        /* ascending device id */
    size_t n_devs;
    size_t cap_devs;
    struct ttalloc_exit *exits;         /* ring of limits.exit_ring records */
    size_t exit_first;                  /* index of the oldest */
    size_t n_exits;
    uint64_t live_buffers;              /* all processes */
    struct quota quota;                 /* per uid */
    size_t sweepable;                   /* usage records emptied since the last sweep */
    struct ledger_counters counters;
};

/* limits may be NULL for the defaults; a zero field takes its default. */
int ledger_init(struct ledger *l, const struct ledger_limits *limits);
void ledger_destroy(struct ledger *l);

/* The process with this PID, or NULL. */
struct ledger_process *ledger_find(const struct ledger *l, int32_t pid);

/* Find or create the process `pid` and count one more connection on it.
 * name and label may be NULL; a non-empty label replaces the old one.
 * Returns 0 and *out, or -ENOMEM. A new process has watch NULL. A process
 * keeps the uid it was created with. */
int ledger_attach(struct ledger *l, int32_t pid, uint32_t uid, const char *name,
                  const char *label, uint64_t now_ns, struct ledger_process **out);

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

/* Drop every buffer of p from every total (RESYNC_BEGIN, or a kicked
 * producer). The process stays. Returns how many buffers were dropped. */
uint64_t ledger_forget(struct ledger *l, struct ledger_process *p);

/* RESYNC_END: 0 when p's live buffers and bytes equal the sums the client
 * sent, -EBADMSG (counted in resync_mismatches) when not. */
int ledger_resync_end(struct ledger *l, const struct ledger_process *p, uint64_t buffers,
                      uint64_t bytes);

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
size_t ledger_top_buffers(const struct ledger_process *p, size_t max,
                          struct ttalloc_buffer *out);

/* The exit records, oldest first: fills out[0..n_exits). */
void ledger_fill_exits(const struct ledger *l, struct ttalloc_exit *out);

/* Bytes of memory the ledger holds for live buffers (the buffer tables). */
size_t ledger_buffer_memory(const struct ledger *l);

#endif /* TTALLOC_LEDGER_H */
