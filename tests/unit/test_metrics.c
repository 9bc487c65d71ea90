/*
 * test_metrics.c - the Prometheus page (src/server/metrics.c): label
 * escaping and UTF-8 repair, top-N processes with the rest summed as
 * pid="other", unknown values left out, a HELP and TYPE line per family,
 * and the --metrics address parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "ledger.h"
#include "metrics.h"
#include "sysfs.h"

static void alloc_in(struct ledger *l, struct ledger_process *p, uint32_t device, uint8_t type,
                     uint64_t address, uint64_t size)
{
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.address = address;
    ev.size = size;
    ev.device = device;
    ev.type = type;
    ev.op = PROTO_OP_ALLOC;
    assert_int_equal(ledger_apply_events(l, p, &ev, 1, NULL), 0);
}

static struct ledger_process *proc(struct ledger *l, int32_t pid, const char *name)
{
    struct ledger_process *p = NULL;
    assert_int_equal(ledger_attach(l, pid, 1000, name, NULL, 1, &p), 0);
    return p;
}

/* The page rendered from in, as a NUL-terminated string the caller frees. */
static char *render(const struct metrics_input *in)
{
    struct metrics_buf b;
    metrics_buf_init(&b);
    assert_int_equal(metrics_render(in, &b), 0);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len);
    return b.data;
}

/* The value of the sample whose line starts with `series ` (name and labels
 * exactly), or -1 when there is no such line. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = page; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static size_t count(const char *page, const char *needle)
{
    size_t c = 0;
    for (const char *at = strstr(page, needle); at != NULL; at = strstr(at + 1, needle))
        c++;
    return c;
}

static void label(const char *in, const char *want)
{
    struct metrics_buf b;
    metrics_buf_init(&b);
    metrics_buf_label(&b, in);
    assert_int_equal(b.failed, 0);
    assert_string_equal(b.data != NULL ? b.data : "", want);
    metrics_buf_release(&b);
}

static void test_label_escaping(void **state)
{
    (void)state;
    label("python3", "python3");
    label("a\\b\"c\nd", "a\\\\b\\\"c\\nd");
    label("caf\xc3\xa9", "caf\xc3\xa9");                    /* valid UTF-8 stays */
    label("x\xffy", "x\xef\xbf\xbdy");                      /* a stray byte */
    label("\xc3", "\xef\xbf\xbd");                          /* a cut sequence */
    label("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");          /* overlong */
    label("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */
    label("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");          /* 4 bytes */
    label("", "");
}

static void test_top_n_and_other(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct ledger_process *big = proc(&l, 300, "big");
    struct ledger_process *mid = proc(&l, 100, "we\"ird\\");
    struct ledger_process *small = proc(&l, 200, "small");
    struct ledger_process *tiny = proc(&l, 50, "tiny");
    alloc_in(&l, big, 0, TTALLOC_DRAM, 0x1000, 1000000);
    alloc_in(&l, mid, 0, TTALLOC_DRAM, 0x1000, 5000);
    alloc_in(&l, mid, 1, TTALLOC_L1, 0x10, 7);
    alloc_in(&l, small, 0, TTALLOC_DRAM, 0x1000, 300);
    alloc_in(&l, small, 0, TTALLOC_CB, 0x20, 11);
    alloc_in(&l, tiny, 0, TTALLOC_DRAM, 0x1000, 20);
    alloc_in(&l, tiny, 1, TTALLOC_TRACE, 0x1000, 2);

    struct metrics_input in = {.ledger = &l, .clients = 3, .top = 2};
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"300\",comm=\"big\"}") == 1000000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"100\",comm=\"we\\\"ird\\\\\"}") == 5000);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"l1\","
                             "pid=\"100\",comm=\"we\\\"ird\\\\\"}") == 7);
    /* the two smaller ones only as "other", per device and type */
    assert_int_equal(count(page, "pid=\"200\""), 0);
    assert_int_equal(count(page, "pid=\"50\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 320);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"cb\","
                             "pid=\"other\",comm=\"other\"}") == 11);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"trace\","
                             "pid=\"other\",comm=\"other\"}") == 2);
    /* device totals add every process */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"0\",type=\"dram\"}") ==
                1005320);
    assert_true(sample(page, "ttalloc_device_memory_peak_bytes{device=\"1\",type=\"l1\"}") == 7);
    assert_true(sample(page, "ttalloc_clients") == 3);
    assert_true(sample(page, "ttalloc_events_total") == 7);
    free(page);

    /* top large enough: no "other" at all */
    in.top = 20;
    page = render(&in);
    assert_int_equal(count(page, ",pid=\"other\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"1\",type=\"trace\","
                             "pid=\"50\",comm=\"tiny\"}") == 2);
    free(page);

    /* top 0: everything is "other" */
    in.top = 0;
    page = render(&in);
    assert_int_equal(count(page, "pid=\"300\""), 0);
    assert_true(sample(page, "ttalloc_process_memory_used_bytes{device=\"0\",type=\"dram\","
                             "pid=\"other\",comm=\"other\"}") == 1005320);
    free(page);
    ledger_destroy(&l);
}

