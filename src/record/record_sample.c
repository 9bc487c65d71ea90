/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_sample.c - SHM-only processes and telemetry, sampled (see record_sample.h).
 */
#include "record_sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot that takes longer than this is skipped: the stream comes first. */
#define RECORD_SAMPLE_TIMEOUT_MS 500

void record_sample_init(struct record_sample *s, const char *socket_path,
                        struct record_filter *filter)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->socket, sizeof(s->socket), "%s", socket_path ? socket_path : "");
    s->filter = filter;
}

static void record_sample_shm(struct record_sample *s, struct ttrec_writer *w, uint64_t now_ns)
{
    if (s->conn == NULL && ttalloc_connect(s->socket[0] ? s->socket : NULL, &s->conn) < 0)
        return;
    struct ttalloc_snapshot *snap = NULL;
    if (ttalloc_snapshot(s->conn, RECORD_SAMPLE_TIMEOUT_MS, &snap) < 0) {
        ttalloc_disconnect(s->conn); /* reconnected at the next sample */
        s->conn = NULL;
        return;
    }
    size_t u = 0;
    for (size_t i = 0; i < snap->n_processes; i++) {
        const struct ttalloc_process_info *p = &snap->processes[i];
        int shm_only = (p->flags & TTALLOC_PROCESS_SHM) &&
                       !(p->flags & TTALLOC_PROCESS_CONNECTED) &&
                       !(p->flags & TTALLOC_PROCESS_BYTES_UNKNOWN);
        /* usage is sorted by (pid, device), like processes by pid. */
        while (u < snap->n_usage && snap->usage[u].pid < p->pid)
            u++;
        if (!shm_only || !record_filter_would_keep(s->filter, p->pid))
            continue;
        for (size_t k = u; k < snap->n_usage && snap->usage[k].pid == p->pid; k++) {
            ttrec_write_shm_sample(w, p->pid, snap->usage[k].device, snap->usage[k].bytes, now_ns);
        }
    }
    ttalloc_snapshot_free(snap);
}

static void record_sample_telemetry(struct record_sample *s, struct ttrec_writer *w,
                                    uint64_t now_ns)
{
    const char *sysroot = sysfs_sysroot(NULL);
    if (!s->scanned) {
        s->scanned = 1;
        if (sysfs_scan(sysroot, &s->devs, &s->n_devs) < 0) {
            s->devs = NULL;
            s->n_devs = 0;
        }
        /* sysfs_scan read them just now. */
    } else {
        for (size_t i = 0; i < s->n_devs; i++)
            sysfs_read_device(sysroot, &s->devs[i]);
    }
    for (size_t i = 0; i < s->n_devs; i++) {
        const struct sysfs_device *d = &s->devs[i];
        double temperature = d->temp_mc == SYSFS_UNKNOWN ? NAN : (double)d->temp_mc / 1000.0;
        double power = d->power_uw == SYSFS_UNKNOWN ? NAN : (double)d->power_uw / 1e6;
        if (d->index >= 0)
            ttrec_write_telemetry(w, (uint32_t)d->index, temperature, power, now_ns);
    }
}

void record_sample_take(struct record_sample *s, struct ttrec_writer *w, uint64_t now_ns)
{
    record_sample_shm(s, w, now_ns);
    record_sample_telemetry(s, w, now_ns);
}

void record_sample_destroy(struct record_sample *s)
{
    ttalloc_disconnect(s->conn);
    s->conn = NULL;
    free(s->devs);
    s->devs = NULL;
}
