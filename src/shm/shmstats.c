/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmstats.c - the reader of TT-Metal's DeviceMemoryRegion files (see
 * shmstats.h and docs/tt-metal-shm.md): layout checks, a consistent copy of
 * a region another process keeps changing, PID liveness, and a directory
 * watch that keeps the files open between reads (copied with pread, never
 * mapped: another user may truncate them at any moment).
 */
#include "shmstats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boards.h"
#include "procs.h"

/* The layout TT-Metal's memory_stats_shm.hpp gives (std::atomic<T> has the
 * size and alignment of T on Linux): pinned here, byte by byte. */
_Static_assert(offsetof(struct shmstats_raw, version) == 0, "version");
_Static_assert(offsetof(struct shmstats_raw, num_active_processes) == 4, "num_active_processes");
_Static_assert(offsetof(struct shmstats_raw, last_update_timestamp) == 8, "last_update_timestamp");
_Static_assert(offsetof(struct shmstats_raw, reference_count) == 16, "reference_count");
_Static_assert(offsetof(struct shmstats_raw, board_serial) == 24, "board_serial");
_Static_assert(offsetof(struct shmstats_raw, asic_id) == 32, "asic_id");
_Static_assert(offsetof(struct shmstats_raw, device_id) == 40, "device_id");
_Static_assert(offsetof(struct shmstats_raw, total_dram) == 48, "total_dram");
_Static_assert(offsetof(struct shmstats_raw, total_cb) == 80, "total_cb");
_Static_assert(offsetof(struct shmstats_raw, chip_stats) == 88, "chip_stats");
_Static_assert(sizeof(struct shmstats_raw_chip) == 48, "ChipStats");
_Static_assert(offsetof(struct shmstats_raw_chip, dram) == 8, "ChipStats.dram");
_Static_assert(offsetof(struct shmstats_raw, processes) == 856, "processes");
_Static_assert(sizeof(struct shmstats_raw_process) == 120, "ProcessStats");
_Static_assert(offsetof(struct shmstats_raw_process, dram) == 8, "ProcessStats.dram");
_Static_assert(offsetof(struct shmstats_raw_process, last_update_timestamp) == 48,
               "ProcessStats.last_update_timestamp");
_Static_assert(offsetof(struct shmstats_raw_process, process_name) == 56,
               "ProcessStats.process_name");
_Static_assert(offsetof(struct shmstats_raw, init_state) == 8536, "init_state");
_Static_assert(sizeof(struct shmstats_raw) == SHMSTATS_REGION_SIZE, "sizeof DeviceMemoryRegion");
_Static_assert(_Alignof(struct shmstats_raw) == 64, "alignas(64)");

#define SHMSTATS_PID_LIMIT 4194304 /* PID_MAX_LIMIT on 64-bit Linux */

/* ---- loads from memory another process writes ---- */

static uint64_t shmstats_load64(const unsigned char *base, size_t off)
{
    return __atomic_load_n((const uint64_t *)(const void *)(base + off), __ATOMIC_RELAXED);
}

static uint32_t shmstats_load32(const unsigned char *base, size_t off)
{
    return __atomic_load_n((const uint32_t *)(const void *)(base + off), __ATOMIC_RELAXED);
}

static uint32_t shmstats_load32_acquire(const unsigned char *base, size_t off)
{
    return __atomic_load_n((const uint32_t *)(const void *)(base + off), __ATOMIC_ACQUIRE);
}

/* Copy every field of the region at `base` into `raw` (a private, aligned
 * struct), one atomic load per word. */
