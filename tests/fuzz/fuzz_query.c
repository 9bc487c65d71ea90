/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_query.c - the client side of the wire: libttalloc's query API
 * decoding what a server sends for a snapshot, a buffer list and the exit
 * list (src/lib/query.c). A thread plays the server on a real socket: it
 * answers HELLO properly, then sends the input as frames (each prefixed by
 * a 2-byte length) and hangs up. The first input byte picks the request.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "ttalloc.h"

static int fuzz_listener = -1;
static char fuzz_path[108];

struct fuzz_server {
    const uint8_t *data;
    size_t size;
};

static void *fuzz_serve(void *arg)
{
    struct fuzz_server *fs = arg;
    int fd = accept(fuzz_listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    unsigned char buf[PROTO_MAX_FRAME];
    if (recv(fd, buf, sizeof(buf), 0) > 0) {
        struct proto_hello_ack ack;
        memset(&ack, 0, sizeof(ack));
        ack.magic = PROTO_MAGIC;
        ack.version = PROTO_VERSION;
        ack.server_pid = getpid();
        ack.peer_pid = getpid();
        ack.peer_uid = getuid();
        size_t n = proto_put_header(buf, PROTO_HELLO_ACK, sizeof(ack));
        memcpy(buf + n, &ack, sizeof(ack));
        send(fd, buf, n + sizeof(ack), MSG_NOSIGNAL);
        const uint8_t *data = fs->data;
        size_t size = fs->size;
        while (size >= 2) {
            size_t len = (size_t)data[0] | (size_t)data[1] << 8;
            data += 2;
            size -= 2;
            if (len > size)
                len = size;
            if (send(fd, data, len, MSG_NOSIGNAL) < 0)
                break;
            data += len;
            size -= len;
        }
    }
    close(fd);
    return NULL;
}

static void fuzz_cleanup(void)
{
    unlink(fuzz_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(fuzz_cleanup);
    snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/ttalloc-fuzz-%d.sock", (int)getpid());
    unlink(fuzz_path);
    fuzz_listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, fuzz_path, strlen(fuzz_path) + 1);
    if (bind(fuzz_listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fuzz_listener, 4) < 0)
        abort();
    int big = 4 << 20;
    setsockopt(fuzz_listener, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fuzz_server fs = {data + 1, size - 1};
    pthread_t t;
    if (pthread_create(&t, NULL, fuzz_serve, &fs) != 0)
        return 0;
    ttalloc_conn *conn = NULL;
    if (ttalloc_connect(fuzz_path, &conn) == 0) {
        switch (data[0] % 3) {
        case 0: {
            struct ttalloc_snapshot *snap = NULL;
            if (ttalloc_snapshot(conn, 1000, &snap) == 0)
                ttalloc_snapshot_free(snap);
            break;
        }
        case 1: {
            struct ttalloc_buffer *bufs = NULL;
            size_t n = 0;
            if (ttalloc_buffers(conn, getpid(), 16, 1000, &bufs, &n) == 0)
                free(bufs);
            break;
        }
        default: {
            struct ttalloc_exit *exits = NULL;
            size_t n = 0;
            if (ttalloc_exits(conn, 1000, &exits, &n) == 0)
                free(exits);
            break;
        }
        }
        ttalloc_disconnect(conn);
    }
    pthread_join(t, NULL);
    return 0;
}
