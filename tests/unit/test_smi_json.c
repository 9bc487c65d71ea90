/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_smi_json.c - tt-smi --json (src/smi/smi_json.c): the whole text for a
 * small fixed model; every output parsed by a strict JSON reader (below) and
 * its fields checked: null wherever a figure is unknown, never 0; exact
 * decimals of telemetry; UINT64_MAX and INT64 extremes; no devices at all;
 * -i selection of devices, processes and stale entries; which memory and
 * peaks are known with and without a server; and names with quotes,
 * backslashes, control characters and invalid UTF-8 escaped so that the
 * reader gets them back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smi_fixture.h"
#include "smi_json.h"

#define T_2026 1795435200 /* 2026-11-23T12:00:00Z */

/* ---- a strict JSON reader (RFC 8259) -------------------------------------- */
/* Written here rather than taken from a library: jansson reads numbers into
 * long long and cJSON into double, neither holds UINT64_MAX exactly, and the
 * exact figures are what is tested. This reader keeps each number's text. */

enum jkind { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jkind kind;
    char *text; /* J_NUM: as written; J_STR: decoded (may hold NUL) */
    size_t len;
    struct jv *items; /* J_ARR, J_OBJ */
    char **keys;      /* J_OBJ, decoded */
    size_t n;
};

struct jreader {
    const char *s;
    int depth;
};

static void jfree(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    memset(v, 0, sizeof(*v));
}

static void jws(struct jreader *r)
{
    while (*r->s == ' ' || *r->s == '\t' || *r->s == '\n' || *r->s == '\r')
        r->s++;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if none. */
static size_t jutf8(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static int jhex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void jput_utf8(char *out, size_t *len, unsigned cp)
{
    if (cp < 0x80) {
        out[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*len)++] = (char)(0xC0 | cp >> 6);
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*len)++] = (char)(0xE0 | cp >> 12);
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*len)++] = (char)(0xF0 | cp >> 18);
        out[(*len)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* A string at r->s (on its opening quote): decoded into *out. */
static int jstring(struct jreader *r, char **out, size_t *out_len)
{
    const char *s = r->s + 1;
    size_t cap = strlen(s) + 1, len = 0; /* decoding never grows the text */
    char *buf = malloc(cap);
    if (buf == NULL)
        return -1;
    for (;;) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') {
            s++;
            break;
        }
        if (c < 0x20) { /* includes the end of the text */
            free(buf);
            return -1;
        }
        if (c == '\\') {
            char e = s[1];
            const char *simple = "\"\\/bfnrt", *value = "\"\\/\b\f\n\r\t";
            const char *hit = e ? strchr(simple, e) : NULL;
            if (hit != NULL) {
                buf[len++] = value[hit - simple];
                s += 2;
                continue;
            }
            unsigned cp, lo;
            if (e != 'u' || jhex4(s + 2, &cp) < 0) {
                free(buf);
                return -1;
            }
            s += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) { /* a lone low surrogate */
                free(buf);
                return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s[0] != '\\' || s[1] != 'u' || jhex4(s + 2, &lo) < 0 || lo < 0xDC00 ||
                    lo > 0xDFFF) {
                    free(buf);
                    return -1;
                }
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            jput_utf8(buf, &len, cp);
            continue;
        }
        size_t n = jutf8((const unsigned char *)s);
        if (n == 0) {
            free(buf);
            return -1;
        }
        memcpy(buf + len, s, n);
        len += n;
        s += n;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    r->s = s;
    return 0;
}

static int jnumber(struct jreader *r, struct jv *v)
{
    const char *s = r->s, *start = s;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return -1;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    v->kind = J_NUM;
    v->len = (size_t)(s - start);
    v->text = strndup(start, v->len);
    r->s = s;
    return v->text ? 0 : -1;
}

static int jvalue(struct jreader *r, struct jv *v);

static int jpush(struct jv *v, struct jv *item, char *key)
{
    struct jv *items = realloc(v->items, (v->n + 1) * sizeof(*items));
    if (items == NULL)
        return -1;
    v->items = items;
    if (v->kind == J_OBJ) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
        if (keys == NULL)
            return -1;
        v->keys = keys;
        v->keys[v->n] = key;
    }
    v->items[v->n++] = *item;
    return 0;
}

