/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_bytesize.c - byte counts in words (src/common/bytesize.c):
 * units, three significant digits, rounding at the edges, the largest count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bytesize.h"

#define GIB (1024ull * 1024ull * 1024ull)

static void test_bytes(void **state)
{
    (void)state;
    char buf[32];
    bytesize_format(buf, sizeof(buf), 0);
    assert_string_equal(buf, "0 B");
    bytesize_format(buf, sizeof(buf), 1023);
    assert_string_equal(buf, "1023 B");
    bytesize_format(buf, sizeof(buf), 1024);
    assert_string_equal(buf, "1.00 KiB");
    bytesize_format(buf, sizeof(buf), 12 * 1024);
    assert_string_equal(buf, "12.0 KiB");
    bytesize_format(buf, sizeof(buf), 72ull * 1499136); /* n150 L1 */
    assert_string_equal(buf, "103 MiB");
    bytesize_format(buf, sizeof(buf), 3 * GIB / 2);
    assert_string_equal(buf, "1.50 GiB");
    bytesize_format(buf, sizeof(buf), 12 * GIB);
    assert_string_equal(buf, "12.0 GiB");
    bytesize_format(buf, sizeof(buf), 1024 * 1024 - 1); /* rounds up: not "1024 KiB" */
    assert_string_equal(buf, "1024 KiB");
    bytesize_format(buf, sizeof(buf), UINT64_MAX);
    assert_string_equal(buf, "16.0 EiB");
}

static void test_small_buffers_truncate(void **state)
{
    (void)state;
    char buf[4];
    bytesize_format(buf, sizeof(buf), 12 * GIB);
    assert_string_equal(buf, "12."); /* cut, never overrun */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_small_buffers_truncate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
