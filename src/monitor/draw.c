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

#include "text.h"

enum draw_pair { PAIR_GREEN = 1, PAIR_YELLOW, PAIR_RED, PAIR_TITLE, PAIR_DIM, PAIR_LEAK,
                 PAIR_BAD };

struct draw_glyphs {
    const wchar_t *full;        /* a used cell */
    const wchar_t *partial[8];  /* 1/8 .. 7/8 of a cell (index 0 unused) */
    const wchar_t *free;        /* an unused cell */
    const wchar_t *peak;        /* the peak mark */
    const wchar_t *graph[9];    /* graph cell filled 0/8 .. 8/8 from the bottom */
    const wchar_t *selected;    /* marks the selected device */
};

static const struct draw_glyphs draw_unicode = {
    L"\u2588",
    {L"", L"\u258f", L"\u258e", L"\u258d", L"\u258c", L"\u258b", L"\u258a", L"\u2589"},
    L"\u00b7",
    L"\u2503",
    {L" ", L"\u2581", L"\u2582", L"\u2583", L"\u2584", L"\u2585", L"\u2586", L"\u2587",
     L"\u2588"},
    L"\u25b6",
};

static const struct draw_glyphs draw_ascii = {
    L"#",
    {L"", L"#", L"#", L"#", L"#", L"#", L"#", L"#"},
    L".",
    L"|",
    {L" ", L".", L".", L".", L":", L":", L":", L"#", L"#"},
    L">",
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
    case MODEL_LEVEL_GREEN: return COLOR_PAIR(PAIR_GREEN);
    case MODEL_LEVEL_YELLOW: return COLOR_PAIR(PAIR_YELLOW) | A_BOLD;
    case MODEL_LEVEL_RED: return COLOR_PAIR(PAIR_RED) | A_BOLD;
    case MODEL_LEVEL_UNKNOWN: break;
    }
    return A_NORMAL;
}

static attr_t draw_pair_attr(enum draw_pair pair, attr_t mono)
{
    return draw_color ? COLOR_PAIR(pair) : mono;
}

/* Text at (y, x), cut at the right edge of the screen. */
static void draw_text(int y, int x, attr_t attr, const char *s)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    attrset(attr);
    mvaddnstr(y, x, s, COLS - x);
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
#define DRAW_LABEL_W 11      /* "   L1_SMALL " */
#define DRAW_AMOUNT_W 21     /* "1.50 GiB / 12.0 GiB" */
#define DRAW_PCT_W 7         /* " 100.0%" */

static void draw_device_header(int y, const struct model *m, const struct model_device *d,
                               int selected)
{
    char facts[160], line[256];
    text_device_facts(facts, sizeof(facts), d);
    if (d->used_known)
        snprintf(line, sizeof(line), "device %u  %s  buffers %llu  processes %u", d->id, facts,
                 (unsigned long long)d->buffers, d->processes);
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
    char amount[64], pct[16];
    draw_text(y, 3, A_NORMAL, model_type_label(t));
    int x = DRAW_LABEL_W + 1;
    if (!d->used_known) {
        if (d->total[t]) {
            text_bytes(amount, sizeof(amount), d->total[t]);
            char line[96];
            snprintf(line, sizeof(line), "used unknown / %s", amount);
            draw_text(y, x, draw_pair_attr(PAIR_DIM, A_DIM), line);
        } else {
            draw_text(y, x, draw_pair_attr(PAIR_DIM, A_DIM), "used unknown");
        }
        return;
    }
    text_used_total(amount, sizeof(amount), d->used[t], d->total[t]);
    text_percent(pct, sizeof(pct), d->used[t], d->total[t]);
    int bar_w = COLS - x - 2 - 1 - DRAW_AMOUNT_W - DRAW_PCT_W;
    if (d->total[t] && bar_w >= 8) {
        draw_text(y, x, A_NORMAL, "[");
        draw_bar(y, x + 1, bar_w, d->used[t], d->peak[t], d->total[t]);
        draw_text(y, x + 1 + bar_w, A_NORMAL, "]");
        x += bar_w + 3;
    } else if (d->total[t] == 0 && bar_w >= 8) {
        /* No total: no bar and no percentage, only the amount. */
        x += bar_w + 3;
    }
    char line[96];
    snprintf(line, sizeof(line), "%*s", DRAW_AMOUNT_W, amount);
    draw_text(y, x, A_NORMAL, line);
    snprintf(line, sizeof(line), "%*s", DRAW_PCT_W, pct);
    draw_text(y, x + DRAW_AMOUNT_W, draw_level_attr(model_level(d->used[t], d->total[t])), line);
}

