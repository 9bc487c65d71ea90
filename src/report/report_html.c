/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_html.c - tt-alloc-report --html: one self-contained page (inline
 * SVG, CSS and a few lines of JS; a Content-Security-Policy that forbids
 * every fetch) with, per device and memory type:
 *  - memory over time, stacked by process, the device's peak marked;
 *  - the address map (x time, y address, one box per buffer, as XProf's
 *    memory viewer); hovering a box shows its buffer;
 *  - the buffers live at the DRAM peak and the leaks.
 * It summarises rather than embeds: curves have at most HTML_POINTS points,
 * maps at most HTML_MAX_BOXES boxes (every buffer live at the peak or at the
 * end, then the largest others), and the page says what it left out.
 */
#include "report_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smi_fmt.h"

#define HTML_POINTS 600
#define HTML_MAX_BOXES 2500
#define HTML_TABLE_ROWS 50
#define CHART_W 960
#define CHART_H 220
#define MAP_H 300
#define MARGIN_L 70
#define MARGIN_B 22

static const char *const html_colors[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};
#define N_COLORS (sizeof(html_colors) / sizeof(html_colors[0]))

/* Text as HTML: markup characters escaped, invalid UTF-8 replaced. */
static void html_text(struct strbuf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = strbuf_utf8_len(p);
        if (n == 0) {
            strbuf_append(out, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }
        switch (*p) {
        case '<':
            strbuf_append(out, "&lt;", 4);
            break;
        case '>':
            strbuf_append(out, "&gt;", 4);
            break;
        case '&':
            strbuf_append(out, "&amp;", 5);
            break;
        case '"':
            strbuf_append(out, "&quot;", 6);
            break;
        case '\'':
            strbuf_append(out, "&#39;", 5);
            break;
        default:
            if (*p < 0x20)
                strbuf_append(out, " ", 1);
            else
                strbuf_append(out, (const char *)p, n);
        }
        p += n;
    }
}

static const char *type_name(int type)
{
    const char *n = ttalloc_type_name((enum ttalloc_buffer_type)type);
    return n ? n : "?";
}

static void fmt_bytes(uint64_t bytes, char *out, size_t cap)
{
    smi_fmt_bytes(bytes, out, cap);
}

static size_t process_index(const struct report_model *m, const struct report_process *p)
{
    return (size_t)(p - m->processes);
}

static const char *process_color(const struct report_model *m, int32_t pid)
{
    for (size_t i = 0; i < m->n_processes; i++)
        if (m->processes[i].pid == pid)
            return html_colors[i % N_COLORS];
    return "#888";
}

static const char *process_name(const struct report_model *m, int32_t pid)
{
    for (size_t i = m->n_processes; i-- > 0;)
        if (m->processes[i].pid == pid)
            return m->processes[i].name[0] ? m->processes[i].name : "?";
    return "?";
}

struct axis {
    double t_max_ns; /* x: 0 .. t_max */
    double x0, width;
};

static double axis_x(const struct axis *a, int64_t ns)
{
    double t = ns < 0 ? 0 : (double)ns;
    if (t > a->t_max_ns)
        t = a->t_max_ns;
    return a->x0 + a->width * t / a->t_max_ns;
}

static void time_ticks(struct strbuf *out, const struct axis *a, double y)
{
    for (int i = 0; i <= 5; i++) {
        double t = a->t_max_ns * i / 5;
        double x = a->x0 + a->width * i / 5;
        strbuf_printf(out,
                      "<text x='%.1f' y='%.1f' class='tick' text-anchor='middle'>%.3f s</text>", x,
                      y, t / 1e9);
    }
}

/* ---- memory over time, stacked by process ---- */

/* Values of one curve at n_points points, each summarising per_point
 * buckets: the highest value in the span (highest = 1), or the value at its
 * end (highest = 0: values of different processes at the same instant, so
 * they stack to a true total). */
static void curve_points(const struct report_series *s, int highest, size_t buckets,
                         size_t per_point, uint64_t *out, size_t n_points)
{
    uint64_t carried = 0;
    size_t b = 0;
    for (size_t i = 0; i < n_points; i++) {
        uint64_t mx = carried;
        for (size_t k = 0; k < per_point && b < buckets; k++, b++) {
            if (s->used[b]) {
                if (s->max[b] > mx)
                    mx = s->max[b];
                carried = s->last[b];
            }
        }
        out[i] = highest ? mx : carried;
    }
}

