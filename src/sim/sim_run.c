/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_run.c - `tt-alloc-sim run`: a simulated TT-Metal process (see
 * sim_run.h). Options, device setup (fake node, pids file, description),
 * pacing, signals and the clean or crashing end live here; what gets
 * allocated is profiles.c's business.
 */
#include "sim_run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boards.h"
#include "buftable.h"
#include "log.h"
#include "profiles.h"
#include "sim_mem.h"
#include "sim_pids.h"
#include "shmmap.h"
#include "shmwriter.h"
#include "sibling.h"
#include "sysfs.h"
#include "ttalloc.h"

#define SIM_RUN_OOM_SHOWN 5 /* first OOM messages shown in full, then every 100th */

struct sim_run_opts {
    struct sim_run_device devs[SIM_RUN_MAX_DEVICES];
    int n_devs;
    const char *profile;
    double duration; /* seconds, 0 = until a signal */
    double rate;     /* events per second, 0 = unlimited, < 0 = the profile's */
    uint64_t seed;
    int have_seed;
    double crash_after; /* seconds, < 0 = never */
    const char *label;
    const char *sysroot;
    const char *socket;
    unsigned share; /* percent of each device's memory this process may use */
    uint64_t steps; /* 0 = no limit */
    int print_events;
    int quiet;
    int shm;             /* --shm: write TT-Metal's SHM statistics too */
    int no_ttalloc;      /* --no-ttalloc: only SHM, like an unmodified TT-Metal app */
    const char *visible; /* --visible-devices: TT_VISIBLE_DEVICES for this process */
    const char *record;  /* --record FILE: run under tt-alloc-record */
    int device_given;    /* --device was given */
    uint32_t logical[SIM_RUN_MAX_DEVICES]; /* TT-Metal's logical id of devs[i] */
};

struct sim_run_ctx {
    int print;
    int quiet;
    int ttalloc;                                /* record through libttalloc */
    struct shmwriter *shm[SIM_RUN_MAX_DEVICES]; /* --shm: one region per device */
    uint32_t shm_device[SIM_RUN_MAX_DEVICES];   /* ... of this tt-kmd ordinal */
    uint32_t shm_logical[SIM_RUN_MAX_DEVICES];  /* ... which TT-Metal numbers so */
    int n_shm;
    struct buftable sizes; /* --shm: live buffer sizes, for frees */
    uint64_t ooms;
    uint64_t events;
};

static volatile sig_atomic_t sim_run_stop;

static void sim_run_on_signal(int sig)
{
    (void)sig;
    sim_run_stop = 1;
}

int sim_run_parse_devices(const char *list, struct sim_run_device *out, size_t cap)
{
    size_t n = 0;
    const char *s = list;
    if (list == NULL || *list == '\0')
        return -EINVAL;
    while (*s != '\0') {
        char *end;
        errno = 0;
        long idx = strtol(s, &end, 10);
        if (end == s || errno != 0 || idx < 0 || idx > 4095 || n == cap || *s == '-' || *s == '+' ||
            *s == ' ')
            return -EINVAL;
        out[n].index = (int)idx;
        out[n].board[0] = '\0';
        s = end;
        if (*s == ':') {
            size_t len = strcspn(s + 1, ",");
            if (len == 0 || len >= sizeof(out[n].board))
                return -EINVAL;
            memcpy(out[n].board, s + 1, len);
            out[n].board[len] = '\0';
            s += 1 + len;
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i].index == out[n].index)
                return -EINVAL;
        }
        n++;
        if (*s == ',') {
            s++;
            if (*s == '\0')
                return -EINVAL;
        } else if (*s != '\0') {
            return -EINVAL;
        }
    }
    return (int)n;
}

