/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_mem.h - a simulated device's memory as TT-Metal's allocator lays it
 * out, so that tt-alloc-sim records realistic addresses: interleaved buffers
 * are placed in lockstep across every bank (the same offset in each DRAM
 * channel or each Tensix core's L1), first-fit, with TT-Metal's alignments,
 * DRAM bottom-up and L1 top-down, circular buffers (CB) bottom-up in the same
 * L1 space, TRACE in a region carved from the top of each DRAM bank, L1_SMALL
 * in a region carved from the top of each L1 bank. Frees release real ranges,
 * and no two live buffers of a device overlap. Sizes come from boards.h.
 *
 * When a buffer does not fit, the allocation fails with TT-Metal's own
 * message ("Out of Memory: Not enough space to allocate ...").
 */
#ifndef TTALLOC_SIM_MEM_H
#define TTALLOC_SIM_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"

/* The shape of one chip's memory. */
struct sim_mem_geometry {
    char board[16];          /* tt_card_type */
    uint32_t dram_banks;     /* DRAM channels (interleaving banks) */
    uint64_t dram_bank_size; /* bytes per DRAM bank */
    uint64_t dram_base;      /* first allocatable byte of each DRAM bank */
    uint32_t dram_align;     /* DRAM alignment: 32 B Wormhole/Grayskull, 64 B Blackhole */
    uint32_t l1_banks;       /* Tensix worker cores */
    uint32_t grid_x, grid_y; /* their grid (for messages) */
    uint64_t l1_bank_size;   /* L1 bytes per core */
    uint64_t l1_base;        /* first allocatable L1 byte (firmware, mailboxes below) */
    uint32_t l1_align;       /* 16 B */
};

/* The geometry of `board` (per chip, from boards.h). Returns 0 or -ENOENT for
 * a board without a known capacity. */
int sim_mem_geometry_for(const char *board, struct sim_mem_geometry *g);

struct sim_mem;

/* A device's allocator. trace_region and l1_small_region are the totals
 * (over all banks) TT-Metal reserves at device open (trace_region_size,
 * l1_small_size x cores); 0 = none. Returns NULL on -ENOMEM or when the
 * regions do not fit (errno set). */
struct sim_mem *sim_mem_new(const struct sim_mem_geometry *g, uint64_t trace_region,
                            uint64_t l1_small_region);
void sim_mem_delete(struct sim_mem *m);

/* The geometry it was made with. */
const struct sim_mem_geometry *sim_mem_geometry_of(const struct sim_mem *m);

/* Capacity per buffer type as tools should show it: DRAM and L1 as boards.h
 * gives them (the whole chip), TRACE and L1_SMALL their regions, CB the L1
 * space it shares with L1 buffers. SYSTEM_MEMORY 0 (unknown). */
void sim_mem_capacity(const struct sim_mem *m, uint64_t cap[TTALLOC_NUM_TYPES]);

/* What one allocation took. */
struct sim_mem_block {
    uint64_t address;    /* offset in every bank */
    uint64_t size;       /* the requested size (what TT-Metal reports) */
    uint64_t bank_bytes; /* bytes taken in each bank */
    uint32_t banks;      /* how many banks */
};

/* Allocate `size` bytes of `type` (DRAM, L1, L1_SMALL, TRACE or CB) in pages
 * of `page_size` spread over all banks of its kind (CB: `page_size` is the
 * per-core size and `size` a multiple of it). Returns 0, -EINVAL (bad type or
 * size), or -ENOMEM with TT-Metal's out-of-memory message in why. */
int sim_mem_alloc(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t size,
                  uint64_t page_size, struct sim_mem_block *out, char *why, size_t why_cap);

/* Free the live buffer of `type` at `address`. Returns 0 or -ENOENT. */
int sim_mem_free(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t address);

/* Bytes recorded live per type (sum of requested sizes) and live buffers. */
void sim_mem_used(const struct sim_mem *m, uint64_t used[TTALLOC_NUM_TYPES]);
size_t sim_mem_live(const struct sim_mem *m);

/* "DRAM", "L1", "L1_SMALL", "TRACE", "CB" as TT-Metal prints them. */
const char *sim_mem_type_name(enum ttalloc_buffer_type type);

#endif /* TTALLOC_SIM_MEM_H */
