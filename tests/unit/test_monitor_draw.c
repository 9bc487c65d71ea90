/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_monitor_draw.c - the monitor's curses screen (src/monitor/draw.c),
 * drawn by real ncurses into a screen of its own (newterm on a pipe, no
 * terminal needed) and read back cell by cell: the title with the device
 * count and PAUSED, a panel per device with a bar per memory type (cells
 * filled in proportion, the peak mark, the percentage and its colour level:
 * green < 75 % <= yellow < 90 % <= red), "used unknown" without figures,
 * the process list with its sort mark, one process's buffers, the leak
 * report, the status line (server, kill prompt, filter), the help, a
 * hostile label shown as '?', and every size from 1x1 to 300 columns
 * drawn without a write outside the screen.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include "draw.h"
#include "model.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)
#define NOW_NS 1795435200000000000ull /* 12:00:00 UTC */

static SCREEN *screen;
static FILE *screen_out, *screen_in;

static int screen_open(void **state)
{
    (void)state;
    setenv("TERM", "xterm-256color", 1);
    setenv("TZ", "UTC", 1);
    setlocale(LC_ALL, "C");
    screen_out = fopen("/dev/null", "w");
    screen_in = fopen("/dev/null", "r");
    if (screen_out == NULL || screen_in == NULL)
        return -1;
    screen = newterm("xterm-256color", screen_out, screen_in);
    if (screen == NULL)
        return -1;
    set_term(screen);
    draw_init(1, 0); /* colour, ASCII glyphs */
    return 0;
}

static int screen_close(void **state)
{
    (void)state;
    endwin();
    delscreen(screen);
    fclose(screen_out);
    fclose(screen_in);
    return 0;
}

/* Row y of the virtual screen as text, trailing blanks cut. */
static const char *row(int y)
{
    static char text[512];
    text[0] = '\0';
    if (y < 0 || y >= LINES)
        return text;
    mvinnstr(y, 0, text, COLS < (int)sizeof(text) - 1 ? COLS : (int)sizeof(text) - 1);
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        text[--n] = '\0';
    return text;
}

/* The first row holding needle, or -1. */
static int find_row(const char *needle)
{
    for (int y = 0; y < LINES; y++)
        if (strstr(row(y), needle) != NULL)
            return y;
    return -1;
}

static void must_show(const char *needle)
{
    if (find_row(needle) < 0) {
        char all[8192] = "";
        for (int y = 0; y < LINES; y++) {
            strncat(all, row(y), sizeof(all) - strlen(all) - 2);
            strncat(all, "\n", sizeof(all) - strlen(all) - 1);
        }
        fail_msg("no \"%s\" on the screen:\n%s", needle, all);
    }
}

/* The colour pair of the cell where needle starts on row y. */
static short pair_at(int y, const char *needle)
{
    const char *r = row(y);
    const char *at = strstr(r, needle);
    assert_non_null(at);
    chtype c = mvinch(y, (int)(at - r));
    return (short)PAIR_NUMBER(c & A_COLOR);
}

static void draw_at(const struct model *m, int cols, int lines)
{
    resizeterm(lines, cols);
    draw_frame(m, 10000, NOW_NS);
}

/* Two devices (75 % and 95 % of DRAM used, a peak of 80 %), one process,
 * one leak; connected. */
