/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_monitor_text.c - the monitor's numbers in words (sizes, percentages,
 * bars) and the --once frame built from a hand-made model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "text.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MIB (1024ull * 1024ull)

static void test_percent_and_amounts(void **state)
{
    (void)state;
    char buf[64];
    text_percent(buf, sizeof(buf), 3 * GIB, 12 * GIB);
    assert_string_equal(buf, "25.0%");
    text_percent(buf, sizeof(buf), 3 * GIB, 0);
    assert_string_equal(buf, "");
    text_used_total(buf, sizeof(buf), 3 * GIB, 12 * GIB);
    assert_string_equal(buf, "3.00 GiB / 12.0 GiB");
    text_used_total(buf, sizeof(buf), 512, 0);
    assert_string_equal(buf, "512 B used");
}

static void test_bar(void **state)
{
    (void)state;
    char buf[64];
    text_bar(buf, 12, 5, 0, 10);
    assert_string_equal(buf, "[#####.....]");
    text_bar(buf, 12, 5, 8, 10);
    assert_string_equal(buf, "[#####...|.]");
    text_bar(buf, 12, 20, 20, 10); /* over the total: full, no mark outside */
    assert_string_equal(buf, "[##########]");
    text_bar(buf, 12, 0, 10, 10); /* peak at the very end: last cell */
    assert_string_equal(buf, "[.........|]");
    assert_int_equal(text_cells(1, 3, 9), 3);
    assert_int_equal(text_cells(1, 0, 9), 0);
}

static void test_frame(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    m.conn = MODEL_CONN_UP;
    snprintf(m.socket_path, sizeof(m.socket_path), "/tmp/x.sock");

    struct ttalloc_device_stats dev[2];
    memset(dev, 0, sizeof(dev));
    dev[0].device = 0;
    dev[0].used[TTALLOC_DRAM] = 9 * GIB;
    dev[0].total[TTALLOC_DRAM] = 12 * GIB;
    dev[0].peak[TTALLOC_DRAM] = 10 * GIB;
    dev[0].used[TTALLOC_L1] = 0;
    dev[0].total[TTALLOC_L1] = 72ull * 1499136;
    dev[0].used[TTALLOC_TRACE] = 4096; /* total unknown */
    strcpy(dev[0].board_type, "n150");
    dev[1].device = 1;
    strcpy(dev[1].board_type, "p150a");
    struct ttalloc_process_info proc;
    memset(&proc, 0, sizeof(proc));
    proc.pid = 4242;
    strcpy(proc.name, "python3");
    struct ttalloc_usage use;
    memset(&use, 0, sizeof(use));
    use.pid = 4242;
    use.device = 0;
    use.bytes[TTALLOC_DRAM] = 9 * GIB;
    use.buffers = 12;
    struct ttalloc_snapshot snap = {
        .seq = 1,
        .n_devices = 2,
        .devices = dev,
        .n_processes = 1,
        .processes = &proc,
        .n_usage = 1,
        .usage = &use,
    };
    assert_int_equal(model_apply_snapshot(&m, &snap, 0), 0);

    struct ttalloc_exit *exits = calloc(1, sizeof(*exits));
    assert_non_null(exits);
    exits[0].pid = 777;
    strcpy(exits[0].name, "leaky");
    exits[0].device = 1;
    exits[0].bytes[TTALLOC_DRAM] = 64 * MIB;
    exits[0].buffers[TTALLOC_DRAM] = 2;
    model_set_exits(&m, exits, 1);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    text_frame(out, &m, 0);
    fclose(out);

    assert_non_null(strstr(text, "server: connected (/tmp/x.sock)"));
    assert_non_null(strstr(text, "devices: 2"));
    assert_non_null(strstr(text, "device 0: n150"));
    assert_non_null(strstr(text, "device 1: p150a"));
    assert_non_null(strstr(text, "9.00 GiB / 12.0 GiB  75.0%"));
    assert_non_null(strstr(text, "peak 10.0 GiB"));
    assert_non_null(strstr(text, "0 B / 103 MiB   0.0%"));
    assert_non_null(strstr(text, "(total unknown)"));
    assert_non_null(strstr(text, "4.00 KiB used"));
    assert_non_null(strstr(text, "python3"));
    assert_non_null(strstr(text, "4242"));
    assert_non_null(strstr(text, "LEAK"));
    /* The leak report is a table: LEAK, time, PID, user, name, device, ... */
    const char *leak = strstr(text, "\n  LEAK ");
    assert_non_null(leak);
    const char *eol = strchr(leak + 1, '\n');
    assert_non_null(eol);
    char row[256];
    snprintf(row, sizeof(row), "%.*s", (int)(eol - leak - 1), leak + 1);
    assert_non_null(strstr(row, "     777 "));
    assert_non_null(strstr(row, " leaky "));
    assert_non_null(strstr(row, "64.0 MiB"));
    assert_non_null(strstr(text, "ENDED"));
    assert_non_null(strstr(text, "LABEL"));
    assert_non_null(strstr(text, "64.0 MiB"));
    /* The DRAM bar: 30 of 40 cells, the peak mark after them. */
    assert_non_null(strstr(text, "[##############################...|"));
    free(text);
    model_free(&m);
}

static void test_frame_without_server(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct sysfs_device *devs = calloc(1, sizeof(*devs));
    assert_non_null(devs);
    devs[0].index = 3;
    strcpy(devs[0].card_type, "n300");
    strcpy(devs[0].bus_id, "0000:03:00.0");
    devs[0].temp_mc = 46500;
    devs[0].power_uw = 23000000;
    devs[0].power_max_uw = 150000000;
    devs[0].aiclk_mhz = SYSFS_UNKNOWN;
    assert_int_equal(model_set_sysfs(&m, devs, 1), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    text_frame(out, &m, 0);
    fclose(out);
    assert_non_null(strstr(text, "server: not reachable"));
    assert_non_null(strstr(text, "device 3: n300  0000:03:00.0  46.5 C  23.0 W / 150 W\n"));
    assert_non_null(strstr(text, "used unknown (no server) / 12.0 GiB"));
    assert_null(strstr(text, "%")); /* no made-up percentages */
    free(text);
    model_free(&m);
}

static void test_type_names(void **state)
{
    (void)state;
    char buf[32];
    text_type_name(buf, sizeof(buf), TTALLOC_DRAM);
    assert_string_equal(buf, "DRAM");
    text_type_name(buf, sizeof(buf), TTALLOC_SYSTEM_MEMORY);
    assert_string_equal(buf, "SYSTEM_MEMORY"); /* as every other tool says it */
    text_type_name(buf, sizeof(buf), TTALLOC_L1_SMALL);
    assert_string_equal(buf, "L1_SMALL");
    text_type_name(buf, sizeof(buf), (enum ttalloc_buffer_type)99);
    assert_string_equal(buf, "?");
    text_type_name(buf, 4, TTALLOC_SYSTEM_MEMORY); /* cut, terminated */
    assert_string_equal(buf, "SYS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_and_amounts),
        cmocka_unit_test(test_bar),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_frame_without_server),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
