/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmusage.c - regions + sysfs devices -> per-device and per-process
 * figures (the rule is in shmusage.h).
 */
#include "shmusage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "procs.h"

#define SHMUSAGE_VISIBLE_MAX 256 /* a TT_VISIBLE_DEVICES value longer than this is cut */

static int shmusage_device_cmp(const void *x, const void *y)
{
    const struct shmusage_device *a = x, *b = y;
    return a->device < b->device ? -1 : a->device > b->device;
}

static int shmusage_process_cmp(const void *x, const void *y)
{
    const struct shmusage_process *a = x, *b = y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return a->device < b->device ? -1 : a->device > b->device;
}

static int shmusage_stale_cmp(const void *x, const void *y)
{
    const struct shmusage_stale *a = x, *b = y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return a->device < b->device ? -1 : a->device > b->device;
}

/* Is slot p of a region counted? */
static int shmusage_counted(const struct shmstats_process *p, shmusage_skip_fn skip, void *ctx)
{
    return skip == NULL || !skip(ctx, p->pid);
}

/* Add one process entry, or sum into the one of the same (pid, device). */
static void shmusage_add_process(struct shmusage *u, const struct shmstats_process *p,
                                 const struct shmmap_row *row)
{
    for (size_t i = 0; i < u->n_processes; i++) {
        struct shmusage_process *q = &u->processes[i];
        if (q->pid == p->pid && q->device == row->device) {
            q->unknown |= row->unknown;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                q->bytes[t] += p->bytes[t];
            return;
        }
    }
    struct shmusage_process *q = &u->processes[u->n_processes++];
    memset(q, 0, sizeof(*q));
    q->pid = p->pid;
    q->device = row->device;
    q->sysfs = row->sysfs;
    q->unknown = row->unknown;
    memcpy(q->name, p->name, sizeof(q->name));
    if (!row->unknown)
        memcpy(q->bytes, p->bytes, sizeof(q->bytes));
}

static void shmusage_sub(uint64_t left[TTALLOC_NUM_TYPES], const uint64_t bytes[TTALLOC_NUM_TYPES])
{
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        left[t] = left[t] > bytes[t] ? left[t] - bytes[t] : 0;
}

static struct shmusage_device *shmusage_add_device(struct shmusage *u, const struct shmmap_row *row)
{
    struct shmusage_device *d = &u->devices[u->n_devices++];
    memset(d, 0, sizeof(*d));
    d->device = row->device;
    d->sysfs = row->sysfs;
    d->board_sysfs = row->board_sysfs;
    d->how = row->how;
    d->unknown = row->unknown;
    return d;
}

int shmusage_build(const struct shmstats_region *regions, size_t n, const struct sysfs_device *devs,
                   size_t ndev, const struct shmmap_proc *procs, size_t nprocs,
                   shmusage_skip_fn skip, void *ctx, struct shmusage *out)
{
    memset(out, 0, sizeof(*out));
    struct shmmap_row *rows = NULL;
    size_t nrows = 0;
    if (n == 0)
        return 0;
    if (shmmap_build(regions, n, devs, ndev, procs, nprocs, &rows, &nrows) < 0)
        return -ENOMEM;

    size_t max_procs = 0, max_stale = 0;
    for (size_t r = 0; r < n; r++) {
        max_procs += regions[r].n_processes;
        max_stale += regions[r].stale;
    }
    out->devices = calloc(nrows ? nrows : 1, sizeof(*out->devices));
    out->processes = calloc(max_procs ? max_procs : 1, sizeof(*out->processes));
    out->stale_pids = calloc(max_stale ? max_stale : 1, sizeof(*out->stale_pids));
    if (out->devices == NULL || out->processes == NULL || out->stale_pids == NULL) {
        free(rows);
        shmusage_free(out);
        return -ENOMEM;
    }

    for (size_t r = 0; r < n; r++) {
        const struct shmstats_region *reg = &regions[r];
        uint32_t counted = 0;
        out->stale += reg->stale;
        const struct shmmap_row *own = NULL;
        for (size_t i = 0; i < nrows && own == NULL; i++) {
            if (rows[i].region == r && rows[i].own)
                own = &rows[i];
        }
        if (own == NULL)
            continue; /* garbage nobody uses: not shown */
        /* S: the totals less what dead and skipped slots still claim */
        uint64_t left[TTALLOC_NUM_TYPES];
        memcpy(left, reg->totals, sizeof(left));
        shmusage_sub(left, reg->stale_bytes);
        for (size_t k = 0; k < reg->n_processes; k++) {
            const struct shmstats_process *p = &reg->processes[k];
            if (!shmusage_counted(p, skip, ctx)) {
                out->skipped++;
                shmusage_sub(left, p->bytes);
                continue;
            }
            counted++;
        }
        /* Extra chips first (capped by what is left), then the region's own
         * row takes the rest. */
        for (size_t i = 0; i < nrows; i++) {
            const struct shmmap_row *row = &rows[i];
            if (row->region != r || row->own)
                continue;
            if (row->sysfs < 0 && reg->n_processes == 0)
                continue; /* a stale file's chip without a node: not a device */
            struct shmusage_device *d = shmusage_add_device(out, row);
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
                uint64_t v = row->bytes[t] < left[t] ? row->bytes[t] : left[t];
                d->used[t] = v;
                left[t] -= v;
            }
        }
        if (own->sysfs >= 0 || reg->n_processes > 0) {
            struct shmusage_device *d = shmusage_add_device(out, own);
            d->processes = counted;
            if (!own->unknown)
                memcpy(d->used, left, sizeof(d->used));
            for (size_t k = 0; k < reg->n_processes; k++) {
                if (shmusage_counted(&reg->processes[k], skip, ctx))
                    shmusage_add_process(out, &reg->processes[k], own);
            }
        }
        for (size_t k = 0; k < reg->stale && k < SHMSTATS_MAX_PROCESSES; k++) {
            struct shmusage_stale *s = &out->stale_pids[out->n_stale_pids++];
            memset(s, 0, sizeof(*s));
            s->pid = reg->stale_pids[k].pid;
            s->device = own->device;
            s->sysfs = own->sysfs;
            memcpy(s->name, reg->stale_pids[k].name, sizeof(s->name));
        }
    }
    free(rows);
    qsort(out->devices, out->n_devices, sizeof(*out->devices), shmusage_device_cmp);
    qsort(out->processes, out->n_processes, sizeof(*out->processes), shmusage_process_cmp);
    qsort(out->stale_pids, out->n_stale_pids, sizeof(*out->stale_pids), shmusage_stale_cmp);
    return 0;
}

