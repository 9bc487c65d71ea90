/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_sources.c - the server's sources besides its clients
 * (src/server/sources.c) on a simulated sysroot (tt-alloc-sim's, with the
 * real driver's names) and a real TT-Metal SHM statistics file written by
 * this process: the sysfs devices and their totals in a snapshot with
 * nothing else known; an app that only writes SHM statistics seen once its
 * file appears (inotify) with its exact bytes on its device; its counters
 * followed on the timer without any file event; a PID that reports through
 * libttalloc counted from the ledger only, never twice; the file's removal
 * noticed; a garbage file beside it ignored; an SHM directory created
 * after the start watched from the next sysfs rescan.
 */
#include <errno.h>
#include <poll.h>
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

#include "ledger.h"
#include "log.h"
#include "shmmap.h"
#include "shmwriter.h"
#include "sim_pids.h"
#include "sim_sysroot.h"
#include "sources.h"
#include "tmpdir.h"

#define MIB (1ull << 20)

static char root[TMPDIR_MAX + 32];

static void make_sysroot(const char *devices)
{
    char *argv[] = {"sysroot", root, "--devices", (char *)devices, NULL};
    assert_int_equal(sim_sysroot_main(4, argv), 0);
}

static const struct ttalloc_device_stats *device_of(const struct shmsnap *snap, uint32_t id)
{
    for (size_t i = 0; i < snap->n_devices; i++)
        if (snap->devices[i].device == id)
            return &snap->devices[i];
    fail_msg("no device %u in the snapshot", id);
    return NULL;
}

/* This process's usage of device 0 (NULL: none). */
static const struct ttalloc_usage *my_usage(const struct shmsnap *snap)
{
    for (size_t i = 0; i < snap->n_usage; i++)
        if (snap->usage[i].pid == getpid() && snap->usage[i].device == 0)
            return &snap->usage[i];
    return NULL;
}

static void wait_inotify(struct sources *s)
{
    struct pollfd p = {.fd = sources_inotify_fd(s), .events = POLLIN};
    if (poll(&p, 1, 20000) != 1)
        fail_msg("no inotify event for the SHM directory");
    sources_on_inotify(s);
}

static void test_devices_and_an_shm_only_app(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "%s/a", tmpdir);
    make_sysroot("n150,p150a");
    char shm[TMPDIR_MAX + 64];
    snprintf(shm, sizeof(shm), "%s/dev/shm", root);
    mkdir(shm, 01777);

    struct sources s;
    assert_int_equal(sources_init(&s, root), 0);
    assert_int_equal(s.n_devs, 2);
    assert_true(s.shm_wd >= 0);
    assert_true(sources_timer_fd(&s) >= 0);
    struct ledger l;
    struct ledger_limits limits = {.max_buffers = 1000};
    assert_int_equal(ledger_init(&l, &limits), 0);

    struct shmsnap snap;
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    assert_int_equal(snap.n_devices, 2);
    assert_int_equal(device_of(&snap, 0)->total[TTALLOC_DRAM], 12ull << 30); /* n150 */
    assert_string_equal(device_of(&snap, 1)->board_type, "p150a");
    assert_int_equal(snap.n_processes, 0);
    shmsnap_free(&snap);

    /* an unmodified TT-Metal app on device 0: holds it, writes SHM */
    assert_int_equal(sim_pids_add(root, 0, getpid()), 0);
    uint64_t chip = shmmap_parse_hex16(s.devs[0].asic_id);
    if (chip == 0)
        chip = shmmap_parse_hex16(s.devs[0].serial);
    struct shmwriter *w = NULL;
    assert_int_equal(shmwriter_attach(shm, chip, 0, 4, &w), 0);
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 3 * MIB, 0), 0);
    wait_inotify(&s);
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    const struct ttalloc_usage *u = my_usage(&snap);
    assert_non_null(u);
    assert_int_equal(u->bytes[TTALLOC_DRAM], 3 * MIB);
    assert_int_equal(device_of(&snap, 0)->used[TTALLOC_DRAM], 3 * MIB);
    assert_int_equal(snap.n_processes, 1);
    assert_true(snap.processes[0].flags & TTALLOC_PROCESS_SHM);
    shmsnap_free(&snap);

    /* its counters move without a file event: seen at the next tick */
    assert_int_equal(shmwriter_alloc(w, TTALLOC_DRAM, 1 * MIB, 0), 0);
    sources_on_timer(&s);
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    assert_int_equal(my_usage(&snap)->bytes[TTALLOC_DRAM], 4 * MIB);
    shmsnap_free(&snap);

    /* the same PID through libttalloc: the ledger's figure only */
    struct ledger_process *p = NULL;
    assert_int_equal(ledger_attach(&l, getpid(), getuid(), "me", "", 1, &p), 0);
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    u = my_usage(&snap);
    uint64_t counted = u != NULL ? u->bytes[TTALLOC_DRAM] : 0;
    assert_int_equal(counted, 0); /* the ledger holds nothing for it yet */
    assert_int_equal(device_of(&snap, 0)->used[TTALLOC_DRAM], 0);
    shmsnap_free(&snap);
    ledger_destroy(&l);
    assert_int_equal(ledger_init(&l, &limits), 0);

    /* a garbage file beside it: ignored, the real one still read */
    char junk[TMPDIR_MAX + 96];
    snprintf(junk, sizeof(junk), "%s/tt_device_99_memory", shm);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not a region at all", f);
    fclose(f);
    wait_inotify(&s);
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    assert_int_equal(my_usage(&snap)->bytes[TTALLOC_DRAM], 4 * MIB);
    shmsnap_free(&snap);

    /* the app's file goes: so does its process */
    char path[512];
    snprintf(path, sizeof(path), "%s", shmwriter_path(w));
    shmwriter_detach(w);
    assert_int_equal(unlink(path), 0);
    wait_inotify(&s);
    assert_int_equal(sources_snapshot(&s, &l, &snap), 0);
    assert_null(my_usage(&snap));
    assert_int_equal(device_of(&snap, 0)->used[TTALLOC_DRAM], 0);
    shmsnap_free(&snap);

    ledger_destroy(&l);
    sources_destroy(&s);
}

static void test_shm_directory_made_later(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "%s/b", tmpdir);
    make_sysroot("n300");
    char shm[TMPDIR_MAX + 64];
    snprintf(shm, sizeof(shm), "%s/dev/shm", root);
    rmdir(shm); /* in case the sysroot has one */
    struct sources s;
    assert_int_equal(sources_init(&s, root), 0);
    assert_int_equal(s.shm_wd, -1);
    char dev[TMPDIR_MAX + 64];
    snprintf(dev, sizeof(dev), "%s/dev", root);
    mkdir(dev, 0755);
    assert_int_equal(mkdir(shm, 01777), 0);
    /* watched from the next sysfs rescan (every SOURCES_SYSFS_TICKS ticks) */
    for (unsigned i = 0; i < SOURCES_SYSFS_TICKS; i++)
        sources_on_timer(&s);
    assert_true(s.shm_wd >= 0);
    sources_destroy(&s);
}

int main(void)
{
    log_init("test_server_sources", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices_and_an_shm_only_app),
        cmocka_unit_test(test_shm_directory_made_later),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
