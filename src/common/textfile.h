/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textfile.h - reading the small text files the kernel and tt-kmd publish
 * (sysfs attributes, /proc/<pid>/comm and cmdline, pids files) with as few
 * syscalls as possible: tt-smi reads hundreds of them per run, and on a VM a
 * syscall is not cheap. Files are opened O_NONBLOCK, so a FIFO or socket
 * planted where a file should be answers at once instead of hanging us.
 */
#ifndef TTALLOC_TEXTFILE_H
#define TTALLOC_TEXTFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Read a file of at most cap-1 bytes into buf, NUL-terminated, with one
 * read(): sysfs attributes and small procfs files come whole in one read, so
 * a short read is the end. Returns the length, or a negative errno: -EFBIG
 * when the file has cap bytes or more. */
ssize_t textfile_read(const char *path, char *buf, size_t cap);
/* The same for `name` relative to the directory fd `dirfd` (AT_FDCWD: cwd). */
ssize_t textfile_readat(int dirfd, const char *name, char *buf, size_t cap);

/* Read a whole file of any length up to `max` bytes (longer ones are cut)
 * into a malloc'd NUL-terminated buffer, reading until end of file (procfs
 * files such as cmdline may come in pieces). Returns 0 and sets *out and
 * *len, or a negative errno. */
int textfile_slurp(const char *path, size_t max, char **out, size_t *len);
/* The same for `name` relative to the directory fd `dirfd`. */
int textfile_slurpat(int dirfd, const char *name, size_t max, char **out, size_t *len);

#endif /* TTALLOC_TEXTFILE_H */
