/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sysfs.h - what tt-kmd says about the devices: enumeration, sysfs
 * attributes, hwmon telemetry and the driver version.
 *
 * Everything is read under a sysroot ("" or NULL = "/", else $TT_SYSROOT or
 * --sysroot) that stands for "/" for sys/ and dev/tenstorrent/. Nothing here
 * ever opens a device node (that has side effects on the card).
 *
 * Every attribute may be missing, empty, unreadable or garbage: such a value
 * is reported as unknown (SYSFS_UNKNOWN for numbers, "" for strings), never
 * as a made-up number. Numbers outside a physically plausible range are
 * treated as garbage too (e.g. an ASIC temperature below 0 or above 300 C,
 * a power above 5 kW).
 *
 * Read-only users: the server (board types, serials), tt-smi and the monitor
 * (board, telemetry). The functions are thread-compatible (no global state).
 */
#ifndef TTALLOC_SYSFS_H
#define TTALLOC_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#define SYSFS_UNKNOWN INT64_MIN /* a number nobody could read */
#define SYSFS_MAX_DEVICES 1024  /* more ordinals than this are ignored */

struct sysfs_device {
    int index;                /* tt-kmd ordinal N (of /dev/tenstorrent/N); may be sparse */
    char bus_id[16];          /* PCI bus id "0000:01:00.0", "" = unknown */
    char card_type[32];       /* tt_card_type, one of the names tt-kmd writes ("n150",
                                 "p150a", ...); "" = unknown (incl. "unknown") */
    char arch[16];            /* "wormhole", "blackhole", "grayskull"; "" = unknown */
    char serial[20];          /* tt_serial, 16 upper-case hex digits; "" = unknown */
    char asic_id[20];         /* tt_asic_id, same format */
    char fw_bundle_ver[32];   /* tt_fw_bundle_ver "a.b.c.d" */
    char arc_fw_ver[32];      /* tt_arc_fw_ver */
    char eth_fw_ver[32];      /* tt_eth_fw_ver "a.b.c" */
    char m3app_fw_ver[32];    /* tt_m3app_fw_ver */
    char m3bl_fw_ver[32];     /* tt_m3bl_fw_ver */
    char ttflash_ver[32];     /* tt_ttflash_ver */
    int64_t pci_vendor;       /* device/vendor, 0x1E52 for Tenstorrent */
    int64_t pci_device;       /* device/device: 0xFACA, 0x401E, 0xB140 */
    int64_t aiclk_mhz;        /* tt_aiclk */
    int64_t axiclk_mhz;       /* tt_axiclk */
    int64_t arcclk_mhz;       /* tt_arcclk */
    int64_t heartbeat;        /* tt_heartbeat */
    int64_t therm_trip_count; /* tt_therm_trip_count */
    /* hwmon, in the kernel's units; SYSFS_UNKNOWN when absent */
    int64_t temp_mc; /* asic temperature, millidegree C */
    int64_t temp_max_mc;
    int64_t vcore_mv; /* core voltage, mV */
    int64_t vcore_max_mv;
    int64_t current_ma; /* mA */
    int64_t current_max_ma;
    int64_t power_uw;     /* µW */
    int64_t power_max_uw; /* the power limit */
    int64_t fan_rpm;      /* Blackhole only */
};

/* The devices under `sysroot`, ascending by index, in a malloc'd array the
 * caller frees with free(). Devices come from /sys/class/tenstorrent/
 * (tenstorrent!<N>), or, when that class dir is absent, from the nodes in
 * /dev/tenstorrent/. Returns 0 (possibly with *n == 0), -ENOENT when there is
 * no driver at all (neither /sys/class/tenstorrent, /sys/module/tenstorrent
 * nor /dev/tenstorrent), -ENOMEM. */
int sysfs_scan(const char *sysroot, struct sysfs_device **out, size_t *n);

/* Fill one device's attributes and telemetry (used by sysfs_scan; call it
 * again to refresh telemetry in a watch loop). `dev->index` must be set. */
void sysfs_read_device(const char *sysroot, struct sysfs_device *dev);

/* Device `index` with everything unknown: SYSFS_UNKNOWN numbers, ""
 * strings (what sysfs_read_device starts from; tests build on it). */
void sysfs_device_unknown(struct sysfs_device *dev, int index);

/* /sys/module/tenstorrent/version into buf ("" when unknown). Returns 0 or
 * -ENOENT. */
int sysfs_driver_version(const char *sysroot, char *buf, size_t cap);

/* The effective sysroot: `explicit_root` if not NULL, else $TT_SYSROOT, else
 * "" (meaning "/"). Never NULL. */
const char *sysfs_sysroot(const char *explicit_root);

/* Parsers, public for the tests. A decimal integer with optional sign and
 * surrounding whitespace (one trailing newline as sysfs writes it), within
 * [min, max]; anything else -> SYSFS_UNKNOWN. */
int64_t sysfs_parse_int(const char *text, size_t len, int64_t min, int64_t max);
/* Copy `text` to out when it matches the attribute's format, else "".
 * kind: 'h' = 16 hex digits (serial), 'v' = dotted version digits,
 * 'n' = a name [a-z0-9_-], 'b' = PCI bus id "DDDD:BB:DD.F". */
void sysfs_parse_string(const char *text, size_t len, char kind, char *out, size_t cap);

#endif /* TTALLOC_SYSFS_H */
