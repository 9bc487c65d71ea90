/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_metrics.c - the Prometheus page (src/server/metrics.c), rendered from
 * a snapshot's merged records (what sources_snapshot builds): label escaping
 * and UTF-8 repair, top-N processes with the rest summed as pid="other",
 * SHM-only processes shown like the others, unknown values left out, sparse
 * device ids, a HELP and TYPE line per family, and the --metrics address
 * parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "exits_store.h"
#include "metrics.h"
#include "sysfs.h"
#include "ttalloc.h"

#define VIEW_MAX 16

/* A merged view as sources_snapshot hands it over: devices, processes and
 * their usage, each array in its documented order once view_input is called. */
struct view {
    struct ttalloc_device_stats devices[VIEW_MAX];
    size_t n_devices;
    struct ttalloc_process_info processes[VIEW_MAX];
    size_t n_processes;
    struct ttalloc_usage usage[VIEW_MAX];
    size_t n_usage;
};

static struct ttalloc_device_stats *view_device(struct view *v, uint32_t device)
{
    for (size_t i = 0; i < v->n_devices; i++) {
        if (v->devices[i].device == device)
            return &v->devices[i];
    }
    assert_true(v->n_devices < VIEW_MAX);
    struct ttalloc_device_stats *d = &v->devices[v->n_devices++];
    memset(d, 0, sizeof(*d));
    d->device = device;
    return d;
}

static struct ttalloc_process_info *view_process(struct view *v, int32_t pid, const char *name,
                                                 uint32_t flags)
{
    for (size_t i = 0; i < v->n_processes; i++) {
        if (v->processes[i].pid == pid)
            return &v->processes[i];
    }
    assert_true(v->n_processes < VIEW_MAX);
    struct ttalloc_process_info *p = &v->processes[v->n_processes++];
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->flags = flags;
    snprintf(p->name, sizeof(p->name), "%s", name);
    return p;
}

/* `pid` holds `bytes` more of `type` on `device`, in one more buffer unless
 * it is an SHM-only process (those have no buffers). */
static void view_use(struct view *v, int32_t pid, const char *name, uint32_t flags, uint32_t device,
                     enum ttalloc_buffer_type type, uint64_t bytes)
{
    uint64_t buffers = (flags & TTALLOC_PROCESS_SHM) ? 0 : 1;
    struct ttalloc_process_info *p = view_process(v, pid, name, flags);
    p->bytes += bytes;
    p->peak_bytes = p->bytes;
    p->buffers += buffers;
    struct ttalloc_device_stats *d = view_device(v, device);
    d->used[type] += bytes;
    if (d->peak[type] < d->used[type])
        d->peak[type] = d->used[type];
    d->buffers += buffers;
    struct ttalloc_usage *u = NULL;
    for (size_t i = 0; i < v->n_usage && u == NULL; i++) {
        if (v->usage[i].pid == pid && v->usage[i].device == device)
            u = &v->usage[i];
    }
    if (u == NULL) {
        assert_true(v->n_usage < VIEW_MAX);
        u = &v->usage[v->n_usage++];
        memset(u, 0, sizeof(*u));
        u->pid = pid;
        u->device = device;
        d->processes++;
    }
    u->bytes[type] += bytes;
    u->peak[type] = u->bytes[type];
    u->buffers += buffers;
}

static int cmp_device(const void *x, const void *y)
{
    const struct ttalloc_device_stats *a = x, *b = y;
    return a->device < b->device ? -1 : a->device > b->device;
}

