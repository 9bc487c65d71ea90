/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ttrec.c - the .ttrec format: every record kind written and read back
 * exactly, deltas across frame boundaries, extremes; and the reader on hostile
 * input: an empty file, garbage, a file cut at every byte (the readable
 * prefix, never an error), bit flips (an error or records, never a crash),
 * a newer version and implausible frame sizes.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "ttrec.h"

#define START_MONO 1000000000000ull

/* A writer on a temporary file; read_file() gives its bytes back. */
struct tmp_recording {
    char path[64];
    struct ttrec_writer *w;
};

static void tmp_open(struct tmp_recording *t, size_t frame_bytes)
{
    snprintf(t->path, sizeof(t->path), "/tmp/test_ttrec.XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    close(fd);
    struct ttrec_start start = {
        .realtime_ns = 1764000000123456789ull, .monotonic_ns = START_MONO, .host = "testhost"};
    struct ttrec_writer_options opts = {.frame_bytes = frame_bytes};
    assert_int_equal(ttrec_writer_open(t->path, &start, &opts, &t->w), 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Every kind, with values that exercise the deltas (backwards time,
 * descending pids, addresses at both ends of the range). */
static int make_events(struct ttalloc_rec_event *evs, int max)
{
    int n = 0;
    memset(evs, 0, sizeof(*evs) * (size_t)max);
#define NEXT (&evs[n++])
    struct ttalloc_rec_event *e;
    e = NEXT;
    e->kind = TTALLOC_REC_DEVICE;
    e->device = 3;
    e->time_ns = 0;
    e->desc.board_serial = 0x1234567890ull;
    e->desc.asic_id = UINT64_MAX;
    e->desc.capacity[TTALLOC_DRAM] = 12ull << 30;
    e->desc.capacity[TTALLOC_L1] = 1499136;
    e->desc.is_remote = 1;
    strcpy(e->desc.board_type, "n300");
    e = NEXT;
    e->kind = TTALLOC_REC_LIVE_BEGIN;
    e->count = 2;
    e->time_ns = 5;
    e = NEXT;
    e->kind = TTALLOC_REC_LIVE_BUFFER;
    e->pid = 100;
    e->device = 0;
    e->type = TTALLOC_DRAM;
    e->address = 0x10000;
    e->size = 4096;
    e->time_ns = -5000000000ll;
    e = NEXT;
    e->kind = TTALLOC_REC_LIVE_BUFFER;
    e->pid = 100;
    e->device = 0;
    e->type = TTALLOC_L1;
    e->address = UINT64_MAX - 7;
    e->size = UINT64_MAX;
    e->time_ns = 5;
    e = NEXT;
    e->kind = TTALLOC_REC_LIVE_END;
    e->time_ns = 5;
    e = NEXT;
    e->kind = TTALLOC_REC_PROCESS_START;
    e->pid = 2147483647;
    e->parent_pid = -1;
    e->uid = 4294967295u;
    strcpy(e->name, "python3");
    strcpy(e->label, "llama-70b, \"quoted\"");
    e->time_ns = -3;
    e = NEXT;
    e->kind = TTALLOC_REC_ALLOC;
    e->pid = -2147483647 - 1;
    e->device = UINT32_MAX;
    e->type = TTALLOC_CB;
    e->address = 0;
    e->size = 1;
    e->time_ns = INT64_MAX;
    e = NEXT;
    e->kind = TTALLOC_REC_FREE;
    e->pid = 7;
    e->device = 1;
    e->type = TTALLOC_TRACE;
    e->address = 0x8000000000000000ull;
    e->size = 0;
    e->time_ns = INT64_MIN;
    e = NEXT;
    e->kind = TTALLOC_REC_FREE;
    e->pid = 7;
    e->device = 1;
    e->type = TTALLOC_TRACE;
    e->address = 0x8000000000000000ull - 64;
    e->size = 64;
    e->time_ns = 17;
    e = NEXT;
    e->kind = TTALLOC_REC_PEAK_RESET;
    e->pid = 7;
    e->time_ns = 18;
    e = NEXT;
    e->kind = TTALLOC_REC_GAP;
    e->count = 123456789;
    e->time_ns = 19;
    e = NEXT;
    e->kind = TTALLOC_REC_SHM_SAMPLE;
    e->pid = 555;
    e->device = 2;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        e->bytes[t] = (uint64_t)t * 1000003u;
    e->time_ns = 20;
    e = NEXT;
    e->kind = TTALLOC_REC_TELEMETRY;
    e->device = 2;
    e->temperature_c = 61.25;
    e->power_w = NAN;
    e->time_ns = 21;
    e = NEXT;
    e->kind = TTALLOC_REC_TELEMETRY;
    e->device = 2;
    e->temperature_c = -4.5;
    e->power_w = 87.125;
    e->time_ns = 21;
    e = NEXT;
    e->kind = TTALLOC_REC_PROCESS_EXIT;
    e->pid = 555;
    e->time_ns = 22;
    e = NEXT;
    e->kind = TTALLOC_REC_PROCESS_START;
    e->pid = 9;
    e->parent_pid = 1;
    e->uid = 0;
    e->time_ns = 23;
#undef NEXT
    assert_true(n <= max);
    return n;
}

static void assert_same_event(const struct ttalloc_rec_event *a, const struct ttalloc_rec_event *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->time_ns, b->time_ns);
    switch (a->kind) {
    case TTALLOC_REC_ALLOC:
    case TTALLOC_REC_FREE:
    case TTALLOC_REC_LIVE_BUFFER:
        assert_int_equal(a->pid, b->pid);
        assert_int_equal(a->device, b->device);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->address, b->address);
        assert_int_equal(a->size, b->size);
        break;
    case TTALLOC_REC_PEAK_RESET:
    case TTALLOC_REC_PROCESS_EXIT:
        assert_int_equal(a->pid, b->pid);
        break;
    case TTALLOC_REC_LIVE_BEGIN:
    case TTALLOC_REC_GAP:
        assert_int_equal(a->count, b->count);
        break;
    case TTALLOC_REC_PROCESS_START:
        assert_int_equal(a->pid, b->pid);
        assert_int_equal(a->parent_pid, b->parent_pid);
        assert_int_equal(a->uid, b->uid);
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->label, b->label);
        break;
    case TTALLOC_REC_DEVICE:
        assert_int_equal(a->device, b->device);
        assert_memory_equal(&a->desc, &b->desc, sizeof(a->desc));
        break;
    case TTALLOC_REC_SHM_SAMPLE:
        assert_int_equal(a->pid, b->pid);
        assert_int_equal(a->device, b->device);
        assert_memory_equal(a->bytes, b->bytes, sizeof(a->bytes));
        break;
    case TTALLOC_REC_TELEMETRY:
        assert_int_equal(a->device, b->device);
        assert_int_equal(isnan(a->temperature_c), isnan(b->temperature_c));
        assert_int_equal(isnan(a->power_w), isnan(b->power_w));
        if (!isnan(a->temperature_c))
            assert_true(fabs(a->temperature_c - b->temperature_c) < 1e-9);
        if (!isnan(a->power_w))
            assert_true(fabs(a->power_w - b->power_w) < 1e-9);
        break;
    }
}

