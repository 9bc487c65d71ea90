/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_smi_model.c - tt-smi's model (src/smi/smi_model.c): -i selection by
 * index, bus id (with or without its domain) and serial, empty and unknown
 * items named back; free bytes with TRACE counted in DRAM and L1_SMALL and
 * CB in L1 unless they have totals of their own, unknown and overflowing
 * figures; which usage and peaks are known; and discovery from a fake tree
 * (no driver, devices read back in order).
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

#include "smi_model.h"

static void model_of_three(struct smi_model *m, struct smi_device devs[3])
{
    memset(m, 0, sizeof(*m));
    memset(devs, 0, 3 * sizeof(devs[0]));
    devs[0].sys.index = 0;
    strcpy(devs[0].sys.bus_id, "0000:01:00.0");
    strcpy(devs[0].sys.serial, "00000000000000AB");
    devs[1].sys.index = 3;
    strcpy(devs[1].sys.bus_id, "0000:02:00.0");
    devs[2].sys.index = 10;
    m->devices = devs;
    m->n_devices = 3;
    for (int i = 0; i < 3; i++)
        devs[i].selected = 1;
}

static void selected(const struct smi_model *m, int a, int b, int c)
{
    assert_int_equal(m->devices[0].selected, a);
    assert_int_equal(m->devices[1].selected, b);
    assert_int_equal(m->devices[2].selected, c);
}

static void test_select(void **state)
{
    (void)state;
    struct smi_model m;
    struct smi_device devs[3];
    model_of_three(&m, devs);
    const char *bad = NULL;
    size_t bad_len = 0;
    assert_int_equal(smi_model_select(&m, NULL, &bad, &bad_len), 0); /* all */
    selected(&m, 1, 1, 1);
    assert_int_equal(smi_model_select(&m, "3", &bad, &bad_len), 0);
    selected(&m, 0, 1, 0);
    assert_int_equal(smi_model_select(&m, "10,0000:01:00.0", &bad, &bad_len), 0);
    selected(&m, 1, 0, 1);
    assert_int_equal(smi_model_select(&m, "02:00.0", &bad, &bad_len), 0); /* no domain */
    selected(&m, 0, 1, 0);
    assert_int_equal(smi_model_select(&m, "00000000000000ab", &bad, &bad_len), 0);
    selected(&m, 1, 0, 0);

    /* an item that matches nothing is named back */
    assert_int_equal(smi_model_select(&m, "0,7,3", &bad, &bad_len), -ENODEV);
    assert_int_equal(bad_len, 1);
    assert_int_equal(bad[0], '7');
    const char *nothing[] = {
        "4", "-0", "+3", "0x3", "01:00", "0000:01:00.00", "AB", "gpu", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
        if (smi_model_select(&m, nothing[i], &bad, &bad_len) != -ENODEV)
            fail_msg("'%s' selected a device", nothing[i]);
        assert_ptr_equal(bad, nothing[i]);
    }
    /* empty items */
    assert_int_equal(smi_model_select(&m, "", &bad, &bad_len), -EINVAL);
    assert_int_equal(smi_model_select(&m, "0,", &bad, &bad_len), -EINVAL);
    assert_int_equal(smi_model_select(&m, ",0", &bad, &bad_len), -EINVAL);
    assert_int_equal(bad_len, 0);
}

static void test_free_bytes(void **state)
{
    (void)state;
    struct smi_device d;
    memset(&d, 0, sizeof(d));
    uint64_t out = 1;
    d.total[TTALLOC_DRAM] = 1000;
    d.used[TTALLOC_DRAM] = 100;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_DRAM, &out), -ENODATA); /* used unknown */
    d.used_known = 1;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_DRAM, &out), 0);
    assert_int_equal(out, 900);
    /* TRACE lives in DRAM */
    d.used[TTALLOC_TRACE] = 50;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_DRAM, &out), 0);
    assert_int_equal(out, 850);
    /* ... unless it has a total of its own */
    d.total[TTALLOC_TRACE] = 200;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_DRAM, &out), 0);
    assert_int_equal(out, 900);
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_TRACE, &out), 0);
    assert_int_equal(out, 150);
    /* L1 with L1_SMALL and CB inside it */
    d.total[TTALLOC_L1] = 100;
    d.used[TTALLOC_L1] = 10;
    d.used[TTALLOC_L1_SMALL] = 20;
    d.used[TTALLOC_CB] = 30;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_L1, &out), 0);
    assert_int_equal(out, 40);
    /* more used than the total, or sums that wrap: unknown, never negative */
    d.used[TTALLOC_CB] = 71;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_L1, &out), -ENODATA);
    d.used[TTALLOC_CB] = UINT64_MAX - 5;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_L1, &out), -ENODATA);
    /* no total */
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_SYSTEM_MEMORY, &out), -ENODATA);
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_CB, &out), -ENODATA);
    /* exactly full */
    d.used[TTALLOC_CB] = 70;
    assert_int_equal(smi_model_free_bytes(&d, TTALLOC_L1, &out), 0);
    assert_int_equal(out, 0);
}

static void test_known(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    struct smi_usage u[2];
    memset(u, 0, sizeof(u));
    u[0].device = 0;
    u[0].peak_known = 1;
    u[1].device = 4;
    u[1].unknown = 1;
    struct smi_process p;
    memset(&p, 0, sizeof(p));
    p.usage = u;
    p.n_usage = 2;
    assert_ptr_equal(smi_model_usage(&p, 0), &u[0]);
    assert_ptr_equal(smi_model_usage(&p, 4), &u[1]);
    assert_null(smi_model_usage(&p, 1));
    assert_null(smi_model_usage(&p, -1));
    assert_true(smi_model_usage_known(&m, &p, &u[0]));
    assert_false(smi_model_usage_known(&m, &p, &u[1])); /* implausible figures */
    /* no usage: known (0) only for a process a server tracks */
    assert_false(smi_model_usage_known(&m, &p, NULL));
    m.server = 1;
    assert_false(smi_model_usage_known(&m, &p, NULL));
    p.tracked = 1;
    assert_true(smi_model_usage_known(&m, &p, NULL));
    /* peaks: only a server's own accounting has them */
    assert_true(smi_model_process_peak_known(&m, &p, &u[0]));
    assert_false(smi_model_process_peak_known(&m, &p, &u[1]));
    assert_true(smi_model_process_peak_known(&m, &p, NULL));
    p.shm_only = 1;
    assert_false(smi_model_process_peak_known(&m, &p, NULL));
    m.server = 0;
    assert_false(smi_model_process_peak_known(&m, &p, &u[0]));
}

static void test_load_no_driver(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(smi_model_load(&m, "/nonexistent-ttalloc-root", getpid()), -ENOENT);
    smi_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_free_bytes),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_load_no_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
