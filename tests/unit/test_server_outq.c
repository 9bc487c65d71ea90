/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_outq.c - reference-counted frames and the per-connection
 * output queue (src/server/outq.c): one frame shared by many queues is freed
 * with its last reference, the queue keeps frame order across growth and
 * wrap-around, counts the bytes it holds, sends whole frames until the
 * socket is full (1) and resumes where it stopped, and reports a broken
 * connection as an error. ASan checks every reference is dropped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "outq.h"

static struct outq_frame *frame_of(unsigned n, size_t len)
{
    struct outq_frame *f = outq_frame_new(len);
    assert_non_null(f);
    assert_int_equal(f->refs, 1);
    assert_int_equal(f->len, len);
    memset(f->data, (int)(n & 0xff), len);
    if (len >= sizeof(n))
        memcpy(f->data, &n, sizeof(n));
    return f;
}

static void test_shared_frame(void **state)
{
    (void)state;
    struct outq a, b;
    outq_init(&a);
    outq_init(&b);
    struct outq_frame *f = frame_of(1, 100);
    assert_int_equal(outq_push(&a, f), 0);
    assert_int_equal(outq_push(&b, f), 0);
    assert_int_equal(outq_push(&b, f), 0);
    assert_int_equal(f->refs, 4);
    outq_frame_unref(f); /* the builder's reference */
    assert_int_equal(f->refs, 3);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.bytes, 200);
    outq_destroy(&a);
    assert_int_equal(f->refs, 2);
    assert_int_equal(a.count, 0);
    assert_int_equal(a.bytes, 0);
    assert_null(a.ring);
    outq_destroy(&b);       /* the last: freed (ASan would see a leak) */
    outq_frame_unref(NULL); /* harmless */
    outq_destroy(&b);       /* twice: harmless */
}

static void test_order_growth_wrap(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    struct outq q;
    outq_init(&q);
    unsigned next_in = 0, next_out = 0;
    /* push and send in uneven rounds so head wraps the ring and it grows */
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 7 + round; i++) {
            unsigned n = next_in++;
            struct outq_frame *f = frame_of(n, 16 + (size_t)((n + 1) % 5));
            assert_int_equal(outq_push(&q, f), 0);
            outq_frame_unref(f);
        }
        size_t want_bytes = 0;
        for (size_t i = 0; i < q.count; i++)
            want_bytes += q.ring[(q.head + i) & (q.cap - 1)]->len;
        assert_int_equal(q.bytes, want_bytes);
        assert_int_equal(q.cap & (q.cap - 1), 0); /* a power of two */
        assert_int_equal(outq_send(&q, sv[0]), 0);
        assert_int_equal(q.count, 0);
        assert_int_equal(q.bytes, 0);
        unsigned char buf[64];
        ssize_t n;
        while ((n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
            unsigned got;
            memcpy(&got, buf, sizeof(got));
            assert_int_equal(got, next_out);
            assert_int_equal(n, 16 + (next_out + 1) % 5); /* whole frames */
            next_out++;
        }
    }
    assert_int_equal(next_out, next_in);
    outq_destroy(&q);
    close(sv[0]);
    close(sv[1]);
}

static void test_full_socket_resumes(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct outq q;
    outq_init(&q);
    const unsigned total = 2000;
    for (unsigned i = 0; i < total; i++) {
        struct outq_frame *f = frame_of(i, 1000);
        assert_int_equal(outq_push(&q, f), 0);
        outq_frame_unref(f);
    }
    assert_int_equal(q.bytes, total * 1000u);
    /* the peer does not read: the socket fills, the rest waits its turn */
    assert_int_equal(outq_send(&q, sv[0]), 1);
    assert_true(q.count > 0 && q.count < total);
    assert_int_equal(q.bytes, q.count * 1000u);
    unsigned next = 0;
    unsigned char buf[2048];
    while (next < total) {
        ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            int rc = outq_send(&q, sv[0]);
            assert_true(rc == 0 || rc == 1);
            continue;
        }
        assert_int_equal(n, 1000);
        unsigned got;
        memcpy(&got, buf, sizeof(got));
        assert_int_equal(got, next);
        next++;
    }
    assert_int_equal(q.count, 0);
    outq_destroy(&q);
    close(sv[0]);
    close(sv[1]);
}

static void test_broken_connection(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    close(sv[1]);
    struct outq q;
    outq_init(&q);
    struct outq_frame *f = frame_of(7, 32);
    assert_int_equal(outq_push(&q, f), 0);
    outq_frame_unref(f);
    /* no SIGPIPE (MSG_NOSIGNAL): an error, the frame still queued */
    assert_int_equal(outq_send(&q, sv[0]), -EPIPE);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.bytes, 32);
    assert_int_equal(outq_send(&q, -1), -EBADF);
    outq_destroy(&q);
    close(sv[0]);
    /* an empty queue has nothing to send, whatever the descriptor */
    assert_int_equal(outq_send(&q, -1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_frame),
        cmocka_unit_test(test_order_growth_wrap),
        cmocka_unit_test(test_full_socket_resumes),
        cmocka_unit_test(test_broken_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
