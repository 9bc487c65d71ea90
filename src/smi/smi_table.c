/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_table.c - the human outputs of tt-smi (see smi_table.h). Unknown
 * values print as N/A. Every line of the table fits 80 columns.
 */
#include "smi_table.h"
#include "smi_exits.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buftype.h"
#include "termtext.h"

#define SMI_RULE "=============================================================================="
#define SMI_THIN "------------------------------------------------------------------------------"

static void smi_table_time(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(out, cap, "%a %b %e %H:%M:%S %Y", &tm) == 0)
        snprintf(out, cap, "N/A");
}

/* "12.0G/12.0G" (used/total), N/A for an unknown half. */
static void smi_table_mem(const struct smi_device *d, int type, char *out, size_t cap)
{
    char used[16] = "N/A", total[16] = "N/A";
    if (d->used_known)
        smi_fmt_bytes(d->used[type], used, sizeof(used));
    if (d->total[type] != 0)
        smi_fmt_bytes(d->total[type], total, sizeof(total));
    snprintf(out, cap, "%s/%s", used, total);
}

static void smi_table_watts(int64_t uw, char *out, size_t cap)
{
    if (uw == SYSFS_UNKNOWN)
        snprintf(out, cap, "N/A");
    else
        snprintf(out, cap, "%lldW", (long long)((uw + 500000) / 1000000));
}

void smi_table_render(const struct smi_model *m, int colour, struct strbuf *out)
{
    const char *bold = colour ? "\033[1m" : "", *red = colour ? "\033[31m" : "",
               *reset = colour ? "\033[0m" : "";
    char when[64], host[128], driver[80];
    smi_table_time(m->time, when, sizeof(when));
    termtext_cell(host, sizeof(host), m->hostname, 24);
    termtext_fit(driver, sizeof(driver), m->driver_version[0] ? m->driver_version : "N/A", 16);
    strbuf_printf(out, "%s%-28.28s %s Driver: %s%s\n", bold, when, host, driver, reset);
    strbuf_printf(out, "%s\n", SMI_RULE);
    strbuf_printf(out, "%s%3s %-9s %-12s %6s %11s %7s %12s %12s%s\n", bold, "ID", "Board", "Bus Id",
                  "Temp", "Power/Limit", "AICLK", "DRAM Use/Tot", "L1 Use/Tot", reset);
    strbuf_printf(out, "%s\n", SMI_THIN);
    size_t shown = 0;
    for (size_t i = 0; i < m->n_devices; i++) {
        const struct smi_device *d = &m->devices[i];
        if (!d->selected)
            continue;
        shown++;
        const struct sysfs_device *s = &d->sys;
        char temp[32] = "N/A", power[32], limit[32], clk[32] = "N/A", dram[48], l1[48];
        int hot = 0;
        if (s->temp_mc != SYSFS_UNKNOWN) {
            snprintf(temp, sizeof(temp), "%.1fC", (double)s->temp_mc / 1000.0);
            hot = s->temp_max_mc != SYSFS_UNKNOWN && s->temp_mc >= s->temp_max_mc - 10000;
        }
        smi_table_watts(s->power_uw, power, sizeof(power));
        smi_table_watts(s->power_max_uw, limit, sizeof(limit));
        if (s->aiclk_mhz != SYSFS_UNKNOWN)
            snprintf(clk, sizeof(clk), "%lldMHz", (long long)s->aiclk_mhz);
        smi_table_mem(d, TTALLOC_DRAM, dram, sizeof(dram));
        smi_table_mem(d, TTALLOC_L1, l1, sizeof(l1));
        char pl[72], board[48], bus[64];
        snprintf(pl, sizeof(pl), "%s/%s", power, limit);
        termtext_cell(board, sizeof(board), s->card_type[0] ? s->card_type : "N/A", 9);
        termtext_cell(bus, sizeof(bus), s->bus_id[0] ? s->bus_id : "N/A", 12);
        strbuf_printf(out, "%3d %s %s %s%6s%s %11s %7s %12s %12s\n", s->index, board, bus,
                      hot ? red : "", temp, hot ? reset : "", pl, clk, dram, l1);
    }
    if (shown == 0)
        strbuf_printf(out, "  No devices.\n");
    strbuf_printf(out, "%s\n", SMI_RULE);
    strbuf_printf(out, "%sProcesses:%s\n", bold, reset);
    strbuf_printf(out, "%s%4s %8s %-10s %-22s %10s %8s%s\n", bold, "Dev", "PID", "User", "Name",
                  "DRAM", "L1", reset);
    strbuf_printf(out, "%s\n", SMI_THIN);
    size_t rows = 0;
    for (size_t i = 0; i < m->n_processes; i++) {
        const struct smi_process *p = &m->processes[i];
        for (size_t k = 0; k < p->n_devices; k++) {
            const struct smi_device *d = NULL;
            for (size_t j = 0; j < m->n_devices; j++) {
                if (m->devices[j].sys.index == p->devices[k])
                    d = &m->devices[j];
            }
            if (d == NULL || !d->selected)
                continue;
            const struct smi_usage *u = smi_model_usage(p, p->devices[k]);
            char dram[16] = "N/A", l1[16] = "N/A";
            if (smi_model_usage_known(m, p, u)) {
                smi_fmt_bytes(u ? u->bytes[TTALLOC_DRAM] : 0, dram, sizeof(dram));
                smi_fmt_bytes(u ? u->bytes[TTALLOC_L1] : 0, l1, sizeof(l1));
            }
            /* A label tells apart processes that share an executable name,
             * so it comes first and survives the column's cut. */
            char shown[160], name[96], user[48];
            if (p->label[0] != '\0')
                snprintf(shown, sizeof(shown), "%s (%s)", p->label, p->name);
            else
                snprintf(shown, sizeof(shown), "%s", p->name);
            termtext_cell(name, sizeof(name), shown, 22);
            termtext_cell(user, sizeof(user), p->user, 10);
            strbuf_printf(out, "%4d %8d %s %s %10s %8s\n", p->devices[k], (int)p->pid, user, name,
                          dram, l1);
            rows++;
        }
    }
    if (rows == 0)
        strbuf_printf(out, "  No processes hold a device.\n");
    strbuf_printf(out, "%s\n", SMI_RULE);
    if (!m->server && !m->shm)
        strbuf_printf(out, "Memory: unknown, no tt-alloc-server answered (start tt-alloc-server;\n"
                           "apps report through libttalloc).\n");
}

