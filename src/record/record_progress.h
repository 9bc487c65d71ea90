/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_progress.h - tt-alloc-record's progress line on a terminal:
 * events, bytes written and the rate, one line rewritten in place at most
 * four times a second; nothing at all when stderr is not a terminal.
 */
#ifndef TTALLOC_RECORD_PROGRESS_H
#define TTALLOC_RECORD_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct record_progress {
    int enabled;
    int shown;        /* a line is on the terminal */
    uint64_t last_ns; /* when it was last drawn */
    uint64_t last_events;
    double rate; /* events per second, smoothed */
    int rated;   /* rate holds a measurement (the first line has none) */
};

void record_progress_init(struct record_progress *p, int enabled);
/* Draw the line if it is time (now_ns: CLOCK_MONOTONIC). */
void record_progress_show(struct record_progress *p, uint64_t events, uint64_t bytes,
                          uint64_t now_ns);
/* Erase the line (before the summary or an error). */
void record_progress_clear(struct record_progress *p);

#endif /* TTALLOC_RECORD_PROGRESS_H */
