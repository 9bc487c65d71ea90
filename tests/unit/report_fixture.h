/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_fixture.h - models for the unit tests of tt-alloc-report's outputs
 * (test_report_text, _json, _perfetto, _html), built by applying records as
 * report_main.c does, and the context they are printed with. The workload
 * has known answers:
 *
 *   pid 100 python3 (label "llama"), device 0:
 *     1 ms   alloc DRAM 0x1000   4096
 *     2 ms   alloc DRAM 0x10000  1 MiB
 *     4 ms   free  DRAM 0x10000             (DRAM peak 1 MiB + 4 KiB at 2 ms)
 *   pid 200 worker, device 0 and 1:
 *     3 ms   alloc L1   0x20     2048   (device 0)
 *     3 ms   alloc DRAM 0x500000 64 KiB (device 1)
 *     5 ms   a gap of 7 events
 *     6 ms   exit: leaks the L1 and the DRAM buffer
 *
 * Include it after cmocka.h.
 */
#ifndef TTALLOC_TEST_REPORT_FIXTURE_H
#define TTALLOC_TEST_REPORT_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "report_model.h"
#include "report_out.h"

#define REPORT_FIXTURE_MS 1000000ll
#define REPORT_FIXTURE_START_S 1795435200ull /* 2026-11-23T12:00:00Z */

/* A record of `kind` (size is also the count of a GAP or LIVE_BEGIN). */
static inline struct ttalloc_rec_event report_fixture_record(uint32_t kind, int32_t pid, int64_t t,
                                                             uint32_t device, uint32_t type,
                                                             uint64_t address, uint64_t size)
{
    struct ttalloc_rec_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.pid = pid;
    ev.time_ns = t;
    ev.device = device;
    ev.type = type;
    ev.address = address;
    ev.size = size;
    ev.count = size;
    return ev;
}

static inline void report_fixture_event(struct report_model *m, uint32_t kind, int32_t pid,
                                        int64_t t, uint32_t device, uint32_t type, uint64_t address,
                                        uint64_t size)
{
    struct ttalloc_rec_event ev = report_fixture_record(kind, pid, t, device, type, address, size);
    uint64_t out;
    assert_true(report_model_apply(m, &ev, &out) >= 0);
}

static inline void report_fixture_start(struct report_model *m, int32_t pid, int64_t t,
                                        const char *name, const char *label)
{
    struct ttalloc_rec_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = TTALLOC_REC_PROCESS_START;
    ev.pid = pid;
    ev.time_ns = t;
    ev.uid = 1000;
    strncpy(ev.name, name, sizeof(ev.name) - 1);
    strncpy(ev.label, label, sizeof(ev.label) - 1);
    uint64_t out;
    assert_int_equal(report_model_apply(m, &ev, &out), 0);
}

/* The workload above, finished. */
static inline void report_fixture_workload(struct report_model *m)
{
    const int64_t ms = REPORT_FIXTURE_MS;
    report_model_init(m);
    report_fixture_start(m, 100, 0, "python3", "llama");
    report_fixture_start(m, 200, 0, "worker", "");
    report_fixture_event(m, TTALLOC_REC_ALLOC, 100, 1 * ms, 0, TTALLOC_DRAM, 0x1000, 4096);
    report_fixture_event(m, TTALLOC_REC_ALLOC, 100, 2 * ms, 0, TTALLOC_DRAM, 0x10000, 1 << 20);
    report_fixture_event(m, TTALLOC_REC_ALLOC, 200, 3 * ms, 0, TTALLOC_L1, 0x20, 2048);
    report_fixture_event(m, TTALLOC_REC_ALLOC, 200, 3 * ms, 1, TTALLOC_DRAM, 0x500000, 65536);
    report_fixture_event(m, TTALLOC_REC_FREE, 100, 4 * ms, 0, TTALLOC_DRAM, 0x10000, 0);
    report_fixture_event(m, TTALLOC_REC_GAP, 0, 5 * ms, 0, 0, 0, 7);
    report_fixture_event(m, TTALLOC_REC_LIVE_BEGIN, 0, 5 * ms, 0, 0, 0, 3);
    report_fixture_event(m, TTALLOC_REC_LIVE_BUFFER, 100, 1 * ms, 0, TTALLOC_DRAM, 0x1000, 4096);
    report_fixture_event(m, TTALLOC_REC_LIVE_BUFFER, 200, 3 * ms, 0, TTALLOC_L1, 0x20, 2048);
    report_fixture_event(m, TTALLOC_REC_LIVE_BUFFER, 200, 3 * ms, 1, TTALLOC_DRAM, 0x500000, 65536);
    report_fixture_event(m, TTALLOC_REC_LIVE_END, 0, 5 * ms, 0, 0, 0, 0);
    report_fixture_event(m, TTALLOC_REC_PROCESS_EXIT, 200, 6 * ms, 0, 0, 0, 0);
    assert_int_equal(report_model_finish(m), 0);
}

/* A context for m: recording "run.ttrec" of host "testhost", --top 10. */
static inline struct report_context report_fixture_context(const struct report_model *m,
                                                           struct ttalloc_rec_info *info)
{
    memset(info, 0, sizeof(*info));
    info->version = 1;
    info->start_realtime_ns = REPORT_FIXTURE_START_S * 1000000000ull;
    strcpy(info->host, "testhost");
    struct report_context ctx = {.path = "run.ttrec", .info = info, .model = m, .top = 10};
    return ctx;
}

/* Print with fn into a fresh string (caller frees). */
static inline char *report_fixture_print(void (*fn)(struct strbuf *, const struct report_context *),
                                         const struct report_context *ctx)
{
    struct strbuf b;
    strbuf_init(&b);
    fn(&b, ctx);
    assert_false(b.failed);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len);
    return b.data;
}

#endif /* TTALLOC_TEST_REPORT_FIXTURE_H */
