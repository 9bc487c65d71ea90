/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profiles.h - synthetic TT-Metal workloads for tt-alloc-sim: deterministic
 * generators of allocation events, built from how TT-Metal allocates.
 *
 *   llm    weights loaded to DRAM one layer per burst, a TRACE captured once,
 *          then decode: a paged KV cache that grows every 32 tokens until the
 *          request ends (then it is freed: a sawtooth), L1 activations and
 *          circular buffers (CB) allocated and freed around every op
 *   cnn    conv weights in DRAM and per-conv config tensors in L1_SMALL, a
 *          small TRACE; per conv: input batch in DRAM, sharded L1 activations
 *          handed from layer to layer, CBs per op
 *   train  forward saves activations in DRAM layer by layer, backward turns
 *          them into gradients, the optimizer step (Adam state, allocated
 *          once) frees the gradients: a peak every iteration
 *   leaky  small requests whose DRAM output is forgotten one time in four
 *          (and an L1 scratch one time in sixteen): grows until out of memory
 *   churn  random small buffers (up to 256 live) allocated and freed, one event per step:
 *          a high event rate for load tests
 *
 * A generator never makes a syscall and is a pure function of (profile,
 * seed, devices): the same inputs give the same event sequence. Addresses come
 * from sim_mem (one allocator per device), so every free names a live buffer
 * and no two live buffers overlap. An allocation that does not fit becomes a
 * PROFILES_OOM event carrying TT-Metal's message; the workload then carries
 * on without that buffer (as an app that catches TT-Metal's exception and
 * drops the request).
 */
#ifndef TTALLOC_PROFILES_H
#define TTALLOC_PROFILES_H

#include <stddef.h>
#include <stdint.h>

#include "sim_mem.h"
#include "ttalloc.h"

enum profiles_kind { PROFILES_ALLOC, PROFILES_FREE, PROFILES_OOM };

struct profiles_event {
    enum profiles_kind kind;
    uint32_t device; /* TT-Metal device id */
    enum ttalloc_buffer_type type;
    uint64_t address;    /* ALLOC, FREE */
    uint64_t size;       /* ALLOC, OOM: requested bytes */
    uint64_t bank_bytes; /* ALLOC: bytes taken in each bank */
    uint32_t banks;      /* ALLOC: banks it spans */
    const char *message; /* OOM: TT-Metal's message */
};

/* Called for every event, in order. */
typedef void (*profiles_emit_fn)(void *ctx, const struct profiles_event *ev);

struct profiles_device {
    uint32_t id;                      /* TT-Metal device id */
    struct sim_mem_geometry geometry; /* its memory (sim_mem_geometry_for) */
};

struct profiles;

/* Names of the profiles, NULL-terminated. */
extern const char *const profiles_names[];

/* The default --rate of a profile, events per second (0 for unknown). */
unsigned profiles_default_rate(const char *name);

/* Build a generator. Returns 0, -ENOENT (unknown profile), -EINVAL (no
 * devices, or a geometry too small) or -ENOMEM. */
int profiles_create(const char *name, uint64_t seed, const struct profiles_device *devs,
                    size_t n_devs, struct profiles **out);
void profiles_destroy(struct profiles *p);

/* One step (an op, a layer, a token: see above). Returns how many events it
 * emitted (ALLOC and FREE; an OOM counts as one). */
size_t profiles_step(struct profiles *p, profiles_emit_fn emit, void *ctx);

/* A clean end: free what the workload frees on exit (leaky keeps what it
 * forgot). Returns how many events it emitted. */
size_t profiles_finish(struct profiles *p, profiles_emit_fn emit, void *ctx);

/* Capacity per type to describe device i (index in devs) to tools. */
void profiles_capacity(const struct profiles *p, size_t i, uint64_t cap[TTALLOC_NUM_TYPES]);

/* Bytes live per type on device i, as the workload recorded them. */
void profiles_used(const struct profiles *p, size_t i, uint64_t used[TTALLOC_NUM_TYPES]);

/* Out-of-memory events so far. */
uint64_t profiles_ooms(const struct profiles *p);

#endif /* TTALLOC_PROFILES_H */
