/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lib_producer.c - the public recording API without a server: argument
 * checks, TT_ALLOC_TRACKING=0 (no fd, no thread), flush -> -ENOTCONN when
 * nothing listens, fork (the child starts over, the parent goes on), exact
 * live and peak figures from ttalloc_process_memory (churn, threads, reset,
 * fork), and ttalloc_type_name. Each check that depends on the process-wide state runs
 * in a forked child so that it starts from a clean library.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ttalloc.h"

static int count_dir(const char *path)
{
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(dir);
    return n;
}

/* Run fn in a child process; return its exit status (0 = all checks held). */
static int in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exit(fn());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(ttalloc_record_alloc(0, (enum ttalloc_buffer_type)6, 0x1000, 1), -EINVAL);
    assert_int_equal(ttalloc_record_alloc(0, (enum ttalloc_buffer_type)255, 0x1000, 1), -EINVAL);
    assert_int_equal(ttalloc_record_alloc(0, (enum ttalloc_buffer_type) - 1, 0x1000, 1), -EINVAL);
    assert_int_equal(ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1000, 0), -EINVAL);
    assert_int_equal(ttalloc_record_free(0, (enum ttalloc_buffer_type)6, 0x1000), -EINVAL);
    assert_int_equal(ttalloc_describe_device(0, NULL), -EINVAL);
    assert_int_equal(ttalloc_set_label(NULL), -EINVAL);
    char long_label[TTALLOC_LABEL_MAX + 1];
    memset(long_label, 'x', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = '\0';
    assert_int_equal(ttalloc_set_label(long_label), -EINVAL);
}

static int child_tracking_off(void)
{
    setenv("TT_ALLOC_TRACKING", "0", 1);
    int fds = count_dir("/proc/self/fd");
    int threads = count_dir("/proc/self/task");
    if (ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1000, 4096) != 0)
        return 1;
    if (ttalloc_record_free(0, TTALLOC_DRAM, 0x1000) != 0)
        return 2;
    struct ttalloc_device_desc desc = {0};
    if (ttalloc_describe_device(0, &desc) != 0 || ttalloc_set_label("x") != 0)
        return 3;
    if (ttalloc_flush(100) != 0)
        return 4;
    /* Still invalid arguments are reported. */
    if (ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1000, 0) != -EINVAL)
        return 5;
    if (count_dir("/proc/self/fd") != fds)
        return 6;
    if (count_dir("/proc/self/task") != threads)
        return 7;
    return 0;
}

static void test_tracking_off_opens_nothing(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_tracking_off), 0);
}

static int child_no_server(void)
{
    char path[] = "/tmp/ttalloc-test-noserver-XXXXXX";
    if (mkdtemp(path) == NULL)
        return 1;
    char sock[200];
    snprintf(sock, sizeof(sock), "%s/none.sock", path);
    setenv("TT_ALLOC_SOCKET", sock, 1);
    unsetenv("TT_ALLOC_TRACKING");
    int rc = 0;
    /* Records succeed with nobody listening. */
    for (uint64_t i = 0; i < 100000 && rc == 0; i++) {
        if (ttalloc_record_alloc(0, TTALLOC_DRAM, i * 4096, 4096) != 0)
            rc = 2;
    }
    /* The first record started the thread: one more than before. */
    if (rc == 0 && ttalloc_flush(5000) != -ENOTCONN)
        rc = 3;
    if (rc == 0 && ttalloc_flush(0) != -ENOTCONN)
        rc = 4;
    rmdir(path);
    return rc;
}

static void test_flush_without_server(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_no_server), 0);
}

static int child_fork_starts_over(void)
{
    char path[] = "/tmp/ttalloc-test-fork-XXXXXX";
    if (mkdtemp(path) == NULL)
        return 1;
    char sock[200];
    snprintf(sock, sizeof(sock), "%s/none.sock", path);
    setenv("TT_ALLOC_SOCKET", sock, 1);
    ttalloc_record_alloc(0, TTALLOC_L1, 0x10, 16);
    int parent_threads = count_dir("/proc/self/task");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The parent's sender thread did not come along; the first record
         * starts the child's own. */
        int before = count_dir("/proc/self/task");
        ttalloc_record_alloc(0, TTALLOC_L1, 0x20, 16);
        int after = count_dir("/proc/self/task");
        int ok = before == 1 && after == 2 && ttalloc_flush(1000) == -ENOTCONN;
        exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
    /* The parent is unaffected: still recording, still its thread. */
    if (rc == 0 && ttalloc_record_free(0, TTALLOC_L1, 0x10) != 0)
        rc = 3;
    if (rc == 0 && count_dir("/proc/self/task") != parent_threads)
        rc = 4;
    rmdir(path);
    return rc;
}

static void test_fork_child_starts_over(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_fork_starts_over), 0);
}

#define MIB (1024u * 1024u)

static void use_no_server(void)
{
    setenv("TT_ALLOC_SOCKET", "/nonexistent/ttalloc-test.sock", 1);
    unsetenv("TT_ALLOC_TRACKING");
}

