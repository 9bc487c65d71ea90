/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_tally.c - the process's own tally (src/lib/tally.c): live and
 * peak bytes per (device, type) from one event order, a resize by a second
 * alloc at the same address, frees of unknown buffers, reset of the peaks,
 * devices kept in order, the peaks and live buffers handed out for a
 * server's resync, and clear.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tally.h"

#define MIB (1024u * 1024u)

static void ev(struct tally *t, uint8_t op, uint32_t device, uint8_t type, uint64_t address,
               uint64_t size)
{
    struct proto_event e = {.address = address,
                            .size = size,
                            .device = device,
                            .type = type,
                            .op = op,
                            .timestamp_ns = 1};
    assert_int_equal(tally_apply(t, &e), 0);
}

static void expect(const struct tally *t, uint32_t device, uint8_t type, uint64_t live,
                   uint64_t peak)
{
    uint64_t l = 1, p = 1;
    tally_memory(t, device, type, &l, &p);
    assert_int_equal(l, live);
    assert_int_equal(p, peak);
}

static void test_live_and_peak(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    expect(&t, 0, TTALLOC_DRAM, 0, 0); /* never seen */
    ev(&t, PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x1000, 10 * MIB);
    /* churn: one buffer allocated and freed many times never lifts the peak */
    for (int i = 0; i < 1000; i++) {
        ev(&t, PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x9000, MIB);
        ev(&t, PROTO_OP_FREE, 0, TTALLOC_DRAM, 0x9000, 0);
    }
    expect(&t, 0, TTALLOC_DRAM, 10 * MIB, 11 * MIB);
    /* other types and devices are separate */
    expect(&t, 0, TTALLOC_L1, 0, 0);
    expect(&t, 1, TTALLOC_DRAM, 0, 0);
    /* a free of an unknown buffer changes nothing, nor one of another type */
    ev(&t, PROTO_OP_FREE, 0, TTALLOC_DRAM, 0xdead, 0);
    ev(&t, PROTO_OP_FREE, 0, TTALLOC_L1, 0x1000, 0);
    ev(&t, PROTO_OP_FREE, 7, TTALLOC_DRAM, 0x1000, 0);
    expect(&t, 0, TTALLOC_DRAM, 10 * MIB, 11 * MIB);
    ev(&t, PROTO_OP_FREE, 0, TTALLOC_DRAM, 0x1000, 0);
    expect(&t, 0, TTALLOC_DRAM, 0, 11 * MIB);
    assert_int_equal(t.lost, 0);
    tally_destroy(&t);
}

static void test_resize_same_address(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    ev(&t, PROTO_OP_ALLOC, 2, TTALLOC_L1, 0x40, 100);
    ev(&t, PROTO_OP_ALLOC, 2, TTALLOC_L1, 0x40, 30); /* replaces, not adds */
    expect(&t, 2, TTALLOC_L1, 30, 100);
    ev(&t, PROTO_OP_ALLOC, 2, TTALLOC_L1, 0x40, 250);
    expect(&t, 2, TTALLOC_L1, 250, 250);
    ev(&t, PROTO_OP_FREE, 2, TTALLOC_L1, 0x40, 0);
    expect(&t, 2, TTALLOC_L1, 0, 250);
    ev(&t, PROTO_OP_FREE, 2, TTALLOC_L1, 0x40, 0); /* double free: no wrap */
    expect(&t, 2, TTALLOC_L1, 0, 250);
    tally_destroy(&t);
}

static void test_reset_peak(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    ev(&t, PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 1, 500);
    ev(&t, PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 2, 500);
    ev(&t, PROTO_OP_ALLOC, 3, TTALLOC_TRACE, 1, 70);
    ev(&t, PROTO_OP_FREE, 0, TTALLOC_DRAM, 2, 0);
    ev(&t, PROTO_OP_FREE, 3, TTALLOC_TRACE, 1, 0);
    ev(&t, PROTO_OP_RESET_PEAK, 0, 0, 0, 0); /* every device */
    expect(&t, 0, TTALLOC_DRAM, 500, 500);
    expect(&t, 3, TTALLOC_TRACE, 0, 0);
    ev(&t, PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 3, 1);
    expect(&t, 0, TTALLOC_DRAM, 501, 501);
    /* an unknown op is ignored */
    ev(&t, 99, 0, TTALLOC_DRAM, 3, 0);
    expect(&t, 0, TTALLOC_DRAM, 501, 501);
    tally_destroy(&t);
}

