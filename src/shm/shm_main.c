/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm_main.c - tt-alloc-shm, the test and debug tool for TT-Metal's SHM
 * statistics:
 *   tt-alloc-shm dump [--json] [--sysroot DIR] [FILE|DIR...]
 *       print the regions (default $TT_SYSROOT/dev/shm) as text or JSON
 *   tt-alloc-shm map [--json] [--sysroot DIR]
 *       which tt-kmd device each region and chip stands for
 *   tt-alloc-shm write --dir DIR --chip-id N [--device D] [--version 3|4]
 *                      [--chip ID[:remote]]... [--alloc TYPE:SIZE[@CHIP]]...
 *       attach like a TT-Metal process, print "ready PID PATH", then obey
 *       lines on stdin ("alloc TYPE SIZE [CHIP]", "free TYPE SIZE [CHIP]",
 *       "chip ID [remote]", "detach"), answering "ok" or "error ..." to each;
 *       EOF, SIGTERM or SIGINT detach cleanly. SIGKILL leaves the slot behind.
 * Exit codes: 0 ok, 1 a file was refused or an operation failed, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buftype.h"
#include "log.h"
#include "number.h"
#include "shmmap.h"
#include "shmusage.h"
#include "shmstats.h"
#include "shmwriter.h"
#include "sysfs.h"
#include "termtext.h"

static void shm_usage(FILE *f)
{
    fprintf(f, "usage: tt-alloc-shm dump [--json] [--sysroot DIR] [FILE|DIR...]\n"
               "       tt-alloc-shm map [--json] [--sysroot DIR]\n"
               "       tt-alloc-shm write --dir DIR --chip-id N [--device D] [--version 3|4]\n"
               "                          [--chip ID[:remote]]... [--alloc TYPE:SIZE[@CHIP]]...\n"
               "types: dram l1 l1_small trace cb system_memory\n");
}

/* Numbers in decimal, 0x hexadecimal or 0 octal, as strtoull reads them. */
static int shm_parse_u64(const char *s, uint64_t *out)
{
    return number_parse_u64(s, 0, 0, UINT64_MAX, out);
}