static void model_two_devices(struct model *m)
{
    model_init(m, 500);
    m->conn = MODEL_CONN_UP;
    snprintf(m->socket_path, sizeof(m->socket_path), "/run/tt.sock");
    struct ttalloc_device_stats dev[2];
    memset(dev, 0, sizeof(dev));
    dev[0].device = 0;
    strcpy(dev[0].board_type, "n150");
    dev[0].used[TTALLOC_DRAM] = 9 * GIB;
    dev[0].peak[TTALLOC_DRAM] = 10 * GIB;
    dev[0].total[TTALLOC_DRAM] = 12 * GIB;
    dev[0].total[TTALLOC_L1] = 100 * MIB;
    dev[0].buffers = 3;
    dev[0].processes = 1;
    dev[1].device = 1;
    strcpy(dev[1].board_type, "p150a");
    dev[1].used[TTALLOC_DRAM] = 95 * GIB / 10;
    dev[1].total[TTALLOC_DRAM] = 10 * GIB;
    struct ttalloc_process_info proc;
    memset(&proc, 0, sizeof(proc));
    proc.pid = 4242;
    strcpy(proc.name, "python3");
    strcpy(proc.label, "llama\x1b[2J");
    proc.flags = TTALLOC_PROCESS_CONNECTED;
    struct ttalloc_usage use;
    memset(&use, 0, sizeof(use));
    use.pid = 4242;
    use.device = 0;
    use.bytes[TTALLOC_DRAM] = 9 * GIB;
    use.buffers = 3;
    struct ttalloc_snapshot snap = {.seq = 1,
                                    .n_devices = 2,
                                    .devices = dev,
                                    .n_processes = 1,
                                    .processes = &proc,
                                    .n_usage = 1,
                                    .usage = &use};
    assert_int_equal(model_apply_snapshot(m, &snap, 10000), 0);
    struct ttalloc_exit *exits = calloc(1, sizeof(*exits));
    assert_non_null(exits);
    exits[0].pid = 777;
    strcpy(exits[0].name, "leaky");
    exits[0].device = 1;
    exits[0].bytes[TTALLOC_DRAM] = 64 * MIB;
    exits[0].buffers[TTALLOC_DRAM] = 2;
    model_set_exits(m, exits, 1);
}

static void test_devices_bars_and_levels(void **state)
{
    (void)state;
    struct model m;
    model_two_devices(&m);
    draw_at(&m, 120, 50);
    assert_int_equal(strncmp(row(0), " tt-alloc-monitor ", 18), 0);
    must_show("12:00:00   2 devices");
    must_show("device 0  n150");
    must_show("buffers 3  processes 1");
    must_show("device 1  p150a");
    /* the DRAM bar of device 0: 75 % of its cells, the peak mark at 10/12 */
    int y = find_row("9.00 GiB / 12.0 GiB");
    assert_true(y > 0);
    const char *r = row(y);
    const char *open = strchr(r, '['), *close = strchr(r, ']');
    assert_non_null(open);
    assert_non_null(close);
    size_t width = (size_t)(close - open - 1);
    /* in eighths of a cell, rounded up to whole '#' (ASCII has no eighths) */
    size_t used = strspn(open + 1, "#");
    assert_int_equal(used, (width * 8 * 3 / 4 + 7) / 8);
    const char *mark = strchr(open + 1, '|');
    assert_non_null(mark);
    assert_int_equal((size_t)(mark - open - 1), width * 10 / 12);
    assert_non_null(strstr(r, " 75.0%"));
    /* levels: 75.0 % is yellow, 95 % red, 0 % green */
    assert_int_equal(pair_at(y, "75.0%"), 2);
    int y1 = find_row("9.50 GiB / 10.0 GiB");
    assert_true(y1 > y);
    assert_int_equal(pair_at(y1, "95.0%"), 3);
    int l1 = find_row("0 B / 100 MiB");
    assert_true(l1 > y);
    assert_int_equal(pair_at(l1, "0.0%"), 1);
    /* a type without a total: the amount, no bar, no percentage */
    int trace = find_row("TRACE");
    assert_true(trace > 0);
    assert_null(strchr(row(trace), '['));
    assert_null(strchr(row(trace), '%'));
    model_free(&m);
}