static int memory_is(uint32_t device, enum ttalloc_buffer_type type, uint64_t live, uint64_t peak)
{
    uint64_t l = 1, p = 1;
    if (ttalloc_process_memory(device, type, &l, &p) != 0)
        return 0;
    if (l != live || p != peak)
        fprintf(stderr, "memory: live %llu peak %llu, want %llu %llu\n", (unsigned long long)l,
                (unsigned long long)p, (unsigned long long)live, (unsigned long long)peak);
    return l == live && p == peak;
}

static int child_churn_peak(void)
{
    use_no_server();
    if (!memory_is(0, TTALLOC_DRAM, 0, 0))
        return 1;
    for (uint64_t i = 0; i < 10; i++)
        ttalloc_record_alloc(0, TTALLOC_DRAM, i * MIB, MIB);
    for (uint64_t i = 0; i < 200000; i++) {
        uint64_t address = (1ull << 40) + i * MIB;
        ttalloc_record_alloc(0, TTALLOC_DRAM, address, MIB);
        ttalloc_record_free(0, TTALLOC_DRAM, address);
    }
    if (!memory_is(0, TTALLOC_DRAM, 10 * MIB, 11 * MIB))
        return 2;
    /* Other types and devices are apart. */
    if (!memory_is(0, TTALLOC_L1, 0, 0) || !memory_is(7, TTALLOC_DRAM, 0, 0))
        return 3;
    /* Reset with 2 MiB live reads 2; one more 1 MiB round trip reads 3. */
    for (uint64_t i = 2; i < 10; i++)
        ttalloc_record_free(0, TTALLOC_DRAM, i * MIB);
    if (ttalloc_reset_peak() != 0 || !memory_is(0, TTALLOC_DRAM, 2 * MIB, 2 * MIB))
        return 4;
    ttalloc_record_alloc(0, TTALLOC_DRAM, 0x77, MIB);
    ttalloc_record_free(0, TTALLOC_DRAM, 0x77);
    if (!memory_is(0, TTALLOC_DRAM, 2 * MIB, 3 * MIB))
        return 5;
    uint64_t live;
    if (ttalloc_process_memory(0, (enum ttalloc_buffer_type)6, &live, NULL) != -EINVAL)
        return 6;
    if (ttalloc_process_memory(0, TTALLOC_DRAM, NULL, NULL) != 0)
        return 7;
    return 0;
}

static void test_process_memory_is_exact(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_churn_peak), 0);
}

static void *one_buffer_churn(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg << 40;
    for (uint64_t i = 0; i < 50000; i++) {
        ttalloc_record_alloc(0, TTALLOC_L1, base + i * MIB, MIB);
        ttalloc_record_free(0, TTALLOC_L1, base + i * MIB);
    }
    return NULL;
}

static int child_threads_peak(void)
{
    use_no_server();
    pthread_t threads[4];
    for (uintptr_t t = 0; t < 4; t++)
        pthread_create(&threads[t], NULL, one_buffer_churn, (void *)(t + 1));
    for (int t = 0; t < 4; t++)
        pthread_join(threads[t], NULL);
    uint64_t live = 1, peak = 0;
    ttalloc_process_memory(0, TTALLOC_L1, &live, &peak);
    return live == 0 && peak >= MIB && peak <= 4 * MIB ? 0 : 1;
}

static void test_threads_never_exceed_their_sum(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_threads_peak), 0);
}

static int child_fork_memory(void)
{
    use_no_server();
    ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1, 5 * MIB);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = memory_is(0, TTALLOC_DRAM, 0, 0);
        ttalloc_record_alloc(0, TTALLOC_DRAM, 0x2, MIB);
        ok = ok && memory_is(0, TTALLOC_DRAM, MIB, MIB);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    return memory_is(0, TTALLOC_DRAM, 5 * MIB, 5 * MIB) ? 0 : 2;
}

static void test_fork_child_memory_starts_empty(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_fork_memory), 0);
}

static int child_tracking_off_memory(void)
{
    setenv("TT_ALLOC_TRACKING", "0", 1);
    ttalloc_record_alloc(0, TTALLOC_DRAM, 0x1, MIB);
    if (ttalloc_reset_peak() != 0)
        return 1;
    return memory_is(0, TTALLOC_DRAM, 0, 0) ? 0 : 2;
}

static void test_tracking_off_counts_nothing(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_tracking_off_memory), 0);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(ttalloc_type_name(TTALLOC_DRAM), "dram");
    assert_string_equal(ttalloc_type_name(TTALLOC_L1), "l1");
    assert_string_equal(ttalloc_type_name(TTALLOC_SYSTEM_MEMORY), "system_memory");
    assert_string_equal(ttalloc_type_name(TTALLOC_L1_SMALL), "l1_small");
    assert_string_equal(ttalloc_type_name(TTALLOC_TRACE), "trace");
    assert_string_equal(ttalloc_type_name(TTALLOC_CB), "cb");
    assert_null(ttalloc_type_name((enum ttalloc_buffer_type)6));
    assert_null(ttalloc_type_name((enum ttalloc_buffer_type) - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_tracking_off_opens_nothing),
        cmocka_unit_test(test_flush_without_server),
        cmocka_unit_test(test_fork_child_starts_over),
        cmocka_unit_test(test_process_memory_is_exact),
        cmocka_unit_test(test_threads_never_exceed_their_sum),
        cmocka_unit_test(test_fork_child_memory_starts_empty),
        cmocka_unit_test(test_tracking_off_counts_nothing),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
