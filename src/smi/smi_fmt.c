/*
 * smi_fmt.c - string buffer, units and JSON escaping for tt-smi (smi_fmt.h).
 */
#include "smi_fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int smi_buf_reserve(struct smi_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *bigger = realloc(b->data, cap);
    if (bigger == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = bigger;
    b->cap = cap;
    return 0;
}

void smi_buf_append(struct smi_buf *b, const char *text, size_t len)
{
    if (smi_buf_reserve(b, len) < 0)
        return;
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void smi_buf_printf(struct smi_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || smi_buf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void smi_buf_free(struct smi_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t smi_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;   /* also stops at the NUL terminator */
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void smi_json_string(struct smi_buf *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    smi_buf_append(b, "\"", 1);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            smi_buf_append(b, esc, 2);
            s++;
        } else if (c == '\n') {
            smi_buf_append(b, "\\n", 2);
            s++;
        } else if (c == '\t') {
            smi_buf_append(b, "\\t", 2);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            smi_buf_printf(b, "\\u%04x", c);
            s++;
        } else {
            size_t n = smi_utf8_len(s);
            if (n == 0) {
                smi_buf_append(b, "\\ufffd", 6);
                s++;
            } else {
                smi_buf_append(b, (const char *)s, n);
                s += n;
            }
        }
    }
    smi_buf_append(b, "\"", 1);
}
