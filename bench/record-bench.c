/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record-bench.c - `make bench`'s figures for tt-alloc-record keeping up
 * with a producer (docs/PERFORMANCE.md: the recorder keeps up, no gap, >= 5 M
 * events/s):
 *
 *   record_events_per_sec           the highest rate tried (5, 8 and 12 M
 *                                   events/s, a producer paced per millisecond;
 *                                   the rate it reached, if lower) at which every
 *                                   event reached the
 *                                   recorder's file with no gap: producer,
 *                                   server and recorder together on this machine
 *   record_gaps_at_R                gaps in the recording at each rate R tried
 *   record_cpu_ns_per_event         the recorder's own CPU time per event
 *   record_capacity_events_per_sec  1e9 / that: what the recorder alone can
 *                                   take, the figure the bar is about (on a
 *                                   2-core machine the three processes share
 *                                   two cores, so the end-to-end rate is lower)
 *
 * A real server on a private socket, the real tt-alloc-record (the release
 * build's), this process as the producer through libttalloc. The recording
 * is read back with the library's reader (ttalloc_rec.h) until it holds
 * every event.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "ttalloc.h"
#include "ttalloc_rec.h"

#define RECORD_BENCH_EVENTS 8000000ull
#define RECORD_BENCH_WORKING_SET 4096u

struct rec_count {
    uint64_t events;
    uint64_t gaps;
};

/* Events (allocs and frees) and gaps in the recording so far. */
static int count_recording(const char *path, struct rec_count *out)
{
    ttalloc_rec *rec;
    memset(out, 0, sizeof(*out));
    if (ttalloc_rec_open(path, &rec) < 0)
        return -1;
    struct ttalloc_rec_event ev;
    while (ttalloc_rec_next(rec, &ev) == 1) {
        if (ev.kind == TTALLOC_REC_ALLOC || ev.kind == TTALLOC_REC_FREE)
            out->events++;
        else if (ev.kind == TTALLOC_REC_GAP)
            out->gaps++;
    }
    ttalloc_rec_close(rec);
    return 0;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Record `events` at `rate` events/s (0: as fast as possible), paced per
 * millisecond. Returns the rate reached (events/s). */
static double produce(uint64_t events, double rate)
{
    uint64_t start = bench_now_ns();
    uint64_t per_ms = rate > 0 ? (uint64_t)(rate / 1000.0) : events;
    uint64_t done = 0, slot = 0;
    while (done < events) {
        uint64_t n = per_ms < events - done ? per_ms : events - done;
        for (uint64_t i = 0; i < n; i += 2) {
            uint64_t address =
                0x10000000ull + ((done + i) / 2 % RECORD_BENCH_WORKING_SET) * 4096ull;
            ttalloc_record_alloc(0, TTALLOC_DRAM, address, 4096);
            ttalloc_record_free(0, TTALLOC_DRAM, address);
        }
        done += n;
        slot++;
        uint64_t due = start + slot * 1000000ull;
        uint64_t now = bench_now_ns();
        if (rate > 0 && now < due) {
            struct timespec ts = {0, (long)(due - now)};
            nanosleep(&ts, NULL);
        }
    }
    return (double)events * 1e9 / (double)(bench_now_ns() - start);
}

/* One run at `rate`: a recorder, the events, the file read back. Returns
 * the gaps, and the events recorded in *events (0 when it never caught up). */
static uint64_t run_at(const char *dir, const char *sock, double rate, uint64_t *events,
                       uint64_t *cpu_ns, double *reached)
{
    char file[160];
    snprintf(file, sizeof(file), "%s/bench.ttrec", dir);
    unlink(file);
    pid_t recorder = fork();
    if (recorder == 0) {
        execl(TTALLOC_RECORD_PATH, "tt-alloc-record", "-q", "--socket", sock, "-o", file,
              (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 1000 && stat(file, &st) < 0; i++)
        pause_ms(10);
    *reached = produce(RECORD_BENCH_EVENTS, rate);
    ttalloc_flush(60000);
    struct rec_count got = {0, 0};
    *events = 0;
    for (int i = 0; i < 600; i++) {
        /* Done when every event is in, or a gap says some never will be. */
        if (count_recording(file, &got) == 0 &&
            (got.events >= RECORD_BENCH_EVENTS || got.gaps > 0)) {
            *events = got.events;
            break;
        }
        pause_ms(20);
    }
    *cpu_ns = bench_cpu_ns(recorder);
    kill(recorder, SIGINT);
    waitpid(recorder, NULL, 0);
    unlink(file);
    return got.gaps;
}

int main(void)
{
    char dir[] = "/tmp/tt-record-bench.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char sock[128], log[128];
    snprintf(sock, sizeof(sock), "%s/s.sock", dir);
    snprintf(log, sizeof(log), "%s/server.log", dir);
    struct bench_server server;
    if (bench_server_start(&server, sock, log) < 0) {
        fprintf(stderr, "record-bench: the server did not start\n");
        return 1;
    }
    setenv("TT_ALLOC_SOCKET", sock, 1);
    ttalloc_flush(5000); /* connected before any clock starts */

    static const double rates[] = {5e6, 8e6, 12e6};
    double best = 0;
    uint64_t best_cpu = 0, best_events = 0;
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        uint64_t events, cpu;
        double reached;
        uint64_t gaps = run_at(dir, sock, rates[r], &events, &cpu, &reached);
        char name[64];
        snprintf(name, sizeof(name), "record_gaps_at_%.0fM", rates[r] / 1e6);
        bench_figure(name, (double)gaps, "gaps");
        if (gaps == 0 && events >= RECORD_BENCH_EVENTS) {
            best = reached < rates[r] ? reached : rates[r];
            best_cpu = cpu;
            best_events = events;
        }
    }
    bench_server_stop(&server, SIGTERM);
    bench_figure("record_events_per_sec", best, "events/s");
    if (best_events > 0 && best_cpu > 0) {
        bench_figure("record_cpu_ns_per_event", (double)best_cpu / (double)best_events, "ns");
        bench_figure("record_capacity_events_per_sec", 1e9 * (double)best_events / (double)best_cpu,
                     "events/s");
    }

    /* The server's log, socket and leak history. */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    return 0;
}
