/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim_profiles.c - the simulator's workloads (src/sim/profiles.c) and its
 * address allocator (src/sim/sim_mem.c): capacities are never exceeded, live
 * buffers never overlap, every free names a live buffer, out of memory is
 * reported with TT-Metal's message, and a seed gives one event sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "profiles.h"
#include "sim_mem.h"

static const char *const test_boards[] = {"e150", "n150", "n300", "p100a", "p150a"};
#define N_BOARDS (sizeof(test_boards) / sizeof(test_boards[0]))

/* ---- a checker that sees every event ------------------------------------ */

struct live_buf {
    uint32_t device;
    int type;
    uint64_t address, size, bank_bytes;
};

struct checker {
    struct live_buf *live;
    size_t n, cap;
    size_t n_devs;
    const uint32_t *ids;
    uint64_t used[4][TTALLOC_NUM_TYPES];  /* per device index */
    uint64_t limit[4][TTALLOC_NUM_TYPES]; /* per-type capacity */
    uint64_t dram_total[4], l1_total[4];  /* boards.h */
    uint64_t allocs, frees, ooms;
    char last_oom[512];
    enum ttalloc_buffer_type last_oom_type;
    uint64_t last_oom_size;
    int ok_oom_format;
};

static size_t checker_dev(const struct checker *c, uint32_t id)
{
    for (size_t i = 0; i < c->n_devs; i++) {
        if (c->ids[i] == id)
            return i;
    }
    fail_msg("event for unknown device %u", id);
    return 0;
}

/* DRAM and TRACE share the DRAM banks; L1, CB and L1_SMALL the L1 banks. */
static int checker_space(int type)
{
    return (type == TTALLOC_DRAM || type == TTALLOC_TRACE) ? 0 : 1;
}

static void checker_emit(void *ctx, const struct profiles_event *ev)
{
    struct checker *c = ctx;
    size_t d = checker_dev(c, ev->device);
    if (ev->kind == PROFILES_OOM) {
        c->ooms++;
        assert_non_null(ev->message);
        snprintf(c->last_oom, sizeof(c->last_oom), "%s", ev->message);
        c->last_oom_type = ev->type;
        c->last_oom_size = ev->size;
        assert_true(strncmp(ev->message, "Out of Memory: Not enough space to allocate ", 44) == 0 ||
                    strncmp(ev->message, "Statically allocated circular buffers ", 38) == 0);
        return;
    }
    if (ev->kind == PROFILES_FREE) {
        for (size_t i = 0; i < c->n; i++) {
            if (c->live[i].device == ev->device && c->live[i].type == (int)ev->type &&
                c->live[i].address == ev->address) {
                c->used[d][ev->type] -= c->live[i].size;
                c->live[i] = c->live[--c->n];
                c->frees++;
                return;
            }
        }
        fail_msg("free of a buffer that is not live: dev %u type %d addr 0x%" PRIx64, ev->device,
                 ev->type, ev->address);
    }
    assert_int_equal(ev->kind, PROFILES_ALLOC);
    assert_true(ev->size > 0);
    assert_true(ev->bank_bytes * ev->banks >= ev->size);
    /* aligned as TT-Metal aligns: DRAM 32 (Wormhole) or 64 (Blackhole), L1 16 */
    assert_int_equal(ev->address % (checker_space(ev->type) == 0 ? 32 : 16), 0);
    for (size_t i = 0; i < c->n; i++) {
        const struct live_buf *b = &c->live[i];
        if (b->device != ev->device || checker_space(b->type) != checker_space(ev->type))
            continue;
        if (b->type == (int)ev->type && b->address == ev->address)
            fail_msg("buffer allocated twice at 0x%" PRIx64, ev->address);
        int disjoint =
            ev->address + ev->bank_bytes <= b->address || b->address + b->bank_bytes <= ev->address;
        if (!disjoint)
            fail_msg("type %d [0x%" PRIx64 ", +%" PRIu64 ") overlaps type %d [0x%" PRIx64
                     ", +%" PRIu64 ")",
                     ev->type, ev->address, ev->bank_bytes, b->type, b->address, b->bank_bytes);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->live = realloc(c->live, c->cap * sizeof(c->live[0]));
        assert_non_null(c->live);
    }
    c->live[c->n++] =
        (struct live_buf){ev->device, ev->type, ev->address, ev->size, ev->bank_bytes};
    c->used[d][ev->type] += ev->size;
    c->allocs++;
    assert_true(c->used[d][ev->type] <= c->limit[d][ev->type]);
    assert_true(c->used[d][TTALLOC_DRAM] + c->used[d][TTALLOC_TRACE] <= c->dram_total[d]);
    assert_true(c->used[d][TTALLOC_L1] + c->used[d][TTALLOC_CB] + c->used[d][TTALLOC_L1_SMALL] <=
                c->l1_total[d]);
}

