/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_monitor_model.c - the monitor's model without a server or a screen:
 * percentages and colour thresholds, the history ring, devices from
 * snapshots and sysfs, the -d filter, process order and selection, refresh
 * steps, and losing the server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MIB (1024ull * 1024ull)

/* A hand-made snapshot: up to 4 devices, 4 processes, 8 usage rows. */
struct fake_snap {
    struct ttalloc_snapshot snap;
    struct ttalloc_device_stats devices[4];
    struct ttalloc_process_info procs[4];
    struct ttalloc_usage usage[8];
};

static void fake_init(struct fake_snap *f)
{
    memset(f, 0, sizeof(*f));
    f->snap.devices = f->devices;
    f->snap.processes = f->procs;
    f->snap.usage = f->usage;
    f->snap.seq = 1;
}

static struct ttalloc_device_stats *fake_device(struct fake_snap *f, uint32_t id,
                                                uint64_t dram_used, uint64_t dram_total)
{
    struct ttalloc_device_stats *d = &f->devices[f->snap.n_devices++];
    d->device = id;
    d->used[TTALLOC_DRAM] = dram_used;
    d->total[TTALLOC_DRAM] = dram_total;
    d->peak[TTALLOC_DRAM] = dram_used;
    strcpy(d->board_type, "n150");
    return d;
}

static void fake_process(struct fake_snap *f, int32_t pid, const char *name)
{
    struct ttalloc_process_info *p = &f->procs[f->snap.n_processes++];
    p->pid = pid;
    p->uid = 0;
    p->flags = TTALLOC_PROCESS_CONNECTED;
    strcpy(p->name, name);
}

static void fake_usage(struct fake_snap *f, int32_t pid, uint32_t device, uint64_t dram,
                       uint64_t l1, uint64_t buffers)
{
    struct ttalloc_usage *u = &f->usage[f->snap.n_usage++];
    u->pid = pid;
    u->device = device;
    u->bytes[TTALLOC_DRAM] = dram;
    u->bytes[TTALLOC_L1] = l1;
    u->buffers = buffers;
}

static void test_percent_and_levels(void **state)
{
    (void)state;
    assert_true(model_percent(3 * GIB, 12 * GIB) == 25.0);
    assert_true(model_percent(1, 0) < 0);
    assert_true(model_percent(0, 100) == 0.0);

    assert_int_equal(model_level(5, 0), MODEL_LEVEL_UNKNOWN);
    assert_int_equal(model_level(0, 100), MODEL_LEVEL_GREEN);
    assert_int_equal(model_level(7499, 10000), MODEL_LEVEL_GREEN);
    assert_int_equal(model_level(75, 100), MODEL_LEVEL_YELLOW); /* 75 % is yellow */
    assert_int_equal(model_level(8999, 10000), MODEL_LEVEL_YELLOW);
    assert_int_equal(model_level(9, 10), MODEL_LEVEL_RED); /* 90 % is red */
    assert_int_equal(model_level(120, 100), MODEL_LEVEL_RED);
    /* A Blackhole's odd total: exactly three quarters is yellow. */
    uint64_t bh = 8 * 4278190080ull;
    assert_int_equal(model_level(bh / 4 * 3, bh), MODEL_LEVEL_YELLOW);
    assert_int_equal(model_level(bh / 4 * 3 - 1, bh), MODEL_LEVEL_GREEN);
    /* Totals too large for the integer path still work. */
    assert_int_equal(model_level(UINT64_MAX / 2, UINT64_MAX), MODEL_LEVEL_GREEN);
    assert_int_equal(model_level(UINT64_MAX, UINT64_MAX), MODEL_LEVEL_RED);
}

