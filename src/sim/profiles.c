/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profiles.c - the workload generators of tt-alloc-sim (see profiles.h).
 *
 * Each device of a run has its own sim_mem allocator and the lists of live
 * buffers by role (weights, KV pages, activations, ...). A multi-device run
 * acts like tensor parallelism: every step does the same thing on each
 * device in turn. All randomness comes from one splitmix64 stream.
 */
#include "profiles.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KIB (1024ull)
#define MIB (1024ull * 1024ull)
#define TILE_BYTES 2048ull /* one bf16 32x32 tile: TT-Metal's usual page */
#define KV_BLOCK_TOKENS 32 /* tokens per paged-attention KV block */
#define MSG_CAP 512

enum profiles_id { PROFILE_LLM, PROFILE_CNN, PROFILE_TRAIN, PROFILE_LEAKY, PROFILE_CHURN };

const char *const profiles_names[] = {"llm", "cnn", "train", "leaky", "churn", NULL};
static const unsigned profiles_rates[] = {1000, 1000, 1000, 200, 50000};

struct profiles_buf {
    enum ttalloc_buffer_type type;
    uint64_t address;
};

struct profiles_vec {
    struct profiles_buf *v;
    size_t n, cap;
};

/* Roles, in the order a clean exit frees them. */
enum profiles_role {
    ROLE_TEMP,
    ROLE_ACT,
    ROLE_IO,
    ROLE_SAVED,
    ROLE_GRAD,
    ROLE_KV,
    ROLE_TRACE,
    ROLE_OPT,
    ROLE_SMALL,
    ROLE_CHURN,
    ROLE_WEIGHT,
    ROLE_LEAKED,
    ROLE_COUNT
};

struct profiles_dev {
    uint32_t id;
    struct sim_mem *mem;
    struct profiles_vec role[ROLE_COUNT];
};

struct profiles {
    enum profiles_id id;
    uint64_t rng;
    size_t n_devs;
    struct profiles_dev *devs;
    uint64_t ooms;
    int failed; /* host out of memory: stop generating */
    char msg[MSG_CAP];
    profiles_emit_fn emit; /* valid during a step */
    void *ctx;
    size_t events; /* emitted in this step */
    /* workload state, shared by all devices (they move in lockstep) */
    int phase;
    unsigned layers, layer, layer_step;
    uint64_t token, request_len, max_seq;
    double frac; /* a profile-specific fraction drawn at creation */
    int opt_ready;
};

