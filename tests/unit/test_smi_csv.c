/* SPDX-License-Identifier: Apache-2.0 */
/* test_smi_csv.c - --query-* field lists and --format parsing: garbage,
 * empty items and extremes are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smi_csv.h"

static void test_fields(void **state)
{
    (void)state;
    struct smi_csv_query q;
    const char *bad;
    size_t len;
    assert_int_equal(smi_csv_parse_fields(&q, 0, "index,name,memory.used", &bad, &len), 0);
    assert_int_equal(q.n_fields, 3);
    assert_int_equal(smi_csv_parse_fields(&q, 1, "pid,used_memory,used_l1", &bad, &len), 0);
    assert_int_equal(smi_csv_parse_fields(&q, 0, "index,bogus,name", &bad, &len), -EINVAL);
    assert_int_equal(len, 5);
    assert_memory_equal(bad, "bogus", 5);
    assert_int_equal(smi_csv_parse_fields(&q, 0, "pid", &bad, &len), -EINVAL); /* apps only */
    assert_int_equal(smi_csv_parse_fields(&q, 0, "", &bad, &len), -EINVAL);
    assert_int_equal(smi_csv_parse_fields(&q, 0, "index,", &bad, &len), -EINVAL);
    assert_int_equal(smi_csv_parse_fields(&q, 0, "index,,name", &bad, &len), -EINVAL);
    assert_int_equal(smi_csv_parse_fields(&q, 0, "indexx", &bad, &len), -EINVAL);
    char many[SMI_CSV_MAX_FIELDS * 6 + 8] = "index";
    for (int i = 0; i < SMI_CSV_MAX_FIELDS; i++)
        strcat(many, ",index");
    assert_int_equal(smi_csv_parse_fields(&q, 0, many, &bad, &len), -EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    struct smi_csv_query q;
    assert_int_equal(smi_csv_parse_format(&q, "csv"), 0);
    assert_true(q.header && q.units);
    assert_int_equal(smi_csv_parse_format(&q, "csv,noheader"), 0);
    assert_true(!q.header && q.units);
    assert_int_equal(smi_csv_parse_format(&q, "csv,nounits,noheader"), 0);
    assert_true(!q.header && !q.units);
    const char *bad[] = {"",    "json",         "csvx", "csv,", "csv,,noheader", "csv,noheaders",
                         "CSV", "csv,noheader,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(smi_csv_parse_format(&q, bad[i]), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
