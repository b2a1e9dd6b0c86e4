/*
 * Unit tests of the incremental UTF-8 validator.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "ngx_chat_utf8.h"


typedef struct {
    const char  *name;
    const char  *bytes;
    size_t       len;
    int          fail_at;   /* index of the rejected byte, -1 valid,
                               -2 a valid prefix cut short */
} utf8_case_t;


#define S(s)  s, sizeof(s) - 1

static const utf8_case_t  cases[] = {
    { "empty", S(""), -1 },
    { "ascii", S("hello, world"), -1 },
    { "long ascii", S("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"), -1 },
    { "2-byte", S("\xc3\xa9t\xc3\xa9"), -1 },
    { "3-byte", S("\xe2\x82\xac"), -1 },
    { "4-byte", S("\xf0\x9f\x98\x80"), -1 },
    { "mixed", S("ab\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5-xyz"), -1 },
    { "U+0080", S("\xc2\x80"), -1 },
    { "U+07FF", S("\xdf\xbf"), -1 },
    { "U+0800", S("\xe0\xa0\x80"), -1 },
    { "U+D7FF", S("\xed\x9f\xbf"), -1 },
    { "U+E000", S("\xee\x80\x80"), -1 },
    { "U+FFFF", S("\xef\xbf\xbf"), -1 },
    { "U+FFFE", S("\xef\xbf\xbe"), -1 },
    { "U+10000", S("\xf0\x90\x80\x80"), -1 },
    { "U+10FFFF", S("\xf4\x8f\xbf\xbf"), -1 },
    { "NUL", S("a\0b"), -1 },

    { "lone continuation", S("ab\x80"), 2 },
    { "continuation BF", S("\xbf"), 0 },
    { "C0 overlong", S("\xc0\xaf"), 0 },
    { "C1 overlong", S("\xc1\xbf"), 0 },
    { "E0 overlong", S("\xe0\x80\xaf"), 1 },
    { "E0 9F overlong", S("\xe0\x9f\xbf"), 1 },
    { "F0 overlong", S("\xf0\x80\x80\xaf"), 1 },
    { "F0 8F overlong", S("\xf0\x8f\xbf\xbf"), 1 },
    { "surrogate D800", S("\xed\xa0\x80"), 1 },
    { "surrogate DFFF", S("\xed\xbf\xbf"), 1 },
    { "surrogate pair", S("\xed\xa0\x80\xed\xb0\x80"), 1 },
    { "U+110000", S("\xf4\x90\x80\x80"), 1 },
    { "F5", S("\xf5\x80\x80\x80"), 0 },
    { "F8 5-byte", S("\xf8\x88\x80\x80\x80"), 0 },
    { "FC 6-byte", S("\xfc\x84\x80\x80\x80\x80"), 0 },
    { "FE", S("a\xfe"), 1 },
    { "FF", S("\xff"), 0 },
    { "2-byte then ascii", S("\xc3" "a"), 1 },
    { "3-byte then ascii", S("\xe2\x82" "a"), 2 },
    { "4-byte then lead", S("\xf0\x9f\x98\xc3\xa9"), 3 },
    { "valid then bad", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
                          "\xf4\x90\x80\x80" "edited"), 12 },
    { "bad after ascii run", S("0123456789abcdef\x80"), 16 },

    { "truncated 2", S("\xc3"), -2 },
    { "truncated 3", S("a\xe2\x82"), -2 },
    { "truncated 4", S("\xf0\x9f\x98"), -2 },
    { "truncated F4", S("\xf4\x8f"), -2 },
};


/* the state after feeding p one byte at a time, and where it rejected */

static uint32_t
feed_bytewise(const uint8_t *p, size_t len, int *fail_at)
{
    size_t    i;
    uint32_t  st;

    st = NGX_CHAT_UTF8_ACCEPT;
    *fail_at = -1;

    for (i = 0; i < len; i++) {
        st = ngx_chat_utf8_feed(st, p + i, 1);

        if (st == NGX_CHAT_UTF8_REJECT && *fail_at < 0) {
            *fail_at = (int) i;
        }
    }

    return st;
}


