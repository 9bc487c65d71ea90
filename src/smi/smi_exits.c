/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_exits.c - the leak history in tt-smi's JSON and -q outputs (see
 * smi_exits.h). The fields are the contract's: pid, name, label, uid, time,
 * device and the bytes per memory type, plus the buffer count.
 */
#include "smi_exits.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buftype.h"
#include "termtext.h"

void smi_exits_iso_time(uint64_t time_ns, char *out, size_t cap)
{
    time_t t = (time_t)(time_ns / 1000000000ull);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

/* A fixed-size char field of a wire record, which may lack its NUL. */
static void smi_exits_copy(char *out, size_t cap, const char *field, size_t field_size)
{
    size_t n = strnlen(field, field_size);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, field, n);
    out[n] = '\0';
}

static uint64_t smi_exits_buffers(const struct ttalloc_exit *e)
{
    uint64_t sum = 0;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        sum += e->buffers[t];
    return sum;
}

void smi_exits_json(const struct smi_model *m, struct strbuf *b)
{
    if (!m->exits_known) {
        strbuf_printf(b, "null");
        return;
    }
    strbuf_printf(b, "[");
    for (size_t i = 0; i < m->n_exits; i++) {
        const struct ttalloc_exit *e = &m->exits[i];
        char name[TTALLOC_NAME_MAX + 1], label[TTALLOC_LABEL_MAX + 1], when[32];
        smi_exits_copy(name, sizeof(name), e->name, sizeof(e->name));
        smi_exits_copy(label, sizeof(label), e->label, sizeof(e->label));
        smi_exits_iso_time(e->time_ns, when, sizeof(when));
        strbuf_printf(b, "%s\n    {\"pid\": %d, \"name\": ", i ? "," : "", (int)e->pid);
        smi_json_string(b, name);
        strbuf_printf(b, ", \"label\": ");
        if (label[0] == '\0')
            strbuf_printf(b, "null");
        else
            smi_json_string(b, label);
        strbuf_printf(b, ", \"uid\": %u, \"time\": ", (unsigned)e->uid);
        smi_json_string(b, when);
        strbuf_printf(b, ", \"device\": %u", (unsigned)e->device);
        for (size_t k = 0; k < BUFTYPE_N_DEVICE; k++) {
            int t = buftype_device[k];
            strbuf_printf(b, ", \"%s_bytes\": %llu", buftype_key(t),
                          (unsigned long long)e->bytes[t]);
        }
        strbuf_printf(b, ", \"buffers\": %llu}", (unsigned long long)smi_exits_buffers(e));
    }
    strbuf_printf(b, "]");
}

void smi_exits_query(const struct smi_model *m, struct strbuf *out)
{
    strbuf_printf(out, "\nLeak History\n");
    if (!m->exits_known) {
        strbuf_printf(out, "    %-26s: %s\n", "Processes", "N/A (no tt-alloc-server answered)");
        return;
    }
    if (m->n_exits == 0) {
        strbuf_printf(out, "    None\n");
        return;
    }
    for (size_t i = 0; i < m->n_exits; i++) {
        const struct ttalloc_exit *e = &m->exits[i];
        char name[TTALLOC_NAME_MAX + 1], label[TTALLOC_LABEL_MAX + 1], when[32];
        smi_exits_copy(name, sizeof(name), e->name, sizeof(e->name));
        smi_exits_copy(label, sizeof(label), e->label, sizeof(e->label));
        smi_exits_iso_time(e->time_ns, when, sizeof(when));
        strbuf_printf(out, "    %-26s: %d\n", "Process ID", (int)e->pid);
        char safe[4 * TTALLOC_LABEL_MAX];
        termtext_fit(safe, sizeof(safe), name[0] ? name : "N/A", sizeof(safe));
        strbuf_printf(out, "        %-22s: %s\n", "Name", safe);
        if (label[0] != '\0') {
            termtext_fit(safe, sizeof(safe), label, sizeof(safe));
            strbuf_printf(out, "        %-22s: %s\n", "Label", safe);
        }
        strbuf_printf(out, "        %-22s: %u\n", "UID", (unsigned)e->uid);
        strbuf_printf(out, "        %-22s: %s\n", "Ended", when[0] ? when : "N/A");
        strbuf_printf(out, "        %-22s: %u\n", "Device", (unsigned)e->device);
        strbuf_printf(out, "        %-22s: %llu\n", "Buffers Left",
                      (unsigned long long)smi_exits_buffers(e));
        for (size_t k = 0; k < BUFTYPE_N_DEVICE; k++) {
            int t = buftype_device[k];
            strbuf_printf(out, "        %-22s: %llu MiB (%llu B)\n", buftype_title(t),
                          (unsigned long long)(e->bytes[t] >> 20), (unsigned long long)e->bytes[t]);
        }
    }
}
