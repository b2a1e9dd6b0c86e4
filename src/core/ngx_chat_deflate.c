/*
 * permessage-deflate without context takeover (RFC 7692): each message
 * is compressed or inflated from a reset stream, so that one stream per
 * worker serves every connection.
 */

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ngx_chat_deflate.h"
#include "ngx_chat_frame.h"


/*
 * Chat events are small: a smaller hash than zlib's default (memLevel 8,
 * 64 KiB cleared on every reset) costs little ratio and much less time
 * per message.
 */
#define NGX_CHAT_DEFLATE_LEVEL     6
#define NGX_CHAT_DEFLATE_MEMLEVEL  6
#define NGX_CHAT_DEFLATE_WBITS     15

#define NGX_CHAT_INFLATE_FIRST     1024


/* a zlib stream and its output buffer: the same for both directions */
typedef struct {
    z_stream   strm;
    uint8_t   *buf;
    size_t     cap;
} ngx_chat_zs_t;


struct ngx_chat_deflate_s {
    ngx_chat_zs_t  zs;
};


struct ngx_chat_inflate_s {
    ngx_chat_zs_t  zs;
};


static ngx_chat_zs_t *ngx_chat_zs_new(int inflating);
static void ngx_chat_zs_free(ngx_chat_zs_t *zs, int inflating);
static int ngx_chat_zs_grow(ngx_chat_zs_t *zs, size_t cap);
static int ngx_chat_inflate_start(ngx_chat_inflate_t *z, const uint8_t *in,
    size_t len);


static const uint8_t  ngx_chat_deflate_tail[4] = { 0x00, 0x00, 0xff, 0xff };


ngx_chat_deflate_t *
ngx_chat_deflate_create(void)
{
    return (ngx_chat_deflate_t *) ngx_chat_zs_new(0);
}


void
ngx_chat_deflate_destroy(ngx_chat_deflate_t *d)
{
    ngx_chat_zs_free(d ? &d->zs : NULL, 0);
}


ngx_chat_inflate_t *
ngx_chat_inflate_create(void)
{
    return (ngx_chat_inflate_t *) ngx_chat_zs_new(1);
}


void
ngx_chat_inflate_destroy(ngx_chat_inflate_t *z)
{
    ngx_chat_zs_free(z ? &z->zs : NULL, 1);
}


/*
 * Raw streams (negative window bits: no zlib header); inflating with 15
 * bits reads any window a client may use.
 */
static ngx_chat_zs_t *
ngx_chat_zs_new(int inflating)
{
    int             rc;
    ngx_chat_zs_t  *zs;

    zs = calloc(1, sizeof(ngx_chat_zs_t));
    if (zs == NULL) {
        return NULL;
    }

    rc = inflating
         ? inflateInit2(&zs->strm, -15)
         : deflateInit2(&zs->strm, NGX_CHAT_DEFLATE_LEVEL, Z_DEFLATED,
                        -NGX_CHAT_DEFLATE_WBITS, NGX_CHAT_DEFLATE_MEMLEVEL,
                        Z_DEFAULT_STRATEGY);

    if (rc != Z_OK) {
        free(zs);
        return NULL;
    }

    return zs;
}


static void
ngx_chat_zs_free(ngx_chat_zs_t *zs, int inflating)
{
    if (zs == NULL) {
        return;
    }

    if (inflating) {
        inflateEnd(&zs->strm);

    } else {
        deflateEnd(&zs->strm);
    }

    free(zs->buf);
    free(zs);
}


int
ngx_chat_deflate_message(ngx_chat_deflate_t *d, const uint8_t *in,
    size_t len, const uint8_t **out, size_t *out_len)
{
    int     rc;
    size_t  need, got;

    if (len > UINT32_MAX || deflateReset(&d->zs.strm) != Z_OK) {
        return -1;
    }

    /* the bound of a finished stream, and room for the sync flush */
    need = deflateBound(&d->zs.strm, (uLong) len) + 16;
    got = 0;

    d->zs.strm.next_in = (uint8_t *) in;
    d->zs.strm.avail_in = (uInt) len;

    for ( ;; ) {

        if (d->zs.cap - got < need
            && ngx_chat_zs_grow(&d->zs, got + need) != 0)
        {
            return -1;
        }

        d->zs.strm.next_out = d->zs.buf + got;
        d->zs.strm.avail_out = (uInt) (d->zs.cap - got);

        rc = deflate(&d->zs.strm, Z_SYNC_FLUSH);

        got = d->zs.cap - d->zs.strm.avail_out;

        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return -1;
        }

        /* all output is out when it did not fill the buffer */
        if (d->zs.strm.avail_out > 0 && d->zs.strm.avail_in == 0) {
            break;
        }

        need = 64;
    }

    if (got < 4 || memcmp(d->zs.buf + got - 4, ngx_chat_deflate_tail, 4) != 0) {
        return -1;
    }

    *out = d->zs.buf;
    *out_len = got - 4;

    return 0;
}


