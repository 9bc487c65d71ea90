/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_shm_usage.c - the rule from regions to figures: skipped PIDs and dead
 * slots never count, a gateway's remote chip is capped by what the counted
 * processes hold, a stale file without a node makes no device, and a node's
 * row is kept at 0; the totals count a process with no slot (tracking
 * disabled) less what dead slots claim; dead PIDs are listed as stale;
 * unknown figures stay unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shmusage.h"

static struct sysfs_device dev(int index, const char *asic)
{
    struct sysfs_device d;
    memset(&d, 0, sizeof(d));
    d.index = index;
    snprintf(d.asic_id, sizeof(d.asic_id), "%s", asic);
    snprintf(d.card_type, sizeof(d.card_type), "n300");
    return d;
}

/* A region of chip `device_id` matched by asic id, with chip entries. */
static void region(struct shmstats_region *r, uint32_t device_id, uint64_t asic)
{
    memset(r, 0, sizeof(*r));
    r->version = 4;
    r->device_id = device_id;
    r->asic_id = asic;
    r->n_chips = 1;
    r->chips[0].chip_id = device_id;
}

static void add_process(struct shmstats_region *r, pid_t pid, uint64_t dram, uint64_t l1)
{
    struct shmstats_process *p = &r->processes[r->n_processes++];
    p->pid = pid;
    p->bytes[TTALLOC_DRAM] = dram;
    p->bytes[TTALLOC_L1] = l1;
    snprintf(p->name, sizeof(p->name), "p%d", (int)pid);
    r->totals[TTALLOC_DRAM] += dram;
    r->totals[TTALLOC_L1] += l1;
}

static int skip_100(void *ctx, pid_t pid)
{
    (void)ctx;
    return pid == 100;
}

static void test_skip_and_remote_split(void **state)
{
    (void)state;
    struct sysfs_device devs[2] = {dev(0, "00000000000000AA"), dev(1, "00000000000000BB")};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    assert_non_null(r);
    region(&r[0], 0, 0xAA);
    add_process(&r[0], 100, 1000, 10); /* reports through libttalloc: skipped */
    add_process(&r[0], 200, 300, 20);
    r[0].stale = 1; /* a dead slot: its bytes are not in processes */
    region(&r[1], 1, 0xBB);
    add_process(&r[1], 300, 500, 0);
    r[1].n_chips = 2;
    r[1].chips[1].chip_id = 7;
    r[1].chips[1].is_remote = 1;
    r[1].chips[1].bytes[TTALLOC_DRAM] = 800; /* more than the process holds: capped */
    r[1].chips[0].bytes[TTALLOC_DRAM] = 0;

    struct shmusage u;
    assert_int_equal(shmusage_build(r, 2, devs, 2, NULL, 0, skip_100, NULL, &u), 0);
    assert_int_equal(u.skipped, 1);
    assert_int_equal(u.stale, 1);
    assert_int_equal(u.n_devices, 3);
    assert_int_equal(u.devices[0].device, 0);
    assert_int_equal(u.devices[0].sysfs, 0);
    assert_int_equal(u.devices[0].used[TTALLOC_DRAM], 300);
    assert_int_equal(u.devices[0].used[TTALLOC_L1], 20);
    assert_int_equal(u.devices[0].processes, 1);
    assert_int_equal(u.devices[1].device, 1);
    assert_int_equal(u.devices[1].used[TTALLOC_DRAM], 0); /* all 500 went to chip 7 */
    assert_int_equal(u.devices[2].device, 7);
    assert_int_equal(u.devices[2].sysfs, -1);
    assert_int_equal(u.devices[2].used[TTALLOC_DRAM], 500);
    assert_int_equal(u.n_processes, 2);
    assert_int_equal(u.processes[0].pid, 200);
    assert_int_equal(u.processes[0].device, 0);
    assert_string_equal(u.processes[0].name, "p200");
    assert_int_equal(u.processes[1].pid, 300);
    assert_int_equal(u.processes[1].device, 1);
    assert_int_equal(u.processes[1].bytes[TTALLOC_DRAM], 500);
    shmusage_free(&u);
    free(r);
}