static struct sysfs_device unknown_device(int index)
{
    struct sysfs_device d;
    memset(&d, 0, sizeof(d));
    d.index = index;
    d.pci_vendor = d.pci_device = d.aiclk_mhz = d.axiclk_mhz = d.arcclk_mhz = SYSFS_UNKNOWN;
    d.heartbeat = d.therm_trip_count = d.temp_mc = d.temp_max_mc = SYSFS_UNKNOWN;
    d.vcore_mv = d.vcore_max_mv = d.current_ma = d.current_max_ma = SYSFS_UNKNOWN;
    d.power_uw = d.power_max_uw = d.fan_rpm = SYSFS_UNKNOWN;
    return d;
}

static void test_unknown_values_omitted(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    struct sysfs_device devs[2];
    devs[0] = unknown_device(0);          /* knows nothing */
    devs[1] = unknown_device(4);          /* sparse ordinal, knows a lot */
    snprintf(devs[1].card_type, sizeof(devs[1].card_type), "n150");
    snprintf(devs[1].arch, sizeof(devs[1].arch), "wormhole");
    snprintf(devs[1].bus_id, sizeof(devs[1].bus_id), "0000:04:00.0");
    snprintf(devs[1].serial, sizeof(devs[1].serial), "0123456789ABCDEF");
    devs[1].temp_mc = 46500;
    devs[1].power_uw = 23250000;
    devs[1].aiclk_mhz = 1000;

    struct metrics_input in = {.ledger = &l, .devs = devs, .n_devs = 2, .top = 20};
    char *page = render(&in);
    /* device 0: used known (0: nothing tracked), total, telemetry unknown: absent */
    assert_true(sample(page, "ttalloc_device_memory_used_bytes{device=\"0\",type=\"dram\"}") == 0);
    assert_int_equal(count(page, "ttalloc_device_memory_total_bytes{device=\"0\""), 0);
    assert_int_equal(count(page, "ttalloc_device_temperature_celsius{device=\"0\"}"), 0);
    assert_int_equal(count(page, "ttalloc_device_power_watts{device=\"0\"}"), 0);
    assert_int_equal(count(page, "ttalloc_device_aiclk_hertz{device=\"0\"}"), 0);
    assert_true(sample(page, "ttalloc_device_info{device=\"0\",arch=\"\",board_type=\"\","
                             "bus_id=\"\",serial=\"\"}") == 1);
    /* device 4: n150 capacity from the board table (DRAM, L1 only), telemetry in base units */
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"dram\"}") ==
                12884901888.0);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"l1\"}") ==
                72.0 * 1499136.0);
    assert_int_equal(count(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"cb\"}"),
                     0);
    assert_true(sample(page, "ttalloc_device_temperature_celsius{device=\"4\"}") == 46.5);
    assert_true(sample(page, "ttalloc_device_power_watts{device=\"4\"}") == 23.25);
    assert_true(sample(page, "ttalloc_device_aiclk_hertz{device=\"4\"}") == 1e9);
    assert_true(sample(page, "ttalloc_device_info{device=\"4\",arch=\"wormhole\","
                             "board_type=\"n150\",bus_id=\"0000:04:00.0\","
                             "serial=\"0123456789ABCDEF\"}") == 1);
    assert_int_equal(count(page, "ttalloc_device_power_limit_watts{"), 0);
    free(page);

    /* an app's description beats the board table; a ledger-only device shows too */
    struct ttalloc_device_desc desc;
    memset(&desc, 0, sizeof(desc));
    desc.capacity[TTALLOC_DRAM] = 1000;
    desc.capacity[TTALLOC_CB] = 77;
    desc.board_serial = 0xABCull;
    assert_int_equal(ledger_describe(&l, 4, &desc), 0);
    assert_int_equal(ledger_describe(&l, 2, &desc), 0);
    page = render(&in);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"dram\"}") ==
                1000);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"l1\"}") ==
                72.0 * 1499136.0);
    assert_true(sample(page, "ttalloc_device_memory_total_bytes{device=\"4\",type=\"cb\"}") == 77);
    assert_true(sample(page, "ttalloc_device_info{device=\"2\",arch=\"\",board_type=\"\","
                             "bus_id=\"\",serial=\"0000000000000ABC\"}") == 1);
    /* devices in ascending order: 0, 2, 4 */
    const char *d0 = strstr(page, "ttalloc_device_memory_used_bytes{device=\"0\"");
    const char *d2 = strstr(page, "ttalloc_device_memory_used_bytes{device=\"2\"");
    const char *d4 = strstr(page, "ttalloc_device_memory_used_bytes{device=\"4\"");
    assert_true(d0 != NULL && d2 != NULL && d4 != NULL && d0 < d2 && d2 < d4);
    free(page);
    ledger_destroy(&l);
}

