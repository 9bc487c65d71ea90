/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rings.h - the record path of libttalloc: one event queue per recording
 * thread, written without a lock, and the sender's merge of all of them
 * into one order.
 *
 * A thread's first record gives it a ring (a chain of fixed-size chunks it
 * alone writes, registered in a process-wide list). A record call marks the
 * ring busy, reads the event clock, appends the event, publishes it and
 * clears the mark: no lock, no syscall, no store to a cacheline another
 * thread writes. The sender takes events out with rings_collect, which
 * returns them merged in clock order, but only those older than a watermark
 * that no event still in flight can undercut (docs/libttalloc.md, "Order",
 * proves it). A full chunk is followed by a new one, so a record never
 * blocks and never drops an event (unless malloc fails: then the event is
 * counted as lost). A thread's exit hands its ring to the sender, which
 * frees it once it is empty; in a fork child every ring is forgotten.
 */
#ifndef TTALLOC_RINGS_H
#define TTALLOC_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RINGS_CHUNK_EVENTS 255     /* 8 KiB chunks */
#define RINGS_TAKE_MAX 16384       /* events taken from one ring per collect (512 KiB) */
#define RINGS_HELP_CHUNKS 64       /* chunks a ring may hold before its producer asks for help */
#define RINGS_IDLE_NS 100000000ull /* a thread this long without a record frees its spares */
#define RINGS_HELP_WANTED 1        /* rings_append: recorded, and the ring is long */

/* Set up the process-wide state (thread-exit key, the cross-thread fence).
 * Call once before the first rings_append. Returns 0 or a negative errno. */
int rings_init(void);

/* Record one event in the calling thread's ring: op is PROTO_OP_*, the
 * arguments already checked. Its timestamp field holds the event clock's
 * raw reading until rings_collect converts it. Returns 0; RINGS_HELP_WANTED
 * (recorded) when the ring has grown past RINGS_HELP_CHUNKS chunks because
 * the sender is behind: the caller should run a collect itself if the
 * sender is not already in one; or -ENOMEM when memory for the ring ran out
 * (the event is lost and counted). */
int rings_append(uint8_t op, uint32_t device, uint8_t type, uint64_t address, uint64_t size);

/* What rings_collect returns: events in order, timestamps still raw. */
struct rings_batch {
    struct proto_event *ev;
    size_t n;
    size_t cap;
    uint64_t watermark;      /* every event not returned, now or later, is >= it */
    uint64_t left;           /* events published but held back (at or above it) */
    struct proto_event *tmp; /* merge scratch */
    size_t tmp_cap;
};

/* The sender's side (one caller at a time): take every published event
 * below the watermark from every ring, merged by timestamp (a stable merge:
 * one thread's events keep their order), appended to batch->ev after
 * batch->n. Frees the rings of exited threads once they are empty.
 * Returns 0 or -ENOMEM (nothing was taken). */
int rings_collect(struct rings_batch *batch);

void rings_batch_free(struct rings_batch *batch);

/* Events lost because a ring could not grow (malloc failed). */
uint64_t rings_lost(void);

/* Rings registered now (live threads plus exited ones not yet emptied). */
size_t rings_count(void);

/* Chunks the rings hold now, in use or spare (for tests and debugging). */
size_t rings_chunks(void);

/* fork(): prepare takes the list's lock, parent releases it; child forgets
 * every ring (other threads did not come along) and releases it. */
void rings_atfork_prepare(void);
void rings_atfork_parent(void);
void rings_atfork_child(void);

#ifdef RINGS_TEST_HOOK
/* Tests only: called in rings_append between the clock read and the
 * publication, to stall a producer exactly where the ordering hazard is. */
extern void (*rings_test_hook)(void);
#endif

#endif /* TTALLOC_RINGS_H */
