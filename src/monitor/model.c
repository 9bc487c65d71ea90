/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.c - the monitor's data and view state, no curses (see model.h).
 *
 * Devices are kept in one array, ascending id, for as long as the monitor
 * runs, so a device's history survives the server going away and coming
 * back. What is shown is the "visible" list: devices the server or tt-kmd
 * has now that pass the -d filter.
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"

const enum ttalloc_buffer_type model_bar_types[MODEL_NUM_BARS] = {
    TTALLOC_DRAM, TTALLOC_L1, TTALLOC_L1_SMALL, TTALLOC_TRACE, TTALLOC_CB,
};

static const unsigned model_refresh_steps[] = {10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define MODEL_N_REFRESH_STEPS (sizeof(model_refresh_steps) / sizeof(model_refresh_steps[0]))

const char *model_source_name(enum model_source source)
{
    switch (source) {
    case MODEL_SOURCE_SERVER:
        return "server";
    case MODEL_SOURCE_SHM:
        return "shm";
    case MODEL_SOURCE_PIDS:
        return "pids";
    }
    return "?";
}

const char *model_sort_name(enum model_sort sort)
{
    switch (sort) {
    case MODEL_SORT_DRAM:
        return "DRAM";
    case MODEL_SORT_L1:
        return "L1";
    case MODEL_SORT_BUFFERS:
        return "BUFFERS";
    case MODEL_SORT_PID:
        return "PID";
    case MODEL_SORT_NAME:
        return "NAME";
    case MODEL_SORT_COUNT:
        break;
    }
    return "?";
}

double model_percent(uint64_t used, uint64_t total)
{
    if (total == 0)
        return -1.0;
    return (double)used * 100.0 / (double)total;
}

/* The thresholds compare exactly in integers (75 % must be yellow, not a
 * rounding away from it); only absurd totals fall back to floating point. */
enum model_level model_level(uint64_t used, uint64_t total)
{
    if (total == 0)
        return MODEL_LEVEL_UNKNOWN;
    if (used <= UINT64_MAX / 100 && total <= UINT64_MAX / 100) {
        if (used * 100 < total * 75)
            return MODEL_LEVEL_GREEN;
        if (used * 100 < total * 90)
            return MODEL_LEVEL_YELLOW;
        return MODEL_LEVEL_RED;
    }
    double pct = model_percent(used, total);
    if (pct < 75.0)
        return MODEL_LEVEL_GREEN;
    return pct < 90.0 ? MODEL_LEVEL_YELLOW : MODEL_LEVEL_RED;
}

/* ---- history ----------------------------------------------------------- */

void model_history_init(struct model_history *h)
{
    memset(h, 0, sizeof(*h));
    h->newest = -1;
}

void model_history_add(struct model_history *h, int64_t now_ms, uint64_t dram, uint64_t l1)
{
    if (now_ms < 0)
        return;
    int64_t bucket = now_ms / MODEL_HISTORY_PERIOD_MS;
    if (bucket < h->newest)
        return; /* the clock does not go back; ignore if it seems to */
    if (bucket > h->newest) {
        /* Clear the buckets skipped since the newest one: they had no data. */
        int64_t first = h->newest < 0 ? bucket : h->newest + 1;
        if (bucket - first >= MODEL_HISTORY_LEN)
            first = bucket - MODEL_HISTORY_LEN + 1;
        for (int64_t b = first; b <= bucket; b++)
            h->ring[b % MODEL_HISTORY_LEN] = (struct model_sample){0, 0, 0};
        h->newest = bucket;
    }
    struct model_sample *s = &h->ring[bucket % MODEL_HISTORY_LEN];
    if (!s->valid || dram > s->dram)
        s->dram = dram;
    if (!s->valid || l1 > s->l1)
        s->l1 = l1;
    s->valid = 1;
}

struct model_sample model_history_get(const struct model_history *h, int64_t now_ms, int age)
{
    struct model_sample none = {0, 0, 0};
    if (h->newest < 0 || now_ms < 0 || age < 0 || age >= MODEL_HISTORY_LEN)
        return none;
    int64_t bucket = now_ms / MODEL_HISTORY_PERIOD_MS - age;
    if (bucket < 0 || bucket > h->newest || h->newest - bucket >= MODEL_HISTORY_LEN)
        return none;
    return h->ring[bucket % MODEL_HISTORY_LEN];
}

/* ---- lifetime and options ------------------------------------------------ */

void model_init(struct model *m, unsigned refresh_ms)
{
    memset(m, 0, sizeof(*m));
    m->refresh_ms = refresh_ms;
    m->sort = MODEL_SORT_DRAM;
    m->conn = MODEL_CONN_NEVER;
}

void model_free(struct model *m)
{
    free(m->devices);
    free(m->visible);
    free(m->procs_info);
    free(m->usage);
    free(m->procs);
    free(m->found);
    free(m->exits);
    free(m->buffers);
    memset(m, 0, sizeof(*m));
}

int model_add_filter(struct model *m, uint32_t id)
{
    for (size_t i = 0; i < m->n_filter; i++)
        if (m->filter[i] == id)
            return 0;
    if (m->n_filter >= MODEL_MAX_FILTER)
        return -EINVAL;
    m->filter[m->n_filter++] = id;
    return 0;
}

int model_filter_allows(const struct model *m, uint32_t id)
{
    if (m->n_filter == 0)
        return 1;
    for (size_t i = 0; i < m->n_filter; i++)
        if (m->filter[i] == id)
            return 1;
    return 0;
}

/* ---- devices ------------------------------------------------------------- */

/* The device with `id`, added (in id order) if new; NULL on -ENOMEM. */
static struct model_device *model_device_get(struct model *m, uint32_t id)
{
    size_t pos = 0;
    while (pos < m->n_devices && m->devices[pos].id < id)
        pos++;
    if (pos < m->n_devices && m->devices[pos].id == id)
        return &m->devices[pos];
    struct model_device *grown = realloc(m->devices, (m->n_devices + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    m->devices = grown;
    memmove(&m->devices[pos + 1], &m->devices[pos], (m->n_devices - pos) * sizeof(*grown));
    m->n_devices++;
    struct model_device *d = &m->devices[pos];
    memset(d, 0, sizeof(*d));
    d->id = id;
    d->stats.device = id;
    model_history_init(&d->history);
    return d;
}

/* No figures: nothing used, no peak, totals unknown (until the board table
 * or a snapshot fills them in). */
static void model_device_clear_stats(struct model_device *d)
{
    memset(&d->stats, 0, sizeof(d->stats));
    d->stats.device = d->id;
}

/* Totals and board for a device the server does not report: the board table. */
static void model_device_fill_from_sysfs(struct model_device *d)
{
    if (d->in_snapshot || !d->in_sysfs)
        return;
    snprintf(d->board, sizeof(d->board), "%s", d->sysfs.card_type);
    boards_capacity(d->sysfs.card_type, d->stats.total); /* all 0 when unknown */
}

/* Recompute the visible list, keeping the selected device (by id) selected. */
static int model_update_visible(struct model *m)
{
    size_t *vis = realloc(m->visible, (m->n_devices ? m->n_devices : 1) * sizeof(*vis));
    if (!vis)
        return -ENOMEM;
    m->visible = vis;
    m->n_visible = 0;
    for (size_t i = 0; i < m->n_devices; i++) {
        const struct model_device *d = &m->devices[i];
        if ((d->in_snapshot || d->in_sysfs) && model_filter_allows(m, d->id))
            m->visible[m->n_visible++] = i;
    }
    /* Same device if still shown, else the nearest one before it. */
    m->selected = 0;
    for (size_t v = 0; v < m->n_visible; v++)
        if (m->devices[m->visible[v]].id <= m->selected_id)
            m->selected = v;
    if (m->n_visible)
        m->selected_id = m->devices[m->visible[m->selected]].id;
    return 0;
}

const struct model_device *model_visible_device(const struct model *m, size_t i)
{
    if (i >= m->n_visible)
        return NULL;
    return &m->devices[m->visible[i]];
}

const struct model_device *model_selected_device(const struct model *m)
{
    return model_visible_device(m, m->selected);
}

int model_set_sysfs(struct model *m, struct sysfs_device *devs, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < m->n_devices; i++)
        m->devices[i].in_sysfs = 0;
    for (size_t i = 0; i < n; i++) {
        if (devs[i].index < 0)
            continue;
        struct model_device *d = model_device_get(m, (uint32_t)devs[i].index);
        if (!d) {
            rc = -ENOMEM;
            break;
        }
        d->sysfs = devs[i];
        d->in_sysfs = 1;
        model_device_fill_from_sysfs(d);
    }
    free(devs);
    int vrc = model_update_visible(m);
    if (rc == 0)
        rc = vrc;
    if (rc == 0)
        rc = model_rebuild_procs(m);
    return rc;
}

/* ---- snapshots ----------------------------------------------------------- */

static void *model_dup(const void *src, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memcpy(p, src, n * size);
    return p;
}

int model_apply_snapshot(struct model *m, const struct ttalloc_snapshot *snap, int64_t now_ms)
{
    if (m->paused)
        return 0;
    struct ttalloc_process_info *info =
        model_dup(snap->processes, snap->n_processes, sizeof(*info));
    struct ttalloc_usage *usage = model_dup(snap->usage, snap->n_usage, sizeof(*usage));
    if ((snap->n_processes && !info) || (snap->n_usage && !usage)) {
        free(info);
        free(usage);
        return -ENOMEM;
    }
    free(m->procs_info);
    free(m->usage);
    free(m->found); /* a server answers: its figures replace what was found */
    m->found = NULL;
    m->n_found = 0;
    m->found_shm = 0;
    m->procs_info = info;
    m->n_procs_info = snap->n_processes;
    m->usage = usage;
    m->n_usage = snap->n_usage;
    m->conn = MODEL_CONN_UP; /* a snapshot: a server answers */
    m->seq = snap->seq;
    m->timestamp_ns = snap->timestamp_ns;
    m->leaked_exits_total = snap->leaked_exits_total;

    for (size_t i = 0; i < m->n_devices; i++) {
        m->devices[i].in_snapshot = 0;
        m->devices[i].used_known = 0;
    }
    int rc = 0;
    for (size_t i = 0; i < snap->n_devices; i++) {
        const struct ttalloc_device_stats *s = &snap->devices[i];
        struct model_device *d = model_device_get(m, s->device);
        if (!d) {
            rc = -ENOMEM;
            break;
        }
        d->in_snapshot = 1;
        d->used_known = 1;
        d->stats = *s;
        memcpy(d->board, s->board_type, sizeof(s->board_type));
        d->board[sizeof(s->board_type) - 1] = '\0';
        if (d->board[0] == '\0' && d->in_sysfs)
            snprintf(d->board, sizeof(d->board), "%s", d->sysfs.card_type);
    }
    /* Devices only tt-kmd knows: nothing allocated that the server saw. */
    for (size_t i = 0; i < m->n_devices; i++) {
        struct model_device *d = &m->devices[i];
        if (!d->in_snapshot) {
            model_device_clear_stats(d);
            d->used_known = d->in_sysfs; /* the server is up: no one uses it */
            model_device_fill_from_sysfs(d);
        }
        if (d->used_known)
            model_history_add(&d->history, now_ms, d->stats.used[TTALLOC_DRAM],
                              d->stats.used[TTALLOC_L1]);
    }
    if (rc == 0)
        rc = model_update_visible(m);
    if (rc == 0)
        rc = model_rebuild_procs(m);
    return rc;
}

void model_server_lost(struct model *m)
{
    m->conn = m->conn == MODEL_CONN_NEVER ? MODEL_CONN_NEVER : MODEL_CONN_LOST;
    for (size_t i = 0; i < m->n_devices; i++) {
        struct model_device *d = &m->devices[i];
        d->in_snapshot = 0;
        d->used_known = 0;
        model_device_clear_stats(d);
        model_device_fill_from_sysfs(d);
    }
    free(m->procs_info);
    free(m->usage);
    m->procs_info = NULL;
    m->usage = NULL;
    m->n_procs_info = 0;
    m->n_usage = 0;
    model_set_buffers(m, 0, NULL, 0);
    model_update_visible(m); /* only shrinks: cannot fail for lack of memory */
    model_rebuild_procs(m);
}

int model_set_found(struct model *m, struct model_found *procs, size_t n_procs,
                    struct model_found_device *devs, size_t n_devs)
{
    if (m->paused || m->conn == MODEL_CONN_UP) {
        free(procs);
        free(devs);
        return 0;
    }
    /* A process both in a pids file and in SHM is one row, with figures. */
    size_t kept = 0;
    for (size_t i = 0; procs && i < n_procs; i++) {
        int dup = 0;
        if (procs[i].source == MODEL_SOURCE_PIDS)
            for (size_t k = 0; k < n_procs && !dup; k++)
                dup = procs[k].source == MODEL_SOURCE_SHM && procs[k].pid == procs[i].pid &&
                      procs[k].device == procs[i].device;
        if (!dup)
            procs[kept++] = procs[i];
    }
    free(m->found);
    m->found = procs;
    m->n_found = kept;
    m->found_shm = devs != NULL;
    for (size_t i = 0; i < m->n_devices; i++) {
        struct model_device *d = &m->devices[i];
        if (d->in_snapshot)
            continue;
        memset(d->stats.used, 0, sizeof(d->stats.used));
        d->used_known = 0;
        for (size_t k = 0; devs && k < n_devs; k++) {
            if (devs[k].device == d->id) {
                memcpy(d->stats.used, devs[k].used, sizeof(d->stats.used));
                d->used_known = 1;
            }
        }
    }
    free(devs);
    return model_rebuild_procs(m);
}

void model_set_exits(struct model *m, struct ttalloc_exit *exits, size_t n)
{
    free(m->exits);
    m->exits = exits;
    m->n_exits = exits ? n : 0;
}

void model_set_buffers(struct model *m, int32_t pid, struct ttalloc_buffer *buffers, size_t n)
{
    free(m->buffers);
    m->buffers = buffers;
    m->n_buffers = buffers ? n : 0;
    m->buffers_pid = pid;
}

/* ---- processes ----------------------------------------------------------- */

static int model_info_cmp_pid(const void *key, const void *elem)
{
    int32_t pid = *(const int32_t *)key;
    int32_t other = ((const struct ttalloc_process_info *)elem)->pid;
    return pid < other ? -1 : pid > other ? 1 : 0;
}

const struct ttalloc_process_info *model_find_process(const struct model *m, int32_t pid)
{
    /* procs_info is ascending by pid (the snapshot's order). */
    if (m->n_procs_info == 0)
        return NULL;
    return bsearch(&pid, m->procs_info, m->n_procs_info, sizeof(*m->procs_info),
                   model_info_cmp_pid);
}

static int model_cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

/* qsort has no context argument in C11: the sort key travels in a static. */
static enum model_sort model_sort_key;

static int model_proc_cmp(const void *pa, const void *pb)
{
    const struct model_proc *a = pa, *b = pb;
    int c = 0;
    switch (model_sort_key) {
    case MODEL_SORT_DRAM:
        c = model_cmp_u64_desc(a->bytes[TTALLOC_DRAM], b->bytes[TTALLOC_DRAM]);
        break;
    case MODEL_SORT_L1:
        c = model_cmp_u64_desc(a->bytes[TTALLOC_L1], b->bytes[TTALLOC_L1]);
        break;
    case MODEL_SORT_BUFFERS:
        c = model_cmp_u64_desc(a->buffers, b->buffers);
        break;
    case MODEL_SORT_NAME:
        c = strcmp(a->name, b->name);
        break;
    case MODEL_SORT_PID:
    case MODEL_SORT_COUNT:
        break;
    }
    if (c == 0)
        c = a->pid < b->pid ? -1 : a->pid > b->pid ? 1 : 0;
    return c;
}

int model_proc_matches(const struct model_proc *p, const char *filter)
{
    char pid[16];
    if (filter == NULL || filter[0] == '\0')
        return 1;
    snprintf(pid, sizeof(pid), "%d", p->pid);
    return strcasestr(p->name, filter) != NULL || strcasestr(p->label, filter) != NULL ||
           strstr(pid, filter) != NULL;
}

/* The server's row of usage u. */
static void model_proc_from_usage(const struct model *m, const struct ttalloc_usage *u,
                                  struct model_proc *row)
{
    row->pid = u->pid;
    row->source = MODEL_SOURCE_SERVER;
    row->bytes_known = 1;
    memcpy(row->bytes, u->bytes, sizeof(row->bytes));
    row->buffers = u->buffers;
    const struct ttalloc_process_info *p = model_find_process(m, u->pid);
    if (p) {
        row->uid = p->uid;
        row->uid_known = 1;
        row->connected = (p->flags & TTALLOC_PROCESS_CONNECTED) != 0;
        if (p->flags & TTALLOC_PROCESS_SHM)
            row->source = MODEL_SOURCE_SHM;
        memcpy(row->name, p->name, sizeof(row->name));
        row->name[sizeof(row->name) - 1] = '\0';
        memcpy(row->label, p->label, sizeof(row->label));
        row->label[sizeof(row->label) - 1] = '\0';
    }
}

/* A row found without a server. */
static void model_proc_from_found(const struct model_found *f, struct model_proc *row)
{
    row->pid = f->pid;
    row->uid = f->uid;
    row->uid_known = f->uid_known;
    row->source = f->source;
    row->bytes_known = f->source == MODEL_SOURCE_SHM;
    memcpy(row->bytes, f->bytes, sizeof(row->bytes));
    memcpy(row->name, f->name, sizeof(row->name));
    row->name[sizeof(row->name) - 1] = '\0';
}

int model_collect_procs(const struct model *m, uint32_t device, enum model_sort sort,
                        struct model_proc **out, size_t *n_out)
{
    int from_server = m->conn == MODEL_CONN_UP;
    size_t avail = from_server ? m->n_usage : m->n_found;
    *out = NULL;
    *n_out = 0;
    if (avail == 0)
        return 0;
    struct model_proc *rows = calloc(avail, sizeof(*rows));
    if (!rows)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < avail; i++) {
        struct model_proc *row = &rows[n];
        memset(row, 0, sizeof(*row));
        if (from_server) {
            if (m->usage[i].device != device)
                continue;
            model_proc_from_usage(m, &m->usage[i], row);
        } else {
            if (m->found[i].device != device)
                continue;
            model_proc_from_found(&m->found[i], row);
        }
        if (model_proc_matches(row, m->filter_text))
            n++;
    }
    if (n == 0) {
        free(rows);
        return 0;
    }
    model_sort_key = sort;
    qsort(rows, n, sizeof(*rows), model_proc_cmp);
    if (m->reverse) {
        for (size_t i = 0; i < n / 2; i++) {
            struct model_proc tmp = rows[i];
            rows[i] = rows[n - 1 - i];
            rows[n - 1 - i] = tmp;
        }
    }
    *out = rows;
    *n_out = n;
    return 0;
}

int model_rebuild_procs(struct model *m)
{
    const struct model_device *dev = model_selected_device(m);
    struct model_proc *rows = NULL;
    size_t n = 0;
    if (dev) {
        int rc = model_collect_procs(m, dev->id, m->sort, &rows, &n);
        if (rc < 0)
            return rc;
    }
    free(m->procs);
    m->procs = rows;
    m->n_procs = n;
    if (n > 0 && model_selected_proc_index(m) < 0)
        m->selected_pid = rows[0].pid;
    return 0;
}

long model_selected_proc_index(const struct model *m)
{
    for (size_t i = 0; i < m->n_procs; i++)
        if (m->procs[i].pid == m->selected_pid)
            return (long)i;
    return -1;
}

/* ---- keys ---------------------------------------------------------------- */

void model_select_device(struct model *m, int delta)
{
    if (m->n_visible == 0)
        return;
    long next = (long)m->selected + delta;
    if (next < 0)
        next = 0;
    if (next >= (long)m->n_visible)
        next = (long)m->n_visible - 1;
    if ((size_t)next == m->selected)
        return;
    m->selected = (size_t)next;
    m->selected_id = model_selected_device(m)->id;
    m->selected_pid = 0;
    model_set_buffers(m, 0, NULL, 0);
    model_rebuild_procs(m);
}

void model_select_proc(struct model *m, int delta)
{
    if (m->n_procs == 0)
        return;
    long cur = model_selected_proc_index(m);
    long next = (cur < 0 ? 0 : cur) + delta;
    if (next < 0)
        next = 0;
    if (next >= (long)m->n_procs)
        next = (long)m->n_procs - 1;
    m->selected_pid = m->procs[next].pid;
}

void model_next_sort(struct model *m)
{
    m->sort = (enum model_sort)((m->sort + 1) % MODEL_SORT_COUNT);
    model_rebuild_procs(m);
}

void model_toggle_reverse(struct model *m)
{
    m->reverse = !m->reverse;
    model_rebuild_procs(m);
}

void model_set_filter(struct model *m, const char *text)
{
    snprintf(m->filter_text, sizeof(m->filter_text), "%s", text ? text : "");
    model_rebuild_procs(m);
}

unsigned model_step_refresh(struct model *m, int delta)
{
    size_t i = 0;
    if (delta < 0) {
        /* The fastest step faster than now, if any. */
        size_t found = MODEL_N_REFRESH_STEPS;
        for (i = 0; i < MODEL_N_REFRESH_STEPS; i++)
            if (model_refresh_steps[i] < m->refresh_ms)
                found = i;
        if (found < MODEL_N_REFRESH_STEPS)
            m->refresh_ms = model_refresh_steps[found];
    } else if (delta > 0) {
        for (i = 0; i < MODEL_N_REFRESH_STEPS; i++) {
            if (model_refresh_steps[i] > m->refresh_ms) {
                m->refresh_ms = model_refresh_steps[i];
                break;
            }
        }
    }
    return m->refresh_ms;
}
