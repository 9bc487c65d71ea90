/* SPDX-License-Identifier: Apache-2.0 */
/*
 * draw.c - the curses screen of tt-alloc-monitor (see draw.h).
 *
 * Layout, top to bottom: a title line; the device panels (a header line and
 * one bar per memory type each; they scroll to keep the selected device in
 * view); the history graph of the selected device; its processes or one
 * process's buffers; the leak report; a status line. Each part gets rows in
 * that order of priority, so a small terminal shows the most important parts
 * and a tiny one a single line saying it is too small.
 *
 * All glyphs come from one table: Unicode blocks in a UTF-8 locale, ASCII
 * otherwise. Colour is an attribute the mono terminal replaces by bold.
 */
#define NCURSES_WIDECHAR 1
#include "draw.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "columns.h"
#include "termtext.h"
#include "text.h"

enum draw_pair { PAIR_GREEN = 1, PAIR_YELLOW, PAIR_RED, PAIR_TITLE, PAIR_DIM, PAIR_LEAK, PAIR_BAD };

struct draw_glyphs {
    const wchar_t *full;       /* a used cell */
    const wchar_t *partial[8]; /* 1/8 .. 7/8 of a cell (index 0 unused) */
    const wchar_t *free;       /* an unused cell */
    const wchar_t *peak;       /* the peak mark */
    const wchar_t *graph[9];   /* graph cell filled 0/8 .. 8/8 from the bottom */
    const wchar_t *selected;   /* marks the selected device */
};

static const struct draw_glyphs draw_unicode = {
    L"\u2588",
    {L"", L"\u258f", L"\u258e", L"\u258d", L"\u258c", L"\u258b", L"\u258a", L"\u2589"},
    L"\u00b7",
    L"\u2503",
    {L" ", L"\u2581", L"\u2582", L"\u2583", L"\u2584", L"\u2585", L"\u2586", L"\u2587", L"\u2588"},
    L"\u25b6",
};

static const struct draw_glyphs draw_ascii = {
    L"#", {L"", L"#", L"#", L"#", L"#", L"#", L"#", L"#"},        L".",
    L"|", {L" ", L".", L".", L".", L":", L":", L":", L"#", L"#"}, L">",
};

static const struct draw_glyphs *draw_g = &draw_ascii;
static int draw_color;

void draw_init(int use_color, int use_unicode)
{
    draw_g = use_unicode ? &draw_unicode : &draw_ascii;
    draw_color = use_color && has_colors();
    if (!draw_color)
        return;
    start_color();
    use_default_colors();
    init_pair(PAIR_GREEN, COLOR_GREEN, -1);
    init_pair(PAIR_YELLOW, COLOR_YELLOW, -1);
    init_pair(PAIR_RED, COLOR_RED, -1);
    init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
    init_pair(PAIR_DIM, COLOR_BLUE, -1);
    init_pair(PAIR_LEAK, COLOR_WHITE, COLOR_RED);
    init_pair(PAIR_BAD, COLOR_WHITE, COLOR_RED);
}

/* The attribute of a bar at this level; bold stands in for colour. */
static attr_t draw_level_attr(enum model_level level)
{
    if (!draw_color)
        return level == MODEL_LEVEL_RED || level == MODEL_LEVEL_YELLOW ? A_BOLD : A_NORMAL;
    switch (level) {
    case MODEL_LEVEL_GREEN:
        return COLOR_PAIR(PAIR_GREEN);
    case MODEL_LEVEL_YELLOW:
        return COLOR_PAIR(PAIR_YELLOW) | A_BOLD;
    case MODEL_LEVEL_RED:
        return COLOR_PAIR(PAIR_RED) | A_BOLD;
    case MODEL_LEVEL_UNKNOWN:
        break;
    }
    return A_NORMAL;
}

static attr_t draw_pair_attr(enum draw_pair pair, attr_t mono)
{
    return draw_color ? COLOR_PAIR(pair) : mono;
}

/* Text at (y, x), cut at the right edge of the screen. Every string goes
 * through termtext: names in bands and prompts are anyone's text, and a
 * cut must fall between characters. */
static void draw_text(int y, int x, attr_t attr, const char *s)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    char safe[4096]; /* a wide terminal's line of 3-byte bar characters */
    termtext_fit(safe, sizeof(safe), s, (size_t)(COLS - x));
    attrset(attr);
    mvaddstr(y, x, safe);
    attrset(A_NORMAL);
}

