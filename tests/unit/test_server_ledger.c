/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_ledger.c - the server's accounting (src/server/ledger.c): allocs,
 * frees, reallocs of live keys, unknown frees, resync, peaks, device totals,
 * process death and exit records, limits, and extremes; the merge of a
 * process's streams in timestamp order, hostile timestamps, peak resets and
 * peaks carried by a resync.
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

static struct proto_event ev_alloc(uint32_t device, uint8_t type, uint64_t address, uint64_t size)
{
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.address = address;
    ev.size = size;
    ev.device = device;
    ev.type = type;
    ev.op = PROTO_OP_ALLOC;
    return ev;
}

static struct proto_event ev_free(uint32_t device, uint8_t type, uint64_t address)
{
    struct proto_event ev = ev_alloc(device, type, address, 0);
    ev.op = PROTO_OP_FREE;
    return ev;
}

static int apply1(struct ledger *l, struct ledger_process *p, struct proto_event ev)
{
    return ledger_apply_events(l, p, &ev, 1, NULL);
}

static struct ledger_device *find_device(const struct ledger *l, uint32_t device)
{
    for (size_t i = 0; i < l->n_devs; i++) {
        if (l->devs[i]->stats.device == device)
            return l->devs[i];
    }
    return NULL;
}

static struct ledger_process *attach(struct ledger *l, int32_t pid)
{
    struct ledger_process *p = NULL;
    assert_int_equal(ledger_attach(l, pid, 1000, "proc", NULL, 42, &p), 0);
    assert_non_null(p);
    return p;
}

static void test_alloc_free(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);

    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x1000, 4096)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_L1, 0x1000, 100)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(1, TTALLOC_DRAM, 0x1000, 7)), 0);
    assert_int_equal(p->bytes, 4096 + 100 + 7);
    assert_int_equal(p->table.count, 3);
    assert_int_equal(l.live_buffers, 3);

    struct ledger_device *d0 = find_device(&l, 0);
    struct ledger_device *d1 = find_device(&l, 1);
    assert_non_null(d0);
    assert_non_null(d1);
    assert_int_equal(d0->stats.used[TTALLOC_DRAM], 4096);
    assert_int_equal(d0->stats.used[TTALLOC_L1], 100);
    assert_int_equal(d0->stats.buffers, 2);
    assert_int_equal(d0->stats.processes, 1);
    assert_int_equal(d1->stats.used[TTALLOC_DRAM], 7);

    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x1000)), 0);
    assert_int_equal(d0->stats.used[TTALLOC_DRAM], 0);
    assert_int_equal(d0->stats.peak[TTALLOC_DRAM], 4096);
    assert_int_equal(d0->stats.buffers, 1);
    assert_int_equal(p->bytes, 107);
    assert_int_equal(p->peak_bytes, 4096 + 100 + 7);
    assert_int_equal(l.counters.events_total, 4);

    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_L1, 0x1000)), 0);
    assert_int_equal(d0->stats.processes, 0);
    assert_int_equal(d0->stats.buffers, 0);
    ledger_destroy(&l);
}

static void test_realloc_live_and_unknown_free(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);

    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x40, 1000)), 0);
    /* Same key again: the size is replaced, not added. */
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x40, 300)), 0);
    assert_int_equal(l.counters.live_reallocs, 1);
    assert_int_equal(p->bytes, 300);
    assert_int_equal(p->table.count, 1);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 300);
    assert_int_equal(find_device(&l, 0)->stats.buffers, 1);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], 1000);

    /* Unknown frees: counted, nothing goes below zero. */
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x41)), 0);
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_L1, 0x40)), 0);
    assert_int_equal(apply1(&l, p, ev_free(9, TTALLOC_DRAM, 0x40)), 0);
    assert_int_equal(l.counters.unknown_frees, 3);
    assert_int_equal(p->bytes, 300);
    assert_null(find_device(&l, 9)); /* a free never creates a device */

    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x40)), 0);
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x40)), 0);
    assert_int_equal(l.counters.unknown_frees, 4);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->stats.buffers, 0);
    assert_int_equal(l.live_buffers, 0);
    ledger_destroy(&l);
}

static void test_malformed_events(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);

    struct proto_event batch[4] = {
        ev_alloc(0, TTALLOC_DRAM, 0x10, 10),
        ev_alloc(0, TTALLOC_DRAM, 0x20, 20),
        ev_alloc(0, 6, 0x30, 30), /* unknown type */
        ev_alloc(0, TTALLOC_DRAM, 0x40, 40),
    };
    size_t done = 99;
    assert_int_equal(ledger_apply_events(&l, p, batch, 4, &done), -EINVAL);
    assert_int_equal(done, 2);
    assert_int_equal(p->bytes, 30);

    struct proto_event bad_op = ev_alloc(0, TTALLOC_DRAM, 0x50, 1);
    bad_op.op = 0;
    assert_int_equal(apply1(&l, p, bad_op), -EINVAL);
    bad_op.op = 4;
    assert_int_equal(apply1(&l, p, bad_op), -EINVAL);
    bad_op.op = 255;
    assert_int_equal(apply1(&l, p, bad_op), -EINVAL);
    assert_int_equal(apply1(&l, p, ev_alloc(0, 255, 0x50, 1)), -EINVAL);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x50, 0)), -EINVAL);
    assert_int_equal(p->bytes, 30);
    assert_int_equal(p->table.count, 2);
    assert_int_equal(l.counters.events_total, 2);
    ledger_destroy(&l);
}

