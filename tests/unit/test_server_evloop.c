/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_evloop.c - the server's event loop (src/server/evloop.c):
 * each ready descriptor runs its own handler with its owner, a quiet wait
 * times out, a handler may remove another registration, and a descriptor
 * that is not registered is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "evloop.h"

struct counter {
    int calls;
    uint32_t last_events;
    struct evloop *loop;
    int remove_fd; /* >= 0: remove this registration when called */
};

static void count_ready(void *owner, uint32_t events)
{
    struct counter *c = owner;
    c->calls++;
    c->last_events = events;
    if (c->remove_fd >= 0) {
        evloop_remove(c->loop, c->remove_fd);
        c->remove_fd = -1;
    }
}

static void test_handlers_get_their_owner(void **state)
{
    (void)state;
    struct evloop loop;
    assert_int_equal(evloop_init(&loop), 0);
    int a[2], b[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    struct counter ca = {0, 0, &loop, -1}, cb = {0, 0, &loop, -1};
    struct evloop_handler ha = {count_ready, &ca}, hb = {count_ready, &cb};
    assert_int_equal(evloop_add(&loop, a[0], EPOLLIN, &ha), 0);
    assert_int_equal(evloop_add(&loop, b[0], EPOLLIN, &hb), 0);
    assert_int_equal(evloop_add(&loop, b[0], EPOLLIN, &hb), -EEXIST);

    /* Nothing ready: the wait times out and runs nobody. */
    assert_int_equal(evloop_wait(&loop, 10), 0);
    evloop_dispatch(&loop);
    assert_int_equal(ca.calls + cb.calls, 0);

    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(evloop_wait(&loop, 1000), 1);
    evloop_dispatch(&loop);
    assert_int_equal(ca.calls, 0);
    assert_int_equal(cb.calls, 1);
    assert_true(cb.last_events & EPOLLIN);

    /* Asked for EPOLLOUT too: a writable socket is ready at once. */
    assert_int_equal(evloop_modify(&loop, a[0], EPOLLIN | EPOLLOUT, &ha), 0);
    assert_int_equal(evloop_wait(&loop, 1000), 2); /* b still readable, a writable */
    evloop_dispatch(&loop);
    assert_int_equal(ca.calls, 1);
    assert_true(ca.last_events & EPOLLOUT);

    /* A handler removes another's registration: that one is not called again. */
    ca.remove_fd = b[0];
    assert_int_equal(evloop_wait(&loop, 1000), 2);
    evloop_dispatch(&loop);
    int calls_b = cb.calls;
    assert_int_equal(evloop_wait(&loop, 100), 1); /* only a is left */
    evloop_dispatch(&loop);
    assert_int_equal(cb.calls, calls_b);
    assert_int_equal(evloop_modify(&loop, b[0], EPOLLIN, &hb), -ENOENT);

    evloop_close(&loop);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handlers_get_their_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
