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

#include "capture.h"
#include "log.h"

/* Run fn with stderr going to a file; returns the lines holding needle. */
static size_t count_lines(void (*fn)(void), const char *needle)
{
    static char text[1 << 20];
    capture_start();
    fn();
    capture_end(text, sizeof(text));
    size_t n = 0;
    for (const char *line = text; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char one[1200];
        snprintf(one, sizeof(one), "%.*s", (int)len, line);
        n += strstr(one, needle) != NULL;
        line += len + (eol != NULL);
    }
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
    capture_start();
    hostile_label();
    capture_end(out, sizeof(out));
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
