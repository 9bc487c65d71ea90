/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim_mem.c - the simulator's device-memory allocator
 * (src/sim/sim_mem.c): geometries of real boards, regions that do not fit,
 * the exact bytes and addresses a buffer takes (pages spread over banks,
 * DRAM/TRACE/CB bottom-up, L1/L1_SMALL top-down, 32/64/16 B alignment),
 * capacities per type, first fit in fragmented regions, TT-Metal's
 * out-of-memory and circular-buffer messages word for word, garbage sizes
 * and types, frees of unknown addresses, and a region that is whole again
 * after random churn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "sim_mem.h"

#define KIB 1024ull
#define GIB (1024ull * 1024ull * 1024ull)

/* 4 DRAM banks of 64 KiB from 1 KiB, 2x2 cores of 32 KiB L1 from 4 KiB. */
static struct sim_mem_geometry tiny(void)
{
    struct sim_mem_geometry g = {.board = "tiny",
                                 .dram_banks = 4,
                                 .dram_bank_size = 64 * KIB,
                                 .dram_base = 1024,
                                 .dram_align = 32,
                                 .l1_banks = 4,
                                 .grid_x = 2,
                                 .grid_y = 2,
                                 .l1_bank_size = 32 * KIB,
                                 .l1_base = 4096,
                                 .l1_align = 16};
    return g;
}

static struct sim_mem *new_tiny(uint64_t trace, uint64_t l1_small)
{
    struct sim_mem_geometry g = tiny();
    struct sim_mem *m = sim_mem_new(&g, trace, l1_small);
    assert_non_null(m);
    return m;
}

/* Allocate and expect success at `address` with `bank_bytes` per bank. */
static void alloc_at(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t size, uint64_t page,
                     uint64_t address, uint64_t bank_bytes)
{
    struct sim_mem_block b;
    char why[512] = "untouched";
    memset(&b, 0xA5, sizeof(b));
    int rc = sim_mem_alloc(m, type, size, page, &b, why, sizeof(why));
    if (rc != 0)
        fail_msg("alloc %s %llu/%llu: %d (%s)", sim_mem_type_name(type), (unsigned long long)size,
                 (unsigned long long)page, rc, why);
    assert_int_equal(b.address, address);
    assert_int_equal(b.bank_bytes, bank_bytes);
    assert_int_equal(b.size, size);
    assert_string_equal(why, "untouched"); /* success leaves the message alone */
}

/* Allocate and expect -ENOMEM with exactly `message`; nothing changes. */
static void alloc_oom(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t size,
                      uint64_t page, const char *message)
{
    uint64_t before[TTALLOC_NUM_TYPES], after[TTALLOC_NUM_TYPES];
    size_t live = sim_mem_live(m);
    sim_mem_used(m, before);
    struct sim_mem_block b;
    char why[512];
    memset(&b, 0x5A, sizeof(b));
    assert_int_equal(sim_mem_alloc(m, type, size, page, &b, why, sizeof(why)), -ENOMEM);
    assert_string_equal(why, message);
    assert_int_equal(sim_mem_live(m), live);
    sim_mem_used(m, after);
    assert_memory_equal(before, after, sizeof(before));
}

/* ---- geometry ------------------------------------------------------------ */

static void test_geometry_of_boards(void **state)
{
    (void)state;
    struct sim_mem_geometry g;
    uint64_t total[TTALLOC_NUM_TYPES];

    /* Wormhole n150: 12 GiB over 12 channels, 8x9 cores, 32 B DRAM alignment */
    assert_int_equal(sim_mem_geometry_for("n150", &g), 0);
    assert_string_equal(g.board, "n150");
    assert_int_equal(g.dram_banks, 12);
    assert_int_equal(g.dram_bank_size, 1 * GIB);
    assert_int_equal(g.dram_base, 0x400);
    assert_int_equal(g.dram_align, 32);
    assert_int_equal(g.grid_x, 8);
    assert_int_equal(g.grid_y, 9);
    assert_int_equal(g.l1_banks, 72);
    assert_int_equal(g.l1_bank_size, 1464 * KIB);
    assert_int_equal(g.l1_align, 16);
    assert_true(g.l1_base > 0 && g.l1_base < g.l1_bank_size);

    /* Blackhole p150a: 8 channels, 14x10 cores, 64 B DRAM alignment, 1.5 MiB L1 */
    assert_int_equal(sim_mem_geometry_for("p150a", &g), 0);
    assert_int_equal(boards_capacity("p150a", total), 0);
    assert_int_equal(g.dram_banks, 8);
    assert_int_equal(g.dram_bank_size * 8, total[TTALLOC_DRAM]);
    assert_int_equal(g.dram_align, 64);
    assert_int_equal(g.l1_banks, 140);
    assert_int_equal(g.l1_bank_size, 1536 * KIB);

    /* Grayskull e150: 8 GiB over 8 channels, 12x10 cores of 1 MiB */
    assert_int_equal(sim_mem_geometry_for("e150", &g), 0);
    assert_int_equal(g.dram_bank_size, 1 * GIB);
    assert_int_equal(g.l1_banks, 120);
    assert_int_equal(g.l1_bank_size, 1024 * KIB);

    /* boards without a known capacity, names that are no board: zeroed */
    const char *unknown[] = {"p100", "galaxy-wormhole", "e75", "", "n150 ", "n15", "N150x"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        memset(&g, 0x77, sizeof(g));
        assert_int_equal(sim_mem_geometry_for(unknown[i], &g), -ENOENT);
        assert_int_equal(g.dram_banks, 0);
        assert_int_equal(g.l1_banks, 0);
        assert_string_equal(g.board, "");
    }
}