static void test_history_buckets_and_gaps(void **state)
{
    (void)state;
    static struct model_history h; /* large: keep it off the stack */
    model_history_init(&h);
    assert_false(model_history_get(&h, 5000, 0).valid);

    /* Two samples in one bucket: the higher one is kept. */
    model_history_add(&h, 10000, 100, 7);
    model_history_add(&h, 10500, 50, 9);
    struct model_sample s = model_history_get(&h, 10999, 0);
    assert_true(s.valid);
    assert_int_equal(s.dram, 100);
    assert_int_equal(s.l1, 9);

    /* Three buckets later: the two between are gaps, the old one is age 3. */
    model_history_add(&h, 13000, 300, 0);
    assert_int_equal(model_history_get(&h, 13000, 0).dram, 300);
    assert_false(model_history_get(&h, 13000, 1).valid);
    assert_false(model_history_get(&h, 13000, 2).valid);
    assert_int_equal(model_history_get(&h, 13000, 3).dram, 100);
    /* Asking later than the newest sample: recent buckets are empty. */
    assert_false(model_history_get(&h, 15000, 0).valid);
    assert_int_equal(model_history_get(&h, 15000, 2).dram, 300);
    /* Out of range ages. */
    assert_false(model_history_get(&h, 13000, -1).valid);
    assert_false(model_history_get(&h, 13000, MODEL_HISTORY_LEN).valid);
}

static void test_history_wraps(void **state)
{
    (void)state;
    static struct model_history h;
    model_history_init(&h);
    int64_t t0 = 1000000;
    for (int i = 0; i < MODEL_HISTORY_LEN + 50; i++)
        model_history_add(&h, t0 + (int64_t)i * MODEL_HISTORY_PERIOD_MS, (uint64_t)i, 0);
    int64_t now = t0 + (int64_t)(MODEL_HISTORY_LEN + 49) * MODEL_HISTORY_PERIOD_MS;
    assert_int_equal(model_history_get(&h, now, 0).dram, MODEL_HISTORY_LEN + 49);
    assert_int_equal(model_history_get(&h, now, MODEL_HISTORY_LEN - 1).dram, 50);
    /* A jump longer than the whole ring leaves only the new sample. */
    int64_t later = now + 10LL * MODEL_HISTORY_LEN * MODEL_HISTORY_PERIOD_MS;
    model_history_add(&h, later, 1, 1);
    assert_int_equal(model_history_get(&h, later, 0).dram, 1);
    for (int age = 1; age < MODEL_HISTORY_LEN; age++)
        assert_false(model_history_get(&h, later, age).valid);
    /* The clock going back is ignored. */
    model_history_add(&h, later - 5000, 999, 999);
    assert_false(model_history_get(&h, later, 5).valid);
}

static void test_snapshot_devices_and_history(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 3 * GIB, 12 * GIB);
    fake_device(&f, 2, 0, 0);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 1000), 0);
    assert_int_equal(m.n_visible, 2);
    const struct model_device *d0 = model_visible_device(&m, 0);
    const struct model_device *d2 = model_visible_device(&m, 1);
    assert_int_equal(d0->id, 0);
    assert_int_equal(d2->id, 2);
    assert_true(d0->used_known);
    assert_true(model_percent(d0->stats.used[TTALLOC_DRAM], d0->stats.total[TTALLOC_DRAM]) == 25.0);
    assert_string_equal(d0->board, "n150");
    assert_int_equal(model_history_get(&d0->history, 1000, 0).dram, 3 * GIB);
    /* Totals are the server's (it fills in the board table): unknown stays unknown. */
    assert_int_equal(d2->stats.total[TTALLOC_DRAM], 0);
    assert_int_equal(d2->stats.total[TTALLOC_TRACE], 0);

    /* The device vanishes from the next snapshot: no longer shown. */
    f.snap.n_devices = 1;
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 2000), 0);
    assert_int_equal(m.n_visible, 1);

    /* Paused: snapshots are ignored. */
    m.paused = 1;
    f.devices[0].used[TTALLOC_DRAM] = 6 * GIB;
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 3000), 0);
    assert_int_equal(model_selected_device(&m)->stats.used[TTALLOC_DRAM], 3 * GIB);
    m.paused = 0;
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 3000), 0);
    assert_int_equal(model_selected_device(&m)->stats.used[TTALLOC_DRAM], 6 * GIB);
    model_free(&m);
}

