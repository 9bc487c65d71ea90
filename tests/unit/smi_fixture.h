/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_fixture.h - the devices tt-smi's printer tests (test_smi_table,
 * test_smi_json) build their models from: one that tt-smi knows nothing
 * about, and an n150 with telemetry and totals. A test changes what it
 * checks after calling them.
 */
#ifndef TTALLOC_TEST_SMI_FIXTURE_H
#define TTALLOC_TEST_SMI_FIXTURE_H

#include <string.h>

#include "smi_model.h"
#include "sysfs.h"

/* Device `index`, selected, every figure unknown. */
static inline void smi_fixture_unknown(struct smi_device *d, int index)
{
    memset(d, 0, sizeof(*d));
    sysfs_device_unknown(&d->sys, index);
    d->selected = 1;
}

/* An n150 at 45.0 C (max 90), 20.4 W of 160 W, 0.8 V, 25 A, 1000 MHz, with
 * 12 GiB of DRAM and 103 MiB of L1; used figures unknown. */
static inline void smi_fixture_n150(struct smi_device *d, int index)
{
    smi_fixture_unknown(d, index);
    struct sysfs_device *s = &d->sys;
    strcpy(s->arch, "wormhole");
    strcpy(s->card_type, "n150");
    strcpy(s->bus_id, "0000:01:00.0");
    strcpy(s->serial, "10000180401E0000");
    strcpy(s->fw_bundle_ver, "18.3.0.0");
    s->temp_mc = 45000;
    s->temp_max_mc = 90000;
    s->power_uw = 20400000; /* 20.4 W: the table rounds it to 20 */
    s->power_max_uw = 160000000;
    s->vcore_mv = 800;
    s->current_ma = 25000;
    s->aiclk_mhz = 1000;
    d->total[TTALLOC_DRAM] = 12ull << 30;
    d->total[TTALLOC_L1] = 107937792ull;
}

#endif /* TTALLOC_TEST_SMI_FIXTURE_H */
