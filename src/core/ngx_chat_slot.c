/*
 * Redis Cluster hash slots (the cluster specification, "Keys distribution
 * model"): CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0) of the key
 * or of its hash tag, the low 14 bits.
 */

#include "ngx_chat_slot.h"

#include <stdio.h>
#include <string.h>


static uint16_t  ngx_chat_crc16_table[256];
static int       ngx_chat_crc16_ready;

/* the number of the shortest decimal tag of each slot, plus one */
static uint32_t  ngx_chat_slot_tags[NGX_CHAT_SLOTS];
static int       ngx_chat_slot_tags_ready;


static void
ngx_chat_crc16_init(void)
{
    unsigned  i, j;
    uint16_t  crc;

    for (i = 0; i < 256; i++) {
        crc = (uint16_t) (i << 8);

        for (j = 0; j < 8; j++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }

        ngx_chat_crc16_table[i] = crc;
    }

    ngx_chat_crc16_ready = 1;
}


uint16_t
ngx_chat_crc16(const char *buf, size_t len)
{
    size_t    i;
    uint16_t  crc;

    if (!ngx_chat_crc16_ready) {
        ngx_chat_crc16_init();
    }

    crc = 0;

    for (i = 0; i < len; i++) {
        crc = (uint16_t) ((crc << 8)
              ^ ngx_chat_crc16_table[((crc >> 8) ^ (unsigned char) buf[i])
                                     & 0xff]);
    }

    return crc;
}


unsigned
ngx_chat_slot(const char *key, size_t len)
{
    const char  *open, *close;

    open = memchr(key, '{', len);

    if (open) {
        close = memchr(open + 1, '}', len - (open + 1 - key));

        /* "{}" is no tag: the whole key is hashed */
        if (close && close > open + 1) {
            key = open + 1;
            len = close - key;
        }
    }

    return ngx_chat_crc16(key, len) & (NGX_CHAT_SLOTS - 1);
}


size_t
ngx_chat_slot_tag(unsigned slot, char *buf)
{
    int       n;
    char      tag[NGX_CHAT_SLOT_TAG_MAX];
    unsigned  s, left;
    uint32_t  i;

    if (!ngx_chat_slot_tags_ready) {
        /* decimal numbers from 0 cover every slot before 7 digits */
        left = NGX_CHAT_SLOTS;

        for (i = 0; left; i++) {
            n = snprintf(tag, sizeof(tag), "%u", (unsigned) i);
            s = ngx_chat_crc16(tag, n) & (NGX_CHAT_SLOTS - 1);

            if (ngx_chat_slot_tags[s] == 0) {
                ngx_chat_slot_tags[s] = i + 1;
                left--;
            }
        }

        ngx_chat_slot_tags_ready = 1;
    }

    n = snprintf(buf, NGX_CHAT_SLOT_TAG_MAX, "%u",
                 (unsigned) ngx_chat_slot_tags[slot & (NGX_CHAT_SLOTS - 1)]
                 - 1);

    return (size_t) n;
}


int
ngx_chat_slot_redirect(const char *err, size_t len, int *ask, unsigned *slot,
    const char **host, size_t *host_len, unsigned *port)
{
    size_t       n;
    unsigned     v;
    const char  *p, *last, *colon;

    last = err + len;

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        *ask = 0;
        p = err + 6;

    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        *ask = 1;
        p = err + 4;

    } else {
        return -1;
    }

    for (v = 0, n = 0; p < last && *p >= '0' && *p <= '9'; p++, n++) {
        v = v * 10 + (*p - '0');

        if (v >= NGX_CHAT_SLOTS) {
            return -1;
        }
    }

    if (n == 0 || p == last || *p++ != ' ') {
        return -1;
    }

    *slot = v;

    /* the last ":" splits an IPv6 address from its port */
    for (colon = last - 1; colon >= p && *colon != ':'; colon--) {
        /* void */
    }

    if (colon < p) {
        return -1;
    }

    if (colon == p || colon + 1 == last) {
        return -1;
    }

    for (v = 0, n = 0, *host = p, p = colon + 1; p < last; p++, n++) {
        if (*p < '0' || *p > '9' || n == 5) {
            return -1;
        }

        v = v * 10 + (*p - '0');
    }

    if (v == 0 || v > 65535) {
        return -1;
    }

    *host_len = colon - *host;
    *port = v;

    return 0;
}
