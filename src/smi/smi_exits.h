/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_exits.h - the leak history in tt-smi's outputs: processes that ended
 * with buffers still live, as the server keeps them (one record per process
 * and device, oldest first). JSON `exits` and the -q section.
 */
#ifndef TTALLOC_SMI_EXITS_H
#define TTALLOC_SMI_EXITS_H

#include "smi_fmt.h"
#include "smi_model.h"

/* The value of the JSON key `exits`: an array, or null when no server
 * answered (the history is then unknown, not empty). */
void smi_exits_json(const struct smi_model *m, struct strbuf *b);

/* The -q section "Leak History". */
void smi_exits_query(const struct smi_model *m, struct strbuf *out);

/* "2026-11-23T12:00:00Z" for a CLOCK_REALTIME time in ns ("" if it cannot). */
void smi_exits_iso_time(uint64_t time_ns, char *out, size_t cap);

#endif /* TTALLOC_SMI_EXITS_H */