static int cmp_process(const void *x, const void *y)
{
    const struct ttalloc_process_info *a = x, *b = y;
    return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int cmp_usage(const void *x, const void *y)
{
    const struct ttalloc_usage *a = x, *b = y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return a->device < b->device ? -1 : a->device > b->device;
}

/* The view, sorted as sources_snapshot sorts it, as a page's input. */
static struct metrics_input view_input(struct view *v, unsigned top)
{
    qsort(v->devices, v->n_devices, sizeof(v->devices[0]), cmp_device);
    qsort(v->processes, v->n_processes, sizeof(v->processes[0]), cmp_process);
    qsort(v->usage, v->n_usage, sizeof(v->usage[0]), cmp_usage);
    struct metrics_input in = {
        .devices = v->devices,
        .n_devices = v->n_devices,
        .processes = v->processes,
        .n_processes = v->n_processes,
        .usage = v->usage,
        .n_usage = v->n_usage,
        .top = top,
    };
    return in;
}

/* The page rendered from in, as a NUL-terminated string the caller frees. */
static char *render(const struct metrics_input *in)
{
    struct strbuf b;
    strbuf_init(&b);
    assert_int_equal(metrics_render(in, &b), 0);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len);
    return b.data;
}

/* The value of the sample whose line starts with `series ` (name and labels
 * exactly), or -1 when there is no such line. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = page; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static size_t count(const char *page, const char *needle)
{
    size_t c = 0;
    for (const char *at = strstr(page, needle); at != NULL; at = strstr(at + 1, needle))
        c++;
    return c;
}

static void label(const char *in, const char *want)
{
    struct strbuf b;
    strbuf_init(&b);
    metrics_buf_label(&b, in);
    assert_int_equal(b.failed, 0);
    assert_string_equal(b.data != NULL ? b.data : "", want);
    strbuf_release(&b);
}

static void test_label_escaping(void **state)
{
    (void)state;
    label("python3", "python3");
    label("a\\b\"c\nd", "a\\\\b\\\"c\\nd");
    label("caf\xc3\xa9", "caf\xc3\xa9");                           /* valid UTF-8 stays */
    label("x\xffy", "x\xef\xbf\xbdy");                             /* a stray byte */
    label("\xc3", "\xef\xbf\xbd");                                 /* a cut sequence */
    label("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong */
    label("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */
    label("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");                 /* 4 bytes */
    label("", "");
}

#define LIBTTALLOC TTALLOC_PROCESS_CONNECTED

static void test_top_n_and_other(void **state)
{
    (void)state;
    struct view v;
    memset(&v, 0, sizeof(v));
    view_use(&v, 300, "big", LIBTTALLOC, 0, TTALLOC_DRAM, 1000000);
    view_use(&v, 100, "we\"ird\\", LIBTTALLOC, 0, TTALLOC_DRAM, 5000);
    view_use(&v, 100, "we\"ird\\", LIBTTALLOC, 1, TTALLOC_L1, 7);
    view_use(&v, 200, "small", LIBTTALLOC, 0, TTALLOC_DRAM, 300);
    view_use(&v, 200, "small", LIBTTALLOC, 0, TTALLOC_CB, 11);
    view_use(&v, 50, "tiny", LIBTTALLOC, 0, TTALLOC_DRAM, 20);
    view_use(&v, 50, "tiny", LIBTTALLOC, 1, TTALLOC_TRACE, 2);

    struct metrics_input in = view_input(&v, 2);
    in.clients = 3;
    in.events_total = 7;
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"300\",comm=\"big\",label=\"\"}") == 1000000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"100\",comm=\"we\\\"ird\\\\\",label=\"\"}") == 5000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"l1\","
                             "pid=\"100\",comm=\"we\\\"ird\\\\\",label=\"\"}") == 7);
    /* the two smaller ones only as "other", per device and type */
    assert_int_equal(count(page, "pid=\"200\""), 0);
    assert_int_equal(count(page, "pid=\"50\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 320);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"cb\","
                             "pid=\"other\",comm=\"other\"}") == 11);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"trace\","
                             "pid=\"other\",comm=\"other\"}") == 2);
    /* one "other" series per (device, type): 2 devices x 5 types */
    assert_int_equal(count(page, ",pid=\"other\""), 10);
    /* device figures come from the device records */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"0\",type=\"dram\"}") ==
                1005320);
    assert_true(sample(page, "ttalloc_device_memory_peak_bytes{device=\"1\",type=\"l1\"}") == 7);
    assert_true(sample(page, "ttalloc_clients") == 3);
    assert_true(sample(page, "ttalloc_events_total") == 7);
    assert_true(sample(page, "ttalloc_processes") == 4);
    assert_true(sample(page, "ttalloc_buffers") == 7);
    free(page);

    /* top large enough: no "other" at all */
    in.top = 20;
    page = render(&in);
    assert_int_equal(count(page, ",pid=\"other\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"trace\","
                             "pid=\"50\",comm=\"tiny\",label=\"\"}") == 2);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"cb\","
                             "pid=\"200\",comm=\"small\",label=\"\"}") == 11);
    free(page);

    /* top 0: everything is "other" */
    in.top = 0;
    page = render(&in);
    assert_int_equal(count(page, "pid=\"300\""), 0);
    assert_int_equal(count(page, "comm=\"big\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 1005320);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"l1\","
                             "pid=\"other\",comm=\"other\"}") == 7);
    free(page);
}

