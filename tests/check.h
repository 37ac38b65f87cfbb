/* check.h - the tiny assertion kit of the unit tests.
 *
 * CHECK(cond, fmt, ...) records a failure with a message and goes on;
 * check_summary() prints "N passed, N failed" and returns the exit status.
 */
#ifndef CALLWATCH_TESTS_CHECK_H
#define CALLWATCH_TESTS_CHECK_H

#include <stdio.h>

static int check_passed_count;
static int check_failed_count;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            check_passed_count++;                                              \
        } else {                                                               \
            check_failed_count++;                                              \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_passed_count, check_failed_count);
    return check_failed_count == 0 && check_passed_count > 0 ? 0 : 1;
}

#endif
