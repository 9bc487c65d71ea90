/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttalloc.h - the tt-alloc client library.
 *
 * Two halves share this header:
 *
 *  1. The recording API that applications (and TT-Metal) call on every device
 *     allocation and free. It never blocks, makes no syscall in the common case,
 *     and keeps working while the server is absent, stopped or restarting: the
 *     library keeps its own table of live buffers and replays it on reconnect.
 *
 *  2. The query API that tools (tt-smi, tt-alloc-monitor, the Python binding)
 *     use to read the server: snapshots, subscriptions, one process's buffers
 *     and the recent-exit (leak) report.
 *
 * Link with -lttalloc (pkg-config ttalloc). Usable from C and C++.
 * Environment: TT_ALLOC_SOCKET (server socket path), TT_ALLOC_TRACKING=0
 * (record nothing, open nothing), TT_ALLOC_DEBUG=1 (say on stderr why nothing
 * reaches a server).
 */
#ifndef TTALLOC_H
#define TTALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TTALLOC_VERSION_STRING "0.1.0"

/* TT-Metal's BufferType, plus CB as TT-Metal's SHM statistics number it. */
enum ttalloc_buffer_type {
    TTALLOC_DRAM = 0,
    TTALLOC_L1 = 1,
    TTALLOC_SYSTEM_MEMORY = 2,
    TTALLOC_L1_SMALL = 3,
    TTALLOC_TRACE = 4,
    TTALLOC_CB = 5
};
#define TTALLOC_NUM_TYPES 6

/* ---------------------------------------------------------------------------
 * Recording (producers)
 * ------------------------------------------------------------------------- */

/* Record that `size` bytes at `address` of memory `type` on `device` were
 * allocated. Returns 0, or -EINVAL for an unknown type or a zero size. */
int ttalloc_record_alloc(uint32_t device, enum ttalloc_buffer_type type, uint64_t address,
                         uint64_t size);

/* Record that the buffer at (device, type, address) was freed. Returns 0, or
 * -EINVAL for an unknown type. Freeing an unknown buffer is not an error here
 * (the server counts it). */
int ttalloc_record_free(uint32_t device, enum ttalloc_buffer_type type, uint64_t address);

/* Wait until the server has applied every event this process recorded before
 * the call. 0 on success; -ENOTCONN when no server is reachable (or none was
 * connected when timeout_ms ran out); -ETIMEDOUT when a connected server has
 * not applied them within timeout_ms (a negative timeout waits forever). */
int ttalloc_flush(int timeout_ms);

/* Reset this process's peaks (per device and type) to what it holds now, at
 * this point of its event stream: events recorded before the call count
 * toward the old peak, events after it toward the new one (as
 * torch.cuda.reset_peak_memory_stats). Never blocks. Returns 0. */
int ttalloc_reset_peak(void);

/* This process's live and peak bytes of `type` on `device`, as the library
 * itself counts them from every event this process recorded before the call:
 * exact, and no server needed. The peak is since the process started or its
 * last ttalloc_reset_peak. Either pointer may be NULL. Returns 0, or -EINVAL
 * for an unknown type. */
int ttalloc_process_memory(uint32_t device, enum ttalloc_buffer_type type, uint64_t *live_bytes,
                           uint64_t *peak_bytes);

/* What an application knows about a device: lets tools match a TT-Metal device
 * id to a sysfs device and show exact allocatable sizes. Any field may be 0
 * (unknown). */
struct ttalloc_device_desc {
    uint64_t board_serial;                /* tt_serial as a number */
    uint64_t asic_id;                     /* tt_asic_id as a number */
    uint64_t capacity[TTALLOC_NUM_TYPES]; /* allocatable bytes per type, 0 = unknown */
    uint32_t is_remote;                   /* 1: a chip reached through another (no device node) */
    uint32_t reserved;
    char board_type[16]; /* "n300", "p150a", ... ("" = unknown) */
};

/* Describe `device` to the server. Never blocks; remembered and re-sent after a
 * reconnect. Returns 0 or -EINVAL. */
int ttalloc_describe_device(uint32_t device, const struct ttalloc_device_desc *desc);

/* Label shown beside this process's name in the tools (e.g. "llama-70b").
 * Takes effect on the next (re)connection. Returns 0 or -EINVAL. */
int ttalloc_set_label(const char *label);

/* ---------------------------------------------------------------------------
 * Query API (consumers). All of these block for at most their timeout.
 * Records below travel on the wire exactly as laid out here (see
 * docs/PROTOCOL.md): fixed sizes, native byte order, a Unix socket only.
 * ------------------------------------------------------------------------- */

#define TTALLOC_NAME_MAX 32
#define TTALLOC_LABEL_MAX 64

/* ttalloc_device_stats.flags */
#define TTALLOC_DEVICE_DESCRIBED 0x1u /* an app described it */
#define TTALLOC_DEVICE_REMOTE 0x2u    /* no device node of its own */
#define TTALLOC_DEVICE_SYSFS 0x4u     /* the server found it in sysfs */
/* How TT-Metal's SHM figures were matched to this device (at most one of the
 * three; none: no region maps to it), and whether they are unknown. */
#define TTALLOC_DEVICE_SHM_ASIC_ID 0x8u    /* region asic_id = sysfs tt_asic_id */
#define TTALLOC_DEVICE_SHM_HOLDERS 0x10u   /* the nodes its processes hold */
#define TTALLOC_DEVICE_SHM_DEVICE_ID 0x20u /* device_id taken as the ordinal: a guess */
#define TTALLOC_DEVICE_USED_UNKNOWN 0x40u  /* SHM figures implausible: `used` is unknown */

