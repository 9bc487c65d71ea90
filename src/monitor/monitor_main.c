/* SPDX-License-Identifier: Apache-2.0 */
/*
 * monitor_main.c - tt-alloc-monitor: options, the event loop and the server
 * connections.
 *
 * One loop, one poll(): the terminal (keys, resize) and the subscription
 * socket, on which the server pushes a snapshot every refresh interval. No
 * timer polls the server. A second connection, opened when first needed,
 * carries the occasional questions (a process's buffers, the leak report),
 * so answers never interleave with the pushed snapshots. sysfs (telemetry,
 * devices without a server) is read once a second. When the server goes
 * away the monitor says so, keeps drawing what tt-kmd tells it, and
 * reconnects with a backoff from 100 ms to 2 s. Without a server it lists
 * the processes tt-smi would list, from the same sources (tt-kmd's pids
 * files, TT-Metal's SHM statistics: src/discovery and src/shm), marked so.
 *
 * It never spins: without a terminal on stdin and stdout it says so and
 * exits 2 (--once works anywhere); when the terminal goes away (hangup,
 * closed pane, end of input) it ends.
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include "draw.h"
#include "log.h"
#include "model.h"
#include "number.h"
#include "procs.h"
#include "shmstats.h"
#include "shmusage.h"
#include "sockpath.h"
#include "sysfs.h"
#include "text.h"
#include "ttalloc.h"

#define MONITOR_SYSFS_PERIOD_MS 1000
#define MONITOR_BACKOFF_MIN_MS 100
#define MONITOR_BACKOFF_MAX_MS 2000
#define MONITOR_QUERY_TIMEOUT_MS 1000
#define MONITOR_MAX_BUFFERS 256
#define MONITOR_BUFFERS_PERIOD_MS 500
/* The terminal is readable yet holds nothing this many wakeups in a row:
 * its input has ended (a hangup the kernel did not report as POLLHUP). */
#define MONITOR_EMPTY_READS_MAX 3

/* Exit codes, as tt-smi's. */
#define MONITOR_EXIT_OK 0
#define MONITOR_EXIT_USAGE 2
#define MONITOR_EXIT_NO_DEVICE 6
#define MONITOR_EXIT_OTHER 255

struct monitor_options {
    const char *socket;  /* --socket, else NULL: TT_ALLOC_SOCKET or the default list */
    const char *sysroot; /* --sysroot, else $TT_SYSROOT, else "/" */
    int once;
    int color;
};

/* Everything the loop keeps between iterations. */
struct monitor {
    struct monitor_options opt;
    struct model model;
    ttalloc_conn *sub;   /* the subscription */
    ttalloc_conn *query; /* questions and answers */
    int64_t backoff_ms;
    uint64_t exits_seen;    /* leaked_exits_total of the last leak report fetched */
    int64_t buffers_at_ms;  /* when the open buffer view was fetched */
    uint64_t buffers_bytes; /* ... and the process's bytes and buffers then */
    uint64_t buffers_count;
    int dirty;                  /* the screen needs drawing */
    struct shmstats_watch *shm; /* TT-Metal's SHM statistics, read without a server */
};

static volatile sig_atomic_t monitor_quit;

static void monitor_on_signal(int sig)
{
    (void)sig;
    monitor_quit = 1;
}

static int64_t monitor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t monitor_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void monitor_usage(FILE *out)
{
    fprintf(out,
            "usage: tt-alloc-monitor [-a] [-d ID]... [-r MS] [--once] [-C]\n"
            "                        [--socket PATH] [--sysroot DIR]\n"
            "\n"
            "Live view of Tenstorrent device memory: a bar per memory type and device,\n"
            "a history graph, and the processes using the selected device.\n"
            "\n"
            "  -a, --all           show all devices (the default)\n"
            "  -d, --device ID     show device ID (repeatable)\n"
            "  -r, --refresh MS    refresh every MS milliseconds (default 500, 10..60000)\n"
            "      --once          print one plain-text frame and exit\n"
            "  -C, --no-color      no colours (also when NO_COLOR is set)\n"
            "      --socket PATH   the server's socket (default: $TT_ALLOC_SOCKET, then\n"
            "                      /run/tt-alloc, $XDG_RUNTIME_DIR, /tmp/tt-alloc-<uid>)\n"
            "      --sysroot DIR   read sysfs under DIR (default: $TT_SYSROOT or /)\n"
            "  -h, --help          this help\n"
            "  -V, --version       the version\n"
            "\n"
            "Keys: q quit, Left/Right device, Up/Down process, Enter buffers, s sort,\n"
            "r (or I) reverse sort, / filter, k SIGTERM, l leak history, p pause,\n"
            "+ faster, - slower, h help.\n"
            "\n"
            "Needs a terminal on stdin and stdout (exit 2 otherwise); --once works anywhere.\n");
}