static void html_chart(struct strbuf *out, const struct report_context *ctx,
                       const struct report_device *d, int type, const struct axis *a)
{
    const struct report_model *m = ctx->model;
    int64_t duration = report_model_duration(m);
    size_t buckets = (size_t)(duration / m->bucket_ns) + 1;
    if (buckets > REPORT_BUCKETS)
        buckets = REPORT_BUCKETS;
    size_t per_point = (buckets + HTML_POINTS - 1) / HTML_POINTS;
    size_t n_points = (buckets + per_point - 1) / per_point;
    uint64_t *stack = calloc(n_points, sizeof(*stack));
    uint64_t *values = calloc(n_points, sizeof(*values));
    uint64_t **layers = calloc(m->n_processes, sizeof(*layers));
    if (!stack || !values || !layers) {
        free(stack);
        free(values);
        free(layers);
        strbuf_printf(out, "<p>out of memory drawing this chart</p>");
        return;
    }
    /* first pass: the stacked tops, to scale the y axis */
    uint64_t y_max = d->peak[type];
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        for (size_t j = 0; j < p->n_memory; j++) {
            const struct report_memory *mem = &p->memory[j];
            if (mem->device != d->device || mem->type != type || !mem->series)
                continue;
            layers[i] = calloc(n_points, sizeof(uint64_t));
            if (!layers[i])
                continue;
            curve_points(mem->series, 0, buckets, per_point, values, n_points);
            for (size_t k = 0; k < n_points; k++) {
                stack[k] += values[k];
                layers[i][k] = stack[k];
                if (stack[k] > y_max)
                    y_max = stack[k];
            }
        }
    }
    uint64_t *envelope = calloc(n_points, sizeof(*envelope));
    if (envelope && d->series[type]) {
        curve_points(d->series[type], 1, buckets, per_point, envelope, n_points);
        for (size_t k = 0; k < n_points; k++)
            if (envelope[k] > y_max)
                y_max = envelope[k];
    }
    if (y_max == 0)
        y_max = 1;
    double plot_h = CHART_H - MARGIN_B - 10;
    strbuf_printf(out, "<svg class='chart' viewBox='0 0 %d %d' width='%d' height='%d' role='img'>",
                  CHART_W, CHART_H, CHART_W, CHART_H);
    char top[16];
    fmt_bytes(y_max, top, sizeof(top));
    strbuf_printf(out,
                  "<text x='%d' y='14' class='tick' text-anchor='end'>%s</text>"
                  "<text x='%d' y='%.0f' class='tick' text-anchor='end'>0</text>",
                  MARGIN_L - 4, top, MARGIN_L - 4, 10 + plot_h);
    strbuf_printf(out, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' class='axis'/>", MARGIN_L,
                  10 + plot_h, CHART_W - 10, 10 + plot_h);
    /* draw from the top layer down so each lower layer covers its share */
    uint64_t *below = calloc(n_points, sizeof(*below));
    for (size_t i = 0; below && i < m->n_processes; i++) {
        if (!layers[i])
            continue;
        const struct report_process *p = &m->processes[i];
        strbuf_printf(out, "<polygon fill='%s' fill-opacity='0.85' data-b='",
                      html_colors[i % N_COLORS]);
        html_text(out, p->name[0] ? p->name : "?");
        strbuf_printf(out, " [%d]' points='", p->pid);
        for (size_t k = 0; k < n_points; k++) {
            double x = a->x0 + a->width * (double)k / (double)(n_points > 1 ? n_points - 1 : 1);
            double y = 10 + plot_h - plot_h * (double)layers[i][k] / (double)y_max;
            strbuf_printf(out, "%.1f,%.1f ", x, y);
        }
        for (size_t k = n_points; k-- > 0;) {
            double x = a->x0 + a->width * (double)k / (double)(n_points > 1 ? n_points - 1 : 1);
            double y = 10 + plot_h - plot_h * (double)below[k] / (double)y_max;
            strbuf_printf(out, "%.1f,%.1f ", x, y);
        }
        strbuf_printf(out, "'/>");
        memcpy(below, layers[i], n_points * sizeof(*below));
    }
    free(below);
    /* the device's highest total in each span: the peaks the stack may hide */
    if (envelope && d->series[type]) {
        strbuf_printf(out, "<polyline class='envelope' points='");
        for (size_t k = 0; k < n_points; k++) {
            double x = a->x0 + a->width * (double)k / (double)(n_points > 1 ? n_points - 1 : 1);
            double y = 10 + plot_h - plot_h * (double)envelope[k] / (double)y_max;
            strbuf_printf(out, "%.1f,%.1f ", x, y);
        }
        strbuf_printf(out, "'/>");
    }
    free(envelope);
    /* the peak */
    char peak[16];
    fmt_bytes(d->peak[type], peak, sizeof(peak));
    double px = axis_x(a, d->peak_ns[type]);
    double py = 10 + plot_h - plot_h * (double)d->peak[type] / (double)y_max;
    strbuf_printf(out,
                  "<line x1='%.1f' y1='10' x2='%.1f' y2='%.1f' class='peak'/>"
                  "<circle cx='%.1f' cy='%.1f' r='4' class='peakdot'/>"
                  "<text x='%.1f' y='%.1f' class='peaklabel'%s>peak %s at %.3f s</text>",
                  px, px, 10 + plot_h, px, py, px + (px > CHART_W / 2 ? -6 : 6), py < 24 ? 24 : py,
                  px > CHART_W / 2 ? " text-anchor='end'" : "", peak,
                  (double)d->peak_ns[type] / 1e9);
    time_ticks(out, a, CHART_H - 6);
    strbuf_printf(out, "</svg>\n");
    for (size_t i = 0; i < m->n_processes; i++)
        free(layers[i]);
    free(layers);
    free(stack);
    free(values);
}

