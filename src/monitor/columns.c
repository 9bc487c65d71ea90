/* SPDX-License-Identifier: Apache-2.0 */
/*
 * columns.c - the process list and the leak history as column tables (see
 * columns.h). A cell function prints one value; columns_row pads or cuts it
 * to the column's width, so no cell ever spills into the next one.
 */
#include "columns.h"

#include <stdio.h>
#include <string.h>

#include "termtext.h"
#include "text.h"

/* ---- cells of the process list ------------------------------------------ */

static const struct model_proc *columns_proc(const void *row)
{
    return row;
}

static void columns_proc_pid(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%d", columns_proc(row)->pid);
}

static void columns_proc_user(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    snprintf(buf, cap, "%s", p->uid_known ? text_user(p->uid) : "?");
}

static void columns_proc_name(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    snprintf(buf, cap, "%s", p->name[0] ? p->name : "?");
}

static void columns_proc_label(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%s", columns_proc(row)->label);
}

static void columns_proc_bytes(char *buf, size_t cap, const struct model_proc *p, uint64_t bytes)
{
    if (p->bytes_known)
        bytesize_format(buf, cap, bytes);
    else
        snprintf(buf, cap, "-");
}

static void columns_proc_dram(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    columns_proc_bytes(buf, cap, p, p->bytes[TTALLOC_DRAM]);
}

static void columns_proc_l1(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    columns_proc_bytes(buf, cap, p, p->bytes[TTALLOC_L1]);
}

static void columns_proc_other(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    columns_proc_bytes(buf, cap, p,
                       p->bytes[TTALLOC_L1_SMALL] + p->bytes[TTALLOC_TRACE] + p->bytes[TTALLOC_CB]);
}

static void columns_proc_buffers(char *buf, size_t cap, const void *row)
{
    const struct model_proc *p = columns_proc(row);
    if (p->source == MODEL_SOURCE_SERVER)
        snprintf(buf, cap, "%llu", (unsigned long long)p->buffers);
    else
        snprintf(buf, cap, "-"); /* SHM and pids files do not count buffers */
}

static void columns_proc_from(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%s", model_source_name(columns_proc(row)->source));
}

static const struct columns_def columns_proc_defs[] = {
    {"PID", 8, 8, 0, 0, COLUMNS_RIGHT, MODEL_SORT_PID, columns_proc_pid},
    {"USER", 8, 12, 1, 4, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_proc_user},
    {"NAME", 12, TTALLOC_NAME_MAX - 1, 4, 0, COLUMNS_LEFT, MODEL_SORT_NAME, columns_proc_name},
    {"LABEL", 8, TTALLOC_LABEL_MAX - 1, 3, 3, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_proc_label},
    {"DRAM", 10, 10, 0, 0, COLUMNS_RIGHT, MODEL_SORT_DRAM, columns_proc_dram},
    {"L1", 10, 10, 0, 1, COLUMNS_RIGHT, MODEL_SORT_L1, columns_proc_l1},
    {"OTHER", 10, 10, 0, 5, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_proc_other},
    {"BUFFERS", 8, 8, 0, 6, COLUMNS_RIGHT, MODEL_SORT_BUFFERS, columns_proc_buffers},
    {"FROM", 6, 6, 0, 2, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_proc_from},
};

const struct columns_table columns_procs = {
    columns_proc_defs,
    sizeof(columns_proc_defs) / sizeof(columns_proc_defs[0]),
};

/* ---- cells of the leak history ------------------------------------------- */

static const struct ttalloc_exit *columns_exit(const void *row)
{
    return row;
}

static void columns_exit_tag(char *buf, size_t cap, const void *row)
{
    (void)row;
    snprintf(buf, cap, "LEAK");
}

static void columns_exit_time(char *buf, size_t cap, const void *row)
{
    text_clock(buf, cap, columns_exit(row)->time_ns);
}