static int jcontainer(struct jreader *r, struct jv *v, char open)
{
    char close = open == '[' ? ']' : '}';
    v->kind = open == '[' ? J_ARR : J_OBJ;
    if (++r->depth > 64)
        return -1;
    r->s++;
    jws(r);
    if (*r->s == close) {
        r->s++;
        r->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len;
        if (v->kind == J_OBJ) {
            if (*r->s != '"' || jstring(r, &key, &key_len) < 0)
                return -1;
            for (size_t i = 0; i < v->n; i++) {
                if (strcmp(v->keys[i], key) == 0) { /* duplicate key */
                    free(key);
                    return -1;
                }
            }
            jws(r);
            if (*r->s != ':') {
                free(key);
                return -1;
            }
            r->s++;
        }
        struct jv item = {0};
        if (jvalue(r, &item) < 0 || jpush(v, &item, key) < 0) {
            jfree(&item);
            free(key);
            return -1;
        }
        jws(r);
        if (*r->s == ',') {
            r->s++;
            jws(r);
            continue;
        }
        if (*r->s != close)
            return -1;
        r->s++;
        r->depth--;
        return 0;
    }
}

static int jvalue(struct jreader *r, struct jv *v)
{
    jws(r);
    switch (*r->s) {
    case '{':
    case '[':
        return jcontainer(r, v, *r->s);
    case '"':
        v->kind = J_STR;
        return jstring(r, &v->text, &v->len);
    case 'n':
    case 't':
    case 'f': {
        static const struct {
            const char *word;
            enum jkind kind;
        } words[] = {{"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(words[i].word);
            if (strncmp(r->s, words[i].word, n) == 0) {
                v->kind = words[i].kind;
                r->s += n;
                return 0;
            }
        }
        return -1;
    }
    default:
        return jnumber(r, v);
    }
}

/* Parse all of `text` (one value, then only white space). 0 or -1. */
static int jparse(const char *text, struct jv *out)
{
    struct jreader r = {text, 0};
    memset(out, 0, sizeof(*out));
    if (jvalue(&r, out) < 0) {
        jfree(out);
        return -1;
    }
    jws(&r);
    if (*r.s != '\0') {
        jfree(out);
        return -1;
    }
    return 0;
}

/* ---- looking into a parsed value ----------------------------------------- */

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (o->kind != J_OBJ)
        fail_msg("looking up \"%s\" in a value that is not an object", key);
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    }
    fail_msg("no key \"%s\"", key);
    return NULL;
}

static const struct jv *jat(const struct jv *a, size_t i)
{
    assert_int_equal(a->kind, J_ARR);
    assert_true(i < a->n);
    return &a->items[i];
}

/* The object's keys, in order, are exactly `want` (comma-separated). */
static void jkeys(const struct jv *o, const char *want)
{
    char got[1024] = "";
    assert_int_equal(o->kind, J_OBJ);
    for (size_t i = 0; i < o->n; i++) {
        if (i)
            strcat(got, ",");
        strcat(got, o->keys[i]);
    }
    assert_string_equal(got, want);
}

static void jnull(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_NULL)
        fail_msg("\"%s\" is not null (kind %d, \"%s\")", key, v->kind, v->text ? v->text : "");
}

static void jnum(const struct jv *o, const char *key, const char *want)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_NUM)
        fail_msg("\"%s\" is not a number (kind %d)", key, v->kind);
    assert_string_equal(v->text, want);
}

static void jstr(const struct jv *o, const char *key, const char *want)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_STR)
        fail_msg("\"%s\" is not a string (kind %d)", key, v->kind);
    assert_int_equal(v->len, strlen(want));
    assert_string_equal(v->text, want);
}

static void jbool(const struct jv *o, const char *key, int want)
{
    assert_int_equal(jget(o, key)->kind, want ? J_TRUE : J_FALSE);
}

static void jarr_len(const struct jv *o, const char *key, size_t want)
{
    const struct jv *v = jget(o, key);
    assert_int_equal(v->kind, J_ARR);
    assert_int_equal(v->n, want);
}

