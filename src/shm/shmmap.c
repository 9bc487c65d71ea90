/*
 * shmmap.c - match TT-Metal SHM regions to tt-kmd devices (the rule is in
 * shmmap.h and docs/tt-metal-shm.md) and split a gateway region's bytes into
 * one row per chip.
 */
#include "shmmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t shmmap_parse_hex16(const char *text)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; text[i] != '\0'; i++) {
        char c = text[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return 0;
        if (i >= 16)
            return 0;
        v = (v << 4) | d;
    }
    return i == 16 ? v : 0;
}

const char *shmmap_match_name(enum shmmap_match how)
{
    switch (how) {
    case SHMMAP_ASIC_ID: return "asic_id";
    case SHMMAP_HOLDERS: return "holders";
    case SHMMAP_DEVICE_ID: return "device_id";
    default: return NULL;
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

/* What one process's numbering says region r's device_id is: a node (its
 * index into devs) in *node, or 1 in *remote. Returns 0 when it says
 * something, -1 when nothing is known about the process. `held` gets the
 * nodes it holds (a 0/1 per device), *n_held how many. */
static int shmmap_proc_says(const struct shmmap_proc *p, uint32_t device_id,
                            const struct sysfs_device *devs, size_t ndev, int *order, char *held,
                            size_t *n_held, int *node, int *remote)
{
    *node = -1;
    *remote = 0;
    *n_held = 0;
    memset(held, 0, ndev);
    for (size_t i = 0; i < p->n_held; i++) {
        int d = shmmap_dev_of_ordinal(devs, ndev, p->held[i]);
        if (d >= 0 && !held[d]) {
            held[d] = 1;
            (*n_held)++;
        }
    }
    size_t n = 0;
    if (p->has_visible) {
        int got = shmmap_visible_order(p->visible ? p->visible : "", devs, ndev, order);
        if (got > 0) {
            n = (size_t)got;
            if (*n_held > 0) {   /* what it opened is what it holds */
                size_t kept = 0;
                for (size_t i = 0; i < n; i++) {
                    if (held[order[i]])
                        order[kept++] = order[i];
                }
                n = kept;
            }
        }
    }
    if (n == 0 && *n_held > 0) {
        for (size_t d = 0; d < ndev; d++) {
            if (held[d])
                order[n++] = (int)d;
        }
        shmmap_sort_bdf(devs, order, n);
    }
    if (n == 0)
        return -1;
    if (device_id < n)
        *node = order[device_id];
    else
        *remote = 1;
    return 0;
}

/* The holders rule for region r: 1 and *node (or -1 with *remote = 1), or 0
 * when it does not decide. *gateway: the one node all its processes hold,
 * else -1. */
static int shmmap_holders(const struct shmstats_region *r, const struct sysfs_device *devs,
                          size_t ndev, const struct shmmap_proc *procs, size_t nprocs,
                          int *node, int *remote, int *gateway)
{
    *node = -1;
    *remote = 0;
    *gateway = -1;
    if (ndev == 0 || r->n_processes == 0 || procs == NULL)
        return 0;
    int *order = malloc(ndev * sizeof(*order));
    int *said = malloc(r->n_processes * sizeof(*said));
    char *held = malloc(ndev);
    char *common = malloc(ndev);
    if (!order || !said || !held || !common) {
        free(order), free(said), free(held), free(common);
        return 0;
    }
    memset(common, 1, ndev);
    int have_common = 0;
    size_t n_said = 0, remote_votes = 0;
    for (size_t k = 0; k < r->n_processes; k++) {
        const struct shmmap_proc *p = shmmap_find_proc(procs, nprocs, r->processes[k].pid);
        int pnode, premote;
        size_t n_held;
        if (p == NULL ||
            shmmap_proc_says(p, r->device_id, devs, ndev, order, held, &n_held, &pnode,
                             &premote) < 0)
            continue;
        if (n_held > 0) {
            have_common = 1;
            for (size_t d = 0; d < ndev; d++)
                common[d] &= held[d];
        }
        if (pnode >= 0)
            said[n_said++] = pnode;
        remote_votes += (size_t)premote;
    }
    size_t n_common = 0;
    for (size_t d = 0; d < ndev && have_common; d++) {
        if (common[d]) {
            n_common++;
            *gateway = (int)d;
        }
    }
    if (n_common != 1)
        *gateway = -1;
    /* answers about a node that not every process holds are another
     * process's numbering of the last attacher's device_id: drop them */
    int decided = 0, agreed = -1, conflict = 0;
    for (size_t i = 0; i < n_said; i++) {
        if (have_common && !common[said[i]])
            continue;
        if (agreed >= 0 && agreed != said[i])
            conflict = 1;
        agreed = said[i];
    }
    if (agreed >= 0 && !conflict) {
        *node = agreed;
        decided = 1;
    } else if (agreed < 0 && remote_votes > 0) {
        *remote = 1;
        decided = 1;
    }
    free(order), free(said), free(held), free(common);
    return decided;
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
        if (r->chips[c].chip_id == r->device_id)
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
            drop[c] = r->chips[c].chip_id != r->device_id;
    }
}

int shmmap_build(const struct shmstats_region *regions, size_t n,
                 const struct sysfs_device *devs, size_t ndev, const struct shmmap_proc *procs,
                 size_t nprocs, struct shmmap_row **out, size_t *nrows)
{
    *out = NULL;
    *nrows = 0;
    size_t max_rows = n * SHMSTATS_MAX_CHIPS + n;
    uint64_t *asic = calloc(ndev + 1, sizeof(uint64_t));
    int *node = malloc((n + 1) * sizeof(int));          /* region -> sysfs index */
    enum shmmap_match *how = calloc(n + 1, sizeof(*how));
    int *board = malloc((n + 1) * sizeof(int));
    int *remote = calloc(n + 1, sizeof(int));            /* settled as a remote chip */
    int *claimed = calloc(ndev + 1, sizeof(int));        /* 1 + region index, 0 = free */
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

    static const enum shmmap_match passes[3] = {SHMMAP_ASIC_ID, SHMMAP_HOLDERS,
                                                SHMMAP_DEVICE_ID};
    for (int p = 0; p < 3; p++) {
        enum shmmap_match pass = passes[p];
        for (size_t i = 0; i < n; i++) {
            const struct shmstats_region *r = &regions[i];
            if (node[i] >= 0 || shmmap_ignored(r))
                continue;
            int cand = -1;
            if (pass == SHMMAP_ASIC_ID) {
                int count = 0;
                for (size_t d = 0; d < ndev; d++) {
                    if (r->asic_id != 0 && asic[d] == r->asic_id) {
                        cand = (int)d;
                        count++;
                    }
                }
                if (count != 1)
                    continue;
            } else if (pass == SHMMAP_HOLDERS) {
                int is_remote, gateway;
                int decided = shmmap_holders(r, devs, ndev, procs, nprocs, &cand, &is_remote,
                                             &gateway);
                board[i] = gateway;
                if (decided && is_remote) {
                    remote[i] = 1;
                    how[i] = SHMMAP_HOLDERS;
                }
                if (!decided || cand < 0)
                    continue;
            } else {
                if (remote[i])
                    continue;
                for (size_t d = 0; d < ndev; d++) {
                    if ((int64_t)devs[d].index == (int64_t)r->device_id)
                        cand = (int)d;
                }
                if (cand < 0)
                    continue;
            }
            int holder = claimed[cand] - 1;
            if (holder >= 0) {
                /* only contend with claimants of this same pass */
                if (how[holder] != pass || !shmmap_better(r, &regions[holder]))
                    continue;
                node[holder] = -1;
                how[holder] = SHMMAP_NONE;
            }
            claimed[cand] = (int)i + 1;
            node[i] = cand;
            how[i] = pass;
            remote[i] = 0;
        }
        /* a region displaced in this pass may still match in a later one */
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
            continue;   /* its chip entries may be garbage too: no rows from them */
        shmmap_extra_counted_elsewhere(regions, n, i, node, drop);
        for (size_t c = 0; c < r->n_chips; c++) {
            const struct shmstats_chip *chip = &r->chips[c];
            if (chip->chip_id == r->device_id)
                continue;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                own->bytes[t] = own->bytes[t] > chip->bytes[t] ? own->bytes[t] - chip->bytes[t] : 0;
            if (drop[c])
                continue;   /* a chip that publishes a region of its own is shown from there */
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