static void columns_exit_pid(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%d", columns_exit(row)->pid);
}

static void columns_exit_user(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%s", text_user(columns_exit(row)->uid));
}

static void columns_exit_name(char *buf, size_t cap, const void *row)
{
    const struct ttalloc_exit *e = columns_exit(row);
    snprintf(buf, cap, "%.*s", (int)sizeof(e->name), e->name[0] ? e->name : "?");
}

static void columns_exit_label(char *buf, size_t cap, const void *row)
{
    const struct ttalloc_exit *e = columns_exit(row);
    snprintf(buf, cap, "%.*s", (int)sizeof(e->label), e->label);
}

static void columns_exit_device(char *buf, size_t cap, const void *row)
{
    snprintf(buf, cap, "%u", columns_exit(row)->device);
}

static void columns_exit_dram(char *buf, size_t cap, const void *row)
{
    bytesize_format(buf, cap, columns_exit(row)->bytes[TTALLOC_DRAM]);
}

static void columns_exit_l1(char *buf, size_t cap, const void *row)
{
    bytesize_format(buf, cap, columns_exit(row)->bytes[TTALLOC_L1]);
}

static void columns_exit_other(char *buf, size_t cap, const void *row)
{
    const struct ttalloc_exit *e = columns_exit(row);
    bytesize_format(buf, cap,
                    e->bytes[TTALLOC_L1_SMALL] + e->bytes[TTALLOC_TRACE] + e->bytes[TTALLOC_CB]);
}

static void columns_exit_buffers(char *buf, size_t cap, const void *row)
{
    const struct ttalloc_exit *e = columns_exit(row);
    uint64_t n = 0;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        n += e->buffers[t];
    snprintf(buf, cap, "%llu", (unsigned long long)n);
}

static const struct columns_def columns_exit_defs[] = {
    {"", 4, 4, 0, 0, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_exit_tag},
    {"ENDED", 8, 8, 0, 0, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_exit_time},
    {"PID", 8, 8, 0, 0, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_pid},
    {"USER", 8, 12, 1, 4, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_exit_user},
    {"NAME", 12, TTALLOC_NAME_MAX - 1, 4, 0, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_exit_name},
    {"LABEL", 8, TTALLOC_LABEL_MAX - 1, 3, 3, COLUMNS_LEFT, MODEL_SORT_COUNT, columns_exit_label},
    {"DEVICE", 6, 6, 0, 0, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_device},
    {"DRAM", 10, 10, 0, 0, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_dram},
    {"L1", 10, 10, 0, 1, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_l1},
    {"OTHER", 10, 10, 0, 5, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_other},
    {"BUFFERS", 8, 8, 0, 2, COLUMNS_RIGHT, MODEL_SORT_COUNT, columns_exit_buffers},
};

const struct columns_table columns_exits = {
    columns_exit_defs,
    sizeof(columns_exit_defs) / sizeof(columns_exit_defs[0]),
};

/* ---- layout and printing -------------------------------------------------- */

static int columns_line_width(const struct columns_table *t, const int widths[COLUMNS_MAX])
{
    int sum = 0, shown = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (widths[i] > 0) {
            sum += widths[i];
            shown++;
        }
    }
    return shown ? sum + (shown - 1) * COLUMNS_GAP : 0;
}

