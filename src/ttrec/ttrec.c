/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrec.c - the .ttrec recording format: writer and reader (docs/ttrec.md).
 *
 * File: a 128-byte header, then frames. A frame is a 16-byte frame header
 * (magic, compressed length, raw length, record count) and one zstd frame
 * (with its checksum) holding `records` records. Each frame starts a fresh
 * delta context, so every frame decodes on its own and a file cut inside a
 * frame still reads up to the frame before. All integers little-endian.
 *
 * The reader trusts nothing: every length is bounded before it is used,
 * every varint and string is checked against the end of its frame, and a
 * record that does not parse ends the read with -EBADMSG and a message that
 * names the frame's offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "proto.h"
#include "ttrec.h"

#define TTREC_MAGIC "TTREC\r\n\x1a"
#define TTREC_MAGIC_LEN 8
#define TTREC_HEADER_LEN 128
#define TTREC_FRAME_MAGIC 0x46525454u /* "TTRF" in file byte order */
#define TTREC_FRAME_HEADER_LEN 16
#define TTREC_MAX_RECORD 256 /* no record encodes longer than this */
#define TTREC_MIN_FRAME_BYTES 4096

/* Record head byte: the kind in bits 0-3; for ALLOC, FREE and LIVE_BUFFER
 * the buffer type in bits 4-6 and, in bit 7, "same pid and device as the
 * previous buffer record of this frame". */
#define HEAD_KIND_MASK 0x0fu
#define HEAD_TYPE_SHIFT 4
#define HEAD_TYPE_MASK 0x07u
#define HEAD_SAME_OWNER 0x80u

/* TELEMETRY flags byte */
#define TELEMETRY_HAS_TEMPERATURE 0x1u
#define TELEMETRY_HAS_POWER 0x2u

/* The public records travel to Python through ctypes: pin their layout. */
_Static_assert(sizeof(struct ttalloc_rec_event) == 304,
               "ttalloc_rec_event layout (ttalloc/_recording.py)");
_Static_assert(sizeof(struct ttalloc_rec_info) == 88,
               "ttalloc_rec_info layout (ttalloc/_recording.py)");

/* The state both ends keep per frame: the previous values deltas are taken from. */
struct delta_context {
    int64_t time_ns;
    int64_t pid;
    uint32_t device;
    int owner_valid; /* pid/device above came from a buffer record */
    uint64_t address[TTALLOC_NUM_TYPES];
};

static void delta_reset(struct delta_context *d)
{
    memset(d, 0, sizeof(*d));
}

