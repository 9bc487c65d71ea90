/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_smi_table.c - tt-smi's human outputs (src/smi/smi_table.c): the whole
 * table for a small fixed model, N/A for every unknown figure, the empty
 * table and its "Memory: unknown" line, colour only when asked (bold
 * headers, red for a temperature within 10 C of its maximum), -i selection,
 * labels before names and cut to the column, every line within 80 columns
 * at the extremes sysfs accepts, and the -q report: each field, free bytes
 * counting TRACE/L1_SMALL/CB, processes, stale entries and the leak history;
 * names, labels and hosts with terminal escapes, newlines, C1 controls and
 * UTF-8 cut at a column's edge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "smi_fixture.h"
#include "smi_table.h"

#define T_2026 1795435200 /* Mon Nov 23 12:00:00 2026 UTC */

#define RULE "==============================================================================\n"
#define THIN "------------------------------------------------------------------------------\n"
#define DEV_HEAD " ID Board     Bus Id         Temp Power/Limit   AICLK DRAM Use/Tot   L1 Use/Tot\n"
#define PROC_HEAD " Dev      PID User       Name                         DRAM       L1\n"

static char *render(const struct smi_model *m, int colour)
{
    struct strbuf b;
    strbuf_init(&b);
    smi_table_render(m, colour, &b);
    assert_false(b.failed);
    assert_non_null(b.data);
    return b.data;
}

static char *render_query(const struct smi_model *m)
{
    struct strbuf b;
    strbuf_init(&b);
    smi_table_render_query(m, &b);
    assert_false(b.failed);
    assert_non_null(b.data);
    return b.data;
}

/* Every line ends in '\n' and has at most `max` bytes before it. */
static void lines_fit(const char *text, size_t max)
{
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if ((size_t)(nl - line) > max)
            fail_msg("line of %zu columns: %.*s", (size_t)(nl - line), (int)(nl - line), line);
        line = nl + 1;
    }
}

/* The text between `from` (included) and the next `to` (excluded) is `want`. */
static void section_is(const char *text, const char *from, const char *to, const char *want)
{
    const char *a = strstr(text, from);
    if (a == NULL)
        fail_msg("no \"%s\" in:\n%s", from, text);
    const char *b = strstr(a + strlen(from), to);
    if (b == NULL)
        fail_msg("no \"%s\" after \"%s\"", to, from);
    char *got = strndup(a, (size_t)(b - a));
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* Characters (not bytes) of the longest line: UTF-8 continuation bytes
 * take no column. */
static size_t widest_line(const char *text)
{
    size_t widest = 0, cols = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '\n') {
            widest = cols > widest ? cols : widest;
            cols = 0;
        } else if ((*c & 0xc0) != 0x80) {
            cols++;
        }
    }
    return cols > widest ? cols : widest;
}

/* No byte a terminal obeys: nothing below 0x20 but newlines, no DEL, no
 * C1 control (U+0080-U+009F). */
static void no_terminal_controls(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if ((*c < 0x20 && *c != '\n') || *c == 0x7f ||
            (c[0] == 0xc2 && c[1] >= 0x80 && c[1] < 0xa0))
            fail_msg("control byte 0x%02x at %zu in:\n%s", *c,
                     (size_t)(c - (const unsigned char *)text), text);
    }
}

/* ---- the table ------------------------------------------------------------ */