/* ---- the address map ---- */

static int box_cmp_identity(const void *a, const void *b)
{
    const struct report_buffer *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    if (x->alloc_ns != y->alloc_ns)
        return x->alloc_ns < y->alloc_ns ? -1 : 1;
    return 0;
}

static int add_box(struct report_buffer **boxes, size_t *n, size_t *cap,
                   const struct report_buffer *b)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        struct report_buffer *p = realloc(*boxes, c * sizeof(*p));
        if (!p)
            return -1;
        *boxes = p;
        *cap = c;
    }
    (*boxes)[(*n)++] = *b;
    return 0;
}

static void html_map(struct strbuf *out, const struct report_context *ctx,
                     const struct report_device *d, int type, const struct axis *a)
{
    const struct report_model *m = ctx->model;
    struct report_buffer *boxes = NULL;
    size_t n = 0, cap = 0;
    /* must-draw first: live at the peak, live at the end, leaked */
    if (type == TTALLOC_DRAM)
        for (size_t i = 0; i < d->n_at_peak; i++)
            add_box(&boxes, &n, &cap, &d->at_peak[i]);
    size_t pos = 0;
    const struct report_buffer *b;
    while ((b = report_model_live_next(m, &pos)))
        if (b->device == d->device && b->type == type)
            add_box(&boxes, &n, &cap, b);
    for (size_t i = 0; i < m->n_processes; i++)
        for (size_t k = 0; k < m->processes[i].n_leaks; k++) {
            b = &m->processes[i].leaks[k];
            if (b->device == d->device && b->type == type)
                add_box(&boxes, &n, &cap, b);
        }
    for (size_t i = 0; i < d->largest[type].count; i++)
        add_box(&boxes, &n, &cap, &d->largest[type].items[i]);
    /* one box per buffer: drop duplicates (a buffer freed after the peak is
     * both at the peak and among the largest) */
    if (n > 1)
        qsort(boxes, n, sizeof(*boxes), box_cmp_identity);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || box_cmp_identity(&boxes[u - 1], &boxes[i]) != 0)
            boxes[u++] = boxes[i];
    n = u;
    if (n > 1)
        qsort(boxes, n, sizeof(*boxes), report_buffer_cmp_largest);
    size_t drawn = n < HTML_MAX_BOXES ? n : HTML_MAX_BOXES;

    uint64_t lo = d->min_address[type], hi = d->max_address[type];
    if (lo == UINT64_MAX || hi <= lo) {
        lo = 0;
        hi = lo + 1;
    }
    double plot_h = MAP_H - MARGIN_B - 10;
    double span = (double)(hi - lo);
    strbuf_printf(out, "<svg class='map' viewBox='0 0 %d %d' width='%d' height='%d' role='img'>",
                  CHART_W, MAP_H, CHART_W, MAP_H);
    strbuf_printf(out,
                  "<text x='%d' y='14' class='tick' text-anchor='end'>0x%llx</text>"
                  "<text x='%d' y='%.0f' class='tick' text-anchor='end'>0x%llx</text>",
                  MARGIN_L - 4, (unsigned long long)hi, MARGIN_L - 4, 10 + plot_h,
                  (unsigned long long)lo);
    strbuf_printf(out, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' class='axis'/>", MARGIN_L,
                  10 + plot_h, CHART_W - 10, 10 + plot_h);
    int64_t end_ns = report_model_duration(m);
    /* smallest last, so they stay on top and can be hovered */
    for (size_t i = drawn; i-- > 0;) {
        b = &boxes[i];
        double x1 = axis_x(a, b->alloc_ns);
        double x2 = axis_x(a, b->free_ns == INT64_MAX ? end_ns : b->free_ns);
        double y2 = 10 + plot_h - plot_h * (double)(b->address - lo) / span;
        double y1 = 10 + plot_h - plot_h * ((double)(b->address - lo) + (double)b->size) / span;
        if (y1 < 10)
            y1 = 10;
        double w = x2 - x1 < 1 ? 1 : x2 - x1, h = y2 - y1 < 1 ? 1 : y2 - y1;
        char size[16];
        fmt_bytes(b->size, size, sizeof(size));
        strbuf_printf(out, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s' data-b='",
                      x1, y1, w, h, process_color(m, b->pid));
        html_text(out, process_name(m, b->pid));
        strbuf_printf(out, " [%d] %s 0x%llx, %s (%llu bytes), %.6f s to ", b->pid, type_name(type),
                      (unsigned long long)b->address, size, (unsigned long long)b->size,
                      (double)b->alloc_ns / 1e9);
        if (b->free_ns == INT64_MAX)
            strbuf_printf(out, "the end (live)'/>");
        else
            strbuf_printf(out, "%.6f s'/>", (double)b->free_ns / 1e9);
    }
    if (type == TTALLOC_DRAM && d->peak[type]) {
        double px = axis_x(a, d->peak_ns[type]);
        strbuf_printf(out, "<line x1='%.1f' y1='10' x2='%.1f' y2='%.1f' class='peak'/>", px, px,
                      10 + plot_h);
    }
    time_ticks(out, a, MAP_H - 6);
    strbuf_printf(out,
                  "</svg>\n<p class='note'>%zu of %llu buffers drawn: every buffer live at "
                  "the peak, at the end or leaked, then the largest others",
                  drawn, (unsigned long long)d->buffers_seen[type]);
    if ((uint64_t)drawn < d->buffers_seen[type])
        strbuf_printf(out, "; %llu smaller buffers left out",
                      (unsigned long long)(d->buffers_seen[type] - drawn));
    strbuf_printf(out, ".</p>\n");
    free(boxes);
}

