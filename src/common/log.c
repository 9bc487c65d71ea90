/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - stderr logging for the programs (see log.h). Each line is written
 * with one write() so lines from concurrent processes do not interleave.
 *
 * In a daemon (log_rate_limit(1): tt-alloc-server), repeated lines are
 * rate limited: lines are grouped by their format string
 * (one call site, whatever the arguments), each group may write
 * LOG_BURST lines per LOG_WINDOW_NS; the rest are counted and summed up in
 * one line when the group's next window opens (or at the next line of any
 * group after that). So a storm of refused clients costs kilobytes of log.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "termtext.h"

static const char *log_progname = "tt-alloc";
static int log_level;

#define LOG_BURST 20u
#define LOG_WINDOW_NS (10ull * 1000000000ull)
#define LOG_GROUPS 64u

/* One call site's recent lines. */
struct log_group {
    const char *fmt; /* NULL: free slot */
    uint64_t window_start_ns;
    unsigned lines;      /* written in this window */
    uint64_t suppressed; /* dropped in this window */
};

static struct log_group log_groups[LOG_GROUPS];
static int log_limited;
static uint64_t log_suppressed_total;

void log_init(const char *progname, int verbose)
{
    log_progname = progname;
    log_level = verbose;
}

int log_verbose(void)
{
    return log_level;
}

static uint64_t log_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void log_write_line(const char *text)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s: %s\n", log_progname, text);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

/* The summary of a group whose window has closed with lines dropped. */
static void log_close_window(struct log_group *g)
{
    if (g->suppressed == 0)
        return;
    char text[256];
    /* The format, not the arguments: they differed from line to line. */
    snprintf(text, sizeof(text), "%llu more line(s) like \"%.160s\" not logged in the last %llu s",
             (unsigned long long)g->suppressed, g->fmt,
             (unsigned long long)(LOG_WINDOW_NS / 1000000000ull));
    for (char *c = text; *c != '\0'; c++) {
        if (*c == '\n')
            *c = ' ';
    }
    log_write_line(text);
    g->suppressed = 0;
}

/* The group of fmt: its own slot, else a free one, else the one whose
 * window opened longest ago (its pending summary is written first). */
static struct log_group *log_group_of(const char *fmt, uint64_t now)
{
    struct log_group *free_slot = NULL, *oldest = &log_groups[0];
    for (unsigned i = 0; i < LOG_GROUPS; i++) {
        struct log_group *g = &log_groups[i];
        if (g->fmt != NULL && now - g->window_start_ns >= LOG_WINDOW_NS) {
            log_close_window(g);
            g->lines = 0;
            g->window_start_ns = now;
        }
        if (g->fmt == fmt)
            return g;
        if (g->fmt == NULL && free_slot == NULL)
            free_slot = g;
        if (g->window_start_ns < oldest->window_start_ns)
            oldest = g;
    }
    struct log_group *g = free_slot != NULL ? free_slot : oldest;
    if (g->fmt != NULL)
        log_close_window(g);
    g->fmt = fmt;
    g->lines = 0;
    g->suppressed = 0;
    g->window_start_ns = now;
    return g;
}

/* May a line of this call site be written now? */
static int log_admit(const char *fmt)
{
    struct log_group *g = log_group_of(fmt, log_now_ns());
    if (g->lines < LOG_BURST) {
        g->lines++;
        return 1;
    }
    g->suppressed++;
    log_suppressed_total++;
    return 0;
}

void log_rate_limit(int on)
{
    log_limited = on;
}

uint64_t log_suppressed(void)
{
    return log_suppressed_total;
}

static void log_emit(const char *prefix, int with_errno, int saved_errno, const char *fmt,
                     va_list ap)
{
    if (log_limited && !log_admit(fmt))
        return;
    /* The message carries process names and labels, anyone's text: a
     * newline in one must not forge a line of the daemon's log, an ESC must
     * not reach the terminal of whoever reads it (termtext.h). */
    char message[1024], safe[1024];
    if (vsnprintf(message, sizeof(message), fmt, ap) < 0)
        message[0] = '\0';
    termtext_fit(safe, sizeof(safe), message, sizeof(safe));
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s: %s%s", log_progname, prefix, safe);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (with_errno) {
        int k = snprintf(line + len, sizeof(line) - len, ": %s", strerror(saved_errno));
        if (k > 0)
            len += (size_t)k;
        if (len > sizeof(line) - 2)
            len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("", 0, 0, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    if (log_level <= 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("debug: ", 0, 0, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_emit("warning: ", 1, saved, fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("warning: ", 0, 0, fmt, ap);
    va_end(ap);
}

void log_errorx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("error: ", 0, 0, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_emit("fatal: ", 1, saved, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("fatal: ", 0, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
