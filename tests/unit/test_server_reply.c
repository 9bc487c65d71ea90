/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_reply.c - the server's answer frames (src/server/reply.c) and
 * output queue (src/server/outq.c): every frame built parses with
 * proto_parse_frame, arrays split at PROTO_MAX_FRAME and survive reassembly,
 * and a queue sends whole frames over a real SOCK_SEQPACKET pair.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger.h"
#include "outq.h"
#include "proto.h"
#include "reply.h"

/* Parse frame i of r; check its type; return its payload and length. */
static const void *frame_payload(const struct reply *r, size_t i, enum proto_msg_type type,
                                 size_t *len)
{
    struct proto_header hdr;
    const void *payload = NULL;
    assert_true(i < r->n);
    assert_int_equal(
        proto_parse_frame(r->frames[i]->data, r->frames[i]->len, &hdr, &payload, NULL, 0), 0);
    assert_int_equal(hdr.type, type);
    *len = hdr.length;
    return payload;
}

static void test_empty_snapshot(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct reply r;
    reply_init(&r);
    struct proto_snap_begin head = {.seq = 9, .clients = 2, .server_pid = 77};
    assert_int_equal(reply_snapshot(&r, &l, &head), 0);
    assert_int_equal(r.n, 2); /* BEGIN and END only: empty arrays send no frame */
    size_t len;
    const struct proto_snap_begin *b = frame_payload(&r, 0, PROTO_SNAP_BEGIN, &len);
    assert_int_equal(len, sizeof(*b));
    assert_int_equal(b->seq, 9);
    assert_int_equal(b->clients, 2);
    assert_int_equal(b->server_pid, 77);
    assert_int_equal(b->n_devices, 0);
    frame_payload(&r, 1, PROTO_SNAP_END, &len);
    assert_int_equal(len, 0);
    reply_release(&r);
    ledger_destroy(&l);
}

static void test_snapshot_split(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    /* 1000 processes on 3 devices: more than one frame of each array. */
    enum { PROCS = 1000, DEVS = 3 };
    for (int32_t pid = 1; pid <= PROCS; pid++) {
        struct ledger_process *p;
        assert_int_equal(ledger_attach(&l, pid, 0, "p", NULL, 0, &p), 0);
        for (uint32_t d = 0; d < DEVS; d++) {
            struct proto_event ev = {.address = 1,
                                     .size = (uint64_t)pid * 10 + d,
                                     .device = d,
                                     .type = TTALLOC_DRAM,
                                     .op = PROTO_OP_ALLOC};
            assert_int_equal(ledger_apply_events(&l, p, &ev, 1, NULL), 0);
        }
    }
    struct reply r;
    reply_init(&r);
    struct proto_snap_begin head = {.seq = 1};
    assert_int_equal(reply_snapshot(&r, &l, &head), 0);

    size_t len, i = 0;
    const struct proto_snap_begin *b = frame_payload(&r, i++, PROTO_SNAP_BEGIN, &len);
    assert_int_equal(b->n_devices, DEVS);
    assert_int_equal(b->n_processes, PROCS);
    assert_int_equal(b->n_usage, PROCS * DEVS);

    const struct ttalloc_device_stats *ds = frame_payload(&r, i++, PROTO_SNAP_DEVICES, &len);
    assert_int_equal(len, DEVS * sizeof(*ds));
    assert_int_equal(ds[2].device, 2);
    assert_int_equal(ds[2].processes, PROCS);

    size_t procs = 0, frames = 0;
    int32_t last_pid = 0;
    while (procs < PROCS) {
        const struct ttalloc_process_info *pi = frame_payload(&r, i++, PROTO_SNAP_PROCESSES, &len);
        assert_true(len + sizeof(struct proto_header) <= PROTO_MAX_FRAME);
        for (size_t k = 0; k < len / sizeof(*pi); k++) {
            assert_true(pi[k].pid > last_pid);
            last_pid = pi[k].pid;
            uint64_t want = (uint64_t)pi[k].pid * 10 * DEVS + 0 + 1 + 2;
            assert_int_equal(pi[k].bytes, want);
        }
        procs += len / sizeof(*pi);
        frames++;
    }
    assert_int_equal(procs, PROCS);
    assert_int_equal(frames,
                     (PROCS + proto_records_per_frame(sizeof(struct ttalloc_process_info)) - 1) /
                         proto_records_per_frame(sizeof(struct ttalloc_process_info)));
    size_t usage = 0;
    while (usage < PROCS * DEVS) {
        const struct ttalloc_usage *u = frame_payload(&r, i++, PROTO_SNAP_USAGE, &len);
        usage += len / sizeof(*u);
    }
    assert_int_equal(usage, PROCS * DEVS);
    frame_payload(&r, i++, PROTO_SNAP_END, &len);
    assert_int_equal(i, r.n);
    reply_release(&r);
    ledger_destroy(&l);
}

