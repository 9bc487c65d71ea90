/*
 * test_ledger.c - the server's accounting (src/server/ledger.c): allocs,
 * frees, reallocs of live keys, unknown frees, resync, peaks, device totals,
 * process death and exit records, limits, and extremes.
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

static struct proto_event ev_alloc(uint32_t device, uint8_t type, uint64_t address,
                                   uint64_t size)
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
        if (l->devs[i]->device == device)
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
    assert_int_equal(d0->used[TTALLOC_DRAM], 4096);
    assert_int_equal(d0->used[TTALLOC_L1], 100);
    assert_int_equal(d0->buffers, 2);
    assert_int_equal(d0->processes, 1);
    assert_int_equal(d1->used[TTALLOC_DRAM], 7);

    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_DRAM, 0x1000)), 0);
    assert_int_equal(d0->used[TTALLOC_DRAM], 0);
    assert_int_equal(d0->peak[TTALLOC_DRAM], 4096);
    assert_int_equal(d0->buffers, 1);
    assert_int_equal(p->bytes, 107);
    assert_int_equal(p->peak_bytes, 4096 + 100 + 7);
    assert_int_equal(l.counters.events_total, 4);

    assert_int_equal(apply1(&l, p, ev_free(0, TTALLOC_L1, 0x1000)), 0);
    assert_int_equal(d0->processes, 0);
    assert_int_equal(d0->buffers, 0);
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
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 300);
    assert_int_equal(find_device(&l, 0)->buffers, 1);
    assert_int_equal(find_device(&l, 0)->peak[TTALLOC_DRAM], 1000);

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
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->buffers, 0);
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
        ev_alloc(0, 6, 0x30, 30),   /* unknown type */
        ev_alloc(0, TTALLOC_DRAM, 0x40, 40),
    };
    size_t done = 99;
    assert_int_equal(ledger_apply_events(&l, p, batch, 4, &done), -EINVAL);
    assert_int_equal(done, 2);
    assert_int_equal(p->bytes, 30);

    struct proto_event bad_op = ev_alloc(0, TTALLOC_DRAM, 0x50, 1);
    bad_op.op = 0;
    assert_int_equal(apply1(&l, p, bad_op), -EINVAL);
    bad_op.op = 3;
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
    assert_int_equal(d->used[TTALLOC_CB], max);
    /* One more byte of the same type on the same device: refused, nothing changed. */
    assert_int_equal(apply1(&l, p, ev_alloc(UINT32_MAX, TTALLOC_CB, 0, 1)), -EINVAL);
    assert_int_equal(d->used[TTALLOC_CB], max);
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
    assert_int_equal(d->used[TTALLOC_CB], 0);
    assert_int_equal(d->peak[TTALLOC_CB], max);
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
            batch[j] = ev_alloc((uint32_t)(k % 8), (uint8_t)(k % TTALLOC_NUM_TYPES),
                                k * 4096, k + 1);
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
            sum += l.devs[i]->used[t];
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
    assert_int_equal(apply1(&l, b, ev_alloc(3, TTALLOC_L1, 0, 50)), 0); /* same key, other process */
    struct ledger_device *d = find_device(&l, 3);
    assert_int_equal(d->used[TTALLOC_L1], 150);
    assert_int_equal(d->processes, 2);
    assert_int_equal(d->buffers, 2);
    assert_int_equal(apply1(&l, a, ev_free(3, TTALLOC_L1, 0)), 0);
    assert_int_equal(d->processes, 1);
    assert_int_equal(apply1(&l, b, ev_alloc(3, TTALLOC_L1, 8, 200)), 0);
    assert_int_equal(d->used[TTALLOC_L1], 250);
    assert_int_equal(d->peak[TTALLOC_L1], 250);

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

    assert_int_equal(ledger_forget(&l, p), 3);
    assert_int_equal(p->bytes, 0);
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 1000);
    assert_int_equal(find_device(&l, 0)->processes, 1);
    assert_int_equal(find_device(&l, 1)->processes, 0);

    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x20, 20)), 0);
    assert_int_equal(apply1(&l, p, ev_alloc(0, TTALLOC_DRAM, 0x30, 30)), 0);
    assert_int_equal(ledger_resync_end(&l, p, 2, 50), 0);
    assert_int_equal(l.counters.resync_mismatches, 0);
    assert_int_equal(ledger_resync_end(&l, p, 3, 50), -EBADMSG);
    assert_int_equal(ledger_resync_end(&l, p, 2, 51), -EBADMSG);
    assert_int_equal(l.counters.resync_mismatches, 2);
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 1050);
    assert_int_equal(find_device(&l, 0)->buffers, 3);
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
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->processes, 0);
    assert_int_equal(find_device(&l, 0)->peak[TTALLOC_DRAM], (1ull << 30) + (1ull << 29));

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
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], LEDGER_MAX_BYTES + 4096);
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
    assert_int_equal(find_device(&l, 0)->used[TTALLOC_DRAM], 0);
    assert_int_equal(find_device(&l, 0)->buffers, 0);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
