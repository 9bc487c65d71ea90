/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmmap.h - which tt-kmd device a TT-Metal SHM region (or a chip inside
 * one) stands for. The rule, in order (docs/tt-metal-shm.md, with the
 * TT-Metal, UMD and tt-kmd sources it rests on):
 *
 *  1. asic_id: the region's asic_id (UMD chip_unique_id) equals a device's
 *     sysfs tt_asic_id: that chip, for certain. tt-kmd shows tt_asic_id only
 *     where the firmware publishes the tag (Blackhole), and UMD's id equals it
 *     only for a Blackhole chip without trained Ethernet links.
 *  2. holders: the region's live processes, the device nodes each holds
 *     (pids files or fds) and each one's TT_VISIBLE_DEVICES. UMD numbers the
 *     nodes a process opens 0, 1, ... in PCI bus id order (after
 *     TT_VISIBLE_DEVICES filtered them), and remote chips after those; so
 *     logical id d of that process is its d-th node, and d past its last node
 *     is a remote chip (no node). The device_id in a region is the last
 *     attacher's; every process's answer is therefore checked against the
 *     nodes all of the region's processes hold (one chip, opened by all).
 *     When the answers that survive agree: that node (or: a remote chip).
 *  3. device_id: a region not settled above, not remote, whose device_id is
 *     the ordinal of a node nobody claimed: that node, as a stated guess.
 *  When regions contend for one node, the one with live processes, then the
 *  most recently updated, wins. Everything else (the second chip of an n300,
 *  remote Galaxy chips, extra chip_stats entries of a gateway region) is a row
 *  of its own with no node. A region whose figures are unknown
 *  (shmstats.h) and which no live process uses is left out: a garbage file
 *  makes no row and hides no device.
 *
 * A region's own row carries its totals minus what its extra chip entries
 * hold, so no byte is counted twice; its processes belong to its own row. An
 * extra chip entry is not a row of its own when the chip publishes a region
 * of its own (same chip id, or the regions share live processes: one chip
 * under two logical ids counts once).
 */
#ifndef TTALLOC_SHMMAP_H
#define TTALLOC_SHMMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmstats.h"
#include "sysfs.h"
#include "ttalloc.h"

enum shmmap_match {
    SHMMAP_NONE = 0, /* no node: a chip of its own */
    SHMMAP_ASIC_ID = 1,
    SHMMAP_HOLDERS = 2,
    SHMMAP_DEVICE_ID = 3, /* a guess */
};

/* What the rule needs to know about one process (a region's live PID). */
struct shmmap_proc {
    pid_t pid;
    const int *held; /* tt-kmd ordinals it holds; NULL/0 = unknown */
    size_t n_held;
    int has_visible;     /* 1: its TT_VISIBLE_DEVICES is set (maybe "") */
    const char *visible; /* the value */
};

struct shmmap_row {
    size_t region;         /* index into the regions given */
    int own;               /* 1: the region's own chip (its processes are here) */
    uint32_t chip_id;      /* TT-Metal chip id (device_id for an own row) */
    int remote;            /* 1: reached through another chip (no node) */
    int sysfs;             /* index into the sysfs array, -1 = no node */
    int board_sysfs;       /* a node of the same board (gateway), -1 unknown */
    enum shmmap_match how; /* how the row's node (or its being remote) was found */
    int unknown;           /* the region's figures are unknown */
    uint32_t device;       /* id to show: the node's ordinal, else the chip id when
                                  free, else a free id above every ordinal */
    uint64_t bytes[TTALLOC_NUM_TYPES];
};

/* Map `n` regions onto `ndev` sysfs devices, with what is known about the
 * regions' processes (`procs`, any order; may be NULL). Rows: matched ones
 * ascending by node ordinal, then the others ascending by (device, region).
 * free() *out. Returns 0 or -ENOMEM. */
int shmmap_build(const struct shmstats_region *regions, size_t n, const struct sysfs_device *devs,
                 size_t ndev, const struct shmmap_proc *procs, size_t nprocs,
                 struct shmmap_row **out, size_t *nrows);

/* "asic_id", "holders", "device_id", or NULL for SHMMAP_NONE. */
const char *shmmap_match_name(enum shmmap_match how);

/* The nodes a process with TT_VISIBLE_DEVICES=`visible` opens, as UMD
 * enumerates them: an integer k is the k-th node in PCI bus id order, any
 * other item picks the nodes whose bus id contains it; the result is in bus
 * id order (nodes without a bus id last). Writes indexes into `devs` to
 * order[] (room for ndev) and returns how many, or -EINVAL when an item
 * names no node (UMD refuses to start then). Logical id d is order[d]. */
int shmmap_visible_order(const char *visible, const struct sysfs_device *devs, size_t ndev,
                         int *order);

/* "0123456789ABCDEF" (16 hex digits, either case) -> value; 0 when empty or
 * not exactly that. Public for the tests. */
uint64_t shmmap_parse_hex16(const char *text);

#endif /* TTALLOC_SHMMAP_H */
