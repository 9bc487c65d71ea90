/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_sample.c - what tt-alloc-record samples besides the event
 * stream (src/record/record_sample.c), with a real server (server_child.h)
 * on tt-alloc-sim's sysroot and a real TT-Metal SHM statistics file written
 * by this process: one sample holds the SHM-only process's exact bytes per
 * device and each device's temperature and power as sysfs gives them; a
 * --pid filter that leaves the process out writes no SHM sample; with the
 * server gone the telemetry is still sampled and the SHM part waits for
 * the next server.
 */
#include <errno.h>
#include <math.h>
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

#include "tmpdir.h"
#include "server_child.h"
#include "record_filter.h"
#include "record_sample.h"
#include "shmmap.h"
#include "shmwriter.h"
#include "sim_pids.h"
#include "sim_sysroot.h"
#include "ttalloc_rec.h"
#include "ttrec.h"

#define MIB (1ull << 20)
#define MONO0 7000000000ull

static char root[TMPDIR_MAX + 32];
static struct server_child srv;
static struct server_config config;
static struct shmwriter *app;

/* The sysroot, the SHM-only app (this process, on device 0), the server. */
static int setup(void **state)
{
    if (tmpdir_setup(state) != 0)
        return -1;
    snprintf(root, sizeof(root), "%s/root", tmpdir);
    char *argv[] = {"sysroot", root, "--devices", "n150,p150a", NULL};
    if (sim_sysroot_main(4, argv) != 0)
        return -1;
    setenv("TT_SYSROOT", root, 1);
    char shm[TMPDIR_MAX + 64];
    snprintf(shm, sizeof(shm), "%s/dev/shm", root);
    mkdir(shm, 01777);
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    if (sysfs_scan(root, &devs, &n) < 0 || n != 2)
        return -1;
    uint64_t chip = shmmap_parse_hex16(devs[0].asic_id);
    if (chip == 0)
        chip = shmmap_parse_hex16(devs[0].serial);
    free(devs);
    if (sim_pids_add(root, 0, getpid()) < 0 || shmwriter_attach(shm, chip, 0, 4, &app) < 0 ||
        shmwriter_alloc(app, TTALLOC_DRAM, 2 * MIB, 0) < 0 ||
        shmwriter_alloc(app, TTALLOC_L1, 4096, 0) < 0)
        return -1;
    server_child_socket(&srv, "sample.sock");
    config = server_child_config();
    config.sysroot = root;
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
    return 0;
}

static int teardown(void **state)
{
    if (srv.pid > 0)
        server_child_stop(&srv);
    server_child_kill_all(state);
    shmwriter_detach(app);
    return tmpdir_teardown(state);
}

/* Until the server's snapshot has this process from SHM (its sources
 * re-read every 200 ms): ask again, with a guard. */
static void wait_server_sees_app(void)
{
    for (int attempt = 0; attempt < 2000; attempt++) {
        ttalloc_conn *conn = NULL;
        assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
        struct ttalloc_snapshot *snap = NULL;
        assert_int_equal(ttalloc_snapshot(conn, 20000, &snap), 0);
        int seen = 0;
        for (size_t i = 0; i < snap->n_processes; i++)
            seen |= snap->processes[i].pid == getpid();
        ttalloc_snapshot_free(snap);
        ttalloc_disconnect(conn);
        if (seen)
            return;
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 10);
    }
    fail_msg("the server never saw the SHM-only app");
}

struct sampled {
    int shm;           /* SHM_SAMPLE records of this process */
    uint64_t dram, l1; /* their bytes on device 0 */
    int telemetry;     /* TELEMETRY records */
    double temp0, power0;
};