static void test_table_exact(void **state)
{
    (void)state;
    struct smi_device devs[3];
    smi_fixture_n150(&devs[0], 0);
    devs[0].used_known = 1;
    devs[0].used[TTALLOC_DRAM] = 3ull << 30;
    devs[0].used[TTALLOC_L1] = 512;
    smi_fixture_unknown(&devs[1], 3);
    smi_fixture_n150(&devs[2], 9);
    devs[2].selected = 0; /* -i 0,3 */
    int on0[] = {0}, on039[] = {0, 3, 9}, on9[] = {9};
    struct smi_usage use = {.device = 0};
    use.bytes[TTALLOC_DRAM] = 1ull << 30;
    use.bytes[TTALLOC_L1] = 1536;
    char cmd[] = "";
    struct smi_process procs[3] = {
        {.pid = 4242,
         .name = "python3",
         .label = "llama",
         .user = "alice",
         .cmdline = cmd,
         .tracked = 1,
         .devices = on0,
         .n_devices = 1,
         .usage = &use,
         .n_usage = 1},
        /* not tracked: its memory is not known; three devices, one hidden */
        {.pid = 5000,
         .name = "a_really_long_process_name",
         .user = "averylongusername",
         .cmdline = cmd,
         .devices = on039,
         .n_devices = 3},
        {.pid = 6000,
         .name = "hidden",
         .user = "u",
         .cmdline = cmd,
         .devices = on9,
         .n_devices = 1},
    };
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    strcpy(m.driver_version, "2.5.0");
    strcpy(m.hostname, "testhost");
    m.time = T_2026;
    m.server = 1;
    m.devices = devs;
    m.n_devices = 3;
    m.processes = procs;
    m.n_processes = 3;
    char *text = render(&m, 0);
    assert_string_equal(
        text,
        "Mon Nov 23 12:00:00 2026     testhost                 Driver: 2.5.0\n" RULE DEV_HEAD THIN
        "  0 n150      0000:01:00.0  45.0C    20W/160W 1000MHz   3.0G/12.0G    512B/103M\n"
        "  3 N/A       N/A             N/A     N/A/N/A     N/A      N/A/N/A      N/A/N/A\n" RULE
        "Processes:\n" PROC_HEAD THIN
        "   0     4242 alice      llama (python3)              1.0G     1.5K\n"
        "   0     5000 averylongu a_really_long_process_        N/A      N/A\n"
        "   3     5000 averylongu a_really_long_process_        N/A      N/A\n" RULE);
    lines_fit(text, 80);
    free(text);

    /* the same model with a server that tracks process 5000: 0, not N/A */
    procs[1].tracked = 1;
    text = render(&m, 0);
    assert_non_null(
        strstr(text, "   3     5000 averylongu a_really_long_process_         0B       0B\n"));
    free(text);
}

static void test_table_empty(void **state)
{
    (void)state;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = 0;
    char *text = render(&m, 0);
    assert_string_equal(text, "Thu Jan  1 00:00:00 1970    " /* the time in 28 columns */
                              " "
                              "                        " /* no hostname: 24 blanks */
                              " Driver: N/A\n" RULE DEV_HEAD THIN "  No devices.\n" RULE
                              "Processes:\n" PROC_HEAD THIN "  No processes hold a device.\n" RULE
                              "Memory: unknown, no tt-alloc-server answered (start "
                              "tt-alloc-server;\napps report through libttalloc).\n");
    lines_fit(text, 80);
    free(text);

    /* figures from TT-Metal's SHM, or a server: no "Memory: unknown" */
    m.shm = 1;
    text = render(&m, 0);
    assert_null(strstr(text, "Memory: unknown"));
    assert_int_equal(strcmp(text + strlen(text) - strlen(RULE), RULE), 0);
    free(text);
    m.shm = 0;
    m.server = 1;
    text = render(&m, 0);
    assert_null(strstr(text, "Memory: unknown"));
    free(text);

    /* devices, none selected: still "No devices." and no process row */
    struct smi_device d;
    smi_fixture_n150(&d, 0);
    d.selected = 0;
    int on[] = {0};
    char cmd[] = "";
    struct smi_process p = {
        .pid = 1, .name = "x", .user = "u", .cmdline = cmd, .devices = on, .n_devices = 1};
    m.devices = &d;
    m.n_devices = 1;
    m.processes = &p;
    m.n_processes = 1;
    text = render(&m, 0);
    assert_non_null(strstr(text, THIN "  No devices.\n" RULE));
    assert_non_null(strstr(text, THIN "  No processes hold a device.\n" RULE));
    free(text);

    /* a process on a device that is not in the model: no row */
    d.selected = 1;
    on[0] = 4;
    text = render(&m, 0);
    assert_non_null(strstr(text, THIN "  No processes hold a device.\n" RULE));
    free(text);
}

