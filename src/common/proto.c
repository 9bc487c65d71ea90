/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.c - validation and construction of wire frames (see proto.h and
 * docs/PROTOCOL.md). Every received frame goes through proto_parse_frame
 * before any field of it is read; sizes of every wire struct are pinned here.
 */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(struct proto_header) == 8, "proto_header layout");
_Static_assert(sizeof(struct proto_hello) == 80, "proto_hello layout");
_Static_assert(sizeof(struct proto_hello_ack) == 56, "proto_hello_ack layout");
_Static_assert(sizeof(struct proto_error) == 8, "proto_error layout");
_Static_assert(sizeof(struct ttalloc_device_desc) == 88, "ttalloc_device_desc layout");
_Static_assert(sizeof(struct proto_device_desc) == 96, "proto_device_desc layout");
_Static_assert(sizeof(struct proto_event) == 32, "proto_event layout");
_Static_assert(offsetof(struct proto_event, timestamp_ns) == 24, "proto_event.timestamp_ns");
_Static_assert(sizeof(struct proto_peak) == 16, "proto_peak layout");
_Static_assert(sizeof(struct proto_resync_end) == 16, "proto_resync_end layout");
_Static_assert(sizeof(struct proto_flush) == 8, "proto_flush layout");
_Static_assert(sizeof(struct proto_subscribe) == 8, "proto_subscribe layout");
_Static_assert(sizeof(struct proto_buffers_req) == 8, "proto_buffers_req layout");
_Static_assert(sizeof(struct proto_snap_begin) == 64, "proto_snap_begin layout");
_Static_assert(sizeof(struct proto_stream_req) == 8, "proto_stream_req layout");
_Static_assert(sizeof(struct proto_stream_record) == 40, "proto_stream_record layout");
_Static_assert(sizeof(struct proto_stream_process) == 128, "proto_stream_process layout");
_Static_assert(sizeof(struct proto_stream_device) == 104, "proto_stream_device layout");
_Static_assert(sizeof(struct ttalloc_device_stats) == 200, "ttalloc_device_stats layout");
_Static_assert(sizeof(struct ttalloc_process_info) == 144, "ttalloc_process_info layout");
_Static_assert(sizeof(struct ttalloc_usage) == 112, "ttalloc_usage layout");
_Static_assert(sizeof(struct ttalloc_buffer) == 24, "ttalloc_buffer layout");
_Static_assert(sizeof(struct ttalloc_exit) == 216, "ttalloc_exit layout");
_Static_assert(offsetof(struct ttalloc_exit, label) == 152, "ttalloc_exit.label");

/* The first fields of HELLO and HELLO_ACK never change between versions, so a
 * peer of any version can read them and name both versions in its error. */
#define PROTO_HELLO_PREFIX 8u

enum payload_rule {
    PAYLOAD_EMPTY,    /* exactly 0 bytes */
    PAYLOAD_EXACT,    /* exactly `size` bytes */
    PAYLOAD_AT_LEAST, /* `size` bytes or more */
    PAYLOAD_ARRAY,    /* one or more records of `size` bytes */
};

struct type_rule {
    enum proto_msg_type type;
    const char *name;
    enum payload_rule rule;
    size_t size;
};

