/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_mem.c - per-device, per-region first-fit address allocator with
 * TT-Metal's lockstep banks and alignments (see sim_mem.h).
 */
#include "sim_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "buftype.h"
#include "lowerbound.h"

/* Banks and grids per board; byte totals come from boards.h. */
struct sim_mem_board {
    const char *board;
    uint32_t dram_banks;
    uint32_t dram_align;
    uint32_t grid_x, grid_y; /* grid_x * grid_y Tensix worker cores */
    uint64_t l1_base;
};

static const struct sim_mem_board sim_mem_boards[] = {
    {"e150", 8, 32, 12, 10, 0x19000},  {"n150", 12, 32, 8, 9, 0x16600},
    {"n300", 12, 32, 8, 8, 0x16600},   {"p100a", 7, 64, 12, 10, 0x19600},
    {"p150a", 8, 64, 14, 10, 0x19600}, {"p150b", 8, 64, 14, 10, 0x19600},
    {"p150c", 8, 64, 14, 10, 0x19600},
};

#define SIM_MEM_DRAM_BASE 0x400u /* barrier and profiler words at the bottom of each bank */

enum sim_mem_region_id {
    SIM_MEM_R_DRAM,
    SIM_MEM_R_TRACE,
    SIM_MEM_R_L1,
    SIM_MEM_R_L1_SMALL,
    SIM_MEM_REGIONS
};

struct sim_mem_live {
    uint64_t start, end; /* [start, end) in every bank */
    uint64_t size;       /* requested size */
    uint8_t type;
};

struct sim_mem_region {
    uint64_t start, end; /* allocatable range in each bank */
    uint32_t banks;
    uint32_t align;
    struct sim_mem_live *blocks; /* sorted by start, disjoint */
    size_t n, cap;
};

struct sim_mem {
    struct sim_mem_geometry g;
    struct sim_mem_region r[SIM_MEM_REGIONS];
    uint64_t used[TTALLOC_NUM_TYPES];
    uint64_t programs; /* counter for CB messages, like TT-Metal's program ids */
};

static uint64_t sim_mem_align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

int sim_mem_geometry_for(const char *board, struct sim_mem_geometry *g)
{
    uint64_t total[TTALLOC_NUM_TYPES];
    memset(g, 0, sizeof(*g));
    if (boards_capacity(board, total) < 0)
        return -ENOENT;
    for (size_t i = 0; i < sizeof(sim_mem_boards) / sizeof(sim_mem_boards[0]); i++) {
        const struct sim_mem_board *b = &sim_mem_boards[i];
        if (strcmp(b->board, board) != 0)
            continue;
        snprintf(g->board, sizeof(g->board), "%s", b->board);
        g->dram_banks = b->dram_banks;
        g->dram_bank_size = total[TTALLOC_DRAM] / b->dram_banks;
        g->dram_base = SIM_MEM_DRAM_BASE;
        g->dram_align = b->dram_align;
        g->grid_x = b->grid_x;
        g->grid_y = b->grid_y;
        g->l1_banks = b->grid_x * b->grid_y;
        g->l1_bank_size = total[TTALLOC_L1] / g->l1_banks;
        g->l1_base = b->l1_base;
        g->l1_align = 16;
        return 0;
    }
    return -ENOENT;
}

static enum sim_mem_region_id sim_mem_region_of(enum ttalloc_buffer_type type)
{
    switch (type) {
    case TTALLOC_DRAM:
        return SIM_MEM_R_DRAM;
    case TTALLOC_TRACE:
        return SIM_MEM_R_TRACE;
    case TTALLOC_L1:
    case TTALLOC_CB:
        return SIM_MEM_R_L1;
    case TTALLOC_L1_SMALL:
        return SIM_MEM_R_L1_SMALL;
    default:
        return SIM_MEM_REGIONS;
    }
}

struct sim_mem *sim_mem_new(const struct sim_mem_geometry *g, uint64_t trace_region,
                            uint64_t l1_small_region)
{
    if (g->dram_banks == 0 || g->l1_banks == 0 || g->dram_align == 0 || g->l1_align == 0) {
        errno = EINVAL;
        return NULL;
    }
    /* Each bank's share, rounded up without wrapping: a region near
     * UINT64_MAX is refused, not read as a small one. */
    uint64_t trace_share = trace_region / g->dram_banks + (trace_region % g->dram_banks != 0);
    uint64_t small_share = l1_small_region / g->l1_banks + (l1_small_region % g->l1_banks != 0);
    if (trace_share >= g->dram_bank_size || small_share >= g->l1_bank_size) {
        errno = EINVAL;
        return NULL;
    }
    uint64_t trace_per_bank = sim_mem_align_up(trace_share, g->dram_align);
    uint64_t small_per_bank = sim_mem_align_up(small_share, g->l1_align);
    if (g->dram_base + trace_per_bank >= g->dram_bank_size ||
        g->l1_base + small_per_bank >= g->l1_bank_size) {
        errno = EINVAL;
        return NULL;
    }
    struct sim_mem *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->g = *g;
    m->r[SIM_MEM_R_DRAM] = (struct sim_mem_region){.start = g->dram_base,
                                                   .end = g->dram_bank_size - trace_per_bank,
                                                   .banks = g->dram_banks,
                                                   .align = g->dram_align};
    m->r[SIM_MEM_R_TRACE] = (struct sim_mem_region){.start = g->dram_bank_size - trace_per_bank,
                                                    .end = g->dram_bank_size,
                                                    .banks = g->dram_banks,
                                                    .align = g->dram_align};
    m->r[SIM_MEM_R_L1] = (struct sim_mem_region){.start = g->l1_base,
                                                 .end = g->l1_bank_size - small_per_bank,
                                                 .banks = g->l1_banks,
                                                 .align = g->l1_align};
    m->r[SIM_MEM_R_L1_SMALL] = (struct sim_mem_region){.start = g->l1_bank_size - small_per_bank,
                                                       .end = g->l1_bank_size,
                                                       .banks = g->l1_banks,
                                                       .align = g->l1_align};
    return m;
}