static void shmstats_copy(const unsigned char *base, struct shmstats_raw *raw)
{
    raw->version = shmstats_load32(base, offsetof(struct shmstats_raw, version));
    raw->num_active_processes =
        shmstats_load32(base, offsetof(struct shmstats_raw, num_active_processes));
    raw->last_update_timestamp =
        shmstats_load64(base, offsetof(struct shmstats_raw, last_update_timestamp));
    raw->reference_count = shmstats_load32(base, offsetof(struct shmstats_raw, reference_count));
    raw->board_serial = shmstats_load64(base, offsetof(struct shmstats_raw, board_serial));
    raw->asic_id = shmstats_load64(base, offsetof(struct shmstats_raw, asic_id));
    raw->device_id = shmstats_load32(base, offsetof(struct shmstats_raw, device_id));
    raw->total_dram = shmstats_load64(base, offsetof(struct shmstats_raw, total_dram));
    raw->total_l1 = shmstats_load64(base, offsetof(struct shmstats_raw, total_l1));
    raw->total_l1_small = shmstats_load64(base, offsetof(struct shmstats_raw, total_l1_small));
    raw->total_trace = shmstats_load64(base, offsetof(struct shmstats_raw, total_trace));
    raw->total_cb = shmstats_load64(base, offsetof(struct shmstats_raw, total_cb));

    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++) {
        size_t c = offsetof(struct shmstats_raw, chip_stats) + i * sizeof(struct shmstats_raw_chip);
        struct shmstats_raw_chip *chip = &raw->chip_stats[i];
        chip->chip_id = shmstats_load32(base, c + offsetof(struct shmstats_raw_chip, chip_id));
        chip->is_remote = shmstats_load32(base, c + offsetof(struct shmstats_raw_chip, is_remote));
        chip->dram = shmstats_load64(base, c + offsetof(struct shmstats_raw_chip, dram));
        chip->l1 = shmstats_load64(base, c + offsetof(struct shmstats_raw_chip, l1));
        chip->l1_small = shmstats_load64(base, c + offsetof(struct shmstats_raw_chip, l1_small));
        chip->trace = shmstats_load64(base, c + offsetof(struct shmstats_raw_chip, trace));
        chip->cb = shmstats_load64(base, c + offsetof(struct shmstats_raw_chip, cb));
    }

    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        size_t p =
            offsetof(struct shmstats_raw, processes) + i * sizeof(struct shmstats_raw_process);
        struct shmstats_raw_process *proc = &raw->processes[i];
        proc->pid = (int32_t)shmstats_load32(base, p + offsetof(struct shmstats_raw_process, pid));
        proc->dram = shmstats_load64(base, p + offsetof(struct shmstats_raw_process, dram));
        proc->l1 = shmstats_load64(base, p + offsetof(struct shmstats_raw_process, l1));
        proc->l1_small = shmstats_load64(base, p + offsetof(struct shmstats_raw_process, l1_small));
        proc->trace = shmstats_load64(base, p + offsetof(struct shmstats_raw_process, trace));
        proc->cb = shmstats_load64(base, p + offsetof(struct shmstats_raw_process, cb));
        proc->last_update_timestamp =
            shmstats_load64(base, p + offsetof(struct shmstats_raw_process, last_update_timestamp));
        size_t n = p + offsetof(struct shmstats_raw_process, process_name);
        for (size_t k = 0; k < SHMSTATS_NAME_MAX; k++)
            proc->process_name[k] =
                (char)__atomic_load_n((const unsigned char *)(base + n + k), __ATOMIC_RELAXED);
    }
    raw->init_state = shmstats_load32(base, offsetof(struct shmstats_raw, init_state));
}

/* ---- helpers ---- */

int shmstats_pid_alive(pid_t pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    /* kill() succeeds on a zombie, whose memory is gone: that is dead too. */
    char state = 0;
    procs_read_stat(NULL, (int32_t)pid, &state, NULL);
    return state != 'Z' && state != 'X';
}

int shmstats_name_match(const char *name, uint64_t *id)
{
    static const char prefix[] = "tt_device_";
    static const char suffix[] = "_memory";
    size_t len = strlen(name), pl = sizeof(prefix) - 1, sl = sizeof(suffix) - 1;
    if (len <= pl + sl || strncmp(name, prefix, pl) != 0 || strcmp(name + len - sl, suffix) != 0)
        return 0;
    uint64_t value = 0;
    int ok = 1;
    for (size_t i = pl; i < len - sl; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < '0' || c > '9' || value > (UINT64_MAX - (c - '0')) / 10) {
            ok = 0;
            break;
        }
        value = value * 10 + (c - '0');
    }
    *id = ok ? value : 0;
    return 1;
}

