/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_buftable.c - the live-buffer table against a brute-force model, with
 * heavy churn (deletion must keep every probe run reachable) and extremes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buftable.h"

static void test_insert_lookup_remove(void **state)
{
    (void)state;
    struct buftable t;
    buftable_init(&t);
    uint64_t old = 0, size = 0;

    assert_int_equal(buftable_lookup(&t, 0, 0, 0x1000), 0);
    assert_int_equal(buftable_remove(&t, 0, 0, 0x1000, &size), 0);
    assert_int_equal(buftable_insert(&t, 0, 0, 0x1000, 4096, &old), 0);
    assert_int_equal(buftable_insert(&t, 1, 0, 0x1000, 100, &old), 0); /* other device */
    assert_int_equal(buftable_insert(&t, 0, 1, 0x1000, 200, &old), 0); /* other type */
    assert_int_equal(t.count, 3);
    assert_int_equal(buftable_lookup(&t, 0, 0, 0x1000), 4096);
    assert_int_equal(buftable_lookup(&t, 1, 0, 0x1000), 100);
    assert_int_equal(buftable_lookup(&t, 0, 1, 0x1000), 200);

    /* Same key again: replaced, old size reported. */
    assert_int_equal(buftable_insert(&t, 0, 0, 0x1000, 8192, &old), 1);
    assert_int_equal(old, 4096);
    assert_int_equal(t.count, 3);

    assert_int_equal(buftable_remove(&t, 0, 0, 0x1000, &size), 1);
    assert_int_equal(size, 8192);
    assert_int_equal(buftable_remove(&t, 0, 0, 0x1000, &size), 0);
    assert_int_equal(t.count, 2);
    buftable_destroy(&t);
}

static void test_extremes(void **state)
{
    (void)state;
    struct buftable t;
    buftable_init(&t);
    uint64_t old, size;
    assert_int_equal(buftable_insert(&t, UINT32_MAX, 255, UINT64_MAX, UINT64_MAX, &old), 0);
    assert_int_equal(buftable_insert(&t, 0, 0, 0, 1, &old), 0);
    assert_true(buftable_lookup(&t, UINT32_MAX, 255, UINT64_MAX) == UINT64_MAX);
    assert_int_equal(buftable_lookup(&t, 0, 0, 0), 1);
    assert_int_equal(buftable_remove(&t, UINT32_MAX, 255, UINT64_MAX, &size), 1);
    assert_true(size == UINT64_MAX);
    buftable_destroy(&t);
}

/* Random churn on a small key space, checked against a plain array model. */
static void test_churn_against_model(void **state)
{
    (void)state;
    enum { KEYS = 4096, ROUNDS = 400000 };
    uint64_t *model = calloc(KEYS, sizeof(*model));
    assert_non_null(model);
    struct buftable t;
    buftable_init(&t);
    unsigned seed = 7;
    size_t live = 0;

    for (int round = 0; round < ROUNDS; round++) {
        unsigned k = (unsigned)rand_r(&seed) % KEYS;
        /* Aligned addresses, a few devices and types: like real allocations. */
        uint32_t device = k % 4;
        uint8_t type = (uint8_t)((k / 4) % 6);
        uint64_t address = 0x80000000ull + (uint64_t)(k / 24) * 1024 * 1024;
        uint64_t old = 0, size = 0;
        if (rand_r(&seed) % 2) {
            uint64_t new_size = 1 + (uint64_t)rand_r(&seed);
            int rc = buftable_insert(&t, device, type, address, new_size, &old);
            assert_int_equal(rc, model[k] ? 1 : 0);
            if (rc == 1)
                assert_true(old == model[k]);
            else
                live++;
            model[k] = new_size;
        } else {
            int rc = buftable_remove(&t, device, type, address, &size);
            assert_int_equal(rc, model[k] ? 1 : 0);
            if (rc == 1) {
                assert_true(size == model[k]);
                live--;
            }
            model[k] = 0;
        }
        assert_int_equal(t.count, live);
    }
    for (unsigned k = 0; k < KEYS; k++) {
        uint64_t address = 0x80000000ull + (uint64_t)(k / 24) * 1024 * 1024;
        assert_true(buftable_lookup(&t, k % 4, (uint8_t)((k / 4) % 6), address) == model[k]);
    }
    /* The walk visits each live entry once. */
    size_t pos = 0, seen = 0;
    const struct buftable_entry *e;
    while ((e = buftable_next(&t, &pos)) != NULL)
        seen++;
    assert_int_equal(seen, live);
    buftable_destroy(&t);
    free(model);
}

static void test_memory_per_buffer(void **state)
{
    (void)state;
    struct buftable t;
    buftable_init(&t);
    uint64_t old;
    for (uint64_t i = 1; i <= 100000; i++) {
        assert_int_equal(buftable_insert(&t, 0, 0, i * 4096, 4096, &old), 0);
        /* At most 64 bytes of table per live buffer at any size. */
        assert_true(buftable_memory(&t) <= 64 * (t.count < 16 ? 16 : t.count));
    }
    buftable_clear(&t);
    assert_int_equal(t.count, 0);
    assert_int_equal(buftable_lookup(&t, 0, 0, 4096), 0);
    buftable_destroy(&t);
}

/* A client replaying its own table in its slot order (or choosing
 * addresses to collide) must not build one long probe run in the server's
 * table: each table hashes with its own secret seed. */
static void test_slot_order_replay_stays_spread(void **state)
{
    (void)state;
    struct buftable a, b;
    buftable_init(&a);
    buftable_init(&b);
    assert_true(a.seed != b.seed);
    uint64_t old;
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_equal(buftable_insert(&a, (uint32_t)(i % 3), (uint8_t)(i % 6),
                                         0x10000000ull + i * 4096, 4096, &old),
                         0);
    /* The first half of a's slot order: with one shared hash these keys
     * all have homes in the low part of b's (smaller) table, and pile up in
     * one run of tens of thousands of slots, each insert walking it whole. */
    size_t pos = 0;
    const struct buftable_entry *e;
    while (b.count < 50000 && (e = buftable_next(&a, &pos)) != NULL)
        assert_int_equal(buftable_insert(&b, e->device, e->type, e->address, e->size, &old), 0);
    assert_int_equal(b.count, 50000);
    /* seeded, it stays near what random keys give at this load */
    assert_true(buftable_longest_run(&b) < 5000);
    assert_true(buftable_longest_run(&a) < 5000);
    buftable_destroy(&a);
    buftable_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_lookup_remove),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_churn_against_model),
        cmocka_unit_test(test_memory_per_buffer),
        cmocka_unit_test(test_slot_order_replay_stays_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
