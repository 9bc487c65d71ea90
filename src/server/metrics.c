/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the Prometheus endpoint of tt-alloc-server (see metrics.h):
 * rendering the text exposition format from a snapshot's merged records
 * (ledger, sysfs, TT-Metal SHM) and the sources' sysfs telemetry, and serving
 * it with libmicrohttpd driven by the server's epoll loop.
 */
#include "metrics.h"
#include "exits_store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "boards.h"
#include "buftype.h"
#include "ledger.h"
#include "log.h"
#include "lowerbound.h"
#include "number.h"
#include "sources.h"

/* Bytes per connection for the request line and headers: bigger requests get an error. */
#define METRICS_CONN_MEMORY 32768u

static const char metrics_content_type[] = "text/plain; version=0.0.4; charset=utf-8";

/* The memory types exported: a device's, in the order every tool shows them
 * (SYSTEM_MEMORY is host memory: not shown), labelled by their keys. */
#define METRICS_NUM_TYPES BUFTYPE_N_DEVICE

const char *metrics_reason_name(enum metrics_reason reason)
{
    static const char *const names[METRICS_NUM_REASONS] = {
        "eof", "malformed", "version", "role", "limit", "slow", "exit",
    };
    if ((unsigned)reason >= METRICS_NUM_REASONS)
        return "unknown";
    return names[reason];
}

/* ---- label values ---- */

void metrics_buf_label(struct strbuf *b, const char *value)
{
    const unsigned char *s = (const unsigned char *)value;
    while (*s != '\0') {
        size_t n = strbuf_utf8_len(s);
        if (n == 0) {
            strbuf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
            s++;
        } else if (*s == '\\') {
            strbuf_append(b, "\\\\", 2);
            s++;
        } else if (*s == '"') {
            strbuf_append(b, "\\\"", 2);
            s++;
        } else if (*s == '\n') {
            strbuf_append(b, "\\n", 2);
            s++;
        } else {
            strbuf_append(b, (const char *)s, n);
            s += n;
        }
    }
}

/* ---- rendering ---- */

/* One device as the page shows it: its merged record, and what sysfs says of it. */
struct metrics_dev {
    const struct ttalloc_device_stats *st;
    const struct sysfs_device *sd; /* NULL: not in sysfs (or no scan) */
};

static void metrics_family(struct strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_sysfs_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const int *)key, ((const struct sysfs_device *)element)->index);
}

/* The sysfs device of ordinal `id` (devs ascending by index), or NULL. */
static const struct sysfs_device *metrics_sysfs_find(const struct metrics_input *in, uint32_t id)
{
    if (in->devs == NULL || id > (uint32_t)INT_MAX)
        return NULL;
    int index = (int)id;
    size_t lo = lowerbound(&index, in->devs, in->n_devs, sizeof(*in->devs), metrics_sysfs_cmp);
    return lo < in->n_devs && in->devs[lo].index == index ? &in->devs[lo] : NULL;
}

/* Every device of the merged view (ascending id), each with its sysfs entry. */
static struct metrics_dev *metrics_devices(const struct metrics_input *in)
{
    struct metrics_dev *devs = calloc(in->n_devices + 1, sizeof(*devs));
    if (devs == NULL)
        return NULL;
    for (size_t i = 0; i < in->n_devices; i++) {
        devs[i].st = &in->devices[i];
        devs[i].sd = metrics_sysfs_find(in, in->devices[i].device);
    }
    return devs;
}

/* tt-kmd's card type first, else what the merged record says (an app's description). */
static const char *metrics_board_type(const struct metrics_dev *d, char *buf, size_t cap)
{
    if (d->sd != NULL && d->sd->card_type[0] != '\0')
        return d->sd->card_type;
    size_t len = strnlen(d->st->board_type, sizeof(d->st->board_type));
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, d->st->board_type, len);
    buf[len] = '\0';
    return buf;
}

