/*
 * Minimal unit test support: each test_*.c is its own program and
 * prints "N passed, N failed" on its last line.
 */

#ifndef _NGX_CHAT_UNIT_H_INCLUDED_
#define _NGX_CHAT_UNIT_H_INCLUDED_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int  unit_passed;
static int  unit_failed;

#define UNIT_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (cond) {                                                           \
            unit_passed++;                                                    \
        } else {                                                              \
            unit_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

#define UNIT_DONE()                                                           \
    (printf("%s: %d passed, %d failed\n", __FILE__, unit_passed,              \
            unit_failed), unit_failed ? 1 : 0)

/* n bytes c, NUL-terminated, malloc'd */
static inline char *
unit_repeat(char c, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    memset(p, c, n);
    p[n] = '\0';

    return p;
}

#endif /* _NGX_CHAT_UNIT_H_INCLUDED_ */
