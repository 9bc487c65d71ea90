/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_main.c - tt-alloc-record: the exact event stream of the server into
 * a .ttrec file (docs/tt-alloc-record.md; the format is docs/ttrec.md).
 *
 *   tt-alloc-record [-o FILE] [--pid PID]... [--duration SEC] [--interval MS]
 *                   [--socket PATH] [-q] [-- CMD ARGS...]
 *
 * One thread, one poll loop: the stream socket, a timerfd ticking every
 * --interval (flush the file so it is readable while written, sample
 * SHM-only processes and telemetry, show progress), a signalfd (SIGINT,
 * SIGTERM, SIGCHLD) and the command's end. Exit status: the command's when
 * one was run (128 + N when a signal ended it), else 0; 1 when recording
 * failed (no server, the file cannot be written); 2 for a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytesize.h"
#include "number.h"
#include "record_child.h"
#include "sockpath.h"
#include "record_filter.h"
#include "record_progress.h"
#include "record_sample.h"
#include "record_stream.h"
#include "ttalloc.h"
#include "ttrec.h"

#define RECORD_DEFAULT_INTERVAL_MS 100u
#define RECORD_MIN_INTERVAL_MS 10u
#define RECORD_MAX_INTERVAL_MS 3600000u
/* Frames read per turn of the loop before the timer and signals get a look. */
#define RECORD_FRAMES_PER_TURN 256
/* After the command ends: how long to wait for the stream to bring the exits. */
#define RECORD_EXIT_WAIT_MS 3000
#define RECORD_MAX_PIDS 1024

struct record_options {
    const char *output;
    const char *socket;
    int32_t pids[RECORD_MAX_PIDS];
    size_t n_pids;
    double duration_s; /* 0: until stopped */
    unsigned interval_ms;
    int quiet;
    char **command; /* NULL: record what the server shows */
};

static void record_usage(FILE *out)
{
    fprintf(out,
            "usage: tt-alloc-record [-o FILE] [--pid PID]... [--duration SEC] [--interval MS]\n"
            "                       [--socket PATH] [-q] [-- CMD ARGS...]\n"
            "Record every device-memory allocation and free the tt-alloc server sees, in\n"
            "order, into a .ttrec file for tt-alloc-report.\n"
            "\n"
            "  -o, --output FILE   the recording (default tt-alloc-YYYYmmdd-HHMMSS.ttrec here)\n"
            "      --pid PID       only this process (repeatable)\n"
            "      --duration SEC  stop after SEC seconds (decimals allowed)\n"
            "      --interval MS   flush the file and sample SHM-only processes and telemetry\n"
            "                      every MS ms (default 100, 10..3600000)\n"
            "      --socket PATH   the server's socket (default: TT_ALLOC_SOCKET, then the\n"
            "                      usual places)\n"
            "  -q, --quiet         no progress line and no summary\n"
            "  -h, --help          this help\n"
            "  -V, --version       the version\n"
            "  -- CMD ARGS...      run CMD and record it and its descendants only; with no\n"
            "                      server running, a private one is started for CMD.\n"
            "                      tt-alloc-record then exits with CMD's status.\n"
            "\n"
            "It stops on SIGINT or SIGTERM, at --duration, or when CMD exits, and always\n"
            "leaves a complete file. See tt-alloc-record(1).\n");
}

static void record_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tt-alloc-record: error: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

