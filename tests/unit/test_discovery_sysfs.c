/* SPDX-License-Identifier: Apache-2.0 */
/* test_discovery_sysfs.c - the sysfs value parsers: garbage,
 * truncation and extremes must read as unknown, never as a number. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sysfs.h"

static int64_t parse(const char *s, int64_t min, int64_t max)
{
    return sysfs_parse_int(s, strlen(s), min, max);
}

static void test_int_valid(void **state)
{
    (void)state;
    assert_int_equal(parse("46500\n", 0, 300000), 46500);
    assert_int_equal(parse("  7 ", 0, 10), 7);
    assert_int_equal(parse("-5000\n", -100000, 300000), -5000);
    assert_int_equal(parse("+12", 0, 100), 12);
    assert_int_equal(parse("0", 0, 0), 0);
    assert_int_equal(parse("9223372036854775807", 0, INT64_MAX), INT64_MAX);
}

static void test_int_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "\n",
                         " ",
                         "abc",
                         "12abc",
                         "1 2",
                         "0x10",
                         "4.5",
                         "-",
                         "+",
                         "--1",
                         "1e3",
                         "\xff\xfe",
                         "99999999999999999999999",
                         "-9223372036854775809",
                         "9223372036854775808"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(parse(bad[i], INT64_MIN + 1, INT64_MAX) == SYSFS_UNKNOWN);
    /* out of the plausible range */
    assert_true(parse("-1", 0, 100) == SYSFS_UNKNOWN);
    assert_true(parse("101", 0, 100) == SYSFS_UNKNOWN);
    /* embedded NUL: the length says there is more than the C string */
    assert_true(sysfs_parse_int("12\0"
                                "34",
                                5, 0, 1000) == SYSFS_UNKNOWN);
    assert_true(sysfs_parse_int(NULL, 0, 0, 1) == SYSFS_UNKNOWN);
}

static void check_string(const char *in, char kind, const char *want)
{
    char out[32];
    sysfs_parse_string(in, strlen(in), kind, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_strings(void **state)
{
    (void)state;
    check_string("100001581703D0E7\n", 'h', "100001581703D0E7");
    check_string("100001581703d0e7", 'h', ""); /* lower case is not the format */
    check_string("100001581703D0E", 'h', "");
    check_string("100001581703D0E77", 'h', "");
    check_string("", 'h', "");
    check_string("18.7.0.0\n", 'v', "18.7.0.0");
    check_string("7.0.0", 'v', "7.0.0");
    check_string("1..2", 'v', "");
    check_string(".1", 'v', "");
    check_string("1.a", 'v', "");
    check_string("18", 'v', ""); /* no dot */
    check_string("1.2.3.4.5", 'v', "");
    check_string("123456.0", 'v', "");
    check_string("1.2.", 'v', "");
    check_string("n300\n", 'n', "n300");
    check_string("galaxy-wormhole", 'n', "galaxy-wormhole");
    check_string("N300", 'n', "");
    check_string("n3 00", 'n', "");
    check_string("\x01\x02", 'n', "");
    check_string("0000:01:00.0", 'b', "0000:01:00.0");
    check_string("0000:01:00", 'b', "");
    check_string("0000-01:00.0", 'b', "");
    /* longer than the output buffer: unknown, not truncated */
    check_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 'n', "");
}

static void test_no_driver(void **state)
{
    (void)state;
    struct sysfs_device *devs = (void *)1;
    size_t n = 7;
    assert_int_equal(sysfs_scan("/nonexistent-ttalloc-root", &devs, &n), -ENOENT);
    assert_null(devs);
    assert_int_equal(n, 0);
    char v[16];
    assert_true(sysfs_driver_version("/nonexistent-ttalloc-root", v, sizeof(v)) < 0);
    assert_string_equal(v, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_valid),
        cmocka_unit_test(test_int_garbage),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_no_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
