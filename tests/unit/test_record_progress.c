/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_progress.c - tt-alloc-record's progress line
 * (src/record/record_progress.c), with stderr sent to a file: nothing when
 * disabled, at most one line per 250 ms, the rate smoothed over two periods,
 * the line erased once by clear, extremes formatted whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "record_progress.h"

#define SEC 1000000000ull

static void test_disabled_writes_nothing(void **state)
{
    (void)state;
    struct record_progress p;
    record_progress_init(&p, 0);
    capture_start();
    record_progress_show(&p, 10, 100, 1 * SEC);
    record_progress_show(&p, 20, 200, 5 * SEC);
    record_progress_clear(&p);
    char buf[256];
    assert_string_equal(capture_end(buf, sizeof(buf)), "");
}

static void test_period_rate_and_clear(void **state)
{
    (void)state;
    struct record_progress p;
    record_progress_init(&p, 1);
    char buf[1024];

    capture_start();
    record_progress_show(&p, 0, 0, 10 * SEC);
    assert_string_equal(capture_end(buf, sizeof(buf)),
                        "\rrecording: 0 events, 0 B written, 0 events/s\033[K");

    /* within the period: not redrawn */
    capture_start();
    record_progress_show(&p, 500, 64, 10 * SEC + SEC / 8);
    assert_string_equal(capture_end(buf, sizeof(buf)), "");

    /* 1 s later, 1,000 events more: the first rate is the measured one */
    capture_start();
    record_progress_show(&p, 1000, 2048, 11 * SEC);
    assert_string_equal(capture_end(buf, sizeof(buf)),
                        "\rrecording: 1000 events, 2.00 KiB written, 1000 events/s\033[K");

    /* then 3,000 in a second: the mean of the last rate and this one */
    capture_start();
    record_progress_show(&p, 4000, 2048, 12 * SEC);
    record_progress_clear(&p);
    record_progress_clear(&p); /* erased once only */
    assert_string_equal(capture_end(buf, sizeof(buf)),
                        "\rrecording: 4000 events, 2.00 KiB written, 2000 events/s\033[K\r\033[K");
}

static void test_extremes(void **state)
{
    (void)state;
    struct record_progress p;
    record_progress_init(&p, 1);
    char buf[1024];
    capture_start();
    record_progress_show(&p, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    capture_end(buf, sizeof(buf));
    assert_non_null(strstr(buf, "18446744073709551615 events"));
    assert_non_null(strstr(buf, " written, 0 events/s\033[K"));
    /* a clear with no line shown writes nothing */
    record_progress_init(&p, 1);
    capture_start();
    record_progress_clear(&p);
    assert_string_equal(capture_end(buf, sizeof(buf)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_writes_nothing),
        cmocka_unit_test(test_period_rate_and_clear),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