static int sim_run_number(const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(v) || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static void sim_run_usage(FILE *out)
{
    fprintf(out,
            "usage: tt-alloc-sim run [--device LIST] [--profile NAME] [--duration S] [--rate R]\n"
            "                        [--seed N] [--crash-after S] [--label TEXT] [--share PCT]\n"
            "                        [--sysroot DIR] [--socket PATH] [--steps N]\n"
            "                        [--print-events] [--quiet] [--shm [--no-ttalloc]]\n"
            "  --device LIST    devices by ordinal, each with an optional board: 0,1 or\n"
            "                   0:n150,2:p150a (default 0; a board not given is read from\n"
            "                   SYSROOT/sys/class/tenstorrent/tenstorrent!N/tt_card_type)\n"
            "  --profile NAME   llm (default), cnn, train, leaky, churn\n"
            "  --duration S     stop cleanly after S seconds (default: at SIGTERM/SIGINT)\n"
            "  --rate R         allocation events (allocs + frees) per second; 0 = as fast\n"
            "                   as possible (default per profile: llm/cnn/train 1000,\n"
            "                   leaky 200, churn 50000)\n"
            "  --seed N         same seed, same devices, same profile: same events\n"
            "                   (default: drawn at start and printed)\n"
            "  --crash-after S  after S seconds flush, then SIGKILL itself (a crash)\n"
            "  --label TEXT     label the tools show (default sim-PROFILE)\n"
            "  --share PCT      use at most PCT %% of each device's memory (default 100),\n"
            "                   so that several simulated processes can share a device\n"
            "  --sysroot DIR    the fake tree (default $TT_SYSROOT); without one no device\n"
            "                   node is opened\n"
            "  --socket PATH    the server's socket (default $TT_ALLOC_SOCKET or the usual list)\n"
            "  --steps N        stop cleanly after N profile steps\n"
            "  --print-events   print the events on stdout instead of recording them; no\n"
            "                   pacing, no device opened (needs --steps, or --duration with\n"
            "                   a --rate: then duration x rate events)\n"
            "  --quiet          print only errors and out-of-memory reports\n"
            "  --shm            also write TT-Metal's SHM statistics, as TT-Metal does:\n"
            "                   SYSROOT/dev/shm/tt_device_<asic id>_memory (v4), one per\n"
            "                   device; detached at a clean end, left behind by a crash\n"
            "  --no-ttalloc     with --shm: record nothing through libttalloc (an\n"
            "                   unmodified TT-Metal app that only writes SHM)\n"
            "  --visible-devices LIST\n"
            "                   run as under TT_VISIBLE_DEVICES=LIST (set in this process's\n"
            "                   environment): open the devices LIST names (integers count\n"
            "                   nodes in PCI bus order, other items match bus ids) and\n"
            "                   number them 0, 1, ... in bus order in the SHM regions, as\n"
            "                   TT-Metal does; replaces --device\n"
            "  --record FILE    run under tt-alloc-record -o FILE: the run's every event,\n"
            "                   in order, into a recording for tt-alloc-report (a private\n"
            "                   server is started when none runs)\n");
}

static int sim_run_parse(int argc, char **argv, struct sim_run_opts *o)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"profile", required_argument, NULL, 'p'},
        {"duration", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"crash-after", required_argument, NULL, 'c'},
        {"label", required_argument, NULL, 'l'},
        {"share", required_argument, NULL, 'S'},
        {"sysroot", required_argument, NULL, 'R'},
        {"socket", required_argument, NULL, 'k'},
        {"steps", required_argument, NULL, 'n'},
        {"print-events", no_argument, NULL, 'P'},
        {"dry-run", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"shm", no_argument, NULL, 'M'},
        {"no-ttalloc", no_argument, NULL, 'N'},
        {"visible-devices", required_argument, NULL, 'V'},
        {"record", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *devices = "0";
    double v;
    int c;
    memset(o, 0, sizeof(*o));
    o->profile = "llm";
    o->rate = -1;
    o->crash_after = -1;
    o->share = 100;
    optind = 1;
    opterr = 0; /* one error line of ours, not getopt's and the whole usage */
    while ((c = getopt_long(argc, argv, ":d:p:t:r:s:c:l:S:R:k:n:Pqh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            devices = optarg;
            o->device_given = 1;
            break;
        case 'V':
            o->visible = optarg;
            break;
        case 'W':
            if (optarg[0] == '\0') {
                log_errorx("--record: want a file name");
                return -EINVAL;
            }
            o->record = optarg;
            break;
        case 'p':
            o->profile = optarg;
            break;
        case 't':
            if (sim_run_number(optarg, 0, 1e7, &o->duration) < 0) {
                log_errorx("--duration: want seconds >= 0, got '%s'", optarg);
                return -EINVAL;
            }
            break;
        case 'r':
            if (sim_run_number(optarg, 0, 1e9, &o->rate) < 0) {
                log_errorx("--rate: want events per second >= 0, got '%s'", optarg);
                return -EINVAL;
            }
            break;
        case 's': {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 0);
            if (end == optarg || *end != '\0' || errno != 0 || *optarg == '-') {
                log_errorx("--seed: want an unsigned integer, got '%s'", optarg);
                return -EINVAL;
            }
            o->have_seed = 1;
            break;
        }
        case 'c':
            if (sim_run_number(optarg, 0, 1e7, &o->crash_after) < 0) {
                log_errorx("--crash-after: want seconds >= 0, got '%s'", optarg);
                return -EINVAL;
            }
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'S':
            if (sim_run_number(optarg, 10, 100, &v) < 0) {
                log_errorx("--share: want a percentage 10..100, got '%s'", optarg);
                return -EINVAL;
            }
            o->share = (unsigned)v;
            break;
        case 'R':
            o->sysroot = optarg;
            break;
        case 'k':
            o->socket = optarg;
            break;
        case 'n':
            if (sim_run_number(optarg, 1, 1e15, &v) < 0) {
                log_errorx("--steps: want a count >= 1, got '%s'", optarg);
                return -EINVAL;
            }
            o->steps = (uint64_t)v;
            break;
        case 'P':
            o->print_events = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'M':
            o->shm = 1;
            break;
        case 'N':
            o->no_ttalloc = 1;
            break;
        case 'h':
            sim_run_usage(stdout);
            return 1;
        case ':':
            log_errorx("%s wants a value (tt-alloc-sim run --help)", argv[optind - 1]);
            return -EINVAL;
        default:
            log_errorx("unknown option '%s' (tt-alloc-sim run --help)", argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        log_errorx("unexpected argument '%s' (tt-alloc-sim run --help)", argv[optind]);
        return -EINVAL;
    }
    o->n_devs = sim_run_parse_devices(devices, o->devs, SIM_RUN_MAX_DEVICES);
    if (o->n_devs < 0) {
        log_errorx("--device '%s': want ordinals like 0,1 or 0:n150,2:p150a (distinct, "
                   "0..4095, at most %d)",
                   devices, SIM_RUN_MAX_DEVICES);
        return -EINVAL;
    }
    if (profiles_default_rate(o->profile) == 0) {
        log_errorx("--profile '%s': want llm, cnn, train, leaky or churn", o->profile);
        return -EINVAL;
    }
    if (o->rate < 0)
        o->rate = profiles_default_rate(o->profile);
    if (o->label != NULL && strlen(o->label) >= TTALLOC_LABEL_MAX) {
        log_errorx("--label: at most %d bytes", TTALLOC_LABEL_MAX - 1);
        return -EINVAL;
    }
    for (int i = 0; i < o->n_devs; i++)
        o->logical[i] = (uint32_t)o->devs[i].index; /* no renumbering */
    if (o->visible != NULL && (o->device_given || o->print_events)) {
        log_errorx("--visible-devices picks the devices: leave out --device and --print-events");
        return -EINVAL;
    }
    if (o->no_ttalloc && !o->shm) {
        log_errorx("--no-ttalloc goes with --shm (else nothing would be recorded)");
        return -EINVAL;
    }
    if (o->record != NULL && o->print_events) {
        log_errorx("--record records through the server; --print-events only prints");
        return -EINVAL;
    }
    if (o->shm && o->print_events) {
        log_errorx("--shm records; --print-events only prints");
        return -EINVAL;
    }
    if (o->print_events && o->steps == 0 && !(o->duration > 0 && o->rate > 0)) {
        log_errorx("--print-events needs --steps N, or --duration S with a --rate above 0");
        return -EINVAL;
    }
    return 0;
}

/* --shm: mirror an alloc or free into the device's region. TT-Metal's
 * counters are by size, so a free needs the size its alloc had. */
static void sim_run_shm_event(struct sim_run_ctx *c, const struct profiles_event *ev)
{
    struct shmwriter *w = NULL;
    uint32_t chip = 0;
    for (int i = 0; i < c->n_shm; i++) {
        if (c->shm_device[i] == ev->device) {
            w = c->shm[i];
            chip = c->shm_logical[i];
        }
    }
    if (w == NULL)
        return;
    uint64_t size = 0;
    if (ev->kind == PROFILES_ALLOC) {
        int rc =
            buftable_insert(&c->sizes, ev->device, (uint8_t)ev->type, ev->address, ev->size, &size);
        if (rc == 1)
            shmwriter_free(w, ev->type, size, chip); /* replaced a live one */
        if (rc >= 0)
            shmwriter_alloc(w, ev->type, ev->size, chip);
    } else if (buftable_remove(&c->sizes, ev->device, (uint8_t)ev->type, ev->address, &size) == 1) {
        shmwriter_free(w, ev->type, size, chip);
    }
}

/* --shm: attach to one region per device, named by its tt_asic_id as a
 * number (so tools match it to the node for certain), else its ordinal. */
static int sim_run_shm_attach(struct sim_run_ctx *c, const struct sim_run_opts *o, const char *root,
                              const struct sysfs_device *sd)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/dev", root);
    if (root[0] != '\0' && mkdir(dir, 0755) < 0 && errno != EEXIST) {
        log_warn("mkdir %s", dir);
        return -errno;
    }
    snprintf(dir, sizeof(dir), "%s/dev/shm", root);
    if (root[0] != '\0' && mkdir(dir, 01777) < 0 && errno != EEXIST) {
        log_warn("mkdir %s", dir);
        return -errno;
    }
    for (int i = 0; i < o->n_devs; i++) {
        /* UMD's chip_unique_id: on Blackhole the ASIC id tt-kmd shows too; on
         * Wormhole a board id (tt_serial stands for it here) */
        uint64_t chip = shmmap_parse_hex16(sd[i].asic_id);
        if (chip == 0)
            chip = shmmap_parse_hex16(sd[i].serial);
        if (chip == 0)
            chip = (uint64_t)sd[i].index;
        int rc = shmwriter_attach(dir, chip, o->logical[i], 4, &c->shm[c->n_shm]);
        if (rc < 0) {
            log_warnx("device %d: cannot attach to its SHM statistics in %s: %s", sd[i].index, dir,
                      strerror(-rc));
            return rc;
        }
        c->shm_logical[c->n_shm] = o->logical[i];
        c->shm_device[c->n_shm++] = (uint32_t)sd[i].index;
        if (!shmwriter_has_slot(c->shm[c->n_shm - 1]))
            log_warnx("device %d: %s has no free process slot: not counted there", sd[i].index,
                      shmwriter_path(c->shm[c->n_shm - 1]));
    }
    return 0;
}

static void sim_run_emit(void *ctx, const struct profiles_event *ev)
{
    struct sim_run_ctx *c = ctx;
    c->events++;
    if (c->print) {
        if (ev->kind == PROFILES_ALLOC)
            printf("alloc %u %s 0x%" PRIx64 " %" PRIu64 "\n", ev->device,
                   sim_mem_type_name(ev->type), ev->address, ev->size);
        else if (ev->kind == PROFILES_FREE)
            printf("free %u %s 0x%" PRIx64 "\n", ev->device, sim_mem_type_name(ev->type),
                   ev->address);
        else
            printf("oom %u %s %" PRIu64 "\n", ev->device, sim_mem_type_name(ev->type), ev->size);
        return;
    }
    switch (ev->kind) {
    case PROFILES_ALLOC:
        if (c->ttalloc)
            ttalloc_record_alloc(ev->device, ev->type, ev->address, ev->size);
        sim_run_shm_event(c, ev);
        break;
    case PROFILES_FREE:
        if (c->ttalloc)
            ttalloc_record_free(ev->device, ev->type, ev->address);
        sim_run_shm_event(c, ev);
        break;
    default:
        c->ooms++;
        if (c->ooms <= SIM_RUN_OOM_SHOWN || c->ooms % 100 == 0)
            log_warnx("device %u: %s%s", ev->device, ev->message,
                      c->ooms > SIM_RUN_OOM_SHOWN ? " (and more: every 100th is shown)" : "");
        break;
    }
}

static double sim_run_now(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void sim_run_sleep(double seconds)
{
    if (seconds > 0.25)
        seconds = 0.25; /* stay responsive to deadlines even if a signal is missed */
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL); /* EINTR: a signal, the loop looks at the flag */
}

/* The geometry of each device, scaled to --share. */
static int sim_run_geometry(const struct sim_run_opts *o, const char *root,
                            struct profiles_device *pd, struct sysfs_device *sd)
{
    for (int i = 0; i < o->n_devs; i++) {
        memset(&sd[i], 0, sizeof(sd[i]));
        sd[i].index = o->devs[i].index;
        if (o->devs[i].board[0] != '\0') {
            snprintf(sd[i].card_type, sizeof(sd[i].card_type), "%s", o->devs[i].board);
            if (!o->print_events)
                sysfs_read_device(root, &sd[i]); /* serial, asic id when present */
            snprintf(sd[i].card_type, sizeof(sd[i].card_type), "%s", o->devs[i].board);
        } else if (o->print_events) {
            log_errorx("--print-events: give each device's board (--device N:BOARD)");
            return -EINVAL;
        } else {
            sysfs_read_device(root, &sd[i]);
            if (sd[i].card_type[0] == '\0') {
                log_errorx("device %d: no tt_card_type under '%s'; give the board as "
                           "--device %d:BOARD",
                           sd[i].index, root[0] ? root : "/", sd[i].index);
                return -ENOENT;
            }
        }
        pd[i].id = (uint32_t)sd[i].index;
        if (sim_mem_geometry_for(sd[i].card_type, &pd[i].geometry) < 0) {
            log_errorx("device %d: board '%s' has no known memory size (see boards.h): "
                       "nothing to simulate",
                       sd[i].index, sd[i].card_type);
            return -ENOENT;
        }
        struct sim_mem_geometry *g = &pd[i].geometry;
        g->dram_bank_size = g->dram_bank_size / 100 * o->share / g->dram_align * g->dram_align;
        g->l1_bank_size = g->l1_bank_size / 100 * o->share / g->l1_align * g->l1_align;
    }
    return 0;
}

static void sim_run_describe(const struct sim_run_opts *o, const struct profiles *p,
                             const struct sysfs_device *sd)
{
    for (int i = 0; i < o->n_devs; i++) {
        struct ttalloc_device_desc desc;
        uint64_t board_cap[TTALLOC_NUM_TYPES], region_cap[TTALLOC_NUM_TYPES];
        memset(&desc, 0, sizeof(desc));
        size_t len = strnlen(sd[i].card_type, sizeof(desc.board_type) - 1);
        memcpy(desc.board_type, sd[i].card_type, len); /* known boards are short */
        if (sd[i].serial[0] != '\0')
            desc.board_serial = strtoull(sd[i].serial, NULL, 16);
        if (sd[i].asic_id[0] != '\0')
            desc.asic_id = strtoull(sd[i].asic_id, NULL, 16);
        boards_capacity(sd[i].card_type, board_cap);
        profiles_capacity(p, (size_t)i, region_cap);
        desc.capacity[TTALLOC_DRAM] = board_cap[TTALLOC_DRAM];
        desc.capacity[TTALLOC_L1] = board_cap[TTALLOC_L1];
        desc.capacity[TTALLOC_CB] = board_cap[TTALLOC_L1]; /* CBs live in L1 */
        /* TRACE and L1_SMALL regions are sized by each process when it opens
         * the device, so they are the device's only when this process has it
         * to itself; a share of the device leaves them unknown rather than
         * letting the last describer's region stand for everyone's. */
        if (o->share == 100) {
            desc.capacity[TTALLOC_TRACE] = region_cap[TTALLOC_TRACE];
            desc.capacity[TTALLOC_L1_SMALL] = region_cap[TTALLOC_L1_SMALL];
        }
        int rc = ttalloc_describe_device((uint32_t)sd[i].index, &desc);
        if (rc < 0)
            log_warnx("device %d: cannot describe it: %s", sd[i].index, strerror(-rc));
    }
}

static uint64_t sim_run_default_seed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ((uint64_t)t.tv_sec * 1000003u) ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 32);
}