static void metrics_render_memory(const struct metrics_dev *devs, size_t n, struct strbuf *b)
{
    metrics_family(b, "ttalloc_device_memory_used_bytes", "gauge",
                   "Device memory held by tracked processes, per device and memory type.");
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < METRICS_NUM_TYPES; t++)
            strbuf_printf(b,
                          "ttalloc_device_memory_used_bytes{device=\"%u\",type=\"%s\"} "
                          "%" PRIu64 "\n",
                          devs[i].st->device, buftype_key(buftype_device[t]),
                          devs[i].st->used[buftype_device[t]]);
    }

    metrics_family(b, "ttalloc_device_memory_total_bytes", "gauge",
                   "Device memory capacity per device and memory type, where known "
                   "(an application's description, else the board table).");
    for (size_t i = 0; i < n; i++) {
        /* The merged view already holds the description or the board table. */
        for (size_t t = 0; t < METRICS_NUM_TYPES; t++) {
            uint64_t total = devs[i].st->total[buftype_device[t]];
            if (total != 0)
                strbuf_printf(b,
                              "ttalloc_device_memory_total_bytes{device=\"%u\","
                              "type=\"%s\"} %" PRIu64 "\n",
                              devs[i].st->device, buftype_key(buftype_device[t]), total);
        }
    }

    metrics_family(b, "ttalloc_device_memory_peak_bytes", "gauge",
                   "Highest device memory held since the server started, per device and type.");
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < METRICS_NUM_TYPES; t++)
            strbuf_printf(b,
                          "ttalloc_device_memory_peak_bytes{device=\"%u\",type=\"%s\"} "
                          "%" PRIu64 "\n",
                          devs[i].st->device, buftype_key(buftype_device[t]),
                          devs[i].st->peak[buftype_device[t]]);
    }
}

static void metrics_render_info(const struct metrics_dev *devs, size_t n, struct strbuf *b)
{
    metrics_family(b, "ttalloc_device_info", "gauge",
                   "Identity of each device (always 1): architecture, board, PCI bus id, serial.");
    for (size_t i = 0; i < n; i++) {
        const struct metrics_dev *d = &devs[i];
        char name[sizeof(d->st->board_type) + 1];
        const char *board = metrics_board_type(d, name, sizeof(name));
        const char *arch = d->sd != NULL && d->sd->arch[0] ? d->sd->arch : boards_arch(board);
        char serial[20] = "";
        if (d->sd != NULL && d->sd->serial[0] != '\0')
            snprintf(serial, sizeof(serial), "%s", d->sd->serial);
        else if (d->st->board_serial != 0)
            snprintf(serial, sizeof(serial), "%016" PRIX64, d->st->board_serial);
        strbuf_printf(b, "ttalloc_device_info{device=\"%u\",arch=\"", d->st->device);
        metrics_buf_label(b, arch != NULL ? arch : "");
        strbuf_printf(b, "\",board_type=\"");
        metrics_buf_label(b, board);
        strbuf_printf(b, "\",bus_id=\"");
        metrics_buf_label(b, d->sd != NULL ? d->sd->bus_id : "");
        strbuf_printf(b, "\",serial=\"");
        metrics_buf_label(b, serial);
        strbuf_printf(b, "\"} 1\n");
    }
    metrics_family(b, "ttalloc_device_temperature_celsius", "gauge",
                   "ASIC temperature (hwmon temp1_input).");
    for (size_t i = 0; i < n; i++) {
        if (devs[i].sd != NULL && devs[i].sd->temp_mc != SYSFS_UNKNOWN)
            strbuf_printf(b, "ttalloc_device_temperature_celsius{device=\"%u\"} %.3f\n",
                          devs[i].st->device, (double)devs[i].sd->temp_mc / 1000.0);
    }
    metrics_family(b, "ttalloc_device_power_watts", "gauge", "Board power (hwmon power1_input).");
    for (size_t i = 0; i < n; i++) {
        if (devs[i].sd != NULL && devs[i].sd->power_uw != SYSFS_UNKNOWN)
            strbuf_printf(b, "ttalloc_device_power_watts{device=\"%u\"} %.6f\n", devs[i].st->device,
                          (double)devs[i].sd->power_uw / 1e6);
    }
    metrics_family(b, "ttalloc_device_power_limit_watts", "gauge",
                   "Board power limit (hwmon power1_max).");
    for (size_t i = 0; i < n; i++) {
        if (devs[i].sd != NULL && devs[i].sd->power_max_uw != SYSFS_UNKNOWN)
            strbuf_printf(b, "ttalloc_device_power_limit_watts{device=\"%u\"} %.6f\n",
                          devs[i].st->device, (double)devs[i].sd->power_max_uw / 1e6);
    }
    metrics_family(b, "ttalloc_device_aiclk_hertz", "gauge", "AI clock (tt_aiclk).");
    for (size_t i = 0; i < n; i++) {
        if (devs[i].sd != NULL && devs[i].sd->aiclk_mhz != SYSFS_UNKNOWN)
            strbuf_printf(b, "ttalloc_device_aiclk_hertz{device=\"%u\"} %" PRId64 "\n",
                          devs[i].st->device, devs[i].sd->aiclk_mhz * 1000000);
    }
}

