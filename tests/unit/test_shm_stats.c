/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_shm_stats.c - the DeviceMemoryRegion reader against hand-built byte
 * images in real files: v2 to v5 and later, half-initialised v4 and v5,
 * version 1 and numbers that are no version, implausible figures and random
 * bytes behind a valid header (unknown, never phantoms),
 * truncated, empty and garbage files, dead PIDs (a real reaped child),
 * zombies, a full process table, odd names, the directory watch, and reads
 * racing a thread that keeps changing the counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmstats.h"
#include "tmpdir.h"

/* ---- fixtures ---- */

static struct shmstats_raw *image_new(uint32_t version)
{
    struct shmstats_raw *r = aligned_alloc(64, sizeof(*r));
    assert_non_null(r);
    memset(r, 0, sizeof(*r));
    r->version = version;
    for (size_t i = 0; i < SHMSTATS_MAX_CHIPS; i++)
        r->chip_stats[i].chip_id = SHMSTATS_CHIP_UNUSED;
    if (version == 4)
        r->init_state = SHMSTATS_INIT_READY;
    return r;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* A PID that is certainly dead: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return pid;
}

static void set_proc(struct shmstats_raw_process *p, pid_t pid, uint64_t base, const char *name)
{
    p->pid = pid;
    p->dram = base + 1;
    p->l1 = base + 2;
    p->l1_small = base + 3;
    p->trace = base + 4;
    p->cb = base + 5;
    p->last_update_timestamp = base + 6;
    snprintf(p->process_name, sizeof(p->process_name), "%s", name);
}

static void assert_bytes(const uint64_t *b, uint64_t dram, uint64_t l1, uint64_t l1_small,
                         uint64_t trace, uint64_t cb)
{
    assert_true(b[TTALLOC_DRAM] == dram);
    assert_true(b[TTALLOC_L1] == l1);
    assert_true(b[TTALLOC_L1_SMALL] == l1_small);
    assert_true(b[TTALLOC_TRACE] == trace);
    assert_true(b[TTALLOC_CB] == cb);
    assert_true(b[TTALLOC_SYSTEM_MEMORY] == 0);
}

/* ---- tests ---- */

/* Every field of a v3 and a v4 image comes back to the byte, through a file. */
static void check_full_image(uint32_t version)
{
    struct shmstats_raw *r = image_new(version);
    r->num_active_processes = 2;
    r->last_update_timestamp = 0x1122334455667788ull;
    r->reference_count = 2;
    r->board_serial = 0x0000010203040506ull;
    r->asic_id = 987654321987654321ull;
    r->device_id = 7;
    r->total_dram = UINT64_MAX;
    r->total_l1 = 1;
    r->total_l1_small = 0;
    r->total_trace = 1ull << 40;
    r->total_cb = 12345;
    r->chip_stats[0] = (struct shmstats_raw_chip){7, 0, 10, 11, 12, 13, 14};
    r->chip_stats[3] = (struct shmstats_raw_chip){9, 1, 20, 21, 22, 23, UINT64_MAX};
    r->chip_stats[15] = (struct shmstats_raw_chip){0, 1, 30, 31, 32, 33, 34}; /* chip 0 is real */
    set_proc(&r->processes[5], getpid(), 1000, "python3");
    set_proc(&r->processes[63], getppid(), UINT64_MAX - 10, "pytest");

    char path[300];
    path_in(path, sizeof(path), "tt_device_987654321987654321_memory");
    write_bytes(path, r, sizeof(*r));

    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    assert_int_equal(shmstats_read_file(path, out, why, sizeof(why)), 0);
    assert_string_equal(out->path, path);
    assert_true(out->chip_unique_id == 987654321987654321ull);
    assert_int_equal(out->version, version);
    assert_int_equal(out->device_id, 7);
    assert_true(out->board_serial == 0x0000010203040506ull);
    assert_true(out->asic_id == 987654321987654321ull);
    assert_int_equal(out->num_active_processes, 2);
    assert_int_equal(out->reference_count, 2);
    assert_true(out->last_update_ns == 0x1122334455667788ull);
    assert_bytes(out->totals, UINT64_MAX, 1, 0, 1ull << 40, 12345);
    assert_int_equal(out->n_chips, 3);
    assert_int_equal(out->chips[0].chip_id, 7);
    assert_int_equal(out->chips[0].is_remote, 0);
    assert_bytes(out->chips[0].bytes, 10, 11, 12, 13, 14);
    assert_int_equal(out->chips[1].chip_id, 9);
    assert_int_equal(out->chips[1].is_remote, 1);
    assert_bytes(out->chips[1].bytes, 20, 21, 22, 23, UINT64_MAX);
    assert_int_equal(out->chips[2].chip_id, 0);
    assert_bytes(out->chips[2].bytes, 30, 31, 32, 33, 34);
    assert_int_equal(out->n_processes, 2);
    assert_int_equal(out->processes[0].pid, getpid());
    assert_string_equal(out->processes[0].name, "python3");
    assert_bytes(out->processes[0].bytes, 1001, 1002, 1003, 1004, 1005);
    assert_true(out->processes[0].last_update_ns == 1006);
    assert_int_equal(out->processes[1].pid, getppid());
    assert_bytes(out->processes[1].bytes, UINT64_MAX - 9, UINT64_MAX - 8, UINT64_MAX - 7,
                 UINT64_MAX - 6, UINT64_MAX - 5);
    assert_int_equal(out->stale, 0);
    assert_int_equal(out->invalid, 0);
    assert_int_equal(out->torn, 0);
    free(out);
    free(r);
}

