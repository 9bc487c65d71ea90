/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_pids.c - add and remove a process's line in a fake pids file under a
 * directory lock (see sim_pids.h).
 */
#include "sim_pids.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define SIM_PIDS_MAX_TEXT (64 * 1024)

static int sim_pids_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Rewrite the file: keep live PIDs except one line of `drop` (if > 0), then
 * append `add` (if > 0). Called with the directory locked. */
static int sim_pids_rewrite(const char *dir, pid_t add, pid_t drop)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/pids", dir);
    snprintf(tmp, sizeof(tmp), "%s/.pids.%d", dir, (int)getpid());
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return -errno;
    char *out = malloc(SIM_PIDS_MAX_TEXT);
    if (out == NULL) {
        fclose(in);
        return -ENOMEM;
    }
    size_t len = 0;
    int dropped = 0;
    char line[64];
    while (fgets(line, sizeof(line), in) != NULL) {
        char *end;
        long v = strtol(line, &end, 10);
        if (end == line || v <= 0 || v > INT_MAX)
            continue;
        pid_t pid = (pid_t)v;
        if (!dropped && drop > 0 && pid == drop) {
            dropped = 1;
            continue;
        }
        if (pid != getpid() && !sim_pids_alive(pid))
            continue;
        if (len + 16 < SIM_PIDS_MAX_TEXT)
            len += (size_t)snprintf(out + len, SIM_PIDS_MAX_TEXT - len, "%d\n", (int)pid);
    }
    fclose(in);
    if (add > 0 && len + 16 < SIM_PIDS_MAX_TEXT)
        len += (size_t)snprintf(out + len, SIM_PIDS_MAX_TEXT - len, "%d\n", (int)add);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
    } else {
        ssize_t n = write(fd, out, len);
        if (n < 0 || (size_t)n != len)
            rc = n < 0 ? -errno : -EIO;
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) < 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
    }
    free(out);
    return rc;
}

static int sim_pids_update(const char *sysroot, int index, pid_t add, pid_t drop)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/proc/driver/tenstorrent/%d", sysroot, index);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc;
    if (flock(dfd, LOCK_EX) < 0)
        rc = -errno;
    else
        rc = sim_pids_rewrite(dir, add, drop);
    close(dfd); /* releases the lock */
    return rc;
}

int sim_pids_add(const char *sysroot, int index, pid_t pid)
{
    return sim_pids_update(sysroot, index, pid, 0);
}

int sim_pids_remove(const char *sysroot, int index, pid_t pid)
{
    return sim_pids_update(sysroot, index, 0, pid);
}
