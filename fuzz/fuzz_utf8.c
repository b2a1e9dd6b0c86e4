/*
 * UTF-8 validation (src/core/ngx_chat_utf8.c) against a reference written
 * here: a code point decoder (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF).  The whole-buffer verdict, the incremental
 * validator fed in chunks, and the byte at which it rejects must agree.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_chat_utf8.h"


static int ref_prefix_ok(uint32_t cp, size_t got, size_t need,
    uint32_t min);
static long ref_reject_at(const uint8_t *p, size_t len, int *valid);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          valid;
    long         bad;
    size_t       pos, n;
    uint32_t     st;
    fuzz_rand_t  rnd;

    bad = ref_reject_at(data, size, &valid);

    FUZZ_CHECK(ngx_chat_utf8_valid(data, size) == valid,
               "whole verdict differs from the reference");

    fuzz_rand_init(&rnd, data, size);
    st = NGX_CHAT_UTF8_ACCEPT;

    for (pos = 0; pos < size; pos += n) {
        n = 1 + fuzz_rand(&rnd) % 9;
        if (n > size - pos) {
            n = size - pos;
        }

        st = ngx_chat_utf8_feed(st, data + pos, n);

        /* REJECT exactly once the chunk holds the first impossible byte */
        FUZZ_CHECK((st == NGX_CHAT_UTF8_REJECT)
                   == (bad >= 0 && (size_t) bad < pos + n),
                   "incremental state differs from the reference");
    }

    FUZZ_CHECK((st == NGX_CHAT_UTF8_ACCEPT) == valid,
               "final incremental state differs from the reference");

    return 0;
}


/*
 * Whether a sequence of need bytes whose first got bytes give the code
 * point bits cp can still be completed into a valid code point: some
 * value of the bits left must be >= min (not overlong), <= U+10FFFF and
 * outside the surrogates.
 */
static int
ref_prefix_ok(uint32_t cp, size_t got, size_t need, uint32_t min)
{
    uint32_t  lo, hi;

    lo = cp << (6 * (need - got));
    hi = lo | ((1u << (6 * (need - got))) - 1);

    if (hi < min || lo > 0x10ffff) {
        return 0;
    }

    return !(lo >= 0xd800 && hi <= 0xdfff);
}


/*
 * The index of the first byte that no valid text can have there, or -1;
 * *valid: the whole input is complete valid UTF-8.
 */
static long
ref_reject_at(const uint8_t *p, size_t len, int *valid)
{
    size_t    i, j, need;
    uint32_t  cp, min;

    *valid = 1;

    for (i = 0; i < len; i += need) {
        if (p[i] < 0x80) {
            need = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            need = 2; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            need = 3; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            need = 4; cp = p[i] & 0x07; min = 0x10000;

        } else {
            *valid = 0;
            return (long) i;
        }

        if (!ref_prefix_ok(cp, 1, need, min)) {
            *valid = 0;
            return (long) i;
        }

        for (j = 1; j < need; j++) {
            if (i + j == len) {
                /* cut short, but not wrong so far */
                *valid = 0;
                return -1;
            }

            if ((p[i + j] & 0xc0) != 0x80) {
                *valid = 0;
                return (long) (i + j);
            }

            cp = (cp << 6) | (p[i + j] & 0x3f);

            if (!ref_prefix_ok(cp, j + 1, need, min)) {
                *valid = 0;
                return (long) (i + j);
            }
        }
    }

    return -1;
}