static void draw_glyph(int y, int x, attr_t attr, const wchar_t *g)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS)
        return;
    attrset(attr);
    mvaddwstr(y, x, g);
    attrset(A_NORMAL);
}

/* A whole line of the screen in one attribute (title, status, headers). */
static void draw_band(int y, attr_t attr, const char *s)
{
    attrset(attr);
    mvhline(y, 0, ' ', COLS);
    attrset(A_NORMAL);
    draw_text(y, 0, attr, s);
}

/* A bar of `width` cells at (y, x): used in the level's colour with 1/8-cell
 * precision, free cells dim, the peak mark where the peak is. */
static void draw_bar(int y, int x, int width, uint64_t used, uint64_t peak, uint64_t total)
{
    attr_t fill_attr = draw_level_attr(model_level(used, total));
    attr_t free_attr = draw_pair_attr(PAIR_DIM, A_DIM);
    size_t eighths = text_cells(used, total, (size_t)width * 8);
    size_t mark = text_cells(peak, total, (size_t)width);
    if (mark >= (size_t)width)
        mark = (size_t)width - 1;
    for (int i = 0; i < width; i++) {
        size_t cell_start = (size_t)i * 8;
        if (eighths >= cell_start + 8)
            draw_glyph(y, x + i, fill_attr, draw_g->full);
        else if (eighths > cell_start)
            draw_glyph(y, x + i, fill_attr, draw_g->partial[eighths - cell_start]);
        else
            draw_glyph(y, x + i, free_attr, draw_g->free);
    }
    if (peak > used && mark * 8 >= eighths)
        draw_glyph(y, x + (int)mark, draw_level_attr(model_level(peak, total)) | A_BOLD,
                   draw_g->peak);
}

/* ---- device panels ------------------------------------------------------ */

#define DRAW_PANEL_ROWS (1 + MODEL_NUM_BARS)
#define DRAW_LABEL_W 11  /* "   L1_SMALL " */
#define DRAW_AMOUNT_W 21 /* "1.50 GiB / 12.0 GiB" */
#define DRAW_PCT_W 7     /* " 100.0%" */

static void draw_device_header(int y, const struct model *m, const struct model_device *d,
                               int selected)
{
    char facts[160], line[256];
    text_device_facts(facts, sizeof(facts), d);
    if (d->used_known && m->conn != MODEL_CONN_UP)
        snprintf(line, sizeof(line), "device %u  %s  (no server: memory from TT-Metal's SHM)",
                 d->id, facts);
    else if (d->used_known)
        snprintf(line, sizeof(line), "device %u  %s  buffers %llu  processes %u", d->id, facts,
                 (unsigned long long)d->stats.buffers, d->stats.processes);
    else
        snprintf(line, sizeof(line), "device %u  %s  (%s)", d->id, facts,
                 m->conn == MODEL_CONN_UP ? "not reported" : "no server");
    attr_t attr = selected ? A_BOLD : A_NORMAL;
    if (selected)
        draw_glyph(y, 0, A_BOLD, draw_g->selected);
    draw_text(y, 2, attr, line);
}

/* One memory type's line: label, bar, amount, percent. */
static void draw_type_line(int y, const struct model_device *d, enum ttalloc_buffer_type t)
{
    char amount[64], pct[16], name[24];
    text_type_name(name, sizeof(name), t);
    draw_text(y, 3, A_NORMAL, name);
    int x = DRAW_LABEL_W + 1;
    if (!d->used_known) {
        if (d->stats.total[t]) {
            bytesize_format(amount, sizeof(amount), d->stats.total[t]);
            char line[96];
            snprintf(line, sizeof(line), "used unknown / %s", amount);
            draw_text(y, x, draw_pair_attr(PAIR_DIM, A_DIM), line);
        } else {
            draw_text(y, x, draw_pair_attr(PAIR_DIM, A_DIM), "used unknown");
        }
        return;
    }
    text_used_total(amount, sizeof(amount), d->stats.used[t], d->stats.total[t]);
    text_percent(pct, sizeof(pct), d->stats.used[t], d->stats.total[t]);
    int bar_w = COLS - x - 2 - 1 - DRAW_AMOUNT_W - DRAW_PCT_W;
    if (d->stats.total[t] && bar_w >= 8) {
        draw_text(y, x, A_NORMAL, "[");
        draw_bar(y, x + 1, bar_w, d->stats.used[t], d->stats.peak[t], d->stats.total[t]);
        draw_text(y, x + 1 + bar_w, A_NORMAL, "]");
        x += bar_w + 3;
    } else if (d->stats.total[t] == 0 && bar_w >= 8) {
        /* No total: no bar and no percentage, only the amount. */
        x += bar_w + 3;
    }
    char line[96];
    snprintf(line, sizeof(line), "%*s", DRAW_AMOUNT_W, amount);
    draw_text(y, x, A_NORMAL, line);
    snprintf(line, sizeof(line), "%*s", DRAW_PCT_W, pct);
    draw_text(y, x + DRAW_AMOUNT_W,
              draw_level_attr(model_level(d->stats.used[t], d->stats.total[t])), line);
}

