/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_stream.c - tt-alloc-record's side of the server's event
 * stream (src/record/record_stream.c), fed real frames over a
 * SOCK_SEQPACKET pair and written to a real .ttrec file that is read back
 * with the library's reader: processes, devices, allocs, frees, peak
 * resets, exits, gaps and a live state become the same records with times
 * relative to the start; a --pid filter keeps its processes only, and a
 * live state's count becomes the count of the buffers kept; the stream
 * request is answered or refused (an ERROR: no file); and every way a
 * stream can break (the server hangs up, a frame that lies about its
 * length, an unknown record kind or memory type, a live state that does
 * not add up, an unexpected frame, an ERROR) stops it with a message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "record_filter.h"
#include "record_stream.h"
#include "tmpdir.h"
#include "ttalloc_rec.h"
#include "ttrec.h"

#define MONO0 5000000000ull /* CLOCK_MONOTONIC at the recording's start */

struct rig {
    int server; /* the server's end of the pair */
    struct record_stream rs;
    struct record_filter filter;
    struct ttrec_writer *w;
    char path[TMPDIR_MAX + 32];
};

static void rig_open(struct rig *r, enum record_filter_mode mode, int attach)
{
    static int serial;
    memset(r, 0, sizeof(*r));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    r->server = sv[0];
    record_filter_init(&r->filter, mode);
    r->rs.fd = sv[1];
    r->rs.filter = &r->filter;
    r->rs.rx = malloc(PROTO_MAX_FRAME + 1);
    assert_non_null(r->rs.rx);
    if (!attach)
        return;
    snprintf(r->path, sizeof(r->path), "%s/rec-%d.ttrec", tmpdir, serial++);
    struct ttrec_start start = {
        .realtime_ns = 1795435200000000000ull, .monotonic_ns = MONO0, .host = "unit"};
    assert_int_equal(ttrec_writer_open(r->path, &start, NULL, &r->w), 0);
    record_stream_attach(&r->rs, r->w, &start);
}

static void rig_close(struct rig *r)
{
    if (r->w != NULL)
        assert_int_equal(ttrec_writer_close(r->w), 0);
    r->w = NULL;
    close(r->rs.fd);
    record_stream_close(&r->rs);
    record_filter_destroy(&r->filter);
    if (r->server >= 0)
        close(r->server);
}

static void send_frame(struct rig *r, uint16_t type, const void *payload, uint32_t len)
{
    static unsigned char buf[PROTO_MAX_FRAME];
    size_t total = proto_put_header(buf, type, len);
    memcpy(buf + sizeof(struct proto_header), payload, len);
    assert_int_equal(send(r->server, buf, total, MSG_NOSIGNAL), (ssize_t)total);
}

static struct proto_stream_record rec(uint8_t kind, int32_t pid, uint64_t t_ns, uint32_t device,
                                      uint8_t type, uint64_t address, uint64_t size)
{
    struct proto_stream_record x;
    memset(&x, 0, sizeof(x));
    x.kind = kind;
    x.pid = pid;
    x.timestamp_ns = MONO0 + t_ns;
    x.device = device;
    x.type = type;
    x.address = address;
    x.size = size;
    return x;
}

static void send_process(struct rig *r, int32_t pid, const char *name, const char *label)
{
    struct proto_stream_process p;
    memset(&p, 0, sizeof(p));
    p.pid = pid;
    p.uid = 1000;
    p.parent_pid = 1;
    p.start_realtime_ns = 1795435200000000000ull;
    p.timestamp_ns = MONO0;
    strncpy(p.name, name, sizeof(p.name) - 1);
    strncpy(p.label, label, sizeof(p.label) - 1);
    send_frame(r, PROTO_STREAM_PROCESS, &p, sizeof(p));
}

/* Read until the socket is empty; the number of frames read. */
static int drain(struct rig *r)
{
    int total = 0, n;
    while ((n = record_stream_read(&r->rs, 64)) > 0)
        total += n;
    assert_int_equal(n, 0);
    return total;
}

