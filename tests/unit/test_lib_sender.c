/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_sender.c - libttalloc's background sender (src/lib/sender.c),
 * driven through the public API against a server played by this test on a
 * real SOCK_SEQPACKET socket (TT_ALLOC_SOCKET): HELLO carries the role, the
 * pid and the label; what was recorded before the connection arrives as a
 * resync holding exactly the live buffers and their sums; events recorded
 * after it arrive once each, in record order, with their fields and
 * non-decreasing timestamps, before the FLUSH that ttalloc_flush waits
 * for; with the server gone, records never wait and ttalloc_flush says
 * -ENOTCONN; a new server (a restart) gets a resync with exactly what is
 * live then, so nothing recorded meanwhile is lost; a garbage frame from
 * the server makes the sender drop the connection and come back; device
 * descriptions are sent again on every connection; ttalloc_process_memory
 * is exact with or without a server.
 */
#include <errno.h>
#include <poll.h>
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
#include "tmpdir.h"
#include "ttalloc.h"

#define WAIT_MS 20000 /* a failure guard, never the synchronisation */

static char socket_path[TMPDIR_MAX + 32];
static int listen_fd = -1;

static void server_listen(void)
{
    unlink(socket_path);
    listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(listen_fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
    assert_int_equal(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(listen_fd, 8), 0);
}

static void server_gone(void)
{
    close(listen_fd);
    listen_fd = -1;
    unlink(socket_path);
}

static int server_accept(void)
{
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        fail_msg("the library never connected");
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* One frame from the library: its type, and its payload in payload. */
static uint16_t server_recv(int fd, void *payload, size_t cap, size_t *len)
{
    static unsigned char buf[PROTO_MAX_FRAME];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        fail_msg("no frame from the library");
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
        return 0; /* the library closed the connection */
    struct proto_header hdr;
    const void *body;
    char why[128];
    if (proto_parse_frame(buf, (size_t)n, &hdr, &body, why, sizeof(why)) < 0)
        fail_msg("the library sent a bad frame: %s", why);
    assert_true(hdr.length <= cap);
    memcpy(payload, body, hdr.length);
    *len = hdr.length;
    return hdr.type;
}

static void server_send(int fd, uint16_t type, const void *payload, uint32_t len)
{
    unsigned char buf[PROTO_MAX_FRAME];
    size_t total = proto_put_header(buf, type, len);
    memcpy(buf + sizeof(struct proto_header), payload, len);
    ssize_t sent = send(fd, buf, total, MSG_NOSIGNAL);
    if (sent != (ssize_t)total)
        fail_msg("send of a %u frame: %s", type, strerror(errno));
}

/* ttalloc_flush in a thread, so this one can play the server; `done` is
 * readable once it returned. */
struct flusher {
    pthread_t thread;
    int rc;
    int done[2];
};

static void *flusher_main(void *arg)
{
    struct flusher *f = arg;
    f->rc = ttalloc_flush(WAIT_MS);
    char byte = 'd';
    if (write(f->done[1], &byte, 1) != 1)
        f->rc = 1;
    return NULL;
}

static void flush_start(struct flusher *f)
{
    f->rc = 1;
    assert_int_equal(pipe(f->done), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, flusher_main, f), 0);
}

static int flush_end(struct flusher *f)
{
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    close(f->done[0]);
    close(f->done[1]);
    return f->rc;
}

/* What a connection carried while a flush was under way. */
struct session {
    struct proto_hello hello;
    int n_descs;
    struct proto_device_desc desc;
    int resyncs;
    struct proto_event resync[64];
    size_t n_resync;
    struct proto_resync_end end;
    struct proto_event events[512];
    size_t n_events;
    int in_resync;
};

/* Play the server on fd: answer HELLO and every FLUSH, gather the rest,
 * until the flush in f has returned. */
static void session_serve(int fd, struct session *s, struct flusher *f)
{
    static unsigned char payload[PROTO_MAX_FRAME];
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->done[0], .events = POLLIN}};
        if (poll(p, 2, WAIT_MS) <= 0)
            fail_msg("neither a frame nor the end of the flush");
        if (!(p[0].revents & POLLIN) && (p[1].revents & POLLIN))
            return;
        size_t len;
        uint16_t type = server_recv(fd, payload, sizeof(payload), &len);
        switch (type) {
        case PROTO_HELLO: {
            assert_int_equal(len, sizeof(s->hello));
            memcpy(&s->hello, payload, len);
            struct proto_hello_ack ack = {.magic = PROTO_MAGIC, .version = PROTO_VERSION};
            server_send(fd, PROTO_HELLO_ACK, &ack, sizeof(ack));
            break;
        }
        case PROTO_DEVICE_DESC:
            memcpy(&s->desc, payload, sizeof(s->desc));
            s->n_descs++;
            break;
        case PROTO_RESYNC_BEGIN:
            s->in_resync = 1;
            s->resyncs++;
            s->n_resync = 0;
            break;
        case PROTO_RESYNC_END:
            s->in_resync = 0;
            memcpy(&s->end, payload, sizeof(s->end));
            break;
        case PROTO_PEAKS:
            break;
        case PROTO_EVENTS: {
            size_t n = len / sizeof(struct proto_event);
            struct proto_event *to = s->in_resync ? s->resync : s->events;
            size_t *count = s->in_resync ? &s->n_resync : &s->n_events;
            assert_true(*count + n <= (s->in_resync ? 64u : 512u));
            memcpy(to + *count, payload, n * sizeof(struct proto_event));
            *count += n;
            break;
        }
        case PROTO_FLUSH:
            server_send(fd, PROTO_FLUSH_ACK, payload, (uint32_t)len);
            break;
        case 0:
            fail_msg("the library closed the connection during a flush");
            break;
        default:
            fail_msg("unexpected frame type %u", type);
        }
    }
}

