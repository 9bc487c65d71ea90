/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ttrec.c - the .ttrec reader (ttalloc_rec_*), two ways chosen by the
 * first byte:
 *   even: the input is a whole file (header, frame headers, zstd frames);
 *   odd:  the input (after a record count byte) is one frame's raw records,
 *         which the harness compresses into a valid file, so the record
 *         decoder is reached without forging zstd checksums.
 * Every record read must be sane (a known kind, a buffer type below
 * TTALLOC_NUM_TYPES, NUL-terminated strings); reading ends in 0 or a
 * negative errno with a message, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "ttalloc_rec.h"

static unsigned char file_buf[128 + 16 + 70000];

/* A valid file around `raw` as one frame of `records` records. */
static size_t wrap_records(const uint8_t *raw, size_t len, uint32_t records)
{
    static const unsigned char header[16] = {'T',  'T',  'R', 'E', 'C', '\r',
                                             '\n', 0x1a, 1,   0,   128, 0};
    memset(file_buf, 0, 128);
    memcpy(file_buf, header, sizeof(header));
    size_t clen = ZSTD_compress(file_buf + 144, sizeof(file_buf) - 144, raw, len, 1);
    if (ZSTD_isError(clen))
        return 0;
    uint32_t fields[4] = {0x46525454u, (uint32_t)clen, (uint32_t)len, records};
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < 4; i++)
            file_buf[128 + 4 * f + i] = (unsigned char)(fields[f] >> (8 * i));
    return 144 + clen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const uint8_t *file = data + 1;
    size_t file_len = size - 1;
    if (data[0] & 1) {
        if (size - 2 > 65536)
            return 0;
        file_len = wrap_records(data + 2, size - 2, data[1]);
        if (file_len == 0)
            return 0;
        file = file_buf;
    }
    ttalloc_rec *rec;
    if (ttalloc_rec_open_memory(file, file_len, &rec) < 0) {
        if (ttalloc_rec_error_message(NULL)[0] == '\0')
            abort();
        return 0;
    }
    struct ttalloc_rec_event ev;
    int rc;
    while ((rc = ttalloc_rec_next(rec, &ev)) == 1) {
        if (ev.kind < TTALLOC_REC_ALLOC || ev.kind > TTALLOC_REC_KIND_MAX ||
            !ttalloc_rec_kind_name(ev.kind))
            abort();
        if ((ev.kind == TTALLOC_REC_ALLOC || ev.kind == TTALLOC_REC_FREE ||
             ev.kind == TTALLOC_REC_LIVE_BUFFER) &&
            ev.type >= TTALLOC_NUM_TYPES)
            abort();
        if (ev.kind == TTALLOC_REC_PROCESS_START &&
            (strnlen(ev.name, sizeof(ev.name)) == sizeof(ev.name) ||
             strnlen(ev.label, sizeof(ev.label)) == sizeof(ev.label)))
            abort();
        if (ev.kind == TTALLOC_REC_DEVICE &&
            strnlen(ev.desc.board_type, sizeof(ev.desc.board_type)) == sizeof(ev.desc.board_type))
            abort();
    }
    if (rc < 0 && ttalloc_rec_error_message(rec)[0] == '\0')
        abort();
    if (ttalloc_rec_next(rec, &ev) != rc) /* the end repeats */
        abort();
    ttalloc_rec_close(rec);
    return 0;
}