/* A decimal number of seconds, > 0 and at most a year. */
static int record_parse_seconds(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 ||
        v > 366.0 * 86400.0 || text[0] == ' ' || text[0] == '+' || text[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

/* Returns 0, or 2 (bad command line, message printed), or -1 (help/version shown). */
static int record_parse_args(int argc, char **argv, struct record_options *o)
{
    enum { OPT_PID = 256, OPT_DURATION, OPT_INTERVAL, OPT_SOCKET };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"pid", required_argument, NULL, OPT_PID},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->interval_ms = RECORD_DEFAULT_INTERVAL_MS;
    opterr = 0;
    int opt;
    uint64_t value;
    /* "+": stop at the first non-option, so CMD's own flags stay CMD's. */
    while ((opt = getopt_long(argc, argv, "+:o:qhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            if (optarg[0] == '\0') {
                record_error("%s", "-o needs a file name");
                return 2;
            }
            o->output = optarg;
            break;
        case OPT_PID:
            if (number_parse_u64(optarg, 10, 1, INT32_MAX, &value) < 0) {
                record_error("--pid '%s': not a process id (1..2147483647)", optarg);
                return 2;
            }
            if (o->n_pids == RECORD_MAX_PIDS) {
                record_error("%s", "too many --pid (at most 1024)");
                return 2;
            }
            o->pids[o->n_pids++] = (int32_t)value;
            break;
        case OPT_DURATION:
            if (record_parse_seconds(optarg, &o->duration_s) < 0) {
                record_error("--duration '%s': not a number of seconds above 0 (at most a "
                             "year)",
                             optarg);
                return 2;
            }
            break;
        case OPT_INTERVAL:
            if (number_parse_u64(optarg, 10, RECORD_MIN_INTERVAL_MS, RECORD_MAX_INTERVAL_MS,
                                 &value) < 0) {
                record_error("--interval '%s': not a number of milliseconds in 10..3600000",
                             optarg);
                return 2;
            }
            o->interval_ms = (unsigned)value;
            break;
        case OPT_SOCKET:
            if (optarg[0] == '\0') {
                record_error("%s", "--socket needs a path");
                return 2;
            }
            o->socket = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            record_usage(stdout);
            return -1;
        case 'V':
            printf("tt-alloc-record %s\n", TTALLOC_VERSION_STRING);
            return -1;
        case ':':
            record_error("%s needs a value (tt-alloc-record --help)", argv[optind - 1]);
            return 2;
        default:
            record_error("unknown option '%s' (tt-alloc-record --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0) {
            record_error("unexpected argument '%s': a command to record goes after '--' "
                         "(tt-alloc-record -- CMD ARGS...)",
                         argv[optind]);
            return 2;
        }
        o->command = &argv[optind];
    } else if (optind > 0 && strcmp(argv[optind - 1], "--") == 0) {
        record_error("%s", "'--' must be followed by a command");
        return 2;
    }
    if (o->command != NULL && o->n_pids > 0) {
        record_error("%s", "--pid and a command do not go together: the command's processes "
                           "are the ones recorded");
        return 2;
    }
    return 0;
}

static uint64_t record_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record_default_name(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, cap, "tt-alloc-%Y%m%d-%H%M%S.ttrec", &tm);
}

/* Every kept pid that no longer runs has its EXIT in the stream (the
 * command, if it connected, included). Processes still running (daemons the
 * command left behind) are not waited for. */
static int record_exits_settled(const struct record_stream *rs)
{
    const struct record_filter *f = rs->filter;
    if (rs->root_seen && !rs->root_exited)
        return 0;
    for (size_t i = 0; i < f->cap; i++) {
        int32_t pid = f->kept[i];
        if (pid == 0 || pid == f->root)
            continue;
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 0;
    }
    return 1;
}

struct record_run {
    struct record_options opt;
    struct record_filter filter;
    struct record_stream stream;
    struct record_private_server server;
    struct record_sample sample;
    struct record_progress progress;
    struct ttrec_writer *writer;
    char path[4096];
    pid_t child;      /* 0: none (or reaped) */
    int child_status; /* its exit status once reaped */
    int child_done;
    int stop_signal;
    int sigfd, timerfd;
};

static void record_reap(struct record_run *r)
{
    if (r->child <= 0)
        return;
    int status;
    pid_t got = waitpid(r->child, &status, WNOHANG);
    if (got == r->child) {
        r->child_status = record_child_exit_status(status);
        r->child_done = 1;
        r->child = 0;
    }
}

static void record_on_signal(struct record_run *r)
{
    struct signalfd_siginfo si;
    while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            record_reap(r);
            continue;
        }
        if (r->child > 0) {
            /* The command decides when to stop; we stop when it has. */
            kill(r->child, (int)si.ssi_signo);
        } else {
            r->stop_signal = (int)si.ssi_signo;
        }
    }
}

