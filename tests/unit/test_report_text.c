/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_report_text.c - tt-alloc-report's terminal summary and --at list
 * (src/report/report_text.c) for a workload with known answers
 * (report_fixture.h): every row of the per-process table, the device peaks
 * and the buffers live at them, the leaks largest first, --top cutting the
 * lists with "... and N more", the notes of a cut or damaged file, an empty
 * recording, and names and hosts from a hostile file shown safe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_fixture.h"

static void test_summary_exact(void **state)
{
    (void)state;
    struct report_model m;
    report_fixture_workload(&m);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    char *text = report_fixture_print(report_text_summary, &ctx);
    assert_string_equal(
        text, "recording run.ttrec: host testhost, started 2026-11-23T12:00:00Z\n"
              "duration 0.006 s, 2 processes, 5 events, 1 gaps (7 events lost)\n"
              "\n"
              "PID      NAME             DEV TYPE              PEAK  PEAK_AT_S    FINAL     ALLOCS "
              "     FREES\n"
              "100      python3          0   dram              1.0M      0.002     4.0K          2 "
              "         1\n"
              "200      worker           0   l1                2.0K      0.003     2.0K          1 "
              "         0\n"
              "200      worker           1   dram             64.0K      0.003    64.0K          1 "
              "         0\n"
              "\n"
              "device 0 peaks: dram 1.0M at 0.002 s; l1 2.0K at 0.003 s;\n"
              "  largest buffers live at the DRAM peak (2 of 2):\n"
              "  PID      TYPE          ADDRESS            SIZE        BYTES    ALLOC_S\n"
              "  100      dram          0x10000            1.0M      1048576      0.002\n"
              "  100      dram          0x1000             4.0K         4096      0.001\n"
              "\n"
              "device 1 peaks: dram 64.0K at 0.003 s;\n"
              "  largest buffers live at the DRAM peak (1 of 1):\n"
              "  PID      TYPE          ADDRESS            SIZE        BYTES    ALLOC_S\n"
              "  200      dram          0x500000          64.0K        65536      0.003\n"
              "\n"
              "leaks (buffers live when their process exited), largest first:\n"
              "  PID      DEV TYPE          ADDRESS            SIZE        BYTES    ALLOC_S\n"
              "  200      1   dram          0x500000          64.0K        65536      0.003\n"
              "  200      0   l1            0x20               2.0K         2048      0.003\n");
    free(text);

    /* --top 1: one buffer per list, the rest counted */
    ctx.top = 1;
    text = report_fixture_print(report_text_summary, &ctx);
    assert_non_null(strstr(text, "largest buffers live at the DRAM peak (1 of 2):\n"));
    assert_null(strstr(text, "0x1000 "));
    assert_non_null(strstr(text, "  ... and 1 more of pid 200\n"));
    free(text);

    /* a cut file and a damaged one say so */
    ctx.truncated = 1;
    ctx.stopped_why = "bad checksum";
    text = report_fixture_print(report_text_summary, &ctx);
    assert_non_null(strstr(text, "note: the file is cut short"));
    assert_non_null(strstr(text, "note: reading stopped at a corrupt frame (bad checksum)"));
    free(text);
    report_model_release(&m);
}

static void test_at_list(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    m.at_ns = 3 * REPORT_FIXTURE_MS; /* --at 0.003 */
    report_fixture_start(&m, 100, 0, "python3", "");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 100, 1 * REPORT_FIXTURE_MS, 0, TTALLOC_DRAM, 0x1000,
                         4096);
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 100, 2 * REPORT_FIXTURE_MS, 0, TTALLOC_L1, 0x20,
                         100);
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 100, 4 * REPORT_FIXTURE_MS, 0, TTALLOC_DRAM, 0x9000,
                         1);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    char *text = report_fixture_print(report_text_at, &ctx);
    assert_string_equal(text, "live at 0.003 s: 2 buffers, 4.1K (4196 bytes)\n"
                              "  PID      DEV TYPE          ADDRESS            SIZE        BYTES "
                              "   ALLOC_S\n"
                              "  100      0   dram          0x1000             4.0K         4096 "
                              "     0.001\n"
                              "  100      0   l1            0x20               100B          100 "
                              "     0.002\n");
    free(text);
    ctx.top = 1;
    text = report_fixture_print(report_text_at, &ctx);
    assert_non_null(strstr(text, "  ... and 1 more (--top N shows more)\n"));
    free(text);
    report_model_release(&m);

    /* past the end: the end, and a note */
    report_model_init(&m);
    m.at_ns = 60 * 1000 * REPORT_FIXTURE_MS;
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 1, 2 * REPORT_FIXTURE_MS, 0, TTALLOC_DRAM, 0x1, 8);
    assert_int_equal(report_model_finish(&m), 0);
    ctx = report_fixture_context(&m, &info);
    text = report_fixture_print(report_text_at, &ctx);
    assert_non_null(strstr(text, "live at 60.000 s: 1 buffers, 8B (8 bytes)\n"
                                 "note: the recording ends before that, at 0.002 s: this is its "
                                 "end\n"));
    free(text);
    report_model_release(&m);
}

static void test_empty_recording(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    m.at_ns = 0; /* --at 0 */
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    char *text = report_fixture_print(report_text_summary, &ctx);
    assert_string_equal(text, "recording run.ttrec: host testhost, started 2026-11-23T12:00:00Z\n"
                              "duration 0.000 s, 0 processes, 0 events, 0 gaps (0 events lost)\n"
                              "\n"
                              "PID      NAME             DEV TYPE              PEAK  PEAK_AT_S   "
                              " FINAL     ALLOCS      FREES\n"
                              "\n"
                              "leaks: none (no process exited with live buffers)\n");
    free(text);
    text = report_fixture_print(report_text_at, &ctx);
    assert_string_equal(text, "live at 0.000 s: 0 buffers, 0B (0 bytes)\n");
    free(text);
    report_model_release(&m);
}

static void test_hostile_names(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    /* a 16-column cut that falls inside a 2-byte character, and an ESC */
    report_fixture_start(
        &m, 7, 0, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\x1b[2J", "");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 7, 1, 0, TTALLOC_DRAM, 0x1, 8);
    report_fixture_start(&m, 8, 0, "a\nb\x9b", "");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 8, 1, 0, TTALLOC_DRAM, 0x2, 8);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    strcpy(info.host, "evil\033]0;title\007");
    ctx.path = "x\ny.ttrec";
    char *text = report_fixture_print(report_text_summary, &ctx);
    assert_null(strchr(text, '\033'));
    assert_null(strchr(text, '\007'));
    assert_non_null(strstr(text, "recording x?y.ttrec: host evil?]0;title?, started"));
    assert_non_null(strstr(
        text, "\n7        \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9?[2J     "
              "0   dram"));
    assert_non_null(strstr(text, "\n8        a?b?             0   dram"));
    free(text);
    report_model_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_exact),
        cmocka_unit_test(test_at_list),
        cmocka_unit_test(test_empty_recording),
        cmocka_unit_test(test_hostile_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
