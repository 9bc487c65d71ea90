/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmstats.h - read TT-Metal's own per-chip memory statistics:
 * $TT_SYSROOT/dev/shm/tt_device_<chip_unique_id>_memory, struct
 * DeviceMemoryRegion version 2 and every later one (v2 has v3's offsets for
 * its fields; v4 promises later versions keep its offsets), see
 * docs/tt-metal-shm.md.
 *
 * Strictly a reader: files are opened O_RDONLY and copied into our own
 * memory with pread, never written and never mapped (any user can create or
 * truncate a file in /dev/shm, and reading a mapping past a shrunken end is
 * SIGBUS). The whole struct is copied again when its last_update_timestamp
 * moved during the copy (bounded retries). Process slots whose PID is dead are counted as
 * stale, never shown as users. Figures that cannot be true (a total above
 * any board's capacity, sums that wrap, processes holding more than the
 * totals, impossible chip ids) make the region's figures unknown.
 *
 * The raw layout (struct shmstats_raw) is also what shmwriter.c writes; its
 * offsets are pinned with _Static_assert in shmstats.c.
 */
#ifndef TTALLOC_SHMSTATS_H
#define TTALLOC_SHMSTATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ttalloc.h"

#define SHMSTATS_MAX_CHIPS 16
#define SHMSTATS_MAX_PROCESSES 64
#define SHMSTATS_NAME_MAX 64
#define SHMSTATS_CHIP_UNUSED UINT32_MAX   /* chip_stats[].chip_id of an empty entry */
#define SHMSTATS_PID_RELEASING (-1)       /* processes[].pid of a slot being released */
#define SHMSTATS_INIT_READY 0x52454459u   /* v4 init_state 'REDY' */
#define SHMSTATS_VERSION_MIN 2u           /* v1 had another layout */
#define SHMSTATS_VERSION_INIT_STATE 4u    /* from v4 on, init_state says 'REDY' */
#define SHMSTATS_VERSION_SANE_MAX 0xffffu /* above: not a version, garbage */
#define SHMSTATS_CHIP_ID_MAX 0xffffu      /* larger chip or device ids: garbage */
#define SHMSTATS_PATH_MAX 512
#define SHMSTATS_WHY_MAX 256
#define SHMSTATS_READ_RETRIES 8 /* re-copies when the timestamp moves */

/* ---- the bytes in the file (native byte order, natural alignment) ---- */

struct shmstats_raw_chip {
    uint32_t chip_id; /* SHMSTATS_CHIP_UNUSED = empty */
    uint32_t is_remote;
    uint64_t dram, l1, l1_small, trace, cb;
};

struct shmstats_raw_process {
    int32_t pid; /* 0 = free, -1 = being released */
    uint64_t dram, l1, l1_small, trace, cb;
    uint64_t last_update_timestamp; /* CLOCK_REALTIME ns */
    char process_name[SHMSTATS_NAME_MAX];
};

struct shmstats_raw {
    _Alignas(64) uint32_t version;
    uint32_t num_active_processes;
    uint64_t last_update_timestamp; /* CLOCK_REALTIME ns */
    uint32_t reference_count;
    uint64_t board_serial; /* TT-Metal writes 0 (reserved) today */
    uint64_t asic_id;      /* UMD chip_unique_id, as in the file name */
    uint32_t device_id;    /* TT-Metal logical device id */
    uint64_t total_dram, total_l1, total_l1_small, total_trace, total_cb;
    struct shmstats_raw_chip chip_stats[SHMSTATS_MAX_CHIPS];
    struct shmstats_raw_process processes[SHMSTATS_MAX_PROCESSES];
    uint32_t init_state; /* v4 on; in v2 and v3 this is tail padding */
};

#define SHMSTATS_REGION_SIZE 8576u /* sizeof(struct shmstats_raw), v2 to v4 alike */

/* ---- what the reader hands out ---- */

struct shmstats_chip {
    uint32_t chip_id;
    uint32_t is_remote;
    uint64_t bytes[TTALLOC_NUM_TYPES]; /* indexed by enum ttalloc_buffer_type */
};

struct shmstats_process {
    pid_t pid;
    uint64_t bytes[TTALLOC_NUM_TYPES]; /* this process, all chips of the region */
    uint64_t last_update_ns;
    char name[SHMSTATS_NAME_MAX]; /* printable, NUL-terminated */
};

struct shmstats_stale_slot {
    pid_t pid;                    /* no longer runs */
    char name[SHMSTATS_NAME_MAX]; /* printable, NUL-terminated */
};

