/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrec-script.c - write a .ttrec recording from a script on stdin, so the
 * tests can build recordings with exact, known content through the real
 * writer. One record per line (times T in ns from the start; TYPE is a name
 * such as dram or l1; # starts a comment):
 *
 *   alloc T PID DEV TYPE ADDR SIZE        free T PID DEV TYPE ADDR [SIZE]
 *   live_begin T COUNT                    live T PID DEV TYPE ADDR SIZE  (T: alloc time)
 *   live_end T                            gap T LOST
 *   proc T PID PPID UID NAME [LABEL]      exit T PID
 *   reset T PID                           device T DEV BOARD_TYPE
 *   shm T PID DEV DRAM L1                 telemetry T DEV TEMP_C POWER_W
 *   flush                                 (end the current frame)
 *
 * usage: ttrec-script -o FILE [--frame-bytes N] [--realtime NS] < script
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttrec.h"

static int parse_type(const char *name)
{
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        if (strcmp(name, ttalloc_type_name((enum ttalloc_buffer_type)t)) == 0)
            return t;
    return -1;
}

static int script_line(struct ttrec_writer *w, char *line, int lineno)
{
    char *words[8] = {0};
    int n = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && n < 8; tok = strtok(NULL, " \t\r\n"))
        words[n++] = tok;
    if (n == 0 || words[0][0] == '#')
        return 0;
    if (strcmp(words[0], "flush") == 0)
        return ttrec_writer_flush(w);
    struct ttalloc_rec_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time_ns = n > 1 ? strtoll(words[1], NULL, 0) : 0;
    const char *op = words[0];
    int need = 2;
    if (!strcmp(op, "alloc") || !strcmp(op, "free") || !strcmp(op, "live")) {
        ev.kind = !strcmp(op, "alloc")  ? TTALLOC_REC_ALLOC
                  : !strcmp(op, "free") ? TTALLOC_REC_FREE
                                        : TTALLOC_REC_LIVE_BUFFER;
        need = !strcmp(op, "free") ? 6 : 7;
        if (n >= need) {
            ev.pid = (int32_t)strtol(words[2], NULL, 0);
            ev.device = (uint32_t)strtoul(words[3], NULL, 0);
            int t = parse_type(words[4]);
            if (t < 0)
                goto bad;
            ev.type = (uint32_t)t;
            ev.address = strtoull(words[5], NULL, 0);
            ev.size = n > 6 ? strtoull(words[6], NULL, 0) : 0;
        }
    } else if (!strcmp(op, "live_begin") || !strcmp(op, "gap")) {
        ev.kind = !strcmp(op, "gap") ? TTALLOC_REC_GAP : TTALLOC_REC_LIVE_BEGIN;
        need = 3;
        if (n >= need)
            ev.count = strtoull(words[2], NULL, 0);
    } else if (!strcmp(op, "live_end")) {
        ev.kind = TTALLOC_REC_LIVE_END;
    } else if (!strcmp(op, "proc")) {
        ev.kind = TTALLOC_REC_PROCESS_START;
        need = 6;
        if (n >= need) {
            ev.pid = (int32_t)strtol(words[2], NULL, 0);
            ev.parent_pid = (int32_t)strtol(words[3], NULL, 0);
            ev.uid = (uint32_t)strtoul(words[4], NULL, 0);
            snprintf(ev.name, sizeof(ev.name), "%s", words[5]);
            snprintf(ev.label, sizeof(ev.label), "%s", n > 6 ? words[6] : "");
        }
    } else if (!strcmp(op, "exit") || !strcmp(op, "reset")) {
        ev.kind = !strcmp(op, "exit") ? TTALLOC_REC_PROCESS_EXIT : TTALLOC_REC_PEAK_RESET;
        need = 3;
        if (n >= need)
            ev.pid = (int32_t)strtol(words[2], NULL, 0);
    } else if (!strcmp(op, "device")) {
        ev.kind = TTALLOC_REC_DEVICE;
        need = 4;
        if (n >= need) {
            ev.device = (uint32_t)strtoul(words[2], NULL, 0);
            snprintf(ev.desc.board_type, sizeof(ev.desc.board_type), "%s", words[3]);
        }
    } else if (!strcmp(op, "shm")) {
        ev.kind = TTALLOC_REC_SHM_SAMPLE;
        need = 6;
        if (n >= need) {
            ev.pid = (int32_t)strtol(words[2], NULL, 0);
            ev.device = (uint32_t)strtoul(words[3], NULL, 0);
            ev.bytes[TTALLOC_DRAM] = strtoull(words[4], NULL, 0);
            ev.bytes[TTALLOC_L1] = strtoull(words[5], NULL, 0);
        }
    } else if (!strcmp(op, "telemetry")) {
        ev.kind = TTALLOC_REC_TELEMETRY;
        need = 5;
        if (n >= need) {
            ev.device = (uint32_t)strtoul(words[2], NULL, 0);
            ev.temperature_c = strtod(words[3], NULL);
            ev.power_w = strtod(words[4], NULL);
        }
    } else {
        goto bad;
    }
    if (n < need)
        goto bad;
    return ttrec_writer_write(w, &ev);
bad:
    fprintf(stderr, "ttrec-script: line %d: cannot parse '%s'\n", lineno, op);
    return -EINVAL;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    struct ttrec_writer_options opts = {0};
    struct ttrec_start start = {.realtime_ns = 1764000000000000000ull,
                                .monotonic_ns = 1000000000000ull,
                                .host = "scripted"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--frame-bytes") && i + 1 < argc)
            opts.frame_bytes = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--realtime") && i + 1 < argc)
            start.realtime_ns = strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr,
                    "usage: ttrec-script -o FILE [--frame-bytes N] [--realtime NS] < script\n");
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "usage: ttrec-script -o FILE [--frame-bytes N] [--realtime NS] < script\n");
        return 2;
    }
    struct ttrec_writer *w;
    int rc = ttrec_writer_open(out, &start, &opts, &w);
    if (rc < 0) {
        fprintf(stderr, "ttrec-script: %s: %s\n", out, strerror(-rc));
        return 1;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof(line), stdin)) {
        rc = script_line(w, line, ++lineno);
        if (rc < 0)
            break;
    }
    int close_rc = ttrec_writer_close(w);
    if (rc < 0 || close_rc < 0) {
        if (close_rc < 0)
            fprintf(stderr, "ttrec-script: %s: %s\n", out, strerror(-close_rc));
        return 1;
    }
    return 0;
}
