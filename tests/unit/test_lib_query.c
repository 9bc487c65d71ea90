/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_query.c - the query API's parser against a scripted peer on a real
 * Unix socket: a good snapshot, and garbage, truncation, oversized frames,
 * wrong versions, ERROR frames, counts that lie, silence (timeouts) and a
 * peer that hangs up mid-answer. Each case must give its documented errno
 * and leak nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "ttalloc.h"

typedef void (*script_fn)(int fd);

struct peer {
    char dir[40];
    char path[100];
    int listen_fd;
    script_fn script;
    pthread_t thread;
};

static void send_frame(int fd, enum proto_msg_type type, const void *payload, size_t len)
{
    char *buf = calloc(1, sizeof(struct proto_header) + len);
    size_t total = proto_put_header(buf, type, (uint32_t)len);
    if (len)
        memcpy(buf + sizeof(struct proto_header), payload, len);
    ssize_t ignored = send(fd, buf, total, MSG_NOSIGNAL);
    (void)ignored;
    free(buf);
}

static void send_raw(int fd, const void *buf, size_t len)
{
    ssize_t ignored = send(fd, buf, len, MSG_NOSIGNAL);
    (void)ignored;
}

/* Read one frame from the client (its HELLO or a request). */
static int recv_type(int fd)
{
    char buf[PROTO_MAX_FRAME];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < (ssize_t)sizeof(struct proto_header))
        return -1;
    struct proto_header hdr;
    memcpy(&hdr, buf, sizeof(hdr));
    return hdr.type;
}

static void send_ack(int fd, uint16_t version)
{
    struct proto_hello_ack ack = {.magic = PROTO_MAGIC, .version = version, .server_pid = 1};
    send_frame(fd, PROTO_HELLO_ACK, &ack, sizeof(ack));
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd >= 0) {
        p->script(fd);
        /* Hold the connection until the client closes it. */
        char buf[16];
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
        close(fd);
    }
    return NULL;
}

static void peer_start(struct peer *p, script_fn script)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/ttalloc-qtest-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(p->path, sizeof(p->path), "%s/s.sock", p->dir);
    p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    assert_true(p->listen_fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", p->path);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(p->listen_fd, 4), 0);
    p->script = script;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void peer_stop(struct peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    unlink(p->path);
    rmdir(p->dir);
}

/* ---- scripts ---- */

static void script_good(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    if (recv_type(fd) != PROTO_SNAPSHOT_REQ)
        return;
    struct proto_snap_begin begin = {
        .seq = 7, .n_devices = 2, .n_processes = 1, .n_usage = 1, .clients = 3, .server_pid = 99};
    send_frame(fd, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    struct ttalloc_device_stats dev[2] = {{.device = 0}, {.device = 5}};
    dev[1].used[TTALLOC_DRAM] = 12345;
    send_frame(fd, PROTO_SNAP_DEVICES, &dev[0], sizeof(dev[0]));
    send_frame(fd, PROTO_SNAP_DEVICES, &dev[1], sizeof(dev[1]));
    struct ttalloc_process_info proc = {.pid = 4242, .bytes = 12345};
    strcpy(proc.name, "model");
    send_frame(fd, PROTO_SNAP_PROCESSES, &proc, sizeof(proc));
    struct ttalloc_usage usage = {.pid = 4242, .device = 5};
    send_frame(fd, PROTO_SNAP_USAGE, &usage, sizeof(usage));
    send_frame(fd, PROTO_SNAP_END, NULL, 0);

    if (recv_type(fd) != PROTO_BUFFERS_REQ)
        return;
    struct ttalloc_buffer bufs[2] = {{.address = 1, .size = 10}, {.address = 2, .size = 5}};
    send_frame(fd, PROTO_BUFFERS, bufs, sizeof(bufs));
    send_frame(fd, PROTO_BUFFERS_END, NULL, 0);

    if (recv_type(fd) != PROTO_EXITS_REQ)
        return;
    send_frame(fd, PROTO_EXITS_END, NULL, 0);
}

static void script_garbage_hello(int fd)
{
    recv_type(fd);
    send_raw(fd, "\xff\xff\xff\xff garbage that is no frame", 30);
}

static void script_truncated(int fd)
{
    recv_type(fd);
    send_raw(fd, "\x02\x00\x00", 3); /* shorter than a header */
}

static void script_oversized(int fd)
{
    recv_type(fd);
    size_t len = PROTO_MAX_FRAME + 100;
    char *buf = calloc(1, len);
    proto_put_header(buf, PROTO_HELLO_ACK, (uint32_t)(len - sizeof(struct proto_header)));
    send_raw(fd, buf, len);
    free(buf);
}

static void script_wrong_version(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION + 1);
}

static void script_error(int fd)
{
    recv_type(fd);
    char buf[256];
    size_t n = proto_put_error(buf, sizeof(buf), PROTO_ERR_VERSION, "version mismatch: test");
    send_raw(fd, buf, n);
}

static void script_silent(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd); /* the request, never answered */
}

