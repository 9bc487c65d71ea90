/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_report_model.c - tt-alloc-report's one pass over a recording
 * (src/report/report_model.c): per process x device x type the peak, its
 * time and the final bytes; the device's peak and the buffers live at it;
 * leaks at exit, largest first; frees of unknown buffers, types out of
 * range, the --pid filter, a gap followed by a live state that makes the
 * state exact again without a false peak, --at, and a reused pid.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "report_fixture.h"
#include "report_model.h"

#define S 1000000000ll

static int apply(struct report_model *m, uint32_t kind, int32_t pid, int64_t t, uint32_t device,
                 uint32_t type, uint64_t address, uint64_t size)
{
    struct ttalloc_rec_event ev = report_fixture_record(kind, pid, t, device, type, address, size);
    uint64_t out = 12345;
    int rc = report_model_apply(m, &ev, &out);
    if (rc == 1 && kind == TTALLOC_REC_FREE)
        assert_true(out != 12345);
    return rc;
}

static void start(struct report_model *m, int32_t pid, int64_t t, const char *name)
{
    struct ttalloc_rec_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = TTALLOC_REC_PROCESS_START;
    ev.pid = pid;
    ev.time_ns = t;
    ev.uid = 1000;
    memset(ev.name, 'x', sizeof(ev.name)); /* unterminated: cut */
    memcpy(ev.name, name, strlen(name) + 1);
    uint64_t out;
    assert_int_equal(report_model_apply(m, &ev, &out), 0);
}

static const struct report_memory *memory_of(struct report_model *m, int32_t pid, uint32_t device,
                                             uint8_t type)
{
    struct report_process *p = report_model_process(m, pid);
    assert_non_null(p);
    for (size_t i = 0; i < p->n_memory; i++)
        if (p->memory[i].device == device && p->memory[i].type == type)
            return &p->memory[i];
    fail_msg("no memory row for pid %d device %u type %u", pid, device, type);
    return NULL;
}

static const struct report_device *device_of(const struct report_model *m, uint32_t device)
{
    for (size_t i = 0; i < m->n_devices; i++)
        if (m->devices[i].device == device)
            return &m->devices[i];
    fail_msg("no device %u", device);
    return NULL;
}

static void test_peaks_and_leaks(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    start(&m, 10, 0, "python3");
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 1 * S, 0, TTALLOC_DRAM, 0x1000, 100), 1);
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 2 * S, 0, TTALLOC_DRAM, 0x2000, 300), 1);
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 2 * S, 0, TTALLOC_L1, 0x10, 7), 1);
    /* a free without its size takes it from the alloc */
    struct ttalloc_rec_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = TTALLOC_REC_FREE;
    ev.pid = 10;
    ev.time_ns = 3 * S;
    ev.address = 0x1000;
    uint64_t size = 0;
    assert_int_equal(report_model_apply(&m, &ev, &size), 1);
    assert_int_equal(size, 100);
    /* a free of a buffer never seen: counted, changes nothing */
    assert_int_equal(apply(&m, TTALLOC_REC_FREE, 10, 3 * S, 0, TTALLOC_DRAM, 0xdead, 5), 1);
    assert_int_equal(m.unknown_frees, 1);
    /* a type out of range is no event */
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 3 * S, 0, TTALLOC_NUM_TYPES, 0x1, 1), 0);
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 3 * S, 0, 0xffffffffu, 0x1, 1), 0);
    /* later, smaller: the peak stays */
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 4 * S, 0, TTALLOC_DRAM, 0x3000, 50), 1);
    assert_int_equal(apply(&m, TTALLOC_REC_PROCESS_EXIT, 10, 5 * S, 0, 0, 0, 0), 0);
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(report_model_finish(&m), 0); /* idempotent */

    assert_int_equal(m.events, 6);
    assert_int_equal(report_model_duration(&m), 5 * S);
    const struct report_memory *dram = memory_of(&m, 10, 0, TTALLOC_DRAM);
    assert_int_equal(dram->peak, 400);
    assert_int_equal(dram->peak_ns, 2 * S);
    assert_int_equal(dram->live, 350); /* final bytes, kept at exit */
    assert_int_equal(dram->allocs, 3);
    assert_int_equal(dram->frees, 2);
    struct report_process *p = report_model_process(&m, 10);
    assert_true(p->exited);
    assert_int_equal(p->exit_ns, 5 * S);
    assert_string_equal(p->name, "python3");
    /* leaks: largest first */
    assert_int_equal(p->n_leaks, 3);
    assert_int_equal(p->leaks[0].size, 300);
    assert_int_equal(p->leaks[1].size, 50);
    assert_int_equal(p->leaks[2].size, 7);
    assert_int_equal(p->leaks[0].alloc_ns, 2 * S);
    /* the device: its peak, and the buffers live at it (one freed since) */
    const struct report_device *d = device_of(&m, 0);
    assert_int_equal(d->peak[TTALLOC_DRAM], 400);
    assert_int_equal(d->peak_ns[TTALLOC_DRAM], 2 * S);
    assert_int_equal(d->live[TTALLOC_DRAM], 0); /* the exit took the leaks out */
    assert_int_equal(d->n_at_peak, 2);
    assert_int_equal(d->at_peak[0].address, 0x2000);
    assert_int_equal(d->at_peak[1].address, 0x1000);
    assert_int_equal(d->at_peak[1].free_ns, 3 * S);
    report_model_release(&m);
}

