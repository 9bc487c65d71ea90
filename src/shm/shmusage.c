/*
 * shmusage.c - regions + sysfs devices -> per-device and per-process
 * figures (the rule is in shmusage.h).
 */
#include "shmusage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shmmap.h"

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
    memcpy(q->name, p->name, sizeof(q->name));
    memcpy(q->bytes, p->bytes, sizeof(q->bytes));
}

int shmusage_build(const struct shmstats_region *regions, size_t n,
                   const struct sysfs_device *devs, size_t ndev, shmusage_skip_fn skip,
                   void *ctx, struct shmusage *out)
{
    memset(out, 0, sizeof(*out));
    struct shmmap_row *rows = NULL;
    size_t nrows = 0;
    if (n == 0)
        return 0;
    if (shmmap_build(regions, n, devs, ndev, &rows, &nrows) < 0)
        return -ENOMEM;

    size_t max_procs = 0;
    for (size_t r = 0; r < n; r++)
        max_procs += regions[r].n_processes;
    out->devices = calloc(nrows ? nrows : 1, sizeof(*out->devices));
    out->processes = calloc(max_procs ? max_procs : 1, sizeof(*out->processes));
    if (out->devices == NULL || out->processes == NULL) {
        free(rows);
        shmusage_free(out);
        return -ENOMEM;
    }

    for (size_t r = 0; r < n; r++) {
        const struct shmstats_region *reg = &regions[r];
        uint64_t left[TTALLOC_NUM_TYPES] = {0};
        uint32_t counted = 0;
        out->stale += reg->stale;
        for (size_t k = 0; k < reg->n_processes; k++) {
            const struct shmstats_process *p = &reg->processes[k];
            if (!shmusage_counted(p, skip, ctx)) {
                out->skipped++;
                continue;
            }
            counted++;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                left[t] += p->bytes[t];
        }
        /* Extra chips first (capped by what the counted processes hold),
         * then the region's own row takes the rest. */
        const struct shmmap_row *own = NULL;
        for (size_t i = 0; i < nrows; i++) {
            const struct shmmap_row *row = &rows[i];
            if (row->region != r)
                continue;
            if (row->own) {
                own = row;
                continue;
            }
            if (row->sysfs < 0 && reg->n_processes == 0)
                continue;   /* a stale file's chip without a node: not a device */
            struct shmusage_device *d = &out->devices[out->n_devices++];
            d->device = row->device;
            d->sysfs = row->sysfs;
            d->board_sysfs = row->board_sysfs;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
                uint64_t v = row->bytes[t] < left[t] ? row->bytes[t] : left[t];
                d->used[t] = v;
                left[t] -= v;
            }
        }
        if (own == NULL || (own->sysfs < 0 && reg->n_processes == 0))
            continue;
        struct shmusage_device *d = &out->devices[out->n_devices++];
        d->device = own->device;
        d->sysfs = own->sysfs;
        d->board_sysfs = own->board_sysfs;
        d->processes = counted;
        memcpy(d->used, left, sizeof(d->used));
        for (size_t k = 0; k < reg->n_processes; k++) {
            if (shmusage_counted(&reg->processes[k], skip, ctx))
                shmusage_add_process(out, &reg->processes[k], own);
        }
    }
    free(rows);
    qsort(out->devices, out->n_devices, sizeof(*out->devices), shmusage_device_cmp);
    qsort(out->processes, out->n_processes, sizeof(*out->processes), shmusage_process_cmp);
    return 0;
}

void shmusage_free(struct shmusage *u)
{
    free(u->devices);
    free(u->processes);
    memset(u, 0, sizeof(*u));
}