static void test_extremes(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, INT32_MAX);
    const uint64_t max = LEDGER_MAX_BYTES;

    /* Implausible sizes (more than any board has) are malformed, whatever else is live. */
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, 1ull << 63)), -EINVAL);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, UINT64_MAX)), -EINVAL);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, max + 1)), -EINVAL);
    assert_int_equal(p->table.count, 0);

    assert_int_equal(apply1(&l, p, ev_alloc(UINT32_MAX, TTALLOC_CB, UINT64_MAX, max)), 0);
    struct ledger_device *d = find_device(&l, UINT32_MAX);
    assert_non_null(d);
    assert_int_equal(d->stats.used[TTALLOC_CB], max);
    /* One more byte of the same type on the same device: refused, nothing changed. */
    assert_int_equal(apply1(&l, p, ev_alloc(UINT32_MAX, TTALLOC_CB, 0, 1)), -EINVAL);
    assert_int_equal(d->stats.used[TTALLOC_CB], max);
    assert_int_equal(p->bytes, max);
    assert_int_equal(p->table.count, 1);
    /* Another type or device has its own bound. */
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, max - 1)), 0);
    assert_int_equal(p->bytes, 2 * max - 1);
    /* Growing a live buffer past the bound is refused too; shrinking one is fine. */
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, max + 1)), -EINVAL);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, max)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0, 1)), 0);
    assert_int_equal(p->bytes, max + 1);

    assert_int_equal(apply1(&l, p, ev_free(UINT32_MAX, TTALLOC_CB, UINT64_MAX)), 0);
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0)), 0);
    assert_int_equal(d->stats.used[TTALLOC_CB], 0);
    assert_int_equal(d->stats.peak[TTALLOC_CB], max);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(p->peak_bytes, 2 * max);

    /* Negative and zero PIDs are just keys to the ledger. */
    struct ledger_process *q = attach(&l, INT32_MIN);
    assert_int_equal(apply1(&l, q, ev_alloc(0, TTALLOC_L1, 1, 1)), 0);
    assert_ptr_equal(ledger_find(&l, INT32_MIN), q);
    assert_ptr_equal(l.procs[0], q);
    ledger_destroy(&l);
}

static void test_many_buffers_memory(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 7);
    enum { N = 200000, BATCH = 1000 };
    struct proto_event *batch = calloc(BATCH, sizeof(*batch));
    assert_non_null(batch);
    uint64_t want = 0;

    for (size_t i = 0; i < N; i += BATCH) {
        for (size_t j = 0; j < BATCH; j++) {
            uint64_t k = i + j;
            batch[j] =
                ev_alloc((uint32_t)(k % 8), (uint8_t)(k % TTALLOC_NUM_TYPES), k * 4096, k + 1);
            want += k + 1;
        }
        assert_int_equal(ledger_apply_events(&l, p, batch, BATCH, NULL), 0);
    }
    assert_int_equal(p->table.count, N);
    assert_int_equal(p->bytes, want);
    assert_int_equal(p->n_usage, 8);
    uint64_t sum = 0;
    for (size_t i = 0; i < l.n_devs; i++) {
        for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++)
            sum += l.devs[i]->stats.used[t];
    }
    assert_int_equal(sum, want);
    /* Server memory per live buffer stays within the 64-byte bar. */
    assert_true(ledger_buffer_memory(&l) <= (size_t)64 * N);

    /* Free every other one. */
    for (size_t i = 0; i < N; i += 2 * BATCH) {
        size_t n = 0;
        for (size_t k = i; k < i + 2 * BATCH && k < N; k += 2) {
            batch[n++] = ev_free((uint32_t)(k % 8), (uint8_t)(k % TTALLOC_NUM_TYPES), k * 4096);
            want -= k + 1;
        }
        assert_int_equal(ledger_apply_events(&l, p, batch, n, NULL), 0);
    }
    assert_int_equal(p->table.count, N / 2);
    assert_int_equal(p->bytes, want);
    assert_int_equal(l.counters.unknown_frees, 0);
    free(batch);
    ledger_destroy(&l);
}

static void test_peaks_and_processes_per_device(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *a = attach(&l, 10);
    struct ledger_process *b = attach(&l, 20);

    assert_int_equal(apply1(&l, a, ev_alloc(3, TTALLOC_L1, 0, 100)), 0);
    assert_int_equal(apply1(&l, b, ev_alloc(3, TTALLOC_L1, 0, 50)),
                     0); /* same key, other process */
    struct ledger_device *d = find_device(&l, 3);
    assert_int_equal(d->stats.used[TTALLOC_L1], 150);
    assert_int_equal(d->stats.processes, 2);
    assert_int_equal(d->stats.buffers, 2);
    assert_int_equal(apply1(&l, a, ev_free(3, TTALLOC_L1, 0)), 0);
    assert_int_equal(d->stats.processes, 1);
    assert_int_equal(apply1(&l, b, ev_alloc(3, TTALLOC_L1, 8, 200)), 0);
    assert_int_equal(d->stats.used[TTALLOC_L1], 250);
    assert_int_equal(d->stats.peak[TTALLOC_L1], 250);

    /* Usage records: ascending (pid, device), with per-usage peaks. */
    assert_int_equal(ledger_count_usage(&l), 2);
    struct ttalloc_usage u[2];
    ledger_fill_usage(&l, u);
    assert_int_equal(u[0].pid, 10);
    assert_int_equal(u[0].bytes[TTALLOC_L1], 0);
    assert_int_equal(u[0].peak[TTALLOC_L1], 100);
    assert_int_equal(u[0].buffers, 0);
    assert_int_equal(u[1].pid, 20);
    assert_int_equal(u[1].bytes[TTALLOC_L1], 250);
    assert_int_equal(u[1].buffers, 2);

    struct ttalloc_device_stats ds;
    ledger_fill_devices(&l, &ds);
    assert_int_equal(ds.device, 3);
    assert_int_equal(ds.used[TTALLOC_L1], 250);
    assert_int_equal(ds.processes, 1);
    assert_int_equal(ds.flags, 0);

    struct ttalloc_process_info pi[2];
    ledger_fill_processes(&l, pi);
    assert_int_equal(pi[0].pid, 10);
    assert_int_equal(pi[0].peak_bytes, 100);
    assert_int_equal(pi[0].flags, TTALLOC_PROCESS_CONNECTED);
    assert_int_equal(pi[1].bytes, 250);
    ledger_detach(&l, a);
    ledger_fill_processes(&l, pi);
    assert_int_equal(pi[0].flags, 0);
    ledger_destroy(&l);
}