uint64_t shmstats_sum(const uint64_t bytes[TTALLOC_NUM_TYPES])
{
    uint64_t sum = 0;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        sum += bytes[t];
    return sum;
}

static const char *shmstats_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void shmstats_set_bytes(uint64_t bytes[TTALLOC_NUM_TYPES], uint64_t dram, uint64_t l1,
                               uint64_t l1_small, uint64_t trace, uint64_t cb)
{
    memset(bytes, 0, sizeof(uint64_t) * TTALLOC_NUM_TYPES);
    bytes[TTALLOC_DRAM] = dram;
    bytes[TTALLOC_L1] = l1;
    bytes[TTALLOC_L1_SMALL] = l1_small;
    bytes[TTALLOC_TRACE] = trace;
    bytes[TTALLOC_CB] = cb;
}

/* A process name as printable ASCII: up to the first NUL, anything else '?'. */
static void shmstats_clean_name(const char *in, char out[SHMSTATS_NAME_MAX])
{
    size_t i = 0;
    for (; i < SHMSTATS_NAME_MAX - 1 && in[i] != '\0'; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
}

static uint64_t shmstats_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- plausibility ---- */

static void shmstats_unknown(struct shmstats_region *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void shmstats_unknown(struct shmstats_region *r, const char *fmt, ...)
{
    if (r->unknown)
        return; /* the first reason is the one reported */
    r->unknown = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->unknown_why, sizeof(r->unknown_why), fmt, ap);
    va_end(ap);
}

/* Mark the region's figures unknown when they cannot be true: an id no
 * TT-Metal writes, a total (or a chip's or a process's figure) above any
 * known board's capacity times the chips it covers, sums that wrap, or live
 * processes holding more than the totals. Random bytes behind a valid
 * header fail one of these (nearly) always. */
static void shmstats_check_sane(struct shmstats_region *r)
{
    uint64_t max[TTALLOC_NUM_TYPES];
    boards_max_capacity(max);
    uint64_t chips = r->n_chips > 0 ? r->n_chips : 1;

    if (r->device_id > SHMSTATS_CHIP_ID_MAX)
        shmstats_unknown(r, "device_id %u is no TT-Metal device id", r->device_id);
    for (size_t c = 0; c < r->n_chips; c++) {
        if (r->chips[c].chip_id > SHMSTATS_CHIP_ID_MAX)
            shmstats_unknown(r, "chip_stats[] chip_id %u is no TT-Metal chip id",
                             r->chips[c].chip_id);
        if (r->chips[c].is_remote > 1)
            shmstats_unknown(r, "chip_stats[] is_remote %u is not 0 or 1", r->chips[c].is_remote);
    }
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
        if (max[t] == UINT64_MAX)
            continue;
        uint64_t bound = max[t] > UINT64_MAX / chips ? UINT64_MAX : max[t] * chips;
        int type = t; /* enum ttalloc_buffer_type: 0 DRAM, 1 L1, 3 L1_SMALL, 4 TRACE, 5 CB */
        if (r->totals[t] > bound)
            shmstats_unknown(r,
                             "total of buffer type %d, %" PRIu64
                             " B, is above any board's capacity (%" PRIu64 " B for %" PRIu64
                             " chip%s)",
                             type, r->totals[t], bound, chips, chips == 1 ? "" : "s");
        uint64_t chip_sum = 0, proc_sum = 0;
        for (size_t c = 0; c < r->n_chips; c++) {
            uint64_t v = r->chips[c].bytes[t];
            if (v > max[t])
                shmstats_unknown(
                    r, "chip %u holds %" PRIu64 " B of buffer type %d, above any board's capacity",
                    r->chips[c].chip_id, v, type);
            if (chip_sum > UINT64_MAX - v)
                shmstats_unknown(r, "the chips' figures of buffer type %d wrap when summed", type);
            chip_sum += v;
        }
        for (size_t k = 0; k < r->n_processes; k++) {
            uint64_t v = r->processes[k].bytes[t];
            if (proc_sum > UINT64_MAX - v) {
                shmstats_unknown(r, "the processes' figures of buffer type %d wrap when summed",
                                 type);
                break;
            }
            proc_sum += v;
        }
        if (proc_sum > r->totals[t])
            shmstats_unknown(r,
                             "live processes hold %" PRIu64 " B of buffer type %d, more than the "
                             "total %" PRIu64 " B",
                             proc_sum, type, r->totals[t]);
    }
}

