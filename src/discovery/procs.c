/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procs.c - who holds which device (tt-kmd's pids files, or a scan of
 * /proc/<pid>/fd on drivers without them) and the facts about a process
 * from the real /proc. See procs.h.
 */
#include "procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"
#include "textfile.h"

#define PROCS_FILE_MAX (1u << 20)  /* a pids file or cmdline longer than this is cut */
#define PROCS_PIDS_PER_DEVICE 4096 /* distinct holders kept per device */

/* A set of PIDs for procs_parse_pids: open addressing, 0 = empty slot
 * (PIDs are > 0). A 100k-line pids file costs one probe per line, not a
 * scan of every PID kept so far. */
struct procs_pidset {
    pid_t *slots;
    size_t mask;
};

static int procs_pidset_init(struct procs_pidset *set, size_t cap)
{
    size_t n = 16;
    while (n < cap * 2)
        n *= 2;
    set->slots = calloc(n, sizeof(set->slots[0]));
    set->mask = n - 1;
    return set->slots != NULL ? 0 : -ENOMEM;
}

/* Add pid; 1 when it was new, 0 when already there. */
static int procs_pidset_add(struct procs_pidset *set, pid_t pid)
{
    size_t i = ((size_t)(uint32_t)pid * 2654435761u) & set->mask;
    while (set->slots[i] != 0) {
        if (set->slots[i] == pid)
            return 0;
        i = (i + 1) & set->mask;
    }
    set->slots[i] = pid;
    return 1;
}

size_t procs_parse_pids(const char *text, size_t len, pid_t *pids, size_t count, size_t cap)
{
    struct procs_pidset set;
    if (procs_pidset_init(&set, cap) < 0)
        return count;
    for (size_t i = 0; i < count; i++)
        procs_pidset_add(&set, pids[i]);
    size_t start = 0;
    while (start < len && count < cap) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        int64_t pid = sysfs_parse_int(text + start, end - start, 1, INT32_MAX);
        if (pid != SYSFS_UNKNOWN && procs_pidset_add(&set, (pid_t)pid))
            pids[count++] = (pid_t)pid;
        start = end + 1;
    }
    free(set.slots);
    return count;
}

struct procs_list {
    struct procs_holder *items;
    size_t n, cap;
};

static int procs_add(struct procs_list *list, pid_t pid, int device, int from_pids)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        struct procs_holder *bigger = realloc(list->items, cap * sizeof(*bigger));
        if (bigger == NULL)
            return -ENOMEM;
        list->items = bigger;
        list->cap = cap;
    }
    list->items[list->n++] = (struct procs_holder){pid, device, from_pids};
    return 0;
}

static int procs_cmp(const void *a, const void *b)
{
    const struct procs_holder *x = a, *y = b;
    if (x->pid != y->pid)
        return (x->pid > y->pid) - (x->pid < y->pid);
    return (x->device > y->device) - (x->device < y->device);
}

static int procs_alive(pid_t pid)
{
    char path[32];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    return access(path, F_OK) == 0;
}

/* Read device `index`'s pids file. Returns 0, or a negative errno when the
 * file is missing or unreadable (then the caller falls back to the fd scan). */
static int procs_read_pids_file(const char *root, int index, struct procs_list *list)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/proc/driver/tenstorrent/%d/pids", root, index);
    char *text;
    size_t len;
    int rc = textfile_slurp(path, PROCS_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    pid_t *pids = malloc(PROCS_PIDS_PER_DEVICE * sizeof(*pids));
    if (pids == NULL) {
        free(text);
        return -ENOMEM;
    }
    size_t n = procs_parse_pids(text, len, pids, 0, PROCS_PIDS_PER_DEVICE);
    free(text);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = procs_add(list, pids[i], index, 1);
    free(pids);
    return rc == -ENOMEM ? rc : 0;
}

static int procs_wanted(const int *want, size_t n_want, int ordinal)
{
    for (size_t i = 0; i < n_want; i++) {
        if (want[i] == ordinal)
            return 1;
    }
    return 0;
}

/* Scan every /proc/<pid>/fd for links into <node_dir> ("<real sysroot>/dev/
 * tenstorrent/"), keeping those to ordinals in want[]. Processes we may not
 * inspect are skipped silently (the scan is complete only as root). */