static void
test_table(void)
{
    int                 fail_at, expect_valid;
    size_t              i, a, b;
    uint32_t            st, whole;
    const uint8_t      *p;
    const utf8_case_t  *c;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = &cases[i];
        p = (const uint8_t *) c->bytes;
        expect_valid = (c->fail_at == -1);

        UNIT_CHECK(ngx_chat_utf8_valid(p, c->len) == expect_valid,
                   "%s: valid", c->name);

        whole = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p, c->len);

        if (c->fail_at >= 0) {
            UNIT_CHECK(whole == NGX_CHAT_UTF8_REJECT, "%s: whole", c->name);

        } else if (c->fail_at == -1) {
            UNIT_CHECK(whole == NGX_CHAT_UTF8_ACCEPT, "%s: whole", c->name);

        } else {
            UNIT_CHECK(whole != NGX_CHAT_UTF8_ACCEPT
                       && whole != NGX_CHAT_UTF8_REJECT,
                       "%s: whole state %u", c->name, (unsigned) whole);
        }

        st = feed_bytewise(p, c->len, &fail_at);

        UNIT_CHECK(st == whole, "%s: bytewise state", c->name);
        UNIT_CHECK(fail_at == (c->fail_at >= 0 ? c->fail_at : -1),
                   "%s: fails at %d, expected %d", c->name, fail_at,
                   c->fail_at);

        /* fail fast: the prefix up to the bad byte is already rejected */

        if (c->fail_at >= 0) {
            st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p,
                                    (size_t) c->fail_at + 1);
            UNIT_CHECK(st == NGX_CHAT_UTF8_REJECT, "%s: prefix", c->name);

            st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p,
                                    (size_t) c->fail_at);
            UNIT_CHECK(st != NGX_CHAT_UTF8_REJECT, "%s: short prefix",
                       c->name);
        }

        /* every 2-way and 3-way split gives the same final state */

        for (a = 0; a <= c->len; a++) {
            for (b = a; b <= c->len; b++) {
                st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p, a);
                st = ngx_chat_utf8_feed(st, p + a, b - a);
                st = ngx_chat_utf8_feed(st, p + b, c->len - b);

                UNIT_CHECK(st == whole, "%s: split %zu/%zu", c->name, a, b);
            }
        }
    }
}


static void
test_sticky(void)
{
    uint32_t  st;

    st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, (const uint8_t *) "\xff",
                            1);
    UNIT_CHECK(st == NGX_CHAT_UTF8_REJECT, "reject");

    st = ngx_chat_utf8_feed(st, (const uint8_t *) "abc", 3);
    UNIT_CHECK(st == NGX_CHAT_UTF8_REJECT, "reject is sticky");

    st = ngx_chat_utf8_feed(st, NULL, 0);
    UNIT_CHECK(st == NGX_CHAT_UTF8_REJECT, "reject is sticky on empty");

    st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, NULL, 0);
    UNIT_CHECK(st == NGX_CHAT_UTF8_ACCEPT, "empty input");
}


/*
 * An independent reference: decode each code point and check the rules of
 * RFC 3629 after the fact.
 */