/* The panels in rows [top, top + height), scrolled to show the selected one. */
static void draw_devices(const struct model *m, int top, int height)
{
    if (height <= 0)
        return;
    if (m->n_visible == 0) {
        draw_text(top, 2, A_BOLD,
                  m->n_filter
                      ? "no devices matching -d (waiting for them to appear)"
                      : "no Tenstorrent devices (none in sysfs, none reported by the server)");
        return;
    }
    int per_screen = height / DRAW_PANEL_ROWS;
    if (per_screen < 1)
        per_screen = 1;
    size_t first = 0;
    if (m->selected >= (size_t)per_screen)
        first = m->selected - (size_t)per_screen + 1;
    int y = top;
    for (size_t i = first; i < m->n_visible && y < top + height; i++) {
        const struct model_device *d = model_visible_device(m, i);
        draw_device_header(y++, m, d, i == m->selected);
        for (int b = 0; b < MODEL_NUM_BARS && y < top + height; b++)
            draw_type_line(y++, d, model_bar_types[b]);
    }
    if (m->n_visible > (size_t)per_screen && height >= DRAW_PANEL_ROWS) {
        char more[64];
        snprintf(more, sizeof(more), " devices %zu-%zu of %zu ", first + 1,
                 first + (size_t)per_screen < m->n_visible ? first + (size_t)per_screen
                                                           : m->n_visible,
                 m->n_visible);
        draw_text(top, COLS - (int)strlen(more), A_REVERSE, more);
    }
}

/* ---- history graph ------------------------------------------------------- */

#define DRAW_GRAPH_LABEL_W 10

/* One series (DRAM or L1) of the selected device, `rows` high, at `top`. */
static void draw_graph_series(const struct model_device *d, enum ttalloc_buffer_type t, int top,
                              int rows, int64_t now_ms)
{
    int width = COLS - DRAW_GRAPH_LABEL_W - 1;
    if (width > MODEL_HISTORY_LEN)
        width = MODEL_HISTORY_LEN;
    if (width < 4 || rows < 1)
        return;
    /* Scale: the total when known, else the highest value in view. */
    uint64_t scale = d->stats.total[t];
    if (scale == 0)
        for (int age = 0; age < width; age++) {
            struct model_sample s = model_history_get(&d->history, now_ms, age);
            uint64_t v = t == TTALLOC_DRAM ? s.dram : s.l1;
            if (s.valid && v > scale)
                scale = v;
        }
    char label[32];
    text_type_name(label, sizeof(label), t);
    draw_text(top, 1, A_BOLD, label);
    if (d->stats.total[t])
        text_percent(label, sizeof(label), d->stats.used[t], d->stats.total[t]);
    else
        bytesize_format(label, sizeof(label), scale); /* the top of the scale */
    if (rows > 1 && d->used_known)
        draw_text(top + 1, 1, A_NORMAL, label);
    int x0 = DRAW_GRAPH_LABEL_W;
    for (int col = 0; col < width; col++) {
        int age = width - 1 - col;
        struct model_sample s = model_history_get(&d->history, now_ms, age);
        uint64_t v = t == TTALLOC_DRAM ? s.dram : s.l1;
        size_t eighths = s.valid && scale ? text_cells(v, scale, (size_t)rows * 8) : 0;
        if (s.valid && v > 0 && eighths == 0)
            eighths = 1; /* something, however little, shows */
        attr_t attr = d->stats.total[t] ? draw_level_attr(model_level(v, d->stats.total[t]))
                                        : draw_pair_attr(PAIR_GREEN, A_NORMAL);
        for (int r = 0; r < rows; r++) {
            int y = top + rows - 1 - r;
            size_t base = (size_t)r * 8;
            size_t level = eighths >= base + 8 ? 8 : eighths > base ? eighths - base : 0;
            if (level == 0 && r == 0 && !s.valid)
                continue; /* no data: leave a gap */
            draw_glyph(y, x0 + col, level ? attr : draw_pair_attr(PAIR_DIM, A_DIM),
                       level ? draw_g->graph[level] : (r == 0 ? draw_g->free : L" "));
        }
    }
}

