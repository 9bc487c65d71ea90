/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sender.h - libttalloc's background thread and the state it keeps: it
 * drains the per-thread rings in one merged order (rings.h), keeps the
 * process's tally of live buffers and peaks from that order (tally.h), sends
 * the events to tt-alloc-server in that order, resynchronises after a
 * reconnect or when the server fell behind, answers ttalloc_flush and
 * ttalloc_process_memory, and never lets the application wait on the server
 * (non-blocking sends; reconnects with exponential backoff, up to 1 s, when
 * the server is gone).
 *
 * One sender per process, held in this module. All of its state sits under
 * one mutex that the thread holds except while it sleeps in poll(), so fork()
 * can take that mutex and find the state consistent.
 */
#ifndef TTALLOC_SENDER_H
#define TTALLOC_SENDER_H

#include <stdint.h>

#include "ttalloc.h"

/* Set up the tally and start the thread (idempotent). Returns 0 or a
 * negative errno; without a thread the tally is still kept (by the callers
 * of sender_memory and sender_flush) but nothing reaches a server. */
int sender_start(void);

/* After a record: wake the thread unless a wake-up is already pending. At
 * most one eventfd write per batch; usually no syscall at all. */
void sender_notify(void);

/* ttalloc_flush: 0, -ENOTCONN or -ETIMEDOUT (timeout_ms < 0: no limit). */
int sender_flush(int timeout_ms);

/* ttalloc_process_memory: merge every event recorded before the call into
 * the tally, then read live and peak bytes of (device, type). */
void sender_memory(uint32_t device, uint8_t type, uint64_t *live, uint64_t *peak);

/* A producer whose ring grew long (the sender is behind, e.g. starved of
 * CPU): run one collect in the caller's thread unless somebody holds the
 * lock already. Never waits. Keeps the rings, and so memory, bounded by
 * work rather than by blocking. */
void sender_help(void);

/* Remember a device description and send it now and after each reconnect. */
int sender_describe(uint32_t device, const struct ttalloc_device_desc *desc);

/* Remember the label sent in HELLO from the next connection on. */
void sender_set_label(const char *label);

/* Stop the thread, first trying for at most bound_ms to get every recorded
 * event applied; then free everything. */
void sender_stop(int bound_ms);

/* fork() handlers: prepare locks the sender's state; the parent unlocks it;
 * the child unlocks it and forgets the thread, the socket, the tally and the
 * descriptions (a new, empty process). */
void sender_atfork_prepare(void);
void sender_atfork_parent(void);
void sender_atfork_child(void);

#endif /* TTALLOC_SENDER_H */
