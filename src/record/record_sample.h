/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_sample.h - what tt-alloc-record samples every --interval besides
 * the event stream: processes the server knows only from TT-Metal's SHM
 * statistics (unmodified apps: no events, only totals), and each device's
 * temperature and power from tt-kmd's sysfs (under TT_SYSROOT).
 *
 * SHM figures come from a snapshot on a second connection to the server
 * (ttalloc_snapshot), which merges SHM regions with the ledger; a sample is
 * written for each SHM-only process the filter would keep, per device.
 */
#ifndef TTALLOC_RECORD_SAMPLE_H
#define TTALLOC_RECORD_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "record_filter.h"
#include "sysfs.h"
#include "ttalloc.h"
#include "ttrec.h"

struct record_sample {
    char socket[256];
    ttalloc_conn *conn; /* connected at the first sample; NULL after a failure */
    struct record_filter *filter;
    struct sysfs_device *devs; /* scanned at the first sample */
    size_t n_devs;
    int scanned;
};

void record_sample_init(struct record_sample *s, const char *socket_path,
                        struct record_filter *filter);
/* Take one round of samples and write them (now_ns: CLOCK_MONOTONIC). */
void record_sample_take(struct record_sample *s, struct ttrec_writer *w, uint64_t now_ns);
void record_sample_destroy(struct record_sample *s);

#endif /* TTALLOC_RECORD_SAMPLE_H */
