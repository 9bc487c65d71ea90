/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_proto.c - the frame validator and builders of src/common/proto.c,
 * fed valid frames, garbage, truncations and extremes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static unsigned char frame[PROTO_MAX_FRAME + 64];

static int parse(size_t len, struct proto_header *hdr, const void **payload)
{
    char why[80] = "";
    int rc = proto_parse_frame(frame, len, hdr, payload, why, sizeof(why));
    if (rc < 0)
        assert_true(why[0] != '\0');
    else
        assert_string_equal(why, "");
    return rc;
}

static void test_header_roundtrip(void **state)
{
    (void)state;
    struct proto_flush flush = {.token = 0x1122334455667788ull};
    size_t len = proto_put_header(frame, PROTO_FLUSH, sizeof(flush));
    memcpy(frame + sizeof(struct proto_header), &flush, sizeof(flush));
    assert_int_equal(len, 16);

    struct proto_header hdr;
    const void *payload;
    assert_int_equal(parse(len, &hdr, &payload), 0);
    assert_int_equal(hdr.type, PROTO_FLUSH);
    assert_int_equal(hdr.length, sizeof(flush));
    assert_ptr_equal(payload, frame + sizeof(struct proto_header));
    struct proto_flush got;
    memcpy(&got, payload, sizeof(got));
    assert_true(got.token == flush.token);
}

static void test_short_frames_rejected(void **state)
{
    (void)state;
    struct proto_header hdr;
    const void *payload;
    proto_put_header(frame, PROTO_SNAPSHOT_REQ, 0);
    for (size_t len = 0; len < sizeof(struct proto_header); len++)
        assert_int_equal(parse(len, &hdr, &payload), -EBADMSG);
    assert_int_equal(parse(sizeof(struct proto_header), &hdr, &payload), 0);
}

static void test_length_mismatch_rejected(void **state)
{
    (void)state;
    struct proto_header hdr;
    const void *payload;
    /* Header claims 32 bytes of events; frame carries 31 or 33. */
    proto_put_header(frame, PROTO_EVENTS, sizeof(struct proto_event));
    memset(frame + 8, 0, 40);
    assert_int_equal(parse(8 + 32, &hdr, &payload), 0);
    assert_int_equal(parse(8 + 31, &hdr, &payload), -EBADMSG);
    assert_int_equal(parse(8 + 33, &hdr, &payload), -EBADMSG);
    /* Extreme length field. */
    proto_put_header(frame, PROTO_EVENTS, UINT32_MAX);
    assert_int_equal(parse(8 + 32, &hdr, &payload), -EBADMSG);
}

static void test_oversized_rejected(void **state)
{
    (void)state;
    struct proto_header hdr;
    const void *payload;
    size_t records = proto_records_per_frame(sizeof(struct proto_event));
    size_t payload_len = records * sizeof(struct proto_event);
    memset(frame, 0, sizeof(frame));
    proto_put_header(frame, PROTO_EVENTS, (uint32_t)payload_len);
    assert_int_equal(parse(8 + payload_len, &hdr, &payload), 0);
    assert_true(8 + payload_len <= PROTO_MAX_FRAME);
    /* One more record no longer fits a frame. */
    proto_put_header(frame, PROTO_EVENTS, (uint32_t)(payload_len + 32));
    assert_int_equal(parse(8 + payload_len + 32, &hdr, &payload), -EBADMSG);
}

static void test_unknown_types_rejected(void **state)
{
    (void)state;
    struct proto_header hdr;
    const void *payload;
    const uint16_t unknown[] = {0, 4, 9, 16, 19, 24, 29, 39, 1000, UINT16_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        proto_put_header(frame, (enum proto_msg_type)unknown[i], 0);
        assert_int_equal(parse(8, &hdr, &payload), -EBADMSG);
    }
    assert_string_equal(proto_type_name((enum proto_msg_type)77), "UNKNOWN");
    assert_string_equal(proto_type_name(PROTO_EVENTS), "EVENTS");
}

/* Every type's payload rule: the right size passes, its neighbours fail. */
static void test_payload_rules(void **state)
{
    (void)state;
    struct {
        enum proto_msg_type type;
        size_t good;
        size_t bad[3];
    } cases[] = {
        {PROTO_RESYNC_BEGIN, 0, {1, 8, 24}},
        {PROTO_SNAPSHOT_REQ, 0, {1, 4, 8}},
        {PROTO_EXITS_REQ, 0, {1, 2, 3}},
        {PROTO_RESYNC_END, 16, {0, 15, 17}},
        {PROTO_FLUSH, 8, {0, 7, 9}},
        {PROTO_FLUSH_ACK, 8, {0, 4, 16}},
        {PROTO_SUBSCRIBE, 8, {0, 7, 9}},
        {PROTO_BUFFERS_REQ, 8, {0, 4, 12}},
        {PROTO_DEVICE_DESC, sizeof(struct proto_device_desc), {0, 95, 97}},
        {PROTO_EVENTS, 64, {0, 33, 63}},
        {PROTO_PEAKS, 32, {0, 15, 17}},
        {PROTO_SNAP_DEVICES, 400, {0, 199, 201}},
        {PROTO_SNAP_PROCESSES, 144, {0, 143, 145}},
        {PROTO_SNAP_USAGE, 224, {0, 111, 113}},
        {PROTO_EXITS, 216, {0, 215, 217}},
        {PROTO_SNAP_BEGIN, 64, {0, 63, 65}},
        {PROTO_HELLO, 80, {0, 4, 7}},
        {PROTO_ERROR, 20, {0, 4, 7}},
    };
    struct proto_header hdr;
    const void *payload;
    memset(frame, 0, sizeof(frame));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proto_put_header(frame, cases[i].type, (uint32_t)cases[i].good);
        assert_int_equal(parse(8 + cases[i].good, &hdr, &payload), 0);
        for (size_t j = 0; j < 3; j++) {
            proto_put_header(frame, cases[i].type, (uint32_t)cases[i].bad[j]);
            assert_int_equal(parse(8 + cases[i].bad[j], &hdr, &payload), -EBADMSG);
        }
    }
}

