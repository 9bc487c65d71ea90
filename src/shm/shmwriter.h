/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmwriter.h - write a DeviceMemoryRegion the way TT-Metal's
 * SharedMemoryStatsProvider does (docs/tt-metal-shm.md), so tests, the
 * simulator and demos can stand in for an unmodified TT-Metal app.
 *
 * attach: create or open <dir>/tt_device_<chip_unique_id>_memory (0600),
 *   size it, initialise it when fresh (v4: claimed by CAS on init_state,
 *   'REDY' published last), reap the slots of dead PIDs, zero the aggregates
 *   when nobody is attached, and claim this process's slot (CAS 0 -> pid).
 * alloc/free: atomic deltas on the process slot, the totals and the chip
 *   entry (frees saturate at 0), and last_update_timestamp.
 * detach: release the slot (its bytes leave the totals), reap, reset when
 *   idle. A process killed without detaching leaves its slot behind, as a
 *   SIGKILLed TT-Metal process does, until the next attach reaps it.
 *
 * Version 3 can be written too (no init_state, no reaping), for readers'
 * tests. One writer per (process, region); not thread-safe per handle.
 */
#ifndef TTALLOC_SHMWRITER_H
#define TTALLOC_SHMWRITER_H

#include <stdint.h>

#include "ttalloc.h"

struct shmwriter;

/* Attach to the region of `chip_unique_id` in `dir` (e.g. "/dev/shm") as
 * TT-Metal device `device_id`, writing layout `version` (3 or 4). Returns 0
 * and *out, or a negative errno: -EPROTO when the file holds another layout
 * that a live process still uses, -ETIMEDOUT when another initialiser never
 * finished, -EINVAL for a bad version, or what open/mmap said. The process
 * table may be full: attach still succeeds (as in TT-Metal) and
 * shmwriter_has_slot() says 0; alloc/free then return -ENOSPC. */
int shmwriter_attach(const char *dir, uint64_t chip_unique_id, uint32_t device_id, uint32_t version,
                     struct shmwriter **out);

/* Record `size` bytes of `type` allocated (or freed) on chip `chip_id` (the
 * gateway's own chip is its device_id). SYSTEM_MEMORY is accepted and, as in
 * TT-Metal, counted nowhere. Returns 0, -EINVAL (type), -ENOSPC (no slot). */
int shmwriter_alloc(struct shmwriter *w, enum ttalloc_buffer_type type, uint64_t size,
                    uint32_t chip_id);
int shmwriter_free(struct shmwriter *w, enum ttalloc_buffer_type type, uint64_t size,
                   uint32_t chip_id);

/* Mark `chip_id` as tracked through this region (remote or not). Returns 0 or
 * -ENOSPC when the 16 chip entries are taken. */
int shmwriter_register_chip(struct shmwriter *w, uint32_t chip_id, int is_remote);

int shmwriter_has_slot(const struct shmwriter *w);
const char *shmwriter_path(const struct shmwriter *w);

/* Clean detach: release the slot, reap dead slots, unmap. NULL is a no-op. */
void shmwriter_detach(struct shmwriter *w);

#endif /* TTALLOC_SHMWRITER_H */
