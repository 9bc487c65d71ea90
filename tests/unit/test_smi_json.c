/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_smi_json.c - tt-smi --json (src/smi/smi_json.c): the whole text for a
 * small fixed model; every output parsed by a strict JSON reader (jsonread.h) and
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

#include "jsonread.h"
#include "smi_fixture.h"
#include "smi_json.h"

#define T_2026 1795435200 /* 2026-11-23T12:00:00Z */

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
