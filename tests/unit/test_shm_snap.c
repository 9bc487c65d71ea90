/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_shm_snap.c - shmusage's figures as snapshot records: match and unknown
 * flags, a remote chip with its gateway's board, one process record per PID
 * with its bytes summed over devices, one usage record per (PID, device).
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

#include "shmsnap.h"

static void test_records(void **state)
{
    (void)state;
    struct sysfs_device devs[1];
    memset(devs, 0, sizeof(devs));
    devs[0].index = 0;
    snprintf(devs[0].card_type, sizeof(devs[0].card_type), "n300");

    struct shmusage_device ud[3];
    memset(ud, 0, sizeof(ud));
    ud[0] = (struct shmusage_device){
        .device = 0, .sysfs = 0, .board_sysfs = 0, .how = SHMMAP_HOLDERS, .processes = 1};
    ud[0].used[TTALLOC_DRAM] = 100;
    ud[1] =
        (struct shmusage_device){.device = 1, .sysfs = -1, .board_sysfs = 0, .how = SHMMAP_HOLDERS};
    ud[1].used[TTALLOC_L1] = 7;
    ud[2] = (struct shmusage_device){
        .device = 5, .sysfs = -1, .board_sysfs = -1, .how = SHMMAP_NONE, .unknown = 1};
    struct shmusage_process up[3];
    memset(up, 0, sizeof(up));
    up[0] = (struct shmusage_process){.pid = getpid(), .device = 0, .sysfs = 0};
    snprintf(up[0].name, sizeof(up[0].name), "model");
    up[0].bytes[TTALLOC_DRAM] = 60;
    up[1] = (struct shmusage_process){.pid = getpid(), .device = 1, .sysfs = -1};
    up[1].bytes[TTALLOC_L1] = 7;
    up[2] = (struct shmusage_process){.pid = getppid(), .device = 5, .sysfs = -1, .unknown = 1};
    if (getppid() < getpid()) { /* shmusage lists processes ascending by pid */
        struct shmusage_process t = up[2];
        up[2] = up[1];
        up[1] = up[0];
        up[0] = t;
    }
    struct shmusage u = {.devices = ud, .n_devices = 3, .processes = up, .n_processes = 3};

    struct shmsnap s;
    assert_int_equal(shmsnap_build(&u, devs, 1, &s), 0);
    assert_int_equal(s.n_devices, 3);
    assert_int_equal(s.devices[0].flags, TTALLOC_DEVICE_SHM_HOLDERS);
    assert_true(s.devices[0].used[TTALLOC_DRAM] == 100 && s.devices[0].peak[TTALLOC_DRAM] == 100);
    assert_int_equal(s.devices[0].processes, 1);
    assert_int_equal(s.devices[1].flags, TTALLOC_DEVICE_SHM_HOLDERS | TTALLOC_DEVICE_REMOTE);
    assert_string_equal(s.devices[1].board_type, "n300"); /* its gateway's board */
    assert_int_equal(s.devices[2].flags, TTALLOC_DEVICE_USED_UNKNOWN | TTALLOC_DEVICE_REMOTE);
    assert_string_equal(s.devices[2].board_type, "");

    assert_int_equal(s.n_processes, 2);
    assert_int_equal(s.n_usage, 3);
    for (size_t i = 0; i < s.n_processes; i++) {
        const struct ttalloc_process_info *p = &s.processes[i];
        if (p->pid == getpid()) {
            assert_int_equal(p->flags, TTALLOC_PROCESS_SHM);
            assert_string_equal(p->name, "model");
            assert_true(p->bytes == 67 && p->peak_bytes == 67);
            assert_int_equal(p->uid, getuid());
        } else {
            assert_int_equal(p->pid, getppid());
            assert_int_equal(p->flags, TTALLOC_PROCESS_SHM | TTALLOC_PROCESS_BYTES_UNKNOWN);
            assert_true(p->name[0] != '\0'); /* none in the region: from /proc */
        }
    }
    for (size_t i = 0; i < s.n_usage; i++)
        assert_memory_equal(s.usage[i].bytes, s.usage[i].peak, sizeof(s.usage[i].bytes));
    shmsnap_free(&s);
}

static void test_empty(void **state)
{
    (void)state;
    struct shmusage u;
    memset(&u, 0, sizeof(u));
    struct shmsnap s;
    assert_int_equal(shmsnap_build(&u, NULL, 0, &s), 0);
    assert_int_equal(s.n_devices + s.n_processes + s.n_usage, 0);
    shmsnap_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
