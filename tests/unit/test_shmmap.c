/*
 * test_shmmap.c - regions to tt-kmd devices: by asic_id, by board serial, by
 * device_id; n300 second chips and remote chips as rows of their own; sparse
 * ordinals; contention between a live and a stale region for one node; a
 * gateway region's extra chips split off without counting a byte twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmmap.h"

static struct sysfs_device dev(int index, const char *serial, const char *asic)
{
    struct sysfs_device d;
    memset(&d, 0, sizeof(d));
    d.index = index;
    snprintf(d.serial, sizeof(d.serial), "%s", serial);
    snprintf(d.asic_id, sizeof(d.asic_id), "%s", asic);
    snprintf(d.card_type, sizeof(d.card_type), "n300");
    return d;
}

static void region(struct shmstats_region *r, uint32_t device_id, uint64_t serial, uint64_t asic,
                   uint64_t dram, int remote)
{
    memset(r, 0, sizeof(*r));
    r->version = 4;
    r->device_id = device_id;
    r->board_serial = serial;
    r->asic_id = asic;
    r->totals[TTALLOC_DRAM] = dram;
    r->n_chips = 1;
    r->chips[0].chip_id = device_id;
    r->chips[0].is_remote = (uint32_t)remote;
    r->chips[0].bytes[TTALLOC_DRAM] = dram;
}

static const struct shmmap_row *row_of(const struct shmmap_row *rows, size_t n, size_t region,
                                       uint32_t chip)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].region == region && rows[i].chip_id == chip)
            return &rows[i];
    fail_msg("no row for region %zu chip %u", region, chip);
    return NULL;
}

static void test_parse_hex16(void **state)
{
    (void)state;
    assert_true(shmmap_parse_hex16("0123456789ABCDEF") == 0x0123456789ABCDEFull);
    assert_true(shmmap_parse_hex16("ffffffffffffffff") == UINT64_MAX);
    assert_true(shmmap_parse_hex16("") == 0);
    assert_true(shmmap_parse_hex16("0123456789ABCDE") == 0);   /* 15 digits */
    assert_true(shmmap_parse_hex16("0123456789ABCDEF0") == 0); /* 17 */
    assert_true(shmmap_parse_hex16("0123456789ABCDEG") == 0);
    assert_true(shmmap_parse_hex16("0x23456789ABCDEF") == 0);
    assert_string_equal(shmmap_match_name(SHMMAP_ASIC_ID), "asic_id");
    assert_string_equal(shmmap_match_name(SHMMAP_NONE), "none");
}

static void test_by_asic_id_beats_device_id(void **state)
{
    (void)state;
    struct sysfs_device devs[2] = {dev(0, "", "00000000000000AA"), dev(1, "", "00000000000000BB")};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    /* TT-Metal numbered them the other way round from tt-kmd */
    region(&r[0], 0, 0, 0xBB, 100, 0);
    region(&r[1], 1, 0, 0xAA, 200, 0);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 2, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].sysfs, 0);
    assert_int_equal(rows[0].region, 1);
    assert_int_equal(rows[0].how, SHMMAP_ASIC_ID);
    assert_int_equal(rows[0].device, 0);
    assert_true(rows[0].bytes[TTALLOC_DRAM] == 200);
    assert_int_equal(rows[1].sysfs, 1);
    assert_int_equal(rows[1].region, 0);
    assert_true(rows[1].bytes[TTALLOC_DRAM] == 100);
    free(rows);
    free(r);
}

static void test_device_id_fallback_and_n300(void **state)
{
    (void)state;
    /* two n300 cards: nodes 0 and 1; TT-Metal devices 0,1 local and 2,3 remote */
    struct sysfs_device devs[2] = {dev(0, "1000000000000001", ""), dev(1, "1000000000000002", "")};
    struct shmstats_region *r = calloc(4, sizeof(*r));
    region(&r[0], 0, 0, 555, 10, 0);
    region(&r[1], 1, 0, 556, 11, 0);
    region(&r[2], 2, 0, 557, 12, 1);
    region(&r[3], 3, 0, 558, 13, 1);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 4, devs, 2, &rows, &n), 0);
    assert_int_equal(n, 4);
    const struct shmmap_row *a = row_of(rows, n, 0, 0), *b = row_of(rows, n, 1, 1),
                            *c = row_of(rows, n, 2, 2), *d = row_of(rows, n, 3, 3);
    assert_int_equal(a->sysfs, 0);
    assert_int_equal(a->how, SHMMAP_DEVICE_ID);
    assert_int_equal(b->sysfs, 1);
    assert_int_equal(c->sysfs, -1);
    assert_int_equal(c->remote, 1);
    assert_int_equal(c->device, 2);
    assert_int_equal(d->sysfs, -1);
    assert_int_equal(d->device, 3);
    assert_true(d->bytes[TTALLOC_DRAM] == 13);
    /* nodes first */
    assert_true(rows[0].sysfs == 0 && rows[1].sysfs == 1);
    free(rows);
    free(r);
}