static void checker_init(struct checker *c, const struct profiles *p, const uint32_t *ids,
                         const struct profiles_device *devs, size_t n)
{
    memset(c, 0, sizeof(*c));
    c->ids = ids;
    c->n_devs = n;
    for (size_t i = 0; i < n; i++) {
        profiles_capacity(p, i, c->limit[i]);
        const struct sim_mem_geometry *g = &devs[i].geometry;
        c->dram_total[i] = g->dram_bank_size * g->dram_banks;
        c->l1_total[i] = g->l1_bank_size * g->l1_banks;
    }
}

/* ---- sim_mem ------------------------------------------------------------- */

static void test_geometry_matches_boards(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_BOARDS; i++) {
        struct sim_mem_geometry g;
        uint64_t total[TTALLOC_NUM_TYPES];
        assert_int_equal(sim_mem_geometry_for(test_boards[i], &g), 0);
        assert_int_equal(boards_capacity(test_boards[i], total), 0);
        assert_int_equal(g.dram_bank_size * g.dram_banks, total[TTALLOC_DRAM]);
        assert_int_equal(g.l1_bank_size * g.l1_banks, total[TTALLOC_L1]);
        assert_int_equal(g.l1_banks, g.grid_x * g.grid_y);
    }
    struct sim_mem_geometry g;
    assert_int_equal(sim_mem_geometry_for("galaxy-wormhole", &g), -ENOENT);
    assert_int_equal(sim_mem_geometry_for("nonsense", &g), -ENOENT);
}

static struct sim_mem_geometry tiny_geometry(void)
{
    struct sim_mem_geometry g = {.board = "tiny",
                                 .dram_banks = 4,
                                 .dram_bank_size = 64 * 1024,
                                 .dram_base = 1024,
                                 .dram_align = 32,
                                 .l1_banks = 4,
                                 .grid_x = 2,
                                 .grid_y = 2,
                                 .l1_bank_size = 32 * 1024,
                                 .l1_base = 4096,
                                 .l1_align = 16};
    return g;
}

