/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_csv.c - the nvidia-smi style CSV queries of tt-smi (see smi_csv.h).
 * Each field is a row of a table: name, unit, and which value it shows.
 */
#include "smi_csv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "termtext.h"

enum smi_csv_value {
    SMI_V_INDEX,
    SMI_V_NAME,
    SMI_V_ARCH,
    SMI_V_BUS_ID,
    SMI_V_SERIAL,
    SMI_V_ASIC_ID,
    SMI_V_FIRMWARE,
    SMI_V_DRIVER,
    SMI_V_TEMP,
    SMI_V_TEMP_MAX,
    SMI_V_POWER,
    SMI_V_POWER_LIMIT,
    SMI_V_VOLTAGE,
    SMI_V_CURRENT,
    SMI_V_FAN,
    SMI_V_AICLK,
    SMI_V_AXICLK,
    SMI_V_ARCCLK,
    SMI_V_MEM_TOTAL,
    SMI_V_MEM_USED,
    SMI_V_MEM_FREE, /* + buffer type */
    SMI_V_PID,
    SMI_V_PROCESS_NAME,
    SMI_V_USER,
    SMI_V_DEVICE,
    SMI_V_APP_BUS_ID,
    SMI_V_APP_USED,
    SMI_V_TRACKED,
    SMI_V_LABEL,
    SMI_V_TIMESTAMP,
};

struct smi_csv_field {
    const char *name;
    const char *unit; /* "" = none */
    int apps;
    enum smi_csv_value value;
    int type; /* buffer type for memory fields */
};

static const struct smi_csv_field smi_csv_fields[] = {
    {"timestamp", "", 0, SMI_V_TIMESTAMP, 0},
    {"index", "", 0, SMI_V_INDEX, 0},
    {"name", "", 0, SMI_V_NAME, 0},
    {"arch", "", 0, SMI_V_ARCH, 0},
    {"pci.bus_id", "", 0, SMI_V_BUS_ID, 0},
    {"serial", "", 0, SMI_V_SERIAL, 0},
    {"asic_id", "", 0, SMI_V_ASIC_ID, 0},
    {"firmware", "", 0, SMI_V_FIRMWARE, 0},
    {"driver_version", "", 0, SMI_V_DRIVER, 0},
    {"temperature.asic", "", 0, SMI_V_TEMP, 0},
    {"temperature.max", "", 0, SMI_V_TEMP_MAX, 0},
    {"power.draw", "W", 0, SMI_V_POWER, 0},
    {"power.limit", "W", 0, SMI_V_POWER_LIMIT, 0},
    {"voltage.core", "V", 0, SMI_V_VOLTAGE, 0},
    {"current.core", "A", 0, SMI_V_CURRENT, 0},
    {"fan.speed", "RPM", 0, SMI_V_FAN, 0},
    {"clocks.aiclk", "MHz", 0, SMI_V_AICLK, 0},
    {"clocks.axiclk", "MHz", 0, SMI_V_AXICLK, 0},
    {"clocks.arcclk", "MHz", 0, SMI_V_ARCCLK, 0},
    {"memory.total", "MiB", 0, SMI_V_MEM_TOTAL, TTALLOC_DRAM},
    {"memory.used", "MiB", 0, SMI_V_MEM_USED, TTALLOC_DRAM},
    {"memory.free", "MiB", 0, SMI_V_MEM_FREE, TTALLOC_DRAM},
    {"l1.total", "MiB", 0, SMI_V_MEM_TOTAL, TTALLOC_L1},
    {"l1.used", "MiB", 0, SMI_V_MEM_USED, TTALLOC_L1},
    {"l1.free", "MiB", 0, SMI_V_MEM_FREE, TTALLOC_L1},
    {"l1_small.used", "MiB", 0, SMI_V_MEM_USED, TTALLOC_L1_SMALL},
    {"trace.used", "MiB", 0, SMI_V_MEM_USED, TTALLOC_TRACE},
    {"cb.used", "MiB", 0, SMI_V_MEM_USED, TTALLOC_CB},
    {"timestamp", "", 1, SMI_V_TIMESTAMP, 0},
    {"pid", "", 1, SMI_V_PID, 0},
    {"process_name", "", 1, SMI_V_PROCESS_NAME, 0},
    {"label", "", 1, SMI_V_LABEL, 0},
    {"user", "", 1, SMI_V_USER, 0},
    {"device", "", 1, SMI_V_DEVICE, 0},
    {"pci.bus_id", "", 1, SMI_V_APP_BUS_ID, 0},
    {"tracked", "", 1, SMI_V_TRACKED, 0},
    {"used_memory", "MiB", 1, SMI_V_APP_USED, TTALLOC_DRAM},
    {"used_l1", "MiB", 1, SMI_V_APP_USED, TTALLOC_L1},
    {"used_l1_small", "MiB", 1, SMI_V_APP_USED, TTALLOC_L1_SMALL},
    {"used_trace", "MiB", 1, SMI_V_APP_USED, TTALLOC_TRACE},
    {"used_cb", "MiB", 1, SMI_V_APP_USED, TTALLOC_CB},
};
#define SMI_CSV_N_FIELDS (sizeof(smi_csv_fields) / sizeof(smi_csv_fields[0]))