/* ---- parsing ---- */

int shmstats_parse(const void *mem, size_t len, const char *path, struct shmstats_region *out,
                   char *why, size_t cap)
{
    const unsigned char *base = mem;
    const char *name = shmstats_base(path ? path : "");
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path ? path : "");
    if (!shmstats_name_match(name, &out->chip_unique_id))
        out->chip_unique_id = 0;
    if (why && cap)
        why[0] = '\0';

    if (((uintptr_t)mem & 7u) != 0) {
        if (why)
            snprintf(why, cap, "%.120s: buffer not 8-byte aligned", name);
        return -EINVAL;
    }
    if (len < SHMSTATS_REGION_SIZE) {
        if (why)
            snprintf(why, cap,
                     "%.120s: %zu bytes, smaller than a DeviceMemoryRegion (%u): truncated", name,
                     len, SHMSTATS_REGION_SIZE);
        return -EBADMSG;
    }

    struct shmstats_raw *raw = malloc(sizeof(*raw));
    if (raw == NULL)
        return -ENOMEM;

    int rc = 0;
    int torn = 1;
    for (int attempt = 0; attempt < SHMSTATS_READ_RETRIES; attempt++) {
        uint32_t version = shmstats_load32_acquire(base, offsetof(struct shmstats_raw, version));
        uint32_t init = shmstats_load32_acquire(base, offsetof(struct shmstats_raw, init_state));
        if (version == 0 || (version >= SHMSTATS_VERSION_INIT_STATE &&
                             version <= SHMSTATS_VERSION_SANE_MAX && init != SHMSTATS_INIT_READY)) {
            if (why)
                snprintf(why, cap,
                         "%.120s: not initialised yet (version %u, init_state 0x%08x, want 'REDY')",
                         name, version, init);
            rc = -EAGAIN;
            break;
        }
        if (version < SHMSTATS_VERSION_MIN) {
            if (why)
                snprintf(why, cap,
                         "%.120s: DeviceMemoryRegion version %u has another layout (this tt-alloc "
                         "reads version %u and later); ignoring the file",
                         name, version, SHMSTATS_VERSION_MIN);
            rc = -EPROTO;
            break;
        }
        if (version > SHMSTATS_VERSION_SANE_MAX) {
            if (why)
                snprintf(why, cap,
                         "%.120s: version field 0x%08x is no DeviceMemoryRegion version "
                         "(not a region, or garbage); ignoring the file",
                         name, version);
            rc = -EPROTO;
            break;
        }
        uint64_t before = __atomic_load_n(
            (const uint64_t *)(const void *)(base +
                                             offsetof(struct shmstats_raw, last_update_timestamp)),
            __ATOMIC_ACQUIRE);
        shmstats_copy(base, raw);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t after =
            shmstats_load64(base, offsetof(struct shmstats_raw, last_update_timestamp));
        if (before == after && raw->version == version &&
            (version < SHMSTATS_VERSION_INIT_STATE || raw->init_state == SHMSTATS_INIT_READY)) {
            torn = 0;
            break;
        }
    }
    if (rc == 0 && torn &&
        (raw->version < SHMSTATS_VERSION_MIN || raw->version > SHMSTATS_VERSION_SANE_MAX ||
         (raw->version >= SHMSTATS_VERSION_INIT_STATE && raw->init_state != SHMSTATS_INIT_READY))) {
        if (why)
            snprintf(why, cap, "%.120s: region re-initialised while being read", name);
        rc = -EAGAIN;
    }
    if (rc != 0) {
        free(raw);
        return rc;
    }

    out->torn = torn;
    out->version = raw->version;
    out->device_id = raw->device_id;
    out->board_serial = raw->board_serial;
    out->asic_id = raw->asic_id;
    out->num_active_processes = raw->num_active_processes;
    out->reference_count = raw->reference_count;
    out->last_update_ns = raw->last_update_timestamp;
    shmstats_set_bytes(out->totals, raw->total_dram, raw->total_l1, raw->total_l1_small,
                       raw->total_trace, raw->total_cb);

    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++) {
        const struct shmstats_raw_chip *c = &raw->chip_stats[i];
        if (c->chip_id == SHMSTATS_CHIP_UNUSED)
            continue;
        struct shmstats_chip *chip = &out->chips[out->n_chips++];
        chip->chip_id = c->chip_id;
        chip->is_remote = c->is_remote != 0;
        shmstats_set_bytes(chip->bytes, c->dram, c->l1, c->l1_small, c->trace, c->cb);
    }

    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        const struct shmstats_raw_process *p = &raw->processes[i];
        if (p->pid == 0 || p->pid == SHMSTATS_PID_RELEASING)
            continue;
        if (p->pid < 0 || p->pid > SHMSTATS_PID_LIMIT) {
            out->invalid++;
            continue;
        }
        uint64_t bytes[TTALLOC_NUM_TYPES];
        shmstats_set_bytes(bytes, p->dram, p->l1, p->l1_small, p->trace, p->cb);
        if (!shmstats_pid_alive(p->pid)) {
            out->stale_pids[out->stale].pid = p->pid;
            shmstats_clean_name(p->process_name, out->stale_pids[out->stale].name);
            out->stale++;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                out->stale_bytes[t] = shmstats_sat_add(out->stale_bytes[t], bytes[t]);
            continue;
        }
        struct shmstats_process *proc = &out->processes[out->n_processes++];
        proc->pid = p->pid;
        memcpy(proc->bytes, bytes, sizeof(bytes));
        proc->last_update_ns = p->last_update_timestamp;
        shmstats_clean_name(p->process_name, proc->name);
    }
    free(raw);
    shmstats_check_sane(out);
    return 0;
}