static int shm_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    int rc = number_parse_u64(s, 0, 0, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int shm_parse_type(const char *s, enum ttalloc_buffer_type *out)
{
    int t = buftype_from_key(s);
    if (t < 0)
        return -EINVAL;
    *out = (enum ttalloc_buffer_type)t;
    return 0;
}

/* ---- JSON and text output ---- */

static void shm_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void shm_json_bytes(const uint64_t bytes[TTALLOC_NUM_TYPES])
{
    printf("{");
    for (int i = 0; i < BUFTYPE_N_DEVICE; i++)
        printf("%s\"%s\": %" PRIu64, i ? ", " : "", buftype_key(buftype_device[i]),
               bytes[buftype_device[i]]);
    printf("}");
}

static void shm_text_bytes(const uint64_t bytes[TTALLOC_NUM_TYPES])
{
    for (int i = 0; i < BUFTYPE_N_DEVICE; i++)
        printf(" %s=%" PRIu64, buftype_key(buftype_device[i]), bytes[buftype_device[i]]);
}

static void shm_print_json(const char *path, int status, const char *why,
                           const struct shmstats_region *r, int first)
{
    printf("%s\n  {\"path\": ", first ? "" : ",");
    shm_json_string(path);
    if (status != 0) {
        printf(", \"status\": %d, \"error\": ", status);
        shm_json_string(why);
        printf("}");
        return;
    }
    printf(", \"status\": 0, \"chip_unique_id\": %" PRIu64 ", \"version\": %u, "
           "\"device_id\": %u, \"board_serial\": %" PRIu64 ", \"asic_id\": %" PRIu64 ", "
           "\"num_active_processes\": %u, \"reference_count\": %u, \"last_update_ns\": %" PRIu64
           ", \"torn\": %s, \"stale\": %u, \"invalid\": %u,\n   \"totals\": ",
           r->chip_unique_id, r->version, r->device_id, r->board_serial, r->asic_id,
           r->num_active_processes, r->reference_count, r->last_update_ns,
           r->torn ? "true" : "false", r->stale, r->invalid);
    shm_json_bytes(r->totals);
    printf(",\n   \"unknown\": ");
    if (r->unknown)
        shm_json_string(r->unknown_why);
    else
        printf("null");
    printf(",\n   \"stale_bytes\": ");
    shm_json_bytes(r->stale_bytes);
    printf(",\n   \"chips\": [");
    for (size_t c = 0; c < r->n_chips; c++) {
        printf("%s{\"chip_id\": %u, \"is_remote\": %s, \"bytes\": ", c ? ", " : "",
               r->chips[c].chip_id, r->chips[c].is_remote ? "true" : "false");
        shm_json_bytes(r->chips[c].bytes);
        printf("}");
    }
    printf("],\n   \"processes\": [");
    for (size_t p = 0; p < r->n_processes; p++) {
        const struct shmstats_process *proc = &r->processes[p];
        printf("%s\n    {\"pid\": %d, \"name\": ", p ? "," : "", (int)proc->pid);
        shm_json_string(proc->name);
        printf(", \"last_update_ns\": %" PRIu64 ", \"bytes\": ", proc->last_update_ns);
        shm_json_bytes(proc->bytes);
        printf("}");
    }
    printf("]}");
}

static void shm_print_text(const char *path, int status, const char *why,
                           const struct shmstats_region *r)
{
    if (status != 0) {
        printf("%s: refused (%s)\n", path, why);
        return;
    }
    printf("%s: version %u, device %u, chip_unique_id %" PRIu64 ", asic_id %" PRIu64
           ", board_serial %" PRIu64 ", %u active, %u attached%s\n",
           path, r->version, r->device_id, r->chip_unique_id, r->asic_id, r->board_serial,
           r->num_active_processes, r->reference_count, r->torn ? ", torn read" : "");
    printf("  totals:");
    shm_text_bytes(r->totals);
    printf("\n");
    if (r->unknown)
        printf("  figures unknown: %s\n", r->unknown_why);
    for (size_t c = 0; c < r->n_chips; c++) {
        printf("  chip %u%s:", r->chips[c].chip_id, r->chips[c].is_remote ? " (remote)" : "");
        shm_text_bytes(r->chips[c].bytes);
        printf("\n");
    }
    for (size_t p = 0; p < r->n_processes; p++) {
        char name[4 * sizeof(r->processes[p].name)];
        termtext_fit(name, sizeof(name), r->processes[p].name, sizeof(name));
        printf("  pid %d %s:", (int)r->processes[p].pid, name);
        shm_text_bytes(r->processes[p].bytes);
        printf("\n");
    }
    if (r->stale || r->invalid) {
        printf("  stale slots %u (dead PIDs), invalid %u:", r->stale, r->invalid);
        shm_text_bytes(r->stale_bytes);
        printf("\n");
    }
}

/* ---- dump ---- */

struct shm_opts {
    int json;
    const char *sysroot;
};

/* An option the command's switch does not take: -h prints the usage and
 * exits 0, anything else is a bad option (one error line). */
static int shm_other_option(int c, char **argv)
{
    if (c == 'h') {
        shm_usage(stdout);
        exit(0);
    }
    log_errorx("unknown or incomplete option '%s' (tt-alloc-shm --help)", argv[optind - 1]);
    return -EINVAL;
}

static int shm_parse_common(int argc, char **argv, struct shm_opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"sysroot", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0; /* one error line of ours, not getopt's */
    while ((c = getopt_long(argc, argv, "js:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = 1;
            break;
        case 's':
            o->sysroot = optarg;
            break;
        default:
            return shm_other_option(c, argv);
        }
    }
    return 0;
}

static int shm_dump(int argc, char **argv)
{
    struct shm_opts o = {0, NULL};
    if (shm_parse_common(argc, argv, &o) != 0)
        return 2;
    char defdir[SHMSTATS_PATH_MAX];
    snprintf(defdir, sizeof(defdir), "%s/dev/shm", sysfs_sysroot(o.sysroot));
    char *defargv[1] = {defdir};
    char **paths = optind < argc ? argv + optind : defargv;
    int npaths = optind < argc ? argc - optind : 1;

    int bad = 0, first = 1;
    if (o.json)
        printf("{\"regions\": [");
    struct shmstats_region *region = malloc(sizeof(*region));
    if (region == NULL)
        fatalx("out of memory");
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct shmstats_watch *w = shmstats_watch_new_dir(paths[i]);
            if (w == NULL || shmstats_watch_refresh(w) < 0)
                fatalx("out of memory");
            for (size_t k = 0; k < shmstats_watch_count(w); k++) {
                const struct shmstats_file *f = shmstats_watch_get(w, k);
                if (o.json)
                    shm_print_json(f->path, f->status, f->why, &f->region, first);
                else
                    shm_print_text(f->path, f->status, f->why, &f->region);
                first = 0;
                bad |= f->status != 0;
            }
            shmstats_watch_free(w);
            continue;
        }
        char why[SHMSTATS_WHY_MAX];
        int rc = shmstats_read_file(paths[i], region, why, sizeof(why));
        if (o.json)
            shm_print_json(paths[i], rc, why, region, first);
        else
            shm_print_text(paths[i], rc, why, region);
        first = 0;
        bad |= rc != 0;
    }
    free(region);
    if (o.json)
        printf("\n]}\n");
    return bad ? 1 : 0;
}

