/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventclock.h - the clock of the record path: what a record call reads to
 * stamp its event, and how the sender turns that reading into the
 * CLOCK_MONOTONIC nanoseconds the wire carries.
 *
 * Two sources, chosen once per process by eventclock_init:
 *  - the invariant TSC (x86 with constant_tsc and nonstop_tsc, the kernel
 *    clocked by tsc or kvm-clock), read as `lfence; rdtsc` so the reading
 *    cannot be taken before the loads that precede it in the program; the
 *    sender converts it, calibrated against CLOCK_MONOTONIC;
 *  - otherwise (or TT_ALLOC_CLOCK=monotonic) clock_gettime(CLOCK_MONOTONIC)
 *    from the vDSO, whose reading is already in nanoseconds.
 * Either way a reading is a 64-bit value that grows with time, comparable
 * across the threads of the process: the sender orders events by it.
 * docs/PERFORMANCE.md ("The event clock") has the measurements behind the
 * choice.
 */
#ifndef TTALLOC_EVENTCLOCK_H
#define TTALLOC_EVENTCLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* true: readings are TSC ticks; false: CLOCK_MONOTONIC ns. Set once by
 * eventclock_init before any event is recorded, read-only afterwards. */
extern bool eventclock_uses_tsc;

/* Choose the source and take the first calibration (about 2 ms when the
 * TSC is used). Idempotent. */
void eventclock_init(void);

/* The record path's clock reading. */
static inline uint64_t eventclock_read(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (eventclock_uses_tsc) {
        uint32_t lo, hi;
        __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
        return ((uint64_t)hi << 32) | lo;
    }
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in ns, for the sender's own bookkeeping. */
uint64_t eventclock_monotonic_ns(void);

/* Convert a reading to CLOCK_MONOTONIC ns. Results never go backwards from
 * one call to the next (a recalibration cannot reorder what was sent).
 * Not thread-safe: the sender calls it under its lock. */
uint64_t eventclock_to_ns(uint64_t reading);

/* Refresh the TSC calibration (the sender calls it about once a second):
 * the rate is measured over the whole time since eventclock_init, so it
 * only gets more precise. Not thread-safe, as eventclock_to_ns. */
void eventclock_recalibrate(void);

/* "tsc" or "monotonic", for debug messages and the benchmark. */
const char *eventclock_source(void);

#endif /* TTALLOC_EVENTCLOCK_H */
