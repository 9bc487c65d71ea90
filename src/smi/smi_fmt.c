/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_fmt.c - string buffer, units and JSON escaping for tt-smi (smi_fmt.h).
 */
#include "smi_fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void smi_fmt_bytes(uint64_t bytes, char *out, size_t cap)
{
    static const char units[] = "KMGTPE";
    if (bytes < 1024) {
        snprintf(out, cap, "%uB", (unsigned)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1023.5 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (v < 99.95)
        snprintf(out, cap, "%.1f%c", v, units[u]);
    else
        snprintf(out, cap, "%.0f%c", v, units[u]);
}

void smi_fmt_fixed(int64_t value, int digits, char *out, size_t cap)
{
    int64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    int negative = value < 0;
    uint64_t mag = negative ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    uint64_t whole = mag / (uint64_t)scale, frac = mag % (uint64_t)scale;
    char fbuf[24];
    snprintf(fbuf, sizeof(fbuf), "%0*llu", digits, (unsigned long long)frac);
    size_t flen = strlen(fbuf);
    while (flen > 1 && fbuf[flen - 1] == '0')
        flen--;
    fbuf[flen] = '\0';
    if (digits == 0)
        snprintf(out, cap, "%s%llu.0", negative ? "-" : "", (unsigned long long)whole);
    else
        snprintf(out, cap, "%s%llu.%s", negative ? "-" : "", (unsigned long long)whole, fbuf);
}

void smi_json_string(struct strbuf *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    strbuf_append(b, "\"", 1);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            strbuf_append(b, esc, 2);
            s++;
        } else if (c == '\n') {
            strbuf_append(b, "\\n", 2);
            s++;
        } else if (c == '\t') {
            strbuf_append(b, "\\t", 2);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            strbuf_printf(b, "\\u%04x", c);
            s++;
        } else {
            size_t n = strbuf_utf8_len(s);
            if (n == 0) {
                strbuf_append(b, "\\ufffd", 6);
                s++;
            } else {
                strbuf_append(b, (const char *)s, n);
                s += n;
            }
        }
    }
    strbuf_append(b, "\"", 1);
}