static void test_describe(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    desc.board_serial = 0x1234;
    desc.asic_id = 0xabcd;
    desc.capacity[TTALLOC_DRAM] = 12ull << 30;
    desc.is_remote = 1;
    memset(desc.board_type, 'x', sizeof(desc.board_type)); /* no NUL: must be cut */
    assert_int_equal(ledger_describe(&l, 1, 5, &desc), 0);
    struct ttalloc_device_stats ds;
    ledger_fill_devices(&l, &ds);
    assert_int_equal(ds.flags, TTALLOC_DEVICE_DESCRIBED | TTALLOC_DEVICE_REMOTE);
    assert_int_equal(ds.total[TTALLOC_DRAM], 12ull << 30);
    assert_int_equal(ds.board_serial, 0x1234);
    assert_int_equal(strlen(ds.board_type), sizeof(ds.board_type) - 1);
    desc.is_remote = 0;
    strcpy(desc.board_type, "n300");
    assert_int_equal(ledger_describe(&l, 1, 5, &desc), 0);
    ledger_fill_devices(&l, &ds);
    assert_int_equal(ds.flags, TTALLOC_DEVICE_DESCRIBED);
    assert_string_equal(ds.board_type, "n300");
    ledger_destroy(&l);
}

static void test_resync(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_process *other = attach(&l, 200);
    assert_int_equal(apply1(&l, other, ev_alloc(0, TTALLOC_DRAM, 1, 1000)), 0);

    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x10, 10)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x20, 20)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(1, TTALLOC_L1, 0x20, 5)), 0);

    struct ledger_stream *s = NULL;
    assert_int_equal(ledger_stream_open(&l, p, &s), 0);
    assert_int_equal(ledger_resync_begin(&l, s), 3);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 1000);
    assert_int_equal(find_device(&l, 0)->stats.processes, 1);
    assert_int_equal(find_device(&l, 1)->stats.processes, 0);

    struct proto_event replay[2] = {ev_alloc(0, TTALLOC_DRAM, 0x20, 20),
                                    ev_alloc(0, TTALLOC_DRAM, 0x30, 30)};
    struct proto_event bad;
    assert_int_equal(ledger_submit(&l, s, replay, 2, 1000, &bad), 0);
    assert_int_equal(ledger_resync_end(&l, s, 2, 50), 0);
    assert_int_equal(l.counters.resync_mismatches, 0);
    assert_int_equal(ledger_resync_end(&l, s, 3, 50), -EBADMSG);
    assert_int_equal(ledger_resync_end(&l, s, 2, 51), -EBADMSG);
    ledger_stream_close(&l, s, 1000);
    assert_int_equal(l.counters.resync_mismatches, 2);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 1050);
    assert_int_equal(find_device(&l, 0)->stats.buffers, 3);
    /* The old 0x10 is gone: freeing it now is an unknown free. */
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x10)), 0);
    assert_int_equal(l.counters.unknown_frees, 1);
    ledger_destroy(&l);
}

static void test_exit_records(void **state)
{
    (void)state;
    struct ledger l;
    struct ledger_limits limits = {.exit_ring = 3};
    assert_int_equal(ledger_init(&l, &limits), 0);

    struct ledger_process *clean = attach(&l, 5);
    assert_int_equal(apply1(&l, clean, ev_alloc(0, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, clean, ev_free(0, TTALLOC_DRAM, 1)), 0);
    assert_int_equal(ledger_exit(&l, clean, 1000), 0);
    assert_int_equal(l.counters.exits_total, 1);
    assert_int_equal(l.counters.leaked_exits_total, 0);
    assert_null(ledger_find(&l, 5));

    struct ledger_process *leaky = NULL;
    assert_int_equal(ledger_attach(&l, 6, 77, "python3", "job", 1, &leaky), 0);
    assert_int_equal(apply1(&l, leaky, ev_alloc(0, TTALLOC_DRAM, 1, 1ull << 30)), 0);
    assert_int_equal(apply1(&l, leaky, ev_alloc(0, TTALLOC_DRAM, 2, 1ull << 29)), 0);
    assert_int_equal(apply1(&l, leaky, ev_alloc(2, TTALLOC_L1, 2, 64)), 0);
    assert_int_equal(apply1(&l, leaky, ev_alloc(1, TTALLOC_L1, 2, 64)), 0);
    assert_int_equal(apply1(&l, leaky, ev_free(1, TTALLOC_L1, 2)), 0);
    assert_int_equal(ledger_exit(&l, leaky, 2000), 2); /* devices 0 and 2 */
    assert_int_equal(l.counters.exits_total, 2);
    assert_int_equal(l.counters.leaked_exits_total, 1);
    assert_int_equal(l.live_buffers, 0);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->stats.processes, 0);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], (1ull << 30) + (1ull << 29));

    assert_int_equal(l.n_exits, 2);
    struct ttalloc_exit ex[3];
    ledger_fill_exits(&l, ex);
    assert_int_equal(ex[0].pid, 6);
    assert_int_equal(ex[0].uid, 77);
    assert_string_equal(ex[0].name, "python3");
    assert_int_equal(ex[0].time_ns, 2000);
    assert_int_equal(ex[0].device, 0);
    assert_int_equal(ex[0].bytes[TTALLOC_DRAM], (1ull << 30) + (1ull << 29));
    assert_int_equal(ex[0].buffers[TTALLOC_DRAM], 2);
    assert_int_equal(ex[1].device, 2);
    assert_int_equal(ex[1].bytes[TTALLOC_L1], 64);
    assert_int_equal(ex[1].buffers[TTALLOC_L1], 1);

    /* The ring keeps the newest 3, oldest first. */
    for (int32_t pid = 100; pid < 103; pid++) {
        struct ledger_process *p = attach(&l, pid);
        assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 1, (uint64_t)pid)), 0);
        assert_int_equal(ledger_exit(&l, p, (uint64_t)pid), 1);
    }
    assert_int_equal(l.n_exits, 3);
    ledger_fill_exits(&l, ex);
    assert_int_equal(ex[0].pid, 100);
    assert_int_equal(ex[1].pid, 101);
    assert_int_equal(ex[2].pid, 102);
    assert_int_equal(ex[2].bytes[TTALLOC_DRAM], 102);
    assert_int_equal(l.counters.leaked_exits_total, 4);
    assert_int_equal(l.n_procs, 0);
    ledger_destroy(&l);
}

