/*
 * Shared by the fuzz harnesses: each fuzz_*.c defines
 * LLVMFuzzerTestOneInput() and is linked either with libFuzzer (clang,
 * "make fuzz") or with driver.c (gcc, "make unit": every corpus file once).
 */

#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* a property that does not hold is a finding: abort for a reproducer */
#define FUZZ_CHECK(cond, what)                                                \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #cond,     \
                    what);                                                    \
            abort();                                                          \
        }                                                                     \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* a deterministic stream of numbers derived from the input */
typedef struct {
    uint64_t  s;
} fuzz_rand_t;


static inline void
fuzz_rand_init(fuzz_rand_t *r, const uint8_t *data, size_t size)
{
    size_t  i;

    r->s = 0x9e3779b97f4a7c15ULL ^ size;

    for (i = 0; i < size; i++) {
        r->s = (r->s ^ data[i]) * 0x100000001b3ULL;
    }
}


static inline uint32_t
fuzz_rand(fuzz_rand_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;

    return (uint32_t) (r->s >> 16);
}


/*
 * A reference for decimal numbers: [p, end) all digits, worth at most the
 * 19-digit max; 1 and the value in *v, or 0.
 */
static inline int
fuzz_ref_number(const char *p, const char *end, const char *max, int64_t *v)
{
    size_t       n;
    const char  *q;

    if (p == end) {
        return 0;
    }

    for (q = p; q < end; q++) {
        if (*q < '0' || *q > '9') {
            return 0;
        }
    }

    while (end - p > 1 && *p == '0') {
        p++;
    }

    n = end - p;

    if (n > 19 || (n == 19 && memcmp(p, max, 19) > 0)) {
        return 0;
    }

    for (*v = 0; p < end; p++) {
        *v = *v * 10 + (*p - '0');
    }

    return 1;
}


#endif /* _FUZZ_H_INCLUDED_ */