static void test_every_kind_round_trips(void **state)
{
    (void)state;
    struct ttalloc_rec_event evs[32], got;
    int n = make_events(evs, 32);
    struct tmp_recording t;
    tmp_open(&t, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ttrec_writer_write(t.w, &evs[i]), 0);
    assert_int_equal(ttrec_writer_events(t.w), 3);
    assert_int_equal(ttrec_writer_records(t.w), (uint64_t)n);
    assert_int_equal(ttrec_writer_gaps(t.w), 1);
    assert_int_equal(ttrec_writer_close(t.w), 0);

    ttalloc_rec *r;
    assert_int_equal(ttalloc_rec_open(t.path, &r), 0);
    const struct ttalloc_rec_info *info = ttalloc_rec_info(r);
    assert_int_equal(info->version, TTALLOC_REC_VERSION);
    assert_int_equal(info->start_realtime_ns, 1764000000123456789ull);
    assert_int_equal(info->start_monotonic_ns, START_MONO);
    assert_string_equal(info->host, "testhost");
    for (int i = 0; i < n; i++) {
        assert_int_equal(ttalloc_rec_next(r, &got), 1);
        assert_same_event(&evs[i], &got);
    }
    assert_int_equal(ttalloc_rec_next(r, &got), 0);
    assert_int_equal(ttalloc_rec_next(r, &got), 0);
    assert_false(ttalloc_rec_truncated(r));
    assert_string_equal(ttalloc_rec_error_message(r), "");
    ttalloc_rec_close(r);
    unlink(t.path);
}

