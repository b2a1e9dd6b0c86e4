/*
 * Incremental UTF-8 validation.
 *
 * Inside a sequence the state packs the number of continuation bytes still
 * expected with the range the next one must fall in:
 *
 *     (need << 16) | (lo << 8) | hi
 *
 * Only the first continuation byte has a range narrower than 80..BF: that
 * is where overlongs (E0, F0), surrogates (ED) and code points above
 * U+10FFFF (F4) are caught, so every invalid input is rejected at the very
 * byte that makes it invalid.  need >= 1 keeps such states away from
 * ACCEPT (0) and REJECT (1).
 */


#include <string.h>

#include "ngx_chat_utf8.h"


#define NGX_CHAT_UTF8_SEQ(need, lo, hi)                                       \
    (((uint32_t) (need) << 16) | ((uint32_t) (lo) << 8) | (uint32_t) (hi))

#define NGX_CHAT_UTF8_HIGH_BITS  0x8080808080808080ULL


static uint32_t
ngx_chat_utf8_lead(uint8_t c)
{
    if (c < 0x80) {
        return NGX_CHAT_UTF8_ACCEPT;
    }

    /* 80..BF are continuations, C0 and C1 can only start overlongs */
    if (c < 0xc2) {
        return NGX_CHAT_UTF8_REJECT;
    }

    if (c < 0xe0) {
        return NGX_CHAT_UTF8_SEQ(1, 0x80, 0xbf);
    }

    if (c == 0xe0) {
        return NGX_CHAT_UTF8_SEQ(2, 0xa0, 0xbf);
    }

    if (c == 0xed) {
        return NGX_CHAT_UTF8_SEQ(2, 0x80, 0x9f);
    }

    if (c < 0xf0) {
        return NGX_CHAT_UTF8_SEQ(2, 0x80, 0xbf);
    }

    if (c == 0xf0) {
        return NGX_CHAT_UTF8_SEQ(3, 0x90, 0xbf);
    }

    if (c < 0xf4) {
        return NGX_CHAT_UTF8_SEQ(3, 0x80, 0xbf);
    }

    if (c == 0xf4) {
        return NGX_CHAT_UTF8_SEQ(3, 0x80, 0x8f);
    }

    return NGX_CHAT_UTF8_REJECT;
}


uint32_t
ngx_chat_utf8_feed(uint32_t state, const uint8_t *p, size_t len)
{
    uint8_t         c;
    uint32_t        need;
    uint64_t        w;
    const uint8_t  *end;

    end = p + len;

    while (p < end) {

        if (state == NGX_CHAT_UTF8_REJECT) {
            return NGX_CHAT_UTF8_REJECT;
        }

        if (state == NGX_CHAT_UTF8_ACCEPT) {

            /* chat text is mostly ASCII: skip it a word at a time */

            while (end - p >= 8) {
                memcpy(&w, p, 8);

                if (w & NGX_CHAT_UTF8_HIGH_BITS) {
                    break;
                }

                p += 8;
            }

            while (p < end && *p < 0x80) {
                p++;
            }

            if (p == end) {
                break;
            }

            state = ngx_chat_utf8_lead(*p++);
            continue;
        }

        c = *p++;

        if (c < ((state >> 8) & 0xff) || c > (state & 0xff)) {
            return NGX_CHAT_UTF8_REJECT;
        }

        need = (state >> 16) - 1;

        state = need ? NGX_CHAT_UTF8_SEQ(need, 0x80, 0xbf)
                     : NGX_CHAT_UTF8_ACCEPT;
    }

    return state;
}


int
ngx_chat_utf8_valid(const uint8_t *p, size_t len)
{
    return ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p, len)
           == NGX_CHAT_UTF8_ACCEPT;
}