/* Largest first; ties by ascending PID. */
static int metrics_cmp_procs(const void *a, const void *b)
{
    const struct ttalloc_process_info *pa = *(const struct ttalloc_process_info *const *)a;
    const struct ttalloc_process_info *pb = *(const struct ttalloc_process_info *const *)b;
    if (pa->bytes != pb->bytes)
        return pa->bytes > pb->bytes ? -1 : 1;
    return (pa->pid > pb->pid) - (pa->pid < pb->pid);
}

static int metrics_usage_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const int32_t *)key, ((const struct ttalloc_usage *)element)->pid);
}

/* Index of the first usage record of `pid` (usage ascending by pid). */
static size_t metrics_usage_first(const struct metrics_input *in, int32_t pid)
{
    return lowerbound(&pid, in->usage, in->n_usage, sizeof(*in->usage), metrics_usage_cmp);
}

static int metrics_dev_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key,
                          ((const struct ttalloc_device_stats *)element)->device);
}

/* Index of `device` in in->devices (ascending), or n_devices. */
static size_t metrics_dev_index(const struct metrics_input *in, uint32_t device)
{
    size_t lo =
        lowerbound(&device, in->devices, in->n_devices, sizeof(*in->devices), metrics_dev_cmp);
    return lo < in->n_devices && in->devices[lo].device == device ? lo : in->n_devices;
}

/* `{device="…",type="…",pid="…",comm="…"}` of one process's usage. */
static void metrics_process_labels(struct strbuf *b, const struct ttalloc_process_info *p,
                                   const struct ttalloc_usage *u, size_t t)
{
    /* the name is a fixed array: NUL-terminated by the server, but be sure */
    char comm[TTALLOC_NAME_MAX + 1], label[TTALLOC_LABEL_MAX + 1];
    size_t len = strnlen(p->name, sizeof(p->name));
    memcpy(comm, p->name, len);
    comm[len] = '\0';
    len = strnlen(p->label, sizeof(p->label));
    memcpy(label, p->label, len);
    label[len] = '\0';
    strbuf_printf(b, "{device=\"%u\",type=\"%s\",pid=\"%d\",comm=\"", u->device,
                  buftype_key(buftype_device[t]), (int)p->pid);
    metrics_buf_label(b, comm);
    strbuf_printf(b, "\",label=\"");
    metrics_buf_label(b, label);
    strbuf_printf(b, "\"}");
}

static const char metrics_peak_help[] =
    "Highest device memory a process held since it started or its last ttalloc_reset_peak, "
    "per device and memory type (the top processes by bytes; none for processes known only "
    "from TT-Metal's SHM statistics, which have no peak).";

/* The exact peaks of the top processes (procs sorted largest first). */
static void metrics_render_process_peaks(const struct metrics_input *in,
                                         const struct ttalloc_process_info **procs,
                                         struct strbuf *b)
{
    metrics_family(b, "ttalloc_process_memory_peak_bytes", "gauge", metrics_peak_help);
    for (size_t i = 0; i < in->n_processes && i < in->top; i++) {
        const struct ttalloc_process_info *p = procs[i];
        if (p->flags & TTALLOC_PROCESS_SHM)
            continue;
        for (size_t k = metrics_usage_first(in, p->pid);
             k < in->n_usage && in->usage[k].pid == p->pid; k++) {
            const struct ttalloc_usage *u = &in->usage[k];
            for (size_t t = 0; t < METRICS_NUM_TYPES; t++) {
                strbuf_printf(b, "ttalloc_process_memory_peak_bytes");
                metrics_process_labels(b, p, u, t);
                strbuf_printf(b, " %" PRIu64 "\n", u->peak[buftype_device[t]]);
            }
        }
    }
}