/* ---- map ---- */

static int shm_map(int argc, char **argv)
{
    struct shm_opts o = {0, NULL};
    if (shm_parse_common(argc, argv, &o) != 0)
        return 2;
    if (optind != argc) {
        log_errorx("map takes no file: unexpected '%s' (tt-alloc-shm --help)", argv[optind]);
        return 2;
    }
    const char *root = sysfs_sysroot(o.sysroot);
    struct sysfs_device *devs = NULL;
    size_t ndev = 0;
    int rc = sysfs_scan(root, &devs, &ndev);
    if (rc < 0 && rc != -ENOENT)
        fatalx("sysfs: %s", strerror(-rc));
    struct shmstats_watch *w = shmstats_watch_new(root);
    if (w == NULL || shmstats_watch_refresh(w) < 0)
        fatalx("out of memory");
    size_t nfiles = shmstats_watch_count(w), n = 0;
    struct shmstats_region *regions = calloc(nfiles + 1, sizeof(*regions));
    if (regions == NULL)
        fatalx("out of memory");
    for (size_t k = 0; k < nfiles; k++) {
        const struct shmstats_file *f = shmstats_watch_get(w, k);
        if (f->status == 0)
            regions[n++] = f->region;
        if (f->why[0] != '\0')
            log_warnx("%s", f->why);
    }
    struct shmmap_proc *procs = NULL;
    size_t nprocs = 0;
    struct shmmap_row *rows = NULL;
    size_t nrows = 0;
    if (shmusage_procs(root, regions, n, devs, ndev, &procs, &nprocs) != 0 ||
        shmmap_build(regions, n, devs, ndev, procs, nprocs, &rows, &nrows) != 0)
        fatalx("out of memory");
    if (o.json)
        printf("{\"rows\": [");
    for (size_t i = 0; i < nrows; i++) {
        const struct shmmap_row *row = &rows[i];
        int ordinal = row->sysfs >= 0 ? devs[row->sysfs].index : -1;
        int board = row->board_sysfs >= 0 ? devs[row->board_sysfs].index : -1;
        if (o.json) {
            const char *how = shmmap_match_name(row->how);
            printf("%s\n  {\"device\": %u, \"node\": %d, \"board_node\": %d, \"match\": ",
                   i ? "," : "", row->device, ordinal, board);
            if (how)
                printf("\"%s\"", how);
            else
                printf("null");
            printf(", \"chip_id\": %u, \"own\": %s, \"remote\": %s, \"processes\": %zu, "
                   "\"path\": ",
                   row->chip_id, row->own ? "true" : "false", row->remote ? "true" : "false",
                   row->own ? regions[row->region].n_processes : (size_t)0);
            shm_json_string(regions[row->region].path);
            printf(", \"bytes\": ");
            if (row->unknown)
                printf("null");
            else
                shm_json_bytes(row->bytes);
            printf("}");
        } else {
            const char *how = shmmap_match_name(row->how);
            printf("device %u: node %d (by %s), chip %u%s%s, board node %d, %zu processes,",
                   row->device, ordinal, how ? how : "none", row->chip_id,
                   row->remote ? " remote" : "", row->own ? "" : " (through gateway)", board,
                   row->own ? regions[row->region].n_processes : (size_t)0);
            if (row->unknown)
                printf(" figures unknown");
            else
                shm_text_bytes(row->bytes);
            printf("\n");
        }
    }
    if (o.json)
        printf("\n]}\n");
    free(rows);
    free(procs);
    free(regions);
    free(devs);
    shmstats_watch_free(w);
    return 0;
}

