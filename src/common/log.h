/*
 * log.h - one-line diagnostics on stderr, in the OpenSMTPD manner: log_warn
 * appends strerror(errno), log_warnx does not, fatal/fatalx exit(1).
 * Every line starts with the program name. log_debug prints only after
 * log_init(..., verbose > 0).
 */
#ifndef TTALLOC_LOG_H
#define TTALLOC_LOG_H

void log_init(const char *progname, int verbose);
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
