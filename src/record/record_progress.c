/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_progress.c - the progress line (see record_progress.h).
 */
#include "record_progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bytesize.h"

#define RECORD_PROGRESS_PERIOD_NS 250000000ull

void record_progress_init(struct record_progress *p, int enabled)
{
    memset(p, 0, sizeof(*p));
    p->enabled = enabled;
}

void record_progress_show(struct record_progress *p, uint64_t events, uint64_t bytes,
                          uint64_t now_ns)
{
    if (!p->enabled)
        return;
    if (p->last_ns != 0 && now_ns - p->last_ns < RECORD_PROGRESS_PERIOD_NS)
        return;
    if (p->last_ns != 0) {
        double dt = (double)(now_ns - p->last_ns) / 1e9;
        double instant = (double)(events - p->last_events) / dt;
        /* The first measurement as it is: averaged with the first line's
         * 0 it read half the true rate for a period. */
        p->rate = p->rated ? 0.5 * p->rate + 0.5 * instant : instant;
        p->rated = 1;
    }
    p->last_ns = now_ns;
    p->last_events = events;
    char size[32];
    bytesize_format(size, sizeof(size), bytes);
    /* \r and erase to the end of the line: one line, rewritten. */
    fprintf(stderr, "\rrecording: %" PRIu64 " events, %s written, %.0f events/s\033[K", events,
            size, p->rate);
    fflush(stderr);
    p->shown = 1;
}

void record_progress_clear(struct record_progress *p)
{
    if (!p->shown)
        return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    p->shown = 0;
}
