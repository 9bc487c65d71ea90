/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttalloc-testclient - a scriptable libttalloc producer for the end-to-end
 * tests. It reads one command per line on stdin and answers each with one
 * line on stdout, so a test synchronises on output, never on sleeps:
 *
 *   alloc DEV TYPE ADDR SIZE      -> ok | error -ERRNO
 *   free DEV TYPE ADDR            -> ok | error -ERRNO
 *   bulk N DEV TYPE BASE SIZE     -> ok   (N buffers at BASE + i*SIZE)
 *   bulkfree N DEV TYPE BASE SIZE -> ok   (frees what bulk made)
 *   threads T N DEV TYPE BASE SIZE -> ok  (T threads, each a bulk of N at
 *                                          BASE + (t*N + i)*SIZE, concurrently)
 *   churn N DEV TYPE BASE SIZE    -> ok   (N times: alloc BASE + i*SIZE, free it)
 *   churnbg N DEV TYPE BASE SIZE  -> ok   (the same in a background thread)
 *   join                          -> ok | error -ERRNO (wait for churnbg's thread)
 *   threadchurn T N DEV TYPE BASE SIZE -> ok (T threads at once, each a churn of
 *                                          N at BASE + (t*N + i)*SIZE: each holds
 *                                          at most one buffer)
 *   memory DEV TYPE               -> memory LIVE PEAK   (ttalloc_process_memory)
 *   reset                         -> ok   (ttalloc_reset_peak)
 *   flush [MS]                    -> flush RC   (default 5000 ms)
 *   label TEXT                    -> ok | error -ERRNO
 *   describe DEV key=value...     -> ok   (serial asic board remote dram l1
 *                                          system_memory l1_small trace cb)
 *   fork CMD; CMD; ...            -> forked PID, then the child's own lines,
 *                                    each prefixed "child: ". The child runs
 *                                    the commands (stdin is not shared with
 *                                    it), then waits for a signal ("hold").
 *   print-pid                     -> pid PID
 *   wait                          -> (nothing) block until stdin closes, exit
 *   exit                          -> bye, then exit(0) (library flushes at exit)
 *
 * TYPE is a number or a name (dram, l1, system_memory, l1_small, trace, cb);
 * numbers take C syntax (0x...). Unknown commands answer "error unknown".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ttalloc.h"

static const char *out_prefix = "";

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s", out_prefix);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || end == s)
        return -1;
    *out = v;
    return 0;
}

static int parse_type(const char *s, int *out)
{
    uint64_t v;
    if (s == NULL)
        return -1;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
        if (strcmp(s, ttalloc_type_name((enum ttalloc_buffer_type)t)) == 0) {
            *out = t;
            return 0;
        }
    }
    if (parse_u64(s, &v) < 0 || v > 1000)
        return -1;
    *out = (int)v; /* out of range on purpose is allowed: tests argument checks */
    return 0;
}

struct bulk {
    uint64_t n;
    uint32_t dev;
    int type;
    uint64_t base;
    uint64_t size;
    int rc;
};

static void *bulk_run(void *arg)
{
    struct bulk *b = arg;
    for (uint64_t i = 0; i < b->n && b->rc == 0; i++)
        b->rc = ttalloc_record_alloc(b->dev, (enum ttalloc_buffer_type)b->type,
                                     b->base + i * b->size, b->size);
    return NULL;
}

/* Churn: allocate and free one buffer at a time, at distinct addresses. */
static void *churn_run(void *arg)
{
    struct bulk *b = arg;
    for (uint64_t i = 0; i < b->n && b->rc == 0; i++) {
        uint64_t address = b->base + i * b->size;
        b->rc = ttalloc_record_alloc(b->dev, (enum ttalloc_buffer_type)b->type, address, b->size);
        if (b->rc == 0)
            b->rc = ttalloc_record_free(b->dev, (enum ttalloc_buffer_type)b->type, address);
    }
    return NULL;
}

static struct bulk background;
static pthread_t background_thread;
static int background_running;

static void run_command(char *line);