int smi_csv_parse_fields(struct smi_csv_query *q, int apps, const char *list, const char **bad,
                         size_t *bad_len)
{
    q->apps = apps;
    q->n_fields = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        *bad = p;
        *bad_len = len;
        int found = -1;
        for (size_t i = 0; i < SMI_CSV_N_FIELDS; i++) {
            if (smi_csv_fields[i].apps == apps && strlen(smi_csv_fields[i].name) == len &&
                memcmp(smi_csv_fields[i].name, p, len) == 0)
                found = (int)i;
        }
        if (found < 0 || q->n_fields == SMI_CSV_MAX_FIELDS)
            return -EINVAL;
        q->fields[q->n_fields++] = found;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int smi_csv_parse_format(struct smi_csv_query *q, const char *format)
{
    q->header = 1;
    q->units = 1;
    if (strncmp(format, "csv", 3) != 0 || (format[3] != '\0' && format[3] != ','))
        return -EINVAL;
    const char *p = format + 3;
    while (*p == ',') {
        p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 8 && memcmp(p, "noheader", 8) == 0)
            q->header = 0;
        else if (len == 7 && memcmp(p, "nounits", 7) == 0)
            q->units = 0;
        else
            return -EINVAL;
        p += len;
    }
    return 0;
}

void smi_csv_list_fields(int apps, struct strbuf *out)
{
    for (size_t i = 0; i < SMI_CSV_N_FIELDS; i++) {
        if (smi_csv_fields[i].apps == apps)
            strbuf_printf(out, "  %s%s%s%s\n", smi_csv_fields[i].name,
                          smi_csv_fields[i].unit[0] ? " [" : "", smi_csv_fields[i].unit,
                          smi_csv_fields[i].unit[0] ? "]" : "");
    }
}

#define SMI_NA "[N/A]"

/* A value in the field's unit, followed by the unit unless nounits. */
static void smi_csv_number(struct strbuf *b, const struct smi_csv_query *q,
                           const struct smi_csv_field *f, const char *number)
{
    strbuf_printf(b, "%s%s%s", number, q->units && f->unit[0] ? " " : "", q->units ? f->unit : "");
}

static void smi_csv_fixed(struct strbuf *b, const struct smi_csv_query *q,
                          const struct smi_csv_field *f, int64_t value, int digits)
{
    char text[48];
    if (value == SYSFS_UNKNOWN) {
        strbuf_printf(b, SMI_NA);
        return;
    }
    if (digits == 0)
        snprintf(text, sizeof(text), "%lld", (long long)value);
    else
        smi_fmt_fixed(value, digits, text, sizeof(text));
    smi_csv_number(b, q, f, text);
}

static void smi_csv_mib(struct strbuf *b, const struct smi_csv_query *q,
                        const struct smi_csv_field *f, int known, uint64_t bytes)
{
    char text[32];
    if (!known) {
        strbuf_printf(b, SMI_NA);
        return;
    }
    snprintf(text, sizeof(text), "%llu", (unsigned long long)(bytes >> 20));
    smi_csv_number(b, q, f, text);
}