static int
ref_valid(const uint8_t *p, size_t len)
{
    size_t    n, i;
    uint32_t  cp, min;

    while (len > 0) {
        if (p[0] < 0x80) {
            n = 1; cp = p[0]; min = 0;

        } else if ((p[0] & 0xe0) == 0xc0) {
            n = 2; cp = p[0] & 0x1f; min = 0x80;

        } else if ((p[0] & 0xf0) == 0xe0) {
            n = 3; cp = p[0] & 0x0f; min = 0x800;

        } else if ((p[0] & 0xf8) == 0xf0) {
            n = 4; cp = p[0] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len < n) {
            return 0;
        }

        for (i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        p += n;
        len -= n;
    }

    return 1;
}


static void
test_exhaustive(void)
{
    int       bad;
    uint8_t   s[4];
    uint32_t  i;

    bad = 0;

    /* every 1, 2 and 3 byte string */

    for (i = 0; i < 0x1000000; i++) {
        s[0] = (uint8_t) (i >> 16);
        s[1] = (uint8_t) (i >> 8);
        s[2] = (uint8_t) i;

        if (i < 0x100) {
            bad += ngx_chat_utf8_valid(s + 2, 1) != ref_valid(s + 2, 1);
        }

        if (i < 0x10000) {
            bad += ngx_chat_utf8_valid(s + 1, 2) != ref_valid(s + 1, 2);
        }

        bad += ngx_chat_utf8_valid(s, 3) != ref_valid(s, 3);
    }

    UNIT_CHECK(bad == 0, "1-3 byte strings disagree with reference: %d",
               bad);

    /* 4 byte strings with a 4-byte lead and continuation tail */

    bad = 0;

    for (i = 0; i < 0x100000; i++) {
        s[0] = (uint8_t) (0xf0 | (i >> 16));
        s[1] = (uint8_t) (i >> 8);
        s[2] = (uint8_t) (0x80 | ((i >> 2) & 0x3f));
        s[3] = (uint8_t) (0x80 | ((i * 7) & 0x3f));

        bad += ngx_chat_utf8_valid(s, 4) != ref_valid(s, 4);
    }

    UNIT_CHECK(bad == 0, "4 byte strings disagree with reference: %d", bad);
}


static size_t
encode(uint32_t cp, uint8_t *p)
{
    if (cp < 0x80) {
        p[0] = (uint8_t) cp;
        return 1;
    }

    if (cp < 0x800) {
        p[0] = (uint8_t) (0xc0 | (cp >> 6));
        p[1] = (uint8_t) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        p[0] = (uint8_t) (0xe0 | (cp >> 12));
        p[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        p[2] = (uint8_t) (0x80 | (cp & 0x3f));
        return 3;
    }

    p[0] = (uint8_t) (0xf0 | (cp >> 18));
    p[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
    p[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
    p[3] = (uint8_t) (0x80 | (cp & 0x3f));
    return 4;
}


static void
test_all_code_points(void)
{
    int       bad;
    size_t    n;
    uint8_t   s[4];
    uint32_t  cp, st;

    bad = 0;

    for (cp = 0; cp <= 0x10ffff; cp++) {
        n = encode(cp, s);
        st = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, s, n);

        if (cp >= 0xd800 && cp <= 0xdfff) {
            bad += (st != NGX_CHAT_UTF8_REJECT);

        } else {
            bad += (st != NGX_CHAT_UTF8_ACCEPT);
        }
    }

    UNIT_CHECK(bad == 0, "code points misjudged: %d", bad);
}


/* random mixes of valid text: incremental feeding at random cuts */

static void
test_random(void)
{
    int       i, j, bad;
    size_t    len, n, off, cut;
    uint8_t   buf[512];
    uint32_t  cp, st, whole;

    srand(12345);
    bad = 0;

    for (i = 0; i < 2000; i++) {
        len = 0;

        for (j = 0; j < 60; j++) {
            switch (rand() % 4) {
            case 0:
                cp = (uint32_t) (rand() % 0x80);
                break;
            case 1:
                cp = 0x80 + (uint32_t) (rand() % 0x780);
                break;
            case 2:
                cp = 0x800 + (uint32_t) (rand() % 0xf800);
                break;
            default:
                cp = 0x10000 + (uint32_t) (rand() % 0x100000);
                break;
            }

            if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 'x';
            }

            len += encode(cp, buf + len);
        }

        /* sometimes corrupt one byte */

        if (i % 3 == 0) {
            buf[(size_t) rand() % len] = (uint8_t) rand();
        }

        whole = ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, buf, len);

        if (i % 3 != 0) {
            bad += (whole != NGX_CHAT_UTF8_ACCEPT);
        }

        st = NGX_CHAT_UTF8_ACCEPT;

        for (off = 0; off < len; off += n) {
            cut = (size_t) rand() % 20;
            n = (cut < len - off) ? cut : len - off;
            st = ngx_chat_utf8_feed(st, buf + off, n);
        }

        bad += (st != whole);
    }

    UNIT_CHECK(bad == 0, "random texts: %d bad", bad);
}


int
main(void)
{
    test_table();
    test_sticky();
    test_exhaustive();
    test_all_code_points();
    test_random();

    return UNIT_DONE();
}
