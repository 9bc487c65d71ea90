/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_main.c - tt-alloc-report: answers from a .ttrec recording what the
 * peak was, when, which buffers made it and what leaked. One pass over the
 * file feeds report_model (and writes --csv as it goes); the outputs are
 * printed from the model at the end. Exit: 0, 1 (the file cannot be read or
 * is not a recording, an output cannot be written), 2 (bad arguments).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_model.h"
#include "report_out.h"
#include "strbuf.h"
#include "ttalloc.h"
#include "ttalloc_rec.h"

#define REPORT_EXIT_OK 0
#define REPORT_EXIT_FAIL 1
#define REPORT_EXIT_USAGE 2
#define REPORT_MAX_PIDS 64
#define REPORT_DEFAULT_TOP 10

static void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tt-alloc-report: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void report_usage(FILE *out)
{
    fputs("usage: tt-alloc-report FILE [OPTIONS]\n"
          "Summarise a tt-alloc recording (.ttrec): peaks, the buffers live at them, leaks.\n"
          "      --json          the summary as JSON (docs/tt-alloc-report.md gives the schema)\n"
          "      --html OUT      a self-contained HTML page: memory over time, address map\n"
          "      --perfetto OUT  Chrome trace-event JSON for ui.perfetto.dev\n"
          "      --csv OUT       one row per alloc or free (OUT '-' = stdout)\n"
          "      --at SEC        the buffers live SEC seconds after the start\n"
          "      --top N         buffers listed at each peak, per leak list, at --at (default 10)\n"
          "      --pid PID       only this process (repeatable)\n"
          "  -h, --help          this help\n"
          "  -V, --version       the version\n",
          out);
}

struct report_options {
    const char *file;
    int json;
    const char *html;
    const char *perfetto;
    const char *csv;
    double at_s;
    int have_at;
    size_t top;
    int32_t pids[REPORT_MAX_PIDS];
    size_t n_pids;
};

static int parse_number(const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int report_parse_args(int argc, char **argv, struct report_options *o)
{
    enum { OPT_JSON = 256, OPT_HTML, OPT_PERFETTO, OPT_CSV, OPT_AT, OPT_TOP, OPT_PID };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"html", required_argument, NULL, OPT_HTML},
        {"perfetto", required_argument, NULL, OPT_PERFETTO},
        {"csv", required_argument, NULL, OPT_CSV},
        {"at", required_argument, NULL, OPT_AT},
        {"top", required_argument, NULL, OPT_TOP},
        {"pid", required_argument, NULL, OPT_PID},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->top = REPORT_DEFAULT_TOP;
    int c;
    double v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_HTML:
            o->html = optarg;
            break;
        case OPT_PERFETTO:
            o->perfetto = optarg;
            break;
        case OPT_CSV:
            o->csv = optarg;
            break;
        case OPT_AT:
            if (parse_number(optarg, 0, 1e9, &v) < 0) {
                report_error("--at takes seconds from the start (>= 0), not '%s'", optarg);
                return -1;
            }
            o->at_s = v;
            o->have_at = 1;
            break;
        case OPT_TOP:
            if (parse_number(optarg, 0, 1e9, &v) < 0 || v != floor(v)) {
                report_error("--top takes a whole number >= 0, not '%s'", optarg);
                return -1;
            }
            o->top = (size_t)v;
            break;
        case OPT_PID:
            if (parse_number(optarg, 1, INT32_MAX, &v) < 0 || v != floor(v)) {
                report_error("--pid takes a process id, not '%s'", optarg);
                return -1;
            }
            if (o->n_pids == REPORT_MAX_PIDS) {
                report_error("at most %d --pid options", REPORT_MAX_PIDS);
                return -1;
            }
            o->pids[o->n_pids++] = (int32_t)v;
            break;
        case 'h':
            report_usage(stdout);
            exit(REPORT_EXIT_OK);
        case 'V':
            printf("tt-alloc-report %s\n", TTALLOC_VERSION_STRING);
            exit(REPORT_EXIT_OK);
        case ':':
            report_error("option %s needs an argument", argv[optind - 1]);
            return -1;
        default:
            report_error("unknown option '%s' (tt-alloc-report --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind >= argc) {
        report_error("no recording given (tt-alloc-report FILE; --help)");
        return -1;
    }
    o->file = argv[optind++];
    if (optind < argc) {
        report_error("unexpected argument '%s' (tt-alloc-report --help)", argv[optind]);
        return -1;
    }
    return 0;
}