/* Render m and parse it; the text is also returned (caller frees). */
static char *render_parse(const struct smi_model *m, struct jv *root)
{
    struct strbuf b;
    strbuf_init(&b);
    smi_json_render(m, &b);
    assert_false(b.failed);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len); /* no NUL inside */
    assert_int_equal(b.data[b.len - 1], '\n');
    if (jparse(b.data, root) < 0)
        fail_msg("not valid JSON:\n%s", b.data);
    return b.data;
}

static const char *const device_keys =
    "index,arch,board_type,bus_id,serial,asic_id,firmware,temperature_c,power_w,power_limit_w,"
    "voltage_v,current_a,aiclk_mhz,fan_rpm,shm_match,memory";
static const char *const process_keys = "pid,name,label,user,cmdline,devices,tracked,memory";
static const char *const usage_keys =
    "device,dram_bytes,l1_bytes,l1_small_bytes,trace_bytes,cb_bytes,dram_peak_bytes,"
    "l1_peak_bytes,l1_small_peak_bytes,trace_peak_bytes,cb_peak_bytes";
static const char *const mem_types[] = {"dram", "l1", "l1_small", "trace", "cb"};

/* ---- the reader itself ---------------------------------------------------- */

/* The reader refuses what is not JSON, so a pass below means something. */
static void test_reader_is_strict(void **state)
{
    (void)state;
    struct jv v;
    const char *bad[] = {
        "",
        "{",
        "[1,]",
        "{\"a\": 1,}",
        "{\"a\" 1}",
        "{a: 1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[+1]",
        "[nul]",
        "[True]",
        "\"a\nb\"",
        "\"\x01\"",
        "\"\\x41\"",
        "\"\\u00G1\"",
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"abc",
        "{\"a\": 1, \"a\": 2}",
        "[1] [2]",
        "[1] x",
        "{\"a\": [1, 2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (jparse(bad[i], &v) == 0)
            fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
    }
    assert_int_equal(
        jparse(" {\"a\": [1, -0.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
               " \"b\": {}} \n",
               &v),
        0);
    const struct jv *a = jget(&v, "a");
    assert_int_equal(a->n, 6);
    assert_string_equal(jat(a, 1)->text, "-0.5e+3");
    assert_int_equal(jat(a, 4)->kind, J_NULL);
    assert_string_equal(jat(a, 5)->text, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    jkeys(jget(&v, "b"), "");
    jfree(&v);
}

/* ---- models --------------------------------------------------------------- */

/* The shared n150 with the telemetry this test's exact texts expect. */
static void device_n150(struct smi_device *d, int index)
{
    smi_fixture_n150(d, index);
    d->sys.temp_mc = 45250;
    d->sys.temp_max_mc = SYSFS_UNKNOWN;
    d->sys.power_uw = 20500000;
}

/* ---- the whole text for one small model ----------------------------------- */

static void test_exact_text(void **state)
{
    (void)state;
    struct smi_device dev;
    device_n150(&dev, 0);
    dev.used_known = 1;
    dev.peak_known = 1;
    dev.shm_match = "asic_id";
    dev.used[TTALLOC_DRAM] = 1048576;
    dev.peak[TTALLOC_DRAM] = 3145728;
    dev.used[TTALLOC_CB] = 4096;
    dev.peak[TTALLOC_CB] = 8192;
    dev.used[TTALLOC_SYSTEM_MEMORY] = 999; /* host memory: never shown */
    int devices[] = {0};
    struct smi_usage use = {.device = 0, .peak_known = 1};
    use.bytes[TTALLOC_DRAM] = 1048576;
    use.peak[TTALLOC_DRAM] = 3145728;
    use.bytes[TTALLOC_CB] = 4096;
    use.peak[TTALLOC_CB] = 8192;
    char cmdline[] = "python3 run.py --model llama";
    struct smi_process proc = {.pid = 4242,
                               .name = "python3",
                               .label = "llama-70b",
                               .user = "alice",
                               .cmdline = cmdline,
                               .tracked = 1,
                               .devices = devices,
                               .n_devices = 1,
                               .usage = &use,
                               .n_usage = 1};
    struct smi_stale stale = {.pid = 4243, .device = 0, .name = "python3"};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    strcpy(m.driver_version, "2.5.0");
    strcpy(m.hostname, "testhost");
    m.time = T_2026;
    m.server = 1;
    strcpy(m.socket, "/run/tt-alloc.sock");
    m.used_pids_files = 1;
    m.devices = &dev;
    m.n_devices = 1;
    m.processes = &proc;
    m.n_processes = 1;
    m.stale = &stale;
    m.n_stale = 1;
    m.exits_known = 1;
    struct strbuf b;
    strbuf_init(&b);
    smi_json_render(&m, &b);
    const char *want =
        "{\"schema_version\": 1, \"timestamp\": \"2026-11-23T12:00:00Z\", \"hostname\": "
        "\"testhost\", \"driver_version\": \"2.5.0\",\n"
        "  \"tracking\": {\"server\": true, \"socket\": \"/run/tt-alloc.sock\", \"sources\": "
        "[\"server\", \"pids\"]},\n"
        "  \"devices\": [\n"
        "    {\"index\": 0, \"arch\": \"wormhole\", \"board_type\": \"n150\", \"bus_id\": "
        "\"0000:01:00.0\", \"serial\": \"10000180401E0000\", \"asic_id\": null, \"firmware\": "
        "\"18.3.0.0\", \"temperature_c\": 45.25, \"power_w\": 20.5, \"power_limit_w\": 160.0, "
        "\"voltage_v\": 0.8, \"current_a\": 25.0, \"aiclk_mhz\": 1000, \"fan_rpm\": null, "
        "\"shm_match\": \"asic_id\",\n"
        "      \"memory\": {\"dram\": {\"used_bytes\": 1048576, \"total_bytes\": 12884901888, "
        "\"peak_bytes\": 3145728}, \"l1\": {\"used_bytes\": 0, \"total_bytes\": 107937792, "
        "\"peak_bytes\": 0}, \"l1_small\": {\"used_bytes\": 0, \"total_bytes\": null, "
        "\"peak_bytes\": 0}, \"trace\": {\"used_bytes\": 0, \"total_bytes\": null, "
        "\"peak_bytes\": 0}, \"cb\": {\"used_bytes\": 4096, \"total_bytes\": null, "
        "\"peak_bytes\": 8192}}}],\n"
        "  \"processes\": [\n"
        "    {\"pid\": 4242, \"name\": \"python3\", \"label\": \"llama-70b\", \"user\": "
        "\"alice\", \"cmdline\": \"python3 run.py --model llama\", \"devices\": [0], "
        "\"tracked\": true, \"memory\": [{\"device\": 0, \"dram_bytes\": 1048576, \"l1_bytes\": "
        "0, \"l1_small_bytes\": 0, \"trace_bytes\": 0, \"cb_bytes\": 4096, \"dram_peak_bytes\": "
        "3145728, \"l1_peak_bytes\": 0, \"l1_small_peak_bytes\": 0, \"trace_peak_bytes\": 0, "
        "\"cb_peak_bytes\": 8192}]}],\n"
        "  \"stale\": [\n"
        "    {\"pid\": 4243, \"name\": \"python3\", \"device\": 0}],\n"
        "  \"exits\": []}\n";
    assert_string_equal(b.data, want);
    strbuf_release(&b);
}

/* ---- nothing known -------------------------------------------------------- */

static void test_zero_devices(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = 0;
    struct jv root;
    char *text = render_parse(&m, &root);
    assert_string_equal(text, "{\"schema_version\": 1, \"timestamp\": \"1970-01-01T00:00:00Z\", "
                              "\"hostname\": \"\", \"driver_version\": null,\n"
                              "  \"tracking\": {\"server\": false, \"socket\": null, "
                              "\"sources\": []},\n"
                              "  \"devices\": [],\n"
                              "  \"processes\": [],\n"
                              "  \"stale\": [],\n"
                              "  \"exits\": null}\n");
    jkeys(
        &root,
        "schema_version,timestamp,hostname,driver_version,tracking,devices,processes,stale,exits");
    jnum(&root, "schema_version", "1");
    jnull(&root, "driver_version");
    jnull(&root, "exits"); /* no server: the history is unknown, not empty */
    const struct jv *tr = jget(&root, "tracking");
    jkeys(tr, "server,socket,sources");
    jbool(tr, "server", 0);
    jnull(tr, "socket");
    jarr_len(tr, "sources", 0);
    jarr_len(&root, "devices", 0);
    jarr_len(&root, "processes", 0);
    jarr_len(&root, "stale", 0);
    jfree(&root);
    free(text);
}

static void test_unknown_is_null(void **state)
{
    (void)state;
    struct smi_device devs[2];
    smi_fixture_unknown(&devs[0], 0);
    smi_fixture_unknown(&devs[1], 7);
    devs[1].used_known = 1; /* used known, totals and peaks not */
    devs[1].used[TTALLOC_L1] = 0;
    devs[1].used[TTALLOC_DRAM] = 123;
    devs[1].peak_known = 1; /* without used_known peaks stay unknown; here with */
    devs[0].peak_known = 1; /* ... and here without */
    devs[0].peak[TTALLOC_DRAM] = 55;
    int held[] = {0, 7};
    char empty[] = "";
    /* a holder the server does not know: nothing known about its memory */
    struct smi_process holder = {.pid = 100,
                                 .name = "holder",
                                 .user = "bob",
                                 .cmdline = empty,
                                 .devices = held,
                                 .n_devices = 2};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = T_2026;
    m.devices = devs;
    m.n_devices = 2;
    m.processes = &holder;
    m.n_processes = 1;
    m.used_fd_scan = 1;
    strcpy(m.socket, "/nonexistent.sock"); /* tried, not answered */
    struct jv root;
    char *text = render_parse(&m, &root);
    const struct jv *tr = jget(&root, "tracking");
    jstr(tr, "socket", "/nonexistent.sock");
    assert_int_equal(jget(tr, "sources")->n, 1);
    assert_string_equal(jat(jget(tr, "sources"), 0)->text, "fdscan");
    const struct jv *ds = jget(&root, "devices");
    assert_int_equal(ds->n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct jv *d = jat(ds, i);
        jkeys(d, device_keys);
        const char *nulls[] = {"arch",          "board_type", "bus_id",        "serial",
                               "asic_id",       "firmware",   "temperature_c", "power_w",
                               "power_limit_w", "voltage_v",  "current_a",     "aiclk_mhz",
                               "fan_rpm",       "shm_match"};
        for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); k++)
            jnull(d, nulls[k]);
        const struct jv *mem = jget(d, "memory");
        jkeys(mem, "dram,l1,l1_small,trace,cb");
        for (size_t k = 0; k < 5; k++) {
            const struct jv *t = jget(mem, mem_types[k]);
            jkeys(t, "used_bytes,total_bytes,peak_bytes");
            jnull(t, "total_bytes");
            if (i == 0) {
                jnull(t, "used_bytes"); /* not a made-up 0 */
                jnull(t, "peak_bytes");
            } else {
                jnum(t, "used_bytes", k == 0 ? "123" : "0");
                jnum(t, "peak_bytes", "0");
            }
        }
    }
    jnum(jat(ds, 0), "index", "0");
    jnum(jat(ds, 1), "index", "7");
    const struct jv *p = jat(jget(&root, "processes"), 0);
    jkeys(p, process_keys);
    jnull(p, "label");
    jstr(p, "cmdline", "");
    jbool(p, "tracked", 0);
    const struct jv *pd = jget(p, "devices");
    assert_int_equal(pd->n, 2);
    assert_string_equal(jat(pd, 1)->text, "7");
    const struct jv *mem = jget(p, "memory");
    assert_int_equal(mem->n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct jv *u = jat(mem, i);
        jkeys(u, usage_keys);
        jnum(u, "device", i ? "7" : "0");
        for (size_t k = 1; k < u->n; k++) {
            if (u->items[k].kind != J_NULL)
                fail_msg("memory[%zu].%s is not null", i, u->keys[k]);
        }
    }
    jfree(&root);
    free(text);
}