/* A new connection, served while ttalloc_flush runs: 0 from it expected. */
static int session_new(struct session *s)
{
    memset(s, 0, sizeof(*s));
    struct flusher f;
    flush_start(&f);
    int fd = server_accept();
    session_serve(fd, s, &f);
    assert_int_equal(flush_end(&f), 0);
    return fd;
}

static const struct proto_event *find_buffer(const struct proto_event *list, size_t n,
                                             uint64_t address)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].address == address)
            return &list[i];
    return NULL;
}

static int session_fd = -1;

static void test_first_connection_resyncs_then_streams_in_order(void **state)
{
    (void)state;
    /* before any server: recorded, kept, nothing waits */
    assert_int_equal(ttalloc_set_label("unit-label"), 0);
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    strcpy(desc.board_type, "n150");
    assert_int_equal(ttalloc_describe_device(3, &desc), 0);
    assert_int_equal(ttalloc_record_alloc(3, TTALLOC_DRAM, 0x1000, 4096), 0);
    assert_int_equal(ttalloc_record_alloc(3, TTALLOC_L1, 0x20, 64), 0);
    assert_int_equal(ttalloc_record_alloc(3, TTALLOC_DRAM, 0x9000, 100), 0);
    assert_int_equal(ttalloc_record_free(3, TTALLOC_DRAM, 0x9000), 0);
    assert_int_equal(ttalloc_flush(0), -ENOTCONN);
    uint64_t live = 0, peak = 0;
    assert_int_equal(ttalloc_process_memory(3, TTALLOC_DRAM, &live, &peak), 0);
    assert_int_equal(live, 4096);
    assert_int_equal(peak, 4196);

    server_listen();
    static struct session s;
    session_fd = session_new(&s);

    assert_int_equal(s.hello.magic, PROTO_MAGIC);
    assert_int_equal(s.hello.role, PROTO_ROLE_PRODUCER);
    assert_int_equal(s.hello.claimed_pid, getpid());
    assert_string_equal(s.hello.label, "unit-label");
    assert_int_equal(s.n_descs, 1);
    assert_int_equal(s.desc.device, 3);
    assert_string_equal(s.desc.desc.board_type, "n150");
    /* the resync: exactly the two live buffers, and their sums */
    assert_int_equal(s.resyncs, 1);
    assert_int_equal(s.n_resync, 2);
    const struct proto_event *b = find_buffer(s.resync, s.n_resync, 0x1000);
    assert_non_null(b);
    assert_int_equal(b->op, PROTO_OP_ALLOC);
    assert_int_equal(b->size, 4096);
    assert_int_equal(b->device, 3);
    assert_int_equal(b->type, TTALLOC_DRAM);
    b = find_buffer(s.resync, s.n_resync, 0x20);
    assert_non_null(b);
    assert_int_equal(b->type, TTALLOC_L1);
    assert_null(find_buffer(s.resync, s.n_resync, 0x9000));
    assert_int_equal(s.end.buffers, 2);
    assert_int_equal(s.end.bytes, 4096 + 64);
    assert_int_equal(s.n_events, 0);

    /* connected: 300 events, each once, in record order */
    for (uint64_t i = 0; i < 150; i++) {
        assert_int_equal(ttalloc_record_alloc(1, TTALLOC_CB, 0x100000 + i * 64, 64 + i), 0);
        assert_int_equal(ttalloc_record_free(1, TTALLOC_CB, 0x100000 + i * 64), 0);
    }
    /* the same connection, served while a second flush runs */
    struct flusher f;
    memset(&s, 0, sizeof(s));
    flush_start(&f);
    session_serve(session_fd, &s, &f);
    assert_int_equal(flush_end(&f), 0);
    assert_int_equal(s.resyncs, 0);
    const struct proto_event *got = s.events;
    size_t n = s.n_events;
    assert_int_equal(n, 300);
    for (uint64_t i = 0; i < 150; i++) {
        const struct proto_event *a = &got[2 * i], *fr = &got[2 * i + 1];
        assert_int_equal(a->op, PROTO_OP_ALLOC);
        assert_int_equal(a->address, 0x100000 + i * 64);
        assert_int_equal(a->size, 64 + i);
        assert_int_equal(a->device, 1);
        assert_int_equal(a->type, TTALLOC_CB);
        assert_int_equal(fr->op, PROTO_OP_FREE);
        assert_int_equal(fr->address, a->address);
        assert_true(a->timestamp_ns <= fr->timestamp_ns);
        if (i > 0)
            assert_true(got[2 * i - 1].timestamp_ns <= a->timestamp_ns);
    }
}