/* The typed writers take absolute CLOCK_MONOTONIC times. */
static void test_typed_writers_store_relative_times(void **state)
{
    (void)state;
    struct tmp_recording t;
    tmp_open(&t, 0);
    struct proto_event pe = {.address = 0x2000,
                             .size = 64,
                             .device = 1,
                             .type = TTALLOC_L1,
                             .op = PROTO_OP_ALLOC,
                             .timestamp_ns = START_MONO + 1500};
    assert_int_equal(ttrec_write_proto_event(t.w, 42, &pe), 0);
    pe.op = PROTO_OP_FREE;
    pe.size = 0;
    pe.timestamp_ns = START_MONO + 2500;
    assert_int_equal(ttrec_write_proto_event(t.w, 42, &pe), 0);
    pe.op = 99;
    assert_int_equal(ttrec_write_proto_event(t.w, 42, &pe), -EINVAL);
    assert_int_equal(ttrec_write_alloc(t.w, 1, 0, 6, 0, 1, START_MONO), -EINVAL);
    assert_int_equal(ttrec_write_live_begin(t.w, START_MONO + 3000, 1), 0);
    assert_int_equal(ttrec_write_live_buffer(t.w, 42, 0, TTALLOC_DRAM, 0x40, 32, 0), 0);
    assert_int_equal(ttrec_write_live_end(t.w, START_MONO + 3000), 0);
    assert_int_equal(ttrec_write_process_start(t.w, 42, 1, 1000,
                                               "a-very-long-process-name-beyond-31", NULL,
                                               START_MONO - 1000000000ull, START_MONO),
                     0);
    assert_int_equal(ttrec_write_process_exit(t.w, 42, START_MONO + 4000), 0);
    assert_int_equal(ttrec_writer_close(t.w), 0);

    ttalloc_rec *r;
    struct ttalloc_rec_event ev;
    assert_int_equal(ttalloc_rec_open(t.path, &r), 0);
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_ALLOC);
    assert_int_equal(ev.time_ns, 1500);
    assert_int_equal(ev.pid, 42);
    assert_int_equal(ev.size, 64);
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_FREE);
    assert_int_equal(ev.time_ns, 2500);
    assert_int_equal(ev.address, 0x2000);
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_LIVE_BEGIN);
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_LIVE_BUFFER);
    assert_int_equal(ev.time_ns, 3000); /* unknown alloc time: the live state's time */
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_PROCESS_START);
    assert_int_equal(ev.time_ns, -1000000000ll);
    assert_string_equal(ev.name, "a-very-long-process-name-beyond");
    assert_string_equal(ev.label, "");
    assert_int_equal(ttalloc_rec_next(r, &ev), 1);
    assert_int_equal(ev.kind, TTALLOC_REC_PROCESS_EXIT);
    assert_int_equal(ev.time_ns, 4000);
    assert_int_equal(ttalloc_rec_next(r, &ev), 0);
    ttalloc_rec_close(r);
    unlink(t.path);
}

/* Many small frames: each resets the delta context and still decodes. */
static void write_many(struct tmp_recording *t, int count)
{
    for (int i = 0; i < count; i++) {
        uint64_t addr = 0x100000 + (uint64_t)(i % 97) * 4096;
        assert_int_equal(ttrec_write_alloc(t->w, 1000 + i % 3, (uint32_t)(i % 2), TTALLOC_DRAM,
                                           addr, 4096, START_MONO + (uint64_t)i * 100),
                         0);
        assert_int_equal(ttrec_write_free(t->w, 1000 + i % 3, (uint32_t)(i % 2), TTALLOC_DRAM, addr,
                                          4096, START_MONO + (uint64_t)i * 100 + 50),
                         0);
    }
}

