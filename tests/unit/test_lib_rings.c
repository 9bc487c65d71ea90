/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_rings.c - the per-thread rings and their merge (src/lib/rings.c, built
 * here with RINGS_TEST_HOOK so a producer can be stalled between its clock
 * read and its publication), fed into a tally (src/lib/tally.c): one
 * thread's order kept, chunks chained without loss, threads merged into one
 * timestamp order with exact peaks, the in-flight hazard held back, thread
 * exit and fork.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "eventclock.h"
#include "rings.h"
#include "tally.h"

#define MIB (1024u * 1024u)

static int setup(void **state)
{
    (void)state;
    eventclock_init();
    return rings_init();
}

/* Collect until nothing published is left, applying to `tally` if given. */
static void collect_all(struct rings_batch *batch, struct tally *tally)
{
    do {
        assert_int_equal(rings_collect(batch), 0);
        if (tally != NULL) {
            for (size_t i = 0; i < batch->n; i++)
                tally_apply(tally, &batch->ev[i]);
            batch->n = 0;
        }
    } while (batch->left > 0);
}

static void test_one_thread_keeps_its_order(void **state)
{
    (void)state;
    struct rings_batch batch = {0};
    const int n = 10 * RINGS_CHUNK_EVENTS + 7; /* several chunks, none taken meanwhile */
    for (int i = 0; i < n; i++)
        assert_int_equal(rings_append(PROTO_OP_ALLOC, 3, TTALLOC_L1, (uint64_t)i, 64), 0);
    collect_all(&batch, NULL);
    assert_int_equal(batch.n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(batch.ev[i].address, (uint64_t)i);
        assert_int_equal(batch.ev[i].device, 3);
        assert_int_equal(batch.ev[i].op, PROTO_OP_ALLOC);
        if (i > 0)
            assert_true(batch.ev[i].timestamp_ns > batch.ev[i - 1].timestamp_ns);
        assert_true(batch.ev[i].timestamp_ns < batch.watermark);
    }
    assert_int_equal(rings_lost(), 0);
    /* Taken once: a second collect finds nothing. */
    batch.n = 0;
    collect_all(&batch, NULL);
    assert_int_equal(batch.n, 0);
    rings_batch_free(&batch);
}

/* Threads that each hold at most one 1 MiB buffer, churned at distinct
 * addresses, while a collector merges: never more than threads x 1 MiB. */
struct churn_arg {
    uint32_t index;
    int rounds;
};

static void *churn_thread(void *p)
{
    struct churn_arg *arg = p;
    for (int i = 0; i < arg->rounds; i++) {
        uint64_t address = ((uint64_t)arg->index << 40) | ((uint64_t)i << 20);
        rings_append(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, address, MIB);
        rings_append(PROTO_OP_FREE, 0, TTALLOC_DRAM, address, 0);
    }
    return NULL;
}

static volatile int churn_done;