/* The file's records, one line each, with the fields of their kind:
 * buffers "kind pid time device type address size", processes' ends and
 * peak resets "kind pid time", gaps and live states "kind time count",
 * a live state's end "kind time". */
static void file_lines(const char *path, char *out, size_t cap)
{
    ttalloc_rec *rd = NULL;
    assert_int_equal(ttalloc_rec_open(path, &rd), 0);
    out[0] = '\0';
    struct ttalloc_rec_event ev;
    int rc;
    while ((rc = ttalloc_rec_next(rd, &ev)) == 1) {
        size_t len = strlen(out);
        switch (ev.kind) {
        case TTALLOC_REC_PROCESS_START:
            snprintf(out + len, cap - len, "start %d %s/%s\n", ev.pid, ev.name, ev.label);
            break;
        case TTALLOC_REC_DEVICE:
            snprintf(out + len, cap - len, "device %u %s\n", ev.device, ev.desc.board_type);
            break;
        case TTALLOC_REC_ALLOC:
        case TTALLOC_REC_FREE:
        case TTALLOC_REC_LIVE_BUFFER:
            snprintf(out + len, cap - len, "%u %d %lld %u %u 0x%llx %llu\n", ev.kind, ev.pid,
                     (long long)ev.time_ns, ev.device, ev.type, (unsigned long long)ev.address,
                     (unsigned long long)ev.size);
            break;
        case TTALLOC_REC_LIVE_END:
            snprintf(out + len, cap - len, "%u %lld\n", ev.kind, (long long)ev.time_ns);
            break;
        case TTALLOC_REC_PEAK_RESET:
        case TTALLOC_REC_PROCESS_EXIT:
            snprintf(out + len, cap - len, "%u %d %lld\n", ev.kind, ev.pid, (long long)ev.time_ns);
            break;
        default:
            snprintf(out + len, cap - len, "%u %lld %llu\n", ev.kind, (long long)ev.time_ns,
                     (unsigned long long)ev.count);
        }
    }
    assert_int_equal(rc, 0);
    assert_false(ttalloc_rec_truncated(rd));
    ttalloc_rec_close(rd);
}

static void test_every_record_kind_reaches_the_file(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, RECORD_FILTER_ALL, 1);
    send_process(&r, 100, "python3", "llama");
    struct proto_stream_device d;
    memset(&d, 0, sizeof(d));
    d.device = 2;
    d.timestamp_ns = MONO0;
    strcpy(d.desc.board_type, "n300");
    send_frame(&r, PROTO_STREAM_DEVICE, &d, sizeof(d));
    struct proto_stream_record evs[] = {
        rec(PROTO_STREAM_ALLOC, 100, 1000, 2, TTALLOC_DRAM, 0x1000, 4096),
        rec(PROTO_STREAM_ALLOC, 100, 2000, 2, TTALLOC_L1, 0x20, 64),
        rec(PROTO_STREAM_FREE, 100, 3000, 2, TTALLOC_L1, 0x20, 64),
        rec(PROTO_STREAM_RESET_PEAK, 100, 4000, 0, 0, 0, 0),
        rec(PROTO_STREAM_GAP, 0, 5000, 0, 0, 0, 9),
        rec(PROTO_STREAM_LIVE_BEGIN, 0, 5000, 0, 0, 0, 1),
        rec(PROTO_STREAM_LIVE_BUFFER, 100, 1000, 2, TTALLOC_DRAM, 0x1000, 4096),
        rec(PROTO_STREAM_LIVE_END, 0, 6000, 0, 0, 0, 0),
        rec(PROTO_STREAM_EXIT, 100, 7000, 0, 0, 0, 0),
    };
    send_frame(&r, PROTO_STREAM_EVENTS, evs, sizeof(evs));
    assert_int_equal(drain(&r), 3);
    assert_int_equal(r.rs.gaps, 1);
    assert_int_equal(r.rs.lost, 9);
    assert_int_equal(r.rs.error[0], '\0');
    assert_int_equal(ttrec_writer_close(r.w), 0);
    r.w = NULL;
    char lines[2048];
    file_lines(r.path, lines, sizeof(lines));
    /* a live buffer's alloc time is not on the wire: the state's time */
    assert_string_equal(lines, "start 100 python3/llama\n"
                               "device 2 n300\n"
                               "1 100 1000 2 0 0x1000 4096\n"
                               "1 100 2000 2 1 0x20 64\n"
                               "2 100 3000 2 1 0x20 64\n"
                               "3 100 4000\n"
                               "10 5000 9\n"
                               "4 5000 1\n"
                               "5 100 5000 2 0 0x1000 4096\n"
                               "6 6000\n"
                               "8 100 7000\n");
    rig_close(&r);
}