static void test_new_rejects_bad_geometry_and_regions(void **state)
{
    (void)state;
    struct sim_mem_geometry g = tiny();
    struct sim_mem_geometry bad;

    bad = g;
    bad.dram_banks = 0;
    errno = 0;
    assert_null(sim_mem_new(&bad, 0, 0));
    assert_int_equal(errno, EINVAL);
    bad = g;
    bad.l1_banks = 0;
    assert_null(sim_mem_new(&bad, 0, 0));
    bad = g;
    bad.dram_align = 0;
    assert_null(sim_mem_new(&bad, 0, 0));
    bad = g;
    bad.l1_align = 0;
    assert_null(sim_mem_new(&bad, 0, 0));
    bad = g;
    bad.dram_base = bad.dram_bank_size; /* nothing left to allocate */
    assert_null(sim_mem_new(&bad, 0, 0));
    bad = g;
    bad.l1_base = bad.l1_bank_size + 16;
    assert_null(sim_mem_new(&bad, 0, 0));

    /* TRACE per bank 63 KiB leaves nothing above the 1 KiB base: refused */
    errno = 0;
    assert_null(sim_mem_new(&g, 4 * 63 * KIB, 0));
    assert_int_equal(errno, EINVAL);
    /* one alignment unit less: 32 B of DRAM left per bank */
    struct sim_mem *m = sim_mem_new(&g, 4 * (63 * KIB - 32), 0);
    assert_non_null(m);
    alloc_at(m, TTALLOC_DRAM, 128, 32, 1024, 32);
    alloc_oom(m, TTALLOC_DRAM, 1, 1,
              "Out of Memory: Not enough space to allocate 1 B DRAM buffer across 4 banks, where "
              "each bank needs to store 32 B, but bank size is 32 B (allocated: 32 B, free: 0 B, "
              "largest free block: 0 B)");
    sim_mem_delete(m);

    /* L1_SMALL per core 28 KiB covers the L1 above its 4 KiB base */
    assert_null(sim_mem_new(&g, 0, 4 * 28 * KIB));
    m = sim_mem_new(&g, 0, 4 * (28 * KIB - 16));
    assert_non_null(m);
    sim_mem_delete(m);

    /* very large regions (no wrap-around in their arithmetic) */
    assert_null(sim_mem_new(&g, UINT64_C(1) << 62, 0));
    assert_null(sim_mem_new(&g, 0, UINT64_C(1) << 62));
    /* regions whose rounding up would wrap to a small share */
    errno = 0;
    assert_null(sim_mem_new(&g, UINT64_MAX, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(sim_mem_new(&g, UINT64_MAX - 2, 0));
    assert_null(sim_mem_new(&g, 0, UINT64_MAX));
    assert_null(sim_mem_new(&g, 0, UINT64_MAX - 1));
    sim_mem_delete(NULL); /* harmless */
}

static void test_capacity_and_regions(void **state)
{
    (void)state;
    /* TRACE 100 B over 4 banks: 25 B each, 32 B aligned; L1_SMALL 1000 B per
     * core, 1008 B aligned */
    struct sim_mem *m = new_tiny(100, 4 * 1000);
    assert_string_equal(sim_mem_geometry_of(m)->board, "tiny");
    assert_int_equal(sim_mem_geometry_of(m)->dram_banks, 4);
    uint64_t cap[TTALLOC_NUM_TYPES];
    memset(cap, 0xFF, sizeof(cap));
    sim_mem_capacity(m, cap);
    assert_int_equal(cap[TTALLOC_DRAM], 4 * 64 * KIB); /* the whole chip, as boards.h */
    assert_int_equal(cap[TTALLOC_L1], 4 * 32 * KIB);
    assert_int_equal(cap[TTALLOC_SYSTEM_MEMORY], 0);
    assert_int_equal(cap[TTALLOC_TRACE], 4 * 32);
    assert_int_equal(cap[TTALLOC_L1_SMALL], 4 * 1008);
    assert_int_equal(cap[TTALLOC_CB], 4 * (32 * KIB - 1008 - 4096));

    /* TRACE from the bottom of its region at the top of each DRAM bank */
    alloc_at(m, TTALLOC_TRACE, 100, 25, 64 * KIB - 32, 32);
    alloc_oom(m, TTALLOC_TRACE, 1, 1,
              "Out of Memory: Not enough space to allocate 1 B TRACE buffer across 4 banks, where "
              "each bank needs to store 32 B, but bank size is 32 B (allocated: 32 B, free: 0 B, "
              "largest free block: 0 B)");
    /* DRAM stops below the trace region: all of [1024, 65504) in one buffer */
    alloc_at(m, TTALLOC_DRAM, 4 * (64 * KIB - 32 - 1024), 64 * KIB - 32 - 1024, 1024,
             64 * KIB - 32 - 1024);
    alloc_oom(m, TTALLOC_DRAM, 1, 1,
              "Out of Memory: Not enough space to allocate 1 B DRAM buffer across 4 banks, where "
              "each bank needs to store 32 B, but bank size is 64480 B (allocated: 64480 B, "
              "free: 0 B, largest free block: 0 B)");
    /* L1_SMALL from the top of L1; L1 from the top of what is below it */
    alloc_at(m, TTALLOC_L1_SMALL, 64, 16, 32 * KIB - 16, 16);
    alloc_at(m, TTALLOC_L1, 64, 16, 32 * KIB - 1008 - 16, 16);
    alloc_at(m, TTALLOC_L1_SMALL, 4 * 992, 992, 32 * KIB - 1008, 992);
    alloc_oom(m, TTALLOC_L1_SMALL, 16, 16,
              "Out of Memory: Not enough space to allocate 16 B L1_SMALL buffer across 4 banks, "
              "where each bank needs to store 16 B, but bank size is 1008 B (allocated: 1008 B, "
              "free: 0 B, largest free block: 0 B)");
    /* CB from the bottom of L1 */
    alloc_at(m, TTALLOC_CB, 4 * 2048, 2048, 4096, 2048);

    uint64_t used[TTALLOC_NUM_TYPES];
    sim_mem_used(m, used);
    assert_int_equal(used[TTALLOC_DRAM], 4 * (64 * KIB - 32 - 1024));
    assert_int_equal(used[TTALLOC_TRACE], 100);
    assert_int_equal(used[TTALLOC_L1], 64);
    assert_int_equal(used[TTALLOC_L1_SMALL], 64 + 4 * 992);
    assert_int_equal(used[TTALLOC_CB], 4 * 2048);
    assert_int_equal(used[TTALLOC_SYSTEM_MEMORY], 0);
    assert_int_equal(sim_mem_live(m), 6);
    sim_mem_delete(m);

    /* without reserved regions TRACE and L1_SMALL have no room at all */
    m = new_tiny(0, 0);
    sim_mem_capacity(m, cap);
    assert_int_equal(cap[TTALLOC_TRACE], 0);
    assert_int_equal(cap[TTALLOC_L1_SMALL], 0);
    assert_int_equal(cap[TTALLOC_CB], 4 * (32 * KIB - 4096));
    alloc_oom(m, TTALLOC_TRACE, 32, 32,
              "Out of Memory: Not enough space to allocate 32 B TRACE buffer across 4 banks, "
              "where each bank needs to store 32 B, but bank size is 0 B (allocated: 0 B, free: "
              "0 B, largest free block: 0 B)");
    alloc_oom(m, TTALLOC_L1_SMALL, 16, 16,
              "Out of Memory: Not enough space to allocate 16 B L1_SMALL buffer across 4 banks, "
              "where each bank needs to store 16 B, but bank size is 0 B (allocated: 0 B, free: "
              "0 B, largest free block: 0 B)");
    sim_mem_delete(m);
}

/* ---- what one buffer takes ----------------------------------------------- */

static void test_pages_spread_and_alignment(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(0, 0);
    /* 1000 B in pages of 300: 4 pages, one per bank, 300 -> 320 */
    alloc_at(m, TTALLOC_DRAM, 1000, 300, 1024, 320);
    /* a page larger than the buffer is the buffer: 100 B in one bank -> 128 */
    alloc_at(m, TTALLOC_DRAM, 100, 4096, 1024 + 320, 128);
    /* 5 pages of 1 B over 4 banks: 2 per bank -> one 32 B unit */
    alloc_at(m, TTALLOC_DRAM, 5, 1, 1024 + 320 + 128, 32);
    /* 9 pages of 1 KiB over 4 banks: 3 per bank */
    alloc_at(m, TTALLOC_DRAM, 9 * KIB, KIB, 1024 + 320 + 128 + 32, 3 * KIB);
    /* a size that is not whole pages takes a whole last page: 4097 B in 1 KiB
     * pages is 5 pages, 2 per bank */
    alloc_at(m, TTALLOC_DRAM, 4097, KIB, 1024 + 320 + 128 + 32 + 3 * KIB, 2 * KIB);
    /* L1 16 B aligned, from the top: 40 B -> 48 */
    alloc_at(m, TTALLOC_L1, 40, 40, 32 * KIB - 48, 48);
    alloc_at(m, TTALLOC_L1, 1, 1, 32 * KIB - 48 - 16, 16);
    /* CB: page_size is the per-core size */
    alloc_at(m, TTALLOC_CB, 4 * 1000, 1000, 4096, 1008);
    alloc_at(m, TTALLOC_CB, 4 * 16, 16, 4096 + 1008, 16);
    sim_mem_delete(m);

    /* a base that is not aligned: the first buffer starts at the next unit */
    struct sim_mem_geometry g = tiny();
    g.dram_base = 1000;
    g.l1_base = 4100;
    m = sim_mem_new(&g, 0, 0);
    assert_non_null(m);
    alloc_at(m, TTALLOC_DRAM, 4, 1, 1024, 32);
    alloc_at(m, TTALLOC_CB, 4, 1, 4112, 16);
    sim_mem_delete(m);

    /* Wormhole 32 B, Blackhole 64 B DRAM alignment; 12 and 8 channels */
    struct sim_mem_geometry wh, bh;
    assert_int_equal(sim_mem_geometry_for("n150", &wh), 0);
    assert_int_equal(sim_mem_geometry_for("p150a", &bh), 0);
    struct sim_mem *mw = sim_mem_new(&wh, 0, 0), *mb = sim_mem_new(&bh, 0, 0);
    assert_non_null(mw);
    assert_non_null(mb);
    alloc_at(mw, TTALLOC_DRAM, 20, 20, 0x400, 32);
    alloc_at(mw, TTALLOC_DRAM, 20, 20, 0x400 + 32, 32);
    alloc_at(mb, TTALLOC_DRAM, 20, 20, 0x400, 64);
    alloc_at(mb, TTALLOC_DRAM, 20, 20, 0x400 + 64, 64);
    /* 13 pages of 2 KiB over 12 channels: 2 per channel */
    alloc_at(mw, TTALLOC_DRAM, 13 * 2048, 2048, 0x400 + 64, 4096);
    /* 17 over 8 channels: 3 per channel */
    alloc_at(mb, TTALLOC_DRAM, 17 * 2048, 2048, 0x400 + 128, 6144);
    /* L1 at the top of each core's L1 */
    alloc_at(mw, TTALLOC_L1, 72 * 2048, 2048, 1464 * KIB - 2048, 2048);
    alloc_at(mb, TTALLOC_L1, 140 * 4096, 4096, 1536 * KIB - 4096, 4096);
    struct sim_mem_block b;
    char why[512];
    assert_int_equal(sim_mem_alloc(mw, TTALLOC_L1, 2048, 2048, &b, why, sizeof(why)), 0);
    assert_int_equal(b.banks, 72);
    assert_int_equal(sim_mem_alloc(mb, TTALLOC_DRAM, 2048, 2048, &b, why, sizeof(why)), 0);
    assert_int_equal(b.banks, 8);
    sim_mem_delete(mw);
    sim_mem_delete(mb);
}

/* ---- first fit in fragmented regions ------------------------------------ */

static void test_fragmented_dram_bottom_up(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(0, 0);
    /* [1024, 65536) is 63 blocks of 1 KiB per bank */
    for (uint64_t i = 0; i < 63; i++)
        alloc_at(m, TTALLOC_DRAM, 4 * KIB, KIB, 1024 + i * KIB, KIB);
    alloc_oom(m, TTALLOC_DRAM, 1, 1,
              "Out of Memory: Not enough space to allocate 1 B DRAM buffer across 4 banks, where "
              "each bank needs to store 32 B, but bank size is 64512 B (allocated: 64512 B, "
              "free: 0 B, largest free block: 0 B)");
    /* every other one freed: 32 holes of 1 KiB, none of 2 KiB */
    for (uint64_t i = 0; i < 63; i += 2)
        assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, 1024 + i * KIB), 0);
    assert_int_equal(sim_mem_live(m), 31);
    uint64_t used[TTALLOC_NUM_TYPES];
    sim_mem_used(m, used);
    assert_int_equal(used[TTALLOC_DRAM], 31 * 4 * KIB);
    alloc_oom(m, TTALLOC_DRAM, 8 * KIB, KIB,
              "Out of Memory: Not enough space to allocate 8192 B DRAM buffer across 4 banks, "
              "where each bank needs to store 2048 B, but bank size is 64512 B (allocated: "
              "31744 B, free: 32768 B, largest free block: 1024 B)");
    /* the lowest hole first */
    alloc_at(m, TTALLOC_DRAM, 4 * KIB, KIB, 1024, KIB);
    alloc_at(m, TTALLOC_DRAM, 100, 100, 1024 + 2 * KIB, 128);
    /* a smaller remainder of a hole is still used before a later hole */
    alloc_at(m, TTALLOC_DRAM, 4 * 896, 896, 1024 + 2 * KIB + 128, 896);
    alloc_at(m, TTALLOC_DRAM, 4, 1, 1024 + 4 * KIB, 32);
    /* freeing the block between two holes joins them: [5152, 8192) now holds
     * 2 KiB from the first hole's free end, across the freed block */
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, 1024 + 5 * KIB), 0);
    alloc_at(m, TTALLOC_DRAM, 8 * KIB, KIB, 1024 + 4 * KIB + 32, 2 * KIB);
    sim_mem_delete(m);
}