/* Parse a device id or a refresh interval; -EINVAL when not a number in range. */
static int monitor_parse_uint(const char *text, unsigned long min, unsigned long max,
                              unsigned long *out)
{
    uint64_t v;
    if (number_parse_u64(text, 10, min, max, &v) < 0)
        return -EINVAL;
    *out = (unsigned long)v;
    return 0;
}

/* Returns -1 to go on, else the exit code. */
static int monitor_parse_args(int argc, char **argv, struct monitor_options *opt, struct model *m)
{
    enum { OPT_ONCE = 256, OPT_SOCKET, OPT_SYSROOT };
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"device", required_argument, NULL, 'd'},
        {"refresh", required_argument, NULL, 'r'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"no-color", no_argument, NULL, 'C'},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"sysroot", required_argument, NULL, OPT_SYSROOT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int c;
    opterr = 0; /* one error line of ours, not getopt's and the whole usage */
    while ((c = getopt_long(argc, argv, ":ad:r:ChV", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            m->n_filter = 0;
            break;
        case 'd':
            if (monitor_parse_uint(optarg, 0, UINT32_MAX, &v) < 0) {
                log_errorx("-d: '%s' is not a device id", optarg);
                return MONITOR_EXIT_USAGE;
            }
            if (model_add_filter(m, (uint32_t)v) < 0) {
                log_errorx("-d: at most %d devices", MODEL_MAX_FILTER);
                return MONITOR_EXIT_USAGE;
            }
            break;
        case 'r':
            if (monitor_parse_uint(optarg, MODEL_REFRESH_MIN_MS, MODEL_REFRESH_MAX_MS, &v) < 0) {
                log_errorx("-r: '%s' is not a refresh interval in ms (%d..%d)", optarg,
                           MODEL_REFRESH_MIN_MS, MODEL_REFRESH_MAX_MS);
                return MONITOR_EXIT_USAGE;
            }
            m->refresh_ms = (unsigned)v;
            break;
        case OPT_ONCE:
            opt->once = 1;
            break;
        case 'C':
            opt->color = 0;
            break;
        case OPT_SOCKET:
            opt->socket = optarg;
            break;
        case OPT_SYSROOT:
            opt->sysroot = optarg;
            break;
        case 'h':
            monitor_usage(stdout);
            return MONITOR_EXIT_OK;
        case 'V':
            printf("tt-alloc-monitor %s\n", TTALLOC_VERSION_STRING);
            return MONITOR_EXIT_OK;
        case ':':
            log_errorx("%s wants a value (tt-alloc-monitor --help)", argv[optind - 1]);
            return MONITOR_EXIT_USAGE;
        default:
            log_errorx("unknown option '%s' (tt-alloc-monitor --help)", argv[optind - 1]);
            return MONITOR_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_errorx("unexpected argument '%s' (tt-alloc-monitor --help)", argv[optind]);
        return MONITOR_EXIT_USAGE;
    }
    return -1;
}

/* The socket path to name in messages before any connection succeeded. */
static void monitor_socket_for_messages(struct monitor *mon)
{
    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    const char *path = mon->opt.socket;
    if (path == NULL && sockpath_candidates(paths) > 0)
        path = paths[0];
    snprintf(mon->model.socket_path, sizeof(mon->model.socket_path), "%s", path ? path : "");
}

static void monitor_read_sysfs(struct monitor *mon)
{
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    int rc = sysfs_scan(sysfs_sysroot(mon->opt.sysroot), &devs, &n);
    if (rc < 0) {
        /* -ENOENT: no driver here; the server's devices are still shown. */
        devs = NULL;
        n = 0;
    }
    if (model_set_sysfs(&mon->model, devs, n) < 0)
        log_warnx("out of memory reading sysfs");
}

/* ---- without a server: tt-smi's sources ----------------------------------- */

/* Name and user of a found process from the real /proc; SHM's name if gone. */
static void monitor_found_facts(struct model_found *f, const char *fallback_name)
{
    struct procs_info info;
    if (procs_info_read((pid_t)f->pid, &info) == 0) {
        snprintf(f->name, sizeof(f->name), "%s", info.name);
        if (info.uid != (uid_t)-1) {
            f->uid = (uint32_t)info.uid;
            f->uid_known = 1;
        }
        procs_info_free(&info);
    }
    if (f->name[0] == '\0' && fallback_name)
        snprintf(f->name, sizeof(f->name), "%s", fallback_name);
}

/* Append one found process; -ENOMEM. */
static int monitor_found_add(struct model_found **arr, size_t *n, size_t *cap,
                             const struct model_found *f)
{
    if (*n == *cap) {
        size_t grow = *cap ? *cap * 2 : 16;
        struct model_found *p = realloc(*arr, grow * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        *arr = p;
        *cap = grow;
    }
    (*arr)[(*n)++] = *f;
    return 0;
}

/* TT-Metal's SHM statistics by the server's rule (shmusage.h): the devices'
 * use and the processes with figures. */
static int monitor_discover_shm(struct monitor *mon, const struct sysfs_device *devs, size_t ndev,
                                struct model_found **found, size_t *n_found, size_t *cap,
                                struct model_found_device **used, size_t *n_used)
{
    if (mon->shm == NULL)
        mon->shm = shmstats_watch_new(sysfs_sysroot(mon->opt.sysroot));
    if (mon->shm == NULL || shmstats_watch_refresh(mon->shm) < 0)
        return -ENOMEM;
    size_t count = shmstats_watch_count(mon->shm), n = 0;
    if (count == 0)
        return 0;
    struct shmstats_region *regions = calloc(count, sizeof(*regions));
    if (regions == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const struct shmstats_file *f = shmstats_watch_get(mon->shm, i);
        if (f->status == 0)
            regions[n++] = f->region;
    }
    struct shmusage u;
    struct shmmap_proc *procs = NULL;
    size_t n_procs = 0;
    memset(&u, 0, sizeof(u));
    const char *root = sysfs_sysroot(mon->opt.sysroot);
    int rc = n ? shmusage_procs(root, regions, n, devs, ndev, &procs, &n_procs) : 0;
    if (rc == 0 && n)
        rc = shmusage_build(regions, n, devs, ndev, procs, n_procs, NULL, NULL, &u);
    free(procs);
    free(regions);
    if (rc < 0 || n == 0)
        return rc;
    *used = calloc(u.n_devices ? u.n_devices : 1, sizeof(**used));
    if (*used == NULL)
        rc = -ENOMEM;
    /* Chips without a node of their own are not rows here (as in tt-smi). */
    for (size_t i = 0; rc == 0 && i < u.n_devices; i++) {
        if (u.devices[i].sysfs < 0 || u.devices[i].unknown)
            continue; /* unknown figures are no figures */
        struct model_found_device *d = &(*used)[(*n_used)++];
        d->device = (uint32_t)devs[u.devices[i].sysfs].index;
        memcpy(d->used, u.devices[i].used, sizeof(d->used));
    }
    for (size_t i = 0; rc == 0 && i < u.n_processes; i++) {
        const struct shmusage_process *sp = &u.processes[i];
        if (sp->sysfs < 0 || sp->pid == getpid() || sp->unknown)
            continue;
        struct model_found f;
        memset(&f, 0, sizeof(f));
        f.pid = (int32_t)sp->pid;
        f.device = (uint32_t)devs[sp->sysfs].index;
        f.source = MODEL_SOURCE_SHM;
        memcpy(f.bytes, sp->bytes, sizeof(f.bytes));
        monitor_found_facts(&f, sp->name);
        rc = monitor_found_add(found, n_found, cap, &f);
    }
    shmusage_free(&u);
    return rc;
}

/* No server: the processes holding each device (tt-kmd's pids files, else
 * the fd scan) and TT-Metal's SHM figures, as tt-smi finds them. */
static void monitor_discover(struct monitor *mon)
{
    struct model *m = &mon->model;
    struct sysfs_device *devs = calloc(m->n_devices ? m->n_devices : 1, sizeof(*devs));
    int *indexes = calloc(m->n_devices ? m->n_devices : 1, sizeof(*indexes));
    struct model_found *found = NULL;
    struct model_found_device *used = NULL;
    struct procs_holder *holders = NULL;
    size_t ndev = 0, n_found = 0, cap = 0, n_used = 0, n_holders = 0;
    int fd_scan = 0, rc = -ENOMEM;
    if (devs == NULL || indexes == NULL)
        goto out;
    for (size_t i = 0; i < m->n_devices; i++) {
        if (!m->devices[i].in_sysfs)
            continue;
        devs[ndev] = m->devices[i].sysfs;
        indexes[ndev++] = m->devices[i].sysfs.index;
    }
    rc = monitor_discover_shm(mon, devs, ndev, &found, &n_found, &cap, &used, &n_used);
    if (rc == 0 && ndev > 0)
        rc = procs_scan(sysfs_sysroot(mon->opt.sysroot), indexes, ndev, getpid(), &holders,
                        &n_holders, &fd_scan);
    for (size_t i = 0; rc == 0 && i < n_holders; i++) {
        struct model_found f;
        memset(&f, 0, sizeof(f));
        f.pid = (int32_t)holders[i].pid;
        f.device = (uint32_t)holders[i].device;
        f.source = MODEL_SOURCE_PIDS;
        monitor_found_facts(&f, NULL);
        rc = monitor_found_add(&found, &n_found, &cap, &f);
    }
out:
    free(holders);
    free(indexes);
    free(devs);
    if (rc < 0) {
        free(found);
        free(used);
        found = NULL;
        used = NULL;
        n_found = n_used = 0;
    }
    if (model_set_found(m, found, n_found, used, n_used) < 0 || rc == -ENOMEM)
        log_warnx("out of memory finding processes without a server");
}

/* ---- questions on the query connection ------------------------------------ */

static ttalloc_conn *monitor_query_conn(struct monitor *mon)
{
    if (mon->query == NULL && ttalloc_connect(mon->opt.socket, &mon->query) < 0)
        mon->query = NULL;
    return mon->query;
}

static void monitor_query_failed(struct monitor *mon)
{
    ttalloc_disconnect(mon->query);
    mon->query = NULL;
}

static void monitor_fetch_exits(struct monitor *mon)
{
    ttalloc_conn *q = monitor_query_conn(mon);
    struct ttalloc_exit *exits = NULL;
    size_t n = 0;
    if (q == NULL)
        return;
    if (ttalloc_exits(q, MONITOR_QUERY_TIMEOUT_MS, &exits, &n) < 0) {
        monitor_query_failed(mon);
        return;
    }
    model_set_exits(&mon->model, exits, n);
    mon->exits_seen = mon->model.leaked_exits_total;
}

static void monitor_fetch_buffers(struct monitor *mon, int32_t pid)
{
    ttalloc_conn *q = monitor_query_conn(mon);
    struct ttalloc_buffer *buffers = NULL;
    size_t n = 0;
    if (q == NULL ||
        ttalloc_buffers(q, pid, MONITOR_MAX_BUFFERS, MONITOR_QUERY_TIMEOUT_MS, &buffers, &n) < 0) {
        if (q)
            monitor_query_failed(mon);
        model_set_buffers(&mon->model, pid, NULL, 0);
    } else {
        model_set_buffers(&mon->model, pid, buffers, n);
    }
    const struct ttalloc_process_info *p = model_find_process(&mon->model, pid);
    mon->buffers_bytes = p ? p->bytes : 0;
    mon->buffers_count = p ? p->buffers : 0;
    mon->buffers_at_ms = monitor_now_ms();
}

/* The buffer view follows the process while it changes, twice a second at most. */
static void monitor_refresh_buffers(struct monitor *mon, int64_t now)
{
    int32_t pid = mon->model.buffers_pid;
    if (pid == 0 || now - mon->buffers_at_ms < MONITOR_BUFFERS_PERIOD_MS)
        return;
    const struct ttalloc_process_info *p = model_find_process(&mon->model, pid);
    uint64_t bytes = p ? p->bytes : 0, count = p ? p->buffers : 0;
    if (bytes != mon->buffers_bytes || count != mon->buffers_count)
        monitor_fetch_buffers(mon, pid);
}

/* ---- the subscription ----------------------------------------------------- */

static void monitor_connect(struct monitor *mon, int64_t now)
{
    ttalloc_conn *conn = NULL;
    int rc = ttalloc_connect(mon->opt.socket, &conn);
    if (rc == 0)
        rc = ttalloc_subscribe(conn, mon->model.refresh_ms);
    if (rc < 0) {
        ttalloc_disconnect(conn);
        mon->model.retry_at_ms = now + mon->backoff_ms;
        mon->backoff_ms *= 2;
        if (mon->backoff_ms > MONITOR_BACKOFF_MAX_MS)
            mon->backoff_ms = MONITOR_BACKOFF_MAX_MS;
        return;
    }
    mon->sub = conn;
    mon->backoff_ms = MONITOR_BACKOFF_MIN_MS;
    snprintf(mon->model.socket_path, sizeof(mon->model.socket_path), "%s", ttalloc_conn_path(conn));
    mon->model.conn = MODEL_CONN_UP;
    mon->exits_seen = UINT64_MAX; /* fetch the leak report with the first snapshot */
    mon->dirty = 1;
}

static void monitor_lost(struct monitor *mon, int64_t now)
{
    ttalloc_disconnect(mon->sub);
    mon->sub = NULL;
    monitor_query_failed(mon);
    model_server_lost(&mon->model);
    model_set_exits(&mon->model, NULL, 0);
    mon->backoff_ms = MONITOR_BACKOFF_MIN_MS;
    mon->model.retry_at_ms = now + mon->backoff_ms;
    mon->dirty = 1;
}

static void monitor_read_snapshots(struct monitor *mon, int64_t now)
{
    for (;;) {
        struct ttalloc_snapshot *snap = NULL;
        int rc = ttalloc_next_snapshot(mon->sub, 0, &snap);
        if (rc == -EAGAIN)
            return;
        if (rc < 0) {
            monitor_lost(mon, now);
            return;
        }
        if (model_apply_snapshot(&mon->model, snap, now) < 0)
            log_warnx("out of memory taking in a snapshot");
        ttalloc_snapshot_free(snap);
        mon->dirty = 1;
        if (!mon->model.paused) {
            if (mon->model.leaked_exits_total != mon->exits_seen)
                monitor_fetch_exits(mon);
            monitor_refresh_buffers(mon, now);
        }
    }
}

/* ---- keys ----------------------------------------------------------------- */

/* `k` then `y`: SIGTERM to the process; the kernel decides whether we may. */
static void monitor_send_sigterm(struct model *m)
{
    pid_t pid = (pid_t)m->kill_pid;
    m->kill_pid = 0;
    if (pid <= 0) /* never a process group */
        return;
    if (kill(pid, SIGTERM) == 0) {
        snprintf(m->message, sizeof(m->message), "SIGTERM sent to %d (%s)", (int)pid, m->kill_name);
    } else {
        int err = errno;
        const char *code = strerrorname_np(err);
        snprintf(m->message, sizeof(m->message), "SIGTERM to %d (%s) failed: %s (%s)", (int)pid,
                 m->kill_name, strerror(err), code ? code : "?");
    }
}

/* `k`: ask before sending SIGTERM to the selected process. */
static void monitor_ask_kill(struct model *m)
{
    long i = model_selected_proc_index(m);
    if (m->buffers_pid || m->show_exits || i < 0) {
        snprintf(m->message, sizeof(m->message), "k: no process selected");
        return;
    }
    m->kill_pid = m->procs[i].pid;
    snprintf(m->kill_name, sizeof(m->kill_name), "%s", m->procs[i].name);
}

/* A key while the `/` filter is typed: text, Backspace, Enter keeps, Esc clears. */
static void monitor_filter_key(struct model *m, int ch)
{
    char text[MODEL_FILTER_TEXT_MAX];
    size_t len = strlen(m->filter_text);
    snprintf(text, sizeof(text), "%s", m->filter_text);
    if (ch == 27) {
        m->filter_editing = 0;
        text[0] = '\0';
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        m->filter_editing = 0;
        return;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (len > 0)
            text[len - 1] = '\0';
    } else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(text)) {
        text[len] = (char)ch;
        text[len + 1] = '\0';
    } else {
        return;
    }
    model_set_filter(m, text);
}

static void monitor_key(struct monitor *mon, int ch)
{
    struct model *m = &mon->model;
    mon->dirty = 1;
    if (ch == KEY_RESIZE)
        return; /* curses has the new size; the frame is redrawn */
    if (m->kill_pid) {
        if (ch == 'y' || ch == 'Y') {
            monitor_send_sigterm(m);
        } else {
            snprintf(m->message, sizeof(m->message), "SIGTERM not sent to %d (%s)", m->kill_pid,
                     m->kill_name);
            m->kill_pid = 0;
        }
        return;
    }
    if (m->filter_editing) {
        monitor_filter_key(m, ch);
        return;
    }
    m->message[0] = '\0'; /* a result stays on the status line until the next key */
    if (m->show_help) {
        m->show_help = 0; /* any key closes the help */
        if (ch != 'q' && ch != 'Q')
            return;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        monitor_quit = 1;
        break;
    case KEY_LEFT:
    case KEY_BTAB:
        model_select_device(m, -1);
        break;
    case KEY_RIGHT:
    case '\t':
        model_select_device(m, 1);
        break;
    case KEY_UP:
        if (!m->buffers_pid)
            model_select_proc(m, -1);
        break;
    case KEY_DOWN:
        if (!m->buffers_pid)
            model_select_proc(m, 1);
        break;
    case KEY_PPAGE:
        model_select_proc(m, -10);
        break;
    case KEY_NPAGE:
        model_select_proc(m, 10);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (m->show_exits)
            break;
        if (m->buffers_pid)
            model_set_buffers(m, 0, NULL, 0);
        else if (model_selected_proc_index(m) >= 0)
            monitor_fetch_buffers(mon, m->selected_pid);
        break;
    case 27: /* Esc: back from a view, else clear the filter */
    case KEY_BACKSPACE:
        if (m->show_exits)
            m->show_exits = 0;
        else if (m->buffers_pid)
            model_set_buffers(m, 0, NULL, 0);
        else if (ch == 27 && m->filter_text[0])
            model_set_filter(m, "");
        break;
    case '/':
        m->filter_editing = 1;
        break;
    case 'r':
    case 'I':
        model_toggle_reverse(m);
        break;
    case 'k':
        monitor_ask_kill(m);
        break;
    case 'l':
    case 'L':
        m->show_exits = !m->show_exits;
        if (m->show_exits)
            model_set_buffers(m, 0, NULL, 0);
        break;
    case 'p':
    case 'P':
    case ' ':
        m->paused = !m->paused;
        break;
    case '+':
    case '=':
    case '-':
    case '_': {
        unsigned before = m->refresh_ms;
        model_step_refresh(m, ch == '+' || ch == '=' ? -1 : 1);
        if (m->refresh_ms != before && mon->sub && ttalloc_subscribe(mon->sub, m->refresh_ms) < 0)
            monitor_lost(mon, monitor_now_ms());
        break;
    }
    case 's':
    case 'S':
        model_next_sort(m);
        break;
    case 'h':
    case 'H':
    case '?':
    case KEY_F(1):
        m->show_help = 1;
        break;
    default:
        break;
    }
}

/* ---- the two modes ---------------------------------------------------------- */

/* --once: one snapshot (if a server answers), sysfs, one text frame. */
static int monitor_once(struct monitor *mon)
{
    struct model *m = &mon->model;
    monitor_read_sysfs(mon);
    ttalloc_conn *conn = NULL;
    if (ttalloc_connect(mon->opt.socket, &conn) == 0) {
        struct ttalloc_snapshot *snap = NULL;
        if (ttalloc_snapshot(conn, MONITOR_QUERY_TIMEOUT_MS, &snap) == 0) {
            snprintf(m->socket_path, sizeof(m->socket_path), "%s", ttalloc_conn_path(conn));
            m->conn = MODEL_CONN_UP;
            if (model_apply_snapshot(m, snap, monitor_now_ms()) < 0)
                log_warnx("out of memory taking in the snapshot");
            ttalloc_snapshot_free(snap);
            struct ttalloc_exit *exits = NULL;
            size_t n = 0;
            if (ttalloc_exits(conn, MONITOR_QUERY_TIMEOUT_MS, &exits, &n) == 0)
                model_set_exits(m, exits, n);
        }
        ttalloc_disconnect(conn);
    }
    if (m->conn != MODEL_CONN_UP)
        monitor_discover(mon);
    text_frame(stdout, m, monitor_realtime_ns());
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            log_errorx("cannot write to standard output: %s", strerror(errno));
        return MONITOR_EXIT_OTHER;
    }
    for (size_t i = 0; i < m->n_filter; i++) {
        int found = 0;
        for (size_t v = 0; v < m->n_visible; v++)
            if (model_visible_device(m, v)->id == m->filter[i])
                found = 1;
        if (!found) {
            log_info("error: device %u not found", m->filter[i]);
            return MONITOR_EXIT_NO_DEVICE;
        }
    }
    return MONITOR_EXIT_OK;
}

