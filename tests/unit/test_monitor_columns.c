/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_monitor_columns.c - the monitor's two tables as column lists
 * (src/monitor/columns.c): the layout at every width from none to far too
 * much (essential columns kept, droppable ones left out in their order,
 * maxima respected), the sort mark, cells cut to their column, hostile
 * labels and unterminated names, and the leak table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "columns.h"
#include "model.h"

static int sum_widths(const struct columns_table *t, const int w[COLUMNS_MAX], int *shown)
{
    int sum = 0;
    *shown = 0;
    for (size_t i = 0; i < t->n; i++)
        if (w[i] > 0) {
            sum += w[i];
            (*shown)++;
        }
    return sum + (*shown > 0 ? *shown - 1 : 0) * COLUMNS_GAP;
}

static void test_column_layout(void **state)
{
    (void)state;
    int w[COLUMNS_MAX], shown;
    /* Every width from tiny to huge: never wider than asked once the
     * essential columns fit, the essential ones always there, maxima kept. */
    for (int total = 0; total <= 400; total++) {
        int line = columns_layout(&columns_procs, total, w);
        assert_int_equal(line, sum_widths(&columns_procs, w, &shown));
        if (total >= 8 + 12 + 10 + 2) /* PID NAME DRAM */
            assert_true(line <= total);
        for (size_t i = 0; i < columns_procs.n; i++) {
            const struct columns_def *d = &columns_procs.defs[i];
            if (d->drop == 0)
                assert_true(w[i] >= d->min_width);
            assert_true(w[i] <= d->max_width);
            assert_true(w[i] == 0 || w[i] >= d->min_width);
        }
    }
    /* Wide: all nine, name and label at their maxima. */
    columns_layout(&columns_procs, 300, w);
    sum_widths(&columns_procs, w, &shown);
    assert_int_equal(shown, 9);
    assert_int_equal(w[2], TTALLOC_NAME_MAX - 1);
    assert_int_equal(w[3], TTALLOC_LABEL_MAX - 1);
    /* Narrow: BUFFERS goes first, then OTHER, USER, LABEL, FROM, L1. */
    columns_layout(&columns_procs, 80, w);
    assert_int_equal(w[7], 0);
    assert_true(w[6] > 0);
    columns_layout(&columns_procs, 39, w);
    assert_int_equal(w[3] + w[5] + w[8], 0);
    assert_true(w[0] > 0 && w[2] > 0 && w[4] > 0);
}

/* The screen column where `needle` starts in line (its end for ""):
 * UTF-8 continuation bytes take no column. */
static long screen_column(const char *line, const char *needle)
{
    const char *at = needle[0] ? strstr(line, needle) : line + strlen(line);
    assert_non_null(at);
    long col = 0;
    for (const char *c = line; c < at; c++)
        col += ((unsigned char)*c & 0xc0) != 0x80;
    return col;
}

