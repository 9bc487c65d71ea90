/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_server_quota.c - per-uid accounting and caps (src/server/quota.c):
 * the connection cap refuses only the uid at it and counts the refusal,
 * root has no caps, 0 means unlimited, the device cap counts distinct
 * devices (references to one device are free), records of users that hold
 * nothing are released, and users and devices stay sorted however they
 * arrive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quota.h"

static void test_defaults(void **state)
{
    (void)state;
    struct quota q;
    quota_init(&q, NULL);
    assert_int_equal(q.limits.max_conns, 64);
    assert_int_equal(q.limits.max_buffers, 16u * 1024 * 1024);
    assert_int_equal(q.limits.max_devices, 64);
    assert_null(quota_find(&q, 1000));
    quota_destroy(&q);
}

static void test_conn_cap(void **state)
{
    (void)state;
    struct quota q;
    struct quota_limits lim = {.max_conns = 3, .max_buffers = 0, .max_devices = 0};
    quota_init(&q, &lim);
    struct quota_user *u[3], *other = NULL, *extra = NULL;
    for (int i = 0; i < 3; i++)
        assert_int_equal(quota_conn_open(&q, 1000, &u[i]), 0);
    assert_ptr_equal(u[0], u[2]);
    assert_int_equal(u[0]->conns, 3);
    /* the fourth of uid 1000 is refused and counted; uid 1001 is unaffected */
    assert_int_equal(quota_conn_open(&q, 1000, &extra), -EUSERS);
    assert_int_equal(quota_conn_open(&q, 1000, &extra), -EUSERS);
    assert_int_equal(quota_find(&q, 1000)->refusals, 2);
    assert_int_equal(quota_conn_open(&q, 1001, &other), 0);
    assert_int_equal(other->refusals, 0);
    /* one closes: the next is let in */
    quota_conn_close(&q, u[0]);
    assert_int_equal(quota_conn_open(&q, 1000, &extra), 0);
    /* closing everything releases the record */
    for (int i = 0; i < 3; i++)
        quota_conn_close(&q, u[0]);
    assert_null(quota_find(&q, 1000));
    quota_conn_close(&q, other);
    assert_int_equal(q.n_users, 0);
    quota_destroy(&q);
}

static void test_root_and_unlimited(void **state)
{
    (void)state;
    struct quota q;
    struct quota_limits lim = {.max_conns = 1, .max_buffers = 1, .max_devices = 1};
    quota_init(&q, &lim);
    struct quota_user *root = NULL;
    for (int i = 0; i < 100; i++)
        assert_int_equal(quota_conn_open(&q, 0, &root), 0);
    assert_int_equal(root->conns, 100);
    root->buffers = 1000;
    assert_true(quota_buffer_allowed(&q, root));
    for (uint32_t d = 0; d < 10; d++)
        assert_int_equal(quota_device_ref(&q, root, d), 0);
    assert_int_equal(root->refusals, 0);
    quota_destroy(&q);

    /* 0: unlimited for everyone */
    struct quota_limits none = {0, 0, 0};
    quota_init(&q, &none);
    struct quota_user *u = NULL;
    for (int i = 0; i < 200; i++)
        assert_int_equal(quota_conn_open(&q, 1000, &u), 0);
    u->buffers = UINT64_MAX - 1;
    assert_true(quota_buffer_allowed(&q, u));
    for (uint32_t d = 0; d < 200; d++)
        assert_int_equal(quota_device_ref(&q, u, d * 7919u), 0);
    assert_int_equal(u->n_devices, 200);
    quota_destroy(&q);
}

static void test_buffer_cap(void **state)
{
    (void)state;
    struct quota q;
    struct quota_limits lim = {.max_conns = 0, .max_buffers = 2, .max_devices = 0};
    quota_init(&q, &lim);
    struct quota_user *u = quota_get(&q, 1000);
    assert_non_null(u);
    assert_true(quota_buffer_allowed(&q, u));
    u->buffers = 1;
    assert_true(quota_buffer_allowed(&q, u));
    u->buffers = 2;
    assert_false(quota_buffer_allowed(&q, u));
    u->buffers = 0;
    quota_release(&q, u);
    assert_null(quota_find(&q, 1000));
    quota_destroy(&q);
}

static void test_device_cap(void **state)
{
    (void)state;
    struct quota q;
    struct quota_limits lim = {.max_conns = 0, .max_buffers = 0, .max_devices = 2};
    quota_init(&q, &lim);
    struct quota_user *u = quota_get(&q, 1000);
    assert_int_equal(quota_device_ref(&q, u, 9), 0);
    assert_int_equal(quota_device_ref(&q, u, 9), 0); /* same device: free */
    assert_int_equal(quota_device_ref(&q, u, 3), 0);
    assert_int_equal(quota_device_ref(&q, u, 5), -EXFULL); /* a third device */
    assert_int_equal(u->refusals, 1);
    assert_int_equal(quota_device_ref(&q, u, 3), 0); /* known ones still fine */
    assert_int_equal(u->n_devices, 2);
    assert_int_equal(u->devices[0].device, 3);
    assert_int_equal(u->devices[0].refs, 2);
    assert_int_equal(u->devices[1].device, 9);
    /* unref: the device goes with its last reference, then room for another */
    quota_device_unref(u, 3);
    assert_int_equal(quota_device_ref(&q, u, 5), -EXFULL);
    quota_device_unref(u, 3);
    quota_device_unref(u, 3);     /* gone: no-op */
    quota_device_unref(u, 12345); /* never had it */
    assert_int_equal(u->n_devices, 1);
    assert_int_equal(quota_device_ref(&q, u, 5), 0);
    /* a user with devices is kept on release */
    quota_release(&q, u);
    assert_ptr_equal(quota_find(&q, 1000), u);
    quota_device_unref(u, 5);
    quota_device_unref(u, 9);
    quota_device_unref(u, 9);
    quota_release(&q, u);
    assert_null(quota_find(&q, 1000));
    quota_destroy(&q);
}

static void test_sorted(void **state)
{
    (void)state;
    struct quota q;
    quota_init(&q, NULL);
    /* past the first allocation of 8 users and 4 devices, in no order */
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t uid = (i * 37u) % 101u + (i % 2 ? 4000000000u : 0);
        struct quota_user *u = quota_get(&q, uid);
        assert_non_null(u);
        assert_int_equal(u->uid, uid);
        assert_int_equal(quota_device_ref(&q, u, (i * 13u) % 17u), 0);
        assert_ptr_equal(quota_get(&q, uid), u); /* found, not added */
    }
    assert_int_equal(q.n_users, 100);
    for (size_t i = 1; i < q.n_users; i++)
        assert_true(q.users[i - 1]->uid < q.users[i]->uid);
    struct quota_user *u = quota_get(&q, 7);
    for (uint32_t d = 20; d > 0; d--)
        assert_int_equal(quota_device_ref(&q, u, d * 1000u), 0);
    for (size_t i = 1; i < u->n_devices; i++)
        assert_true(u->devices[i - 1].device < u->devices[i].device);
    assert_null(quota_find(&q, 102));
    quota_destroy(&q);
    assert_int_equal(q.n_users, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_conn_cap),
        cmocka_unit_test(test_root_and_unlimited), cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_device_cap),         cmocka_unit_test(test_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