static void test_filter(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    assert_int_equal(model_add_filter(&m, 1), 0);
    assert_int_equal(model_add_filter(&m, 3), 0);
    assert_int_equal(model_add_filter(&m, 3), 0); /* duplicate: once */
    assert_int_equal(m.n_filter, 2);
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 0, 0);
    fake_device(&f, 1, 0, 0);
    fake_device(&f, 2, 0, 0);
    fake_device(&f, 3, 0, 0);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    assert_int_equal(m.n_visible, 2);
    assert_int_equal(model_visible_device(&m, 0)->id, 1);
    assert_int_equal(model_visible_device(&m, 1)->id, 3);
    for (uint32_t i = 2; i < MODEL_MAX_FILTER; i++)
        assert_int_equal(model_add_filter(&m, 100 + i), 0);
    assert_int_equal(model_add_filter(&m, 9999), -EINVAL);
    model_free(&m);
}

static void test_sysfs_devices_and_server_lost(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct sysfs_device *devs = calloc(2, sizeof(*devs));
    assert_non_null(devs);
    devs[0].index = 0;
    strcpy(devs[0].card_type, "n150");
    devs[1].index = 4; /* sparse ordinals */
    strcpy(devs[1].card_type, "mystery");
    assert_int_equal(model_set_sysfs(&m, devs, 2), 0);
    assert_int_equal(m.n_visible, 2);
    const struct model_device *d = model_visible_device(&m, 0);
    /* No server yet: used is unknown, the total comes from the board table. */
    assert_false(d->used_known);
    assert_int_equal(d->stats.total[TTALLOC_DRAM], 12 * GIB);
    assert_int_equal(model_visible_device(&m, 1)->id, 4);
    assert_int_equal(model_visible_device(&m, 1)->stats.total[TTALLOC_DRAM], 0); /* never guessed */

    /* The server reports device 0 with the app's exact capacity. */
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 1 * GIB, 10 * GIB);
    fake_process(&f, 42, "python3");
    fake_usage(&f, 42, 0, 1 * GIB, 0, 3);
    m.conn = MODEL_CONN_UP;
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    d = model_visible_device(&m, 0);
    assert_true(d->used_known);
    assert_int_equal(d->stats.total[TTALLOC_DRAM], 10 * GIB);
    /* Device 4 is known to tt-kmd and the server is up: nobody uses it. */
    assert_true(model_visible_device(&m, 1)->used_known);
    assert_int_equal(m.n_procs, 1);

    model_server_lost(&m);
    assert_int_equal(m.conn, MODEL_CONN_LOST);
    d = model_visible_device(&m, 0);
    assert_false(d->used_known);
    assert_int_equal(d->stats.used[TTALLOC_DRAM], 0);
    assert_int_equal(d->stats.total[TTALLOC_DRAM], 12 * GIB); /* back to the board table */
    assert_int_equal(m.n_procs, 0);
    assert_int_equal(m.n_visible, 2);
    model_free(&m);
}

