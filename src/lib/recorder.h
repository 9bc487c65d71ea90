/*
 * recorder.h - the record path of libttalloc: the process's own table of live
 * buffers and the queue of events not yet sent, split into shards so that
 * threads recording different buffers rarely meet on a lock.
 *
 * A buffer (device, type, address) always lands in the same shard. Each shard
 * holds, under its own mutex, a buftable of its live buffers (the truth,
 * replayed after a server restart) and a bounded array of pending events.
 * When a shard's queue is full the shard stops queueing and the recorder
 * asks for a resynchronisation instead (docs/libttalloc.md argues why that
 * is correct per buffer). Nothing here makes a syscall or starts a thread:
 * the sender module drains the recorder.
 */
#ifndef TTALLOC_RECORDER_H
#define TTALLOC_RECORDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buftable.h"
#include "proto.h"

#define RECORDER_SHARDS 16
#define RECORDER_QUEUE_DEFAULT 4096 /* events per shard: 96 KiB */

struct recorder_shard {
    pthread_mutex_t lock;
    struct buftable table;      /* live buffers of this shard */
    struct proto_event *queue;  /* events not yet taken by the sender */
    size_t queue_len;
    bool overflowed;            /* the queue filled up: a resync must follow */
    bool closed;                /* recorder_destroy ran: record nothing */
} __attribute__((aligned(64)));

struct recorder {
    struct recorder_shard shards[RECORDER_SHARDS];
    size_t queue_cap;
    atomic_int needs_resync;    /* some shard overflowed since the last snapshot */
};

/* Set up an empty recorder whose shard queues hold queue_cap events each.
 * Returns 0 or -ENOMEM. */
int recorder_init(struct recorder *rec, size_t queue_cap);
/* Free its memory. Later record calls are ignored (they return 0). */
void recorder_destroy(struct recorder *rec);

/* Which shard a buffer belongs to. */
unsigned recorder_shard_of(uint32_t device, uint8_t type, uint64_t address);

/* Record an allocation or a free (arguments already validated). Returns 0 or
 * -ENOMEM when the table cannot grow (the event is still queued). */
int recorder_alloc(struct recorder *rec, uint32_t device, uint8_t type, uint64_t address,
                   uint64_t size);
int recorder_free(struct recorder *rec, uint32_t device, uint8_t type, uint64_t address);

/* Take shard `index`'s pending events: *spare (an array of queue_cap events
 * owned by the caller) becomes the shard's queue and the caller gets the old
 * queue back in *spare. Returns how many events it holds. */
size_t recorder_take(struct recorder *rec, unsigned index, struct proto_event **spare);

/* True when a shard overflowed and only a full resync can catch up. */
bool recorder_needs_resync(struct recorder *rec);

/* A growable array of events, for snapshots and staging. */
struct recorder_events {
    struct proto_event *ev;
    size_t n;
    size_t cap;
};
void recorder_events_free(struct recorder_events *events);
int recorder_events_push(struct recorder_events *events, const struct proto_event *ev, size_t n);

/* Append every live buffer to *out as ALLOC events, clearing each shard's
 * queue and overflow mark under the same lock that is held while its table is
 * copied. Sets *buffers and *bytes to their count and total size. Returns 0,
 * or -ENOMEM (the recorder then still needs a resync). */
int recorder_snapshot(struct recorder *rec, struct recorder_events *out, uint64_t *buffers,
                      uint64_t *bytes);

/* Live buffers and bytes, summed over shards (for tests and diagnostics). */
void recorder_totals(struct recorder *rec, uint64_t *buffers, uint64_t *bytes);

/* fork(): lock every shard (prepare), unlock (parent), or unlock and empty
 * everything (child: a new process starts with no buffers). */
void recorder_lock_all(struct recorder *rec);
void recorder_unlock_all(struct recorder *rec);
void recorder_reset_child(struct recorder *rec);

#endif /* TTALLOC_RECORDER_H */