/* One round of samples into a fresh file, read back. */
static struct sampled sample_once(struct record_sample *rs)
{
    static int serial;
    char path[TMPDIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/s%d.ttrec", tmpdir, serial++);
    struct ttrec_start start = {.realtime_ns = 1, .monotonic_ns = MONO0, .host = "unit"};
    struct ttrec_writer *w = NULL;
    assert_int_equal(ttrec_writer_open(path, &start, NULL, &w), 0);
    record_sample_take(rs, w, MONO0 + 5000);
    assert_int_equal(ttrec_writer_close(w), 0);

    struct sampled got;
    memset(&got, 0, sizeof(got));
    got.temp0 = got.power0 = NAN;
    ttalloc_rec *rd = NULL;
    assert_int_equal(ttalloc_rec_open(path, &rd), 0);
    struct ttalloc_rec_event ev;
    while (ttalloc_rec_next(rd, &ev) == 1) {
        assert_int_equal(ev.time_ns, 5000);
        if (ev.kind == TTALLOC_REC_SHM_SAMPLE && ev.pid == getpid()) {
            got.shm++;
            assert_int_equal(ev.device, 0);
            got.dram = ev.bytes[TTALLOC_DRAM];
            got.l1 = ev.bytes[TTALLOC_L1];
        } else if (ev.kind == TTALLOC_REC_TELEMETRY) {
            got.telemetry++;
            if (ev.device == 0) {
                got.temp0 = ev.temperature_c;
                got.power0 = ev.power_w;
            }
        }
    }
    ttalloc_rec_close(rd);
    return got;
}

static void test_shm_and_telemetry(void **state)
{
    (void)state;
    wait_server_sees_app();
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    assert_int_equal(sysfs_scan(root, &devs, &n), 0);
    double temp = (double)devs[0].temp_mc / 1000.0, power = (double)devs[0].power_uw / 1e6;
    free(devs);

    struct record_filter all;
    record_filter_init(&all, RECORD_FILTER_ALL);
    struct record_sample rs;
    record_sample_init(&rs, srv.socket_path, &all);
    struct sampled got = sample_once(&rs);
    assert_int_equal(got.shm, 1);
    assert_int_equal(got.dram, 2 * MIB);
    assert_int_equal(got.l1, 4096);
    assert_int_equal(got.telemetry, 2);
    assert_true(fabs(got.temp0 - temp) < 1e-9);
    assert_true(fabs(got.power0 - power) < 1e-9);
    /* the connection is kept for the next round */
    assert_non_null(rs.conn);
    got = sample_once(&rs);
    assert_int_equal(got.shm, 1);
    record_sample_destroy(&rs);
    record_filter_destroy(&all);

    /* --pid of another process: no SHM sample, telemetry still */
    struct record_filter other;
    record_filter_init(&other, RECORD_FILTER_PIDS);
    assert_int_equal(record_filter_add(&other, 1), 0);
    record_sample_init(&rs, srv.socket_path, &other);
    got = sample_once(&rs);
    assert_int_equal(got.shm, 0);
    assert_int_equal(got.telemetry, 2);
    record_sample_destroy(&rs);
    record_filter_destroy(&other);
}

static void test_server_gone(void **state)
{
    (void)state;
    struct record_filter all;
    record_filter_init(&all, RECORD_FILTER_ALL);
    struct record_sample rs;
    record_sample_init(&rs, srv.socket_path, &all);
    wait_server_sees_app();
    assert_int_equal(sample_once(&rs).shm, 1);
    assert_int_equal(server_child_stop(&srv), 0);
    srv.pid = 0;
    struct sampled got = sample_once(&rs);
    assert_int_equal(got.shm, 0);
    assert_int_equal(got.telemetry, 2);
    assert_null(rs.conn);   /* dropped, to be made again */
    got = sample_once(&rs); /* no server at all: the same, quietly */
    assert_int_equal(got.shm, 0);
    assert_int_equal(got.telemetry, 2);

    /* a server again: the SHM part comes back */
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
    wait_server_sees_app();
    assert_int_equal(sample_once(&rs).shm, 1);
    record_sample_destroy(&rs);
    record_filter_destroy(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_and_telemetry),
        cmocka_unit_test(test_server_gone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
