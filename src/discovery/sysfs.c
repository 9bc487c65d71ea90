/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sysfs.c - enumerate tt-kmd devices and read their attributes and hwmon
 * telemetry under a sysroot (see sysfs.h). Reads are small, bounded and
 * non-blocking; a value that does not parse is unknown, never a guess.
 */
#include "sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boards.h"
#include "textfile.h"

#define SYSFS_VALUE_MAX 256 /* no attribute we read is longer; longer = garbage */

const char *sysfs_sysroot(const char *explicit_root)
{
    const char *root = explicit_root;
    if (root == NULL)
        root = getenv("TT_SYSROOT");
    if (root == NULL || strcmp(root, "/") == 0)
        return "";
    return root;
}

/* Trim surrounding whitespace in place; returns the new start, sets *len. */
static const char *sysfs_trim(const char *text, size_t *len)
{
    size_t n = *len;
    while (n > 0 && isspace((unsigned char)*text)) {
        text++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    *len = n;
    return text;
}

int64_t sysfs_parse_int(const char *text, size_t len, int64_t min, int64_t max)
{
    if (text == NULL)
        return SYSFS_UNKNOWN;
    text = sysfs_trim(text, &len);
    size_t i = 0;
    int negative = 0;
    if (i < len && (text[i] == '-' || text[i] == '+')) {
        negative = text[i] == '-';
        i++;
    }
    if (i == len)
        return SYSFS_UNKNOWN;
    /* Accumulate as a negative number so INT64_MIN fits; reject overflow. */
    int64_t value = 0;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return SYSFS_UNKNOWN;
        int digit = text[i] - '0';
        if (value < (INT64_MIN + digit) / 10)
            return SYSFS_UNKNOWN;
        value = value * 10 - digit;
    }
    if (!negative) {
        if (value == INT64_MIN)
            return SYSFS_UNKNOWN;
        value = -value;
    }
    if (value < min || value > max || value == SYSFS_UNKNOWN)
        return SYSFS_UNKNOWN;
    return value;
}