static void html_buffer_rows(struct strbuf *out, const struct report_model *m,
                             const struct report_buffer *list, size_t n, size_t limit)
{
    strbuf_printf(out, "<table><tr><th>pid</th><th>process</th><th>device</th><th>type</th>"
                       "<th>address</th><th>size</th><th>bytes</th><th>alloc (s)</th></tr>\n");
    size_t shown = n < limit ? n : limit;
    for (size_t i = 0; i < shown; i++) {
        const struct report_buffer *b = &list[i];
        char size[16];
        fmt_bytes(b->size, size, sizeof(size));
        strbuf_printf(out, "<tr><td>%d</td><td>", b->pid);
        html_text(out, process_name(m, b->pid));
        strbuf_printf(out,
                      "</td><td>%u</td><td>%s</td><td>0x%llx</td><td>%s</td><td>%llu</td>"
                      "<td>%.6f</td></tr>\n",
                      b->device, type_name(b->type), (unsigned long long)b->address, size,
                      (unsigned long long)b->size, (double)b->alloc_ns / 1e9);
    }
    strbuf_printf(out, "</table>\n");
    if (shown < n)
        strbuf_printf(out, "<p class='note'>%zu more not shown.</p>\n", n - shown);
}

static const char html_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:20px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ccc}"
    "h3{font-size:15px;margin:18px 0 4px}"
    "table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 10px;border-bottom:1px solid "
    "#eee;"
    "text-align:right}td:nth-child(2),th:nth-child(2){text-align:left}"
    ".tick{font-size:11px;fill:#555}.axis{stroke:#999}.peak{stroke:#d00;stroke-dasharray:4 3}"
    ".envelope{fill:none;stroke:#333;stroke-width:1}.peakdot{fill:#d00}.peaklabel{font-size:12px;"
    "fill:#d00;font-weight:bold}"
    ".map rect{stroke:#fff;stroke-width:0.3}.map "
    "rect:hover,polygon:hover{stroke:#000;stroke-width:1.5}"
    ".note{color:#666;font-size:12px}.legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}"
    "#tip{position:fixed;display:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;"
    "font-size:12px;pointer-events:none;white-space:nowrap}";

static const char html_script[] =
    "(function(){var tip=document.getElementById('tip');"
    "document.addEventListener('mousemove',function(e){var t=e.target;"
    "var text=t&&t.getAttribute?t.getAttribute('data-b'):null;"
    "if(!text){tip.style.display='none';return;}"
    "tip.textContent=text;tip.style.display='block';"
    "tip.style.left=Math.min(e.clientX+12,window.innerWidth-tip.offsetWidth-4)+'px';"
    "tip.style.top=(e.clientY+14)+'px';});})();";

