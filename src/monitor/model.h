/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - what tt-alloc-monitor shows, without any drawing: the devices
 * (from the server's snapshots and from sysfs), a history of DRAM and L1 use
 * per device, the processes of the selected device in the chosen order
 * (from the server, or without one from pids files and SHM), the leak
 * report, one process's buffers, and the view state (selection, sort and
 * its direction, filter, pause, refresh rate, connection, a pending kill).
 *
 * The model never talks to the server or reads files itself: monitor_main.c
 * feeds it (model_apply_snapshot, model_set_sysfs, ...), so every rule here
 * can be unit-tested with hand-made data. Times are milliseconds of a
 * monotonic clock, passed in by the caller.
 */
#ifndef TTALLOC_MONITOR_MODEL_H
#define TTALLOC_MONITOR_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sysfs.h"
#include "ttalloc.h"

/* The memory types shown, in display order (SYSTEM_MEMORY is host memory,
 * not shown as a bar). Their names come from ttalloc_type_name (text.h). */
#define MODEL_NUM_BARS 5
extern const enum ttalloc_buffer_type model_bar_types[MODEL_NUM_BARS];

/* Colour level of a bar: green < 75 % <= yellow < 90 % <= red. */
enum model_level { MODEL_LEVEL_UNKNOWN, MODEL_LEVEL_GREEN, MODEL_LEVEL_YELLOW, MODEL_LEVEL_RED };

/* used as a percentage of total; a negative number when total is unknown (0). */
double model_percent(uint64_t used, uint64_t total);
enum model_level model_level(uint64_t used, uint64_t total);

/* History: one bucket per MODEL_HISTORY_PERIOD_MS holding the highest DRAM
 * and L1 use seen in it; MODEL_HISTORY_LEN buckets (10 minutes). */
#define MODEL_HISTORY_PERIOD_MS 1000
#define MODEL_HISTORY_LEN 600

struct model_sample {
    uint64_t dram;
    uint64_t l1;
    int valid; /* 0: no data in that bucket (paused, no server) */
};

struct model_history {
    int64_t newest; /* bucket number (time / period) of the newest sample, -1 = none */
    struct model_sample ring[MODEL_HISTORY_LEN];
};

void model_history_init(struct model_history *h);
void model_history_add(struct model_history *h, int64_t now_ms, uint64_t dram, uint64_t l1);
/* The sample `age` buckets before the bucket of now_ms (age 0 = now). Buckets
 * never filled, or older than the ring, come back with valid == 0. */
struct model_sample model_history_get(const struct model_history *h, int64_t now_ms, int age);

struct model_device {
    uint32_t id;     /* TT-Metal device id = tt-kmd ordinal */
    int in_snapshot; /* the server reports it */
    int in_sysfs;    /* tt-kmd has it (sysfs is valid) */
    int used_known;  /* stats.used[] is known (server or SHM) */
    char board[32];  /* board type, "" = unknown */
    /* The server's figures, copied whole from the snapshot (total[] 0 =
     * unknown); without a server: totals from the board table, used from
     * TT-Metal's SHM statistics when there are any. */
    struct ttalloc_device_stats stats;
    struct sysfs_device sysfs;
    struct model_history history;
};

/* Where a process row comes from: the server (libttalloc, or the SHM
 * statistics the server read); without a server, TT-Metal's SHM statistics
 * or tt-kmd's pids files, as tt-smi finds them. */
enum model_source { MODEL_SOURCE_SERVER, MODEL_SOURCE_SHM, MODEL_SOURCE_PIDS };
/* "server", "shm", "pids" */
const char *model_source_name(enum model_source source);

/* One process's use of the selected device, a row of the process list. */
struct model_proc {
    int32_t pid;
    uint32_t uid;
    int uid_known;
    int connected; /* still has a connection to the server */
    enum model_source source;
    int bytes_known; /* 0: it holds the device, figures unknown */
    char name[TTALLOC_NAME_MAX];
    char label[TTALLOC_LABEL_MAX];
    uint64_t bytes[TTALLOC_NUM_TYPES];
    uint64_t buffers;
};

/* A process found without a server (model_set_found): it holds `device`
 * (a pids file) or has figures for it (SHM). */
struct model_found {
    int32_t pid;
    uint32_t device;
    uint32_t uid;
    int uid_known;
    enum model_source source; /* MODEL_SOURCE_SHM or MODEL_SOURCE_PIDS */
    char name[TTALLOC_NAME_MAX];
    uint64_t bytes[TTALLOC_NUM_TYPES]; /* SHM only */
};

/* A device's use from TT-Metal's SHM statistics, without a server. */
struct model_found_device {
    uint32_t device;
    uint64_t used[TTALLOC_NUM_TYPES];
};

enum model_sort {
    MODEL_SORT_DRAM,
    MODEL_SORT_L1,
    MODEL_SORT_BUFFERS,
    MODEL_SORT_PID,
    MODEL_SORT_NAME,
    MODEL_SORT_COUNT
};
const char *model_sort_name(enum model_sort sort);

enum model_conn { MODEL_CONN_NEVER, MODEL_CONN_UP, MODEL_CONN_LOST };

/* The refresh rates +/- step through, in ms. */
#define MODEL_REFRESH_MIN_MS 10
#define MODEL_REFRESH_MAX_MS 60000