static void test_fragmented_l1_top_down(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(0, 0);
    /* [4096, 32768) is 28 blocks of 1 KiB per core, from the top */
    for (uint64_t i = 0; i < 28; i++)
        alloc_at(m, TTALLOC_L1, 4 * KIB, KIB, 32 * KIB - (i + 1) * KIB, KIB);
    alloc_oom(m, TTALLOC_L1, 64, 16,
              "Out of Memory: Not enough space to allocate 64 B L1 buffer across 4 banks, where "
              "each bank needs to store 16 B, but bank size is 28672 B (allocated: 28672 B, "
              "free: 0 B, largest free block: 0 B)");
    /* free the blocks at 4096, 6144, ... 30720: 14 holes of 1 KiB */
    for (uint64_t a = 4096; a < 32 * KIB; a += 2 * KIB)
        assert_int_equal(sim_mem_free(m, TTALLOC_L1, a), 0);
    alloc_oom(m, TTALLOC_L1, 8 * KIB, KIB,
              "Out of Memory: Not enough space to allocate 8192 B L1 buffer across 4 banks, where "
              "each bank needs to store 2048 B, but bank size is 28672 B (allocated: 14336 B, "
              "free: 14336 B, largest free block: 1024 B)");
    /* the highest hole first, at its top */
    alloc_at(m, TTALLOC_L1, 4 * 512, 512, 30720 + 512, 512);
    alloc_at(m, TTALLOC_L1, 4 * 512, 512, 30720, 512);
    alloc_at(m, TTALLOC_L1, 4 * 512, 512, 28672 + 512, 512);
    /* the block at 27648 freed joins the holes below and above it into
     * [26624, 29184): a 2 KiB buffer goes to its top, not into the higher
     * 1 KiB hole at 29696 */
    assert_int_equal(sim_mem_free(m, TTALLOC_L1, 27648), 0);
    alloc_at(m, TTALLOC_L1, 4 * 2048, 2048, 29184 - 2048, 2048);
    sim_mem_delete(m);
}

