/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trust.h - may a process's device description change the device's record
 * that every user sees? (docs/SECURITY.md, "Device descriptions").
 *
 * A description names a device id and says its board, serial, asic id and
 * capacities. Applied blindly, any user could rename or resize a card for
 * everyone. The rule: a description that concerns a device tt-kmd shows in
 * sysfs (the same ordinal, or the same serial or asic id) is applied only
 * when the describing process has that device open ($TT_SYSROOT's
 * /proc/driver/tenstorrent/N/pids, see procs.h). A description of a device
 * sysfs does not show (a remote chip) is applied when no other live
 * process described it first. Anything else is ignored: it changes nothing
 * anyone else sees.
 */
#ifndef TTALLOC_TRUST_H
#define TTALLOC_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "ttalloc.h"

struct ledger;
struct sysfs_device;

/* Does `pid` hold tt-kmd device `index` open? Reads its pids file (or scans
 * /proc/<pid>/fd) under sysroot (NULL or "" = "/"). */
int trust_holds_device(const char *sysroot, int32_t pid, int index);

/* 1 when pid's description of `device` may be applied, 0 when not (the
 * reason in why). devs: the sysfs devices (ascending index). */
int trust_may_describe(const char *sysroot, const struct sysfs_device *devs, size_t n_devs,
                       const struct ledger *l, int32_t pid, uint32_t device,
                       const struct ttalloc_device_desc *desc, char *why, size_t why_cap);

#endif /* TTALLOC_TRUST_H */