static void test_v3_image(void **state)
{
    (void)state;
    check_full_image(3);
}

static void test_v4_image(void **state)
{
    (void)state;
    check_full_image(4);
}

/* v3 has no init_state: whatever its tail padding holds does not matter. */
static void test_v3_ignores_init_state(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(3);
    r->init_state = 0xdeadbeef;
    struct shmstats_region *out = malloc(sizeof(*out));
    assert_int_equal(shmstats_parse(r, sizeof(*r), "x", out, NULL, 0), 0);
    assert_int_equal(out->version, 3);
    free(out);
    free(r);
}

static void test_half_initialised_v4(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    static const uint32_t states[] = {0, 1, 0x52454458u, 0x59444552u /* byte-swapped */};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        r->init_state = states[i];
        assert_int_equal(
            shmstats_parse(r, sizeof(*r), "d/tt_device_1_memory", out, why, sizeof(why)), -EAGAIN);
        assert_non_null(strstr(why, "tt_device_1_memory"));
        assert_non_null(strstr(why, "not initialised"));
    }
    /* a zero-filled region (created, not yet initialised) is the same case */
    memset(r, 0, sizeof(*r));
    assert_int_equal(shmstats_parse(r, sizeof(*r), "z", out, why, sizeof(why)), -EAGAIN);
    free(out);
    free(r);
}

static void test_unknown_versions(void **state)
{
    (void)state;
    /* v1 had another layout; a version field this large is no version */
    static const uint32_t versions[] = {1, 0x10000, 0x7fffffff, UINT32_MAX};
    struct shmstats_raw *r = image_new(4);
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX], want[32];
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        r->version = versions[i];
        assert_int_equal(shmstats_parse(r, sizeof(*r), "tt_device_9_memory", out, why, sizeof(why)),
                         -EPROTO);
        if (versions[i] == 1)
            snprintf(want, sizeof(want), "version %u", versions[i]);
        else
            snprintf(want, sizeof(want), "0x%08x", versions[i]);
        assert_non_null(strstr(why, want));
        assert_non_null(strstr(why, "tt_device_9_memory"));
    }
    free(out);
    free(r);
}