/* L1 from the top and CBs from the bottom meet: TT-Metal's CB messages. */
static void test_cb_meets_l1(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(0, 0);
    /* a CB larger than all L1 above the base, no L1 buffer at all */
    alloc_oom(m, TTALLOC_CB, 4 * 40000, 40000,
              "Statically allocated circular buffers on core range [(x=0,y=0) - (x=1,y=1)] grow "
              "to 44096 B which is beyond max L1 size of 32768 B");
    alloc_at(m, TTALLOC_L1, 4 * 8192, 8192, 24576, 8192);
    alloc_at(m, TTALLOC_CB, 4 * 16384, 16384, 4096, 16384);
    alloc_oom(m, TTALLOC_CB, 4 * 8192, 8192,
              "Statically allocated circular buffers in program 2 clash with L1 buffers on core "
              "range [(x=0,y=0) - (x=1,y=1)]. L1 buffer allocated at 24576 and static circular "
              "buffer region ends at 28672");
    /* each failed program counts */
    alloc_oom(m, TTALLOC_CB, 4 * 4112, 4112,
              "Statically allocated circular buffers in program 3 clash with L1 buffers on core "
              "range [(x=0,y=0) - (x=1,y=1)]. L1 buffer allocated at 24576 and static circular "
              "buffer region ends at 24592");
    /* exactly the gap fits */
    alloc_at(m, TTALLOC_CB, 4 * 4096, 4096, 20480, 4096);
    /* an L1 buffer no longer fits either; its message is the OOM one */
    alloc_oom(m, TTALLOC_L1, 16, 16,
              "Out of Memory: Not enough space to allocate 16 B L1 buffer across 4 banks, where "
              "each bank needs to store 16 B, but bank size is 28672 B (allocated: 28672 B, "
              "free: 0 B, largest free block: 0 B)");
    /* a CB and an L1 buffer at the same place are different buffers */
    assert_int_equal(sim_mem_free(m, TTALLOC_L1, 4096), -ENOENT);
    assert_int_equal(sim_mem_free(m, TTALLOC_CB, 24576), -ENOENT);
    assert_int_equal(sim_mem_free(m, TTALLOC_CB, 4096), 0);
    assert_int_equal(sim_mem_free(m, TTALLOC_L1, 24576), 0);
    /* the Wormhole grid in the message */
    struct sim_mem_geometry g;
    assert_int_equal(sim_mem_geometry_for("n150", &g), 0);
    struct sim_mem *w = sim_mem_new(&g, 0, 0);
    assert_non_null(w);
    char why[512];
    struct sim_mem_block b;
    assert_int_equal(
        sim_mem_alloc(w, TTALLOC_CB, 72 * 2 * 1024 * KIB, 2 * 1024 * KIB, &b, why, sizeof(why)),
        -ENOMEM);
    char want[256];
    snprintf(want, sizeof(want),
             "Statically allocated circular buffers on core range [(x=0,y=0) - (x=7,y=8)] grow "
             "to %llu B which is beyond max L1 size of %llu B",
             (unsigned long long)(g.l1_base + 2 * 1024 * KIB), (unsigned long long)(1464 * KIB));
    assert_string_equal(why, want);
    sim_mem_delete(w);
    sim_mem_delete(m);
}

