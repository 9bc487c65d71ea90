/*
 * recorder.c - sharded live-buffer tables and pending-event queues (see
 * recorder.h). The record path takes one uncontended mutex, updates a hash
 * table and appends 24 bytes: no syscall, no allocation once warm.
 */
#include "recorder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int recorder_init(struct recorder *rec, size_t queue_cap)
{
    memset(rec, 0, sizeof(*rec));
    rec->queue_cap = queue_cap;
    atomic_init(&rec->needs_resync, 0);
    for (unsigned i = 0; i < RECORDER_SHARDS; i++) {
        struct recorder_shard *shard = &rec->shards[i];
        pthread_mutex_init(&shard->lock, NULL);
        buftable_init(&shard->table);
        shard->queue = calloc(queue_cap, sizeof(*shard->queue));
        if (shard->queue == NULL) {
            recorder_destroy(rec);
            return -ENOMEM;
        }
    }
    return 0;
}

void recorder_destroy(struct recorder *rec)
{
    for (unsigned i = 0; i < RECORDER_SHARDS; i++) {
        struct recorder_shard *shard = &rec->shards[i];
        pthread_mutex_lock(&shard->lock);
        buftable_destroy(&shard->table);
        free(shard->queue);
        shard->queue = NULL;
        shard->queue_len = 0;
        shard->closed = true;
        pthread_mutex_unlock(&shard->lock);
    }
}

unsigned recorder_shard_of(uint32_t device, uint8_t type, uint64_t address)
{
    /* MurmurHash3's 64-bit finaliser, low bits: independent of the high
     * bits of the Fibonacci product that buftable uses for slots, so one
     * shard's keys still spread over its whole table. */
    uint64_t h = address ^ ((uint64_t)device << 40) ^ ((uint64_t)type << 58) ^
                 ((uint64_t)device >> 24);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (unsigned)(h & (RECORDER_SHARDS - 1));
}

/* Queue one event on a locked shard, or mark the shard as overflowed. */
/* CLOCK_MONOTONIC in ns: the time of an event. */
static uint64_t recorder_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void recorder_queue(struct recorder *rec, struct recorder_shard *shard,
                           const struct proto_event *ev)
{
    if (shard->overflowed)
        return;
    if (shard->queue_len == rec->queue_cap) {
        shard->overflowed = true;
        atomic_store(&rec->needs_resync, 1);
        return;
    }
    shard->queue[shard->queue_len++] = *ev;
}

int recorder_alloc(struct recorder *rec, uint32_t device, uint8_t type, uint64_t address,
                   uint64_t size)
{
    struct recorder_shard *shard = &rec->shards[recorder_shard_of(device, type, address)];
    struct proto_event ev = {.address = address, .size = size, .device = device, .type = type,
                             .op = PROTO_OP_ALLOC, .reserved = 0,
                             .timestamp_ns = recorder_now_ns()};
    uint64_t old_size;
    int rc = 0;

    pthread_mutex_lock(&shard->lock);
    if (!shard->closed) {
        if (buftable_insert(&shard->table, device, type, address, size, &old_size) < 0)
            rc = -ENOMEM;
        recorder_queue(rec, shard, &ev);
    }
    pthread_mutex_unlock(&shard->lock);
    return rc;
}

int recorder_free(struct recorder *rec, uint32_t device, uint8_t type, uint64_t address)
{
    struct recorder_shard *shard = &rec->shards[recorder_shard_of(device, type, address)];
    struct proto_event ev = {.address = address, .size = 0, .device = device, .type = type,
                             .op = PROTO_OP_FREE, .reserved = 0,
                             .timestamp_ns = recorder_now_ns()};
    uint64_t size;

    pthread_mutex_lock(&shard->lock);
    if (!shard->closed) {
        buftable_remove(&shard->table, device, type, address, &size);
        recorder_queue(rec, shard, &ev);
    }
    pthread_mutex_unlock(&shard->lock);
    return 0;
}

