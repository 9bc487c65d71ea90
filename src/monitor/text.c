/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text.c - numbers and words for the monitor, and the --once frame (see
 * text.h). Plain ASCII only: this is what goes into logs and CI output.
 */
#include "text.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buftype.h"
#include "bytesize.h"
#include "columns.h"
#include "sysfs.h"

void text_percent(char *buf, size_t cap, uint64_t used, uint64_t total)
{
    double pct = model_percent(used, total);
    if (pct < 0)
        snprintf(buf, cap, "%s", "");
    else
        snprintf(buf, cap, "%.1f%%", pct);
}

void text_used_total(char *buf, size_t cap, uint64_t used, uint64_t total)
{
    char u[24], t[24];
    bytesize_format(u, sizeof(u), used);
    if (total == 0) {
        snprintf(buf, cap, "%s used", u);
        return;
    }
    bytesize_format(t, sizeof(t), total);
    snprintf(buf, cap, "%s / %s", u, t);
}

/* Append " "-separated pieces to buf without overflowing it. */
static void text_append(char *buf, size_t cap, const char *piece)
{
    size_t len = strlen(buf);
    if (piece[0] == '\0' || len + 1 >= cap)
        return;
    snprintf(buf + len, cap - len, "%s%s", len ? "  " : "", piece);
}

void text_device_facts(char *buf, size_t cap, const struct model_device *d)
{
    char piece[64];
    buf[0] = '\0';
    text_append(buf, cap, d->board[0] ? d->board : "unknown board");
    if (!d->in_sysfs) {
        if (d->stats.flags & TTALLOC_DEVICE_REMOTE)
            text_append(buf, cap, "remote chip");
        return;
    }
    const struct sysfs_device *s = &d->sysfs;
    text_append(buf, cap, s->bus_id);
    if (s->temp_mc != SYSFS_UNKNOWN) {
        snprintf(piece, sizeof(piece), "%.1f C", (double)s->temp_mc / 1000.0);
        text_append(buf, cap, piece);
    }
    if (s->power_uw != SYSFS_UNKNOWN) {
        if (s->power_max_uw != SYSFS_UNKNOWN)
            snprintf(piece, sizeof(piece), "%.1f W / %.0f W", (double)s->power_uw / 1e6,
                     (double)s->power_max_uw / 1e6);
        else
            snprintf(piece, sizeof(piece), "%.1f W", (double)s->power_uw / 1e6);
        text_append(buf, cap, piece);
    }
    if (s->aiclk_mhz != SYSFS_UNKNOWN) {
        snprintf(piece, sizeof(piece), "%lld MHz", (long long)s->aiclk_mhz);
        text_append(buf, cap, piece);
    }
}

/* A few uids cover every process on a host; look each up once. */
#define TEXT_USER_CACHE 16
static struct {
    uint32_t uid;
    char name[32];
} text_users[TEXT_USER_CACHE];
static size_t text_n_users;

const char *text_user(uint32_t uid)
{
    for (size_t i = 0; i < text_n_users; i++)
        if (text_users[i].uid == uid)
            return text_users[i].name;
    size_t slot = text_n_users < TEXT_USER_CACHE ? text_n_users++ : uid % TEXT_USER_CACHE;
    text_users[slot].uid = uid;
    const struct passwd *pw = getpwuid((uid_t)uid);
    if (pw && pw->pw_name)
        snprintf(text_users[slot].name, sizeof(text_users[slot].name), "%s", pw->pw_name);
    else
        snprintf(text_users[slot].name, sizeof(text_users[slot].name), "%u", uid);
    return text_users[slot].name;
}

void text_type_name(char *buf, size_t cap, enum ttalloc_buffer_type type)
{
    const char *name = buftype_upper((unsigned)type);
    if (cap > 0)
        snprintf(buf, cap, "%s", name != NULL ? name : "?");
}

void text_clock(char *buf, size_t cap, uint64_t realtime_ns)
{
    time_t secs = (time_t)(realtime_ns / 1000000000ull);
    struct tm tm;
    if (localtime_r(&secs, &tm) == NULL || strftime(buf, cap, "%H:%M:%S", &tm) == 0)
        snprintf(buf, cap, "%s", "--:--:--");
}

size_t text_cells(uint64_t used, uint64_t total, size_t width)
{
    if (total == 0 || width == 0)
        return 0;
    if (used >= total)
        return width;
    return (size_t)((double)used / (double)total * (double)width);
}

void text_bar(char *buf, size_t width, uint64_t used, uint64_t peak, uint64_t total)
{
    if (width < 3) {
        buf[0] = '\0';
        return;
    }
    size_t inner = width - 2;
    size_t fill = text_cells(used, total, inner);
    size_t mark = text_cells(peak, total, inner);
    if (mark >= inner)
        mark = inner - 1;
    buf[0] = '[';
    for (size_t i = 0; i < inner; i++)
        buf[1 + i] = i < fill ? '#' : '.';
    if (peak > used && mark >= fill)
        buf[1 + mark] = '|';
    buf[width - 1] = ']';
    buf[width] = '\0';
}

const char *text_server_state(const struct model *m)
{
    switch (m->conn) {
    case MODEL_CONN_UP:
        return "connected";
    case MODEL_CONN_NEVER:
        return "not reachable, retrying";
    case MODEL_CONN_LOST:
        return "lost, retrying";
    }
    return "?";
}

