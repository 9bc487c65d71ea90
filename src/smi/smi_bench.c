/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_bench.c - tt-smi-bench: the smi_json_ms figure of docs/PERFORMANCE.md's quality
 * bars. Builds a simulated tree of 8 devices, starts tt-alloc-server on a
 * private socket, starts 64 producer processes (forks of this program, each
 * with buffers on one device, listed in that device's pids file), then times
 * `tt-smi --json` end to end (fork, exec, discovery, snapshot, output) and
 * prints the median as `smi_json_ms V ms`.
 *
 * usage: tt-smi-bench [--server PATH] [--smi PATH] [--sim PATH] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ttalloc.h"

#ifndef TTSMI_BENCH_SERVER
#define TTSMI_BENCH_SERVER "tt-alloc-server"
#endif

#define BENCH_DEVICES 8
#define BENCH_PROCS 64

static double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* fork + exec argv with stdout to `out_fd` (-1: inherit); returns the pid. */
static pid_t bench_spawn(char *const argv[], int out_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, STDOUT_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "tt-smi-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int bench_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A producer: buffers on `device`, flushed, then wait for the parent to end it. */
static void bench_producer(int device, int ready_fd, int hold_fd)
{
    for (uint64_t b = 0; b < 16; b++) {
        ttalloc_record_alloc((uint32_t)device, TTALLOC_DRAM, 0x10000000 + b * 0x100000, 1 << 20);
        ttalloc_record_alloc((uint32_t)device, TTALLOC_L1, 0x1000 + b * 0x1000, 4096);
    }
    int rc = ttalloc_flush(10000);
    char c = rc == 0 ? 'y' : 'n';
    if (write(ready_fd, &c, 1) != 1)
        _exit(1);
    while (read(hold_fd, &c, 1) > 0)
        ;
    _exit(0);
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *server = TTSMI_BENCH_SERVER, *smi = TTSMI_BENCH_SMI, *sim = TTSMI_BENCH_SIM;
    int runs = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--server") == 0)
            server = argv[i + 1];
        else if (strcmp(argv[i], "--smi") == 0)
            smi = argv[i + 1];
        else if (strcmp(argv[i], "--sim") == 0)
            sim = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 50;
    }
    char dir[] = "/tmp/tt-smi-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("tt-smi-bench: mkdtemp");
        return 1;
    }
    char root[256], sock[256];
    snprintf(root, sizeof(root), "%s/root", dir);
    snprintf(sock, sizeof(sock), "%s/s.sock", dir);
    setenv("TT_ALLOC_SOCKET", sock, 1);
    setenv("TT_SYSROOT", root, 1);
    int status = 1;
    pid_t server_pid = -1;
    pid_t kids[BENCH_PROCS];
    int n_kids = 0, hold[2] = {-1, -1}, ready[2] = {-1, -1};

    char *sim_argv[] = {
        (char *)sim, "sysroot", root, "--devices", "n150,n150,n300,n300,p150a,p150a,p100a,e150",
        NULL};
    if (bench_wait(bench_spawn(sim_argv, -1)) != 0) {
        fprintf(stderr, "tt-smi-bench: %s sysroot failed\n", sim);
        goto out;
    }
    char *server_argv[] = {(char *)server, "--socket", sock, NULL};
    int quiet = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int saved_err = dup(STDERR_FILENO);
    dup2(quiet, STDERR_FILENO); /* the server's log is not the figure */
    server_pid = bench_spawn(server_argv, quiet);
    dup2(saved_err, STDERR_FILENO);
    close(saved_err);
    close(quiet);
    ttalloc_conn *conn = NULL;
    double deadline = bench_now_ms() + 10000;
    while (ttalloc_connect(sock, &conn) < 0) {
        if (bench_now_ms() > deadline) {
            fprintf(stderr, "tt-smi-bench: %s did not answer on %s\n", server, sock);
            goto out;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    ttalloc_disconnect(conn);

    if (pipe(hold) < 0 || pipe(ready) < 0)
        goto out;
    for (; n_kids < BENCH_PROCS; n_kids++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(hold[1]);
            bench_producer(n_kids % BENCH_DEVICES, ready[1], hold[0]);
        }
        kids[n_kids] = pid;
    }
    close(hold[0]);
    hold[0] = -1;
    for (int i = 0; i < BENCH_PROCS; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1 || c != 'y') {
            fprintf(stderr, "tt-smi-bench: a producer could not flush to the server\n");
            goto out;
        }
    }
    /* pids files as tt-kmd would write them */
    for (int d = 0; d < BENCH_DEVICES; d++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/proc/driver/tenstorrent/%d/pids", root, d);
        FILE *f = fopen(path, "w");
        if (f == NULL)
            goto out;
        for (int i = d; i < BENCH_PROCS; i += BENCH_DEVICES)
            fprintf(f, "%d\n", (int)kids[i]);
        fclose(f);
    }

    char *smi_argv[] = {(char *)smi, "--json", "--sysroot", root, "--socket", sock, NULL};
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    double *ms = calloc((size_t)runs, sizeof(*ms));
    if (ms == NULL || devnull < 0)
        goto out;
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now_ms();
        int rc = bench_wait(bench_spawn(smi_argv, devnull));
        ms[r] = bench_now_ms() - t0;
        if (rc != 0) {
            fprintf(stderr, "tt-smi-bench: tt-smi --json exited %d\n", rc);
            free(ms);
            close(devnull);
            goto out;
        }
    }
    close(devnull);
    qsort(ms, (size_t)runs, sizeof(*ms), bench_cmp);
    printf("smi_json_ms %.2f ms\n", ms[runs / 2]);
    free(ms);
    status = 0;
out:
    if (hold[1] >= 0)
        close(hold[1]); /* the producers end */
    for (int i = 0; i < n_kids; i++)
        bench_wait(kids[i]);
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        bench_wait(server_pid);
    }
    char *rm_argv[] = {"/bin/rm", "-rf", dir, NULL};
    bench_wait(bench_spawn(rm_argv, -1));
    return status;
}