static void test_stale_file_without_node(void **state)
{
    (void)state;
    struct sysfs_device devs[1] = {dev(0, "00000000000000AA")};
    struct shmstats_region *r = calloc(2, sizeof(*r));
    assert_non_null(r);
    region(&r[0], 0, 0xAA); /* the node's region, nobody in it */
    region(&r[1], 5, 0xCC); /* no node, only a dead slot */
    r[1].stale = 1;
    r[1].stale_pids[0].pid = 4242;
    snprintf(r[1].stale_pids[0].name, sizeof(r[1].stale_pids[0].name), "gone");
    r[1].totals[TTALLOC_DRAM] = 4096;
    struct shmusage u;
    assert_int_equal(shmusage_build(r, 2, devs, 1, NULL, 0, NULL, NULL, &u), 0);
    assert_int_equal(u.n_devices, 1);
    assert_int_equal(u.devices[0].device, 0);
    assert_int_equal(u.devices[0].used[TTALLOC_DRAM], 0);
    assert_int_equal(u.n_processes, 0);
    assert_int_equal(u.stale, 1);
    /* the dead PID is listed as stale, on the chip its region is */
    assert_int_equal(u.n_stale_pids, 1);
    assert_int_equal(u.stale_pids[0].pid, 4242);
    assert_int_equal(u.stale_pids[0].sysfs, -1);
    assert_string_equal(u.stale_pids[0].name, "gone");
    shmusage_free(&u);
    free(r);
}

static void test_totals_count_untracked_minus_stale(void **state)
{
    (void)state;
    struct sysfs_device devs[1] = {dev(0, "00000000000000AA")};
    struct shmstats_region *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    region(&r[0], 0, 0xAA);
    add_process(&r[0], 200, 1000, 0);
    /* a process with TT_METAL_SHM_TRACKING_DISABLED: bytes in the totals, no slot */
    r[0].totals[TTALLOC_DRAM] += 4000;
    /* a SIGKILLed one: its slot and its bytes linger */
    r[0].stale = 1;
    r[0].stale_pids[0].pid = 4243;
    r[0].stale_bytes[TTALLOC_DRAM] = 2000;
    r[0].totals[TTALLOC_DRAM] += 2000;
    struct shmusage u;
    assert_int_equal(shmusage_build(r, 1, devs, 1, NULL, 0, NULL, NULL, &u), 0);
    assert_int_equal(u.n_devices, 1);
    assert_int_equal(u.devices[0].used[TTALLOC_DRAM], 5000);
    assert_int_equal(u.devices[0].how, SHMMAP_ASIC_ID);
    assert_int_equal(u.devices[0].unknown, 0);
    assert_int_equal(u.n_processes, 1);
    assert_int_equal(u.processes[0].bytes[TTALLOC_DRAM], 1000);
    assert_int_equal(u.n_stale_pids, 1);
    assert_int_equal(u.stale_pids[0].device, 0);
    shmusage_free(&u);

    /* figures that cannot be true: unknown for the device and the process */
    r[0].unknown = 1;
    assert_int_equal(shmusage_build(r, 1, devs, 1, NULL, 0, NULL, NULL, &u), 0);
    assert_int_equal(u.n_devices, 1);
    assert_int_equal(u.devices[0].unknown, 1);
    assert_int_equal(u.devices[0].used[TTALLOC_DRAM], 0);
    assert_int_equal(u.n_processes, 1);
    assert_int_equal(u.processes[0].unknown, 1);
    assert_int_equal(u.processes[0].bytes[TTALLOC_DRAM], 0);
    shmusage_free(&u);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_and_remote_split),
        cmocka_unit_test(test_stale_file_without_node),
        cmocka_unit_test(test_totals_count_untracked_minus_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