static void test_shm_only_processes(void **state)
{
    (void)state;
    struct view v;
    memset(&v, 0, sizeof(v));
    /* as sources_snapshot merges them: a libttalloc client, two processes only
     * TT-Metal's SHM statistics report (named by their region, one name with
     * a byte that is not UTF-8), and a remote chip of an n300 without a node */
    view_use(&v, 4000, "client", LIBTTALLOC, 0, TTALLOC_DRAM, 1000);
    view_use(&v, 4000, "client", LIBTTALLOC, 0, TTALLOC_L1, 10);
    view_use(&v, 77, "model\xff", TTALLOC_PROCESS_SHM, 0, TTALLOC_DRAM, 50000);
    view_use(&v, 77, "model\xff", TTALLOC_PROCESS_SHM, 0, TTALLOC_CB, 640);
    view_use(&v, 9000, "worker", TTALLOC_PROCESS_SHM, 0, TTALLOC_DRAM, 30);
    view_use(&v, 9000, "worker", TTALLOC_PROCESS_SHM, 0, TTALLOC_L1_SMALL, 4);
    struct ttalloc_device_stats *remote = view_device(&v, 7);
    remote->flags = TTALLOC_DEVICE_REMOTE;
    remote->used[TTALLOC_DRAM] = remote->peak[TTALLOC_DRAM] = 8192;
    snprintf(remote->board_type, sizeof(remote->board_type), "n300");
    remote->total[TTALLOC_DRAM] = 12884901888ull; /* filled in by sources.c */

    struct metrics_input in = view_input(&v, 20);
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"77\",comm=\"model\xef\xbf\xbd\",label=\"\"}") == 50000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"cb\","
                             "pid=\"77\",comm=\"model\xef\xbf\xbd\",label=\"\"}") == 640);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"l1\","
                             "pid=\"77\",comm=\"model\xef\xbf\xbd\",label=\"\"}") == 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"l1_small\","
                             "pid=\"9000\",comm=\"worker\",label=\"\"}") == 4);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"4000\",comm=\"client\",label=\"\"}") == 1000);
    /* the device's figures include the SHM-only processes */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"0\",type=\"dram\"}") ==
                51030);
    assert_true(sample(page, "ttalloc_device_memory_peak_bytes{device=\"0\",type=\"cb\"}") == 640);
    /* the remote chip is a device of its own, identified by its board */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"7\",type=\"dram\"}") ==
                8192);
    assert_true(sample(page, "ttalloc_device_info{device=\"7\",arch=\"wormhole\","
                             "board_type=\"n300\",bus_id=\"\",serial=\"\"}") == 1);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"7\",type=\"dram\"}") ==
                12884901888.0);
    /* every process counts; only libttalloc's have buffers */
    assert_true(sample(page, "ttalloc_processes") == 3);
    assert_true(sample(page, "ttalloc_buffers") == 2);
    free(page);

    /* top-N ranks them all together, by bytes: 77, then 4000; 9000 is "other" */
    in.top = 2;
    page = render(&in);
    assert_int_equal(count(page, "pid=\"9000\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"l1\","
                             "pid=\"4000\",comm=\"client\",label=\"\"}") == 10);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 30);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"l1_small\","
                             "pid=\"other\",comm=\"other\"}") == 4);
    in.top = 1;
    free(page);
    page = render(&in);
    assert_int_equal(count(page, "pid=\"4000\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"77\",comm=\"model\xef\xbf\xbd\",label=\"\"}") == 50000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 1030);
    free(page);
}

