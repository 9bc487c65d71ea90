/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_child.c - the processes tt-alloc-record runs
 * (src/record/record_child.c), as real processes: a command's exit status
 * as a shell gives it (its code, 128 + a signal, 127 not found, 126 not
 * runnable), TT_ALLOC_SOCKET given to it only when asked, the signals the
 * recorder blocks not blocked in the command; and the private server: the
 * real tt-alloc-server of this build started, answering and stopped with
 * its directory removed, one that dies at once reported with the last of
 * its log, one that never listens reported after the timeout and stopped,
 * and an unusable TMPDIR falling back to /tmp.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
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

#include "capture.h"
#include "record_child.h"
#include "sockpath.h"
#include "tmpdir.h"

static char saved_path[4096];

/* Run argv (with TT_ALLOC_SOCKET=socket unless NULL) to its end: its
 * status as a shell gives it. */
static int run(char *const argv[], const char *socket)
{
    pid_t pid = record_child_spawn(argv, socket);
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return record_child_exit_status(status);
}

static void test_exit_status_as_a_shell_gives_it(void **state)
{
    (void)state;
    char *ok[] = {"true", NULL};
    assert_int_equal(run(ok, NULL), 0);
    char *three[] = {"sh", "-c", "exit 3", NULL};
    assert_int_equal(run(three, NULL), 3);
    char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    assert_int_equal(run(killed, NULL), 128 + SIGKILL);

    char *missing[] = {"no-such-command-tt-alloc", NULL};
    char err[512];
    capture_start();
    int rc = run(missing, NULL);
    capture_end(err, sizeof(err));
    assert_int_equal(rc, 127);
    assert_non_null(strstr(err, "tt-alloc-record: cannot run no-such-command-tt-alloc: No such "
                                "file or directory"));

    char script[TMPDIR_MAX + 32];
    snprintf(script, sizeof(script), "%s/not-executable", tmpdir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    char *noexec[] = {script, NULL};
    capture_start();
    rc = run(noexec, NULL);
    capture_end(err, sizeof(err));
    assert_int_equal(rc, 126);
    assert_non_null(strstr(err, "Permission denied"));

    /* a stopped child is no exit status: 1 */
    assert_int_equal(record_child_exit_status(0x7f | (SIGSTOP << 8)), 1);
}

static void test_socket_and_signals_of_the_command(void **state)
{
    (void)state;
    unsetenv("TT_ALLOC_SOCKET");
    char *has[] = {"sh", "-c", "test \"$TT_ALLOC_SOCKET\" = /run/x.sock", NULL};
    assert_int_equal(run(has, "/run/x.sock"), 0);
    char *none[] = {"sh", "-c", "test -z \"${TT_ALLOC_SOCKET+set}\"", NULL};
    assert_int_equal(run(none, NULL), 0);

    /* the recorder blocks SIGTERM and SIGINT; its command must not */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    char *term[] = {"sh", "-c", "kill -TERM $$; exit 0", NULL};
    int rc = run(term, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(rc, 128 + SIGTERM);
}

/* PATH = dir first: a tt-alloc-server of the test's own there. */
static void path_first(const char *dir)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s:%s", dir, saved_path);
    setenv("PATH", path, 1);
}

static void fake_server(const char *body)
{
    char dir[TMPDIR_MAX + 32], file[TMPDIR_MAX + 64];
    snprintf(dir, sizeof(dir), "%s/bin", tmpdir);
    mkdir(dir, 0700);
    snprintf(file, sizeof(file), "%s/tt-alloc-server", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(file, 0700), 0);
    path_first(dir);
}

static void test_the_real_private_server(void **state)
{
    (void)state;
    /* this build's server: tests/unit/<this> -> src/server/ */
    char self[PATH_MAX], dir[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(dir, sizeof(dir), "%s/../../src/server", self);
    path_first(dir);
    setenv("TMPDIR", tmpdir, 1);

    struct record_private_server srv;
    char why[512] = "";
    int rc = record_private_server_start(&srv, 20000, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s", why);
    assert_true(srv.pid > 0);
    assert_int_equal(strncmp(srv.dir, tmpdir, strlen(tmpdir)), 0);
    int fd = sockpath_connect(srv.socket, 0);
    assert_true(fd >= 0);
    close(fd);
    char dir_copy[256];
    snprintf(dir_copy, sizeof(dir_copy), "%s", srv.dir);
    pid_t pid = srv.pid;
    record_private_server_stop(&srv);
    assert_int_equal(srv.pid, 0);
    assert_int_equal(kill(pid, 0), -1); /* reaped */
    assert_int_equal(errno, ESRCH);
    struct stat st;
    assert_int_equal(stat(dir_copy, &st), -1); /* its directory is gone */
    setenv("PATH", saved_path, 1);
}

static void test_private_servers_that_fail(void **state)
{
    (void)state;
    setenv("TMPDIR", tmpdir, 1);
    struct record_private_server srv;
    char why[512] = "";

    fake_server("echo 'tt-alloc-server: fatal: boom' >&2; exit 1");
    assert_int_equal(record_private_server_start(&srv, 20000, why, sizeof(why)), -ECHILD);
    assert_string_equal(why, "the private tt-alloc-server did not start: tt-alloc-server: fatal: "
                             "boom");
    assert_int_equal(srv.pid, 0);
    record_private_server_stop(&srv);

    fake_server("exec sleep 60");
    assert_int_equal(record_private_server_start(&srv, 50, why, sizeof(why)), -ETIMEDOUT);
    assert_string_equal(why, "the private tt-alloc-server did not answer within 50 ms");
    pid_t pid = srv.pid;
    assert_true(pid > 0);
    record_private_server_stop(&srv);
    assert_int_equal(kill(pid, 0), -1);
    setenv("PATH", saved_path, 1);

    /* a TMPDIR longer than 64 bytes: /tmp instead */
    char longdir[200];
    memset(longdir, 'x', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    setenv("TMPDIR", longdir, 1);
    fake_server("exit 2");
    assert_int_equal(record_private_server_start(&srv, 20000, why, sizeof(why)), -ECHILD);
    assert_int_equal(strncmp(srv.dir, "/tmp/tt-alloc-record.", 21), 0);
    record_private_server_stop(&srv);
    setenv("PATH", saved_path, 1);
    unsetenv("TMPDIR");
}

static int setup(void **state)
{
    const char *path = getenv("PATH");
    snprintf(saved_path, sizeof(saved_path), "%s", path ? path : "/usr/bin:/bin");
    return tmpdir_setup(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status_as_a_shell_gives_it),
        cmocka_unit_test(test_socket_and_signals_of_the_command),
        cmocka_unit_test(test_the_real_private_server),
        cmocka_unit_test(test_private_servers_that_fail),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
