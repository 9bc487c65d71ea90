/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_model.c - one pass over a recording (see report_model.h).
 *
 * The buffers live at a device's DRAM peak are found without a second pass:
 * every change gets a sequence number; the change that makes a new peak
 * remembers its number and forgets the list of buffers freed since the
 * previous peak. A buffer freed later whose alloc came at or before the peak
 * goes on that list. At the end, "live at the peak" = that list plus the
 * buffers still live that were allocated at or before the peak.
 *
 * A live state (at the start, or after a gap) replaces what was believed:
 * buffers it lists that were not live are added, buffers live that it does
 * not list are dropped as freed then, so the state after a gap is exact.
 */
#include "report_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKET_NS 1000

void report_model_init(struct report_model *m)
{
    memset(m, 0, sizeof(*m));
    m->at_ns = -1;
    m->bucket_ns = INITIAL_BUCKET_NS;
}

static void report_series_free(struct report_series *s)
{
    free(s);
}

void report_model_release(struct report_model *m)
{
    for (size_t i = 0; i < m->n_processes; i++) {
        struct report_process *p = &m->processes[i];
        for (size_t j = 0; j < p->n_memory; j++)
            report_series_free(p->memory[j].series);
        free(p->memory);
        free(p->leaks);
    }
    free(m->processes);
    free(m->pid_index);
    for (size_t i = 0; i < m->n_devices; i++) {
        struct report_device *d = &m->devices[i];
        free(d->freed_after_peak);
        free(d->at_peak);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            free(d->largest[t].items);
            report_series_free(d->series[t]);
        }
    }
    free(m->devices);
    free(m->instants);
    free(m->live.slots);
    free(m->at_buffers);
    free(m->pending);
    memset(m, 0, sizeof(*m));
}

int report_buffer_cmp_largest(const void *a, const void *b)
{
    const struct report_buffer *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Grow an array of `size`-byte items to hold one more. */
static int grow_array(void **items, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, n * size);
    if (!p)
        return -ENOMEM;
    *items = p;
    *cap = n;
    return 0;
}

/* ---- the live table ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t live_slot(const struct report_live *t, int32_t pid, uint32_t device, uint8_t type,
                        uint64_t address)
{
    uint64_t h = mix64(address ^ ((uint64_t)device << 40) ^ ((uint64_t)type << 56) ^
                       ((uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ull));
    return (size_t)h & (t->capacity - 1);
}

static int live_same(const struct report_buffer *b, int32_t pid, uint32_t device, uint8_t type,
                     uint64_t address)
{
    return b->address == address && b->pid == pid && b->device == device && b->type == type;
}

static struct report_buffer *live_find(struct report_live *t, int32_t pid, uint32_t device,
                                       uint8_t type, uint64_t address)
{
    if (t->capacity == 0)
        return NULL;
    for (size_t i = live_slot(t, pid, device, type, address);; i = (i + 1) & (t->capacity - 1)) {
        struct report_buffer *b = &t->slots[i];
        if (b->size == 0)
            return NULL;
        if (live_same(b, pid, device, type, address))
            return b;
    }
}

static int live_grow(struct report_live *t)
{
    size_t cap = t->capacity ? t->capacity * 2 : 1024;
    struct report_buffer *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    struct report_live n = {slots, cap, 0};
    for (size_t i = 0; i < t->capacity; i++) {
        const struct report_buffer *b = &t->slots[i];
        if (b->size == 0)
            continue;
        size_t j = live_slot(&n, b->pid, b->device, b->type, b->address);
        while (n.slots[j].size != 0)
            j = (j + 1) & (cap - 1);
        n.slots[j] = *b;
        n.count++;
    }
    free(t->slots);
    *t = n;
    return 0;
}

/* Insert a buffer that is not in the table (size > 0). */
static int live_insert(struct report_live *t, const struct report_buffer *b)
{
    if ((t->count + 1) * 10 > t->capacity * 7 && live_grow(t) < 0)
        return -ENOMEM;
    size_t i = live_slot(t, b->pid, b->device, b->type, b->address);
    while (t->slots[i].size != 0)
        i = (i + 1) & (t->capacity - 1);
    t->slots[i] = *b;
    t->count++;
    return 0;
}