static void test_pid_filter_and_live_count(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, RECORD_FILTER_PIDS, 1);
    assert_int_equal(record_filter_add(&r.filter, 100), 0);
    send_process(&r, 100, "kept", "");
    send_process(&r, 200, "other", "");
    struct proto_stream_record evs[] = {
        rec(PROTO_STREAM_ALLOC, 200, 1000, 0, TTALLOC_DRAM, 0x1, 1),
        rec(PROTO_STREAM_ALLOC, 100, 1000, 0, TTALLOC_DRAM, 0x2, 2),
        rec(PROTO_STREAM_LIVE_BEGIN, 0, 2000, 0, 0, 0, 3),
        rec(PROTO_STREAM_LIVE_BUFFER, 200, 1000, 0, TTALLOC_DRAM, 0x1, 1),
        rec(PROTO_STREAM_LIVE_BUFFER, 100, 1000, 0, TTALLOC_DRAM, 0x2, 2),
        rec(PROTO_STREAM_LIVE_BUFFER, 200, 1500, 0, TTALLOC_CB, 0x3, 3),
        rec(PROTO_STREAM_LIVE_END, 0, 2000, 0, 0, 0, 0),
        rec(PROTO_STREAM_EXIT, 200, 3000, 0, 0, 0, 0),
    };
    send_frame(&r, PROTO_STREAM_EVENTS, evs, sizeof(evs));
    drain(&r);
    assert_int_equal(ttrec_writer_close(r.w), 0);
    r.w = NULL;
    char lines[2048];
    file_lines(r.path, lines, sizeof(lines));
    /* pid 200 nowhere; the live state counts the one buffer kept */
    assert_string_equal(lines, "start 100 kept/\n"
                               "1 100 1000 0 0 0x2 2\n"
                               "4 2000 1\n"
                               "5 100 2000 0 0 0x2 2\n"
                               "6 2000\n");
    rig_close(&r);
}