/* The panels in rows [top, top + height), scrolled to show the selected one. */
static void draw_devices(const struct model *m, int top, int height)
{
    if (height <= 0)
        return;
    if (m->n_visible == 0) {
        draw_text(top, 2, A_BOLD,
                  m->n_filter ? "no devices matching -d (waiting for them to appear)"
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
static void draw_graph_series(const struct model_device *d, enum ttalloc_buffer_type t,
                              int top, int rows, int64_t now_ms)
{
    int width = COLS - DRAW_GRAPH_LABEL_W - 1;
    if (width > MODEL_HISTORY_LEN)
        width = MODEL_HISTORY_LEN;
    if (width < 4 || rows < 1)
        return;
    /* Scale: the total when known, else the highest value in view. */
    uint64_t scale = d->total[t];
    if (scale == 0)
        for (int age = 0; age < width; age++) {
            struct model_sample s = model_history_get(&d->history, now_ms, age);
            uint64_t v = t == TTALLOC_DRAM ? s.dram : s.l1;
            if (s.valid && v > scale)
                scale = v;
        }
    char label[32];
    snprintf(label, sizeof(label), "%s", model_type_label(t));
    draw_text(top, 1, A_BOLD, label);
    if (d->total[t])
        text_percent(label, sizeof(label), d->used[t], d->total[t]);
    else
        text_bytes(label, sizeof(label), scale);  /* the top of the scale */
    if (rows > 1 && d->used_known)
        draw_text(top + 1, 1, A_NORMAL, label);
    int x0 = DRAW_GRAPH_LABEL_W;
    for (int col = 0; col < width; col++) {
        int age = width - 1 - col;
        struct model_sample s = model_history_get(&d->history, now_ms, age);
        uint64_t v = t == TTALLOC_DRAM ? s.dram : s.l1;
        size_t eighths = s.valid && scale ? text_cells(v, scale, (size_t)rows * 8) : 0;
        if (s.valid && v > 0 && eighths == 0)
            eighths = 1;  /* something, however little, shows */
        attr_t attr = d->total[t] ? draw_level_attr(model_level(v, d->total[t]))
                                  : draw_pair_attr(PAIR_GREEN, A_NORMAL);
        for (int r = 0; r < rows; r++) {
            int y = top + rows - 1 - r;
            size_t base = (size_t)r * 8;
            size_t level = eighths >= base + 8 ? 8 : eighths > base ? eighths - base : 0;
            if (level == 0 && r == 0 && !s.valid)
                continue;  /* no data: leave a gap */
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
    snprintf(line, sizeof(line), " history of device %u, last %d:%02d (one column = %d s, highest use)",
             d->id, seconds / 60, seconds % 60, MODEL_HISTORY_PERIOD_MS / 1000);
    draw_band(top, A_REVERSE, line);
    draw_graph_series(d, TTALLOC_DRAM, top + 1, rows, now_ms);
    draw_graph_series(d, TTALLOC_L1, top + 1 + rows, rows, now_ms);
}

/* ---- processes and buffers ---------------------------------------------- */

static void draw_processes(const struct model *m, int top, int height)
{
    if (height <= 0)
        return;
    const struct model_device *d = model_selected_device(m);
    char line[256], pid[12], name[24], dram[12], l1[12], bufs[12];
    /* The sort column is marked with a '*'. */
    snprintf(pid, sizeof(pid), "%sPID", m->sort == MODEL_SORT_PID ? "*" : "");
    snprintf(name, sizeof(name), "%sNAME", m->sort == MODEL_SORT_NAME ? "*" : "");
    snprintf(dram, sizeof(dram), "%sDRAM", m->sort == MODEL_SORT_DRAM ? "*" : "");
    snprintf(l1, sizeof(l1), "%sL1", m->sort == MODEL_SORT_L1 ? "*" : "");
    snprintf(bufs, sizeof(bufs), "%sBUFFERS", m->sort == MODEL_SORT_BUFFERS ? "*" : "");
    snprintf(line, sizeof(line), "%8s  %-10s %-20s %10s %10s %10s %8s", pid, "USER", name, dram,
             l1, "OTHER", bufs);
    draw_band(top, A_REVERSE, line);
    if (d && height > 1 && m->n_procs == 0)
        draw_text(top + 1, 2, A_NORMAL,
                  m->conn == MODEL_CONN_UP ? "no process holds memory on this device"
                                           : "no server: processes unknown");
    int rows = height - 1;
    long sel = model_selected_proc_index(m);
    long first = 0;
    if (sel >= rows)
        first = sel - rows + 1;
    for (long i = first; i < (long)m->n_procs && i - first < rows; i++) {
        const struct model_proc *p = &m->procs[i];
        char dram[24], l1[24], other[24], name[TTALLOC_NAME_MAX + TTALLOC_LABEL_MAX + 4];
        text_bytes(dram, sizeof(dram), p->bytes[TTALLOC_DRAM]);
        text_bytes(l1, sizeof(l1), p->bytes[TTALLOC_L1]);
        text_bytes(other, sizeof(other), p->bytes[TTALLOC_L1_SMALL] + p->bytes[TTALLOC_TRACE] +
                                             p->bytes[TTALLOC_CB]);
        if (p->label[0])
            snprintf(name, sizeof(name), "%s [%s]", p->name, p->label);
        else
            snprintf(name, sizeof(name), "%s", p->name[0] ? p->name : "?");
        snprintf(line, sizeof(line), "%8d  %-10.10s %-20.20s %10s %10s %10s %8llu", p->pid,
                 text_user(p->uid), name, dram, l1, other, (unsigned long long)p->buffers);
        int y = top + 1 + (int)(i - first);
        if (i == sel) {
            draw_band(y, A_REVERSE, line);
        } else {
            draw_text(y, 0, A_NORMAL, line);
        }
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
        snprintf(line, sizeof(line), "%8s  %-9s %12s  %-18s", "DEVICE", "TYPE", "SIZE", "ADDRESS");
        draw_text(top + 1, 0, A_BOLD, line);
    }
    if (height > 2 && m->n_buffers == 0)
        draw_text(top + 2, 2, A_NORMAL, "no live buffers");
    for (size_t i = 0; i < m->n_buffers && (int)i < height - 2; i++) {
        const struct ttalloc_buffer *b = &m->buffers[i];
        char size[24];
        text_bytes(size, sizeof(size), b->size);
        snprintf(line, sizeof(line), "%8u  %-9s %12s  0x%016llx", b->device,
                 model_type_label((enum ttalloc_buffer_type)b->type), size,
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

static void draw_exits(const struct model *m, int top, int height)
{
    if (height < 2)
        return;
    attr_t leak = draw_pair_attr(PAIR_LEAK, A_REVERSE | A_BOLD);
    draw_band(top, leak, " exited with buffers left behind (newest first)");
    int y = top + 1;
    for (size_t i = m->n_exits; i-- > 0 && y < top + height;) {
        const struct ttalloc_exit *e = &m->exits[i];
        if (!model_filter_allows(m, e->device))
            continue;
        char when[16], dram[24], l1[24], line[200];
        uint64_t nbuf = 0;
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            nbuf += e->buffers[t];
        text_clock(when, sizeof(when), e->time_ns);
        text_bytes(dram, sizeof(dram), e->bytes[TTALLOC_DRAM]);
        text_bytes(l1, sizeof(l1), e->bytes[TTALLOC_L1]);
        snprintf(line, sizeof(line), " LEAK %s  pid %d %-.31s  device %u: DRAM %s, L1 %s, %llu buffers",
                 when, e->pid, e->name, e->device, dram, l1, (unsigned long long)nbuf);
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

static void draw_status(const struct model *m, int y)
{
    char server[200], line[320];
    text_server_status(server, sizeof(server), m);
    snprintf(line, sizeof(line), " server: %s | refresh %u ms%s | sort %s | h help  q quit",
             server, m->refresh_ms, m->paused ? " | PAUSED" : "", model_sort_name(m->sort));
    attr_t attr = m->conn == MODEL_CONN_UP ? A_REVERSE : draw_pair_attr(PAIR_BAD, A_REVERSE | A_BOLD);
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
        "  p                 pause / resume",
        "  + / -             refresh faster / slower",
        "  h or ?            this help (any key closes it)",
        "  q                 quit",
        "",
        "Bars: green < 75 % <= yellow < 90 % <= red; the mark is the peak.",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    int w = 70 < COLS - 2 ? 70 : COLS - 2;
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
    int procs_want = 1 + (m->buffers_pid ? 1 + (int)(m->n_buffers ? m->n_buffers : 1)
                                         : (int)(m->n_procs ? m->n_procs : 1));
    int procs_h = procs_want < 4 ? procs_want : 4;
    if (procs_h > rest)
        procs_h = rest;
    rest -= procs_h;
    int graph_h = rest >= 16 ? 9 : rest >= 7 ? 5 : rest >= 3 ? 3 : 0;
    rest -= graph_h;
    int exits_n = (int)draw_exits_shown(m);
    int exits_h = exits_n ? 1 + (exits_n < 4 ? exits_n : 4) : 0;
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
    if (m->buffers_pid)
        draw_buffers(m, top, procs_h);
    else
        draw_processes(m, top, procs_h);
    top += procs_h;
    draw_exits(m, top, exits_h);
    if (m->show_help)
        draw_help();
}