static void test_threads_merge_in_order_with_exact_peak(void **state)
{
    (void)state;
    enum { THREADS = 4, ROUNDS = 50000 };
    struct tally tally;
    tally_init(&tally);
    pthread_t threads[THREADS];
    struct churn_arg args[THREADS];
    for (uint32_t t = 0; t < THREADS; t++) {
        args[t] = (struct churn_arg){.index = t + 1, .rounds = ROUNDS};
        pthread_create(&threads[t], NULL, churn_thread, &args[t]);
    }
    struct rings_batch batch = {0};
    uint64_t last_ts = 0, seen = 0, max_live = 0;
    uint64_t next_round[THREADS + 1] = {0};
    int joined = 0;
    while (seen < 2ull * THREADS * ROUNDS) {
        batch.n = 0;
        assert_int_equal(rings_collect(&batch), 0);
        for (size_t i = 0; i < batch.n; i++) {
            const struct proto_event *ev = &batch.ev[i];
            /* One order: timestamps never go back, across threads too. */
            assert_true(ev->timestamp_ns >= last_ts);
            last_ts = ev->timestamp_ns;
            /* Each thread's own order kept: its rounds come one by one. */
            uint32_t who = (uint32_t)(ev->address >> 40);
            uint64_t round = (ev->address >> 20) & 0xfffff;
            assert_int_equal(round, next_round[who]);
            if (ev->op == PROTO_OP_FREE)
                next_round[who]++;
            tally_apply(&tally, ev);
            uint64_t live, peak;
            tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
            if (live > max_live)
                max_live = live;
        }
        seen += batch.n;
        if (!joined && seen > THREADS * (uint64_t)ROUNDS / 2) {
            joined = 1; /* keep collecting while they finish */
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    uint64_t live, peak;
    tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(live, 0);
    assert_true(peak <= (uint64_t)THREADS * MIB);
    assert_true(peak >= MIB);
    assert_true(max_live <= (uint64_t)THREADS * MIB);
    /* The exited threads' rings are freed once empty. */
    batch.n = 0;
    collect_all(&batch, NULL);
    assert_int_equal(rings_count(), 1); /* the main thread's, from the first test */
    rings_batch_free(&batch);
    tally_destroy(&tally);
}

/* The hazard: a producer has read the clock but not yet published. */
static pthread_mutex_t stall_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stall_cond = PTHREAD_COND_INITIALIZER;
static int stall_state; /* 1: the producer is stalled; 2: released */
static __thread int stall_me;

static void stall_hook(void)
{
    if (!stall_me)
        return;
    pthread_mutex_lock(&stall_lock);
    stall_state = 1;
    pthread_cond_broadcast(&stall_cond);
    while (stall_state != 2)
        pthread_cond_wait(&stall_cond, &stall_lock);
    pthread_mutex_unlock(&stall_lock);
}

static void *stalled_producer(void *p)
{
    (void)p;
    stall_me = 1;
    rings_append(PROTO_OP_FREE, 9, TTALLOC_DRAM, 0xA, 0);
    return NULL;
}

static void *later_producer(void *p)
{
    (void)p;
    rings_append(PROTO_OP_ALLOC, 9, TTALLOC_DRAM, 0xB, MIB);
    rings_append(PROTO_OP_FREE, 9, TTALLOC_DRAM, 0xB, 0);
    rings_append(PROTO_OP_ALLOC, 9, TTALLOC_DRAM, 0xC, MIB);
    return NULL;
}

static void test_in_flight_event_holds_back_later_ones(void **state)
{
    (void)state;
    struct rings_batch batch = {0};
    collect_all(&batch, NULL);
    batch.n = 0;
    /* 0xA is live before the race starts. */
    rings_append(PROTO_OP_ALLOC, 9, TTALLOC_DRAM, 0xA, MIB);
    rings_test_hook = stall_hook;
    stall_state = 0;
    pthread_t stalled, later;
    pthread_create(&stalled, NULL, stalled_producer, NULL);
    pthread_mutex_lock(&stall_lock);
    while (stall_state != 1)
        pthread_cond_wait(&stall_cond, &stall_lock);
    pthread_mutex_unlock(&stall_lock);
    /* The free of 0xA is stamped but unpublished; events after it appear. */
    pthread_create(&later, NULL, later_producer, NULL);
    pthread_join(later, NULL);

    assert_int_equal(rings_collect(&batch), 0);
    /* Only the alloc of 0xA (before the stall) may come out. */
    for (size_t i = 0; i < batch.n; i++)
        assert_int_equal(batch.ev[i].address, 0xA);
    assert_true(batch.n <= 1);
    assert_true(batch.left >= 3);
    size_t before = batch.n;

    pthread_mutex_lock(&stall_lock);
    stall_state = 2;
    pthread_cond_broadcast(&stall_cond);
    pthread_mutex_unlock(&stall_lock);
    pthread_join(stalled, NULL);
    rings_test_hook = NULL;
    do {
        assert_int_equal(rings_collect(&batch), 0);
    } while (batch.left > 0);
    /* alloc A, free A, alloc B, free B, alloc C: the free of A was stamped
     * first, so it comes before everything the later thread did. */
    assert_int_equal(batch.n, 5);
    (void)before;
    const uint64_t want_addr[] = {0xA, 0xA, 0xB, 0xB, 0xC};
    const uint8_t want_op[] = {PROTO_OP_ALLOC, PROTO_OP_FREE, PROTO_OP_ALLOC, PROTO_OP_FREE,
                               PROTO_OP_ALLOC};
    struct tally tally;
    tally_init(&tally);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(batch.ev[i].address, want_addr[i]);
        assert_int_equal(batch.ev[i].op, want_op[i]);
        tally_apply(&tally, &batch.ev[i]);
    }
    uint64_t live, peak;
    tally_memory(&tally, 9, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(live, MIB);
    assert_int_equal(peak, MIB); /* never two at once */
    tally_destroy(&tally);
    rings_batch_free(&batch);
}

static void test_tally_peak_and_reset(void **state)
{
    (void)state;
    struct tally tally;
    tally_init(&tally);
    struct proto_event ev = {.device = 0, .type = TTALLOC_DRAM, .op = PROTO_OP_ALLOC};
    for (uint64_t i = 0; i < 10; i++) {
        ev.address = i * MIB;
        ev.size = MIB;
        tally_apply(&tally, &ev);
    }
    for (uint64_t i = 0; i < 100000; i++) {
        ev.address = (1000 + i) * MIB;
        ev.op = PROTO_OP_ALLOC;
        ev.size = MIB;
        tally_apply(&tally, &ev);
        ev.op = PROTO_OP_FREE;
        ev.size = 0;
        tally_apply(&tally, &ev);
    }
    uint64_t live, peak;
    tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(live, 10 * MIB);
    assert_int_equal(peak, 11 * MIB);
    /* Free 8: 2 MiB live; reset reads 2; one more 1 MiB round trip reads 3. */
    for (uint64_t i = 0; i < 8; i++) {
        ev.address = i * MIB;
        ev.op = PROTO_OP_FREE;
        tally_apply(&tally, &ev);
    }
    ev = (struct proto_event){.op = PROTO_OP_RESET_PEAK};
    tally_apply(&tally, &ev);
    tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(peak, 2 * MIB);
    ev = (struct proto_event){
        .address = 77, .size = MIB, .type = TTALLOC_DRAM, .op = PROTO_OP_ALLOC};
    tally_apply(&tally, &ev);
    ev.op = PROTO_OP_FREE;
    tally_apply(&tally, &ev);
    tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(live, 2 * MIB);
    assert_int_equal(peak, 3 * MIB);
    /* Re-alloc of a live address replaces its size; unknown frees change nothing. */
    ev = (struct proto_event){
        .address = 8 * MIB, .size = 3 * MIB, .type = TTALLOC_DRAM, .op = PROTO_OP_ALLOC};
    tally_apply(&tally, &ev);
    ev = (struct proto_event){.address = 12345, .type = TTALLOC_DRAM, .op = PROTO_OP_FREE};
    tally_apply(&tally, &ev);
    tally_memory(&tally, 0, TTALLOC_DRAM, &live, &peak);
    assert_int_equal(live, 4 * MIB);
    /* Replay material: buffers as ALLOC events, peaks per (device, type). */
    struct proto_event *events = NULL;
    size_t n = 0, cap = 0;
    uint64_t buffers, bytes;
    assert_int_equal(tally_buffers_as_events(&tally, 42, &events, &n, &cap, &buffers, &bytes), 0);
    assert_int_equal(n, 2);
    assert_int_equal(buffers, 2);
    assert_int_equal(bytes, 4 * MIB);
    assert_int_equal(events[0].timestamp_ns, 42);
    struct proto_peak *peaks;
    size_t n_peaks;
    assert_int_equal(tally_peaks(&tally, &peaks, &n_peaks), 0);
    assert_int_equal(n_peaks, 1);
    assert_int_equal(peaks[0].peak_bytes, 4 * MIB);
    free(peaks);
    free(events);
    tally_destroy(&tally);
}

static int exit_events = 3 * RINGS_CHUNK_EVENTS;

static void *record_and_exit(void *p)
{
    (void)p;
    for (int i = 0; i < exit_events; i++)
        rings_append(PROTO_OP_ALLOC, 5, TTALLOC_L1, (uint64_t)i, 1);
    return NULL;
}

static void test_thread_exit_frees_its_ring_once_drained(void **state)
{
    (void)state;
    struct rings_batch batch = {0};
    collect_all(&batch, NULL);
    size_t base = rings_count();
    pthread_t t;
    pthread_create(&t, NULL, record_and_exit, NULL);
    pthread_join(t, NULL);
    assert_int_equal(rings_count(), base + 1); /* exited, not yet drained */
    batch.n = 0;
    collect_all(&batch, NULL);
    assert_int_equal(batch.n, 3 * RINGS_CHUNK_EVENTS);
    assert_int_equal(rings_count(), base);

    /* More than one round's share: the exited ring stays until the last
     * share is taken, and nothing is lost or reordered. */
    exit_events = 2 * RINGS_TAKE_MAX + 5;
    pthread_create(&t, NULL, record_and_exit, NULL);
    pthread_join(t, NULL);
    batch.n = 0;
    assert_int_equal(rings_collect(&batch), 0);
    assert_int_equal(batch.n, RINGS_TAKE_MAX);
    assert_int_equal(batch.left, RINGS_TAKE_MAX + 5);
    assert_int_equal(rings_count(), base + 1);
    collect_all(&batch, NULL);
    assert_int_equal(batch.n, 2 * RINGS_TAKE_MAX + 5);
    for (size_t i = 0; i < batch.n; i++)
        assert_int_equal(batch.ev[i].address, i);
    assert_int_equal(rings_count(), base);
    rings_batch_free(&batch);
}

/* A busy thread's drained chunks come back to it rather than through
 * malloc, however short the pauses between its bursts; only a thread idle
 * for RINGS_IDLE_NS gives its spares back. */
static void test_spare_chunks_kept_until_idle(void **state)
{
    (void)state;
    struct rings_batch batch = {0};
    const int burst = 8 * RINGS_CHUNK_EVENTS;
    for (int i = 0; i < burst; i++)
        rings_append(PROTO_OP_ALLOC, 7, TTALLOC_L1, (uint64_t)i, 1);
    collect_all(&batch, NULL);
    size_t held = rings_chunks();
    for (int round = 0; round < 5; round++) {
        /* Idle rounds in a row, then the next burst: nothing allocated. */
        batch.n = 0;
        collect_all(&batch, NULL);
        collect_all(&batch, NULL);
        for (int i = 0; i < burst; i++)
            rings_append(PROTO_OP_ALLOC, 7, TTALLOC_L1, (uint64_t)i, 1);
        collect_all(&batch, NULL);
        assert_int_equal(rings_chunks(), held);
    }
    /* Now idle: collect until the spares are gone, which is not before
     * RINGS_IDLE_NS (nor much later: one round after it). */
    uint64_t idle_from = eventclock_monotonic_ns();
    uint64_t deadline = idle_from + 20 * RINGS_IDLE_NS;
    while (rings_chunks() == held && eventclock_monotonic_ns() < deadline) {
        batch.n = 0;
        collect_all(&batch, NULL);
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    assert_true(rings_chunks() < held);
    assert_true(eventclock_monotonic_ns() - idle_from >= RINGS_IDLE_NS);
    rings_batch_free(&batch);
}

static void test_fork_child_starts_empty(void **state)
{
    (void)state;
    rings_append(PROTO_OP_ALLOC, 6, TTALLOC_L1, 1, 1);
    rings_atfork_prepare();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        rings_atfork_child();
        struct rings_batch batch = {0};
        int ok = rings_count() == 0;
        ok = ok && rings_append(PROTO_OP_ALLOC, 6, TTALLOC_L1, 2, 1) == 0;
        ok = ok && rings_collect(&batch) == 0 && batch.n == 1 && batch.ev[0].address == 2;
        _exit(ok ? 0 : 1);
    }
    rings_atfork_parent();
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct rings_batch batch = {0};
    collect_all(&batch, NULL);
    assert_int_equal(batch.n, 1);
    assert_int_equal(batch.ev[0].address, 1);
    rings_batch_free(&batch);
}

static void test_clock_converts_monotonically(void **state)
{
    (void)state;
    uint64_t before = eventclock_monotonic_ns();
    uint64_t reading = eventclock_read();
    uint64_t after = eventclock_monotonic_ns();
    uint64_t ns = eventclock_to_ns(reading);
    /* Within a millisecond of the real CLOCK_MONOTONIC (calibration error). */
    assert_true(ns + 1000000 >= before);
    assert_true(ns <= after + 1000000);
    eventclock_recalibrate();
    /* An older reading never converts below what was already given out. */
    assert_true(eventclock_to_ns(reading - 1000) >= ns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread_keeps_its_order),
        cmocka_unit_test(test_threads_merge_in_order_with_exact_peak),
        cmocka_unit_test(test_in_flight_event_holds_back_later_ones),
        cmocka_unit_test(test_tally_peak_and_reset),
        cmocka_unit_test(test_thread_exit_frees_its_ring_once_drained),
        cmocka_unit_test(test_spare_chunks_kept_until_idle),
        cmocka_unit_test(test_fork_child_starts_empty),
        cmocka_unit_test(test_clock_converts_monotonically),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
