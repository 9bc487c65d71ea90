/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_dispatch.c - what the server does with each frame
 * (src/server/dispatch.c), frame by frame against a real server
 * (server_child.h) over real sockets (wire.h): HELLO checked (first frame,
 * magic, version, one only) and answered with the pid and uid the kernel
 * gives, not the claimed ones; each role's frames, and the ERROR that names
 * a frame the role may not send; a producer's events applied and shown to a
 * consumer (snapshot and buffer list), FLUSH answered with its token; a
 * resync replacing the producer's buffers; PEAKS outside a resync and
 * STREAM_REQ twice or with unknown flags refused with their reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
    server_child_socket(&srv, "dispatch.sock");
    static struct server_config config;
    config = server_child_config();
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    int rc = server_child_stop(&srv);
    server_child_kill_all(state);
    return rc == 0 && tmpdir_teardown(state) == 0 ? 0 : -1;
}

static void test_hello_rules(void **state)
{
    (void)state;
    char text[256];
    int fd = wire_connect(srv.socket_path);
    assert_true(wire_send(fd, PROTO_SNAPSHOT_REQ, NULL, 0) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "first frame must be HELLO, got SNAPSHOT_REQ");

    struct proto_hello hello;
    proto_make_hello(&hello, PROTO_ROLE_CONSUMER, NULL);
    hello.version = 99;
    fd = wire_connect(srv.socket_path);
    assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_VERSION);
    assert_string_equal(text, "protocol version mismatch: client speaks 99, server speaks 2");

    proto_make_hello(&hello, PROTO_ROLE_CONSUMER, NULL);
    hello.magic = 0x12345678;
    fd = wire_connect(srv.socket_path);
    assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "not a tt-alloc client (bad magic 0x12345678)");

    proto_make_hello(&hello, 7, NULL);
    fd = wire_connect(srv.socket_path);
    assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "unknown client role 7");

    /* the kernel's word, not the claim */
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, "x");
    hello.claimed_pid = 1;
    fd = wire_connect(srv.socket_path);
    assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    assert_int_equal(wire_recv(fd, payload, sizeof(payload), &len), PROTO_HELLO_ACK);
    struct proto_hello_ack ack;
    memcpy(&ack, payload, sizeof(ack));
    assert_int_equal(ack.magic, PROTO_MAGIC);
    assert_int_equal(ack.version, PROTO_VERSION);
    assert_int_equal(ack.peer_pid, getpid());
    assert_int_equal(ack.peer_uid, getuid());
    assert_int_equal(ack.server_pid, srv.pid);
    assert_true(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "a second HELLO");
}

static void test_roles(void **state)
{
    (void)state;
    char text[256];
    struct proto_hello_ack ack;
    int fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_CONSUMER, NULL, &ack);
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_true(wire_send(fd, PROTO_EVENTS, &ev, sizeof(ev)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_ROLE);
    assert_string_equal(text, "a consumer may not send EVENTS");

    fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_PRODUCER, NULL, &ack);
    assert_true(wire_send(fd, PROTO_SNAPSHOT_REQ, NULL, 0) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_ROLE);
    assert_string_equal(text, "a producer may not send SNAPSHOT_REQ");

    fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_PRODUCER, NULL, &ack);
    struct proto_peak peak;
    memset(&peak, 0, sizeof(peak));
    assert_true(wire_send(fd, PROTO_PEAKS, &peak, sizeof(peak)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "PEAKS outside a resync");

    fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_CONSUMER, NULL, &ack);
    struct proto_stream_req req;
    memset(&req, 0, sizeof(req));
    memset(&req, 0xff, sizeof(req.flags));
    assert_true(wire_send(fd, PROTO_STREAM_REQ, &req, sizeof(req)) > 0);
    assert_int_equal(wire_kicked(fd, text, sizeof(text)), PROTO_ERR_MALFORMED);
    assert_string_equal(text, "STREAM_REQ with unknown flags");

    fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_CONSUMER, NULL, &ack);
    memset(&req, 0, sizeof(req));
    assert_true(wire_send(fd, PROTO_STREAM_REQ, &req, sizeof(req)) > 0);
    assert_true(wire_send(fd, PROTO_STREAM_REQ, &req, sizeof(req)) > 0);
    /* the stream's first frames may come before the ERROR */
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    uint16_t type;
    while ((type = wire_recv(fd, payload, sizeof(payload), &len)) != PROTO_ERROR)
        assert_true(type == PROTO_STREAM_EVENTS || type == PROTO_STREAM_PROCESS ||
                    type == PROTO_STREAM_DEVICE);
    wire_error(payload, len, text, sizeof(text));
    assert_string_equal(text, "a second STREAM_REQ");
    close(fd);
}

