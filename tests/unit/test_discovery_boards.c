/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_discovery_boards.c - the board table (src/discovery/boards.c): each
 * known board's architecture and per-chip capacity as docs/tt-alloc-server.md
 * ("Board capacities") gives it, unknown boards unknown (never guessed), names matched exactly, the
 * plausibility bounds, and the PCI device ids.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boards.h"

#define GIB (1024ull * 1024ull * 1024ull)

static void test_capacities(void **state)
{
    (void)state;
    static const struct {
        const char *board;
        uint64_t dram, l1;
    } known[] = {
        {"e150", 8 * GIB, 120ull * 1048576},
        {"n150", 12 * GIB, 72ull * 1499136},
        {"n300", 12 * GIB, 64ull * 1499136},
        {"p100a", 7ull * 4278190080ull, 120ull * 1572864},
        {"p150a", 8ull * 4278190080ull, 140ull * 1572864},
        {"p150b", 8ull * 4278190080ull, 140ull * 1572864},
        {"p150c", 8ull * 4278190080ull, 140ull * 1572864},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        uint64_t total[TTALLOC_NUM_TYPES];
        memset(total, 0xff, sizeof(total));
        assert_int_equal(boards_capacity(known[i].board, total), 0);
        assert_int_equal(total[TTALLOC_DRAM], known[i].dram);
        assert_int_equal(total[TTALLOC_L1], known[i].l1);
        /* Only DRAM and L1 are known per board; the rest 0 = unknown. */
        assert_int_equal(total[TTALLOC_SYSTEM_MEMORY], 0);
        assert_int_equal(total[TTALLOC_L1_SMALL], 0);
        assert_int_equal(total[TTALLOC_TRACE], 0);
        assert_int_equal(total[TTALLOC_CB], 0);
    }
}

static void test_unknown_never_guessed(void **state)
{
    (void)state;
    /* Known boards without a capacity, unknown names, near misses, garbage. */
    const char *unknown[] = {"e75",
                             "galaxy-wormhole",
                             "p100",
                             "p300a",
                             "p300b",
                             "p300c",
                             "galaxy-blackhole",
                             "unknown",
                             "",
                             "N150",
                             "n150 ",
                             " n150",
                             "n15",
                             "n1500",
                             "p150",
                             "\xff\xfe",
                             NULL};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        uint64_t total[TTALLOC_NUM_TYPES];
        memset(total, 0xff, sizeof(total));
        assert_int_equal(boards_capacity(unknown[i], total), -ENOENT);
        for (int t = 0; t < TTALLOC_NUM_TYPES; t++)
            assert_int_equal(total[t], 0);
    }
}

static void test_arch(void **state)
{
    (void)state;
    assert_string_equal(boards_arch("e75"), "grayskull");
    assert_string_equal(boards_arch("e150"), "grayskull");
    assert_string_equal(boards_arch("n150"), "wormhole");
    assert_string_equal(boards_arch("n300"), "wormhole");
    assert_string_equal(boards_arch("galaxy-wormhole"), "wormhole");
    assert_string_equal(boards_arch("p100"), "blackhole");
    assert_string_equal(boards_arch("p300c"), "blackhole");
    assert_string_equal(boards_arch("galaxy-blackhole"), "blackhole");
    assert_null(boards_arch("unknown"));
    assert_null(boards_arch(""));
    assert_null(boards_arch("n300\n")); /* sysfs newline must be stripped first */
    assert_null(boards_arch(NULL));
}

static void test_max_capacity(void **state)
{
    (void)state;
    uint64_t max[TTALLOC_NUM_TYPES];
    boards_max_capacity(max);
    /* The largest DRAM is 12 GiB (Wormhole) vs 8 Blackhole channels. */
    uint64_t dram = 8ull * 4278190080ull > 12 * GIB ? 8ull * 4278190080ull : 12 * GIB;
    assert_int_equal(max[TTALLOC_DRAM], dram);
    assert_int_equal(max[TTALLOC_TRACE], dram);
    assert_int_equal(max[TTALLOC_L1], 140ull * 1572864);
    assert_int_equal(max[TTALLOC_L1_SMALL], 140ull * 1572864);
    assert_int_equal(max[TTALLOC_CB], 140ull * 1572864);
    assert_int_equal(max[TTALLOC_SYSTEM_MEMORY], UINT64_MAX);
    /* Every known board's capacity is within the bound. */
    const char *boards[] = {"e150", "n150", "n300", "p100a", "p150a"};
    for (size_t i = 0; i < sizeof(boards) / sizeof(boards[0]); i++) {
        uint64_t total[TTALLOC_NUM_TYPES];
        assert_int_equal(boards_capacity(boards[i], total), 0);
        assert_true(total[TTALLOC_DRAM] <= max[TTALLOC_DRAM]);
        assert_true(total[TTALLOC_L1] <= max[TTALLOC_L1]);
    }
}

static void test_pci(void **state)
{
    (void)state;
    assert_string_equal(boards_arch_from_pci(0xFACA), "grayskull");
    assert_string_equal(boards_arch_from_pci(0x401E), "wormhole");
    assert_string_equal(boards_arch_from_pci(0xB140), "blackhole");
    assert_null(boards_arch_from_pci(0));
    assert_null(boards_arch_from_pci(-1));
    assert_null(boards_arch_from_pci(0x1E52));             /* the vendor id */
    assert_null(boards_arch_from_pci(INT64_MIN));          /* sysfs: unreadable */
    assert_null(boards_arch_from_pci(0x100000000401Eull)); /* no truncation to 16 bits */
    assert_null(boards_arch_from_pci(0x401E + 0x10000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacities), cmocka_unit_test(test_unknown_never_guessed),
        cmocka_unit_test(test_arch),       cmocka_unit_test(test_max_capacity),
        cmocka_unit_test(test_pci),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