static void test_restart_loses_nothing(void **state)
{
    (void)state;
    assert_true(session_fd >= 0);
    /* the server goes away */
    close(session_fd);
    session_fd = -1;
    server_gone();
    /* meanwhile: one more buffer, one freed; no call waits for a server */
    assert_int_equal(ttalloc_record_alloc(3, TTALLOC_DRAM, 0x7000, 512), 0);
    assert_int_equal(ttalloc_record_free(3, TTALLOC_L1, 0x20), 0);
    assert_int_equal(ttalloc_flush(WAIT_MS), -ENOTCONN);

    /* a new server: everything live now, nothing else */
    server_listen();
    static struct session s;
    session_fd = session_new(&s);
    assert_int_equal(s.n_descs, 1); /* the description again */
    assert_int_equal(s.resyncs, 1);
    assert_int_equal(s.n_resync, 2);
    assert_non_null(find_buffer(s.resync, s.n_resync, 0x1000));
    assert_non_null(find_buffer(s.resync, s.n_resync, 0x7000));
    assert_null(find_buffer(s.resync, s.n_resync, 0x20));
    assert_int_equal(s.end.buffers, 2);
    assert_int_equal(s.end.bytes, 4096 + 512);
    uint64_t live = 0, peak = 0;
    assert_int_equal(ttalloc_process_memory(3, TTALLOC_DRAM, &live, &peak), 0);
    assert_int_equal(live, 4096 + 512);
}

static void test_garbage_from_the_server_means_reconnect(void **state)
{
    (void)state;
    assert_true(session_fd >= 0);
    /* a frame whose header claims more than it holds */
    unsigned char bad[16];
    memset(bad, 0, sizeof(bad));
    proto_put_header(bad, PROTO_HELLO_ACK, 60000);
    assert_int_equal(send(session_fd, bad, sizeof(bad), MSG_NOSIGNAL), (ssize_t)sizeof(bad));
    /* the library hangs up */
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    for (;;) {
        uint16_t type = server_recv(session_fd, payload, sizeof(payload), &len);
        if (type == 0)
            break;
    }
    close(session_fd);
    /* and comes back, with the full state */
    static struct session s;
    session_fd = session_new(&s);
    assert_int_equal(s.n_resync, 2);
    assert_int_equal(s.end.bytes, 4096 + 512);
    close(session_fd);
    session_fd = -1;
    server_gone();
}

static int setup(void **state)
{
    if (tmpdir_setup(state) != 0)
        return -1;
    snprintf(socket_path, sizeof(socket_path), "%s/server.sock", tmpdir);
    setenv("TT_ALLOC_SOCKET", socket_path, 1);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_connection_resyncs_then_streams_in_order),
        cmocka_unit_test(test_restart_loses_nothing),
        cmocka_unit_test(test_garbage_from_the_server_means_reconnect),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
