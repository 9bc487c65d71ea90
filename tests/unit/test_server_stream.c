/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_stream.c - the server's event stream (src/server/stream.c):
 * what a new subscriber is sent, every applied change in order with the
 * freed buffer's size, who sees which process, the gap and fresh live state
 * of a subscriber that stops reading, and frees told when a process's
 * buffers are dropped. Frames are taken from the subscriber's outq and
 * parsed with proto_parse_frame, as a recorder would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger.h"
#include "outq.h"
#include "proto.h"
#include "stream.h"

/* Everything a subscriber received, parsed. */
struct received {
    unsigned types[4096]; /* frame types in order */
    size_t n_frames;
    struct proto_stream_record *records;
    size_t n_records;
    size_t cap_records;
    struct proto_stream_process procs[16];
    size_t n_procs;
    struct proto_stream_device devs[16];
    size_t n_devs;
};

/* Take every frame out of q (as if the socket took them) into got. */
static void drain(struct outq *q, struct received *got)
{
    for (size_t i = 0; i < q->count; i++) {
        const struct outq_frame *f = q->ring[(q->head + i) & (q->cap - 1)];
        struct proto_header hdr;
        const void *payload;
        assert_int_equal(proto_parse_frame(f->data, f->len, &hdr, &payload, NULL, 0), 0);
        assert_true(got->n_frames < 4096);
        got->types[got->n_frames++] = hdr.type;
        if (hdr.type == PROTO_STREAM_EVENTS) {
            size_t n = hdr.length / sizeof(struct proto_stream_record);
            if (got->n_records + n > got->cap_records) {
                got->cap_records = (got->n_records + n) * 2;
                got->records = realloc(got->records, got->cap_records * sizeof(*got->records));
                assert_non_null(got->records);
            }
            memcpy(got->records + got->n_records, payload, hdr.length);
            got->n_records += n;
        } else if (hdr.type == PROTO_STREAM_PROCESS) {
            assert_true(got->n_procs < 16);
            memcpy(&got->procs[got->n_procs++], payload, sizeof(got->procs[0]));
        } else if (hdr.type == PROTO_STREAM_DEVICE) {
            assert_true(got->n_devs < 16);
            memcpy(&got->devs[got->n_devs++], payload, sizeof(got->devs[0]));
        } else {
            fail_msg("unexpected frame type %u", hdr.type);
        }
    }
    outq_destroy(q);
    outq_init(q);
}

static void received_free(struct received *got)
{
    free(got->records);
    memset(got, 0, sizeof(*got));
}

/* A ledger with one root subscriber whose first frames (an empty live
 * state) are already read. */
struct world {
    struct ledger l;
    struct stream st;
    struct outq q;
    struct stream_sub sub;
    struct received got;
};

static void world_open(struct world *w, size_t events_max)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(ledger_init(&w->l, NULL), 0);
    stream_init(&w->st, &w->l, events_max);
    outq_init(&w->q);
    assert_int_equal(stream_subscribe(&w->st, &w->sub, &w->q, 0, 1), 0);
    drain(&w->q, &w->got);
    received_free(&w->got);
}

static void world_close(struct world *w)
{
    received_free(&w->got);
    stream_destroy(&w->st);
    outq_destroy(&w->q);
    ledger_destroy(&w->l);
}

static struct proto_event event(uint8_t op, uint32_t device, uint8_t type, uint64_t address,
                                uint64_t size, uint64_t t)
{
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.device = device;
    ev.type = type;
    ev.address = address;
    ev.size = size;
    ev.timestamp_ns = t;
    return ev;
}

static struct ledger_process *attach(struct ledger *l, int32_t pid, uint32_t uid)
{
    struct ledger_process *p;
    assert_int_equal(ledger_attach(l, pid, uid, "app", "lbl", 5, &p), 0);
    return p;
}

static void apply(struct ledger *l, struct ledger_process *p, struct proto_event ev)
{
    assert_int_equal(ledger_apply_events(l, p, &ev, 1, NULL), 0);
}

