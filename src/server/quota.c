/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quota.c - per-uid accounting and caps (see quota.h).
 *
 * Users are few (the accounts on one host), so both the user list and each
 * user's device list are sorted arrays searched by bisection (lowerbound.h).
 */
#include "quota.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lowerbound.h"

void quota_init(struct quota *q, const struct quota_limits *limits)
{
    memset(q, 0, sizeof(*q));
    if (limits != NULL) {
        q->limits = *limits;
    } else {
        q->limits.max_conns = QUOTA_DEFAULT_MAX_CONNS;
        q->limits.max_buffers = QUOTA_DEFAULT_MAX_BUFFERS;
        q->limits.max_devices = QUOTA_DEFAULT_MAX_DEVICES;
    }
}

void quota_destroy(struct quota *q)
{
    for (size_t i = 0; i < q->n_users; i++) {
        free(q->users[i]->devices);
        free(q->users[i]);
    }
    free(q->users);
    memset(q, 0, sizeof(*q));
}

static int quota_user_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key, (*(struct quota_user *const *)element)->uid);
}

static size_t quota_user_index(const struct quota *q, uint32_t uid, int *found)
{
    size_t lo = lowerbound(&uid, q->users, q->n_users, sizeof(*q->users), quota_user_cmp);
    *found = lo < q->n_users && q->users[lo]->uid == uid;
    return lo;
}

struct quota_user *quota_find(const struct quota *q, uint32_t uid)
{
    int found;
    size_t i = quota_user_index(q, uid, &found);
    return found ? q->users[i] : NULL;
}

struct quota_user *quota_get(struct quota *q, uint32_t uid)
{
    int found;
    size_t i = quota_user_index(q, uid, &found);
    if (found)
        return q->users[i];
    if (q->n_users == q->cap_users) {
        size_t cap = q->cap_users ? q->cap_users * 2 : 8;
        struct quota_user **grown = realloc(q->users, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        q->users = grown;
        q->cap_users = cap;
    }
    struct quota_user *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->uid = uid;
    memmove(&q->users[i + 1], &q->users[i], (q->n_users - i) * sizeof(q->users[0]));
    q->users[i] = u;
    q->n_users++;
    return u;
}

void quota_release(struct quota *q, struct quota_user *u)
{
    if (u->conns != 0 || u->procs != 0 || u->buffers != 0 || u->n_devices != 0)
        return;
    int found;
    size_t i = quota_user_index(q, u->uid, &found);
    if (!found || q->users[i] != u)
        return;
    memmove(&q->users[i], &q->users[i + 1], (q->n_users - i - 1) * sizeof(q->users[0]));
    q->n_users--;
    free(u->devices);
    free(u);
}

int quota_conn_open(struct quota *q, uint32_t uid, struct quota_user **out)
{
    struct quota_user *u = quota_get(q, uid);
    if (u == NULL)
        return -ENOMEM;
    if (q->limits.max_conns != 0 && u->conns >= q->limits.max_conns && !quota_exempt(u)) {
        u->refusals++;
        quota_release(q, u);
        return -EUSERS;
    }
    u->conns++;
    *out = u;
    return 0;
}

void quota_conn_close(struct quota *q, struct quota_user *u)
{
    if (u->conns > 0)
        u->conns--;
    quota_release(q, u);
}

static int quota_device_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key, ((const struct quota_device *)element)->device);
}

static size_t quota_device_index(const struct quota_user *u, uint32_t device, int *found)
{
    size_t lo =
        lowerbound(&device, u->devices, u->n_devices, sizeof(*u->devices), quota_device_cmp);
    *found = lo < u->n_devices && u->devices[lo].device == device;
    return lo;
}

int quota_device_ref(struct quota *q, struct quota_user *u, uint32_t device)
{
    int found;
    size_t i = quota_device_index(u, device, &found);
    if (found) {
        u->devices[i].refs++;
        return 0;
    }
    if (q->limits.max_devices != 0 && u->n_devices >= q->limits.max_devices && !quota_exempt(u)) {
        u->refusals++;
        return -EXFULL;
    }
    if (u->n_devices == u->cap_devices) {
        size_t cap = u->cap_devices ? u->cap_devices * 2 : 4;
        struct quota_device *grown = realloc(u->devices, cap * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        u->devices = grown;
        u->cap_devices = cap;
    }
    memmove(&u->devices[i + 1], &u->devices[i], (u->n_devices - i) * sizeof(u->devices[0]));
    u->devices[i].device = device;
    u->devices[i].refs = 1;
    u->n_devices++;
    return 0;
}

void quota_device_unref(struct quota_user *u, uint32_t device)
{
    int found;
    size_t i = quota_device_index(u, device, &found);
    if (!found)
        return;
    if (--u->devices[i].refs == 0) {
        memmove(&u->devices[i], &u->devices[i + 1], (u->n_devices - i - 1) * sizeof(u->devices[0]));
        u->n_devices--;
    }
}