/* One process at the bound of a shared device: another process's allocs on
 * that device still succeed (the refusal depends on the sender only). */
static void test_overflow_only_hits_sender(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *a = attach(&l, 10);
    struct ledger_process *b = NULL;
    assert_int_equal(ledger_attach(&l, 11, 2000, "victim", NULL, 1, &b), 0);
    for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++)
        assert_int_equal(apply1(&l, a, ev_alloc(0, (uint8_t)t, 1, LEDGER_MAX_BYTES)), 0);
    assert_int_equal(apply1(&l, a, ev_alloc(0, TTALLOC_DRAM, 2, 1)), -EINVAL);
    assert_int_equal(apply1(&l, b, ev_alloc(0, TTALLOC_DRAM, 1, 4096)), 0);
    assert_int_equal(b->bytes, 4096);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], LEDGER_MAX_BYTES + 4096);
    ledger_destroy(&l);
}

/* Per-uid caps: live buffers and devices of all a uid's processes together;
 * another uid and root are unaffected. */
static void test_uid_caps(void **state)
{
    (void)state;
    struct quota_limits caps = {.max_conns = 2, .max_buffers = 3, .max_devices = 2};
    struct ledger_limits limits = {.per_uid = &caps};
    struct ledger l;
    assert_int_equal(ledger_init(&l, &limits), 0);
    struct ledger_process *a1 = NULL, *a2 = NULL, *b = NULL, *r = NULL;
    assert_int_equal(ledger_attach(&l, 1, 1000, "a1", NULL, 1, &a1), 0);
    assert_int_equal(ledger_attach(&l, 2, 1000, "a2", NULL, 1, &a2), 0);
    assert_int_equal(ledger_attach(&l, 3, 2000, "b", NULL, 1, &b), 0);
    assert_int_equal(ledger_attach(&l, 4, 0, "root", NULL, 1, &r), 0);
    assert_ptr_equal(a1->user, a2->user);

    assert_int_equal(apply1(&l, a1, ev_alloc(0, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, a2, ev_alloc(0, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, a2, ev_alloc(0, TTALLOC_DRAM, 2, 1)), 0);
    assert_int_equal(apply1(&l, a1, ev_alloc(0, TTALLOC_DRAM, 2, 1)), -EDQUOT);
    /* Replacing a live key is no new buffer. */
    assert_int_equal(apply1(&l, a1, ev_alloc(0, TTALLOC_DRAM, 1, 5)), 0);
    assert_int_equal(a1->user->buffers, 3);
    assert_int_equal(a1->user->refusals, 1);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(apply1(&l, b, ev_alloc(0, TTALLOC_DRAM, (uint64_t)i, 1)) == 0, i < 3);
        assert_int_equal(apply1(&l, r, ev_alloc(0, TTALLOC_DRAM, (uint64_t)i, 1)), 0);
    }
    /* A free makes room again. */
    assert_int_equal(apply1(&l, a2, ev_free(0, TTALLOC_DRAM, 2)), 0);
    assert_int_equal(apply1(&l, a1, ev_alloc(0, TTALLOC_DRAM, 2, 1)), 0);

    /* Devices: 0 and 1 fit, 2 does not, for either process of the uid. */
    assert_int_equal(apply1(&l, a1, ev_free(0, TTALLOC_DRAM, 2)), 0);
    assert_int_equal(apply1(&l, a1, ev_alloc(1, TTALLOC_L1, 1, 1)), 0);
    assert_int_equal(apply1(&l, a2, ev_free(0, TTALLOC_DRAM, 1)), 0);
    assert_int_equal(apply1(&l, a2, ev_alloc(2, TTALLOC_L1, 1, 1)), -EXFULL);
    assert_int_equal(apply1(&l, r, ev_alloc(2, TTALLOC_L1, 1, 1)), 0);
    assert_int_equal(apply1(&l, r, ev_alloc(3, TTALLOC_L1, 1, 1)), 0);
    /* Once a1 lets go of device 1 entirely, the uid may use device 2. */
    assert_int_equal(apply1(&l, a1, ev_free(1, TTALLOC_L1, 1)), 0);
    assert_int_equal(apply1(&l, a2, ev_alloc(2, TTALLOC_L1, 1, 1)), 0);

    /* Connections: two per uid, root unlimited; records go when unused. */
    struct quota_user *c1, *c2, *c3;
    assert_int_equal(quota_conn_open(&l.quota, 5000, &c1), 0);
    assert_int_equal(quota_conn_open(&l.quota, 5000, &c2), 0);
    assert_int_equal(quota_conn_open(&l.quota, 5000, &c3), -EUSERS);
    for (int i = 0; i < 100; i++)
        assert_int_equal(quota_conn_open(&l.quota, 0, &c3), 0);
    quota_conn_close(&l.quota, c1);
    assert_int_equal(quota_conn_open(&l.quota, 5000, &c3), 0);
    quota_conn_close(&l.quota, c2);
    quota_conn_close(&l.quota, c3);
    assert_null(quota_find(&l.quota, 5000));

    /* The uid's records are dropped when its processes are gone. */
    ledger_exit(&l, a1, 5);
    ledger_exit(&l, a2, 5);
    assert_null(quota_find(&l.quota, 1000));
    assert_non_null(quota_find(&l.quota, 2000));
    ledger_destroy(&l);
}

/* The device table fills, then recovers: entries without live buffers (and
 * without a live describer) are swept when a new device needs room. */
static void test_device_table_recovers(void **state)
{
    (void)state;
    struct quota_limits caps = {0, 0, 0};
    struct ledger_limits limits = {.max_devices = 4, .per_uid = &caps};
    struct ledger l;
    assert_int_equal(ledger_init(&l, &limits), 0);
    struct ledger_process *hog = attach(&l, 1);
    struct ledger_process *other = attach(&l, 2);
    for (uint32_t d = 0; d < 4; d++)
        assert_int_equal(apply1(&l, hog, ev_alloc(100 + d, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(7, TTALLOC_DRAM, 1, 1)), -ENOSPC);
    /* Freed but still alive: its empty entries no longer hold the table. */
    for (uint32_t d = 0; d < 3; d++)
        assert_int_equal(apply1(&l, hog, ev_free(100 + d, TTALLOC_DRAM, 1)), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(7, TTALLOC_DRAM, 1, 1)), 0);
    assert_null(find_device(&l, 100));
    assert_non_null(find_device(&l, 103));
    assert_int_equal(hog->n_usage, 1);
    assert_true(l.counters.swept_devices >= 1);
    /* A process that ended frees its entries too. */
    for (uint32_t d = 0; d < 2; d++)
        assert_int_equal(apply1(&l, hog, ev_alloc(200 + d, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(l.n_devs, 4);
    ledger_exit(&l, hog, 9);
    assert_int_equal(apply1(&l, other, ev_alloc(8, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(9, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(10, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(11, TTALLOC_DRAM, 1, 1)), -ENOSPC);
    /* A described device stays while its describer lives. */
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    desc.capacity[TTALLOC_DRAM] = 1000;
    assert_int_equal(apply1(&l, other, ev_free(10, TTALLOC_DRAM, 1)), 0);
    assert_int_equal(ledger_describe(&l, 2, 10, &desc), 0);
    assert_int_equal(apply1(&l, other, ev_alloc(11, TTALLOC_DRAM, 1, 1)), -ENOSPC);
    assert_non_null(find_device(&l, 10));
    ledger_destroy(&l);
}

static void test_limits(void **state)
{
    (void)state;
    struct ledger l;
    struct ledger_limits limits = {.max_buffers = 3, .max_devices = 2};
    assert_int_equal(ledger_init(&l, &limits), 0);
    struct ledger_process *p = attach(&l, 1);

    struct proto_event batch[4] = {
        ev_alloc(0, TTALLOC_DRAM, 1, 1),
        ev_alloc(0, TTALLOC_DRAM, 2, 1),
        ev_alloc(0, TTALLOC_DRAM, 3, 1),
        ev_alloc(0, TTALLOC_DRAM, 4, 1),
    };
    size_t done = 0;
    assert_int_equal(ledger_apply_events(&l, p, batch, 4, &done), -E2BIG);
    assert_int_equal(done, 3);
    /* At the limit, replacing a live key and freeing still work. */
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 3, 9)), 0);
    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 3)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 4, 1)), 0);

    /* Devices: 0 exists, 1 fits, 2 is one too many (for a describe too). */
    struct ledger_process *q = attach(&l, 2);
    assert_int_equal(apply1(&l, q, ev_alloc(1, TTALLOC_DRAM, 1, 1)), 0);
    assert_int_equal(apply1(&l, q, ev_alloc(2, TTALLOC_DRAM, 1, 1)), -ENOSPC);
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    assert_int_equal(ledger_describe(&l, 1, 2, &desc), -ENOSPC);
    assert_int_equal(ledger_describe(&l, 1, 1, &desc), 0);
    assert_int_equal(l.n_devs, 2);

    /* A kicked producer's buffers are dropped from every total. */
    assert_int_equal(ledger_forget(&l, p), 3);
    assert_int_equal(find_device(&l, 0)->stats.used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->stats.buffers, 0);
    assert_int_equal(l.counters.dropped_buffers, 3);
    assert_int_equal(l.live_buffers, 1);
    ledger_destroy(&l);
}

