/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soak.c - tt-alloc-soak: the server under hours of ordinary abuse, shrunk to
 * SOAK_SECONDS (default 600). Mixed clients run the whole time: producers
 * (libttalloc) allocating and freeing around a steady live set, consumers
 * connecting for a snapshot and leaving, and short-lived producers that
 * record and exit. Every second one random client is killed with SIGKILL and
 * replaced; in the first 40 % of the run the server is restarted four times
 * (SIGTERM, then a new one on the same socket; clients resync). The last
 * server's RSS and open fds are read once the load is steady (at half time)
 * and at the end:
 *   soak_rss_growth_pct  soak_fd_growth  (both ~0: nothing grows with time)
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "ttalloc.h"

#define SOAK_PRODUCERS 8
#define SOAK_CONSUMERS 4
#define SOAK_EPHEMERAL 2
#define SOAK_CHILDREN (SOAK_PRODUCERS + SOAK_CONSUMERS + SOAK_EPHEMERAL)
#define SOAK_LIVE_SET 2000u

static void soak_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A producer: churn around SOAK_LIVE_SET live buffers, flushing now and then. */
static void soak_producer(unsigned seed)
{
    srand(seed);
    uint64_t live[SOAK_LIVE_SET] = {0};
    for (;;) {
        for (int i = 0; i < 500; i++) {
            unsigned slot = (unsigned)rand() % SOAK_LIVE_SET;
            uint32_t device = slot % 4;
            if (live[slot] != 0) {
                ttalloc_record_free(device, TTALLOC_DRAM, 0x100000ull * slot);
                live[slot] = 0;
            } else {
                live[slot] = 4096u * (1u + (unsigned)rand() % 64);
                ttalloc_record_alloc(device, TTALLOC_DRAM, 0x100000ull * slot, live[slot]);
            }
        }
        ttalloc_flush(1000);
        soak_sleep_ms(5);
    }
}

/* A consumer: connect, one snapshot, leave. */
static void soak_consumer(const char *socket_path)
{
    for (;;) {
        ttalloc_conn *conn;
        if (ttalloc_connect(socket_path, &conn) == 0) {
            struct ttalloc_snapshot *snap;
            if (ttalloc_snapshot(conn, 1000, &snap) == 0)
                ttalloc_snapshot_free(snap);
            ttalloc_disconnect(conn);
        }
        soak_sleep_ms(20);
    }
}

/* Short-lived producers: a fork records a few buffers, flushes and exits
 * (some leave buffers behind: exit records). */
static void soak_ephemeral(unsigned seed)
{
    srand(seed);
    for (;;) {
        pid_t pid = fork();
        if (pid == 0) {
            for (unsigned i = 0; i < 1 + (unsigned)rand() % 50; i++)
                ttalloc_record_alloc(i % 2, TTALLOC_L1, 0x1000ull * i, 1024);
            ttalloc_flush(1000);
            _exit(0);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
        soak_sleep_ms(10);
    }
}

static pid_t soak_spawn(int kind, unsigned seed, const char *socket_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (kind < SOAK_PRODUCERS)
        soak_producer(seed);
    else if (kind < SOAK_PRODUCERS + SOAK_CONSUMERS)
        soak_consumer(socket_path);
    else
        soak_ephemeral(seed);
    _exit(0);
}

static unsigned soak_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void)
{
    const char *env = getenv("SOAK_SECONDS");
    unsigned seconds = env != NULL && atoi(env) > 0 ? (unsigned)atoi(env) : 600;
    char dir[] = "/tmp/tt-alloc-soak-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("tt-alloc-soak: mkdtemp");
        return 1;
    }
    char socket_path[108], log_path[128];
    snprintf(socket_path, sizeof(socket_path), "%s/s.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/server.log", dir);
    setenv("TT_ALLOC_SOCKET", socket_path, 1);
    signal(SIGPIPE, SIG_IGN);

    struct bench_server server;
    if (bench_server_start(&server, socket_path, log_path) < 0) {
        fprintf(stderr, "tt-alloc-soak: cannot start the server\n");
        return 1;
    }
    pid_t children[SOAK_CHILDREN];
    for (int i = 0; i < SOAK_CHILDREN; i++)
        children[i] = soak_spawn(i, (unsigned)i + 1, socket_path);

    unsigned restarts_left = 4, kills = 0;
    uint64_t start = bench_now_ns();
    uint64_t rss0 = 0;
    unsigned fds0 = 0;
    int measured = 0;
    srand(42);
    for (unsigned tick = 1; tick <= seconds; tick++) {
        soak_sleep_ms(1000);
        int victim = rand() % SOAK_CHILDREN;
        kill(children[victim], SIGKILL);
        waitpid(children[victim], NULL, 0);
        children[victim] = soak_spawn(victim, tick * 7919u, socket_path);
        kills++;
        if (restarts_left > 0 && tick >= (5 - restarts_left) * seconds * 2 / 25) {
            bench_server_stop(&server, SIGTERM);
            if (bench_server_start(&server, socket_path, log_path) < 0) {
                fprintf(stderr, "tt-alloc-soak: the server did not restart\n");
                break;
            }
            restarts_left--;
        }
        if (!measured && tick >= seconds / 2) {
            rss0 = bench_rss_bytes(server.pid);
            fds0 = soak_fd_count(server.pid);
            measured = 1;
        }
    }
    uint64_t rss1 = bench_rss_bytes(server.pid);
    unsigned fds1 = soak_fd_count(server.pid);
    for (int i = 0; i < SOAK_CHILDREN; i++) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    int alive = server.pid > 0 && kill(server.pid, 0) == 0;
    bench_server_stop(&server, SIGTERM);
    double elapsed = (double)(bench_now_ns() - start) / 1e9;
    fprintf(stderr,
            "tt-alloc-soak: %.0f s, %u clients killed, 4 server restarts; last server "
            "RSS %llu -> %llu KiB, fds %u -> %u\n",
            elapsed, kills, (unsigned long long)(rss0 / 1024), (unsigned long long)(rss1 / 1024),
            fds0, fds1);
    if (!alive || rss0 == 0) {
        fprintf(stderr, "tt-alloc-soak: the server died during the soak (log kept)\n");
        return 1;
    }
    unlink(log_path);
    rmdir(dir);
    bench_figure("soak_rss_growth_pct", 100.0 * ((double)rss1 - (double)rss0) / (double)rss0, "%");
    bench_figure("soak_fd_growth", (double)fds1 - (double)fds0, "fds");
    return 0;
}
