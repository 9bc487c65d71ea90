/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tmpdir.h - a scratch directory for a unit test's group: tmpdir_setup makes
 * /tmp/<program>.XXXXXX and leaves its path in `tmpdir`; tmpdir_teardown
 * removes it with everything under it (no shell). Give them to
 * cmocka_run_group_tests, or call them from the test's own setup and
 * teardown when it does more. tmpdir_mkdirs and tmpdir_write build a tree
 * in it (a fake sysroot, a pids file).
 */
#ifndef TTALLOC_TEST_TMPDIR_H
#define TTALLOC_TEST_TMPDIR_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TMPDIR_MAX 128

static char tmpdir[TMPDIR_MAX];

static inline int tmpdir_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", program_invocation_short_name);
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static inline int tmpdir_remove_one(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static inline int tmpdir_teardown(void **state)
{
    (void)state;
    if (tmpdir[0] == '\0')
        return 0;
    return nftw(tmpdir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* mkdir -p of tmpdir/rel. Returns 0 or -1. */
static inline int tmpdir_mkdirs(const char *rel)
{
    char path[TMPDIR_MAX + 256];
    if (snprintf(path, sizeof(path), "%s/%s", tmpdir, rel) >= (int)sizeof(path))
        return -1;
    for (char *s = path + strlen(tmpdir) + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Write `text` to the file tmpdir/rel (made or replaced); its path into
 * path_out when not NULL. Returns 0 or -1. */
static inline int tmpdir_write(const char *rel, const char *text, char *path_out, size_t cap)
{
    char path[TMPDIR_MAX + 256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    if (path_out != NULL)
        snprintf(path_out, cap, "%s", path);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif /* TTALLOC_TEST_TMPDIR_H */
