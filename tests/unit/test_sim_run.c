/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim_run.c - `tt-alloc-sim run` (src/sim/sim_run.c), each run in a
 * child process with its output in files: --device lists parsed with their
 * boards and every malformed, duplicate or oversized one refused; the same
 * seed printing the same events and another seed others, --steps and
 * duration x rate bounding them; every bad argument exits 2 with one
 * "error:" line naming the option; and a real run against a real server
 * (server_child.h) on tt-alloc-sim's sysroot: its process holds the device
 * node (in tt-kmd's pids file) while it runs and not after, the server
 * sees its label and its leaks at a clean end of the leaky profile, and
 * --crash-after ends it with SIGKILL.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"
#include "server_child.h"
#include "sim_run.h"
#include "sim_sysroot.h"
#include "ttalloc.h"

struct ran {
    int status; /* the wait status */
    char out[65536], err[4096];
};

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* `tt-alloc-sim run ARGS...` (NULL-terminated) in a child, to its end. */
static void run(struct ran *r, ...)
{
    char *argv[32] = {"run"};
    int argc = 1;
    va_list ap;
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char out[TMPDIR_MAX + 16], err[TMPDIR_MAX + 16];
    snprintf(out, sizeof(out), "%s/out", tmpdir);
    snprintf(err, sizeof(err), "%s/err", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(99);
        log_init("tt-alloc-sim", 0);
        int rc = sim_run_main(argc, argv);
        fflush(NULL);
        _exit(rc);
    }
    server_child_track(pid);
    assert_int_equal(waitpid(pid, &r->status, 0), pid);
    server_child_forget(pid);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

static int exit_code(const struct ran *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static void test_device_lists(void **state)
{
    (void)state;
    struct sim_run_device d[SIM_RUN_MAX_DEVICES];
    assert_int_equal(sim_run_parse_devices("0,2", d, SIM_RUN_MAX_DEVICES), 2);
    assert_int_equal(d[0].index, 0);
    assert_int_equal(d[1].index, 2);
    assert_string_equal(d[0].board, "");
    assert_int_equal(sim_run_parse_devices("0:n150,2:p150a", d, SIM_RUN_MAX_DEVICES), 2);
    assert_string_equal(d[0].board, "n150");
    assert_string_equal(d[1].board, "p150a");
    assert_int_equal(d[1].index, 2);
    const char *bad[] = {"",   "x",   "0,0",  "-1",          "0,", ",0",
                         "0:", "1e3", "0,,1", "99999999999", " 0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sim_run_parse_devices(bad[i], d, SIM_RUN_MAX_DEVICES) != -EINVAL)
            fail_msg("--device '%s' was taken", bad[i]);
    char many[256] = "";
    for (int i = 0; i <= SIM_RUN_MAX_DEVICES; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%d", i ? "," : "", i);
    assert_int_equal(sim_run_parse_devices(many, d, SIM_RUN_MAX_DEVICES), -EINVAL);
    char board[128] = "0:";
    memset(board + 2, 'b', 100);
    assert_int_equal(sim_run_parse_devices(board, d, SIM_RUN_MAX_DEVICES), -EINVAL);
}

static void test_printed_events_follow_the_seed(void **state)
{
    (void)state;
    static struct ran a, b, c;
    run(&a, "--print-events", "--device", "0:n150", "--steps", "20", "--seed", "7", NULL);
    run(&b, "--print-events", "--device", "0:n150", "--steps", "20", "--seed", "7", NULL);
    run(&c, "--print-events", "--device", "0:n150", "--steps", "20", "--seed", "8", NULL);
    assert_int_equal(exit_code(&a), 0);
    assert_true(strlen(a.out) > 0);
    assert_string_equal(a.out, b.out);
    assert_string_not_equal(a.out, c.out);
    assert_string_equal(a.err, "");

    /* duration x rate: 0.5 s at 40 events/s is 20 events, then the end */
    run(&a, "--print-events", "--device", "0:n150", "--duration", "0.5", "--rate", "40", "--seed",
        "1", "--profile", "churn", NULL);
    assert_int_equal(exit_code(&a), 0);
    size_t allocs = 0, frees = 0;
    for (const char *p = a.out; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        allocs += strncmp(p, "alloc", 5) == 0;
        frees += strncmp(p, "free", 4) == 0;
    }
    assert_true(allocs + frees >= 20);
    assert_true(allocs >= frees);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const char *bad[][4] = {
        {"--rate", "-1", NULL},
        {"--duration", "x", NULL},
        {"--share", "5", NULL},
        {"--steps", "0", NULL},
        {"--seed", "-3", NULL},
        {"--profile", "nope", NULL},
        {"--device", "0,0", NULL},
        {"--no-ttalloc", NULL},
        {"--print-events", "--device", "0:n150", NULL},
        {"--print-events", "--steps", "3", NULL}, /* no board */
        {"stray", NULL},
        {"--bogus", NULL},
        {"--rate", NULL}, /* no value */
    };
    static struct ran r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(&r, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        if (exit_code(&r) != 2)
            fail_msg("%s %s: exit %d", bad[i][0], bad[i][1] ? bad[i][1] : "", exit_code(&r));
        if (strncmp(r.err, "tt-alloc-sim: error: ", 21) != 0 || strchr(r.err, '\n') == NULL ||
            strchr(r.err, '\n')[1] != '\0')
            fail_msg("%s: not one error line: %s", bad[i][0], r.err);
        assert_string_equal(r.out, "");
    }
}

static struct server_child srv;
static char root[TMPDIR_MAX + 32];

static void sim_server_start(void)
{
    snprintf(root, sizeof(root), "%s/root", tmpdir);
    char *argv[] = {"sysroot", root, "--devices", "n150", NULL};
    assert_int_equal(sim_sysroot_main(4, argv), 0);
    server_child_socket(&srv, "sim.sock");
    static struct server_config config;
    config = server_child_config();
    config.sysroot = root;
    server_child_start(&srv, &config, 0);
    server_child_wait_ready(&srv);
}

static void test_runs_against_a_server(void **state)
{
    (void)state;
    sim_server_start();
    static struct ran r;
    run(&r, "--sysroot", root, "--socket", srv.socket_path, "--device", "0", "--profile", "leaky",
        "--steps", "40", "--rate", "0", "--seed", "5", "--label", "unit-sim", NULL);
    assert_int_equal(exit_code(&r), 0);
    /* its first line names it; its pid left tt-kmd's pids file at the end */
    int pid = 0;
    assert_int_equal(sscanf(r.out, "tt-alloc-sim run: pid %d, profile leaky, seed 5", &pid), 1);
    char pids[TMPDIR_MAX + 128], text[4096];
    snprintf(pids, sizeof(pids), "%s/proc/driver/tenstorrent/0/pids", root);
    slurp(pids, text, sizeof(text));
    char mine[32];
    snprintf(mine, sizeof(mine), "%d\n", pid);
    assert_null(strstr(text, mine));
    /* the leaky profile's leaks are in the server's leak history */
    ttalloc_conn *conn = NULL;
    assert_int_equal(ttalloc_connect(srv.socket_path, &conn), 0);
    struct ttalloc_exit *exits = NULL;
    size_t n = 0;
    int found = 0;
    for (int attempt = 0; attempt < 2000 && !found; attempt++) {
        free(exits);
        exits = NULL;
        assert_int_equal(ttalloc_exits(conn, 20000, &exits, &n), 0);
        for (size_t i = 0; i < n; i++)
            if (exits[i].pid == pid) {
                found = 1;
                assert_string_equal(exits[i].label, "unit-sim");
                assert_true(exits[i].buffers[TTALLOC_DRAM] + exits[i].buffers[TTALLOC_L1] > 0);
            }
        if (!found) {
            struct pollfd none = {.fd = -1};
            poll(&none, 1, 10);
        }
    }
    free(exits);
    ttalloc_disconnect(conn);
    assert_true(found);

    /* --crash-after: a SIGKILL of its own */
    run(&r, "--sysroot", root, "--socket", srv.socket_path, "--device", "0", "--rate", "1000",
        "--crash-after", "0.05", "--quiet", NULL);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGKILL);
    assert_int_equal(server_child_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_lists),
        cmocka_unit_test(test_printed_events_follow_the_seed),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test_teardown(test_runs_against_a_server, server_child_kill_all),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
