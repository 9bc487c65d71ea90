/* SPDX-License-Identifier: Apache-2.0 */
/*
 * columns.h - the monitor's two tables, the process list and the leak
 * history, as lists of columns (as htop drives its display from
 * Process_fields[]). Each column has a header, a minimum and a maximum
 * width, a share of the spare width, a priority for leaving it out when the
 * terminal is narrow, and a function that prints a row's cell. The curses
 * screen (draw.c) and the --once text (text.c) lay out and print rows only
 * through these tables, so both say the same thing in the same columns.
 */
#ifndef TTALLOC_MONITOR_COLUMNS_H
#define TTALLOC_MONITOR_COLUMNS_H

#include <stddef.h>

#include "model.h"

#define COLUMNS_MAX 12
#define COLUMNS_GAP 1 /* spaces between two columns */

enum columns_align { COLUMNS_LEFT, COLUMNS_RIGHT };

struct columns_def {
    const char *header;
    int min_width;
    int max_width; /* == min_width: a fixed column */
    int grow;      /* share of the spare width (0: none) */
    int drop;      /* 0: always shown; else left out when narrow, highest first */
    enum columns_align align;
    enum model_sort sort; /* the sort key this column shows, MODEL_SORT_COUNT: none */
    /* Print `row`'s cell (a struct model_proc or a struct ttalloc_exit). */
    void (*cell)(char *buf, size_t cap, const void *row);
};

struct columns_table {
    const struct columns_def *defs;
    size_t n;
};

/* The process list: PID USER NAME LABEL DRAM L1 OTHER BUFFERS FROM
 * (rows: struct model_proc). */
extern const struct columns_table columns_procs;
/* The leak history: LEAK ENDED PID USER NAME LABEL DEVICE DRAM L1 OTHER BUFFERS
 * (rows: struct ttalloc_exit). */
extern const struct columns_table columns_exits;

/* Widths for a line of `total` characters: every column at its minimum,
 * the droppable ones left out (width 0), highest `drop` first, until the
 * rest fits; then the spare width shared by `grow`, up to each maximum.
 * Returns the width of the line. */
int columns_layout(const struct columns_table *t, int total, int widths[COLUMNS_MAX]);

/* The header line; the column of `sort` is marked with '*'. */
void columns_header(const struct columns_table *t, const int widths[COLUMNS_MAX],
                    enum model_sort sort, char *buf, size_t cap);
/* One row, each cell cut or padded to its column. */
void columns_row(const struct columns_table *t, const int widths[COLUMNS_MAX], const void *row,
                 char *buf, size_t cap);

#endif /* TTALLOC_MONITOR_COLUMNS_H */
