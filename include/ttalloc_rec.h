/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttalloc_rec.h - reading tt-alloc recordings (.ttrec files).
 *
 * tt-alloc-record writes a .ttrec file: the live state when it started, then
 * every allocation and free of the recorded processes in order, with process
 * starts and exits, device descriptions, gap markers, samples of SHM-only
 * processes and telemetry. docs/ttrec.md documents the byte layout.
 *
 * This reader is the one copy of the format that tt-alloc-report, the Python
 * binding (ttalloc.read_recording) and C programs use. It never trusts the
 * file: garbage gives an error, a file cut short (a crash, or a recording
 * still being written) reads up to its last complete frame and then ends
 * with ttalloc_rec_truncated() set.
 *
 * Link with -lttalloc (pkg-config ttalloc). Usable from C and C++.
 */
#ifndef TTALLOC_REC_H
#define TTALLOC_REC_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TTALLOC_REC_VERSION 1u /* the format version this library writes */
#define TTALLOC_REC_HOST_MAX 64

/* What one record of a recording is. Fields of struct ttalloc_rec_event that
 * a kind does not list below are unspecified for it. Every kind has `time_ns`
 * (nanoseconds since the start of the recording; negative for what happened
 * before it, e.g. the alloc time of a buffer live at the start). */
enum ttalloc_rec_kind {
    TTALLOC_REC_ALLOC = 1, /* pid device type address size */
    TTALLOC_REC_FREE = 2,  /* pid device type address size (0 when the recorder did not know it) */
    TTALLOC_REC_PEAK_RESET = 3, /* pid: that process reset its peaks here */
    TTALLOC_REC_LIVE_BEGIN =
        4, /* count: the full live state follows (LIVE_BUFFER x count, LIVE_END);
                                     it replaces whatever a reader believed was live */
    TTALLOC_REC_LIVE_BUFFER = 5, /* pid device type address size; time_ns = its alloc time */
    TTALLOC_REC_LIVE_END = 6,    /* the live state is complete */
    TTALLOC_REC_PROCESS_START =
        7, /* pid parent_pid uid name label; time_ns = its start (may be < 0) */
    TTALLOC_REC_PROCESS_EXIT = 8, /* pid */
    TTALLOC_REC_DEVICE = 9,       /* device desc */
    TTALLOC_REC_GAP = 10,         /* count: events lost here; a LIVE_BEGIN..LIVE_END follows */
    TTALLOC_REC_SHM_SAMPLE = 11,  /* pid device bytes[]: an SHM-only process's use, sampled */
    TTALLOC_REC_TELEMETRY = 12,   /* device temperature_c power_w (NaN = unknown) */
};
#define TTALLOC_REC_KIND_MAX 12

struct ttalloc_rec_event {
    uint32_t kind; /* enum ttalloc_rec_kind */
    int32_t pid;
    int64_t time_ns; /* since the recording's start */
    uint32_t device;
    uint32_t type; /* enum ttalloc_buffer_type */
    uint64_t address;
    uint64_t size;
    uint64_t count;                    /* GAP: events lost; LIVE_BEGIN: buffers that follow */
    int32_t parent_pid;                /* PROCESS_START; 0 = unknown */
    uint32_t uid;                      /* PROCESS_START */
    char name[TTALLOC_NAME_MAX];       /* PROCESS_START, NUL-terminated */
    char label[TTALLOC_LABEL_MAX];     /* PROCESS_START, NUL-terminated, "" = none */
    uint64_t bytes[TTALLOC_NUM_TYPES]; /* SHM_SAMPLE: live bytes per type */
    double temperature_c;              /* TELEMETRY */
    double power_w;                    /* TELEMETRY */
    struct ttalloc_device_desc desc;   /* DEVICE */
};

/* The file's header. */
struct ttalloc_rec_info {
    uint32_t version; /* format version of the file */
    uint32_t reserved;
    uint64_t start_realtime_ns;      /* CLOCK_REALTIME at the start */
    uint64_t start_monotonic_ns;     /* CLOCK_MONOTONIC at the start (time_ns 0) */
    char host[TTALLOC_REC_HOST_MAX]; /* NUL-terminated */
};

typedef struct ttalloc_rec ttalloc_rec;

/* Open a recording and read its header. Returns 0 and sets *out, or a
 * negative errno: -ENOENT etc. from open(2); -EBADMSG not a recording (or
 * its header is cut short); -EPROTONOSUPPORT a format version this library
 * does not read. ttalloc_rec_error_message() explains any failure: call it
 * with NULL after a failed open. */
int ttalloc_rec_open(const char *path, ttalloc_rec **out);

/* The same over `len` bytes of memory, which must outlive the reader. */
int ttalloc_rec_open_memory(const void *data, size_t len, ttalloc_rec **out);

const struct ttalloc_rec_info *ttalloc_rec_info(const ttalloc_rec *rec);

/* Read the next record into *ev. Returns 1 (a record), 0 (the end: the file
 * ends, cleanly or cut short - see ttalloc_rec_truncated), or a negative
 * errno when the file is corrupt (-EBADMSG) or cannot be read (-EIO...);
 * every record before the error was valid. After 0 or an error it keeps
 * returning the same. */
int ttalloc_rec_next(ttalloc_rec *rec, struct ttalloc_rec_event *ev);

/* 1 when the file ended inside a frame (cut short by a crash, or still being
 * written): what was read is the complete prefix. */
int ttalloc_rec_truncated(const ttalloc_rec *rec);

/* Bytes of the file consumed so far (complete frames), for progress. */
uint64_t ttalloc_rec_offset(const ttalloc_rec *rec);

/* Why the last call failed or why reading stopped short, "" if it did not.
 * With rec == NULL: the reason of the last failed open in this thread. */
const char *ttalloc_rec_error_message(const ttalloc_rec *rec);

void ttalloc_rec_close(ttalloc_rec *rec);

/* "alloc", "free", "peak_reset", "live_begin", "live_buffer", "live_end",
 * "process_start", "process_exit", "device", "gap", "shm_sample",
 * "telemetry"; NULL if unknown. */
const char *ttalloc_rec_kind_name(uint32_t kind);

#ifdef __cplusplus
}
#endif

#endif /* TTALLOC_REC_H */