static void test_serial_and_contradiction(void **state)
{
    (void)state;
    struct sysfs_device devs[2] = {dev(0, "00000000000000C1", ""), dev(5, "00000000000000C2", "")};
    struct shmstats_region *r = calloc(3, sizeof(*r));
    region(&r[0], 9, 0xC2, 0, 1, 0); /* serial says node 5 */
    region(&r[1], 0, 0xC2, 0, 2, 0); /* the same board: the other chip of it */
    region(&r[2], 0, 0xD0, 0, 3, 0); /* device 0, but its serial contradicts node 0's */
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 3, devs, 2, &rows, &n), 0);
    const struct shmmap_row *a = row_of(rows, n, 0, 9), *b = row_of(rows, n, 1, 0),
                            *c = row_of(rows, n, 2, 0);
    assert_int_equal(a->sysfs, 1);
    assert_int_equal(a->how, SHMMAP_SERIAL);
    assert_int_equal(a->device, 5);
    assert_int_equal(b->sysfs, -1);
    assert_int_equal(b->board_sysfs, 1);
    assert_int_equal(c->sysfs, -1);
    /* ids shown are distinct from the nodes' and from each other */
    assert_true(b->device != 0 && b->device != 5 && c->device != 0 && c->device != 5);
    assert_true(b->device != c->device);
    free(rows);
    free(r);
}

static void test_live_region_wins_node(void **state)
{
    (void)state;
    struct sysfs_device devs[1] = {dev(0, "", "")};
    struct shmstats_region *r = calloc(3, sizeof(*r));
    region(&r[0], 0, 0, 1, 0, 0);
    r[0].last_update_ns = 500; /* newer, but nobody alive */
    region(&r[1], 0, 0, 2, 77, 0);
    r[1].last_update_ns = 100;
    r[1].n_processes = 1;
    r[1].processes[0].pid = getpid();
    region(&r[2], 0, 0, 3, 0, 0);
    r[2].last_update_ns = 50;
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 3, devs, 1, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].region, 1);
    assert_int_equal(rows[0].sysfs, 0);
    assert_int_equal(rows[1].sysfs, -1);
    assert_int_equal(rows[2].sysfs, -1);
    assert_true(rows[1].device != 0 && rows[2].device != 0 && rows[1].device != rows[2].device);
    free(rows);

    /* without a live one, the most recently updated wins */
    r[1].n_processes = 0;
    assert_int_equal(shmmap_build(r, 3, devs, 1, &rows, &n), 0);
    assert_int_equal(rows[0].region, 0);
    free(rows);
    free(r);
}

static void test_gateway_extra_chips(void **state)
{
    (void)state;
    struct sysfs_device devs[1] = {dev(0, "", "")};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 0, 1000, 0);
    r[0].totals[TTALLOC_L1] = 50;
    r[0].chips[0].bytes[TTALLOC_DRAM] = 600;
    r[0].chips[1].chip_id = 4; /* remote, no region of its own */
    r[0].chips[1].is_remote = 1;
    r[0].chips[1].bytes[TTALLOC_DRAM] = 300;
    r[0].chips[1].bytes[TTALLOC_L1] = 80; /* more than the total: saturates */
    r[0].chips[2].chip_id = 7; /* remote, publishes its own region */
    r[0].chips[2].is_remote = 1;
    r[0].chips[2].bytes[TTALLOC_DRAM] = 100;
    r[0].n_chips = 3;
    region(&r[1], 7, 0, 0, 100, 1);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 1, &rows, &n), 0);
    assert_int_equal(n, 3);
    const struct shmmap_row *own = row_of(rows, n, 0, 0), *four = row_of(rows, n, 0, 4),
                            *seven = row_of(rows, n, 1, 7);
    assert_int_equal(own->sysfs, 0);
    assert_true(own->bytes[TTALLOC_DRAM] == 600);
    assert_true(own->bytes[TTALLOC_L1] == 0);
    assert_int_equal(four->own, 0);
    assert_int_equal(four->sysfs, -1);
    assert_int_equal(four->board_sysfs, 0);
    assert_int_equal(four->remote, 1);
    assert_int_equal(four->device, 4);
    assert_true(four->bytes[TTALLOC_DRAM] == 300);
    assert_int_equal(seven->own, 1);
    assert_int_equal(seven->sysfs, -1);
    assert_true(seven->bytes[TTALLOC_DRAM] == 100);
    free(rows);
    free(r);
}

static void test_empty_inputs(void **state)
{
    (void)state;
    struct shmmap_row *rows = NULL;
    size_t n = 99;
    assert_int_equal(shmmap_build(NULL, 0, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    free(rows);
    /* regions and no devices at all: every region a row of its own */
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 0, 1, 0);
    region(&r[1], 0, 0, 0, 2, 0);
    assert_int_equal(shmmap_build(r, 2, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].sysfs, -1);
    assert_int_equal(rows[1].sysfs, -1);
    assert_true(rows[0].device != rows[1].device);
    free(rows);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hex16),
        cmocka_unit_test(test_by_asic_id_beats_device_id),
        cmocka_unit_test(test_device_id_fallback_and_n300),
        cmocka_unit_test(test_serial_and_contradiction),
        cmocka_unit_test(test_live_region_wins_node),
        cmocka_unit_test(test_gateway_extra_chips),
        cmocka_unit_test(test_empty_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