static void test_versions_read_for_their_fields(void **state)
{
    (void)state;
    /* v2 has v3's offsets for its fields; later versions keep v4's */
    static const uint32_t versions[] = {2, 3, 4, 5, 6, 0xffff};
    struct shmstats_raw *r = image_new(4);
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    r->total_dram = 4096;
    r->processes[0].pid = getpid();
    r->processes[0].dram = 1024;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        r->version = versions[i];
        r->init_state = versions[i] >= 4 ? SHMSTATS_INIT_READY : 0;
        assert_int_equal(shmstats_parse(r, sizeof(*r), "tt_device_9_memory", out, why, sizeof(why)),
                         0);
        assert_int_equal(out->version, versions[i]);
        assert_true(out->totals[TTALLOC_DRAM] == 4096);
        assert_int_equal(out->n_processes, 1);
        assert_true(out->processes[0].bytes[TTALLOC_DRAM] == 1024);
        assert_int_equal(out->unknown, 0);
    }
    /* v5 not yet initialised: try again later, as for v4 */
    r->version = 5;
    r->init_state = 1;
    assert_int_equal(shmstats_parse(r, sizeof(*r), "x", out, why, sizeof(why)), -EAGAIN);
    free(out);
    free(r);
}

/* Each way a region's figures cannot be true makes them unknown, once. */
static void test_implausible_figures_unknown(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    for (int c = 0; c < 6; c++) {
        struct shmstats_raw *img = image_new(4);
        img->total_dram = 1u << 20;
        img->processes[0].pid = getpid();
        img->processes[0].dram = 4096;
        switch (c) {
        case 0:
            img->total_dram = 1ull << 50;
            break; /* above any board */
        case 1:
            img->processes[0].dram = 2u << 20;
            break; /* more than the total */
        case 2:    /* a sum that wraps */
            img->processes[1].pid = getppid();
            img->processes[0].l1 = UINT64_MAX - 5;
            img->processes[1].l1 = 10;
            img->total_l1 = 100;
            break;
        case 3:
            img->chip_stats[1].chip_id = 0x12345678u;
            break; /* no chip id */
        case 4:
            img->device_id = 0xdeadbeefu;
            break;
        case 5: /* a chip above any board */
            img->chip_stats[0].chip_id = 0;
            img->chip_stats[0].cb = 1ull << 40;
            break;
        }
        assert_int_equal(shmstats_parse(img, sizeof(*img), "g", out, why, sizeof(why)), 0);
        assert_int_equal(out->unknown, 1);
        assert_true(strlen(out->unknown_why) > 0);
        free(img);
    }
    /* the same, plausible: known */
    r->total_dram = 1u << 20;
    assert_int_equal(shmstats_parse(r, sizeof(*r), "g", out, why, sizeof(why)), 0);
    assert_int_equal(out->unknown, 0);
    free(out);
    free(r);
}

/* Random bytes behind a valid header: never a crash, and (nearly always)
 * unknown figures; when known, every figure within the bounds. */
static void test_garbage_behind_header(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    unsigned seed = 12345;
    int unknown = 0;
    for (int round = 0; round < 200; round++) {
        unsigned char *bytes = (unsigned char *)r;
        for (size_t i = 16; i < sizeof(*r); i++) {
            seed = seed * 1103515245u + 12345u;
            bytes[i] = (unsigned char)(seed >> 16);
        }
        r->version = 4;
        r->init_state = SHMSTATS_INIT_READY;
        assert_int_equal(shmstats_parse(r, sizeof(*r), "g", out, why, sizeof(why)), 0);
        unknown += out->unknown;
        if (!out->unknown) {
            assert_true(out->device_id <= SHMSTATS_CHIP_ID_MAX);
            for (size_t c = 0; c < out->n_chips; c++)
                assert_true(out->chips[c].chip_id <= SHMSTATS_CHIP_ID_MAX);
        }
    }
    assert_int_equal(unknown, 200);
    free(out);
    free(r);
}

static void test_truncated_empty_large(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    char *big = calloc(1, SHMSTATS_REGION_SIZE + 4096);
    memcpy(big, r, sizeof(*r));
    struct shmstats_region *out = malloc(sizeof(*out));
    char path[300], why[SHMSTATS_WHY_MAX];
    static const size_t sizes[] = {
        0, 1, 8, 4096, SHMSTATS_REGION_SIZE - 40, SHMSTATS_REGION_SIZE - 1};
    path_in(path, sizeof(path), "tt_device_3_memory");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        write_bytes(path, r, sizes[i]);
        assert_int_equal(shmstats_read_file(path, out, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, sizes[i] == 0 ? "empty" : "truncated"));
        /* the in-memory parser too */
        assert_int_equal(shmstats_parse(r, sizes[i], path, out, NULL, 0), -EBADMSG);
    }
    /* a larger file is fine: the struct is at its start */
    write_bytes(path, big, SHMSTATS_REGION_SIZE + 4096);
    assert_int_equal(shmstats_read_file(path, out, why, sizeof(why)), 0);
    free(out);
    free(big);
    free(r);
}