/* ---- garbage in ---------------------------------------------------------- */

static void test_bad_sizes_and_types(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(1024, 4 * 1024);
    struct sim_mem_block b;
    char why[512] = "untouched";
    const enum ttalloc_buffer_type all[] = {TTALLOC_DRAM, TTALLOC_L1, TTALLOC_L1_SMALL,
                                            TTALLOC_TRACE, TTALLOC_CB};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_int_equal(sim_mem_alloc(m, all[i], 0, 32, &b, why, sizeof(why)), -EINVAL);
        assert_int_equal(sim_mem_alloc(m, all[i], 32, 0, &b, why, sizeof(why)), -EINVAL);
        assert_int_equal(sim_mem_alloc(m, all[i], UINT64_MAX, 32, &b, why, sizeof(why)), -EINVAL);
        assert_int_equal(sim_mem_alloc(m, all[i], UINT64_MAX, UINT64_MAX, &b, why, sizeof(why)),
                         -EINVAL);
        assert_int_equal(
            sim_mem_alloc(m, all[i], (UINT64_C(1) << 48) + 1, 32, &b, why, sizeof(why)), -EINVAL);
    }
    assert_int_equal(sim_mem_alloc(m, TTALLOC_SYSTEM_MEMORY, 64, 64, &b, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(
        sim_mem_alloc(m, (enum ttalloc_buffer_type)TTALLOC_NUM_TYPES, 64, 64, &b, why, sizeof(why)),
        -EINVAL);
    assert_int_equal(sim_mem_alloc(m, (enum ttalloc_buffer_type)200, 64, 64, &b, why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "untouched");
    assert_int_equal(sim_mem_live(m), 0);

    /* a page of UINT64_MAX for one byte: one byte in one bank */
    alloc_at(m, TTALLOC_DRAM, 1, UINT64_MAX, 1024, 32);

    /* the largest size accepted, 256 TiB: out of memory, with the numbers */
    alloc_oom(m, TTALLOC_DRAM, UINT64_C(1) << 48, UINT64_C(1) << 48,
              "Out of Memory: Not enough space to allocate 281474976710656 B DRAM buffer across 4 "
              "banks, where each bank needs to store 281474976710656 B, but bank size is 64256 B "
              "(allocated: 32 B, free: 64224 B, largest free block: 64224 B)");
    /* one byte more than the region in 1 B pages */
    alloc_oom(m, TTALLOC_DRAM, 4 * 64224 + 1, 1,
              "Out of Memory: Not enough space to allocate 256897 B DRAM buffer across 4 banks, "
              "where each bank needs to store 64256 B, but bank size is 64256 B (allocated: 32 B, "
              "free: 64224 B, largest free block: 64224 B)");
    /* and exactly the rest */
    alloc_at(m, TTALLOC_DRAM, 4 * 64224, 64224, 1024 + 32, 64224);

    /* a real board and 256 TiB in 2 KiB pages */
    struct sim_mem_geometry g;
    assert_int_equal(sim_mem_geometry_for("n150", &g), 0);
    struct sim_mem *w = sim_mem_new(&g, 0, 0);
    assert_non_null(w);
    alloc_oom(w, TTALLOC_DRAM, UINT64_C(1) << 48, 2048,
              "Out of Memory: Not enough space to allocate 281474976710656 B DRAM buffer across 12 "
              "banks, where each bank needs to store 23456248059904 B, but bank size is "
              "1073740800 B (allocated: 0 B, free: 1073740800 B, largest free block: 1073740800 "
              "B)");
    sim_mem_delete(w);

    /* no room for the message, or a short one: still -ENOMEM, cut and ended */
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 64, 64, &b, NULL, 0), -ENOMEM);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 64, 64, &b, why, 0), -ENOMEM);
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 64, 64, &b, small, sizeof(small)), -ENOMEM);
    assert_memory_equal(small, "Out of ", 8);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_CB, 4 * 64 * KIB, 64 * KIB, &b, small, 1), -ENOMEM);
    assert_int_equal(small[0], '\0');
    sim_mem_delete(m);
}

