/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_main.c - tt-smi: who uses which Tenstorrent device, and how much of
 * its memory, in the manner of nvidia-smi. Parses the command line, builds
 * the model (discovery, then the server's snapshot when one answers) and
 * prints one of the outputs, once or in a watch loop.
 *
 * Exit codes (contract): 0 ok, 2 bad argument, 6 requested device not
 * found, 9 no driver or no devices, 255 anything else.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "smi_csv.h"
#include "smi_json.h"
#include "smi_model.h"
#include "smi_table.h"
#include "sockpath.h"
#include "ttalloc.h"

#define SMI_EXIT_OK 0
#define SMI_EXIT_USAGE 2
#define SMI_EXIT_NOT_FOUND 6
#define SMI_EXIT_NO_DRIVER 9
#define SMI_EXIT_OTHER 255

enum smi_mode { SMI_TABLE, SMI_QUERY, SMI_JSON, SMI_CSV };

struct smi_options {
    enum smi_mode mode;
    const char *sysroot;
    const char *socket;
    const char *select;
    int watch;
    long interval_ms;
    struct smi_csv_query csv;
    int have_query;
    const char *format;
    int refresh_given; /* -r MS was given */
};

static volatile sig_atomic_t smi_stop, smi_resized;

static void smi_on_signal(int sig)
{
    if (sig == SIGWINCH)
        smi_resized = 1;
    else
        smi_stop = 1;
}

static void smi_usage(FILE *out)
{
    fprintf(out,
            "usage: tt-smi [OPTIONS]\n"
            "Show Tenstorrent devices, their telemetry, and which process uses how much\n"
            "of their memory (figures from tt-alloc-server).\n\n"
            "  -w, --watch                 redraw in place until Ctrl-C (with --json: NDJSON,\n"
            "                              one object per line; with --format=csv: one header)\n"
            "  -r, --refresh MS            watch refresh period (default 1000); only with -w\n"
            "                              or -l (it never resets a device)\n"
            "  -l, --loop SEC              watch, every SEC seconds\n"
            "  -i, --id LIST               devices by index, bus id or serial (comma-separated)\n"
            "  -q, --query                 every known field per device\n"
            "      --json                  one JSON object (schema_version 1)\n"
            "  -s, --snapshot              the same JSON object\n"
            "      --query-device=FIELDS   CSV of device fields (--help-query lists them)\n"
            "      --query-gpu=FIELDS      the same (nvidia-smi's spelling)\n"
            "      --query-apps=FIELDS     CSV of process fields\n"
            "      --query-compute-apps=FIELDS  the same (nvidia-smi's spelling)\n"
            "      --format=csv[,noheader][,nounits]\n"
            "      --sysroot DIR           read sys/, dev/ and proc/driver/ under DIR\n"
            "      --socket PATH           the tt-alloc-server socket\n"
            "      --help-query            list the query fields\n"
            "  -h, --help                  this help\n"
            "  -V, --version               version\n\n"
            "Environment: TT_SYSROOT, TT_ALLOC_SOCKET, NO_COLOR.\n"
            "Exit: 0 ok, 2 bad argument, 6 device not found, 9 no driver/devices, 255 other.\n");
}

/* Connect and merge one snapshot into the model; a missing server is normal. */
static void smi_merge_server(struct smi_model *m, const char *socket_path)
{
    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    if (socket_path != NULL)
        snprintf(m->socket, sizeof(m->socket), "%s", socket_path);
    else if (sockpath_candidates(paths) > 0)
        snprintf(m->socket, sizeof(m->socket), "%s", paths[0]);
    ttalloc_conn *conn;
    int rc = ttalloc_connect(socket_path, &conn);
    if (rc < 0) {
        log_debug("no server: %s", strerror(-rc));
        return;
    }
    snprintf(m->socket, sizeof(m->socket), "%s", ttalloc_conn_path(conn));
    struct ttalloc_snapshot *snap;
    rc = ttalloc_snapshot(conn, 2000, &snap);
    if (rc < 0) {
        log_warnx("the server at %s did not answer: %s", m->socket, strerror(-rc));
    } else {
        if (smi_model_merge_snapshot(m, snap, getpid()) < 0)
            log_warnx("out of memory merging the server's figures");
        ttalloc_snapshot_free(snap);
        rc = ttalloc_exits(conn, 2000, &m->exits, &m->n_exits);
        if (rc < 0)
            log_warnx("the server at %s did not list its exits: %s", m->socket, strerror(-rc));
        m->exits_known = rc == 0;
    }
    ttalloc_disconnect(conn);
}

/* NDJSON: the renderer's newlines (and the indentation after them) lie
 * between tokens, never inside a string (strings escape them), so dropping
 * them leaves the same object on one line. */
static void smi_json_one_line(const struct strbuf *pretty, struct strbuf *out)
{
    const char *p = pretty->data ? pretty->data : "";
    while (*p) {
        if (*p == '\n') {
            while (*p == '\n' || *p == ' ')
                p++;
            continue;
        }
        size_t run = strcspn(p, "\n");
        strbuf_append(out, p, run);
        p += run;
    }
    strbuf_append(out, "\n", 1);
}

/* Build the model and render it into out. Returns an exit code. */
static int smi_collect(const struct smi_options *o, const struct smi_csv_query *csv,
                       struct strbuf *out, int colour)
{
    struct smi_model m;
    int rc = smi_model_load(&m, o->sysroot, getpid());
    if (rc == -ENOENT || (rc == 0 && m.n_devices == 0)) {
        log_errorx("no Tenstorrent driver or device found%s%s", o->sysroot ? " under " : "",
                   o->sysroot ? o->sysroot : "");
        /* A program reading --json still gets an object: "devices": []. */
        if (o->mode == SMI_JSON)
            smi_json_render(&m, out);
        smi_model_free(&m);
        return SMI_EXIT_NO_DRIVER;
    }
    if (rc < 0) {
        log_errorx("cannot read the devices: %s", strerror(-rc));
        smi_model_free(&m);
        return SMI_EXIT_OTHER;
    }
    const char *bad;
    size_t bad_len;
    rc = smi_model_select(&m, o->select, &bad, &bad_len);
    if (rc < 0) {
        log_errorx("-i: no device '%.*s' (give an index, a bus id or a serial)", (int)bad_len, bad);
        smi_model_free(&m);
        return rc == -EINVAL ? SMI_EXIT_USAGE : SMI_EXIT_NOT_FOUND;
    }
    smi_merge_server(&m, o->socket);
    if (smi_model_merge_shm(&m, o->sysroot, getpid(), !m.server) < 0)
        log_warnx("out of memory reading TT-Metal's SHM statistics");
    switch (o->mode) {
    case SMI_TABLE:
        smi_table_render(&m, colour, out);
        break;
    case SMI_QUERY:
        smi_table_render_query(&m, out);
        break;
    case SMI_JSON:
        if (o->watch) {
            struct strbuf pretty = {0};
            smi_json_render(&m, &pretty);
            smi_json_one_line(&pretty, out);
            strbuf_release(&pretty);
        } else {
            smi_json_render(&m, out);
        }
        break;
    case SMI_CSV:
        smi_csv_render(&m, csv, out);
        break;
    }
    smi_model_free(&m);
    return out->failed ? SMI_EXIT_OTHER : SMI_EXIT_OK;
}

/* Write all of it to standard output; on failure (a full disk) say why
 * once. A closed pipe (tt-smi | head) ends quietly. */
static int smi_write_all(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDOUT_FILENO, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w < 0 && errno != EPIPE)
                log_errorx("cannot write to standard output: %s", strerror(errno));
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A frame redrawn in place: cursor home, each line followed by clear-to-end-
 * of-line, then clear below. No full clear, so no flicker. */
static void smi_draw_in_place(const struct strbuf *frame, struct strbuf *screen)
{
    screen->len = 0;
    strbuf_append(screen, "\033[H", 3);
    const char *p = frame->data ? frame->data : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        strbuf_append(screen, p, len);
        strbuf_append(screen, "\033[K\n", 4);
        p += len + (nl != NULL);
    }
    strbuf_append(screen, "\033[J", 3);
}