int columns_layout(const struct columns_table *t, int total, int widths[COLUMNS_MAX])
{
    for (size_t i = 0; i < COLUMNS_MAX; i++)
        widths[i] = i < t->n ? t->defs[i].min_width : 0;
    /* Too wide: leave out the droppable columns, highest priority first. */
    while (columns_line_width(t, widths) > total) {
        size_t victim = t->n;
        for (size_t i = 0; i < t->n; i++)
            if (widths[i] > 0 && t->defs[i].drop > 0 &&
                (victim == t->n || t->defs[i].drop > t->defs[victim].drop))
                victim = i;
        if (victim == t->n)
            break; /* only the essential ones are left: they are cut at the edge */
        widths[victim] = 0;
    }
    /* Spare width: shared by `grow`, one character at a time, up to each
     * column's maximum (so the shares stay proportional when some are full). */
    int spare = total - columns_line_width(t, widths);
    while (spare > 0) {
        int shares = 0;
        for (size_t i = 0; i < t->n; i++)
            if (widths[i] > 0 && widths[i] < t->defs[i].max_width)
                shares += t->defs[i].grow;
        if (shares == 0)
            break;
        int given = 0;
        for (size_t i = 0; i < t->n && spare > 0; i++) {
            const struct columns_def *d = &t->defs[i];
            if (widths[i] == 0 || widths[i] >= d->max_width || d->grow == 0)
                continue;
            int add = d->grow * (spare > shares ? spare / shares : 1);
            if (add > d->max_width - widths[i])
                add = d->max_width - widths[i];
            if (add > spare)
                add = spare;
            widths[i] += add;
            spare -= add;
            given += add;
        }
        if (given == 0)
            break;
    }
    return columns_line_width(t, widths);
}

/* Append `text` padded or cut to `width`, aligned, at buf[*len]. Names
 * and labels are anyone's text: termtext makes them safe for the screen
 * and a log (an ESC could rewrite the screen) and cuts whole characters. */
static void columns_put(char *buf, size_t cap, size_t *len, const char *text, int width,
                        enum columns_align align)
{
    char safe[256];
    if (width <= 0 || *len >= cap)
        return;
    int shown = (int)termtext_fit(safe, sizeof(safe), text, (size_t)width);
    int pad = width - shown;
    int k = align == COLUMNS_RIGHT ? snprintf(buf + *len, cap - *len, "%*s%s", pad, "", safe)
                                   : snprintf(buf + *len, cap - *len, "%s%*s", safe, pad, "");
    if (k <= 0)
        return;
    *len = *len + (size_t)k < cap ? *len + (size_t)k : cap - 1;
}

static void columns_line(const struct columns_table *t, const int widths[COLUMNS_MAX],
                         const char *const cells[COLUMNS_MAX], char *buf, size_t cap)
{
    size_t len = 0;
    int first = 1;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        if (widths[i] <= 0)
            continue;
        if (!first)
            columns_put(buf, cap, &len, "", COLUMNS_GAP, COLUMNS_LEFT);
        first = 0;
        columns_put(buf, cap, &len, cells[i], widths[i], t->defs[i].align);
    }
    while (len > 0 && buf[len - 1] == ' ')
        buf[--len] = '\0'; /* no trailing blanks in logs */
}

void columns_header(const struct columns_table *t, const int widths[COLUMNS_MAX],
                    enum model_sort sort, char *buf, size_t cap)
{
    char marked[COLUMNS_MAX][24];
    const char *cells[COLUMNS_MAX];
    for (size_t i = 0; i < t->n && i < COLUMNS_MAX; i++) {
        const struct columns_def *d = &t->defs[i];
        snprintf(marked[i], sizeof(marked[i]), "%s%s",
                 d->sort != MODEL_SORT_COUNT && d->sort == sort ? "*" : "", d->header);
        cells[i] = marked[i];
    }
    columns_line(t, widths, cells, buf, cap);
}

void columns_row(const struct columns_table *t, const int widths[COLUMNS_MAX], const void *row,
                 char *buf, size_t cap)
{
    char text[COLUMNS_MAX][TTALLOC_LABEL_MAX + 8];
    const char *cells[COLUMNS_MAX];
    for (size_t i = 0; i < t->n && i < COLUMNS_MAX; i++) {
        text[i][0] = '\0';
        if (widths[i] > 0)
            t->defs[i].cell(text[i], sizeof(text[i]), row);
        cells[i] = text[i];
    }
    columns_line(t, widths, cells, buf, cap);
}