static void draw_history(const struct model *m, int top, int height, int64_t now_ms)
{
    const struct model_device *d = model_selected_device(m);
    if (!d || height < 3)
        return;
    int rows = (height - 1) / 2;
    int width = COLS - DRAW_GRAPH_LABEL_W - 1;
    if (width > MODEL_HISTORY_LEN)
        width = MODEL_HISTORY_LEN;
    char line[160];
    int seconds = width * MODEL_HISTORY_PERIOD_MS / 1000;
    snprintf(line, sizeof(line),
             " history of device %u, last %d:%02d (one column = %d s, highest use)", d->id,
             seconds / 60, seconds % 60, MODEL_HISTORY_PERIOD_MS / 1000);
    draw_band(top, A_REVERSE, line);
    draw_graph_series(d, TTALLOC_DRAM, top + 1, rows, now_ms);
    draw_graph_series(d, TTALLOC_L1, top + 1 + rows, rows, now_ms);
}

/* ---- processes and buffers ---------------------------------------------- */

/* A table's lines: up to COLUMNS_MAX columns of a few dozen characters. */
#define DRAW_LINE_MAX 512

static void draw_processes(const struct model *m, int top, int height)
{
    if (height <= 0)
        return;
    const struct model_device *d = model_selected_device(m);
    char line[DRAW_LINE_MAX];
    int widths[COLUMNS_MAX];
    columns_layout(&columns_procs, COLS - 1, widths);
    line[0] = ' ';
    columns_header(&columns_procs, widths, m->sort, line + 1, sizeof(line) - 1);
    draw_band(top, A_REVERSE, line);
    if (d && height > 1 && m->n_procs == 0) {
        const char *why = "no process holds memory on this device";
        if (m->filter_text[0])
            why = "no process matches the filter (Esc or / then Esc clears it)";
        else if (m->conn != MODEL_CONN_UP)
            why = "no server, and no process in tt-kmd's pids files or TT-Metal's SHM";
        draw_text(top + 1, 2, A_NORMAL, why);
    }
    int rows = height - 1;
    long sel = model_selected_proc_index(m);
    long first = 0;
    if (sel >= rows)
        first = sel - rows + 1;
    for (long i = first; i < (long)m->n_procs && i - first < rows; i++) {
        line[0] = ' ';
        columns_row(&columns_procs, widths, &m->procs[i], line + 1, sizeof(line) - 1);
        int y = top + 1 + (int)(i - first);
        if (i == sel)
            draw_band(y, A_REVERSE, line);
        else
            draw_text(y, 0, A_NORMAL, line);
    }
}

static void draw_buffers(const struct model *m, int top, int height)
{
    if (height <= 0)
        return;
    const struct ttalloc_process_info *p = model_find_process(m, m->buffers_pid);
    char line[256];
    snprintf(line, sizeof(line), " buffers of %d %s, largest first (%zu shown)   Enter/Esc: back",
             m->buffers_pid, p ? p->name : "(gone)", m->n_buffers);
    draw_band(top, A_REVERSE, line);
    if (height > 1) {
        snprintf(line, sizeof(line), "%8s  %-13s %12s  %-18s", "DEVICE", "TYPE", "SIZE", "ADDRESS");
        draw_text(top + 1, 0, A_BOLD, line);
    }
    if (height > 2 && m->n_buffers == 0)
        draw_text(top + 2, 2, A_NORMAL, "no live buffers");
    for (size_t i = 0; i < m->n_buffers && (int)i < height - 2; i++) {
        const struct ttalloc_buffer *b = &m->buffers[i];
        char size[24], type[24];
        bytesize_format(size, sizeof(size), b->size);
        text_type_name(type, sizeof(type), (enum ttalloc_buffer_type)b->type);
        snprintf(line, sizeof(line), "%8u  %-13s %12s  0x%016llx", b->device, type, size,
                 (unsigned long long)b->address);
        draw_text(top + 2 + (int)i, 0, A_NORMAL, line);
    }
}