static int smi_run(const struct smi_options *o)
{
    int tty = isatty(STDOUT_FILENO);
    const char *no_color = getenv("NO_COLOR");
    int colour = tty && (no_color == NULL || no_color[0] == '\0');
    int in_place = o->watch && tty && o->mode == SMI_TABLE;
    struct strbuf frame = {0}, screen = {0};
    int rc = SMI_EXIT_OK;
    struct smi_csv_query csv = o->csv; /* the header goes out with the first frame only */

    if (o->watch) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = smi_on_signal; /* no SA_RESTART: poll() wakes up */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGWINCH, &sa, NULL);
    }
    if (in_place)
        smi_write_all("\033[?25l\033[2J", 10); /* hide the cursor, clear once */
    do {
        frame.len = 0;
        if (frame.data)
            frame.data[0] = '\0';
        rc = smi_collect(o, &csv, &frame, colour);
        if (rc != SMI_EXIT_OK) {
            /* --json without devices still prints its (empty) object. */
            if (rc == SMI_EXIT_NO_DRIVER && frame.len > 0)
                smi_write_all(frame.data, frame.len);
            break;
        }
        csv.header = 0;
        if (in_place) {
            if (smi_resized) {
                smi_resized = 0;
                smi_write_all("\033[2J", 4);
            }
            smi_draw_in_place(&frame, &screen);
            if (screen.failed || smi_write_all(screen.data, screen.len) < 0)
                rc = SMI_EXIT_OTHER;
        } else if (frame.len > 0 && smi_write_all(frame.data, frame.len) < 0) {
            rc = SMI_EXIT_OTHER;
        }
        if (!o->watch || rc != SMI_EXIT_OK)
            break;
        if (!in_place && o->mode == SMI_TABLE)
            smi_write_all("\n", 1);
        /* Sleep until the next refresh, a resize (redraw now) or a signal to stop. */
        while (!smi_stop) {
            int r = poll(NULL, 0, (int)o->interval_ms);
            if (r == 0 || smi_resized)
                break;
        }
    } while (!smi_stop);
    if (in_place)
        smi_write_all("\033[?25h", 6);
    strbuf_release(&frame);
    strbuf_release(&screen);
    return rc;
}

