/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_json.c - the --json output (see smi_json.h). Numbers from sysfs are
 * converted exactly (millidegrees -> degrees as a decimal, not a float).
 */
#include "smi_json.h"
#include "smi_exits.h"

#include <stdio.h>
#include <time.h>

#include "buftype.h"

static void smi_json_fixed(struct strbuf *b, int64_t value, int digits)
{
    char text[48];
    if (value == SYSFS_UNKNOWN) {
        strbuf_printf(b, "null");
        return;
    }
    smi_fmt_fixed(value, digits, text, sizeof(text));
    strbuf_printf(b, "%s", text);
}

static void smi_json_int(struct strbuf *b, int64_t value)
{
    if (value == SYSFS_UNKNOWN)
        strbuf_printf(b, "null");
    else
        strbuf_printf(b, "%lld", (long long)value);
}

/* A string attribute: "" means unknown -> null. */
static void smi_json_opt_string(struct strbuf *b, const char *text)
{
    if (text[0] == '\0')
        strbuf_printf(b, "null");
    else
        smi_json_string(b, text);
}

static void smi_json_u64(struct strbuf *b, int known, uint64_t value)
{
    if (known)
        strbuf_printf(b, "%llu", (unsigned long long)value);
    else
        strbuf_printf(b, "null");
}

static void smi_json_device(struct strbuf *b, const struct smi_device *d)
{
    const struct sysfs_device *s = &d->sys;
    strbuf_printf(b, "{\"index\": %d, \"arch\": ", s->index);
    smi_json_opt_string(b, s->arch);
    strbuf_printf(b, ", \"board_type\": ");
    smi_json_opt_string(b, s->card_type);
    strbuf_printf(b, ", \"bus_id\": ");
    smi_json_opt_string(b, s->bus_id);
    strbuf_printf(b, ", \"serial\": ");
    smi_json_opt_string(b, s->serial);
    strbuf_printf(b, ", \"asic_id\": ");
    smi_json_opt_string(b, s->asic_id);
    strbuf_printf(b, ", \"firmware\": ");
    smi_json_opt_string(b, s->fw_bundle_ver);
    strbuf_printf(b, ", \"temperature_c\": ");
    smi_json_fixed(b, s->temp_mc, 3);
    strbuf_printf(b, ", \"power_w\": ");
    smi_json_fixed(b, s->power_uw, 6);
    strbuf_printf(b, ", \"power_limit_w\": ");
    smi_json_fixed(b, s->power_max_uw, 6);
    strbuf_printf(b, ", \"voltage_v\": ");
    smi_json_fixed(b, s->vcore_mv, 3);
    strbuf_printf(b, ", \"current_a\": ");
    smi_json_fixed(b, s->current_ma, 3);
    strbuf_printf(b, ", \"aiclk_mhz\": ");
    smi_json_int(b, s->aiclk_mhz);
    strbuf_printf(b, ", \"fan_rpm\": ");
    smi_json_int(b, s->fan_rpm);
    strbuf_printf(b, ", \"shm_match\": ");
    smi_json_opt_string(b, d->shm_match ? d->shm_match : "");
    strbuf_printf(b, ",\n      \"memory\": {");
    for (size_t i = 0; i < BUFTYPE_N_DEVICE; i++) {
        int t = buftype_device[i];
        strbuf_printf(b, "%s\"%s\": {\"used_bytes\": ", i ? ", " : "", buftype_key(t));
        smi_json_u64(b, d->used_known, d->used[t]);
        strbuf_printf(b, ", \"total_bytes\": ");
        smi_json_u64(b, d->total[t] != 0, d->total[t]);
        strbuf_printf(b, ", \"peak_bytes\": ");
        smi_json_u64(b, smi_model_device_peak_known(d), d->peak[t]);
        strbuf_printf(b, "}");
    }
    strbuf_printf(b, "}}");
}

