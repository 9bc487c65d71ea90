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
    case SHMMAP_SERIAL: return "serial";
    case SHMMAP_DEVICE_ID: return "device_id";
    default: return "none";
    }
}

/* The region's own chip entry says remote. */
static int shmmap_region_remote(const struct shmstats_region *r)
{
    for (size_t c = 0; c < r->n_chips; c++)
        if (r->chips[c].chip_id == r->device_id)
            return r->chips[c].is_remote != 0;
    return 0;
}

/* Is region a a better claimant of node `ordinal` than region b? */
static int shmmap_better(const struct shmstats_region *a, const struct shmstats_region *b,
                         int ordinal, enum shmmap_match pass)
{
    if (pass == SHMMAP_SERIAL) {
        int ao = (int64_t)a->device_id == ordinal, bo = (int64_t)b->device_id == ordinal;
        if (ao != bo)
            return ao;
    }
    int al = a->n_processes > 0, bl = b->n_processes > 0;
    if (al != bl)
        return al;
    return a->last_update_ns > b->last_update_ns;
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

int shmmap_build(const struct shmstats_region *regions, size_t n,
                 const struct sysfs_device *devs, size_t ndev, struct shmmap_row **out,
                 size_t *nrows)
{
    *out = NULL;
    *nrows = 0;
    size_t max_rows = n * SHMSTATS_MAX_CHIPS + n;
    uint64_t *serial = calloc(ndev + 1, sizeof(uint64_t));
    uint64_t *asic = calloc(ndev + 1, sizeof(uint64_t));
    int *node = malloc((n + 1) * sizeof(int));          /* region -> sysfs index */
    enum shmmap_match *how = calloc(n + 1, sizeof(*how));
    int *board = malloc((n + 1) * sizeof(int));
    int *claimed = calloc(ndev + 1, sizeof(int));        /* 1 + region index, 0 = free */
    struct shmmap_row *rows = calloc(max_rows + 1, sizeof(*rows));
    if (!serial || !asic || !node || !how || !board || !claimed || !rows) {
        free(serial), free(asic), free(node), free(how), free(board), free(claimed), free(rows);
        return -ENOMEM;
    }
    for (size_t d = 0; d < ndev; d++) {
        serial[d] = shmmap_parse_hex16(devs[d].serial);
        asic[d] = shmmap_parse_hex16(devs[d].asic_id);
    }
    for (size_t i = 0; i < n; i++) {
        node[i] = -1;
        board[i] = -1;
    }

    static const enum shmmap_match passes[3] = {SHMMAP_ASIC_ID, SHMMAP_SERIAL, SHMMAP_DEVICE_ID};
    for (int p = 0; p < 3; p++) {
        enum shmmap_match pass = passes[p];
        for (size_t i = 0; i < n; i++) {
            const struct shmstats_region *r = &regions[i];
            if (node[i] >= 0)
                continue;
            int cand = -1, count = 0;
            for (size_t d = 0; d < ndev; d++) {
                int hit = 0;
                if (pass == SHMMAP_ASIC_ID)
                    hit = r->asic_id != 0 && asic[d] == r->asic_id;
                else if (pass == SHMMAP_SERIAL)
                    hit = r->board_serial != 0 && serial[d] == r->board_serial;
                else
                    hit = (int64_t)devs[d].index == (int64_t)r->device_id &&
                          (r->board_serial == 0 || serial[d] == 0 ||
                           serial[d] == r->board_serial);
                if (hit) {
                    cand = (int)d;
                    count++;
                }
            }
            if (count != 1)
                continue;
            if (pass == SHMMAP_SERIAL)
                board[i] = cand;
            if (pass != SHMMAP_ASIC_ID && shmmap_region_remote(r))
                continue;
            int holder = claimed[cand] - 1;
            if (holder >= 0) {
                /* only contend with claimants of this same pass */
                if (how[holder] != pass ||
                    !shmmap_better(r, &regions[holder], devs[cand].index, pass))
                    continue;
                node[holder] = -1;
                how[holder] = SHMMAP_NONE;
            }
            claimed[cand] = (int)i + 1;
            node[i] = cand;
            how[i] = pass;
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
        struct shmmap_row *own = &rows[k++];
        own->region = i;
        own->own = 1;
        own->chip_id = r->device_id;
        own->remote = shmmap_region_remote(r);
        own->sysfs = node[i];
        own->how = how[i];
        own->board_sysfs = node[i] >= 0 ? node[i] : board[i];
        memcpy(own->bytes, r->totals, sizeof(own->bytes));
        for (size_t c = 0; c < r->n_chips; c++) {
            const struct shmstats_chip *chip = &r->chips[c];
            if (chip->chip_id == r->device_id)
                continue;
            for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
                own->bytes[t] = own->bytes[t] > chip->bytes[t] ? own->bytes[t] - chip->bytes[t] : 0;
            /* a chip that publishes a region of its own is shown from there */
            int has_own_region = 0;
            for (size_t j = 0; j < n; j++)
                if (j != i && regions[j].device_id == chip->chip_id)
                    has_own_region = 1;
            if (has_own_region)
                continue;
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

    free(serial), free(asic), free(node), free(how), free(board), free(claimed);
    *out = rows;
    *nrows = k;
    return 0;
}