void sim_mem_delete(struct sim_mem *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < SIM_MEM_REGIONS; i++)
        free(m->r[i].blocks);
    free(m);
}

const struct sim_mem_geometry *sim_mem_geometry_of(const struct sim_mem *m)
{
    return &m->g;
}

void sim_mem_capacity(const struct sim_mem *m, uint64_t cap[TTALLOC_NUM_TYPES])
{
    memset(cap, 0, TTALLOC_NUM_TYPES * sizeof(cap[0]));
    cap[TTALLOC_DRAM] = m->g.dram_bank_size * m->g.dram_banks;
    cap[TTALLOC_L1] = m->g.l1_bank_size * m->g.l1_banks;
    const struct sim_mem_region *r = &m->r[SIM_MEM_R_TRACE];
    cap[TTALLOC_TRACE] = (r->end - r->start) * r->banks;
    r = &m->r[SIM_MEM_R_L1_SMALL];
    cap[TTALLOC_L1_SMALL] = (r->end - r->start) * r->banks;
    r = &m->r[SIM_MEM_R_L1];
    cap[TTALLOC_CB] = (r->end - r->start) * r->banks;
}

const char *sim_mem_type_name(enum ttalloc_buffer_type type)
{
    const char *name = buftype_upper((unsigned)type);
    return name != NULL ? name : "?";
}

/* Allocated bytes per bank, free bytes and the largest gap of a region. */
static void sim_mem_stats(const struct sim_mem_region *r, uint64_t *allocated, uint64_t *free_b,
                          uint64_t *largest)
{
    uint64_t cursor = r->start, sum = 0, big = 0;
    for (size_t i = 0; i < r->n; i++) {
        sum += r->blocks[i].end - r->blocks[i].start;
        if (r->blocks[i].start - cursor > big)
            big = r->blocks[i].start - cursor;
        cursor = r->blocks[i].end;
    }
    if (r->end - cursor > big)
        big = r->end - cursor;
    *allocated = sum;
    *free_b = (r->end - r->start) - sum;
    *largest = big;
}

/* First fit from the bottom: the lowest aligned start with `need` bytes free. */
static int sim_mem_fit_bottom_up(const struct sim_mem_region *r, uint64_t need, uint64_t *at,
                                 size_t *index)
{
    uint64_t cursor = sim_mem_align_up(r->start, r->align);
    for (size_t i = 0; i <= r->n; i++) {
        uint64_t limit = i < r->n ? r->blocks[i].start : r->end;
        if (limit >= cursor && limit - cursor >= need) {
            *at = cursor;
            *index = i;
            return 0;
        }
        if (i < r->n && r->blocks[i].end > cursor)
            cursor = sim_mem_align_up(r->blocks[i].end, r->align);
    }
    return -ENOMEM;
}

/* First fit from the top: the highest aligned start with `need` bytes free. */
static int sim_mem_fit_top_down(const struct sim_mem_region *r, uint64_t need, uint64_t *at,
                                size_t *index)
{
    uint64_t limit = r->end;
    for (size_t i = r->n + 1; i-- > 0;) {
        uint64_t floor = i > 0 ? r->blocks[i - 1].end : r->start;
        if (limit >= need) {
            uint64_t cand = (limit - need) / r->align * r->align;
            if (cand >= floor && cand >= r->start) {
                *at = cand;
                *index = i;
                return 0;
            }
        }
        if (i > 0)
            limit = r->blocks[i - 1].start;
    }
    return -ENOMEM;
}