static void test_process_sort_and_selection(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 0, 0);
    fake_device(&f, 1, 0, 0);
    fake_process(&f, 10, "zeta");
    fake_process(&f, 20, "alpha");
    fake_process(&f, 30, "mid");
    fake_usage(&f, 10, 0, 1 * MIB, 9 * MIB, 1);
    fake_usage(&f, 20, 0, 5 * MIB, 1 * MIB, 7);
    fake_usage(&f, 20, 1, 99 * MIB, 0, 1); /* other device: not in device 0's list */
    fake_usage(&f, 30, 0, 3 * MIB, 5 * MIB, 4);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    assert_int_equal(m.n_procs, 3);

    /* Default: DRAM, largest first; the first row is selected. */
    assert_int_equal(m.sort, MODEL_SORT_DRAM);
    assert_int_equal(m.procs[0].pid, 20);
    assert_int_equal(m.procs[1].pid, 30);
    assert_int_equal(m.procs[2].pid, 10);
    assert_string_equal(m.procs[0].name, "alpha");
    assert_int_equal(m.selected_pid, 20);

    model_select_proc(&m, 1);
    assert_int_equal(m.selected_pid, 30);
    model_next_sort(&m); /* L1 */
    assert_int_equal(m.procs[0].pid, 10);
    assert_int_equal(m.procs[1].pid, 30);
    /* The selection follows the process, not the row. */
    assert_int_equal(model_selected_proc_index(&m), 1);
    model_next_sort(&m); /* BUFFERS */
    assert_int_equal(m.procs[0].pid, 20);
    model_next_sort(&m); /* PID */
    assert_int_equal(m.procs[0].pid, 10);
    model_next_sort(&m); /* NAME */
    assert_string_equal(m.procs[0].name, "alpha");
    assert_string_equal(m.procs[2].name, "zeta");
    model_next_sort(&m); /* back to DRAM */
    assert_int_equal(m.sort, MODEL_SORT_DRAM);

    /* Selection clamps at both ends. */
    model_select_proc(&m, -10);
    assert_int_equal(m.selected_pid, 20);
    model_select_proc(&m, 10);
    assert_int_equal(m.selected_pid, 10);

    /* Next device: its own processes. */
    model_select_device(&m, 1);
    assert_int_equal(model_selected_device(&m)->id, 1);
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].bytes[TTALLOC_DRAM], 99 * MIB);
    model_select_device(&m, 5); /* clamps */
    assert_int_equal(model_selected_device(&m)->id, 1);
    model_select_device(&m, -5);
    assert_int_equal(model_selected_device(&m)->id, 0);
    model_free(&m);
}

static void test_selected_device_survives_changes(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 0, 0);
    fake_device(&f, 3, 0, 0);
    fake_device(&f, 5, 0, 0);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    model_select_device(&m, 1);
    assert_int_equal(model_selected_device(&m)->id, 3);
    /* A device appears before it: still device 3. */
    struct fake_snap g;
    fake_init(&g);
    fake_device(&g, 0, 0, 0);
    fake_device(&g, 1, 0, 0);
    fake_device(&g, 3, 0, 0);
    fake_device(&g, 5, 0, 0);
    assert_int_equal(model_apply_snapshot(&m, &g.snap, 0), 0);
    assert_int_equal(model_selected_device(&m)->id, 3);
    /* Device 3 goes: the nearest before it. */
    g.devices[2].device = 4;
    assert_int_equal(model_apply_snapshot(&m, &g.snap, 0), 0);
    assert_int_equal(model_selected_device(&m)->id, 1);
    /* Everything goes: nothing selected, nothing crashes. */
    g.snap.n_devices = 0;
    assert_int_equal(model_apply_snapshot(&m, &g.snap, 0), 0);
    assert_null(model_selected_device(&m));
    model_select_device(&m, 1);
    model_select_proc(&m, 1);
    model_free(&m);
}

static void test_refresh_steps(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    assert_int_equal(model_step_refresh(&m, -1), 200);
    assert_int_equal(model_step_refresh(&m, -1), 100);
    assert_int_equal(model_step_refresh(&m, 1), 200);
    m.refresh_ms = 10;
    assert_int_equal(model_step_refresh(&m, -1), 10); /* already fastest */
    m.refresh_ms = 10000;
    assert_int_equal(model_step_refresh(&m, 1), 10000); /* already slowest */
    m.refresh_ms = 333;                                 /* an odd -r: the next step each way */
    assert_int_equal(model_step_refresh(&m, 1), 500);
    m.refresh_ms = 333;
    assert_int_equal(model_step_refresh(&m, -1), 200);
    model_free(&m);
}

