/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_json.c - tt-alloc-report --json: exactly the schema of
 * docs/tt-alloc-report.md, "--json" (docs/schema/tt-alloc-report.schema.json).
 * at_peak and each process's leaks list at most --top N buffers, largest
 * first; every figure is exact (times to the nanosecond).
 */
#include "report_out.h"

#include "smi_fmt.h"

static void json_seconds(struct strbuf *out, int64_t ns)
{
    char text[48];
    report_fmt_seconds(ns, text, sizeof(text));
    strbuf_printf(out, "%s", text);
}

static void json_buffer(struct strbuf *out, const struct report_buffer *b, int leak)
{
    if (leak)
        strbuf_printf(out, "{\"device\": %u, \"type\": \"%s\", ", b->device,
                      ttalloc_type_name((enum ttalloc_buffer_type)b->type));
    else
        strbuf_printf(out, "{\"pid\": %d, \"type\": \"%s\", ", b->pid,
                      ttalloc_type_name((enum ttalloc_buffer_type)b->type));
    strbuf_printf(out, "\"address\": \"0x%llx\", \"size\": %llu, \"alloc_s\": ",
                  (unsigned long long)b->address, (unsigned long long)b->size);
    json_seconds(out, b->alloc_ns);
    strbuf_printf(out, "}");
}

static void json_process(struct strbuf *out, const struct report_process *p, size_t top)
{
    strbuf_printf(out, "{\"pid\": %d, \"name\": ", p->pid);
    smi_json_string(out, p->name);
    strbuf_printf(out, ", \"label\": ");
    smi_json_string(out, p->label);
    strbuf_printf(out, ", \"start_s\": ");
    json_seconds(out, p->start_ns);
    strbuf_printf(out, ", \"exit_s\": ");
    if (p->exited)
        json_seconds(out, p->exit_ns);
    else
        strbuf_printf(out, "null");
    strbuf_printf(out, ",\n      \"memory\": [");
    for (size_t j = 0; j < p->n_memory; j++) {
        const struct report_memory *mem = &p->memory[j];
        strbuf_printf(
            out, "%s{\"device\": %u, \"type\": \"%s\", \"peak_bytes\": %llu, \"peak_s\": ",
            j ? ",\n        " : " ", mem->device,
            ttalloc_type_name((enum ttalloc_buffer_type)mem->type), (unsigned long long)mem->peak);
        json_seconds(out, mem->peak_ns);
        strbuf_printf(out, ", \"final_bytes\": %llu, \"allocs\": %llu, \"frees\": %llu}",
                      (unsigned long long)mem->live, (unsigned long long)mem->allocs,
                      (unsigned long long)mem->frees);
    }
    strbuf_printf(out, " ],\n      \"leaks\": [");
    size_t shown = p->n_leaks < top ? p->n_leaks : top;
    for (size_t k = 0; k < shown; k++) {
        strbuf_printf(out, "%s", k ? ",\n        " : " ");
        json_buffer(out, &p->leaks[k], 1);
    }
    strbuf_printf(out, " ] }");
}

void report_json(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    char start[32];
    report_fmt_utc(ctx->info->start_realtime_ns, start, sizeof(start));
    strbuf_printf(out, "{ \"schema_version\": 1, \"start\": \"%s\", \"duration_s\": ", start);
    json_seconds(out, report_model_duration(m));
    strbuf_printf(out, ", \"events\": %llu,\n  \"gaps\": %llu, \"lost_events\": %llu,\n",
                  (unsigned long long)m->events, (unsigned long long)m->gaps,
                  (unsigned long long)m->lost_events);
    strbuf_printf(out, "  \"processes\": [");
    for (size_t i = 0; i < m->n_processes; i++) {
        strbuf_printf(out, "%s", i ? ",\n    " : " ");
        json_process(out, &m->processes[i], ctx->top);
    }
    strbuf_printf(out, " ],\n  \"devices\": [");
    for (size_t i = 0; i < m->n_devices; i++) {
        const struct report_device *d = &m->devices[i];
        strbuf_printf(out, "%s{\"device\": %u, \"memory\": [", i ? ",\n    " : " ", d->device);
        int first = 1;
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (!d->used_type[t])
                continue;
            strbuf_printf(
                out, "%s{\"type\": \"%s\", \"peak_bytes\": %llu, \"peak_s\": ", first ? " " : ", ",
                ttalloc_type_name((enum ttalloc_buffer_type)t), (unsigned long long)d->peak[t]);
            json_seconds(out, d->peak_ns[t]);
            strbuf_printf(out, "}");
            first = 0;
        }
        strbuf_printf(out, " ],\n      \"at_peak\": [");
        size_t shown = d->n_at_peak < ctx->top ? d->n_at_peak : ctx->top;
        for (size_t k = 0; k < shown; k++) {
            strbuf_printf(out, "%s", k ? ",\n        " : " ");
            json_buffer(out, &d->at_peak[k], 0);
        }
        strbuf_printf(out, " ] }");
    }
    strbuf_printf(out, " ] }\n");
}

void report_json_at(struct strbuf *out, const struct report_context *ctx)
{
    const struct report_model *m = ctx->model;
    strbuf_printf(out, "{ \"at_s\": ");
    json_seconds(out, m->at_ns);
    strbuf_printf(out, ", \"buffers\": [");
    size_t shown = m->n_at_buffers < ctx->top ? m->n_at_buffers : ctx->top;
    for (size_t i = 0; i < shown; i++) {
        const struct report_buffer *b = &m->at_buffers[i];
        strbuf_printf(out,
                      "%s{\"pid\": %d, \"device\": %u, \"type\": \"%s\", \"address\": \"0x%llx\", "
                      "\"size\": %llu, \"alloc_s\": ",
                      i ? ",\n    " : "\n    ", b->pid, b->device,
                      ttalloc_type_name((enum ttalloc_buffer_type)b->type),
                      (unsigned long long)b->address, (unsigned long long)b->size);
        json_seconds(out, b->alloc_ns);
        strbuf_printf(out, "}");
    }
    strbuf_printf(out, " ], \"total_buffers\": %zu }\n", m->n_at_buffers);
}
