/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server_main.c - tt-alloc-server's command line: flags into a server_config, then
 * the event loop (server.c). Exit status: 0 clean stop, 1 could not start,
 * 2 bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exits_store.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "number.h"
#include "server.h"
#include "ttalloc.h"

static const char usage_line[] =
    "usage: tt-alloc-server [-v] [--socket PATH] [--sysroot DIR] [--max-clients N]\n"
    "                       [--max-buffers N] [--max-queue BYTES] [--metrics ADDR:PORT]\n"
    "                       [--metrics-top N] [--order-hold MS] [--max-conns-per-uid N]\n"
    "                       [--max-buffers-per-uid N] [--max-devices-per-uid N]\n"
    "                       [--state FILE] [--exits-max N] [--exits-max-age SEC]\n"
    "                       [--help] [--version]\n";

static void main_help(void)
{
    printf("%s", usage_line);
    printf("\nCollects device-memory events from processes using libttalloc and answers\n"
           "tt-smi, tt-alloc-monitor and other tools. See docs/tt-alloc-server.md.\n\n"
           "  --socket PATH      listen here (default: $TT_ALLOC_SOCKET, else the first usable\n"
           "                     of /run/tt-alloc/tt-alloc.sock, $XDG_RUNTIME_DIR/tt-alloc.sock,\n"
           "                     /tmp/tt-alloc-<uid>/tt-alloc.sock)\n"
           "  --sysroot DIR      read sys/, dev/ and proc/driver/ under DIR ($TT_SYSROOT)\n"
           "  --max-clients N    connections at once (default %u)\n"
           "  --max-buffers N    live buffers per process (default %u)\n"
           "  --max-queue BYTES  output queued to one client before it is dropped\n"
           "                     (default %u)\n"
           "  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
           "                     (e.g. 127.0.0.1:9464 or [::1]:9464; off by default)\n"
           "  --metrics-top N    processes shown by PID in the metrics, the rest summed as\n"
           "                     pid=\"other\" (default %u)\n"
           "  --order-hold MS    longest an event of a process waits for that process's other\n"
           "                     connections, to be applied in timestamp order (default %u)\n"
           "  --max-conns-per-uid N    connections of one uid at once (default %u; 0: no cap)\n"
           "  --max-buffers-per-uid N  live buffers of one uid's processes together\n"
           "                     (default %u; 0: no cap)\n"
           "  --max-devices-per-uid N  distinct devices one uid's processes use\n"
           "                     (default %u; 0: no cap). Root (uid 0) has no per-uid caps;\n"
           "                     see docs/SECURITY.md\n"
           "  --state FILE       keep the leak history here across restarts (default:\n"
           "                     %s beside the socket)\n"
           "  --exits-max N      leak records kept, one per process and device (default %u)\n"
           "  --exits-max-age SEC  and dropped after SEC seconds (default %u, a week)\n"
           "  -v, --verbose      debug messages (repeatable)\n"
           "  -h, --help         this text\n"
           "  -V, --version      print the version\n",
           SERVER_DEFAULT_MAX_CLIENTS, LEDGER_DEFAULT_MAX_BUFFERS, SERVER_DEFAULT_MAX_QUEUE,
           METRICS_DEFAULT_TOP, (unsigned)(LEDGER_DEFAULT_HOLD_NS / 1000000u),
           QUOTA_DEFAULT_MAX_CONNS, QUOTA_DEFAULT_MAX_BUFFERS, QUOTA_DEFAULT_MAX_DEVICES,
           EXITS_STORE_FILE, EXITS_STORE_DEFAULT_MAX, EXITS_STORE_DEFAULT_AGE_S);
}

/* A bad argument: one line saying which, as every tool of the project. */
static void main_bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tt-alloc-server: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (tt-alloc-server --help)\n");
    exit(2);
}

/* A whole decimal number in [1, max]. */
static unsigned long long main_number(const char *flag, const char *arg, unsigned long long max)
{
    uint64_t value = 0;
    int rc = number_parse_u64(arg, 10, 1, max, &value);
    if (rc == -EINVAL)
        main_bad_usage("%s needs a positive number", flag);
    if (rc < 0)
        main_bad_usage("%s needs a positive number in range", flag);
    return value;
}

/* A per-uid cap: a whole decimal number in [0, max]; 0 = no cap. */
static unsigned long long main_cap(const char *flag, const char *arg, unsigned long long max)
{
    if (strcmp(arg, "0") == 0)
        return 0;
    return main_number(flag, arg, max);
}

