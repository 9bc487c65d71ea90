/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buftable.c - open-addressing table of live buffers (see buftable.h).
 */
#include "buftable.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define BUFTABLE_MIN_CAPACITY 16u
/* Grow when count would pass capacity * 4 / 5: worst case 60 bytes a buffer
 * right after growing, 30 just before. */
#define BUFTABLE_LOAD_NUM 4u
#define BUFTABLE_LOAD_DEN 5u

/* splitmix64's finaliser: every output bit depends on every input bit. */
static inline uint64_t buftable_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The home slot of a key. Keyed by the table's secret seed: a client that
 * chooses its own addresses (a hostile one, or one replaying its table in
 * its own slot order) cannot aim them at one cluster of linear probing and
 * make inserts quadratic. Device and type are mixed in apart from the
 * address, so no two keys fold to one value before the mix. */
static inline size_t buftable_home(const struct buftable *table, uint32_t device, uint8_t type,
                                   uint64_t address)
{
    uint64_t h = buftable_mix(address ^ table->seed);
    h = buftable_mix(h ^ (((uint64_t)device << 8) | type));
    return (size_t)(h >> table->shift);
}

/* A seed per table: a random base (getrandom, once per process) plus a
 * counter, so that two tables never share their slot order either. */
static uint64_t buftable_new_seed(void)
{
    static _Atomic uint64_t base;
    static _Atomic uint64_t counter;
    uint64_t b = atomic_load_explicit(&base, memory_order_relaxed);
    if (b == 0) {
        uint64_t fresh = 0;
        if (getrandom(&fresh, sizeof(fresh), GRND_NONBLOCK) != (ssize_t)sizeof(fresh)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            fresh = buftable_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                                 (uint64_t)getpid());
        }
        fresh |= 1;
        uint64_t expected = 0;
        if (!atomic_compare_exchange_strong(&base, &expected, fresh))
            fresh = expected;
        b = fresh;
    }
    return buftable_mix(b + atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed));
}

static inline int buftable_same(const struct buftable_entry *e, uint32_t device, uint8_t type,
                                uint64_t address)
{
    return e->address == address && e->device == device && e->type == type;
}

void buftable_init(struct buftable *table)
{
    memset(table, 0, sizeof(*table));
    table->seed = buftable_new_seed();
}

void buftable_destroy(struct buftable *table)
{
    free(table->slots);
    uint64_t seed = table->seed;
    memset(table, 0, sizeof(*table));
    table->seed = seed;
}

void buftable_clear(struct buftable *table)
{
    if (table->slots != NULL)
        memset(table->slots, 0, table->capacity * sizeof(table->slots[0]));
    table->count = 0;
}

static unsigned buftable_log2(size_t capacity)
{
    unsigned bits = 0;
    while (((size_t)1 << bits) < capacity)
        bits++;
    return bits;
}

size_t buftable_longest_run(const struct buftable *table)
{
    size_t longest = 0, run = 0;
    /* twice round, so a run that wraps past the end is counted whole */
    for (size_t i = 0; i < 2 * table->capacity; i++) {
        if (table->slots[i & (table->capacity - 1)].size != 0) {
            run++;
            if (run > longest)
                longest = run;
        } else {
            run = 0;
        }
    }
    return longest < table->capacity ? longest : table->capacity;
}

/* Place an entry known to be absent; the table has a free slot. */
static void buftable_place(struct buftable *table, const struct buftable_entry *entry)
{
    size_t mask = table->capacity - 1;
    size_t i = buftable_home(table, entry->device, entry->type, entry->address);
    while (table->slots[i].size != 0)
        i = (i + 1) & mask;
    table->slots[i] = *entry;
}

static int buftable_grow(struct buftable *table)
{
    size_t new_capacity = table->capacity ? table->capacity * 2 : BUFTABLE_MIN_CAPACITY;
    if (new_capacity > SIZE_MAX / sizeof(struct buftable_entry))
        return -ENOMEM;
    struct buftable_entry *slots = calloc(new_capacity, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;

    struct buftable old = *table;
    table->slots = slots;
    table->capacity = new_capacity;
    table->shift = 64u - buftable_log2(new_capacity);
    for (size_t i = 0; i < old.capacity; i++) {
        if (old.slots[i].size != 0)
            buftable_place(table, &old.slots[i]);
    }
    free(old.slots);
    return 0;
}

int buftable_insert(struct buftable *table, uint32_t device, uint8_t type, uint64_t address,
                    uint64_t size, uint64_t *old_size)
{
    if ((table->count + 1) * BUFTABLE_LOAD_DEN > table->capacity * BUFTABLE_LOAD_NUM) {
        int rc = buftable_grow(table);
        if (rc < 0)
            return rc;
    }
    size_t mask = table->capacity - 1;
    size_t i = buftable_home(table, device, type, address);
    for (;;) {
        struct buftable_entry *e = &table->slots[i];
        if (e->size == 0) {
            e->address = address;
            e->size = size;
            e->device = device;
            e->type = type;
            table->count++;
            return 0;
        }
        if (buftable_same(e, device, type, address)) {
            *old_size = e->size;
            e->size = size;
            return 1;
        }
        i = (i + 1) & mask;
    }
}

int buftable_remove(struct buftable *table, uint32_t device, uint8_t type, uint64_t address,
                    uint64_t *size)
{
    if (table->count == 0)
        return 0;
    size_t mask = table->capacity - 1;
    size_t i = buftable_home(table, device, type, address);
    for (;;) {
        struct buftable_entry *e = &table->slots[i];
        if (e->size == 0)
            return 0;
        if (buftable_same(e, device, type, address))
            break;
        i = (i + 1) & mask;
    }
    *size = table->slots[i].size;

    /* Backward-shift deletion: pull later entries of the probe run into the
     * hole when that moves them no further from their home slot. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct buftable_entry *e = &table->slots[j];
        if (e->size == 0)
            break;
        size_t home = buftable_home(table, e->device, e->type, e->address);
        /* e may move to the hole if its home is not cyclically in (hole, j]. */
        int home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!home_between) {
            table->slots[hole] = *e;
            hole = j;
        }
    }
    memset(&table->slots[hole], 0, sizeof(table->slots[hole]));
    table->count--;
    return 1;
}

uint64_t buftable_lookup(const struct buftable *table, uint32_t device, uint8_t type,
                         uint64_t address)
{
    if (table->count == 0)
        return 0;
    size_t mask = table->capacity - 1;
    size_t i = buftable_home(table, device, type, address);
    for (;;) {
        const struct buftable_entry *e = &table->slots[i];
        if (e->size == 0)
            return 0;
        if (buftable_same(e, device, type, address))
            return e->size;
        i = (i + 1) & mask;
    }
}

const struct buftable_entry *buftable_next(const struct buftable *table, size_t *pos)
{
    while (*pos < table->capacity) {
        const struct buftable_entry *e = &table->slots[(*pos)++];
        if (e->size != 0)
            return e;
    }
    return NULL;
}

size_t buftable_memory(const struct buftable *table)
{
    return table->capacity * sizeof(struct buftable_entry);
}