/* Remove the entry at `slot` (backward-shift deletion: no tombstones). */
static void live_remove_slot(struct report_live *t, struct report_buffer *slot)
{
    size_t mask = t->capacity - 1;
    size_t hole = (size_t)(slot - t->slots);
    for (size_t i = (hole + 1) & mask; t->slots[i].size != 0; i = (i + 1) & mask) {
        const struct report_buffer *b = &t->slots[i];
        size_t home = live_slot(t, b->pid, b->device, b->type, b->address);
        /* move b into the hole when its home is not in (hole, i] cyclically */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = *b;
            hole = i;
        }
    }
    t->slots[hole].size = 0;
    t->count--;
}

const struct report_buffer *report_model_live_next(const struct report_model *m, size_t *pos)
{
    while (*pos < m->live.capacity) {
        const struct report_buffer *b = &m->live.slots[(*pos)++];
        if (b->size != 0)
            return b;
    }
    return NULL;
}

/* ---- processes and devices ---- */

int report_model_wants_pid(const struct report_model *m, int32_t pid)
{
    if (!m->only_pids)
        return 1;
    for (size_t i = 0; i < m->n_only_pids; i++)
        if (m->only_pids[i] == pid)
            return 1;
    return 0;
}

static size_t pid_home(const struct report_model *m, int32_t pid)
{
    return (size_t)mix64((uint32_t)pid) & (m->pid_index_cap - 1);
}

static int pid_index_put(struct report_model *m, int32_t pid, size_t index)
{
    if ((m->n_processes + 1) * 2 > m->pid_index_cap) {
        size_t cap = m->pid_index_cap ? m->pid_index_cap * 2 : 64;
        int32_t *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        free(m->pid_index);
        m->pid_index = slots;
        m->pid_index_cap = cap;
        /* the newest entry of a reused pid wins: insert in order */
        for (size_t i = 0; i < m->n_processes; i++) {
            int32_t p = m->processes[i].pid;
            size_t j = pid_home(m, p);
            while (m->pid_index[j] && m->processes[m->pid_index[j] - 1].pid != p)
                j = (j + 1) & (cap - 1);
            m->pid_index[j] = (int32_t)i + 1;
        }
    }
    size_t j = pid_home(m, pid);
    while (m->pid_index[j] && m->processes[m->pid_index[j] - 1].pid != pid)
        j = (j + 1) & (m->pid_index_cap - 1);
    m->pid_index[j] = (int32_t)index + 1;
    return 0;
}

struct report_process *report_model_process(struct report_model *m, int32_t pid)
{
    if (m->pid_index_cap == 0)
        return NULL;
    size_t j = pid_home(m, pid);
    while (m->pid_index[j]) {
        struct report_process *p = &m->processes[m->pid_index[j] - 1];
        if (p->pid == pid)
            return p;
        j = (j + 1) & (m->pid_index_cap - 1);
    }
    return NULL;
}

static struct report_process *process_new(struct report_model *m, int32_t pid, int64_t time_ns)
{
    if (grow_array((void **)&m->processes, &m->cap_processes, m->n_processes,
                   sizeof(*m->processes)) < 0)
        return NULL;
    struct report_process *p = &m->processes[m->n_processes];
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->start_ns = time_ns;
    if (pid_index_put(m, pid, m->n_processes) < 0)
        return NULL;
    m->n_processes++;
    return p;
}

static struct report_process *process_get(struct report_model *m, int32_t pid, int64_t time_ns)
{
    struct report_process *p = report_model_process(m, pid);
    return p ? p : process_new(m, pid, time_ns);
}

static struct report_memory *memory_get(struct report_process *p, uint32_t device, uint8_t type)
{
    for (size_t i = 0; i < p->n_memory; i++)
        if (p->memory[i].device == device && p->memory[i].type == type)
            return &p->memory[i];
    struct report_memory *mem = realloc(p->memory, (p->n_memory + 1) * sizeof(*mem));
    if (!mem)
        return NULL;
    p->memory = mem;
    mem = &p->memory[p->n_memory++];
    memset(mem, 0, sizeof(*mem));
    mem->device = device;
    mem->type = type;
    return mem;
}

