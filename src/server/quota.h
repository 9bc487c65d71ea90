/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quota.h - what each user (uid) of the host holds in the server, and the
 * per-uid caps: connections, live buffers and distinct devices. One user at
 * its cap is refused; every other user is unaffected (docs/SECURITY.md).
 *
 * Pure bookkeeping like the ledger (no I/O, no clock but what the caller
 * passes): the server counts connections here, the ledger counts buffers and
 * device references of each process's user. Root (uid 0) has no caps.
 */
#ifndef TTALLOC_QUOTA_H
#define TTALLOC_QUOTA_H

#include <stddef.h>
#include <stdint.h>

/* Per-uid caps; 0 in a field means unlimited. */
struct quota_limits {
    unsigned max_conns;   /* connections at once */
    uint64_t max_buffers; /* live buffers, all its processes together */
    unsigned max_devices; /* distinct device ids its processes use */
};

#define QUOTA_DEFAULT_MAX_CONNS 64u
#define QUOTA_DEFAULT_MAX_BUFFERS (16u * 1024u * 1024u)
#define QUOTA_DEFAULT_MAX_DEVICES 64u

/* One device a user's processes use, and how many of them do. */
struct quota_device {
    uint32_t device;
    uint32_t refs; /* usage records of this user's processes */
};

struct quota_user {
    uint32_t uid;
    unsigned conns;
    unsigned procs;               /* ledger processes of this uid */
    uint64_t buffers;             /* live buffers */
    struct quota_device *devices; /* ascending device */
    size_t n_devices;
    size_t cap_devices;
    uint64_t refusals; /* times a cap refused it */
};

struct quota {
    struct quota_limits limits;
    struct quota_user **users; /* ascending uid */
    size_t n_users;
    size_t cap_users;
};

/* limits NULL: the defaults. Fields are taken as given (0 = unlimited). */
void quota_init(struct quota *q, const struct quota_limits *limits);
void quota_destroy(struct quota *q);

/* The record of uid, or NULL. */
struct quota_user *quota_find(const struct quota *q, uint32_t uid);

/* The record of uid, created when new; NULL when out of memory. Release
 * what you take with quota_release when done (records of users that hold
 * nothing are freed). */
struct quota_user *quota_get(struct quota *q, uint32_t uid);
void quota_release(struct quota *q, struct quota_user *u);

/* Does uid have no caps (root)? */
static inline int quota_exempt(const struct quota_user *u)
{
    return u->uid == 0;
}

/* A new connection of uid. Returns 0 and *out, -EUSERS when uid is at
 * limits.max_conns (u->refusals counted), -ENOMEM. */
int quota_conn_open(struct quota *q, uint32_t uid, struct quota_user **out);
void quota_conn_close(struct quota *q, struct quota_user *u);

/* May u hold one more live buffer? */
static inline int quota_buffer_allowed(const struct quota *q, const struct quota_user *u)
{
    return q->limits.max_buffers == 0 || u->buffers < q->limits.max_buffers || quota_exempt(u);
}

/* One more usage record of u's processes on device. Returns 0, -EXFULL
 * when that is a new device past limits.max_devices, -ENOMEM. */
int quota_device_ref(struct quota *q, struct quota_user *u, uint32_t device);
void quota_device_unref(struct quota_user *u, uint32_t device);

#endif /* TTALLOC_QUOTA_H */
