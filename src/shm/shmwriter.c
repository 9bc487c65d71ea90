/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmwriter.c - a DeviceMemoryRegion writer with TT-Metal's protocol (see
 * shmwriter.h): every shared word is changed with an atomic operation, every
 * aggregate by delta, and a slot is claimed and released by compare-exchange
 * on its pid.
 */
#include "shmwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmstats.h"

#define SHMWRITER_INIT_UNINITIALIZED 0u
#define SHMWRITER_INIT_IN_PROGRESS 1u
#define SHMWRITER_WAIT_MS 1000

struct shmwriter {
    char path[SHMSTATS_PATH_MAX];
    int fd;
    struct shmstats_raw *region;
    uint32_t version;
    uint64_t chip_unique_id;
    uint32_t device_id;
    pid_t pid;
    struct shmstats_raw_process *slot; /* NULL: table full */
};

static uint64_t shmwriter_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void shmwriter_store64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void shmwriter_store32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void shmwriter_sat_sub64(uint64_t *p, uint64_t amount)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        next = cur < amount ? 0 : cur - amount;
    } while (!__atomic_compare_exchange_n(p, &cur, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

static void shmwriter_sat_sub32(uint32_t *p, uint32_t amount)
{
    uint32_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    uint32_t next;
    do {
        next = cur < amount ? 0 : cur - amount;
    } while (!__atomic_compare_exchange_n(p, &cur, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* The counter of `type` in the totals, a chip entry or a process slot; NULL
 * for types the region does not count (SYSTEM_MEMORY). */
static uint64_t *shmwriter_total(struct shmstats_raw *r, enum ttalloc_buffer_type type)
{
    switch (type) {
    case TTALLOC_DRAM:
        return &r->total_dram;
    case TTALLOC_L1:
        return &r->total_l1;
    case TTALLOC_L1_SMALL:
        return &r->total_l1_small;
    case TTALLOC_TRACE:
        return &r->total_trace;
    case TTALLOC_CB:
        return &r->total_cb;
    default:
        return NULL;
    }
}

static uint64_t *shmwriter_chip_field(struct shmstats_raw_chip *c, enum ttalloc_buffer_type type)
{
    switch (type) {
    case TTALLOC_DRAM:
        return &c->dram;
    case TTALLOC_L1:
        return &c->l1;
    case TTALLOC_L1_SMALL:
        return &c->l1_small;
    case TTALLOC_TRACE:
        return &c->trace;
    case TTALLOC_CB:
        return &c->cb;
    default:
        return NULL;
    }
}

static uint64_t *shmwriter_proc_field(struct shmstats_raw_process *p, enum ttalloc_buffer_type type)
{
    switch (type) {
    case TTALLOC_DRAM:
        return &p->dram;
    case TTALLOC_L1:
        return &p->l1;
    case TTALLOC_L1_SMALL:
        return &p->l1_small;
    case TTALLOC_TRACE:
        return &p->trace;
    case TTALLOC_CB:
        return &p->cb;
    default:
        return NULL;
    }
}

/* The five counted types, for loops. */
static const enum ttalloc_buffer_type shmwriter_types[5] = {
    TTALLOC_DRAM, TTALLOC_L1, TTALLOC_L1_SMALL, TTALLOC_TRACE, TTALLOC_CB};

static void shmwriter_own_name(char name[SHMSTATS_NAME_MAX])
{
    memset(name, 0, SHMSTATS_NAME_MAX);
    FILE *f = fopen("/proc/self/comm", "re");
    if (f == NULL) {
        snprintf(name, SHMSTATS_NAME_MAX, "unknown");
        return;
    }
    if (fgets(name, SHMSTATS_NAME_MAX, f) == NULL)
        snprintf(name, SHMSTATS_NAME_MAX, "unknown");
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
}

static void shmwriter_initialize(struct shmwriter *w)
{
    struct shmstats_raw *r = w->region;
    shmwriter_store32(&r->version, w->version);
    shmwriter_store32(&r->num_active_processes, 0);
    shmwriter_store64(&r->last_update_timestamp, shmwriter_now_ns());
    shmwriter_store32(&r->reference_count, 0);
    shmwriter_store64(&r->board_serial, 0);
    shmwriter_store64(&r->asic_id, w->chip_unique_id);
    shmwriter_store32(&r->device_id, w->device_id);
    for (int t = 0; t < 5; t++)
        shmwriter_store64(shmwriter_total(r, shmwriter_types[t]), 0);
    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++) {
        struct shmstats_raw_chip *c = &r->chip_stats[i];
        shmwriter_store32(&c->chip_id, SHMSTATS_CHIP_UNUSED);
        shmwriter_store32(&c->is_remote, 0);
        for (int t = 0; t < 5; t++)
            shmwriter_store64(shmwriter_chip_field(c, shmwriter_types[t]), 0);
    }
    /* the gateway chip itself */
    shmwriter_store32(&r->chip_stats[0].chip_id, w->device_id);
    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        struct shmstats_raw_process *p = &r->processes[i];
        __atomic_store_n(&p->pid, 0, __ATOMIC_RELAXED);
        for (int t = 0; t < 5; t++)
            shmwriter_store64(shmwriter_proc_field(p, shmwriter_types[t]), 0);
        shmwriter_store64(&p->last_update_timestamp, 0);
        memset(p->process_name, 0, sizeof(p->process_name));
    }
}

/* Release a slot believed to belong to `owner`: only the winner of the CAS
 * owner -> RELEASING touches it, so two reapers never clear it twice. */
static void shmwriter_release(struct shmwriter *w, struct shmstats_raw_process *slot, int32_t owner)
{
    struct shmstats_raw *r = w->region;
    int32_t expected = owner;
    if (owner <= 0 || !__atomic_compare_exchange_n(&slot->pid, &expected, SHMSTATS_PID_RELEASING, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return;
    for (int t = 0; t < 5; t++)
        shmwriter_sat_sub64(shmwriter_total(r, shmwriter_types[t]),
                            __atomic_exchange_n(shmwriter_proc_field(slot, shmwriter_types[t]), 0,
                                                __ATOMIC_RELAXED));
    shmwriter_store64(&slot->last_update_timestamp, 0);
    memset(slot->process_name, 0, sizeof(slot->process_name));
    __atomic_store_n(&slot->pid, 0, __ATOMIC_RELEASE);
    shmwriter_sat_sub32(&r->reference_count, 1);
    shmwriter_sat_sub32(&r->num_active_processes, 1);
    shmwriter_store64(&r->last_update_timestamp, shmwriter_now_ns());
}

static int shmwriter_any_live(const struct shmwriter *w)
{
    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        int32_t pid = __atomic_load_n(&w->region->processes[i].pid, __ATOMIC_ACQUIRE);
        if (pid > 0 && pid != w->pid && shmstats_pid_alive(pid))
            return 1;
    }
    return 0;
}

static void shmwriter_reap(struct shmwriter *w)
{
    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        struct shmstats_raw_process *slot = &w->region->processes[i];
        int32_t pid = __atomic_load_n(&slot->pid, __ATOMIC_ACQUIRE);
        if (pid <= 0 || pid == w->pid || shmstats_pid_alive(pid))
            continue;
        shmwriter_release(w, slot, pid);
    }
}

static void shmwriter_reset_if_idle(struct shmwriter *w)
{
    struct shmstats_raw *r = w->region;
    if (__atomic_load_n(&r->reference_count, __ATOMIC_ACQUIRE) != 0)
        return;
    for (int t = 0; t < 5; t++)
        shmwriter_store64(shmwriter_total(r, shmwriter_types[t]), 0);
    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++) {
        struct shmstats_raw_chip *c = &r->chip_stats[i];
        if (__atomic_load_n(&c->chip_id, __ATOMIC_RELAXED) == SHMSTATS_CHIP_UNUSED)
            continue;
        for (int t = 0; t < 5; t++)
            shmwriter_store64(shmwriter_chip_field(c, shmwriter_types[t]), 0);
    }
}

static struct shmstats_raw_process *shmwriter_claim(struct shmwriter *w)
{
    struct shmstats_raw *r = w->region;
    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++)
        if (__atomic_load_n(&r->processes[i].pid, __ATOMIC_RELAXED) == w->pid)
            return &r->processes[i];
    for (size_t i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        struct shmstats_raw_process *slot = &r->processes[i];
        int32_t expected = 0;
        if (!__atomic_compare_exchange_n(&slot->pid, &expected, w->pid, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            continue;
        for (int t = 0; t < 5; t++)
            shmwriter_store64(shmwriter_proc_field(slot, shmwriter_types[t]), 0);
        shmwriter_store64(&slot->last_update_timestamp, shmwriter_now_ns());
        char name[SHMSTATS_NAME_MAX];
        shmwriter_own_name(name);
        for (size_t k = 0; k < SHMSTATS_NAME_MAX; k++)
            __atomic_store_n(&slot->process_name[k], name[k], __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->reference_count, 1, __ATOMIC_RELEASE);
        __atomic_fetch_add(&r->num_active_processes, 1, __ATOMIC_RELAXED);
        return slot;
    }
    return NULL;
}

/* Decide who initialises, as TT-Metal v4 does. 0, or a negative errno. */
static int shmwriter_init_v4(struct shmwriter *w)
{
    struct shmstats_raw *r = w->region;
    uint32_t state = __atomic_load_n(&r->init_state, __ATOMIC_ACQUIRE);
    uint32_t found = __atomic_load_n(&r->version, __ATOMIC_ACQUIRE);

    if (state == SHMSTATS_INIT_READY && found == 4)
        return 0;
    if (found != 0 && found != 4) {
        /* another layout: take it over only when nobody alive uses it */
        int known = found >= 2 && found <= 4;
        int free_of_owners = known ? !shmwriter_any_live(w)
                                   : __atomic_load_n(&r->reference_count, __ATOMIC_ACQUIRE) == 0;
        uint32_t expected = state;
        if (!free_of_owners ||
            !__atomic_compare_exchange_n(&r->init_state, &expected, SHMWRITER_INIT_IN_PROGRESS, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return -EPROTO;
        shmwriter_initialize(w);
        __atomic_store_n(&r->init_state, SHMSTATS_INIT_READY, __ATOMIC_RELEASE);
        return 0;
    }
    uint32_t expected = SHMWRITER_INIT_UNINITIALIZED;
    if (__atomic_compare_exchange_n(&r->init_state, &expected, SHMWRITER_INIT_IN_PROGRESS, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        shmwriter_initialize(w);
        __atomic_store_n(&r->init_state, SHMSTATS_INIT_READY, __ATOMIC_RELEASE);
        return 0;
    }
    for (int i = 0; i < SHMWRITER_WAIT_MS; i++) {
        if (__atomic_load_n(&r->init_state, __ATOMIC_ACQUIRE) == SHMSTATS_INIT_READY)
            return 0;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return -ETIMEDOUT;
}

int shmwriter_attach(const char *dir, uint64_t chip_unique_id, uint32_t device_id, uint32_t version,
                     struct shmwriter **out)
{
    *out = NULL;
    if (version != 3 && version != 4)
        return -EINVAL;
    struct shmwriter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->fd = -1;
    w->version = version;
    w->chip_unique_id = chip_unique_id;
    w->device_id = device_id;
    w->pid = getpid();
    int len = snprintf(w->path, sizeof(w->path), "%s/tt_device_%llu_memory", dir,
                       (unsigned long long)chip_unique_id);
    int rc;
    if (len < 0 || (size_t)len >= sizeof(w->path)) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    w->fd = open(w->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0 && errno == EEXIST)
        w->fd = open(w->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (w->fd < 0) {
        rc = -errno;
        goto fail;
    }
    struct stat st;
    if (fstat(w->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto fail;
    }
    /* Grows a fresh (empty) file; TT-Metal calls it on every attach. */
    if (st.st_size < (off_t)sizeof(struct shmstats_raw) &&
        ftruncate(w->fd, sizeof(struct shmstats_raw)) != 0) {
        rc = -errno;
        goto fail;
    }
    void *map =
        mmap(NULL, sizeof(struct shmstats_raw), PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        goto fail;
    }
    w->region = map;

    if (version == 4) {
        rc = shmwriter_init_v4(w);
        if (rc != 0)
            goto fail;
        shmwriter_reap(w);
        shmwriter_reset_if_idle(w);
    } else {
        uint32_t found = __atomic_load_n(&w->region->version, __ATOMIC_ACQUIRE);
        if (found == 0)
            shmwriter_initialize(w);
        else if (found != 3) {
            rc = -EPROTO;
            goto fail;
        }
    }
    w->slot = shmwriter_claim(w);
    shmwriter_store64(&w->region->board_serial, 0);
    shmwriter_store64(&w->region->asic_id, chip_unique_id);
    shmwriter_store32(&w->region->device_id, device_id);
    *out = w;
    return 0;

fail:
    if (w->region != NULL)
        munmap(w->region, sizeof(struct shmstats_raw));
    if (w->fd >= 0)
        close(w->fd);
    free(w);
    return rc;
}

static struct shmstats_raw_chip *shmwriter_chip(struct shmwriter *w, uint32_t chip_id)
{
    struct shmstats_raw *r = w->region;
    if (chip_id == SHMSTATS_CHIP_UNUSED)
        return NULL;
    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++)
        if (__atomic_load_n(&r->chip_stats[i].chip_id, __ATOMIC_RELAXED) == chip_id)
            return &r->chip_stats[i];
    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++) {
        struct shmstats_raw_chip *c = &r->chip_stats[i];
        uint32_t expected = SHMSTATS_CHIP_UNUSED;
        if (__atomic_compare_exchange_n(&c->chip_id, &expected, chip_id, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            shmwriter_store32(&c->is_remote, 0);
            for (int t = 0; t < 5; t++)
                shmwriter_store64(shmwriter_chip_field(c, shmwriter_types[t]), 0);
            return c;
        }
        if (expected == chip_id)
            return c;
    }
    return NULL;
}

int shmwriter_register_chip(struct shmwriter *w, uint32_t chip_id, int is_remote)
{
    struct shmstats_raw_chip *c = shmwriter_chip(w, chip_id);
    if (c == NULL)
        return -ENOSPC;
    shmwriter_store32(&c->is_remote, is_remote ? 1u : 0u);
    return 0;
}

static int shmwriter_record(struct shmwriter *w, enum ttalloc_buffer_type type, uint64_t size,
                            uint32_t chip_id, int alloc)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES)
        return -EINVAL;
    if (w->slot == NULL)
        w->slot = shmwriter_claim(w); /* a peer may have left since attach */
    if (w->slot == NULL)
        return -ENOSPC;
    struct shmstats_raw *r = w->region;
    struct shmstats_raw_chip *chip = shmwriter_chip(w, chip_id);
    uint64_t *total = shmwriter_total(r, type);
    uint64_t *per_chip = chip ? shmwriter_chip_field(chip, type) : NULL;
    uint64_t *mine = shmwriter_proc_field(w->slot, type);
    if (alloc) {
        if (total)
            __atomic_fetch_add(total, size, __ATOMIC_RELAXED);
        if (per_chip)
            __atomic_fetch_add(per_chip, size, __ATOMIC_RELAXED);
    } else {
        if (total)
            shmwriter_sat_sub64(total, size);
        if (per_chip)
            shmwriter_sat_sub64(per_chip, size);
    }
    shmwriter_store64(&r->last_update_timestamp, shmwriter_now_ns());
    if (mine) {
        if (alloc)
            __atomic_fetch_add(mine, size, __ATOMIC_RELAXED);
        else
            shmwriter_sat_sub64(mine, size);
    }
    shmwriter_store64(&w->slot->last_update_timestamp, shmwriter_now_ns());
    return 0;
}

int shmwriter_alloc(struct shmwriter *w, enum ttalloc_buffer_type type, uint64_t size,
                    uint32_t chip_id)
{
    return shmwriter_record(w, type, size, chip_id, 1);
}

int shmwriter_free(struct shmwriter *w, enum ttalloc_buffer_type type, uint64_t size,
                   uint32_t chip_id)
{
    return shmwriter_record(w, type, size, chip_id, 0);
}

int shmwriter_has_slot(const struct shmwriter *w)
{
    return w->slot != NULL;
}

const char *shmwriter_path(const struct shmwriter *w)
{
    return w->path;
}

void shmwriter_detach(struct shmwriter *w)
{
    if (w == NULL)
        return;
    if (w->slot != NULL)
        shmwriter_release(w, w->slot, w->pid);
    if (w->version == 4) {
        shmwriter_reap(w);
        shmwriter_reset_if_idle(w);
    }
    munmap(w->region, sizeof(struct shmstats_raw));
    close(w->fd);
    free(w);
}
