/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_table.h - tt-smi's human outputs: the one-screen table (<= 80
 * columns) and the -q report of every known field.
 */
#ifndef TTALLOC_SMI_TABLE_H
#define TTALLOC_SMI_TABLE_H

#include "smi_fmt.h"
#include "smi_model.h"

/* colour: 1 to emphasise headers and hot values with ANSI escapes. */
void smi_table_render(const struct smi_model *m, int colour, struct strbuf *out);
void smi_table_render_query(const struct smi_model *m, struct strbuf *out);

#endif /* TTALLOC_SMI_TABLE_H */
