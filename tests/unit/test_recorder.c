/*
 * test_recorder.c - the record path's sharded tables and queues: live-buffer
 * truth, event order, queue overflow -> resync mark, the resync contents, the
 * shard spread, concurrent recording, and the fork-child reset.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recorder.h"

/* `n` distinct keys on shard `shard`: device 0, DRAM, 4 KiB-aligned addresses. */
static void keys_on_shard(unsigned shard, uint64_t *out, size_t n)
{
    size_t found = 0;
    for (uint64_t addr = 0x100000; found < n; addr += 4096) {
        if (recorder_shard_of(0, TTALLOC_DRAM, addr) == shard)
            out[found++] = addr;
    }
}

static size_t take_all(struct recorder *rec, struct recorder_events *out)
{
    struct proto_event *spare = calloc(rec->queue_cap, sizeof(*spare));
    assert_non_null(spare);
    for (unsigned i = 0; i < RECORDER_SHARDS; i++) {
        size_t n = recorder_take(rec, i, &spare);
        assert_int_equal(recorder_events_push(out, spare, n), 0);
    }
    free(spare);
    return out->n;
}

static void test_table_truth(void **state)
{
    (void)state;
    struct recorder rec;
    uint64_t buffers, bytes;
    assert_int_equal(recorder_init(&rec, 64), 0);

    assert_int_equal(recorder_alloc(&rec, 0, TTALLOC_DRAM, 0x1000, 100), 0);
    assert_int_equal(recorder_alloc(&rec, 0, TTALLOC_L1, 0x1000, 7), 0);  /* other type */
    assert_int_equal(recorder_alloc(&rec, 1, TTALLOC_DRAM, 0x1000, 11), 0); /* other device */
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 3);
    assert_int_equal(bytes, 118);

    /* Re-allocating a live key replaces its size, it does not add a buffer. */
    assert_int_equal(recorder_alloc(&rec, 0, TTALLOC_DRAM, 0x1000, 200), 0);
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 3);
    assert_int_equal(bytes, 218);

    /* Freeing an unknown buffer is not an error and changes nothing. */
    assert_int_equal(recorder_free(&rec, 0, TTALLOC_DRAM, 0xdead000), 0);
    assert_int_equal(recorder_free(&rec, 0, TTALLOC_L1, 0x1000), 0);
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 2);
    assert_int_equal(bytes, 211);

    /* Extremes: the largest device, address and size. */
    assert_int_equal(recorder_alloc(&rec, UINT32_MAX, TTALLOC_CB, UINT64_MAX, UINT64_MAX - 211),
                     0);
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 3);
    assert_true(bytes == UINT64_MAX);
    recorder_destroy(&rec);

    /* After destroy, records are ignored instead of touching freed memory. */
    assert_int_equal(recorder_alloc(&rec, 0, TTALLOC_DRAM, 0x1000, 1), 0);
    assert_int_equal(recorder_free(&rec, 0, TTALLOC_DRAM, 0x1000), 0);
}

static void test_queue_order_and_fields(void **state)
{
    (void)state;
    struct recorder rec;
    uint64_t keys[3];
    keys_on_shard(5, keys, 3);
    assert_int_equal(recorder_init(&rec, 16), 0);
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[0], 10);
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[1], 20);
    recorder_free(&rec, 0, TTALLOC_DRAM, keys[0]);
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[2], 30);

    struct proto_event *spare = calloc(16, sizeof(*spare));
    assert_int_equal(recorder_take(&rec, 4, &spare), 0);
    assert_int_equal(recorder_take(&rec, 5, &spare), 4);
    assert_int_equal(spare[0].op, PROTO_OP_ALLOC);
    assert_true(spare[0].address == keys[0]);
    assert_int_equal(spare[0].size, 10);
    assert_int_equal(spare[1].size, 20);
    assert_int_equal(spare[2].op, PROTO_OP_FREE);
    assert_true(spare[2].address == keys[0]);
    assert_int_equal(spare[2].size, 0);
    assert_int_equal(spare[3].op, PROTO_OP_ALLOC);
    assert_int_equal(spare[3].size, 30);
    assert_int_equal(spare[3].type, TTALLOC_DRAM);
    /* Taken means gone. */
    assert_int_equal(recorder_take(&rec, 5, &spare), 0);
    assert_false(recorder_needs_resync(&rec));
    free(spare);
    recorder_destroy(&rec);
}