/* Print the events of a run without pacing: a reproducibility check. */
static int sim_run_print(const struct sim_run_opts *o, struct profiles *p)
{
    struct sim_run_ctx ctx = {.print = 1, .quiet = o->quiet};
    double budget = o->duration * o->rate;
    int crashed = 0;
    if (o->crash_after >= 0 && o->rate > 0 && (o->duration == 0 || o->crash_after < o->duration)) {
        budget = o->crash_after * o->rate;
        crashed = 1;
    }
    for (uint64_t step = 0; !sim_run_stop; step++) {
        if (o->steps > 0 && step >= o->steps)
            break;
        if (o->steps == 0 && (double)ctx.events >= budget)
            break;
        if (profiles_step(p, sim_run_emit, &ctx) == 0 && profiles_ooms(p) == 0 && step > 0)
            break;
    }
    if (crashed)
        printf("crash\n");
    else
        profiles_finish(p, sim_run_emit, &ctx);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int sim_run_record(const struct sim_run_opts *o, struct profiles *p, const char *root,
                          const struct sysfs_device *sd)
{
    int fds[SIM_RUN_MAX_DEVICES];
    int pids_kept[SIM_RUN_MAX_DEVICES];
    int rc = 0;
    pid_t self = getpid();
    for (int i = 0; i < o->n_devs; i++) {
        fds[i] = -1;
        pids_kept[i] = 0;
    }
    /* Show up as a device user, as TT-Metal does by opening the node; never
     * open a real node (that powers the chip up). */
    if (root[0] != '\0') {
        for (int i = 0; i < o->n_devs && rc == 0; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/dev/tenstorrent/%d", root, o->devs[i].index);
            fds[i] = open(path, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) {
                rc = -errno;
                log_warnx("cannot open %s: %s", path, strerror(errno));
                break;
            }
            int prc = sim_pids_add(root, o->devs[i].index, self);
            if (prc == 0)
                pids_kept[i] = 1;
            else if (prc != -ENOENT)
                log_warnx("device %d: cannot update its pids file: %s", o->devs[i].index,
                          strerror(-prc));
        }
    } else if (!o->quiet) {
        log_info("no sysroot (--sysroot or TT_SYSROOT): no device node opened");
    }

    struct sim_run_ctx ctx = {.print = 0, .quiet = o->quiet, .ttalloc = !o->no_ttalloc};
    uint64_t steps = 0;
    buftable_init(&ctx.sizes);
    if (rc == 0 && o->shm)
        rc = sim_run_shm_attach(&ctx, o, root, sd);
    if (rc == 0) {
        char label[TTALLOC_LABEL_MAX];
        if (o->label != NULL)
            snprintf(label, sizeof(label), "%s", o->label);
        else
            snprintf(label, sizeof(label), "sim-%s", o->profile);
        if (ctx.ttalloc) {
            ttalloc_set_label(label);
            sim_run_describe(o, p, sd);
        }

        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!sim_run_stop) {
            double now = sim_run_now(&t0);
            if (o->duration > 0 && now >= o->duration)
                break;
            if (o->crash_after >= 0 && now >= o->crash_after) {
                /* what was recorded reaches the server; then a crash: no
                 * frees, no goodbye, fds closed by the kernel */
                if (ctx.ttalloc)
                    ttalloc_flush(2000);
                if (!o->quiet) {
                    printf("tt-alloc-sim run: pid %d crashing (SIGKILL) after %.1f s\n", (int)self,
                           now);
                    fflush(stdout);
                }
                kill(self, SIGKILL);
            }
            if (o->steps > 0 && steps >= o->steps)
                break;
            size_t n = profiles_step(p, sim_run_emit, &ctx);
            steps++;
            if (n == 0 && profiles_ooms(p) == 0) {
                log_warnx("the workload stopped (out of host memory)");
                rc = -ENOMEM;
                break;
            }
            if (o->rate > 0) {
                double target = (double)ctx.events / o->rate, next;
                while (!sim_run_stop && (next = sim_run_now(&t0)) < target) {
                    if (o->duration > 0 && next >= o->duration)
                        break;
                    if (o->crash_after >= 0 && next >= o->crash_after)
                        break;
                    double until = target;
                    if (o->duration > 0 && o->duration < until)
                        until = o->duration;
                    if (o->crash_after >= 0 && o->crash_after < until)
                        until = o->crash_after;
                    if (until - next < 0.0005)
                        break;
                    sim_run_sleep(until - next);
                }
            }
        }
        /* a clean end: free what the workload frees, then make sure the
         * server has it all */
        profiles_finish(p, sim_run_emit, &ctx);
        int frc = ctx.ttalloc ? ttalloc_flush(3000) : 0;
        if (frc < 0 && frc != -ENOTCONN)
            log_warnx("flush: %s", strerror(-frc));
        if (!o->quiet) {
            printf("tt-alloc-sim run: pid %d done: %" PRIu64 " steps, %" PRIu64 " events, %" PRIu64
                   " out of memory%s\n",
                   (int)self, steps, ctx.events, ctx.ooms,
                   frc == -ENOTCONN ? " (no server reached)" : "");
            fflush(stdout);
        }
    }
    for (int i = 0; i < ctx.n_shm; i++)
        shmwriter_detach(ctx.shm[i]); /* a clean end: our slots go */
    buftable_destroy(&ctx.sizes);
    for (int i = 0; i < o->n_devs; i++) {
        if (pids_kept[i]) {
            int prc = sim_pids_remove(root, o->devs[i].index, self);
            if (prc < 0)
                log_warnx("device %d: cannot update its pids file: %s", o->devs[i].index,
                          strerror(-prc));
        }
        if (fds[i] >= 0)
            close(fds[i]);
    }
    return rc < 0 ? 1 : 0;
}