static struct report_device *device_get(struct report_model *m, uint32_t device)
{
    for (size_t i = 0; i < m->n_devices; i++)
        if (m->devices[i].device == device)
            return &m->devices[i];
    if (grow_array((void **)&m->devices, &m->cap_devices, m->n_devices, sizeof(*m->devices)) < 0)
        return NULL;
    /* keep ascending device order */
    size_t at = m->n_devices;
    while (at > 0 && m->devices[at - 1].device > device)
        at--;
    memmove(&m->devices[at + 1], &m->devices[at], (m->n_devices - at) * sizeof(*m->devices));
    struct report_device *d = &m->devices[at];
    memset(d, 0, sizeof(*d));
    d->device = device;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        d->min_address[t] = UINT64_MAX;
    m->n_devices++;
    return d;
}

/* ---- curves ---- */

static void series_halve(struct report_series *s)
{
    for (size_t i = 0; i < REPORT_BUCKETS / 2; i++) {
        size_t a = 2 * i, b = 2 * i + 1;
        uint64_t mx = s->max[a] > s->max[b] ? s->max[a] : s->max[b];
        uint64_t last = s->used[b] ? s->last[b] : s->last[a];
        uint8_t used = s->used[a] | s->used[b];
        if (!s->used[a])
            mx = s->used[b] ? s->max[b] : 0;
        else if (!s->used[b])
            mx = s->max[a];
        s->max[i] = mx;
        s->last[i] = last;
        s->used[i] = used;
    }
    memset(s->max + REPORT_BUCKETS / 2, 0, sizeof(s->max) / 2);
    memset(s->last + REPORT_BUCKETS / 2, 0, sizeof(s->last) / 2);
    memset(s->used + REPORT_BUCKETS / 2, 0, sizeof(s->used) / 2);
}

static void model_widen_buckets(struct report_model *m)
{
    for (size_t i = 0; i < m->n_processes; i++)
        for (size_t j = 0; j < m->processes[i].n_memory; j++)
            if (m->processes[i].memory[j].series)
                series_halve(m->processes[i].memory[j].series);
    for (size_t i = 0; i < m->n_devices; i++)
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            if (m->devices[i].series[t])
                series_halve(m->devices[i].series[t]);
    m->bucket_ns *= 2;
}

static int series_put(struct report_model *m, struct report_series **sp, int64_t time_ns,
                      uint64_t value)
{
    if (!*sp) {
        *sp = calloc(1, sizeof(**sp));
        if (!*sp)
            return -ENOMEM;
    }
    int64_t t = time_ns < 0 ? 0 : time_ns;
    while (t / m->bucket_ns >= REPORT_BUCKETS)
        model_widen_buckets(m);
    size_t b = (size_t)(t / m->bucket_ns);
    struct report_series *s = *sp;
    if (!s->used[b] || value > s->max[b])
        s->max[b] = value;
    s->last[b] = value;
    s->used[b] = 1;
    return 0;
}

/* A process's curve; past REPORT_MAX_CURVES of them, processes go without
 * (a recording of many short processes must not cost memory per process). */
static int series_note_value(struct report_model *m, struct report_memory *mem, int64_t time_ns,
                             uint64_t value)
{
    if (!mem->series) {
        if (m->n_curves >= REPORT_MAX_CURVES) {
            m->curves_left_out = 1;
            return 0;
        }
        m->n_curves++;
    }
    return series_put(m, &mem->series, time_ns, value);
}

static int series_note(struct report_model *m, struct report_memory *mem, int64_t time_ns)
{
    return series_note_value(m, mem, time_ns, mem->live);
}

/* ---- changes ---- */

static void heap_sift_down(struct report_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < h->count && h->items[l].size < h->items[s].size)
            s = l;
        if (r < h->count && h->items[r].size < h->items[s].size)
            s = r;
        if (s == i)
            return;
        struct report_buffer tmp = h->items[i];
        h->items[i] = h->items[s];
        h->items[s] = tmp;
        i = s;
    }
}