static void test_mem_first_fit_and_oom(void **state)
{
    (void)state;
    struct sim_mem_geometry g = tiny_geometry();
    struct sim_mem *m = sim_mem_new(&g, 0, 0);
    assert_non_null(m);
    struct sim_mem_block b[8];
    char msg[512];
    /* 4 banks, 1000 B in pages of 100: 10 pages, 3 per bank, 300 B -> 320 aligned */
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 1000, 100, &b[0], msg, sizeof(msg)), 0);
    assert_int_equal(b[0].address, 1024);
    assert_int_equal(b[0].bank_bytes, 320);
    assert_int_equal(b[0].banks, 4);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 4000, 1000, &b[1], msg, sizeof(msg)), 0);
    assert_int_equal(b[1].address, 1024 + 320);
    /* freeing the first and asking again for the same fits in the hole */
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, b[0].address), 0);
    assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, b[0].address), -ENOENT);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 1000, 100, &b[2], msg, sizeof(msg)), 0);
    assert_int_equal(b[2].address, 1024);
    /* L1 comes from the top, CBs from the bottom */
    assert_int_equal(sim_mem_alloc(m, TTALLOC_L1, 4 * 1024, 1024, &b[3], msg, sizeof(msg)), 0);
    assert_int_equal(b[3].address, 32 * 1024 - 1024);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_CB, 4 * 2048, 2048, &b[4], msg, sizeof(msg)), 0);
    assert_int_equal(b[4].address, 4096);
    assert_int_equal(sim_mem_free(m, TTALLOC_L1, b[4].address), -ENOENT); /* type matters */
    /* too big: TT-Metal's message with the real numbers */
    uint64_t used[TTALLOC_NUM_TYPES];
    sim_mem_used(m, used);
    assert_int_equal(used[TTALLOC_DRAM], 5000);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 4 * 63 * 1024, 1024, &b[5], msg, sizeof(msg)),
                     -ENOMEM);
    uint64_t size, need, bank, allocated, free_b, largest;
    unsigned banks;
    char type[16];
    assert_int_equal(
        sscanf(msg,
               "Out of Memory: Not enough space to allocate %" SCNu64
               " B %15s buffer across %u banks, where each bank needs to store %" SCNu64
               " B, but bank size is %" SCNu64 " B (allocated: %" SCNu64 " B, free: %" SCNu64
               " B, largest free block: %" SCNu64 " B)",
               &size, type, &banks, &need, &bank, &allocated, &free_b, &largest),
        8);
    assert_int_equal(size, 4 * 63 * 1024);
    assert_string_equal(type, "DRAM");
    assert_int_equal(banks, 4);
    assert_int_equal(need, 63 * 1024);
    assert_int_equal(bank, 64 * 1024 - 1024);
    assert_int_equal(allocated, 320 + 1024);
    assert_int_equal(allocated + free_b, bank);
    assert_true(largest < need);
    sim_mem_used(m, used);
    assert_int_equal(used[TTALLOC_DRAM], 5000); /* a failed allocation takes nothing */
    assert_int_equal(sim_mem_live(m), 4);
    /* invalid arguments */
    assert_int_equal(sim_mem_alloc(m, TTALLOC_SYSTEM_MEMORY, 64, 64, &b[6], msg, sizeof(msg)),
                     -EINVAL);
    assert_int_equal(sim_mem_alloc(m, TTALLOC_DRAM, 0, 64, &b[6], msg, sizeof(msg)), -EINVAL);
    sim_mem_delete(m);
}

/* Random allocations and frees against one allocator: never overlapping,
 * always inside the region, until it is full. */