/* splitmix64 */
static uint64_t profiles_rand(struct profiles *p)
{
    uint64_t z = (p->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t profiles_range(struct profiles *p, uint64_t lo, uint64_t hi)
{
    return hi <= lo ? lo : lo + profiles_rand(p) % (hi - lo + 1);
}

static int profiles_chance(struct profiles *p, unsigned one_in)
{
    return profiles_rand(p) % one_in == 0;
}

static int profiles_push(struct profiles *p, struct profiles_vec *vec, enum ttalloc_buffer_type t,
                         uint64_t address)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        struct profiles_buf *v = realloc(vec->v, cap * sizeof(*v));
        if (v == NULL) {
            p->failed = 1;
            return -ENOMEM;
        }
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = (struct profiles_buf){t, address};
    return 0;
}

/* Allocate on device d and remember the buffer under `role`. 0 or -ENOMEM
 * (an OOM event was emitted). */
static int profiles_alloc(struct profiles *p, struct profiles_dev *d, enum profiles_role role,
                          enum ttalloc_buffer_type type, uint64_t size, uint64_t page)
{
    struct sim_mem_block b;
    if (p->failed)
        return -ENOMEM;
    if (page > size)
        page = size;
    int rc = sim_mem_alloc(d->mem, type, size, page, &b, p->msg, sizeof(p->msg));
    if (rc < 0) {
        struct profiles_event ev = {
            .kind = PROFILES_OOM, .device = d->id, .type = type, .size = size, .message = p->msg};
        p->ooms++;
        p->events++;
        p->emit(p->ctx, &ev);
        return rc;
    }
    if (profiles_push(p, &d->role[role], type, b.address) < 0) {
        sim_mem_free(d->mem, type, b.address);
        return -ENOMEM;
    }
    struct profiles_event ev = {.kind = PROFILES_ALLOC,
                                .device = d->id,
                                .type = type,
                                .address = b.address,
                                .size = b.size,
                                .bank_bytes = b.bank_bytes,
                                .banks = b.banks};
    p->events++;
    p->emit(p->ctx, &ev);
    return 0;
}

/* Free the buffer at index i of a role list (swap-remove keeps it O(1) for
 * churn; other roles free from the end). */
static void profiles_release_at(struct profiles *p, struct profiles_dev *d, enum profiles_role role,
                                size_t i)
{
    struct profiles_vec *vec = &d->role[role];
    struct profiles_buf b = vec->v[i];
    vec->v[i] = vec->v[--vec->n];
    sim_mem_free(d->mem, b.type, b.address);
    struct profiles_event ev = {
        .kind = PROFILES_FREE, .device = d->id, .type = b.type, .address = b.address};
    p->events++;
    p->emit(p->ctx, &ev);
}

static void profiles_release_last(struct profiles *p, struct profiles_dev *d,
                                  enum profiles_role role)
{
    if (d->role[role].n > 0)
        profiles_release_at(p, d, role, d->role[role].n - 1);
}

static void profiles_release_all(struct profiles *p, struct profiles_dev *d,
                                 enum profiles_role role)
{
    while (d->role[role].n > 0)
        profiles_release_last(p, d, role);
}

/* Forget (leak) the most recent buffer of a role: it stays live for ever. */
static void profiles_forget_last(struct profiles *p, struct profiles_dev *d,
                                 enum profiles_role role)
{
    struct profiles_vec *vec = &d->role[role];
    if (vec->n == 0)
        return;
    struct profiles_buf b = vec->v[--vec->n];
    profiles_push(p, &d->role[ROLE_LEAKED], b.type, b.address);
}

static uint64_t profiles_dram(const struct profiles_dev *d)
{
    uint64_t cap[TTALLOC_NUM_TYPES];
    sim_mem_capacity(d->mem, cap);
    return cap[TTALLOC_DRAM];
}

static uint32_t profiles_cores(const struct profiles_dev *d)
{
    return sim_mem_geometry_of(d->mem)->l1_banks;
}

/* One op on L1: its circular buffers, then its output activation; once the
 * program is done its CBs are freed, and so is its input (the previous
 * activation), while the output becomes the next op's input. */
static void profiles_l1_op(struct profiles *p, struct profiles_dev *d, unsigned n_cbs,
                           uint64_t cb_max, uint64_t act_max)
{
    uint32_t cores = profiles_cores(d);
    for (unsigned c = 0; c < n_cbs; c++) {
        uint64_t per_core = profiles_range(p, 1, cb_max / TILE_BYTES) * TILE_BYTES;
        profiles_alloc(p, d, ROLE_TEMP, TTALLOC_CB, per_core * cores, per_core);
    }
    uint64_t act = profiles_range(p, 4, act_max / TILE_BYTES) * TILE_BYTES * cores;
    struct profiles_vec *temp = &d->role[ROLE_TEMP];
    int have_out = profiles_alloc(p, d, ROLE_TEMP, TTALLOC_L1, act, TILE_BYTES) == 0;
    struct profiles_buf out = {TTALLOC_L1, 0};
    if (have_out)
        out = temp->v[--temp->n];
    profiles_release_all(p, d, ROLE_TEMP);
    profiles_release_all(p, d, ROLE_ACT);
    if (have_out)
        profiles_push(p, &d->role[ROLE_ACT], out.type, out.address);
}

/* ---- llm ---------------------------------------------------------------- */

enum { LLM_LOAD, LLM_EMBED, LLM_TRACE, LLM_DECODE };

static void llm_setup(struct profiles *p)
{
    static const unsigned layer_choices[] = {16, 24, 32};
    static const uint64_t seq_choices[] = {1024, 2048, 4096};
    p->layers = layer_choices[profiles_range(p, 0, 2)];
    p->max_seq = seq_choices[profiles_range(p, 0, 2)];
    p->frac = 0.30 + (double)profiles_range(p, 0, 20) / 100.0; /* weights: 30-50 % */
    p->phase = LLM_LOAD;
}

static void llm_step_device(struct profiles *p, struct profiles_dev *d)
{
    uint64_t dram = profiles_dram(d);
    uint64_t layer_bytes = (uint64_t)((double)dram * p->frac) / (p->layers + 2);
    /* per-layer tensors as fractions (in 1/100) of the layer: wqkv, wo, w1, w3, w2, norms */
    static const unsigned shares[] = {24, 8, 22, 22, 22, 1};
    switch (p->phase) {
    case LLM_LOAD:
        for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
            uint64_t sz = layer_bytes * shares[i] / 100 / TILE_BYTES * TILE_BYTES;
            profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, sz ? sz : TILE_BYTES, TILE_BYTES);
        }
        break;
    case LLM_EMBED: /* embedding table and lm_head */
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, layer_bytes / TILE_BYTES * TILE_BYTES,
                       TILE_BYTES);
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, layer_bytes / TILE_BYTES * TILE_BYTES,
                       TILE_BYTES);
        break;
    case LLM_TRACE: { /* capture the decode trace: one buffer in the trace region */
        /* persistent L1 tensors decode keeps: rotary matrices, the sharded
         * residual stream */
        uint64_t cores = profiles_cores(d);
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_L1, 2 * TILE_BYTES * cores, TILE_BYTES);
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_L1,
                       profiles_range(p, 32, 96) * TILE_BYTES * cores, TILE_BYTES);
        uint64_t cap[TTALLOC_NUM_TYPES];
        sim_mem_capacity(d->mem, cap);
        uint64_t sz = cap[TTALLOC_TRACE] / 100 * profiles_range(p, 60, 90);
        if (sz >= TILE_BYTES)
            profiles_alloc(p, d, ROLE_TRACE, TTALLOC_TRACE, sz / TILE_BYTES * TILE_BYTES,
                           TILE_BYTES);
        break;
    }
    default: { /* one decode token */
        if (p->token % KV_BLOCK_TOKENS == 0) {
            /* a new KV block per layer, K and V; the KV budget is 20 % of
             * DRAM for max_seq tokens */
            uint64_t pages = 2ull * p->layers * (p->max_seq / KV_BLOCK_TOKENS);
            uint64_t page_bytes = dram / 5 / pages / TILE_BYTES * TILE_BYTES;
            if (page_bytes < TILE_BYTES)
                page_bytes = TILE_BYTES;
            for (unsigned l = 0; l < 2 * p->layers; l++) {
                if (profiles_alloc(p, d, ROLE_KV, TTALLOC_DRAM, page_bytes, TILE_BYTES) < 0) {
                    p->token = p->request_len; /* preempted: the request ends here */
                    break;
                }
            }
        }
        /* input embedding, attention and MLP ops in L1, logits in DRAM */
        profiles_alloc(p, d, ROLE_IO, TTALLOC_DRAM, 32 * KIB, TILE_BYTES);
        profiles_l1_op(p, d, 3, 64 * KIB, 96 * KIB);
        profiles_l1_op(p, d, 4, 128 * KIB, 192 * KIB);
        profiles_release_all(p, d, ROLE_ACT);
        profiles_release_all(p, d, ROLE_IO);
        break;
    }
    }
}

