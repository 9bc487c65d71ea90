/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_report_html.c - tt-alloc-report --html (src/report/report_html.c):
 * for a workload with known answers (report_fixture.h) the headline
 * figures, the legend, a chart and an address map per device and type with
 * one box per buffer, the peak headings, the table of buffers live at the
 * DRAM peak and the leaks; the cap of HTML_MAX_BOXES boxes and 50 table
 * rows saying what was left out; an empty recording; and hostile names,
 * labels, hosts and paths escaped so that no markup or script of theirs
 * reaches the page. (tests/e2e/test_report.py opens pages in a real
 * browser.)
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

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The text between the first `from` and the next `to`, as a new string. */
static char *between(const char *text, const char *from, const char *to)
{
    const char *a = strstr(text, from);
    if (a == NULL)
        fail_msg("no \"%s\"", from);
    const char *b = strstr(a, to);
    if (b == NULL)
        fail_msg("no \"%s\" after \"%s\"", to, from);
    char *s = strndup(a, (size_t)(b - a));
    assert_non_null(s);
    return s;
}

static void test_workload(void **state)
{
    (void)state;
    struct report_model m;
    report_fixture_workload(&m);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    char *page = report_fixture_print(report_html, &ctx);

    assert_int_equal(strncmp(page, "<!DOCTYPE html>\n", 16), 0);
    assert_non_null(strstr(page, "content=\"default-src 'none';")); /* no fetch of anything */
    assert_non_null(strstr(page, "<title>tt-alloc report: run.ttrec</title>"));
    assert_non_null(strstr(page, "<p>host testhost, started 2026-11-23T12:00:00Z; 0.006 s, 2 "
                                 "processes, 5 events, 1 gaps (7 events lost).</p>"));
    assert_non_null(strstr(page, "python3 [100] llama</span>"));
    assert_non_null(strstr(page, "worker [200]</span>"));
    assert_null(strstr(page, "cut short or damaged"));

    /* device 0: DRAM and L1; device 1: DRAM; a chart and a map for each */
    assert_int_equal(count(page, "<h2>device "), 2);
    assert_non_null(strstr(page, "<h3>dram: peak 1.0M (1052672 bytes) at 0.002000 s</h3>"));
    assert_non_null(strstr(page, "<h3>l1: peak 2.0K (2048 bytes) at 0.003000 s</h3>"));
    assert_non_null(strstr(page, "<h3>dram: peak 64.0K (65536 bytes) at 0.003000 s</h3>"));
    assert_int_equal(count(page, "<svg class='chart'"), 3);
    assert_int_equal(count(page, "<svg class='map'"), 3);
    assert_int_equal(count(page, "<svg"), count(page, "</svg>"));

    /* device 0's DRAM map: its two buffers, one freed at 4 ms, one live */
    char *map = between(page, "<h2>device 0", "<h3>l1:");
    assert_int_equal(count(map, "<rect "), 2);
    assert_non_null(strstr(map, "python3 [100] dram 0x10000, 1.0M (1048576 bytes), 0.002000 s "
                                "to 0.004000 s'/>"));
    assert_non_null(strstr(map, "python3 [100] dram 0x1000, 4.0K (4096 bytes), 0.001000 s to "
                                "the end (live)'/>"));
    assert_non_null(strstr(map, "2 of 2 buffers drawn"));
    assert_null(strstr(map, "left out"));
    free(map);

    /* the DRAM peak's buffers, and the leaks */
    char *peak = between(page, "<h3>buffers live at the DRAM peak (2)</h3>", "</table>");
    assert_int_equal(count(peak, "<tr><td>"), 2);
    assert_non_null(strstr(peak,
                           "<tr><td>100</td><td>python3</td><td>0</td><td>dram</td><td>"
                           "0x10000</td><td>1.0M</td><td>1048576</td><td>0.002000</td></tr>"));
    free(peak);
    char *leaks = between(page, "<h2>leaks</h2>", "</table>");
    assert_non_null(
        strstr(leaks, "<h3>worker [200], exited at 0.006000 s with 2 live buffers</h3>"));
    assert_int_equal(count(leaks, "<tr><td>200</td>"), 2);
    free(leaks);
    assert_int_equal(count(page, "<script>"), 1); /* the page's own */
    free(page);

    ctx.truncated = 1;
    page = report_fixture_print(report_html, &ctx);
    assert_non_null(strstr(page, "The file is cut short or damaged"));
    free(page);
    report_model_release(&m);
}

