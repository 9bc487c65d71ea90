/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_buftype.c - the one table of buffer type names
 * (src/common/buftype.c): each type's key, TT-Metal and tt-smi -q spelling,
 * NULL out of range, keys parsed back (exactly: no case folding, no
 * prefixes), and the device types in the order the tools list them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buftype.h"

/* Every type's name in one string, '|' between them. */
static void joined(const char *(*name)(unsigned), char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++) {
        assert_non_null(name(t));
        len += (size_t)snprintf(out + len, cap - len, "%s%s", t ? "|" : "", name(t));
        assert_true(len < cap);
    }
}

static void test_names(void **state)
{
    (void)state;
    char all[128];
    joined(buftype_key, all, sizeof(all));
    assert_string_equal(all, "dram|l1|system_memory|l1_small|trace|cb");
    joined(buftype_upper, all, sizeof(all));
    assert_string_equal(all, "DRAM|L1|SYSTEM_MEMORY|L1_SMALL|TRACE|CB");
    joined(buftype_title, all, sizeof(all));
    assert_string_equal(all, "DRAM|L1|System Memory|L1 Small|Trace|CB");
    for (unsigned t = 0; t < TTALLOC_NUM_TYPES; t++)
        assert_int_equal(buftype_from_key(buftype_key(t)), (int)t);
    const unsigned out[] = {TTALLOC_NUM_TYPES, 255, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        assert_null(buftype_key(out[i]));
        assert_null(buftype_upper(out[i]));
        assert_null(buftype_title(out[i]));
    }
}

static void test_from_key_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"",       "DRAM", "Dram",   "dram ",   " dram", "l1_", "l",
                         "system", "sram", "dram\n", "l1small", "cbx",   "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(buftype_from_key(bad[i]), -1);
    assert_int_equal(buftype_from_key(NULL), -1);
}

static void test_device_types(void **state)
{
    (void)state;
    /* the contract's order: dram, l1, l1_small, trace, cb; never system_memory */
    const enum ttalloc_buffer_type want[] = {TTALLOC_DRAM, TTALLOC_L1, TTALLOC_L1_SMALL,
                                             TTALLOC_TRACE, TTALLOC_CB};
    assert_int_equal(BUFTYPE_N_DEVICE, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < BUFTYPE_N_DEVICE; i++)
        assert_int_equal(buftype_device[i], want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_from_key_garbage),
        cmocka_unit_test(test_device_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
