/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_child.c - the command and the private server (see record_child.h).
 */
#include "record_child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sibling.h"
#include "sockpath.h"

static void record_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int record_private_server_start(struct record_private_server *srv, int timeout_ms, char *why,
                                size_t why_cap)
{
    memset(srv, 0, sizeof(*srv));
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 64)
        tmp = "/tmp";
    snprintf(srv->dir, sizeof(srv->dir), "%s/tt-alloc-record.XXXXXX", tmp);
    if (mkdtemp(srv->dir) == NULL) {
        snprintf(why, why_cap, "cannot make a private directory in %s: %s", tmp, strerror(errno));
        srv->dir[0] = '\0';
        return -errno;
    }
    snprintf(srv->socket, sizeof(srv->socket), "%s/tt-alloc.sock", srv->dir);
    snprintf(srv->log, sizeof(srv->log), "%s/server.log", srv->dir);
    char state[300];
    snprintf(state, sizeof(state), "%s/exits.state", srv->dir);
    char binary[PATH_MAX];
    sibling_find("tt-alloc-server", "server", binary, sizeof(binary));

    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_cap, "cannot start a private server: %s", strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        int fd = open(srv->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        char *args[] = {binary, "--socket", srv->socket, "--state", state, NULL};
        execvp(binary, args);
        fprintf(stderr, "cannot run tt-alloc-server: %s\n", strerror(errno));
        _exit(127);
    }
    srv->pid = pid;

    /* Poll until it accepts (or dies, or the time is up). */
    for (int waited = 0;; waited += 10) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            char text[160] = "";
            FILE *f = fopen(srv->log, "r");
            if (f != NULL) {
                size_t got = fread(text, 1, sizeof(text) - 1, f);
                text[got] = '\0';
                fclose(f);
                char *nl = strrchr(text, '\n');
                if (nl != NULL && nl[1] == '\0')
                    *nl = '\0';
            }
            snprintf(why, why_cap, "the private tt-alloc-server did not start%s%s",
                     text[0] ? ": " : "", text);
            return -ECHILD;
        }
        int fd = sockpath_connect(srv->socket, SOCK_NONBLOCK);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waited >= timeout_ms) {
            snprintf(why, why_cap, "the private tt-alloc-server did not answer within %d ms",
                     timeout_ms);
            return -ETIMEDOUT;
        }
        record_sleep_ms(10);
    }
}

/* Remove dir and the few files the server leaves in it. */
static void record_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[600];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void record_private_server_stop(struct record_private_server *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        int status;
        while (waitpid(srv->pid, &status, 0) < 0 && errno == EINTR)
            ;
        srv->pid = 0;
    }
    if (srv->dir[0] != '\0')
        record_remove_dir(srv->dir);
    srv->dir[0] = '\0';
}

pid_t record_child_spawn(char *const argv[], const char *socket)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (socket != NULL)
            setenv("TT_ALLOC_SOCKET", socket, 1);
        execvp(argv[0], argv);
        int err = errno;
        fprintf(stderr, "tt-alloc-record: cannot run %s: %s\n", argv[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    return pid;
}

int record_child_exit_status(int wait_status)
{
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return 1;
}
