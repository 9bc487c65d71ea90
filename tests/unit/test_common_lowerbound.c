/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_lowerbound.c - the one binary search (src/common/lowerbound.h)
 * against a linear scan: every key below, between, on and above the
 * elements of sorted tables of every size from 0 to 64, with duplicates
 * (the first of them is found), and extreme keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lowerbound.h"

struct item {
    uint64_t key;
    int payload;
};

static int item_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint64_t *)key, ((const struct item *)element)->key);
}

static size_t linear(const struct item *a, size_t n, uint64_t key)
{
    size_t i = 0;
    while (i < n && a[i].key < key)
        i++;
    return i;
}

static void test_against_linear(void **state)
{
    (void)state;
    struct item a[64];
    for (size_t n = 0; n <= 64; n++) {
        for (size_t i = 0; i < n; i++) {
            a[i].key = 10 * (i / 2); /* every key twice */
            a[i].payload = (int)i;
        }
        for (uint64_t key = 0; key <= 10 * 33 + 1; key++) {
            size_t at = lowerbound(&key, a, n, sizeof(a[0]), item_cmp);
            assert_int_equal(at, linear(a, n, key));
            if (at < n && a[at].key == key)
                assert_int_equal(a[at].payload % 2, 0); /* the first of the two */
        }
    }
}

static void test_extremes(void **state)
{
    (void)state;
    struct item a[] = {{0, 0}, {1, 1}, {UINT64_MAX - 1, 2}, {UINT64_MAX, 3}};
    uint64_t key = 0;
    assert_int_equal(lowerbound(&key, a, 4, sizeof(a[0]), item_cmp), 0);
    key = UINT64_MAX;
    assert_int_equal(lowerbound(&key, a, 4, sizeof(a[0]), item_cmp), 3);
    key = UINT64_MAX - 2;
    assert_int_equal(lowerbound(&key, a, 4, sizeof(a[0]), item_cmp), 2);
    assert_int_equal(lowerbound(&key, NULL, 0, sizeof(a[0]), item_cmp), 0);
    int minus = -5, three = 3;
    uint64_t big = UINT64_MAX, zero = 0;
    assert_int_equal(LOWERBOUND_CMP(minus, three), -1);
    assert_int_equal(LOWERBOUND_CMP(three, three), 0);
    assert_int_equal(LOWERBOUND_CMP(big, zero), 1); /* no subtraction to wrap */
    assert_int_equal(LOWERBOUND_CMP(zero, big), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_linear),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