static void llm_step(struct profiles *p)
{
    if (p->phase == LLM_DECODE && p->token == 0)
        p->request_len = profiles_range(p, p->max_seq / 4, p->max_seq);
    for (size_t i = 0; i < p->n_devs; i++)
        llm_step_device(p, &p->devs[i]);
    switch (p->phase) {
    case LLM_LOAD:
        if (++p->layer == p->layers)
            p->phase = LLM_EMBED;
        break;
    case LLM_EMBED:
        p->phase = LLM_TRACE;
        break;
    case LLM_TRACE:
        p->phase = LLM_DECODE;
        p->token = 0;
        break;
    default:
        if (++p->token >= p->request_len) { /* request done: its KV cache goes */
            for (size_t i = 0; i < p->n_devs; i++)
                profiles_release_all(p, &p->devs[i], ROLE_KV);
            p->token = 0;
        }
        break;
    }
}

/* ---- cnn ---------------------------------------------------------------- */

enum { CNN_LOAD, CNN_TRACE, CNN_RUN };

static void cnn_setup(struct profiles *p)
{
    p->layers = (unsigned)profiles_range(p, 16, 24);
    p->frac = 0.005 + (double)profiles_range(p, 0, 15) / 1000.0; /* weights: 0.5-2 % of DRAM */
    p->phase = CNN_LOAD;
}

