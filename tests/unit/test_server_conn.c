/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_conn.c - the server's connection I/O (src/server/conn.c)
 * against a real server (server_child.h) over real sockets (wire.h): a
 * datagram too long for a frame, or too short for a header, ends that
 * connection with the reason and nobody else's; --max-clients refuses the
 * one client too many with its reason and takes a new one when a place is
 * free; a consumer that asks and never reads is dropped at --max-queue
 * while the server keeps serving; a producer is known by its
 * /proc/PID/comm; and a connection that never says HELLO is closed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"
#include "server_child.h"
#include "ttalloc.h"
#include "wire.h"

static struct server_child srv;

static int start(void **state)
{
    if (tmpdir_setup(state) != 0)
        return -1;
    server_child_socket(&srv, "conn.sock");
    static struct server_config config;
    config = server_child_config();
    config.max_queue = 256 * 1024;
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
    return 0;
}

static int stop(void **state)
{
    int rc = server_child_stop(&srv);
    server_child_kill_all(state);
    return rc == 0 && tmpdir_teardown(state) == 0 ? 0 : -1;
}

static void test_datagrams_that_are_no_frame(void **state)
{
    (void)state;
    char text[256];
    struct proto_hello_ack ack;
    int bystander = wire_connect(srv.socket_path);
    wire_hello(bystander, PROTO_ROLE_CONSUMER, NULL, &ack);

    int fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_CONSUMER, NULL, &ack);
    static unsigned char big[PROTO_MAX_FRAME + 100];
    memset(big, 0, sizeof(big));
    proto_put_header(big, PROTO_SNAPSHOT_REQ, 0);
    assert_int_equal(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_non_null(strstr(text, "65536"));

    fd = wire_connect(srv.socket_path);
    assert_int_equal(send(fd, "abc", 3, MSG_NOSIGNAL), 3);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);

    /* the other connection is untouched */
    assert_true(wire_send(bystander, PROTO_SNAPSHOT_REQ, NULL, 0) > 0);
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    assert_int_equal(wire_recv(bystander, payload, sizeof(payload), &len), PROTO_SNAP_BEGIN);
    close(bystander);
}

static void test_max_clients(void **state)
{
    (void)state;
    /* a server of its own: nobody else's connections count */
    struct server_child small;
    server_child_socket(&small, "small.sock");
    struct server_config config = server_child_config();
    config.max_clients = 3;
    server_child_start(&small, &config, 0);
    server_child_wait_ready(&small);
    char text[256];
    struct proto_hello_ack ack;
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = wire_connect(small.socket_path);
        wire_hello(fds[i], PROTO_ROLE_CONSUMER, NULL, &ack);
    }
    int extra = wire_connect(small.socket_path); /* the kernel accepts; the server refuses */
    assert_int_equal(wire_kicked(extra, text, sizeof(text)), PROTO_ERR_LIMIT);
    assert_string_equal(text, "server has reached its limit of 3 clients (--max-clients)");
    close(fds[0]);
    /* its place is free once the server has seen it go: ask until then */
    for (int attempt = 0;; attempt++) {
        if (attempt == 10000)
            fail_msg("no place after a client left");
        int fd = wire_connect(small.socket_path);
        struct proto_hello hello;
        proto_make_hello(&hello, PROTO_ROLE_CONSUMER, NULL);
        assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
        static unsigned char payload[PROTO_MAX_FRAME];
        size_t len;
        uint16_t type = wire_recv(fd, payload, sizeof(payload), &len);
        if (type == PROTO_HELLO_ACK) {
            fds[0] = fd;
            break;
        }
        /* refused: the ERROR, or the reset for the HELLO it never read */
        assert_true(type == PROTO_ERROR || type == 0);
        close(fd);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_int_equal(server_child_stop(&small), 0);
}

static void test_a_consumer_that_never_reads(void **state)
{
    (void)state;
    struct proto_hello_ack ack;
    int fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_CONSUMER, NULL, &ack);
    /* ask for snapshots and never read them: the server's socket buffer,
     * then its queue (256 KiB) fill up, and it lets go */
    unsigned char req[sizeof(struct proto_header)];
    size_t req_len = proto_put_header(req, PROTO_SNAPSHOT_REQ, 0);
    size_t sent = 0;
    for (;;) {
        ssize_t n = send(fd, req, req_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent++;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            break; /* dropped: EPIPE or ECONNRESET */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, WIRE_WAIT_MS) != 1)
            fail_msg("the server neither read nor dropped a client that never reads");
        if (p.revents & (POLLHUP | POLLERR))
            break;
    }
    /* what came before the drop (some whole snapshots, not all), then the
     * end; the kernel reports the reset (our requests it never read) before
     * the data it had queued for us */
    static unsigned char buf[PROTO_MAX_FRAME];
    size_t answered = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == ECONNRESET)
            continue;
        if (n <= 0)
            break;
        struct proto_header hdr;
        const void *body;
        assert_int_equal(proto_parse_frame(buf, (size_t)n, &hdr, &body, NULL, 0), 0);
        answered += hdr.type == PROTO_SNAP_END;
    }
    assert_true(answered > 0);
    assert_true(answered < sent);
    close(fd);
    server_child_answers(srv.socket_path);
}

static void test_producer_named_by_its_comm(void **state)
{
    (void)state;
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    assert_non_null(f);
    assert_non_null(fgets(comm, sizeof(comm), f));
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    struct proto_hello_ack ack;
    int fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_PRODUCER, NULL, &ack);
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, WIRE_WAIT_MS, &snap), 0);
    int found = 0;
    for (size_t i = 0; i < snap->n_processes; i++)
        if (snap->processes[i].pid == getpid()) {
            assert_string_equal(snap->processes[i].name, comm);
            found = 1;
        }
    assert_true(found);
    ttalloc_snapshot_free(snap);
    ttalloc_disconnect(conn);
    close(fd);
}

static void test_no_hello_is_closed(void **state)
{
    (void)state;
    /* nothing sent: closed at the HELLO deadline (5 s), saying why */
    int fd = wire_connect(srv.socket_path);
    char text[256];
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "no HELLO within 5 seconds");
    server_child_answers(srv.socket_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datagrams_that_are_no_frame),
        cmocka_unit_test(test_max_clients),
        cmocka_unit_test(test_a_consumer_that_never_reads),
        cmocka_unit_test(test_producer_named_by_its_comm),
        cmocka_unit_test(test_no_hello_is_closed),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
