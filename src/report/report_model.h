/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_model.h - what tt-alloc-report learns from one pass over a
 * recording: per process x device x type the live, peak and final bytes and
 * alloc/free counts; per device and type the peak; the buffers live at each
 * device's DRAM peak; leaks; downsampled curves and the largest buffers for
 * the HTML and Perfetto outputs. Memory grows with the live set and the
 * number of processes, never with the length of the file.
 *
 * No I/O: report_main.c feeds it records; report_text/json/html/perfetto
 * print it.
 */
#ifndef TTALLOC_REPORT_MODEL_H
#define TTALLOC_REPORT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"
#include "ttalloc_rec.h"

#define REPORT_BUCKETS 2048     /* points per curve before downsampling to print */
#define REPORT_MAP_BUFFERS 1500 /* largest finished buffers kept per device x type */
#define REPORT_MAX_CURVES 512   /* process x device x type curves kept (35 KB each) */

/* One buffer: live, freed, at a peak or leaked. free_ns is INT64_MAX while live. */
struct report_buffer {
    uint64_t address;
    uint64_t size;
    int64_t alloc_ns;
    int64_t free_ns;
    uint64_t alloc_seq; /* internal: order of its alloc among all changes */
    int32_t pid;
    uint32_t device;
    uint8_t type;
    uint8_t generation; /* internal: live-state rebuilds */
};

/* A curve over time, downsampled into REPORT_BUCKETS buckets of equal width
 * (the width doubles whenever the recording outgrows it). */
struct report_series {
    uint64_t max[REPORT_BUCKETS];  /* highest value in the bucket */
    uint64_t last[REPORT_BUCKETS]; /* value at the bucket's end */
    uint8_t used[REPORT_BUCKETS];  /* the value changed in this bucket */
};

/* One process's use of one (device, type). */
struct report_memory {
    uint32_t device;
    uint8_t type;
    uint64_t live; /* bytes now (final_bytes at the end or at exit) */
    uint64_t peak;
    int64_t peak_ns;
    uint64_t allocs;
    uint64_t frees;
    struct report_series *series;
};

struct report_process {
    int32_t pid;
    int32_t parent_pid;
    uint32_t uid;
    int has_start; /* a PROCESS_START record named it */
    int exited;
    int64_t start_ns; /* its start, or when first seen */
    int64_t exit_ns;
    char name[TTALLOC_NAME_MAX];
    char label[TTALLOC_LABEL_MAX];
    struct report_memory *memory;
    size_t n_memory;
    struct report_buffer *leaks; /* largest first once the pass is finished */
    size_t n_leaks;
};

/* A min-heap of the largest buffers of one (device, type). */
struct report_heap {
    struct report_buffer *items;
    size_t count;
    size_t cap;
};

struct report_device {
    uint32_t device;
    int described;
    struct ttalloc_device_desc desc;
    uint64_t live[TTALLOC_NUM_TYPES];
    uint64_t peak[TTALLOC_NUM_TYPES];
    int64_t peak_ns[TTALLOC_NUM_TYPES];
    uint64_t buffers_seen[TTALLOC_NUM_TYPES]; /* buffers ever live here */
    int used_type[TTALLOC_NUM_TYPES];
    uint64_t peak_seq;                      /* the change that made the DRAM peak */
    struct report_buffer *freed_after_peak; /* live at the DRAM peak, gone since */
    size_t n_freed_after_peak;
    size_t cap_freed_after_peak;
    struct report_buffer *at_peak; /* filled by report_model_finish, largest first */
    size_t n_at_peak;
    struct report_heap largest[TTALLOC_NUM_TYPES];
    struct report_series *series[TTALLOC_NUM_TYPES]; /* the device's total over time */
    uint64_t min_address[TTALLOC_NUM_TYPES];
    uint64_t max_address[TTALLOC_NUM_TYPES]; /* end of the highest buffer */
};

struct report_instant {
    int64_t time_ns;
    uint32_t kind; /* TTALLOC_REC_PROCESS_EXIT or TTALLOC_REC_GAP */
    int32_t pid;
    uint64_t count;
};

/* The live-buffer table: open addressing keyed by (pid, device, type, address). */
struct report_live {
    struct report_buffer *slots; /* size 0: empty */
    size_t capacity;
    size_t count;
};

struct report_model {
    /* options */
    const int32_t *only_pids; /* NULL: every process */
    size_t n_only_pids;
    int64_t at_ns; /* --at: snapshot the live set then; -1: no */

    /* figures */
    int64_t first_ns, last_ns; /* times of the first and last record */
    int any_record;
    uint64_t events; /* allocs + frees */
    uint64_t gaps;
    uint64_t lost_events;
    uint64_t unknown_frees; /* frees of buffers not live */
    uint64_t seq;

    struct report_process *processes;
    size_t n_processes, cap_processes;
    int32_t *pid_index; /* open addressing: pid -> index + 1 */
    size_t pid_index_cap;
    struct report_device *devices;
    size_t n_devices, cap_devices;
    struct report_instant *instants;
    size_t n_instants, cap_instants;

    struct report_live live;
    int in_live_state;
    struct report_buffer *pending; /* buffers a live state adds, held to its end */
    size_t n_pending, cap_pending;
    uint8_t generation;
    int64_t live_state_ns;

    int64_t bucket_ns;   /* width of one curve bucket */
    size_t n_curves;     /* process curves allocated */
    int curves_left_out; /* more processes than REPORT_MAX_CURVES curves */

    struct report_buffer *at_buffers; /* --at result, largest first */
    size_t n_at_buffers;
    int at_taken;

    int out_of_memory;
    int finished;
};

void report_model_init(struct report_model *m);
void report_model_release(struct report_model *m);

/* Apply one record. For an alloc or free that passes the --pid filter it
 * returns 1 and sets *size_out to the buffer's size (a free's size comes
 * from its alloc when the record has none); 0 for other records; -ENOMEM. */
int report_model_apply(struct report_model *m, const struct ttalloc_rec_event *ev,
                       uint64_t *size_out);

/* After the last record: leaks sorted, at_peak gathered, --at taken. */
int report_model_finish(struct report_model *m);

/* Duration of the recording in ns (0 if it has no record after the start). */
int64_t report_model_duration(const struct report_model *m);

struct report_process *report_model_process(struct report_model *m, int32_t pid);
int report_model_wants_pid(const struct report_model *m, int32_t pid);

/* Every buffer live now (at the end), in table order: start with *pos = 0. */
const struct report_buffer *report_model_live_next(const struct report_model *m, size_t *pos);

/* qsort order: largest first, then by address. */
int report_buffer_cmp_largest(const void *a, const void *b);

#endif /* TTALLOC_REPORT_MODEL_H */
