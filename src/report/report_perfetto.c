/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_perfetto.c - tt-alloc-report --perfetto: Chrome's trace-event JSON
 * (the "JSON Object Format": {"traceEvents": [...]}), which ui.perfetto.dev
 * and chrome://tracing open.
 *
 * - "ph":"M" metadata names each process ("process_name", "python3 [4242]")
 *   and its one thread ("thread_name").
 * - "ph":"C" counters, one track per process x device x type, named
 *   "dev0 dram" with one series "bytes": the curve of report_model, one
 *   point per bucket (its highest value), then the bucket's final value.
 * - "ph":"i" instant events: process exits ("s":"p", with the leaked
 *   buffers' count) and gaps ("s":"g", with the count lost).
 * Timestamps are microseconds from the start of the recording.
 */
#include "report_out.h"

#include <stdio.h>

#include "smi_fmt.h"

static void perfetto_ts(struct strbuf *out, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    strbuf_printf(out, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000));
}

static void perfetto_counter(struct strbuf *out, int32_t pid, const struct report_memory *mem,
                             int64_t ns, uint64_t bytes)
{
    strbuf_printf(
        out, ",\n{\"ph\": \"C\", \"pid\": %d, \"tid\": %d, \"name\": \"dev%u %s\", \"ts\": ", pid,
        pid, mem->device, ttalloc_type_name((enum ttalloc_buffer_type)mem->type));
    perfetto_ts(out, ns);
    strbuf_printf(out, ", \"args\": {\"bytes\": %llu}}", (unsigned long long)bytes);
}

void report_perfetto(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    char start[32];
    report_fmt_utc(ctx->info->start_realtime_ns, start, sizeof(start));
    strbuf_printf(out,
                  "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"source\": \"tt-alloc-report\", "
                  "\"recording_start\": \"%s\", \"host\": ",
                  start);
    smi_json_string(out, ctx->info->host);
    strbuf_printf(out, "},\n\"traceEvents\": [\n{\"ph\": \"M\", \"pid\": 0, \"tid\": 0, "
                       "\"name\": \"process_name\", \"args\": {\"name\": \"tt-alloc recording\"}}");
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct report_process *p = &m->processes[i];
        char name[TTALLOC_NAME_MAX + TTALLOC_LABEL_MAX + 32];
        snprintf(name, sizeof(name), "%s%s%s%s [%d]", p->name[0] ? p->name : "pid",
                 p->label[0] ? " (" : "", p->label, p->label[0] ? ")" : "", p->pid);
        strbuf_printf(out,
                      ",\n{\"ph\": \"M\", \"pid\": %d, \"tid\": %d, \"name\": \"process_name\", "
                      "\"args\": {\"name\": ",
                      p->pid, p->pid);
        smi_json_string(out, name);
        strbuf_printf(out,
                      "}},\n{\"ph\": \"M\", \"pid\": %d, \"tid\": %d, \"name\": \"thread_name\", "
                      "\"args\": {\"name\": \"memory\"}}",
                      p->pid, p->pid);
        for (size_t j = 0; j < p->n_memory; j++) {
            const struct report_memory *mem = &p->memory[j];
            if (!mem->series)
                continue;
            perfetto_counter(out, p->pid, mem, 0, 0);
            for (size_t b = 0; b < REPORT_BUCKETS; b++) {
                if (!mem->series->used[b])
                    continue;
                int64_t t0 = (int64_t)b * m->bucket_ns;
                perfetto_counter(out, p->pid, mem, t0, mem->series->max[b]);
                if (mem->series->last[b] != mem->series->max[b])
                    perfetto_counter(out, p->pid, mem, t0 + m->bucket_ns / 2, mem->series->last[b]);
            }
        }
    }
    for (size_t i = 0; i < m->n_instants; i++) {
        const struct report_instant *e = &m->instants[i];
        if (e->kind == TTALLOC_REC_GAP) {
            strbuf_printf(out,
                          ",\n{\"ph\": \"i\", \"s\": \"g\", \"pid\": 0, \"tid\": 0, "
                          "\"name\": \"gap: %llu events lost\", \"ts\": ",
                          (unsigned long long)e->count);
            perfetto_ts(out, e->time_ns);
            strbuf_printf(out, ", \"args\": {\"lost_events\": %llu}}",
                          (unsigned long long)e->count);
        } else {
            strbuf_printf(out,
                          ",\n{\"ph\": \"i\", \"s\": \"p\", \"pid\": %d, \"tid\": %d, "
                          "\"name\": \"exit\", \"ts\": ",
                          e->pid, e->pid);
            perfetto_ts(out, e->time_ns);
            strbuf_printf(out, ", \"args\": {\"leaked_buffers\": %llu}}",
                          (unsigned long long)e->count);
        }
    }
    strbuf_printf(out, "\n]}\n");
}