/* ---- figures known, and how ----------------------------------------------- */

static void test_process_memory_known(void **state)
{
    (void)state;
    struct smi_device devs[2];
    device_n150(&devs[0], 0);
    device_n150(&devs[1], 1);
    int on0[] = {0}, on01[] = {0, 1};
    char cmd[] = "x";
    /* tracked by the server, no usage on its device: it holds 0 there, peak 0 */
    struct smi_process idle = {.pid = 10,
                               .name = "idle",
                               .user = "u",
                               .cmdline = cmd,
                               .tracked = 1,
                               .devices = on0,
                               .n_devices = 1};
    /* SHM-only with figures on device 0 (no peak), implausible ones on 1 */
    struct smi_usage shm_use[2] = {{.device = 0}, {.device = 1, .unknown = 1}};
    shm_use[0].bytes[TTALLOC_L1] = 2048;
    shm_use[1].bytes[TTALLOC_L1] = 77;
    struct smi_process shm = {.pid = 11,
                              .name = "shm",
                              .user = "u",
                              .cmdline = cmd,
                              .tracked = 1,
                              .shm_only = 1,
                              .devices = on01,
                              .n_devices = 2,
                              .usage = shm_use,
                              .n_usage = 2};
    struct smi_process procs[] = {idle, shm};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = T_2026;
    m.server = 1;
    m.shm = 1;
    m.used_pids_files = 1;
    m.used_fd_scan = 1;
    m.devices = devs;
    m.n_devices = 2;
    m.processes = procs;
    m.n_processes = 2;
    m.exits_known = 1;
    struct jv root;
    char *text = render_parse(&m, &root);
    const struct jv *src = jget(jget(&root, "tracking"), "sources");
    assert_int_equal(src->n, 4);
    const char *want_src[] = {"server", "shm", "pids", "fdscan"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(jat(src, i)->text, want_src[i]);
    jbool(jget(&root, "tracking"), "server", 1);
    jarr_len(&root, "exits", 0);
    const struct jv *ps = jget(&root, "processes");
    assert_int_equal(ps->n, 2);
    const struct jv *u = jat(jget(jat(ps, 0), "memory"), 0);
    for (size_t k = 1; k < u->n; k++)
        assert_string_equal(u->items[k].text, "0");
    const struct jv *mem = jget(jat(ps, 1), "memory");
    assert_int_equal(mem->n, 2);
    u = jat(mem, 0);
    jnum(u, "l1_bytes", "2048");
    jnum(u, "dram_bytes", "0");
    jnull(u, "l1_peak_bytes"); /* SHM has no peaks */
    jnull(u, "dram_peak_bytes");
    u = jat(mem, 1);
    jnum(u, "device", "1");
    jnull(u, "l1_bytes"); /* implausible: unknown, not 77 */
    jnull(u, "dram_bytes");
    jfree(&root);
    free(text);

    /* the same without a server: the idle process's 0 is no longer known */
    m.server = 0;
    m.exits_known = 0;
    text = render_parse(&m, &root);
    u = jat(jget(jat(jget(&root, "processes"), 0), "memory"), 0);
    for (size_t k = 1; k < u->n; k++)
        assert_int_equal(u->items[k].kind, J_NULL);
    u = jat(jget(jat(jget(&root, "processes"), 1), "memory"), 0);
    jnum(u, "l1_bytes", "2048");
    jnull(u, "l1_peak_bytes");
    jnull(&root, "exits");
    jnull(jget(&root, "tracking"), "socket");
    jfree(&root);
    free(text);
}

/* ---- extremes ------------------------------------------------------------- */

static void test_extremes(void **state)
{
    (void)state;
    struct smi_device d;
    smi_fixture_unknown(&d, 2147483647);
    d.used_known = 1;
    d.peak_known = 1;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
        d.used[t] = UINT64_MAX;
        d.total[t] = UINT64_MAX;
        d.peak[t] = UINT64_MAX;
    }
    d.sys.temp_mc = -1;                 /* below zero: exact, signed */
    d.sys.power_uw = INT64_MAX;         /* 19 digits */
    d.sys.power_max_uw = INT64_MIN + 1; /* the lowest that is not "unknown" */
    d.sys.vcore_mv = 0;
    d.sys.current_ma = 1;
    d.sys.aiclk_mhz = INT64_MAX;
    d.sys.fan_rpm = 0;
    int on[] = {2147483647};
    struct smi_usage use = {.device = 2147483647, .peak_known = 1};
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
        use.bytes[t] = UINT64_MAX;
        use.peak[t] = UINT64_MAX - 1;
    }
    char cmd[] = "";
    struct smi_process p = {.pid = 2147483647,
                            .name = "big",
                            .user = "root",
                            .cmdline = cmd,
                            .tracked = 1,
                            .devices = on,
                            .n_devices = 1,
                            .usage = &use,
                            .n_usage = 1};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = 253402300799; /* 9999-12-31T23:59:59Z */
    m.server = 1;
    m.devices = &d;
    m.n_devices = 1;
    m.processes = &p;
    m.n_processes = 1;
    struct jv root;
    char *text = render_parse(&m, &root);
    jstr(&root, "timestamp", "9999-12-31T23:59:59Z");
    const struct jv *dv = jat(jget(&root, "devices"), 0);
    jnum(dv, "index", "2147483647");
    jnum(dv, "temperature_c", "-0.001");
    jnum(dv, "power_w", "9223372036854.775807");
    jnum(dv, "power_limit_w", "-9223372036854.775807");
    jnum(dv, "voltage_v", "0.0");
    jnum(dv, "current_a", "0.001");
    jnum(dv, "aiclk_mhz", "9223372036854775807");
    jnum(dv, "fan_rpm", "0");
    for (size_t k = 0; k < 5; k++) {
        const struct jv *t = jget(jget(dv, "memory"), mem_types[k]);
        jnum(t, "used_bytes", "18446744073709551615");
        jnum(t, "total_bytes", "18446744073709551615");
        jnum(t, "peak_bytes", "18446744073709551615");
    }
    const struct jv *pv = jat(jget(&root, "processes"), 0);
    jnum(pv, "pid", "2147483647");
    const struct jv *u = jat(jget(pv, "memory"), 0);
    jnum(u, "device", "2147483647");
    jnum(u, "trace_bytes", "18446744073709551615");
    jnum(u, "cb_peak_bytes", "18446744073709551614");
    jfree(&root);
    free(text);
}