/* --visible-devices: TT-Metal reads TT_VISIBLE_DEVICES from its environment,
 * and tools read it from /proc/<pid>/environ, which shows the environment
 * the process started with: so start again with it set. */
static int sim_run_reexec_visible(const struct sim_run_opts *o, int argc, char **argv)
{
    const char *now = getenv("TT_VISIBLE_DEVICES");
    if (now != NULL && strcmp(now, o->visible) == 0)
        return 0;
    if (setenv("TT_VISIBLE_DEVICES", o->visible, 1) < 0) {
        log_warn("setenv");
        return -errno;
    }
    /* by its own path, so that its name (comm) stays tt-alloc-sim */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0) {
        log_warn("readlink /proc/self/exe");
        return -errno;
    }
    self[len] = '\0';
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (args == NULL)
        return -ENOMEM;
    args[0] = (char *)"tt-alloc-sim";
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    fflush(NULL);
    execv(self, args);
    log_warn("exec %s", self);
    free(args);
    return -errno;
}

/* --visible-devices: the devices it names, in PCI bus order, numbered 0, 1,
 * ... as UMD and TT-Metal number them (shmmap_visible_order). */
static int sim_run_visible_devices(struct sim_run_opts *o, const char *root)
{
    struct sysfs_device *devs = NULL;
    size_t n = 0;
    int rc = sysfs_scan(root, &devs, &n);
    if (rc < 0) {
        log_warnx("--visible-devices: no devices under '%s': %s", root[0] ? root : "/",
                  strerror(-rc));
        return rc;
    }
    int order[SIM_RUN_MAX_DEVICES];
    int got = n <= SIM_RUN_MAX_DEVICES ? shmmap_visible_order(o->visible, devs, n, order) : -E2BIG;
    if (got <= 0) {
        log_warnx("--visible-devices '%s': %s", o->visible,
                  got == 0 ? "names no device" : "an item matches no device (UMD refuses it)");
        free(devs);
        return -EINVAL;
    }
    o->n_devs = got;
    for (int k = 0; k < got; k++) {
        memset(&o->devs[k], 0, sizeof(o->devs[k]));
        o->devs[k].index = devs[order[k]].index;
        o->logical[k] = (uint32_t)k;
    }
    free(devs);
    return 0;
}