static void test_processes_leaks_and_status(void **state)
{
    (void)state;
    struct model m;
    model_two_devices(&m);
    draw_at(&m, 120, 50);
    int head = find_row("*DRAM");
    assert_true(head > 0);
    int p = find_row("    4242 ");
    assert_true(p > head);
    assert_non_null(strstr(row(p), "python3"));
    assert_non_null(strstr(row(p), "llama?[2J")); /* the label's ESC is text */
    assert_non_null(strstr(row(p), "9.00 GiB"));
    must_show("exited with buffers left behind (newest first)");
    int leak = find_row("     777 ");
    assert_true(leak > p);
    assert_non_null(strstr(row(leak), "leaky"));
    assert_non_null(strstr(row(LINES - 1), " server: connected"));
    assert_non_null(strstr(row(LINES - 1), "sort DRAM"));
    assert_non_null(strstr(row(LINES - 1), "/run/tt.sock"));

    /* the leak history in place of the processes */
    m.show_exits = 1;
    draw_at(&m, 120, 50);
    must_show(" leak history: 1 process ended with buffers still live (newest first)");
    assert_int_equal(find_row("    4242 "), -1);
    m.show_exits = 0;

    /* one process's buffers */
    struct ttalloc_buffer *b = calloc(2, sizeof(*b));
    assert_non_null(b);
    b[0].device = 0;
    b[0].type = TTALLOC_DRAM;
    b[0].address = 0x1000;
    b[0].size = 8 * GIB;
    b[1].device = 0;
    b[1].type = TTALLOC_L1;
    b[1].address = 0x20;
    b[1].size = 4096;
    model_set_buffers(&m, 4242, b, 2);
    draw_at(&m, 120, 50);
    must_show(" buffers of 4242 python3, largest first (2 shown)");
    must_show("       0  DRAM              8.00 GiB  0x0000000000001000");
    must_show("       0  L1                4.00 KiB  0x0000000000000020");

    /* the status line's questions */
    m.buffers_pid = 0;
    m.kill_pid = 4242;
    snprintf(m.kill_name, sizeof(m.kill_name), "python3");
    draw_at(&m, 120, 50);
    assert_string_equal(row(LINES - 1), " Send SIGTERM to 4242 (python3)? y/n");
    m.kill_pid = 0;
    m.filter_editing = 1;
    snprintf(m.filter_text, sizeof(m.filter_text), "lla");
    draw_at(&m, 120, 50);
    assert_string_equal(row(LINES - 1), " filter (name, label or PID): lla_   Enter: keep  Esc: "
                                        "clear");
    m.filter_editing = 0;
    m.filter_text[0] = '\0';
    m.paused = 1;
    draw_at(&m, 120, 50);
    assert_non_null(strstr(row(0), "PAUSED"));
    m.paused = 0;
    m.show_help = 1;
    draw_at(&m, 120, 50);
    must_show("tt-alloc-monitor keys");
    must_show("Bars: green < 75 % <= yellow < 90 % <= red; the mark is the peak.");
    model_free(&m);
}

static void test_without_server(void **state)
{
    (void)state;
    struct model m;
    model_init(&m, 500);
    struct sysfs_device *devs = calloc(1, sizeof(*devs));
    assert_non_null(devs);
    sysfs_device_unknown(&devs[0], 3);
    strcpy(devs[0].card_type, "n300");
    assert_int_equal(model_set_sysfs(&m, devs, 1), 0);
    draw_at(&m, 100, 40);
    must_show("device 3");
    must_show("(no server)");
    must_show("used unknown / 12.0 GiB");
    for (int y = 1; y < LINES - 1; y++)
        assert_null(strchr(row(y), '%')); /* no made-up percentages */
    must_show("no server, and no process in tt-kmd's pids files or TT-Metal's SHM");
    model_free(&m);

    model_init(&m, 500);
    draw_at(&m, 100, 40);
    must_show("no Tenstorrent devices (none in sysfs, none reported by the server)");
    model_free(&m);
}

static void test_every_size(void **state)
{
    (void)state;
    struct model m;
    model_two_devices(&m);
    m.show_help = 1;
    const int sizes[][2] = {{1, 1},  {5, 1},   {19, 2},   {20, 3},  {20, 5},
                            {40, 8}, {80, 24}, {300, 80}, {200, 7}, {30, 200}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int help = 0; help < 2; help++) {
            m.show_help = help;
            draw_at(&m, sizes[i][0], sizes[i][1]);
            assert_int_equal(COLS, sizes[i][0]);
            assert_int_equal(LINES, sizes[i][1]);
            if (COLS < 20 || LINES < 3) {
                assert_int_equal(
                    strncmp(row(0), "terminal too small", (size_t)COLS < 18 ? (size_t)COLS : 18),
                    0);
                continue;
            }
            assert_int_equal(strncmp(row(0), " tt-alloc-monitor", 17 < COLS ? 17 : (size_t)COLS),
                             0);
            for (int y = 0; y < LINES; y++)
                assert_true(strlen(row(y)) <= (size_t)COLS);
        }
    }
    /* 80x24: the first device, its processes and the status all fit */
    m.show_help = 0;
    draw_at(&m, 80, 24);
    must_show("device 0  n150");
    must_show("    4242 ");
    assert_non_null(strstr(row(23), " server: connected"));
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices_bars_and_levels),
        cmocka_unit_test(test_processes_leaks_and_status),
        cmocka_unit_test(test_without_server),
        cmocka_unit_test(test_every_size),
    };
    return cmocka_run_group_tests(tests, screen_open, screen_close);
}