static void test_filter_and_reverse(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 0, 0);
    fake_process(&f, 10, "python3");
    fake_process(&f, 123, "llama");
    fake_process(&f, 4567, "python3");
    strcpy(f.procs[0].label, "Resnet-50");
    fake_usage(&f, 10, 0, 3 * MIB, 0, 1);
    fake_usage(&f, 123, 0, 2 * MIB, 0, 1);
    fake_usage(&f, 4567, 0, 1 * MIB, 0, 1);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    assert_int_equal(m.n_procs, 3);

    /* Reverse: smallest DRAM first; again: back. The selection stays. */
    m.selected_pid = 123;
    model_toggle_reverse(&m);
    assert_int_equal(m.procs[0].pid, 4567);
    assert_int_equal(m.procs[2].pid, 10);
    assert_int_equal(m.selected_pid, 123);
    model_toggle_reverse(&m);
    assert_int_equal(m.procs[0].pid, 10);

    /* Filter by name (any case), label, PID digits; "" shows all. */
    model_set_filter(&m, "PYTHON");
    assert_int_equal(m.n_procs, 2);
    assert_int_equal(m.procs[0].pid, 10);
    assert_int_equal(m.procs[1].pid, 4567);
    /* The selected process is filtered out: the first shown one is selected. */
    assert_int_equal(m.selected_pid, 10);
    model_set_filter(&m, "resnet");
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 10);
    model_set_filter(&m, "45");
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 4567);
    model_set_filter(&m, "12");
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 123);
    model_set_filter(&m, "nothing-like-it");
    assert_int_equal(m.n_procs, 0);
    assert_int_equal(model_selected_proc_index(&m), -1);
    model_set_filter(&m, "");
    assert_int_equal(m.n_procs, 3);
    /* Reverse and filter together. */
    model_set_filter(&m, "python3");
    model_toggle_reverse(&m);
    assert_int_equal(m.n_procs, 2);
    assert_int_equal(m.procs[0].pid, 4567);
    model_free(&m);
}

static void test_proc_matches(void **state)
{
    (void)state;
    struct model_proc p;
    memset(&p, 0, sizeof(p));
    p.pid = 31337;
    strcpy(p.name, "tt-metal");
    assert_true(model_proc_matches(&p, ""));
    assert_true(model_proc_matches(&p, NULL));
    assert_true(model_proc_matches(&p, "METAL"));
    assert_true(model_proc_matches(&p, "313"));
    assert_false(model_proc_matches(&p, "label")); /* an empty label matches nothing */
    strcpy(p.label, "my label");
    assert_true(model_proc_matches(&p, "LABEL"));
    assert_false(model_proc_matches(&p, "31338"));
}