void shmusage_free(struct shmusage *u)
{
    free(u->devices);
    free(u->processes);
    free(u->stale_pids);
    memset(u, 0, sizeof(*u));
}

/* ---- the regions' processes ---- */

static int shmusage_pid_cmp(const void *x, const void *y)
{
    pid_t a = *(const pid_t *)x, b = *(const pid_t *)y;
    return a < b ? -1 : a > b;
}

int shmusage_procs(const char *sysroot, const struct shmstats_region *regions, size_t n,
                   const struct sysfs_device *devs, size_t ndev, struct shmmap_proc **out,
                   size_t *nprocs)
{
    *out = NULL;
    *nprocs = 0;
    size_t max = 0;
    for (size_t r = 0; r < n; r++)
        max += regions[r].n_processes;
    if (max == 0 || ndev == 0)
        return 0;
    pid_t *pids = malloc(max * sizeof(*pids));
    int *indexes = malloc(ndev * sizeof(*indexes));
    if (pids == NULL || indexes == NULL) {
        free(pids);
        free(indexes);
        return -ENOMEM;
    }
    size_t np = 0;
    for (size_t r = 0; r < n; r++) {
        for (size_t k = 0; k < regions[r].n_processes; k++)
            pids[np++] = regions[r].processes[k].pid;
    }
    qsort(pids, np, sizeof(*pids), shmusage_pid_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < np; i++) {
        if (distinct == 0 || pids[distinct - 1] != pids[i])
            pids[distinct++] = pids[i];
    }
    for (size_t d = 0; d < ndev; d++)
        indexes[d] = devs[d].index;

    struct procs_holder *holders = NULL;
    size_t n_holders = 0;
    int used_fd_scan = 0;
    int rc = procs_scan(sysroot, indexes, ndev, 0, &holders, &n_holders, &used_fd_scan);
    free(indexes);
    if (rc < 0) {
        free(pids);
        return rc;
    }
    /* one block: the entries, then their held ordinals, then the values */
    size_t bytes = distinct * sizeof(struct shmmap_proc) + (n_holders + 1) * sizeof(int) +
                   distinct * SHMUSAGE_VISIBLE_MAX;
    char *block = calloc(1, bytes);
    if (block == NULL) {
        free(pids);
        free(holders);
        return -ENOMEM;
    }
    struct shmmap_proc *procs = (struct shmmap_proc *)(void *)block;
    int *held = (int *)(void *)(block + distinct * sizeof(struct shmmap_proc));
    char *values = (char *)(held + n_holders + 1);
    size_t used_held = 0;
    for (size_t i = 0; i < distinct; i++) {
        struct shmmap_proc *p = &procs[i];
        p->pid = pids[i];
        p->held = held + used_held;
        for (size_t h = 0; h < n_holders; h++) { /* holders ascend by pid */
            if (holders[h].pid == p->pid)
                held[used_held + p->n_held++] = holders[h].device;
        }
        used_held += p->n_held;
        char *value = values + i * SHMUSAGE_VISIBLE_MAX;
        p->has_visible =
            procs_environ_get(p->pid, "TT_VISIBLE_DEVICES", value, SHMUSAGE_VISIBLE_MAX) == 1;
        p->visible = value;
    }
    free(pids);
    free(holders);
    *out = procs;
    *nprocs = distinct;
    return 0;
}
