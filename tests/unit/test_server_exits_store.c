/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_exits_store.c - the leak history and its state file: bounds by count
 * and age, per-uid totals, a save/load round trip, and every kind of bad
 * file (garbage, truncation, a flipped byte, extremes, wrong owner bits, a
 * symlink, a directory, a FIFO) refused without a crash and without losing
 * the ability to save again.
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

#include "exits_store.h"
#include "log.h"
#include "tmpdir.h"

#define SEC 1000000000ull
#define NOW (1800000000ull * SEC)

static char path[TMPDIR_MAX + 16];

static int setup(void **state)
{
    if (tmpdir_setup(state) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/state", tmpdir);
    return 0;
}

static struct ttalloc_exit record(int32_t pid, uint32_t uid, uint64_t time_ns, uint64_t dram)
{
    struct ttalloc_exit e;
    memset(&e, 0, sizeof(e));
    e.pid = pid;
    e.uid = uid;
    e.time_ns = time_ns;
    snprintf(e.name, sizeof(e.name), "proc%d", (int)pid);
    snprintf(e.label, sizeof(e.label), "label-%d", (int)pid);
    e.bytes[TTALLOC_DRAM] = dram;
    e.buffers[TTALLOC_DRAM] = 1;
    return e;
}

static size_t file_size(void)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static void write_file(const void *data, size_t len, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static unsigned char *read_file(size_t *len)
{
    *len = file_size();
    unsigned char *buf = malloc(*len);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0 && buf != NULL);
    assert_int_equal(read(fd, buf, *len), (ssize_t)*len);
    close(fd);
    return buf;
}

/* A store saved with three records of two uids, for the tests to break. */
static void save_three(void)
{
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    struct ttalloc_exit recs[3] = {record(10, 1000, NOW - 3 * SEC, 4096),
                                   record(11, 0, NOW - 2 * SEC, 100),
                                   record(12, 1000, NOW - SEC, 8192)};
    exits_store_add(&s, recs, 3, NOW, 5 * SEC);
    assert_int_equal(exits_store_flush(&s), 0);
    exits_store_close(&s);
}

static size_t loaded_records(void)
{
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    size_t n = s.n_records;
    exits_store_close(&s);
    return n;
}

static void test_round_trip_and_uid_totals(void **state)
{
    (void)state;
    save_three();
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    assert_int_equal(s.n_records, 3);
    assert_int_equal(s.records[0].pid, 10);
    assert_int_equal(s.records[2].pid, 12);
    assert_string_equal(s.records[2].label, "label-12");
    assert_int_equal(s.n_uids, 2);
    assert_int_equal(s.uids[0].uid, 0);
    assert_int_equal(s.uids[0].bytes[TTALLOC_DRAM], 100);
    assert_int_equal(s.uids[1].uid, 1000);
    assert_int_equal(s.uids[1].bytes[TTALLOC_DRAM], 4096 + 8192);
    /* no temporary file is left beside it */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", tmpdir);
    assert_int_equal(system(cmd), 0);
    exits_store_close(&s);
}

static void test_bounds_count_and_age(void **state)
{
    (void)state;
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 2, 60, NOW), 0);
    struct ttalloc_exit recs[3] = {record(1, 5, NOW - 3 * SEC, 1), record(2, 5, NOW - 2 * SEC, 2),
                                   record(3, 5, NOW - SEC, 4)};
    exits_store_add(&s, recs, 3, NOW, 5 * SEC);
    assert_int_equal(s.n_records, 2); /* the oldest went */
    assert_int_equal(s.records[0].pid, 2);
    assert_int_equal(s.uids[0].bytes[TTALLOC_DRAM], 7); /* the counter keeps all three */
    /* 60 s later the first is too old; the tick drops it and saves */
    exits_store_tick(&s, NOW - 2 * SEC + 61 * SEC, 70 * SEC);
    assert_int_equal(s.n_records, 1);
    assert_int_equal(s.records[0].pid, 3);
    assert_int_equal(s.dirty, 0);
    exits_store_close(&s);
    /* ... and what is saved is what is left */
    assert_int_equal(exits_store_open(&s, path, 2, 60, NOW + 59 * SEC), 0);
    assert_int_equal(s.n_records, 1);
    exits_store_close(&s);
    /* a smaller bound at start drops the oldest of the file */
    save_three();
    assert_int_equal(exits_store_open(&s, path, 1, 0, NOW), 0);
    assert_int_equal(s.n_records, 1);
    assert_int_equal(s.records[0].pid, 12);
    exits_store_close(&s);
}

static void test_saves_at_most_once_a_second(void **state)
{
    (void)state;
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    struct ttalloc_exit a = record(1, 5, NOW, 1), b = record(2, 5, NOW, 2);
    exits_store_add(&s, &a, 1, NOW, 10 * SEC);
    assert_int_equal(s.dirty, 0);
    exits_store_add(&s, &b, 1, NOW, 10 * SEC + SEC / 2);
    assert_int_equal(s.dirty, 1); /* waits for the tick */
    assert_int_equal(loaded_records(), 1);
    exits_store_tick(&s, NOW, 10 * SEC + SEC / 2 + 1);
    assert_int_equal(s.dirty, 1);
    exits_store_tick(&s, NOW, 11 * SEC);
    assert_int_equal(s.dirty, 0);
    assert_int_equal(loaded_records(), 2);
    exits_store_close(&s);
}

