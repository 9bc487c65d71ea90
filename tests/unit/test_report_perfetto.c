/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_report_perfetto.c - tt-alloc-report --perfetto
 * (src/report/report_perfetto.c), read back by a strict JSON reader
 * (jsonread.h): Chrome's trace-event object with a process and a thread
 * name per process ("python3 (llama) [100]"), one counter track per process
 * x device x type whose points are the workload's exact bytes at exact
 * microsecond timestamps (report_fixture.h), instants for exits (leaked
 * buffers) and gaps (events lost), an empty recording, and a hostile host
 * and process name escaped.
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

static char *print_parse(const struct report_context *ctx, struct jv *root)
{
    char *text = report_fixture_print(report_perfetto, ctx);
    if (jparse(text, root) < 0)
        fail_msg("not valid JSON:\n%s", text);
    return text;
}

static const char *str_of(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    assert_int_equal(v->kind, J_STR);
    return v->text;
}

static const char *num_of(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    assert_int_equal(v->kind, J_NUM);
    return v->text;
}

/* The counter points of one track ("dev0 dram" of pid), as "ts=bytes;"... */
static void counter_points(const struct jv *events, const char *pid, const char *track, char *out,
                           size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < events->n; i++) {
        const struct jv *e = jat(events, i);
        if (strcmp(str_of(e, "ph"), "C") != 0 || strcmp(num_of(e, "pid"), pid) != 0 ||
            strcmp(str_of(e, "name"), track) != 0)
            continue;
        jkeys(e, "ph,pid,tid,name,ts,args");
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s=%s;", num_of(e, "ts"), num_of(jget(e, "args"), "bytes"));
    }
}

static void test_workload(void **state)
{
    (void)state;
    struct report_model m;
    report_fixture_workload(&m);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(&ctx, &root);
    jkeys(&root, "displayTimeUnit,otherData,traceEvents");
    jstr(&root, "displayTimeUnit", "ms");
    jstr(jget(&root, "otherData"), "host", "testhost");
    jstr(jget(&root, "otherData"), "recording_start", "2026-11-23T12:00:00Z");
    const struct jv *events = jget(&root, "traceEvents");

    /* names: the recording's own row, then each process and its thread */
    char names[512] = "";
    for (size_t i = 0; i < events->n; i++) {
        const struct jv *e = jat(events, i);
        if (strcmp(str_of(e, "ph"), "M") != 0)
            continue;
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s:%s:%s;", num_of(e, "pid"), str_of(e, "name"),
                 str_of(jget(e, "args"), "name"));
    }
    assert_string_equal(names, "0:process_name:tt-alloc recording;"
                               "100:process_name:python3 (llama) [100];"
                               "100:thread_name:memory;"
                               "200:process_name:worker [200];"
                               "200:thread_name:memory;");

    /* the curves: 0 at the start, then the bytes after each change (the
     * buckets are 1 us wide for a 6 ms recording) */
    char points[1024];
    counter_points(events, "100", "dev0 dram", points, sizeof(points));
    assert_string_equal(points, "0.000=0;1000.000=4096;2000.000=1052672;4000.000=4096;");
    counter_points(events, "200", "dev0 l1", points, sizeof(points));
    /* its exit at 6 ms: the driver takes its buffers back, the curve falls */
    assert_string_equal(points, "0.000=0;3000.000=2048;6000.000=0;");
    counter_points(events, "200", "dev1 dram", points, sizeof(points));
    assert_string_equal(points, "0.000=0;3000.000=65536;6000.000=0;");

    /* instants: the gap on the recording's row, the exit on its process */
    char instants[512] = "";
    for (size_t i = 0; i < events->n; i++) {
        const struct jv *e = jat(events, i);
        if (strcmp(str_of(e, "ph"), "i") != 0)
            continue;
        const struct jv *args = jget(e, "args");
        size_t len = strlen(instants);
        snprintf(instants + len, sizeof(instants) - len, "%s:%s:%s:%s:%s;", str_of(e, "s"),
                 num_of(e, "pid"), str_of(e, "name"), num_of(e, "ts"),
                 num_of(args, args->n && strcmp(args->keys[0], "lost_events") == 0
                                  ? "lost_events"
                                  : "leaked_buffers"));
    }
    assert_string_equal(instants, "g:0:gap: 7 events lost:5000.000:7;p:200:exit:6000.000:2;");
    jfree(&root);
    free(text);
    report_model_release(&m);
}

static void test_sub_microsecond_times(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 9, 1234567, 0, TTALLOC_L1_SMALL, 0x10, UINT64_MAX);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(&ctx, &root);
    char points[256];
    counter_points(jget(&root, "traceEvents"), "9", "dev0 l1_small", points, sizeof(points));
    /* 1234567 ns: its bucket starts at 1234.567 us or earlier, never later */
    const char *eq = strchr(points + strlen("0.000=0;"), '=');
    assert_non_null(eq);
    assert_string_equal(eq, "=18446744073709551615;");
    double ts = strtod(points + strlen("0.000=0;"), NULL);
    assert_true(ts <= 1234.567 && ts > 1234.567 - 1.0);
    jfree(&root);
    free(text);
    report_model_release(&m);
}

static void test_empty_and_hostile(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    struct jv root;
    char *text = print_parse(&ctx, &root);
    jarr_len(&root, "traceEvents", 1); /* the recording's own name */
    jfree(&root);
    free(text);
    report_model_release(&m);

    report_model_init(&m);
    report_fixture_start(&m, 3, 0, "q\"\\\n", "l\x1b");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 3, 1, 0, TTALLOC_DRAM, 0x1, 8);
    assert_int_equal(report_model_finish(&m), 0);
    ctx = report_fixture_context(&m, &info);
    strcpy(info.host, "h\"}],\"x\":[{");
    text = print_parse(&ctx, &root);
    jstr(jget(&root, "otherData"), "host", "h\"}],\"x\":[{");
    const struct jv *events = jget(&root, "traceEvents");
    jstr(jget(jat(events, 1), "args"), "name", "q\"\\\n (l\x1b) [3]");
    jfree(&root);
    free(text);
    report_model_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload),
        cmocka_unit_test(test_sub_microsecond_times),
        cmocka_unit_test(test_empty_and_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
