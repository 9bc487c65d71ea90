/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server.c - tt-alloc-server's setup, loop and teardown (src/server/
 * server.c), run by server_run in a child process on a socket in a scratch
 * directory and driven through the real client library: READY=1 and
 * STOPPING=1 on NOTIFY_SOCKET, SIGTERM a clean stop (status 0, the socket
 * file gone, no leak under ASan), start-up failures (no such directory, a
 * bad metrics address, a second server on a live socket) exit 1 without
 * READY, a SIGKILLed producer noticed through its pidfd and left in the leak
 * history, that history kept across a restart, and a descriptor limit that
 * lowers --max-clients so the one client too many is refused, not everyone.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "server.h"
#include "tmpdir.h"
#include "server_child.h"
#include "ttalloc.h"

static void test_ready_answers_and_stops_cleanly(void **state)
{
    (void)state;
    struct server_child srv;
    server_child_socket(&srv, "clean.sock");
    struct server_config config = server_child_config();
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);

    struct stat st;
    assert_int_equal(stat(srv.socket_path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, WAIT_MS, &snap), 0);
    assert_int_equal(snap->n_processes, 0);
    ttalloc_snapshot_free(snap);
    ttalloc_disconnect(conn);

    /* status 0 also says ASan found no leak in the teardown */
    assert_int_equal(server_child_stop(&srv), 0);
    assert_int_equal(stat(srv.socket_path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_start_up_failures_exit_1(void **state)
{
    (void)state;
    struct server_child srv;
    struct server_config config = server_child_config();

    server_child_socket(&srv, "no-such-dir/x.sock");
    server_child_start(&srv, &config, 0);
    assert_int_equal(server_child_failed(&srv), 1);

    config.metrics_addr = "not an address";
    server_child_socket(&srv, "metrics.sock");
    server_child_start(&srv, &config, 0);
    assert_int_equal(server_child_failed(&srv), 1);
    /* the socket it had bound is gone again */
    assert_int_equal(access(srv.socket_path, F_OK), -1);

    /* a second server on a live socket: refused, the first one unharmed */
    config = server_child_config();
    struct server_child first, second;
    server_child_socket(&first, "shared.sock");
    server_child_socket(&second, "shared.sock");
    server_child_start(&first, &config, 0);
    server_child_wait_ready(&first);
    struct server_config config2 = server_child_config();
    server_child_start(&second, &config2, 0);
    assert_int_equal(server_child_failed(&second), 1);
    server_child_answers(first.socket_path);
    assert_int_equal(server_child_stop(&first), 0);
}

/* A producer in its own process: label, one 4 KiB DRAM buffer, flushed;
 * then it tells the parent and waits to be killed. */
static pid_t producer_start(const char *socket_path)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        setenv("TT_ALLOC_SOCKET", socket_path, 1);
        if (ttalloc_set_label("leaky") != 0 ||
            ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1000, 4096) != 0 || ttalloc_flush(WAIT_MS) != 0)
            _exit(1);
        char go = 'r';
        if (write(ready[1], &go, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    server_child_track(pid);
    close(ready[1]);
    char got = 0;
    assert_int_equal(read(ready[0], &got, 1), 1);
    close(ready[0]);
    return pid;
}

/* The leak history, once it holds n records (WAIT_MS guard). */
static struct ttalloc_exit *exits_when(const char *socket_path, size_t n)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        ttalloc_conn *conn = NULL;
        assert_int_equal(ttalloc_connect(socket_path, &conn), 0);
        struct ttalloc_exit *exits = NULL;
        size_t got = 0;
        assert_int_equal(ttalloc_exits(conn, WAIT_MS, &exits, &got), 0);
        ttalloc_disconnect(conn);
        if (got == n)
            return exits;
        assert_true(got < n);
        free(exits);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 > WAIT_MS)
            fail_msg("the leak history never held %zu records", n);
        /* the pidfd event and this query race: ask again */
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 1);
    }
}