/* Open a candidate file without side effects: never a device node, a FIFO
 * or a symlink. Returns the fd or a negative errno. */
static int shmstats_open(const char *path, struct stat *st, char *why, size_t cap)
{
    const char *name = shmstats_base(path);
    struct stat lst;
    if (lstat(path, &lst) != 0) {
        int err = errno;
        if (why)
            snprintf(why, cap, "%.120s: %s", name, strerror(err));
        return -err;
    }
    if (!S_ISREG(lst.st_mode)) {
        if (why)
            snprintf(why, cap, "%.120s: not a regular file", name);
        return -EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        if (why)
            snprintf(why, cap, "%.120s: %s", name, strerror(err));
        return -err;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        if (why)
            snprintf(why, cap, "%.120s: not a regular file", name);
        return -EINVAL;
    }
    return fd;
}

static int shmstats_check_size(const struct stat *st, const char *path, char *why, size_t cap)
{
    if (st->st_size < (off_t)SHMSTATS_REGION_SIZE) {
        if (why)
            snprintf(why, cap, "%.120s: %lld bytes, smaller than a DeviceMemoryRegion (%u): %s",
                     shmstats_base(path), (long long)st->st_size, SHMSTATS_REGION_SIZE,
                     st->st_size == 0 ? "empty" : "truncated");
        return -EBADMSG;
    }
    return 0;
}

/* Copy the region behind `fd` into `buf` (our own memory) with pread and
 * parse it. Never mapped: a file another user can write may be truncated at
 * any moment, and a mapping read past its new end is SIGBUS. A copy whose
 * last_update_timestamp moved while it was read is taken again (bounded);
 * the last one is kept and marked torn. */