static void test_table_colour(void **state)
{
    (void)state;
    struct smi_device devs[3];
    smi_fixture_n150(&devs[0], 0);
    devs[0].sys.temp_mc = 80000; /* max 90 C: exactly 10 C below, hot */
    smi_fixture_n150(&devs[1], 1);
    devs[1].sys.temp_mc = 79999; /* not hot */
    smi_fixture_n150(&devs[2], 2);
    devs[2].sys.temp_mc = 150000; /* no maximum known: never hot */
    devs[2].sys.temp_max_mc = SYSFS_UNKNOWN;
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    strcpy(m.hostname, "h");
    m.time = T_2026;
    m.devices = devs;
    m.n_devices = 3;
    char *text = render(&m, 1);
    assert_int_equal(strncmp(text, "\033[1mMon Nov 23 12:00:00 2026", 28), 0);
    assert_non_null(strstr(text, "Driver: N/A\033[0m\n"));
    assert_non_null(strstr(text, "\033[1m ID Board     Bus Id"));
    assert_non_null(strstr(text, "DRAM Use/Tot   L1 Use/Tot\033[0m\n"));
    assert_non_null(strstr(text, "\033[1mProcesses:\033[0m\n"));
    assert_non_null(strstr(text, "\033[1m Dev      PID"));
    assert_non_null(strstr(text, "  0 n150      0000:01:00.0 \033[31m 80.0C\033[0m    20W/160W"));
    assert_non_null(strstr(text, "  1 n150      0000:01:00.0  80.0C    20W/160W"));
    assert_non_null(strstr(text, "  2 n150      0000:01:00.0 150.0C    20W/160W"));
    size_t reds = 0;
    for (const char *p = text; (p = strstr(p, "\033[31m")) != NULL; p++)
        reds++;
    assert_int_equal(reds, 1);
    free(text);

    text = render(&m, 0);
    assert_null(strchr(text, '\033'));
    assert_non_null(strstr(text, "  0 n150      0000:01:00.0  80.0C    20W/160W"));
    free(text);
}

/* The longest fields and the largest values sysfs lets through stay within
 * 80 columns: columns are cut, never widened. */
static void test_table_widths(void **state)
{
    (void)state;
    struct smi_device d;
    smi_fixture_n150(&d, 999);
    memset(d.sys.card_type, 'c', sizeof(d.sys.card_type) - 1);
    memset(d.sys.bus_id, 'b', sizeof(d.sys.bus_id) - 1);
    d.sys.temp_mc = 300000; /* sysfs's highest */
    d.sys.temp_max_mc = 300000;
    d.sys.power_uw = 5000000000; /* 5 kW, sysfs's highest */
    d.sys.power_max_uw = 5000000000;
    d.sys.aiclk_mhz = 99999;
    d.used_known = 1;
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++) {
        d.used[t] = UINT64_MAX;
        d.total[t] = UINT64_MAX;
    }
    int on[] = {999};
    struct smi_usage use = {.device = 999};
    for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
        use.bytes[t] = UINT64_MAX;
    char cmd[] = "";
    struct smi_process p = {.pid = 2147483647,
                            .cmdline = cmd,
                            .devices = on,
                            .n_devices = 1,
                            .usage = &use,
                            .n_usage = 1};
    memset(p.name, 'n', sizeof(p.name) - 1);
    memset(p.label, 'l', sizeof(p.label) - 1);
    memset(p.user, 'u', sizeof(p.user) - 1);
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    memset(m.hostname, 'h', sizeof(m.hostname) - 1);
    memset(m.driver_version, 'd', sizeof(m.driver_version) - 1);
    m.time = 253402300799; /* Fri Dec 31 23:59:59 9999 */
    m.devices = &d;
    m.n_devices = 1;
    m.processes = &p;
    m.n_processes = 1;
    char *text = render(&m, 0);
    lines_fit(text, 80);
    assert_int_equal(strncmp(text,
                             "Fri Dec 31 23:59:59 9999     hhhhhhhhhhhhhhhhhhhhhhhh Driver: "
                             "dddddddddddddddd\n",
                             79),
                     0);
    assert_non_null(strstr(text, "999 ccccccccc bbbbbbbbbbbb 300.0C 5000W/5000W 99999MHz  "
                                 "16.0E/16.0E  16.0E/16.0E\n"));
    /* the label comes first and takes the whole column */
    assert_non_null(strstr(text, " 999 2147483647 uuuuuuuuuu llllllllllllllllllllll      "
                                 "16.0E    16.0E\n"));
    free(text);
}

