/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textfile.c - small kernel text files, read cheaply (see textfile.h).
 */
#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int textfile_open(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    return fd < 0 ? -errno : fd;
}

ssize_t textfile_read(const char *path, char *buf, size_t cap)
{
    return textfile_readat(AT_FDCWD, path, buf, cap);
}

ssize_t textfile_readat(int dirfd, const char *name, char *buf, size_t cap)
{
    int fd = textfile_open(dirfd, name);
    if (fd < 0)
        return fd;
    ssize_t r;
    do {
        r = read(fd, buf, cap);
    } while (r < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (r < 0)
        return -err;
    if ((size_t)r >= cap)
        return -EFBIG;
    buf[r] = '\0';
    return r;
}

int textfile_slurp(const char *path, size_t max, char **out, size_t *len_out)
{
    return textfile_slurpat(AT_FDCWD, path, max, out, len_out);
}

int textfile_slurpat(int dirfd, const char *name, size_t max, char **out, size_t *len_out)
{
    int fd = textfile_open(dirfd, name);
    if (fd < 0)
        return fd;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= max)
                break;
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return -err;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}