static void test_every_family_has_help_and_type(void **state)
{
    (void)state;
    struct ledger l;
    assert_int_equal(ledger_init(&l, NULL), 0);
    uint64_t disconnects[METRICS_NUM_REASONS] = {0};
    disconnects[METRICS_REASON_SLOW] = 4;
    struct metrics_input in = {.ledger = &l, .disconnects = disconnects, .top = 20};
    char *page = render(&in);
    assert_true(sample(page, "ttalloc_client_disconnects_total{reason=\"slow\"}") == 4);
    assert_true(sample(page, "ttalloc_client_disconnects_total{reason=\"eof\"}") == 0);
    assert_true(sample(page, "ttalloc_process_exits_total{leaked=\"true\"}") == 0);
    assert_true(sample(page, "ttalloc_process_exits_total{leaked=\"false\"}") == 0);
    /* each sample's family was announced by HELP and TYPE before it */
    size_t helps = count(page, "# HELP "), types = count(page, "# TYPE ");
    assert_int_equal(helps, types);
    assert_true(helps >= 15);
    for (const char *line = page; *line != '\0'; line = strchr(line, '\n') + 1) {
        if (line[0] == '#')
            continue;
        size_t n = strcspn(line, "{ ");
        char want[128];
        assert_true(n < 100);
        snprintf(want, sizeof(want), "# TYPE %.*s ", (int)n, line);
        const char *decl = strstr(page, want);
        assert_non_null(decl);
        assert_true(decl < line);
    }
    free(page);
    ledger_destroy(&l);
}

static void test_parse_addr(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    assert_int_equal(metrics_parse_addr("127.0.0.1:9464", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9464);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(metrics_parse_addr("[::1]:80", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 80);
    assert_int_equal(metrics_parse_addr("0.0.0.0:65535", &sa, &len), 0);
    static const char *const bad[] = {
        "", "9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:94x", "127.0.0.1:-1", "localhost:9464", "::1:9464", "[::1]9464",
        "[127.0.0.1]:80", "[::1:80", "1.2.3.4.5:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (metrics_parse_addr(bad[i], &sa, &len) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_top_n_and_other),
        cmocka_unit_test(test_unknown_values_omitted),
        cmocka_unit_test(test_every_family_has_help_and_type),
        cmocka_unit_test(test_parse_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
