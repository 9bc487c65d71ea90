/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmmap.c - match TT-Metal SHM regions to tt-kmd devices (the rule is in
 * shmmap.h and docs/tt-metal-shm.md) and split a gateway region's bytes into
 * one row per chip.
 */
#include "shmmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "number.h"

uint64_t shmmap_parse_hex16(const char *text)
{
    uint64_t v;
    if (strlen(text) != 16 || number_parse_u64(text, 16, 0, UINT64_MAX, &v) != 0)
        return 0;
    return v;
}

const char *shmmap_match_name(enum shmmap_match how)
{
    switch (how) {
    case SHMMAP_ASIC_ID:
        return "asic_id";
    case SHMMAP_HOLDERS:
        return "holders";
    case SHMMAP_DEVICE_ID:
        return "device_id";
    default:
        return NULL;
    }
}

/* ---- UMD's numbering ---- */

/* Is devs[a] before devs[b] in PCI bus id order (UMD sorts by bus id; nodes
 * without one come last, by ordinal)? */
static int shmmap_bdf_before(const struct sysfs_device *devs, int a, int b)
{
    const char *x = devs[a].bus_id, *y = devs[b].bus_id;
    if ((x[0] == '\0') != (y[0] == '\0'))
        return x[0] != '\0';
    int c = strcmp(x, y);
    if (c != 0)
        return c < 0;
    return devs[a].index < devs[b].index;
}

/* Sort n device indexes in bus id order (insertion sort: a handful). */
static void shmmap_sort_bdf(const struct sysfs_device *devs, int *idx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int v = idx[i];
        size_t k = i;
        while (k > 0 && shmmap_bdf_before(devs, v, idx[k - 1])) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = v;
    }
}

