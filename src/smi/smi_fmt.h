/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_fmt.h - text building blocks for tt-smi's outputs: a growable string
 * buffer, human units, exact fixed-point numbers and JSON string escaping.
 */
#ifndef TTALLOC_SMI_FMT_H
#define TTALLOC_SMI_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Bytes in binary units, at most 5 characters: "512B", "1.5K", "12.0G", "103M". */
void smi_fmt_bytes(uint64_t bytes, char *out, size_t cap);

/* value / 10^digits exactly, as a decimal with at least one fractional digit
 * and no trailing zeros beyond it: (46250, 3) -> "46.25", (23000000, 6) -> "23.0". */
void smi_fmt_fixed(int64_t value, int digits, char *out, size_t cap);

/* Append `text` as a JSON string (quotes included): control characters
 * escaped, invalid UTF-8 bytes replaced by U+FFFD, so the output is always
 * valid JSON whatever a process calls itself. */
void smi_json_string(struct strbuf *b, const char *text);

#endif /* TTALLOC_SMI_FMT_H */