static void test_subscriber_gets_devices_processes_and_live_state(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 42, 1000);
    apply(&l, p, event(PROTO_OP_ALLOC, 1, TTALLOC_DRAM, 0x1000, 4096, 10));
    apply(&l, p, event(PROTO_OP_ALLOC, 1, TTALLOC_L1, 0x20, 64, 11));
    struct ttalloc_device_desc desc = {.board_serial = 7, .board_type = "n300"};
    assert_int_equal(ledger_describe(&l, 42, 1, &desc), 0);

    struct stream st;
    stream_init(&st, &l, 1 << 20);
    struct outq q;
    outq_init(&q);
    struct stream_sub sub;
    assert_null(l.watcher);
    assert_int_equal(stream_subscribe(&st, &sub, &q, 0, 999), 0);
    assert_non_null(l.watcher);
    assert_int_equal(sub.state_bytes,
                     q.bytes - (sizeof(struct proto_header) + sizeof(struct proto_stream_device)) -
                         (sizeof(struct proto_header) + sizeof(struct proto_stream_process)));
    struct received got = {0};
    drain(&q, &got);
    assert_int_equal(got.n_frames, 3);
    assert_int_equal(got.types[0], PROTO_STREAM_DEVICE);
    assert_int_equal(got.types[1], PROTO_STREAM_PROCESS);
    assert_int_equal(got.types[2], PROTO_STREAM_EVENTS);
    assert_int_equal(got.devs[0].device, 1);
    assert_int_equal(got.devs[0].desc.board_serial, 7);
    assert_string_equal(got.devs[0].desc.board_type, "n300");
    assert_int_equal(got.procs[0].pid, 42);
    assert_int_equal(got.procs[0].uid, 1000);
    assert_int_equal(got.procs[0].start_realtime_ns, 5);
    assert_string_equal(got.procs[0].name, "app");
    assert_string_equal(got.procs[0].label, "lbl");
    assert_int_equal(got.n_records, 4);
    assert_int_equal(got.records[0].kind, PROTO_STREAM_LIVE_BEGIN);
    assert_int_equal(got.records[0].size, 2);
    assert_int_equal(got.records[0].timestamp_ns, 999);
    uint64_t bytes = got.records[1].size + got.records[2].size;
    assert_int_equal(bytes, 4096 + 64);
    assert_int_equal(got.records[1].kind, PROTO_STREAM_LIVE_BUFFER);
    assert_int_equal(got.records[1].pid, 42);
    assert_int_equal(got.records[3].kind, PROTO_STREAM_LIVE_END);

    stream_unsubscribe(&st, &sub);
    assert_null(l.watcher);
    received_free(&got);
    outq_destroy(&q);
    stream_destroy(&st);
    ledger_destroy(&l);
}

static void test_changes_arrive_in_order_with_sizes(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, 1 << 20);

    struct ledger_process *p = attach(&w.l, 7, 0);
    stream_process_started(&w.st, p, 3, 2);
    apply(&w.l, p, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x100, 1000, 20));
    apply(&w.l, p, event(PROTO_OP_FREE, 0, TTALLOC_DRAM, 0xbad, 0, 21)); /* not live */
    apply(&w.l, p, event(PROTO_OP_FREE, 0, TTALLOC_DRAM, 0x100, 0, 22));
    apply(&w.l, p, event(PROTO_OP_RESET_PEAK, 0, 0, 0, 0, 23));
    apply(&w.l, p, event(PROTO_OP_ALLOC, 0, TTALLOC_CB, 0x200, 5, 24));
    assert_int_equal(w.q.count, 1); /* the PROCESS frame; records wait for the flush */
    stream_flush(&w.st, 30);
    assert_true(w.sub.dirty);
    ledger_exit(&w.l, p, 0); /* the stream hears of it from the ledger */
    stream_flush(&w.st, 32);
    drain(&w.q, &w.got);

    assert_int_equal(w.got.n_procs, 1);
    assert_int_equal(w.got.procs[0].parent_pid, 3);
    assert_int_equal(w.got.types[0], PROTO_STREAM_PROCESS);
    assert_int_equal(w.got.n_records, 5);
    const uint8_t kinds[] = {PROTO_STREAM_ALLOC, PROTO_STREAM_FREE, PROTO_STREAM_RESET_PEAK,
                             PROTO_STREAM_ALLOC, PROTO_STREAM_EXIT};
    const uint64_t sizes[] = {1000, 1000, 0, 5, 0};
    const uint64_t times[] = {20, 22, 23, 24};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(w.got.records[i].kind, kinds[i]);
        assert_int_equal(w.got.records[i].size, sizes[i]);
        if (i < 4)
            assert_int_equal(w.got.records[i].timestamp_ns, times[i]);
        assert_int_equal(w.got.records[i].pid, 7);
    }
    assert_true(w.got.records[4].timestamp_ns > 0); /* the server's clock at the exit */
    assert_int_equal(w.got.records[3].type, TTALLOC_CB);

    world_close(&w);
}