/* Everything before the loop; returns 0 or an exit status. */
static int record_setup(struct record_run *r)
{
    struct record_options *o = &r->opt;
    record_filter_init(&r->filter, o->command  ? RECORD_FILTER_TREE
                                   : o->n_pids ? RECORD_FILTER_PIDS
                                               : RECORD_FILTER_ALL);
    for (size_t i = 0; i < o->n_pids; i++)
        if (record_filter_add(&r->filter, o->pids[i]) < 0) {
            record_error("%s", "out of memory");
            return 1;
        }

    int rc = record_stream_open(&r->stream, o->socket, &r->filter);
    if (rc < 0 && o->command != NULL && o->socket == NULL &&
        (rc == -ENOENT || rc == -ECONNREFUSED)) {
        char why[512];
        if (record_private_server_start(&r->server, 5000, why, sizeof(why)) < 0) {
            record_error("%s", why);
            return 1;
        }
        record_stream_close(&r->stream);
        rc = record_stream_open(&r->stream, r->server.socket, &r->filter);
    }
    if (rc < 0) {
        if (rc == -ENOENT || rc == -ECONNREFUSED) {
            char paths[SOCKPATH_CANDIDATES][SOCKPATH_MAX];
            const char *where = o->socket;
            if (where == NULL && sockpath_candidates(paths) > 0)
                where = paths[0];
            fprintf(stderr,
                    "tt-alloc-record: error: no tt-alloc-server at %s (start one, or "
                    "record a command: tt-alloc-record -- CMD)\n",
                    where ? where : "?");
        } else {
            record_error("cannot connect to tt-alloc-server: %s", r->stream.error);
        }
        return 1;
    }
    if (record_stream_start(&r->stream, 10000) < 0) {
        record_error("%s", r->stream.error);
        return 1;
    }

    /* Subscribed: now the file appears. */
    if (o->output != NULL)
        snprintf(r->path, sizeof(r->path), "%s", o->output);
    else
        record_default_name(r->path, sizeof(r->path));
    struct ttrec_start start = {.realtime_ns = record_now_ns(CLOCK_REALTIME),
                                .monotonic_ns = record_now_ns(CLOCK_MONOTONIC)};
    rc = ttrec_writer_open(r->path, &start, NULL, &r->writer);
    if (rc < 0) {
        fprintf(stderr, "tt-alloc-record: error: cannot create %s: %s\n", r->path, strerror(-rc));
        return 1;
    }
    record_stream_attach(&r->stream, r->writer, &start);
    record_sample_init(&r->sample, record_stream_path(&r->stream), &r->filter);
    record_progress_init(&r->progress, !o->quiet && isatty(STDERR_FILENO));

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    r->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    r->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r->sigfd < 0 || r->timerfd < 0) {
        record_error("cannot set up the loop: %s", strerror(errno));
        return 1;
    }
    struct itimerspec its = {
        .it_interval = {.tv_sec = o->interval_ms / 1000,
                        .tv_nsec = (long)(o->interval_ms % 1000) * 1000000L},
    };
    its.it_value = its.it_interval;
    timerfd_settime(r->timerfd, 0, &its, NULL);

    /* The first live state, before the command starts: nothing it does is missed. */
    while (!r->stream.first_state_done) {
        struct pollfd pfd = {.fd = r->stream.fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0 || record_stream_read(&r->stream, 64) < 0) {
            record_error("%s", r->stream.error[0] ? r->stream.error
                                                  : "no live state from the server in time");
            return 1;
        }
    }

    if (o->command != NULL) {
        pid_t pid = record_child_spawn(o->command, r->server.pid > 0 ? r->server.socket : NULL);
        if (pid < 0) {
            record_error("cannot start the command: %s", strerror((int)-pid));
            return 1;
        }
        r->child = pid;
        record_filter_set_root(&r->filter, pid);
    }
    return 0;
}

/* The loop; returns when it is time to stop: 0, or -1 when the stream
 * ended on its own (the server went away or refused; stream.error says). */
