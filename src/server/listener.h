/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.h - the server's listening socket: handed over by systemd socket
 * activation, or created at a path (refusing to start when a live server
 * answers there, replacing a stale socket file), mode 0666 so any user's
 * apps can connect; removed again at exit when we created it.
 */
#ifndef TTALLOC_LISTENER_H
#define TTALLOC_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

#include "sockpath.h"

struct listener {
    int fd;        /* non-blocking, close-on-exec */
    int activated; /* 1: from systemd, we do not own the path */
    char path[SOCKPATH_MAX];
    dev_t dev; /* the socket file we made, to remove only ours */
    ino_t ino;
};

/* Take a socket from systemd if one was passed, else listen on `path`.
 * Returns 0, or a negative errno with a message in why: -EADDRINUSE when a
 * live server answers at path, -EEXIST when path is not a socket. */
int listener_open(struct listener *lis, const char *path, char *why, size_t why_cap);

/* Close the socket and remove its file if we created it and it is still ours. */
void listener_close(struct listener *lis);

#endif /* TTALLOC_LISTENER_H */