static int metrics_render_processes(const struct metrics_input *in, struct strbuf *b)
{
    metrics_family(b, "ttalloc_process_memory_used_bytes", "gauge",
                   "Device memory held per process (the top processes by bytes; the rest "
                   "summed under pid=\"other\"), per device and memory type.");
    if (in->n_processes == 0) {
        metrics_family(b, "ttalloc_process_memory_peak_bytes", "gauge", metrics_peak_help);
        return 0;
    }
    const struct ttalloc_process_info **procs = malloc(in->n_processes * sizeof(*procs));
    uint64_t *other = calloc(in->n_devices * METRICS_NUM_TYPES + 1, sizeof(*other));
    unsigned char *touched = calloc(in->n_devices + 1, 1);
    if (procs == NULL || other == NULL || touched == NULL) {
        free(procs);
        free(other);
        free(touched);
        return -ENOMEM;
    }
    for (size_t i = 0; i < in->n_processes; i++)
        procs[i] = &in->processes[i];
    qsort(procs, in->n_processes, sizeof(*procs), metrics_cmp_procs);

    for (size_t i = 0; i < in->n_processes; i++) {
        const struct ttalloc_process_info *p = procs[i];
        for (size_t k = metrics_usage_first(in, p->pid);
             k < in->n_usage && in->usage[k].pid == p->pid; k++) {
            const struct ttalloc_usage *u = &in->usage[k];
            if (i >= in->top) {
                size_t d = metrics_dev_index(in, u->device);
                if (d >= in->n_devices)
                    continue; /* not expected: every usage has its device */
                touched[d] = 1;
                for (size_t t = 0; t < METRICS_NUM_TYPES; t++)
                    other[d * METRICS_NUM_TYPES + t] += u->bytes[buftype_device[t]];
                continue;
            }
            for (size_t t = 0; t < METRICS_NUM_TYPES; t++) {
                strbuf_printf(b, "ttalloc_process_memory_used_bytes");
                metrics_process_labels(b, p, u, t);
                strbuf_printf(b, " %" PRIu64 "\n", u->bytes[buftype_device[t]]);
            }
        }
    }
    for (size_t d = 0; d < in->n_devices; d++) {
        if (!touched[d])
            continue;
        for (size_t t = 0; t < METRICS_NUM_TYPES; t++)
            strbuf_printf(b,
                          "ttalloc_process_memory_used_bytes{device=\"%u\",type=\"%s\","
                          "pid=\"other\",comm=\"other\"} %" PRIu64 "\n",
                          in->devices[d].device, buftype_key(buftype_device[t]),
                          other[d * METRICS_NUM_TYPES + t]);
    }
    metrics_render_process_peaks(in, procs, b);
    free(procs);
    free(other);
    free(touched);
    return 0;
}

