/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lowerbound.h - the binary search of every sorted table in the tree: the
 * index of the first element not less than a key (n when all are less), so
 * where the key is, or where it goes when inserted. Called as bsearch(3) is:
 * cmp(key, element) returns <0, 0 or >0 as the key sorts before, with or
 * after the element. Inline, so that a comparison known at the call site
 * inlines too: no slower than the loop written out.
 */
#ifndef TTALLOC_LOWERBOUND_H
#define TTALLOC_LOWERBOUND_H

#include <stddef.h>

static inline size_t lowerbound(const void *key, const void *base, size_t n, size_t size,
                                int (*cmp)(const void *key, const void *element))
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(key, (const char *)base + mid * size) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Three-way comparison of two integers, for the cmp functions. */
#define LOWERBOUND_CMP(a, b) (((a) > (b)) - ((a) < (b)))

#endif /* TTALLOC_LOWERBOUND_H */