static void script_short_count(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    struct proto_snap_begin begin = {.n_devices = 2};
    send_frame(fd, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    struct ttalloc_device_stats dev = {0};
    send_frame(fd, PROTO_SNAP_DEVICES, &dev, sizeof(dev));
    send_frame(fd, PROTO_SNAP_END, NULL, 0);
}

static void script_too_many(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    struct proto_snap_begin begin = {.n_devices = 1};
    send_frame(fd, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    struct ttalloc_device_stats dev[3] = {{0}};
    send_frame(fd, PROTO_SNAP_DEVICES, dev, sizeof(dev));
    send_frame(fd, PROTO_SNAP_END, NULL, 0);
}

static void script_huge_count(int fd)
{
    /* Counts near UINT32_MAX must not make the client allocate them up front. */
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    struct proto_snap_begin begin = {
        .n_devices = UINT32_MAX, .n_processes = UINT32_MAX, .n_usage = UINT32_MAX};
    send_frame(fd, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    send_frame(fd, PROTO_SNAP_END, NULL, 0);
}

static void script_hangup_mid_snapshot(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    struct proto_snap_begin begin = {.n_devices = 1};
    send_frame(fd, PROTO_SNAP_BEGIN, &begin, sizeof(begin));
    shutdown(fd, SHUT_RDWR);
}

static void script_bad_payload_size(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    char odd[sizeof(struct proto_snap_begin) - 1] = {0};
    send_frame(fd, PROTO_SNAP_BEGIN, odd, sizeof(odd));
}

static void script_too_many_buffers(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    struct ttalloc_buffer bufs[3] = {{0}};
    send_frame(fd, PROTO_BUFFERS, bufs, sizeof(bufs));
    send_frame(fd, PROTO_BUFFERS_END, NULL, 0);
}

static void script_wrong_answer(int fd)
{
    recv_type(fd);
    send_ack(fd, PROTO_VERSION);
    recv_type(fd);
    send_frame(fd, PROTO_EXITS_END, NULL, 0); /* answers a snapshot with an exits end */
}

/* ---- tests ---- */

static void test_good_conversation(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, script_good);
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(p.path, &conn), 0);
    assert_string_equal(ttalloc_conn_path(conn), p.path);
    assert_true(ttalloc_conn_fd(conn) >= 0);

    struct ttalloc_snapshot *snap = NULL;
    assert_int_equal(ttalloc_snapshot(conn, 2000, &snap), 0);
    assert_int_equal(snap->seq, 7);
    assert_int_equal(snap->clients, 3);
    assert_int_equal(snap->server_pid, 99);
    assert_int_equal(snap->n_devices, 2);
    assert_int_equal(snap->devices[1].device, 5);
    assert_int_equal(snap->devices[1].used[TTALLOC_DRAM], 12345);
    assert_int_equal(snap->n_processes, 1);
    assert_int_equal(snap->processes[0].pid, 4242);
    assert_string_equal(snap->processes[0].name, "model");
    assert_int_equal(snap->n_usage, 1);
    ttalloc_snapshot_free(snap);

    struct ttalloc_buffer *bufs = NULL;
    size_t n = 0;
    assert_int_equal(ttalloc_buffers(conn, 4242, 10, 2000, &bufs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bufs[0].size, 10);
    free(bufs);

    struct ttalloc_exit *exits = NULL;
    assert_int_equal(ttalloc_exits(conn, 2000, &exits, &n), 0);
    assert_int_equal(n, 0);
    free(exits);

    assert_int_equal(ttalloc_subscribe(conn, 5), -EINVAL);
    ttalloc_disconnect(conn);
    peer_stop(&p);
}

static void expect_connect_error(script_fn script, int want)
{
    struct peer p;
    peer_start(&p, script);
    ttalloc_conn *conn = (ttalloc_conn *)&p; /* must be reset to NULL */
    assert_int_equal(ttalloc_connect(p.path, &conn), want);
    assert_null(conn);
    peer_stop(&p);
}

static void test_bad_hello_answers(void **state)
{
    (void)state;
    expect_connect_error(script_garbage_hello, -EPROTO);
    expect_connect_error(script_truncated, -EPROTO);
    expect_connect_error(script_oversized, -EPROTO);
    expect_connect_error(script_wrong_version, -EPROTO);
    expect_connect_error(script_error, -EPROTO);
}

static void test_no_server(void **state)
{
    (void)state;
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect("/tmp/ttalloc-no-such-dir/none.sock", &conn), -ENOENT);
    assert_null(conn);
    char long_path[300];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(ttalloc_connect(long_path, &conn), -ENAMETOOLONG);
    assert_int_equal(ttalloc_connect(NULL, NULL), -EINVAL);
}

static void expect_snapshot_error(script_fn script, int timeout_ms, int want)
{
    struct peer p;
    peer_start(&p, script);
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(p.path, &conn), 0);
    struct ttalloc_snapshot *snap = (struct ttalloc_snapshot *)&p;
    assert_int_equal(ttalloc_snapshot(conn, timeout_ms, &snap), want);
    assert_null(snap);
    /* A stream that went wrong is not trusted again. */
    assert_int_equal(ttalloc_snapshot(conn, timeout_ms, &snap), -ECONNRESET);
    ttalloc_disconnect(conn);
    peer_stop(&p);
}

