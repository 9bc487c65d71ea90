/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_sysroot.c - the fake tt-kmd tree (see sim_sysroot.h).
 *
 * Layout, as the real driver has it (DIR stands for "/"):
 *   sys/devices/pci0000:00/0000:00:<s>.0/<bus id>/            PCI device: vendor, device
 *       .../<bus id>/hwmon/hwmon<N>/                           name, temp1_*, in0_*, curr1_*, power1_*, fan1_*
 *       .../<bus id>/tenstorrent/tenstorrent!<N>/              tt_* attributes, device -> ../../../<bus id>
 *   sys/class/tenstorrent/tenstorrent!<N> -> ../../devices/.../tenstorrent/tenstorrent!<N>
 *   sys/module/tenstorrent/version
 *   dev/tenstorrent/<N>                                         plain empty files
 *   proc/driver/tenstorrent/<N>/pids                            one PID per open fd
 * Every file is written whole through a temporary and rename(), so a reader
 * never sees half a value.
 */
#include "sim_sysroot.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procs.h"
#include "sysfs.h"

struct sim_board {
    const char *name; /* tt_card_type */
    const char *arch; /* hwmon name */
    unsigned pci_device;
    int aiclk_mhz;
    int power_limit_w;
    int idle_temp_c;
    int has_fan;
};

static const struct sim_board sim_boards[] = {
    {"e75", "grayskull", 0xFACA, 1000, 75, 40, 0},
    {"e150", "grayskull", 0xFACA, 1200, 200, 42, 0},
    {"n150", "wormhole", 0x401E, 1000, 160, 45, 0},
    {"n300", "wormhole", 0x401E, 1000, 300, 47, 0},
    {"galaxy-wormhole", "wormhole", 0x401E, 1000, 200, 50, 0},
    {"p100", "blackhole", 0xB140, 1350, 300, 44, 1},
    {"p100a", "blackhole", 0xB140, 1350, 300, 44, 1},
    {"p150a", "blackhole", 0xB140, 1350, 300, 46, 1},
    {"p150b", "blackhole", 0xB140, 1350, 300, 46, 0},
    {"p150c", "blackhole", 0xB140, 1350, 300, 46, 0},
    {"p300a", "blackhole", 0xB140, 1350, 400, 48, 1},
    {"p300b", "blackhole", 0xB140, 1350, 400, 48, 0},
    {"p300c", "blackhole", 0xB140, 1350, 400, 48, 0},
    {"galaxy-blackhole", "blackhole", 0xB140, 1350, 300, 50, 0},
};

static const struct sim_board *sim_board_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(sim_boards) / sizeof(sim_boards[0]); i++) {
        if (strlen(sim_boards[i].name) == len && memcmp(sim_boards[i].name, name, len) == 0)
            return &sim_boards[i];
    }
    return NULL;
}

int sim_sysroot_parse_devices(const char *list, struct sim_sysroot_spec *out, size_t cap)
{
    size_t n = 0;
    int next = 0;
    const char *p = list;
    if (list == NULL || *list == '\0')
        return -EINVAL;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        int index = next;
        const char *name = p;
        size_t name_len = len;
        if (colon != NULL) {
            int64_t v = sysfs_parse_int(p, (size_t)(colon - p), 0, 4095);
            if (v == SYSFS_UNKNOWN || colon == p || p[0] == '+' || p[0] == '-')
                return -EINVAL;
            index = (int)v;
            name = colon + 1;
            name_len = len - (size_t)(colon - p) - 1;
        }
        const struct sim_board *board = sim_board_find(name, name_len);
        if (board == NULL || n == cap)
            return -EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (out[i].index == index)
                return -EINVAL;
        }
        out[n].index = index;
        out[n].board = board->name;
        n++;
        next = index + 1;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return (int)n;
}

/* mkdir -p */
static int sim_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Write `text` to path atomically (temporary + rename). */
static int sim_write(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) < 0) {
        int err = errno ? errno : EIO;
        unlink(tmp);
        return -err;
    }
    return 0;
}