static void metrics_render_server(const struct metrics_input *in, struct strbuf *b)
{
    uint64_t buffers = 0; /* SHM-only processes have none */
    for (size_t i = 0; i < in->n_processes; i++)
        buffers += in->processes[i].buffers;
    metrics_family(b, "ttalloc_clients", "gauge", "Connections to the server now.");
    strbuf_printf(b, "ttalloc_clients %u\n", in->clients);
    metrics_family(b, "ttalloc_processes", "gauge", "Tracked processes now.");
    strbuf_printf(b, "ttalloc_processes %zu\n", in->n_processes);
    metrics_family(b, "ttalloc_buffers", "gauge", "Live device buffers, all processes.");
    strbuf_printf(b, "ttalloc_buffers %" PRIu64 "\n", buffers);
    metrics_family(b, "ttalloc_events_total", "counter", "Allocation and free events applied.");
    strbuf_printf(b, "ttalloc_events_total %" PRIu64 "\n", in->events_total);
    metrics_family(b, "ttalloc_process_exits_total", "counter",
                   "Tracked processes that ended; leaked=\"true\": with buffers still live.");
    strbuf_printf(b, "ttalloc_process_exits_total{leaked=\"true\"} %" PRIu64 "\n",
                  in->leaked_exits_total);
    strbuf_printf(b, "ttalloc_process_exits_total{leaked=\"false\"} %" PRIu64 "\n",
                  in->exits_total - in->leaked_exits_total);
    metrics_family(b, "ttalloc_leaked_bytes_total", "counter",
                   "Bytes left live by processes that ended, by their uid and memory type "
                   "(the leak history; kept across server restarts).");
    for (size_t i = 0; i < in->n_leaked; i++) {
        for (size_t t = 0; t < METRICS_NUM_TYPES; t++)
            strbuf_printf(b, "ttalloc_leaked_bytes_total{uid=\"%u\",type=\"%s\"} %" PRIu64 "\n",
                          (unsigned)in->leaked[i].uid, buftype_key(buftype_device[t]),
                          in->leaked[i].bytes[buftype_device[t]]);
    }
    metrics_family(b, "ttalloc_client_disconnects_total", "counter",
                   "Client connections closed, by reason.");
    for (unsigned r = 0; r < METRICS_NUM_REASONS; r++)
        strbuf_printf(b, "ttalloc_client_disconnects_total{reason=\"%s\"} %" PRIu64 "\n",
                      metrics_reason_name((enum metrics_reason)r),
                      in->disconnects ? in->disconnects[r] : 0);
    metrics_family(b, "ttalloc_build_info", "gauge", "The server's version (always 1).");
    strbuf_printf(b, "ttalloc_build_info{version=\"%s\"} 1\n", TTALLOC_VERSION_STRING);
}

int metrics_render(const struct metrics_input *in, struct strbuf *out)
{
    struct metrics_dev *devs = metrics_devices(in);
    if (devs == NULL)
        return -ENOMEM;
    metrics_render_memory(devs, in->n_devices, out);
    metrics_render_info(devs, in->n_devices, out);
    free(devs);
    if (metrics_render_processes(in, out) < 0)
        return -ENOMEM;
    metrics_render_server(in, out);
    return out->failed ? -ENOMEM : 0;
}

/* ---- addresses ---- */

