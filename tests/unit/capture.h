/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture.h - what a unit test's code writes to stderr (a log line, a
 * progress line), sent to a temporary file between capture_start and
 * capture_end and given back as text. One capture at a time; include it
 * after cmocka.h.
 */
#ifndef TTALLOC_TEST_CAPTURE_H
#define TTALLOC_TEST_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

static FILE *capture_file;
static int capture_saved_stderr = -1;

/* stderr into a fresh temporary file. */
static inline void capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    capture_saved_stderr = dup(STDERR_FILENO);
    assert_true(capture_saved_stderr >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* What was written since capture_start, into buf (cut to cap - 1 bytes);
 * stderr is restored. */
static inline const char *capture_end(char *buf, size_t cap)
{
    fflush(stderr);
    dup2(capture_saved_stderr, STDERR_FILENO);
    close(capture_saved_stderr);
    capture_saved_stderr = -1;
    rewind(capture_file);
    size_t n = fread(buf, 1, cap - 1, capture_file);
    buf[n] = '\0';
    fclose(capture_file);
    capture_file = NULL;
    return buf;
}

#endif /* TTALLOC_TEST_CAPTURE_H */