size_t recorder_take(struct recorder *rec, unsigned index, struct proto_event **spare)
{
    struct recorder_shard *shard = &rec->shards[index];
    size_t n = 0;

    pthread_mutex_lock(&shard->lock);
    if (!shard->closed && shard->queue != NULL) {
        struct proto_event *full = shard->queue;
        shard->queue = *spare;
        *spare = full;
        n = shard->queue_len;
        shard->queue_len = 0;
    }
    pthread_mutex_unlock(&shard->lock);
    return n;
}

bool recorder_needs_resync(struct recorder *rec)
{
    return atomic_load(&rec->needs_resync) != 0;
}

void recorder_events_free(struct recorder_events *events)
{
    free(events->ev);
    memset(events, 0, sizeof(*events));
}

int recorder_events_push(struct recorder_events *events, const struct proto_event *ev, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(*ev) - events->n)
        return -ENOMEM;
    if (events->n + n > events->cap) {
        size_t cap = events->cap ? events->cap : 1024;
        while (cap < events->n + n)
            cap *= 2;
        struct proto_event *grown = realloc(events->ev, cap * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        events->ev = grown;
        events->cap = cap;
    }
    memcpy(events->ev + events->n, ev, n * sizeof(*ev));
    events->n += n;
    return 0;
}

int recorder_snapshot(struct recorder *rec, struct recorder_events *out, uint64_t *buffers,
                      uint64_t *bytes)
{
    size_t start = out->n;
    uint64_t sum = 0;
    int rc = 0;

    /* Clear the flag first: an overflow that happens during the walk, in a
     * shard already copied, sets it again and earns another resync. */
    atomic_store(&rec->needs_resync, 0);
    for (unsigned i = 0; i < RECORDER_SHARDS && rc == 0; i++) {
        struct recorder_shard *shard = &rec->shards[i];
        pthread_mutex_lock(&shard->lock);
        size_t pos = 0;
        const struct buftable_entry *e;
        while (!shard->closed && (e = buftable_next(&shard->table, &pos)) != NULL) {
            struct proto_event ev = {.address = e->address, .size = e->size,
                                     .device = e->device, .type = e->type,
                                     .op = PROTO_OP_ALLOC, .reserved = 0,
                                     .timestamp_ns = recorder_now_ns()};
            rc = recorder_events_push(out, &ev, 1);
            if (rc < 0)
                break;
            sum += e->size;
        }
        if (rc == 0) {
            /* The copy above is this shard's whole truth as of now: the
             * events queued before it are contained in it. */
            shard->queue_len = 0;
            shard->overflowed = false;
        }
        pthread_mutex_unlock(&shard->lock);
    }
    if (rc < 0) {
        out->n = start;
        atomic_store(&rec->needs_resync, 1);
        return rc;
    }
    *buffers = out->n - start;
    *bytes = sum;
    return 0;
}

void recorder_totals(struct recorder *rec, uint64_t *buffers, uint64_t *bytes)
{
    uint64_t count = 0;
    uint64_t sum = 0;

    for (unsigned i = 0; i < RECORDER_SHARDS; i++) {
        struct recorder_shard *shard = &rec->shards[i];
        pthread_mutex_lock(&shard->lock);
        size_t pos = 0;
        const struct buftable_entry *e;
        while ((e = buftable_next(&shard->table, &pos)) != NULL) {
            count++;
            sum += e->size;
        }
        pthread_mutex_unlock(&shard->lock);
    }
    *buffers = count;
    *bytes = sum;
}

void recorder_lock_all(struct recorder *rec)
{
    for (unsigned i = 0; i < RECORDER_SHARDS; i++)
        pthread_mutex_lock(&rec->shards[i].lock);
}

void recorder_unlock_all(struct recorder *rec)
{
    for (unsigned i = RECORDER_SHARDS; i-- > 0;)
        pthread_mutex_unlock(&rec->shards[i].lock);
}

void recorder_reset_child(struct recorder *rec)
{
    recorder_unlock_all(rec);
    for (unsigned i = 0; i < RECORDER_SHARDS; i++) {
        struct recorder_shard *shard = &rec->shards[i];
        pthread_mutex_lock(&shard->lock);
        buftable_destroy(&shard->table);
        shard->queue_len = 0;
        shard->overflowed = false;
        pthread_mutex_unlock(&shard->lock);
    }
    atomic_store(&rec->needs_resync, 0);
}