static void test_mem_random_fill(void **state)
{
    (void)state;
    struct sim_mem_geometry g = tiny_geometry();
    struct sim_mem *m = sim_mem_new(&g, 8 * 1024, 0);
    assert_non_null(m);
    struct sim_mem_block live[512];
    size_t n = 0, ooms = 0;
    uint64_t x = 12345;
    char msg[512];
    for (int i = 0; i < 5000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = x >> 33;
        if (n > 0 && r % 3 == 0) {
            size_t k = r % n;
            assert_int_equal(sim_mem_free(m, TTALLOC_DRAM, live[k].address), 0);
            live[k] = live[--n];
            continue;
        }
        struct sim_mem_block b;
        int rc = sim_mem_alloc(m, TTALLOC_DRAM, 1 + r % 20000, 32, &b, msg, sizeof(msg));
        if (rc == -ENOMEM) {
            ooms++;
            assert_non_null(strstr(msg, "B DRAM buffer across 4 banks"));
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(b.address >= 1024);
        assert_true(b.address + b.bank_bytes <= 64 * 1024 - 2048); /* trace region above */
        for (size_t k = 0; k < n; k++)
            assert_true(b.address + b.bank_bytes <= live[k].address ||
                        live[k].address + live[k].bank_bytes <= b.address);
        assert_true(n < 512);
        live[n++] = b;
    }
    assert_true(ooms > 0);
    sim_mem_delete(m);
}

/* ---- profiles ------------------------------------------------------------ */

static void run_profile(const char *name, const struct profiles_device *devs, size_t n,
                        uint64_t seed, size_t steps, struct checker *c)
{
    uint32_t *ids = malloc(n * sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = devs[i].id;
    struct profiles *p;
    assert_int_equal(profiles_create(name, seed, devs, n, &p), 0);
    checker_init(c, p, ids, devs, n);
    size_t events = 0;
    for (size_t s = 0; s < steps; s++)
        events += profiles_step(p, checker_emit, c);
    assert_int_equal(events, c->allocs + c->frees + c->ooms);
    size_t before = c->frees;
    size_t fin = profiles_finish(p, checker_emit, c);
    assert_int_equal(fin, c->frees - before);
    /* at a clean end only the leaks stay */
    uint64_t used[TTALLOC_NUM_TYPES];
    for (size_t i = 0; i < n; i++) {
        profiles_used(p, i, used);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            assert_int_equal(used[t], c->used[i][t]);
    }
    if (strcmp(name, "leaky") == 0)
        assert_true(c->n > 0);
    else
        assert_int_equal(c->n, 0);
    profiles_destroy(p);
    free(c->live);
    free(ids);
}

static void test_profiles_respect_capacity(void **state)
{
    (void)state;
    for (size_t b = 0; b < N_BOARDS; b++) {
        for (size_t k = 0; profiles_names[k] != NULL; k++) {
            struct profiles_device dev = {.id = 3};
            assert_int_equal(sim_mem_geometry_for(test_boards[b], &dev.geometry), 0);
            struct checker c;
            run_profile(profiles_names[k], &dev, 1, 7 + b, 1500, &c);
            assert_true(c.allocs > 100);
            assert_true(c.frees > 0);
        }
    }
}

/* Two devices of different boards in one run (tensor parallel): each keeps
 * to its own capacity. */
static void test_profiles_multi_device(void **state)
{
    (void)state;
    struct profiles_device devs[2] = {{.id = 0}, {.id = 2}};
    assert_int_equal(sim_mem_geometry_for("n150", &devs[0].geometry), 0);
    assert_int_equal(sim_mem_geometry_for("p150a", &devs[1].geometry), 0);
    for (size_t k = 0; profiles_names[k] != NULL; k++) {
        struct checker c;
        run_profile(profiles_names[k], devs, 2, 99, 800, &c);
        assert_true(c.allocs > 0);
    }
}

/* A small device: the workloads run out of memory, report it the way
 * TT-Metal does, and carry on without ever exceeding the capacity. */
static void test_profiles_report_oom(void **state)
{
    (void)state;
    struct profiles_device dev = {.id = 0};
    dev.geometry = (struct sim_mem_geometry){.board = "small",
                                             .dram_banks = 12,
                                             .dram_bank_size = 16 * 1024 * 1024,
                                             .dram_base = 1024,
                                             .dram_align = 32,
                                             .l1_banks = 64,
                                             .grid_x = 8,
                                             .grid_y = 8,
                                             .l1_bank_size = 512 * 1024,
                                             .l1_base = 0x16600,
                                             .l1_align = 16};
    struct checker c;
    run_profile("leaky", &dev, 1, 5, 4000, &c);
    assert_true(c.ooms > 0);
    uint64_t size, need, bank, allocated, free_b, largest;
    unsigned banks;
    char type[16];
    if (c.last_oom_type == TTALLOC_DRAM) {
        assert_int_equal(
            sscanf(c.last_oom,
                   "Out of Memory: Not enough space to allocate %" SCNu64
                   " B %15s buffer across %u banks, where each bank needs to store %" SCNu64
                   " B, but bank size is %" SCNu64 " B (allocated: %" SCNu64 " B, free: %" SCNu64
                   " B, largest free block: %" SCNu64 " B)",
                   &size, type, &banks, &need, &bank, &allocated, &free_b, &largest),
            8);
        assert_int_equal(size, c.last_oom_size);
        assert_string_equal(type, "DRAM");
        assert_int_equal(banks, 12);
        assert_true(largest < need);
        assert_int_equal(allocated + free_b, bank);
    }
    /* the other profiles keep within the small device too (their own OOMs
     * included); llm's 24 MiB trace region fits in 12 x 16 MiB */
    const char *others[] = {"llm", "cnn", "train", "churn"};
    for (size_t k = 0; k < 4; k++)
        run_profile(others[k], &dev, 1, 11, 1500, &c);
}

/* ---- reproducibility ----------------------------------------------------- */

struct recorder_ctx {
    struct profiles_event *ev;
    size_t n, cap;
};

static void record_emit(void *ctx, const struct profiles_event *ev)
{
    struct recorder_ctx *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->ev = realloc(r->ev, r->cap * sizeof(r->ev[0]));
        assert_non_null(r->ev);
    }
    r->ev[r->n] = *ev;
    r->ev[r->n].message = NULL;
    r->n++;
}

static void record_run(const char *name, uint64_t seed, struct recorder_ctx *r)
{
    struct profiles_device dev = {.id = 1};
    assert_int_equal(sim_mem_geometry_for("n300", &dev.geometry), 0);
    struct profiles *p;
    memset(r, 0, sizeof(*r));
    assert_int_equal(profiles_create(name, seed, &dev, 1, &p), 0);
    for (int s = 0; s < 1000; s++)
        profiles_step(p, record_emit, r);
    profiles_finish(p, record_emit, r);
    profiles_destroy(p);
}

static int same_events(const struct recorder_ctx *a, const struct recorder_ctx *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->ev[i].kind != b->ev[i].kind || a->ev[i].type != b->ev[i].type ||
            a->ev[i].address != b->ev[i].address || a->ev[i].size != b->ev[i].size ||
            a->ev[i].device != b->ev[i].device)
            return 0;
    }
    return 1;
}