/* --record FILE: become `tt-alloc-record -o FILE -- tt-alloc-sim run ARGS`,
 * ARGS without --record. Returns only on failure. */
static int sim_run_exec_recorder(const struct sim_run_opts *o, int argc, char **argv)
{
    char recorder[PATH_MAX], self[PATH_MAX];
    sibling_find("tt-alloc-record", "record", recorder, sizeof(recorder));
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0) {
        log_warn("readlink /proc/self/exe");
        return -errno;
    }
    self[len] = '\0';
    char **args = calloc((size_t)argc + 10, sizeof(*args));
    if (args == NULL)
        return -ENOMEM;
    int n = 0;
    args[n++] = (char *)"tt-alloc-record";
    args[n++] = (char *)"-o";
    args[n++] = (char *)o->record;
    if (o->socket != NULL) {
        args[n++] = (char *)"--socket";
        args[n++] = (char *)o->socket;
    }
    args[n++] = (char *)"--";
    args[n++] = self;
    args[n++] = (char *)"run";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--record") == 0) {
            i++; /* and its value */
            continue;
        }
        if (strncmp(argv[i], "--record=", 9) == 0)
            continue;
        args[n++] = argv[i];
    }
    fflush(NULL);
    execvp(recorder, args);
    log_warn("cannot run %s", recorder);
    free(args);
    return -errno;
}

