/* SPDX-License-Identifier: Apache-2.0 */
/*
 * debuglog.c - TT_ALLOC_DEBUG=1 messages of libttalloc (see debuglog.h).
 */
#include "debuglog.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DEBUGLOG_UNKNOWN = 0, DEBUGLOG_OFF, DEBUGLOG_ON };

static atomic_int debuglog_state;

bool debuglog_enabled(void)
{
    int state = atomic_load_explicit(&debuglog_state, memory_order_relaxed);
    if (state == DEBUGLOG_UNKNOWN) {
        const char *env = getenv("TT_ALLOC_DEBUG");
        state = env != NULL && strcmp(env, "1") == 0 ? DEBUGLOG_ON : DEBUGLOG_OFF;
        atomic_store_explicit(&debuglog_state, state, memory_order_relaxed);
    }
    return state == DEBUGLOG_ON;
}

void debuglog(const char *fmt, ...)
{
    if (!debuglog_enabled())
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n >= 0)
        fprintf(stderr, "libttalloc[%d]: %s\n", (int)getpid(), line);
}
