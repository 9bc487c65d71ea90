/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_listener.c - the server's listening socket
 * (src/server/listener.c) on real paths in a scratch directory: a new
 * socket is mode 0666 whatever the umask and removed at close; a live
 * server at the path is refused (-EADDRINUSE) and left working; a stale
 * socket file is replaced; a regular file, a directory or a symlink at the
 * path is refused and left as it was; a path too long or in a missing
 * directory gives its reason; close removes only the socket it made; and
 * systemd socket activation (LISTEN_FDS) is taken, checked and never
 * unlinked.
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
#include <unistd.h>

#include <cmocka.h>

#include "listener.h"
#include "log.h"
#include "tmpdir.h"

static void path_in_tmpdir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* A SOCK_SEQPACKET socket bound at path; listening unless stale. */
static int bound_socket(const char *path, int listening)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listening)
        assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static int connects(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void test_new_socket_any_user_can_reach(void **state)
{
    (void)state;
    char path[256], why[256] = "";
    path_in_tmpdir(path, sizeof(path), "new.sock");
    mode_t old = umask(077);
    struct listener lis;
    int rc = listener_open(&lis, path, why, sizeof(why));
    umask(old);
    assert_int_equal(rc, 0);
    assert_true(lis.fd >= 0);
    assert_false(lis.activated);
    assert_string_equal(lis.path, path);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0666); /* the umask did not narrow it */
    assert_true(fcntl(lis.fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(lis.fd, F_GETFD) & FD_CLOEXEC);
    assert_true(connects(path));
    listener_close(&lis);
    assert_int_equal(lis.fd, -1);
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    listener_close(&lis); /* twice: harmless */
}

static void test_live_server_is_refused_stale_socket_replaced(void **state)
{
    (void)state;
    char path[256], why[256] = "";
    path_in_tmpdir(path, sizeof(path), "live.sock");
    int live = bound_socket(path, 1);
    struct listener lis;
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -EADDRINUSE);
    assert_non_null(strstr(why, "another tt-alloc-server is already running on"));
    assert_int_equal(lis.fd, -1);
    assert_true(connects(path)); /* the first one is untouched */
    close(live);

    /* the same file, nobody listening: stale, replaced */
    why[0] = '\0';
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), 0);
    assert_true(connects(path));
    listener_close(&lis);
    unlink(path);

    int stale = bound_socket(path, 0); /* bound, never listening */
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), 0);
    assert_true(connects(path));
    listener_close(&lis);
    close(stale);
}

static void test_what_is_not_a_socket_is_left_alone(void **state)
{
    (void)state;
    char path[256], why[256] = "";
    struct listener lis;
    struct stat st;

    path_in_tmpdir(path, sizeof(path), "file");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -EEXIST);
    assert_non_null(strstr(why, "exists and is not a socket; not touching it"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 8);

    path_in_tmpdir(path, sizeof(path), "dir");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -EEXIST);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* a symlink, even to a stale socket, is not followed or removed */
    char target[256];
    path_in_tmpdir(target, sizeof(target), "target.sock");
    int stale = bound_socket(target, 0);
    path_in_tmpdir(path, sizeof(path), "link.sock");
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -EEXIST);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(target, &st), 0);
    close(stale);
}

static void test_bad_paths_say_why(void **state)
{
    (void)state;
    char path[512], why[256] = "";
    struct listener lis;
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    path[0] = '/';
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -ENAMETOOLONG);
    assert_non_null(strstr(why, "socket path longer than"));

    path_in_tmpdir(path, sizeof(path), "missing/x.sock");
    why[0] = '\0';
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "cannot bind"));
    assert_non_null(strstr(why, "No such file or directory"));
}

static void test_close_removes_only_its_own_socket(void **state)
{
    (void)state;
    char path[256], why[256] = "";
    path_in_tmpdir(path, sizeof(path), "swapped.sock");
    struct listener lis;
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), 0);
    /* someone removes our socket and puts a file of theirs there */
    assert_int_equal(unlink(path), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    listener_close(&lis);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);
}

static void test_systemd_socket_activation(void **state)
{
    (void)state;
    char path[256], why[256] = "";
    path_in_tmpdir(path, sizeof(path), "activated.sock");
    int fd = bound_socket(path, 1);
    assert_int_equal(dup2(fd, 3), 3); /* SD_LISTEN_FDS_START */
    if (fd != 3)
        close(fd);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    struct listener lis;
    assert_int_equal(listener_open(&lis, "/nonexistent/ignored.sock", why, sizeof(why)), 0);
    assert_int_equal(lis.fd, 3);
    assert_true(lis.activated);
    assert_string_equal(lis.path, path);
    assert_true(fcntl(3, F_GETFL) & O_NONBLOCK);
    assert_null(getenv("LISTEN_FDS")); /* not passed on to children */
    listener_close(&lis);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0); /* systemd's file, not ours to remove */
    unlink(path);

    /* a stream socket is not what the server speaks: refused */
    int stream = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(stream, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(stream, 1), 0);
    assert_int_equal(dup2(stream, 3), 3);
    if (stream != 3)
        close(stream);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    assert_int_equal(listener_open(&lis, path, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "expected one listening SOCK_SEQPACKET Unix socket"));
    close(3);
    unlink(path);
}

int main(void)
{
    log_init("test_server_listener", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_socket_any_user_can_reach),
        cmocka_unit_test(test_live_server_is_refused_stale_socket_replaced),
        cmocka_unit_test(test_what_is_not_a_socket_is_left_alone),
        cmocka_unit_test(test_bad_paths_say_why),
        cmocka_unit_test(test_close_removes_only_its_own_socket),
        cmocka_unit_test(test_systemd_socket_activation),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