static int record_loop(struct record_run *r)
{
    uint64_t deadline = 0;
    if (r->opt.duration_s > 0)
        deadline = record_now_ns(CLOCK_MONOTONIC) + (uint64_t)(r->opt.duration_s * 1e9);
    uint64_t exit_wait_until = 0;
    for (;;) {
        if (r->stop_signal != 0)
            return 0;
        uint64_t now = record_now_ns(CLOCK_MONOTONIC);
        if (deadline != 0 && now >= deadline)
            return 0;
        if (r->child_done) {
            if (exit_wait_until == 0)
                exit_wait_until = now + (uint64_t)RECORD_EXIT_WAIT_MS * 1000000ull;
            if (record_exits_settled(&r->stream) || now >= exit_wait_until)
                return 0;
        }
        struct pollfd pfd[3] = {{.fd = r->stream.fd, .events = POLLIN},
                                {.fd = r->timerfd, .events = POLLIN},
                                {.fd = r->sigfd, .events = POLLIN}};
        int timeout = -1;
        if (deadline != 0)
            timeout = (int)((deadline - now) / 1000000ull) + 1;
        if (exit_wait_until != 0 && (timeout < 0 || timeout > 10))
            timeout = 10;
        int n = poll(pfd, 3, timeout);
        if (n < 0 && errno != EINTR)
            return -1;
        if (pfd[2].revents & POLLIN)
            record_on_signal(r);
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (record_stream_read(&r->stream, RECORD_FRAMES_PER_TURN) < 0)
                return -1;
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t ticks;
            ssize_t ignored = read(r->timerfd, &ticks, sizeof(ticks));
            (void)ignored;
            if (r->stream.writer != NULL) {
                record_sample_take(&r->sample, r->stream.writer, record_now_ns(CLOCK_MONOTONIC));
                int rc = ttrec_writer_flush(r->stream.writer);
                if (rc < 0 && r->stream.write_error == 0) {
                    r->stream.write_error = rc;
                    r->stream.writer = NULL;
                }
            }
            record_progress_show(&r->progress, ttrec_writer_events(r->writer),
                                 ttrec_writer_bytes(r->writer), record_now_ns(CLOCK_MONOTONIC));
        }
        record_reap(r);
    }
}

int main(int argc, char **argv)
{
    struct record_run r;
    memset(&r, 0, sizeof(r));
    r.sigfd = r.timerfd = -1;
    int rc = record_parse_args(argc, argv, &r.opt);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);

    int status = record_setup(&r);
    int stream_ended = 0;
    if (status == 0) {
        stream_ended = record_loop(&r) < 0;
        /* What the socket still holds counts. */
        if (r.stream.fd >= 0 && r.stream.error[0] == '\0')
            while (record_stream_read(&r.stream, RECORD_FRAMES_PER_TURN) > 0)
                ;
    }
    record_progress_clear(&r.progress);

    int failed = status != 0;
    if (stream_ended) {
        fprintf(stderr, "tt-alloc-record: error: %s; the recording ends here\n",
                r.stream.error[0] ? r.stream.error : strerror(errno));
        failed = 1;
    }
    if (r.writer != NULL) {
        uint64_t events = ttrec_writer_events(r.writer);
        int close_rc = ttrec_writer_close(r.writer);
        uint64_t bytes = 0;
        struct stat st;
        if (stat(r.path, &st) == 0)
            bytes = (uint64_t)st.st_size;
        int write_rc = r.stream.write_error ? r.stream.write_error : close_rc;
        if (write_rc < 0) {
            fprintf(stderr,
                    "tt-alloc-record: error: writing %s: %s (the file holds what was "
                    "written before)\n",
                    r.path, strerror(-write_rc));
            failed = 1;
        }
        if (!r.opt.quiet) {
            char size[32];
            bytesize_format(size, sizeof(size), bytes);
            fprintf(stderr,
                    "tt-alloc-record: wrote %s: %" PRIu64 " events, %s, %" PRIu64 " gap%s (%" PRIu64
                    " events lost)\n",
                    r.path, events, size, r.stream.gaps, r.stream.gaps == 1 ? "" : "s",
                    r.stream.lost);
        }
    }
    record_stream_close(&r.stream);
    if (r.child > 0) {
        /* Stopped before the command ended (a signal, --duration): wait for it. */
        int wstatus;
        while (waitpid(r.child, &wstatus, 0) < 0 && errno == EINTR)
            ;
        r.child_status = record_child_exit_status(wstatus);
        r.child_done = 1;
    }
    record_sample_destroy(&r.sample);
    record_private_server_stop(&r.server);
    record_filter_destroy(&r.filter);
    if (r.sigfd >= 0)
        close(r.sigfd);
    if (r.timerfd >= 0)
        close(r.timerfd);
    if (r.child_done && !(failed && r.child_status == 0))
        return r.child_status;
    return failed ? 1 : 0;
}