static void cnn_step_device(struct profiles *p, struct profiles_dev *d)
{
    uint32_t cores = profiles_cores(d);
    switch (p->phase) {
    case CNN_LOAD: { /* one conv: weights and bias in DRAM, its config tensor in L1_SMALL */
        uint64_t w = (uint64_t)((double)profiles_dram(d) * p->frac) / p->layers;
        w = w / 100 * profiles_range(p, 50, 150) / TILE_BYTES * TILE_BYTES;
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, w ? w : TILE_BYTES, TILE_BYTES);
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, 4 * TILE_BYTES, TILE_BYTES);
        uint64_t per_core = profiles_range(p, 16, 64) * 16; /* reader indices */
        profiles_alloc(p, d, ROLE_SMALL, TTALLOC_L1_SMALL, per_core * cores, per_core);
        break;
    }
    case CNN_TRACE: {
        uint64_t cap[TTALLOC_NUM_TYPES];
        sim_mem_capacity(d->mem, cap);
        uint64_t sz = cap[TTALLOC_TRACE] / 100 * profiles_range(p, 50, 80);
        if (sz >= TILE_BYTES)
            profiles_alloc(p, d, ROLE_TRACE, TTALLOC_TRACE, sz / TILE_BYTES * TILE_BYTES,
                           TILE_BYTES);
        break;
    }
    default:
        if (p->layer == 0) /* a new batch of images, in DRAM */
            profiles_alloc(p, d, ROLE_IO, TTALLOC_DRAM, profiles_range(p, 1, 8) * 1204224,
                           TILE_BYTES);
        profiles_l1_op(p, d, (unsigned)profiles_range(p, 2, 4), 96 * KIB, 320 * KIB);
        if (p->layer + 1 == p->layers) { /* the output goes back to the host */
            profiles_alloc(p, d, ROLE_IO, TTALLOC_DRAM, 64 * KIB, TILE_BYTES);
            profiles_release_all(p, d, ROLE_ACT);
            profiles_release_all(p, d, ROLE_IO);
        }
        break;
    }
}

static void cnn_step(struct profiles *p)
{
    for (size_t i = 0; i < p->n_devs; i++)
        cnn_step_device(p, &p->devs[i]);
    switch (p->phase) {
    case CNN_LOAD:
        if (++p->layer == p->layers) {
            p->phase = CNN_TRACE;
            p->layer = 0;
        }
        break;
    case CNN_TRACE:
        p->phase = CNN_RUN;
        break;
    default:
        p->layer = (p->layer + 1) % p->layers;
        break;
    }
}

/* ---- train -------------------------------------------------------------- */

enum { TRAIN_LOAD, TRAIN_FWD, TRAIN_BWD, TRAIN_OPT };

static void train_setup(struct profiles *p)
{
    p->layers = (unsigned)profiles_range(p, 8, 16);
    p->frac = 0.06 + (double)profiles_range(p, 0, 4) / 100.0; /* weights: 6-10 % */
    p->phase = TRAIN_LOAD;
}

static uint64_t train_layer_bytes(const struct profiles *p, const struct profiles_dev *d)
{
    uint64_t b = (uint64_t)((double)profiles_dram(d) * p->frac) / p->layers;
    b = b / TILE_BYTES * TILE_BYTES;
    return b ? b : TILE_BYTES;
}