static int sim_writef(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sim_writef(const char *dir, const char *name, const char *fmt, ...)
{
    char path[PATH_MAX], text[256];
    va_list ap;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return sim_write(path, text);
}

static int sim_symlink(const char *target, const char *link)
{
    unlink(link);
    return symlink(target, link) < 0 ? -errno : 0;
}

struct sim_device {
    int index;
    const struct sim_board *board;
    char bus_id[16];
    char pci_dir[2048];
    char hwmon_dir[PATH_MAX];
    char class_dir[PATH_MAX];
    char pids_path[PATH_MAX];
};

/* Telemetry at step t (t = 0 is the value right after creation, so one-shot
 * trees are deterministic). A slow triangle wave, different per device. */
static int sim_wave(long t, int index, int amplitude)
{
    long period = 40 + 7 * index;
    long phase = (t + 5L * index) % period;
    long half = period / 2;
    long tri = phase < half ? phase : period - phase;
    return (int)(tri * amplitude / half);
}

static int sim_write_telemetry(const struct sim_device *d, long t)
{
    const struct sim_board *b = d->board;
    int live = t > 0;
    int temp_mc = b->idle_temp_c * 1000 + d->index * 250 + (live ? sim_wave(t, d->index, 9000) : 0);
    int power_w = b->power_limit_w / 8 + d->index % 4 + (live ? sim_wave(t, d->index, 40) : 0);
    int vcore_mv = strcmp(b->arch, "blackhole") == 0 ? 750 : 800;
    int rc = 0;
    rc |= sim_writef(d->hwmon_dir, "temp1_input", "%d\n", temp_mc);
    rc |= sim_writef(d->hwmon_dir, "power1_input", "%lld\n", (long long)power_w * 1000000);
    rc |= sim_writef(d->hwmon_dir, "in0_input", "%d\n", vcore_mv);
    rc |= sim_writef(d->hwmon_dir, "curr1_input", "%d\n", power_w * 1000000 / vcore_mv);
    if (b->has_fan)
        rc |=
            sim_writef(d->hwmon_dir, "fan1_input", "%d\n", 1500 + (live ? sim_wave(t, 0, 900) : 0));
    rc |= sim_writef(d->class_dir, "tt_heartbeat", "%ld\n", 1000 + t);
    return rc < 0 ? -EIO : 0;
}

static int sim_create_device(const char *root, struct sim_device *d, int no_pids)
{
    const struct sim_board *b = d->board;
    int rc = 0;
    int bus = d->index + 1;
    snprintf(d->bus_id, sizeof(d->bus_id), "0000:%02x:00.0", bus & 0xff);
    snprintf(d->pci_dir, sizeof(d->pci_dir), "%s/sys/devices/pci0000:00/0000:00:%02x.%d/%s", root,
             (d->index / 8 + 1) & 0x1f, d->index % 8, d->bus_id);
    snprintf(d->hwmon_dir, sizeof(d->hwmon_dir), "%s/hwmon/hwmon%d", d->pci_dir, d->index + 2);
    snprintf(d->class_dir, sizeof(d->class_dir), "%s/tenstorrent/tenstorrent!%d", d->pci_dir,
             d->index);
    snprintf(d->pids_path, sizeof(d->pids_path), "%s/proc/driver/tenstorrent/%d/pids", root,
             d->index);
    if ((rc = sim_mkdirs(d->hwmon_dir)) < 0 || (rc = sim_mkdirs(d->class_dir)) < 0)
        return rc;

    rc |= sim_writef(d->pci_dir, "vendor", "0x1e52\n");
    rc |= sim_writef(d->pci_dir, "device", "0x%04x\n", b->pci_device);

    rc |= sim_writef(d->hwmon_dir, "name", "%s\n", b->arch);
    rc |= sim_writef(d->hwmon_dir, "temp1_label", "asic1_temp\n");
    rc |= sim_writef(d->hwmon_dir, "temp1_max", "%d\n", 100000);
    rc |= sim_writef(d->hwmon_dir, "in0_label", "vcore1\n");
    rc |= sim_writef(d->hwmon_dir, "in0_max", "%d\n", 950);
    rc |= sim_writef(d->hwmon_dir, "curr1_label", "current1\n");
    rc |= sim_writef(d->hwmon_dir, "curr1_max", "%d\n", b->power_limit_w * 1000000 / 800);
    rc |= sim_writef(d->hwmon_dir, "power1_label", "power1\n");
    rc |= sim_writef(d->hwmon_dir, "power1_max", "%lld\n", (long long)b->power_limit_w * 1000000);
    if (b->has_fan)
        rc |= sim_writef(d->hwmon_dir, "fan1_label", "fan_rpm\n");

    /* serial and asic id: 16 upper-case hex digits, stable per ordinal */
    unsigned long long serial = 0x1000018000000000ull + ((unsigned long long)b->pci_device << 16) +
                                (unsigned long long)d->index;
    rc |= sim_writef(d->class_dir, "tt_card_type", "%s\n", b->name);
    rc |= sim_writef(d->class_dir, "tt_serial", "%016llX\n", serial);
    /* tt-kmd shows tt_asic_id only where the firmware publishes the ASIC_ID
     * telemetry tag: Blackhole, not Wormhole (docs/tt-metal-shm.md) */
    if (strcmp(b->arch, "blackhole") == 0)
        rc |= sim_writef(d->class_dir, "tt_asic_id", "%016llX\n", serial ^ 0x00000A5A5A5A0000ull);
    rc |= sim_writef(d->class_dir, "tt_aiclk", "%d\n", b->aiclk_mhz);
    rc |= sim_writef(d->class_dir, "tt_axiclk", "%d\n", 900);
    rc |= sim_writef(d->class_dir, "tt_arcclk", "%d\n", 540);
    rc |= sim_writef(d->class_dir, "tt_fw_bundle_ver", "%s\n",
                     strcmp(b->arch, "blackhole") == 0 ? "18.7.0.0" : "18.3.0.0");
    rc |= sim_writef(d->class_dir, "tt_arc_fw_ver", "2.33.0.0\n");
    rc |= sim_writef(d->class_dir, "tt_eth_fw_ver", "7.0.0\n");
    rc |= sim_writef(d->class_dir, "tt_m3app_fw_ver", "5.12.0.0\n");
    rc |= sim_writef(d->class_dir, "tt_m3bl_fw_ver", "5.8.0.0\n");
    rc |= sim_writef(d->class_dir, "tt_ttflash_ver", "3.2.1.0\n");
    rc |= sim_writef(d->class_dir, "tt_therm_trip_count", "0\n");
    if (rc < 0)
        return -EIO;

    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/device", d->class_dir);
    char device_target[64];
    snprintf(device_target, sizeof(device_target), "../../../%s", d->bus_id);
    if ((rc = sim_symlink(device_target, path)) < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/sys/class/tenstorrent/tenstorrent!%d", root, d->index);
    char target[PATH_MAX];
    /* relative, from sys/class/tenstorrent/ to the device's class dir */
    snprintf(target, sizeof(target),
             "../../devices/pci0000:00/0000:00:%02x.%d/%s/tenstorrent/tenstorrent!%d",
             (d->index / 8 + 1) & 0x1f, d->index % 8, d->bus_id, d->index);
    if ((rc = sim_symlink(target, path)) < 0)
        return rc;

    snprintf(path, sizeof(path), "%s/dev/tenstorrent/%d", root, d->index);
    if ((rc = sim_write(path, "")) < 0)
        return rc;
    if (!no_pids) {
        snprintf(path, sizeof(path), "%s/proc/driver/tenstorrent/%d", root, d->index);
        if ((rc = sim_mkdirs(path)) < 0 || (rc = sim_write(d->pids_path, "")) < 0)
            return rc;
    }
    return sim_write_telemetry(d, 0);
}

/* Rewrite the pids files from a scan of the real /proc/<pid>/fd: one line per
 * open fd on the fake node, as tt-kmd writes them. */
static int sim_update_pids(const char *root, struct sim_device *devs, size_t n)
{
    int want[SIM_SYSROOT_MAX_DEVICES];
    for (size_t i = 0; i < n; i++)
        want[i] = devs[i].index;
    struct procs_holder *holders;
    size_t n_holders;
    int rc = procs_fd_scan(root, want, n, &holders, &n_holders);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t cap = 16 * n_holders + 1, len = 0;
        char *text = malloc(cap);
        if (text == NULL) {
            rc = -ENOMEM;
            break;
        }
        text[0] = '\0';
        for (size_t h = 0; h < n_holders; h++) {
            if (holders[h].device == devs[i].index)
                len += (size_t)snprintf(text + len, cap - len, "%d\n", (int)holders[h].pid);
        }
        rc = sim_write(devs[i].pids_path, text);
        free(text);
    }
    free(holders);
    return rc;
}

static volatile sig_atomic_t sim_stop;

static void sim_on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

static void sim_sysroot_usage(FILE *out)
{
    fprintf(out, "usage: tt-alloc-sim sysroot DIR --devices LIST [--live] [--interval MS]\n"
                 "                    [--no-pids] [--driver-version V]\n"
                 "  LIST: boards, e.g. n150,n300,p150a or sparse 0:n150,3:p150a\n"
                 "  boards:");
    for (size_t i = 0; i < sizeof(sim_boards) / sizeof(sim_boards[0]); i++)
        fprintf(out, " %s", sim_boards[i].name);
    fprintf(out, "\n"
                 "  --live        keep running: telemetry moves, pids files follow the\n"
                 "                processes holding DIR/dev/tenstorrent/<N> open\n"
                 "  --interval MS how often --live updates (default 200)\n"
                 "  --no-pids     no /proc/driver/tenstorrent (a driver older than 2.5)\n");
}

int sim_sysroot_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"devices", required_argument, NULL, 'd'},
        {"live", no_argument, NULL, 'l'},
        {"interval", required_argument, NULL, 'i'},
        {"no-pids", no_argument, NULL, 'n'},
        {"driver-version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *devices = NULL, *version = NULL;
    int live = 0, no_pids = 0;
    long interval_ms = 200;
    int c;
    optind = 1;
    opterr = 0; /* one error line of ours, not getopt's and the whole usage */
    while ((c = getopt_long(argc, argv, ":d:li:nV:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            devices = optarg;
            break;
        case 'l':
            live = 1;
            break;
        case 'i': {
            int64_t v = sysfs_parse_int(optarg, strlen(optarg), 10, 60000);
            if (v == SYSFS_UNKNOWN) {
                log_errorx("--interval: want 10..60000 ms, got '%s'", optarg);
                return 2;
            }
            interval_ms = (long)v;
            break;
        }
        case 'n':
            no_pids = 1;
            break;
        case 'V':
            version = optarg;
            break;
        case 'h':
            sim_sysroot_usage(stdout);
            return 0;
        case ':':
            log_errorx("%s wants a value (tt-alloc-sim sysroot --help)", argv[optind - 1]);
            return 2;
        default:
            log_errorx("unknown option '%s' (tt-alloc-sim sysroot --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1 || devices == NULL) {
        sim_sysroot_usage(stderr);
        return 2;
    }
    const char *root = argv[optind];
    struct sim_sysroot_spec specs[SIM_SYSROOT_MAX_DEVICES];
    int n = sim_sysroot_parse_devices(devices, specs, SIM_SYSROOT_MAX_DEVICES);
    if (n < 0) {
        log_errorx("--devices '%s': want boards like n150,p150a or 0:n150,3:p150a "
                   "(distinct ordinals 0..4095, at most %d)",
                   devices, SIM_SYSROOT_MAX_DEVICES);
        return 2;
    }

    static struct sim_device devs[SIM_SYSROOT_MAX_DEVICES];
    char path[PATH_MAX];
    int rc = 0;
    const char *dirs[] = {"sys/class/tenstorrent", "sys/module/tenstorrent", "dev/tenstorrent"};
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        rc = sim_mkdirs(path);
    }
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/sys/module/tenstorrent/version", root);
        rc = sim_write(path, version ? version : no_pids ? "2.4.1\n" : "2.5.0\n");
    }
    for (int i = 0; i < n && rc == 0; i++) {
        devs[i].index = specs[i].index;
        devs[i].board = sim_board_find(specs[i].board, strlen(specs[i].board));
        rc = sim_create_device(root, &devs[i], no_pids);
    }
    if (rc < 0) {
        log_errorx("cannot build the tree in %s: %s", root, strerror(-rc));
        return 1;
    }
    if (!live)
        return 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sim_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("ready %s\n", root);
    fflush(stdout);
    for (long t = 1; !sim_stop; t++) {
        for (int i = 0; i < n; i++)
            sim_write_telemetry(&devs[i], t);
        if (!no_pids && (rc = sim_update_pids(root, devs, (size_t)n)) < 0)
            log_warnx("cannot update the pids files: %s", strerror(-rc));
        struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}