/* ---- -i selection --------------------------------------------------------- */

static void test_selection(void **state)
{
    (void)state;
    struct smi_device devs[3];
    device_n150(&devs[0], 0);
    device_n150(&devs[1], 1);
    device_n150(&devs[2], 5);
    devs[1].selected = 0; /* tt-smi -i 0,5 */
    int on1[] = {1}, on5[] = {5}, on15[] = {1, 5};
    char cmd[] = "";
    struct smi_process procs[3] = {
        {.pid = 20, .name = "only1", .user = "u", .cmdline = cmd, .devices = on1, .n_devices = 1},
        {.pid = 21, .name = "only5", .user = "u", .cmdline = cmd, .devices = on5, .n_devices = 1},
        {.pid = 22, .name = "both", .user = "u", .cmdline = cmd, .devices = on15, .n_devices = 1},
    };
    procs[2].n_devices = 2;
    struct smi_stale stale[4] = {
        {.pid = 30, .device = 0, .name = "s0"},
        {.pid = 31, .device = 1, .name = "s1"},
        {.pid = 32, .device = -1, .name = "remote"}, /* a chip without a node */
        {.pid = 33, .device = 5, .name = "s5"},
    };
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = T_2026;
    m.devices = devs;
    m.n_devices = 3;
    m.processes = procs;
    m.n_processes = 3;
    m.stale = stale;
    m.n_stale = 4;
    struct jv root;
    char *text = render_parse(&m, &root);
    const struct jv *ds = jget(&root, "devices");
    assert_int_equal(ds->n, 2);
    jnum(jat(ds, 0), "index", "0");
    jnum(jat(ds, 1), "index", "5");
    const struct jv *ps = jget(&root, "processes");
    assert_int_equal(ps->n, 2); /* "only1" uses no selected device */
    jnum(jat(ps, 0), "pid", "21");
    jnum(jat(ps, 1), "pid", "22");
    const struct jv *st = jget(&root, "stale");
    assert_int_equal(st->n, 3);
    jkeys(jat(st, 0), "pid,name,device");
    jnum(jat(st, 0), "pid", "30");
    jnum(jat(st, 0), "device", "0");
    jnum(jat(st, 1), "pid", "32");
    jnull(jat(st, 1), "device");
    jstr(jat(st, 1), "name", "remote");
    jnum(jat(st, 2), "pid", "33");
    jfree(&root);
    free(text);

    /* nothing selected: empty lists, still valid */
    for (int i = 0; i < 3; i++)
        devs[i].selected = 0;
    text = render_parse(&m, &root);
    jarr_len(&root, "devices", 0);
    jarr_len(&root, "processes", 0);
    jarr_len(&root, "stale", 1); /* only the chip without a node */
    jfree(&root);
    free(text);
}