/* "0x1e52" (as sysfs writes PCI ids), at most 8 hex digits. */
static int64_t sysfs_parse_hex(const char *text, size_t len)
{
    text = sysfs_trim(text, &len);
    if (len < 3 || len > 10 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return SYSFS_UNKNOWN;
    int64_t value = 0;
    for (size_t i = 2; i < len; i++) {
        int c = (unsigned char)text[i];
        if (!isxdigit(c))
            return SYSFS_UNKNOWN;
        value = value * 16 + (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return value;
}

static int sysfs_is_bus_id(const char *s, size_t len)
{
    /* DDDD:BB:DD.F, hex digits */
    static const char shape[] = "xxxx:xx:xx.x";
    if (len != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static int sysfs_is_version(const char *s, size_t len)
{
    /* "a.b.c" or "a.b.c.d": 2 to 4 dotted components of 1 to 5 digits */
    size_t parts = 1, digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (digits == 0)
                return 0;
            parts++;
            digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            if (++digits > 5)
                return 0;
        } else {
            return 0;
        }
    }
    return digits > 0 && parts >= 2 && parts <= 4;
}

void sysfs_parse_string(const char *text, size_t len, char kind, char *out, size_t cap)
{
    out[0] = '\0';
    if (text == NULL || cap == 0)
        return;
    text = sysfs_trim(text, &len);
    if (len == 0 || len >= cap)
        return;
    int ok = 0;
    switch (kind) {
    case 'h':
        ok = len == 16;
        for (size_t i = 0; ok && i < len; i++)
            ok = isdigit((unsigned char)text[i]) || (text[i] >= 'A' && text[i] <= 'F');
        break;
    case 'v':
        ok = sysfs_is_version(text, len);
        break;
    case 'n':
        ok = 1;
        for (size_t i = 0; ok && i < len; i++)
            ok = (text[i] >= 'a' && text[i] <= 'z') || isdigit((unsigned char)text[i]) ||
                 text[i] == '-' || text[i] == '_';
        break;
    case 'b':
        ok = sysfs_is_bus_id(text, len);
        break;
    default:
        break;
    }
    if (ok) {
        memcpy(out, text, len);
        out[len] = '\0';
    }
}

/* Everything of device N lives under <root>/sys/class/tenstorrent/tenstorrent!<N>/.
 * The directory is opened once and each attribute read relative to it: a
 * single-component lookup instead of a walk down a long path per file. */
static int sysfs_open_dev_dir(const char *root, int index)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/sys/class/tenstorrent/tenstorrent!%d", root, index);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int64_t sysfs_read_int(int dirfd, const char *name, int64_t min, int64_t max)
{
    char buf[SYSFS_VALUE_MAX];
    ssize_t len = textfile_readat(dirfd, name, buf, sizeof(buf));
    if (len < 0)
        return SYSFS_UNKNOWN;
    return sysfs_parse_int(buf, (size_t)len, min, max);
}

static void sysfs_read_string(int dirfd, const char *name, char kind, char *out, size_t cap)
{
    char buf[SYSFS_VALUE_MAX];
    out[0] = '\0';
    ssize_t len = textfile_readat(dirfd, name, buf, sizeof(buf));
    if (len >= 0)
        sysfs_parse_string(buf, (size_t)len, kind, out, cap);
}

static int64_t sysfs_read_hex(int dirfd, const char *name)
{
    char buf[SYSFS_VALUE_MAX];
    ssize_t len = textfile_readat(dirfd, name, buf, sizeof(buf));
    return len < 0 ? SYSFS_UNKNOWN : sysfs_parse_hex(buf, (size_t)len);
}

/* One hwmon channel we want: matched by its label, read from <prefix><n>_input/_max. */
struct sysfs_sensor {
    const char *prefix; /* "temp", "in", "curr", "power", "fan" */
    const char *labels[2];
    int64_t min, max; /* plausible range, kernel units */
    int64_t *input, *limit;
};

/* Read the sensors from one hwmon directory (an fd we own: closed here). */
static void sysfs_read_hwmon_dir(int dirfd, struct sysfs_sensor *sensors, size_t n_sensors)
{
    int list_fd = dup(dirfd);
    DIR *d = list_fd < 0 ? NULL : fdopendir(list_fd);
    if (d == NULL) {
        if (list_fd >= 0)
            close(list_fd);
        close(dirfd);
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        size_t len = strlen(name);
        if (len < 7 || strcmp(name + len - 6, "_label") != 0)
            continue;
        char label[SYSFS_VALUE_MAX];
        ssize_t llen = textfile_readat(dirfd, name, label, sizeof(label));
        if (llen < 0)
            continue;
        size_t tlen = (size_t)llen;
        const char *text = sysfs_trim(label, &tlen);
        for (size_t s = 0; s < n_sensors; s++) {
            struct sysfs_sensor *sn = &sensors[s];
            size_t plen = strlen(sn->prefix);
            if (strncmp(name, sn->prefix, plen) != 0 || !isdigit((unsigned char)name[plen]))
                continue;
            int match = 0;
            for (int l = 0; l < 2 && sn->labels[l]; l++)
                match |= strlen(sn->labels[l]) == tlen && memcmp(sn->labels[l], text, tlen) == 0;
            if (!match)
                continue;
            /* name is "<prefix><n>_label": the channel is name minus "_label" */
            char channel[64], file[80];
            if (len - 6 >= sizeof(channel))
                continue;
            memcpy(channel, name, len - 6);
            channel[len - 6] = '\0';
            snprintf(file, sizeof(file), "%s_input", channel);
            *sn->input = sysfs_read_int(dirfd, file, sn->min, sn->max);
            if (sn->limit) {
                snprintf(file, sizeof(file), "%s_max", channel);
                *sn->limit = sysfs_read_int(dirfd, file, sn->min, sn->max);
            }
        }
    }
    closedir(d);
    close(dirfd);
}

/* hwmon lives on the PCI device: device/hwmon/hwmon<K>/. Take the first hwmon
 * dir whose name is an architecture we know (else the first one at all). */
static void sysfs_read_hwmon(int dev_dirfd, struct sysfs_device *dev)
{
    int base_fd = openat(dev_dirfd, "device/hwmon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = base_fd < 0 ? NULL : fdopendir(base_fd);
    if (d == NULL) {
        if (base_fd >= 0)
            close(base_fd);
        return;
    }
    int chosen_fd = -1;
    char chosen_name[16] = "";
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strncmp(ent->d_name, "hwmon", 5) != 0 || !isdigit((unsigned char)ent->d_name[5]))
            continue;
        int fd = openat(base_fd, ent->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        char name[16];
        sysfs_read_string(fd, "name", 'n', name, sizeof(name));
        int known = strcmp(name, "wormhole") == 0 || strcmp(name, "blackhole") == 0 ||
                    strcmp(name, "grayskull") == 0;
        if (chosen_fd < 0 || (known && chosen_name[0] == '\0')) {
            if (chosen_fd >= 0)
                close(chosen_fd);
            chosen_fd = fd;
            snprintf(chosen_name, sizeof(chosen_name), "%s", known ? name : "");
        } else {
            close(fd);
        }
    }
    closedir(d);
    if (chosen_fd < 0)
        return;
    if (chosen_name[0] != '\0')
        snprintf(dev->arch, sizeof(dev->arch), "%s", chosen_name);

    struct sysfs_sensor sensors[] = {
        {"temp", {"asic1_temp", "asic_temp"}, 0, 300000, &dev->temp_mc, &dev->temp_max_mc},
        {"in", {"vcore1", "vcore"}, 0, 5000, &dev->vcore_mv, &dev->vcore_max_mv},
        {"curr", {"current1", "current"}, 0, 2000000, &dev->current_ma, &dev->current_max_ma},
        {"power", {"power1", "power"}, 0, 5000000000, &dev->power_uw, &dev->power_max_uw},
        {"fan", {"fan_rpm", NULL}, 0, 100000, &dev->fan_rpm, NULL},
    };
    sysfs_read_hwmon_dir(chosen_fd, sensors, sizeof(sensors) / sizeof(sensors[0]));
}

void sysfs_device_unknown(struct sysfs_device *dev, int index)
{
    memset(dev, 0, sizeof(*dev));
    dev->index = index;
    int64_t *numbers[] = {
        &dev->pci_vendor,     &dev->pci_device, &dev->aiclk_mhz,        &dev->axiclk_mhz,
        &dev->arcclk_mhz,     &dev->heartbeat,  &dev->therm_trip_count, &dev->temp_mc,
        &dev->temp_max_mc,    &dev->vcore_mv,   &dev->vcore_max_mv,     &dev->current_ma,
        &dev->current_max_ma, &dev->power_uw,   &dev->power_max_uw,     &dev->fan_rpm};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        *numbers[i] = SYSFS_UNKNOWN;
}

void sysfs_read_device(const char *sysroot, struct sysfs_device *dev)
{
    const char *root = sysfs_sysroot(sysroot);
    int index = dev->index;
    sysfs_device_unknown(dev, index);

    int dfd = sysfs_open_dev_dir(root, index);
    if (dfd < 0)
        return; /* the device vanished: everything stays unknown */

    /* The bus id is the name of the PCI device the `device` link points to. */
    char target[PATH_MAX];
    ssize_t link_len = readlinkat(dfd, "device", target, sizeof(target) - 1);
    if (link_len > 0) {
        target[link_len] = '\0';
        const char *slash = strrchr(target, '/');
        const char *base = slash ? slash + 1 : target;
        sysfs_parse_string(base, strlen(base), 'b', dev->bus_id, sizeof(dev->bus_id));
    }

    sysfs_read_string(dfd, "tt_card_type", 'n', dev->card_type, sizeof(dev->card_type));
    if (boards_arch(dev->card_type) == NULL)
        dev->card_type[0] = '\0'; /* "unknown", or a name the driver never writes */
    sysfs_read_string(dfd, "tt_serial", 'h', dev->serial, sizeof(dev->serial));
    sysfs_read_string(dfd, "tt_asic_id", 'h', dev->asic_id, sizeof(dev->asic_id));
    sysfs_read_string(dfd, "tt_fw_bundle_ver", 'v', dev->fw_bundle_ver, sizeof(dev->fw_bundle_ver));
    sysfs_read_string(dfd, "tt_arc_fw_ver", 'v', dev->arc_fw_ver, sizeof(dev->arc_fw_ver));
    sysfs_read_string(dfd, "tt_eth_fw_ver", 'v', dev->eth_fw_ver, sizeof(dev->eth_fw_ver));
    sysfs_read_string(dfd, "tt_m3app_fw_ver", 'v', dev->m3app_fw_ver, sizeof(dev->m3app_fw_ver));
    sysfs_read_string(dfd, "tt_m3bl_fw_ver", 'v', dev->m3bl_fw_ver, sizeof(dev->m3bl_fw_ver));
    sysfs_read_string(dfd, "tt_ttflash_ver", 'v', dev->ttflash_ver, sizeof(dev->ttflash_ver));
    /* Five digits of MHz: no clock reads 100 GHz, and tt-smi's AICLK column
     * holds "99999MHz". */
    dev->aiclk_mhz = sysfs_read_int(dfd, "tt_aiclk", 0, 99999);
    dev->axiclk_mhz = sysfs_read_int(dfd, "tt_axiclk", 0, 99999);
    dev->arcclk_mhz = sysfs_read_int(dfd, "tt_arcclk", 0, 99999);
    dev->heartbeat = sysfs_read_int(dfd, "tt_heartbeat", 0, INT64_MAX);
    dev->therm_trip_count = sysfs_read_int(dfd, "tt_therm_trip_count", 0, INT32_MAX);
    dev->pci_vendor = sysfs_read_hex(dfd, "device/vendor");
    dev->pci_device = sysfs_read_hex(dfd, "device/device");

    sysfs_read_hwmon(dfd, dev);
    close(dfd);
    if (dev->arch[0] == '\0') {
        const char *arch = boards_arch_from_pci(dev->pci_device);
        if (arch == NULL)
            arch = boards_arch(dev->card_type);
        if (arch != NULL)
            snprintf(dev->arch, sizeof(dev->arch), "%s", arch);
    }
}

/* "<prefix><N>" with N a plain non-negative decimal -> N, else -1. */
static int sysfs_ordinal(const char *name, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0)
        return -1;
    int64_t n = sysfs_parse_int(name + plen, strlen(name + plen), 0, INT_MAX);
    if (n == SYSFS_UNKNOWN || !isdigit((unsigned char)name[plen]))
        return -1;
    return (int)n;
}

static int sysfs_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int sysfs_exists(const char *root, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return stat(path, &st) == 0;
}

/* Collect the ordinals from the entries of dir named <prefix><N>. */
static int sysfs_list_ordinals(const char *dir, const char *prefix, int *ords, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && *n < SYSFS_MAX_DEVICES) {
        int ord = sysfs_ordinal(ent->d_name, prefix);
        if (ord >= 0)
            ords[(*n)++] = ord;
    }
    closedir(d);
    return 0;
}

int sysfs_scan(const char *sysroot, struct sysfs_device **out, size_t *n_out)
{
    const char *root = sysfs_sysroot(sysroot);
    *out = NULL;
    *n_out = 0;
    int *ords = malloc(SYSFS_MAX_DEVICES * sizeof(*ords));
    if (ords == NULL)
        return -ENOMEM;
    size_t n = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/sys/class/tenstorrent", root);
    int rc = sysfs_list_ordinals(dir, "tenstorrent!", ords, &n);
    if (rc < 0) {
        snprintf(dir, sizeof(dir), "%s/dev/tenstorrent", root);
        rc = sysfs_list_ordinals(dir, "", ords, &n);
    }
    if (rc < 0 && !sysfs_exists(root, "sys/module/tenstorrent")) {
        free(ords);
        return -ENOENT;
    }
    qsort(ords, n, sizeof(*ords), sysfs_cmp_int);
    struct sysfs_device *devs = calloc(n ? n : 1, sizeof(*devs));
    if (devs == NULL) {
        free(ords);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && devs[k - 1].index == ords[i])
            continue;
        devs[k].index = ords[i];
        sysfs_read_device(sysroot, &devs[k]);
        k++;
    }
    free(ords);
    *out = devs;
    *n_out = k;
    return 0;
}

int sysfs_driver_version(const char *sysroot, char *buf, size_t cap)
{
    char path[PATH_MAX], text[SYSFS_VALUE_MAX];
    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/sys/module/tenstorrent/version", sysfs_sysroot(sysroot));
    ssize_t len = textfile_read(path, text, sizeof(text));
    if (len < 0)
        return (int)len;
    /* versions like "2.0.0" or "1.34-rc1": printable, no spaces */
    size_t tlen = (size_t)len;
    const char *t = sysfs_trim(text, &tlen);
    if (tlen == 0 || tlen >= cap)
        return -EINVAL;
    for (size_t i = 0; i < tlen; i++) {
        if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '-' && t[i] != '_' &&
            t[i] != '+')
            return -EINVAL;
    }
    memcpy(buf, t, tlen);
    buf[tlen] = '\0';
    return 0;
}