static void test_top_buffers(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 1);
    enum { N = 1000 };
    for (uint64_t i = 0; i < N; i++) {
        /* Sizes 1..N in a scrambled order, plus ties on size 500. */
        uint64_t size = (i * 7919) % N + 1;
        assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, i * 64, size)), 0);
    }
    assert_int_equal(apply1(&l, p, ev_alloc(1, TTALLOC_L1, 5, 500)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_L1, 9, 500)), 0);

    struct ttalloc_buffer out[N + 2];
    assert_int_equal(ledger_top_buffers(p, 5, out), 5);
    assert_int_equal(out[0].size, N);
    assert_int_equal(out[1].size, N - 1);
    assert_int_equal(out[4].size, N - 4);

    size_t n = ledger_top_buffers(p, N + 2, out);
    assert_int_equal(n, N + 2);
    for (size_t i = 1; i < n; i++)
        assert_true(out[i - 1].size >= out[i].size);
    assert_int_equal(out[n - 1].size, 1);
    /* Ties: device, then type, then address ascending. */
    size_t first500 = N - 500;
    assert_int_equal(out[first500].size, 500);
    assert_int_equal(out[first500].device, 0);
    assert_int_equal(out[first500].type, TTALLOC_DRAM);
    assert_int_equal(out[first500 + 1].type, TTALLOC_L1);
    assert_int_equal(out[first500 + 2].device, 1);

    assert_int_equal(ledger_top_buffers(p, 0, out), 0);
    ledger_destroy(&l);
}

static void test_attach_reuse(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = NULL, *q = NULL;
    assert_int_equal(ledger_attach(&l, 50, 1, "first", "label-a", 1, &p), 0);
    assert_int_equal(ledger_attach(&l, 50, 1, "second", "", 2, &q), 0);
    assert_ptr_equal(p, q);
    assert_int_equal(p->connections, 2);
    assert_string_equal(p->name, "second");
    assert_string_equal(p->label, "label-a"); /* an empty label keeps the old */
    assert_int_equal(p->start_ns, 1);
    ledger_detach(&l, p);
    ledger_detach(&l, p);
    ledger_detach(&l, p); /* one too many: stays at 0 */
    assert_int_equal(p->connections, 0);

    /* Many processes in random order come out sorted. */
    for (int32_t i = 0; i < 300; i++) {
        int32_t pid = (i * 7727) % 1000 + 1000;
        struct ledger_process *r;
        assert_int_equal(ledger_attach(&l, pid, 0, NULL, NULL, 0, &r), 0);
    }
    for (size_t i = 1; i < l.n_procs; i++)
        assert_true(l.procs[i - 1]->pid < l.procs[i]->pid);
    ledger_destroy(&l);
}

/* ---- order: streams merged by timestamp ---- */