/* ---- little-endian integers and varints ---- */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t zigzag_encode(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t zigzag_decode(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* ---- writer ---- */

struct ttrec_writer {
    int fd;
    int owns_fd;
    int error; /* sticky negative errno */
    int64_t start_mono;
    struct delta_context delta;
    unsigned char *raw; /* the frame being filled */
    size_t raw_len;
    size_t frame_bytes;
    uint32_t raw_records;
    unsigned char *packed; /* frame header + compressed frame */
    size_t packed_cap;
    ZSTD_CCtx *cctx;
    uint64_t events;
    uint64_t records;
    uint64_t bytes;
    uint64_t gaps;
};

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ttrec_writer_open_fd(int fd, const struct ttrec_start *start,
                         const struct ttrec_writer_options *opts, struct ttrec_writer **out)
{
    if (fd < 0 || !start || !out)
        return -EINVAL;
    size_t frame_bytes = opts && opts->frame_bytes ? opts->frame_bytes : TTREC_DEFAULT_FRAME_BYTES;
    if (frame_bytes < TTREC_MIN_FRAME_BYTES)
        frame_bytes = TTREC_MIN_FRAME_BYTES;
    if (frame_bytes > TTREC_MAX_FRAME_BYTES - TTREC_MAX_RECORD)
        frame_bytes = TTREC_MAX_FRAME_BYTES - TTREC_MAX_RECORD;
    int level = opts && opts->zstd_level ? opts->zstd_level : TTREC_DEFAULT_LEVEL;

    struct ttrec_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->fd = fd;
    w->frame_bytes = frame_bytes;
    w->start_mono = (int64_t)start->monotonic_ns;
    w->raw = malloc(frame_bytes + TTREC_MAX_RECORD);
    w->packed_cap = TTREC_FRAME_HEADER_LEN + ZSTD_compressBound(frame_bytes + TTREC_MAX_RECORD);
    w->packed = malloc(w->packed_cap);
    w->cctx = ZSTD_createCCtx();
    if (!w->raw || !w->packed || !w->cctx) {
        ttrec_writer_close(w);
        return -ENOMEM;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    delta_reset(&w->delta);

    unsigned char hdr[TTREC_HEADER_LEN];
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, TTREC_MAGIC, TTREC_MAGIC_LEN);
    put_u16(hdr + 8, TTALLOC_REC_VERSION);
    put_u16(hdr + 10, TTREC_HEADER_LEN);
    put_u64(hdr + 16, start->realtime_ns);
    put_u64(hdr + 24, start->monotonic_ns);
    char host[TTALLOC_REC_HOST_MAX] = "";
    if (start->host)
        snprintf(host, sizeof(host), "%s", start->host);
    else if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    memcpy(hdr + 32, host, strlen(host));
    int rc = write_all(fd, hdr, sizeof(hdr));
    if (rc < 0) {
        ttrec_writer_close(w);
        return rc;
    }
    w->bytes = sizeof(hdr);
    *out = w;
    return 0;
}

int ttrec_writer_open(const char *path, const struct ttrec_start *start,
                      const struct ttrec_writer_options *opts, struct ttrec_writer **out)
{
    if (!path)
        return -EINVAL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = ttrec_writer_open_fd(fd, start, opts, out);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    (*out)->owns_fd = 1;
    return 0;
}

int ttrec_writer_flush(struct ttrec_writer *w)
{
    if (!w)
        return -EINVAL;
    if (w->error)
        return w->error;
    if (w->raw_records == 0)
        return 0;
    size_t clen = ZSTD_compress2(w->cctx, w->packed + TTREC_FRAME_HEADER_LEN,
                                 w->packed_cap - TTREC_FRAME_HEADER_LEN, w->raw, w->raw_len);
    if (ZSTD_isError(clen)) {
        w->error = -EIO;
        return w->error;
    }
    put_u32(w->packed, TTREC_FRAME_MAGIC);
    put_u32(w->packed + 4, (uint32_t)clen);
    put_u32(w->packed + 8, (uint32_t)w->raw_len);
    put_u32(w->packed + 12, w->raw_records);
    int rc = write_all(w->fd, w->packed, TTREC_FRAME_HEADER_LEN + clen);
    if (rc < 0) {
        w->error = rc;
        return rc;
    }
    w->bytes += TTREC_FRAME_HEADER_LEN + clen;
    w->raw_len = 0;
    w->raw_records = 0;
    delta_reset(&w->delta);
    return 0;
}

int ttrec_writer_close(struct ttrec_writer *w)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->raw)
        rc = ttrec_writer_flush(w);
    if (w->owns_fd && close(w->fd) != 0 && rc == 0)
        rc = -errno;
    ZSTD_freeCCtx(w->cctx);
    free(w->raw);
    free(w->packed);
    free(w);
    return rc;
}

uint64_t ttrec_writer_events(const struct ttrec_writer *w)
{
    return w ? w->events : 0;
}
uint64_t ttrec_writer_records(const struct ttrec_writer *w)
{
    return w ? w->records : 0;
}
uint64_t ttrec_writer_bytes(const struct ttrec_writer *w)
{
    return w ? w->bytes : 0;
}
uint64_t ttrec_writer_gaps(const struct ttrec_writer *w)
{
    return w ? w->gaps : 0;
}

