/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttalloc-recbench - a quick look at the record path's cost: N events
 * (alloc/free pairs over a working set of live buffers) from T threads,
 * printed as `record_ns_per_event VALUE ns`, then the time ttalloc_flush
 * needs to get them all applied. The real figures come from `make bench`.
 *
 *   ttalloc-recbench [EVENTS_PER_THREAD] [THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ttalloc.h"

static long events_per_thread = 2000000;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    uint32_t device = (uint32_t)(size_t)arg;
    for (long i = 0; i < events_per_thread / 2; i++) {
        uint64_t addr = 0x10000000 + (uint64_t)(i % 4096) * 4096;
        ttalloc_record_alloc(device, TTALLOC_L1, addr, 4096);
        ttalloc_record_free(device, TTALLOC_L1, addr);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1;
    if (argc > 1)
        events_per_thread = atol(argv[1]);
    if (argc > 2)
        threads = atoi(argv[2]);
    if (events_per_thread < 2 || threads < 1 || threads > 64)
        return 2;
    /* Start the library and connect before timing. */
    ttalloc_record_alloc(1000, TTALLOC_DRAM, 0, 1);
    int warm = ttalloc_flush(2000);
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, run, (void *)(size_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t1 = now_s();
    int rc = ttalloc_flush(10000);
    double t2 = now_s();
    printf("server_connected %d\n", warm == 0);
    printf("record_ns_per_event %.1f ns\n", (t1 - t0) * 1e9 / (double)events_per_thread);
    printf("flush_after_burst %.1f ms (rc %d)\n", (t2 - t1) * 1e3, rc);
    return 0;
}