#define MIB (1024ull * 1024ull)
#define NOW 1000000000000ull /* the caller's clock in these tests: 1000 s */

static struct proto_event at(struct proto_event ev, uint64_t ts)
{
    ev.timestamp_ns = ts;
    return ev;
}

static struct proto_event ev_reset(void)
{
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = PROTO_OP_RESET_PEAK;
    return ev;
}

static int submit1(struct ledger *l, struct ledger_stream *s, struct proto_event ev, uint64_t now)
{
    struct proto_event bad;
    return ledger_submit(l, s, &ev, 1, now, &bad);
}

static struct ledger_stream *open_stream(struct ledger *l, struct ledger_process *p)
{
    struct ledger_stream *s = NULL;
    assert_int_equal(ledger_stream_open(l, p, &s), 0);
    assert_non_null(s);
    return s;
}

static void init_hold(struct ledger *l, uint64_t hold_ns)
{
    struct ledger_limits limits = {.hold_ns = hold_ns};
    assert_int_equal(ledger_init(l, &limits), 0);
}

static void test_order_two_streams(void **state)
{
    (void)state;
    struct ledger l;
    init_hold(&l, 1000000000ull);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);

    /* The app's order: X alloc 100, X free 200, Y alloc 300, Y free 400,
     * Z alloc 500. Arrival order differs: Y's alloc comes before X's free. */
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x1, MIB), NOW + 100), NOW + 1000),
                     0);
    assert_int_equal(p->bytes, MIB); /* b has said nothing: nothing to wait for */
    assert_int_equal(submit1(&l, b, at(ev_alloc(0, TTALLOC_DRAM, 0x2, MIB), NOW + 300), NOW + 1000),
                     0);
    assert_int_equal(p->n_pending, 1); /* waits for a to pass 300 */
    assert_int_equal(p->bytes, MIB);
    /* A FLUSH on a could be answered now; one on b must wait. */
    assert_true(ledger_stream_synced(a));
    assert_false(ledger_stream_synced(b));
    assert_int_equal(submit1(&l, a, at(ev_free(0, TTALLOC_DRAM, 0x1), NOW + 200), NOW + 1000), 0);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x3, MIB), NOW + 500), NOW + 1000),
                     0);
    assert_int_equal(p->bytes, MIB); /* Y (300) is due now; Z (500) waits for b */
    assert_int_equal(submit1(&l, b, at(ev_free(0, TTALLOC_DRAM, 0x2), NOW + 400), NOW + 1000), 0);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(p->n_pending, 1);
    assert_int_equal(l.pending_events, 1);
    assert_true(ledger_stream_synced(b));
    assert_false(ledger_stream_synced(a)); /* Z (500) waits for b */

    /* A FLUSH on a applies everything a sent. */
    assert_int_equal(ledger_stream_sync(&l, a, NULL), 0);
    assert_int_equal(p->n_pending, 0);
    assert_int_equal(p->bytes, MIB);
    /* Never two buffers at once: peaks are exactly 1 MiB, not 2. */
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], MIB);
    assert_int_equal(p->peak_bytes, MIB);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], MIB);
    assert_int_equal(p->order.future + p->order.backwards + p->order.late, 0);

    ledger_stream_close(&l, a, NOW + 1000);
    ledger_stream_close(&l, b, NOW + 1000);
    ledger_destroy(&l);
}

static void test_order_hold_and_close(void **state)
{
    (void)state;
    const uint64_t hold = 5000;
    struct ledger l;
    init_hold(&l, hold);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);

    assert_int_equal(ledger_next_release(&l), 0);
    assert_int_equal(submit1(&l, b, at(ev_alloc(0, TTALLOC_L1, 0x1, 10), NOW + 100), NOW + 100), 0);
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_L1, 0x2, 20), NOW + 200), NOW + 200), 0);
    /* b is idle at 100: a's event waits, at most `hold`. */
    assert_int_equal(p->bytes, 10);
    assert_int_equal(ledger_next_release(&l), NOW + 200 + hold);
    assert_int_equal(ledger_release(&l, NOW + 200 + hold - 1), 0);
    assert_int_equal(p->bytes, 10);
    assert_int_equal(ledger_release(&l, NOW + 200 + hold), 0);
    assert_int_equal(p->bytes, 30);
    assert_int_equal(ledger_next_release(&l), 0);

    /* Closing the idle stream releases what waited only for it. */
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_L1, 0x3, 40), NOW + 9000), NOW + 9000),
                     0);
    assert_int_equal(p->bytes, 30);
    ledger_stream_close(&l, b, NOW + 9000);
    assert_int_equal(p->bytes, 70);
    /* One stream left: applied at once. */
    assert_int_equal(submit1(&l, a, at(ev_free(0, TTALLOC_L1, 0x3), NOW + 9001), NOW + 9001), 0);
    assert_int_equal(p->bytes, 30);
    ledger_stream_close(&l, a, NOW + 9001);
    ledger_destroy(&l);
}