static void check_many(ttalloc_rec *r, int count)
{
    struct ttalloc_rec_event ev;
    for (int i = 0; i < count; i++) {
        uint64_t addr = 0x100000 + (uint64_t)(i % 97) * 4096;
        assert_int_equal(ttalloc_rec_next(r, &ev), 1);
        assert_int_equal(ev.kind, TTALLOC_REC_ALLOC);
        assert_int_equal(ev.pid, 1000 + i % 3);
        assert_int_equal(ev.device, (uint32_t)(i % 2));
        assert_int_equal(ev.address, addr);
        assert_int_equal(ev.time_ns, (int64_t)i * 100);
        assert_int_equal(ttalloc_rec_next(r, &ev), 1);
        assert_int_equal(ev.kind, TTALLOC_REC_FREE);
        assert_int_equal(ev.time_ns, (int64_t)i * 100 + 50);
    }
}

static void test_many_frames(void **state)
{
    (void)state;
    struct tmp_recording t;
    tmp_open(&t, 4096);
    write_many(&t, 20000);
    assert_int_equal(ttrec_writer_flush(t.w), 0);
    uint64_t bytes = ttrec_writer_bytes(t.w);
    assert_int_equal(ttrec_writer_close(t.w), 0);
    size_t len;
    unsigned char *data = read_file(t.path, &len);
    assert_int_equal(len, bytes);
    ttalloc_rec *r;
    assert_int_equal(ttalloc_rec_open_memory(data, len, &r), 0);
    check_many(r, 20000);
    struct ttalloc_rec_event ev;
    assert_int_equal(ttalloc_rec_next(r, &ev), 0);
    assert_int_equal(ttalloc_rec_offset(r), len);
    ttalloc_rec_close(r);
    free(data);
    unlink(t.path);
}

/* A flushed frame is readable while the writer still holds the file open. */
static void test_readable_while_written(void **state)
{
    (void)state;
    struct tmp_recording t;
    tmp_open(&t, 0);
    write_many(&t, 100);
    assert_int_equal(ttrec_writer_flush(t.w), 0);
    write_many(&t, 5); /* pending, not yet on disk */
    ttalloc_rec *r;
    assert_int_equal(ttalloc_rec_open(t.path, &r), 0);
    check_many(r, 100);
    struct ttalloc_rec_event ev;
    assert_int_equal(ttalloc_rec_next(r, &ev), 0);
    ttalloc_rec_close(r);
    assert_int_equal(ttrec_writer_close(t.w), 0);
    unlink(t.path);
}

/* Count records until the end or an error; returns the count, *rc the last result. */
static int read_all(const unsigned char *data, size_t len, int *rc_out, int *truncated)
{
    ttalloc_rec *r;
    int rc = ttalloc_rec_open_memory(data, len, &r);
    if (rc < 0) {
        assert_true(strlen(ttalloc_rec_error_message(NULL)) > 0);
        *rc_out = rc;
        return -1;
    }
    struct ttalloc_rec_event ev;
    int n = 0;
    while ((rc = ttalloc_rec_next(r, &ev)) == 1)
        n++;
    if (rc < 0)
        assert_true(strlen(ttalloc_rec_error_message(r)) > 0);
    if (truncated)
        *truncated = ttalloc_rec_truncated(r);
    *rc_out = rc;
    ttalloc_rec_close(r);
    return n;
}

/* Cut at every byte: the header cut is an error; after it, never an error,
 * and the records read are the complete frames before the cut. */
