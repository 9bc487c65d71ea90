/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sockpath.h - where the server's socket lives (docs/tt-alloc-server.md, "Socket path").
 *
 * TT_ALLOC_SOCKET wins when set. Otherwise the candidates, in order, are
 * /run/tt-alloc/tt-alloc.sock, $XDG_RUNTIME_DIR/tt-alloc.sock and
 * /tmp/tt-alloc-<uid>/tt-alloc.sock (its directory 0700). The server takes
 * the first whose directory it can create or use; clients try them in order.
 */
#ifndef TTALLOC_SOCKPATH_H
#define TTALLOC_SOCKPATH_H

#include <stddef.h>
#include <sys/types.h>

#define SOCKPATH_MAX 108 /* sizeof(sun_path) */
#define SOCKPATH_CANDIDATES 3

/* The paths to try, in order; returns how many (1 when TT_ALLOC_SOCKET is set). */
int sockpath_candidates(char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX]);

/* For the server: pick the path to listen on and make its directory
 * (0755 for /run/tt-alloc, 0700 for /tmp/tt-alloc-<uid>). `explicit_path` (from
 * --socket) wins over everything. Returns 0, or a negative errno with a
 * message in why. */
int sockpath_for_server(const char *explicit_path, char out[SOCKPATH_MAX], char *why,
                        size_t why_cap);

/* Connect a SOCK_SEQPACKET socket to `path` and check that the peer runs as
 * root or as us. `flags` is 0 or SOCK_NONBLOCK (then a server whose backlog
 * is full answers -EAGAIN at once instead of hanging the caller). Returns the
 * fd (O_CLOEXEC), or a negative errno: -EPERM when the peer is another user. */
int sockpath_connect(const char *path, int flags);

/* The uid and pid of a connected Unix socket's peer (SO_PEERCRED). */
int sockpath_peer(int fd, pid_t *pid, uid_t *uid);

#endif /* TTALLOC_SOCKPATH_H */