static void test_garbage_never_crashes(void **state)
{
    (void)state;
    struct proto_header hdr;
    const void *payload;
    unsigned seed = 12345;
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand_r(&seed) % 300);
        for (size_t i = 0; i < len; i++)
            frame[i] = (unsigned char)rand_r(&seed);
        if (parse(len, &hdr, &payload) == 0) {
            accepted++;
            assert_int_equal(hdr.length, len - 8);
        }
    }
    /* Random bytes almost never form a valid frame. */
    assert_true(accepted < 20);
}

static void test_hello(void **state)
{
    (void)state;
    struct proto_hello hello, got;
    char msg[200];
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, "llama-70b");
    assert_int_equal(proto_check_hello(&hello, sizeof(hello), &got, msg, sizeof(msg)), 0);
    assert_string_equal(got.label, "llama-70b");
    assert_int_equal(got.role, PROTO_ROLE_PRODUCER);

    /* A label longer than the field is cut, and always NUL-terminated. */
    char long_label[200];
    memset(long_label, 'x', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = '\0';
    proto_make_hello(&hello, PROTO_ROLE_CONSUMER, long_label);
    assert_int_equal(proto_check_hello(&hello, sizeof(hello), &got, msg, sizeof(msg)), 0);
    assert_int_equal(strlen(got.label), TTALLOC_LABEL_MAX - 1);

    /* Version mismatch names both versions. */
    hello.version = 7;
    assert_int_equal(proto_check_hello(&hello, sizeof(hello), &got, msg, sizeof(msg)), -EPROTO);
    assert_non_null(strstr(msg, "7"));
    assert_non_null(strstr(msg, "2"));
    assert_non_null(strstr(msg, "version"));

    /* A future, longer HELLO still gets the version message, not a size one. */
    unsigned char big[120];
    memset(big, 0, sizeof(big));
    memcpy(big, &hello, sizeof(hello));
    assert_int_equal(proto_check_hello(big, sizeof(big), &got, msg, sizeof(msg)), -EPROTO);
    assert_non_null(strstr(msg, "version mismatch"));

    /* Bad magic, bad role, truncated. */
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, NULL);
    hello.magic = 0xdeadbeef;
    assert_int_equal(proto_check_hello(&hello, sizeof(hello), &got, msg, sizeof(msg)), -EPROTO);
    assert_non_null(strstr(msg, "magic"));
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, NULL);
    hello.role = 9;
    assert_int_equal(proto_check_hello(&hello, sizeof(hello), &got, msg, sizeof(msg)), -EPROTO);
    proto_make_hello(&hello, PROTO_ROLE_PRODUCER, NULL);
    assert_int_equal(proto_check_hello(&hello, 8, &got, msg, sizeof(msg)), -EPROTO);
    assert_non_null(strstr(msg, "bytes"));
}

static void test_error_frame(void **state)
{
    (void)state;
    size_t len =
        proto_put_error(frame, sizeof(frame), PROTO_ERR_LIMIT, "too many %s: %d", "buffers", 42);
    struct proto_header hdr;
    const void *payload;
    assert_int_equal(parse(len, &hdr, &payload), 0);
    assert_int_equal(hdr.type, PROTO_ERROR);
    struct proto_error err;
    memcpy(&err, payload, sizeof(err));
    assert_int_equal(err.code, PROTO_ERR_LIMIT);
    const char *text = (const char *)payload + sizeof(err);
    size_t text_len = hdr.length - sizeof(err);
    assert_int_equal(text_len, strlen("too many buffers: 42"));
    assert_memory_equal(text, "too many buffers: 42", text_len);

    /* A tiny buffer truncates the text but stays a valid frame; too tiny gives 0. */
    len = proto_put_error(frame, 20, PROTO_ERR_MALFORMED, "%s", "a long explanation");
    assert_int_equal(len, 20);
    assert_int_equal(parse(len, &hdr, &payload), 0);
    assert_int_equal(proto_put_error(frame, 15, PROTO_ERR_MALFORMED, "x"), 0);
}

static void test_record_sizes(void **state)
{
    (void)state;
    assert_int_equal(proto_record_size(PROTO_EVENTS), 32);
    assert_int_equal(proto_record_size(PROTO_SNAP_DEVICES), sizeof(struct ttalloc_device_stats));
    assert_int_equal(proto_record_size(PROTO_BUFFERS), sizeof(struct ttalloc_buffer));
    assert_int_equal(proto_record_size(PROTO_FLUSH), 0);
    assert_int_equal(proto_record_size((enum proto_msg_type)999), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_roundtrip),
        cmocka_unit_test(test_short_frames_rejected),
        cmocka_unit_test(test_length_mismatch_rejected),
        cmocka_unit_test(test_oversized_rejected),
        cmocka_unit_test(test_unknown_types_rejected),
        cmocka_unit_test(test_payload_rules),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_error_frame),
        cmocka_unit_test(test_record_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
