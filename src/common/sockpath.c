/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sockpath.c - socket path rules and the client side of connecting
 * (see sockpath.h).
 */
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int sockpath_fits(const char *path)
{
    return path != NULL && path[0] != '\0' && strlen(path) < SOCKPATH_MAX;
}

int sockpath_candidates(char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX])
{
    const char *env = getenv("TT_ALLOC_SOCKET");
    int n = 0;

    if (env != NULL && env[0] != '\0') {
        snprintf(paths[0], SOCKPATH_MAX, "%s", env);
        return 1;
    }
    snprintf(paths[n++], SOCKPATH_MAX, "/run/tt-alloc/tt-alloc.sock");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg != NULL && xdg[0] == '/') {
        int len = snprintf(paths[n], SOCKPATH_MAX, "%s/tt-alloc.sock", xdg);
        if (len > 0 && len < SOCKPATH_MAX)
            n++;
    }
    snprintf(paths[n++], SOCKPATH_MAX, "/tmp/tt-alloc-%u/tt-alloc.sock", (unsigned)getuid());
    return n;
}

/* Make the directory of `path` (one level) with `mode` unless it exists; a
 * directory under /tmp must be ours and not open to others. */
static int sockpath_make_dir(const char *path, mode_t mode, int must_be_private)
{
    char dir[SOCKPATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';

    if (mkdir(dir, mode) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (must_be_private && (st.st_uid != getuid() || (st.st_mode & 077) != 0))
        return -EPERM;
    if (access(dir, W_OK | X_OK) < 0)
        return -errno;
    return 0;
}

int sockpath_for_server(const char *explicit_path, char out[SOCKPATH_MAX], char *why,
                        size_t why_cap)
{
    const char *env = getenv("TT_ALLOC_SOCKET");
    const char *chosen = explicit_path != NULL ? explicit_path : (env && env[0] ? env : NULL);

    if (chosen != NULL) {
        if (!sockpath_fits(chosen)) {
            snprintf(why, why_cap, "socket path is empty or longer than %d bytes",
                     SOCKPATH_MAX - 1);
            return -ENAMETOOLONG;
        }
        snprintf(out, SOCKPATH_MAX, "%s", chosen);
        return 0;
    }

    char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
    int n = sockpath_candidates(paths);
    int last = -ENOENT;
    for (int i = 0; i < n; i++) {
        int is_tmp = strncmp(paths[i], "/tmp/", 5) == 0;
        int is_run = strncmp(paths[i], "/run/tt-alloc/", 14) == 0;
        mode_t mode = is_tmp ? 0700 : 0755;
        int rc = is_run || is_tmp ? sockpath_make_dir(paths[i], mode, is_tmp)
                                  : sockpath_make_dir(paths[i], 0700, 0);
        if (rc == 0) {
            memcpy(out, paths[i], SOCKPATH_MAX); /* same size; snprintf upset gcc -O2 */
            return 0;
        }
        last = rc;
    }
    snprintf(why, why_cap, "no usable socket directory (last tried %s: %s)", paths[n - 1],
             strerror(-last));
    return last;
}

int sockpath_peer(int fd, pid_t *pid, uid_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    *pid = cred.pid;
    *uid = cred.uid;
    return 0;
}

int sockpath_connect(const char *path, int flags)
{
    if (!sockpath_fits(path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (flags & SOCK_NONBLOCK), 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    pid_t pid = 0;
    uid_t uid = 0; /* set when rc == 0; initialised for gcc -O2 */
    int rc = sockpath_peer(fd, &pid, &uid);
    if (rc == 0 && uid != 0 && uid != getuid())
        rc = -EPERM;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}