void report_html(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    char start[32];
    report_fmt_utc(ctx->info->start_realtime_ns, start, sizeof(start));
    strbuf_printf(out, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
                       "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                       "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
                       "<title>tt-alloc report: ");
    html_text(out, ctx->path);
    strbuf_printf(out,
                  "</title>\n<style>%s</style></head><body>\n<h1>tt-alloc report: ", html_style);
    html_text(out, ctx->path);
    strbuf_printf(out, "</h1>\n<p>host ");
    html_text(out, ctx->info->host);
    strbuf_printf(out,
                  ", started %s; %.3f s, %zu processes, %llu events, %llu gaps "
                  "(%llu events lost).</p>\n",
                  start, (double)report_model_duration(m) / 1e9, m->n_processes,
                  (unsigned long long)m->events, (unsigned long long)m->gaps,
                  (unsigned long long)m->lost_events);
    if (ctx->truncated || ctx->stopped_why)
        strbuf_printf(out, "<p><b>The file is cut short or damaged: this is its readable "
                           "prefix.</b></p>\n");
    strbuf_printf(out, "<p class='legend'>");
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        strbuf_printf(out, "<span><i style='background:%s'></i>",
                      html_colors[process_index(m, p) % N_COLORS]);
        html_text(out, p->name[0] ? p->name : "?");
        strbuf_printf(out, " [%d]", p->pid);
        if (p->label[0]) {
            strbuf_printf(out, " ");
            html_text(out, p->label);
        }
        strbuf_printf(out, "</span>");
    }
    strbuf_printf(out, "</p>\n");
    if (m->curves_left_out)
        strbuf_printf(out,
                      "<p class='note'>More process curves than %d: the charts stack the "
                      "first %d; the device totals (the line) include every process.</p>\n",
                      REPORT_MAX_CURVES, REPORT_MAX_CURVES);

    struct axis a = {(double)(report_model_duration(m) > 0 ? report_model_duration(m) : 1),
                     MARGIN_L, CHART_W - MARGIN_L - 40};
    for (size_t i = 0; i < m->n_devices; i++) {
        const struct report_device *d = &m->devices[i];
        strbuf_printf(out, "<h2>device %u", d->device);
        if (d->described && d->desc.board_type[0]) {
            strbuf_printf(out, " (");
            html_text(out, d->desc.board_type);
            strbuf_printf(out, ")");
        }
        strbuf_printf(out, "</h2>\n");
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (!d->used_type[t])
                continue;
            char peak[16];
            fmt_bytes(d->peak[t], peak, sizeof(peak));
            strbuf_printf(out, "<h3>%s: peak %s (%llu bytes) at %.6f s</h3>\n", type_name(t), peak,
                          (unsigned long long)d->peak[t], (double)d->peak_ns[t] / 1e9);
            strbuf_printf(out,
                          "<p class='note'>memory over time: the areas stack what each "
                          "process held at each instant; the line is the device's highest total "
                          "between two instants</p>\n");
            html_chart(out, ctx, d, t, &a);
            strbuf_printf(out, "<p class='note'>address over time: one box per buffer, from its "
                               "alloc to its free; hover for details</p>\n");
            html_map(out, ctx, d, t, &a);
        }
        if (d->n_at_peak) {
            strbuf_printf(out, "<h3>buffers live at the DRAM peak (%zu)</h3>\n", d->n_at_peak);
            html_buffer_rows(out, m, d->at_peak, d->n_at_peak, HTML_TABLE_ROWS);
        }
    }

    strbuf_printf(out, "<h2>leaks</h2>\n");
    size_t leaks = 0;
    for (size_t i = 0; i < m->n_processes; i++)
        leaks += m->processes[i].n_leaks;
    if (leaks == 0)
        strbuf_printf(out, "<p>No process exited with live buffers.</p>\n");
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        if (!p->n_leaks)
            continue;
        strbuf_printf(out, "<h3>");
        html_text(out, p->name[0] ? p->name : "?");
        strbuf_printf(out, " [%d], exited at %.6f s with %zu live buffers</h3>\n", p->pid,
                      (double)p->exit_ns / 1e9, p->n_leaks);
        html_buffer_rows(out, m, p->leaks, p->n_leaks, HTML_TABLE_ROWS);
    }
    strbuf_printf(out, "<div id='tip'></div>\n<script>%s</script>\n</body></html>\n", html_script);
}