int sim_run_main(int argc, char **argv)
{
    struct sim_run_opts o;
    int rc = sim_run_parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (o.record != NULL) {
        sim_run_exec_recorder(&o, argc, argv);
        return 1;
    }
    if (o.visible != NULL) {
        if (sim_run_reexec_visible(&o, argc, argv) < 0)
            return 1;
        if (sim_run_visible_devices(&o, sysfs_sysroot(o.sysroot)) < 0)
            return 2;
    }
    if (o.no_ttalloc && setenv("TT_ALLOC_TRACKING", "0", 1) < 0) {
        log_warn("setenv");
        return 1;
    }
    if (o.socket != NULL && setenv("TT_ALLOC_SOCKET", o.socket, 1) < 0) {
        log_warn("setenv");
        return 1;
    }
    const char *root = o.print_events ? "" : sysfs_sysroot(o.sysroot);
    struct profiles_device pd[SIM_RUN_MAX_DEVICES];
    struct sysfs_device sd[SIM_RUN_MAX_DEVICES];
    if ((rc = sim_run_geometry(&o, root, pd, sd)) < 0)
        return rc == -EINVAL ? 2 : 1;
    if (!o.have_seed)
        o.seed = sim_run_default_seed();
    struct profiles *p;
    rc = profiles_create(o.profile, o.seed, pd, (size_t)o.n_devs, &p);
    if (rc < 0) {
        log_errorx("profile %s: %s", o.profile,
                   rc == -EINVAL ? "a device is too small for it" : strerror(-rc));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sim_run_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!o.quiet && !o.print_events) {
        printf("tt-alloc-sim run: pid %d, profile %s, seed %" PRIu64 ", rate %g events/s,"
               " devices",
               (int)getpid(), o.profile, o.seed, o.rate);
        for (int i = 0; i < o.n_devs; i++)
            printf(" %d:%s", sd[i].index, sd[i].card_type);
        if (o.visible != NULL) {
            printf(", TT_VISIBLE_DEVICES=%s: logical", o.visible);
            for (int i = 0; i < o.n_devs; i++)
                printf(" %u=%d", o.logical[i], sd[i].index);
        }
        printf("\n");
        fflush(stdout);
    }
    rc = o.print_events ? sim_run_print(&o, p) : sim_run_record(&o, p, root, sd);
    profiles_destroy(p);
    return rc;
}
