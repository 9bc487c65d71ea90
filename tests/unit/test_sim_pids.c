/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim_pids.c - the simulator's fake tt-kmd pids files
 * (src/sim/sim_pids.c): one line per open fd (a PID twice when it opens the
 * node twice), one line removed per close, lines of dead PIDs and garbage
 * dropped by the next writer, the file replaced whole, and -ENOENT for a
 * tree without pids files (a driver older than 2.5).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_pids.h"
#include "tmpdir.h"

static char pids_path[160];

static int setup(void **state)
{
    if (tmpdir_setup(state) != 0 || tmpdir_mkdirs("proc/driver/tenstorrent/2") != 0)
        return -1;
    snprintf(pids_path, sizeof(pids_path), "%s/proc/driver/tenstorrent/2/pids", tmpdir);
    return 0;
}

static void put(const char *text)
{
    assert_int_equal(tmpdir_write("proc/driver/tenstorrent/2/pids", text, NULL, 0), 0);
}

static void expect(const char *want)
{
    char buf[1024];
    FILE *f = fopen(pids_path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* A PID that surely does not run: a child already reaped. */
static pid_t dead_pid(void)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    return child;
}

static void test_add_remove(void **state)
{
    (void)state;
    char want[128];
    int me = (int)getpid(), parent = (int)getppid();
    put("");
    assert_int_equal(sim_pids_add(tmpdir, 2, getpid()), 0);
    assert_int_equal(sim_pids_add(tmpdir, 2, getppid()), 0);
    assert_int_equal(sim_pids_add(tmpdir, 2, getpid()), 0); /* a second fd */
    snprintf(want, sizeof(want), "%d\n%d\n%d\n", me, parent, me);
    expect(want);
    assert_int_equal(sim_pids_remove(tmpdir, 2, getpid()), 0); /* one line only */
    snprintf(want, sizeof(want), "%d\n%d\n", parent, me);
    expect(want);
    assert_int_equal(sim_pids_remove(tmpdir, 2, 999999), 0); /* not there: no change */
    expect(want);
    assert_int_equal(sim_pids_remove(tmpdir, 2, getpid()), 0);
    assert_int_equal(sim_pids_remove(tmpdir, 2, getppid()), 0);
    expect("");
}

static void test_dead_and_garbage_dropped(void **state)
{
    (void)state;
    char text[256], want[64];
    pid_t dead = dead_pid();
    snprintf(text, sizeof(text), "%d\nnot-a-pid\n0\n-7\n99999999999\n\n%d\n", (int)dead,
             (int)getppid());
    put(text);
    assert_int_equal(sim_pids_add(tmpdir, 2, getpid()), 0);
    snprintf(want, sizeof(want), "%d\n%d\n", (int)getppid(), (int)getpid());
    expect(want);
    /* no temporary left behind */
    char tmp[192];
    snprintf(tmp, sizeof(tmp), "%s/proc/driver/tenstorrent/2/.pids.%d", tmpdir, (int)getpid());
    struct stat st;
    assert_int_not_equal(stat(tmp, &st), 0);
}

static void test_no_pids_file(void **state)
{
    (void)state;
    assert_int_equal(sim_pids_add(tmpdir, 3, getpid()), -ENOENT); /* no such device */
    assert_int_equal(unlink(pids_path), 0);
    assert_int_equal(sim_pids_add(tmpdir, 2, getpid()), -ENOENT); /* driver < 2.5 */
    assert_int_equal(sim_pids_remove(tmpdir, 2, getpid()), -ENOENT);
    struct stat st;
    assert_int_not_equal(stat(pids_path, &st), 0); /* not created */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_remove),
        cmocka_unit_test(test_dead_and_garbage_dropped),
        cmocka_unit_test(test_no_pids_file),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
