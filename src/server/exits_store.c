/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exits_store.c - the leak history and its state file (see exits_store.h).
 *
 * File layout (native byte order: the file never leaves the host):
 *   header   32 B: magic "TTALLOCX", u32 version (1), u32 record size (216),
 *                  u32 records, u32 uids, u64 FNV-1a 64 of everything after it
 *   records  n × struct ttalloc_exit (oldest first)
 *   uids     n × struct exits_uid_total (ascending uid)
 */
#include "exits_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "lowerbound.h"

#define EXITS_FILE_MAGIC "TTALLOCX"
#define EXITS_FILE_VERSION 1u
#define EXITS_SAVE_INTERVAL_NS 1000000000ull

struct exits_file_header {
    char magic[8];
    uint32_t version;
    uint32_t record_size;
    uint32_t n_records;
    uint32_t n_uids;
    uint64_t checksum;
};

_Static_assert(sizeof(struct exits_file_header) == 32, "exits_file_header layout");
_Static_assert(sizeof(struct exits_uid_total) == 56, "exits_uid_total layout");

#define EXITS_FILE_MAX_SIZE                                        \
    (sizeof(struct exits_file_header) +                            \
     (size_t)EXITS_STORE_LIMIT_MAX * sizeof(struct ttalloc_exit) + \
     (size_t)EXITS_STORE_MAX_UIDS * sizeof(struct exits_uid_total))

static uint64_t exits_fnv1a(const unsigned char *data, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int exits_store_default_path(const char *socket_path, char *out, size_t cap)
{
    const char *slash = strrchr(socket_path, '/');
    size_t dir_len = slash ? (size_t)(slash - socket_path) : 0;
    int n;
    if (slash == NULL)
        n = snprintf(out, cap, "%s", EXITS_STORE_FILE);
    else
        n = snprintf(out, cap, "%.*s/%s", (int)dir_len, socket_path, EXITS_STORE_FILE);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- bounds ---- */

/* Drop records older than the age bound, then the oldest over the count. */
static void exits_store_prune(struct exits_store *s, uint64_t now_ns)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_records; i++) {
        const struct ttalloc_exit *e = &s->records[i];
        int too_old = now_ns > s->max_age_ns && e->time_ns < now_ns - s->max_age_ns;
        if (too_old)
            continue;
        if (kept != i)
            s->records[kept] = *e;
        kept++;
    }
    if (kept > s->max_records) {
        size_t drop = kept - s->max_records;
        memmove(s->records, s->records + drop, s->max_records * sizeof(s->records[0]));
        kept = s->max_records;
    }
    if (kept != s->n_records) {
        s->n_records = kept;
        s->dirty = 1;
    }
}

/* The counter of uid, created in order; NULL when the table is full. */
static int exits_store_uid_cmp(const void *key, const void *element)
{
    return LOWERBOUND_CMP(*(const uint32_t *)key, ((const struct exits_uid_total *)element)->uid);
}

static struct exits_uid_total *exits_store_uid(struct exits_store *s, uint32_t uid)
{
    size_t lo = lowerbound(&uid, s->uids, s->n_uids, sizeof(*s->uids), exits_store_uid_cmp);
    if (lo < s->n_uids && s->uids[lo].uid == uid)
        return &s->uids[lo];
    if (s->n_uids == EXITS_STORE_MAX_UIDS)
        return NULL;
    memmove(&s->uids[lo + 1], &s->uids[lo], (s->n_uids - lo) * sizeof(s->uids[0]));
    memset(&s->uids[lo], 0, sizeof(s->uids[lo]));
    s->uids[lo].uid = uid;
    s->n_uids++;
    return &s->uids[lo];
}

/* ---- the file ---- */

