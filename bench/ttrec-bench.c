/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrec-bench.c - the recording figures of `make bench` (docs/PERFORMANCE.md,
 * "Figures") that need no server:
 *
 *   record_bytes_per_event   .ttrec bytes per alloc/free on the simulator's
 *                            workloads (tt-alloc-sim's own generators, at
 *                            their default rates, clock jitter included):
 *                            the worst profile; each profile also on its own line
 *   ttrec_write_events_per_sec  the writer's speed (one thread)
 *   report_10m_events_s      `tt-alloc-report FILE --json` on a 10 M-event
 *                            recording, wall time of the real program (and
 *                            its CPU time: on a loaded host the wall time
 *                            says more about the neighbours)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "profiles.h"
#include "ttrec.h"

#define START_MONO 1000000000000ull
#define PROFILE_EVENTS 300000
#define REPORT_EVENTS 10000000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void figure(const char *name, double value, const char *unit)
{
    printf("%s %.3f %s\n", name, value, unit);
    fflush(stdout);
}

/* xorshift: deterministic clock jitter */
static uint64_t jitter_state = 88172645463325252ull;
static uint64_t jitter(void)
{
    jitter_state ^= jitter_state << 13;
    jitter_state ^= jitter_state >> 7;
    jitter_state ^= jitter_state << 17;
    return jitter_state;
}

struct emit_ctx {
    struct ttrec_writer *w;
    uint64_t t;      /* CLOCK_MONOTONIC of the next event */
    uint64_t gap_ns; /* between events at the profile's rate */
    int32_t pid;
    uint64_t events;
    int error;
};

static void emit(void *arg, const struct profiles_event *ev)
{
    struct emit_ctx *c = arg;
    /* events of one step come in a burst; the rate sets the mean spacing */
    c->t += c->gap_ns / 2 + jitter() % (c->gap_ns + 1);
    int rc = 0;
    if (ev->kind == PROFILES_ALLOC)
        rc = ttrec_write_alloc(c->w, c->pid, ev->device, (uint8_t)ev->type, ev->address, ev->size,
                               c->t);
    else if (ev->kind == PROFILES_FREE)
        rc = ttrec_write_free(c->w, c->pid, ev->device, (uint8_t)ev->type, ev->address, 0, c->t);
    else
        return;
    if (rc < 0)
        c->error = rc;
    c->events++;
}

static int open_writer(const char *path, struct ttrec_writer **w)
{
    struct ttrec_start start = {
        .realtime_ns = 1764000000000000000ull, .monotonic_ns = START_MONO, .host = "bench"};
    return ttrec_writer_open(path, &start, NULL, w);
}

/* Bytes per event of one profile; -1 on error. */
static double profile_bytes_per_event(const char *name, const char *path)
{
    struct profiles_device devs[2];
    for (uint32_t i = 0; i < 2; i++) {
        devs[i].id = i;
        if (sim_mem_geometry_for("n300", &devs[i].geometry) < 0)
            return -1;
    }
    struct profiles *p;
    if (profiles_create(name, 42, devs, 2, &p) < 0)
        return -1;
    struct ttrec_writer *w;
    if (open_writer(path, &w) < 0) {
        profiles_destroy(p);
        return -1;
    }
    unsigned rate = profiles_default_rate(name);
    struct emit_ctx c = {
        .w = w, .t = START_MONO, .gap_ns = 1000000000ull / (rate ? rate : 1000), .pid = 4242};
    while (c.events < PROFILE_EVENTS && !c.error)
        if (profiles_step(p, emit, &c) == 0)
            break;
    profiles_finish(p, emit, &c);
    profiles_destroy(p);
    uint64_t events = ttrec_writer_events(w);
    int rc = ttrec_writer_close(w);
    struct stat st;
    if (rc < 0 || c.error || stat(path, &st) < 0 || events == 0)
        return -1;
    return (double)st.st_size / (double)events;
}

/* A churn-like recording of `n` events from 8 processes on 2 devices at 5 M
 * events/s: the size and speed case. Returns the writer's events/s. */