static struct sysfs_device unknown_device(int index)
{
    struct sysfs_device d;
    memset(&d, 0, sizeof(d));
    d.index = index;
    d.pci_vendor = d.pci_device = d.aiclk_mhz = d.axiclk_mhz = d.arcclk_mhz = SYSFS_UNKNOWN;
    d.heartbeat = d.therm_trip_count = d.temp_mc = d.temp_max_mc = SYSFS_UNKNOWN;
    d.vcore_mv = d.vcore_max_mv = d.current_ma = d.current_max_ma = SYSFS_UNKNOWN;
    d.power_uw = d.power_max_uw = d.fan_rpm = SYSFS_UNKNOWN;
    return d;
}

static void test_unknown_values_omitted(void **state)
{
    (void)state;
    struct sysfs_device devs[3];
    devs[0] = unknown_device(0); /* knows nothing */
    devs[1] = unknown_device(4); /* sparse ordinal, knows a lot */
    snprintf(devs[1].card_type, sizeof(devs[1].card_type), "n150");
    snprintf(devs[1].arch, sizeof(devs[1].arch), "wormhole");
    snprintf(devs[1].bus_id, sizeof(devs[1].bus_id), "0000:04:00.0");
    snprintf(devs[1].serial, sizeof(devs[1].serial), "0123456789ABCDEF");
    devs[1].temp_mc = 46500;
    devs[1].power_uw = 23250000;
    devs[1].aiclk_mhz = 1000;
    devs[2] = unknown_device(9); /* telemetry of a device the view lacks */
    devs[2].temp_mc = 99000;

    /* the view has a row for each sysfs device (with nothing allocated) */
    struct view v;
    memset(&v, 0, sizeof(v));
    view_device(&v, 4)->flags = TTALLOC_DEVICE_SYSFS;
    view_device(&v, 0)->flags = TTALLOC_DEVICE_SYSFS;
    /* the merged view (sources.c) holds the n150's capacities from the board table */
    view_device(&v, 4)->total[TTALLOC_DRAM] = 12884901888ull;
    view_device(&v, 4)->total[TTALLOC_L1] = 72ull * 1499136;
    struct metrics_input in = view_input(&v, 20);
    in.devs = devs;
    in.n_devs = 3;
    char *page = render(&in);
    /* device 0: used known (0: nothing tracked), total, telemetry unknown: absent */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"0\",type=\"dram\"}") == 0);
    assert_int_equal(count(page, "ttalloc_device_memory_total_bytes{device=\"0\""), 0);
    assert_int_equal(count(page, "ttalloc_device_temperature_celsius{device=\"0\"}"), 0);
    assert_int_equal(count(page, "ttalloc_device_power_watts{device=\"0\"}"), 0);
    assert_int_equal(count(page, "ttalloc_device_aiclk_hertz{device=\"0\"}"), 0);
    assert_true(sample(page, "ttalloc_device_info{device=\"0\",arch=\"\",board_type=\"\","
                             "bus_id=\"\",serial=\"\"}") == 1);
    /* device 4: the view's capacities (DRAM, L1 only, cb unknown), telemetry in base units */
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"dram\"}") ==
                12884901888.0);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"l1\"}") ==
                72.0 * 1499136.0);
    assert_int_equal(count(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"cb\"}"), 0);
    assert_true(sample(page, "ttalloc_device_temperature_celsius{device=\"4\"}") == 46.5);
    assert_true(sample(page, "ttalloc_device_power_watts{device=\"4\"}") == 23.25);
    assert_true(sample(page, "ttalloc_device_aiclk_hertz{device=\"4\"}") == 1e9);
    assert_true(sample(page, "ttalloc_device_info{device=\"4\",arch=\"wormhole\","
                             "board_type=\"n150\",bus_id=\"0000:04:00.0\","
                             "serial=\"0123456789ABCDEF\"}") == 1);
    assert_int_equal(count(page, "ttalloc_device_power_limit_watts{"), 0);
    /* the page's devices are the view's: sysfs only adds telemetry */
    assert_int_equal(count(page, "device=\"9\""), 0);
    free(page);

    /* totals are printed as the view holds them (an app's description already merged);
     * a device only an app names shows too */
    struct ttalloc_device_stats *d4 = view_device(&v, 4);
    d4->flags |= TTALLOC_DEVICE_DESCRIBED;
    d4->total[TTALLOC_DRAM] = 1000;
    d4->total[TTALLOC_CB] = 77;
    d4->board_serial = 0xABCull;
    struct ttalloc_device_stats *d2 = view_device(&v, 2);
    d2->flags = TTALLOC_DEVICE_DESCRIBED;
    d2->total[TTALLOC_DRAM] = 1000;
    d2->total[TTALLOC_CB] = 77;
    d2->board_serial = 0xABCull;
    in = view_input(&v, 20);
    in.devs = devs;
    in.n_devs = 3;
    page = render(&in);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"dram\"}") ==
                1000);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"l1\"}") ==
                72.0 * 1499136.0);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"cb\"}") == 77);
    /* sysfs's serial string wins over the described number */
    assert_true(sample(page, "ttalloc_device_info{device=\"4\",arch=\"wormhole\","
                             "board_type=\"n150\",bus_id=\"0000:04:00.0\","
                             "serial=\"0123456789ABCDEF\"}") == 1);
    assert_true(sample(page, "ttalloc_device_info{device=\"2\",arch=\"\",board_type=\"\","
                             "bus_id=\"\",serial=\"0000000000000ABC\"}") == 1);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"2\",type=\"cb\"}") == 77);
    assert_int_equal(count(page, "ttalloc_device_memory_total_bytes{device=\"2\",type=\"l1\"}"), 0);
    /* devices in ascending order: 0, 2, 4 */
    const char *d0s = strstr(page, "ttalloc_device_memory_used_bytes{device=\"0\"");
    const char *d2s = strstr(page, "ttalloc_device_memory_used_bytes{device=\"2\"");
    const char *d4s = strstr(page, "ttalloc_device_memory_used_bytes{device=\"4\"");
    assert_true(d0s != NULL && d2s != NULL && d4s != NULL && d0s < d2s && d2s < d4s);
    free(page);
}

