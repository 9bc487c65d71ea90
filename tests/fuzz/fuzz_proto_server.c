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
        struct proto_header hdr;
        const void *payload;
        const char *why;
        if (proto_parse_frame(frame, len, &hdr, &payload, &why) < 0)
            continue;
        struct ledger_process *who = hdr.flags & 1 ? q : p;
        switch (hdr.type) {
        case PROTO_HELLO: {
            struct proto_hello hello;
            char msg[256];
            proto_check_hello(payload, hdr.length, &hello, msg, sizeof(msg));
            break;
        }
        case PROTO_EVENTS:
            ledger_apply_events(&l, who, payload, hdr.length / sizeof(struct proto_event), NULL);
            break;
        case PROTO_DEVICE_DESC: {
            struct proto_device_desc desc;
            memcpy(&desc, payload, sizeof(desc));
            ledger_describe(&l, who->pid, desc.device, &desc.desc);
            break;
        }
        case PROTO_RESYNC_BEGIN:
            ledger_forget(&l, who);
            break;
        case PROTO_RESYNC_END: {
            struct proto_resync_end end;
            memcpy(&end, payload, sizeof(end));
            ledger_resync_end(&l, who, end.buffers, end.bytes);
            break;
        }
        default:
            break;
        }
        fuzz_check_totals(&l);
    }
    free(frame);
    if (q != NULL && size == 0)
        ledger_exit(&l, q, 2);
    fuzz_check_totals(&l);
    ledger_destroy(&l);
    return 0;
}