/* Every value of the -q report passes here, made safe for a terminal. */
static void smi_q_str(struct strbuf *out, int indent, const char *key, const char *value)
{
    char safe[1024];
    termtext_fit(safe, sizeof(safe), value && value[0] ? value : "N/A", sizeof(safe));
    strbuf_printf(out, "%*s%-*s: %s\n", indent, "", 30 - indent, key, safe);
}

static void smi_q_num(struct strbuf *out, int indent, const char *key, int64_t value, int digits,
                      const char *unit)
{
    char text[48];
    if (value == SYSFS_UNKNOWN) {
        smi_q_str(out, indent, key, NULL);
        return;
    }
    if (digits == 0)
        snprintf(text, sizeof(text), "%lld", (long long)value);
    else
        smi_fmt_fixed(value, digits, text, sizeof(text) - 8);
    if (unit[0] != '\0') {
        strncat(text, " ", sizeof(text) - strlen(text) - 1);
        strncat(text, unit, sizeof(text) - strlen(text) - 1);
    }
    smi_q_str(out, indent, key, text);
}

static void smi_q_bytes(struct strbuf *out, int indent, const char *key, int known, uint64_t bytes)
{
    char text[48];
    if (!known) {
        smi_q_str(out, indent, key, NULL);
        return;
    }
    snprintf(text, sizeof(text), "%llu MiB (%llu B)", (unsigned long long)(bytes >> 20),
             (unsigned long long)bytes);
    smi_q_str(out, indent, key, text);
}

