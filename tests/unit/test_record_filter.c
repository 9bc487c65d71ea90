/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_filter.c - which processes tt-alloc-record keeps
 * (src/record/record_filter.c): every process, a --pid list, or a command's
 * tree decided from a fake /proc (parents in <pid>/stat, names with spaces
 * and parentheses, garbage, loops), the server's parent when /proc no longer
 * has the process, and a pid forgotten at its exit and decided afresh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "record_filter.h"
#include "tmpdir.h"

/* tmpdir/proc/<pid>/stat with the given parent (a stat line as the kernel writes it). */
static void fake_process(int pid, const char *comm, int ppid)
{
    char rel[64], text[256];
    snprintf(rel, sizeof(rel), "proc/%d", pid);
    assert_int_equal(tmpdir_mkdirs(rel), 0);
    snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
    snprintf(text, sizeof(text), "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0\n", pid, comm, ppid,
             pid, pid);
    assert_int_equal(tmpdir_write(rel, text, NULL, 0), 0);
}

static const char *proc_root(void)
{
    static char path[TMPDIR_MAX + 8];
    snprintf(path, sizeof(path), "%s/proc", tmpdir);
    return path;
}

static void test_parent_from_stat(void **state)
{
    (void)state;
    fake_process(10, "sh", 1);
    fake_process(11, "my (weird) name", 10);
    fake_process(12, ") S 99", 11); /* a name that looks like the fields after it */
    assert_int_equal(record_filter_parent(proc_root(), 10), 1);
    assert_int_equal(record_filter_parent(proc_root(), 11), 10);
    assert_int_equal(record_filter_parent(proc_root(), 12), 11);
    assert_int_equal(record_filter_parent(proc_root(), 13), 0);      /* no such process */
    assert_int_equal(tmpdir_write("proc/14/stat", "", NULL, 0), -1); /* no dir: not written */
    assert_int_equal(tmpdir_mkdirs("proc/14"), 0);
    const char *garbage[] = {"",
                             "14 (x",
                             "14 (x) S",
                             "14 (x) S -5",
                             "14 (x) S 99999999999",
                             "\x01\x02\x03",
                             "14 (x) S abc"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        assert_int_equal(tmpdir_write("proc/14/stat", garbage[i], NULL, 0), 0);
        assert_int_equal(record_filter_parent(proc_root(), 14), 0);
    }
}

static void test_all_and_pids(void **state)
{
    (void)state;
    struct record_filter f;
    record_filter_init(&f, RECORD_FILTER_ALL);
    assert_true(record_filter_decide(&f, 5, 0));
    assert_true(record_filter_keeps(&f, 123456));
    record_filter_destroy(&f);

    record_filter_init(&f, RECORD_FILTER_PIDS);
    assert_int_equal(record_filter_add(&f, 0), -EINVAL);
    assert_int_equal(record_filter_add(&f, -3), -EINVAL);
    for (int32_t pid = 100; pid < 300; pid += 2)
        assert_int_equal(record_filter_add(&f, pid), 0);
    assert_int_equal(record_filter_add(&f, 100), 0); /* twice is once */
    assert_int_equal(f.count, 100);
    for (int32_t pid = 100; pid < 300; pid++) {
        assert_int_equal(record_filter_keeps(&f, pid), pid % 2 == 0);
        assert_int_equal(record_filter_keeps(&f, pid), pid % 2 == 0); /* cached answer */
    }
    assert_false(record_filter_decide(&f, 101, 100)); /* a child of a listed pid is not */
    record_filter_forget(&f, 100);                    /* the user named it: kept */
    assert_true(record_filter_keeps(&f, 100));
    record_filter_destroy(&f);
}

static void test_tree_from_proc(void **state)
{
    (void)state;
    /* 1 -> 50 (the command) -> 51 -> 52; 1 -> 60 (an outsider) -> 61 */
    fake_process(50, "cmd", 1);
    fake_process(51, "python3", 50);
    fake_process(52, "worker", 51);
    fake_process(60, "other", 1);
    fake_process(61, "other child", 60);
    /* a loop in a hostile /proc must end */
    fake_process(70, "a", 71);
    fake_process(71, "b", 70);
    struct record_filter f;
    record_filter_init(&f, RECORD_FILTER_TREE);
    f.proc_root = proc_root();
    assert_false(record_filter_decide(&f, 51, 50)); /* no root yet: nothing */
    assert_int_equal(record_filter_set_root(&f, 50), 0);
    assert_true(record_filter_decide(&f, 50, 0));
    assert_true(record_filter_decide(&f, 52, 0)); /* two levels down */
    assert_true(record_filter_keeps(&f, 52));
    assert_false(record_filter_decide(&f, 61, 0));
    assert_false(record_filter_keeps(&f, 61));
    assert_false(record_filter_decide(&f, 70, 0));
    /* Gone from /proc: the server's word for its parent counts. */
    assert_true(record_filter_decide(&f, 53, 52));
    assert_false(record_filter_decide(&f, 54, 60));
    assert_false(record_filter_decide(&f, 55, 0));
    /* would_keep decides without remembering */
    assert_true(record_filter_would_keep(&f, 51));
    assert_false(record_filter_keeps(&f, 51));
    /* An exit forgets; the pid taken by an outsider is then not kept. */
    assert_true(record_filter_decide(&f, 51, 0));
    record_filter_forget(&f, 52);
    record_filter_forget(&f, 53);
    assert_false(record_filter_keeps(&f, 52));
    fake_process(52, "reused", 60);
    assert_false(record_filter_decide(&f, 52, 0));
    record_filter_forget(&f, 50); /* the root stays */
    assert_true(record_filter_keeps(&f, 50));
    record_filter_destroy(&f);
}

static void test_forget_keeps_the_rest_findable(void **state)
{
    (void)state;
    struct record_filter f;
    record_filter_init(&f, RECORD_FILTER_TREE);
    f.proc_root = proc_root();
    record_filter_set_root(&f, 1000000);
    /* Many pids, forgotten in a scattered order: every other stays found
     * (backward-shift deletion must not lose any). */
    for (int32_t pid = 2; pid < 3000; pid++)
        assert_int_equal(record_filter_add(&f, pid), 0);
    for (int32_t pid = 2; pid < 3000; pid += 3)
        record_filter_forget(&f, pid);
    for (int32_t pid = 2; pid < 3000; pid++)
        assert_int_equal(record_filter_keeps(&f, pid), (pid - 2) % 3 != 0);
    record_filter_forget(&f, 999999); /* not there: nothing happens */
    record_filter_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parent_from_stat),
        cmocka_unit_test(test_all_and_pids),
        cmocka_unit_test(test_tree_from_proc),
        cmocka_unit_test(test_forget_keeps_the_rest_findable),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
