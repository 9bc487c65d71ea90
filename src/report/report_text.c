/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_text.c - the terminal summary of tt-alloc-report and its --at list:
 * what the recording holds, per process x device x type the peak, when and
 * the final bytes, the largest buffers live at each device's DRAM peak, and
 * the leaks, largest first.
 */
#include "report_out.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smi_fmt.h"
#include "termtext.h"

void report_fmt_seconds(int64_t ns, char *out, size_t cap)
{
    /* exact to the nanosecond, no float rounding */
    smi_fmt_fixed(ns, 9, out, cap);
}

void report_fmt_utc(uint64_t realtime_ns, char *out, size_t cap)
{
    time_t secs = (time_t)(realtime_ns / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "1970-01-01T00:00:00Z");
}

static const char *type_name(uint8_t type)
{
    const char *n = ttalloc_type_name((enum ttalloc_buffer_type)type);
    return n ? n : "?";
}

/* Seconds with 3 decimals for the tables. */
static void fmt_ms(int64_t ns, char *out, size_t cap)
{
    snprintf(out, cap, "%.3f", (double)ns / 1e9);
}

static void buffer_line(struct strbuf *out, const struct report_buffer *b, int with_device)
{
    char size[16], when[32];
    smi_fmt_bytes(b->size, size, sizeof(size));
    fmt_ms(b->alloc_ns, when, sizeof(when));
    if (with_device)
        strbuf_printf(out, "  %-8d %-3u %-13s 0x%-14llx %6s %12llu %10s\n", b->pid, b->device,
                      type_name(b->type), (unsigned long long)b->address, size,
                      (unsigned long long)b->size, when);
    else
        strbuf_printf(out, "  %-8d %-13s 0x%-14llx %6s %12llu %10s\n", b->pid, type_name(b->type),
                      (unsigned long long)b->address, size, (unsigned long long)b->size, when);
}

void report_text_summary(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    char start[32], dur[32];
    report_fmt_utc(ctx->info->start_realtime_ns, start, sizeof(start));
    fmt_ms(report_model_duration(m), dur, sizeof(dur));
    /* A recording is anyone's file: its host and process names go
     * through termtext like every name shown on a terminal. */
    char path[1024], host[1024];
    termtext_fit(path, sizeof(path), ctx->path, sizeof(path));
    termtext_fit(host, sizeof(host), ctx->info->host, sizeof(host));
    strbuf_printf(out, "recording %s: host %s, started %s\n", path, host, start);
    strbuf_printf(out, "duration %s s, %zu processes, %llu events, %llu gaps (%llu events lost)\n",
                  dur, m->n_processes, (unsigned long long)m->events, (unsigned long long)m->gaps,
                  (unsigned long long)m->lost_events);
    if (ctx->truncated)
        strbuf_printf(out, "note: the file is cut short (a crash, or still being written): "
                           "this is its readable prefix\n");
    if (ctx->stopped_why)
        strbuf_printf(out,
                      "note: reading stopped at a corrupt frame (%s): this is the prefix "
                      "before it\n",
                      ctx->stopped_why);

    strbuf_printf(out, "\n%-8s %-16s %-3s %-13s %8s %10s %8s %10s %10s\n", "PID", "NAME", "DEV",
                  "TYPE", "PEAK", "PEAK_AT_S", "FINAL", "ALLOCS", "FREES");
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        for (size_t j = 0; j < p->n_memory; j++) {
            const struct report_memory *mem = &p->memory[j];
            char peak[16], fin[16], when[32], name[80];
            smi_fmt_bytes(mem->peak, peak, sizeof(peak));
            smi_fmt_bytes(mem->live, fin, sizeof(fin));
            fmt_ms(mem->peak_ns, when, sizeof(when));
            termtext_cell(name, sizeof(name), p->name[0] ? p->name : "?", 16);
            strbuf_printf(out, "%-8d %s %-3u %-13s %8s %10s %8s %10llu %10llu\n", p->pid, name,
                          mem->device, type_name(mem->type), peak, when, fin,
                          (unsigned long long)mem->allocs, (unsigned long long)mem->frees);
        }
    }

    for (size_t i = 0; i < m->n_devices; i++) {
        const struct report_device *d = &m->devices[i];
        strbuf_printf(out, "\ndevice %u peaks:", d->device);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (!d->used_type[t])
                continue;
            char peak[16], when[32];
            smi_fmt_bytes(d->peak[t], peak, sizeof(peak));
            fmt_ms(d->peak_ns[t], when, sizeof(when));
            strbuf_printf(out, " %s %s at %s s;", type_name((uint8_t)t), peak, when);
        }
        strbuf_printf(out, "\n");
        if (d->n_at_peak == 0)
            continue;
        size_t shown = d->n_at_peak < ctx->top ? d->n_at_peak : ctx->top;
        strbuf_printf(out, "  largest buffers live at the DRAM peak (%zu of %zu):\n", shown,
                      d->n_at_peak);
        strbuf_printf(out, "  %-8s %-13s %-16s %6s %12s %10s\n", "PID", "TYPE", "ADDRESS", "SIZE",
                      "BYTES", "ALLOC_S");
        for (size_t k = 0; k < shown; k++)
            buffer_line(out, &d->at_peak[k], 0);
    }

    size_t leaks = 0;
    for (size_t i = 0; i < m->n_processes; i++)
        leaks += m->processes[i].n_leaks;
    if (leaks == 0) {
        strbuf_printf(out, "\nleaks: none (no process exited with live buffers)\n");
        return;
    }
    strbuf_printf(out, "\nleaks (buffers live when their process exited), largest first:\n");
    strbuf_printf(out, "  %-8s %-3s %-13s %-16s %6s %12s %10s\n", "PID", "DEV", "TYPE", "ADDRESS",
                  "SIZE", "BYTES", "ALLOC_S");
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        size_t shown = p->n_leaks < ctx->top ? p->n_leaks : ctx->top;
        for (size_t k = 0; k < shown; k++)
            buffer_line(out, &p->leaks[k], 1);
        if (shown < p->n_leaks)
            strbuf_printf(out, "  ... and %zu more of pid %d\n", p->n_leaks - shown, p->pid);
    }
}

void report_text_at(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    char at[32];
    fmt_ms(m->at_ns, at, sizeof(at));
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->n_at_buffers; i++)
        bytes += m->at_buffers[i].size;
    char total[16];
    smi_fmt_bytes(bytes, total, sizeof(total));
    strbuf_printf(out, "live at %s s: %zu buffers, %s (%llu bytes)\n", at, m->n_at_buffers, total,
                  (unsigned long long)bytes);
    if (m->at_ns > report_model_duration(m))
        strbuf_printf(out, "note: the recording ends before that, at %.3f s: this is its end\n",
                      (double)report_model_duration(m) / 1e9);
    if (m->n_at_buffers == 0)
        return;
    size_t shown = m->n_at_buffers < ctx->top ? m->n_at_buffers : ctx->top;
    strbuf_printf(out, "  %-8s %-3s %-13s %-16s %6s %12s %10s\n", "PID", "DEV", "TYPE", "ADDRESS",
                  "SIZE", "BYTES", "ALLOC_S");
    for (size_t i = 0; i < shown; i++)
        buffer_line(out, &m->at_buffers[i], 1);
    if (shown < m->n_at_buffers)
        strbuf_printf(out, "  ... and %zu more (--top N shows more)\n", m->n_at_buffers - shown);
}
