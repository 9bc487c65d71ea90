/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_shm_map.c - regions to tt-kmd devices: by asic_id, by the nodes their
 * processes hold (with TT_VISIBLE_DEVICES renumbering, PCI bus order, two
 * processes numbering one chip differently), by device_id; n300 second chips
 * and remote chips as rows of their own; one chip under two logical ids
 * counted once; garbage regions; sparse ordinals; contention between a live
 * and a stale region for one node; a gateway region's extra chips split off
 * without counting a byte twice.
 */
#include <errno.h>
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
    assert_string_equal(shmmap_match_name(SHMMAP_HOLDERS), "holders");
    assert_string_equal(shmmap_match_name(SHMMAP_DEVICE_ID), "device_id");
    assert_null(shmmap_match_name(SHMMAP_NONE));
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
    assert_int_equal(shmmap_build(r, 2, devs, 2, NULL, 0, &rows, &n), 0);
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
    assert_int_equal(shmmap_build(r, 4, devs, 2, NULL, 0, &rows, &n), 0);
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

static struct sysfs_device bdev(int index, const char *bus)
{
    struct sysfs_device d = dev(index, "", ""); /* Wormhole: no tt_asic_id */
    snprintf(d.bus_id, sizeof(d.bus_id), "%s", bus);
    return d;
}

static void live(struct shmstats_region *r, pid_t pid)
{
    r->processes[r->n_processes++].pid = pid;
}

static void test_visible_order(void **state)
{
    (void)state;
    /* ordinals out of bus order: UMD counts in bus order */
    struct sysfs_device devs[3] = {bdev(0, "0000:05:00.0"), bdev(1, "0000:01:00.0"),
                                   bdev(7, "0000:03:00.0")};
    int order[3];
    assert_int_equal(shmmap_visible_order("0", devs, 3, order), 1);
    assert_int_equal(order[0], 1); /* the first in bus order: node 1 */
    assert_int_equal(shmmap_visible_order("2,0", devs, 3, order), 2);
    assert_int_equal(order[0], 1); /* sorted by bus id, not list order */
    assert_int_equal(order[1], 0);
    assert_int_equal(shmmap_visible_order("03:00", devs, 3, order), 1);
    assert_int_equal(order[0], 2);
    assert_int_equal(shmmap_visible_order("", devs, 3, order), 0);
    assert_int_equal(shmmap_visible_order("3", devs, 3, order), -EINVAL);
    assert_int_equal(shmmap_visible_order("0000:0f", devs, 3, order), -EINVAL);
}

static void test_holders_renumbered(void **state)
{
    (void)state;
    /* four Wormhole nodes, no asic ids; two processes each see a part of
     * them (TT_VISIBLE_DEVICES), so both write device_id 0 */
    struct sysfs_device devs[4] = {bdev(0, "0000:01:00.0"), bdev(1, "0000:02:00.0"),
                                   bdev(2, "0000:03:00.0"), bdev(3, "0000:04:00.0")};
    pid_t a = getpid(), b = getppid();
    int held_a[1] = {2}, held_b[2] = {1, 3};
    struct shmmap_proc procs[2] = {{a, held_a, 1, 1, "2"}, {b, held_b, 2, 1, "1,3"}};
    struct shmstats_region *r = calloc(3, sizeof(*r));
    region(&r[0], 0, 0, 111, 10, 0);
    live(&r[0], a);
    region(&r[1], 0, 0, 222, 20, 0);
    live(&r[1], b);
    region(&r[2], 1, 0, 333, 30, 0);
    live(&r[2], b);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 3, devs, 4, procs, 2, &rows, &n), 0);
    assert_int_equal(n, 3);
    const struct shmmap_row *x = row_of(rows, n, 0, 0), *y = row_of(rows, n, 1, 0),
                            *z = row_of(rows, n, 2, 1);
    assert_int_equal(x->how, SHMMAP_HOLDERS);
    assert_int_equal(x->device, 2);
    assert_int_equal(y->how, SHMMAP_HOLDERS);
    assert_int_equal(y->device, 1);
    assert_int_equal(z->how, SHMMAP_HOLDERS);
    assert_int_equal(z->device, 3);
    free(rows);

    /* without what the processes hold, device_id is only a guess: both
     * regions of device_id 0 contend for node 0 */
    assert_int_equal(shmmap_build(r, 3, devs, 4, NULL, 0, &rows, &n), 0);
    assert_int_equal(row_of(rows, n, 2, 1)->how, SHMMAP_DEVICE_ID);
    assert_int_equal(row_of(rows, n, 2, 1)->device, 1);
    free(rows);
    free(r);
}

