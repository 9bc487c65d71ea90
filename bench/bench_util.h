/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_util.h - what the benchmark needs around the figures: a server
 * process on a private socket, a monotonic clock, percentiles, and reading a
 * process's RSS and CPU time from /proc.
 */
#ifndef TTALLOC_BENCH_UTIL_H
#define TTALLOC_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_server {
    pid_t pid;
    char socket_path[108];
};

/* Start tt-alloc-server on `socket_path` and wait until it answers. Returns 0
 * or a negative errno. Its stderr goes to `log_path`. */
int bench_server_start(struct bench_server *server, const char *socket_path, const char *log_path);
/* SIGKILL or SIGTERM it and reap it. */
void bench_server_stop(struct bench_server *server, int signo);

uint64_t bench_now_ns(void);
/* The p-th percentile (0..100) of n samples; sorts them. */
double bench_percentile(double *samples, size_t n, double p);
/* Resident set size in bytes, or 0. */
uint64_t bench_rss_bytes(pid_t pid);
/* User + system CPU time in ns, or 0. */
uint64_t bench_cpu_ns(pid_t pid);

/* Print one figure as `name value unit`. */
void bench_figure(const char *name, double value, const char *unit);

#endif
