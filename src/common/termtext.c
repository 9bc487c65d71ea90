/* SPDX-License-Identifier: Apache-2.0 */
/*
 * termtext.c - other people's text made safe for a terminal or a log line
 * (see termtext.h for what is replaced and why).
 */
#include "termtext.h"

#include <string.h>

#include "strbuf.h"

/* The bytes of the character at s (1-4), with *safe set when it may be
 * printed as it is; an unsafe character or a byte of broken UTF-8 shows
 * as one '?'. */
static size_t termtext_step(const unsigned char *s, int *safe)
{
    size_t n = strbuf_utf8_len(s);
    if (n == 0) {
        *safe = 0;
        return 1;
    }
    if (n == 1)
        *safe = s[0] >= 0x20 && s[0] != 0x7f;
    else if (n == 2)
        *safe = !(s[0] == 0xc2 && s[1] < 0xa0); /* C1 controls */
    else if (n == 3 && s[0] == 0xe2 && s[1] == 0x80)
        *safe = !(s[2] >= 0xa8 && s[2] <= 0xae); /* U+2028-U+202E */
    else if (n == 3 && s[0] == 0xe2 && s[1] == 0x81)
        *safe = !(s[2] >= 0xa6 && s[2] <= 0xa9); /* U+2066-U+2069 */
    else
        *safe = 1;
    return n;
}

size_t termtext_fit(char *out, size_t cap, const char *text, size_t columns)
{
    if (cap == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)(text != NULL ? text : "");
    size_t len = 0, shown = 0;
    while (*s != '\0' && shown < columns) {
        int safe;
        size_t n = termtext_step(s, &safe);
        size_t need = safe ? n : 1;
        if (len + need >= cap)
            break;
        if (safe)
            memcpy(out + len, s, n);
        else
            out[len] = '?';
        len += need;
        shown++;
        s += n;
    }
    out[len] = '\0';
    return shown;
}

size_t termtext_cell(char *out, size_t cap, const char *text, size_t width)
{
    if (cap == 0)
        return 0;
    size_t shown = termtext_fit(out, cap, text, width);
    size_t len = strlen(out);
    for (; shown < width && len + 1 < cap; shown++)
        out[len++] = ' ';
    out[len] = '\0';
    return len;
}

size_t termtext_width(const char *text)
{
    const unsigned char *s = (const unsigned char *)(text != NULL ? text : "");
    size_t shown = 0;
    while (*s != '\0') {
        int safe;
        s += termtext_step(s, &safe);
        shown++;
    }
    return shown;
}
