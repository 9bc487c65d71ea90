/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bytesize.c - a byte count in words (see bytesize.h).
 */
#include "bytesize.h"

#include <stdio.h>

void bytesize_format(char *buf, size_t cap, uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%u B", (unsigned)bytes);
        return;
    }
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof(units) / sizeof(units[0])) {
        value /= 1024.0;
        unit++;
    }
    /* Three significant digits, rounded the way printf rounds. */
    if (value < 9.995)
        snprintf(buf, cap, "%.2f %s", value, units[unit]);
    else if (value < 99.95)
        snprintf(buf, cap, "%.1f %s", value, units[unit]);
    else
        snprintf(buf, cap, "%.0f %s", value, units[unit]);
}
