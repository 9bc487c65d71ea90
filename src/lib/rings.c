/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rings.c - per-thread event queues and their merge (see rings.h; the proof
 * of the merge rule is in docs/libttalloc.md, "Order").
 *
 * A ring is a chain of chunks. Its producer (one thread) owns the first
 * cacheline: the count of published events and the busy mark. The sender
 * owns the second: its read position. The producer never reads the
 * sender's line except to take back a spare chunk when it starts a new one,
 * once every RINGS_CHUNK_EVENTS events.
 *
 * The fence between the busy mark and the clock read is paid by the sender:
 * with membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) every running thread of
 * the process executes a full barrier, so the producers' plain stores are
 * enough. Where membarrier is refused, producers mark with an atomic
 * exchange (a full barrier of their own) instead.
 */
#include "rings.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eventclock.h"

struct ring_chunk {
    struct ring_chunk *next; /* set by the producer before it publishes into it */
    struct proto_event ev[RINGS_CHUNK_EVENTS];
};

struct ring {
    /* The producer's line. */
    atomic_uint_least64_t published; /* events published so far */
    atomic_uint busy;                /* 1 from before the clock read to after publication */
    atomic_uint exited;              /* its thread is gone: nothing more will come */
    struct ring_chunk *write_chunk;
    uint32_t write_pos;
    uint64_t count;           /* the producer's copy of published */
    struct ring_chunk *reuse; /* spare chunks taken back, not yet used */
    bool want_help;           /* the last new chunk came from malloc, past the limit */

    /* The sender's line. */
    struct ring_chunk *read_chunk __attribute__((aligned(64)));
    uint32_t read_pos;
    uint64_t consumed;       /* events taken */
    uint64_t last_ts;        /* timestamp of the last event taken */
    uint64_t seen_published; /* this round's reading of published */
    uint64_t take_end;       /* ... capped to this round's share */
    bool seen_exited;
    _Atomic(struct ring_chunk *) spare; /* drained chunks for the producer to reuse (a stack) */
    uint64_t idle_since;                /* CLOCK_MONOTONIC ns of its first idle round, or 0 */
    atomic_uint owned;                  /* chunks allocated and not yet freed */
    struct ring *next;                  /* the list, under rings_lock */
};

static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held around a producer's malloc of a chunk, and by fork (rings_atfork_*):
 * so a fork never copies an allocator lock that one of our calls holds into
 * a child that needs it. glibc's malloc guards itself at fork; others (ASan's
 * allocator in GCC 12) do not, and the child's first allocation hung. */
static pthread_mutex_t rings_chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring *rings_list;
static size_t rings_n;
static pthread_key_t rings_key;
static bool rings_ready;
static bool rings_membarrier; /* set before the first record, then read-only */
static atomic_uint_least64_t rings_lost_events;
static __thread struct ring *rings_mine __attribute__((tls_model("initial-exec")));

#ifdef RINGS_TEST_HOOK
void (*rings_test_hook)(void);
#endif