static void test_order_churn_exact(void **state)
{
    (void)state;
    struct ledger l;
    init_hold(&l, 1000000000ull);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);
    enum { ROUNDS = 20000, BATCH = 1000 };
    static struct proto_event ea[2 * ROUNDS], eb[2 * ROUNDS];

    /* 10 MiB held, then two streams each hold at most one 1 MiB buffer at a
     * time, overlapping: a's live over [4k, 4k+2], b's over [4k+1, 4k+3]. */
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x1ull, 10 * MIB), NOW), NOW), 0);
    for (uint64_t k = 0; k < ROUNDS; k++) {
        uint64_t t = NOW + 10 + 4 * k;
        ea[2 * k] = at(ev_alloc(0, TTALLOC_DRAM, (1ull << 40) + k * 64, MIB), t);
        ea[2 * k + 1] = at(ev_free(0, TTALLOC_DRAM, (1ull << 40) + k * 64), t + 2);
        eb[2 * k] = at(ev_alloc(0, TTALLOC_DRAM, (2ull << 40) + k * 64, MIB), t + 1);
        eb[2 * k + 1] = at(ev_free(0, TTALLOC_DRAM, (2ull << 40) + k * 64), t + 3);
    }
    struct proto_event bad;
    /* Whole batches of one stream arrive before the other's. */
    for (size_t i = 0; i < 2 * ROUNDS; i += BATCH) {
        assert_int_equal(ledger_submit(&l, a, &ea[i], BATCH, NOW + 1000000, &bad), 0);
        assert_int_equal(ledger_submit(&l, b, &eb[i], BATCH, NOW + 1000000, &bad), 0);
    }
    assert_int_equal(ledger_stream_sync(&l, b, NULL), 0);
    assert_int_equal(p->n_pending, 0);
    assert_int_equal(p->bytes, 10 * MIB);
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 12 * MIB);
    assert_int_equal(p->peak_bytes, 12 * MIB);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], 12 * MIB);

    /* One stream alone: 10 MiB held, 1 MiB churned: exactly 11 MiB. */
    struct ledger_process *q = attach(&l, 200);
    struct ledger_stream *c = open_stream(&l, q);
    assert_int_equal(submit1(&l, c, at(ev_alloc(0, TTALLOC_DRAM, 0x1ull, 10 * MIB), NOW), NOW), 0);
    for (size_t i = 0; i < 2 * ROUNDS; i += BATCH)
        assert_int_equal(ledger_submit(&l, c, &ea[i], BATCH, NOW + 1000000, &bad), 0);
    assert_int_equal(q->usage[0].peak[TTALLOC_DRAM], 11 * MIB);

    ledger_stream_close(&l, a, NOW);
    ledger_stream_close(&l, b, NOW);
    ledger_stream_close(&l, c, NOW);
    ledger_destroy(&l);
}

static void test_order_hostile_timestamps(void **state)
{
    (void)state;
    struct ledger l;
    init_hold(&l, 1000000000ull);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_process *q = attach(&l, 200);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);
    struct ledger_stream *c = open_stream(&l, q);

    /* Far future: clamped to the server's now, so it never waits forever. */
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 100), UINT64_MAX), NOW), 0);
    assert_int_equal(p->order.future, 1);
    assert_int_equal(a->watermark, NOW);
    /* Backwards: clamped up to the stream's previous timestamp. */
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x2, 100), 5), NOW), 0);
    assert_int_equal(p->order.backwards, 1);
    assert_int_equal(p->bytes, 200);
    /* Behind what the merge applied: late, applied in arrival order. */
    assert_int_equal(submit1(&l, b, at(ev_alloc(0, TTALLOC_DRAM, 0x3, 100), 7), NOW), 0);
    assert_int_equal(p->order.late, 1);
    assert_int_equal(p->bytes, 300);
    /* Equal timestamps keep their arrival order: alloc, free, alloc. */
    struct proto_event same[3] = {at(ev_alloc(0, TTALLOC_L1, 0x9, 50), NOW),
                                  at(ev_free(0, TTALLOC_L1, 0x9), NOW),
                                  at(ev_alloc(0, TTALLOC_L1, 0x9, 70), NOW)};
    struct proto_event bad;
    assert_int_equal(ledger_submit(&l, a, same, 3, NOW, &bad), 0);
    assert_int_equal(ledger_stream_sync(&l, a, NULL), 0);
    assert_int_equal(p->usage[0].bytes[TTALLOC_L1], 70);
    assert_int_equal(p->usage[0].peak[TTALLOC_L1], 70);
    assert_int_equal(l.counters.unknown_frees, 0);

    /* The other process is applied at once, whatever p sent. */
    assert_int_equal(submit1(&l, c, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 1000), NOW + 1), NOW + 1), 0);
    assert_int_equal(q->bytes, 1000);
    assert_int_equal(q->order.future + q->order.backwards + q->order.late, 0);
    assert_int_equal(submit1(&l, c, at(ev_free(0, TTALLOC_DRAM, 0x1), NOW + 2), NOW + 2), 0);
    assert_int_equal(q->bytes, 0);
    assert_int_equal(q->usage[0].peak[TTALLOC_DRAM], 1000);
    assert_int_equal(l.counters.clamped_timestamps, 3);

    /* An invalid op is refused before anything is queued. */
    struct proto_event junk = at(ev_free(0, TTALLOC_DRAM, 0x1), NOW);
    junk.op = 9;
    assert_int_equal(submit1(&l, b, junk, NOW), -EINVAL);
    assert_int_equal(ledger_take_fault(&l, p, &bad), -EINVAL);
    assert_int_equal(bad.op, 9);
    assert_int_equal(ledger_take_fault(&l, p, &bad), 0);
    assert_int_equal(l.faulted, 0);

    ledger_stream_close(&l, a, NOW);
    ledger_stream_close(&l, b, NOW);
    ledger_stream_close(&l, c, NOW);
    ledger_destroy(&l);
}

static void test_order_fault_on_release(void **state)
{
    (void)state;
    struct ledger_limits limits = {.max_buffers = 1, .hold_ns = 100};
    struct ledger l;
    assert_int_equal(ledger_init(&l, &limits), 0);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 1), NOW), NOW), 0);
    assert_int_equal(submit1(&l, b, at(ev_alloc(0, TTALLOC_DRAM, 0x2, 1), NOW + 10), NOW + 10), 0);
    assert_int_equal(p->n_pending, 1);
    /* The hold runs out; the event is over the limit: the process faults. */
    assert_int_equal(ledger_release(&l, NOW + 110), 1);
    assert_int_equal(l.faulted, 1);
    assert_int_equal(l.pending_events, 0);
    struct proto_event bad;
    assert_int_equal(ledger_take_fault(&l, p, &bad), -E2BIG);
    assert_int_equal(bad.address, 0x2);
    ledger_stream_close(&l, a, NOW);
    ledger_stream_close(&l, b, NOW);
    ledger_destroy(&l);
}

