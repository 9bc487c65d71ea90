/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_report_json.c - tt-alloc-report --json and --at --json
 * (src/report/report_json.c), read back by a strict JSON reader
 * (jsonread.h): the schema's keys in order, every figure of a workload
 * with known answers (report_fixture.h) exact to the nanosecond and byte,
 * --top cutting at_peak and leaks, UINT64_MAX sizes and addresses, an
 * empty recording, and names and labels with quotes, backslashes, control
 * characters and broken UTF-8 escaped so that a JSON reader gets them back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonread.h"
#include "report_fixture.h"

static char *print_parse(void (*fn)(struct strbuf *, const struct report_context *),
                         const struct report_context *ctx, struct jv *root)
{
    char *text = report_fixture_print(fn, ctx);
    if (jparse(text, root) < 0)
        fail_msg("not valid JSON:\n%s", text);
    return text;
}

static void test_workload(void **state)
{
    (void)state;
    struct report_model m;
    report_fixture_workload(&m);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(report_json, &ctx, &root);
    jkeys(&root, "schema_version,start,duration_s,events,gaps,lost_events,processes,devices");
    jnum(&root, "schema_version", "1");
    jstr(&root, "start", "2026-11-23T12:00:00Z");
    jnum(&root, "duration_s", "0.006");
    jnum(&root, "events", "5");
    jnum(&root, "gaps", "1");
    jnum(&root, "lost_events", "7");

    const struct jv *procs = jget(&root, "processes");
    assert_int_equal(procs->n, 2);
    const struct jv *p = jat(procs, 0);
    jkeys(p, "pid,name,label,start_s,exit_s,memory,leaks");
    jnum(p, "pid", "100");
    jstr(p, "name", "python3");
    jstr(p, "label", "llama");
    jnum(p, "start_s", "0.0");
    jnull(p, "exit_s");
    const struct jv *mem = jget(p, "memory");
    assert_int_equal(mem->n, 1);
    jkeys(jat(mem, 0), "device,type,peak_bytes,peak_s,final_bytes,allocs,frees");
    jnum(jat(mem, 0), "device", "0");
    jstr(jat(mem, 0), "type", "dram");
    jnum(jat(mem, 0), "peak_bytes", "1052672");
    jnum(jat(mem, 0), "peak_s", "0.002");
    jnum(jat(mem, 0), "final_bytes", "4096");
    jnum(jat(mem, 0), "allocs", "2");
    jnum(jat(mem, 0), "frees", "1");
    jarr_len(p, "leaks", 0);

    p = jat(procs, 1);
    jnum(p, "pid", "200");
    jstr(p, "label", "");
    jnum(p, "exit_s", "0.006");
    const struct jv *leaks = jget(p, "leaks");
    assert_int_equal(leaks->n, 2);
    jkeys(jat(leaks, 0), "device,type,address,size,alloc_s");
    jnum(jat(leaks, 0), "device", "1");
    jstr(jat(leaks, 0), "address", "0x500000");
    jnum(jat(leaks, 0), "size", "65536");
    jnum(jat(leaks, 0), "alloc_s", "0.003");
    jstr(jat(leaks, 1), "type", "l1");
    jnum(jat(leaks, 1), "size", "2048");

    const struct jv *devs = jget(&root, "devices");
    assert_int_equal(devs->n, 2);
    const struct jv *d0 = jat(devs, 0);
    jkeys(d0, "device,memory,at_peak");
    const struct jv *dm = jget(d0, "memory");
    assert_int_equal(dm->n, 2);
    jstr(jat(dm, 0), "type", "dram");
    jnum(jat(dm, 0), "peak_bytes", "1052672");
    jnum(jat(dm, 0), "peak_s", "0.002");
    jstr(jat(dm, 1), "type", "l1");
    jnum(jat(dm, 1), "peak_bytes", "2048");
    const struct jv *at = jget(d0, "at_peak");
    assert_int_equal(at->n, 2);
    jkeys(jat(at, 0), "pid,type,address,size,alloc_s");
    jstr(jat(at, 0), "address", "0x10000");
    jnum(jat(at, 0), "size", "1048576");
    jstr(jat(at, 1), "address", "0x1000");
    jfree(&root);
    free(text);

    /* --top 1: one buffer in each list */
    ctx.top = 1;
    text = print_parse(report_json, &ctx, &root);
    jarr_len(jat(jget(&root, "devices"), 0), "at_peak", 1);
    jarr_len(jat(jget(&root, "processes"), 1), "leaks", 1);
    jfree(&root);
    free(text);
    report_model_release(&m);
}

static void test_at(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    m.at_ns = 2500000; /* --at 0.0025 */
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 5, 1000001, 2, TTALLOC_CB, UINT64_MAX - 7, 8);
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 5, 2000000, 2, TTALLOC_DRAM, 0x40, UINT64_MAX);
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 5, 3000000, 2, TTALLOC_DRAM, 0x80, 1);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(report_json_at, &ctx, &root);
    jkeys(&root, "at_s,buffers,total_buffers");
    jnum(&root, "at_s", "0.0025");
    jnum(&root, "total_buffers", "2");
    const struct jv *b = jget(&root, "buffers");
    assert_int_equal(b->n, 2);
    jkeys(jat(b, 0), "pid,device,type,address,size,alloc_s");
    jnum(jat(b, 0), "size", "18446744073709551615");
    jstr(jat(b, 0), "address", "0x40");
    jstr(jat(b, 1), "type", "cb");
    jstr(jat(b, 1), "address", "0xfffffffffffffff8");
    jnum(jat(b, 1), "alloc_s", "0.001000001");
    jfree(&root);
    free(text);
    ctx.top = 0;
    text = print_parse(report_json_at, &ctx, &root);
    jarr_len(&root, "buffers", 0);
    jnum(&root, "total_buffers", "2"); /* still says how many there were */
    jfree(&root);
    free(text);
    report_model_release(&m);
}

static void test_empty(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    info.start_realtime_ns = 0;
    struct jv root;
    char *text = print_parse(report_json, &ctx, &root);
    jstr(&root, "start", "1970-01-01T00:00:00Z");
    jnum(&root, "duration_s", "0.0");
    jnum(&root, "events", "0");
    jarr_len(&root, "processes", 0);
    jarr_len(&root, "devices", 0);
    jfree(&root);
    free(text);
    report_model_release(&m);
}

static void test_hostile_strings(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    report_fixture_start(&m, 1, 0, "a\"b\\c\n\x01", "</script>\x1b[2J");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 1, 1, 0, TTALLOC_DRAM, 0x1, 8);
    report_fixture_start(&m, 2, 0, "bad\xff\xc3", "\xe2\x82\xac ok");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 2, 1, 0, TTALLOC_DRAM, 0x2, 8);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(report_json, &ctx, &root);
    const struct jv *procs = jget(&root, "processes");
    jstr(jat(procs, 0), "name", "a\"b\\c\n\x01");
    jstr(jat(procs, 0), "label", "</script>\x1b[2J");
    jstr(jat(procs, 1), "label", "\xe2\x82\xac ok");
    /* broken UTF-8 cannot be in JSON: replaced, the rest kept */
    const struct jv *name = jget(jat(procs, 1), "name");
    assert_int_equal(name->kind, J_STR);
    assert_int_equal(strncmp(name->text, "bad", 3), 0);
    assert_null(strchr(text, '\x1b')); /* escaped, not raw */
    jfree(&root);
    free(text);
    report_model_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_hostile_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