static void test_garbage_truncation_and_bit_flips_refused(void **state)
{
    (void)state;
    save_three();
    size_t len;
    unsigned char *good = read_file(&len);
    /* every truncation */
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
        write_file(good, cut, 0600);
        assert_int_equal(loaded_records(), 0);
    }
    /* one flipped byte anywhere: the checksum or a header check refuses it */
    for (size_t at = 0; at < len; at += 7) {
        unsigned char *bad = malloc(len);
        memcpy(bad, good, len);
        bad[at] ^= 0x40;
        write_file(bad, len, 0600);
        assert_int_equal(loaded_records(), 0);
        free(bad);
    }
    /* padding after a valid file */
    unsigned char *longer = calloc(1, len + 8);
    memcpy(longer, good, len);
    write_file(longer, len + 8, 0600);
    assert_int_equal(loaded_records(), 0);
    free(longer);
    /* garbage of many sizes */
    unsigned char noise[4096];
    srand(7);
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)rand();
    memcpy(noise, "TTALLOCX", 8);
    for (size_t n = 0; n <= sizeof(noise); n += 331) {
        write_file(noise, n, 0600);
        assert_int_equal(loaded_records(), 0);
    }
    /* extremes: counts at UINT32_MAX in a header that says nothing else wrong */
    unsigned char head[32];
    memcpy(head, good, sizeof(head));
    uint32_t huge = UINT32_MAX;
    memcpy(head + 16, &huge, 4);
    write_file(head, sizeof(head), 0600);
    assert_int_equal(loaded_records(), 0);
    /* the intact file still loads, and a refused file is replaced by the next save */
    write_file(good, len, 0600);
    assert_int_equal(loaded_records(), 3);
    write_file(noise, 100, 0600);
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    struct ttalloc_exit e = record(99, 1, NOW, 5);
    exits_store_add(&s, &e, 1, NOW, 10 * SEC);
    exits_store_close(&s);
    assert_int_equal(loaded_records(), 1);
    free(good);
}

/* A record whose strings lack their NUL, or that has bytes but no buffers,
 * is refused even with a correct checksum (the file was written so). */
static void test_malformed_records_refused(void **state)
{
    (void)state;
    struct exits_store s;
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    struct ttalloc_exit e = record(1, 1, NOW, 5);
    memset(e.name, 'x', sizeof(e.name));
    exits_store_add(&s, &e, 1, NOW, 10 * SEC);
    exits_store_close(&s);
    assert_int_equal(loaded_records(), 0);
    assert_int_equal(exits_store_open(&s, path, 0, 0, NOW), 0);
    e = record(1, 1, NOW, 5);
    e.buffers[TTALLOC_DRAM] = 0;
    exits_store_add(&s, &e, 1, NOW, 10 * SEC);
    exits_store_close(&s);
    assert_int_equal(loaded_records(), 0);
}

static void test_hostile_files_refused(void **state)
{
    (void)state;
    save_three();
    size_t len;
    unsigned char *good = read_file(&len);
    /* writable by others, or by the group */
    write_file(good, len, 0602);
    assert_int_equal(loaded_records(), 0);
    write_file(good, len, 0620);
    assert_int_equal(loaded_records(), 0);
    /* a symlink to a good file */
    char target[160];
    snprintf(target, sizeof(target), "%s/target", tmpdir);
    write_file(good, len, 0600);
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(loaded_records(), 0);
    unlink(path);
    unlink(target);
    /* a directory, a FIFO (must not block) */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(loaded_records(), 0);
    rmdir(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(loaded_records(), 0);
    unlink(path);
    /* a file that cannot be written: the store stays in memory and says so once */
    struct exits_store s;
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/state", tmpdir);
    assert_int_equal(exits_store_open(&s, missing, 0, 0, NOW), 0);
    struct ttalloc_exit e = record(7, 7, NOW, 7);
    exits_store_add(&s, &e, 1, NOW, 10 * SEC);
    assert_int_equal(s.n_records, 1);
    assert_int_equal(s.save_failing, 1);
    assert_int_equal(exits_store_flush(&s), -ENOENT);
    exits_store_close(&s);
    free(good);
}

static void test_default_path(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(exits_store_default_path("/run/tt-alloc/tt-alloc.sock", out, sizeof(out)), 0);
    assert_string_equal(out, "/run/tt-alloc/" EXITS_STORE_FILE);
    assert_int_equal(exits_store_default_path("/x.sock", out, sizeof(out)), 0);
    assert_string_equal(out, "/" EXITS_STORE_FILE);
    assert_int_equal(exits_store_default_path("rel.sock", out, sizeof(out)), 0);
    assert_string_equal(out, EXITS_STORE_FILE);
    assert_int_equal(
        exits_store_default_path("/a/very/long/directory/name/that/does/not/fit/x", out, 20),
        -ENAMETOOLONG);
}

int main(void)
{
    log_init("test_exits_store", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_uid_totals, setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_bounds_count_and_age, setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_saves_at_most_once_a_second, setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_truncation_and_bit_flips_refused, setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_records_refused, setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_files_refused, setup, tmpdir_teardown),
        cmocka_unit_test(test_default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