/* ---- leak report, title, status, help ------------------------------------ */

static size_t draw_exits_shown(const struct model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_exits; i++)
        if (model_filter_allows(m, m->exits[i].device))
            n++;
    return n;
}

/* The leak report at the bottom (newest first, as many as fit) or, with
 * `full`, the leak history in place of the process list. */
static void draw_exits(const struct model *m, int top, int height, int full)
{
    if (height < 2)
        return;
    attr_t leak = draw_pair_attr(PAIR_LEAK, A_REVERSE | A_BOLD);
    char line[DRAW_LINE_MAX];
    int widths[COLUMNS_MAX];
    size_t shown = draw_exits_shown(m);
    if (full)
        snprintf(line, sizeof(line),
                 " leak history: %zu process%s ended with buffers still live (newest first)"
                 "   l/Esc: back",
                 shown, shown == 1 ? "" : "es");
    else
        snprintf(line, sizeof(line), " exited with buffers left behind (newest first)   l: all");
    draw_band(top, leak, line);
    columns_layout(&columns_exits, COLS - 1, widths);
    int y = top + 1;
    if (full || height >= 3) {
        line[0] = ' ';
        columns_header(&columns_exits, widths, MODEL_SORT_COUNT, line + 1, sizeof(line) - 1);
        draw_text(y++, 0, A_BOLD, line);
    }
    if (full) {
        if (shown == 0 && y < top + height)
            draw_text(y, 2, A_NORMAL,
                      m->conn == MODEL_CONN_UP ? "no process ended with buffers still live"
                                               : "no server: the leak history is the server's");
    }
    for (size_t i = m->n_exits; i-- > 0 && y < top + height;) {
        const struct ttalloc_exit *e = &m->exits[i];
        if (!model_filter_allows(m, e->device))
            continue;
        line[0] = ' ';
        columns_row(&columns_exits, widths, e, line + 1, sizeof(line) - 1);
        draw_text(y++, 0, draw_pair_attr(PAIR_RED, A_BOLD) | A_BOLD, line);
    }
}

static void draw_title(const struct model *m, uint64_t now_ns)
{
    char clock[16], line[256];
    text_clock(clock, sizeof(clock), now_ns);
    snprintf(line, sizeof(line), " tt-alloc-monitor %s   %s   %zu device%s%s",
             TTALLOC_VERSION_STRING, clock, m->n_visible, m->n_visible == 1 ? "" : "s",
             m->paused ? "   PAUSED" : "");
    draw_band(0, draw_pair_attr(PAIR_TITLE, A_REVERSE), line);
}

/* The status line: a question (kill), the filter being typed, a result,
 * else the server, refresh, sort and filter. */
static void draw_status(const struct model *m, int y)
{
    char line[400], filter[MODEL_FILTER_TEXT_MAX + 16] = "";
    if (m->kill_pid) {
        snprintf(line, sizeof(line), " Send SIGTERM to %d (%s)? y/n", m->kill_pid,
                 m->kill_name[0] ? m->kill_name : "?");
        draw_band(y, draw_pair_attr(PAIR_BAD, A_REVERSE | A_BOLD), line);
        return;
    }
    if (m->filter_editing) {
        snprintf(line, sizeof(line), " filter (name, label or PID): %s_   Enter: keep  Esc: clear",
                 m->filter_text);
        draw_band(y, A_REVERSE | A_BOLD, line);
        return;
    }
    if (m->message[0]) {
        snprintf(line, sizeof(line), " %s", m->message);
        draw_band(y, A_REVERSE | A_BOLD, line);
        return;
    }
    /* The socket's path last: a long one is what gets cut at the edge. */
    if (m->filter_text[0])
        snprintf(filter, sizeof(filter), " | filter \"%s\"", m->filter_text);
    snprintf(line, sizeof(line),
             " server: %s | sort %s%s%s | refresh %u ms%s | h help  q quit | %s",
             text_server_state(m), model_sort_name(m->sort), m->reverse ? " reversed" : "", filter,
             m->refresh_ms, m->paused ? " | PAUSED" : "",
             m->socket_path[0] ? m->socket_path : "default socket");
    attr_t attr =
        m->conn == MODEL_CONN_UP ? A_REVERSE : draw_pair_attr(PAIR_BAD, A_REVERSE | A_BOLD);
    draw_band(y, attr, line);
}