static void train_step_device(struct profiles *p, struct profiles_dev *d)
{
    uint64_t lb = train_layer_bytes(p, d);
    switch (p->phase) {
    case TRAIN_LOAD:
        profiles_alloc(p, d, ROLE_WEIGHT, TTALLOC_DRAM, lb, TILE_BYTES);
        break;
    case TRAIN_FWD: { /* activations saved for backward: 1.5-3 x the layer's weights */
        profiles_l1_op(p, d, 3, 96 * KIB, 160 * KIB);
        uint64_t act = lb / 100 * profiles_range(p, 150, 300) / TILE_BYTES * TILE_BYTES;
        profiles_alloc(p, d, ROLE_SAVED, TTALLOC_DRAM, act ? act : TILE_BYTES, TILE_BYTES);
        break;
    }
    case TRAIN_BWD: /* gradient of this layer; its saved activation is consumed */
        profiles_l1_op(p, d, 4, 96 * KIB, 160 * KIB);
        profiles_alloc(p, d, ROLE_GRAD, TTALLOC_DRAM, lb, TILE_BYTES);
        profiles_release_last(p, d, ROLE_SAVED);
        break;
    default: /* Adam: two moments per weight, made once; gradients go */
        if (!p->opt_ready) {
            for (unsigned l = 0; l < p->layers; l++) {
                profiles_alloc(p, d, ROLE_OPT, TTALLOC_DRAM, lb, TILE_BYTES);
                profiles_alloc(p, d, ROLE_OPT, TTALLOC_DRAM, lb, TILE_BYTES);
            }
        }
        profiles_release_all(p, d, ROLE_ACT);
        profiles_release_all(p, d, ROLE_GRAD);
        break;
    }
}

static void train_step(struct profiles *p)
{
    for (size_t i = 0; i < p->n_devs; i++)
        train_step_device(p, &p->devs[i]);
    switch (p->phase) {
    case TRAIN_LOAD:
    case TRAIN_FWD:
        if (++p->layer == p->layers) {
            p->phase = p->phase == TRAIN_LOAD ? TRAIN_FWD : TRAIN_BWD;
            p->layer = 0;
        }
        break;
    case TRAIN_BWD:
        if (++p->layer == p->layers) {
            p->phase = TRAIN_OPT;
            p->layer = 0;
        }
        break;
    default:
        p->opt_ready = 1;
        p->phase = TRAIN_FWD;
        break;
    }
}

/* ---- leaky -------------------------------------------------------------- */

static void leaky_setup(struct profiles *p)
{
    p->frac = 0.002 + (double)profiles_range(p, 0, 8) / 1000.0; /* request: 0.2-1 % of DRAM */
}

static void leaky_step_device(struct profiles *p, struct profiles_dev *d)
{
    uint64_t sz = (uint64_t)((double)profiles_dram(d) * p->frac) / 100 *
                  profiles_range(p, 50, 150) / TILE_BYTES * TILE_BYTES;
    int ok = profiles_alloc(p, d, ROLE_IO, TTALLOC_DRAM, sz ? sz : TILE_BYTES, TILE_BYTES) == 0;
    profiles_l1_op(p, d, 2, 64 * KIB, 64 * KIB);
    int scratch =
        profiles_alloc(p, d, ROLE_TEMP, TTALLOC_L1, 16 * KIB * profiles_cores(d), TILE_BYTES) == 0;
    profiles_release_all(p, d, ROLE_ACT);
    if (scratch && profiles_chance(p, 16))
        profiles_forget_last(p, d, ROLE_TEMP); /* the bug: never freed */
    profiles_release_all(p, d, ROLE_TEMP);
    if (ok && profiles_chance(p, 4))
        profiles_forget_last(p, d, ROLE_IO);
    profiles_release_all(p, d, ROLE_IO);
}

/* ---- churn -------------------------------------------------------------- */

#define CHURN_MAX_LIVE 256

static void churn_step_device(struct profiles *p, struct profiles_dev *d)
{
    struct profiles_vec *live = &d->role[ROLE_CHURN];
    if (live->n > 0 && (live->n >= CHURN_MAX_LIVE || profiles_chance(p, 2))) {
        profiles_release_at(p, d, ROLE_CHURN, (size_t)profiles_range(p, 0, live->n - 1));
        return;
    }
    uint32_t cores = profiles_cores(d);
    uint64_t per_core;
    switch (profiles_range(p, 0, 3)) {
    case 0:
    case 1:
        profiles_alloc(p, d, ROLE_CHURN, TTALLOC_DRAM, profiles_range(p, 1, 512) * TILE_BYTES,
                       TILE_BYTES);
        break;
    case 2:
        per_core = profiles_range(p, 1, 2) * TILE_BYTES;
        profiles_alloc(p, d, ROLE_CHURN, TTALLOC_L1, per_core * cores, TILE_BYTES);
        break;
    default:
        per_core = profiles_range(p, 1, 4) * TILE_BYTES;
        profiles_alloc(p, d, ROLE_CHURN, TTALLOC_CB, per_core * cores, per_core);
        break;
    }
}