static FILE *open_output(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        report_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

/* Close an output; on a write error (a full disk) say why, and remove a
 * regular file cut short so that no half page is taken for a report. */
static int close_output(FILE *f, const char *path)
{
    int failed = ferror(f);
    int err = failed ? errno : 0;
    if ((f == stdout ? fflush(f) : fclose(f)) != 0) {
        failed = 1;
        err = errno;
    }
    if (!failed)
        return 0;
    struct stat st;
    if (f != stdout && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(path);
    report_error("writing %s: %s", f == stdout ? "standard output" : path,
                 err ? strerror(err) : "write error");
    return -1;
}

/* Write a finished page to `path`. */
static int write_page(const char *path, const struct strbuf *page)
{
    if (page->failed) {
        report_error("out of memory building %s", path);
        return -1;
    }
    FILE *f = open_output(path);
    if (!f)
        return -1;
    if (page->len)
        fwrite(page->data, 1, page->len, f);
    return close_output(f, path);
}

static void csv_row(FILE *f, const struct ttalloc_rec_event *ev, uint64_t size)
{
    char when[48];
    report_fmt_seconds(ev->time_ns, when, sizeof(when));
    fprintf(f, "%s,%d,%u,%s,%s,0x%" PRIx64 ",%" PRIu64 "\n", when, ev->pid, ev->device,
            ttalloc_type_name((enum ttalloc_buffer_type)ev->type),
            ev->kind == TTALLOC_REC_ALLOC ? "alloc" : "free", ev->address, size);
}

int main(int argc, char **argv)
{
    struct report_options o;
    if (report_parse_args(argc, argv, &o) < 0)
        return REPORT_EXIT_USAGE;

    ttalloc_rec *rec;
    int rc = ttalloc_rec_open(o.file, &rec);
    if (rc < 0) {
        report_error("%s", ttalloc_rec_error_message(NULL));
        return REPORT_EXIT_FAIL;
    }
    FILE *csv = NULL;
    if (o.csv) {
        csv = open_output(o.csv);
        if (!csv) {
            ttalloc_rec_close(rec);
            return REPORT_EXIT_FAIL;
        }
        fputs("time_s,pid,device,type,op,address,size\n", csv);
    }

    struct report_model model;
    report_model_init(&model);
    if (o.n_pids) {
        model.only_pids = o.pids;
        model.n_only_pids = o.n_pids;
    }
    if (o.have_at)
        model.at_ns = (int64_t)llround(o.at_s * 1e9);

    struct ttalloc_rec_event ev;
    int status = REPORT_EXIT_OK;
    const char *stopped_why = NULL;
    while ((rc = ttalloc_rec_next(rec, &ev)) == 1) {
        uint64_t size = 0;
        int applied = report_model_apply(&model, &ev, &size);
        if (applied < 0) {
            report_error("out of memory");
            status = REPORT_EXIT_FAIL;
            break;
        }
        if (applied == 1 && csv)
            csv_row(csv, &ev, size);
    }
    if (rc < 0) {
        /* the prefix before a corrupt frame is still worth reporting */
        stopped_why = ttalloc_rec_error_message(rec);
        fprintf(stderr, "tt-alloc-report: warning: %s: %s; reporting what came before\n", o.file,
                stopped_why);
    } else if (ttalloc_rec_truncated(rec)) {
        fprintf(stderr, "tt-alloc-report: warning: %s: %s; reporting the complete frames before\n",
                o.file, ttalloc_rec_error_message(rec));
    }
    if (csv && close_output(csv, o.csv) < 0)
        status = REPORT_EXIT_FAIL;
    if (status == REPORT_EXIT_OK && report_model_finish(&model) < 0) {
        report_error("out of memory");
        status = REPORT_EXIT_FAIL;
    }

    if (status == REPORT_EXIT_OK) {
        struct report_context ctx = {
            .path = o.file,
            .info = ttalloc_rec_info(rec),
            .model = &model,
            .top = o.top,
            .truncated = ttalloc_rec_truncated(rec),
            .stopped_why = stopped_why,
        };
        struct strbuf page;
        if (o.html) {
            strbuf_init(&page);
            report_html(&page, &ctx);
            if (write_page(o.html, &page) < 0)
                status = REPORT_EXIT_FAIL;
            strbuf_release(&page);
        }
        if (o.perfetto) {
            strbuf_init(&page);
            report_perfetto(&page, &ctx);
            if (write_page(o.perfetto, &page) < 0)
                status = REPORT_EXIT_FAIL;
            strbuf_release(&page);
        }
        /* stdout carries the summary unless --csv - took it */
        if (!(o.csv && strcmp(o.csv, "-") == 0)) {
            strbuf_init(&page);
            if (o.have_at)
                o.json ? report_json_at(&page, &ctx) : report_text_at(&page, &ctx);
            else
                o.json ? report_json(&page, &ctx) : report_text_summary(&page, &ctx);
            if (write_page("-", &page) < 0)
                status = REPORT_EXIT_FAIL;
            strbuf_release(&page);
        }
    }
    report_model_release(&model);
    ttalloc_rec_close(rec);
    return status;
}
