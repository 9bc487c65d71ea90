/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tally.c - the process's live buffers and its live and peak bytes per
 * (device, type), kept from the merged event order (see tally.h).
 */
#include "tally.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lowerbound.h"

#define TALLY_WALK_STRIDE 0x9e3779b97f4a7c15ull /* odd */

void tally_init(struct tally *tally)
{
    memset(tally, 0, sizeof(*tally));
    buftable_init(&tally->buffers);
}

void tally_destroy(struct tally *tally)
{
    buftable_destroy(&tally->buffers);
    free(tally->devices);
    memset(tally, 0, sizeof(*tally));
}

void tally_clear(struct tally *tally)
{
    tally_destroy(tally);
    tally_init(tally);
}

static int tally_device_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key, ((const struct tally_device *)element)->device);
}

/* The entry of `device` (binary search), or NULL. */
static struct tally_device *tally_find(const struct tally *tally, uint32_t device, size_t *slot)
{
    size_t lo = lowerbound(&device, tally->devices, tally->n_devices, sizeof(*tally->devices),
                           tally_device_cmp);
    if (slot != NULL)
        *slot = lo;
    if (lo < tally->n_devices && tally->devices[lo].device == device)
        return &tally->devices[lo];
    return NULL;
}

static struct tally_device *tally_device_entry(struct tally *tally, uint32_t device)
{
    size_t slot;
    struct tally_device *found = tally_find(tally, device, &slot);
    if (found != NULL)
        return found;
    if (tally->n_devices == tally->cap_devices) {
        size_t cap = tally->cap_devices ? tally->cap_devices * 2 : 4;
        struct tally_device *grown = realloc(tally->devices, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        tally->devices = grown;
        tally->cap_devices = cap;
    }
    memmove(&tally->devices[slot + 1], &tally->devices[slot],
            (tally->n_devices - slot) * sizeof(*tally->devices));
    memset(&tally->devices[slot], 0, sizeof(*tally->devices));
    tally->devices[slot].device = device;
    tally->n_devices++;
    return &tally->devices[slot];
}

int tally_apply(struct tally *tally, const struct proto_event *ev)
{
    switch (ev->op) {
    case PROTO_OP_ALLOC: {
        struct tally_device *dev = tally_device_entry(tally, ev->device);
        uint64_t old_size = 0;
        int rc = dev == NULL ? -ENOMEM
                             : buftable_insert(&tally->buffers, ev->device, ev->type, ev->address,
                                               ev->size, &old_size);
        if (rc < 0) {
            tally->lost++;
            return -ENOMEM;
        }
        uint64_t *live = &dev->live[ev->type];
        *live = *live - (rc == 1 ? old_size : 0) + ev->size;
        if (*live > dev->peak[ev->type])
            dev->peak[ev->type] = *live;
        return 0;
    }
    case PROTO_OP_FREE: {
        uint64_t size;
        if (buftable_remove(&tally->buffers, ev->device, ev->type, ev->address, &size) == 1) {
            struct tally_device *dev = tally_find(tally, ev->device, NULL);
            if (dev != NULL)
                dev->live[ev->type] -= size;
        }
        return 0;
    }
    case PROTO_OP_RESET_PEAK:
        for (size_t i = 0; i < tally->n_devices; i++)
            memcpy(tally->devices[i].peak, tally->devices[i].live, sizeof(tally->devices[i].peak));
        return 0;
    default:
        return 0;
    }
}

void tally_memory(const struct tally *tally, uint32_t device, uint8_t type, uint64_t *live,
                  uint64_t *peak)
{
    const struct tally_device *dev = tally_find(tally, device, NULL);
    *live = dev != NULL ? dev->live[type] : 0;
    *peak = dev != NULL ? dev->peak[type] : 0;
}

int tally_buffers_as_events(const struct tally *tally, uint64_t timestamp_ns,
                            struct proto_event **ev, size_t *n, size_t *cap, uint64_t *buffers,
                            uint64_t *bytes)
{
    size_t need = *n + tally->buffers.count;
    if (need > *cap) {
        struct proto_event *grown = realloc(*ev, need * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        *ev = grown;
        *cap = need;
    }
    uint64_t sum = 0;
    size_t start = *n;
    /* Not in slot order: the server's table uses the same hash, and keys
     * inserted in the order of their slots pile into one long probe run
     * (100,000 buffers took the server seconds). An odd stride visits every
     * slot of a power-of-two table once, in an order unrelated to the hash. */
    const struct buftable *table = &tally->buffers;
    for (size_t i = 0; i < table->capacity; i++) {
        const struct buftable_entry *e =
            &table->slots[(i * TALLY_WALK_STRIDE) & (table->capacity - 1)];
        if (e->size == 0)
            continue;
        (*ev)[(*n)++] = (struct proto_event){.address = e->address,
                                             .size = e->size,
                                             .device = e->device,
                                             .type = e->type,
                                             .op = PROTO_OP_ALLOC,
                                             .reserved = 0,
                                             .timestamp_ns = timestamp_ns};
        sum += e->size;
    }
    *buffers = *n - start;
    *bytes = sum;
    return 0;
}

int tally_peaks(const struct tally *tally, struct proto_peak **out, size_t *n)
{
    size_t count = 0;
    for (size_t i = 0; i < tally->n_devices; i++) {
        for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++)
            count += tally->devices[i].peak[t] != 0;
    }
    *out = NULL;
    *n = 0;
    if (count == 0)
        return 0;
    struct proto_peak *peaks = calloc(count, sizeof(*peaks));
    if (peaks == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < tally->n_devices; i++) {
        for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (tally->devices[i].peak[t] == 0)
                continue;
            peaks[*n].device = tally->devices[i].device;
            peaks[*n].type = (uint8_t)t;
            peaks[*n].peak_bytes = tally->devices[i].peak[t];
            (*n)++;
        }
    }
    *out = peaks;
    return 0;
}
