/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_debuglog.c - the library's one debug printer (src/lib/debuglog.c):
 * silent unless TT_ALLOC_DEBUG is exactly "1", the environment read once
 * (a later change does not count), the line's shape "libttalloc[PID]: TEXT",
 * and a message longer than its buffer cut, never overflowing. Each case
 * runs in a child, whose stderr is a pipe, since the setting is per process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "debuglog.h"

enum scenario { PRINT_ONCE, LATE_ENABLE, LATE_DISABLE, LONG_LINE };

/* Run `scenario` in a child with TT_ALLOC_DEBUG=env (NULL: unset); what it
 * wrote on stderr into out. Returns the child's pid. */
static pid_t run(enum scenario scenario, const char *env, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (env != NULL)
            setenv("TT_ALLOC_DEBUG", env, 1);
        else
            unsetenv("TT_ALLOC_DEBUG");
        switch (scenario) {
        case PRINT_ONCE:
            debuglog("connected to %s (%d)", "/x.sock", 42);
            break;
        case LATE_ENABLE:
            debuglog("first");
            setenv("TT_ALLOC_DEBUG", "1", 1);
            debuglog("second");
            _exit(debuglog_enabled() ? 1 : 0);
        case LATE_DISABLE:
            debuglog("first");
            setenv("TT_ALLOC_DEBUG", "0", 1);
            debuglog("second");
            _exit(debuglog_enabled() ? 0 : 1);
        case LONG_LINE: {
            char big[2000];
            memset(big, 'z', sizeof(big) - 1);
            big[sizeof(big) - 1] = '\0';
            debuglog("%s", big);
            break;
        }
        }
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return child;
}

static void test_silent_unless_one(void **state)
{
    (void)state;
    const char *off[] = {NULL, "", "0", "yes", "true", "11", " 1", "1 "};
    char out[256];
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        run(PRINT_ONCE, off[i], out, sizeof(out));
        assert_string_equal(out, "");
    }
}

static void test_line_shape(void **state)
{
    (void)state;
    char out[256], want[256];
    pid_t pid = run(PRINT_ONCE, "1", out, sizeof(out));
    snprintf(want, sizeof(want), "libttalloc[%d]: connected to /x.sock (42)\n", (int)pid);
    assert_string_equal(out, want);
}

static void test_read_once(void **state)
{
    (void)state;
    char out[256], want[256];
    run(LATE_ENABLE, "0", out, sizeof(out));
    assert_string_equal(out, "");
    pid_t pid = run(LATE_DISABLE, "1", out, sizeof(out));
    snprintf(want, sizeof(want), "libttalloc[%d]: first\nlibttalloc[%d]: second\n", (int)pid,
             (int)pid);
    assert_string_equal(out, want);
}

static void test_long_line_cut(void **state)
{
    (void)state;
    char out[4096];
    run(LONG_LINE, "1", out, sizeof(out));
    /* one line: the prefix, 511 of the 1999 bytes, the newline */
    char *text = strstr(out, "]: ");
    assert_non_null(text);
    text += 3;
    assert_int_equal(strlen(text), 511 + 1);
    assert_int_equal(text[511], '\n');
    assert_int_equal(strspn(text, "z"), 511);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_unless_one),
        cmocka_unit_test(test_line_shape),
        cmocka_unit_test(test_read_once),
        cmocka_unit_test(test_long_line_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
