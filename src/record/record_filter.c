/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_filter.c - which processes tt-alloc-record keeps (see record_filter.h).
 */
#include "record_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procs.h"

/* Parents followed before giving up (a loop in a hostile /proc cannot hang us). */
#define RECORD_FILTER_MAX_DEPTH 64

void record_filter_init(struct record_filter *f, enum record_filter_mode mode)
{
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->proc_root = "/proc";
    f->last_pid = -1;
}

void record_filter_destroy(struct record_filter *f)
{
    free(f->kept);
    f->kept = NULL;
    f->cap = f->count = 0;
}

static size_t record_filter_slot(const struct record_filter *f, int32_t pid)
{
    /* Fibonacci hashing of the pid. */
    uint64_t h = (uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (f->cap - 1);
}

static int record_filter_contains(const struct record_filter *f, int32_t pid)
{
    if (f->cap == 0 || pid <= 0)
        return 0;
    for (size_t i = record_filter_slot(f, pid);; i = (i + 1) & (f->cap - 1)) {
        if (f->kept[i] == pid)
            return 1;
        if (f->kept[i] == 0)
            return 0;
    }
}

static int record_filter_grow(struct record_filter *f)
{
    size_t cap = f->cap ? f->cap * 2 : 64;
    int32_t *old = f->kept;
    size_t old_cap = f->cap;
    f->kept = calloc(cap, sizeof(*f->kept));
    if (f->kept == NULL) {
        f->kept = old;
        return -ENOMEM;
    }
    f->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == 0)
            continue;
        size_t j = record_filter_slot(f, old[i]);
        while (f->kept[j] != 0)
            j = (j + 1) & (f->cap - 1);
        f->kept[j] = old[i];
    }
    free(old);
    return 0;
}

int record_filter_add(struct record_filter *f, int32_t pid)
{
    if (pid <= 0)
        return -EINVAL;
    if (record_filter_contains(f, pid))
        return 0;
    if ((f->count + 1) * 2 > f->cap && record_filter_grow(f) < 0)
        return -ENOMEM;
    size_t i = record_filter_slot(f, pid);
    while (f->kept[i] != 0)
        i = (i + 1) & (f->cap - 1);
    f->kept[i] = pid;
    f->count++;
    if (f->last_pid == pid)
        f->last_kept = 1;
    return 0;
}

int record_filter_set_root(struct record_filter *f, int32_t pid)
{
    f->root = pid;
    return record_filter_add(f, pid);
}

int32_t record_filter_parent(const char *proc_root, int32_t pid)
{
    int32_t ppid;
    return procs_read_stat(proc_root, pid, NULL, &ppid) == 0 ? ppid : 0;
}

/* TREE: is pid the command or below it? */
static int record_filter_in_tree(struct record_filter *f, int32_t pid, int32_t parent_pid)
{
    if (f->root <= 0)
        return 0;
    int32_t at = pid;
    for (int depth = 0; depth < RECORD_FILTER_MAX_DEPTH && at > 1; depth++) {
        if (at == f->root || record_filter_contains(f, at))
            return 1;
        int32_t up = record_filter_parent(f->proc_root, at);
        if (up == 0 && at == pid)
            up = parent_pid; /* gone from /proc already: the server's word */
        if (up == 0 || up == at)
            return 0;
        at = up;
    }
    return 0;
}

int record_filter_decide(struct record_filter *f, int32_t pid, int32_t parent_pid)
{
    int keep;
    switch (f->mode) {
    case RECORD_FILTER_ALL:
        return 1;
    case RECORD_FILTER_PIDS:
        keep = record_filter_contains(f, pid);
        break;
    case RECORD_FILTER_TREE:
    default:
        keep = record_filter_in_tree(f, pid, parent_pid);
        if (keep && record_filter_add(f, pid) < 0)
            keep = 0;
        break;
    }
    f->last_pid = pid;
    f->last_kept = keep;
    return keep;
}

int record_filter_would_keep(struct record_filter *f, int32_t pid)
{
    switch (f->mode) {
    case RECORD_FILTER_ALL:
        return 1;
    case RECORD_FILTER_PIDS:
        return record_filter_contains(f, pid);
    case RECORD_FILTER_TREE:
    default:
        return record_filter_in_tree(f, pid, 0);
    }
}

int record_filter_keeps(struct record_filter *f, int32_t pid)
{
    if (f->mode == RECORD_FILTER_ALL)
        return 1;
    if (pid == f->last_pid)
        return f->last_kept;
    f->last_pid = pid;
    f->last_kept = record_filter_contains(f, pid);
    return f->last_kept;
}

void record_filter_forget(struct record_filter *f, int32_t pid)
{
    if (f->mode != RECORD_FILTER_TREE || f->cap == 0 || pid <= 0 || pid == f->root)
        return;
    size_t i = record_filter_slot(f, pid);
    while (f->kept[i] != pid) {
        if (f->kept[i] == 0)
            return;
        i = (i + 1) & (f->cap - 1);
    }
    /* Backward-shift deletion: no tombstones. */
    size_t hole = i;
    for (size_t j = (hole + 1) & (f->cap - 1); f->kept[j] != 0; j = (j + 1) & (f->cap - 1)) {
        size_t home = record_filter_slot(f, f->kept[j]);
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            f->kept[hole] = f->kept[j];
            hole = j;
        }
    }
    f->kept[hole] = 0;
    f->count--;
    if (f->last_pid == pid)
        f->last_pid = -1;
}