static void test_every_family_has_help_and_type(void **state)
{
    (void)state;
    uint64_t disconnects[METRICS_NUM_REASONS] = {0};
    disconnects[METRICS_REASON_SLOW] = 4;
    struct sysfs_device devs[1];
    devs[0] = unknown_device(0);
    snprintf(devs[0].card_type, sizeof(devs[0].card_type), "p150a");
    devs[0].temp_mc = 50000;
    devs[0].power_uw = 1000000;
    devs[0].power_max_uw = 2000000;
    devs[0].aiclk_mhz = 800;
    struct view v;
    memset(&v, 0, sizeof(v));
    view_use(&v, 10, "a", LIBTTALLOC, 0, TTALLOC_DRAM, 100);
    view_use(&v, 11, "b", TTALLOC_PROCESS_SHM, 0, TTALLOC_DRAM, 50);
    view_device(&v, 0)->total[TTALLOC_DRAM] = 8ull * 4278190080ull;
    struct metrics_input in = view_input(&v, 1); /* with an "other" series too */
    in.devs = devs;
    in.n_devs = 1;
    in.disconnects = disconnects;
    in.exits_total = 5;
    in.leaked_exits_total = 2;
    struct exits_uid_total leaked = {.uid = 1000, .bytes = {[TTALLOC_DRAM] = 4096}};
    in.leaked = &leaked;
    in.n_leaked = 1;
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_client_disconnects_total{reason=\"slow\"}") == 4);
    assert_true(sample(page, "ttalloc_client_disconnects_total{reason=\"eof\"}") == 0);
    assert_true(sample(page, "ttalloc_process_exits_total{leaked=\"true\"}") == 2);
    assert_true(sample(page, "ttalloc_process_exits_total{leaked=\"false\"}") == 3);
    /* a libttalloc process has its exact peak; an SHM-only one has none */
    assert_true(sample(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"dram\","
                             "pid=\"10\",comm=\"a\",label=\"\"}") == 100);
    assert_int_equal(count(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"dram\","
                                 "pid=\"11\""),
                     0);
    assert_int_equal(count(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"dram\","
                                 "pid=\"other\""),
                     0);
    /* each sample's family was announced by HELP and TYPE before it, once */
    static const char *const families[] = {
        "ttalloc_device_memory_used_bytes",
        "ttalloc_device_memory_total_bytes",
        "ttalloc_device_memory_peak_bytes",
        "ttalloc_device_info",
        "ttalloc_device_temperature_celsius",
        "ttalloc_device_power_watts",
        "ttalloc_device_power_limit_watts",
        "ttalloc_device_aiclk_hertz",
        "ttalloc_process_memory_used_bytes",
        "ttalloc_process_memory_peak_bytes",
        "ttalloc_clients",
        "ttalloc_processes",
        "ttalloc_buffers",
        "ttalloc_events_total",
        "ttalloc_process_exits_total",
        "ttalloc_leaked_bytes_total",
        "ttalloc_client_disconnects_total",
        "ttalloc_build_info",
    };
    size_t helps = count(page, "# HELP "), types = count(page, "# TYPE ");
    assert_int_equal(helps, types);
    assert_int_equal(helps, sizeof(families) / sizeof(families[0]));
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        char want[128];
        snprintf(want, sizeof(want), "\n%s{", families[f]);
        char bare[128];
        snprintf(bare, sizeof(bare), "\n%s ", families[f]);
        if (count(page, want) + count(page, bare) == 0)
            fail_msg("no sample of %s", families[f]);
        snprintf(want, sizeof(want), "# TYPE %s ", families[f]);
        assert_int_equal(count(page, want), 1);
    }
    for (const char *line = page; *line != '\0'; line = strchr(line, '\n') + 1) {
        if (line[0] == '#')
            continue;
        size_t n = strcspn(line, "{ ");
        char want[128];
        assert_true(n < 100);
        snprintf(want, sizeof(want), "# TYPE %.*s ", (int)n, line);
        const char *decl = strstr(page, want);
        assert_non_null(decl);
        assert_true(decl < line);
    }
    free(page);

    /* an empty view still announces every family */
    struct metrics_input empty = {.disconnects = NULL, .top = 20};
    page = render(&empty);
    assert_int_equal(count(page, "# TYPE "), sizeof(families) / sizeof(families[0]));
    assert_true(sample(page, "ttalloc_processes") == 0);
    assert_true(sample(page, "ttalloc_client_disconnects_total{reason=\"exit\"}") == 0);
    free(page);
}