/* Why `buf` (the whole file) is not a state file, or NULL when it is one. */
static const char *exits_store_check(const unsigned char *buf, size_t size,
                                     struct exits_file_header *head)
{
    if (size < sizeof(*head))
        return "too short";
    memcpy(head, buf, sizeof(*head));
    if (memcmp(head->magic, EXITS_FILE_MAGIC, sizeof(head->magic)) != 0)
        return "not a tt-alloc state file";
    if (head->version != EXITS_FILE_VERSION || head->record_size != sizeof(struct ttalloc_exit))
        return "another version";
    if (head->n_records > EXITS_STORE_LIMIT_MAX || head->n_uids > EXITS_STORE_MAX_UIDS)
        return "too many records";
    size_t want = sizeof(*head) + (size_t)head->n_records * sizeof(struct ttalloc_exit) +
                  (size_t)head->n_uids * sizeof(struct exits_uid_total);
    if (size != want)
        return "truncated or padded";
    if (exits_fnv1a(buf + sizeof(*head), size - sizeof(*head)) != head->checksum)
        return "checksum mismatch";
    const unsigned char *p = buf + sizeof(*head);
    for (uint32_t i = 0; i < head->n_records; i++, p += sizeof(struct ttalloc_exit)) {
        struct ttalloc_exit e;
        memcpy(&e, p, sizeof(e));
        if (memchr(e.name, '\0', sizeof(e.name)) == NULL ||
            memchr(e.label, '\0', sizeof(e.label)) == NULL || e.pid <= 0 || e.time_ns == 0)
            return "a malformed record";
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            if (e.bytes[t] != 0 && e.buffers[t] == 0)
                return "a malformed record";
        }
    }
    uint32_t prev = 0;
    for (uint32_t i = 0; i < head->n_uids; i++, p += sizeof(struct exits_uid_total)) {
        struct exits_uid_total u;
        memcpy(&u, p, sizeof(u));
        if (i > 0 && u.uid <= prev)
            return "uids out of order";
        prev = u.uid;
    }
    return NULL;
}

/* Read the file into the store. A missing file is an empty history; any
 * other problem is one log line and an empty history. */
static void exits_store_load(struct exits_store *s)
{
    int fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT)
            log_warnx("leak history %s refused: %s; starting empty", s->path, strerror(errno));
        return;
    }
    const char *why = NULL;
    unsigned char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_uid != geteuid())
        why = "owned by another user";
    else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        why = "writable by group or others";
    else if ((uint64_t)st.st_size > EXITS_FILE_MAX_SIZE)
        why = "too large";
    size_t size = why ? 0 : (size_t)st.st_size;
    if (why == NULL && (buf = malloc(size ? size : 1)) == NULL)
        why = "out of memory";
    size_t got = 0;
    while (why == NULL && got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            why = n < 0 ? strerror(errno) : "it shrank while read";
        else
            got += (size_t)n;
    }
    close(fd);
    struct exits_file_header head;
    if (why == NULL)
        why = exits_store_check(buf, size, &head);
    if (why == NULL) {
        size_t n = head.n_records;
        const unsigned char *p = buf + sizeof(head);
        struct ttalloc_exit *records = calloc(n ? n : 1, sizeof(*records));
        if (records == NULL) {
            why = "out of memory";
        } else {
            memcpy(records, p, n * sizeof(*records));
            free(s->records);
            s->records = records;
            s->n_records = n;
            memcpy(s->uids, p + n * sizeof(*records), head.n_uids * sizeof(s->uids[0]));
            s->n_uids = head.n_uids;
        }
    }
    free(buf);
    if (why != NULL)
        log_warnx("leak history %s refused (%s); starting empty", s->path, why);
    else
        log_debug("leak history %s: %zu records, %zu uids", s->path, s->n_records, s->n_uids);
}

static int exits_store_write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write the whole state to a temporary file beside the target, then rename
 * it over the target: a reader (or a crash) sees the old file or the new
 * one, never half of one. */
static int exits_store_save(struct exits_store *s)
{
    struct exits_file_header head;
    memset(&head, 0, sizeof(head));
    memcpy(head.magic, EXITS_FILE_MAGIC, sizeof(head.magic));
    head.version = EXITS_FILE_VERSION;
    head.record_size = sizeof(struct ttalloc_exit);
    head.n_records = (uint32_t)s->n_records;
    head.n_uids = (uint32_t)s->n_uids;
    size_t body = s->n_records * sizeof(s->records[0]) + s->n_uids * sizeof(s->uids[0]);
    unsigned char *buf = malloc(sizeof(head) + body);
    if (buf == NULL)
        return -ENOMEM;
    memcpy(buf + sizeof(head), s->records, s->n_records * sizeof(s->records[0]));
    memcpy(buf + sizeof(head) + s->n_records * sizeof(s->records[0]), s->uids,
           s->n_uids * sizeof(s->uids[0]));
    head.checksum = exits_fnv1a(buf + sizeof(head), body);
    memcpy(buf, &head, sizeof(head));

    char tmp[PATH_MAX];
    int rc = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", s->path) >= (int)sizeof(tmp)) {
        free(buf);
        return -ENAMETOOLONG;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600, created exclusively */
    if (fd < 0) {
        free(buf);
        return -errno;
    }
    rc = exits_store_write_all(fd, buf, sizeof(head) + body);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, s->path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(buf);
    return rc;
}

