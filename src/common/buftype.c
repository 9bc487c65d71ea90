/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buftype.c - the buffer types' names (see buftype.h).
 */
#include "buftype.h"

#include <string.h>

static const struct {
    const char *key;
    const char *upper;
    const char *title;
} buftype_names[TTALLOC_NUM_TYPES] = {
    [TTALLOC_DRAM] = {"dram", "DRAM", "DRAM"},
    [TTALLOC_L1] = {"l1", "L1", "L1"},
    [TTALLOC_SYSTEM_MEMORY] = {"system_memory", "SYSTEM_MEMORY", "System Memory"},
    [TTALLOC_L1_SMALL] = {"l1_small", "L1_SMALL", "L1 Small"},
    [TTALLOC_TRACE] = {"trace", "TRACE", "Trace"},
    [TTALLOC_CB] = {"cb", "CB", "CB"},
};

const enum ttalloc_buffer_type buftype_device[BUFTYPE_N_DEVICE] = {
    TTALLOC_DRAM, TTALLOC_L1, TTALLOC_L1_SMALL, TTALLOC_TRACE, TTALLOC_CB,
};

const char *buftype_key(unsigned type)
{
    return type < TTALLOC_NUM_TYPES ? buftype_names[type].key : NULL;
}

const char *buftype_upper(unsigned type)
{
    return type < TTALLOC_NUM_TYPES ? buftype_names[type].upper : NULL;
}

const char *buftype_title(unsigned type)
{
    return type < TTALLOC_NUM_TYPES ? buftype_names[type].title : NULL;
}

int buftype_from_key(const char *key)
{
    for (unsigned t = 0; key != NULL && t < TTALLOC_NUM_TYPES; t++)
        if (strcmp(key, buftype_names[t].key) == 0)
            return (int)t;
    return -1;
}