/* Keep the REPORT_MAP_BUFFERS largest finished buffers. */
static int heap_offer(struct report_heap *h, const struct report_buffer *b)
{
    if (h->count < REPORT_MAP_BUFFERS) {
        if (grow_array((void **)&h->items, &h->cap, h->count, sizeof(*h->items)) < 0)
            return -ENOMEM;
        size_t i = h->count++;
        h->items[i] = *b;
        while (i > 0 && h->items[(i - 1) / 2].size > h->items[i].size) {
            struct report_buffer tmp = h->items[i];
            h->items[i] = h->items[(i - 1) / 2];
            h->items[(i - 1) / 2] = tmp;
            i = (i - 1) / 2;
        }
        return 0;
    }
    if (b->size > h->items[0].size) {
        h->items[0] = *b;
        heap_sift_down(h, 0);
    }
    return 0;
}

/* A buffer became live at time_ns (its process and memory row given). */
static int model_add(struct report_model *m, struct report_process *p, struct report_memory *mem,
                     struct report_buffer *b, int64_t time_ns)
{
    struct report_device *d = device_get(m, b->device);
    if (!d)
        return -ENOMEM;
    b->alloc_seq = ++m->seq;
    b->free_ns = INT64_MAX;
    b->generation = m->generation;
    if (live_insert(&m->live, b) < 0)
        return -ENOMEM;
    (void)p;
    mem->live += b->size;
    if (mem->live > mem->peak) {
        mem->peak = mem->live;
        mem->peak_ns = time_ns;
    }
    int t = b->type;
    d->used_type[t] = 1;
    d->buffers_seen[t]++;
    d->live[t] += b->size;
    if (b->address < d->min_address[t])
        d->min_address[t] = b->address;
    uint64_t end = b->address + b->size < b->address ? UINT64_MAX : b->address + b->size;
    if (end > d->max_address[t])
        d->max_address[t] = end;
    if (d->live[t] > d->peak[t]) {
        d->peak[t] = d->live[t];
        d->peak_ns[t] = time_ns;
        if (t == TTALLOC_DRAM) {
            d->peak_seq = b->alloc_seq;
            d->n_freed_after_peak = 0;
        }
    }
    if (series_put(m, &d->series[t], time_ns, d->live[t]) < 0)
        return -ENOMEM;
    return series_note(m, mem, time_ns);
}

/* The buffer in `slot` stopped being live at time_ns. Updates the device (and,
 * when `mem` is given, the process row); removes it from the table. */
static int model_remove(struct report_model *m, struct report_memory *mem,
                        struct report_buffer *slot, int64_t time_ns)
{
    struct report_buffer b = *slot;
    b.free_ns = time_ns;
    live_remove_slot(&m->live, slot);
    struct report_device *d = device_get(m, b.device);
    if (!d)
        return -ENOMEM;
    d->live[b.type] -= b.size < d->live[b.type] ? b.size : d->live[b.type];
    ++m->seq;
    if (b.type == TTALLOC_DRAM && b.alloc_seq <= d->peak_seq) {
        if (grow_array((void **)&d->freed_after_peak, &d->cap_freed_after_peak,
                       d->n_freed_after_peak, sizeof(b)) < 0)
            return -ENOMEM;
        d->freed_after_peak[d->n_freed_after_peak++] = b;
    }
    if (heap_offer(&d->largest[b.type], &b) < 0)
        return -ENOMEM;
    if (series_put(m, &d->series[b.type], time_ns, d->live[b.type]) < 0)
        return -ENOMEM;
    if (mem) {
        mem->live -= b.size < mem->live ? b.size : mem->live;
        return series_note(m, mem, time_ns);
    }
    return 0;
}