static void test_reset_peak(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *s = open_stream(&l, p);
    struct proto_event evs[] = {
        at(ev_alloc(0, TTALLOC_DRAM, 0x1, MIB), NOW + 1),
        at(ev_alloc(0, TTALLOC_DRAM, 0x2, MIB), NOW + 2),
        at(ev_alloc(0, TTALLOC_DRAM, 0x3, 3 * MIB), NOW + 3),
        at(ev_free(0, TTALLOC_DRAM, 0x3), NOW + 4),
        at(ev_reset(), NOW + 5),
    };
    struct proto_event bad;
    assert_int_equal(ledger_submit(&l, s, evs, 5, NOW + 10, &bad), 0);
    /* Reset with 2 MiB live reads 2 MiB; the device keeps its peak. */
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 2 * MIB);
    assert_int_equal(p->peak_bytes, 2 * MIB);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], 5 * MIB);
    assert_int_equal(l.counters.peak_resets, 1);
    /* One more 1 MiB alloc/free reads 3 MiB. */
    assert_int_equal(submit1(&l, s, at(ev_alloc(0, TTALLOC_DRAM, 0x4, MIB), NOW + 11), NOW + 11),
                     0);
    assert_int_equal(submit1(&l, s, at(ev_free(0, TTALLOC_DRAM, 0x4), NOW + 12), NOW + 12), 0);
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 3 * MIB);
    assert_int_equal(p->peak_bytes, 3 * MIB);
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], 5 * MIB);
    ledger_stream_close(&l, s, NOW);
    ledger_destroy(&l);
}

static void test_merge_peaks(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_process *q = attach(&l, 200);
    struct ledger_stream *s = open_stream(&l, p), *t = open_stream(&l, q);
    assert_int_equal(submit1(&l, t, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 700), NOW), NOW), 0);
    assert_int_equal(submit1(&l, s, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 500), NOW), NOW), 0);

    struct proto_peak peaks[3];
    memset(peaks, 0, sizeof(peaks));
    peaks[0].device = 0;
    peaks[0].type = TTALLOC_DRAM;
    peaks[0].peak_bytes = 4000; /* larger than the server's: taken */
    peaks[1].device = 0;
    peaks[1].type = TTALLOC_L1;
    peaks[1].peak_bytes = 0;
    peaks[2].device = 3; /* a device it holds nothing on now */
    peaks[2].type = TTALLOC_CB;
    peaks[2].peak_bytes = UINT64_MAX;
    /* Outside a resync: refused. */
    assert_int_equal(ledger_merge_peaks(&l, s, peaks, 3), -EPROTO);
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 500);

    assert_int_equal(ledger_resync_begin(&l, s), 1);
    struct proto_event bad;
    struct proto_event replay = ev_alloc(0, TTALLOC_DRAM, 0x1, 500);
    assert_int_equal(ledger_submit(&l, s, &replay, 1, NOW, &bad), 0);
    assert_int_equal(ledger_merge_peaks(&l, s, peaks, 3), 0);
    assert_int_equal(ledger_resync_end(&l, s, 1, 500), 0);
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 4000);
    assert_int_equal(p->usage[1].device, 3);
    assert_int_equal(p->usage[1].peak[TTALLOC_CB], UINT64_MAX);
    assert_int_equal(p->peak_bytes, UINT64_MAX);
    /* Devices and the other process never take a client's word. */
    assert_int_equal(find_device(&l, 0)->stats.peak[TTALLOC_DRAM], 1200);
    assert_int_equal(find_device(&l, 3)->stats.peak[TTALLOC_CB], 0);
    assert_int_equal(q->usage[0].peak[TTALLOC_DRAM], 700);
    assert_int_equal(q->peak_bytes, 700);
    /* A smaller figure never lowers the server's. */
    assert_int_equal(ledger_resync_begin(&l, s), 1);
    peaks[0].peak_bytes = 1;
    assert_int_equal(ledger_merge_peaks(&l, s, peaks, 1), 0);
    assert_int_equal(p->usage[0].peak[TTALLOC_DRAM], 4000);
    peaks[0].type = TTALLOC_NUM_TYPES;
    assert_int_equal(ledger_merge_peaks(&l, s, peaks, 1), -EINVAL);
    assert_int_equal(ledger_resync_end(&l, s, 0, 0), 0);

    ledger_stream_close(&l, s, NOW);
    ledger_stream_close(&l, t, NOW);
    ledger_destroy(&l);
}

static void test_exit_applies_queued(void **state)
{
    (void)state;
    struct ledger l;
    init_hold(&l, 1000000000ull);
    struct ledger_process *p = attach(&l, 100);
    struct ledger_stream *a = open_stream(&l, p), *b = open_stream(&l, p);
    assert_int_equal(submit1(&l, a, at(ev_alloc(0, TTALLOC_DRAM, 0x1, 10), NOW), NOW), 0);
    assert_int_equal(submit1(&l, b, at(ev_alloc(0, TTALLOC_DRAM, 0x2, 20), NOW + 5), NOW + 5), 0);
    assert_int_equal(l.pending_events, 1);
    /* The server closes a process's streams, then it exits: nothing is lost. */
    ledger_stream_close(&l, a, NOW + 5);
    ledger_stream_close(&l, b, NOW + 5);
    assert_int_equal(ledger_exit(&l, p, 1), 1);
    assert_int_equal(l.pending_events, 0);
    struct ttalloc_exit rec;
    ledger_fill_exits(&l, &rec);
    assert_int_equal(rec.bytes[TTALLOC_DRAM], 30);
    ledger_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_free),
        cmocka_unit_test(test_realloc_live_and_unknown_free),
        cmocka_unit_test(test_malformed_events),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_many_buffers_memory),
        cmocka_unit_test(test_peaks_and_processes_per_device),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_resync),
        cmocka_unit_test(test_exit_records),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_overflow_only_hits_sender),
        cmocka_unit_test(test_uid_caps),
        cmocka_unit_test(test_device_table_recovers),
        cmocka_unit_test(test_top_buffers),
        cmocka_unit_test(test_attach_reuse),
        cmocka_unit_test(test_order_two_streams),
        cmocka_unit_test(test_order_hold_and_close),
        cmocka_unit_test(test_order_churn_exact),
        cmocka_unit_test(test_order_hostile_timestamps),
        cmocka_unit_test(test_order_fault_on_release),
        cmocka_unit_test(test_reset_peak),
        cmocka_unit_test(test_merge_peaks),
        cmocka_unit_test(test_exit_applies_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