static void test_buffers_and_exits(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p;
    assert_int_equal(ledger_attach(&l, 5, 0, "p", NULL, 0, &p), 0);
    enum { N = 6000 };
    for (uint64_t k = 0; k < N; k++) {
        struct proto_event ev = {
            .address = k, .size = k + 1, .device = 0, .type = TTALLOC_L1, .op = PROTO_OP_ALLOC};
        assert_int_equal(ledger_apply_events(&l, p, &ev, 1, NULL), 0);
    }
    struct reply r;
    reply_init(&r);
    assert_int_equal(reply_buffers(&r, p, N), 0);
    size_t len, got = 0, i = 0;
    uint64_t prev = UINT64_MAX;
    while (got < N) {
        const struct ttalloc_buffer *b = frame_payload(&r, i++, PROTO_BUFFERS, &len);
        for (size_t k = 0; k < len / sizeof(*b); k++) {
            assert_true(b[k].size < prev);
            prev = b[k].size;
        }
        got += len / sizeof(*b);
    }
    assert_int_equal(prev, 1);
    frame_payload(&r, i++, PROTO_BUFFERS_END, &len);
    assert_int_equal(i, r.n);
    reply_release(&r);

    /* No process, or max 0: just the end frame. */
    assert_int_equal(reply_buffers(&r, NULL, 10), 0);
    assert_int_equal(r.n, 1);
    frame_payload(&r, 0, PROTO_BUFFERS_END, &len);
    reply_release(&r);

    assert_int_equal(reply_exits(&r, &l), 0);
    assert_int_equal(r.n, 1);
    frame_payload(&r, 0, PROTO_EXITS_END, &len);
    reply_release(&r);
    assert_int_equal(ledger_exit(&l, p, 1), 1);
    assert_int_equal(reply_exits(&r, &l), 0);
    assert_int_equal(r.n, 2);
    const struct ttalloc_exit *ex = frame_payload(&r, 0, PROTO_EXITS, &len);
    assert_int_equal(len, sizeof(*ex));
    assert_int_equal(ex->pid, 5);
    assert_int_equal(ex->buffers[TTALLOC_L1], N);
    reply_release(&r);
    ledger_destroy(&l);
}

static void test_reply_add_limits(void **state)
{
    (void)state;
    struct reply r;
    reply_init(&r);
    static unsigned char big[PROTO_MAX_FRAME];
    assert_int_equal(
        reply_add(&r, PROTO_BUFFERS, big, PROTO_MAX_FRAME - sizeof(struct proto_header) + 1),
        -EMSGSIZE);
    assert_int_equal(reply_add(&r, PROTO_ERROR, big, PROTO_MAX_FRAME - sizeof(struct proto_header)),
                     0);
    assert_int_equal(r.frames[0]->len, PROTO_MAX_FRAME);
    assert_int_equal(reply_add_records(&r, PROTO_BUFFERS, big, 0, 24), 0);
    assert_int_equal(r.n, 1);
    reply_release(&r);
}

static void test_outq_socketpair(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    struct outq q;
    outq_init(&q);
    struct reply r;
    reply_init(&r);
    /* Enough 64 KiB frames to fill the socket: the queue must keep the rest. */
    static unsigned char payload[PROTO_MAX_FRAME - sizeof(struct proto_header)];
    enum { FRAMES = 200 };
    for (int i = 0; i < FRAMES; i++) {
        payload[0] = (unsigned char)i;
        assert_int_equal(reply_add(&r, PROTO_ERROR, payload, sizeof(payload)), 0);
    }
    for (size_t i = 0; i < r.n; i++)
        assert_int_equal(outq_push(&q, r.frames[i]), 0);
    /* The same frame in two queues: references, not copies. */
    struct outq q2;
    outq_init(&q2);
    assert_int_equal(outq_push(&q2, r.frames[0]), 0);
    assert_int_equal(r.frames[0]->refs, 3);
    reply_release(&r);
    assert_int_equal(q.bytes, (size_t)FRAMES * PROTO_MAX_FRAME);

    int rc = outq_send(&q, sv[0]);
    assert_int_equal(rc, 1); /* the socket filled up */
    assert_true(q.count > 0 && q.count < FRAMES);

    static unsigned char rx[PROTO_MAX_FRAME + 1];
    int received = 0;
    while (received < FRAMES) {
        ssize_t n = recv(sv[1], rx, sizeof(rx), MSG_DONTWAIT);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            assert_true(outq_send(&q, sv[0]) >= 0);
            continue;
        }
        assert_int_equal(n, PROTO_MAX_FRAME);
        assert_int_equal(rx[sizeof(struct proto_header)], (unsigned char)received);
        received++;
    }
    assert_int_equal(outq_send(&q, sv[0]), 0);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);

    /* A closed peer is an error, not a hang. */
    close(sv[1]);
    assert_true(outq_send(&q2, sv[0]) < 0);
    outq_destroy(&q2);
    outq_destroy(&q);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_snapshot),    cmocka_unit_test(test_snapshot_split),
        cmocka_unit_test(test_buffers_and_exits), cmocka_unit_test(test_reply_add_limits),
        cmocka_unit_test(test_outq_socketpair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
