/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_log.c - log.c's rate limit: in a daemon, lines of one call site stop
 * after the burst while other call sites still get through; tools (no rate
 * limit) print every line. A process name or label in a line cannot forge
 * another line or send a terminal escape (termtext).
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

#include "log.h"

/* Run fn with stderr going to a file; returns the lines written. */
static size_t count_lines(void (*fn)(void), const char *needle)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    char line[1200];
    size_t n = 0;
    while (fgets(line, sizeof(line), tmp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(tmp);
    return n;
}

static void storm(void)
{
    for (int i = 0; i < 1000; i++)
        log_warnx("refused pid %d: storm", i);
    log_info("another kind of line");
}

static void test_tools_print_everything(void **state)
{
    (void)state;
    log_init("test_log", 0);
    log_rate_limit(0);
    assert_int_equal(count_lines(storm, "storm"), 1000);
}

static void test_daemon_storm_is_cut(void **state)
{
    (void)state;
    log_init("test_log", 0);
    log_rate_limit(1);
    uint64_t before = log_suppressed();
    assert_int_equal(count_lines(storm, "storm"), 20);
    assert_int_equal(log_suppressed() - before, 980);
    /* Another call site still gets through. */
    assert_int_equal(count_lines(storm, "another kind of line"), 1);
    log_rate_limit(0);
}

/* Run fn with stderr going to a file; its whole content into out. */
static void capture(void (*fn)(void), char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
}

static void hostile_label(void)
{
    /* what a client's HELLO label or /proc/PID/comm may hold */
    log_info("client connected: pid %d (%s), label %s", 42, "a\033[2Jb",
             "x\ntest_log: client connected: pid 1 (init)\r");
}

static void test_names_cannot_forge_lines(void **state)
{
    (void)state;
    log_init("test_log", 0);
    log_rate_limit(0);
    char out[2048];
    capture(hostile_label, out, sizeof(out));
    assert_string_equal(out, "test_log: client connected: pid 42 (a?[2Jb), label "
                             "x?test_log: client connected: pid 1 (init)?\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_print_everything),
        cmocka_unit_test(test_daemon_storm_is_cut),
        cmocka_unit_test(test_names_cannot_forge_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
