/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.c - the listening socket (see listener.h).
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"

/* The kernel clamps this to net.core.somaxconn; a connect burst must not be refused. */
#define LISTENER_BACKLOG 4096

static int listener_from_systemd(struct listener *lis, char *why, size_t why_cap)
{
    int n = sd_listen_fds(1);
    if (n <= 0)
        return n; /* 0: not socket-activated; negative: an error */
    int fd = SD_LISTEN_FDS_START;
    if (n > 1 || sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
        snprintf(why, why_cap,
                 "systemd passed %d socket(s); expected one listening "
                 "SOCK_SEQPACKET Unix socket",
                 n);
        return -EINVAL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = errno;
        snprintf(why, why_cap, "cannot make the systemd socket non-blocking: %s", strerror(err));
        return -err;
    }
    struct sockaddr_un addr;
    socklen_t len = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0 && addr.sun_path[0] != '\0')
        snprintf(lis->path, sizeof(lis->path), "%.*s", (int)sizeof(addr.sun_path) - 1,
                 addr.sun_path);
    else
        snprintf(lis->path, sizeof(lis->path), "(systemd socket)");
    lis->fd = fd;
    lis->activated = 1;
    return 1;
}

/* Is something at `path`, and does a live server answer there? Removes a
 * stale socket file. 0: path is free now. */
static int listener_check_path(const char *path, char *why, size_t why_cap)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(why, why_cap, "%s exists and is not a socket; not touching it", path);
        return -EEXIST;
    }
    int fd = sockpath_connect(path, 0);
    if (fd >= 0 || fd == -EPERM) {
        if (fd >= 0)
            close(fd);
        snprintf(why, why_cap, "another tt-alloc-server is already running on %s", path);
        return -EADDRINUSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        int err = errno;
        snprintf(why, why_cap, "cannot remove stale socket %s: %s", path, strerror(err));
        return -err;
    }
    log_info("removed stale socket %s", path);
    return 0;
}

int listener_open(struct listener *lis, const char *path, char *why, size_t why_cap)
{
    memset(lis, 0, sizeof(*lis));
    lis->fd = -1;

    int rc = listener_from_systemd(lis, why, why_cap);
    if (rc != 0)
        return rc < 0 ? rc : 0;

    if (strlen(path) >= sizeof(lis->path)) {
        snprintf(why, why_cap, "socket path longer than %zu bytes", sizeof(lis->path) - 1);
        return -ENAMETOOLONG;
    }
    snprintf(lis->path, sizeof(lis->path), "%s", path);
    rc = listener_check_path(path, why, why_cap);
    if (rc < 0) {
        if (why[0] == '\0')
            snprintf(why, why_cap, "cannot use %s: %s", path, strerror(-rc));
        return rc;
    }

    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, why_cap, "socket: %s", strerror(-rc));
        return rc;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    /* Access is decided per message by peer credentials, not by file mode:
     * the socket file is 0666. The mode is set on the descriptor before
     * bind (Linux creates the file from it, minus the umask, which is
     * cleared around bind), never by path afterwards, where a symlink
     * swapped in between would redirect a chmod run as root. */
    if (fchmod(fd, 0666) < 0) {
        rc = -errno;
        snprintf(why, why_cap, "cannot set the socket's mode: %s", strerror(-rc));
        close(fd);
        return rc;
    }
    mode_t old_umask = umask(0);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int bind_errno = errno;
    umask(old_umask);
    if (bound < 0) {
        rc = -bind_errno;
        snprintf(why, why_cap, "cannot bind %s: %s", path, strerror(-rc));
        close(fd);
        return rc;
    }
    /* What we bound, by descriptor-free identity: listener_close unlinks
     * the path only if it is still this socket. */
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || listen(fd, LISTENER_BACKLOG) < 0) {
        rc = -errno;
        snprintf(why, why_cap, "cannot listen on %s: %s", path, strerror(-rc));
        unlink(path);
        close(fd);
        return rc;
    }
    lis->fd = fd;
    lis->dev = st.st_dev;
    lis->ino = st.st_ino;
    return 0;
}

void listener_close(struct listener *lis)
{
    if (lis->fd < 0)
        return;
    close(lis->fd);
    lis->fd = -1;
    if (lis->activated)
        return;
    struct stat st;
    if (lstat(lis->path, &st) == 0 && st.st_dev == lis->dev && st.st_ino == lis->ino)
        unlink(lis->path);
}
