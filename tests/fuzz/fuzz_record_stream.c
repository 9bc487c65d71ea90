/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_record_stream.c - tt-alloc-record's side of the event stream
 * (src/record/record_stream.c): frames as the server might send them, or a
 * hostile or broken one, over a real SOCK_SEQPACKET pair, into the .ttrec
 * writer (to /dev/null). The input is a sequence of frames, each prefixed by
 * a 2-byte length. Whatever arrives, the reader either takes it or stops
 * with a message saying why; it never crashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "record_filter.h"
#include "record_stream.h"
#include "ttrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct record_filter filter;
    /* The first byte picks the filter: everything, a pid list, or a tree. */
    enum record_filter_mode mode =
        size > 0 ? (enum record_filter_mode)(data[0] % 3) : RECORD_FILTER_ALL;
    record_filter_init(&filter, mode);
    if (mode == RECORD_FILTER_PIDS)
        record_filter_add(&filter, 100);
    else if (mode == RECORD_FILTER_TREE)
        record_filter_set_root(&filter, 100);

    struct record_stream rs;
    memset(&rs, 0, sizeof(rs));
    rs.fd = sv[1];
    rs.filter = &filter;
    rs.rx = malloc(PROTO_MAX_FRAME + 1);
    struct ttrec_start start = {.realtime_ns = 1000000000000ull, .monotonic_ns = 1000000000ull};
    struct ttrec_writer *w = NULL;
    if (rs.rx == NULL || null < 0 || ttrec_writer_open_fd(null, &start, NULL, &w) < 0)
        goto out;
    record_stream_attach(&rs, w, &start);

    if (size > 0) {
        data++;
        size--;
    }
    int stopped = 0;
    while (size >= 2 && !stopped) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        if (len > 0 && send(sv[0], data, len, MSG_DONTWAIT) < 0 && errno != EAGAIN)
            break;
        data += len;
        size -= len;
        if (record_stream_read(&rs, 64) < 0) {
            stopped = 1;
            if (rs.error[0] == '\0')
                abort(); /* it stopped without saying why */
        }
    }
    if (!stopped) {
        close(sv[0]);
        sv[0] = -1;
        /* The server went away: the reader says so, and stops. */
        while (record_stream_read(&rs, 64) > 0)
            ;
        if (rs.error[0] == '\0')
            abort();
    }
    ttrec_writer_close(w);
out:
    free(rs.rx);
    free(rs.live);
    record_filter_destroy(&filter);
    if (null >= 0)
        close(null);
    if (sv[0] >= 0)
        close(sv[0]);
    close(sv[1]);
    return 0;
}