static void test_pid_filter(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    const int32_t only[] = {20};
    m.only_pids = only;
    m.n_only_pids = 1;
    assert_false(report_model_wants_pid(&m, 10));
    assert_true(report_model_wants_pid(&m, 20));
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 10, 1, 0, TTALLOC_DRAM, 0x1, 999), 0);
    assert_int_equal(apply(&m, TTALLOC_REC_ALLOC, 20, 2, 0, TTALLOC_DRAM, 0x1, 5), 1);
    assert_int_equal(apply(&m, TTALLOC_REC_FREE, 10, 3, 0, TTALLOC_DRAM, 0x1, 0), 0);
    assert_int_equal(apply(&m, TTALLOC_REC_PROCESS_EXIT, 10, 4, 0, 0, 0, 0), 0);
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(m.events, 1);
    assert_null(report_model_process(&m, 10));
    assert_int_equal(device_of(&m, 0)->peak[TTALLOC_DRAM], 5);
    report_model_release(&m);
}

static void test_gap_and_live_state(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    apply(&m, TTALLOC_REC_ALLOC, 10, 1 * S, 0, TTALLOC_DRAM, 0xa, 100);
    apply(&m, TTALLOC_REC_ALLOC, 10, 1 * S, 0, TTALLOC_DRAM, 0xb, 200);
    /* lost: 0xa freed, 0xc (250) allocated; the live state says so */
    assert_int_equal(apply(&m, TTALLOC_REC_GAP, 0, 2 * S, 0, 0, 0, 17), 0);
    apply(&m, TTALLOC_REC_LIVE_BEGIN, 0, 2 * S, 0, 0, 0, 2);
    apply(&m, TTALLOC_REC_LIVE_BUFFER, 10, 1 * S, 0, TTALLOC_DRAM, 0xb, 200);
    apply(&m, TTALLOC_REC_LIVE_BUFFER, 10, 2 * S, 0, TTALLOC_DRAM, 0xc, 250);
    apply(&m, TTALLOC_REC_LIVE_BUFFER, 10, 2 * S, 0, TTALLOC_DRAM, 0xc, 250); /* twice */
    apply(&m, TTALLOC_REC_LIVE_END, 0, 2 * S, 0, 0, 0, 0);
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(m.gaps, 1);
    assert_int_equal(m.lost_events, 17);
    const struct report_device *d = device_of(&m, 0);
    assert_int_equal(d->live[TTALLOC_DRAM], 450);
    /* what the state dropped left before what it added came: no 550 peak */
    assert_int_equal(d->peak[TTALLOC_DRAM], 450);
    assert_int_equal(memory_of(&m, 10, 0, TTALLOC_DRAM)->live, 450);
    size_t pos = 0, n = 0;
    const struct report_buffer *b;
    uint64_t sum = 0;
    while ((b = report_model_live_next(&m, &pos)) != NULL) {
        n++;
        sum += b->size;
    }
    assert_int_equal(n, 2);
    assert_int_equal(sum, 450);
    report_model_release(&m);
}

static void test_at_snapshot(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    m.at_ns = 2 * S;
    apply(&m, TTALLOC_REC_ALLOC, 10, 1 * S, 0, TTALLOC_DRAM, 0x1, 10);
    apply(&m, TTALLOC_REC_ALLOC, 10, 2 * S, 0, TTALLOC_L1, 0x2, 30); /* at 2 s: in */
    apply(&m, TTALLOC_REC_FREE, 10, 3 * S, 0, TTALLOC_DRAM, 0x1, 0); /* after: ignored */
    apply(&m, TTALLOC_REC_ALLOC, 10, 3 * S, 0, TTALLOC_DRAM, 0x3, 99);
    assert_int_equal(report_model_finish(&m), 0);
    assert_true(m.at_taken);
    assert_int_equal(m.n_at_buffers, 2);
    assert_int_equal(m.at_buffers[0].size, 30);
    assert_int_equal(m.at_buffers[1].size, 10);
    report_model_release(&m);

    /* --at past the end: the state at the end */
    report_model_init(&m);
    m.at_ns = 100 * S;
    apply(&m, TTALLOC_REC_ALLOC, 10, 1 * S, 0, TTALLOC_DRAM, 0x1, 10);
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(m.n_at_buffers, 1);
    report_model_release(&m);
}

static void test_reused_pid_and_empty(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(report_model_duration(&m), 0);
    assert_int_equal(m.n_processes, 0);
    report_model_release(&m);

    report_model_init(&m);
    start(&m, 10, 0, "first");
    apply(&m, TTALLOC_REC_PROCESS_EXIT, 10, 1 * S, 0, 0, 0, 0);
    start(&m, 10, 2 * S, "second");
    assert_int_equal(report_model_finish(&m), 0);
    assert_int_equal(m.n_processes, 2);
    struct report_process *p = report_model_process(&m, 10);
    assert_string_equal(p->name, "second");
    assert_false(p->exited);
    report_model_release(&m);
}

static void test_cmp_largest(void **state)
{
    (void)state;
    struct report_buffer a = {.size = 10, .address = 0x20}, b = {.size = 10, .address = 0x10},
                         c = {.size = 11, .address = 0x30};
    assert_true(report_buffer_cmp_largest(&c, &a) < 0);
    assert_true(report_buffer_cmp_largest(&a, &c) > 0);
    assert_true(report_buffer_cmp_largest(&b, &a) < 0); /* same size: by address */
    assert_int_equal(report_buffer_cmp_largest(&a, &a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peaks_and_leaks),      cmocka_unit_test(test_pid_filter),
        cmocka_unit_test(test_gap_and_live_state),   cmocka_unit_test(test_at_snapshot),
        cmocka_unit_test(test_reused_pid_and_empty), cmocka_unit_test(test_cmp_largest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