static int take_at_snapshot(struct report_model *m)
{
    m->at_taken = 1;
    m->at_buffers = malloc((m->live.count ? m->live.count : 1) * sizeof(*m->at_buffers));
    if (!m->at_buffers)
        return -ENOMEM;
    size_t pos = 0;
    const struct report_buffer *b;
    while ((b = report_model_live_next(m, &pos)))
        m->at_buffers[m->n_at_buffers++] = *b;
    if (m->n_at_buffers)
        qsort(m->at_buffers, m->n_at_buffers, sizeof(*m->at_buffers), report_buffer_cmp_largest);
    return 0;
}

static int push_instant(struct report_model *m, uint32_t kind, int32_t pid, uint64_t count,
                        int64_t time_ns)
{
    if (grow_array((void **)&m->instants, &m->cap_instants, m->n_instants, sizeof(*m->instants)) <
        0)
        return -ENOMEM;
    m->instants[m->n_instants++] = (struct report_instant){time_ns, kind, pid, count};
    return 0;
}

static int apply_alloc(struct report_model *m, const struct ttalloc_rec_event *ev)
{
    struct report_process *p = process_get(m, ev->pid, ev->time_ns);
    struct report_memory *mem = p ? memory_get(p, ev->device, (uint8_t)ev->type) : NULL;
    if (!mem)
        return -ENOMEM;
    mem->allocs++;
    struct report_buffer *old =
        live_find(&m->live, ev->pid, ev->device, (uint8_t)ev->type, ev->address);
    if (old && model_remove(m, mem, old, ev->time_ns) < 0)
        return -ENOMEM;
    if (ev->size == 0)
        return 0;
    struct report_buffer b = {.address = ev->address,
                              .size = ev->size,
                              .alloc_ns = ev->time_ns,
                              .pid = ev->pid,
                              .device = ev->device,
                              .type = (uint8_t)ev->type};
    return model_add(m, p, mem, &b, ev->time_ns);
}

static int apply_free(struct report_model *m, const struct ttalloc_rec_event *ev, uint64_t *size)
{
    struct report_process *p = process_get(m, ev->pid, ev->time_ns);
    struct report_memory *mem = p ? memory_get(p, ev->device, (uint8_t)ev->type) : NULL;
    if (!mem)
        return -ENOMEM;
    mem->frees++;
    struct report_buffer *b =
        live_find(&m->live, ev->pid, ev->device, (uint8_t)ev->type, ev->address);
    if (!b) {
        m->unknown_frees++;
        *size = ev->size;
        return 0;
    }
    *size = b->size;
    return model_remove(m, mem, b, ev->time_ns);
}

/* Inside a live state: a buffer already believed live with the same size is
 * kept (marked with this state's generation); any other is held back until
 * the state ends, so that what the state drops leaves the totals before what
 * it adds enters them (no peak made of both). */
static int apply_live_buffer(struct report_model *m, const struct ttalloc_rec_event *ev)
{
    struct report_buffer *old =
        live_find(&m->live, ev->pid, ev->device, (uint8_t)ev->type, ev->address);
    if (old && old->size == ev->size) {
        old->generation = m->generation;
        return 0;
    }
    if (ev->size == 0)
        return 0;
    if (grow_array((void **)&m->pending, &m->cap_pending, m->n_pending, sizeof(*m->pending)) < 0)
        return -ENOMEM;
    m->pending[m->n_pending++] = (struct report_buffer){.address = ev->address,
                                                        .size = ev->size,
                                                        .alloc_ns = ev->time_ns,
                                                        .pid = ev->pid,
                                                        .device = ev->device,
                                                        .type = (uint8_t)ev->type};
    return 0;
}

/* The end of a live state: whatever it did not list was freed meanwhile;
 * then what it added becomes live. */
