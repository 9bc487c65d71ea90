/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buftable.h - an open-addressing hash table of live buffers, keyed by
 * (device, type, address) and holding each buffer's size. The client library
 * keeps one in its sender thread (tally.c: its own truth, replayed after a
 * server restart); the server keeps one per process. The hash is keyed by a
 * secret seed per table, so no client can choose keys that pile up in one
 * probe run and stall the server. Linear probing with backward-shift deletion,
 * so there are no tombstones and lookups stay short under churn. An entry is
 * 24 bytes; a slot whose size is 0 is empty (live buffers are never empty).
 */
#ifndef TTALLOC_BUFTABLE_H
#define TTALLOC_BUFTABLE_H

#include <stddef.h>
#include <stdint.h>

struct buftable_entry {
    uint64_t address;
    uint64_t size; /* 0: empty slot */
    uint32_t device;
    uint8_t type;
    uint8_t reserved[3];
};

struct buftable {
    struct buftable_entry *slots;
    size_t capacity; /* 0 or a power of two */
    size_t count;
    unsigned shift; /* 64 - log2(capacity) */
    uint64_t seed;  /* secret key of the hash (buftable_init draws it) */
};

void buftable_init(struct buftable *table);
void buftable_destroy(struct buftable *table);
/* Empty the table, keeping its memory. */
void buftable_clear(struct buftable *table);

/* The longest run of occupied slots (a probe can be no longer): a
 * diagnostic, and what the tests check to see the hash spread keys. */
size_t buftable_longest_run(const struct buftable *table);

/* Add a buffer. Returns 0 when it was new, 1 when the key was live already (its
 * old size is put in *old_size and replaced), -ENOMEM when the table cannot grow. */
int buftable_insert(struct buftable *table, uint32_t device, uint8_t type, uint64_t address,
                    uint64_t size, uint64_t *old_size);

/* Remove a buffer. Returns 1 and its size in *size when found, 0 when not. */
int buftable_remove(struct buftable *table, uint32_t device, uint8_t type, uint64_t address,
                    uint64_t *size);

/* Size of a live buffer, or 0 when not live. */
uint64_t buftable_lookup(const struct buftable *table, uint32_t device, uint8_t type,
                         uint64_t address);

/* Walk the live entries: start with *pos = 0; returns NULL at the end. The
 * table must not change during the walk. */
const struct buftable_entry *buftable_next(const struct buftable *table, size_t *pos);

/* Bytes of memory the table holds. */
size_t buftable_memory(const struct buftable *table);

#endif /* TTALLOC_BUFTABLE_H */
