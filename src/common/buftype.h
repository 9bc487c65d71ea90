/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buftype.h - the names of the buffer types (enum ttalloc_buffer_type), one
 * table for the library and every program:
 *  - key:   "dram", "l1", "system_memory", "l1_small", "trace", "cb": JSON
 *           keys, Prometheus label values, tt-alloc-shm's fields, and what
 *           ttalloc_type_name() returns;
 *  - upper: "DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", as
 *           TT-Metal prints its BufferType (the monitor, tt-alloc-sim);
 *  - title: "DRAM", "L1", "System Memory", "L1 Small", "Trace", "CB", for
 *           tt-smi -q's nvidia-smi style report.
 * Each returns NULL for a type out of range.
 *
 * And buftype_device: the types that live on a device, in the order every
 * tool lists them (SYSTEM_MEMORY is host memory: no tool shows it per device).
 */
#ifndef TTALLOC_BUFTYPE_H
#define TTALLOC_BUFTYPE_H

#include "ttalloc.h"

const char *buftype_key(unsigned type);
const char *buftype_upper(unsigned type);
const char *buftype_title(unsigned type);

/* The type whose key is `key`, or -1. */
int buftype_from_key(const char *key);

#define BUFTYPE_N_DEVICE 5
extern const enum ttalloc_buffer_type buftype_device[BUFTYPE_N_DEVICE];

#endif /* TTALLOC_BUFTYPE_H */