void smi_table_render_query(const struct smi_model *m, struct strbuf *out)
{
    char when[64];
    smi_table_time(m->time, when, sizeof(when));
    strbuf_printf(out, "==============TT-SMI LOG==============\n\n");
    smi_q_str(out, 0, "Timestamp", when);
    smi_q_str(out, 0, "Hostname", m->hostname);
    smi_q_str(out, 0, "Driver Version", m->driver_version);
    smi_q_str(out, 0, "Tracking Server", m->server ? m->socket : "not running");
    size_t n_sel = 0;
    for (size_t i = 0; i < m->n_devices; i++)
        n_sel += m->devices[i].selected != 0;
    smi_q_num(out, 0, "Attached Devices", (int64_t)n_sel, 0, "");
    for (size_t i = 0; i < m->n_devices; i++) {
        const struct smi_device *d = &m->devices[i];
        const struct sysfs_device *s = &d->sys;
        if (!d->selected)
            continue;
        strbuf_printf(out, "\nDevice %d\n", s->index);
        smi_q_str(out, 4, "Board Type", s->card_type);
        smi_q_str(out, 4, "Architecture", s->arch);
        smi_q_str(out, 4, "Bus Id", s->bus_id);
        smi_q_str(out, 4, "Serial", s->serial);
        smi_q_str(out, 4, "ASIC Id", s->asic_id);
        strbuf_printf(out, "    Firmware\n");
        smi_q_str(out, 8, "Bundle", s->fw_bundle_ver);
        smi_q_str(out, 8, "ARC", s->arc_fw_ver);
        smi_q_str(out, 8, "Ethernet", s->eth_fw_ver);
        smi_q_str(out, 8, "M3 App", s->m3app_fw_ver);
        smi_q_str(out, 8, "M3 Bootloader", s->m3bl_fw_ver);
        smi_q_str(out, 8, "ttflash", s->ttflash_ver);
        strbuf_printf(out, "    Clocks\n");
        smi_q_num(out, 8, "AICLK", s->aiclk_mhz, 0, "MHz");
        smi_q_num(out, 8, "AXICLK", s->axiclk_mhz, 0, "MHz");
        smi_q_num(out, 8, "ARCCLK", s->arcclk_mhz, 0, "MHz");
        strbuf_printf(out, "    Telemetry\n");
        smi_q_num(out, 8, "Temperature", s->temp_mc, 3, "C");
        smi_q_num(out, 8, "Temperature Max", s->temp_max_mc, 3, "C");
        smi_q_num(out, 8, "Power Draw", s->power_uw, 6, "W");
        smi_q_num(out, 8, "Power Limit", s->power_max_uw, 6, "W");
        smi_q_num(out, 8, "Core Voltage", s->vcore_mv, 3, "V");
        smi_q_num(out, 8, "Core Voltage Max", s->vcore_max_mv, 3, "V");
        smi_q_num(out, 8, "Current", s->current_ma, 3, "A");
        smi_q_num(out, 8, "Current Max", s->current_max_ma, 3, "A");
        smi_q_num(out, 8, "Fan Speed", s->fan_rpm, 0, "RPM");
        smi_q_num(out, 8, "Heartbeat", s->heartbeat, 0, "");
        smi_q_num(out, 8, "Thermal Trips", s->therm_trip_count, 0, "");
        strbuf_printf(out, "    Memory\n");
        smi_q_str(out, 8, "SHM Match", d->shm_match);
        for (int k = 0; k < BUFTYPE_N_DEVICE; k++) {
            int t = buftype_device[k];
            strbuf_printf(out, "        %s\n", buftype_title(t));
            smi_q_bytes(out, 12, "Total", d->total[t] != 0, d->total[t]);
            smi_q_bytes(out, 12, "Used", d->used_known, d->used[t]);
            uint64_t free_bytes = 0;
            int free_known = smi_model_free_bytes(d, t, &free_bytes) == 0;
            smi_q_bytes(out, 12, "Free", free_known, free_bytes);
            smi_q_bytes(out, 12, "Peak", smi_model_device_peak_known(d), d->peak[t]);
        }
        strbuf_printf(out, "    Processes\n");
        size_t listed = 0;
        for (size_t k = 0; k < m->n_processes; k++) {
            const struct smi_process *p = &m->processes[k];
            int holds = 0;
            for (size_t j = 0; j < p->n_devices; j++)
                holds |= p->devices[j] == s->index;
            if (!holds)
                continue;
            listed++;
            const struct smi_usage *u = smi_model_usage(p, s->index);
            smi_q_num(out, 8, "Process ID", p->pid, 0, "");
            smi_q_str(out, 12, "Name", p->name);
            if (p->label[0] != '\0')
                smi_q_str(out, 12, "Label", p->label);
            smi_q_str(out, 12, "User", p->user);
            smi_q_str(out, 12, "Tracked", p->tracked ? "yes" : "no");
            for (int k = 0; k < BUFTYPE_N_DEVICE; k++) {
                int t = buftype_device[k];
                smi_q_bytes(out, 12, buftype_title(t), smi_model_usage_known(m, p, u),
                            u ? u->bytes[t] : 0);
            }
            int peak_known = smi_model_process_peak_known(m, p, u);
            for (int k = 0; k < BUFTYPE_N_DEVICE; k++) {
                int t = buftype_device[k];
                char key[32];
                snprintf(key, sizeof(key), "%s Peak", buftype_title(t));
                smi_q_bytes(out, 12, key, peak_known, u ? u->peak[t] : 0);
            }
        }
        if (listed == 0)
            strbuf_printf(out, "        None\n");
        /* PIDs left in TT-Metal's SHM statistics that no longer run: not users */
        strbuf_printf(out, "    Stale SHM Entries\n");
        size_t stale = 0;
        for (size_t k = 0; k < m->n_stale; k++) {
            if (m->stale[k].device != s->index)
                continue;
            stale++;
            smi_q_num(out, 8, "Process ID", m->stale[k].pid, 0, "");
            smi_q_str(out, 12, "Name", m->stale[k].name);
            smi_q_str(out, 12, "State", "stale (no longer runs)");
        }
        if (stale == 0)
            strbuf_printf(out, "        None\n");
    }
    smi_exits_query(m, out);
}