static void exits_store_save_now(struct exits_store *s, uint64_t now_monotonic_ns)
{
    if (s->path == NULL) {
        s->dirty = 0;
        return;
    }
    int rc = exits_store_save(s);
    s->last_save_ns = now_monotonic_ns;
    if (rc < 0) {
        if (!s->save_failing)
            log_warnx("cannot save the leak history to %s: %s (kept in memory)", s->path,
                      strerror(-rc));
        s->save_failing = 1;
        return;
    }
    if (s->save_failing)
        log_info("leak history saved to %s again", s->path);
    s->save_failing = 0;
    s->dirty = 0;
}

/* ---- the interface ---- */

int exits_store_open(struct exits_store *s, const char *path, size_t max_records,
                     uint64_t max_age_s, uint64_t now_realtime_ns)
{
    memset(s, 0, sizeof(*s));
    s->max_records = max_records ? max_records : EXITS_STORE_DEFAULT_MAX;
    if (s->max_records > EXITS_STORE_LIMIT_MAX)
        s->max_records = EXITS_STORE_LIMIT_MAX;
    s->max_age_ns = (max_age_s ? max_age_s : EXITS_STORE_DEFAULT_AGE_S) * 1000000000ull;
    s->records = calloc(1, sizeof(*s->records));
    s->uids = calloc(EXITS_STORE_MAX_UIDS, sizeof(*s->uids));
    if (path != NULL)
        s->path = strdup(path);
    if (s->records == NULL || s->uids == NULL || (path != NULL && s->path == NULL)) {
        exits_store_close(s);
        return -ENOMEM;
    }
    if (s->path != NULL)
        exits_store_load(s);
    exits_store_prune(s, now_realtime_ns);
    s->dirty = 0; /* what was pruned at load goes with the next real change */
    return 0;
}

void exits_store_add(struct exits_store *s, const struct ttalloc_exit *records, size_t n,
                     uint64_t now_realtime_ns, uint64_t now_monotonic_ns)
{
    if (n == 0)
        return;
    struct ttalloc_exit *grown = realloc(s->records, (s->n_records + n) * sizeof(*grown));
    if (grown == NULL) {
        log_warnx("out of memory: %zu leak record%s not kept", n, n == 1 ? "" : "s");
        return;
    }
    s->records = grown;
    for (size_t i = 0; i < n; i++) {
        s->records[s->n_records++] = records[i];
        struct exits_uid_total *u = exits_store_uid(s, records[i].uid);
        if (u == NULL)
            continue; /* more uids than the table holds: not counted */
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
            uint64_t sum = u->bytes[t] + records[i].bytes[t];
            u->bytes[t] = sum < u->bytes[t] ? UINT64_MAX : sum;
        }
    }
    s->dirty = 1;
    exits_store_prune(s, now_realtime_ns);
    if (s->last_save_ns == 0 || now_monotonic_ns - s->last_save_ns >= EXITS_SAVE_INTERVAL_NS)
        exits_store_save_now(s, now_monotonic_ns);
}

void exits_store_tick(struct exits_store *s, uint64_t now_realtime_ns, uint64_t now_monotonic_ns)
{
    if (s->n_records > 0 && now_realtime_ns > s->max_age_ns &&
        s->records[0].time_ns < now_realtime_ns - s->max_age_ns)
        exits_store_prune(s, now_realtime_ns);
    if (s->dirty && now_monotonic_ns - s->last_save_ns >= EXITS_SAVE_INTERVAL_NS)
        exits_store_save_now(s, now_monotonic_ns);
}

int exits_store_flush(struct exits_store *s)
{
    if (!s->dirty || s->path == NULL)
        return 0;
    int rc = exits_store_save(s);
    if (rc == 0)
        s->dirty = 0;
    return rc;
}

void exits_store_close(struct exits_store *s)
{
    free(s->path);
    free(s->records);
    free(s->uids);
    memset(s, 0, sizeof(*s));
}