static int smi_parse_ms(const char *text, long scale, long *out)
{
    int64_t v = sysfs_parse_int(text, strlen(text), 1, 86400000 / scale);
    if (v == SYSFS_UNKNOWN || v * scale < 10)
        return -EINVAL;
    *out = (long)(v * scale);
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_JSON = 1000, OPT_QDEV, OPT_QAPPS, OPT_FORMAT, OPT_SYSROOT, OPT_SOCKET, OPT_HELPQ };
    static const struct option opts[] = {
        {"watch", no_argument, NULL, 'w'},
        {"refresh", required_argument, NULL, 'r'},
        {"loop", required_argument, NULL, 'l'},
        {"id", required_argument, NULL, 'i'},
        {"query", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, OPT_JSON},
        {"query-device", required_argument, NULL, OPT_QDEV},
        {"query-apps", required_argument, NULL, OPT_QAPPS},
        {"query-gpu", required_argument, NULL, OPT_QDEV},
        {"query-compute-apps", required_argument, NULL, OPT_QAPPS},
        {"snapshot", no_argument, NULL, 's'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"sysroot", required_argument, NULL, OPT_SYSROOT},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"help-query", no_argument, NULL, OPT_HELPQ},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct smi_options o;
    memset(&o, 0, sizeof(o));
    o.interval_ms = 1000;
    int n_modes = 0;
    const char *bad;
    size_t bad_len;
    log_init("tt-smi", getenv("TTSMI_DEBUG") != NULL);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":wr:l:i:qshV", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.watch = 1;
            break;
        case 'r':
        case 'l':
            if (smi_parse_ms(optarg, c == 'l' ? 1000 : 1, &o.interval_ms) < 0) {
                log_errorx("-%c: want a positive number of %s, got '%s'", c,
                           c == 'l' ? "seconds" : "milliseconds (>= 10)", optarg);
                return SMI_EXIT_USAGE;
            }
            if (c == 'l')
                o.watch = 1;
            else
                o.refresh_given = 1;
            break;
        case 'i':
            o.select = optarg;
            break;
        case 'q':
            o.mode = SMI_QUERY;
            n_modes++;
            break;
        case 's':
        case OPT_JSON:
            o.mode = SMI_JSON;
            n_modes++;
            break;
        case OPT_QDEV:
        case OPT_QAPPS:
            if (smi_csv_parse_fields(&o.csv, c == OPT_QAPPS, optarg, &bad, &bad_len) < 0) {
                log_errorx("unknown field '%.*s' (tt-smi --help-query lists them)", (int)bad_len,
                           bad);
                return SMI_EXIT_USAGE;
            }
            o.mode = SMI_CSV;
            o.have_query = 1;
            n_modes++;
            break;
        case OPT_FORMAT:
            o.format = optarg;
            break;
        case OPT_SYSROOT:
            o.sysroot = optarg;
            break;
        case OPT_SOCKET:
            o.socket = optarg;
            break;
        case OPT_HELPQ: {
            struct strbuf b = {0};
            strbuf_printf(&b, "--query-device fields:\n");
            smi_csv_list_fields(0, &b);
            strbuf_printf(&b, "--query-apps fields:\n");
            smi_csv_list_fields(1, &b);
            fputs(b.data ? b.data : "", stdout);
            strbuf_release(&b);
            return SMI_EXIT_OK;
        }
        case 'h':
            smi_usage(stdout);
            return SMI_EXIT_OK;
        case 'V':
            printf("tt-smi %s\n", TTALLOC_VERSION_STRING);
            return SMI_EXIT_OK;
        case ':':
            log_errorx("option %s needs an argument", argv[optind - 1]);
            return SMI_EXIT_USAGE;
        default:
            log_errorx("unknown option '%s' (tt-smi --help)", argv[optind - 1]);
            return SMI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_errorx("unexpected argument '%s' (tt-smi --help)", argv[optind]);
        return SMI_EXIT_USAGE;
    }
    if (n_modes > 1) {
        log_errorx("choose one of -q, --json, --query-device, --query-apps");
        return SMI_EXIT_USAGE;
    }
    if (o.refresh_given && !o.watch) {
        /* Tenstorrent's own tt-smi resets a device with -r: say what ours does. */
        log_errorx("-r MS sets the refresh period of -w/-l here; it does not reset a device "
                   "(that is Tenstorrent's tt-smi -r). Use -w -r MS");
        return SMI_EXIT_USAGE;
    }
    if (o.have_query) {
        if (o.format == NULL || smi_csv_parse_format(&o.csv, o.format) < 0) {
            log_errorx("--query-* needs --format=csv[,noheader][,nounits]");
            return SMI_EXIT_USAGE;
        }
    } else if (o.format != NULL) {
        log_errorx("--format goes with --query-device or --query-apps");
        return SMI_EXIT_USAGE;
    }
    if (o.sysroot == NULL)
        o.sysroot = getenv("TT_SYSROOT");
    return smi_run(&o);
}