static int procs_fd_scan_dir(const char *node_dir, const int *want, size_t n_want,
                             struct procs_list *list)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return -errno;
    size_t dlen = strlen(node_dir);
    struct dirent *pent;
    int rc = 0;
    while (rc == 0 && (pent = readdir(proc)) != NULL) {
        int64_t pid = sysfs_parse_int(pent->d_name, strlen(pent->d_name), 1, INT32_MAX);
        if (pid == SYSFS_UNKNOWN || !isdigit((unsigned char)pent->d_name[0]))
            continue;
        char fddir[64];
        snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)pid);
        DIR *fds = opendir(fddir);
        if (fds == NULL)
            continue;
        struct dirent *fent;
        while (rc == 0 && (fent = readdir(fds)) != NULL) {
            if (fent->d_name[0] == '.')
                continue;
            char link[352], target[PATH_MAX];
            snprintf(link, sizeof(link), "%s/%s", fddir, fent->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len <= (ssize_t)dlen)
                continue;
            target[len] = '\0';
            if (memcmp(target, node_dir, dlen) != 0)
                continue;
            const char *tail = target + dlen;
            int64_t ord = sysfs_parse_int(tail, strlen(tail), 0, INT_MAX);
            if (ord == SYSFS_UNKNOWN || !isdigit((unsigned char)tail[0]) ||
                !procs_wanted(want, n_want, (int)ord))
                continue;
            rc = procs_add(list, (pid_t)pid, (int)ord, 0);
        }
        closedir(fds);
    }
    closedir(proc);
    return rc;
}

static int procs_fd_scan_into(const char *sysroot, const int *want, size_t n_want,
                              struct procs_list *list)
{
    /* fd links are canonical paths: resolve the sysroot the same way */
    const char *root = sysfs_sysroot(sysroot);
    char real_root[PATH_MAX] = "";
    if (root[0] != '\0' && realpath(root, real_root) == NULL)
        snprintf(real_root, sizeof(real_root), "%s", root);
    if (strcmp(real_root, "/") == 0)
        real_root[0] = '\0';
    char node_dir[PATH_MAX + 32];
    snprintf(node_dir, sizeof(node_dir), "%s/dev/tenstorrent/", real_root);
    return procs_fd_scan_dir(node_dir, want, n_want, list);
}

int procs_fd_scan(const char *sysroot, const int *want, size_t n_want, struct procs_holder **out,
                  size_t *n)
{
    struct procs_list list = {0};
    int rc = procs_fd_scan_into(sysroot, want, n_want, &list);
    if (rc < 0) {
        free(list.items);
        return rc;
    }
    *out = list.items;
    *n = list.n;
    return 0;
}

int procs_scan(const char *sysroot, const int *indexes, size_t n_indexes, pid_t exclude_pid,
               struct procs_holder **out, size_t *n_out, int *used_fd_scan)
{
    const char *root = sysfs_sysroot(sysroot);
    struct procs_list list = {0};
    int *need_scan = calloc(n_indexes ? n_indexes : 1, sizeof(*need_scan));
    size_t n_scan = 0;
    int rc = 0;
    *out = NULL;
    *n_out = 0;
    *used_fd_scan = 0;
    if (need_scan == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n_indexes && rc != -ENOMEM; i++) {
        rc = procs_read_pids_file(root, indexes[i], &list);
        if (rc < 0 && rc != -ENOMEM)
            need_scan[n_scan++] = indexes[i];
    }
    if (rc != -ENOMEM && n_scan > 0) {
        *used_fd_scan = 1;
        rc = procs_fd_scan_into(sysroot, need_scan, n_scan, &list);
    }
    free(need_scan);
    if (rc == -ENOMEM) {
        free(list.items);
        return rc;
    }

    if (list.n > 0)
        qsort(list.items, list.n, sizeof(*list.items), procs_cmp);
    size_t k = 0;
    for (size_t i = 0; i < list.n; i++) {
        struct procs_holder *h = &list.items[i];
        if (h->pid == exclude_pid)
            continue;
        if (k > 0 && list.items[k - 1].pid == h->pid && list.items[k - 1].device == h->device) {
            list.items[k - 1].from_pids |= h->from_pids;
            continue;
        }
        if (!procs_alive(h->pid))
            continue;
        list.items[k++] = *h;
    }
    list.n = k;
    *out = list.items;
    *n_out = list.n;
    return 0;
}

