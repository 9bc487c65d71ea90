/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmsnap.h - the one merge of TT-Metal's SHM figures: shmusage's devices and
 * processes (shmusage.h) as the records of a snapshot (ttalloc.h). The server
 * merges these records into its snapshots (src/server/sources.c); tt-smi
 * without a server merges them exactly as it merges a server's snapshot
 * (smi_model_merge_shm), so both give the same answer by construction.
 *
 * Records:
 *  - one device per shmusage device: `used[]` (and `peak[]`, SHM having no
 *    history) and `processes`; flags say how its SHM figures were matched
 *    (TTALLOC_DEVICE_SHM_ASIC_ID / _HOLDERS / _DEVICE_ID), whether they are
 *    unknown (TTALLOC_DEVICE_USED_UNKNOWN, used[] then 0) and, for a chip
 *    without a node, TTALLOC_DEVICE_REMOTE with its gateway's board type;
 *  - one process per PID: TTALLOC_PROCESS_SHM (and _BYTES_UNKNOWN), its name
 *    from the region (else /proc/<pid>/comm), uid from /proc (UINT32_MAX when
 *    gone), `bytes` and `peak_bytes` its SHM bytes over all devices;
 *  - one usage per (PID, device), `peak[]` = `bytes[]`.
 */
#ifndef TTALLOC_SHMSNAP_H
#define TTALLOC_SHMSNAP_H

#include <stddef.h>

#include "shmusage.h"
#include "sysfs.h"
#include "ttalloc.h"

/* The records of a snapshot, malloc'd: those built here from SHM, and the
 * server's whole merged set (sources_snapshot), in one shape and with one
 * free. */
struct shmsnap {
    struct ttalloc_device_stats *devices; /* ascending device */
    size_t n_devices;
    struct ttalloc_process_info *processes; /* ascending pid */
    size_t n_processes;
    struct ttalloc_usage *usage; /* ascending (pid, device) */
    size_t n_usage;
};

/* Records of `u`, built over the `ndev` sysfs devices it was built over.
 * Returns 0 or -ENOMEM (then *out is empty). Free with shmsnap_free. */
int shmsnap_build(const struct shmusage *u, const struct sysfs_device *devs, size_t ndev,
                  struct shmsnap *out);
void shmsnap_free(struct shmsnap *s);

#endif /* TTALLOC_SHMSNAP_H */
