/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sibling.c - finding another tt-alloc program (see sibling.h).
 */
#include "sibling.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sibling_find(const char *name, const char *build_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s", name);
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return 0;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    char path[2][2 * PATH_MAX];
    snprintf(path[0], sizeof(path[0]), "%s/%s", self, name);
    snprintf(path[1], sizeof(path[1]), "%s/../%s/%s", self, build_dir, name);
    for (int i = 0; i < 2; i++) {
        if (strlen(path[i]) < cap && access(path[i], X_OK) == 0) {
            snprintf(out, cap, "%s", path[i]);
            return 1;
        }
    }
    return 0;
}
