/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strbuf.h - a growable, always NUL-terminated text buffer for the pages the
 * tools print (tt-smi's table, JSON and CSV; the server's /metrics page), and
 * the UTF-8 check their escapers share (process names can be any bytes, and
 * JSON and the Prometheus format both require valid UTF-8).
 *
 * After an allocation failure `failed` is set, later appends do nothing, and
 * the content is incomplete: check it once at the end.
 */
#ifndef TTALLOC_STRBUF_H
#define TTALLOC_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    int failed;
};

void strbuf_init(struct strbuf *b);
/* Free the memory and make the buffer empty again. */
void strbuf_release(struct strbuf *b);
void strbuf_append(struct strbuf *b, const char *text, size_t len);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Length (1-4) of the valid UTF-8 sequence at s, or 0 when it is not one
 * (a stray continuation byte, an overlong form, a surrogate, beyond
 * U+10FFFF, or cut short by the terminating NUL). */
size_t strbuf_utf8_len(const unsigned char *s);

#endif /* TTALLOC_STRBUF_H */
