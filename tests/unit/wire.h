/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.h - the client side of tt-alloc's protocol, frame by frame, for the
 * unit tests that talk to a real server (server_child.h): connect, send a
 * frame (or raw bytes), receive one with a failure guard, say HELLO.
 * Include it after cmocka.h.
 */
#ifndef TTALLOC_TEST_WIRE_H
#define TTALLOC_TEST_WIRE_H

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"

#define WIRE_WAIT_MS 20000 /* a failure guard, never the synchronisation */

static inline int wire_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Send one frame; returns what send(2) returned. */
static inline ssize_t wire_send(int fd, uint16_t type, const void *payload, uint32_t len)
{
    static unsigned char buf[PROTO_MAX_FRAME + 64];
    size_t total = proto_put_header(buf, type, len);
    if (len > 0)
        memcpy(buf + sizeof(struct proto_header), payload, len);
    return send(fd, buf, total, MSG_NOSIGNAL);
}

/* The next frame: its type (0 when the server closed the connection), its
 * payload copied to payload (cut to cap) and its length in *len. */
static inline uint16_t wire_recv(int fd, void *payload, size_t cap, size_t *len)
{
    static unsigned char buf[PROTO_MAX_FRAME];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, WIRE_WAIT_MS) != 1)
        fail_msg("no frame from the server");
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
        return 0;
    struct proto_header hdr;
    const void *body;
    char why[128];
    if (proto_parse_frame(buf, (size_t)n, &hdr, &body, why, sizeof(why)) < 0)
        fail_msg("the server sent a bad frame: %s", why);
    size_t copy = hdr.length < cap ? hdr.length : cap;
    memcpy(payload, body, copy);
    *len = hdr.length;
    return hdr.type;
}

/* An ERROR frame's code and text (NUL-terminated in text). */
static inline uint32_t wire_error(const void *payload, size_t len, char *text, size_t cap)
{
    struct proto_error e;
    assert_true(len >= sizeof(e));
    memcpy(&e, payload, sizeof(e));
    size_t n = len - sizeof(e);
    if (n >= cap)
        n = cap - 1;
    memcpy(text, (const char *)payload + sizeof(e), n);
    text[n] = '\0';
    return e.code;
}

/* HELLO as `role` with `label`; the server's HELLO_ACK into *ack. */
static inline void wire_hello(int fd, enum proto_role role, const char *label,
                              struct proto_hello_ack *ack)
{
    struct proto_hello hello;
    proto_make_hello(&hello, role, label);
    assert_int_equal(wire_send(fd, PROTO_HELLO, &hello, sizeof(hello)),
                     (ssize_t)(sizeof(struct proto_header) + sizeof(hello)));
    unsigned char payload[256];
    size_t len;
    assert_int_equal(wire_recv(fd, payload, sizeof(payload), &len), PROTO_HELLO_ACK);
    memcpy(ack, payload, sizeof(*ack));
}

/* The ERROR frame the server sends before it closes the connection: its
 * code, its text in text; fd is closed. */
static inline uint32_t wire_kicked(int fd, char *text, size_t cap)
{
    static unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    assert_int_equal(wire_recv(fd, payload, sizeof(payload), &len), PROTO_ERROR);
    uint32_t code = wire_error(payload, len, text, cap);
    assert_int_equal(wire_recv(fd, payload, sizeof(payload), &len), 0); /* then closed */
    close(fd);
    return code;
}

#endif /* TTALLOC_TEST_WIRE_H */
