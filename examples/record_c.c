/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_c.c - the smallest instrumented allocator: a C program that tells
 * tt-alloc what it holds on device 0.
 *
 * It describes device 0, allocates three DRAM buffers of 1 MiB and two L1
 * buffers of 64 KiB, frees one DRAM buffer, and waits for the server to have
 * it all (ttalloc_flush). Then it prints "ready <pid>" and waits for a line on
 * stdin, so you (or a test) can look with `tt-smi`; then it frees the rest.
 *
 *   cc record_c.c -o record_c $(pkg-config --cflags --libs ttalloc)
 *   tt-alloc-server & ./record_c        # and in another terminal: tt-smi
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ttalloc.h>

#define MiB (1024u * 1024u)
#define KiB 1024u

static int check(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "record_c: %s: %s\n", what, strerror(-rc));
    return rc;
}

int main(void)
{
    struct ttalloc_device_desc desc = {.capacity = {[TTALLOC_DRAM] = 12ull << 30}};
    strcpy(desc.board_type, "n150");
    check(ttalloc_describe_device(0, &desc), "describe_device");
    check(ttalloc_set_label("record_c example"), "set_label");

    for (uint64_t i = 0; i < 3; i++) /* DRAM 0x10000000, 0x10100000, 0x10200000 */
        check(ttalloc_record_alloc(0, TTALLOC_DRAM, 0x10000000 + i * MiB, MiB), "alloc");
    for (uint64_t i = 0; i < 2; i++) /* L1 0x20000, 0x30000 */
        check(ttalloc_record_alloc(0, TTALLOC_L1, 0x20000 + i * 64 * KiB, 64 * KiB), "alloc");
    check(ttalloc_record_free(0, TTALLOC_DRAM, 0x10100000), "free");

    /* Not needed in a real allocator: records reach the server on their own
     * within milliseconds. Here it makes "ready" mean "visible". Without a
     * server it fails (ENOTCONN) and nothing else does: the records are kept
     * and replayed if a server starts. */
    check(ttalloc_flush(5000), "flush");
    printf("ready %d\n", (int)getpid());
    fflush(stdout);

    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL) { /* EOF also means go on */
    }

    check(ttalloc_record_free(0, TTALLOC_DRAM, 0x10000000), "free");
    check(ttalloc_record_free(0, TTALLOC_DRAM, 0x10200000), "free");
    for (uint64_t i = 0; i < 2; i++)
        check(ttalloc_record_free(0, TTALLOC_L1, 0x20000 + i * 64 * KiB), "free");
    check(ttalloc_flush(5000), "flush");
    printf("freed\n");
    return 0;
}