static void draw_help(void)
{
    static const char *const lines[] = {
        "tt-alloc-monitor keys",
        "",
        "  Left/Right, Tab   select the device",
        "  Up/Down           select a process",
        "  Enter             the process's largest buffers (again: back)",
        "  s                 sort processes: DRAM, L1, BUFFERS, PID, NAME",
        "  r or I            reverse the sort order (I as in htop)",
        "  /                 filter by name, label or PID (Esc clears)",
        "  k                 send SIGTERM to the selected process (asks y/n)",
        "  l                 the leak history: processes that ended with",
        "                    buffers still live (again or Esc: back)",
        "  p                 pause / resume",
        "  + / -             refresh faster / slower",
        "  h or ?            this help (any key closes it)",
        "  q                 quit",
        "",
        "Bars: green < 75 % <= yellow < 90 % <= red; the mark is the peak.",
        "FROM: server, shm (TT-Metal's SHM statistics) or pids (tt-kmd's",
        "pids files: it holds the device, figures unknown).",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    int w = 76 < COLS - 2 ? 76 : COLS - 2;
    int h = n + 2 < LINES - 2 ? n + 2 : LINES - 2;
    if (w < 10 || h < 3)
        return;
    int top = (LINES - h) / 2, left = (COLS - w) / 2;
    for (int y = 0; y < h; y++) {
        attrset(A_REVERSE);
        mvhline(top + y, left, ' ', w);
        attrset(A_NORMAL);
    }
    for (int i = 0; i < n && i < h - 2; i++) {
        attrset(A_REVERSE | (i == 0 ? A_BOLD : A_NORMAL));
        mvaddnstr(top + 1 + i, left + 2, lines[i], w - 4);
    }
    attrset(A_NORMAL);
}

/* ---- the frame ----------------------------------------------------------- */

#define DRAW_MIN_COLS 20
#define DRAW_MIN_LINES 3

void draw_frame(const struct model *m, int64_t now_ms, uint64_t now_ns)
{
    erase();
    if (COLS < DRAW_MIN_COLS || LINES < DRAW_MIN_LINES) {
        draw_text(0, 0, A_BOLD, "terminal too small");
        return;
    }
    draw_title(m, now_ns);
    draw_status(m, LINES - 1);
    int top = 1, avail = LINES - 2;

    /* Rows for each part, by priority: the devices (at least the selected
     * panel), the processes, the history, the leak report, then more devices. */
    int dev_want = m->n_visible ? (int)m->n_visible * DRAW_PANEL_ROWS : 1;
    int dev_h = dev_want < DRAW_PANEL_ROWS ? dev_want : DRAW_PANEL_ROWS;
    if (dev_h > avail)
        dev_h = avail;
    int rest = avail - dev_h;
    int procs_want = 1 + (m->show_exits    ? 1 + (int)(m->n_exits ? m->n_exits : 1)
                          : m->buffers_pid ? 1 + (int)(m->n_buffers ? m->n_buffers : 1)
                                           : (int)(m->n_procs ? m->n_procs : 1));
    int procs_h = procs_want < 4 ? procs_want : 4;
    if (procs_h > rest)
        procs_h = rest;
    rest -= procs_h;
    int graph_h = rest >= 16 ? 9 : rest >= 7 ? 5 : rest >= 3 ? 3 : 0;
    rest -= graph_h;
    int exits_n = m->show_exits ? 0 : (int)draw_exits_shown(m);
    int exits_h = exits_n ? 2 + (exits_n < 4 ? exits_n : 4) : 0; /* band, header, rows */
    if (exits_h > rest)
        exits_h = rest >= 2 ? rest : 0;
    rest -= exits_h;
    /* What is left: more device panels, then more process rows. */
    int more = dev_want - dev_h < rest ? dev_want - dev_h : rest;
    dev_h += more;
    rest -= more;
    procs_h += rest;

    draw_devices(m, top, dev_h);
    top += dev_h;
    draw_history(m, top, graph_h, now_ms);
    top += graph_h;
    if (m->show_exits)
        draw_exits(m, top, procs_h, 1);
    else if (m->buffers_pid)
        draw_buffers(m, top, procs_h);
    else
        draw_processes(m, top, procs_h);
    top += procs_h;
    if (!m->show_exits)
        draw_exits(m, top, exits_h, 0);
    if (m->show_help)
        draw_help();
}
