/* SPDX-License-Identifier: Apache-2.0 */
/* test_discovery_procs.c - the pids file parser (one line per fd: duplicates merge;
 * garbage lines skipped) and reading a process's facts from /proc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procs.h"

static void test_pids_dedupe(void **state)
{
    (void)state;
    pid_t pids[8];
    const char *text = "42\n42\n7\n42\n";
    size_t n = procs_parse_pids(text, strlen(text), pids, 0, 8);
    assert_int_equal(n, 2);
    assert_int_equal(pids[0], 42);
    assert_int_equal(pids[1], 7);
}

static void test_pids_garbage(void **state)
{
    (void)state;
    pid_t pids[8];
    const char text[] = "\n0\n-3\nabc\n12x\n99999999999\n 15 \n\xff\x00\x01\n2147483647\n8";
    size_t n = procs_parse_pids(text, sizeof(text) - 1, pids, 0, 8);
    assert_int_equal(n, 3);
    assert_int_equal(pids[0], 15);
    assert_int_equal(pids[1], 2147483647);
    assert_int_equal(pids[2], 8); /* no trailing newline: still counted */
    assert_int_equal(procs_parse_pids("", 0, pids, 0, 8), 0);
}

static void test_pids_cap(void **state)
{
    (void)state;
    pid_t pids[2];
    const char *text = "1\n2\n3\n";
    assert_int_equal(procs_parse_pids(text, strlen(text), pids, 0, 2), 2);
}

/* A pids file of 100k lines (tt-kmd writes one per open fd): every line
 * read, duplicates merged in first-seen order, the cap kept. */
static void test_pids_many_lines(void **state)
{
    (void)state;
    size_t lines = 100000;
    char *text = malloc(lines * 8);
    assert_non_null(text);
    size_t len = 0;
    for (size_t i = 0; i < lines; i++)
        len += (size_t)sprintf(text + len, "%zu\n", 1000 + (i * 7919) % 5000);
    pid_t *pids = malloc(4096 * sizeof(*pids));
    assert_non_null(pids);
    assert_int_equal(procs_parse_pids(text, len, pids, 0, 4096), 4096);
    assert_int_equal(pids[0], 1000);
    assert_int_equal(pids[1], 1000 + 7919 % 5000);
    for (size_t i = 0; i < 4096; i++) {
        for (size_t j = i + 1; j < 4096 && j < i + 64; j++)
            assert_true(pids[i] != pids[j]);
    }
    /* With room for all: exactly the 5000 distinct PIDs. */
    pid_t *all = malloc(8192 * sizeof(*all));
    assert_non_null(all);
    all[0] = 1000; /* already held: not added twice */
    assert_int_equal(procs_parse_pids(text, len, all, 1, 8192), 5000);
    free(all);
    free(pids);
    free(text);
}

static void test_info_self(void **state)
{
    (void)state;
    struct procs_info info;
    assert_int_equal(procs_info_read(getpid(), &info), 0);
    /* comm: the executable's name, cut by the kernel to 15 characters */
    assert_string_equal(info.name, "test_discovery_");
    assert_true(info.uid == getuid());
    assert_non_null(strstr(info.cmdline, "test_discovery_procs"));
    assert_true(info.user[0] != '\0');
    procs_info_free(&info);
    assert_int_equal(procs_info_read(0x7ffffff0, &info), -ESRCH);
    procs_info_free(&info);
}

/* A child started with a given environment: /proc/<pid>/environ shows it. */
static void test_environ_get(void **state)
{
    (void)state;
    char *const argv[] = {"sleep", "30", NULL};
    char *const envp[] = {"TTALLOC_TEST_MARK=child",         "TT_VISIBLE_DEVICES_X=no",
                          "TT_VISIBLE_DEVICES=2,0000:03:00", "EMPTY=",
                          "TT_VISIBLE_DEVICES=second",       NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    char value[64];
    /* execve replaces the environment: wait until the child shows ours */
    int rc = 0;
    for (int i = 0; i < 2000 && rc != 1; i++) {
        rc = procs_environ_get(pid, "TTALLOC_TEST_MARK", value, sizeof(value));
        if (rc != 1)
            usleep(1000);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(procs_environ_get(pid, "TT_VISIBLE_DEVICES", value, sizeof(value)), 1);
    assert_string_equal(value, "2,0000:03:00"); /* the first, as getenv() finds */
    assert_int_equal(procs_environ_get(pid, "EMPTY", value, sizeof(value)), 1);
    assert_string_equal(value, "");
    assert_int_equal(procs_environ_get(pid, "TT_VISIBLE", value, sizeof(value)), 0);
    assert_int_equal(procs_environ_get(pid, "MISSING", value, sizeof(value)), 0);
    char small[4];
    assert_int_equal(procs_environ_get(pid, "TT_VISIBLE_DEVICES", small, sizeof(small)), 1);
    assert_string_equal(small, "2,0"); /* cut, still terminated */
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_true(procs_environ_get(pid, "TTALLOC_TEST_MARK", value, sizeof(value)) < 0); /* gone */
}

/* procs_read_stat on the real /proc: this process runs, its parent is getppid();
 * a zombie child reads 'Z'; a process that is gone is -ESRCH. */
static void test_read_stat(void **state)
{
    (void)state;
    char letter = 0;
    int32_t ppid = -1;
    assert_int_equal(procs_read_stat(NULL, (int32_t)getpid(), &letter, &ppid), 0);
    assert_int_equal(letter, 'R');
    assert_int_equal(ppid, (int32_t)getppid());
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    assert_true(child > 0);
    /* Not reaped yet: a zombie once it has exited. */
    for (int i = 0; i < 2000 && letter != 'Z'; i++) {
        assert_int_equal(procs_read_stat("/proc", (int32_t)child, &letter, NULL), 0);
        usleep(1000);
    }
    assert_int_equal(letter, 'Z');
    waitpid(child, NULL, 0);
    assert_int_equal(procs_read_stat(NULL, (int32_t)child, &letter, &ppid), -ESRCH);
    assert_int_equal(procs_read_stat("/nonexistent", 1, NULL, NULL), -ESRCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pids_dedupe), cmocka_unit_test(test_pids_garbage),
        cmocka_unit_test(test_pids_cap),    cmocka_unit_test(test_pids_many_lines),
        cmocka_unit_test(test_info_self),   cmocka_unit_test(test_environ_get),
        cmocka_unit_test(test_read_stat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
