/*
 * fuzz_proto_server.c - the server's side of the wire: a received datagram
 * through proto_parse_frame, then what server.c does with it (HELLO check,
 * events into the ledger, a device description, resync end). The input is
 * a sequence of frames, each prefixed by a 2-byte length, all from one
 * producer of a ledger with small limits (so limits are reached too). After
 * each frame the ledger's totals must still add up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "proto.h"

static void fuzz_check_totals(const struct ledger *l)
{
    uint64_t buffers = 0;
    for (size_t i = 0; i < l->n_procs; i++)
        buffers += l->procs[i]->table.count;
    if (buffers != l->live_buffers)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct quota_limits caps = {.max_conns = 2, .max_buffers = 512, .max_devices = 8};
    struct ledger_limits limits = {.max_buffers = 1024, .max_devices = 16, .per_uid = &caps};
    struct ledger l;
    if (ledger_init(&l, &limits) < 0)
        return 0;
    struct ledger_process *p = NULL, *q = NULL;
    ledger_attach(&l, 100, 1000, "fuzz", NULL, 1, &p);
    ledger_attach(&l, 101, 1000, "other", NULL, 1, &q);
    /* Two streams of p (its events are merged by timestamp), one of q. */
    struct ledger_stream *streams[3] = {NULL, NULL, NULL};
    if (p != NULL) {
        ledger_stream_open(&l, p, &streams[0]);
        ledger_stream_open(&l, p, &streams[1]);
    }
    if (q != NULL)
        ledger_stream_open(&l, q, &streams[2]);
    uint64_t now = 1000000000ull;   /* the server's clock, moving on per frame */
    /* 8-byte aligned copies, as the server's receive buffer is. */
    uint64_t *frame = malloc(PROTO_MAX_FRAME + 8);
    while (frame != NULL && size >= 2) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        memcpy(frame, data, len);
        data += len;
        size -= len;
        now += 1000000u;
        struct proto_header hdr;
        const void *payload;
        const char *why;
        if (proto_parse_frame(frame, len, &hdr, &payload, &why) < 0)
            continue;
        struct ledger_stream *s = streams[hdr.flags % 3];
        struct ledger_process *who = hdr.flags % 3 == 2 ? q : p;
        if (s == NULL || who == NULL)
            continue;
        struct proto_event bad;
        switch (hdr.type) {
        case PROTO_HELLO: {
            struct proto_hello hello;
            char msg[256];
            proto_check_hello(payload, hdr.length, &hello, msg, sizeof(msg));
            break;
        }
        case PROTO_EVENTS:
            ledger_submit(&l, s, payload, hdr.length / sizeof(struct proto_event), now, &bad);
            break;
        case PROTO_FLUSH:
            ledger_stream_sync(&l, s, &bad);
            break;
        case PROTO_DEVICE_DESC: {
            struct proto_device_desc desc;
            memcpy(&desc, payload, sizeof(desc));
            ledger_describe(&l, who->pid, desc.device, &desc.desc);
            break;
        }
        case PROTO_RESYNC_BEGIN:
            ledger_resync_begin(&l, s);
            break;
        case PROTO_PEAKS:
            ledger_merge_peaks(&l, s, payload, hdr.length / sizeof(struct proto_peak));
            break;
        case PROTO_RESYNC_END: {
            struct proto_resync_end end;
            memcpy(&end, payload, sizeof(end));
            ledger_resync_end(&l, s, end.buffers, end.bytes);
            break;
        }
        default:
            break;
        }
        ledger_release(&l, now);
        /* A faulted process loses its buffers, as the server kicks it. */
        if (ledger_take_fault(&l, who, &bad) != 0)
            ledger_forget(&l, who);
        fuzz_check_totals(&l);
    }
    free(frame);
    for (int i = 0; i < 3; i++) {
        if (streams[i] != NULL)
            ledger_stream_close(&l, streams[i], now);
    }
    if (q != NULL && size == 0)
        ledger_exit(&l, q, 2);
    fuzz_check_totals(&l);
    ledger_destroy(&l);
    return 0;
}