/* ---- the generator ------------------------------------------------------ */

unsigned profiles_default_rate(const char *name)
{
    for (size_t i = 0; profiles_names[i] != NULL; i++) {
        if (strcmp(profiles_names[i], name) == 0)
            return profiles_rates[i];
    }
    return 0;
}

int profiles_create(const char *name, uint64_t seed, const struct profiles_device *devs,
                    size_t n_devs, struct profiles **out)
{
    size_t id = 0;
    while (profiles_names[id] != NULL && strcmp(profiles_names[id], name) != 0)
        id++;
    if (profiles_names[id] == NULL)
        return -ENOENT;
    if (n_devs == 0)
        return -EINVAL;
    struct profiles *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->id = (enum profiles_id)id;
    p->rng = seed;
    p->devs = calloc(n_devs, sizeof(p->devs[0]));
    if (p->devs == NULL) {
        free(p);
        return -ENOMEM;
    }
    p->n_devs = n_devs;
    /* regions TT-Metal reserves at device open (trace_region_size,
     * l1_small_size per core), as models pass them */
    uint64_t trace = p->id == PROFILE_LLM ? 24 * MIB : p->id == PROFILE_CNN ? 8 * MIB : 0;
    uint64_t small_per_core = p->id == PROFILE_CNN ? 24 * KIB : 0;
    for (size_t i = 0; i < n_devs; i++) {
        p->devs[i].id = devs[i].id;
        p->devs[i].mem =
            sim_mem_new(&devs[i].geometry, trace, small_per_core * devs[i].geometry.l1_banks);
        if (p->devs[i].mem == NULL) {
            int rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
            profiles_destroy(p);
            return rc;
        }
    }
    switch (p->id) {
    case PROFILE_LLM:
        llm_setup(p);
        break;
    case PROFILE_CNN:
        cnn_setup(p);
        break;
    case PROFILE_TRAIN:
        train_setup(p);
        break;
    case PROFILE_LEAKY:
        leaky_setup(p);
        break;
    default:
        break;
    }
    *out = p;
    return 0;
}

void profiles_destroy(struct profiles *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_devs; i++) {
        sim_mem_delete(p->devs[i].mem);
        for (int r = 0; r < ROLE_COUNT; r++)
            free(p->devs[i].role[r].v);
    }
    free(p->devs);
    free(p);
}

size_t profiles_step(struct profiles *p, profiles_emit_fn emit, void *ctx)
{
    p->emit = emit;
    p->ctx = ctx;
    p->events = 0;
    if (p->failed)
        return 0;
    switch (p->id) {
    case PROFILE_LLM:
        llm_step(p);
        break;
    case PROFILE_CNN:
        cnn_step(p);
        break;
    case PROFILE_TRAIN:
        train_step(p);
        break;
    case PROFILE_LEAKY:
        for (size_t i = 0; i < p->n_devs; i++)
            leaky_step_device(p, &p->devs[i]);
        break;
    default:
        for (size_t i = 0; i < p->n_devs; i++)
            churn_step_device(p, &p->devs[i]);
        break;
    }
    return p->events;
}

size_t profiles_finish(struct profiles *p, profiles_emit_fn emit, void *ctx)
{
    p->emit = emit;
    p->ctx = ctx;
    p->events = 0;
    for (size_t i = 0; i < p->n_devs; i++) {
        for (int r = 0; r < ROLE_COUNT; r++) {
            if (r != ROLE_LEAKED)
                profiles_release_all(p, &p->devs[i], (enum profiles_role)r);
        }
    }
    return p->events;
}

void profiles_capacity(const struct profiles *p, size_t i, uint64_t cap[TTALLOC_NUM_TYPES])
{
    sim_mem_capacity(p->devs[i].mem, cap);
}

void profiles_used(const struct profiles *p, size_t i, uint64_t used[TTALLOC_NUM_TYPES])
{
    sim_mem_used(p->devs[i].mem, used);
}

uint64_t profiles_ooms(const struct profiles *p)
{
    return p->ooms;
}