static int shmstats_read_fd(int fd, const char *path, struct shmstats_raw *buf,
                            struct shmstats_region *out, char *why, size_t cap)
{
    int torn = 1;
    for (int attempt = 0; attempt < SHMSTATS_READ_RETRIES; attempt++) {
        ssize_t got = pread(fd, buf, SHMSTATS_REGION_SIZE, 0);
        if (got < 0) {
            int err = errno;
            if (why)
                snprintf(why, cap, "%.120s: read: %s", shmstats_base(path), strerror(err));
            return -err;
        }
        if ((size_t)got < SHMSTATS_REGION_SIZE) {
            if (why)
                snprintf(why, cap, "%.120s: %zd bytes, smaller than a DeviceMemoryRegion (%u): %s",
                         shmstats_base(path), got, SHMSTATS_REGION_SIZE,
                         got == 0 ? "empty" : "truncated");
            return -EBADMSG;
        }
        uint64_t stamp_now = 0;
        if (pread(fd, &stamp_now, sizeof(stamp_now),
                  offsetof(struct shmstats_raw, last_update_timestamp)) ==
                (ssize_t)sizeof(stamp_now) &&
            stamp_now == buf->last_update_timestamp) {
            torn = 0;
            break;
        }
    }
    int rc = shmstats_parse(buf, SHMSTATS_REGION_SIZE, path, out, why, cap);
    if (rc == 0)
        out->torn = torn;
    return rc;
}

/* The same, taken again (bounded) while the copy's figures cannot be true:
 * a writer between its total and its slot update looks like that for an
 * instant. What stays implausible is unknown. */
static int shmstats_read_fd_sane(int fd, const char *path, struct shmstats_raw *buf,
                                 struct shmstats_region *out, char *why, size_t cap)
{
    int rc = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = shmstats_read_fd(fd, path, buf, out, why, cap);
        if (rc != 0 || !out->unknown)
            break;
    }
    if (rc == 0 && out->unknown && why)
        snprintf(why, cap, "%.120s: figures unknown: %s", shmstats_base(path), out->unknown_why);
    return rc;
}

int shmstats_read_file(const char *path, struct shmstats_region *out, char *why, size_t cap)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    int fd = shmstats_open(path, &st, why, cap);
    if (fd < 0)
        return fd;
    int rc = shmstats_check_size(&st, path, why, cap);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    struct shmstats_raw *buf = malloc(sizeof(*buf));
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    rc = shmstats_read_fd_sane(fd, path, buf, out, why, cap);
    free(buf);
    close(fd);
    return rc;
}

/* ---- the watch ---- */

struct shmstats_slot {
    struct shmstats_file file;
    int fd;
    struct shmstats_raw *copy; /* our own copy of the file's bytes (pread, never mmap) */
    dev_t dev;
    ino_t ino;
    int seen;
    int complained_status; /* the error last reported through `complain` */
};

struct shmstats_watch {
    char dir[SHMSTATS_PATH_MAX];
    struct shmstats_slot **slots;
    size_t n, cap;
};

struct shmstats_watch *shmstats_watch_new_dir(const char *dir)
{
    struct shmstats_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    return w;
}

struct shmstats_watch *shmstats_watch_new(const char *sysroot)
{
    char dir[SHMSTATS_PATH_MAX];
    if (sysroot == NULL || strcmp(sysroot, "/") == 0)
        sysroot = "";
    snprintf(dir, sizeof(dir), "%s/dev/shm", sysroot);
    return shmstats_watch_new_dir(dir);
}

static void shmstats_slot_close(struct shmstats_slot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

void shmstats_watch_free(struct shmstats_watch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        shmstats_slot_close(w->slots[i]);
        free(w->slots[i]->copy);
        free(w->slots[i]);
    }
    free(w->slots);
    free(w);
}

const char *shmstats_watch_dir(const struct shmstats_watch *w)
{
    return w->dir;
}

size_t shmstats_watch_count(const struct shmstats_watch *w)
{
    return w->n;
}

const struct shmstats_file *shmstats_watch_get(const struct shmstats_watch *w, size_t i)
{
    return i < w->n ? &w->slots[i]->file : NULL;
}