static struct proto_event event(uint8_t op, uint32_t device, uint8_t type, uint64_t address,
                                uint64_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.device = device;
    ev.type = type;
    ev.address = address;
    ev.size = size;
    ev.timestamp_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return ev;
}

/* FLUSH with token, and its FLUSH_ACK. */
static void flush(int fd, uint64_t token)
{
    struct proto_flush f = {token};
    assert_true(wire_send(fd, PROTO_FLUSH, &f, sizeof(f)) > 0);
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    assert_int_equal(wire_recv(fd, payload, sizeof(payload), &len), PROTO_FLUSH_ACK);
    memcpy(&f, payload, sizeof(f));
    assert_int_equal(f.token, token);
}

/* This process's DRAM bytes and buffers on device 5, as a consumer sees them. */
static void seen(uint64_t *bytes, uint64_t *buffers, size_t *listed)
{
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, WIRE_WAIT_MS, &snap), 0);
    *bytes = *buffers = 0;
    for (size_t i = 0; i < snap->n_usage; i++)
        if (snap->usage[i].pid == getpid() && snap->usage[i].device == 5) {
            *bytes = snap->usage[i].bytes[TTALLOC_DRAM];
            *buffers = snap->usage[i].buffers;
        }
    ttalloc_snapshot_free(snap);
    struct ttalloc_buffer *list = NULL;
    assert_int_equal(ttalloc_buffers(conn, getpid(), 100, WIRE_WAIT_MS, &list, listed), 0);
    free(list);
    ttalloc_disconnect(conn);
}

static void test_events_flush_and_resync(void **state)
{
    (void)state;
    struct proto_hello_ack ack;
    int fd = wire_connect(srv.socket_path);
    wire_hello(fd, PROTO_ROLE_PRODUCER, "dispatch", &ack);
    struct proto_event evs[3] = {
        event(PROTO_OP_ALLOC, 5, TTALLOC_DRAM, 0x1000, 4096),
        event(PROTO_OP_ALLOC, 5, TTALLOC_DRAM, 0x9000, 100),
        event(PROTO_OP_FREE, 5, TTALLOC_DRAM, 0x9000, 0),
    };
    assert_true(wire_send(fd, PROTO_EVENTS, evs, sizeof(evs)) > 0);
    flush(fd, 77);
    uint64_t bytes, buffers;
    size_t listed;
    seen(&bytes, &buffers, &listed);
    assert_int_equal(bytes, 4096);
    assert_int_equal(buffers, 1);
    assert_int_equal(listed, 1);

    /* a resync: what the producer says it holds, replaces what it held */
    assert_true(wire_send(fd, PROTO_RESYNC_BEGIN, NULL, 0) > 0);
    struct proto_event held[2] = {
        event(PROTO_OP_ALLOC, 5, TTALLOC_DRAM, 0x20000, 1000),
        event(PROTO_OP_ALLOC, 5, TTALLOC_DRAM, 0x30000, 24),
    };
    assert_true(wire_send(fd, PROTO_EVENTS, held, sizeof(held)) > 0);
    struct proto_resync_end end = {2, 1024};
    assert_true(wire_send(fd, PROTO_RESYNC_END, &end, sizeof(end)) > 0);
    flush(fd, 78);
    seen(&bytes, &buffers, &listed);
    assert_int_equal(bytes, 1024);
    assert_int_equal(buffers, 2);
    assert_int_equal(listed, 2);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_rules),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_events_flush_and_resync),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