static void test_killed_producer_is_a_leak_kept_across_restart(void **state)
{
    (void)state;
    struct server_child srv;
    server_child_socket(&srv, "leak.sock");
    char state_path[TMPDIR_MAX + 32];
    snprintf(state_path, sizeof(state_path), "%s/leak.state", tmpdir);
    struct server_config config = server_child_config();
    config.state_path = state_path;
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);

    pid_t producer = producer_start(srv.socket_path);
    assert_int_equal(kill(producer, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(producer, &status, 0), producer);
    server_child_forget(producer);
    assert_true(WIFSIGNALED(status));

    struct ttalloc_exit *exits = exits_when(srv.socket_path, 1);
    assert_int_equal(exits[0].pid, producer);
    assert_string_equal(exits[0].label, "leaky");
    assert_int_equal(exits[0].device, 0);
    assert_int_equal(exits[0].bytes[TTALLOC_DRAM], 4096);
    assert_int_equal(exits[0].buffers[TTALLOC_DRAM], 1);
    free(exits);
    /* its buffers are gone from the live view */
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, WAIT_MS, &snap), 0);
    for (size_t i = 0; i < snap->n_processes; i++)
        assert_int_not_equal(snap->processes[i].pid, producer);
    ttalloc_snapshot_free(snap);
    ttalloc_disconnect(conn);
    assert_int_equal(server_child_stop(&srv), 0);

    /* a new server on the same state file still knows of it */
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
    exits = exits_when(srv.socket_path, 1);
    assert_int_equal(exits[0].pid, producer);
    assert_int_equal(exits[0].bytes[TTALLOC_DRAM], 4096);
    free(exits);
    assert_int_equal(server_child_stop(&srv), 0);
}

#define FD_CLIENTS 152

static void test_fd_limit_lowers_max_clients(void **state)
{
    (void)state;
    struct server_child srv;
    server_child_socket(&srv, "fds.sock");
    struct server_config config = server_child_config();
    /* 560 descriptors, 256 kept for itself, two per client (its socket and
     * its process's pidfd): --max-clients becomes 152 */
    server_child_start(&srv, &config, 560);
    server_child_wait_ready(&srv);

    ttalloc_conn *conns[FD_CLIENTS];
    for (size_t i = 0; i < FD_CLIENTS; i++)
        assert_int_equal(ttalloc_connect(srv.socket_path, &conns[i]), 0);
    /* one more is refused: at its HELLO or at its first question */
    ttalloc_conn *extra = NULL;
    int rc = ttalloc_connect(srv.socket_path, &extra);
    if (rc == 0) {
        struct ttalloc_snapshot *snap = NULL;
        rc = ttalloc_snapshot(extra, WAIT_MS, &snap);
        ttalloc_disconnect(extra);
    }
    assert_true(rc < 0);
    /* the others are still served */
    for (size_t i = 0; i < FD_CLIENTS; i++) {
        struct ttalloc_snapshot *snap = NULL;
        assert_int_equal(ttalloc_snapshot(conns[i], WAIT_MS, &snap), 0);
        ttalloc_snapshot_free(snap);
    }
    /* one leaves: a new client gets its place */
    ttalloc_disconnect(conns[0]);
    struct ttalloc_snapshot *snap = NULL;
    for (int attempt = 0;; attempt++) {
        /* the server notices the close on its next turn: ask until then */
        if (attempt == 10000)
            fail_msg("no place for a client after one left");
        rc = ttalloc_connect(srv.socket_path, &conns[0]);
        if (rc == 0 && (rc = ttalloc_snapshot(conns[0], WAIT_MS, &snap)) == 0)
            break;
        if (conns[0] != NULL)
            ttalloc_disconnect(conns[0]);
        conns[0] = NULL;
    }
    ttalloc_snapshot_free(snap);
    for (size_t i = 0; i < FD_CLIENTS; i++)
        ttalloc_disconnect(conns[i]);
    assert_int_equal(server_child_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ready_answers_and_stops_cleanly, server_child_kill_all),
        cmocka_unit_test_teardown(test_start_up_failures_exit_1, server_child_kill_all),
        cmocka_unit_test_teardown(test_killed_producer_is_a_leak_kept_across_restart,
                                  server_child_kill_all),
        cmocka_unit_test_teardown(test_fd_limit_lowers_max_clients, server_child_kill_all),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