/* Text as is, except what termtext.h replaces by '?' (a newline would
 * break the line structure, an ESC the terminal of whoever reads it). */
static void smi_csv_text(struct strbuf *b, const char *text)
{
    if (text == NULL || text[0] == '\0') {
        strbuf_printf(b, SMI_NA);
        return;
    }
    char safe[1024];
    termtext_fit(safe, sizeof(safe), text, sizeof(safe));
    strbuf_printf(b, "%s", safe);
}

/* nvidia-smi's timestamp: local time, "2026/11/23 12:00:00.123". */
static void smi_csv_timestamp(struct strbuf *b, const struct smi_model *m)
{
    time_t t = (time_t)m->time;
    struct tm tm;
    char text[48];
    if (localtime_r(&t, &tm) == NULL ||
        strftime(text, sizeof(text), "%Y/%m/%d %H:%M:%S", &tm) == 0) {
        strbuf_printf(b, SMI_NA);
        return;
    }
    strbuf_printf(b, "%s.%03d", text, m->time_ms);
}

static void smi_csv_device_value(struct strbuf *b, const struct smi_model *m,
                                 const struct smi_csv_query *q, const struct smi_csv_field *f,
                                 const struct smi_device *d)
{
    const struct sysfs_device *s = &d->sys;
    uint64_t total = d->total[f->type], used = d->used[f->type];
    switch (f->value) {
    case SMI_V_TIMESTAMP:
        smi_csv_timestamp(b, m);
        break;
    case SMI_V_INDEX:
        strbuf_printf(b, "%d", s->index);
        break;
    case SMI_V_NAME:
        smi_csv_text(b, s->card_type);
        break;
    case SMI_V_ARCH:
        smi_csv_text(b, s->arch);
        break;
    case SMI_V_BUS_ID:
        smi_csv_text(b, s->bus_id);
        break;
    case SMI_V_SERIAL:
        smi_csv_text(b, s->serial);
        break;
    case SMI_V_ASIC_ID:
        smi_csv_text(b, s->asic_id);
        break;
    case SMI_V_FIRMWARE:
        smi_csv_text(b, s->fw_bundle_ver);
        break;
    case SMI_V_DRIVER:
        smi_csv_text(b, m->driver_version);
        break;
    case SMI_V_TEMP:
        smi_csv_fixed(b, q, f, s->temp_mc, 3);
        break;
    case SMI_V_TEMP_MAX:
        smi_csv_fixed(b, q, f, s->temp_max_mc, 3);
        break;
    case SMI_V_POWER:
        smi_csv_fixed(b, q, f, s->power_uw, 6);
        break;
    case SMI_V_POWER_LIMIT:
        smi_csv_fixed(b, q, f, s->power_max_uw, 6);
        break;
    case SMI_V_VOLTAGE:
        smi_csv_fixed(b, q, f, s->vcore_mv, 3);
        break;
    case SMI_V_CURRENT:
        smi_csv_fixed(b, q, f, s->current_ma, 3);
        break;
    case SMI_V_FAN:
        smi_csv_fixed(b, q, f, s->fan_rpm, 0);
        break;
    case SMI_V_AICLK:
        smi_csv_fixed(b, q, f, s->aiclk_mhz, 0);
        break;
    case SMI_V_AXICLK:
        smi_csv_fixed(b, q, f, s->axiclk_mhz, 0);
        break;
    case SMI_V_ARCCLK:
        smi_csv_fixed(b, q, f, s->arcclk_mhz, 0);
        break;
    case SMI_V_MEM_TOTAL:
        smi_csv_mib(b, q, f, total != 0, total);
        break;
    case SMI_V_MEM_USED:
        smi_csv_mib(b, q, f, d->used_known, used);
        break;
    case SMI_V_MEM_FREE: {
        uint64_t free_bytes = 0;
        int known = smi_model_free_bytes(d, f->type, &free_bytes) == 0;
        smi_csv_mib(b, q, f, known, free_bytes);
        break;
    }
    default:
        strbuf_printf(b, SMI_NA);
        break;
    }
}

