/*
 * shmmap.h - which tt-kmd device a TT-Metal SHM region (or a chip inside
 * one) stands for. The rule, in order (docs/tt-metal-shm.md):
 *
 *  1. asic_id: the region's asic_id (UMD chip_unique_id) equals a device's
 *     tt_asic_id: that chip, for certain.
 *  2. board serial: the region's board_serial (0 today in TT-Metal) equals
 *     exactly one device's tt_serial and the chip is not remote: that device;
 *     when several regions claim one board, the one whose device_id is the
 *     node's ordinal wins, the others are chips of that board without a node.
 *  3. device_id: a non-remote region whose device_id is the ordinal of a node
 *     nobody claimed by 1 or 2, and whose known identity does not contradict
 *     the node's (a nonzero board_serial must equal a known tt_serial).
 *  When regions contend for one node, the one with live processes, then the
 *  most recently updated, wins. Everything else (the second chip of an n300,
 *  remote Galaxy chips, extra chip_stats entries of a gateway region) is a row
 *  of its own with no node.
 *
 * A region's own row carries its totals minus what its extra chip entries
 * hold, so no byte is counted twice; its processes belong to its own row.
 */
#ifndef TTALLOC_SHMMAP_H
#define TTALLOC_SHMMAP_H

#include <stddef.h>
#include <stdint.h>

#include "shmstats.h"
#include "sysfs.h"
#include "ttalloc.h"

enum shmmap_match {
    SHMMAP_NONE = 0,      /* no node: a chip of its own */
    SHMMAP_ASIC_ID = 1,
    SHMMAP_SERIAL = 2,
    SHMMAP_DEVICE_ID = 3,
};

struct shmmap_row {
    size_t region;             /* index into the regions given */
    int own;                   /* 1: the region's own chip (its processes are here) */
    uint32_t chip_id;          /* TT-Metal chip id (device_id for an own row) */
    int remote;                /* 1: says it is reached through another chip */
    int sysfs;                 /* index into the sysfs array, -1 = no node */
    int board_sysfs;           /* a node of the same board (serial or gateway), -1 unknown */
    enum shmmap_match how;
    uint32_t device;           /* id to show: the node's ordinal, else the chip id when
                                  free, else a free id above every ordinal */
    uint64_t bytes[TTALLOC_NUM_TYPES];
};

/* Map `n` regions onto `ndev` sysfs devices. Rows: matched ones ascending by
 * node ordinal, then the others ascending by (device, region). free() *out.
 * Returns 0 or -ENOMEM. */
int shmmap_build(const struct shmstats_region *regions, size_t n,
                 const struct sysfs_device *devs, size_t ndev, struct shmmap_row **out,
                 size_t *nrows);

/* "asic_id", "serial", "device_id", "none". */
const char *shmmap_match_name(enum shmmap_match how);

/* "0123456789ABCDEF" (16 hex digits, either case) -> value; 0 when empty or
 * not exactly that. Public for the tests. */
uint64_t shmmap_parse_hex16(const char *text);

#endif /* TTALLOC_SHMMAP_H */
