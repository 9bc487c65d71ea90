/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonread.h - a strict JSON reader (RFC 8259) for the unit tests of the
 * JSON printers (tt-smi --json, tt-alloc-report --json and --perfetto):
 * jparse reads a whole text or fails (trailing commas, bad escapes, broken
 * UTF-8, leading zeros and the like), and the j* assertions look into the
 * parsed value (exact keys, null, numbers by their text). Include it after
 * cmocka.h.
 */
#ifndef TTALLOC_TEST_JSONREAD_H
#define TTALLOC_TEST_JSONREAD_H

#include <stdlib.h>
#include <string.h>

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

static inline void jfree(struct jv *v)
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

static inline void jws(struct jreader *r)
{
    while (*r->s == ' ' || *r->s == '\t' || *r->s == '\n' || *r->s == '\r')
        r->s++;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if none. */
static inline size_t jutf8(const unsigned char *s)
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

static inline int jhex4(const char *s, unsigned *out)
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

static inline void jput_utf8(char *out, size_t *len, unsigned cp)
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
static inline int jstring(struct jreader *r, char **out, size_t *out_len)
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

static inline int jnumber(struct jreader *r, struct jv *v)
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

static inline int jvalue(struct jreader *r, struct jv *v);

static inline int jpush(struct jv *v, struct jv *item, char *key)
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

static inline int jcontainer(struct jreader *r, struct jv *v, char open)
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

static inline int jvalue(struct jreader *r, struct jv *v)
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
static inline int jparse(const char *text, struct jv *out)
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

static inline const struct jv *jget(const struct jv *o, const char *key)
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

static inline const struct jv *jat(const struct jv *a, size_t i)
{
    assert_int_equal(a->kind, J_ARR);
    assert_true(i < a->n);
    return &a->items[i];
}

/* The object's keys, in order, are exactly `want` (comma-separated). */
static inline void jkeys(const struct jv *o, const char *want)
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

static inline void jnull(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_NULL)
        fail_msg("\"%s\" is not null (kind %d, \"%s\")", key, v->kind, v->text ? v->text : "");
}

static inline void jnum(const struct jv *o, const char *key, const char *want)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_NUM)
        fail_msg("\"%s\" is not a number (kind %d)", key, v->kind);
    assert_string_equal(v->text, want);
}

static inline void jstr(const struct jv *o, const char *key, const char *want)
{
    const struct jv *v = jget(o, key);
    if (v->kind != J_STR)
        fail_msg("\"%s\" is not a string (kind %d)", key, v->kind);
    assert_int_equal(v->len, strlen(want));
    assert_string_equal(v->text, want);
}

static inline void jbool(const struct jv *o, const char *key, int want)
{
    assert_int_equal(jget(o, key)->kind, want ? J_TRUE : J_FALSE);
}

static inline void jarr_len(const struct jv *o, const char *key, size_t want)
{
    const struct jv *v = jget(o, key);
    assert_int_equal(v->kind, J_ARR);
    assert_int_equal(v->n, want);
}

#endif /* TTALLOC_TEST_JSONREAD_H */