static double write_big(const char *path, uint64_t n, double *cpu_rate)
{
    struct ttrec_writer *w;
    if (open_writer(path, &w) < 0)
        return -1;
    enum { LIVE = 4096 };
    static uint64_t live_addr[LIVE], live_size[LIVE];
    static int32_t live_pid[LIVE];
    static uint32_t live_dev[LIVE];
    uint64_t t = START_MONO, begin = now_ns(), begin_cpu = cpu_ns();
    int rc = 0;
    while (ttrec_writer_events(w) < n && rc == 0) {
        size_t slot = (size_t)(jitter() % LIVE);
        t += 100 + jitter() % 200;
        if (live_size[slot]) {
            rc = ttrec_write_free(w, live_pid[slot], live_dev[slot], TTALLOC_DRAM, live_addr[slot],
                                  live_size[slot], t);
            t += 100 + jitter() % 200;
        }
        live_pid[slot] = 5000 + (int32_t)(slot % 8);
        live_dev[slot] = (uint32_t)(slot % 2);
        live_size[slot] = 1024 * (1 + jitter() % 64);
        live_addr[slot] = 0x100000 + (uint64_t)slot * 0x100000;
        if (rc == 0)
            rc = ttrec_write_alloc(w, live_pid[slot], live_dev[slot], TTALLOC_DRAM, live_addr[slot],
                                   live_size[slot], t);
    }
    uint64_t events = ttrec_writer_events(w);
    int close_rc = ttrec_writer_close(w);
    double secs = (double)(now_ns() - begin) / 1e9;
    *cpu_rate = (double)events / ((double)(cpu_ns() - begin_cpu) / 1e9);
    if (rc < 0 || close_rc < 0)
        return -1;
    return (double)events / secs;
}

/* Wall time of `tt-alloc-report path --json`, output discarded; its CPU
 * time (user + system) in *cpu. */
static double time_report(const char *path, double *cpu)
{
    uint64_t begin = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execl(TTREC_BENCH_REPORT, "tt-alloc-report", path, "--json", (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return (double)(now_ns() - begin) / 1e9;
}

int main(void)
{
    char dir[] = "/tmp/ttrec-bench.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("ttrec-bench: mkdtemp");
        return 1;
    }
    char path[256];
    int status = 0;
    double worst = 0;
    for (size_t i = 0; profiles_names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s.ttrec", dir, profiles_names[i]);
        double bpe = profile_bytes_per_event(profiles_names[i], path);
        unlink(path);
        if (bpe < 0) {
            fprintf(stderr, "ttrec-bench: profile %s failed\n", profiles_names[i]);
            status = 1;
            continue;
        }
        char name[64];
        snprintf(name, sizeof(name), "record_bytes_per_event_%s", profiles_names[i]);
        figure(name, bpe, "B");
        if (bpe > worst)
            worst = bpe;
    }
    figure("record_bytes_per_event", worst, "B");

    snprintf(path, sizeof(path), "%s/big.ttrec", dir);
    double cpu_rate = 0;
    double rate = write_big(path, REPORT_EVENTS, &cpu_rate);
    struct stat st;
    if (rate < 0 || stat(path, &st) < 0) {
        fprintf(stderr, "ttrec-bench: writing the 10 M-event recording failed\n");
        status = 1;
    } else {
        figure("ttrec_write_events_per_sec", rate, "events/s");
        figure("ttrec_write_events_per_cpu_sec", cpu_rate, "events/s");
        figure("record_bytes_per_event_churn10m", (double)st.st_size / REPORT_EVENTS, "B");
        double cpu = 0;
        double secs = time_report(path, &cpu);
        if (secs < 0) {
            fprintf(stderr, "ttrec-bench: tt-alloc-report failed\n");
            status = 1;
        } else {
            figure("report_10m_events_s", secs, "s");
            figure("report_10m_events_cpu_s", cpu, "s");
        }
    }
    unlink(path);
    rmdir(dir);
    return status;
}
