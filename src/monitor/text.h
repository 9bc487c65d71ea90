/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text.h - the monitor's words and numbers: byte sizes, percentages,
 * telemetry, user names, and the whole plain-text frame `--once` prints.
 * The curses view (draw.c) uses the same helpers, so both say the same thing.
 */
#ifndef TTALLOC_MONITOR_TEXT_H
#define TTALLOC_MONITOR_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bytesize.h"
#include "model.h"

/* "25.0%", or "" when the total is unknown. */
void text_percent(char *buf, size_t cap, uint64_t used, uint64_t total);
/* "3.00 GiB / 12.0 GiB", or "3.00 GiB used" when the total is unknown. */
void text_used_total(char *buf, size_t cap, uint64_t used, uint64_t total);
/* Board, bus id and telemetry of a device on one line, without the id:
 * "n150  0000:01:00.0  46.5 C  23.0 W / 150 W". Unknown parts are left out. */
void text_device_facts(char *buf, size_t cap, const struct model_device *d);
/* The user name of uid (cached), or the number. */
const char *text_user(uint32_t uid);
/* A buffer type's name as the monitor shows it: ttalloc_type_name in capitals
 * ("DRAM", "L1_SMALL", "SYSTEM_MEMORY"), "?" for a type out of range. */
void text_type_name(char *buf, size_t cap, enum ttalloc_buffer_type type);
/* "HH:MM:SS" local time of a CLOCK_REALTIME nanosecond stamp. */
void text_clock(char *buf, size_t cap, uint64_t realtime_ns);
/* An ASCII bar of `width` cells (brackets included): '#' used, '.' free,
 * '|' the peak. Needs a known total; width >= 3. */
void text_bar(char *buf, size_t width, uint64_t used, uint64_t peak, uint64_t total);
/* How many of `width` cells a fraction used/total fills (0..width). */
size_t text_cells(uint64_t used, uint64_t total, size_t width);

/* The status of the server, in words: "connected (PATH)", "not reachable
 * (PATH), retrying", "lost (PATH), retrying". */
void text_server_status(char *buf, size_t cap, const struct model *m);
/* The same without the path: "connected", "not reachable, retrying", "lost, retrying". */
const char *text_server_state(const struct model *m);

/* The width of the --once tables (process list, leak report). */
#define TEXT_FRAME_WIDTH 100

/* The --once frame: every visible device with its bars and processes, and
 * the leak report. `now_ns` is CLOCK_REALTIME. */
void text_frame(FILE *out, const struct model *m, uint64_t now_ns);

#endif /* TTALLOC_MONITOR_TEXT_H */
