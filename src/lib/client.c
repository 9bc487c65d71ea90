/*
 * client.c - the recording half of ttalloc.h: argument checks, the one
 * process-wide recorder, lazy start of the sender on first use, the
 * TT_ALLOC_TRACKING / TT_ALLOC_DEBUG switches, fork handlers and the clean-up
 * at exit (stop the thread after a short best-effort flush, free everything).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "recorder.h"
#include "sender.h"
#include "ttalloc.h"

#define CLIENT_EXIT_FLUSH_MS 100

enum client_state {
    CLIENT_UNINIT = 0,  /* nothing decided yet (also the child after fork) */
    CLIENT_ON,          /* recorder ready, sender started */
    CLIENT_OFF,         /* TT_ALLOC_TRACKING=0, or set-up failed */
    CLIENT_CLOSED,      /* after the exit handler */
};

static struct recorder client_recorder;
static bool client_recorder_ready;
static atomic_int client_state;
static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;
static bool client_atfork_done;

static void client_atfork_prepare(void)
{
    pthread_mutex_lock(&client_lock);
    sender_atfork_prepare();
    if (client_recorder_ready)
        recorder_lock_all(&client_recorder);
}

static void client_atfork_parent(void)
{
    if (client_recorder_ready)
        recorder_unlock_all(&client_recorder);
    sender_atfork_parent();
    pthread_mutex_unlock(&client_lock);
}

static void client_atfork_child(void)
{
    if (client_recorder_ready)
        recorder_reset_child(&client_recorder);
    sender_atfork_child();
    /* The child decides afresh (and starts its own thread) on first use. */
    if (atomic_load(&client_state) == CLIENT_ON)
        atomic_store(&client_state, CLIENT_UNINIT);
    pthread_mutex_unlock(&client_lock);
}

static bool client_env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, value) == 0;
}

/* First use (in this process): decide whether to track, and start. */
static int client_start(void)
{
    pthread_mutex_lock(&client_lock);
    int state = atomic_load(&client_state);
    if (state == CLIENT_UNINIT) {
        if (client_env_is("TT_ALLOC_TRACKING", "0")) {
            state = CLIENT_OFF;
        } else {
            sender_set_debug(client_env_is("TT_ALLOC_DEBUG", "1"));
            if (!client_recorder_ready &&
                recorder_init(&client_recorder, RECORDER_QUEUE_DEFAULT) == 0)
                client_recorder_ready = true;
            if (!client_atfork_done &&
                pthread_atfork(client_atfork_prepare, client_atfork_parent,
                               client_atfork_child) == 0)
                client_atfork_done = true;
            /* Without a thread the table is still kept: records stay cheap
             * and correct, they just reach no server. */
            if (client_recorder_ready)
                sender_start(&client_recorder);
            state = client_recorder_ready ? CLIENT_ON : CLIENT_OFF;
        }
        atomic_store(&client_state, state);
    }
    pthread_mutex_unlock(&client_lock);
    return state;
}

static inline bool client_on(void)
{
    int state = atomic_load_explicit(&client_state, memory_order_acquire);
    if (state == CLIENT_UNINIT)
        state = client_start();
    return state == CLIENT_ON;
}

int ttalloc_record_alloc(uint32_t device, enum ttalloc_buffer_type type, uint64_t address,
                         uint64_t size)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES || size == 0)
        return -EINVAL;
    if (!client_on())
        return 0;
    int rc = recorder_alloc(&client_recorder, device, (uint8_t)type, address, size);
    sender_notify();
    return rc;
}

int ttalloc_record_free(uint32_t device, enum ttalloc_buffer_type type, uint64_t address)
{
    if ((unsigned)type >= TTALLOC_NUM_TYPES)
        return -EINVAL;
    if (!client_on())
        return 0;
    int rc = recorder_free(&client_recorder, device, (uint8_t)type, address);
    sender_notify();
    return rc;
}

int ttalloc_flush(int timeout_ms)
{
    int state = atomic_load(&client_state);
    if (state == CLIENT_UNINIT)
        state = client_start();
    if (state == CLIENT_OFF)
        return 0; /* nothing recorded, nothing to wait for */
    if (state != CLIENT_ON)
        return -ENOTCONN;
    return sender_flush(timeout_ms);
}

int ttalloc_describe_device(uint32_t device, const struct ttalloc_device_desc *desc)
{
    if (desc == NULL)
        return -EINVAL;
    if (!client_on())
        return 0;
    return sender_describe(device, desc);
}

int ttalloc_set_label(const char *label)
{
    if (label == NULL || strlen(label) >= TTALLOC_LABEL_MAX)
        return -EINVAL;
    /* Stored before the first connection starts, so it is in the first HELLO. */
    sender_set_label(label);
    client_on();
    return 0;
}

__attribute__((destructor)) static void client_fini(void)
{
    pthread_mutex_lock(&client_lock);
    int state = atomic_exchange(&client_state, CLIENT_CLOSED);
    pthread_mutex_unlock(&client_lock);
    if (state == CLIENT_ON)
        sender_stop(CLIENT_EXIT_FLUSH_MS);
    if (client_recorder_ready)
        recorder_destroy(&client_recorder);
}
