/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server_child.h - a real tt-alloc-server for the server's unit tests:
 * server_run in a forked child on a socket in the test's scratch directory
 * (tmpdir.h), ready when it says READY=1 on NOTIFY_SOCKET, stopped with
 * SIGTERM; children a failed assertion leaves behind are killed by
 * server_child_kill_all (give it to cmocka as each test's teardown). The
 * scratch directory must exist: call tmpdir_setup first.
 * Include it after cmocka.h and tmpdir.h.
 */
#ifndef TTALLOC_TEST_SERVER_CHILD_H
#define TTALLOC_TEST_SERVER_CHILD_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "ttalloc.h"

#define WAIT_MS 20000 /* a failure guard, never the synchronisation */

/* Children a failed assertion may leave running: killed after each test,
 * so a failure never leaves a server holding the test's output open. */
static pid_t server_children[8];

static inline void server_child_track(pid_t pid)
{
    for (size_t i = 0; i < sizeof(server_children) / sizeof(server_children[0]); i++)
        if (server_children[i] == 0) {
            server_children[i] = pid;
            return;
        }
    fail_msg("more than 8 children");
}

static inline void server_child_forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof(server_children) / sizeof(server_children[0]); i++)
        if (server_children[i] == pid)
            server_children[i] = 0;
}

static inline int server_child_kill_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(server_children) / sizeof(server_children[0]); i++)
        if (server_children[i] > 0) {
            kill(server_children[i], SIGKILL);
            waitpid(server_children[i], NULL, 0);
            server_children[i] = 0;
        }
    return 0;
}

struct server_child {
    pid_t pid;
    int notify_fd; /* the datagram socket NOTIFY_SOCKET names */
    char socket_path[TMPDIR_MAX + 32];
};

/* A datagram socket for sd_notify, bound at <tmpdir>/notify-N. */
static inline int server_child_notify_socket(char *path, size_t cap)
{
    static int serial;
    assert_true(tmpdir[0] != '\0'); /* never a socket in / */
    snprintf(path, cap, "%s/notify-%d", tmpdir, serial++);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Fork a server with `config` (its socket_path set to child->socket_path),
 * telling sd_notify about it on child->notify_fd; limit_fds > 0 sets
 * RLIMIT_NOFILE (soft and hard) in the child first. */
static inline void server_child_start(struct server_child *child, struct server_config *config,
                                      rlim_t limit_fds)
{
    char notify_path[TMPDIR_MAX + 32];
    child->notify_fd = server_child_notify_socket(notify_path, sizeof(notify_path));
    config->socket_path = child->socket_path;
    child->pid = fork();
    assert_true(child->pid >= 0);
    if (child->pid == 0) {
        setenv("NOTIFY_SOCKET", notify_path, 1);
        if (limit_fds > 0) {
            struct rlimit rl = {limit_fds, limit_fds};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(99);
        }
        log_init("test_server", 0);
        _exit(server_run(config));
    }
    server_child_track(child->pid);
}

/* The next sd_notify message ("" after WAIT_MS without one). */
static inline void server_child_notice(struct server_child *child, char *out, size_t cap)
{
    struct pollfd p = {.fd = child->notify_fd, .events = POLLIN};
    out[0] = '\0';
    if (poll(&p, 1, WAIT_MS) != 1)
        return;
    ssize_t n = recv(child->notify_fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

static inline void server_child_wait_ready(struct server_child *child)
{
    char msg[256];
    server_child_notice(child, msg, sizeof(msg));
    assert_string_equal(msg, "READY=1");
}

/* SIGTERM, and the exit status (-1: it did not exit normally). */
static inline int server_child_stop(struct server_child *child)
{
    assert_int_equal(kill(child->pid, SIGTERM), 0);
    char msg[256];
    server_child_notice(child, msg, sizeof(msg));
    assert_string_equal(msg, "STOPPING=1");
    int status;
    assert_int_equal(waitpid(child->pid, &status, 0), child->pid);
    server_child_forget(child->pid);
    close(child->notify_fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The exit status of a server that should not start. No READY=1 came. */
static inline int server_child_failed(struct server_child *child)
{
    int status;
    assert_int_equal(waitpid(child->pid, &status, 0), child->pid);
    server_child_forget(child->pid);
    char msg[256];
    ssize_t n = recv(child->notify_fd, msg, sizeof(msg), MSG_DONTWAIT);
    assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    close(child->notify_fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline struct server_config server_child_config(void)
{
    struct server_config c = {
        .max_clients = SERVER_DEFAULT_MAX_CLIENTS,
        .max_buffers = 1u << 20,
        .max_queue = SERVER_DEFAULT_MAX_QUEUE,
        .sysroot = tmpdir, /* no devices: nothing of this machine's is read */
    };
    return c;
}

static inline void server_child_socket(struct server_child *child, const char *name)
{
    assert_true(tmpdir[0] != '\0');
    snprintf(child->socket_path, sizeof(child->socket_path), "%s/%s", tmpdir, name);
}

/* The server at path answers a new consumer's snapshot. */
static inline void server_child_answers(const char *path)
{
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(path, &conn), 0);
    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, WAIT_MS, &snap), 0);
    ttalloc_snapshot_free(snap);
    ttalloc_disconnect(conn);
}

#endif /* TTALLOC_TEST_SERVER_CHILD_H */
