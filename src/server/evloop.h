/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evloop.h - the server's event loop: one epoll set, a callback per
 * registered descriptor. The loop knows nothing of what it runs, as redis's
 * ae.c: each registration is a `struct evloop_handler` (a function and the
 * object it belongs to) that the owner embeds in itself, so the handler
 * lives exactly as long as the owner.
 */
#ifndef TTALLOC_EVLOOP_H
#define TTALLOC_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

/* Ready descriptors handled per turn. */
#define EVLOOP_BATCH 64

struct evloop_handler {
    /* Called with the owner and the epoll events (EPOLLIN, EPOLLOUT...). */
    void (*on_ready)(void *owner, uint32_t events);
    void *owner;
};

struct evloop {
    int epfd;
    struct epoll_event ready[EVLOOP_BATCH];
    int n_ready;
};

/* 0, or a negative errno. */
int evloop_init(struct evloop *loop);
void evloop_close(struct evloop *loop);

/* Watch fd for `events`; h must stay valid until evloop_remove. 0 or -errno. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, struct evloop_handler *h);
int evloop_modify(struct evloop *loop, int fd, uint32_t events, struct evloop_handler *h);
void evloop_remove(struct evloop *loop, int fd);

/* Wait up to timeout_ms (-1: no limit) for ready descriptors, at most one
 * batch. Returns how many, 0 on timeout or EINTR, or a negative errno. */
int evloop_wait(struct evloop *loop, int timeout_ms);

/* Run the handler of every descriptor the last wait found ready. A handler
 * may remove any registration, but an owner must not be freed before this
 * returns: a later handler of the batch may still be called for it (the
 * server defers such frees to the end of the turn). */
void evloop_dispatch(struct evloop *loop);

#endif /* TTALLOC_EVLOOP_H */
