/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_shm_writer.c - the TT-Metal-like writer, checked through the reader:
 * exact figures per process, chip and total; real child processes that
 * detach cleanly or are SIGKILLed (their slot stays, until the next attach
 * reaps it); a full table of 64 real processes; v3 regions; regions another
 * layout or a stuck initialiser holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmstats.h"
#include "tmpdir.h"
#include "shmwriter.h"

static struct shmstats_region *read_region(uint64_t id, int expect_rc)
{
    char path[400], why[SHMSTATS_WHY_MAX];
    snprintf(path, sizeof(path), "%s/tt_device_%llu_memory", tmpdir, (unsigned long long)id);
    struct shmstats_region *r = malloc(sizeof(*r));
    assert_non_null(r);
    int rc = shmstats_read_file(path, r, why, sizeof(why));
    if (rc != expect_rc)
        fail_msg("read %s: %d (%s), wanted %d", path, rc, why, expect_rc);
    return r;
}

static const struct shmstats_process *find_pid(const struct shmstats_region *r, pid_t pid)
{
    for (size_t i = 0; i < r->n_processes; i++)
        if (r->processes[i].pid == pid)
            return &r->processes[i];
    return NULL;
}

static const struct shmstats_chip *find_chip(const struct shmstats_region *r, uint32_t id)
{
    for (size_t i = 0; i < r->n_chips; i++)
        if (r->chips[i].chip_id == id)
            return &r->chips[i];
    return NULL;
}

static void own_comm(char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/comm", "r");
    assert_non_null(f);
    assert_non_null(fgets(out, (int)cap, f));
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* A child that attaches, allocates `dram` bytes of DRAM and `l1` of L1,
 * writes one byte to `ready`, then waits for `go` to close and detaches
 * cleanly (or is killed first). */
static pid_t spawn_writer(uint64_t id, uint64_t dram, uint64_t l1, int ready_w, int go_r,
                          int go_w_to_close)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    if (go_w_to_close >= 0)
        close(go_w_to_close);
    struct shmwriter *w = NULL;
    int rc = shmwriter_attach(tmpdir, id, 0, 4, &w);
    char status =
        (rc == 0 && shmwriter_has_slot(w) && shmwriter_alloc(w, TTALLOC_DRAM, dram, 0) == 0 &&
         shmwriter_alloc(w, TTALLOC_L1, l1, 0) == 0)
            ? 'y'
            : 'n';
    if (write(ready_w, &status, 1) != 1)
        _exit(3);
    char c;
    while (read(go_r, &c, 1) > 0)
        ;
    shmwriter_detach(w);
    _exit(status == 'y' ? 0 : 1);
}

static void wait_ready(int ready_r, int n)
{
    for (int i = 0; i < n; i++) {
        char c = 0;
        assert_int_equal(read(ready_r, &c, 1), 1);
        assert_int_equal(c, 'y');
    }
}

/* ---- tests ---- */

