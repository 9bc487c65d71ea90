/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - one-line diagnostics on stderr, in the OpenSMTPD manner: log_warn
 * appends strerror(errno), log_warnx does not, fatal/fatalx exit(1).
 * Every line starts with the program name. log_debug prints only after
 * log_init(..., verbose > 0).
 *
 * After log_rate_limit(1) (the server: a storm of clients must not fill
 * the disk), lines of one call site (one format string) are rate limited:
 * at most 20 per 10 s, then one line saying how many were left out. Tools
 * print every line.
 */
#ifndef TTALLOC_LOG_H
#define TTALLOC_LOG_H

#include <stdint.h>

void log_init(const char *progname, int verbose);
void log_rate_limit(int on);
/* Lines left out by the rate limit so far. */
uint64_t log_suppressed(void);
int log_verbose(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "error: ...": the program is about to fail with an exit code of its own. */
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* TTALLOC_LOG_H */
