/* SPDX-License-Identifier: Apache-2.0 */
/*
 * termtext.h - other people's text made safe for a terminal or a log line.
 *
 * Process names (/proc/PID/comm, set by the process itself), labels
 * (ttalloc_set_label) and anything read from a recording are any user's
 * bytes. Printed raw, an ESC rewrites the screen of whoever runs tt-smi or
 * the monitor, a newline forges a row or a line of the root daemon's log,
 * and a cut in the middle of a UTF-8 sequence leaves a broken character.
 * Every human-readable output passes such text through termtext_fit or
 * termtext_cell; JSON and HTML have their own escapers and keep the bytes.
 *
 * Replaced by '?': C0 controls (newline, tab and ESC among them), DEL, C1
 * controls (U+0080-U+009F, which some terminals obey as ESC sequences),
 * the Unicode line and paragraph separators and bidirectional overrides
 * (U+2028-U+202E, U+2066-U+2069, which can make a name read as another),
 * and every byte that is not part of valid UTF-8. Each kept character
 * counts one column; East Asian wide characters take two cells on screen,
 * so a row holding one is that much wider, but no row can break another.
 */
#ifndef TTALLOC_TERMTEXT_H
#define TTALLOC_TERMTEXT_H

#include <stddef.h>

/* Copy at most `columns` characters of `text` (NULL: "") into out, made
 * safe, never cutting a UTF-8 sequence and never writing more than cap
 * bytes (NUL included). Returns the characters written. */
size_t termtext_fit(char *out, size_t cap, const char *text, size_t columns);

/* termtext_fit to exactly `width` columns: cut, or padded with blanks on
 * the right. Returns the bytes written (without the NUL). */
size_t termtext_cell(char *out, size_t cap, const char *text, size_t width);

/* The characters termtext_fit would write of `text` with no limit. */
size_t termtext_width(const char *text);

#endif /* TTALLOC_TERMTEXT_H */