static const struct type_rule proto_rules[] = {
    {PROTO_HELLO, "HELLO", PAYLOAD_AT_LEAST, PROTO_HELLO_PREFIX},
    {PROTO_HELLO_ACK, "HELLO_ACK", PAYLOAD_AT_LEAST, PROTO_HELLO_PREFIX},
    {PROTO_ERROR, "ERROR", PAYLOAD_AT_LEAST, sizeof(struct proto_error)},
    {PROTO_DEVICE_DESC, "DEVICE_DESC", PAYLOAD_EXACT, sizeof(struct proto_device_desc)},
    {PROTO_EVENTS, "EVENTS", PAYLOAD_ARRAY, sizeof(struct proto_event)},
    {PROTO_RESYNC_BEGIN, "RESYNC_BEGIN", PAYLOAD_EMPTY, 0},
    {PROTO_RESYNC_END, "RESYNC_END", PAYLOAD_EXACT, sizeof(struct proto_resync_end)},
    {PROTO_FLUSH, "FLUSH", PAYLOAD_EXACT, sizeof(struct proto_flush)},
    {PROTO_PEAKS, "PEAKS", PAYLOAD_ARRAY, sizeof(struct proto_peak)},
    {PROTO_FLUSH_ACK, "FLUSH_ACK", PAYLOAD_EXACT, sizeof(struct proto_flush)},
    {PROTO_SNAPSHOT_REQ, "SNAPSHOT_REQ", PAYLOAD_EMPTY, 0},
    {PROTO_SUBSCRIBE, "SUBSCRIBE", PAYLOAD_EXACT, sizeof(struct proto_subscribe)},
    {PROTO_BUFFERS_REQ, "BUFFERS_REQ", PAYLOAD_EXACT, sizeof(struct proto_buffers_req)},
    {PROTO_EXITS_REQ, "EXITS_REQ", PAYLOAD_EMPTY, 0},
    {PROTO_SNAP_BEGIN, "SNAP_BEGIN", PAYLOAD_EXACT, sizeof(struct proto_snap_begin)},
    {PROTO_SNAP_DEVICES, "SNAP_DEVICES", PAYLOAD_ARRAY, sizeof(struct ttalloc_device_stats)},
    {PROTO_SNAP_PROCESSES, "SNAP_PROCESSES", PAYLOAD_ARRAY, sizeof(struct ttalloc_process_info)},
    {PROTO_SNAP_USAGE, "SNAP_USAGE", PAYLOAD_ARRAY, sizeof(struct ttalloc_usage)},
    {PROTO_SNAP_END, "SNAP_END", PAYLOAD_EMPTY, 0},
    {PROTO_BUFFERS, "BUFFERS", PAYLOAD_ARRAY, sizeof(struct ttalloc_buffer)},
    {PROTO_BUFFERS_END, "BUFFERS_END", PAYLOAD_EMPTY, 0},
    {PROTO_EXITS, "EXITS", PAYLOAD_ARRAY, sizeof(struct ttalloc_exit)},
    {PROTO_EXITS_END, "EXITS_END", PAYLOAD_EMPTY, 0},
    {PROTO_STREAM_REQ, "STREAM_REQ", PAYLOAD_EXACT, sizeof(struct proto_stream_req)},
    {PROTO_STREAM_EVENTS, "STREAM_EVENTS", PAYLOAD_ARRAY, sizeof(struct proto_stream_record)},
    {PROTO_STREAM_PROCESS, "STREAM_PROCESS", PAYLOAD_EXACT, sizeof(struct proto_stream_process)},
    {PROTO_STREAM_DEVICE, "STREAM_DEVICE", PAYLOAD_EXACT, sizeof(struct proto_stream_device)},
};

static const struct type_rule *proto_find_rule(unsigned type)
{
    for (size_t i = 0; i < sizeof(proto_rules) / sizeof(proto_rules[0]); i++) {
        if ((unsigned)proto_rules[i].type == type)
            return &proto_rules[i];
    }
    return NULL;
}

const char *proto_type_name(enum proto_msg_type type)
{
    const struct type_rule *rule = proto_find_rule((unsigned)type);
    return rule ? rule->name : "UNKNOWN";
}

size_t proto_record_size(enum proto_msg_type type)
{
    const struct type_rule *rule = proto_find_rule((unsigned)type);
    return rule && rule->rule == PAYLOAD_ARRAY ? rule->size : 0;
}

/* The explanation of a bad frame, into the caller's buffer (if any). */
static int proto_bad_frame(char *why, size_t why_cap, const char *text)
{
    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s", text);
    return -EBADMSG;
}