static int apply_live_end(struct report_model *m, int64_t time_ns)
{
    size_t stale = 0;
    for (size_t i = 0; i < m->live.capacity; i++)
        if (m->live.slots[i].size && m->live.slots[i].generation != m->generation)
            stale++;
    struct report_buffer *gone = stale ? malloc(stale * sizeof(*gone)) : NULL;
    if (stale && !gone)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->live.capacity; i++)
        if (m->live.slots[i].size && m->live.slots[i].generation != m->generation)
            gone[n++] = m->live.slots[i];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct report_buffer *b =
            live_find(&m->live, gone[i].pid, gone[i].device, gone[i].type, gone[i].address);
        struct report_process *p = report_model_process(m, gone[i].pid);
        struct report_memory *mem = p ? memory_get(p, gone[i].device, gone[i].type) : NULL;
        if (b)
            rc = model_remove(m, mem, b, time_ns);
    }
    free(gone);
    for (size_t i = 0; i < m->n_pending && rc == 0; i++) {
        struct report_buffer b = m->pending[i];
        if (live_find(&m->live, b.pid, b.device, b.type, b.address))
            continue; /* listed twice */
        struct report_process *p = process_get(m, b.pid, b.alloc_ns);
        struct report_memory *mem = p ? memory_get(p, b.device, b.type) : NULL;
        rc = mem ? model_add(m, p, mem, &b, m->live_state_ns) : -ENOMEM;
    }
    m->n_pending = 0;
    return rc;
}

/* A process ended: its live buffers are leaks, and leave the device totals. */
static int apply_exit(struct report_model *m, const struct ttalloc_rec_event *ev)
{
    struct report_process *p = process_get(m, ev->pid, ev->time_ns);
    if (!p)
        return -ENOMEM;
    p->exited = 1;
    p->exit_ns = ev->time_ns;
    size_t n = 0;
    for (size_t i = 0; i < m->live.capacity; i++)
        if (m->live.slots[i].size && m->live.slots[i].pid == ev->pid)
            n++;
    if (n > 0) {
        struct report_buffer *leaks = realloc(p->leaks, (p->n_leaks + n) * sizeof(*leaks));
        if (!leaks)
            return -ENOMEM;
        p->leaks = leaks;
        for (size_t i = 0; i < m->live.capacity; i++)
            if (m->live.slots[i].size && m->live.slots[i].pid == ev->pid)
                p->leaks[p->n_leaks++] = m->live.slots[i];
        for (size_t i = p->n_leaks - n; i < p->n_leaks; i++) {
            struct report_buffer *b = live_find(&m->live, ev->pid, p->leaks[i].device,
                                                p->leaks[i].type, p->leaks[i].address);
            if (b && model_remove(m, NULL, b, ev->time_ns) < 0)
                return -ENOMEM;
        }
    }
    /* its curves drop to 0 (final_bytes keeps what it held) */
    for (size_t j = 0; j < p->n_memory; j++)
        if (p->memory[j].live && series_note_value(m, &p->memory[j], ev->time_ns, 0) < 0)
            return -ENOMEM;
    return push_instant(m, TTALLOC_REC_PROCESS_EXIT, ev->pid, n, ev->time_ns);
}

static int apply_start(struct report_model *m, const struct ttalloc_rec_event *ev)
{
    struct report_process *p = report_model_process(m, ev->pid);
    if (!p || p->exited) /* a reused pid is a new process */
        p = process_new(m, ev->pid, ev->time_ns);
    if (!p)
        return -ENOMEM;
    p->has_start = 1;
    p->start_ns = ev->time_ns;
    p->parent_pid = ev->parent_pid;
    p->uid = ev->uid;
    memcpy(p->name, ev->name, sizeof(p->name));
    p->name[sizeof(p->name) - 1] = '\0';
    memcpy(p->label, ev->label, sizeof(p->label));
    p->label[sizeof(p->label) - 1] = '\0';
    return 0;
}