static void test_profiles_reproducible(void **state)
{
    (void)state;
    for (size_t k = 0; profiles_names[k] != NULL; k++) {
        struct recorder_ctx a, b, c;
        record_run(profiles_names[k], 42, &a);
        record_run(profiles_names[k], 42, &b);
        record_run(profiles_names[k], 43, &c);
        assert_true(a.n > 100);
        assert_true(same_events(&a, &b));
        assert_false(same_events(&a, &c));
        free(a.ev);
        free(b.ev);
        free(c.ev);
    }
}

static void test_profiles_bad_arguments(void **state)
{
    (void)state;
    struct profiles_device dev = {.id = 0};
    struct profiles *p;
    assert_int_equal(sim_mem_geometry_for("n150", &dev.geometry), 0);
    assert_int_equal(profiles_create("nope", 1, &dev, 1, &p), -ENOENT);
    assert_int_equal(profiles_create("llm", 1, &dev, 0, &p), -EINVAL);
    /* a device too small for llm's trace region */
    dev.geometry = tiny_geometry();
    assert_int_equal(profiles_create("llm", 1, &dev, 1, &p), -EINVAL);
    assert_int_equal(profiles_default_rate("churn") > profiles_default_rate("llm"), 1);
    assert_int_equal(profiles_default_rate("nope"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_matches_boards),
        cmocka_unit_test(test_mem_first_fit_and_oom),
        cmocka_unit_test(test_mem_random_fill),
        cmocka_unit_test(test_profiles_respect_capacity),
        cmocka_unit_test(test_profiles_multi_device),
        cmocka_unit_test(test_profiles_report_oom),
        cmocka_unit_test(test_profiles_reproducible),
        cmocka_unit_test(test_profiles_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