/* Watts round to the nearest whole watt; a half rounds up. */
static void test_table_watts(void **state)
{
    (void)state;
    const struct {
        int64_t uw;
        const char *want;
    } cases[] = {
        {0, "0W/"}, {499999, "0W/"}, {500000, "1W/"}, {1499999, "1W/"}, {159500000, "160W/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smi_device d;
        smi_fixture_n150(&d, 0);
        d.sys.power_uw = cases[i].uw;
        d.sys.power_max_uw = SYSFS_UNKNOWN;
        struct smi_model m;
        memset(&m, 0, sizeof(m));
        m.devices = &d;
        m.n_devices = 1;
        char *text = render(&m, 0);
        char want[32];
        snprintf(want, sizeof(want), " %sN/A ", cases[i].want);
        if (strstr(text, want) == NULL)
            fail_msg("%lld uW: no \"%s\" in\n%s", (long long)cases[i].uw, want, text);
        free(text);
    }
}

/* ---- -q ------------------------------------------------------------------- */

static void test_query_known_device(void **state)
{
    (void)state;
    struct smi_device devs[2];
    smi_fixture_n150(&devs[0], 0);
    struct sysfs_device *s = &devs[0].sys;
    strcpy(s->asic_id, "0123456789ABCDEF");
    strcpy(s->arc_fw_ver, "2.33.0");
    strcpy(s->eth_fw_ver, "7.0.0");
    strcpy(s->m3app_fw_ver, "5.8.0.1");
    strcpy(s->m3bl_fw_ver, "5.8.0.0");
    strcpy(s->ttflash_ver, "0.3.0");
    s->axiclk_mhz = 900;
    s->arcclk_mhz = 540;
    s->temp_mc = 46250;
    s->vcore_mv = 825;
    s->vcore_max_mv = 950;
    s->current_ma = 25500;
    s->current_max_ma = 160000;
    s->fan_rpm = 0;
    s->heartbeat = 12345;
    s->therm_trip_count = 0;
    devs[0].shm_match = "holders";
    devs[0].used_known = 1;
    devs[0].peak_known = 1;
    devs[0].used[TTALLOC_DRAM] = 1ull << 20;
    devs[0].used[TTALLOC_TRACE] = 2ull << 20;
    devs[0].used[TTALLOC_L1] = 1024;
    devs[0].used[TTALLOC_L1_SMALL] = 2048;
    devs[0].used[TTALLOC_CB] = 4096;
    devs[0].peak[TTALLOC_DRAM] = 3ull << 20;
    smi_fixture_n150(&devs[1], 1);
    int on01[] = {0, 1};
    struct smi_usage use[2] = {{.device = 0, .peak_known = 1}, {.device = 1, .unknown = 1}};
    use[0].bytes[TTALLOC_DRAM] = 1ull << 20;
    use[0].peak[TTALLOC_DRAM] = 3ull << 20;
    use[0].bytes[TTALLOC_CB] = 4096;
    char cmd[] = "";
    struct smi_process p = {.pid = 4242,
                            .name = "python3",
                            .label = "llama-70b",
                            .user = "alice",
                            .cmdline = cmd,
                            .tracked = 1,
                            .devices = on01,
                            .n_devices = 2,
                            .usage = use,
                            .n_usage = 2};
    struct smi_stale stale[3] = {
        {.pid = 77, .device = 0, .name = "gone"},
        {.pid = 78, .device = 1, .name = "gone1"},
        {.pid = 79, .device = -1, .name = "remote"},
    };
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    strcpy(m.hostname, "testhost");
    strcpy(m.driver_version, "2.5.0");
    strcpy(m.socket, "/run/tt.sock");
    m.server = 1;
    m.time = T_2026;
    m.devices = devs;
    m.n_devices = 2;
    m.processes = &p;
    m.n_processes = 1;
    m.stale = stale;
    m.n_stale = 3;
    m.exits_known = 1;
    char *text = render_query(&m);
    section_is(text, "==============TT-SMI LOG", "Attached Devices",
               "==============TT-SMI LOG==============\n\n"
               "Timestamp                     : Mon Nov 23 12:00:00 2026\n"
               "Hostname                      : testhost\n"
               "Driver Version                : 2.5.0\n"
               "Tracking Server               : /run/tt.sock\n");
    assert_non_null(strstr(text, "Attached Devices              : 2"));
    section_is(text, "\nDevice 0\n", "    Memory\n",
               "\nDevice 0\n"
               "    Board Type                : n150\n"
               "    Architecture              : wormhole\n"
               "    Bus Id                    : 0000:01:00.0\n"
               "    Serial                    : 10000180401E0000\n"
               "    ASIC Id                   : 0123456789ABCDEF\n"
               "    Firmware\n"
               "        Bundle                : 18.3.0.0\n"
               "        ARC                   : 2.33.0\n"
               "        Ethernet              : 7.0.0\n"
               "        M3 App                : 5.8.0.1\n"
               "        M3 Bootloader         : 5.8.0.0\n"
               "        ttflash               : 0.3.0\n"
               "    Clocks\n"
               "        AICLK                 : 1000 MHz\n"
               "        AXICLK                : 900 MHz\n"
               "        ARCCLK                : 540 MHz\n"
               "    Telemetry\n"
               "        Temperature           : 46.25 C\n"
               "        Temperature Max       : 90.0 C\n"
               "        Power Draw            : 20.4 W\n"
               "        Power Limit           : 160.0 W\n"
               "        Core Voltage          : 0.825 V\n"
               "        Core Voltage Max      : 0.95 V\n"
               "        Current               : 25.5 A\n"
               "        Current Max           : 160.0 A\n"
               "        Fan Speed             : 0 RPM\n"
               "        Heartbeat             : 12345\n"
               "        Thermal Trips         : 0\n");
    /* free: DRAM less DRAM and TRACE; L1 less L1, L1_SMALL and CB */
    section_is(text, "    Memory\n", "    Processes\n",
               "    Memory\n"
               "        SHM Match             : holders\n"
               "        DRAM\n"
               "            Total             : 12288 MiB (12884901888 B)\n"
               "            Used              : 1 MiB (1048576 B)\n"
               "            Free              : 12285 MiB (12881756160 B)\n"
               "            Peak              : 3 MiB (3145728 B)\n"
               "        L1\n"
               "            Total             : 102 MiB (107937792 B)\n"
               "            Used              : 0 MiB (1024 B)\n"
               "            Free              : 102 MiB (107930624 B)\n"
               "            Peak              : 0 MiB (0 B)\n"
               "        L1 Small\n"
               "            Total             : N/A\n"
               "            Used              : 0 MiB (2048 B)\n"
               "            Free              : N/A\n"
               "            Peak              : 0 MiB (0 B)\n"
               "        Trace\n"
               "            Total             : N/A\n"
               "            Used              : 2 MiB (2097152 B)\n"
               "            Free              : N/A\n"
               "            Peak              : 0 MiB (0 B)\n"
               "        CB\n"
               "            Total             : N/A\n"
               "            Used              : 0 MiB (4096 B)\n"
               "            Free              : N/A\n"
               "            Peak              : 0 MiB (0 B)\n");
    section_is(text, "    Processes\n", "\nDevice 1\n",
               "    Processes\n"
               "        Process ID            : 4242\n"
               "            Name              : python3\n"
               "            Label             : llama-70b\n"
               "            User              : alice\n"
               "            Tracked           : yes\n"
               "            DRAM              : 1 MiB (1048576 B)\n"
               "            L1                : 0 MiB (0 B)\n"
               "            L1 Small          : 0 MiB (0 B)\n"
               "            Trace             : 0 MiB (0 B)\n"
               "            CB                : 0 MiB (4096 B)\n"
               "            DRAM Peak         : 3 MiB (3145728 B)\n"
               "            L1 Peak           : 0 MiB (0 B)\n"
               "            L1 Small Peak     : 0 MiB (0 B)\n"
               "            Trace Peak        : 0 MiB (0 B)\n"
               "            CB Peak           : 0 MiB (0 B)\n"
               "    Stale SHM Entries\n"
               "        Process ID            : 77\n"
               "            Name              : gone\n"
               "            State             : stale (no longer runs)\n");
    /* device 1: used unknown, so free unknown; the process's figures there
     * are implausible: N/A, and so are its peaks */
    section_is(text, "\nDevice 1\n", "\nLeak History\n",
               "\nDevice 1\n"
               "    Board Type                : n150\n"
               "    Architecture              : wormhole\n"
               "    Bus Id                    : 0000:01:00.0\n"
               "    Serial                    : 10000180401E0000\n"
               "    ASIC Id                   : N/A\n"
               "    Firmware\n"
               "        Bundle                : 18.3.0.0\n"
               "        ARC                   : N/A\n"
               "        Ethernet              : N/A\n"
               "        M3 App                : N/A\n"
               "        M3 Bootloader         : N/A\n"
               "        ttflash               : N/A\n"
               "    Clocks\n"
               "        AICLK                 : 1000 MHz\n"
               "        AXICLK                : N/A\n"
               "        ARCCLK                : N/A\n"
               "    Telemetry\n"
               "        Temperature           : 45.0 C\n"
               "        Temperature Max       : 90.0 C\n"
               "        Power Draw            : 20.4 W\n"
               "        Power Limit           : 160.0 W\n"
               "        Core Voltage          : 0.8 V\n"
               "        Core Voltage Max      : N/A\n"
               "        Current               : 25.0 A\n"
               "        Current Max           : N/A\n"
               "        Fan Speed             : N/A\n"
               "        Heartbeat             : N/A\n"
               "        Thermal Trips         : N/A\n"
               "    Memory\n"
               "        SHM Match             : N/A\n"
               "        DRAM\n"
               "            Total             : 12288 MiB (12884901888 B)\n"
               "            Used              : N/A\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "        L1\n"
               "            Total             : 102 MiB (107937792 B)\n"
               "            Used              : N/A\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "        L1 Small\n"
               "            Total             : N/A\n"
               "            Used              : N/A\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "        Trace\n"
               "            Total             : N/A\n"
               "            Used              : N/A\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "        CB\n"
               "            Total             : N/A\n"
               "            Used              : N/A\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "    Processes\n"
               "        Process ID            : 4242\n"
               "            Name              : python3\n"
               "            Label             : llama-70b\n"
               "            User              : alice\n"
               "            Tracked           : yes\n"
               "            DRAM              : N/A\n"
               "            L1                : N/A\n"
               "            L1 Small          : N/A\n"
               "            Trace             : N/A\n"
               "            CB                : N/A\n"
               "            DRAM Peak         : N/A\n"
               "            L1 Peak           : N/A\n"
               "            L1 Small Peak     : N/A\n"
               "            Trace Peak        : N/A\n"
               "            CB Peak           : N/A\n"
               "    Stale SHM Entries\n"
               "        Process ID            : 78\n"
               "            Name              : gone1\n"
               "            State             : stale (no longer runs)\n");
    assert_null(strstr(text, "remote")); /* a chip without a node has no section */
    assert_null(strstr(text, "System Memory"));
    assert_int_equal(strcmp(strstr(text, "\nLeak History\n"), "\nLeak History\n    None\n"), 0);
    free(text);
}

static void test_query_nothing_known(void **state)
{
    (void)state;
    struct smi_device devs[2];
    smi_fixture_unknown(&devs[0], 0);
    smi_fixture_unknown(&devs[1], 1);
    devs[1].selected = 0;
    /* used known but the parts exceed the total: free unknown, not a wrap */
    devs[0].used_known = 1;
    devs[0].total[TTALLOC_DRAM] = 1000;
    devs[0].used[TTALLOC_DRAM] = 600;
    devs[0].used[TTALLOC_TRACE] = 600;
    devs[0].total[TTALLOC_L1] = UINT64_MAX;
    devs[0].used[TTALLOC_L1] = UINT64_MAX;
    devs[0].used[TTALLOC_CB] = 1; /* the sum wraps */
    int on1[] = {1};
    char cmd[] = "";
    struct smi_process p = {
        .pid = 9, .name = "", .user = "", .cmdline = cmd, .devices = on1, .n_devices = 1};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    m.time = T_2026;
    m.devices = devs;
    m.n_devices = 2;
    m.processes = &p;
    m.n_processes = 1;
    char *text = render_query(&m);
    section_is(text, "==============TT-SMI LOG", "Attached Devices",
               "==============TT-SMI LOG==============\n\n"
               "Timestamp                     : Mon Nov 23 12:00:00 2026\n"
               "Hostname                      : N/A\n"
               "Driver Version                : N/A\n"
               "Tracking Server               : not running\n");
    assert_non_null(strstr(text, "Attached Devices              : 1"));
    assert_null(strstr(text, "Device 1")); /* not selected */
    const char *na[] = {"Board Type", "Architecture", "Bus Id",        "Serial",
                        "ASIC Id",    "AICLK",        "Temperature",   "Power Draw",
                        "Fan Speed",  "Heartbeat",    "Thermal Trips", "SHM Match"};
    for (size_t i = 0; i < sizeof(na) / sizeof(na[0]); i++) {
        char line[64];
        int indent = strcmp(na[i], "Board Type") == 0 || strcmp(na[i], "Architecture") == 0 ||
                             strcmp(na[i], "Bus Id") == 0 || strcmp(na[i], "Serial") == 0 ||
                             strcmp(na[i], "ASIC Id") == 0
                         ? 4
                         : 8;
        snprintf(line, sizeof(line), "\n%*s%-*s: N/A\n", indent, "", 30 - indent, na[i]);
        if (strstr(text, line) == NULL)
            fail_msg("no \"%s\" in\n%s", line + 1, text);
    }
    section_is(text, "        DRAM\n", "        L1 Small\n",
               "        DRAM\n"
               "            Total             : 0 MiB (1000 B)\n"
               "            Used              : 0 MiB (600 B)\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n"
               "        L1\n"
               "            Total             : 17592186044415 MiB (18446744073709551615 B)\n"
               "            Used              : 17592186044415 MiB (18446744073709551615 B)\n"
               "            Free              : N/A\n"
               "            Peak              : N/A\n");
    section_is(text, "    Processes\n", "\nLeak History\n",
               "    Processes\n"
               "        None\n"
               "    Stale SHM Entries\n"
               "        None\n");
    assert_non_null(strstr(text, "\nLeak History\n    Processes                 : N/A (no "
                                 "tt-alloc-server answered)\n"));
    free(text);

    /* no devices at all */
    m.n_devices = 0;
    text = render_query(&m);
    assert_non_null(strstr(text, "Attached Devices              : 0"));
    assert_null(strstr(text, "\nDevice "));
    free(text);
}

/* Names and labels are any user's bytes (/proc/PID/comm, ttalloc_set_label):
 * an ESC must not reach the terminal of whoever runs tt-smi, a newline must
 * not forge a row, and a cut must not split a UTF-8 character. */
static void test_hostile_names(void **state)
{
    (void)state;
    struct smi_device d;
    smi_fixture_n150(&d, 0);
    d.used_known = 1;
    int on0[] = {0};
    struct smi_usage use = {.device = 0};
    char cmd[] = "";
    struct smi_process procs[3] = {
        {.pid = 100,
         .name = "\033[2J\033[H",
         .label = "x\n   0        1 root       init  ",
         .user = "eve",
         .cmdline = cmd,
         .tracked = 1,
         .devices = on0,
         .n_devices = 1,
         .usage = &use,
         .n_usage = 1},
        /* 2-byte characters: the 22-column cut falls inside the 12th */
        {.pid = 101,
         .name = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9",
         .label = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9",
         .user = "j\xc3\xbcrgen\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc",
         .cmdline = cmd,
         .tracked = 1,
         .devices = on0,
         .n_devices = 1,
         .usage = &use,
         .n_usage = 1},
        /* a C1 CSI, a right-to-left override and broken UTF-8 */
        {.pid = 102,
         .name = "a\xc2\x9b"
                 "31mb\xe2\x80\xae"
                 "c\xff",
         .user = "u",
         .cmdline = cmd,
         .tracked = 1,
         .devices = on0,
         .n_devices = 1,
         .usage = &use,
         .n_usage = 1},
    };
    struct smi_stale stale = {.pid = 77, .device = 0, .name = "\033]0;owned\007"};
    struct smi_model m;
    memset(&m, 0, sizeof(m));
    strcpy(m.hostname, "h\033[31m");
    m.time = T_2026;
    m.server = 1;
    m.devices = &d;
    m.n_devices = 1;
    m.processes = procs;
    m.n_processes = 3;
    m.stale = &stale;
    m.n_stale = 1;

    char *text = render(&m, 0);
    no_terminal_controls(text);
    assert_true(widest_line(text) <= 80);
    assert_non_null(
        strstr(text, "Mon Nov 23 12:00:00 2026     h?[31m                   Driver: N/A\n"));
    assert_non_null(
        strstr(text, THIN "   0      100 eve        x?   0        1 root           0B       0B\n"));
    assert_non_null(strstr(text,
                           "   0      101 j\xc3\xbcrgen\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc "
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                           "\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9 (\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9     "
                           "    0B       0B\n"));
    assert_non_null(
        strstr(text, "   0      102 u          a?31mb?c?                      0B       0B\n"));
    /* three rows, one per process: the newline forged none */
    size_t rows = 0;
    for (const char *c = text; (c = strstr(c, "\n   0      ")) != NULL; c++)
        rows++;
    assert_int_equal(rows, 3);
    free(text);

    text = render_query(&m);
    no_terminal_controls(text);
    assert_non_null(strstr(text, "Hostname                      : h?[31m\n"));
    assert_non_null(strstr(text,
                           "            Name              : ?[2J?[H\n"
                           "            Label             : x?   0        1 root       init  \n"));
    assert_non_null(strstr(text, "            Name              : ?]0;owned?\n"));
    free(text);
}

int main(void)
{
    /* the table's clock is local time: make it UTC */
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_exact),         cmocka_unit_test(test_table_empty),
        cmocka_unit_test(test_table_colour),        cmocka_unit_test(test_table_widths),
        cmocka_unit_test(test_table_watts),         cmocka_unit_test(test_query_known_device),
        cmocka_unit_test(test_query_nothing_known), cmocka_unit_test(test_hostile_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
