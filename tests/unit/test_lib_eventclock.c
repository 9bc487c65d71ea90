/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_eventclock.c - the record path's clock (src/lib/eventclock.c):
 * TT_ALLOC_CLOCK chooses the source, init is idempotent, readings convert
 * to CLOCK_MONOTONIC nanoseconds within a millisecond of the truth (TSC
 * too, before and after recalibration), and conversions never go backwards,
 * even for a reading older than one already converted or one from before
 * the calibration anchor. The source is chosen once per process, so each
 * case runs in a child; its checks are numbered, its exit code the first
 * that failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "eventclock.h"

#define MS 1000000ull

static uint64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static int clock_checks(const char *want_source)
{
    eventclock_init();
    eventclock_init(); /* idempotent */
    if (strcmp(eventclock_source(), want_source) != 0)
        return 1;
    if (eventclock_uses_tsc != (strcmp(want_source, "tsc") == 0))
        return 2;
    uint64_t old_reading = eventclock_read();
    for (int round = 0; round < 3; round++) {
        uint64_t reading = eventclock_read();
        uint64_t mono = eventclock_monotonic_ns();
        uint64_t ns = eventclock_to_ns(reading);
        if (absdiff(ns, mono) > 20 * MS) /* a preemption between the two reads */
            return 3;
        /* readings grow with time */
        struct timespec pause = {0, 3 * MS};
        nanosleep(&pause, NULL);
        uint64_t later = eventclock_read();
        if (later <= reading)
            return 4;
        uint64_t later_ns = eventclock_to_ns(later);
        if (later_ns < ns + 2 * MS || later_ns > ns + 1000 * MS)
            return 5;
        /* an older reading converted now is clamped: never backwards */
        if (eventclock_to_ns(reading) != later_ns)
            return 6;
        eventclock_recalibrate();
    }
    /* a reading from before the anchor (negative offset) and the extremes */
    uint64_t last = eventclock_to_ns(eventclock_read());
    if (eventclock_to_ns(old_reading) < last || eventclock_to_ns(0) < last)
        return 7;
    if (eventclock_to_ns(UINT64_MAX) < last)
        return 8;
    return 0;
}

static void run_child(const char *env, const char *want_source)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (env != NULL)
            setenv("TT_ALLOC_CLOCK", env, 1);
        else
            unsetenv("TT_ALLOC_CLOCK");
        _exit(clock_checks(want_source));
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_monotonic(void **state)
{
    (void)state;
    run_child("monotonic", "monotonic");
}

static void test_tsc_forced(void **state)
{
    (void)state;
#if defined(__x86_64__) || defined(__i386__)
    run_child("tsc", "tsc");
#else
    run_child("tsc", "monotonic"); /* no TSC to force */
#endif
}

static void test_default_choice(void **state)
{
    (void)state;
    /* Whatever this machine trusts, the conversions must hold; an unknown
     * value chooses as if unset. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        unsetenv("TT_ALLOC_CLOCK");
        eventclock_init();
        _exit(strcmp(eventclock_source(), "tsc") == 0 ? 10 : 11);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    const char *source = WEXITSTATUS(status) == 10 ? "tsc" : "monotonic";
    run_child(NULL, source);
    run_child("bogus", source);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_tsc_forced),
        cmocka_unit_test(test_default_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
