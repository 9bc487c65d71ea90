/* SPDX-License-Identifier: Apache-2.0 */
/*
 * boards.c - the per-board table of docs/tt-alloc-server.md: architecture and per-chip
 * capacity as TT-Metal's SoC descriptors give it. Unknown boards stay unknown.
 */
#include "boards.h"

#include <errno.h>
#include <string.h>

#define GIB (1024ull * 1024ull * 1024ull)
#define BH_DRAM_CHANNEL 4278190080ull /* one Blackhole DRAM channel, bytes */
#define WH_L1 1499136ull              /* Wormhole L1 per Tensix core */
#define BH_L1 1572864ull              /* Blackhole L1 per Tensix core */

struct boards_entry {
    const char *card_type;
    const char *arch;
    uint64_t dram; /* 0 = unknown */
    uint64_t l1;   /* cores x L1 per core, 0 = unknown */
};

static const struct boards_entry boards_table[] = {
    {"e75", "grayskull", 0, 0},
    {"e150", "grayskull", 8 * GIB, 120 * 1048576ull},
    {"n150", "wormhole", 12 * GIB, 72 * WH_L1},
    {"n300", "wormhole", 12 * GIB, 64 * WH_L1},
    {"galaxy-wormhole", "wormhole", 0, 0},
    {"p100", "blackhole", 0, 0},
    {"p100a", "blackhole", 7 * BH_DRAM_CHANNEL, 120 * BH_L1},
    {"p150a", "blackhole", 8 * BH_DRAM_CHANNEL, 140 * BH_L1},
    {"p150b", "blackhole", 8 * BH_DRAM_CHANNEL, 140 * BH_L1},
    {"p150c", "blackhole", 8 * BH_DRAM_CHANNEL, 140 * BH_L1},
    {"p300a", "blackhole", 0, 0},
    {"p300b", "blackhole", 0, 0},
    {"p300c", "blackhole", 0, 0},
    {"galaxy-blackhole", "blackhole", 0, 0},
};

static const struct boards_entry *boards_find(const char *card_type)
{
    if (card_type == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(boards_table) / sizeof(boards_table[0]); i++) {
        if (strcmp(boards_table[i].card_type, card_type) == 0)
            return &boards_table[i];
    }
    return NULL;
}

const char *boards_arch(const char *card_type)
{
    const struct boards_entry *b = boards_find(card_type);
    return b ? b->arch : NULL;
}

int boards_capacity(const char *card_type, uint64_t total[TTALLOC_NUM_TYPES])
{
    memset(total, 0, TTALLOC_NUM_TYPES * sizeof(total[0]));
    const struct boards_entry *b = boards_find(card_type);
    if (b == NULL || b->dram == 0)
        return -ENOENT;
    total[TTALLOC_DRAM] = b->dram;
    total[TTALLOC_L1] = b->l1;
    return 0;
}

void boards_max_capacity(uint64_t max[TTALLOC_NUM_TYPES])
{
    uint64_t dram = 0, l1 = 0;
    for (size_t i = 0; i < sizeof(boards_table) / sizeof(boards_table[0]); i++) {
        if (boards_table[i].dram > dram)
            dram = boards_table[i].dram;
        if (boards_table[i].l1 > l1)
            l1 = boards_table[i].l1;
    }
    memset(max, 0, TTALLOC_NUM_TYPES * sizeof(max[0]));
    max[TTALLOC_DRAM] = dram;
    max[TTALLOC_TRACE] = dram; /* trace buffers live in DRAM */
    max[TTALLOC_SYSTEM_MEMORY] = UINT64_MAX;
    max[TTALLOC_L1] = l1;
    max[TTALLOC_L1_SMALL] = l1; /* L1_SMALL and CBs live in L1 */
    max[TTALLOC_CB] = l1;
}

const char *boards_arch_from_pci(int64_t pci_device)
{
    switch (pci_device) {
    case 0xFACA:
        return "grayskull";
    case 0x401E:
        return "wormhole";
    case 0xB140:
        return "blackhole";
    default:
        return NULL;
    }
}
