/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_child.h - the processes tt-alloc-record runs: the command it
 * records (`-- CMD ARGS...`) and, when no server answers, a private
 * tt-alloc-server on a socket in a directory of its own, so the user needs
 * no daemon. The private server's binary is looked for beside this program,
 * then in ../server/ (the build tree), then on PATH.
 */
#ifndef TTALLOC_RECORD_CHILD_H
#define TTALLOC_RECORD_CHILD_H

#include <stddef.h>
#include <sys/types.h>

struct record_private_server {
    pid_t pid;        /* 0: none running */
    char dir[256];    /* its private directory ("" = none) */
    char socket[256]; /* <dir>/tt-alloc.sock */
    char log[256];    /* <dir>/server.log: shown if it fails to start */
};

/* Start a private server and wait (up to timeout_ms) until it accepts.
 * Returns 0, or a negative errno with a message in why. */
int record_private_server_start(struct record_private_server *srv, int timeout_ms, char *why,
                                size_t why_cap);
/* SIGTERM it, wait for it, remove its directory. */
void record_private_server_stop(struct record_private_server *srv);

/* Run argv (argv[0] searched on PATH) with TT_ALLOC_SOCKET=socket when
 * socket is not NULL. Returns its pid, or a negative errno. A command that
 * cannot be run exits 127 (not found) or 126, as a shell's would. */
pid_t record_child_spawn(char *const argv[], const char *socket);

/* A wait status as a shell's exit status: the code, or 128 + the signal. */
int record_child_exit_status(int wait_status);

#endif /* TTALLOC_RECORD_CHILD_H */