static void test_holders_disagree(void **state)
{
    (void)state;
    /* one chip, node 2, opened by a process that sees only it (logical 0)
     * and by one that sees all four (logical 2): the region's device_id is
     * the last attacher's; the node both hold decides */
    struct sysfs_device devs[4] = {bdev(0, "0000:01:00.0"), bdev(1, "0000:02:00.0"),
                                   bdev(2, "0000:03:00.0"), bdev(3, "0000:04:00.0")};
    pid_t a = getpid(), b = getppid();
    int held_a[1] = {2}, held_b[4] = {0, 1, 2, 3};
    struct shmmap_proc procs[2] = {{a, held_a, 1, 1, "2"}, {b, held_b, 4, 0, NULL}};
    struct shmstats_region *r = calloc(1, sizeof(*r));
    struct shmmap_row *rows;
    size_t n;
    for (uint32_t last = 0; last < 2; last++) {
        region(&r[0], last == 0 ? 0 : 2, 0, 111, 10, 0);
        live(&r[0], a);
        live(&r[0], b);
        assert_int_equal(shmmap_build(r, 1, devs, 4, procs, 2, &rows, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].how, SHMMAP_HOLDERS);
        assert_int_equal(rows[0].device, 2);
        free(rows);
    }
    free(r);
}

static void test_holders_n300_remote(void **state)
{
    (void)state;
    /* two n300 cards; the process sees card 0 only: its local chip is 0 and
     * the card's second chip (no node) is 1. Node 1 exists, but device_id 1
     * is the remote chip, not node 1. */
    struct sysfs_device devs[2] = {bdev(0, "0000:01:00.0"), bdev(1, "0000:02:00.0")};
    pid_t a = getpid();
    int held[1] = {0};
    struct shmmap_proc procs[1] = {{a, held, 1, 1, "0"}};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 111, 10, 0);
    live(&r[0], a);
    region(&r[1], 1, 0, 222, 20, 0); /* TT-Metal writes is_remote 0 for a region's own chip */
    live(&r[1], a);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 2, procs, 1, &rows, &n), 0);
    assert_int_equal(n, 2);
    const struct shmmap_row *x = row_of(rows, n, 0, 0), *y = row_of(rows, n, 1, 1);
    assert_int_equal(x->sysfs, 0);
    assert_int_equal(y->sysfs, -1);
    assert_int_equal(y->remote, 1);
    assert_int_equal(y->how, SHMMAP_HOLDERS);
    assert_int_equal(y->board_sysfs, 0);           /* on the card of node 0 */
    assert_true(y->device != 0 && y->device != 1); /* no phantom over node 1 */
    free(rows);
    free(r);
}

static void test_one_chip_two_ids(void **state)
{
    (void)state;
    /* a gateway region lists its remote chip as chip 1; the remote chip's
     * own region, written under another numbering, says device 5: one chip */
    struct sysfs_device devs[1] = {bdev(0, "0000:01:00.0")};
    pid_t a = getpid();
    int held[1] = {0};
    struct shmmap_proc procs[1] = {{a, held, 1, 0, NULL}};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 111, 1000, 0);
    r[0].chips[0].bytes[TTALLOC_DRAM] = 700;
    r[0].chips[1].chip_id = 1;
    r[0].chips[1].is_remote = 1;
    r[0].chips[1].bytes[TTALLOC_DRAM] = 300;
    r[0].n_chips = 2;
    live(&r[0], a);
    region(&r[1], 5, 0, 222, 300, 0);
    live(&r[1], a);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 1, procs, 1, &rows, &n), 0);
    assert_int_equal(n, 2); /* node 0 and the remote chip once */
    const struct shmmap_row *x = row_of(rows, n, 0, 0), *y = row_of(rows, n, 1, 5);
    assert_int_equal(x->sysfs, 0);
    assert_true(x->bytes[TTALLOC_DRAM] == 700);
    assert_int_equal(y->sysfs, -1);
    assert_true(y->bytes[TTALLOC_DRAM] == 300);
    free(rows);
    free(r);
}

static void test_unknown_regions(void **state)
{
    (void)state;
    struct sysfs_device devs[1] = {bdev(0, "0000:01:00.0")};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 111, 10, 0);
    r[0].unknown = 1;          /* garbage nobody uses: no row, node 0 stays free */
    r[0].chips[1].chip_id = 3; /* and its chips are no rows either */
    r[0].n_chips = 2;
    region(&r[1], 0, 0, 222, 20, 0);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 1, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].region, 1);
    assert_int_equal(rows[0].sysfs, 0);
    assert_int_equal(rows[0].unknown, 0);
    free(rows);
    /* used by a live process: its node's figures are unknown, no chip rows */
    live(&r[0], getpid());
    assert_int_equal(shmmap_build(r, 1, devs, 1, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].sysfs, 0);
    assert_int_equal(rows[0].unknown, 1);
    free(rows);
    free(r);
}

