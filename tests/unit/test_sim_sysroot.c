/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim_sysroot.c - `tt-alloc-sim sysroot` (src/sim/sim_sysroot.c): the
 * --devices list (dense, sparse, mixed; unknown boards, duplicate, signed,
 * out-of-range or missing ordinals, empty items, too many), and the tree it
 * builds read back by the discovery code the tools use, with and without
 * pids files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_sysroot.h"
#include "sysfs.h"
#include "tmpdir.h"

static void test_parse_good(void **state)
{
    (void)state;
    struct sim_sysroot_spec s[8];
    assert_int_equal(sim_sysroot_parse_devices("n150", s, 8), 1);
    assert_int_equal(s[0].index, 0);
    assert_string_equal(s[0].board, "n150");
    assert_int_equal(sim_sysroot_parse_devices("n150,n300,p150a", s, 8), 3);
    assert_int_equal(s[2].index, 2);
    assert_string_equal(s[2].board, "p150a");
    /* sparse, and an item without an ordinal follows the previous one */
    assert_int_equal(sim_sysroot_parse_devices("0:n150,3:p150a,e150", s, 8), 3);
    assert_int_equal(s[1].index, 3);
    assert_int_equal(s[2].index, 4);
    assert_string_equal(s[2].board, "e150");
    assert_int_equal(sim_sysroot_parse_devices("4095:galaxy-blackhole", s, 8), 1);
    assert_int_equal(s[0].index, 4095);
    /* descending ordinals are fine as long as they are distinct */
    assert_int_equal(sim_sysroot_parse_devices("7:n150,2:n150", s, 8), 2);
    /* exactly cap */
    assert_int_equal(sim_sysroot_parse_devices("n150,n150", s, 2), 2);
}

static void test_parse_bad(void **state)
{
    (void)state;
    struct sim_sysroot_spec s[4];
    const char *bad[] = {
        "",        "gpu",      "n150,",    ",n150",  "n150,,n300",    "N150",
        "n150 ",   " n150",    "n15",      "n1500",  "0:n150,0:n300", "n150,0:n300",
        "-1:n150", "+1:n150",  ":n150",    "1:",     "4096:n150",     "99999999999999999999:n150",
        "x:n150",  "1:2:n150", "0x1:n150", "n150\n", "\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sim_sysroot_parse_devices(bad[i], s, 4) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
    }
    assert_int_equal(sim_sysroot_parse_devices(NULL, s, 4), -EINVAL);
    /* one more than fits */
    assert_int_equal(sim_sysroot_parse_devices("n150,n150,n150,n150,n150", s, 4), -EINVAL);
    assert_int_equal(sim_sysroot_parse_devices("n150", s, 0), -EINVAL);
}

static int run_main(const char *a, const char *b, const char *c, const char *d)
{
    char *argv[] = {"sysroot", (char *)a, (char *)b, (char *)c, (char *)d, NULL};
    int argc = 1;
    while (argc < 5 && argv[argc] != NULL)
        argc++;
    return sim_sysroot_main(argc, argv);
}

static void test_tree_read_back(void **state)
{
    (void)state;
    char dir[128], path[192];
    snprintf(dir, sizeof(dir), "%s/tree", tmpdir);
    assert_int_equal(run_main(dir, "--devices", "1:n300,5:p150a", NULL), 0);
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    assert_int_equal(sysfs_scan(dir, &devs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(devs[0].index, 1);
    assert_string_equal(devs[0].card_type, "n300");
    assert_string_equal(devs[0].arch, "wormhole");
    assert_int_equal(devs[0].pci_device, 0x401E);
    assert_int_equal(devs[1].index, 5);
    assert_string_equal(devs[1].card_type, "p150a");
    assert_string_equal(devs[1].arch, "blackhole");
    assert_int_equal(devs[1].pci_device, 0xB140);
    assert_true(devs[1].temp_mc != SYSFS_UNKNOWN);
    free(devs);
    char version[32];
    assert_true(sysfs_driver_version(dir, version, sizeof(version)) >= 0);
    assert_string_equal(version, "2.5.0");
    struct stat st;
    snprintf(path, sizeof(path), "%s/dev/tenstorrent/5", dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/proc/driver/tenstorrent/5/pids", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0); /* nobody holds it yet */

    /* --no-pids: a driver older than 2.5 */
    snprintf(dir, sizeof(dir), "%s/old", tmpdir);
    assert_int_equal(run_main(dir, "--devices", "n150", "--no-pids"), 0);
    snprintf(path, sizeof(path), "%s/proc/driver/tenstorrent/0/pids", dir);
    assert_int_not_equal(stat(path, &st), 0);
    assert_true(sysfs_driver_version(dir, version, sizeof(version)) >= 0);
    assert_string_equal(version, "2.4.1");
}

static void test_main_usage_errors(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
    assert_int_equal(run_main(dir, NULL, NULL, NULL), 2); /* no --devices */
    assert_int_equal(run_main(dir, "--devices", "gpu", NULL), 2);
    assert_int_equal(run_main(dir, "--devices", "n150", "--interval=5"), 2);
    assert_int_equal(run_main("--devices", "n150", NULL, NULL), 2); /* no DIR */
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* nothing made */
    /* a file where the tree should go */
    char file[128];
    snprintf(file, sizeof(file), "%s/file", tmpdir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(run_main(file, "--devices", "n150", NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_tree_read_back),
        cmocka_unit_test(test_main_usage_errors),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
