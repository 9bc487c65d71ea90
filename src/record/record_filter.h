/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_filter.h - which processes tt-alloc-record keeps: every process
 * the server shows, the --pid list, or a command and its descendants.
 *
 * A process is decided once, when the stream first names it (its
 * STREAM_PROCESS), and the verdict kept in a set of PIDs, so the check for
 * each of millions of events is a hash lookup (and usually a compare with
 * the last PID asked about). A descendant is a process whose chain of
 * parents in /proc/<pid>/stat reaches the command, or, when /proc no longer
 * has it, whose parent the filter already kept.
 */
#ifndef TTALLOC_RECORD_FILTER_H
#define TTALLOC_RECORD_FILTER_H

#include <stddef.h>
#include <stdint.h>

enum record_filter_mode {
    RECORD_FILTER_ALL,  /* every process */
    RECORD_FILTER_PIDS, /* the --pid list */
    RECORD_FILTER_TREE, /* a command and its descendants */
};

struct record_filter {
    enum record_filter_mode mode;
    int32_t root;          /* TREE: the command's pid (0: not started yet) */
    const char *proc_root; /* "/proc" (tests may point elsewhere) */
    int32_t *kept;         /* open-addressing set of kept pids; 0 = empty slot */
    size_t cap;            /* 0 or a power of two */
    size_t count;
    int32_t last_pid; /* the last pid asked about, and its answer */
    int last_kept;
};

void record_filter_init(struct record_filter *f, enum record_filter_mode mode);
void record_filter_destroy(struct record_filter *f);

/* PIDS: keep this pid. TREE: the command (kept, and the root of the tree).
 * Returns 0 or -ENOMEM. */
int record_filter_add(struct record_filter *f, int32_t pid);
int record_filter_set_root(struct record_filter *f, int32_t pid);

/* The stream names a process: decide it (TREE: from /proc, else from
 * parent_pid, 0 = unknown). Returns 1 when it is kept. */
int record_filter_decide(struct record_filter *f, int32_t pid, int32_t parent_pid);

/* Would the filter keep pid, were the stream to name it? (Decides without
 * remembering: for processes the stream does not carry, such as SHM-only
 * ones.) */
int record_filter_would_keep(struct record_filter *f, int32_t pid);

/* Is this pid kept? (ALL: always.) */
int record_filter_keeps(struct record_filter *f, int32_t pid);

/* The parent of pid from <proc_root>/<pid>/stat, 0 when it cannot be read. */
int32_t record_filter_parent(const char *proc_root, int32_t pid);

/* The process ended: forget it, so a later process given the same pid is
 * decided afresh (PIDS keeps its list: the user named the number). */
void record_filter_forget(struct record_filter *f, int32_t pid);

#endif /* TTALLOC_RECORD_FILTER_H */
