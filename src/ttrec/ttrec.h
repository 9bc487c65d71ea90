/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrec.h - the .ttrec recording format: its writer (used by tt-alloc-record
 * and the tests) and its reader (include/ttalloc_rec.h, public, in
 * libttalloc). One module, one copy of the format; docs/ttrec.md draws it.
 *
 * A file is a fixed header then a run of frames; each frame is one
 * independently decodable zstd frame of records, so a file cut short reads
 * up to its last complete frame. Records delta-encode time, pid and address
 * against the previous record of the same frame.
 *
 * Writer usage:
 *     struct ttrec_writer *w;
 *     struct ttrec_start start = { .realtime_ns = ..., .monotonic_ns = ... };
 *     ttrec_writer_open("x.ttrec", &start, &w);       // file created now
 *     ttrec_write_live_begin(w, now, n); ...live_buffer x n...; ttrec_write_live_end(w, now);
 *     ttrec_write_proto_event(w, pid, &ev);           // per event off the wire
 *     ttrec_writer_flush(w);                          // every interval: readable on disk now
 *     ttrec_writer_close(w);                          // flush, close; first error if any
 *
 * Every time argument of the ttrec_write_* functions is an absolute
 * CLOCK_MONOTONIC time in ns (as proto_event.timestamp_ns); the writer stores
 * it relative to start.monotonic_ns. ttrec_writer_write takes a record whose
 * time_ns is already relative (the reader's form: a read record written back
 * gives the same record).
 *
 * Errors are sticky: after a failed write every call returns the same
 * negative errno, and ttrec_writer_close reports it.
 * Not thread-safe: one writer belongs to one thread.
 */
#ifndef TTALLOC_TTREC_H
#define TTALLOC_TTREC_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"
#include "ttalloc_rec.h"

struct proto_event;

/* The file header's content. */
struct ttrec_start {
    uint64_t realtime_ns;  /* CLOCK_REALTIME at the start */
    uint64_t monotonic_ns; /* CLOCK_MONOTONIC at the same moment: relative time 0 */
    const char *host;      /* NULL: gethostname() */
};

struct ttrec_writer_options {
    size_t frame_bytes; /* raw bytes per frame before it is compressed and written;
                                   0 = TTREC_DEFAULT_FRAME_BYTES */
    int zstd_level;     /* 0 = TTREC_DEFAULT_LEVEL */
};
#define TTREC_DEFAULT_FRAME_BYTES (1u << 20)
#define TTREC_MAX_FRAME_BYTES (8u << 20) /* the reader refuses larger frames */
#define TTREC_DEFAULT_LEVEL 1

struct ttrec_writer;

/* Create (O_TRUNC) `path` and write its header. opts may be NULL. Returns 0
 * and sets *out, or a negative errno. */
int ttrec_writer_open(const char *path, const struct ttrec_start *start,
                      const struct ttrec_writer_options *opts, struct ttrec_writer **out);

/* The same on an open descriptor (a file or pipe); the writer does not close it. */
int ttrec_writer_open_fd(int fd, const struct ttrec_start *start,
                         const struct ttrec_writer_options *opts, struct ttrec_writer **out);

/* An ALLOC, FREE or RESET_PEAK exactly as it came off the wire, attributed
 * to `pid` (the server's word). A free's size may be 0 (unknown). */
int ttrec_write_proto_event(struct ttrec_writer *w, int32_t pid, const struct proto_event *ev);

int ttrec_write_alloc(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                      uint64_t address, uint64_t size, uint64_t mono_ns);
int ttrec_write_free(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                     uint64_t address, uint64_t size, uint64_t mono_ns);
int ttrec_write_peak_reset(struct ttrec_writer *w, int32_t pid, uint64_t mono_ns);

/* The live state: begin (with the number of buffers that follow), every
 * live buffer (alloc_mono_ns 0 = unknown: stored as the begin's time), end.
 * Write one at the start and one right after every gap. */
int ttrec_write_live_begin(struct ttrec_writer *w, uint64_t mono_ns, uint64_t buffers);
int ttrec_write_live_buffer(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                            uint64_t address, uint64_t size, uint64_t alloc_mono_ns);
int ttrec_write_live_end(struct ttrec_writer *w, uint64_t mono_ns);

/* start_mono_ns: when the process started (0 = unknown: stored as mono_ns). */
int ttrec_write_process_start(struct ttrec_writer *w, int32_t pid, int32_t parent_pid, uint32_t uid,
                              const char *name, const char *label, uint64_t start_mono_ns,
                              uint64_t mono_ns);
int ttrec_write_process_exit(struct ttrec_writer *w, int32_t pid, uint64_t mono_ns);
int ttrec_write_device(struct ttrec_writer *w, uint32_t device,
                       const struct ttalloc_device_desc *desc, uint64_t mono_ns);
/* `lost` events were dropped here; write the fresh live state right after. */
int ttrec_write_gap(struct ttrec_writer *w, uint64_t lost, uint64_t mono_ns);
int ttrec_write_shm_sample(struct ttrec_writer *w, int32_t pid, uint32_t device,
                           const uint64_t bytes[TTALLOC_NUM_TYPES], uint64_t mono_ns);
/* NaN = unknown. */
int ttrec_write_telemetry(struct ttrec_writer *w, uint32_t device, double temperature_c,
                          double power_w, uint64_t mono_ns);

/* Any record in the reader's form (time_ns relative to the start). */
int ttrec_writer_write(struct ttrec_writer *w, const struct ttalloc_rec_event *ev);

/* Compress and write the current frame: everything written so far is on
 * disk and readable. Call it every interval; cheap when nothing is pending. */
int ttrec_writer_flush(struct ttrec_writer *w);

/* Flush, free, and close the file if the writer opened it. Returns 0 or the
 * first error the writer met. */
int ttrec_writer_close(struct ttrec_writer *w);

/* Figures for progress and the final line. */
uint64_t ttrec_writer_events(const struct ttrec_writer *w);  /* allocs + frees */
uint64_t ttrec_writer_records(const struct ttrec_writer *w); /* every record */
uint64_t ttrec_writer_bytes(const struct ttrec_writer *w);   /* bytes written to the file */
uint64_t ttrec_writer_gaps(const struct ttrec_writer *w);

#endif /* TTALLOC_TTREC_H */