ngx_chat_buf_t *
ngx_chat_deflate_frame(ngx_chat_deflate_t *d, ngx_chat_buf_t *b, int *built)
{
    size_t           len, start, out_len;
    const uint8_t   *out;
    ngx_chat_buf_t  *t;

    if (b->twin_done) {
        return b->twin;
    }

    b->twin_done = 1;

    len = ngx_chat_buf_text_payload(b, &start);

    if (len == 0
        || ngx_chat_deflate_message(d, b->data + start, len, &out, &out_len)
           != 0)
    {
        return NULL;
    }

    *built = 1;

    if (out_len >= len) {
        return NULL;
    }

    t = ngx_chat_buf_frame(NGX_CHAT_WS_TEXT, out, out_len);
    if (t == NULL) {
        return NULL;
    }

    t->data[0] |= 0x40;     /* RSV1: "Per-Message Compressed" */
    t->twin_done = 1;
    t->rev = b->rev;
    t->seq = b->seq;

    b->twin = t;

    return t;
}


int
ngx_chat_inflate_message(ngx_chat_inflate_t *z, const uint8_t *in,
    size_t len, size_t max, const uint8_t **out, size_t *out_len)
{
    int     rc, tail, end;
    size_t  got, cap;

    if (len > UINT32_MAX || max >= UINT32_MAX) {
        return NGX_CHAT_INFLATE_TOO_BIG;
    }

    if (ngx_chat_inflate_start(z, in, len) != 0) {
        return NGX_CHAT_INFLATE_CORRUPT;
    }

    got = 0;
    tail = 0;
    end = 0;

    for ( ;; ) {

        if (got == z->zs.cap) {

            /* max + 1 bytes out tell a message too large, and no more */
            if (z->zs.cap > max) {
                return NGX_CHAT_INFLATE_TOO_BIG;
            }

            cap = z->zs.cap ? z->zs.cap * 2 : NGX_CHAT_INFLATE_FIRST;

            if (cap > max + 1) {
                cap = max + 1;
            }

            if (ngx_chat_zs_grow(&z->zs, cap) != 0) {
                return NGX_CHAT_INFLATE_NOMEM;
            }
        }

        z->zs.strm.next_out = z->zs.buf + got;
        z->zs.strm.avail_out = (uInt) (z->zs.cap - got);

        rc = inflate(&z->zs.strm, Z_SYNC_FLUSH);

        if (z->zs.strm.avail_out == z->zs.cap - got && rc == Z_BUF_ERROR
            && z->zs.strm.avail_in > 0)
        {
            /* neither input taken nor output made */
            return NGX_CHAT_INFLATE_CORRUPT;
        }

        got = z->zs.cap - z->zs.strm.avail_out;

        if (got > max) {
            return NGX_CHAT_INFLATE_TOO_BIG;
        }

        switch (rc) {

        case Z_OK:
        case Z_BUF_ERROR:
            break;

        case Z_STREAM_END:
            end = 1;
            break;

        case Z_MEM_ERROR:
            return NGX_CHAT_INFLATE_NOMEM;

        default:
            /* Z_DATA_ERROR, and Z_NEED_DICT, which a raw stream never asks */
            return NGX_CHAT_INFLATE_CORRUPT;
        }

        if (end) {
            /* a final block (BFINAL) ends the message: nothing may follow */
            if (!tail && z->zs.strm.avail_in > 0) {
                return NGX_CHAT_INFLATE_CORRUPT;
            }

            break;
        }

        if (z->zs.strm.avail_out == 0) {
            continue;     /* more may be waiting inside zlib */
        }

        if (z->zs.strm.avail_in > 0) {
            continue;
        }

        if (tail) {
            break;
        }

        /* the four bytes the sender took off (RFC 7692 section 7.2.2) */

        tail = 1;
        z->zs.strm.next_in = (uint8_t *) ngx_chat_deflate_tail;
        z->zs.strm.avail_in = sizeof(ngx_chat_deflate_tail);
    }

    /* the tail must have completed a block: else the message was cut */

    if (!end && !(z->zs.strm.data_type & 128)) {
        return NGX_CHAT_INFLATE_CORRUPT;
    }

    *out = z->zs.buf ? z->zs.buf : ngx_chat_deflate_tail;
    *out_len = got;

    return NGX_CHAT_INFLATE_OK;
}


static int
ngx_chat_inflate_start(ngx_chat_inflate_t *z, const uint8_t *in, size_t len)
{
    /* a large message's buffer is not kept for the next, small one */

    if (z->zs.cap > NGX_CHAT_INFLATE_KEEP) {
        free(z->zs.buf);
        z->zs.buf = NULL;
        z->zs.cap = 0;
    }

    if (inflateReset(&z->zs.strm) != Z_OK) {
        return -1;
    }

    z->zs.strm.next_in = (uint8_t *) in;
    z->zs.strm.avail_in = (uInt) len;

    return 0;
}


/* the output buffer of a stream, to cap bytes */
static int
ngx_chat_zs_grow(ngx_chat_zs_t *zs, size_t cap)
{
    uint8_t  *p;

    p = realloc(zs->buf, cap);
    if (p == NULL) {
        return -1;
    }

    zs->buf = p;
    zs->cap = cap;

    return 0;
}