static void test_last_attacher_dead(void **state)
{
    (void)state;
    /* b sees nodes 0 and 1 as 0 and 1. A process that saw node 1 as its
     * logical 0 attached last (device_id 0) and died: node 1's region says
     * device 0 and lists the chip under both ids. Weighed together with node
     * 0's region, only node 1 is left for it. It counts once: no row for the
     * second local id, no bytes taken off. */
    struct sysfs_device devs[2] = {bdev(0, "0000:01:00.0"), bdev(1, "0000:02:00.0")};
    pid_t b = getppid();
    int held_b[2] = {0, 1};
    struct shmmap_proc procs[1] = {{b, held_b, 2, 1, "0,1"}};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 111, 10, 0);
    live(&r[0], b);
    region(&r[1], 0, 0, 222, 50, 0);
    r[1].chips[0].bytes[TTALLOC_DRAM] = 30; /* the dead one's, under id 0 */
    r[1].chips[1].chip_id = 1;              /* b's, under id 1 */
    r[1].chips[1].bytes[TTALLOC_DRAM] = 20;
    r[1].n_chips = 2;
    live(&r[1], b);
    struct shmmap_row *rows;
    size_t n;
    for (int order = 0; order < 2; order++) {
        const struct shmstats_region *in = r;
        struct shmstats_region *swapped = NULL;
        if (order == 1) { /* the answer does not depend on the files' order */
            swapped = calloc(2, sizeof(*swapped));
            swapped[0] = r[1];
            swapped[1] = r[0];
            in = swapped;
        }
        assert_int_equal(shmmap_build(in, 2, devs, 2, procs, 1, &rows, &n), 0);
        assert_int_equal(n, 2);
        const struct shmmap_row *x = row_of(rows, n, order == 0 ? 0 : 1, 0);
        const struct shmmap_row *y = row_of(rows, n, order == 0 ? 1 : 0, 0);
        assert_true(x->bytes[TTALLOC_DRAM] == 10);
        assert_int_equal(x->device, 0);
        assert_int_equal(x->how, SHMMAP_HOLDERS);
        assert_true(y->bytes[TTALLOC_DRAM] == 50);
        assert_int_equal(y->device, 1);
        assert_int_equal(y->how, SHMMAP_HOLDERS);
        free(rows);
        free(swapped);
    }
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
    assert_int_equal(shmmap_build(r, 3, devs, 1, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].region, 1);
    assert_int_equal(rows[0].sysfs, 0);
    assert_int_equal(rows[1].sysfs, -1);
    assert_int_equal(rows[2].sysfs, -1);
    assert_true(rows[1].device != 0 && rows[2].device != 0 && rows[1].device != rows[2].device);
    free(rows);

    /* without a live one, the most recently updated wins */
    r[1].n_processes = 0;
    assert_int_equal(shmmap_build(r, 3, devs, 1, NULL, 0, &rows, &n), 0);
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
    r[0].chips[2].chip_id = 7;            /* remote, publishes its own region */
    r[0].chips[2].is_remote = 1;
    r[0].chips[2].bytes[TTALLOC_DRAM] = 100;
    r[0].n_chips = 3;
    region(&r[1], 7, 0, 0, 100, 1);
    struct shmmap_row *rows;
    size_t n;
    assert_int_equal(shmmap_build(r, 2, devs, 1, NULL, 0, &rows, &n), 0);
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
    assert_int_equal(shmmap_build(NULL, 0, NULL, 0, NULL, 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    free(rows);
    /* regions and no devices at all: every region a row of its own */
    struct shmstats_region *r = calloc(2, sizeof(*r));
    region(&r[0], 0, 0, 0, 1, 0);
    region(&r[1], 0, 0, 0, 2, 0);
    assert_int_equal(shmmap_build(r, 2, NULL, 0, NULL, 0, &rows, &n), 0);
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
        cmocka_unit_test(test_visible_order),
        cmocka_unit_test(test_holders_renumbered),
        cmocka_unit_test(test_holders_disagree),
        cmocka_unit_test(test_holders_n300_remote),
        cmocka_unit_test(test_one_chip_two_ids),
        cmocka_unit_test(test_unknown_regions),
        cmocka_unit_test(test_last_attacher_dead),
        cmocka_unit_test(test_live_region_wins_node),
        cmocka_unit_test(test_gateway_extra_chips),
        cmocka_unit_test(test_empty_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
