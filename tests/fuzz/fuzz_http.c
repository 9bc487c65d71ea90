/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_http.c - HTTP requests to /metrics: the bytes of one request sent to
 * the real endpoint (metrics.c: libmicrohttpd driven by metrics_run, our
 * request handler, the page rendered from an empty ledger and sysroot). The
 * answer must come, or the connection close, without a crash; then the
 * endpoint must still answer a plain GET /metrics with 200.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "sources.h"

static struct metrics fuzz_metrics;
static struct ledger fuzz_ledger;
static struct sources fuzz_sources;
static uint64_t fuzz_disconnects[METRICS_NUM_REASONS];
static unsigned fuzz_port;

static void fuzz_cleanup(void)
{
    metrics_close(&fuzz_metrics);
    sources_destroy(&fuzz_sources);
    ledger_destroy(&fuzz_ledger);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz_http", 0);
    char root[] = "/tmp/ttalloc-fuzz-http-XXXXXX";
    if (mkdtemp(root) == NULL || sources_init(&fuzz_sources, root) < 0 ||
        ledger_init(&fuzz_ledger, NULL) < 0)
        abort();
    rmdir(root);
    char why[256];
    for (unsigned port = 20000 + (unsigned)getpid() % 20000;; port++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
        if (metrics_open(&fuzz_metrics, addr, 20, why, sizeof(why)) == 0) {
            fuzz_port = port;
            break;
        }
        if (port > 60000)
            abort();
    }
    atexit(fuzz_cleanup);
    return 0;
}

/* Send request, drive the endpoint until the peer closes or answers fully
 * (or `rounds` polls of 1 ms found nothing). Returns the HTTP status seen
 * (0: none). */
static int fuzz_exchange(const uint8_t *request, size_t len, int rounds)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)fuzz_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("fuzz_http: connect");
        abort();
    }
    if (len > 0 && send(fd, request, len, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
        errno != ECONNRESET)
        abort();
    shutdown(fd, SHUT_WR);
    struct metrics_view view = {&fuzz_sources, &fuzz_ledger, 0, fuzz_disconnects, NULL};
    char head[16] = "";
    size_t got = 0;
    int quiet = 0;
    for (int round = 0; round < rounds && quiet < 3; round++) {
        metrics_run(&fuzz_metrics, 1, &view);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1) <= 0) {
            quiet += got > 0; /* an answer came and nothing more follows */
            continue;
        }
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got < sizeof(head) - 1; i++)
            head[got++] = buf[i];
    }
    /* Reset rather than close: a half-closed partial request would otherwise
     * hold its slot until the 10 s idle timeout, and at this rate the
     * per-address cap (64) would be reached: by design, but not the point. */
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    metrics_run(&fuzz_metrics, 1, &view);
    int status = 0;
    if (got >= 12 && memcmp(head, "HTTP/1.", 7) == 0)
        status = atoi(head + 9);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    fuzz_exchange(data, size, 40);
    static const char plain[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    /* However loaded the machine: three tries of up to 2 s each. A dead
     * endpoint fails all three. */
    int status = 0;
    for (int attempt = 0; attempt < 3 && status != 200; attempt++)
        status = fuzz_exchange((const uint8_t *)plain, sizeof(plain) - 1, 2000);
    if (status != 200) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(fuzz_metrics.daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        fprintf(stderr,
                "fuzz_http: GET /metrics answered %d after this input (%u connections "
                "open)\n",
                status, info != NULL ? info->num_connections : 0u);
        abort();
    }
    return 0;
}
