/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttalloc-query - print what tt-alloc-server knows, as JSON, through the
 * query API of libttalloc (for the end-to-end tests; tt-smi is the tool
 * for people).
 *
 *   ttalloc-query [--socket PATH] [--timeout MS] snapshot
 *   ttalloc-query [--socket PATH] [--timeout MS] buffers PID [MAX]
 *   ttalloc-query [--socket PATH] [--timeout MS] exits
 *   ttalloc-query [--socket PATH] [--timeout MS] watch COUNT INTERVAL_MS
 *
 * One JSON object per line on stdout (watch: one per pushed snapshot).
 * Exit status 0, or 1 with "ttalloc-query: <what>: <errno text>" on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttalloc.h"

static void print_string(const char *s, size_t max)
{
    putchar('"');
    for (size_t i = 0; i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_types(const char *key, const uint64_t *v)
{
    printf("\"%s\":{", key);
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        printf("%s\"%s\":%" PRIu64, t ? "," : "", ttalloc_type_name((enum ttalloc_buffer_type)t),
               v[t]);
    putchar('}');
}

static void print_snapshot(const struct ttalloc_snapshot *s)
{
    printf("{\"seq\":%" PRIu64 ",\"timestamp_ns\":%" PRIu64 ",\"clients\":%u,\"server_pid\":%d,"
           "\"events_total\":%" PRIu64 ",\"exits_total\":%" PRIu64
           ",\"leaked_exits_total\":%" PRIu64 ",\"devices\":[",
           s->seq, s->timestamp_ns, s->clients, s->server_pid, s->events_total, s->exits_total,
           s->leaked_exits_total);
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct ttalloc_device_stats *d = &s->devices[i];
        printf("%s{\"device\":%u,\"flags\":%u,\"board_serial\":%" PRIu64 ",\"asic_id\":%" PRIu64
               ",\"buffers\":%" PRIu64 ",\"processes\":%u,\"board_type\":",
               i ? "," : "", d->device, d->flags, d->board_serial, d->asic_id, d->buffers,
               d->processes);
        print_string(d->board_type, sizeof(d->board_type));
        putchar(',');
        print_types("used", d->used);
        putchar(',');
        print_types("total", d->total);
        putchar(',');
        print_types("peak", d->peak);
        putchar('}');
    }
    printf("],\"processes\":[");
    for (size_t i = 0; i < s->n_processes; i++) {
        const struct ttalloc_process_info *p = &s->processes[i];
        printf("%s{\"pid\":%d,\"uid\":%u,\"flags\":%u,\"buffers\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"peak_bytes\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"name\":",
               i ? "," : "", p->pid, p->uid, p->flags, p->buffers, p->bytes, p->peak_bytes,
               p->start_ns);
        print_string(p->name, sizeof(p->name));
        printf(",\"label\":");
        print_string(p->label, sizeof(p->label));
        putchar('}');
    }
    printf("],\"usage\":[");
    for (size_t i = 0; i < s->n_usage; i++) {
        const struct ttalloc_usage *u = &s->usage[i];
        printf("%s{\"pid\":%d,\"device\":%u,\"buffers\":%" PRIu64 ",", i ? "," : "", u->pid,
               u->device, u->buffers);
        print_types("bytes", u->bytes);
        putchar(',');
        print_types("peak", u->peak);
        putchar('}');
    }
    printf("]}\n");
    fflush(stdout);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "ttalloc-query: %s: %s\n", what, strerror(-rc));
    return 1;
}

static int parse_num(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 0) : 0;
    if (s == NULL || errno != 0 || *end != '\0' || end == s)
        return -1;
    *out = v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: ttalloc-query [--socket PATH] [--timeout MS] "
                    "snapshot | buffers PID [MAX] | exits | watch COUNT INTERVAL_MS\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL;
    long long timeout = 5000;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            socket_path = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (parse_num(argv[++i], &timeout))
                return usage();
        } else
            return usage();
    }
    if (i >= argc)
        return usage();
    const char *cmd = argv[i];

    ttalloc_conn *conn = NULL;
    int rc = ttalloc_connect(socket_path, &conn);
    if (rc < 0)
        return fail("connect", rc);

    int status = 0;
    if (strcmp(cmd, "snapshot") == 0) {
        struct ttalloc_snapshot *snap = NULL;
        rc = ttalloc_snapshot(conn, (int)timeout, &snap);
        if (rc < 0)
            status = fail("snapshot", rc);
        else
            print_snapshot(snap);
        ttalloc_snapshot_free(snap);
    } else if (strcmp(cmd, "buffers") == 0) {
        long long pid, max = 1000000;
        if (parse_num(i + 1 < argc ? argv[i + 1] : NULL, &pid) ||
            (i + 2 < argc && parse_num(argv[i + 2], &max))) {
            ttalloc_disconnect(conn);
            return usage();
        }
        struct ttalloc_buffer *bufs = NULL;
        size_t n = 0;
        rc = ttalloc_buffers(conn, (pid_t)pid, (uint32_t)max, (int)timeout, &bufs, &n);
        if (rc < 0) {
            status = fail("buffers", rc);
        } else {
            printf("{\"pid\":%lld,\"buffers\":[", pid);
            for (size_t k = 0; k < n; k++)
                printf("%s{\"device\":%u,\"type\":\"%s\",\"address\":%" PRIu64 ",\"size\":%" PRIu64
                       "}",
                       k ? "," : "", bufs[k].device,
                       ttalloc_type_name((enum ttalloc_buffer_type)bufs[k].type)
                           ? ttalloc_type_name((enum ttalloc_buffer_type)bufs[k].type)
                           : "unknown",
                       bufs[k].address, bufs[k].size);
            printf("]}\n");
        }
        free(bufs);
    } else if (strcmp(cmd, "exits") == 0) {
        struct ttalloc_exit *exits = NULL;
        size_t n = 0;
        rc = ttalloc_exits(conn, (int)timeout, &exits, &n);
        if (rc < 0) {
            status = fail("exits", rc);
        } else {
            printf("{\"exits\":[");
            for (size_t k = 0; k < n; k++) {
                const struct ttalloc_exit *e = &exits[k];
                printf("%s{\"pid\":%d,\"uid\":%u,\"time_ns\":%" PRIu64 ",\"device\":%u,\"name\":",
                       k ? "," : "", e->pid, e->uid, e->time_ns, e->device);
                print_string(e->name, sizeof(e->name));
                putchar(',');
                print_types("bytes", e->bytes);
                putchar(',');
                print_types("buffers", e->buffers);
                putchar('}');
            }
            printf("]}\n");
        }
        free(exits);
    } else if (strcmp(cmd, "watch") == 0) {
        long long count, interval;
        if (parse_num(i + 1 < argc ? argv[i + 1] : NULL, &count) ||
            parse_num(i + 2 < argc ? argv[i + 2] : NULL, &interval)) {
            ttalloc_disconnect(conn);
            return usage();
        }
        rc = ttalloc_subscribe(conn, (uint32_t)interval);
        if (rc < 0)
            status = fail("subscribe", rc);
        for (long long k = 0; k < count && status == 0; k++) {
            struct ttalloc_snapshot *snap = NULL;
            rc = ttalloc_next_snapshot(conn, (int)timeout, &snap);
            if (rc < 0)
                status = fail("next_snapshot", rc);
            else
                print_snapshot(snap);
            ttalloc_snapshot_free(snap);
        }
    } else {
        status = usage();
    }
    ttalloc_disconnect(conn);
    return status;
}
