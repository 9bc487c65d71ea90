/*
 * log.c - stderr logging for the programs (see log.h). Each line is written
 * with one write() so lines from concurrent processes do not interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "tt-alloc";
static int log_level;

void log_init(const char *progname, int verbose)
{
    log_progname = progname;
    log_level = verbose;
}

int log_verbose(void)
{
    return log_level;
}

static void log_emit(const char *prefix, int with_errno, int saved_errno, const char *fmt,
                     va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s: %s", log_progname, prefix);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
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