static int shmmap_is_integer(const char *s, size_t len)
{
    if (len == 0 || len > 9)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

int shmmap_visible_order(const char *visible, const struct sysfs_device *devs, size_t ndev,
                         int *order)
{
    if (ndev == 0)
        return 0;
    int *all = malloc(ndev * sizeof(*all));
    char *pick = calloc(ndev, 1);
    if (all == NULL || pick == NULL) {
        free(all);
        free(pick);
        return -ENOMEM;
    }
    for (size_t d = 0; d < ndev; d++)
        all[d] = (int)d;
    shmmap_sort_bdf(devs, all, ndev);

    int rc = 0;
    for (const char *p = visible; *p != '\0' && rc == 0;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (shmmap_is_integer(p, len)) {
            long k = strtol(p, NULL, 10);
            if (k < 0 || (size_t)k >= ndev)
                rc = -EINVAL;
            else
                pick[all[k]] = 1;
        } else if (len > 0) {
            int matched = 0;
            for (size_t d = 0; d < ndev; d++) {
                const char *bus = devs[d].bus_id;
                size_t blen = strlen(bus);
                for (size_t at = 0; at + len <= blen; at++) {
                    if (memcmp(bus + at, p, len) == 0) {
                        pick[d] = 1;
                        matched = 1;
                        break;
                    }
                }
            }
            if (!matched)
                rc = -EINVAL;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < ndev && rc == 0; i++) {
        if (pick[all[i]])
            order[n++] = all[i];
    }
    free(all);
    free(pick);
    return rc < 0 ? rc : (int)n;
}

/* ---- the holders rule ---- */

static const struct shmmap_proc *shmmap_find_proc(const struct shmmap_proc *procs, size_t n,
                                                  pid_t pid)
{
    for (size_t i = 0; i < n; i++) {
        if (procs[i].pid == pid)
            return &procs[i];
    }
    return NULL;
}

static int shmmap_dev_of_ordinal(const struct sysfs_device *devs, size_t ndev, int ordinal)
{
    for (size_t d = 0; d < ndev; d++) {
        if (devs[d].index == ordinal)
            return (int)d;
    }
    return -1;
}

/* The nodes process p opened, in the order UMD numbers them (its logical
 * ids 0, 1, ...): its TT_VISIBLE_DEVICES filtered by what it holds, else what
 * it holds in bus id order. Writes indexes into devs to order[] and 0/1 per
 * device to held[]. Returns how many, or -1 when nothing is known of p. */
static int shmmap_proc_order(const struct shmmap_proc *p, const struct sysfs_device *devs,
                             size_t ndev, int *order, char *held)
{
    size_t n_held = 0;
    memset(held, 0, ndev);
    for (size_t i = 0; i < p->n_held; i++) {
        int d = shmmap_dev_of_ordinal(devs, ndev, p->held[i]);
        if (d >= 0 && !held[d]) {
            held[d] = 1;
            n_held++;
        }
    }
    size_t n = 0;
    if (p->has_visible) {
        int got = shmmap_visible_order(p->visible ? p->visible : "", devs, ndev, order);
        if (got > 0) {
            n = (size_t)got;
            if (n_held > 0) { /* what it opened is what it holds */
                size_t kept = 0;
                for (size_t i = 0; i < n; i++) {
                    if (held[order[i]])
                        order[kept++] = order[i];
                }
                n = kept;
            }
        }
    }
    if (n == 0 && n_held > 0) {
        for (size_t d = 0; d < ndev; d++) {
            if (held[d])
                order[n++] = (int)d;
        }
        shmmap_sort_bdf(devs, order, n);
    }
    return n > 0 ? (int)n : -1;
}

/* The logical ids region r's chip was written under: its device_id (the
 * last attacher's) and every local chip_stats entry (a process records its
 * allocations under its own id for the chip). Returns how many in ids[]. */
static size_t shmmap_local_ids(const struct shmstats_region *r, uint32_t *ids)
{
    size_t n = 0;
    ids[n++] = r->device_id;
    for (size_t c = 0; c < r->n_chips; c++) {
        if (r->chips[c].is_remote || r->chips[c].chip_id == r->device_id)
            continue;
        ids[n++] = r->chips[c].chip_id;
    }
    return n;
}

/* The holders rule for region r, before the regions are weighed together:
 * cand[d] = 1 for every node it may be (some live process numbers one of its
 * logical ids so, and every live process holds it). Returns 1 when something
 * is known (then *remote = 1 when every process says its ids are past its
 * nodes: a remote chip), 0 when nothing is. *gateway: the one node all its
 * processes hold, else -1. */
static int shmmap_holders(const struct shmstats_region *r, const struct sysfs_device *devs,
                          size_t ndev, const struct shmmap_proc *procs, size_t nprocs, char *cand,
                          int *remote, int *gateway)
{
    *remote = 0;
    *gateway = -1;
    memset(cand, 0, ndev);
    if (ndev == 0 || r->n_processes == 0 || procs == NULL)
        return 0;
    int *order = malloc(ndev * sizeof(*order));
    char *held = malloc(ndev);
    char *common = malloc(ndev);
    if (!order || !held || !common) {
        free(order), free(held), free(common);
        return 0;
    }
    uint32_t ids[SHMSTATS_MAX_CHIPS + 1];
    size_t n_ids = shmmap_local_ids(r, ids);
    memset(common, 1, ndev);
    int known = 0, remote_votes = 0, node_votes = 0;
    for (size_t k = 0; k < r->n_processes; k++) {
        const struct shmmap_proc *p = shmmap_find_proc(procs, nprocs, r->processes[k].pid);
        int n = p ? shmmap_proc_order(p, devs, ndev, order, held) : -1;
        if (n < 0)
            continue;
        known = 1;
        int any_held = 0;
        for (size_t d = 0; d < ndev; d++)
            any_held |= held[d];
        if (any_held) {
            for (size_t d = 0; d < ndev; d++)
                common[d] &= held[d];
        }
        int said = 0;
        for (size_t i = 0; i < n_ids; i++) {
            if (ids[i] < (uint32_t)n) {
                cand[order[ids[i]]] = 1;
                said = 1;
            }
        }
        node_votes += said;
        remote_votes += !said;
    }
    size_t n_common = 0;
    for (size_t d = 0; d < ndev; d++) {
        cand[d] &= common[d]; /* one chip: every process attached to it holds it */
        if (known && common[d]) {
            n_common++;
            *gateway = (int)d;
        }
    }
    if (n_common != 1)
        *gateway = -1;
    *remote = known && node_votes == 0 && remote_votes > 0;
    free(order), free(held), free(common);
    return known;
}

/* Weigh the regions' candidates together: one file per chip, so a node that
 * is some region's only candidate is no other region's. Repeated until
 * nothing changes; then a region with exactly one candidate has its node in
 * node_of[] (index into devs), else -1. `taken` marks nodes already settled
 * (by asic_id). cand is n rows of ndev. */
static void shmmap_settle(char *cand, size_t n, size_t ndev, const char *taken, int *node_of)
{
    for (size_t i = 0; i < n; i++) {
        node_of[i] = -1;
        for (size_t d = 0; d < ndev; d++)
            cand[i * ndev + d] &= !taken[d];
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (node_of[i] >= 0)
                continue;
            int only = -1, count = 0;
            for (size_t d = 0; d < ndev; d++) {
                if (cand[i * ndev + d]) {
                    only = (int)d;
                    count++;
                }
            }
            if (count != 1)
                continue;
            /* a node two regions can only be is contended: leave it to them */
            int rivals = 0;
            for (size_t j = 0; j < n; j++) {
                if (j == i || !cand[j * ndev + (size_t)only])
                    continue;
                int other = 0;
                for (size_t d = 0; d < ndev; d++)
                    other += cand[j * ndev + d];
                rivals += other == 1;
            }
            if (rivals > 0)
                continue;
            node_of[i] = only;
            for (size_t j = 0; j < n; j++) {
                if (j != i && cand[j * ndev + (size_t)only]) {
                    cand[j * ndev + (size_t)only] = 0;
                    changed = 1;
                }
            }
        }
    }
}

/* ---- the rows ---- */

/* The region's own chip entry says remote. */
static int shmmap_region_remote(const struct shmstats_region *r)
{
    for (size_t c = 0; c < r->n_chips; c++)
        if (r->chips[c].chip_id == r->device_id)
            return r->chips[c].is_remote != 0;
    return 0;
}

/* Is region a a better claimant of a node than region b? */
static int shmmap_better(const struct shmstats_region *a, const struct shmstats_region *b)
{
    int al = a->n_processes > 0, bl = b->n_processes > 0;
    if (al != bl)
        return al;
    return a->last_update_ns > b->last_update_ns;
}

/* Is chip entry c region r's own chip? Its device_id's entry, or any local
 * one: the same chip recorded under another process's logical id. Remote
 * entries are the chips behind it. */
static int shmmap_own_chip(const struct shmstats_region *r, size_t c)
{
    return r->chips[c].chip_id == r->device_id || !r->chips[c].is_remote;
}

/* Do regions a and b share a live process? */
static int shmmap_share_pid(const struct shmstats_region *a, const struct shmstats_region *b)
{
    for (size_t i = 0; i < a->n_processes; i++) {
        for (size_t k = 0; k < b->n_processes; k++) {
            if (a->processes[i].pid == b->processes[k].pid)
                return 1;
        }
    }
    return 0;
}

/* A region that is not shown at all: garbage nobody uses. */
static int shmmap_ignored(const struct shmstats_region *r)
{
    return r->unknown && r->n_processes == 0;
}

static int shmmap_row_cmp(const void *x, const void *y)
{
    const struct shmmap_row *a = x, *b = y;
    int am = a->sysfs >= 0, bm = b->sysfs >= 0;
    if (am != bm)
        return am ? -1 : 1;
    if (a->device != b->device)
        return a->device < b->device ? -1 : 1;
    if (a->region != b->region)
        return a->region < b->region ? -1 : 1;
    return a->own > b->own ? -1 : (a->own < b->own);
}

/* Extra chip entries of region i that are chips of their own elsewhere:
 * 1 in drop[c] (indexed like r->chips). */
static void shmmap_extra_counted_elsewhere(const struct shmstats_region *regions, size_t n,
                                           size_t i, const int *node, char *drop)
{
    const struct shmstats_region *r = &regions[i];
    size_t extra = 0, others = 0;
    for (size_t c = 0; c < r->n_chips; c++) {
        drop[c] = 0;
        if (shmmap_own_chip(r, c))
            continue;
        extra++;
        for (size_t j = 0; j < n; j++) {
            if (j != i && !shmmap_ignored(&regions[j]) &&
                regions[j].device_id == r->chips[c].chip_id)
                drop[c] = 1;
        }
    }
    /* under other numberings the ids differ: regions without a node that
     * share our processes are our remote chips, seen from their own side */
    for (size_t j = 0; j < n; j++) {
        if (j != i && node[j] < 0 && !shmmap_ignored(&regions[j]) &&
            shmmap_share_pid(r, &regions[j]))
            others++;
    }
    if (extra > 0 && others >= extra) {
        for (size_t c = 0; c < r->n_chips; c++)
            drop[c] = !shmmap_own_chip(r, c);
    }
}

/* Region i claims node `cand` by `pass`; a claimant of the same pass holding
 * it already is displaced when i is better (live processes, then recency);
 * one of an earlier pass keeps it. */
static void shmmap_claim(const struct shmstats_region *regions, size_t i, int cand,
                         enum shmmap_match pass, int *node, enum shmmap_match *how, int *remote,
                         int *claimed)
{
    int holder = claimed[cand] - 1;
    if (holder >= 0) {
        if (how[holder] != pass || !shmmap_better(&regions[i], &regions[holder]))
            return;
        node[holder] = -1;
        how[holder] = SHMMAP_NONE;
    }
    claimed[cand] = (int)i + 1;
    node[i] = cand;
    how[i] = pass;
    remote[i] = 0;
}

int shmmap_build(const struct shmstats_region *regions, size_t n, const struct sysfs_device *devs,
                 size_t ndev, const struct shmmap_proc *procs, size_t nprocs,
                 struct shmmap_row **out, size_t *nrows)
{
    *out = NULL;
    *nrows = 0;
    size_t max_rows = n * SHMSTATS_MAX_CHIPS + n;
    uint64_t *asic = calloc(ndev + 1, sizeof(uint64_t));
    int *node = malloc((n + 1) * sizeof(int)); /* region -> sysfs index */
    enum shmmap_match *how = calloc(n + 1, sizeof(*how));
    int *board = malloc((n + 1) * sizeof(int));
    int *remote = calloc(n + 1, sizeof(int));     /* settled as a remote chip */
    int *claimed = calloc(ndev + 1, sizeof(int)); /* 1 + region index, 0 = free */
    char *drop = malloc(SHMSTATS_MAX_CHIPS);
    struct shmmap_row *rows = calloc(max_rows + 1, sizeof(*rows));
    if (!asic || !node || !how || !board || !remote || !claimed || !drop || !rows) {
        free(asic), free(node), free(how), free(board), free(remote), free(claimed);
        free(drop), free(rows);
        return -ENOMEM;
    }
    for (size_t d = 0; d < ndev; d++)
        asic[d] = shmmap_parse_hex16(devs[d].asic_id);
    for (size_t i = 0; i < n; i++) {
        node[i] = -1;
        board[i] = -1;
        remote[i] = shmmap_region_remote(&regions[i]);
    }

    /* 1: asic_id */
    for (size_t i = 0; i < n; i++) {
        const struct shmstats_region *r = &regions[i];
        if (shmmap_ignored(r) || r->asic_id == 0)
            continue;
        int cand = -1, count = 0;
        for (size_t d = 0; d < ndev; d++) {
            if (asic[d] == r->asic_id) {
                cand = (int)d;
                count++;
            }
        }
        if (count == 1)
            shmmap_claim(regions, i, cand, SHMMAP_ASIC_ID, node, how, remote, claimed);
    }

    /* 2: holders, all regions weighed together */
    char *taken = calloc(ndev + 1, 1);
    char *cands = calloc(n * ndev + 1, 1);
    int *settled = malloc((n + 1) * sizeof(int));
    if (taken && cands && settled) {
        for (size_t d = 0; d < ndev; d++)
            taken[d] = claimed[d] != 0;
        for (size_t i = 0; i < n; i++) {
            if (node[i] >= 0 || shmmap_ignored(&regions[i]))
                continue;
            int is_remote = 0, gateway = -1;
            if (!shmmap_holders(&regions[i], devs, ndev, procs, nprocs, cands + i * ndev,
                                &is_remote, &gateway))
                continue;
            board[i] = gateway;
            if (is_remote) {
                remote[i] = 1;
                how[i] = SHMMAP_HOLDERS;
            }
        }
        shmmap_settle(cands, n, ndev, taken, settled);
        for (size_t i = 0; i < n; i++) {
            if (node[i] < 0 && settled[i] >= 0)
                shmmap_claim(regions, i, settled[i], SHMMAP_HOLDERS, node, how, remote, claimed);
        }
    }
    free(taken), free(cands), free(settled);

    /* 3: device_id, a guess */
    for (size_t i = 0; i < n; i++) {
        const struct shmstats_region *r = &regions[i];
        if (node[i] >= 0 || remote[i] || shmmap_ignored(r))
            continue;
        for (size_t d = 0; d < ndev; d++) {
            if ((int64_t)devs[d].index == (int64_t)r->device_id)
                shmmap_claim(regions, i, (int)d, SHMMAP_DEVICE_ID, node, how, remote, claimed);
        }
    }

    /* Ids taken by nodes, so chips without one get an id nobody else shows. */
    uint32_t max_id = 0;
    for (size_t d = 0; d < ndev; d++)
        if (devs[d].index >= 0 && (uint32_t)devs[d].index + 1 > max_id)
            max_id = (uint32_t)devs[d].index + 1;

    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct shmstats_region *r = &regions[i];
        if (shmmap_ignored(r))
            continue;
        struct shmmap_row *own = &rows[k++];
        own->region = i;
        own->own = 1;
        own->chip_id = r->device_id;
        own->remote = node[i] < 0 && remote[i];
        own->sysfs = node[i];
        own->how = how[i];
        own->unknown = r->unknown;
        own->board_sysfs = node[i] >= 0 ? node[i] : board[i];
        memcpy(own->bytes, r->totals, sizeof(own->bytes));
        if (r->unknown)
            continue; /* its chip entries may be garbage too: no rows from them */
        shmmap_extra_counted_elsewhere(regions, n, i, node, drop);
        for (size_t c = 0; c < r->n_chips; c++) {
            const struct shmstats_chip *chip = &r->chips[c];
            if (shmmap_own_chip(r, c))
                continue;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                own->bytes[t] = own->bytes[t] > chip->bytes[t] ? own->bytes[t] - chip->bytes[t] : 0;
            if (drop[c])
                continue; /* a chip that publishes a region of its own is shown from there */
            struct shmmap_row *row = &rows[k++];
            row->region = i;
            row->own = 0;
            row->chip_id = chip->chip_id;
            row->remote = chip->is_remote != 0;
            row->sysfs = -1;
            row->how = SHMMAP_NONE;
            row->board_sysfs = own->board_sysfs;
            memcpy(row->bytes, chip->bytes, sizeof(row->bytes));
        }
    }

    /* Display ids: the node's ordinal; else the chip id unless a node or an
     * earlier row has it; else the next id above all of those. */
    for (size_t a = 0; a < k; a++)
        if (rows[a].sysfs >= 0)
            rows[a].device = (uint32_t)devs[rows[a].sysfs].index;
    for (size_t a = 0; a < k; a++) {
        if (rows[a].sysfs >= 0)
            continue;
        uint32_t want = rows[a].chip_id;
        int taken = want == UINT32_MAX;
        for (size_t d = 0; d < ndev && !taken; d++)
            taken = (int64_t)devs[d].index == (int64_t)want;
        for (size_t b = 0; b < k && !taken; b++)
            taken = b != a && (rows[b].sysfs >= 0 || b < a) && rows[b].device == want;
        if (taken) {
            want = max_id;
            for (size_t b = 0; b < k; b++)
                if ((rows[b].sysfs >= 0 || b < a) && rows[b].device >= want)
                    want = rows[b].device + 1;
        }
        rows[a].device = want;
    }
    qsort(rows, k, sizeof(*rows), shmmap_row_cmp);

    free(asic), free(node), free(how), free(board), free(remote), free(claimed), free(drop);
    *out = rows;
    *nrows = k;
    return 0;
}