#define MODEL_MAX_FILTER 64
#define MODEL_FILTER_TEXT_MAX 64
#define MODEL_MESSAGE_MAX 200

struct model {
    /* options */
    uint32_t filter[MODEL_MAX_FILTER]; /* -d IDs; n_filter == 0: all devices */
    size_t n_filter;
    unsigned refresh_ms;

    /* view state */
    int paused;
    int show_help;
    enum model_sort sort;
    int reverse;                             /* the sort order reversed (r, I) */
    char filter_text[MODEL_FILTER_TEXT_MAX]; /* `/`: shown processes match it ("" = all) */
    int filter_editing;                      /* the filter line is being typed */
    int show_exits;                          /* the leak history replaces the process list */
    int32_t kill_pid;                        /* `k`: SIGTERM to this pid, awaiting y/n (0 = no) */
    char kill_name[TTALLOC_NAME_MAX];
    char message[MODEL_MESSAGE_MAX]; /* a result for the status line, until a key */
    size_t selected;                 /* index into the visible devices */
    uint32_t selected_id;            /* ... and that device's id (kept across changes) */
    int32_t selected_pid;            /* 0 = none yet */
    int32_t buffers_pid;             /* buffer view open for this pid, 0 = closed */

    /* connection */
    enum model_conn conn;
    char socket_path[128]; /* for messages */
    int64_t retry_at_ms;   /* next connection attempt while not up */

    /* devices: every device ever seen (keeps history), ascending id */
    struct model_device *devices;
    size_t n_devices;
    /* the shown ones: indexes into devices[], ascending id */
    size_t *visible;
    size_t n_visible;

    /* from the last snapshot */
    uint64_t seq;
    uint64_t timestamp_ns;
    uint64_t leaked_exits_total;
    struct ttalloc_process_info *procs_info;
    size_t n_procs_info;
    struct ttalloc_usage *usage;
    size_t n_usage;

    /* without a server: processes from pids files and SHM (model_set_found) */
    struct model_found *found;
    size_t n_found;
    int found_shm; /* SHM figures were read */

    /* the selected device's processes, sorted */
    struct model_proc *procs;
    size_t n_procs;

    /* leak report (newest last) and the open buffer view */
    struct ttalloc_exit *exits;
    size_t n_exits;
    struct ttalloc_buffer *buffers;
    size_t n_buffers;
};

void model_init(struct model *m, unsigned refresh_ms);
void model_free(struct model *m);
/* Show only these device ids (-d); returns -EINVAL past MODEL_MAX_FILTER. */
int model_add_filter(struct model *m, uint32_t id);
int model_filter_allows(const struct model *m, uint32_t id);

/* Take in a snapshot (copied; the caller frees it); conn becomes UP. Records
 * history at now_ms.
 * Returns -ENOMEM, else 0. A paused model ignores snapshots. */
int model_apply_snapshot(struct model *m, const struct ttalloc_snapshot *snap, int64_t now_ms);
/* The server went away: used figures become unknown, processes vanish. */
void model_server_lost(struct model *m);
/* The devices tt-kmd has now (takes ownership of `devs`, a malloc'd array). */
int model_set_sysfs(struct model *m, struct sysfs_device *devs, size_t n);
/* Without a server: the processes tt-smi would find (pids files, SHM) and
 * the devices' use from SHM (takes ownership of both malloc'd arrays; NULL
 * clears). Ignored while connected or paused. Returns 0 or -ENOMEM. */
int model_set_found(struct model *m, struct model_found *procs, size_t n_procs,
                    struct model_found_device *devs, size_t n_devs);
/* Replace the leak report / the buffer view (takes ownership of the arrays). */
void model_set_exits(struct model *m, struct ttalloc_exit *exits, size_t n);
void model_set_buffers(struct model *m, int32_t pid, struct ttalloc_buffer *buffers, size_t n);

/* The selected device, NULL when nothing is shown. */
const struct model_device *model_selected_device(const struct model *m);
const struct model_device *model_visible_device(const struct model *m, size_t i);
/* The process row of selected_pid, or -1. */
long model_selected_proc_index(const struct model *m);

/* Keys. */
void model_select_device(struct model *m, int delta);
void model_select_proc(struct model *m, int delta);
void model_next_sort(struct model *m);
void model_toggle_reverse(struct model *m);
/* Set the `/` filter ("" clears it); the selection stays on a shown process. */
void model_set_filter(struct model *m, const char *text);
/* Does the row match `filter`: a case-insensitive part of its name, label
 * or PID in decimal? An empty filter matches every row. */
int model_proc_matches(const struct model_proc *p, const char *filter);
/* Next faster (delta < 0) or slower refresh rate step; returns the new rate. */
unsigned model_step_refresh(struct model *m, int delta);
/* The processes using `device` that match the filter, in `sort` order
 * (reversed when m->reverse): the server's rows, or without a server the
 * found ones (free() *out). 0 or -ENOMEM. */
int model_collect_procs(const struct model *m, uint32_t device, enum model_sort sort,
                        struct model_proc **out, size_t *n);
/* Rebuild procs[] for the selected device in the current order. */
int model_rebuild_procs(struct model *m);

/* The process's info from the last snapshot, NULL if not there. */
const struct ttalloc_process_info *model_find_process(const struct model *m, int32_t pid);

#endif /* TTALLOC_MONITOR_MODEL_H */
