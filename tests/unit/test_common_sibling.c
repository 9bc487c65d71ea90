/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_sibling.c - finding another tt-alloc program (src/common/sibling.c):
 * beside the running binary, in ../DIR/ of the build tree, else the bare name
 * for PATH; a path longer than the caller's buffer is not cut short.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sibling.h"

static char self[PATH_MAX];
static char self_dir[PATH_MAX];
static const char *self_name;

static int setup(void **state)
{
    (void)state;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    snprintf(self_dir, sizeof(self_dir), "%s", self);
    char *slash = strrchr(self_dir, '/');
    *slash = '\0';
    self_name = strrchr(self, '/') + 1;
    return 0;
}

static void test_beside_this_binary(void **state)
{
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(sibling_find(self_name, "nowhere", out, sizeof(out)), 1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s/%s", self_dir, self_name);
    assert_string_equal(out, want);
}

static void test_in_the_build_tree(void **state)
{
    (void)state;
    char dir[PATH_MAX + 64], prog[PATH_MAX + 128];
    snprintf(dir, sizeof(dir), "%s/../sibling-test-%d", self_dir, (int)getpid());
    snprintf(prog, sizeof(prog), "%s/tt-alloc-fake", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    FILE *f = fopen(prog, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);

    char out[PATH_MAX];
    /* not executable: not taken */
    assert_int_equal(sibling_find("tt-alloc-fake", strrchr(dir, '/') + 1, out, sizeof(out)), 0);
    assert_string_equal(out, "tt-alloc-fake");
    assert_int_equal(chmod(prog, 0700), 0);
    assert_int_equal(sibling_find("tt-alloc-fake", strrchr(dir, '/') + 1, out, sizeof(out)), 1);
    assert_string_equal(out, prog);
    /* a buffer too small for the path: the bare name, never a cut path */
    char small[16];
    assert_int_equal(sibling_find("tt-alloc-fake", strrchr(dir, '/') + 1, small, sizeof(small)), 0);
    assert_string_equal(small, "tt-alloc-fake");

    unlink(prog);
    rmdir(dir);
}

static void test_missing_is_the_bare_name(void **state)
{
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(sibling_find("tt-alloc-no-such-program", "server", out, sizeof(out)), 0);
    assert_string_equal(out, "tt-alloc-no-such-program");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beside_this_binary),
        cmocka_unit_test(test_in_the_build_tree),
        cmocka_unit_test(test_missing_is_the_bare_name),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