/* Without a server: the found processes are the rows, marked by source. */
static void test_found_without_server(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct sysfs_device *devs = calloc(2, sizeof(*devs));
    assert_non_null(devs);
    devs[0].index = 0;
    strcpy(devs[0].card_type, "n150");
    devs[1].index = 1;
    strcpy(devs[1].card_type, "n150");
    assert_int_equal(model_set_sysfs(&m, devs, 2), 0);
    assert_int_equal(m.n_procs, 0);

    struct model_found *found = calloc(4, sizeof(*found));
    assert_non_null(found);
    found[0] =
        (struct model_found){.pid = 50, .device = 0, .source = MODEL_SOURCE_SHM, .name = "metal"};
    found[0].bytes[TTALLOC_DRAM] = 2 * GIB;
    found[1] = (struct model_found){.pid = 50,
                                    .device = 0,
                                    .source = MODEL_SOURCE_PIDS,
                                    .name = "metal"}; /* the same process: one row */
    found[2] = (struct model_found){.pid = 60,
                                    .device = 0,
                                    .source = MODEL_SOURCE_PIDS,
                                    .name = "holder",
                                    .uid = 1000,
                                    .uid_known = 1};
    found[3] =
        (struct model_found){.pid = 70, .device = 1, .source = MODEL_SOURCE_PIDS, .name = "other"};
    struct model_found_device *used = calloc(1, sizeof(*used));
    assert_non_null(used);
    used[0].device = 0;
    used[0].used[TTALLOC_DRAM] = 2 * GIB;
    assert_int_equal(model_set_found(&m, found, 4, used, 1), 0);
    assert_int_equal(m.n_found, 3);

    assert_int_equal(m.n_procs, 2);
    assert_int_equal(m.procs[0].pid, 50);
    assert_int_equal(m.procs[0].source, MODEL_SOURCE_SHM);
    assert_true(m.procs[0].bytes_known);
    assert_int_equal(m.procs[0].bytes[TTALLOC_DRAM], 2 * GIB);
    assert_int_equal(m.procs[1].pid, 60);
    assert_int_equal(m.procs[1].source, MODEL_SOURCE_PIDS);
    assert_false(m.procs[1].bytes_known);
    assert_true(m.procs[1].uid_known);
    assert_string_equal(model_source_name(m.procs[1].source), "pids");
    /* Device 0's use from SHM; device 1 has none. */
    assert_true(model_visible_device(&m, 0)->used_known);
    assert_int_equal(model_visible_device(&m, 0)->stats.used[TTALLOC_DRAM], 2 * GIB);
    assert_int_equal(model_visible_device(&m, 0)->stats.total[TTALLOC_DRAM], 12 * GIB);
    assert_false(model_visible_device(&m, 1)->used_known);
    model_select_device(&m, 1);
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 70);
    model_select_device(&m, -1);

    /* A server answers: its rows replace what was found, and later finds are ignored. */
    struct fake_snap f;
    fake_init(&f);
    fake_device(&f, 0, 1 * GIB, 12 * GIB);
    fake_process(&f, 80, "served");
    f.procs[0].flags = TTALLOC_PROCESS_SHM;
    fake_usage(&f, 80, 0, 1 * GIB, 0, 0);
    assert_int_equal(model_apply_snapshot(&m, &f.snap, 0), 0);
    assert_int_equal(m.n_found, 0);
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 80);
    assert_int_equal(m.procs[0].source, MODEL_SOURCE_SHM); /* the server read it from SHM */
    found = calloc(1, sizeof(*found));
    assert_non_null(found);
    found[0] = (struct model_found){.pid = 90, .device = 0, .source = MODEL_SOURCE_PIDS};
    assert_int_equal(model_set_found(&m, found, 1, NULL, 0), 0);
    assert_int_equal(m.n_found, 0);
    assert_int_equal(model_visible_device(&m, 0)->stats.used[TTALLOC_DRAM], 1 * GIB);

    /* The server goes: finds count again; without SHM, use is unknown. */
    model_server_lost(&m);
    assert_int_equal(m.n_procs, 0);
    found = calloc(1, sizeof(*found));
    assert_non_null(found);
    found[0] = (struct model_found){.pid = 90, .device = 0, .source = MODEL_SOURCE_PIDS};
    assert_int_equal(model_set_found(&m, found, 1, NULL, 0), 0);
    assert_int_equal(m.n_procs, 1);
    assert_int_equal(m.procs[0].pid, 90);
    assert_false(model_visible_device(&m, 0)->used_known);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_and_levels),
        cmocka_unit_test(test_history_buckets_and_gaps),
        cmocka_unit_test(test_history_wraps),
        cmocka_unit_test(test_snapshot_devices_and_history),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_sysfs_devices_and_server_lost),
        cmocka_unit_test(test_process_sort_and_selection),
        cmocka_unit_test(test_selected_device_survives_changes),
        cmocka_unit_test(test_refresh_steps),
        cmocka_unit_test(test_filter_and_reverse),
        cmocka_unit_test(test_proc_matches),
        cmocka_unit_test(test_found_without_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