static void sim_mem_oom_message(struct sim_mem *m, const struct sim_mem_region *r,
                                enum ttalloc_buffer_type type, uint64_t size, uint64_t need,
                                char *why, size_t why_cap)
{
    uint64_t allocated, free_b, largest;
    if (why == NULL || why_cap == 0)
        return;
    sim_mem_stats(r, &allocated, &free_b, &largest);
    if (type == TTALLOC_CB) {
        /* TT-Metal checks a program's static CBs against L1 (program.cpp). */
        m->programs++;
        uint64_t cb_top = r->start, l1_low = r->end;
        for (size_t i = 0; i < r->n; i++) {
            if (r->blocks[i].type == TTALLOC_CB && r->blocks[i].end > cb_top)
                cb_top = r->blocks[i].end;
            if (r->blocks[i].type == TTALLOC_L1 && r->blocks[i].start < l1_low)
                l1_low = r->blocks[i].start;
        }
        if (r->start + need > m->g.l1_bank_size || l1_low == r->end)
            snprintf(why, why_cap,
                     "Statically allocated circular buffers on core range [(x=0,y=0) - "
                     "(x=%u,y=%u)] grow to %" PRIu64 " B which is beyond max L1 size of %" PRIu64
                     " B",
                     m->g.grid_x - 1, m->g.grid_y - 1, cb_top + need, r->end);
        else
            snprintf(why, why_cap,
                     "Statically allocated circular buffers in program %" PRIu64
                     " clash with L1 buffers on core range [(x=0,y=0) - (x=%u,y=%u)]. L1 buffer "
                     "allocated at %" PRIu64 " and static circular buffer region ends at %" PRIu64,
                     m->programs, m->g.grid_x - 1, m->g.grid_y - 1, l1_low, cb_top + need);
        return;
    }
    snprintf(why, why_cap,
             "Out of Memory: Not enough space to allocate %" PRIu64 " B %s buffer across %u "
             "banks, where each bank needs to store %" PRIu64 " B, but bank size is %" PRIu64
             " B (allocated: %" PRIu64 " B, free: %" PRIu64 " B, largest free block: %" PRIu64
             " B)",
             size, sim_mem_type_name(type), r->banks, need, r->end - r->start, allocated, free_b,
             largest);
}

int sim_mem_alloc(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t size,
                  uint64_t page_size, struct sim_mem_block *out, char *why, size_t why_cap)
{
    enum sim_mem_region_id rid = sim_mem_region_of(type);
    if (rid == SIM_MEM_REGIONS || size == 0 || page_size == 0 || size > (UINT64_C(1) << 48))
        return -EINVAL;
    if (page_size > size)
        page_size = size;
    struct sim_mem_region *r = &m->r[rid];
    /* TT-Metal's calculate_bank_size_spread: whole pages, spread evenly. */
    uint64_t pages = (size + page_size - 1) / page_size;
    uint64_t pages_per_bank = (pages + r->banks - 1) / r->banks;
    uint64_t need = sim_mem_align_up(pages_per_bank * page_size, r->align);
    uint64_t at = 0;
    size_t index = 0;
    int rc = (type == TTALLOC_L1 || type == TTALLOC_L1_SMALL)
                 ? sim_mem_fit_top_down(r, need, &at, &index)
                 : sim_mem_fit_bottom_up(r, need, &at, &index);
    if (rc < 0) {
        sim_mem_oom_message(m, r, type, size, need, why, why_cap);
        return -ENOMEM;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct sim_mem_live *b = realloc(r->blocks, cap * sizeof(*b));
        if (b == NULL) {
            if (why && why_cap)
                snprintf(why, why_cap, "out of host memory");
            return -ENOMEM;
        }
        r->blocks = b;
        r->cap = cap;
    }
    memmove(&r->blocks[index + 1], &r->blocks[index], (r->n - index) * sizeof(r->blocks[0]));
    r->blocks[index] =
        (struct sim_mem_live){.start = at, .end = at + need, .size = size, .type = (uint8_t)type};
    r->n++;
    m->used[type] += size;
    *out =
        (struct sim_mem_block){.address = at, .size = size, .bank_bytes = need, .banks = r->banks};
    return 0;
}

static int sim_mem_block_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint64_t *)key, ((const struct sim_mem_live *)element)->start);
}

int sim_mem_free(struct sim_mem *m, enum ttalloc_buffer_type type, uint64_t address)
{
    enum sim_mem_region_id rid = sim_mem_region_of(type);
    if (rid == SIM_MEM_REGIONS)
        return -ENOENT;
    struct sim_mem_region *r = &m->r[rid];
    size_t lo = lowerbound(&address, r->blocks, r->n, sizeof(*r->blocks), sim_mem_block_cmp);
    if (lo == r->n || r->blocks[lo].start != address || r->blocks[lo].type != type)
        return -ENOENT;
    m->used[type] -= r->blocks[lo].size;
    memmove(&r->blocks[lo], &r->blocks[lo + 1], (r->n - lo - 1) * sizeof(r->blocks[0]));
    r->n--;
    return 0;
}

void sim_mem_used(const struct sim_mem *m, uint64_t used[TTALLOC_NUM_TYPES])
{
    memcpy(used, m->used, sizeof(m->used));
}

size_t sim_mem_live(const struct sim_mem *m)
{
    size_t n = 0;
    for (int i = 0; i < SIM_MEM_REGIONS; i++)
        n += m->r[i].n;
    return n;
}
