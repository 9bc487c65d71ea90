/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evloop.c - the epoll set and its dispatch (see evloop.h).
 */
#include "evloop.h"

#include <errno.h>
#include <unistd.h>

int evloop_init(struct evloop *loop)
{
    loop->n_ready = 0;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    return loop->epfd < 0 ? -errno : 0;
}

void evloop_close(struct evloop *loop)
{
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, struct evloop_handler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int evloop_modify(struct evloop *loop, int fd, uint32_t events, struct evloop_handler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void evloop_remove(struct evloop *loop, int fd)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int evloop_wait(struct evloop *loop, int timeout_ms)
{
    loop->n_ready = 0;
    int n = epoll_wait(loop->epfd, loop->ready, EVLOOP_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    loop->n_ready = n;
    return n;
}

void evloop_dispatch(struct evloop *loop)
{
    for (int i = 0; i < loop->n_ready; i++) {
        struct evloop_handler *h = loop->ready[i].data.ptr;
        h->on_ready(h->owner, loop->ready[i].events);
    }
    loop->n_ready = 0;
}
