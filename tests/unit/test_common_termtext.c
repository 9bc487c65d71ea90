/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_termtext.c - anyone's text made safe for a terminal or a log
 * (src/common/termtext.c): controls, DEL, C1 controls, line separators and
 * bidirectional overrides become '?', broken UTF-8 becomes one '?' a byte,
 * valid UTF-8 is kept whole and counted as one column a character, cuts
 * never split a sequence, padding to a width, and tiny or NULL buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "termtext.h"

static void fit_all(const char *text, const char *want)
{
    char out[256];
    size_t shown = termtext_fit(out, sizeof(out), text, SIZE_MAX);
    assert_string_equal(out, want);
    assert_int_equal(shown, termtext_width(text));
}

static void test_plain_text_is_kept(void **state)
{
    (void)state;
    fit_all("python3", "python3");
    fit_all("", "");
    fit_all("a b-c_d.e/f (g)", "a b-c_d.e/f (g)");
    char out[8];
    assert_int_equal(termtext_fit(out, sizeof(out), NULL, 5), 0);
    assert_string_equal(out, "");
}

static void test_controls_are_replaced(void **state)
{
    (void)state;
    /* an ESC sequence that would clear the screen, a forged row, a tab */
    fit_all("\033[2J\033[Hx", "?[2J?[Hx");
    fit_all("job\n   0    1 root  fake", "job?   0    1 root  fake");
    fit_all("a\tb\rc\x7f"
            "d\x01",
            "a?b?c?d?");
    /* C1 controls: U+009B is CSI to terminals that obey 8-bit controls */
    fit_all("x\xc2\x9b"
            "31mred",
            "x?31mred");
    fit_all("\xc2\x80\xc2\x9f", "??");
    /* the first printable character above them is kept */
    fit_all("\xc2\xa0|\xc2\xa9", "\xc2\xa0|\xc2\xa9");
}

static void test_separators_and_bidi_overrides_are_replaced(void **state)
{
    (void)state;
    fit_all("a\xe2\x80\xa8"
            "b",
            "a?b"); /* U+2028 line separator */
    fit_all("a\xe2\x80\xa9"
            "b",
            "a?b"); /* U+2029 paragraph separator */
    fit_all("\xe2\x80\xae"
            "gpj.exe",
            "?gpj.exe");                         /* U+202E right-to-left override */
    fit_all("\xe2\x81\xa6x\xe2\x81\xa9", "?x?"); /* U+2066, U+2069 isolates */
    /* neighbours of those ranges are ordinary text */
    fit_all("\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
            "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
}

static void test_broken_utf8_is_one_mark_per_byte(void **state)
{
    (void)state;
    fit_all("\xff\xfe", "??");
    fit_all("a\x80"
            "b",
            "a?b");                              /* stray continuation byte */
    fit_all("\xc0\xaf", "??");                   /* overlong '/' */
    fit_all("\xed\xa0\x80", "???");              /* a surrogate */
    fit_all("\xf4\x90\x80\x80", "????");         /* beyond U+10FFFF */
    fit_all("ok\xe2\x82", "ok??");               /* cut short by the end */
    fit_all("\xe2\x82\xac 5", "\xe2\x82\xac 5"); /* a whole euro sign */
    fit_all("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
}

static void test_cut_counts_characters_not_bytes(void **state)
{
    (void)state;
    char out[64];
    /* "naïve€" is 6 characters in 9 bytes */
    const char *text = "na\xc3\xafve\xe2\x82\xac";
    assert_int_equal(termtext_width(text), 6);
    assert_int_equal(termtext_fit(out, sizeof(out), text, 3), 3);
    assert_string_equal(out, "na\xc3\xaf");
    assert_int_equal(termtext_fit(out, sizeof(out), text, 6), 6);
    assert_string_equal(out, text);
    assert_int_equal(termtext_fit(out, sizeof(out), text, 0), 0);
    assert_string_equal(out, "");
}

static void test_small_buffer_never_splits_a_character(void **state)
{
    (void)state;
    char out[4];
    /* "€" and its NUL fill the 4 bytes; "b" after it does not fit; a
     * 4-byte character does not fit at all */
    assert_int_equal(termtext_fit(out, sizeof(out),
                                  "\xe2\x82\xac"
                                  "b",
                                  10),
                     1);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(termtext_fit(out, sizeof(out), "\xf0\x9f\x98\x80", 10), 0);
    assert_string_equal(out, "");
    assert_int_equal(termtext_fit(out, sizeof(out), "ab\xe2\x82\xac", 10), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(termtext_fit(out, 1, "abc", 10), 0);
    assert_string_equal(out, "");
    out[0] = 'x';
    assert_int_equal(termtext_fit(out, 0, "abc", 10), 0);
    assert_int_equal(out[0], 'x'); /* cap 0: nothing written */
}

static void test_cell_pads_or_cuts_to_the_width(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(termtext_cell(out, sizeof(out), "ab", 5), 5);
    assert_string_equal(out, "ab   ");
    assert_int_equal(termtext_cell(out, sizeof(out), "abcdefgh", 5), 5);
    assert_string_equal(out, "abcde");
    /* padding counts characters: "é" is one column in two bytes */
    assert_int_equal(termtext_cell(out, sizeof(out), "\xc3\xa9", 3), 4);
    assert_string_equal(out, "\xc3\xa9  ");
    assert_int_equal(termtext_cell(out, sizeof(out), "a\nb", 4), 4);
    assert_string_equal(out, "a?b ");
    assert_int_equal(termtext_cell(out, sizeof(out), NULL, 2), 2);
    assert_string_equal(out, "  ");
    /* a buffer smaller than the width: cut, still terminated */
    char small[4];
    assert_int_equal(termtext_cell(small, sizeof(small), "a", 10), 3);
    assert_string_equal(small, "a  ");
    assert_int_equal(termtext_cell(small, 0, "a", 10), 0);
}

static void test_every_byte_value_is_safe(void **state)
{
    (void)state;
    /* every single byte, alone and after a lead byte: the output is NUL
     * terminated, holds no byte below 0x20 and no DEL, and is valid UTF-8 */
    for (int lead = 0; lead < 256; lead++) {
        for (int b = 1; b < 256; b++) {
            char in[4] = {(char)(lead ? lead : 'x'), (char)b, 'z', '\0'};
            char out[32];
            termtext_fit(out, sizeof(out), in, SIZE_MAX);
            for (const unsigned char *s = (const unsigned char *)out; *s != '\0';) {
                assert_true(*s >= 0x20 && *s != 0x7f);
                size_t n = 0;
                if (*s < 0x80)
                    n = 1;
                else if ((*s & 0xe0) == 0xc0)
                    n = 2;
                else if ((*s & 0xf0) == 0xe0)
                    n = 3;
                else if ((*s & 0xf8) == 0xf0)
                    n = 4;
                assert_true(n > 0);
                for (size_t k = 1; k < n; k++)
                    assert_int_equal(s[k] & 0xc0, 0x80);
                if (n == 2)
                    assert_false(s[0] == 0xc2 && s[1] < 0xa0);
                s += n;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_is_kept),
        cmocka_unit_test(test_controls_are_replaced),
        cmocka_unit_test(test_separators_and_bidi_overrides_are_replaced),
        cmocka_unit_test(test_broken_utf8_is_one_mark_per_byte),
        cmocka_unit_test(test_cut_counts_characters_not_bytes),
        cmocka_unit_test(test_small_buffer_never_splits_a_character),
        cmocka_unit_test(test_cell_pads_or_cuts_to_the_width),
        cmocka_unit_test(test_every_byte_value_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
