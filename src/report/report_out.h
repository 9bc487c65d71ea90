/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_out.h - tt-alloc-report's outputs, each printed from a finished
 * report_model: the terminal summary and --at list (report_text.c), --json
 * (report_json.c), --html (report_html.c) and --perfetto
 * (report_perfetto.c). Each appends to a strbuf; report_main.c writes it.
 */
#ifndef TTALLOC_REPORT_OUT_H
#define TTALLOC_REPORT_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "report_model.h"
#include "strbuf.h"
#include "ttalloc_rec.h"

struct report_context {
    const char *path; /* the recording, for titles */
    const struct ttalloc_rec_info *info;
    const struct report_model *model;
    size_t top;              /* --top N */
    int truncated;           /* the file was cut short */
    const char *stopped_why; /* a corrupt tail, or NULL */
};

void report_text_summary(struct strbuf *out, const struct report_context *ctx);
void report_text_at(struct strbuf *out, const struct report_context *ctx);
void report_json(struct strbuf *out, const struct report_context *ctx);
void report_json_at(struct strbuf *out, const struct report_context *ctx);
void report_html(struct strbuf *out, const struct report_context *ctx);
void report_perfetto(struct strbuf *out, const struct report_context *ctx);

/* Seconds from ns, exactly: "3.2", "-0.5", "0.0". */
void report_fmt_seconds(int64_t ns, char *out, size_t cap);
/* "2026-11-23T12:00:00Z" from CLOCK_REALTIME ns. */
void report_fmt_utc(uint64_t realtime_ns, char *out, size_t cap);

#endif /* TTALLOC_REPORT_OUT_H */
