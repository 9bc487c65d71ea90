/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_number.c - the one number parser (src/common/number.c): plain
 * decimal, hexadecimal digits, strtoull's base choice, and everything that is not a number
 * (empty, blanks, signs, trailing garbage, a bare prefix, digits of another
 * base) or is one out of range (below min, above max, past 2^64).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "number.h"

static uint64_t ok(const char *text, int base, uint64_t min, uint64_t max)
{
    uint64_t v = 0xdeadbeef;
    int rc = number_parse_u64(text, base, min, max, &v);
    if (rc != 0)
        fail_msg("'%s' base %d: %d", text, base, rc);
    return v;
}

static void bad(const char *text, int base, uint64_t min, uint64_t max, int want)
{
    uint64_t v = 77;
    int rc = number_parse_u64(text, base, min, max, &v);
    if (rc != want)
        fail_msg("'%s' base %d: %d, not %d", text != NULL ? text : "(null)", base, rc, want);
    assert_int_equal(v, 77); /* untouched on error */
}

static void test_decimal(void **state)
{
    (void)state;
    assert_int_equal(ok("0", 10, 0, 10), 0);
    assert_int_equal(ok("64", 10, 1, 64), 64);
    assert_int_equal(ok("0064", 10, 0, 100), 64); /* leading zeros: still decimal */
    assert_int_equal(ok("18446744073709551615", 10, 0, UINT64_MAX), UINT64_MAX);
    assert_int_equal(ok("65535", 10, 1, 65535), 65535);
}

static void test_any_base(void **state)
{
    (void)state;
    assert_int_equal(ok("0x1F", 0, 0, UINT64_MAX), 31);
    assert_int_equal(ok("0Xff", 0, 0, UINT64_MAX), 255);
    assert_int_equal(ok("017", 0, 0, UINT64_MAX), 15);
    assert_int_equal(ok("0", 0, 0, UINT64_MAX), 0);
    assert_int_equal(ok("4096", 0, 0, UINT64_MAX), 4096);
    assert_int_equal(ok("0xffffffffffffffff", 0, 0, UINT64_MAX), UINT64_MAX);
    bad("0x", 0, 0, UINT64_MAX, -EINVAL);
    bad("0x-1", 0, 0, UINT64_MAX, -EINVAL);
    bad("08", 0, 0, UINT64_MAX, -EINVAL); /* not octal */
    bad("0x1g", 0, 0, UINT64_MAX, -EINVAL);
    bad("1f", 0, 0, UINT64_MAX, -EINVAL);
    bad("0x10000000000000000", 0, 0, UINT64_MAX, -ERANGE);
    bad("0x1F", 10, 0, UINT64_MAX, -EINVAL); /* base 10 means it */
}

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(ok("0123456789ABCDEF", 16, 0, UINT64_MAX), 0x0123456789ABCDEFull);
    assert_int_equal(ok("ffffffffffffffff", 16, 0, UINT64_MAX), UINT64_MAX);
    assert_int_equal(ok("10", 16, 0, UINT64_MAX), 16);
    bad("0x10", 16, 0, UINT64_MAX, -EINVAL); /* digits only */
    bad("1g", 16, 0, UINT64_MAX, -EINVAL);
    bad("", 16, 0, UINT64_MAX, -EINVAL);
    bad("10000000000000000", 16, 0, UINT64_MAX, -ERANGE); /* 17 digits */
    bad("-1", 16, 0, UINT64_MAX, -EINVAL);
}

static void test_garbage(void **state)
{
    (void)state;
    const char *garbage[] = {"",    " ",  " 1",    "1 ",   "-1",  " -1",   "+1",
                             "-0",  "1x", "12abc", "1.5",  "1e3", "1,000", "1_000",
                             "abc", "\n", "1\n",   "\xff", "\t5", "0 "};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        bad(garbage[i], 10, 0, UINT64_MAX, -EINVAL);
        bad(garbage[i], 0, 0, UINT64_MAX, -EINVAL);
    }
    bad(NULL, 10, 0, 10, -EINVAL);
    bad("5", 8, 0, 10, -EINVAL); /* bases offered: 10, 16, 0 */
    bad("5", -1, 0, 10, -EINVAL);
}

static void test_range(void **state)
{
    (void)state;
    bad("0", 10, 1, 10, -ERANGE);
    bad("11", 10, 1, 10, -ERANGE);
    bad("65536", 10, 1, 65535, -ERANGE);
    bad("18446744073709551616", 10, 0, UINT64_MAX, -ERANGE); /* 2^64 */
    bad("99999999999999999999999999999999", 10, 0, UINT64_MAX, -ERANGE);
    bad("4294967296", 10, 0, UINT32_MAX, -ERANGE);
    assert_int_equal(ok("4294967295", 10, 0, UINT32_MAX), UINT32_MAX);
    /* an empty range refuses everything */
    bad("5", 10, 6, 5, -ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal), cmocka_unit_test(test_any_base), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_garbage), cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