static size_t bounded_strlen(const char *s, size_t max)
{
    if (!s)
        return 0;
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static unsigned char *put_string(unsigned char *p, const char *s, size_t max)
{
    size_t n = bounded_strlen(s, max);
    p = put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* Whether a kind carries a buffer (type in the head byte, owner, address, size). */
static int kind_has_buffer(uint32_t kind)
{
    return kind == TTALLOC_REC_ALLOC || kind == TTALLOC_REC_FREE || kind == TTALLOC_REC_LIVE_BUFFER;
}

static int64_t saturating_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return a > b ? INT64_MAX : INT64_MIN;
    return r;
}

/* Telemetry values are stored in thousandths: NaN and what does not fit are unknown. */
static int telemetry_fixed(double v, int64_t *out)
{
    if (!isfinite(v) || fabs(v) > 1e12)
        return 0;
    *out = llround(v * 1000.0);
    return 1;
}

int ttrec_writer_write(struct ttrec_writer *w, const struct ttalloc_rec_event *ev)
{
    if (!w || !ev)
        return -EINVAL;
    if (w->error)
        return w->error;
    if (ev->kind < TTALLOC_REC_ALLOC || ev->kind > TTALLOC_REC_KIND_MAX)
        return -EINVAL;
    if (kind_has_buffer(ev->kind) && ev->type >= TTALLOC_NUM_TYPES)
        return -EINVAL;

    struct delta_context *d = &w->delta;
    unsigned char *start = w->raw + w->raw_len;
    unsigned char *p = start;
    unsigned char head = (unsigned char)ev->kind;
    if (kind_has_buffer(ev->kind)) {
        head |= (unsigned char)(ev->type << HEAD_TYPE_SHIFT);
        if (d->owner_valid && d->pid == ev->pid && d->device == ev->device)
            head |= HEAD_SAME_OWNER;
    }
    *p++ = head;
    p = put_varint(p, zigzag_encode((int64_t)((uint64_t)ev->time_ns - (uint64_t)d->time_ns)));
    d->time_ns = ev->time_ns;

    switch (ev->kind) {
    case TTALLOC_REC_ALLOC:
    case TTALLOC_REC_FREE:
    case TTALLOC_REC_LIVE_BUFFER:
        if (!(head & HEAD_SAME_OWNER)) {
            p = put_varint(p, zigzag_encode((int64_t)ev->pid - d->pid));
            p = put_varint(p, ev->device);
            d->pid = ev->pid;
            d->device = ev->device;
            d->owner_valid = 1;
        }
        p = put_varint(p, zigzag_encode((int64_t)(ev->address - d->address[ev->type])));
        d->address[ev->type] = ev->address;
        p = put_varint(p, ev->size);
        break;
    case TTALLOC_REC_PEAK_RESET:
    case TTALLOC_REC_PROCESS_EXIT:
        p = put_varint(p, zigzag_encode((int64_t)ev->pid - d->pid));
        d->pid = ev->pid;
        d->owner_valid = 0;
        break;
    case TTALLOC_REC_LIVE_BEGIN:
    case TTALLOC_REC_GAP:
        p = put_varint(p, ev->count);
        break;
    case TTALLOC_REC_LIVE_END:
        break;
    case TTALLOC_REC_PROCESS_START:
        p = put_varint(p, zigzag_encode((int64_t)ev->pid - d->pid));
        d->pid = ev->pid;
        d->owner_valid = 0;
        p = put_varint(p, zigzag_encode(ev->parent_pid));
        p = put_varint(p, ev->uid);
        p = put_string(p, ev->name, TTALLOC_NAME_MAX - 1);
        p = put_string(p, ev->label, TTALLOC_LABEL_MAX - 1);
        break;
    case TTALLOC_REC_DEVICE:
        p = put_varint(p, ev->device);
        p = put_varint(p, ev->desc.board_serial);
        p = put_varint(p, ev->desc.asic_id);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            p = put_varint(p, ev->desc.capacity[t]);
        p = put_varint(p, ev->desc.is_remote);
        p = put_string(p, ev->desc.board_type, sizeof(ev->desc.board_type) - 1);
        break;
    case TTALLOC_REC_SHM_SAMPLE:
        p = put_varint(p, zigzag_encode((int64_t)ev->pid - d->pid));
        d->pid = ev->pid;
        d->owner_valid = 0;
        p = put_varint(p, ev->device);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            p = put_varint(p, ev->bytes[t]);
        break;
    case TTALLOC_REC_TELEMETRY: {
        int64_t temp = 0, power = 0;
        unsigned char flags = 0;
        if (telemetry_fixed(ev->temperature_c, &temp))
            flags |= TELEMETRY_HAS_TEMPERATURE;
        if (telemetry_fixed(ev->power_w, &power))
            flags |= TELEMETRY_HAS_POWER;
        p = put_varint(p, ev->device);
        *p++ = flags;
        if (flags & TELEMETRY_HAS_TEMPERATURE)
            p = put_varint(p, zigzag_encode(temp));
        if (flags & TELEMETRY_HAS_POWER)
            p = put_varint(p, zigzag_encode(power));
        break;
    }
    }
    w->raw_len += (size_t)(p - start);
    w->raw_records++;
    w->records++;
    if (ev->kind == TTALLOC_REC_ALLOC || ev->kind == TTALLOC_REC_FREE)
        w->events++;
    if (ev->kind == TTALLOC_REC_GAP)
        w->gaps++;
    if (w->raw_len >= w->frame_bytes)
        return ttrec_writer_flush(w);
    return 0;
}

static int64_t writer_rel_time(const struct ttrec_writer *w, uint64_t mono_ns)
{
    int64_t mono = mono_ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mono_ns;
    return saturating_sub(mono, w->start_mono);
}

/* The buffer records are the hot path: they skip the rest of the struct. */
static int write_buffer_record(struct ttrec_writer *w, uint32_t kind, int32_t pid, uint32_t device,
                               uint8_t type, uint64_t address, uint64_t size, int64_t time_ns)
{
    struct ttalloc_rec_event ev;
    ev.kind = kind;
    ev.pid = pid;
    ev.time_ns = time_ns;
    ev.device = device;
    ev.type = type;
    ev.address = address;
    ev.size = size;
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_alloc(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                      uint64_t address, uint64_t size, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    return write_buffer_record(w, TTALLOC_REC_ALLOC, pid, device, type, address, size,
                               writer_rel_time(w, mono_ns));
}

int ttrec_write_free(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                     uint64_t address, uint64_t size, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    return write_buffer_record(w, TTALLOC_REC_FREE, pid, device, type, address, size,
                               writer_rel_time(w, mono_ns));
}

int ttrec_write_peak_reset(struct ttrec_writer *w, int32_t pid, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_PEAK_RESET, .pid = pid, .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_proto_event(struct ttrec_writer *w, int32_t pid, const struct proto_event *ev)
{
    if (!w || !ev)
        return -EINVAL;
    switch (ev->op) {
    case PROTO_OP_ALLOC:
        return ttrec_write_alloc(w, pid, ev->device, ev->type, ev->address, ev->size,
                                 ev->timestamp_ns);
    case PROTO_OP_FREE:
        return ttrec_write_free(w, pid, ev->device, ev->type, ev->address, ev->size,
                                ev->timestamp_ns);
    case PROTO_OP_RESET_PEAK:
        return ttrec_write_peak_reset(w, pid, ev->timestamp_ns);
    default:
        return -EINVAL;
    }
}

int ttrec_write_live_begin(struct ttrec_writer *w, uint64_t mono_ns, uint64_t buffers)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_LIVE_BEGIN, .count = buffers, .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_live_buffer(struct ttrec_writer *w, int32_t pid, uint32_t device, uint8_t type,
                            uint64_t address, uint64_t size, uint64_t alloc_mono_ns)
{
    if (!w)
        return -EINVAL;
    int64_t t = alloc_mono_ns ? writer_rel_time(w, alloc_mono_ns) : w->delta.time_ns;
    return write_buffer_record(w, TTALLOC_REC_LIVE_BUFFER, pid, device, type, address, size, t);
}

int ttrec_write_live_end(struct ttrec_writer *w, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {.kind = TTALLOC_REC_LIVE_END,
                                   .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_process_start(struct ttrec_writer *w, int32_t pid, int32_t parent_pid, uint32_t uid,
                              const char *name, const char *label, uint64_t start_mono_ns,
                              uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_PROCESS_START, .pid = pid, .parent_pid = parent_pid, .uid = uid};
    ev.time_ns = writer_rel_time(w, start_mono_ns ? start_mono_ns : mono_ns);
    snprintf(ev.name, sizeof(ev.name), "%s", name ? name : "");
    snprintf(ev.label, sizeof(ev.label), "%s", label ? label : "");
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_process_exit(struct ttrec_writer *w, int32_t pid, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_PROCESS_EXIT, .pid = pid, .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_device(struct ttrec_writer *w, uint32_t device,
                       const struct ttalloc_device_desc *desc, uint64_t mono_ns)
{
    if (!w || !desc)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_DEVICE, .device = device, .time_ns = writer_rel_time(w, mono_ns)};
    ev.desc = *desc;
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_gap(struct ttrec_writer *w, uint64_t lost, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {
        .kind = TTALLOC_REC_GAP, .count = lost, .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_shm_sample(struct ttrec_writer *w, int32_t pid, uint32_t device,
                           const uint64_t bytes[TTALLOC_NUM_TYPES], uint64_t mono_ns)
{
    if (!w || !bytes)
        return -EINVAL;
    struct ttalloc_rec_event ev = {.kind = TTALLOC_REC_SHM_SAMPLE,
                                   .pid = pid,
                                   .device = device,
                                   .time_ns = writer_rel_time(w, mono_ns)};
    memcpy(ev.bytes, bytes, sizeof(ev.bytes));
    return ttrec_writer_write(w, &ev);
}

int ttrec_write_telemetry(struct ttrec_writer *w, uint32_t device, double temperature_c,
                          double power_w, uint64_t mono_ns)
{
    if (!w)
        return -EINVAL;
    struct ttalloc_rec_event ev = {.kind = TTALLOC_REC_TELEMETRY,
                                   .device = device,
                                   .temperature_c = temperature_c,
                                   .power_w = power_w,
                                   .time_ns = writer_rel_time(w, mono_ns)};
    return ttrec_writer_write(w, &ev);
}

/* ---- reader ---- */

enum reader_state { READER_OK, READER_END, READER_FAILED };

struct ttalloc_rec {
    int fd; /* -1 when reading memory */
    const unsigned char *mem;
    size_t mem_len;
    uint64_t offset; /* bytes of the file consumed */
    struct ttalloc_rec_info info;
    enum reader_state state;
    int error; /* the negative errno ttalloc_rec_next repeats */
    int truncated;
    char message[256];
    ZSTD_DCtx *dctx;
    unsigned char *packed;
    size_t packed_cap;
    unsigned char *raw;
    size_t raw_cap;
    size_t raw_len;
    size_t raw_pos;
    uint32_t frame_records; /* declared by the frame header */
    uint32_t frame_read;    /* records decoded so far */
    uint64_t frame_offset;  /* where the current frame starts in the file */
    struct delta_context delta;
};

static _Thread_local char open_error[256];

static void reader_fail(struct ttalloc_rec *r, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reader_fail(struct ttalloc_rec *r, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    r->state = READER_FAILED;
    r->error = error;
}

/* Read up to len bytes at the current offset; returns how many (fewer only at
 * the end of the file), or a negative errno. */
static ssize_t reader_read(struct ttalloc_rec *r, void *buf, size_t len)
{
    if (r->fd < 0) {
        size_t avail = r->offset < r->mem_len ? r->mem_len - (size_t)r->offset : 0;
        size_t n = len < avail ? len : avail;
        memcpy(buf, r->mem + r->offset, n);
        return (ssize_t)n;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(r->fd, (unsigned char *)buf + got, len - got, (off_t)(r->offset + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int reader_read_header(struct ttalloc_rec *r)
{
    unsigned char hdr[TTREC_HEADER_LEN];
    ssize_t n = reader_read(r, hdr, sizeof(hdr));
    if (n < 0) {
        snprintf(r->message, sizeof(r->message), "cannot read: %s", strerror((int)-n));
        return (int)n;
    }
    if (n < TTREC_MAGIC_LEN || memcmp(hdr, TTREC_MAGIC, TTREC_MAGIC_LEN) != 0) {
        snprintf(r->message, sizeof(r->message), "not a tt-alloc recording (no .ttrec magic)");
        return -EBADMSG;
    }
    if (n < 12) {
        snprintf(r->message, sizeof(r->message), "recording header cut short (%zd bytes)", n);
        return -EBADMSG;
    }
    uint16_t version = get_u16(hdr + 8);
    uint16_t header_len = get_u16(hdr + 10);
    if (version != TTALLOC_REC_VERSION) {
        snprintf(r->message, sizeof(r->message),
                 "recording format version %u; this reader reads version %u", version,
                 TTALLOC_REC_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (header_len != TTREC_HEADER_LEN) {
        snprintf(r->message, sizeof(r->message), "recording header length %u, expected %u",
                 header_len, TTREC_HEADER_LEN);
        return -EBADMSG;
    }
    if (n < TTREC_HEADER_LEN) {
        snprintf(r->message, sizeof(r->message), "recording header cut short (%zd bytes)", n);
        return -EBADMSG;
    }
    r->info.version = version;
    r->info.start_realtime_ns = get_u64(hdr + 16);
    r->info.start_monotonic_ns = get_u64(hdr + 24);
    memcpy(r->info.host, hdr + 32, TTALLOC_REC_HOST_MAX - 1);
    r->info.host[TTALLOC_REC_HOST_MAX - 1] = '\0';
    r->offset = TTREC_HEADER_LEN;
    return 0;
}

static int reader_open(struct ttalloc_rec *r, ttalloc_rec **out)
{
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) {
        snprintf(open_error, sizeof(open_error), "out of memory");
        ttalloc_rec_close(r);
        return -ENOMEM;
    }
    int rc = reader_read_header(r);
    if (rc < 0) {
        snprintf(open_error, sizeof(open_error), "%s", r->message);
        ttalloc_rec_close(r);
        return rc;
    }
    r->message[0] = '\0';
    *out = r;
    return 0;
}

int ttalloc_rec_open(const char *path, ttalloc_rec **out)
{
    if (!path || !out) {
        snprintf(open_error, sizeof(open_error), "invalid argument");
        return -EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        snprintf(open_error, sizeof(open_error), "%s: %s", path, strerror(err));
        return -err;
    }
    struct ttalloc_rec *r = calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        snprintf(open_error, sizeof(open_error), "out of memory");
        return -ENOMEM;
    }
    r->fd = fd;
    return reader_open(r, out);
}

int ttalloc_rec_open_memory(const void *data, size_t len, ttalloc_rec **out)
{
    if ((!data && len) || !out) {
        snprintf(open_error, sizeof(open_error), "invalid argument");
        return -EINVAL;
    }
    struct ttalloc_rec *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(open_error, sizeof(open_error), "out of memory");
        return -ENOMEM;
    }
    r->fd = -1;
    r->mem = data;
    r->mem_len = len;
    return reader_open(r, out);
}

void ttalloc_rec_close(ttalloc_rec *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    free(r->packed);
    free(r->raw);
    free(r);
}

const struct ttalloc_rec_info *ttalloc_rec_info(const ttalloc_rec *r)
{
    return r ? &r->info : NULL;
}

int ttalloc_rec_truncated(const ttalloc_rec *r)
{
    return r ? r->truncated : 0;
}

uint64_t ttalloc_rec_offset(const ttalloc_rec *r)
{
    return r ? r->offset : 0;
}

const char *ttalloc_rec_error_message(const ttalloc_rec *r)
{
    return r ? r->message : open_error;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    unsigned char *p = realloc(*buf, need);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = need;
    return 0;
}

/* Load and decompress the next frame. 1: a frame is ready; 0: the end. */
static int reader_next_frame(struct ttalloc_rec *r)
{
    unsigned char fh[TTREC_FRAME_HEADER_LEN];
    ssize_t n = reader_read(r, fh, sizeof(fh));
    if (n < 0) {
        reader_fail(r, (int)n, "read error at offset %llu: %s", (unsigned long long)r->offset,
                    strerror((int)-n));
        return (int)n;
    }
    if (n == 0) {
        r->state = READER_END;
        return 0;
    }
    if ((size_t)n < sizeof(fh) && get_u32(fh) != TTREC_FRAME_MAGIC && n >= 4) {
        reader_fail(r, -EBADMSG, "no frame at offset %llu (bad frame magic)",
                    (unsigned long long)r->offset);
        return -EBADMSG;
    }
    if ((size_t)n < sizeof(fh)) {
        r->truncated = 1;
        r->state = READER_END;
        snprintf(r->message, sizeof(r->message),
                 "file cut short at offset %llu (a frame header of %zd of %u bytes)",
                 (unsigned long long)r->offset, n, TTREC_FRAME_HEADER_LEN);
        return 0;
    }
    uint32_t magic = get_u32(fh), clen = get_u32(fh + 4), rlen = get_u32(fh + 8),
             records = get_u32(fh + 12);
    unsigned long long at = (unsigned long long)r->offset;
    if (magic != TTREC_FRAME_MAGIC) {
        reader_fail(r, -EBADMSG, "no frame at offset %llu (bad frame magic)", at);
        return -EBADMSG;
    }
    if (rlen == 0 || rlen > TTREC_MAX_FRAME_BYTES || records == 0 || records > rlen) {
        reader_fail(r, -EBADMSG, "frame at offset %llu: implausible sizes (raw %u, records %u)", at,
                    rlen, records);
        return -EBADMSG;
    }
    if (clen == 0 || clen > ZSTD_compressBound(TTREC_MAX_FRAME_BYTES)) {
        reader_fail(r, -EBADMSG, "frame at offset %llu: implausible compressed length %u", at,
                    clen);
        return -EBADMSG;
    }
    if (grow(&r->packed, &r->packed_cap, clen) < 0 || grow(&r->raw, &r->raw_cap, rlen) < 0) {
        reader_fail(r, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    r->offset += sizeof(fh);
    n = reader_read(r, r->packed, clen);
    if (n < 0) {
        reader_fail(r, (int)n, "read error at offset %llu: %s", (unsigned long long)r->offset,
                    strerror((int)-n));
        return (int)n;
    }
    if ((size_t)n < clen) {
        r->offset -= sizeof(fh);
        r->truncated = 1;
        r->state = READER_END;
        snprintf(r->message, sizeof(r->message),
                 "file cut short at offset %llu (a frame of %u bytes, %zd present)", at,
                 clen + TTREC_FRAME_HEADER_LEN, n + (ssize_t)sizeof(fh));
        return 0;
    }
    size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, rlen, r->packed, clen);
    if (ZSTD_isError(got) || got != rlen) {
        r->offset -= sizeof(fh);
        reader_fail(r, -EBADMSG, "frame at offset %llu does not decompress: %s", at,
                    ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong length");
        return -EBADMSG;
    }
    r->offset += clen;
    r->frame_offset = at;
    r->raw_len = rlen;
    r->raw_pos = 0;
    r->frame_records = records;
    r->frame_read = 0;
    delta_reset(&r->delta);
    return 1;
}

/* A cursor over one frame's raw bytes; `bad` is set by any overrun. */
struct cursor {
    const unsigned char *p;
    const unsigned char *end;
    int bad;
};

static uint64_t cursor_varint(struct cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        unsigned char b = *c->p++;
        if (shift == 63 && (b & 0xfe)) {
            c->bad = 1;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static unsigned char cursor_byte(struct cursor *c)
{
    if (c->p >= c->end) {
        c->bad = 1;
        return 0;
    }
    return *c->p++;
}

static void cursor_string(struct cursor *c, char *out, size_t cap)
{
    uint64_t n = cursor_varint(c);
    if (c->bad || n >= cap || n > (uint64_t)(c->end - c->p)) {
        c->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, c->p, (size_t)n);
    out[n] = '\0';
    c->p += n;
}

static int64_t wrapping_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t cursor_pid(struct cursor *c, struct delta_context *d)
{
    int64_t pid = wrapping_add(d->pid, zigzag_decode(cursor_varint(c)));
    if (pid < INT32_MIN || pid > INT32_MAX)
        c->bad = 1;
    return pid;
}

static uint32_t cursor_u32(struct cursor *c)
{
    uint64_t v = cursor_varint(c);
    if (v > UINT32_MAX)
        c->bad = 1;
    return (uint32_t)v;
}

int ttalloc_rec_next(ttalloc_rec *r, struct ttalloc_rec_event *ev)
{
    if (!r || !ev)
        return -EINVAL;
    if (r->state == READER_END)
        return 0;
    if (r->state == READER_FAILED)
        return r->error;
    while (r->frame_read == r->frame_records) {
        if (r->raw_pos != r->raw_len) {
            reader_fail(r, -EBADMSG, "frame at offset %llu: %zu bytes after its last record",
                        (unsigned long long)r->frame_offset, r->raw_len - r->raw_pos);
            return -EBADMSG;
        }
        int rc = reader_next_frame(r);
        if (rc <= 0)
            return rc;
    }

    struct cursor c = {r->raw + r->raw_pos, r->raw + r->raw_len, 0};
    struct delta_context *d = &r->delta;
    unsigned char head = cursor_byte(&c);
    uint32_t kind = head & HEAD_KIND_MASK;
    if (c.bad || kind < TTALLOC_REC_ALLOC || kind > TTALLOC_REC_KIND_MAX ||
        (!kind_has_buffer(kind) && (head & ~HEAD_KIND_MASK))) {
        reader_fail(r, -EBADMSG, "frame at offset %llu, record %u: unknown record head 0x%02x",
                    (unsigned long long)r->frame_offset, r->frame_read, head);
        return -EBADMSG;
    }
    ev->kind = kind;
    ev->time_ns = wrapping_add(d->time_ns, zigzag_decode(cursor_varint(&c)));
    d->time_ns = ev->time_ns;

    switch (kind) {
    case TTALLOC_REC_ALLOC:
    case TTALLOC_REC_FREE:
    case TTALLOC_REC_LIVE_BUFFER:
        ev->type = (head >> HEAD_TYPE_SHIFT) & HEAD_TYPE_MASK;
        if (ev->type >= TTALLOC_NUM_TYPES) {
            c.bad = 1;
            break;
        }
        if (head & HEAD_SAME_OWNER) {
            if (!d->owner_valid)
                c.bad = 1;
        } else {
            d->pid = cursor_pid(&c, d);
            d->device = cursor_u32(&c);
            d->owner_valid = 1;
        }
        ev->pid = (int32_t)d->pid;
        ev->device = d->device;
        ev->address = d->address[ev->type] + (uint64_t)zigzag_decode(cursor_varint(&c));
        d->address[ev->type] = ev->address;
        ev->size = cursor_varint(&c);
        break;
    case TTALLOC_REC_PEAK_RESET:
    case TTALLOC_REC_PROCESS_EXIT:
        d->pid = cursor_pid(&c, d);
        d->owner_valid = 0;
        ev->pid = (int32_t)d->pid;
        break;
    case TTALLOC_REC_LIVE_BEGIN:
    case TTALLOC_REC_GAP:
        ev->count = cursor_varint(&c);
        break;
    case TTALLOC_REC_LIVE_END:
        break;
    case TTALLOC_REC_PROCESS_START: {
        d->pid = cursor_pid(&c, d);
        d->owner_valid = 0;
        ev->pid = (int32_t)d->pid;
        int64_t parent = zigzag_decode(cursor_varint(&c));
        if (parent < INT32_MIN || parent > INT32_MAX)
            c.bad = 1;
        ev->parent_pid = (int32_t)parent;
        ev->uid = cursor_u32(&c);
        cursor_string(&c, ev->name, sizeof(ev->name));
        cursor_string(&c, ev->label, sizeof(ev->label));
        break;
    }
    case TTALLOC_REC_DEVICE:
        ev->device = cursor_u32(&c);
        memset(&ev->desc, 0, sizeof(ev->desc));
        ev->desc.board_serial = cursor_varint(&c);
        ev->desc.asic_id = cursor_varint(&c);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            ev->desc.capacity[t] = cursor_varint(&c);
        ev->desc.is_remote = cursor_u32(&c);
        cursor_string(&c, ev->desc.board_type, sizeof(ev->desc.board_type));
        break;
    case TTALLOC_REC_SHM_SAMPLE:
        d->pid = cursor_pid(&c, d);
        d->owner_valid = 0;
        ev->pid = (int32_t)d->pid;
        ev->device = cursor_u32(&c);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            ev->bytes[t] = cursor_varint(&c);
        break;
    case TTALLOC_REC_TELEMETRY: {
        ev->device = cursor_u32(&c);
        unsigned char flags = cursor_byte(&c);
        if (flags & ~(TELEMETRY_HAS_TEMPERATURE | TELEMETRY_HAS_POWER))
            c.bad = 1;
        ev->temperature_c = NAN;
        ev->power_w = NAN;
        if (flags & TELEMETRY_HAS_TEMPERATURE)
            ev->temperature_c = (double)zigzag_decode(cursor_varint(&c)) / 1000.0;
        if (flags & TELEMETRY_HAS_POWER)
            ev->power_w = (double)zigzag_decode(cursor_varint(&c)) / 1000.0;
        break;
    }
    }
    if (c.bad) {
        reader_fail(r, -EBADMSG, "frame at offset %llu, record %u (%s): malformed",
                    (unsigned long long)r->frame_offset, r->frame_read,
                    ttalloc_rec_kind_name(kind));
        return -EBADMSG;
    }
    r->raw_pos = (size_t)(c.p - r->raw);
    r->frame_read++;
    return 1;
}

const char *ttalloc_rec_kind_name(uint32_t kind)
{
    static const char *const names[] = {
        NULL,          "alloc",      "free",          "peak_reset",   "live_begin",
        "live_buffer", "live_end",   "process_start", "process_exit", "device",
        "gap",         "shm_sample", "telemetry",
    };
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : NULL;
}