static void smi_json_process(struct strbuf *b, const struct smi_model *m,
                             const struct smi_process *p)
{
    strbuf_printf(b, "{\"pid\": %d, \"name\": ", (int)p->pid);
    smi_json_string(b, p->name);
    strbuf_printf(b, ", \"label\": ");
    smi_json_opt_string(b, p->label);
    strbuf_printf(b, ", \"user\": ");
    smi_json_string(b, p->user);
    strbuf_printf(b, ", \"cmdline\": ");
    smi_json_string(b, p->cmdline);
    strbuf_printf(b, ", \"devices\": [");
    int first = 1;
    for (size_t i = 0; i < p->n_devices; i++) {
        strbuf_printf(b, "%s%d", first ? "" : ", ", p->devices[i]);
        first = 0;
    }
    strbuf_printf(b, "], \"tracked\": %s, \"memory\": [", p->tracked ? "true" : "false");
    first = 1;
    for (size_t i = 0; i < p->n_devices; i++) {
        /* figures from the server or SHM; a tracked process without any
         * here holds 0; otherwise (no entry, no server figures) unknown */
        const struct smi_usage *u = smi_model_usage(p, p->devices[i]);
        int known = smi_model_usage_known(m, p, u);
        strbuf_printf(b, "%s{\"device\": %d", first ? "" : ", ", p->devices[i]);
        first = 0;
        for (size_t k = 0; k < BUFTYPE_N_DEVICE; k++) {
            int t = buftype_device[k];
            strbuf_printf(b, ", \"%s_bytes\": ", buftype_key(t));
            smi_json_u64(b, known, u ? u->bytes[t] : 0);
        }
        int peak_known = smi_model_process_peak_known(m, p, u);
        for (size_t k = 0; k < BUFTYPE_N_DEVICE; k++) {
            int t = buftype_device[k];
            strbuf_printf(b, ", \"%s_peak_bytes\": ", buftype_key(t));
            smi_json_u64(b, peak_known, u ? u->peak[t] : 0);
        }
        strbuf_printf(b, "}");
    }
    strbuf_printf(b, "]}");
}

/* ", "stale": [...]": PIDs left in TT-Metal's SHM regions that no longer run
 * (not users, so not in "processes"); "device" null for a chip without a
 * node. */
static void smi_json_stale(struct strbuf *b, const struct smi_model *m)
{
    strbuf_printf(b, ",\n  \"stale\": [");
    int first = 1;
    for (size_t i = 0; i < m->n_stale; i++) {
        const struct smi_stale *s = &m->stale[i];
        const struct smi_device *d = NULL;
        for (size_t k = 0; k < m->n_devices && s->device >= 0; k++) {
            if (m->devices[k].sys.index == s->device)
                d = &m->devices[k];
        }
        if (d != NULL && !d->selected)
            continue;
        strbuf_printf(b, "%s\n    {\"pid\": %d, \"name\": ", first ? "" : ",", (int)s->pid);
        first = 0;
        smi_json_string(b, s->name);
        strbuf_printf(b, ", \"device\": ");
        smi_json_int(b, s->device >= 0 ? s->device : SYSFS_UNKNOWN);
        strbuf_printf(b, "}");
    }
    strbuf_printf(b, "]");
}

void smi_json_render(const struct smi_model *m, struct strbuf *b)
{
    char stamp[32];
    time_t t = (time_t)m->time;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        stamp[0] = '\0';
    strbuf_printf(b, "{\"schema_version\": 1, \"timestamp\": ");
    smi_json_string(b, stamp);
    strbuf_printf(b, ", \"hostname\": ");
    smi_json_string(b, m->hostname);
    strbuf_printf(b, ", \"driver_version\": ");
    smi_json_opt_string(b, m->driver_version);
    strbuf_printf(b,
                  ",\n  \"tracking\": {\"server\": %s, \"socket\": ", m->server ? "true" : "false");
    if (m->socket[0])
        smi_json_string(b, m->socket);
    else
        strbuf_printf(b, "null");
    strbuf_printf(b, ", \"sources\": [");
    const char *sep = "";
    if (m->server) {
        strbuf_printf(b, "\"server\"");
        sep = ", ";
    }
    if (m->shm) {
        strbuf_printf(b, "%s\"shm\"", sep);
        sep = ", ";
    }
    if (m->used_pids_files) {
        strbuf_printf(b, "%s\"pids\"", sep);
        sep = ", ";
    }
    if (m->used_fd_scan)
        strbuf_printf(b, "%s\"fdscan\"", sep);
    strbuf_printf(b, "]},\n  \"devices\": [");
    int first = 1;
    for (size_t i = 0; i < m->n_devices; i++) {
        if (!m->devices[i].selected)
            continue;
        strbuf_printf(b, "%s\n    ", first ? "" : ",");
        first = 0;
        smi_json_device(b, &m->devices[i]);
    }
    strbuf_printf(b, "],\n  \"processes\": [");
    first = 1;
    for (size_t i = 0; i < m->n_processes; i++) {
        if (!smi_model_process_selected(m, &m->processes[i]))
            continue;
        strbuf_printf(b, "%s\n    ", first ? "" : ",");
        first = 0;
        smi_json_process(b, m, &m->processes[i]);
    }
    strbuf_printf(b, "]");
    smi_json_stale(b, m);
    strbuf_printf(b, ",\n  \"exits\": ");
    smi_exits_json(m, b);
    strbuf_printf(b, "}\n");
}
