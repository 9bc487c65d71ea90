/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producer.c - the recording half of ttalloc.h (what a producer calls):
 * argument checks, the TT_ALLOC_TRACKING switch, lazy start of the rings and
 * the sender on first use, ttalloc_reset_peak and ttalloc_process_memory,
 * fork handlers and the clean-up at exit (stop the thread after a short
 * best-effort flush). The record calls themselves are a ring append
 * (rings.c) and, at most once per batch, a wake-up of the sender.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "eventclock.h"
#include "rings.h"
#include "sender.h"
#include "ttalloc.h"

#define PRODUCER_EXIT_FLUSH_MS 100

enum producer_state {
    PRODUCER_UNINIT = 0, /* nothing decided yet (also the child after fork) */
    PRODUCER_ON,         /* rings ready, sender started */
    PRODUCER_OFF,        /* TT_ALLOC_TRACKING=0, or set-up failed */
    PRODUCER_CLOSED,     /* after the exit handler */
};

static atomic_int producer_state;
static pthread_mutex_t producer_lock = PTHREAD_MUTEX_INITIALIZER;
static bool producer_atfork_done;

static void producer_atfork_prepare(void)
{
    pthread_mutex_lock(&producer_lock);
    sender_atfork_prepare();
    rings_atfork_prepare();
}

static void producer_atfork_parent(void)
{
    rings_atfork_parent();
    sender_atfork_parent();
    pthread_mutex_unlock(&producer_lock);
}

static void producer_atfork_child(void)
{
    rings_atfork_child();
    sender_atfork_child();
    /* The child decides afresh (and starts its own thread) on first use. */
    if (atomic_load(&producer_state) == PRODUCER_ON)
        atomic_store(&producer_state, PRODUCER_UNINIT);
    pthread_mutex_unlock(&producer_lock);
}

static bool producer_env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, value) == 0;
}

/* First use (in this process): decide whether to track, and start. */
static int producer_start(void)
{
    pthread_mutex_lock(&producer_lock);
    int state = atomic_load(&producer_state);
    if (state == PRODUCER_UNINIT) {
        if (producer_env_is("TT_ALLOC_TRACKING", "0")) {
            state = PRODUCER_OFF;
        } else {
            eventclock_init();
            state = rings_init() == 0 ? PRODUCER_ON : PRODUCER_OFF;
            if (!producer_atfork_done &&
                pthread_atfork(producer_atfork_prepare, producer_atfork_parent,
                               producer_atfork_child) == 0)
                producer_atfork_done = true;
            /* Without a thread the tally is still kept: records stay cheap
             * and ttalloc_process_memory exact; they just reach no server. */
            if (state == PRODUCER_ON)
                sender_start();
        }
        atomic_store_explicit(&producer_state, state, memory_order_release);
    }
    pthread_mutex_unlock(&producer_lock);
    return state;
}

static inline bool producer_on(void)
{
    int state = atomic_load_explicit(&producer_state, memory_order_acquire);
    if (state == PRODUCER_UNINIT)
        state = producer_start();
    return state == PRODUCER_ON;
}

/* After an append: wake the sender (once per batch), help it when it is
 * behind; the record call's result. */
static inline int producer_recorded(int rc)
{
    if (rc == RINGS_HELP_WANTED) {
        sender_help();
        rc = 0;
    }
    sender_notify();
    return rc;
}

int ttalloc_record_alloc(uint32_t device, enum ttalloc_buffer_type type, uint64_t address,
                         uint64_t size)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES || size == 0)
        return -EINVAL;
    if (!producer_on())
        return 0;
    return producer_recorded(rings_append(PROTO_OP_ALLOC, device, (uint8_t)type, address, size));
}

int ttalloc_record_free(uint32_t device, enum ttalloc_buffer_type type, uint64_t address)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES)
        return -EINVAL;
    if (!producer_on())
        return 0;
    return producer_recorded(rings_append(PROTO_OP_FREE, device, (uint8_t)type, address, 0));
}

int ttalloc_reset_peak(void)
{
    if (!producer_on())
        return 0;
    return producer_recorded(rings_append(PROTO_OP_RESET_PEAK, 0, 0, 0, 0));
}

int ttalloc_process_memory(uint32_t device, enum ttalloc_buffer_type type, uint64_t *live_bytes,
                           uint64_t *peak_bytes)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES)
        return -EINVAL;
    uint64_t live = 0, peak = 0;
    if (producer_on())
        sender_memory(device, (uint8_t)type, &live, &peak);
    if (live_bytes != NULL)
        *live_bytes = live;
    if (peak_bytes != NULL)
        *peak_bytes = peak;
    return 0;
}

int ttalloc_flush(int timeout_ms)
{
    int state = atomic_load(&producer_state);
    if (state == PRODUCER_UNINIT)
        state = producer_start();
    if (state == PRODUCER_OFF)
        return 0; /* nothing recorded, nothing to wait for */
    if (state != PRODUCER_ON)
        return -ENOTCONN;
    return sender_flush(timeout_ms);
}

int ttalloc_describe_device(uint32_t device, const struct ttalloc_device_desc *desc)
{
    if (desc == NULL)
        return -EINVAL;
    if (!producer_on())
        return 0;
    return sender_describe(device, desc);
}

int ttalloc_set_label(const char *label)
{
    if (label == NULL || strlen(label) >= TTALLOC_LABEL_MAX)
        return -EINVAL;
    /* Stored before the first connection starts, so it is in the first HELLO. */
    sender_set_label(label);
    producer_on();
    return 0;
}

__attribute__((destructor)) static void producer_fini(void)
{
    pthread_mutex_lock(&producer_lock);
    int state = atomic_exchange(&producer_state, PRODUCER_CLOSED);
    pthread_mutex_unlock(&producer_lock);
    /* The rings stay: a thread still recording during exit writes into its
     * own ring, which nobody reads any more (and which stays reachable). */
    if (state == PRODUCER_ON)
        sender_stop(PRODUCER_EXIT_FLUSH_MS);
}