static void cmd_fork(char *rest)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        reply("error %d", -errno);
        return;
    }
    if (pid > 0) {
        reply("forked %d", (int)pid);
        return;
    }
    /* The child: its own commands from the line, not from the shared stdin. */
    if (freopen("/dev/null", "r", stdin) == NULL)
        _exit(1);
    out_prefix = "child: ";
    char *save = NULL;
    for (char *cmd = strtok_r(rest, ";", &save); cmd != NULL; cmd = strtok_r(NULL, ";", &save))
        run_command(cmd);
    reply("hold");
    for (;;)
        pause();
}

static void run_command(char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r\n", &save);
    char *arg[8] = {0};
    if (cmd == NULL)
        return;
    if (strcmp(cmd, "fork") == 0) {
        cmd_fork(save ? save : (char *)"");
        return;
    }
    for (int i = 0; i < 8; i++)
        arg[i] = strtok_r(NULL, " \t\r\n", &save);

    uint64_t dev, addr, size, n, t;
    int type;
    if (strcmp(cmd, "alloc") == 0) {
        if (parse_u64(arg[0], &dev) || parse_type(arg[1], &type) || parse_u64(arg[2], &addr) ||
            parse_u64(arg[3], &size)) {
            reply("error usage");
            return;
        }
        int rc = ttalloc_record_alloc((uint32_t)dev, (enum ttalloc_buffer_type)type, addr, size);
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "free") == 0) {
        if (parse_u64(arg[0], &dev) || parse_type(arg[1], &type) || parse_u64(arg[2], &addr)) {
            reply("error usage");
            return;
        }
        int rc = ttalloc_record_free((uint32_t)dev, (enum ttalloc_buffer_type)type, addr);
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "bulk") == 0 || strcmp(cmd, "bulkfree") == 0) {
        if (parse_u64(arg[0], &n) || parse_u64(arg[1], &dev) || parse_type(arg[2], &type) ||
            parse_u64(arg[3], &addr) || parse_u64(arg[4], &size)) {
            reply("error usage");
            return;
        }
        int rc = 0;
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            rc = cmd[4] == '\0'
                     ? ttalloc_record_alloc((uint32_t)dev, (enum ttalloc_buffer_type)type,
                                            addr + i * size, size)
                     : ttalloc_record_free((uint32_t)dev, (enum ttalloc_buffer_type)type,
                                           addr + i * size);
        }
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "threads") == 0) {
        if (parse_u64(arg[0], &t) || t == 0 || t > 64 || parse_u64(arg[1], &n) ||
            parse_u64(arg[2], &dev) || parse_type(arg[3], &type) || parse_u64(arg[4], &addr) ||
            parse_u64(arg[5], &size)) {
            reply("error usage");
            return;
        }
        struct bulk b[64];
        pthread_t th[64];
        for (uint64_t i = 0; i < t; i++) {
            b[i] = (struct bulk){.n = n,
                                 .dev = (uint32_t)dev,
                                 .type = type,
                                 .base = addr + i * n * size,
                                 .size = size,
                                 .rc = 0};
            pthread_create(&th[i], NULL, bulk_run, &b[i]);
        }
        int rc = 0;
        for (uint64_t i = 0; i < t; i++) {
            pthread_join(th[i], NULL);
            if (b[i].rc != 0)
                rc = b[i].rc;
        }
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "churn") == 0 || strcmp(cmd, "churnbg") == 0) {
        struct bulk b = {0};
        if (parse_u64(arg[0], &b.n) || parse_u64(arg[1], &dev) || parse_type(arg[2], &b.type) ||
            parse_u64(arg[3], &b.base) || parse_u64(arg[4], &b.size)) {
            reply("error usage");
            return;
        }
        b.dev = (uint32_t)dev;
        if (strcmp(cmd, "churn") == 0) {
            churn_run(&b);
            b.rc == 0 ? reply("ok") : reply("error %d", b.rc);
            return;
        }
        if (background_running) {
            reply("error busy");
            return;
        }
        background = b;
        int err = pthread_create(&background_thread, NULL, churn_run, &background);
        background_running = err == 0;
        err == 0 ? reply("ok") : reply("error %d", -err);
    } else if (strcmp(cmd, "join") == 0) {
        if (!background_running) {
            reply("error idle");
            return;
        }
        pthread_join(background_thread, NULL);
        background_running = 0;
        background.rc == 0 ? reply("ok") : reply("error %d", background.rc);
    } else if (strcmp(cmd, "threadchurn") == 0) {
        if (parse_u64(arg[0], &t) || t == 0 || t > 64 || parse_u64(arg[1], &n) ||
            parse_u64(arg[2], &dev) || parse_type(arg[3], &type) || parse_u64(arg[4], &addr) ||
            parse_u64(arg[5], &size)) {
            reply("error usage");
            return;
        }
        struct bulk b[64];
        pthread_t th[64];
        for (uint64_t i = 0; i < t; i++) {
            b[i] = (struct bulk){.n = n,
                                 .dev = (uint32_t)dev,
                                 .type = type,
                                 .base = addr + i * n * size,
                                 .size = size,
                                 .rc = 0};
            pthread_create(&th[i], NULL, churn_run, &b[i]);
        }
        int rc = 0;
        for (uint64_t i = 0; i < t; i++) {
            pthread_join(th[i], NULL);
            if (b[i].rc != 0)
                rc = b[i].rc;
        }
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "memory") == 0) {
        uint64_t live = 0, peak = 0;
        if (parse_u64(arg[0], &dev) || parse_type(arg[1], &type)) {
            reply("error usage");
            return;
        }
        int rc =
            ttalloc_process_memory((uint32_t)dev, (enum ttalloc_buffer_type)type, &live, &peak);
        rc == 0 ? reply("memory %" PRIu64 " %" PRIu64, live, peak) : reply("error %d", rc);
    } else if (strcmp(cmd, "reset") == 0) {
        int rc = ttalloc_reset_peak();
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "flush") == 0) {
        uint64_t ms = 5000;
        if (arg[0] != NULL && parse_u64(arg[0], &ms)) {
            reply("error usage");
            return;
        }
        reply("flush %d", ttalloc_flush((int)ms));
    } else if (strcmp(cmd, "label") == 0) {
        int rc = ttalloc_set_label(arg[0] ? arg[0] : "");
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "describe") == 0) {
        struct ttalloc_device_desc desc;
        memset(&desc, 0, sizeof(desc));
        if (parse_u64(arg[0], &dev)) {
            reply("error usage");
            return;
        }
        for (int i = 1; i < 8 && arg[i] != NULL; i++) {
            char *eq = strchr(arg[i], '=');
            uint64_t v = 0;
            if (eq == NULL) {
                reply("error usage");
                return;
            }
            *eq = '\0';
            const char *key = arg[i], *value = eq + 1;
            if (strcmp(key, "board") == 0) {
                snprintf(desc.board_type, sizeof(desc.board_type), "%s", value);
                continue;
            }
            if (parse_u64(value, &v)) {
                reply("error usage");
                return;
            }
            if (strcmp(key, "serial") == 0)
                desc.board_serial = v;
            else if (strcmp(key, "asic") == 0)
                desc.asic_id = v;
            else if (strcmp(key, "remote") == 0)
                desc.is_remote = (uint32_t)v;
            else if (parse_type(key, &type) == 0 && type < TTALLOC_NUM_TYPES)
                desc.capacity[type] = v;
            else {
                reply("error usage");
                return;
            }
        }
        int rc = ttalloc_describe_device((uint32_t)dev, &desc);
        rc == 0 ? reply("ok") : reply("error %d", rc);
    } else if (strcmp(cmd, "print-pid") == 0) {
        reply("pid %d", (int)getpid());
    } else if (strcmp(cmd, "wait") == 0) {
        char buf[256];
        while (fgets(buf, sizeof(buf), stdin) != NULL) {
        }
        exit(0);
    } else if (strcmp(cmd, "exit") == 0) {
        reply("bye");
        exit(0);
    } else {
        reply("error unknown");
    }
}

int main(void)
{
    char line[4096];
    /* A dead reader of our stdout must not kill us mid-test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    while (fgets(line, sizeof(line), stdin) != NULL)
        run_command(line);
    return 0;
}