int metrics_parse_addr(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_text;
    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL || strchr(text, ':') != colon || (size_t)(colon - text) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    uint64_t port;
    if (number_parse_u64(port_text, 10, 1, 65535, &port) < 0)
        return -EINVAL;

    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (text[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return 0;
    }
    if (text[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    return -EINVAL;
}

/* ---- the endpoint ---- */

static uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The page of now: a snapshot's merged records, the sources' telemetry and
 * the counters. Returns 0 or -ENOMEM. */
static int metrics_render_now(struct metrics *m, struct strbuf *page)
{
    const struct metrics_view *v = m->view;
    struct shmsnap snap;
    if (v == NULL || sources_snapshot(v->sources, v->ledger, &snap) < 0)
        return -ENOMEM;
    struct metrics_input in = {
        .devices = snap.devices,
        .n_devices = snap.n_devices,
        .processes = snap.processes,
        .n_processes = snap.n_processes,
        .usage = snap.usage,
        .n_usage = snap.n_usage,
        .devs = v->sources->devs,
        .n_devs = v->sources->n_devs,
        .clients = v->clients,
        .events_total = v->ledger->counters.events_total,
        .exits_total = v->ledger->counters.exits_total,
        .leaked_exits_total = v->ledger->counters.leaked_exits_total,
        .disconnects = v->disconnects,
        .leaked = v->exits ? v->exits->uids : NULL,
        .n_leaked = v->exits ? v->exits->n_uids : 0,
        .top = m->top,
    };
    int rc = metrics_render(&in, page);
    shmsnap_free(&snap);
    return rc;
}

static enum MHD_Result metrics_respond(struct MHD_Connection *conn, unsigned status,
                                       const char *text, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    struct metrics *m = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                               "GET, HEAD");
    if (strcmp(url, "/") == 0)
        return metrics_respond(conn, MHD_HTTP_OK, "tt-alloc-server: metrics at /metrics\n", NULL);
    if (strcmp(url, "/metrics") != 0)
        return metrics_respond(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);

    struct strbuf page;
    strbuf_init(&page);
    if (metrics_render_now(m, &page) < 0) {
        strbuf_release(&page);
        log_warnx("metrics: out of memory rendering the page");
        return metrics_respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    }
    m->scrapes++;
    /* MHD takes the buffer and free()s it once sent. */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(page.len, page.data, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        strbuf_release(&page);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, metrics_content_type);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static void metrics_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("metrics: %s", line);
}

/* The listening socket, bound by us rather than by MHD: exclusive (no
 * SO_REUSEPORT, so a second server cannot share the port) and with an
 * error that names the port. Returns the fd or a negative errno. */
static int metrics_listen(const char *addr, const struct sockaddr_storage *sa, socklen_t sa_len,
                          char *why, size_t why_cap)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        snprintf(why, why_cap, "--metrics %s: socket: %s", addr, strerror(err));
        return -err;
    }
    /* SO_REUSEADDR lets a restarted server bind past old TIME_WAIT
     * connections; on Linux it never lets two sockets listen on one port. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
    unsigned port = ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                                    : v4->sin_port);
    if (bind(fd, (const struct sockaddr *)sa, sa_len) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        close(fd);
        if (err == EADDRINUSE)
            snprintf(why, why_cap,
                     "--metrics %s: port %u is already in use (another "
                     "tt-alloc-server, or another program, listens there)",
                     addr, port);
        else
            snprintf(why, why_cap, "--metrics %s: cannot listen on port %u: %s", addr, port,
                     strerror(err));
        return -err;
    }
    return fd;
}

int metrics_open(struct metrics *m, const char *addr, unsigned top, char *why, size_t why_cap)
{
    memset(m, 0, sizeof(*m));
    m->epoll_fd = -1;
    m->top = top;

    struct sockaddr_storage sa;
    socklen_t sa_len;
    if (metrics_parse_addr(addr, &sa, &sa_len) < 0) {
        snprintf(why, why_cap,
                 "--metrics %s: not ADDR:PORT (e.g. 127.0.0.1:9464 or "
                 "[::1]:9464)",
                 addr);
        return -EINVAL;
    }
    int fd = metrics_listen(addr, &sa, sa_len, why, why_cap);
    if (fd < 0)
        return fd;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, metrics_handler, m, MHD_OPTION_EXTERNAL_LOGGER, metrics_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, METRICS_PER_ADDR_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, METRICS_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)METRICS_CONN_MEMORY, MHD_OPTION_END);
    if (m->daemon == NULL) {
        close(fd);
        snprintf(why, why_cap, "--metrics %s: libmicrohttpd could not start", addr);
        return -EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || info->epoll_fd < 0) {
        MHD_stop_daemon(m->daemon);
        m->daemon = NULL;
        snprintf(why, why_cap, "--metrics: libmicrohttpd has no epoll support");
        return -ENOTSUP;
    }
    m->epoll_fd = info->epoll_fd;
    log_info("metrics on http://%s/metrics", addr);
    return 0;
}

int metrics_fd(const struct metrics *m)
{
    return m->daemon != NULL ? m->epoll_fd : -1;
}

int metrics_timeout_ms(struct metrics *m)
{
    MHD_UNSIGNED_LONG_LONG ms;
    m->deadline_ns = 0;
    if (m->daemon == NULL || MHD_get_timeout(m->daemon, &ms) != MHD_YES)
        return -1;
    if (ms > INT_MAX)
        ms = INT_MAX;
    m->deadline_ns = metrics_now_ns() + (uint64_t)ms * 1000000ull;
    return (int)ms;
}

static unsigned metrics_connections(struct metrics *m)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info != NULL ? info->num_connections : 0;
}

void metrics_run(struct metrics *m, int readable, const struct metrics_view *view)
{
    if (m->daemon == NULL)
        return;
    if (!readable && (m->deadline_ns == 0 || metrics_now_ns() < m->deadline_ns))
        return;
    m->deadline_ns = 0;
    m->view = view;
    /* MHD takes its listener out of its epoll set at the connection limit
     * and puts it back only at the start of a later run: if connections
     * closed in this run, that later run is now. */
    unsigned before = metrics_connections(m);
    MHD_run(m->daemon);
    if (metrics_connections(m) < before)
        MHD_run(m->daemon);
    m->view = NULL;
}

void metrics_close(struct metrics *m)
{
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    m->daemon = NULL;
    m->epoll_fd = -1;
}