int proto_parse_frame(const void *buf, size_t len, struct proto_header *hdr_out,
                      const void **payload_out, char *why, size_t why_cap)
{
    struct proto_header hdr;

    if (len < sizeof(hdr)) {
        return proto_bad_frame(why, why_cap, "frame shorter than its header");
    }
    if (len > PROTO_MAX_FRAME) {
        return proto_bad_frame(why, why_cap, "frame larger than the protocol maximum");
    }
    memcpy(&hdr, buf, sizeof(hdr));
    if ((size_t)hdr.length != len - sizeof(hdr)) {
        return proto_bad_frame(why, why_cap, "length field does not match the frame size");
    }
    const struct type_rule *rule = proto_find_rule(hdr.type);
    if (rule == NULL) {
        return proto_bad_frame(why, why_cap, "unknown message type");
    }
    size_t n = hdr.length;
    int ok;
    switch (rule->rule) {
    case PAYLOAD_EMPTY:
        ok = n == 0;
        break;
    case PAYLOAD_EXACT:
        ok = n == rule->size;
        break;
    case PAYLOAD_AT_LEAST:
        ok = n >= rule->size;
        break;
    case PAYLOAD_ARRAY:
    default:
        ok = n > 0 && n % rule->size == 0;
        break;
    }
    if (!ok) {
        return proto_bad_frame(why, why_cap, "payload size not allowed for this message type");
    }
    *hdr_out = hdr;
    *payload_out = (const char *)buf + sizeof(hdr);
    return 0;
}

size_t proto_put_header(void *buf, enum proto_msg_type type, uint32_t payload_len)
{
    struct proto_header hdr = {.type = (uint16_t)type, .flags = 0, .length = payload_len};
    memcpy(buf, &hdr, sizeof(hdr));
    return sizeof(hdr) + payload_len;
}

size_t proto_put_error(void *buf, size_t cap, enum proto_error_code code, const char *fmt, ...)
{
    const size_t fixed = sizeof(struct proto_header) + sizeof(struct proto_error);
    if (cap < fixed)
        return 0;
    struct proto_error err = {.code = code, .reserved = 0};
    memcpy((char *)buf + sizeof(struct proto_header), &err, sizeof(err));

    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t text_len = n < 0 ? 0 : (size_t)n;
    if (text_len >= sizeof(text))
        text_len = sizeof(text) - 1;
    if (text_len > cap - fixed)
        text_len = cap - fixed;
    memcpy((char *)buf + fixed, text, text_len);
    return proto_put_header(buf, PROTO_ERROR, (uint32_t)(sizeof(err) + text_len));
}

void proto_make_hello(struct proto_hello *hello, enum proto_role role, const char *label)
{
    memset(hello, 0, sizeof(*hello));
    hello->magic = PROTO_MAGIC;
    hello->version = PROTO_VERSION;
    hello->role = (uint16_t)role;
    if (label != NULL)
        strncpy(hello->label, label, sizeof(hello->label) - 1);
}

int proto_check_hello(const void *payload, size_t len, struct proto_hello *out, char *why,
                      size_t why_cap)
{
    const struct proto_hello *hello = out;

    memset(out, 0, sizeof(*out));
    memcpy(out, payload, len < sizeof(*out) ? len : sizeof(*out));
    if (hello->magic != PROTO_MAGIC) {
        snprintf(why, why_cap, "not a tt-alloc client (bad magic 0x%08x)", hello->magic);
        return -EPROTO;
    }
    if (hello->version != PROTO_VERSION) {
        snprintf(why, why_cap, "protocol version mismatch: client speaks %u, server speaks %u",
                 (unsigned)hello->version, PROTO_VERSION);
        return -EPROTO;
    }
    if (hello->role != PROTO_ROLE_PRODUCER && hello->role != PROTO_ROLE_CONSUMER) {
        snprintf(why, why_cap, "unknown client role %u", (unsigned)hello->role);
        return -EPROTO;
    }
    if (len != sizeof(*out)) {
        snprintf(why, why_cap, "HELLO of %zu bytes, expected %zu", len, sizeof(*out));
        return -EPROTO;
    }
    out->label[sizeof(out->label) - 1] = '\0';
    return 0;
}