static void test_caps_say_what_is_left_out(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    /* 3000 DRAM buffers, then one process that leaks 60 */
    for (uint64_t i = 0; i < 3000; i++)
        report_fixture_event(&m, TTALLOC_REC_ALLOC, 1, (int64_t)i * 1000, 0, TTALLOC_DRAM,
                             0x100000 + i * 0x1000, 64 + i);
    for (uint64_t i = 0; i < 60; i++)
        report_fixture_event(&m, TTALLOC_REC_ALLOC, 2, 4000000, 0, TTALLOC_L1, 0x10 + i * 16, 16);
    report_fixture_event(&m, TTALLOC_REC_PROCESS_EXIT, 2, 5000000, 0, 0, 0, 0);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    char *page = report_fixture_print(report_html, &ctx);
    char *map = between(page, "<svg class='map'", "</p>");
    assert_int_equal(count(map, "<rect "), 2500);
    assert_non_null(strstr(map, "2500 of 3000 buffers drawn: every buffer live at the peak, at "
                                "the end or leaked, then the largest others; 500 smaller "
                                "buffers left out."));
    /* the largest are drawn: the biggest (3063 bytes) is, the smallest not */
    assert_non_null(strstr(map, "(3063 bytes)"));
    assert_null(strstr(map, "(64 bytes)"));
    free(map);
    char *leaks = between(page, "<h2>leaks</h2>", "</body>");
    assert_int_equal(count(leaks, "<tr><td>2</td>"), 50);
    assert_non_null(strstr(leaks, "<p class='note'>10 more not shown.</p>"));
    free(leaks);
    free(page);
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
    char *page = report_fixture_print(report_html, &ctx);
    assert_non_null(strstr(page, "0.000 s, 0 processes, 0 events"));
    assert_null(strstr(page, "<svg"));
    assert_non_null(strstr(page, "<p>No process exited with live buffers.</p>"));
    assert_non_null(strstr(page, "</body></html>\n"));
    free(page);
    report_model_release(&m);
}

static void test_hostile_text_is_escaped(void **state)
{
    (void)state;
    struct report_model m;
    report_model_init(&m);
    report_fixture_start(&m, 66, 0, "<script>x('a')", "\"&'><img src=x>");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 66, 1, 0, TTALLOC_DRAM, 0x1, 8);
    report_fixture_start(&m, 67, 0, "bad\xff\nname", "");
    report_fixture_event(&m, TTALLOC_REC_ALLOC, 67, 1, 0, TTALLOC_DRAM, 0x2, 8);
    report_fixture_event(&m, TTALLOC_REC_PROCESS_EXIT, 66, 2, 0, 0, 0, 0);
    struct ttalloc_rec_event dev;
    memset(&dev, 0, sizeof(dev));
    dev.kind = TTALLOC_REC_DEVICE;
    dev.device = 0;
    strcpy(dev.desc.board_type, "<b>n150");
    uint64_t out;
    assert_int_equal(report_model_apply(&m, &dev, &out), 0);
    assert_int_equal(report_model_finish(&m), 0);
    struct ttalloc_rec_info info;
    struct report_context ctx = report_fixture_context(&m, &info);
    strcpy(info.host, "</title><script>alert(1)</script>");
    ctx.path = "a'b<i>.ttrec";
    char *page = report_fixture_print(report_html, &ctx);
    assert_int_equal(count(page, "<script>"), 1); /* the page's own, nobody's else */
    assert_null(strstr(page, "<img"));
    assert_null(strstr(page, "<b>n150"));
    assert_null(strstr(page, "<i>.ttrec"));
    assert_non_null(strstr(page, "<title>tt-alloc report: a&#39;b&lt;i&gt;.ttrec</title>"));
    assert_non_null(
        strstr(page, "<p>host &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;, started"));
    assert_non_null(strstr(page, "&lt;script&gt;x(&#39;a&#39;) [66] "
                                 "&quot;&amp;&#39;&gt;&lt;img src=x&gt;</span>"));
    assert_non_null(strstr(page, "<h2>device 0 (&lt;b&gt;n150)</h2>"));
    /* in attributes too (data-b='...'), where a quote would end the value */
    assert_non_null(strstr(page, "data-b='&lt;script&gt;x(&#39;a&#39;) [66]"));
    /* broken UTF-8 becomes U+FFFD, a control character a blank */
    assert_non_null(strstr(page, "bad\xef\xbf\xbd name [67]"));
    free(page);
    report_model_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload),
        cmocka_unit_test(test_caps_say_what_is_left_out),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_hostile_text_is_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
