/* SPDX-License-Identifier: Apache-2.0 */
/*
 * number.c - whole numbers from command lines (see number.h).
 */
#include "number.h"

#include <errno.h>
#include <stddef.h>

static int number_digit(char c, unsigned base)
{
    unsigned d;
    if (c >= '0' && c <= '9')
        d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
        d = (unsigned)(c - 'A' + 10);
    else
        return -1;
    return d < base ? (int)d : -1;
}

int number_parse_u64(const char *text, int base, uint64_t min, uint64_t max, uint64_t *out)
{
    if (text == NULL || (base != 0 && base != 10 && base != 16))
        return -EINVAL;
    unsigned b = base == 16 ? 16 : 10;
    const char *p = text;
    if (base == 0 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        b = 16;
        p += 2;
    } else if (base == 0 && p[0] == '0' && p[1] != '\0') {
        b = 8;
        p += 1;
    }
    if (*p == '\0')
        return -EINVAL;
    uint64_t v = 0;
    int overflow = 0;
    for (; *p != '\0'; p++) {
        int d = number_digit(*p, b);
        if (d < 0)
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)d) / b)
            overflow = 1;
        else
            v = v * b + (uint64_t)d;
    }
    if (overflow || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}