static void test_overflow_marks_resync(void **state)
{
    (void)state;
    struct recorder rec;
    uint64_t keys[12];
    keys_on_shard(3, keys, 12);
    assert_int_equal(recorder_init(&rec, 8), 0);
    for (int i = 0; i < 8; i++)
        recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[i], 1000 + (uint64_t)i);
    assert_false(recorder_needs_resync(&rec));
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[8], 1008); /* the 9th does not fit */
    assert_true(recorder_needs_resync(&rec));
    /* The table still has the truth; later events are not queued. */
    recorder_free(&rec, 0, TTALLOC_DRAM, keys[0]);
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[9], 1009);
    uint64_t buffers, bytes;
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 9);

    struct recorder_events taken = {0};
    assert_int_equal(take_all(&rec, &taken), 8);
    /* Draining the queue does not clear the mark: only a snapshot does. */
    assert_true(recorder_needs_resync(&rec));
    recorder_alloc(&rec, 0, TTALLOC_DRAM, keys[10], 1);
    taken.n = 0;
    assert_int_equal(take_all(&rec, &taken), 0);
    recorder_events_free(&taken);
    recorder_destroy(&rec);
}

static int cmp_event(const void *a, const void *b)
{
    const struct proto_event *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return 0;
}

static void test_snapshot_contents(void **state)
{
    (void)state;
    struct recorder rec;
    assert_int_equal(recorder_init(&rec, 4), 0); /* tiny: overflows everywhere */

    /* Truth: 1000 buffers over 3 devices and all types, then free every 3rd. */
    struct proto_event truth[1000];
    size_t n_truth = 0;
    uint64_t truth_bytes = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        uint32_t dev = (uint32_t)(i % 3);
        uint8_t type = (uint8_t)(i % TTALLOC_NUM_TYPES);
        uint64_t addr = 0x10000000 + i * 2048;
        uint64_t size = 1 + i * 17;
        recorder_alloc(&rec, dev, type, addr, size);
        if (i % 3 == 0) {
            recorder_free(&rec, dev, type, addr);
        } else {
            truth[n_truth++] = (struct proto_event){.address = addr, .size = size, .device = dev,
                                                    .type = type, .op = PROTO_OP_ALLOC};
            truth_bytes += size;
        }
    }
    assert_true(recorder_needs_resync(&rec));

    struct recorder_events snap = {0};
    uint64_t buffers = 0, bytes = 0;
    assert_int_equal(recorder_snapshot(&rec, &snap, &buffers, &bytes), 0);
    assert_int_equal(buffers, n_truth);
    assert_int_equal(snap.n, n_truth);
    assert_true(bytes == truth_bytes);
    assert_false(recorder_needs_resync(&rec));
    qsort(snap.ev, snap.n, sizeof(snap.ev[0]), cmp_event);
    qsort(truth, n_truth, sizeof(truth[0]), cmp_event);
    for (size_t i = 0; i < n_truth; i++) {
        assert_true(snap.ev[i].address == truth[i].address);
        assert_true(snap.ev[i].size == truth[i].size);
        assert_int_equal(snap.ev[i].device, truth[i].device);
        assert_int_equal(snap.ev[i].type, truth[i].type);
        assert_int_equal(snap.ev[i].op, PROTO_OP_ALLOC);
    }

    /* The snapshot emptied every queue; events after it queue again. */
    struct recorder_events taken = {0};
    assert_int_equal(take_all(&rec, &taken), 0);
    recorder_free(&rec, truth[0].device, truth[0].type, truth[0].address);
    assert_int_equal(take_all(&rec, &taken), 1);
    assert_int_equal(taken.ev[0].op, PROTO_OP_FREE);

    recorder_events_free(&taken);
    recorder_events_free(&snap);
    recorder_destroy(&rec);
}