static void test_free_unknown(void **state)
{
    (void)state;
    struct sim_mem *m = new_tiny(1024, 0);
    /* nothing live yet */
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, 1024), -ENOENT);
    assert_int_equal(sim_mem_free(m, TTALLOC_L1, 0), -ENOENT);
    assert_int_equal(sim_mem_free(m, TTALLOC_CB, UINT64_MAX), -ENOENT);
    alloc_at(m, TTALLOC_DRAM, 4 * KIB, KIB, 1024, KIB);
    alloc_at(m, TTALLOC_DRAM, 4 * KIB, KIB, 2048, KIB);
    alloc_at(m, TTALLOC_TRACE, 4 * 32, 32, 64 * KIB - 256, 32);
    uint64_t before[TTALLOC_NUM_TYPES], after[TTALLOC_NUM_TYPES];
    sim_mem_used(m, before);
    const struct {
        enum ttalloc_buffer_type type;
        uint64_t address;
    } bad[] = {
        {TTALLOC_DRAM, 0},
        {TTALLOC_DRAM, 1023},
        {TTALLOC_DRAM, 1024 + 32}, /* inside a live buffer */
        {TTALLOC_DRAM, 2047},
        {TTALLOC_DRAM, 3072}, /* just past the last */
        {TTALLOC_DRAM, UINT64_MAX},
        {TTALLOC_TRACE, 1024}, /* a DRAM buffer is not a TRACE buffer */
        {TTALLOC_DRAM, 64 * KIB - 256},
        {TTALLOC_L1, 1024},
        {TTALLOC_SYSTEM_MEMORY, 1024},
        {(enum ttalloc_buffer_type)TTALLOC_NUM_TYPES, 1024},
        {(enum ttalloc_buffer_type)255, 1024},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sim_mem_free(m, bad[i].type, bad[i].address), -ENOENT);
    assert_int_equal(sim_mem_live(m), 3);
    sim_mem_used(m, after);
    assert_memory_equal(before, after, sizeof(before));
    /* a real free, then the same again */
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, 2048), 0);
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, 2048), -ENOENT);
    assert_int_equal(sim_mem_free(m, TTALLOC_TRACE, 64 * KIB - 256), 0);
    sim_mem_used(m, after);
    assert_int_equal(after[TTALLOC_DRAM], 4 * KIB);
    assert_int_equal(after[TTALLOC_TRACE], 0);
    assert_int_equal(sim_mem_live(m), 1);
    sim_mem_delete(m);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sim_mem_type_name(TTALLOC_DRAM), "DRAM");
    assert_string_equal(sim_mem_type_name(TTALLOC_L1), "L1");
    assert_string_equal(sim_mem_type_name(TTALLOC_SYSTEM_MEMORY), "SYSTEM_MEMORY");
    assert_string_equal(sim_mem_type_name(TTALLOC_L1_SMALL), "L1_SMALL");
    assert_string_equal(sim_mem_type_name(TTALLOC_TRACE), "TRACE");
    assert_string_equal(sim_mem_type_name(TTALLOC_CB), "CB");
    assert_string_equal(sim_mem_type_name((enum ttalloc_buffer_type)TTALLOC_NUM_TYPES), "?");
    assert_string_equal(sim_mem_type_name((enum ttalloc_buffer_type)1000), "?");
}