static void test_column_rows(void **state)
{
    (void)state;
    int w[COLUMNS_MAX];
    char line[256];
    struct model_proc p;
    memset(&p, 0, sizeof(p));
    p.pid = 4242;
    p.uid_known = 1;
    p.uid = 0;
    p.bytes_known = 1;
    p.source = MODEL_SOURCE_SERVER;
    strcpy(p.name, "a-very-long-process-name-xyz");
    strcpy(p.label, "lbl");
    p.bytes[TTALLOC_DRAM] = 3ull << 30;
    p.bytes[TTALLOC_CB] = 4096;
    p.buffers = 7;
    columns_layout(&columns_procs, 100, w);
    columns_header(&columns_procs, w, MODEL_SORT_DRAM, line, sizeof(line));
    assert_non_null(strstr(line, "*DRAM"));
    assert_null(strstr(line, "*L1"));
    assert_true((int)strlen(line) <= 100);
    columns_row(&columns_procs, w, &p, line, sizeof(line));
    assert_true((int)strlen(line) <= 100);
    assert_non_null(strstr(line, "    4242 "));
    assert_non_null(strstr(line, "3.00 GiB"));
    assert_non_null(strstr(line, "4.00 KiB")); /* OTHER = L1_SMALL + TRACE + CB */
    assert_non_null(strstr(line, " 7 server"));
    assert_int_equal(line[strlen(line) - 1], 'r'); /* no trailing blanks */
    /* A name longer than its column is cut, never pushing the next one. */
    columns_layout(&columns_procs, 59, w); /* every shown column at its minimum */
    columns_row(&columns_procs, w, &p, line, sizeof(line));
    assert_non_null(strstr(line, " a-very-long- lbl "));
    /* Without a server: a pids-file holder has no figures. */
    p.source = MODEL_SOURCE_PIDS;
    p.bytes_known = 0;
    columns_layout(&columns_procs, 120, w);
    columns_row(&columns_procs, w, &p, line, sizeof(line));
    assert_null(strstr(line, "GiB"));
    assert_non_null(strstr(line, "- pids"));
    /* Anyone's label: control characters never reach the terminal. */
    strcpy(p.label, "a\x1b[2Jb\tc\x7f");
    columns_row(&columns_procs, w, &p, line, sizeof(line));
    assert_null(strchr(line, 0x1b));
    assert_non_null(strstr(line, "a?[2Jb?c?"));
    /* C1 controls and bidi overrides too; UTF-8 names keep their columns:
     * 2-byte characters are cut whole at the column's edge, one column each,
     * so LABEL starts where it does for an ASCII name. */
    strcpy(p.label, "x\xc2\x9b"
                    "1m\xe2\x80\xae");
    memset(p.name, 0, sizeof(p.name));
    for (size_t i = 0; i + 2 < sizeof(p.name); i += 2)
        memcpy(p.name + i, "\xc3\xa9", 2);
    columns_layout(&columns_procs, 59, w);
    columns_row(&columns_procs, w, &p, line, sizeof(line));
    assert_non_null(strstr(line, "\xc3\xa9 x?1m? "));
    assert_null(strstr(line, "\xc2\x9b"));
    char ascii[256];
    strcpy(p.label, "x?1m?");
    memset(p.name, 'e', sizeof(p.name) - 1);
    columns_row(&columns_procs, w, &p, ascii, sizeof(ascii));
    assert_int_equal(screen_column(line, " x?1m? "), screen_column(ascii, " x?1m? "));
    assert_int_equal(screen_column(line, ""), screen_column(ascii, ""));
    /* A tiny buffer: cut, terminated. */
    char tiny[8];
    columns_row(&columns_procs, w, &p, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), 7);

    /* The leak table: one column list for the screen and --once. */
    struct ttalloc_exit e;
    memset(&e, 0, sizeof(e));
    e.pid = 99;
    e.device = 3;
    memset(e.name, 'n', sizeof(e.name)); /* not terminated: never read past it */
    strcpy(e.label, "nightly");
    e.bytes[TTALLOC_DRAM] = 256ull << 20;
    e.buffers[TTALLOC_DRAM] = 2;
    e.buffers[TTALLOC_L1] = 1;
    columns_layout(&columns_exits, 120, w);
    columns_row(&columns_exits, w, &e, line, sizeof(line));
    assert_true(strncmp(line, "LEAK ", 5) == 0);
    assert_non_null(strstr(line, "      99 "));
    /* The 32 unterminated bytes are cut to NAME's width (12..31), LABEL follows. */
    const char *run = strstr(line, " nnnnnnnnnnnn");
    assert_non_null(run);
    size_t n_run = strspn(run + 1, "n");
    assert_true(n_run >= 12 && n_run <= 31);
    assert_int_equal(strncmp(run + 1 + n_run, " nightly ", 9), 0);
    assert_non_null(strstr(line, "256 MiB"));
    assert_int_equal(line[strlen(line) - 1], '3'); /* 3 buffers */
    columns_header(&columns_exits, w, MODEL_SORT_COUNT, line, sizeof(line));
    assert_null(strchr(line, '*'));
    assert_non_null(strstr(line, "ENDED"));
}

static void test_exits_layout(void **state)
{
    (void)state;
    int w[COLUMNS_MAX], shown;
    for (int total = -5; total <= 300; total++) {
        int line = columns_layout(&columns_exits, total, w);
        assert_int_equal(line, sum_widths(&columns_exits, w, &shown));
        for (size_t i = 0; i < columns_exits.n; i++) {
            const struct columns_def *d = &columns_exits.defs[i];
            if (d->drop == 0)
                assert_true(w[i] >= d->min_width); /* never below: cut instead */
            assert_true(w[i] == 0 || (w[i] >= d->min_width && w[i] <= d->max_width));
        }
    }
    /* Narrow: OTHER goes first, then USER, LABEL, BUFFERS, L1. */
    columns_layout(&columns_exits, 100, w);
    assert_int_equal(w[9], 0);
    assert_true(w[3] > 0 && w[10] > 0);
    columns_layout(&columns_exits, 0, w);
    for (size_t i = 0; i < columns_exits.n; i++)
        assert_int_equal(w[i] == 0, columns_exits.defs[i].drop != 0);
}

static void test_sort_marks(void **state)
{
    (void)state;
    int w[COLUMNS_MAX];
    char line[512];
    columns_layout(&columns_procs, 300, w);
    static const struct {
        enum model_sort sort;
        const char *mark;
    } marks[] = {
        {MODEL_SORT_PID, "*PID"}, {MODEL_SORT_NAME, "*NAME"},       {MODEL_SORT_DRAM, "*DRAM"},
        {MODEL_SORT_L1, "*L1"},   {MODEL_SORT_BUFFERS, "*BUFFERS"},
    };
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        columns_header(&columns_procs, w, marks[i].sort, line, sizeof(line));
        assert_non_null(strstr(line, marks[i].mark));
        assert_ptr_equal(strchr(line, '*'), strrchr(line, '*')); /* one mark */
    }
    columns_header(&columns_procs, w, MODEL_SORT_COUNT, line, sizeof(line));
    assert_null(strchr(line, '*'));
    /* cut, terminated; a cut that leaves only blanks leaves nothing */
    char tiny[12];
    columns_header(&columns_procs, w, MODEL_SORT_PID, tiny, sizeof(tiny));
    assert_string_equal(tiny, "    *PID US");
    columns_header(&columns_procs, w, MODEL_SORT_PID, tiny, 5);
    assert_string_equal(tiny, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_column_layout),
        cmocka_unit_test(test_column_rows),
        cmocka_unit_test(test_exits_layout),
        cmocka_unit_test(test_sort_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
