/* SPDX-License-Identifier: Apache-2.0 */
/*
 * number.h - the one parser of whole numbers given on a command line or in
 * an address (`--max-clients 64`, `-d 3`, `--metrics :9100`, tt-alloc-shm's
 * `--alloc dram:0x1000`) or in a sysfs serial: all of the text, digits
 * only, in a range.
 * strtoull alone takes " -1" as 18446744073709551615 and "12abc" as 12;
 * this takes neither. (sysfs values, which end in a newline and may be
 * negative, have sysfs_parse_int.)
 */
#ifndef TTALLOC_NUMBER_H
#define TTALLOC_NUMBER_H

#include <stdint.h>

/* Parse `text` as an unsigned number in [min, max]. base 10; 16 (digits
 * only, no "0x": sysfs serials); or 0 for strtoull's choice ("0x1F"
 * hexadecimal, "017" octal, else decimal). No sign, no blanks, no empty
 * text, nothing after the digits. Returns 0 and
 * *out, -EINVAL when `text` is not such a number (out untouched), or -ERANGE
 * when it is one outside [min, max], however many digits it has. */
int number_parse_u64(const char *text, int base, uint64_t min, uint64_t max, uint64_t *out);

#endif /* TTALLOC_NUMBER_H */
