/*
 * sender.h - libttalloc's background thread: it owns the connection to
 * tt-alloc-server, drains the recorder into EVENTS frames, resynchronises
 * after an overflow or a reconnect, answers ttalloc_flush, and never lets the
 * application wait on the server (non-blocking sends; data stays queued
 * while the socket is full; reconnects with backoff when the server is gone).
 *
 * One sender per process, held in this module. All of its state sits under
 * one mutex that the thread holds except while it sleeps in poll(), so fork()
 * can take that mutex and find the state consistent.
 */
#ifndef TTALLOC_SENDER_H
#define TTALLOC_SENDER_H

#include <stdint.h>

#include "recorder.h"
#include "ttalloc.h"

/* Start the thread for `rec` (idempotent). Returns 0 or a negative errno. */
int sender_start(struct recorder *rec);

/* After a record: wake the thread unless a wake-up is already pending. At
 * most one eventfd write per batch; usually no syscall at all. */
void sender_notify(void);

/* ttalloc_flush: 0, -ENOTCONN or -ETIMEDOUT (timeout_ms < 0: no limit). */
int sender_flush(int timeout_ms);

/* Remember a device description and send it now and after each reconnect. */
int sender_describe(uint32_t device, const struct ttalloc_device_desc *desc);

/* Remember the label sent in HELLO from the next connection on. */
void sender_set_label(const char *label);

/* Stop the thread, first trying for at most bound_ms to get every recorded
 * event applied; then free everything. */
void sender_stop(int bound_ms);

/* fork() handlers: prepare locks the sender's state; the parent unlocks it;
 * the child unlocks it and forgets the thread, the socket and the
 * descriptions (a new, empty process). */
void sender_atfork_prepare(void);
void sender_atfork_parent(void);
void sender_atfork_child(void);

/* TT_ALLOC_DEBUG=1: say on stderr (once per outage) why nothing reaches a server. */
void sender_set_debug(int on);

#endif /* TTALLOC_SENDER_H */