static int monitor_poll_timeout(const struct monitor *mon, int64_t now, int64_t next_sysfs)
{
    int64_t wake = next_sysfs;
    if (mon->sub == NULL && mon->model.retry_at_ms < wake)
        wake = mon->model.retry_at_ms;
    return wake <= now ? 0 : (int)(wake - now);
}

/* The terminal says it is readable: is there really nothing to read? */
static int monitor_input_ended(void)
{
    int pending = 0;
    return ioctl(STDIN_FILENO, FIONREAD, &pending) < 0 || pending == 0;
}

static int monitor_run(struct monitor *mon)
{
    /* Curses on anything else would poll a descriptor that is always
     * readable (/dev/null, a closed pipe) and spin. */
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        log_info("error: %s is not a terminal; use --once for a plain-text frame",
                 isatty(STDIN_FILENO) ? "standard output" : "standard input");
        return MONITOR_EXIT_USAGE;
    }
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) {
        log_info("error: cannot use the terminal (TERM=%s); try --once",
                 getenv("TERM") ? getenv("TERM") : "");
        return MONITOR_EXIT_OTHER;
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    const char *charset = nl_langinfo(CODESET);
    draw_init(mon->opt.color, charset && strcmp(charset, "UTF-8") == 0);

    int64_t next_sysfs = 0;
    int empty_reads = 0;
    mon->dirty = 1;
    while (!monitor_quit) {
        int64_t now = monitor_now_ms();
        if (mon->sub == NULL && now >= mon->model.retry_at_ms)
            monitor_connect(mon, now);
        if (now >= next_sysfs) {
            if (!mon->model.paused) {
                monitor_read_sysfs(mon);
                if (mon->sub == NULL)
                    monitor_discover(mon);
            }
            next_sysfs = now + MONITOR_SYSFS_PERIOD_MS;
            mon->dirty = 1; /* also ticks the clock */
        }
        if (mon->dirty) {
            draw_frame(&mon->model, now, monitor_realtime_ns());
            refresh();
            mon->dirty = 0;
        }

        struct pollfd fds[2] = {
            {.fd = STDIN_FILENO, .events = POLLIN},
            {.fd = mon->sub ? ttalloc_conn_fd(mon->sub) : -1, .events = POLLIN},
        };
        int rc = poll(fds, 2, monitor_poll_timeout(mon, now, next_sysfs));
        if (rc < 0 && errno != EINTR) {
            log_warn("poll");
            break;
        }
        /* After EINTR too: SIGWINCH turns into KEY_RESIZE here. */
        int ch, keys = 0;
        while ((ch = getch()) != ERR) {
            monitor_key(mon, ch);
            keys++;
        }
        if (rc > 0 && mon->sub && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            monitor_read_snapshots(mon, monitor_now_ms());
        if (rc > 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
            break; /* the terminal went away */
        if (rc > 0 && (fds[0].revents & POLLIN) && keys == 0 && monitor_input_ended())
            empty_reads++;
        else
            empty_reads = 0;
        if (empty_reads >= MONITOR_EMPTY_READS_MAX)
            break; /* readable, yet nothing to read, again and again: input ended */
    }
    endwin();
    delscreen(screen);
    return MONITOR_EXIT_OK;
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    log_init("tt-alloc-monitor", 0);

    struct monitor mon;
    memset(&mon, 0, sizeof(mon));
    mon.opt.color = 1;
    const char *no_color = getenv("NO_COLOR");
    if (no_color && no_color[0])
        mon.opt.color = 0;
    model_init(&mon.model, 500);
    int rc = monitor_parse_args(argc, argv, &mon.opt, &mon.model);
    if (rc >= 0) {
        model_free(&mon.model);
        return rc;
    }
    monitor_socket_for_messages(&mon);
    mon.backoff_ms = MONITOR_BACKOFF_MIN_MS;

    if (mon.opt.once) {
        rc = monitor_once(&mon);
    } else {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = monitor_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        rc = monitor_run(&mon);
    }
    ttalloc_disconnect(mon.sub);
    ttalloc_disconnect(mon.query);
    shmstats_watch_free(mon.shm);
    model_free(&mon.model);
    return rc;
}