static void test_parse_addr(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    assert_int_equal(metrics_parse_addr("127.0.0.1:9464", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9464);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(metrics_parse_addr("[::1]:80", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 80);
    assert_int_equal(metrics_parse_addr("0.0.0.0:65535", &sa, &len), 0);
    static const char *const bad[] = {
        "",
        "9464",
        ":9464",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:94x",
        "127.0.0.1:-1",
        "localhost:9464",
        "::1:9464",
        "[::1]9464",
        "[127.0.0.1]:80",
        "[::1:80",
        "1.2.3.4.5:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (metrics_parse_addr(bad[i], &sa, &len) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_process_peaks(void **state)
{
    (void)state;
    struct view v;
    memset(&v, 0, sizeof(v));
    view_use(&v, 10, "lib", LIBTTALLOC, 0, TTALLOC_DRAM, 100);
    view_use(&v, 10, "lib", LIBTTALLOC, 1, TTALLOC_L1, 5);
    view_use(&v, 11, "shm", TTALLOC_PROCESS_SHM, 0, TTALLOC_DRAM, 50);
    v.usage[0].peak[TTALLOC_DRAM] = 4000; /* it held more before */
    struct metrics_input in = view_input(&v, 20);
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"dram\","
                             "pid=\"10\",comm=\"lib\",label=\"\"}") == 4000);
    assert_true(sample(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"l1\","
                             "pid=\"10\",comm=\"lib\",label=\"\"}") == 0);
    assert_true(sample(page, "ttalloc_process_memory_peak_bytes{device=\"1\",type=\"l1\","
                             "pid=\"10\",comm=\"lib\",label=\"\"}") == 5);
    /* SHM statistics have no peak: no series rather than a made-up one */
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"11\",comm=\"shm\",label=\"\"}") == 50);
    assert_int_equal(count(page, "ttalloc_process_memory_peak_bytes{device=\"0\",type=\"dram\","
                                 "pid=\"11\""),
                     0);
    /* 2 usage records x 5 types, all of pid 10 */
    assert_int_equal(count(page, "\nttalloc_process_memory_peak_bytes{"), 10);
    free(page);
}