static void test_attach_init_and_counts(void **state)
{
    (void)state;
    const uint64_t id = 1234567890123ull;
    struct shmwriter *w = NULL;
    assert_int_equal(shmwriter_attach(tmpdir, id, 3, 4, &w), 0);
    assert_int_equal(shmwriter_has_slot(w), 1);

    struct stat st;
    assert_int_equal(stat(shmwriter_path(w), &st), 0);
    assert_int_equal(st.st_size, SHMSTATS_REGION_SIZE);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct shmstats_region *r = read_region(id, 0);
    char comm[64];
    own_comm(comm, sizeof(comm));
    assert_int_equal(r->version, 4);
    assert_int_equal(r->device_id, 3);
    assert_true(r->asic_id == id);
    assert_true(r->chip_unique_id == id);
    assert_true(r->board_serial == 0);
    assert_int_equal(r->reference_count, 1);
    assert_int_equal(r->num_active_processes, 1);
    assert_int_equal(r->n_chips, 1);
    assert_int_equal(r->chips[0].chip_id, 3);
    assert_int_equal(r->n_processes, 1);
    assert_int_equal(r->processes[0].pid, getpid());
    assert_string_equal(r->processes[0].name, comm);
    assert_true(shmstats_sum(r->totals) == 0);
    assert_true(r->last_update_ns > 0);
    free(r);

    assert_int_equal(shmwriter_register_chip(w, 40, 1), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 1000, 3), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_L1, 2000, 3), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_L1_SMALL, 3000, 3), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_TRACE, 4000, 40), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_CB, 5000, 40), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 1ull << 40, 40), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_SYSTEM_MEMORY, 777, 3), 0); /* counted nowhere */
    assert_int_equal(shmwriter_alloc(w, (enum ttalloc_buffer_type)6, 1, 3), -EINVAL);
    assert_int_equal(shmwriter_free(w, TTALLOC_L1, 500, 3), 0);

    r = read_region(id, 0);
    assert_true(r->totals[TTALLOC_DRAM] == 1000 + (1ull << 40));
    assert_true(r->totals[TTALLOC_L1] == 1500);
    assert_true(r->totals[TTALLOC_L1_SMALL] == 3000);
    assert_true(r->totals[TTALLOC_TRACE] == 4000);
    assert_true(r->totals[TTALLOC_CB] == 5000);
    assert_true(r->totals[TTALLOC_SYSTEM_MEMORY] == 0);
    const struct shmstats_chip *own = find_chip(r, 3), *remote = find_chip(r, 40);
    assert_non_null(own);
    assert_non_null(remote);
    assert_int_equal(own->is_remote, 0);
    assert_int_equal(remote->is_remote, 1);
    assert_true(own->bytes[TTALLOC_DRAM] == 1000 && own->bytes[TTALLOC_L1] == 1500 &&
                own->bytes[TTALLOC_L1_SMALL] == 3000 && own->bytes[TTALLOC_TRACE] == 0);
    assert_true(remote->bytes[TTALLOC_DRAM] == 1ull << 40 && remote->bytes[TTALLOC_TRACE] == 4000 &&
                remote->bytes[TTALLOC_CB] == 5000 && remote->bytes[TTALLOC_L1] == 0);
    assert_memory_equal(r->processes[0].bytes, r->totals, sizeof(r->totals));
    free(r);

    /* a free larger than what is held saturates at 0, everywhere */
    assert_int_equal(shmwriter_free(w, TTALLOC_CB, 1ull << 50, 40), 0);
    r = read_region(id, 0);
    assert_true(r->totals[TTALLOC_CB] == 0);
    assert_true(find_chip(r, 40)->bytes[TTALLOC_CB] == 0);
    assert_true(r->processes[0].bytes[TTALLOC_CB] == 0);
    free(r);

    /* 16 chip entries at most */
    for (uint32_t c = 100; c < 114; c++)
        assert_int_equal(shmwriter_register_chip(w, c, 1), 0);
    assert_int_equal(shmwriter_register_chip(w, 200, 1), -ENOSPC);
    /* an allocation on a chip without an entry still reaches the totals */
    assert_int_equal(shmwriter_alloc(w, TTALLOC_TRACE, 6, 200), 0);
    r = read_region(id, 0);
    assert_int_equal(r->n_chips, 16);
    assert_true(r->totals[TTALLOC_TRACE] == 4006);
    free(r);

    /* clean detach: the slot is released and the idle region zeroed */
    shmwriter_detach(w);
    r = read_region(id, 0);
    assert_int_equal(r->n_processes, 0);
    assert_int_equal(r->stale, 0);
    assert_int_equal(r->reference_count, 0);
    assert_int_equal(r->num_active_processes, 0);
    assert_true(shmstats_sum(r->totals) == 0);
    for (size_t c = 0; c < r->n_chips; c++)
        assert_true(shmstats_sum(r->chips[c].bytes) == 0);
    free(r);
}

