/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventclock.c - the record path's clock and its conversion to
 * CLOCK_MONOTONIC (see eventclock.h).
 *
 * Calibration: a reference pair (TSC, CLOCK_MONOTONIC) taken at start, the
 * rate measured over about 2 ms, then re-measured by the sender over the
 * whole time since start (eventclock_recalibrate). Each pair is taken as the
 * tightest of a few TSC-clock-TSC brackets, so a preemption in the middle
 * does not skew it. A conversion is anchor_ns + (reading - anchor_tsc) *
 * rate, in 128-bit arithmetic (readings older than the anchor give negative
 * offsets), clamped so that no result is below the previous one.
 */
#include "eventclock.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "textfile.h"

#define EVENTCLOCK_FIRST_SPAN_NS 2000000u /* first rate: measured over 2 ms */
#define EVENTCLOCK_BRACKETS 5

bool eventclock_uses_tsc;
static bool eventclock_ready;

/* What the sender writes with every event it converts, on cache lines of its
 * own: every record call reads eventclock_uses_tsc, and a line shared with
 * the calibration moved between the two cores at each conversion (it
 * took the record path from 30-38 ns to 47-56 ns on a 2-core VM;
 * docs/PERFORMANCE.md). */
static _Alignas(64) struct eventclock_calibration {
    uint64_t origin_tsc, origin_ns; /* first pair */
    uint64_t anchor_tsc, anchor_ns; /* latest pair */
    uint64_t rate;                  /* ns per tick, 32.32 fixed point */
    uint64_t last_out;              /* highest result so far */
} eventclock_cal;

uint64_t eventclock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Is the TSC a clock we may order threads by? The CPU says it runs at a
 * constant rate through sleep states (CPUID 0x80000007 EDX bit 8), and the
 * kernel trusts it: its clocksource is the TSC, or kvm-clock (itself the
 * host's TSC, which the vDSO only uses when the host marks it stable). */
static bool eventclock_tsc_trusted(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 8)))
        return false;
    char source[64];
    if (textfile_read("/sys/devices/system/clocksource/clocksource0/current_clocksource", source,
                      sizeof(source)) <= 0)
        return false;
    source[strcspn(source, "\n")] = '\0';
    return strcmp(source, "tsc") == 0 || strcmp(source, "kvm-clock") == 0;
#else
    return false;
#endif
}

/* A (tsc, ns) pair: the ns reading bracketed by the two closest TSC reads. */
static void eventclock_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < EVENTCLOCK_BRACKETS; i++) {
        uint64_t before = eventclock_read();
        uint64_t mono = eventclock_monotonic_ns();
        uint64_t after = eventclock_read();
        if (after - before < best_gap) {
            best_gap = after - before;
            *tsc = before + (after - before) / 2;
            *ns = mono;
        }
    }
}

static void eventclock_set_rate(uint64_t tsc, uint64_t ns)
{
    uint64_t ticks = tsc - eventclock_cal.origin_tsc;
    uint64_t span = ns - eventclock_cal.origin_ns;
    if (ticks == 0 || span == 0)
        return;
    eventclock_cal.rate = (uint64_t)(((unsigned __int128)span << 32) / ticks);
    eventclock_cal.anchor_tsc = tsc;
    eventclock_cal.anchor_ns = ns;
}

void eventclock_init(void)
{
    if (eventclock_ready)
        return;
    const char *forced = getenv("TT_ALLOC_CLOCK");
    if (forced != NULL && strcmp(forced, "monotonic") == 0)
        eventclock_uses_tsc = false;
    else if (forced != NULL && strcmp(forced, "tsc") == 0)
        eventclock_uses_tsc = true; /* for measurements: trust it blindly */
    else
        eventclock_uses_tsc = eventclock_tsc_trusted();
#if !defined(__x86_64__) && !defined(__i386__)
    eventclock_uses_tsc = false;
#endif
    eventclock_ready = true;
    if (!eventclock_uses_tsc)
        return;
    eventclock_pair(&eventclock_cal.origin_tsc, &eventclock_cal.origin_ns);
    uint64_t tsc, ns;
    do {
        eventclock_pair(&tsc, &ns);
    } while (ns - eventclock_cal.origin_ns < EVENTCLOCK_FIRST_SPAN_NS);
    eventclock_set_rate(tsc, ns);
}

void eventclock_recalibrate(void)
{
    if (!eventclock_uses_tsc)
        return;
    uint64_t tsc, ns;
    eventclock_pair(&tsc, &ns);
    eventclock_set_rate(tsc, ns);
}

uint64_t eventclock_to_ns(uint64_t reading)
{
    uint64_t ns = reading;
    if (eventclock_uses_tsc) {
        __int128 offset = (__int128)(int64_t)(reading - eventclock_cal.anchor_tsc);
        __int128 scaled = (offset * (__int128)eventclock_cal.rate) / ((__int128)1 << 32);
        __int128 result = (__int128)eventclock_cal.anchor_ns + scaled;
        ns = result < 0 ? 0 : (uint64_t)result;
    }
    if (ns < eventclock_cal.last_out)
        ns = eventclock_cal.last_out;
    eventclock_cal.last_out = ns;
    return ns;
}

const char *eventclock_source(void)
{
    return eventclock_uses_tsc ? "tsc" : "monotonic";
}
