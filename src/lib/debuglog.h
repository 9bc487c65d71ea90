/* SPDX-License-Identifier: Apache-2.0 */
/*
 * debuglog.h - the library's one debug printer: with TT_ALLOC_DEBUG=1 in the
 * environment (read once, on first use), a line on stderr that says why
 * something did not reach a server: "libttalloc[PID]: TEXT". Silent
 * otherwise: an application's stderr is not ours.
 */
#ifndef TTALLOC_DEBUGLOG_H
#define TTALLOC_DEBUGLOG_H

#include <stdbool.h>

bool debuglog_enabled(void);

void debuglog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TTALLOC_DEBUGLOG_H */
