/* SPDX-License-Identifier: Apache-2.0 */
/*
 * draw.h - the monitor's curses screen: title, device panels with a bar per
 * memory type, the history graph of the selected device, its processes (or
 * one process's buffers), the leak report, the status line and the help.
 * Reads the model, never changes it. Degrades to what fits; never draws
 * outside the screen.
 */
#ifndef TTALLOC_MONITOR_DRAW_H
#define TTALLOC_MONITOR_DRAW_H

#include <stdint.h>

#include "model.h"

/* After initscr(): colours unless use_color is 0 (or the terminal has none),
 * Unicode glyphs when the locale's charset is UTF-8 and use_unicode is 1. */
void draw_init(int use_color, int use_unicode);

/* Erase and draw the whole frame into curses' virtual screen (the caller
 * calls doupdate). now_ms: the monotonic clock of the model's history;
 * now_ns: CLOCK_REALTIME for the clock in the title. */
void draw_frame(const struct model *m, int64_t now_ms, uint64_t now_ns);

#endif /* TTALLOC_MONITOR_DRAW_H */