int shmstats_watch_regions(const struct shmstats_watch *w, struct shmstats_region **regions,
                           size_t *n)
{
    *n = 0;
    *regions = calloc(w->n ? w->n : 1, sizeof(**regions));
    if (*regions == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < w->n; i++)
        if (w->slots[i]->file.status == 0)
            (*regions)[(*n)++] = w->slots[i]->file.region;
    return 0;
}

static struct shmstats_slot *shmstats_watch_find(struct shmstats_watch *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->slots[i]->file.path, path) == 0)
            return w->slots[i];
    return NULL;
}

/* Read one slot: (re)open when needed, then copy and parse. Sets file.status. */
static void shmstats_slot_read(struct shmstats_slot *s)
{
    struct shmstats_file *f = &s->file;
    struct stat st;
    int rc;

    /* A file replaced under the same name (deleted and recreated) is reopened. */
    if (s->fd >= 0 && (stat(f->path, &st) != 0 || st.st_ino != s->ino || st.st_dev != s->dev))
        shmstats_slot_close(s);
    if (s->fd < 0) {
        rc = shmstats_open(f->path, &st, f->why, sizeof(f->why));
        if (rc < 0)
            goto done;
        s->fd = rc;
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    if (s->copy == NULL && (s->copy = malloc(sizeof(*s->copy))) == NULL) {
        rc = -ENOMEM;
        snprintf(f->why, sizeof(f->why), "%.120s: out of memory", shmstats_base(f->path));
        goto done;
    }
    /* pread reports a shrunken file as a short read: no size check can race. */
    rc = shmstats_read_fd_sane(s->fd, f->path, s->copy, &f->region, f->why, sizeof(f->why));
done:
    f->status = rc;
    /* what to complain about: the error, or (-ERANGE) figures that became unknown */
    int state = rc != 0 ? rc : f->region.unknown ? -ERANGE : 0;
    if (state == 0)
        f->why[0] = '\0';
    f->complain = state != 0 && state != s->complained_status;
    s->complained_status = state;
}

static int shmstats_slot_cmp(const void *a, const void *b)
{
    const struct shmstats_slot *x = *(const struct shmstats_slot *const *)a;
    const struct shmstats_slot *y = *(const struct shmstats_slot *const *)b;
    return strcmp(x->file.path, y->file.path);
}

int shmstats_watch_refresh(struct shmstats_watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        w->slots[i]->seen = 0;

    DIR *d = opendir(w->dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            uint64_t id;
            if (!shmstats_name_match(de->d_name, &id))
                continue;
            char path[SHMSTATS_PATH_MAX];
            int len = snprintf(path, sizeof(path), "%s/%s", w->dir, de->d_name);
            if (len < 0 || (size_t)len >= sizeof(path))
                continue;
            struct shmstats_slot *s = shmstats_watch_find(w, path);
            if (s == NULL) {
                if (w->n == w->cap) {
                    size_t cap = w->cap ? w->cap * 2 : 8;
                    struct shmstats_slot **slots = realloc(w->slots, cap * sizeof(*slots));
                    if (slots == NULL) {
                        closedir(d);
                        return -ENOMEM;
                    }
                    w->slots = slots;
                    w->cap = cap;
                }
                s = calloc(1, sizeof(*s));
                if (s == NULL) {
                    closedir(d);
                    return -ENOMEM;
                }
                s->fd = -1;
                memcpy(s->file.path, path, (size_t)len + 1);
                w->slots[w->n++] = s;
            }
            s->seen = 1;
        }
        closedir(d);
    }

    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct shmstats_slot *s = w->slots[i];
        if (!s->seen) {
            shmstats_slot_close(s);
            free(s->copy);
            free(s);
            continue;
        }
        w->slots[kept++] = s;
    }
    w->n = kept;
    if (w->n > 1)
        qsort(w->slots, w->n, sizeof(*w->slots), shmstats_slot_cmp);
    for (size_t i = 0; i < w->n; i++)
        shmstats_slot_read(w->slots[i]);
    return (int)w->n;
}
