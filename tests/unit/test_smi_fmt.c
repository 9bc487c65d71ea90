/* SPDX-License-Identifier: Apache-2.0 */
/* test_smi_fmt.c - tt-smi's units and JSON escaping: any byte string must
 * come out as valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smi_fmt.h"

static void check_json(const char *in, const char *want)
{
    struct strbuf b = {0};
    smi_json_string(&b, in);
    assert_string_equal(b.data, want);
    strbuf_release(&b);
}

static void test_json_escape(void **state)
{
    (void)state;
    check_json("python3", "\"python3\"");
    check_json("a\"b\\c", "\"a\\\"b\\\\c\"");
    check_json("l1\nl2\tx\x01\x7f", "\"l1\\nl2\\tx\\u0001\\u007f\"");
    check_json("caf\xc3\xa9", "\"caf\xc3\xa9\"");
    check_json("\xff", "\"\\ufffd\"");
    check_json("\xc3", "\"\\ufffd\"");                       /* truncated sequence */
    check_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");            /* overlong */
    check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    check_json("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
    check_json("", "\"\"");
    check_json(NULL, "\"\"");
}

static void check_fixed(int64_t v, int digits, const char *want)
{
    char out[48];
    smi_fmt_fixed(v, digits, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_fixed(void **state)
{
    (void)state;
    check_fixed(46250, 3, "46.25");
    check_fixed(46000, 3, "46.0");
    check_fixed(23000000, 6, "23.0");
    check_fixed(1, 6, "0.000001");
    check_fixed(-5500, 3, "-5.5");
    check_fixed(INT64_MIN + 1, 3, "-9223372036854775.807");
    check_fixed(1000, 0, "1000.0");
}

static void check_bytes(uint64_t v, const char *want)
{
    char out[16];
    smi_fmt_bytes(v, out, sizeof(out));
    assert_string_equal(out, want);
    assert_true(strlen(out) <= 5);
}

static void test_bytes(void **state)
{
    (void)state;
    check_bytes(0, "0B");
    check_bytes(1023, "1023B");
    check_bytes(1536, "1.5K");
    check_bytes(12ull << 30, "12.0G");
    check_bytes(107937792, "103M");
    check_bytes(1048575, "1.0M");
    check_bytes(UINT64_MAX, "16.0E");
}

static void test_buf_grows(void **state)
{
    (void)state;
    struct strbuf b = {0};
    for (int i = 0; i < 10000; i++)
        strbuf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 20000);
    assert_int_equal(strlen(b.data), 20000);
    assert_false(b.failed);
    strbuf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_buf_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
