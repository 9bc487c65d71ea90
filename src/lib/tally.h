/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tally.h - what this process holds, as the sender counts it from the merged
 * event order: its live buffers (the truth replayed after a server restart)
 * and, per (device, type), live bytes and the peak since the process
 * started or its last ttalloc_reset_peak. Applied one event at a time in the
 * order rings_collect gives, so the peak is exact: it is the highest live
 * figure between two consecutive events of that order.
 *
 * One tally per process, kept by the sender under its lock.
 */
#ifndef TTALLOC_TALLY_H
#define TTALLOC_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "buftable.h"
#include "proto.h"
#include "ttalloc.h"

struct tally_device {
    uint32_t device;
    uint64_t live[TTALLOC_NUM_TYPES];
    uint64_t peak[TTALLOC_NUM_TYPES];
};

struct tally {
    struct buftable buffers;
    struct tally_device *devices; /* ascending device id */
    size_t n_devices;
    size_t cap_devices;
    uint64_t lost; /* events not applied for lack of memory */
};

void tally_init(struct tally *tally);
void tally_destroy(struct tally *tally);
/* Forget everything (a fork child). */
void tally_clear(struct tally *tally);

/* Apply one event: ALLOC adds (or resizes) a buffer, FREE removes it (a free
 * of an unknown buffer changes nothing), RESET_PEAK sets every peak to the
 * live figure. Returns 0 or -ENOMEM (counted in tally->lost). */
int tally_apply(struct tally *tally, const struct proto_event *ev);

/* Live and peak bytes of (device, type); 0 for a device never seen. */
void tally_memory(const struct tally *tally, uint32_t device, uint8_t type, uint64_t *live,
                  uint64_t *peak);

/* Every live buffer as an ALLOC event stamped `timestamp_ns`, appended to
 * *ev (grown with realloc; *n events, *cap capacity). Sets *buffers and
 * *bytes to their count and sum. Returns 0 or -ENOMEM. */
int tally_buffers_as_events(const struct tally *tally, uint64_t timestamp_ns,
                            struct proto_event **ev, size_t *n, size_t *cap, uint64_t *buffers,
                            uint64_t *bytes);

/* Every nonzero peak as a proto_peak, into a malloc'd array (*out, *n;
 * *out is NULL when there is none). Returns 0 or -ENOMEM. */
int tally_peaks(const struct tally *tally, struct proto_peak **out, size_t *n);

#endif /* TTALLOC_TALLY_H */