static void test_another_uid_sees_only_its_own(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *root = attach(&l, 1, 0);
    apply(&l, root, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x1, 10, 1));
    struct stream st;
    stream_init(&st, &l, 1 << 20);
    struct outq q_user, q_root;
    outq_init(&q_user);
    outq_init(&q_root);
    struct stream_sub user, admin;
    assert_int_equal(stream_subscribe(&st, &user, &q_user, 1000, 1), 0);
    assert_int_equal(stream_subscribe(&st, &admin, &q_root, 0, 1), 0);

    struct ledger_process *mine = attach(&l, 2, 1000);
    stream_process_started(&st, mine, 0, 2);
    stream_process_started(&st, root, 0, 2);
    apply(&l, mine, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x2, 20, 3));
    apply(&l, root, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x3, 30, 4));
    ledger_exit(&l, root, 5);
    stream_flush(&st, 6);

    struct received got = {0};
    drain(&q_user, &got);
    assert_int_equal(got.n_procs, 1);
    assert_int_equal(got.procs[0].pid, 2);
    /* LIVE_BEGIN 0, LIVE_END, then its own ALLOC only */
    assert_int_equal(got.n_records, 3);
    assert_int_equal(got.records[0].size, 0);
    assert_int_equal(got.records[2].kind, PROTO_STREAM_ALLOC);
    assert_int_equal(got.records[2].pid, 2);
    received_free(&got);

    drain(&q_root, &got);
    assert_int_equal(got.n_procs, 3); /* pid 1 at subscribe, then pids 2 and 1 */
    /* LIVE_BEGIN 1, the buffer, LIVE_END, two ALLOCs, EXIT */
    assert_int_equal(got.n_records, 6);
    assert_int_equal(got.records[0].size, 1);
    assert_int_equal(got.records[5].kind, PROTO_STREAM_EXIT);
    received_free(&got);

    stream_destroy(&st);
    assert_null(l.watcher);
    outq_destroy(&q_user);
    outq_destroy(&q_root);
    ledger_destroy(&l);
}

static void test_a_stalled_subscriber_gets_a_gap_and_exact_state(void **state)
{
    (void)state;
    const size_t events_max = 64 * 1024;
    struct world w;
    world_open(&w, events_max);

    /* 20,000 changes, never read: far more than 64 KiB of records. */
    struct ledger_process *p = attach(&w.l, 9, 0);
    const size_t n = 10000;
    for (size_t i = 0; i < n; i++) {
        apply(&w.l, p, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x1000 + i * 16, 16, i));
        if (i % 4 != 0)
            apply(&w.l, p, event(PROTO_OP_FREE, 0, TTALLOC_DRAM, 0x1000 + i * 16, 0, i));
        stream_flush(&w.st, i);
    }
    size_t changes = n + n - (n + 3) / 4;
    assert_true(w.sub.lost > 0);
    /* What is held stays near the bound, not proportional to the changes. */
    assert_true(w.q.bytes <= events_max + w.sub.state_bytes + PROTO_MAX_FRAME);
    uint64_t lost = w.sub.lost;

    /* Still behind: no gap yet. */
    stream_flush(&w.st, n);
    assert_int_equal(w.sub.gaps, 0);
    /* It reads everything: the next flush sends GAP and the live state. */
    drain(&w.q, &w.got);
    size_t delivered = w.got.n_records;
    stream_flush(&w.st, n + 1);
    assert_int_equal(w.sub.gaps, 1);
    assert_int_equal(w.sub.lost, 0);
    assert_int_equal(w.st.lost_total, lost);
    size_t before = w.got.n_records;
    drain(&w.q, &w.got);
    const struct proto_stream_record *r = w.got.records + before;
    assert_int_equal(r[0].kind, PROTO_STREAM_GAP);
    assert_int_equal(r[0].size, lost);
    assert_int_equal(delivered + lost, changes);
    assert_int_equal(r[1].kind, PROTO_STREAM_LIVE_BEGIN);
    assert_int_equal(r[1].size, (n + 3) / 4);
    uint64_t bytes = 0;
    for (size_t i = 0; i < r[1].size; i++) {
        assert_int_equal(r[2 + i].kind, PROTO_STREAM_LIVE_BUFFER);
        assert_int_equal((r[2 + i].address - 0x1000) / 16 % 4, 0);
        bytes += r[2 + i].size;
    }
    assert_int_equal(bytes, 16 * ((n + 3) / 4));
    assert_int_equal(r[2 + r[1].size].kind, PROTO_STREAM_LIVE_END);

    /* Caught up: changes flow again. */
    apply(&w.l, p, event(PROTO_OP_ALLOC, 0, TTALLOC_L1, 0x5, 8, n + 2));
    stream_flush(&w.st, n + 3);
    before = w.got.n_records;
    drain(&w.q, &w.got);
    assert_int_equal(w.got.n_records, before + 1);
    assert_int_equal(w.got.records[before].kind, PROTO_STREAM_ALLOC);

    world_close(&w);
}