/* ---- churn --------------------------------------------------------------- */

struct churn_buf {
    enum ttalloc_buffer_type type;
    uint64_t start, end, size;
};

/* DRAM and TRACE, L1 with CB, L1_SMALL: the regions that share bank space. */
static int churn_space(enum ttalloc_buffer_type t)
{
    return t == TTALLOC_DRAM ? 0 : t == TTALLOC_TRACE ? 1 : t == TTALLOC_L1_SMALL ? 3 : 2;
}

/* Random buffers of every type, random frees: never an overlap within a
 * space, never outside its region; after freeing all, every region is one
 * free range again. */
static void test_churn_leaves_whole_regions(void **state)
{
    (void)state;
    const uint64_t lo[4] = {1024, 64 * KIB - 4096, 4096, 32 * KIB - 2048};
    const uint64_t hi[4] = {64 * KIB - 4096, 64 * KIB, 32 * KIB - 2048, 32 * KIB};
    const enum ttalloc_buffer_type types[] = {TTALLOC_DRAM, TTALLOC_TRACE, TTALLOC_L1, TTALLOC_CB,
                                              TTALLOC_L1_SMALL};
    struct sim_mem *m = new_tiny(4 * 4096, 4 * 2048);
    static struct churn_buf live[4096];
    size_t n = 0, ooms = 0;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    uint64_t sum[TTALLOC_NUM_TYPES] = {0};
    for (int step = 0; step < 20000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = x >> 16;
        if (n > 0 && r % 5 < 2) {
            size_t k = (size_t)((r >> 3) % n);
            assert_int_equal(sim_mem_free(m, live[k].type, live[k].start), 0);
            sum[live[k].type] -= live[k].size;
            live[k] = live[--n];
            continue;
        }
        enum ttalloc_buffer_type t = types[(r >> 8) % 5];
        uint64_t page = 1 + (r >> 11) % 700;
        uint64_t size = page * (1 + (r >> 21) % 8) - (r >> 24) % page;
        struct sim_mem_block b;
        char why[512];
        int rc = sim_mem_alloc(m, t, size, page, &b, why, sizeof(why));
        if (rc == -ENOMEM) {
            ooms++;
            assert_true(strncmp(why, "Out of Memory: Not enough space to allocate ", 44) == 0 ||
                        strncmp(why, "Statically allocated circular buffers ", 38) == 0);
            continue;
        }
        assert_int_equal(rc, 0);
        int s = churn_space(t);
        uint64_t align = s < 2 ? 32 : 16;
        assert_int_equal(b.address % align, 0);
        assert_int_equal(b.bank_bytes % align, 0);
        assert_true(b.bank_bytes * b.banks >= size);
        assert_true(b.address >= lo[s] && b.address + b.bank_bytes <= hi[s]);
        for (size_t k = 0; k < n; k++) {
            if (churn_space(live[k].type) != s)
                continue;
            assert_true(b.address + b.bank_bytes <= live[k].start || live[k].end <= b.address);
        }
        assert_true(n < sizeof(live) / sizeof(live[0]));
        live[n++] = (struct churn_buf){t, b.address, b.address + b.bank_bytes, size};
        sum[t] += size;
        uint64_t used[TTALLOC_NUM_TYPES];
        sim_mem_used(m, used);
        assert_memory_equal(used, sum, sizeof(sum));
        assert_int_equal(sim_mem_live(m), n);
    }
    assert_true(ooms > 0);
    while (n > 0) {
        assert_int_equal(sim_mem_free(m, live[n - 1].type, live[n - 1].start), 0);
        n--;
    }
    uint64_t used[TTALLOC_NUM_TYPES];
    sim_mem_used(m, used);
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        assert_int_equal(used[t], 0);
    assert_int_equal(sim_mem_live(m), 0);
    /* each region takes one buffer of its full size again */
    alloc_at(m, TTALLOC_DRAM, 4 * (hi[0] - lo[0]), hi[0] - lo[0], lo[0], hi[0] - lo[0]);
    alloc_at(m, TTALLOC_TRACE, 4 * 4096, 4096, lo[1], 4096);
    alloc_at(m, TTALLOC_CB, 4 * (hi[2] - lo[2]), hi[2] - lo[2], lo[2], hi[2] - lo[2]);
    alloc_at(m, TTALLOC_L1_SMALL, 4 * 2048, 2048, lo[3], 2048);
    sim_mem_delete(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_of_boards),
        cmocka_unit_test(test_new_rejects_bad_geometry_and_regions),
        cmocka_unit_test(test_capacity_and_regions),
        cmocka_unit_test(test_pages_spread_and_alignment),
        cmocka_unit_test(test_fragmented_dram_bottom_up),
        cmocka_unit_test(test_fragmented_l1_top_down),
        cmocka_unit_test(test_cb_meets_l1),
        cmocka_unit_test(test_bad_sizes_and_types),
        cmocka_unit_test(test_free_unknown),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_churn_leaves_whole_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