static void test_killed_child_leaves_slot(void **state)
{
    (void)state;
    const uint64_t id = 77;
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t killed = spawn_writer(id, 4096, 100, ready[1], go[0], go[1]);
    pid_t clean = spawn_writer(id, 8192, 200, ready[1], go[0], go[1]);
    close(go[0]);
    wait_ready(ready[0], 2);

    struct shmstats_region *r = read_region(id, 0);
    assert_int_equal(r->n_processes, 2);
    assert_true(find_pid(r, killed)->bytes[TTALLOC_DRAM] == 4096);
    assert_true(find_pid(r, clean)->bytes[TTALLOC_L1] == 200);
    assert_true(r->totals[TTALLOC_DRAM] == 4096 + 8192);
    free(r);

    /* SIGKILL: no detach runs; the slot stays, the reader calls it stale */
    int status;
    assert_int_equal(kill(killed, SIGKILL), 0);
    assert_int_equal(waitpid(killed, &status, 0), killed);
    assert_true(WIFSIGNALED(status));
    r = read_region(id, 0);
    assert_int_equal(r->n_processes, 1);
    assert_null(find_pid(r, killed));
    assert_int_equal(r->stale, 1);
    assert_true(r->stale_bytes[TTALLOC_DRAM] == 4096 && r->stale_bytes[TTALLOC_L1] == 100);
    assert_true(r->totals[TTALLOC_DRAM] == 4096 + 8192); /* as TT-Metal leaves it */
    assert_int_equal(r->reference_count, 2);
    free(r);

    /* the other one detaches cleanly: it reaps the dead slot on its way out */
    close(go[1]);
    assert_int_equal(waitpid(clean, &status, 0), clean);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    r = read_region(id, 0);
    assert_int_equal(r->n_processes, 0);
    assert_int_equal(r->stale, 0);
    assert_int_equal(r->reference_count, 0);
    assert_true(shmstats_sum(r->totals) == 0);
    free(r);
    close(ready[0]);
    close(ready[1]);
}

/* A later attach reaps a killed process's slot and takes its bytes out. */
static void test_attach_reaps_dead_slot(void **state)
{
    (void)state;
    const uint64_t id = 78;
    struct shmwriter *w = NULL;
    assert_int_equal(shmwriter_attach(tmpdir, id, 0, 4, &w), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 50, 0), 0);

    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t child = spawn_writer(id, 1000, 10, ready[1], go[0], go[1]);
    close(go[0]);
    wait_ready(ready[0], 1);
    int status;
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, &status, 0), child);

    struct shmstats_region *r = read_region(id, 0);
    assert_int_equal(r->stale, 1);
    assert_true(r->totals[TTALLOC_DRAM] == 1050);
    free(r);

    struct shmwriter *w2 = NULL; /* a second attach of this same process */
    assert_int_equal(shmwriter_attach(tmpdir, id, 0, 4, &w2), 0);
    r = read_region(id, 0);
    assert_int_equal(r->stale, 0);
    assert_int_equal(r->n_processes, 1);
    assert_true(r->totals[TTALLOC_DRAM] == 50);
    assert_true(r->totals[TTALLOC_L1] == 0);
    assert_int_equal(r->reference_count, 1);
    free(r);
    shmwriter_detach(w2);
    shmwriter_detach(w); /* its slot went with w2; detaching again is harmless */
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
}

static void test_full_table(void **state)
{
    (void)state;
    const uint64_t id = 64;
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pids[SHMSTATS_MAX_PROCESSES];
    for (int i = 0; i < SHMSTATS_MAX_PROCESSES; i++)
        pids[i] = spawn_writer(id, (uint64_t)i + 1, 1000 + (uint64_t)i, ready[1], go[0], go[1]);
    close(go[0]);
    wait_ready(ready[0], SHMSTATS_MAX_PROCESSES);

    struct shmstats_region *r = read_region(id, 0);
    assert_int_equal(r->n_processes, SHMSTATS_MAX_PROCESSES);
    assert_int_equal(r->reference_count, SHMSTATS_MAX_PROCESSES);
    uint64_t dram = 0, l1 = 0;
    for (int i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        const struct shmstats_process *p = find_pid(r, pids[i]);
        assert_non_null(p);
        assert_true(p->bytes[TTALLOC_DRAM] == (uint64_t)i + 1);
        assert_true(p->bytes[TTALLOC_L1] == 1000 + (uint64_t)i);
        dram += (uint64_t)i + 1;
        l1 += 1000 + (uint64_t)i;
    }
    assert_true(r->totals[TTALLOC_DRAM] == dram);
    assert_true(r->totals[TTALLOC_L1] == l1);
    free(r);

    /* the 65th: attached but without a slot, and it changes nothing */
    struct shmwriter *w = NULL;
    assert_int_equal(shmwriter_attach(tmpdir, id, 0, 4, &w), 0);
    assert_int_equal(shmwriter_has_slot(w), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 999, 0), -ENOSPC);
    r = read_region(id, 0);
    assert_true(r->totals[TTALLOC_DRAM] == dram);
    assert_null(find_pid(r, getpid()));
    free(r);

    close(go[1]);
    for (int i = 0; i < SHMSTATS_MAX_PROCESSES; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* slots free again: the next record claims one */
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 999, 0), 0);
    assert_int_equal(shmwriter_has_slot(w), 1);
    r = read_region(id, 0);
    assert_int_equal(r->n_processes, 1);
    assert_true(r->totals[TTALLOC_DRAM] == 999);
    free(r);
    shmwriter_detach(w);
    close(ready[0]);
    close(ready[1]);
}