/* ---- write ---- */

static volatile sig_atomic_t shm_stop;

static void shm_on_signal(int sig)
{
    (void)sig;
    shm_stop = 1;
}

/* "TYPE:SIZE[@CHIP]" */
static int shm_parse_op(char *spec, enum ttalloc_buffer_type *type, uint64_t *size, uint32_t *chip,
                        uint32_t default_chip)
{
    char *colon = strchr(spec, ':');
    if (colon == NULL)
        return -EINVAL;
    *colon = '\0';
    char *at = strchr(colon + 1, '@');
    *chip = default_chip;
    if (at != NULL) {
        *at = '\0';
        if (shm_parse_u32(at + 1, chip) != 0)
            return -EINVAL;
    }
    if (shm_parse_type(spec, type) != 0 || shm_parse_u64(colon + 1, size) != 0)
        return -EINVAL;
    return 0;
}

/* One stdin command; returns 1 to stop, 0 to go on. */
static int shm_command(struct shmwriter *w, char *line, uint32_t device)
{
    char *argv[5] = {NULL};
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 5; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc == 0)
        return 0;
    int rc = -EINVAL;
    if (strcmp(argv[0], "detach") == 0 && argc == 1)
        return 1;
    if ((strcmp(argv[0], "alloc") == 0 || strcmp(argv[0], "free") == 0) &&
        (argc == 3 || argc == 4)) {
        enum ttalloc_buffer_type type;
        uint64_t size;
        uint32_t chip = device;
        if (shm_parse_type(argv[1], &type) == 0 && shm_parse_u64(argv[2], &size) == 0 &&
            (argc == 3 || shm_parse_u32(argv[3], &chip) == 0))
            rc = argv[0][0] == 'a' ? shmwriter_alloc(w, type, size, chip)
                                   : shmwriter_free(w, type, size, chip);
    } else if (strcmp(argv[0], "chip") == 0 && (argc == 2 || argc == 3)) {
        uint32_t chip;
        if (shm_parse_u32(argv[1], &chip) == 0 && (argc == 2 || strcmp(argv[2], "remote") == 0))
            rc = shmwriter_register_chip(w, chip, argc == 3);
    }
    if (rc == 0)
        printf("ok\n");
    else
        printf("error %s\n", strerror(-rc));
    fflush(stdout);
    return 0;
}

