/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_csv.h - --query-device=FIELDS / --query-apps=FIELDS with
 * --format=csv[,noheader][,nounits], in nvidia-smi's conventions: ", "
 * between values, a "name [unit]" header, MiB for memory, [N/A] for unknown.
 */
#ifndef TTALLOC_SMI_CSV_H
#define TTALLOC_SMI_CSV_H

#include "smi_fmt.h"
#include "smi_model.h"

#define SMI_CSV_MAX_FIELDS 64

struct smi_csv_query {
    int apps;                       /* 0: --query-device, 1: --query-apps */
    int fields[SMI_CSV_MAX_FIELDS]; /* indexes into the field table */
    int n_fields;
    int header; /* print the header line */
    int units;  /* print units after values */
};

/* Parse "index,name,..." for devices (apps = 0) or apps. Returns 0, or
 * -EINVAL with the offending field in *bad and *bad_len. */
int smi_csv_parse_fields(struct smi_csv_query *q, int apps, const char *list, const char **bad,
                         size_t *bad_len);
/* Parse "csv", "csv,noheader", "csv,nounits", "csv,noheader,nounits" (any
 * order after csv). Returns 0 or -EINVAL. */
int smi_csv_parse_format(struct smi_csv_query *q, const char *format);
/* One line per selected device, or per (process, selected device). */
void smi_csv_render(const struct smi_model *m, const struct smi_csv_query *q, struct strbuf *out);
/* The field names, comma-separated, for --help-query. */
void smi_csv_list_fields(int apps, struct strbuf *out);

#endif /* TTALLOC_SMI_CSV_H */
