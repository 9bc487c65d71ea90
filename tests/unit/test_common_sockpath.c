/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_sockpath.c - the socket path rules (src/common/sockpath.c):
 * TT_ALLOC_SOCKET wins, the candidate order and what is left out (a relative
 * or overlong XDG_RUNTIME_DIR), the server's choice and its errors (an empty
 * or overlong path, a /tmp directory that is not private or not a
 * directory), and connecting
 * (no listener, a listener of our own uid, the peer's credentials).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockpath.h"
#include "tmpdir.h"

static int setup(void **state)
{
    unsetenv("TT_ALLOC_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    return tmpdir_setup(state);
}

static void test_candidates_env_wins(void **state)
{
    (void)state;
    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    setenv("TT_ALLOC_SOCKET", "/some/where.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
    assert_int_equal(sockpath_candidates(paths), 1);
    assert_string_equal(paths[0], "/some/where.sock");
    /* An empty TT_ALLOC_SOCKET counts as unset. */
    setenv("TT_ALLOC_SOCKET", "", 1);
    assert_int_equal(sockpath_candidates(paths), 3);
    unsetenv("TT_ALLOC_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
}

static void test_candidates_order(void **state)
{
    (void)state;
    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    char tmp[SOCKPATH_MAX];
    snprintf(tmp, sizeof(tmp), "/tmp/tt-alloc-%u/tt-alloc.sock", (unsigned)getuid());

    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(sockpath_candidates(paths), 3);
    assert_string_equal(paths[0], "/run/tt-alloc/tt-alloc.sock");
    assert_string_equal(paths[1], "/run/user/1000/tt-alloc.sock");
    assert_string_equal(paths[2], tmp);

    /* No XDG_RUNTIME_DIR, a relative one, or one too long for sun_path:
     * left out, the others keep their order. */
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(sockpath_candidates(paths), 2);
    assert_string_equal(paths[0], "/run/tt-alloc/tt-alloc.sock");
    assert_string_equal(paths[1], tmp);
    setenv("XDG_RUNTIME_DIR", "run/user/1000", 1);
    assert_int_equal(sockpath_candidates(paths), 2);
    char long_dir[SOCKPATH_MAX + 8];
    memset(long_dir, 'd', sizeof(long_dir) - 1);
    long_dir[0] = '/';
    long_dir[sizeof(long_dir) - 1] = '\0';
    setenv("XDG_RUNTIME_DIR", long_dir, 1);
    assert_int_equal(sockpath_candidates(paths), 2);
    assert_string_equal(paths[1], tmp);
    unsetenv("XDG_RUNTIME_DIR");
}

static void test_server_explicit_and_env(void **state)
{
    (void)state;
    char out[SOCKPATH_MAX], why[128];
    setenv("TT_ALLOC_SOCKET", "/env/path.sock", 1);
    /* --socket wins over the environment, and is taken as given. */
    assert_int_equal(sockpath_for_server("/flag/path.sock", out, why, sizeof(why)), 0);
    assert_string_equal(out, "/flag/path.sock");
    assert_int_equal(sockpath_for_server(NULL, out, why, sizeof(why)), 0);
    assert_string_equal(out, "/env/path.sock");
    unsetenv("TT_ALLOC_SOCKET");

    /* Empty, and one byte too long for sun_path (107 bytes fit). */
    why[0] = '\0';
    assert_int_equal(sockpath_for_server("", out, why, sizeof(why)), -ENAMETOOLONG);
    assert_non_null(strstr(why, "107"));
    char path[SOCKPATH_MAX + 1];
    memset(path, 'p', SOCKPATH_MAX);
    path[0] = '/';
    path[SOCKPATH_MAX] = '\0';
    assert_int_equal(sockpath_for_server(path, out, why, sizeof(why)), -ENAMETOOLONG);
    path[SOCKPATH_MAX - 1] = '\0';
    assert_int_equal(sockpath_for_server(path, out, why, sizeof(why)), 0);
    assert_int_equal(strlen(out), SOCKPATH_MAX - 1);
}

/* The server's choice without TT_ALLOC_SOCKET, as a user who cannot write
 * /run (root drops to nobody in a child; the checks run there). Returns 0,
 * or the number of the first check that failed. */
static int server_dir_checks(void)
{
    char out[SOCKPATH_MAX], why[256], want[SOCKPATH_MAX], xdg[96];
    /* XDG_RUNTIME_DIR usable: taken, second in line after /run/tt-alloc. */
    snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    snprintf(want, sizeof(want), "%s/tt-alloc.sock", xdg);
    if (sockpath_for_server(NULL, out, why, sizeof(why)) != 0 || strcmp(out, want) != 0)
        return 1;
    /* XDG_RUNTIME_DIR open to others (it is under /tmp, so it must be
     * private), or not there: the private /tmp directory, made 0700. */
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/tt-alloc-%u", (unsigned)getuid());
    snprintf(want, sizeof(want), "%s/tt-alloc.sock", dir);
    rmdir(dir);
    if (chmod(xdg, 0777) != 0)
        return 8;
    if (sockpath_for_server(NULL, out, why, sizeof(why)) != 0 || strcmp(out, want) != 0)
        return 9;
    rmdir(dir);
    snprintf(xdg, sizeof(xdg), "%s/missing/deeper", tmpdir);
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    if (sockpath_for_server(NULL, out, why, sizeof(why)) != 0 || strcmp(out, want) != 0)
        return 2;
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 0777) != 0700)
        return 3;
    /* The same directory open to others: refused, never used. */
    if (chmod(dir, 0755) != 0)
        return 4;
    int rc = sockpath_for_server(NULL, out, why, sizeof(why));
    rmdir(dir);
    if (rc != -EPERM || strstr(why, dir) == NULL)
        return 5;
    /* Something else in its place (a symlink planted by another user). */
    if (symlink(tmpdir, dir) != 0)
        return 6;
    rc = sockpath_for_server(NULL, out, why, sizeof(why));
    unlink(dir);
    if (rc != -ENOTDIR)
        return 7;
    return 0;
}

static void test_server_dir_choice(void **state)
{
    (void)state;
    char xdg[96];
    snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
    assert_int_equal(mkdir(xdg, 0700), 0);
    if (geteuid() == 0)
        assert_int_equal(chown(xdg, 65534, 65534), 0);
    assert_int_equal(chmod(tmpdir, 0755), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        if (access("/run/tt-alloc", W_OK) == 0 || access("/run", W_OK) == 0)
            _exit(101); /* /run/tt-alloc would be made and taken: not testable here */
        _exit(server_dir_checks());
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 101)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_connect_errors(void **state)
{
    (void)state;
    char path[SOCKPATH_MAX];
    snprintf(path, sizeof(path), "%s/none.sock", tmpdir);
    assert_int_equal(sockpath_connect(path, 0), -ENOENT);
    assert_int_equal(sockpath_connect("", 0), -ENAMETOOLONG);
    char long_path[SOCKPATH_MAX + 1];
    memset(long_path, 'x', SOCKPATH_MAX);
    long_path[SOCKPATH_MAX] = '\0';
    assert_int_equal(sockpath_connect(long_path, 0), -ENAMETOOLONG);
    /* A plain file where the socket should be. */
    snprintf(path, sizeof(path), "%s/file.sock", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(sockpath_connect(path, SOCK_NONBLOCK), -ECONNREFUSED);
}

static void test_connect_own_server(void **state)
{
    (void)state;
    char path[SOCKPATH_MAX];
    snprintf(path, sizeof(path), "%s/s.sock", tmpdir);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    assert_true(lfd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 4), 0);

    int fd = sockpath_connect(path, 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    pid_t pid = 0;
    uid_t uid = 12345;
    assert_int_equal(sockpath_peer(fd, &pid, &uid), 0);
    assert_int_equal(pid, getpid()); /* the listener is this process */
    assert_int_equal(uid, getuid());
    close(fd);
    close(lfd);

    /* sockpath_peer on a descriptor that is closed, and on one that is no socket. */
    assert_int_equal(sockpath_peer(fd, &pid, &uid), -EBADF);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(sockpath_peer(pipefd[0], &pid, &uid), -ENOTSOCK);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates_env_wins),     cmocka_unit_test(test_candidates_order),
        cmocka_unit_test(test_server_explicit_and_env), cmocka_unit_test(test_server_dir_choice),
        cmocka_unit_test(test_connect_errors),          cmocka_unit_test(test_connect_own_server),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
