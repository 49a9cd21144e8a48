/* tests/core/check.h: CHECK(cond, fmt, ...) for the core tests: prints where and why, counts it
 * in `failures` (each test defines `static int failures;` before including this). */
#ifndef BS_TEST_CHECK_H
#define BS_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                           \
            printf(__VA_ARGS__);                                                                  \
            printf("\n");                                                                         \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)

#endif
