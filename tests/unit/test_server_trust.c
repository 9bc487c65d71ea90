/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_trust.c - whose device descriptions count
 * (src/server/trust.c): a description of a device sysfs shows (by ordinal,
 * serial or asic id) counts only from a process that holds that device
 * open in the pids file; one of a device sysfs does not show counts unless
 * another live process described it first; the reason is said when not.
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

#include "ledger.h"
#include "sysfs.h"
#include "tmpdir.h"
#include "trust.h"

static void write_pids(int index, const char *text)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "proc/driver/tenstorrent/%d", index);
    assert_int_equal(tmpdir_mkdirs(rel), 0);
    snprintf(rel, sizeof(rel), "proc/driver/tenstorrent/%d/pids", index);
    assert_int_equal(tmpdir_write(rel, text, NULL, 0), 0);
}

/* Device nodes 0 and 3: ordinals may be sparse. */
static int setup(void **state)
{
    if (tmpdir_setup(state) != 0 || tmpdir_mkdirs("dev/tenstorrent") != 0)
        return -1;
    return tmpdir_write("dev/tenstorrent/0", "", NULL, 0) == 0 &&
                   tmpdir_write("dev/tenstorrent/3", "", NULL, 0) == 0
               ? 0
               : -1;
}

static void two_devices(struct sysfs_device devs[2])
{
    memset(devs, 0, 2 * sizeof(devs[0]));
    devs[0].index = 0;
    snprintf(devs[0].serial, sizeof(devs[0].serial), "00000000000000AB");
    devs[1].index = 3;
    snprintf(devs[1].asic_id, sizeof(devs[1].asic_id), "0123456789ABCDEF");
}

static void test_holds_device(void **state)
{
    (void)state;
    char line[64];
    /* one line per open fd, duplicates and all */
    snprintf(line, sizeof(line), "%d\n%d\n", (int)getpid(), (int)getpid());
    write_pids(0, line);
    write_pids(3, "1\n");
    assert_int_equal(trust_holds_device(tmpdir, getpid(), 0), 1);
    assert_int_equal(trust_holds_device(tmpdir, getpid(), 3), 0);
    assert_int_equal(trust_holds_device(tmpdir, getppid(), 0), 0);
    assert_int_equal(trust_holds_device(tmpdir, getpid(), 7), 0); /* no such device */
    /* garbage in the pids file: nobody holds it */
    write_pids(0, "not a pid\n\xff\xfe\n-5\n99999999999999999999\n");
    assert_int_equal(trust_holds_device(tmpdir, getpid(), 0), 0);
    write_pids(0, "");
    assert_int_equal(trust_holds_device(tmpdir, getpid(), 0), 0);
}

static void test_sysfs_device_needs_holder(void **state)
{
    (void)state;
    struct sysfs_device devs[2];
    two_devices(devs);
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    char why[160] = "";
    int32_t self = (int32_t)getpid();

    /* by ordinal: device 0, not held */
    write_pids(0, "");
    write_pids(3, "");
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 0, &desc, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "/dev/tenstorrent/0"));
    char line[32];
    snprintf(line, sizeof(line), "%d\n", (int)self);
    write_pids(0, line);
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 0, &desc, why, sizeof(why)), 1);

    /* device id 9 is no ordinal, but its serial is node 0's: node 0 rules */
    desc.board_serial = 0xAB;
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 9, &desc, why, sizeof(why)), 1);
    write_pids(0, "");
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 9, &desc, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "/dev/tenstorrent/0"));

    /* by asic id: node 3 */
    desc.board_serial = 0;
    desc.asic_id = 0x0123456789ABCDEFull;
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 9, &desc, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "/dev/tenstorrent/3"));
    write_pids(3, line);
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, self, 9, &desc, why, sizeof(why)), 1);
    ledger_destroy(&l);
}

static void test_remote_first_describer(void **state)
{
    (void)state;
    struct sysfs_device devs[2];
    two_devices(devs);
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    desc.is_remote = 1;
    desc.board_serial = 0x77; /* matches no sysfs device */
    char why[160] = "";

    /* device 5 (a remote chip): the first describer may */
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, 100, 5, &desc, why, sizeof(why)), 1);
    struct ledger_process *a = NULL, *b = NULL;
    assert_int_equal(ledger_attach(&l, 100, 1000, "a", NULL, 1, &a), 0);
    assert_int_equal(ledger_describe(&l, 100, 5, &desc), 0);
    /* ... again; another live process may not */
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, 100, 5, &desc, why, sizeof(why)), 1);
    assert_int_equal(ledger_attach(&l, 200, 1000, "b", NULL, 1, &b), 0);
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, 200, 5, &desc, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "already described by pid 100"));
    /* other remote devices are free */
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, 200, 6, &desc, why, sizeof(why)), 1);
    /* the first describer gone: the next may */
    ledger_detach(&l, a);
    ledger_exit(&l, a, 2);
    assert_null(ledger_find(&l, 100));
    assert_int_equal(trust_may_describe(tmpdir, devs, 2, &l, 200, 5, &desc, why, sizeof(why)), 1);
    ledger_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holds_device),
        cmocka_unit_test(test_sysfs_device_needs_holder),
        cmocka_unit_test(test_remote_first_describer),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
