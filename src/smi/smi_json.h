/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_json.h - `tt-smi --json`: one object in the schema docs/schema/tt-smi.schema.json
 * (schema_version 1). Unknown values are null, never a made-up 0.
 */
#ifndef TTALLOC_SMI_JSON_H
#define TTALLOC_SMI_JSON_H

#include "smi_fmt.h"
#include "smi_model.h"

void smi_json_render(const struct smi_model *m, struct strbuf *out);

#endif /* TTALLOC_SMI_JSON_H */