static void test_bad_snapshots(void **state)
{
    (void)state;
    expect_snapshot_error(script_silent, 50, -ETIMEDOUT);
    expect_snapshot_error(script_short_count, 2000, -EPROTO);
    expect_snapshot_error(script_too_many, 2000, -EPROTO);
    expect_snapshot_error(script_huge_count, 2000, -EPROTO);
    expect_snapshot_error(script_hangup_mid_snapshot, 2000, -ECONNRESET);
    expect_snapshot_error(script_bad_payload_size, 2000, -EPROTO);
    expect_snapshot_error(script_wrong_answer, 2000, -EPROTO);
}

static void test_buffers_over_max(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, script_too_many_buffers);
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(p.path, &conn), 0);
    struct ttalloc_buffer *bufs = NULL;
    size_t n = 99;
    assert_int_equal(ttalloc_buffers(conn, 1, 2, 2000, &bufs, &n), -EPROTO);
    assert_null(bufs);
    assert_int_equal(n, 0);
    ttalloc_disconnect(conn);
    peer_stop(&p);
}

static void test_next_snapshot_timeout(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, script_silent);
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(p.path, &conn), 0);
    assert_int_equal(ttalloc_subscribe(conn, 100), 0);
    struct ttalloc_snapshot *snap = NULL;
    /* Nothing pushed: -EAGAIN, and the connection stays usable. */
    assert_int_equal(ttalloc_next_snapshot(conn, 20, &snap), -EAGAIN);
    assert_int_equal(ttalloc_next_snapshot(conn, 20, &snap), -EAGAIN);
    assert_null(snap);
    ttalloc_disconnect(conn);
    ttalloc_disconnect(NULL);
    ttalloc_snapshot_free(NULL);
    peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_conversation), cmocka_unit_test(test_bad_hello_answers),
        cmocka_unit_test(test_no_server),         cmocka_unit_test(test_bad_snapshots),
        cmocka_unit_test(test_buffers_over_max),  cmocka_unit_test(test_next_snapshot_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
