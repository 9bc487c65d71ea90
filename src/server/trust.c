/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trust.c - whose device descriptions count (see trust.h).
 */
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>

#include "ledger.h"
#include "procs.h"
#include "shmmap.h"
#include "sysfs.h"

int trust_holds_device(const char *sysroot, int32_t pid, int index)
{
    struct procs_holder *holders = NULL;
    size_t n = 0;
    int used_fd_scan = 0;
    if (procs_scan(sysroot, &index, 1, 0, &holders, &n, &used_fd_scan) < 0)
        return 0;
    int held = 0;
    for (size_t i = 0; i < n && !held; i++)
        held = holders[i].pid == (pid_t)pid && holders[i].device == index;
    free(holders);
    return held;
}

/* The sysfs device the description is about: the same ordinal, else the
 * same serial or asic id. NULL: none. */
static const struct sysfs_device *trust_sysfs_match(const struct sysfs_device *devs, size_t n_devs,
                                                    uint32_t device,
                                                    const struct ttalloc_device_desc *desc)
{
    for (size_t i = 0; i < n_devs; i++) {
        if ((uint32_t)devs[i].index == device)
            return &devs[i];
    }
    for (size_t i = 0; i < n_devs; i++) {
        uint64_t serial = shmmap_parse_hex16(devs[i].serial);
        uint64_t asic = shmmap_parse_hex16(devs[i].asic_id);
        if ((desc->board_serial != 0 && desc->board_serial == serial) ||
            (desc->asic_id != 0 && desc->asic_id == asic))
            return &devs[i];
    }
    return NULL;
}

int trust_may_describe(const char *sysroot, const struct sysfs_device *devs, size_t n_devs,
                       const struct ledger *l, int32_t pid, uint32_t device,
                       const struct ttalloc_device_desc *desc, char *why, size_t why_cap)
{
    const struct sysfs_device *sys = trust_sysfs_match(devs, n_devs, device, desc);
    if (sys != NULL) {
        if (trust_holds_device(sysroot, pid, sys->index))
            return 1;
        snprintf(why, why_cap,
                 "it concerns /dev/tenstorrent/%d, which the process does not "
                 "have open",
                 sys->index);
        return 0;
    }
    for (size_t i = 0; i < l->n_devs; i++) {
        const struct ledger_device *dev = l->devs[i];
        if (dev->stats.device != device)
            continue;
        if (dev->described_by >= 0 && dev->described_by != pid &&
            ledger_find(l, dev->described_by) != NULL) {
            snprintf(why, why_cap, "device %u is already described by pid %d", device,
                     (int)dev->described_by);
            return 0;
        }
    }
    return 1;
}