struct shmstats_region {
    char path[SHMSTATS_PATH_MAX];
    uint64_t chip_unique_id; /* from the file name; 0 if not a number */
    uint32_t version;        /* 2 or later */
    uint32_t device_id;
    uint64_t board_serial;         /* 0 = unknown */
    uint64_t asic_id;              /* 0 = unknown */
    uint32_t num_active_processes; /* as the writers counted */
    uint32_t reference_count;
    uint64_t last_update_ns;
    uint64_t totals[TTALLOC_NUM_TYPES]; /* device-wide, every process and chip */
    size_t n_chips;
    struct shmstats_chip chips[SHMSTATS_MAX_CHIPS]; /* used entries, slot order */
    size_t n_processes;
    struct shmstats_process processes[SHMSTATS_MAX_PROCESSES];     /* live PIDs, slot order */
    uint32_t stale;                                                /* slots whose PID is dead */
    struct shmstats_stale_slot stale_pids[SHMSTATS_MAX_PROCESSES]; /* [0, stale) */
    uint64_t stale_bytes[TTALLOC_NUM_TYPES]; /* what those slots still claim */
    uint32_t invalid;                        /* slots with an impossible PID (garbage) */
    int torn;                                /* 1: counters kept moving; each value is real
                                               but they may come from different instants */
    int unknown;                             /* 1: the figures cannot be true (garbage or
                                               an inconsistent region): every byte count
                                               of this region is unknown, its chips are
                                               not shown; identity and PIDs still hold */
    char unknown_why[160];                   /* one line saying why, when unknown */
};

/* Errors (negative errno), stable for callers that log once per file:
 *   -EBADMSG  file smaller than the struct (truncated, empty)
 *   -EPROTO   version 1 (another layout) or a number that is no version (why names it)
 *   -EAGAIN   v4 or later not initialised yet (init_state != 'REDY'): try again later
 *   -EINVAL   not a regular file
 *   other     from open/fstat/pread (-ENOENT, -EACCES, -ENOMEM, ...)
 * `why` gets one line naming the file and the reason. */

/* Open one region file, copy it with pread, parse the copy, close it. */
int shmstats_read_file(const char *path, struct shmstats_region *out, char *why, size_t cap);

/* Parse a region from `len` bytes at `mem` (a mapping or a buffer; must be
 * 8-byte aligned). `path` only labels the result. Public for the tests and
 * for the watch below. */
int shmstats_parse(const void *mem, size_t len, const char *path, struct shmstats_region *out,
                   char *why, size_t cap);

/* Is `pid` alive? 1 yes (also when it belongs to another user), 0 dead:
 * kill(pid, 0) says ESRCH, or the real /proc says it is a zombie. */
int shmstats_pid_alive(pid_t pid);

/* "tt_device_<decimal>_memory": 1 and the id in *id (0 if the middle is not a
 * decimal number that fits 64 bits); 0 for any other name. */
int shmstats_name_match(const char *name, uint64_t *id);

/* Sum of one process's or one region's bytes over the types. */
uint64_t shmstats_sum(const uint64_t bytes[TTALLOC_NUM_TYPES]);

/* ---- a directory kept open: the server's and tt-smi's entry point ---- */

struct shmstats_file {
    char path[SHMSTATS_PATH_MAX];
    int status;   /* 0 or a negative errno as above */
    int complain; /* 1 on the refresh where `status` became this error,
                                    or where the region's figures became unknown:
                                    log `why` then, and only then */
    char why[SHMSTATS_WHY_MAX];
    struct shmstats_region region; /* valid when status == 0 */
};

struct shmstats_watch;

/* Watch $sysroot/dev/shm ("" or NULL sysroot = "/"). Returns NULL only
 * without memory. Nothing is read until the first refresh. */
struct shmstats_watch *shmstats_watch_new(const char *sysroot);
/* The same for any directory (tt-alloc-shm dump DIR, tests). */
struct shmstats_watch *shmstats_watch_new_dir(const char *dir);
void shmstats_watch_free(struct shmstats_watch *watch);
/* The directory watched (for inotify: IN_CREATE|IN_DELETE|IN_MOVED_*). */
const char *shmstats_watch_dir(const struct shmstats_watch *watch);
/* Rescan the directory (new files are opened, vanished or replaced ones
 * dropped or reopened) and re-read every region. Writers update regions
 * through their mapping, which raises no inotify event: call this on a timer
 * too. Returns the number of files, or -ENOMEM; a missing directory is 0
 * files. */
int shmstats_watch_refresh(struct shmstats_watch *watch);
size_t shmstats_watch_count(const struct shmstats_watch *watch);
const struct shmstats_file *shmstats_watch_get(const struct shmstats_watch *watch, size_t i);
/* The regions of the last refresh that could be read (status 0), copied
 * into a malloc'd array (*n may be 0; free() it). Returns 0 or -ENOMEM
 * (then *regions is NULL). */
int shmstats_watch_regions(const struct shmstats_watch *watch, struct shmstats_region **regions,
                           size_t *n);

#endif /* TTALLOC_SHMSTATS_H */