static bool rings_register_membarrier(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        return false;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* pthread key destructor: the thread is leaving; the sender frees the ring
 * once it has taken every event. */
static void rings_thread_exit(void *arg)
{
    struct ring *ring = arg;
    rings_mine = NULL;
    atomic_store_explicit(&ring->exited, 1, memory_order_release);
}

int rings_init(void)
{
    if (rings_ready)
        return 0;
    int err = pthread_key_create(&rings_key, rings_thread_exit);
    if (err != 0)
        return -err;
    rings_membarrier = rings_register_membarrier();
    rings_ready = true;
    return 0;
}

/* Free a chain of chunks; returns how many. */
static unsigned rings_free_chain(struct ring_chunk *chunk)
{
    unsigned n = 0;
    while (chunk != NULL) {
        struct ring_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
        n++;
    }
    return n;
}

static void rings_free_ring(struct ring *ring)
{
    struct ring_chunk *chunk = ring->read_chunk;
    while (chunk != NULL) {
        struct ring_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    rings_free_chain(atomic_load(&ring->spare));
    rings_free_chain(ring->reuse);
    free(ring);
}

/* The calling thread's first record: a ring of its own, registered. */
static struct ring *rings_adopt(void)
{
    struct ring *ring = aligned_alloc(64, sizeof(*ring));
    struct ring_chunk *chunk = malloc(sizeof(*chunk));
    if (ring == NULL || chunk == NULL) {
        free(ring);
        free(chunk);
        return NULL;
    }
    memset(ring, 0, sizeof(*ring));
    chunk->next = NULL;
    ring->write_chunk = ring->read_chunk = chunk;
    atomic_init(&ring->published, 0);
    atomic_init(&ring->busy, 0);
    atomic_init(&ring->exited, 0);
    atomic_init(&ring->spare, NULL);
    atomic_init(&ring->owned, 1);
    if (pthread_setspecific(rings_key, ring) != 0) {
        rings_free_ring(ring);
        return NULL;
    }
    pthread_mutex_lock(&rings_lock);
    ring->next = rings_list;
    rings_list = ring;
    rings_n++;
    pthread_mutex_unlock(&rings_lock);
    rings_mine = ring;
    return ring;
}

/* The producer's chunk is full: continue in a new one (one the sender gave
 * back if there is one: a busy thread cycles through the same few chunks
 * rather than through malloc). The link is published with the first event
 * in it. */
static int rings_grow(struct ring *ring)
{
    if (ring->reuse == NULL)
        ring->reuse = atomic_exchange_explicit(&ring->spare, NULL, memory_order_acquire);
    struct ring_chunk *chunk = ring->reuse;
    if (chunk != NULL) {
        ring->reuse = chunk->next;
        ring->want_help = false;
    } else {
        pthread_mutex_lock(&rings_chunk_lock);
        chunk = malloc(sizeof(*chunk));
        pthread_mutex_unlock(&rings_chunk_lock);
        if (chunk == NULL)
            return -ENOMEM;
        unsigned owned = atomic_fetch_add_explicit(&ring->owned, 1, memory_order_relaxed) + 1;
        ring->want_help = owned > RINGS_HELP_CHUNKS;
    }
    chunk->next = NULL;
    ring->write_chunk->next = chunk;
    ring->write_chunk = chunk;
    ring->write_pos = 0;
    return 0;
}

int rings_append(uint8_t op, uint32_t device, uint8_t type, uint64_t address, uint64_t size)
{
    struct ring *ring = rings_mine;
    int rc = 0;
    if (ring == NULL && (ring = rings_adopt()) == NULL)
        goto lost;
    if (ring->write_pos == RINGS_CHUNK_EVENTS) {
        if (rings_grow(ring) < 0)
            goto lost;
        rc = ring->want_help ? RINGS_HELP_WANTED : 0;
    }
    /* Mark busy before reading the clock. The store must be visible to a
     * sender that reads the clock later than we do: membarrier on its side
     * makes it so; without it, our own full barrier. */
    if (rings_membarrier) {
        atomic_store_explicit(&ring->busy, 1, memory_order_release);
        atomic_signal_fence(memory_order_seq_cst);
    } else {
        atomic_exchange_explicit(&ring->busy, 1, memory_order_seq_cst);
    }
    uint64_t now = eventclock_read();
#ifdef RINGS_TEST_HOOK
    if (rings_test_hook != NULL)
        rings_test_hook();
#endif
    struct proto_event *ev = &ring->write_chunk->ev[ring->write_pos++];
    ev->address = address;
    ev->size = size;
    ev->device = device;
    ev->type = type;
    ev->op = op;
    ev->reserved = 0;
    ev->timestamp_ns = now;
    atomic_store_explicit(&ring->published, ++ring->count, memory_order_release);
    atomic_store_explicit(&ring->busy, 0, memory_order_release);
    return rc;
lost:
    atomic_fetch_add_explicit(&rings_lost_events, 1, memory_order_relaxed);
    return -ENOMEM;
}

/* The event `index` (counted from the start of the ring) among those not
 * yet taken. */
static const struct proto_event *rings_peek(const struct ring *ring, uint64_t index)
{
    uint64_t offset = ring->read_pos + (index - ring->consumed);
    const struct ring_chunk *chunk = ring->read_chunk;
    while (offset >= RINGS_CHUNK_EVENTS) {
        chunk = chunk->next;
        offset -= RINGS_CHUNK_EVENTS;
    }
    return &chunk->ev[offset];
}

/* Take the next event (published, not yet taken), moving to the next chunk
 * when this one is used up and giving the old one back as a spare. */
static const struct proto_event *rings_take(struct ring *ring)
{
    if (ring->read_pos == RINGS_CHUNK_EVENTS) {
        struct ring_chunk *used = ring->read_chunk;
        ring->read_chunk = used->next;
        ring->read_pos = 0;
        /* Push it on the spare stack (the producer only ever takes the
         * whole stack, so there is no ABA). */
        struct ring_chunk *top = atomic_load_explicit(&ring->spare, memory_order_relaxed);
        do {
            used->next = top;
        } while (!atomic_compare_exchange_weak_explicit(
            &ring->spare, &top, used, memory_order_release, memory_order_relaxed));
    }
    const struct proto_event *ev = &ring->read_chunk->ev[ring->read_pos++];
    ring->consumed++;
    ring->last_ts = ev->timestamp_ns;
    return ev;
}

static int rings_reserve(struct proto_event **array, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t grown_cap = *cap ? *cap : 1024;
    while (grown_cap < need)
        grown_cap *= 2;
    struct proto_event *grown = realloc(*array, grown_cap * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    *array = grown;
    *cap = grown_cap;
    return 0;
}

/* Merge sorted runs ev[bounds[i] .. bounds[i+1]) pairwise until one is left;
 * on equal timestamps the earlier run goes first. */
static void rings_merge_runs(struct rings_batch *batch, size_t *bounds, size_t runs)
{
    struct proto_event *src = batch->ev, *dst = batch->tmp;
    while (runs > 1) {
        size_t out_runs = 0;
        for (size_t r = 0; r < runs; r += 2) {
            size_t a = bounds[r], a_end = bounds[r + 1];
            size_t b = a_end, b_end = r + 1 < runs ? bounds[r + 2] : a_end;
            size_t at = a;
            while (a < a_end && b < b_end)
                dst[at++] = src[b].timestamp_ns < src[a].timestamp_ns ? src[b++] : src[a++];
            while (a < a_end)
                dst[at++] = src[a++];
            while (b < b_end)
                dst[at++] = src[b++];
            bounds[out_runs++] = bounds[r];
        }
        bounds[out_runs] = bounds[runs];
        runs = out_runs;
        struct proto_event *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != batch->ev) {
        /* The merged result lies in the scratch array: copy it back. */
        memcpy(batch->ev + bounds[0], src + bounds[0], (bounds[1] - bounds[0]) * sizeof(*src));
    }
}

/* Make every producer's busy mark, stored before its clock read, visible
 * to loads that follow this call, if that clock read came before ours. */
static void rings_fence(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* Our clock reading happens before anything after this. */
    __asm__ __volatile__("lfence" : : : "memory");
#endif
    if (rings_membarrier && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
    atomic_thread_fence(memory_order_seq_cst);
}

int rings_collect(struct rings_batch *batch)
{
    uint64_t now_ns = eventclock_monotonic_ns();
    uint64_t watermark = eventclock_read();
    rings_fence();

    pthread_mutex_lock(&rings_lock);
    /* Pass 1: what each ring has published, and the watermark: no event
     * not yet published can be older than the last published event of a
     * ring whose thread is between its clock read and its publication. */
    size_t runs = 0;
    for (struct ring *ring = rings_list; ring != NULL; ring = ring->next) {
        ring->seen_exited = atomic_load_explicit(&ring->exited, memory_order_acquire) != 0;
        unsigned busy = atomic_load_explicit(&ring->busy, memory_order_acquire);
        ring->seen_published = atomic_load_explicit(&ring->published, memory_order_acquire);
        ring->take_end = ring->seen_published;
        if (ring->take_end - ring->consumed > RINGS_TAKE_MAX) {
            /* Take a bounded share, which stays in cache: what is left
             * starts at the event after it, so nothing may pass that one. */
            ring->take_end = ring->consumed + RINGS_TAKE_MAX;
            uint64_t first_left = rings_peek(ring, ring->take_end)->timestamp_ns;
            if (first_left < watermark)
                watermark = first_left;
        }
        if (busy) {
            uint64_t newest = ring->take_end > ring->consumed
                                  ? rings_peek(ring, ring->take_end - 1)->timestamp_ns
                                  : ring->last_ts;
            if (newest < watermark)
                watermark = newest;
        }
        runs++;
    }

    /* Room for everything published (an upper bound), run bounds included. */
    size_t total = batch->n;
    for (struct ring *ring = rings_list; ring != NULL; ring = ring->next)
        total += (size_t)(ring->take_end - ring->consumed);
    size_t *bounds = malloc((runs + 2) * sizeof(*bounds));
    if (bounds == NULL || rings_reserve(&batch->ev, &batch->cap, total) < 0 ||
        rings_reserve(&batch->tmp, &batch->tmp_cap, total) < 0) {
        pthread_mutex_unlock(&rings_lock);
        free(bounds);
        return -ENOMEM;
    }

    /* Pass 2: take each ring's events below the watermark: one sorted run
     * per ring. Free the rings of exited threads once they are empty. */
    size_t n_runs = 0;
    uint64_t left = 0;
    bounds[0] = batch->n;
    struct ring **link = &rings_list;
    while (*link != NULL) {
        struct ring *ring = *link;
        size_t start = batch->n;
        while (ring->consumed < ring->take_end &&
               rings_peek(ring, ring->consumed)->timestamp_ns < watermark)
            batch->ev[batch->n++] = *rings_take(ring);
        if (batch->n > start)
            bounds[++n_runs] = batch->n;
        /* A thread that has recorded nothing for RINGS_IDLE_NS gives its
         * spare chunks back to malloc. (Not after two idle rounds, which
         * can be microseconds apart: a thread recording in bursts sent its
         * chunks back and forth through malloc, faulting in fresh pages.) */
        if (batch->n > start) {
            ring->idle_since = 0;
        } else if (ring->idle_since == 0) {
            ring->idle_since = now_ns;
        } else if (now_ns - ring->idle_since >= RINGS_IDLE_NS) {
            unsigned freed = rings_free_chain(
                atomic_exchange_explicit(&ring->spare, NULL, memory_order_acquire));
            atomic_fetch_sub_explicit(&ring->owned, freed, memory_order_relaxed);
        }
        left += ring->seen_published - ring->consumed;
        if (ring->seen_exited && ring->consumed == ring->seen_published) {
            *link = ring->next;
            rings_n--;
            rings_free_ring(ring);
        } else {
            link = &ring->next;
        }
    }
    pthread_mutex_unlock(&rings_lock);

    if (n_runs > 1) {
        /* Runs of the batch before this call are not part of the merge. */
        rings_merge_runs(batch, bounds, n_runs);
    }
    free(bounds);
    batch->watermark = watermark;
    batch->left = left;
    return 0;
}

void rings_batch_free(struct rings_batch *batch)
{
    free(batch->ev);
    free(batch->tmp);
    memset(batch, 0, sizeof(*batch));
}

uint64_t rings_lost(void)
{
    return atomic_load(&rings_lost_events);
}

size_t rings_count(void)
{
    pthread_mutex_lock(&rings_lock);
    size_t n = rings_n;
    pthread_mutex_unlock(&rings_lock);
    return n;
}

size_t rings_chunks(void)
{
    size_t n = 0;
    pthread_mutex_lock(&rings_lock);
    for (const struct ring *ring = rings_list; ring != NULL; ring = ring->next)
        n += atomic_load_explicit(&ring->owned, memory_order_relaxed);
    pthread_mutex_unlock(&rings_lock);
    return n;
}

void rings_atfork_prepare(void)
{
    pthread_mutex_lock(&rings_lock);
    pthread_mutex_lock(&rings_chunk_lock);
}

void rings_atfork_parent(void)
{
    pthread_mutex_unlock(&rings_chunk_lock);
    pthread_mutex_unlock(&rings_lock);
}

void rings_atfork_child(void)
{
    pthread_mutex_unlock(&rings_chunk_lock);
    /* Only the forking thread came along, and the child is a new process
     * with nothing recorded: forget every ring, ours too. */
    struct ring *ring = rings_list;
    while (ring != NULL) {
        struct ring *next = ring->next;
        rings_free_ring(ring);
        ring = next;
    }
    rings_list = NULL;
    rings_n = 0;
    rings_mine = NULL;
    if (rings_ready) {
        pthread_setspecific(rings_key, NULL);
        /* The registration belongs to the parent's address space. */
        rings_membarrier = rings_register_membarrier();
    }
    atomic_store(&rings_lost_events, 0);
    pthread_mutex_unlock(&rings_lock);
}