/* The user name of `uid`, or the uid in decimal. The last answer is
 * remembered: a host's device users are mostly one or two accounts, and each
 * getpwuid_r parses /etc/passwd (or asks NSS) again. Thread-local, so the
 * module stays free of shared state. */
static void procs_user_name(uid_t uid, char *out, size_t cap)
{
    static _Thread_local uid_t cached_uid = (uid_t)-1;
    static _Thread_local char cached_name[64];

    if (uid != cached_uid || cached_name[0] == '\0') {
        struct passwd pw, *found = NULL;
        char pwbuf[4096];
        if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found != NULL)
            snprintf(cached_name, sizeof(cached_name), "%s", found->pw_name);
        else
            snprintf(cached_name, sizeof(cached_name), "%u", (unsigned)uid);
        cached_uid = uid;
    }
    snprintf(out, cap, "%s", cached_name);
}

int procs_info_read(pid_t pid, struct procs_info *info)
{
    memset(info, 0, sizeof(*info));
    info->pid = pid;
    info->uid = (uid_t)-1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    /* One lookup of /proc/<pid>; its files are read relative to it. */
    int dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (dirfd < 0 || fstat(dirfd, &st) < 0) {
        if (dirfd >= 0)
            close(dirfd);
        return -ESRCH;
    }
    info->uid = st.st_uid;

    char *text;
    size_t len;
    char comm[64]; /* the kernel's comm is at most 15 bytes and a newline */
    ssize_t comm_len = textfile_readat(dirfd, "comm", comm, sizeof(comm));
    if (comm_len > 0) {
        len = (size_t)comm_len;
        while (len > 0 && comm[len - 1] == '\n')
            len--;
        if (len >= sizeof(info->name))
            len = sizeof(info->name) - 1;
        memcpy(info->name, comm, len);
        info->name[len] = '\0';
    }

    int rc = textfile_slurpat(dirfd, "cmdline", PROCS_FILE_MAX, &text, &len);
    close(dirfd);
    if (rc == 0) {
        while (len > 0 && text[len - 1] == '\0')
            len--;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '\0')
                text[i] = ' ';
        }
        text[len] = '\0';
        info->cmdline = text;
    } else {
        info->cmdline = strdup("");
        if (info->cmdline == NULL)
            return -ENOMEM;
    }

    procs_user_name(info->uid, info->user, sizeof(info->user));
    return 0;
}

void procs_info_free(struct procs_info *info)
{
    free(info->cmdline);
    info->cmdline = NULL;
}

int procs_environ_get(pid_t pid, const char *name, char *out, size_t cap)
{
    char path[64];
    char *text;
    size_t len, name_len = strlen(name);
    if (cap > 0)
        out[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int rc = textfile_slurp(path, PROCS_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    int found = 0;
    /* NAME=value entries, each ended by a NUL (the last one maybe cut) */
    for (size_t at = 0; at < len;) {
        const char *entry = text + at;
        size_t entry_len = strnlen(entry, len - at);
        if (entry_len > name_len && memcmp(entry, name, name_len) == 0 && entry[name_len] == '=') {
            snprintf(out, cap, "%.*s", (int)(entry_len - name_len - 1), entry + name_len + 1);
            found = 1; /* the first definition, the one getenv() finds */
            break;
        }
        at += entry_len + 1;
    }
    free(text);
    return found;
}

int procs_read_stat(const char *proc_root, int32_t pid, char *state, int32_t *ppid)
{
    char path[300], buf[512];
    snprintf(path, sizeof(path), "%s/%d/stat", proc_root ? proc_root : "/proc", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')'; its end is the last ')'. */
    const char *end = strrchr(buf, ')');
    char letter;
    long parent;
    if (end == NULL || sscanf(end + 1, " %c %ld", &letter, &parent) != 2 || parent < 0 ||
        parent > INT32_MAX)
        return -EINVAL;
    if (state != NULL)
        *state = letter;
    if (ppid != NULL)
        *ppid = (int32_t)parent;
    return 0;
}