static void test_shard_spread(void **state)
{
    (void)state;
    /* Device addresses are highly aligned; every shard must still get work. */
    unsigned counts[RECORDER_SHARDS] = {0};
    const unsigned n = 16000;
    for (unsigned i = 0; i < n; i++)
        counts[recorder_shard_of(i % 4, TTALLOC_L1, (uint64_t)i << 20)]++;
    for (unsigned s = 0; s < RECORDER_SHARDS; s++) {
        assert_true(counts[s] > n / RECORDER_SHARDS / 2);
        assert_true(counts[s] < n / RECORDER_SHARDS * 2);
    }
}

static void test_events_push_extremes(void **state)
{
    (void)state;
    struct recorder_events events = {0};
    struct proto_event ev = {0};
    assert_int_equal(recorder_events_push(&events, &ev, 1), 0);
    assert_int_equal(recorder_events_push(&events, &ev, SIZE_MAX / 8), -ENOMEM);
    assert_int_equal(events.n, 1);
    recorder_events_free(&events);
    assert_null(events.ev);
}

struct worker {
    struct recorder *rec;
    uint32_t device;
    uint64_t live_bytes;
    uint64_t live;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t addr = i * 64;
        recorder_alloc(w->rec, w->device, TTALLOC_L1, addr, i + 1);
        if (i % 2 == 0)
            recorder_free(w->rec, w->device, TTALLOC_L1, addr);
        else
            w->live_bytes += i + 1, w->live++;
    }
    return NULL;
}

struct drainer {
    struct recorder *rec;
    volatile int stop;
    size_t taken;
};

static void *drainer_main(void *arg)
{
    struct drainer *d = arg;
    struct proto_event *spare = calloc(d->rec->queue_cap, sizeof(*spare));
    while (!d->stop) {
        for (unsigned i = 0; i < RECORDER_SHARDS; i++)
            d->taken += recorder_take(d->rec, i, &spare);
    }
    free(spare);
    return NULL;
}

static void test_concurrent_threads(void **state)
{
    (void)state;
    struct recorder rec;
    assert_int_equal(recorder_init(&rec, 256), 0);
    struct worker workers[4];
    pthread_t threads[4], drain_thread;
    struct drainer drainer = {.rec = &rec, .stop = 0, .taken = 0};
    assert_int_equal(pthread_create(&drain_thread, NULL, drainer_main, &drainer), 0);
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.rec = &rec, .device = (uint32_t)i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    uint64_t want_bytes = 0, want_live = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        want_bytes += workers[i].live_bytes;
        want_live += workers[i].live;
    }
    drainer.stop = 1;
    pthread_join(drain_thread, NULL);

    uint64_t buffers, bytes;
    recorder_totals(&rec, &buffers, &bytes);
    assert_true(buffers == want_live);
    assert_true(bytes == want_bytes);
    assert_true(drainer.taken > 0);
    recorder_destroy(&rec);
}

static void test_reset_child(void **state)
{
    (void)state;
    struct recorder rec;
    assert_int_equal(recorder_init(&rec, 2), 0);
    for (uint64_t i = 0; i < 100; i++)
        recorder_alloc(&rec, 0, TTALLOC_TRACE, i * 4096, 4096);
    assert_true(recorder_needs_resync(&rec));
    recorder_lock_all(&rec); /* as the fork prepare handler does */
    recorder_reset_child(&rec);
    uint64_t buffers, bytes;
    recorder_totals(&rec, &buffers, &bytes);
    assert_int_equal(buffers, 0);
    assert_int_equal(bytes, 0);
    assert_false(recorder_needs_resync(&rec));
    struct recorder_events taken = {0};
    assert_int_equal(take_all(&rec, &taken), 0);
    /* Usable again afterwards. */
    recorder_alloc(&rec, 0, TTALLOC_TRACE, 0, 1);
    assert_int_equal(take_all(&rec, &taken), 1);
    recorder_events_free(&taken);
    recorder_destroy(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_truth),
        cmocka_unit_test(test_queue_order_and_fields),
        cmocka_unit_test(test_overflow_marks_resync),
        cmocka_unit_test(test_snapshot_contents),
        cmocka_unit_test(test_shard_spread),
        cmocka_unit_test(test_events_push_extremes),
        cmocka_unit_test(test_concurrent_threads),
        cmocka_unit_test(test_reset_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
