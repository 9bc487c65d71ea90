/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bytesize.h - a byte count in words for people: "0 B", "512 B",
 * "12.0 KiB", "1.50 GiB", "103 MiB" (IEC units, three significant digits).
 * One formatter for the monitor, tt-alloc-shm, the server's log lines and
 * tt-alloc-record's progress, so they all say the same thing.
 */
#ifndef TTALLOC_BYTESIZE_H
#define TTALLOC_BYTESIZE_H

#include <stddef.h>
#include <stdint.h>

void bytesize_format(char *buf, size_t cap, uint64_t bytes);

#endif /* TTALLOC_BYTESIZE_H */
