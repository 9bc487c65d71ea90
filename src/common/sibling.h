/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sibling.h - finding another tt-alloc program from this one: tt-alloc-record
 * starts tt-alloc-server, tt-alloc-sim starts tt-alloc-record. Installed,
 * they sit side by side; in the build tree each is in its module's
 * directory (build/src/server/tt-alloc-server, build/src/record/...).
 */
#ifndef TTALLOC_SIBLING_H
#define TTALLOC_SIBLING_H

#include <stddef.h>

/* The program `name`: beside /proc/self/exe, else in ../build_dir/ from
 * there. Returns 1 with its path in out, or 0 with `name` itself in out
 * (for execvp to look up in PATH: execvp runs a path with a slash as is,
 * so out always suits execvp). */
int sibling_find(const char *name, const char *build_dir, char *out, size_t cap);

#endif /* TTALLOC_SIBLING_H */