static void smi_csv_app_value(struct strbuf *b, const struct smi_model *m,
                              const struct smi_csv_query *q, const struct smi_csv_field *f,
                              const struct smi_process *p, const struct smi_device *d)
{
    const struct smi_usage *u = smi_model_usage(p, d->sys.index);
    switch (f->value) {
    case SMI_V_TIMESTAMP:
        smi_csv_timestamp(b, m);
        break;
    case SMI_V_PID:
        strbuf_printf(b, "%d", (int)p->pid);
        break;
    case SMI_V_PROCESS_NAME:
        smi_csv_text(b, p->name);
        break;
    case SMI_V_LABEL:
        smi_csv_text(b, p->label);
        break;
    case SMI_V_USER:
        smi_csv_text(b, p->user);
        break;
    case SMI_V_DEVICE:
        strbuf_printf(b, "%d", d->sys.index);
        break;
    case SMI_V_APP_BUS_ID:
        smi_csv_text(b, d->sys.bus_id);
        break;
    case SMI_V_TRACKED:
        strbuf_printf(b, "%s", p->tracked ? "yes" : "no");
        break;
    case SMI_V_APP_USED:
        smi_csv_mib(b, q, f, smi_model_usage_known(m, p, u), u ? u->bytes[f->type] : 0);
        break;
    default:
        strbuf_printf(b, SMI_NA);
        break;
    }
}

/* One value as RFC 4180 wants it: quoted when it holds the separator or a
 * quote, each quote doubled. */
static void smi_csv_cell(struct strbuf *out, const struct strbuf *cell)
{
    const char *text = cell->data ? cell->data : "";
    if (strpbrk(text, ",\"\r\n") == NULL) {
        strbuf_append(out, text, cell->len);
        return;
    }
    strbuf_append(out, "\"", 1);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            strbuf_append(out, "\"", 1);
        strbuf_append(out, c, 1);
    }
    strbuf_append(out, "\"", 1);
}

void smi_csv_render(const struct smi_model *m, const struct smi_csv_query *q, struct strbuf *out)
{
    struct strbuf cell = {0};
    if (q->header) {
        for (int i = 0; i < q->n_fields; i++) {
            const struct smi_csv_field *f = &smi_csv_fields[q->fields[i]];
            strbuf_printf(out, "%s%s%s%s%s", i ? ", " : "", f->name, f->unit[0] ? " [" : "",
                          f->unit, f->unit[0] ? "]" : "");
        }
        strbuf_printf(out, "\n");
    }
    if (!q->apps) {
        for (size_t d = 0; d < m->n_devices; d++) {
            if (!m->devices[d].selected)
                continue;
            for (int i = 0; i < q->n_fields; i++) {
                strbuf_printf(out, "%s", i ? ", " : "");
                cell.len = 0;
                strbuf_printf(&cell, "%s", "");
                smi_csv_device_value(&cell, m, q, &smi_csv_fields[q->fields[i]], &m->devices[d]);
                smi_csv_cell(out, &cell);
            }
            strbuf_printf(out, "\n");
        }
        strbuf_release(&cell);
        return;
    }
    for (size_t k = 0; k < m->n_processes; k++) {
        const struct smi_process *p = &m->processes[k];
        for (size_t j = 0; j < p->n_devices; j++) {
            const struct smi_device *d = NULL;
            for (size_t x = 0; x < m->n_devices; x++) {
                if (m->devices[x].sys.index == p->devices[j] && m->devices[x].selected)
                    d = &m->devices[x];
            }
            if (d == NULL)
                continue;
            for (int i = 0; i < q->n_fields; i++) {
                strbuf_printf(out, "%s", i ? ", " : "");
                cell.len = 0;
                strbuf_printf(&cell, "%s", "");
                smi_csv_app_value(&cell, m, q, &smi_csv_fields[q->fields[i]], p, d);
                smi_csv_cell(out, &cell);
            }
            strbuf_printf(out, "\n");
        }
    }
    strbuf_release(&cell);
}