struct ttalloc_device_stats {
    uint32_t device;                   /* TT-Metal device id / tt-kmd ordinal */
    uint32_t flags;                    /* TTALLOC_DEVICE_* */
    uint64_t board_serial;             /* 0 = unknown */
    uint64_t asic_id;                  /* 0 = unknown */
    uint64_t used[TTALLOC_NUM_TYPES];  /* bytes live now */
    uint64_t total[TTALLOC_NUM_TYPES]; /* capacity, 0 = unknown */
    uint64_t peak[TTALLOC_NUM_TYPES];  /* highest `used` since the server started */
    uint64_t buffers;                  /* live buffers on this device */
    uint32_t processes;                /* processes with live buffers here */
    uint32_t reserved;
    char board_type[16]; /* "" = unknown */
};

/* ttalloc_process_info.flags */
#define TTALLOC_PROCESS_CONNECTED 0x1u     /* has a live connection to the server */
#define TTALLOC_PROCESS_SHM 0x2u           /* figures from TT-Metal's SHM statistics */
#define TTALLOC_PROCESS_BYTES_UNKNOWN 0x4u /* its SHM figures are implausible: unknown */

struct ttalloc_process_info {
    int32_t pid; /* from the kernel, never from the client */
    uint32_t uid;
    uint32_t flags; /* TTALLOC_PROCESS_* */
    uint32_t reserved;
    uint64_t buffers;              /* live buffers, all devices */
    uint64_t bytes;                /* live bytes, all devices and types */
    uint64_t peak_bytes;           /* highest `bytes` seen */
    uint64_t start_ns;             /* CLOCK_REALTIME of its first connection */
    char name[TTALLOC_NAME_MAX];   /* /proc/<pid>/comm */
    char label[TTALLOC_LABEL_MAX]; /* ttalloc_set_label, "" if none */
};

/* One process's use of one device. */
struct ttalloc_usage {
    int32_t pid;
    uint32_t device;
    uint64_t bytes[TTALLOC_NUM_TYPES];
    uint64_t peak[TTALLOC_NUM_TYPES];
    uint64_t buffers;
};

/* One live buffer. */
struct ttalloc_buffer {
    uint64_t address;
    uint64_t size;
    uint32_t device;
    uint8_t type; /* enum ttalloc_buffer_type */
    uint8_t reserved[3];
};

/* A process that ended with buffers still live: the leak report. One record
 * per (process, device). */
struct ttalloc_exit {
    int32_t pid;
    uint32_t uid;
    uint64_t time_ns; /* CLOCK_REALTIME of its death */
    char name[TTALLOC_NAME_MAX];
    uint32_t device;
    uint32_t reserved;
    uint64_t bytes[TTALLOC_NUM_TYPES];
    uint64_t buffers[TTALLOC_NUM_TYPES];
    char label[TTALLOC_LABEL_MAX]; /* its ttalloc_set_label, "" if none */
};

struct ttalloc_snapshot {
    uint64_t seq;          /* increases by one per snapshot the server makes */
    uint64_t timestamp_ns; /* CLOCK_REALTIME when it was taken */
    uint32_t clients;      /* connected clients (producers and consumers) */
    int32_t server_pid;
    uint64_t events_total;       /* events applied since the server started */
    uint64_t exits_total;        /* tracked processes that ended */
    uint64_t leaked_exits_total; /* ... of which with buffers still live */
    size_t n_devices;
    struct ttalloc_device_stats *devices; /* ascending device id */
    size_t n_processes;
    struct ttalloc_process_info *processes; /* ascending pid */
    size_t n_usage;
    struct ttalloc_usage *usage; /* ascending (pid, device) */
};

typedef struct ttalloc_conn ttalloc_conn;

/* Connect to the server at `socket_path`, or (NULL) at TT_ALLOC_SOCKET or the
 * default path list. Returns 0 and sets *out, or a negative errno (-ENOENT or
 * -ECONNREFUSED: no server; -EPERM: the server runs as another user;
 * -EPROTO: incompatible server version). */
int ttalloc_connect(const char *socket_path, ttalloc_conn **out);
void ttalloc_disconnect(ttalloc_conn *conn);
/* The socket path this connection uses, for messages. */
const char *ttalloc_conn_path(const ttalloc_conn *conn);

/* Take one snapshot. Free it with ttalloc_snapshot_free. */
int ttalloc_snapshot(ttalloc_conn *conn, int timeout_ms, struct ttalloc_snapshot **out);
void ttalloc_snapshot_free(struct ttalloc_snapshot *snap);

/* Ask the server to push a snapshot every interval_ms (>= 10). Then poll
 * ttalloc_conn_fd for input and call ttalloc_next_snapshot. A subscriber that
 * does not keep up is disconnected by the server (-ECONNRESET). */
int ttalloc_subscribe(ttalloc_conn *conn, uint32_t interval_ms);
int ttalloc_conn_fd(const ttalloc_conn *conn);
/* Returns 0 and a snapshot, -EAGAIN if none arrived within timeout_ms, or a
 * negative errno if the connection broke. */
int ttalloc_next_snapshot(ttalloc_conn *conn, int timeout_ms, struct ttalloc_snapshot **out);

/* The live buffers of `pid`, largest first, at most `max`. free() *out. */
int ttalloc_buffers(ttalloc_conn *conn, pid_t pid, uint32_t max, int timeout_ms,
                    struct ttalloc_buffer **out, size_t *n);

/* The recent exits with buffers left behind, oldest first. free() *out. */
int ttalloc_exits(ttalloc_conn *conn, int timeout_ms, struct ttalloc_exit **out, size_t *n);

/* "dram", "l1", "system_memory", "l1_small", "trace", "cb"; NULL if out of range. */
const char *ttalloc_type_name(enum ttalloc_buffer_type type);

#ifdef __cplusplus
}
#endif

#endif /* TTALLOC_H */