static int model_apply(struct report_model *m, const struct ttalloc_rec_event *ev,
                       uint64_t *size_out)
{
    int ordered = ev->kind != TTALLOC_REC_LIVE_BUFFER && ev->kind != TTALLOC_REC_PROCESS_START;
    if (ordered) {
        if (m->at_ns >= 0 && !m->at_taken && ev->time_ns > m->at_ns && take_at_snapshot(m) < 0)
            return -ENOMEM;
        if (!m->any_record || ev->time_ns > m->last_ns)
            m->last_ns = ev->time_ns;
        if (!m->any_record || ev->time_ns < m->first_ns)
            m->first_ns = ev->time_ns;
        m->any_record = 1;
    }
    switch (ev->kind) {
    case TTALLOC_REC_ALLOC:
        if (!report_model_wants_pid(m, ev->pid) || ev->type >= TTALLOC_NUM_TYPES)
            return 0;
        m->events++;
        *size_out = ev->size;
        return apply_alloc(m, ev) < 0 ? -ENOMEM : 1;
    case TTALLOC_REC_FREE:
        if (!report_model_wants_pid(m, ev->pid) || ev->type >= TTALLOC_NUM_TYPES)
            return 0;
        m->events++;
        return apply_free(m, ev, size_out) < 0 ? -ENOMEM : 1;
    case TTALLOC_REC_LIVE_BEGIN:
        m->in_live_state = 1;
        m->generation++;
        m->live_state_ns = ev->time_ns;
        return 0;
    case TTALLOC_REC_LIVE_BUFFER:
        if (!report_model_wants_pid(m, ev->pid) || ev->type >= TTALLOC_NUM_TYPES)
            return 0;
        return apply_live_buffer(m, ev);
    case TTALLOC_REC_LIVE_END:
        m->in_live_state = 0;
        return apply_live_end(m, ev->time_ns);
    case TTALLOC_REC_PROCESS_START:
        return report_model_wants_pid(m, ev->pid) ? apply_start(m, ev) : 0;
    case TTALLOC_REC_PROCESS_EXIT:
        return report_model_wants_pid(m, ev->pid) ? apply_exit(m, ev) : 0;
    case TTALLOC_REC_DEVICE: {
        struct report_device *d = device_get(m, ev->device);
        if (!d)
            return -ENOMEM;
        d->described = 1;
        d->desc = ev->desc;
        return 0;
    }
    case TTALLOC_REC_GAP:
        m->gaps++;
        m->lost_events += ev->count;
        return push_instant(m, TTALLOC_REC_GAP, 0, ev->count, ev->time_ns);
    default:
        return 0; /* peak resets, SHM samples, telemetry: not in the summary */
    }
}

int report_model_apply(struct report_model *m, const struct ttalloc_rec_event *ev,
                       uint64_t *size_out)
{
    int rc = model_apply(m, ev, size_out);
    if (rc < 0)
        m->out_of_memory = 1;
    return rc;
}

int64_t report_model_duration(const struct report_model *m)
{
    return m->any_record && m->last_ns > 0 ? m->last_ns : 0;
}

int report_model_finish(struct report_model *m)
{
    if (m->finished)
        return 0;
    m->finished = 1;
    if (m->at_ns >= 0 && !m->at_taken && take_at_snapshot(m) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_processes; i++) {
        struct report_process *p = &m->processes[i];
        if (p->n_leaks)
            qsort(p->leaks, p->n_leaks, sizeof(*p->leaks), report_buffer_cmp_largest);
    }
    for (size_t i = 0; i < m->n_devices; i++) {
        struct report_device *d = &m->devices[i];
        size_t n = d->n_freed_after_peak;
        for (size_t s = 0; s < m->live.capacity; s++) {
            const struct report_buffer *b = &m->live.slots[s];
            if (b->size && b->device == d->device && b->type == TTALLOC_DRAM &&
                b->alloc_seq <= d->peak_seq)
                n++;
        }
        d->at_peak = malloc((n ? n : 1) * sizeof(*d->at_peak));
        if (!d->at_peak)
            return -ENOMEM;
        if (d->n_freed_after_peak)
            memcpy(d->at_peak, d->freed_after_peak, d->n_freed_after_peak * sizeof(*d->at_peak));
        d->n_at_peak = d->n_freed_after_peak;
        for (size_t s = 0; s < m->live.capacity; s++) {
            const struct report_buffer *b = &m->live.slots[s];
            if (b->size && b->device == d->device && b->type == TTALLOC_DRAM &&
                b->alloc_seq <= d->peak_seq)
                d->at_peak[d->n_at_peak++] = *b;
        }
        if (d->n_at_peak)
            qsort(d->at_peak, d->n_at_peak, sizeof(*d->at_peak), report_buffer_cmp_largest);
    }
    return 0;
}