static void test_an_exit_while_behind_keeps_its_leaks_exact(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, 4096);

    struct ledger_process *p = attach(&w.l, 30, 0);
    struct ledger_process *other = attach(&w.l, 31, 0);
    apply(&w.l, other, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x9, 9, 1));
    for (size_t i = 0; i < 2000; i++) {
        apply(&w.l, p, event(PROTO_OP_ALLOC, 0, TTALLOC_DRAM, 0x1000 + i * 16, 16, i));
        stream_flush(&w.st, i);
    }
    assert_true(w.sub.lost > 0);
    /* It ends while the subscriber is behind, holding 2,000 buffers. */
    ledger_exit(&w.l, p, 0);
    assert_int_equal(w.sub.n_exits, 1);
    assert_int_equal(w.sub.n_exit_buffers, 2000);
    drain(&w.q, &w.got);
    size_t before = w.got.n_records;
    stream_flush(&w.st, 5000);
    drain(&w.q, &w.got);
    const struct proto_stream_record *r = w.got.records + before;
    size_t n = w.got.n_records - before;
    assert_int_equal(r[0].kind, PROTO_STREAM_GAP);
    assert_int_equal(r[1].kind, PROTO_STREAM_LIVE_BEGIN);
    assert_int_equal(r[1].size, 2001); /* pid 31's buffer and pid 30's 2,000 */
    size_t of_30 = 0;
    for (size_t i = 0; i < 2001; i++)
        of_30 += r[2 + i].pid == 30;
    assert_int_equal(of_30, 2000);
    assert_int_equal(r[2 + 2001].kind, PROTO_STREAM_LIVE_END);
    assert_int_equal(n, 2 + 2001 + 2);
    assert_int_equal(r[n - 1].kind, PROTO_STREAM_EXIT);
    assert_int_equal(r[n - 1].pid, 30);
    assert_int_equal(w.sub.n_exits, 0);

    world_close(&w);
}

static void test_dropped_buffers_are_told_as_frees(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    /* Through a stream and the merge, as the server applies a producer's events. */
    struct ledger_process *p = attach(&l, 5, 0);
    struct ledger_stream *s;
    assert_int_equal(ledger_stream_open(&l, p, &s), 0);
    struct proto_event evs[2] = {event(PROTO_OP_ALLOC, 2, TTALLOC_TRACE, 0x10, 100, 7),
                                 event(PROTO_OP_ALLOC, 2, TTALLOC_TRACE, 0x20, 200, 8)};
    assert_int_equal(ledger_submit(&l, s, evs, 2, 100, NULL), 0);
    assert_int_equal(p->table.count, 2);
    struct stream st;
    stream_init(&st, &l, 1 << 20);
    struct outq q;
    outq_init(&q);
    struct stream_sub sub;
    assert_int_equal(stream_subscribe(&st, &sub, &q, 0, 9), 0);
    struct received got = {0};
    drain(&q, &got);
    size_t before = got.n_records;
    assert_int_equal(ledger_forget(&l, p), 2);
    stream_flush(&st, 10);
    drain(&q, &got);
    assert_int_equal(got.n_records, before + 2);
    uint64_t bytes = 0;
    for (size_t i = before; i < got.n_records; i++) {
        assert_int_equal(got.records[i].kind, PROTO_STREAM_FREE);
        assert_int_equal(got.records[i].timestamp_ns, 8); /* its last event's time */
        bytes += got.records[i].size;
    }
    assert_int_equal(bytes, 300);
    received_free(&got);
    ledger_stream_close(&l, s, 200);
    stream_destroy(&st);
    outq_destroy(&q);
    ledger_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscriber_gets_devices_processes_and_live_state),
        cmocka_unit_test(test_changes_arrive_in_order_with_sizes),
        cmocka_unit_test(test_another_uid_sees_only_its_own),
        cmocka_unit_test(test_a_stalled_subscriber_gets_a_gap_and_exact_state),
        cmocka_unit_test(test_an_exit_while_behind_keeps_its_leaks_exact),
        cmocka_unit_test(test_dropped_buffers_are_told_as_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