/* ---- hostile text --------------------------------------------------------- */

static void test_hostile_strings(void **state)
{
    (void)state;
    struct smi_device d;
    device_n150(&d, 0);
    strcpy(d.sys.card_type, "n\"150\\");
    strcpy(d.sys.serial, "\t\x01\x1f\x7f");
    strcpy(d.sys.fw_bundle_ver, "\xff\xfe");
    int on[] = {0};
    /* a process may call itself anything: quotes, backslashes, a terminal
     * escape, DEL, a cut UTF-8 sequence, an overlong '/', a surrogate */
    char cmdline[4096];
    memset(cmdline, 'a', sizeof(cmdline) - 1);
    cmdline[sizeof(cmdline) - 1] = '\0';
    memcpy(cmdline, "\"\\\b\f\r\n", 6);
    struct smi_process p = {.pid = 1,
                            .name = "a\"b\\c\n",
                            .label = "\x1b[2J\x07 caf\xc3\xa9 \xf0\x9f\x98\x80",
                            .user = "\xc3",
                            .cmdline = cmdline,
                            .devices = on,
                            .n_devices = 1};
    struct smi_stale stale = {.pid = 2, .device = 0, .name = "\xc0\xaf\xed\xa0\x80"};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = T_2026;
    strcpy(m.hostname, "host\"name\\\x7f");
    strcpy(m.driver_version, "\n");
    strcpy(m.socket, "/tmp/\"s\\o\x01ck");
    m.devices = &d;
    m.n_devices = 1;
    m.processes = &p;
    m.n_processes = 1;
    m.stale = &stale;
    m.n_stale = 1;
    struct jv root;
    char *text = render_parse(&m, &root);
    /* no raw control byte anywhere but the layout's newlines */
    for (const char *c = text; *c; c++)
        assert_true(*c == '\n' || ((unsigned char)*c >= 0x20 && *c != 0x7f));
    /* and the escapes used are JSON's own */
    assert_non_null(strstr(text, "\"host\\\"name\\\\\\u007f\""));
    assert_non_null(strstr(text, "\"name\": \"a\\\"b\\\\c\\n\""));
    jstr(&root, "hostname", "host\"name\\\x7f");
    jstr(&root, "driver_version", "\n");
    jstr(jget(&root, "tracking"), "socket", "/tmp/\"s\\o\x01ck");
    const struct jv *dv = jat(jget(&root, "devices"), 0);
    jstr(dv, "board_type", "n\"150\\");
    jstr(dv, "serial", "\t\x01\x1f\x7f");
    jstr(dv, "firmware", "\xef\xbf\xbd\xef\xbf\xbd"); /* U+FFFD twice */
    const struct jv *pv = jat(jget(&root, "processes"), 0);
    jstr(pv, "name", "a\"b\\c\n");
    jstr(pv, "label", "\x1b[2J\x07 caf\xc3\xa9 \xf0\x9f\x98\x80");
    jstr(pv, "user", "\xef\xbf\xbd");
    jstr(pv, "cmdline", cmdline);
    jstr(jat(jget(&root, "stale"), 0), "name",
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    jfree(&root);
    free(text);
}

/* Appending to a buffer that already holds text leaves that text alone. */
static void test_appends(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    struct strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "[");
    smi_json_render(&m, &b);
    b.len--; /* drop the final newline */
    b.data[b.len] = '\0';
    strbuf_printf(&b, ",");
    smi_json_render(&m, &b);
    strbuf_printf(&b, "]");
    struct jv root;
    if (jparse(b.data, &root) < 0)
        fail_msg("not valid JSON:\n%s", b.data);
    assert_int_equal(root.kind, J_ARR);
    assert_int_equal(root.n, 2);
    jnum(jat(&root, 1), "schema_version", "1");
    jfree(&root);
    strbuf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_is_strict),
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_zero_devices),
        cmocka_unit_test(test_unknown_is_null),
        cmocka_unit_test(test_process_memory_known),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_hostile_strings),
        cmocka_unit_test(test_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