static void test_not_regular_files(void **state)
{
    (void)state;
    struct shmstats_region *out = malloc(sizeof(*out));
    char path[300], link[300], why[SHMSTATS_WHY_MAX];
    path_in(path, sizeof(path), "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(shmstats_read_file(path, out, why, sizeof(why)), -EINVAL);
    assert_int_equal(shmstats_read_file(tmpdir, out, why, sizeof(why)), -EINVAL);
    /* a symlink is not followed, even to a good file */
    struct shmstats_raw *r = image_new(4);
    path_in(path, sizeof(path), "good");
    write_bytes(path, r, sizeof(*r));
    path_in(link, sizeof(link), "tt_device_4_memory");
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(shmstats_read_file(link, out, why, sizeof(why)), -EINVAL);
    path_in(path, sizeof(path), "absent");
    assert_int_equal(shmstats_read_file(path, out, why, sizeof(why)), -ENOENT);
    free(r);
    free(out);
}

/* Random bytes: refused or parsed, never out of bounds; with a valid header
 * forced in, every output stays within its limits. */
static void test_garbage(void **state)
{
    (void)state;
    struct shmstats_raw *r = aligned_alloc(64, sizeof(*r));
    struct shmstats_region *out = malloc(sizeof(*out));
    char why[SHMSTATS_WHY_MAX];
    srand(12345);
    int parsed = 0;
    for (int round = 0; round < 300; round++) {
        unsigned char *b = (unsigned char *)r;
        for (size_t i = 0; i < sizeof(*r); i++)
            b[i] = (unsigned char)rand();
        if (round % 2) {
            r->version = 3 + (uint32_t)(round % 4 == 1);
            r->init_state = SHMSTATS_INIT_READY;
        }
        int rc = shmstats_parse(r, sizeof(*r), "g", out, why, sizeof(why));
        if (rc != 0) {
            assert_true(rc == -EPROTO || rc == -EAGAIN);
            assert_true(strlen(why) > 0);
            continue;
        }
        parsed++;
        assert_true(out->n_chips <= SHMSTATS_MAX_CHIPS);
        assert_true(out->n_processes + out->stale + out->invalid <= SHMSTATS_MAX_PROCESSES);
        for (size_t p = 0; p < out->n_processes; p++) {
            size_t len = strlen(out->processes[p].name);
            assert_true(len < SHMSTATS_NAME_MAX);
            for (size_t k = 0; k < len; k++)
                assert_true(out->processes[p].name[k] >= 0x20 && out->processes[p].name[k] < 0x7f);
        }
        /* random PIDs are mostly beyond any possible PID */
        assert_true(out->invalid > 0);
    }
    assert_int_equal(parsed, 150);
    free(out);
    free(r);
}

static void test_dead_and_odd_pids(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    pid_t dead = dead_pid();
    set_proc(&r->processes[0], dead, 100, "killed");
    set_proc(&r->processes[1], getpid(), 200, "me");
    set_proc(&r->processes[2], dead_pid(), 300, "killed2");
    set_proc(&r->processes[3], SHMSTATS_PID_RELEASING, 400, "releasing");
    set_proc(&r->processes[4], -7, 500, "negative");
    set_proc(&r->processes[5], 4194305, 600, "toolarge");
    struct shmstats_region *out = malloc(sizeof(*out));
    assert_int_equal(shmstats_parse(r, sizeof(*r), "p", out, NULL, 0), 0);
    assert_int_equal(out->n_processes, 1);
    assert_int_equal(out->processes[0].pid, getpid());
    assert_int_equal(out->stale, 2);
    assert_bytes(out->stale_bytes, 101 + 301, 102 + 302, 103 + 303, 104 + 304, 105 + 305);
    assert_int_equal(out->invalid, 2);
    free(out);
    free(r);
}

/* kill(pid, 0) succeeds on a zombie: the reader still calls it dead. */
static void test_zombie_is_dead(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    /* wait until it is a zombie, without reaping it */
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(shmstats_pid_alive(pid), 0);
    assert_int_equal(shmstats_pid_alive(getpid()), 1);
    assert_int_equal(shmstats_pid_alive(1), 1); /* EPERM or ours: alive either way */
    assert_int_equal(shmstats_pid_alive(0), 0);
    assert_int_equal(shmstats_pid_alive(-1), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(shmstats_pid_alive(pid), 0);
}

static void test_full_table_and_names(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    for (int i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        set_proc(&r->processes[i], getpid(), (uint64_t)i * 1000, name);
    }
    /* no NUL in the whole name field, and bytes that are not printable */
    memset(r->processes[10].process_name, 'x', SHMSTATS_NAME_MAX);
    r->processes[11].process_name[0] = '\n';
    r->processes[11].process_name[1] = (char)0xc3;
    r->processes[11].process_name[2] = 'a';
    r->processes[11].process_name[3] = '\0';
    struct shmstats_region *out = malloc(sizeof(*out));
    assert_int_equal(shmstats_parse(r, sizeof(*r), "f", out, NULL, 0), 0);
    assert_int_equal(out->n_processes, SHMSTATS_MAX_PROCESSES);
    for (int i = 0; i < SHMSTATS_MAX_PROCESSES; i++)
        assert_bytes(out->processes[i].bytes, (uint64_t)i * 1000 + 1, (uint64_t)i * 1000 + 2,
                     (uint64_t)i * 1000 + 3, (uint64_t)i * 1000 + 4, (uint64_t)i * 1000 + 5);
    assert_string_equal(out->processes[0].name, "p0");
    assert_string_equal(out->processes[63].name, "p63");
    assert_int_equal(strlen(out->processes[10].name), SHMSTATS_NAME_MAX - 1);
    assert_string_equal(out->processes[11].name, "??a");
    free(out);
    free(r);
}

static void test_name_match(void **state)
{
    (void)state;
    uint64_t id = 99;
    assert_int_equal(shmstats_name_match("tt_device_0_memory", &id), 1);
    assert_true(id == 0);
    assert_int_equal(shmstats_name_match("tt_device_18446744073709551615_memory", &id), 1);
    assert_true(id == UINT64_MAX);
    assert_int_equal(shmstats_name_match("tt_device_18446744073709551616_memory", &id), 1);
    assert_true(id == 0); /* overflows: a region still, id unknown */
    assert_int_equal(shmstats_name_match("tt_device_12ab_memory", &id), 1);
    assert_true(id == 0);
    assert_int_equal(shmstats_name_match("tt_device__memory", &id), 0);
    assert_int_equal(shmstats_name_match("tt_device_1_memory.tmp", &id), 0);
    assert_int_equal(shmstats_name_match("TT_UMD_LOCK.0", &id), 0);
    assert_int_equal(shmstats_name_match("", &id), 0);
}

static void test_watch(void **state)
{
    (void)state;
    char dir[300], a[400], b[400], c[400], other[400];
    snprintf(dir, sizeof(dir), "%s/dev", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/dev/shm", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);

    struct shmstats_watch *w = shmstats_watch_new(tmpdir);
    assert_non_null(w);
    assert_string_equal(shmstats_watch_dir(w), dir);
    assert_int_equal(shmstats_watch_refresh(w), 0);

    struct shmstats_raw *r = image_new(4);
    r->device_id = 1;
    r->total_dram = 111;
    snprintf(a, sizeof(a), "%s/tt_device_1_memory", dir);
    snprintf(b, sizeof(b), "%s/tt_device_2_memory", dir);
    snprintf(c, sizeof(c), "%s/tt_device_3_memory", dir);
    snprintf(other, sizeof(other), "%s/TT_UMD_LOCK.x", dir);
    write_bytes(a, r, sizeof(*r));
    r->version = 1;
    write_bytes(b, r, sizeof(*r));
    write_bytes(c, r, 100);
    write_bytes(other, r, sizeof(*r));

    assert_int_equal(shmstats_watch_refresh(w), 3);
    const struct shmstats_file *f0 = shmstats_watch_get(w, 0), *f1 = shmstats_watch_get(w, 1),
                               *f2 = shmstats_watch_get(w, 2);
    assert_null(shmstats_watch_get(w, 3));
    assert_string_equal(f0->path, a);
    assert_int_equal(f0->status, 0);
    assert_int_equal(f0->complain, 0);
    assert_true(f0->region.totals[TTALLOC_DRAM] == 111);
    assert_int_equal(f1->status, -EPROTO);
    assert_int_equal(f1->complain, 1);
    assert_int_equal(f2->status, -EBADMSG);
    assert_int_equal(f2->complain, 1);
    /* the readable regions only: the first file's */
    struct shmstats_region *regions = NULL;
    size_t n_regions = 99;
    assert_int_equal(shmstats_watch_regions(w, &regions, &n_regions), 0);
    assert_int_equal(n_regions, 1);
    assert_true(regions[0].totals[TTALLOC_DRAM] == 111);
    free(regions);

    /* the same errors again: no second complaint */
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_int_equal(shmstats_watch_get(w, 1)->complain, 0);
    assert_int_equal(shmstats_watch_get(w, 2)->complain, 0);

    /* a file that changes in place is seen on the next read */
    int fd = open(a, O_RDWR);
    uint64_t v = 222;
    assert_int_equal(pwrite(fd, &v, sizeof(v), offsetof(struct shmstats_raw, total_dram)), 8);
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_true(shmstats_watch_get(w, 0)->region.totals[TTALLOC_DRAM] == 222);
    /* ... and one truncated while open is refused, not a SIGBUS */
    assert_int_equal(ftruncate(fd, 64), 0);
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_int_equal(shmstats_watch_get(w, 0)->status, -EBADMSG);
    assert_int_equal(shmstats_watch_get(w, 0)->complain, 1);
    close(fd);

    /* fixed: fine again; broken the same way later: complained about again */
    r->version = 4;
    r->total_dram = 333;
    write_bytes(b, r, sizeof(*r));
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_int_equal(shmstats_watch_get(w, 1)->status, 0);
    assert_true(shmstats_watch_get(w, 1)->region.totals[TTALLOC_DRAM] == 333);
    /* the first is truncated: the second file's region alone */
    assert_int_equal(shmstats_watch_regions(w, &regions, &n_regions), 0);
    assert_int_equal(n_regions, 1);
    assert_true(regions[0].totals[TTALLOC_DRAM] == 333);
    free(regions);
    r->version = 1;
    write_bytes(b, r, sizeof(*r));
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_int_equal(shmstats_watch_get(w, 1)->complain, 1);

    /* replaced under the same name (new inode): the new file is read */
    r->version = 4;
    r->total_dram = 444;
    assert_int_equal(unlink(a), 0);
    write_bytes(a, r, sizeof(*r));
    assert_int_equal(shmstats_watch_refresh(w), 3);
    assert_int_equal(shmstats_watch_get(w, 0)->status, 0);
    assert_true(shmstats_watch_get(w, 0)->region.totals[TTALLOC_DRAM] == 444);

    /* removed: gone from the list */
    assert_int_equal(unlink(b), 0);
    assert_int_equal(shmstats_watch_refresh(w), 2);
    assert_string_equal(shmstats_watch_get(w, 1)->path, c);
    shmstats_watch_free(w);

    /* a sysroot without dev/shm is no files, not an error */
    w = shmstats_watch_new("/nonexistent-sysroot");
    assert_int_equal(shmstats_watch_refresh(w), 0);
    assert_int_equal(shmstats_watch_regions(w, &regions, &n_regions), 0);
    assert_int_equal(n_regions, 0);
    free(regions);
    shmstats_watch_free(w);
    free(r);
}

/* ---- reads racing a writer ---- */

struct racer {
    struct shmstats_raw *region;
    volatile int stop;
};

/* Each step k stores k in both halves of every counter, then the timestamp:
 * a torn 64-bit read would show different halves. */
static void *racer_main(void *arg)
{
    struct racer *rc = arg;
    uint64_t k = 1;
    while (!__atomic_load_n(&rc->stop, __ATOMIC_RELAXED)) {
        uint64_t v = (k << 32) | (k & 0xffffffffu);
        __atomic_store_n(&rc->region->total_dram, v, __ATOMIC_RELAXED);
        __atomic_store_n(&rc->region->total_cb, v, __ATOMIC_RELAXED);
        __atomic_store_n(&rc->region->processes[0].dram, v, __ATOMIC_RELAXED);
        __atomic_store_n(&rc->region->last_update_timestamp, k, __ATOMIC_RELEASE);
        k++;
    }
    return NULL;
}

static void test_reads_racing_writer(void **state)
{
    (void)state;
    struct shmstats_raw *r = image_new(4);
    r->processes[0].pid = getpid();
    struct racer rc = {r, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, racer_main, &rc), 0);
    struct shmstats_region *out = malloc(sizeof(*out));
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(shmstats_parse(r, sizeof(*r), "race", out, NULL, 0), 0);
        uint64_t vals[3] = {out->totals[TTALLOC_DRAM], out->totals[TTALLOC_CB],
                            out->processes[0].bytes[TTALLOC_DRAM]};
        for (int j = 0; j < 3; j++)
            assert_true((vals[j] >> 32) == (vals[j] & 0xffffffffu));
        /* a copy reported whole was taken while the timestamp stood still,
         * after the counters of that step were stored */
        if (!out->torn)
            assert_true((out->totals[TTALLOC_DRAM] >> 32) >= out->last_update_ns);
    }
    __atomic_store_n(&rc.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    free(out);
    free(r);
}

/* Another user truncates and restores a region in a loop while we read it:
 * every read is a clear result or a clear error, never SIGBUS (the file is
 * copied with pread, never mapped). */
static void test_truncation_loop_no_sigbus(void **state)
{
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof(dir), "%s/dev", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/dev/shm", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/tt_device_7_memory", dir);
    struct shmstats_raw *r = image_new(4);
    r->total_dram = 4096;
    write_bytes(path, r, sizeof(*r));

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must not leave it running */
        int fd = open(path, O_RDWR);
        for (;;) {
            if (ftruncate(fd, 0) != 0 || ftruncate(fd, 64) != 0 ||
                pwrite(fd, r, sizeof(*r), 0) != (ssize_t)sizeof(*r))
                _exit(3);
        }
    }
    struct shmstats_watch *w = shmstats_watch_new(tmpdir);
    struct shmstats_region *out = malloc(sizeof(*out));
    int whole = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(shmstats_watch_refresh(w), 1);
        const struct shmstats_file *f = shmstats_watch_get(w, 0);
        if (f->status == 0) {
            assert_true(f->region.totals[TTALLOC_DRAM] == 4096);
            whole++;
        } else {
            assert_int_equal(f->status, -EBADMSG);
            refused++;
        }
        int rc = shmstats_read_file(path, out, NULL, 0);
        assert_true(rc == 0 || rc == -EBADMSG);
    }
    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the writer really raced us: both outcomes were seen */
    assert_true(whole > 0);
    assert_true(refused > 0);
    shmstats_watch_free(w);
    free(out);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v3_image, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_v4_image, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_v3_ignores_init_state),
        cmocka_unit_test(test_half_initialised_v4),
        cmocka_unit_test(test_unknown_versions),
        cmocka_unit_test(test_versions_read_for_their_fields),
        cmocka_unit_test(test_implausible_figures_unknown),
        cmocka_unit_test(test_garbage_behind_header),
        cmocka_unit_test_setup_teardown(test_truncated_empty_large, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_not_regular_files, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_dead_and_odd_pids),
        cmocka_unit_test(test_zombie_is_dead),
        cmocka_unit_test(test_full_table_and_names),
        cmocka_unit_test(test_name_match),
        cmocka_unit_test_setup_teardown(test_watch, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_reads_racing_writer),
        cmocka_unit_test_setup_teardown(test_truncation_loop_no_sigbus, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
