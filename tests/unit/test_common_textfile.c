/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_textfile.c - small kernel text files (src/common/textfile.c):
 * one read of a file that fits, -EFBIG at exactly the buffer's size, empty
 * and missing files, a FIFO that must not hang the reader, reads relative
 * to a directory fd, and slurp of a file longer than one block, cut at its
 * bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "textfile.h"
#include "tmpdir.h"

static void put(const char *name, const void *data, size_t len, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_read_fits(void **state)
{
    (void)state;
    char path[128], buf[16];
    put("attr", "n300\n", 5, path, sizeof(path));
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "n300\n");

    /* 15 bytes fit a 16-byte buffer; 16 do not (no room for the NUL). */
    put("fifteen", "0123456789abcde", 15, path, sizeof(path));
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), 15);
    assert_string_equal(buf, "0123456789abcde");
    put("sixteen", "0123456789abcdef", 16, path, sizeof(path));
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), -EFBIG);

    put("empty", "", 0, path, sizeof(path));
    buf[0] = 'x';
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");

    /* Embedded NULs come through: the length, not strlen, is the answer. */
    put("nul", "a\0b", 3, path, sizeof(path));
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "a\0b\0", 4);
}

static void test_read_errors(void **state)
{
    (void)state;
    char path[128], buf[16];
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), -ENOENT);
    assert_int_equal(textfile_read(tmpdir, buf, sizeof(buf)), -EISDIR);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(textfile_slurp(path, 4096, &out, &len), -ENOENT);
    assert_null(out);
}

static void test_fifo_does_not_hang(void **state)
{
    (void)state;
    char path[128], buf[16];
    snprintf(path, sizeof(path), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* No writer: opened O_NONBLOCK, the read answers at once (end of file). */
    assert_int_equal(textfile_read(path, buf, sizeof(buf)), 0);
    char *out = NULL;
    size_t len = 1;
    assert_int_equal(textfile_slurp(path, 4096, &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
}

static void test_readat(void **state)
{
    (void)state;
    char path[128], buf[32];
    put("comm", "python3\n", 8, path, sizeof(path));
    int dirfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
    assert_true(dirfd >= 0);
    assert_int_equal(textfile_readat(dirfd, "comm", buf, sizeof(buf)), 8);
    assert_string_equal(buf, "python3\n");
    assert_int_equal(textfile_readat(dirfd, "nope", buf, sizeof(buf)), -ENOENT);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(textfile_slurpat(dirfd, "comm", 64, &out, &len), 0);
    assert_int_equal(len, 8);
    assert_string_equal(out, "python3\n");
    free(out);
    close(dirfd);
    assert_int_equal(textfile_readat(dirfd, "comm", buf, sizeof(buf)), -EBADF);
}

static void test_slurp_long_and_cut(void **state)
{
    (void)state;
    char path[128];
    size_t big = 20000;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    data[100] = '\0'; /* cmdline style: NUL-separated arguments */
    put("cmdline", data, big, path, sizeof(path));

    /* Room for all: every byte, past the first 4096-byte block. */
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(textfile_slurp(path, 1 << 20, &out, &len), 0);
    assert_int_equal(len, big);
    assert_memory_equal(out, data, big);
    assert_int_equal(out[len], '\0');
    free(out);

    /* A bound of 8192: cut, one byte kept for the NUL, never more. */
    assert_int_equal(textfile_slurp(path, 8192, &out, &len), 0);
    assert_int_equal(len, 8191);
    assert_memory_equal(out, data, len);
    assert_int_equal(out[len], '\0');
    free(out);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fits),          cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_fifo_does_not_hang), cmocka_unit_test(test_readat),
        cmocka_unit_test(test_slurp_long_and_cut),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