static void test_cut_at_every_byte(void **state)
{
    (void)state;
    struct tmp_recording t;
    tmp_open(&t, 4096);
    write_many(&t, 1500);
    assert_int_equal(ttrec_writer_close(t.w), 0);
    size_t len;
    unsigned char *data = read_file(t.path, &len);
    int full_rc, full = read_all(data, len, &full_rc, NULL);
    assert_int_equal(full, 3000);
    assert_int_equal(full_rc, 0);
    int previous = 0, frames_seen = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int rc, truncated = 0;
        int n = read_all(data, cut, &rc, &truncated);
        if (cut < 128) {
            assert_int_equal(rc, -EBADMSG);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(n >= previous);
        assert_true(n < full);
        if (n > previous)
            frames_seen++;
        /* cut short unless the cut falls just after a complete frame */
        if (cut > 128)
            assert_int_equal(truncated, n == previous);
        previous = n;
    }
    assert_true(frames_seen >= 3);
    free(data);
    unlink(t.path);
}

static void test_empty_and_garbage(void **state)
{
    (void)state;
    int rc;
    unsigned char empty[1] = {0};
    assert_int_equal(read_all(empty, 0, &rc, NULL), -1);
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(ttalloc_rec_error_message(NULL), "not a tt-alloc recording"));

    unsigned char garbage[4096];
    srand(7);
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (unsigned char)rand();
    assert_int_equal(read_all(garbage, sizeof(garbage), &rc, NULL), -1);
    assert_int_equal(rc, -EBADMSG);

    /* A valid header then garbage: a clear error, no record. */
    struct tmp_recording t;
    tmp_open(&t, 0);
    assert_int_equal(ttrec_writer_close(t.w), 0);
    size_t len;
    unsigned char *hdr = read_file(t.path, &len);
    assert_int_equal(len, 128);
    unsigned char buf[128 + sizeof(garbage)];
    memcpy(buf, hdr, 128);
    memcpy(buf + 128, garbage, sizeof(garbage));
    assert_int_equal(read_all(buf, sizeof(buf), &rc, NULL), 0);
    assert_int_equal(rc, -EBADMSG);

    /* A newer version is named, not misread. */
    buf[8] = 2;
    assert_int_equal(read_all(buf, sizeof(buf), &rc, NULL), -1);
    assert_int_equal(rc, -EPROTONOSUPPORT);
    assert_non_null(strstr(ttalloc_rec_error_message(NULL), "version 2"));
    buf[8] = 1;

    /* A frame header claiming 4 GiB: refused before any allocation. */
    unsigned char huge[128 + 16];
    memcpy(huge, hdr, 128);
    memcpy(huge + 128, "TTRF\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00", 16);
    assert_int_equal(read_all(huge, sizeof(huge), &rc, NULL), 0);
    assert_int_equal(rc, -EBADMSG);

    assert_int_equal(ttalloc_rec_open("/nonexistent/x.ttrec", &(ttalloc_rec *){NULL}), -ENOENT);
    assert_non_null(strstr(ttalloc_rec_error_message(NULL), "/nonexistent/x.ttrec"));
    free(hdr);
    unlink(t.path);
}

/* Flip every bit of a small file in turn: the zstd checksum or the record
 * checks catch it, or the records still parse; never a crash (ASan). */
static void test_bit_flips(void **state)
{
    (void)state;
    struct ttalloc_rec_event evs[32];
    int n = make_events(evs, 32);
    struct tmp_recording t;
    tmp_open(&t, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ttrec_writer_write(t.w, &evs[i]), 0);
    assert_int_equal(ttrec_writer_close(t.w), 0);
    size_t len;
    unsigned char *data = read_file(t.path, &len);
    int errors = 0;
    for (size_t i = 0; i < len * 8; i++) {
        data[i / 8] ^= (unsigned char)(1u << (i % 8));
        int rc;
        read_all(data, len, &rc, NULL);
        if (rc < 0)
            errors++;
        data[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    assert_true(errors > (int)(len * 8) / 2);
    free(data);
    unlink(t.path);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(ttalloc_rec_kind_name(TTALLOC_REC_ALLOC), "alloc");
    assert_string_equal(ttalloc_rec_kind_name(TTALLOC_REC_TELEMETRY), "telemetry");
    assert_null(ttalloc_rec_kind_name(0));
    assert_null(ttalloc_rec_kind_name(TTALLOC_REC_KIND_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_round_trips),
        cmocka_unit_test(test_typed_writers_store_relative_times),
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_readable_while_written),
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_empty_and_garbage),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