static int peak_cmp(const void *a, const void *b)
{
    const struct proto_peak *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->type - y->type;
}

static void test_devices_in_order_and_peaks(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    struct proto_peak *peaks = (void *)1;
    size_t n = 9;
    assert_int_equal(tally_peaks(&t, &peaks, &n), 0);
    assert_null(peaks);
    assert_int_equal(n, 0);

    /* devices arriving out of order, past the first allocation of 4 */
    const uint32_t devs[] = {7, 3, 4294967295u, 0, 5, 1, 6};
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
        ev(&t, PROTO_OP_ALLOC, devs[i], TTALLOC_CB, 0x10, 1000 + devs[i] % 1000);
    assert_int_equal(t.n_devices, 7);
    for (size_t i = 1; i < t.n_devices; i++)
        assert_true(t.devices[i - 1].device < t.devices[i].device);
    expect(&t, 4294967295u, TTALLOC_CB, 1295, 1295);
    ev(&t, PROTO_OP_FREE, 5, TTALLOC_CB, 0x10, 0); /* peak stays */

    assert_int_equal(tally_peaks(&t, &peaks, &n), 0);
    assert_int_equal(n, 7);
    qsort(peaks, n, sizeof(*peaks), peak_cmp);
    assert_int_equal(peaks[0].device, 0);
    assert_int_equal(peaks[0].type, TTALLOC_CB);
    assert_int_equal(peaks[0].peak_bytes, 1000);
    assert_int_equal(peaks[5].device, 7);
    assert_int_equal(peaks[6].device, 4294967295u);
    assert_int_equal(peaks[6].peak_bytes, 1295);
    free(peaks);
    tally_destroy(&t);
}

static void test_buffers_as_events(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    for (uint64_t a = 1; a <= 1000; a++)
        ev(&t, PROTO_OP_ALLOC, (uint32_t)(a % 3), TTALLOC_DRAM, a * 64, a);
    for (uint64_t a = 1; a <= 1000; a += 2)
        ev(&t, PROTO_OP_FREE, (uint32_t)(a % 3), TTALLOC_DRAM, a * 64, 0);

    /* appended after what the array already holds */
    size_t n = 1, cap = 1;
    struct proto_event *out = calloc(1, sizeof(*out));
    assert_non_null(out);
    out[0].op = PROTO_OP_RESET_PEAK;
    uint64_t buffers = 0, bytes = 0;
    assert_int_equal(tally_buffers_as_events(&t, 777, &out, &n, &cap, &buffers, &bytes), 0);
    assert_int_equal(buffers, 500);
    assert_int_equal(n, 501);
    assert_true(cap >= n);
    assert_int_equal(out[0].op, PROTO_OP_RESET_PEAK);
    uint64_t sum = 0, want = 0;
    char seen[1001] = {0};
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(out[i].op, PROTO_OP_ALLOC);
        assert_int_equal(out[i].timestamp_ns, 777);
        assert_int_equal(out[i].address, out[i].size * 64);
        assert_int_equal(out[i].size % 2, 0); /* only the even ones live */
        assert_int_equal(out[i].device, out[i].size % 3);
        assert_int_equal(seen[out[i].size], 0);
        seen[out[i].size] = 1;
        sum += out[i].size;
    }
    for (uint64_t a = 2; a <= 1000; a += 2)
        want += a;
    assert_int_equal(sum, want);
    assert_int_equal(bytes, want);
    free(out);

    /* clear: a fork child starts empty */
    tally_clear(&t);
    expect(&t, 0, TTALLOC_DRAM, 0, 0);
    n = cap = 0;
    out = NULL;
    assert_int_equal(tally_buffers_as_events(&t, 1, &out, &n, &cap, &buffers, &bytes), 0);
    assert_int_equal(n, 0);
    assert_int_equal(buffers, 0);
    assert_int_equal(bytes, 0);
    free(out);
    tally_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_and_peak),     cmocka_unit_test(test_resize_same_address),
        cmocka_unit_test(test_reset_peak),        cmocka_unit_test(test_devices_in_order_and_peaks),
        cmocka_unit_test(test_buffers_as_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