void text_server_status(char *buf, size_t cap, const struct model *m)
{
    const char *path = m->socket_path[0] ? m->socket_path : "default path";
    switch (m->conn) {
    case MODEL_CONN_UP:
        snprintf(buf, cap, "connected (%s)", path);
        break;
    case MODEL_CONN_NEVER:
        snprintf(buf, cap, "not reachable (%s), retrying", path);
        break;
    case MODEL_CONN_LOST:
        snprintf(buf, cap, "lost (%s), retrying", path);
        break;
    }
}

#define TEXT_BAR_WIDTH 42

static void text_frame_device(FILE *out, const struct model *m, const struct model_device *d)
{
    char facts[160], bar[TEXT_BAR_WIDTH + 1], amount[64], pct[16], peak[40], label[24];
    text_device_facts(facts, sizeof(facts), d);
    fprintf(out, "device %u: %s", d->id, facts);
    int from_shm = d->used_known && m->conn != MODEL_CONN_UP;
    if (from_shm)
        fprintf(out, "  (no server: memory from TT-Metal's SHM statistics)");
    else if (d->used_known)
        fprintf(out, "  buffers %llu  processes %u", (unsigned long long)d->stats.buffers,
                d->stats.processes);
    fputc('\n', out);
    for (int b = 0; b < MODEL_NUM_BARS; b++) {
        enum ttalloc_buffer_type t = model_bar_types[b];
        text_type_name(label, sizeof(label), t);
        if (!d->used_known) {
            if (d->stats.total[t]) {
                bytesize_format(amount, sizeof(amount), d->stats.total[t]);
                fprintf(out, "  %-9s used unknown (no server) / %s\n", label, amount);
            } else {
                fprintf(out, "  %-9s used unknown (no server)\n", label);
            }
            continue;
        }
        text_used_total(amount, sizeof(amount), d->stats.used[t], d->stats.total[t]);
        /* Peaks are the server's: SHM has none. */
        if (from_shm)
            peak[0] = '\0';
        else
            snprintf(peak, sizeof(peak), "  peak ");
        if (!from_shm)
            bytesize_format(peak + strlen(peak), sizeof(peak) - strlen(peak), d->stats.peak[t]);
        if (d->stats.total[t]) {
            text_bar(bar, TEXT_BAR_WIDTH, d->stats.used[t], d->stats.peak[t], d->stats.total[t]);
            text_percent(pct, sizeof(pct), d->stats.used[t], d->stats.total[t]);
            fprintf(out, "  %-9s %s %21s %6s%s\n", label, bar, amount, pct, peak);
        } else {
            fprintf(out, "  %-9s %-*s %21s %6s%s\n", label, TEXT_BAR_WIDTH, "(total unknown)",
                    amount, "", peak);
        }
    }

    struct model_proc *rows = NULL;
    size_t n = 0;
    if (model_collect_procs(m, d->id, m->sort, &rows, &n) < 0 || n == 0) {
        free(rows);
        return;
    }
    int widths[COLUMNS_MAX];
    char line[TEXT_FRAME_WIDTH * 2];
    columns_layout(&columns_procs, TEXT_FRAME_WIDTH - 2, widths);
    columns_header(&columns_procs, widths, m->sort, line, sizeof(line));
    fprintf(out, "  %s\n", line);
    for (size_t i = 0; i < n; i++) {
        columns_row(&columns_procs, widths, &rows[i], line, sizeof(line));
        fprintf(out, "  %s\n", line);
    }
    free(rows);
}

void text_frame(FILE *out, const struct model *m, uint64_t now_ns)
{
    char status[200], clock[16];
    text_clock(clock, sizeof(clock), now_ns);
    text_server_status(status, sizeof(status), m);
    if (m->conn != MODEL_CONN_UP) /* --once does not retry */
        snprintf(status, sizeof(status), "not reachable (%s)",
                 m->socket_path[0] ? m->socket_path : "default path");
    fprintf(out, "tt-alloc-monitor %s  %s  server: %s  devices: %zu\n", TTALLOC_VERSION_STRING,
            clock, status, m->n_visible);
    if (m->n_visible == 0)
        fprintf(out, "no devices%s\n", m->n_filter ? " matching -d" : "");
    for (size_t i = 0; i < m->n_visible; i++)
        text_frame_device(out, m, model_visible_device(m, i));

    size_t shown = 0;
    for (size_t i = 0; i < m->n_exits; i++)
        if (model_filter_allows(m, m->exits[i].device))
            shown++;
    if (shown == 0)
        return;
    int widths[COLUMNS_MAX];
    char line[TEXT_FRAME_WIDTH * 2];
    columns_layout(&columns_exits, TEXT_FRAME_WIDTH - 2, widths);
    columns_header(&columns_exits, widths, MODEL_SORT_COUNT, line, sizeof(line));
    fprintf(out, "exited with buffers left behind (newest first):\n  %s\n", line);
    for (size_t i = m->n_exits; i-- > 0;) {
        if (!model_filter_allows(m, m->exits[i].device))
            continue;
        columns_row(&columns_exits, widths, &m->exits[i], line, sizeof(line));
        fprintf(out, "  %s\n", line);
    }
}