/* A process's label rides on its series, escaped like any label value; the
 * leak history's bytes per uid are a counter per uid and type. */
static void test_process_label_and_leaked_bytes(void **state)
{
    (void)state;
    struct view v;
    memset(&v, 0, sizeof(v));
    view_use(&v, 42, "python3", LIBTTALLOC, 0, TTALLOC_DRAM, 4096);
    view_use(&v, 43, "python3", LIBTTALLOC, 0, TTALLOC_DRAM, 8192);
    for (size_t i = 0; i < v.n_processes; i++) {
        if (v.processes[i].pid == 42)
            snprintf(v.processes[i].label, sizeof(v.processes[i].label), "llama \"70b\"\\x\n");
    }
    struct exits_uid_total leaked[2];
    memset(leaked, 0, sizeof(leaked));
    leaked[0].uid = 0;
    leaked[0].bytes[TTALLOC_L1] = 77;
    leaked[1].uid = 1000;
    leaked[1].bytes[TTALLOC_DRAM] = 8192;
    leaked[1].bytes[TTALLOC_TRACE] = 5;
    struct metrics_input in = view_input(&v, 20);
    in.leaked = leaked;
    in.n_leaked = 2;
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"42\",comm=\"python3\","
                             "label=\"llama \\\"70b\\\"\\\\x\\n\"}") == 4096);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"43\",comm=\"python3\",label=\"\"}") == 8192);
    assert_true(sample(page, "ttalloc_leaked_bytes_total{uid=\"1000\",type=\"dram\"}") == 8192);
    assert_true(sample(page, "ttalloc_leaked_bytes_total{uid=\"1000\",type=\"trace\"}") == 5);
    assert_true(sample(page, "ttalloc_leaked_bytes_total{uid=\"0\",type=\"l1\"}") == 77);
    assert_true(sample(page, "ttalloc_leaked_bytes_total{uid=\"0\",type=\"dram\"}") == 0);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_top_n_and_other),
        cmocka_unit_test(test_shm_only_processes),
        cmocka_unit_test(test_unknown_values_omitted),
        cmocka_unit_test(test_every_family_has_help_and_type),
        cmocka_unit_test(test_process_peaks),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_process_label_and_leaked_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
