/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_strbuf.c - the shared text buffer: growth past its first block,
 * long printf pieces, and the UTF-8 check on valid, invalid and cut input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "strbuf.h"

static void test_grows_and_stays_terminated(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b);
    for (int i = 0; i < 10000; i++)
        strbuf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 20000);
    assert_int_equal(strlen(b.data), 20000);
    assert_false(b.failed);
    assert_memory_equal(b.data + 19990, "5,6,7,8,9,", 10);
    strbuf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_long_printf_piece(void **state)
{
    (void)state;
    char piece[1000];
    memset(piece, 'x', sizeof(piece) - 1);
    piece[sizeof(piece) - 1] = '\0';
    struct strbuf b;
    strbuf_init(&b);
    strbuf_append(&b, "<", 1);
    strbuf_printf(&b, "%s>", piece); /* longer than the stack fast path */
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    assert_int_equal(b.data[1001], '\0');
    strbuf_release(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        size_t want;
    } cases[] = {
        {"a", 1},
        {"\xC3\xA9", 2},             /* é */
        {"\xE2\x82\xAC", 3},         /* € */
        {"\xF0\x9F\x98\x80", 4},     /* U+1F600 */
        {"\x80", 0},                 /* lone continuation byte */
        {"\xC0\xAF", 0},             /* overlong '/' */
        {"\xE0\x80\xAF", 0},         /* overlong, three bytes */
        {"\xED\xA0\x80", 0},         /* a surrogate */
        {"\xF4\x90\x80\x80", 0},     /* beyond U+10FFFF */
        {"\xF8\x88\x80\x80\x80", 0}, /* five-byte form */
        {"\xE2\x82", 0},             /* cut short by the NUL */
        {"\xFF", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(strbuf_utf8_len((const unsigned char *)cases[i].bytes), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_stays_terminated),
        cmocka_unit_test(test_long_printf_piece),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