/* A stream that breaks: read returns `want` and the message holds `says`. */
static void expect_stop(struct rig *r, int want, const char *says)
{
    int n;
    while ((n = record_stream_read(&r->rs, 64)) > 0)
        ;
    assert_int_equal(n, want);
    if (strstr(r->rs.error, says) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", r->rs.error, says);
}

static void test_broken_streams_stop_with_a_reason(void **state)
{
    (void)state;
    struct rig r;
    struct proto_stream_record x;

    rig_open(&r, RECORD_FILTER_ALL, 0);
    close(r.server);
    r.server = -1;
    expect_stop(&r, -EPIPE, "the server closed the stream");
    rig_close(&r);

    rig_open(&r, RECORD_FILTER_ALL, 0);
    unsigned char lie[16] = {0};
    proto_put_header(lie, PROTO_STREAM_EVENTS, 4000); /* says 4000 bytes, holds 8 */
    assert_int_equal(send(r.server, lie, sizeof(lie), 0), (ssize_t)sizeof(lie));
    expect_stop(&r, -EPROTO, "bad frame from the server");
    rig_close(&r);

    rig_open(&r, RECORD_FILTER_ALL, 0);
    x = rec(99, 1, 0, 0, 0, 0, 0);
    send_frame(&r, PROTO_STREAM_EVENTS, &x, sizeof(x));
    expect_stop(&r, -EPROTO, "a stream record of an unknown kind");
    rig_close(&r);

    rig_open(&r, RECORD_FILTER_ALL, 0);
    x = rec(PROTO_STREAM_ALLOC, 1, 0, 0, TTALLOC_NUM_TYPES, 0x1, 1);
    send_frame(&r, PROTO_STREAM_EVENTS, &x, sizeof(x));
    expect_stop(&r, -EPROTO, "an event of an unknown memory type");
    rig_close(&r);

    /* a live state that ends before its count, or runs past it */
    rig_open(&r, RECORD_FILTER_ALL, 0);
    struct proto_stream_record early[] = {
        rec(PROTO_STREAM_LIVE_BEGIN, 0, 0, 0, 0, 0, 2),
        rec(PROTO_STREAM_LIVE_BUFFER, 1, 0, 0, TTALLOC_DRAM, 0x1, 1),
        rec(PROTO_STREAM_LIVE_END, 0, 0, 0, 0, 0, 0),
    };
    send_frame(&r, PROTO_STREAM_EVENTS, early, sizeof(early));
    expect_stop(&r, -EPROTO, "the server's live state does not add up");
    rig_close(&r);
    rig_open(&r, RECORD_FILTER_ALL, 0);
    struct proto_stream_record late[] = {
        rec(PROTO_STREAM_LIVE_BEGIN, 0, 0, 0, 0, 0, 0),
        rec(PROTO_STREAM_LIVE_BUFFER, 1, 0, 0, TTALLOC_DRAM, 0x1, 1),
    };
    send_frame(&r, PROTO_STREAM_EVENTS, late, sizeof(late));
    expect_stop(&r, -EPROTO, "the server's live state does not add up");
    rig_close(&r);

    rig_open(&r, RECORD_FILTER_ALL, 0);
    struct proto_flush f = {1};
    send_frame(&r, PROTO_FLUSH_ACK, &f, sizeof(f));
    expect_stop(&r, -EPROTO, "an unexpected frame on the stream");
    rig_close(&r);

    rig_open(&r, RECORD_FILTER_ALL, 0);
    unsigned char err[256];
    size_t n = proto_put_error(err, sizeof(err), PROTO_ERR_LIMIT, "too many streams");
    assert_int_equal(send(r.server, err, n, 0), (ssize_t)n);
    expect_stop(&r, -EPROTO, "the server ended the stream: too many streams");
    rig_close(&r);
}

static void test_stream_request(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, RECORD_FILTER_ALL, 0);
    /* the server answers with the first frame: the stream has begun, and
     * that frame is still there to be read */
    send_process(&r, 5, "x", "");
    assert_int_equal(record_stream_start(&r.rs, 20000), 0);
    static unsigned char buf[PROTO_MAX_FRAME];
    ssize_t got = recv(r.server, buf, sizeof(buf), 0);
    struct proto_header hdr;
    const void *payload;
    assert_int_equal(proto_parse_frame(buf, (size_t)got, &hdr, &payload, NULL, 0), 0);
    assert_int_equal(hdr.type, PROTO_STREAM_REQ);
    assert_int_equal(drain(&r), 1);
    rig_close(&r);

    /* refused: no stream, and the server's reason */
    rig_open(&r, RECORD_FILTER_ALL, 0);
    unsigned char err[256];
    size_t n = proto_put_error(err, sizeof(err), PROTO_ERR_LIMIT, "a\x1b[2J limit");
    assert_int_equal(send(r.server, err, n, 0), (ssize_t)n);
    assert_int_equal(record_stream_start(&r.rs, 20000), -EPROTO);
    assert_non_null(strstr(r.rs.error, "the server refused the stream: a"));
    rig_close(&r);

    /* silence: a timeout, not a hang */
    rig_open(&r, RECORD_FILTER_ALL, 0);
    assert_int_equal(record_stream_start(&r.rs, 0), -ETIMEDOUT);
    assert_non_null(strstr(r.rs.error, "did not answer the stream request in time"));
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_record_kind_reaches_the_file),
        cmocka_unit_test(test_pid_filter_and_live_count),
        cmocka_unit_test(test_broken_streams_stop_with_a_reason),
        cmocka_unit_test(test_stream_request),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
