/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_smi_exits.c - the leak history in tt-smi's outputs
 * (src/smi/smi_exits.c): JSON `exits` null when no server answered and []
 * when it has none, every contract field of a record, names and labels
 * without their NUL or with characters JSON must escape, times at and past
 * the epoch's edges, and the -q section.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smi_exits.h"

static void test_iso_time(void **state)
{
    (void)state;
    char out[32];
    smi_exits_iso_time(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    smi_exits_iso_time(1795435200ull * 1000000000ull + 999999999ull, out, sizeof(out));
    assert_string_equal(out, "2026-11-23T12:00:00Z"); /* ns are cut, not rounded */
    smi_exits_iso_time(UINT64_MAX, out, sizeof(out)); /* 2554: still a date */
    assert_int_equal(strlen(out), 20);
    smi_exits_iso_time(0, out, 10); /* no room: "" */
    assert_string_equal(out, "");
}

static void test_json_unknown_and_empty(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    struct strbuf b;
    strbuf_init(&b);
    smi_exits_json(&m, &b);
    assert_string_equal(b.data, "null");
    strbuf_release(&b);
    m.exits_known = 1;
    strbuf_init(&b);
    smi_exits_json(&m, &b);
    assert_string_equal(b.data, "[]");
    strbuf_release(&b);
}

static void test_json_records(void **state)
{
    (void)state;
    struct ttalloc_exit e[2];
    memset(e, 0, sizeof(e));
    e[0].pid = 4242;
    e[0].uid = 1000;
    e[0].time_ns = 1795435200ull * 1000000000ull;
    strcpy(e[0].name, "python3");
    e[0].device = 0;
    e[0].bytes[TTALLOC_DRAM] = 8192;
    e[0].bytes[TTALLOC_SYSTEM_MEMORY] = 77; /* not a contract field */
    e[0].buffers[TTALLOC_DRAM] = 2;
    e[0].buffers[TTALLOC_SYSTEM_MEMORY] = 1;
    e[1].pid = 7;
    memset(e[1].name, 'n', sizeof(e[1].name)); /* no NUL */
    strcpy(e[1].label, "q\"\\\n");
    e[1].device = 4294967295u;
    e[1].bytes[TTALLOC_CB] = UINT64_MAX;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.exits_known = 1;
    m.exits = e;
    m.n_exits = 2;
    struct strbuf b;
    strbuf_init(&b);
    smi_exits_json(&m, &b);
    const char *want0 =
        "[\n    {\"pid\": 4242, \"name\": \"python3\", \"label\": null, \"uid\": 1000, "
        "\"time\": \"2026-11-23T12:00:00Z\", \"device\": 0, \"dram_bytes\": 8192, "
        "\"l1_bytes\": 0, \"l1_small_bytes\": 0, \"trace_bytes\": 0, \"cb_bytes\": 0, "
        "\"buffers\": 3},";
    assert_memory_equal(b.data, want0, strlen(want0));
    assert_null(strstr(b.data, "system_memory"));
    const char *second = b.data + strlen(want0);
    char name[TTALLOC_NAME_MAX + 1];
    memset(name, 'n', TTALLOC_NAME_MAX);
    name[TTALLOC_NAME_MAX] = '\0';
    assert_non_null(strstr(second, name));
    assert_non_null(strstr(second, "\"label\": \"q\\\"\\\\\\n\""));
    assert_non_null(strstr(second, "\"device\": 4294967295"));
    assert_non_null(strstr(second, "\"cb_bytes\": 18446744073709551615, \"buffers\": 0}]"));
    strbuf_release(&b);
}

static void test_query(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    struct strbuf b;
    strbuf_init(&b);
    smi_exits_query(&m, &b);
    assert_non_null(strstr(b.data, "Leak History"));
    assert_non_null(strstr(b.data, "N/A (no tt-alloc-server answered)"));
    strbuf_release(&b);

    m.exits_known = 1;
    strbuf_init(&b);
    smi_exits_query(&m, &b);
    assert_non_null(strstr(b.data, "    None\n"));
    strbuf_release(&b);

    struct ttalloc_exit e;
    memset(&e, 0, sizeof(e));
    e.pid = 99;
    e.device = 3;
    e.bytes[TTALLOC_DRAM] = 3ull << 20;
    e.bytes[TTALLOC_TRACE] = 5;
    e.buffers[TTALLOC_L1] = 4;
    m.exits = &e;
    m.n_exits = 1;
    strbuf_init(&b);
    smi_exits_query(&m, &b);
    assert_non_null(strstr(b.data, "Process ID                : 99\n"));
    assert_non_null(strstr(b.data, "Name                  : N/A\n")); /* no name */
    assert_null(strstr(b.data, "Label"));                             /* none: no line */
    assert_non_null(strstr(b.data, "Ended                 : 1970-01-01T00:00:00Z\n"));
    assert_non_null(strstr(b.data, "Buffers Left          : 4\n"));
    assert_non_null(strstr(b.data, "DRAM                  : 3 MiB (3145728 B)\n"));
    assert_non_null(strstr(b.data, "Trace                 : 0 MiB (5 B)\n"));
    assert_null(strstr(b.data, "System Memory"));
    strbuf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_time),
        cmocka_unit_test(test_json_unknown_and_empty),
        cmocka_unit_test(test_json_records),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