int main(int argc, char **argv)
{
    enum {
        OPT_SOCKET = 256,
        OPT_SYSROOT,
        OPT_MAX_CLIENTS,
        OPT_MAX_BUFFERS,
        OPT_MAX_QUEUE,
        OPT_METRICS,
        OPT_METRICS_TOP,
        OPT_ORDER_HOLD,
        OPT_CONNS_PER_UID,
        OPT_BUFFERS_PER_UID,
        OPT_DEVICES_PER_UID,
        OPT_STATE,
        OPT_EXITS_MAX,
        OPT_EXITS_MAX_AGE
    };
    static const struct option options[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"sysroot", required_argument, NULL, OPT_SYSROOT},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"max-buffers", required_argument, NULL, OPT_MAX_BUFFERS},
        {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"metrics-top", required_argument, NULL, OPT_METRICS_TOP},
        {"order-hold", required_argument, NULL, OPT_ORDER_HOLD},
        {"max-conns-per-uid", required_argument, NULL, OPT_CONNS_PER_UID},
        {"max-buffers-per-uid", required_argument, NULL, OPT_BUFFERS_PER_UID},
        {"max-devices-per-uid", required_argument, NULL, OPT_DEVICES_PER_UID},
        {"state", required_argument, NULL, OPT_STATE},
        {"exits-max", required_argument, NULL, OPT_EXITS_MAX},
        {"exits-max-age", required_argument, NULL, OPT_EXITS_MAX_AGE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct server_config config = {
        .socket_path = NULL,
        .sysroot = getenv("TT_SYSROOT"),
        .max_clients = SERVER_DEFAULT_MAX_CLIENTS,
        .max_buffers = LEDGER_DEFAULT_MAX_BUFFERS,
        .max_queue = SERVER_DEFAULT_MAX_QUEUE,
        .metrics_addr = NULL,
        .metrics_top = METRICS_DEFAULT_TOP,
        .per_uid = {.max_conns = QUOTA_DEFAULT_MAX_CONNS,
                    .max_buffers = QUOTA_DEFAULT_MAX_BUFFERS,
                    .max_devices = QUOTA_DEFAULT_MAX_DEVICES},
    };
    int verbose = 0;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SOCKET:
            config.socket_path = optarg;
            break;
        case OPT_SYSROOT:
            config.sysroot = optarg;
            break;
        case OPT_MAX_CLIENTS:
            config.max_clients = (unsigned)main_number("--max-clients", optarg, 1000000);
            break;
        case OPT_MAX_BUFFERS:
            config.max_buffers = (size_t)main_number("--max-buffers", optarg, 1ull << 32);
            break;
        case OPT_MAX_QUEUE:
            config.max_queue = (size_t)main_number("--max-queue", optarg, 1ull << 34);
            break;
        case OPT_METRICS: {
            struct sockaddr_storage sa;
            socklen_t sa_len;
            if (metrics_parse_addr(optarg, &sa, &sa_len) < 0)
                main_bad_usage("--metrics needs ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464, "
                               "not %s",
                               optarg);
            config.metrics_addr = optarg;
            break;
        }
        case OPT_METRICS_TOP:
            config.metrics_top = (unsigned)main_number("--metrics-top", optarg, 100000);
            break;
        case OPT_ORDER_HOLD:
            config.order_hold_ms = (unsigned)main_number("--order-hold", optarg, 60000);
            break;
        case OPT_CONNS_PER_UID:
            config.per_uid.max_conns = (unsigned)main_cap("--max-conns-per-uid", optarg, 1000000);
            break;
        case OPT_BUFFERS_PER_UID:
            config.per_uid.max_buffers = main_cap("--max-buffers-per-uid", optarg, 1ull << 40);
            break;
        case OPT_DEVICES_PER_UID:
            config.per_uid.max_devices =
                (unsigned)main_cap("--max-devices-per-uid", optarg, 1000000);
            break;
        case OPT_STATE:
            if (optarg[0] == '\0')
                main_bad_usage("--state needs a file name%s", "");
            config.state_path = optarg;
            break;
        case OPT_EXITS_MAX:
            config.exits_max = (size_t)main_number("--exits-max", optarg, EXITS_STORE_LIMIT_MAX);
            break;
        case OPT_EXITS_MAX_AGE:
            config.exits_max_age_s = main_number("--exits-max-age", optarg, 100ull * 365 * 86400);
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            main_help();
            return 0;
        case 'V':
            printf("tt-alloc-server %s\n", TTALLOC_VERSION_STRING);
            return 0;
        default:
            main_bad_usage("unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        main_bad_usage("unexpected argument %s", argv[optind]);

    log_init("tt-alloc-server", verbose);
    log_rate_limit(1); /* clients must not be able to fill the disk */
    if (config.sysroot != NULL && config.sysroot[0] != '\0')
        log_debug("sysroot %s", config.sysroot);
    return server_run(&config);
}
