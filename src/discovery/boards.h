/* SPDX-License-Identifier: Apache-2.0 */
/*
 * boards.h - what we know per board type (tt_card_type): the chip
 * architecture and the per-chip capacity TT-Metal's SoC descriptors give
 * (docs/tt-alloc-server.md, "Board capacities"). An application's own device description overrides these.
 * Boards not in the table have unknown capacity: never guess.
 */
#ifndef TTALLOC_BOARDS_H
#define TTALLOC_BOARDS_H

#include <stdint.h>

#include "ttalloc.h"

/* "wormhole", "blackhole", "grayskull" for a known card type, else NULL. */
const char *boards_arch(const char *card_type);

/* Fill total[type] with the per-chip capacity of `card_type` (DRAM and L1;
 * the other types are 0 = unknown). Returns 0, or -ENOENT for a board with
 * no known capacity (then total[] is all 0). */
int boards_capacity(const char *card_type, uint64_t total[TTALLOC_NUM_TYPES]);

/* The largest per-chip capacity of any known board, per type (TRACE as
 * DRAM, L1_SMALL and CB as L1; SYSTEM_MEMORY unbounded): a figure above it
 * times the chips it covers cannot be true. */
void boards_max_capacity(uint64_t max[TTALLOC_NUM_TYPES]);

/* The architecture for a PCI device id (0xFACA, 0x401E, 0xB140), else NULL. */
const char *boards_arch_from_pci(int64_t pci_device);

#endif /* TTALLOC_BOARDS_H */