static int shm_write(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},    {"chip-id", required_argument, NULL, 'c'},
        {"device", required_argument, NULL, 'D'}, {"version", required_argument, NULL, 'V'},
        {"chip", required_argument, NULL, 'C'},   {"alloc", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    uint64_t chip_unique_id = 0;
    uint32_t device = 0, version = 4;
    int have_id = 0;
    char **chips = calloc((size_t)argc + 1, sizeof(char *));
    char **allocs = calloc((size_t)argc + 1, sizeof(char *));
    if (chips == NULL || allocs == NULL)
        fatalx("out of memory");
    int nchips = 0, nallocs = 0, c, bad = 0;
    optind = 1;
    opterr = 0; /* one error line of ours, not getopt's */
    while ((c = getopt_long(argc, argv, "d:c:D:V:C:a:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'c':
            bad |= shm_parse_u64(optarg, &chip_unique_id) != 0;
            have_id = 1;
            break;
        case 'D':
            bad |= shm_parse_u32(optarg, &device) != 0;
            break;
        case 'V':
            bad |= shm_parse_u32(optarg, &version) != 0 || (version != 3 && version != 4);
            break;
        case 'C':
            chips[nchips++] = optarg;
            break;
        case 'a':
            allocs[nallocs++] = optarg;
            break;
        default:
            bad |= shm_other_option(c, argv) < 0;
            break;
        }
    }
    if (!bad && (dir == NULL || !have_id || optind != argc)) {
        log_errorx("write wants --dir DIR and --chip-id N, and no other argument "
                   "(tt-alloc-shm --help)");
        bad = 1;
    } else if (bad && dir != NULL && have_id) {
        log_errorx("write: a value is not a number, or --version is not 3 or 4 "
                   "(tt-alloc-shm --help)");
    }
    if (bad) {
        free(chips);
        free(allocs);
        return 2;
    }

    struct shmwriter *w = NULL;
    int rc = shmwriter_attach(dir, chip_unique_id, device, version, &w);
    if (rc != 0) {
        log_warnx("attach %s/tt_device_%" PRIu64 "_memory: %s", dir, chip_unique_id, strerror(-rc));
        free(chips);
        free(allocs);
        return 1;
    }
    for (int i = 0; i < nchips && rc == 0; i++) {
        char *colon = strchr(chips[i], ':');
        uint32_t id;
        int remote = 0;
        if (colon != NULL) {
            *colon = '\0';
            remote = strcmp(colon + 1, "remote") == 0;
            if (!remote)
                rc = -EINVAL;
        }
        if (rc == 0)
            rc = shm_parse_u32(chips[i], &id);
        if (rc == 0)
            rc = shmwriter_register_chip(w, id, remote);
    }
    for (int i = 0; i < nallocs && rc == 0; i++) {
        enum ttalloc_buffer_type type;
        uint64_t size;
        uint32_t chip;
        rc = shm_parse_op(allocs[i], &type, &size, &chip, device);
        if (rc == 0)
            rc = shmwriter_alloc(w, type, size, chip);
    }
    free(chips);
    free(allocs);
    if (rc != 0) {
        log_warnx("setting up %s: %s", shmwriter_path(w), strerror(-rc));
        shmwriter_detach(w);
        return rc == -EINVAL ? 2 : 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = shm_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: a blocked read returns EINTR */
    sigaction(SIGINT, &sa, NULL);

    printf("ready %d %s%s\n", (int)getpid(), shmwriter_path(w),
           shmwriter_has_slot(w) ? "" : " noslot");
    fflush(stdout);

    char line[256];
    while (!shm_stop) {
        if (fgets(line, sizeof(line), stdin) == NULL) {
            if (ferror(stdin) && errno == EINTR && !shm_stop) {
                clearerr(stdin);
                continue;
            }
            break;
        }
        if (shm_command(w, line, device))
            break;
    }
    shmwriter_detach(w);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("tt-alloc-shm", 0);
    if (argc < 2) {
        shm_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "dump") == 0)
        return shm_dump(argc - 1, argv + 1);
    if (strcmp(argv[1], "map") == 0)
        return shm_map(argc - 1, argv + 1);
    if (strcmp(argv[1], "write") == 0)
        return shm_write(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        shm_usage(stdout);
        return 0;
    }
    log_errorx("unknown command '%s' (tt-alloc-shm --help)", argv[1]);
    return 2;
}