static void test_v3_writer_and_upgrade(void **state)
{
    (void)state;
    const uint64_t id = 3;
    struct shmwriter *v3 = NULL, *v4 = NULL;
    assert_int_equal(shmwriter_attach(tmpdir, id, 1, 3, &v3), 0);
    assert_int_equal(shmwriter_alloc(v3, TTALLOC_L1, 123, 1), 0);
    struct shmstats_region *r = read_region(id, 0);
    assert_int_equal(r->version, 3);
    assert_true(r->totals[TTALLOC_L1] == 123);
    assert_true(find_pid(r, getpid())->bytes[TTALLOC_L1] == 123);
    free(r);

    /* a v4 writer must not take over a v3 region a live process owns ... */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct shmwriter *w = NULL;
        _exit(shmwriter_attach(tmpdir, id, 1, 4, &w) == -EPROTO ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    r = read_region(id, 0);
    assert_int_equal(r->version, 3);
    free(r);

    /* ... and does once nobody alive is in it */
    shmwriter_detach(v3);
    assert_int_equal(shmwriter_attach(tmpdir, id, 1, 4, &v4), 0);
    r = read_region(id, 0);
    assert_int_equal(r->version, 4);
    assert_int_equal(r->n_processes, 1);
    assert_true(shmstats_sum(r->totals) == 0);
    free(r);
    shmwriter_detach(v4);
    assert_int_equal(shmwriter_attach(tmpdir, id, 1, 7, &v4), -EINVAL);
}

static void write_raw(uint64_t id, const struct shmstats_raw *raw)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/tt_device_%llu_memory", tmpdir, (unsigned long long)id);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, raw, sizeof(*raw)), (ssize_t)sizeof(*raw));
    close(fd);
}

static void test_foreign_regions_untouched(void **state)
{
    (void)state;
    struct shmstats_raw *raw = aligned_alloc(64, sizeof(*raw));
    memset(raw, 0, sizeof(*raw));

    /* a future layout that says someone is attached: writers refuse it and leave it
     * as it was */
    raw->version = 5;
    raw->reference_count = 1;
    raw->init_state = SHMSTATS_INIT_READY;
    raw->total_dram = 42;
    write_raw(5, raw);
    struct shmwriter *w = NULL;
    assert_int_equal(shmwriter_attach(tmpdir, 5, 0, 4, &w), -EPROTO);
    char path[400];
    snprintf(path, sizeof(path), "%s/tt_device_5_memory", tmpdir);
    struct shmstats_raw *back = aligned_alloc(64, sizeof(*back));
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, back, sizeof(*back)), (ssize_t)sizeof(*back));
    close(fd);
    assert_memory_equal(raw, back, sizeof(*raw));
    /* readers take a later version for the fields it has */
    struct shmstats_region *r = read_region(5, 0);
    assert_int_equal(r->version, 5);
    assert_true(r->totals[TTALLOC_DRAM] == 42);
    free(r);

    /* initialisation begun and never finished: readers wait, writers time out */
    memset(raw, 0, sizeof(*raw));
    raw->init_state = 1; /* IN_PROGRESS */
    write_raw(6, raw);
    r = read_region(6, -EAGAIN);
    free(r);
    assert_int_equal(shmwriter_attach(tmpdir, 6, 0, 4, &w), -ETIMEDOUT);
    free(back);
    free(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attach_init_and_counts, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_killed_child_leaves_slot, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_attach_reaps_dead_slot, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_full_table, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_v3_writer_and_upgrade, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_regions_untouched, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
