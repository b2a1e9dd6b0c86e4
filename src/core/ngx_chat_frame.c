/*
 * RFC 6455 frame codec, server side, and its client side for chatctl:
 * the same reader with the masking rule reversed.
 *
 * The reader is a byte-stream state machine: it gives the same events for
 * any split of the stream into feed() calls.  It only ever looks at bytes
 * it has been given, and each check is made at a fixed position of the
 * stream (first two header bytes, complete header, each payload byte), so
 * where the input is cut cannot change which check fires first.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_chat_frame.h"
#include "ngx_chat_utf8.h"


#define NGX_CHAT_FRAME_HEADER   0
#define NGX_CHAT_FRAME_PAYLOAD  1
#define NGX_CHAT_FRAME_FAILED   2

#define NGX_CHAT_FRAME_OK       0
#define NGX_CHAT_FRAME_AGAIN    1
#define NGX_CHAT_FRAME_ERROR    2

/* a payload helper's "the input ended first", apart from the events */
#define NGX_CHAT_FRAME_MORE     -1

#define NGX_CHAT_FRAME_BUF_MIN  256


static const uint8_t  ngx_chat_frame_empty[1];

void *(*ngx_chat_frame_realloc)(void *p, size_t size) = realloc;


static int ngx_chat_frame_fail(ngx_chat_frame_reader_t *r, uint16_t code,
    const char *reason);
static int ngx_chat_frame_check_start(ngx_chat_frame_reader_t *r);
static int ngx_chat_frame_read_header(ngx_chat_frame_reader_t *r,
    const uint8_t *in, size_t len, size_t *pos);
static void ngx_chat_frame_unmask(uint8_t *p, size_t n, const uint8_t *mask,
    uint64_t offset);
static int ngx_chat_frame_append(ngx_chat_frame_reader_t *r,
    const uint8_t *p, size_t n);
static ngx_chat_ws_ev_e ngx_chat_frame_control(ngx_chat_frame_reader_t *r,
    const uint8_t *p, size_t n, ngx_chat_ws_event_t *ev);
static ngx_chat_ws_ev_e ngx_chat_frame_error(ngx_chat_frame_reader_t *r,
    ngx_chat_ws_event_t *ev);
static int ngx_chat_frame_feed_control(ngx_chat_frame_reader_t *r,
    uint8_t *p, size_t n, size_t *pos, ngx_chat_ws_event_t *ev);
static int ngx_chat_frame_feed_text(ngx_chat_frame_reader_t *r, uint8_t *p,
    size_t n, size_t *pos, ngx_chat_ws_event_t *ev);


void
ngx_chat_frame_reader_init(ngx_chat_frame_reader_t *r, size_t frame_max,
    size_t message_max)
{
    memset(r, 0, sizeof(ngx_chat_frame_reader_t));

    r->frame_max = frame_max < UINT32_MAX ? frame_max : UINT32_MAX;
    r->message_max = message_max < UINT32_MAX ? message_max : UINT32_MAX;
    r->state = NGX_CHAT_FRAME_HEADER;
    r->utf8 = NGX_CHAT_UTF8_ACCEPT;
}


void
ngx_chat_frame_reader_init_client(ngx_chat_frame_reader_t *r,
    size_t frame_max, size_t message_max)
{
    ngx_chat_frame_reader_init(r, frame_max, message_max);

    r->client = 1;
}


void
ngx_chat_frame_reader_deflate(ngx_chat_frame_reader_t *r)
{
    r->deflate = 1;
}


void
ngx_chat_frame_reader_free(ngx_chat_frame_reader_t *r)
{
    free(r->buf);
    free(r->ctl);

    r->buf = NULL;
    r->ctl = NULL;
    r->buf_len = 0;
    r->buf_cap = 0;
    r->release = 0;
}


int
ngx_chat_frame_reader_rests(const ngx_chat_frame_reader_t *r)
{
    return r->state == NGX_CHAT_FRAME_HEADER && r->hdr_len == 0
           && !r->in_message && r->ctl == NULL;
}


ngx_chat_ws_ev_e
ngx_chat_frame_reader_feed(ngx_chat_frame_reader_t *r, uint8_t *in,
    size_t len, size_t *used, ngx_chat_ws_event_t *ev)
{
    int        rc;
    size_t     pos, n;
    uint8_t   *p;
    uint64_t   left;

    memset(ev, 0, sizeof(ngx_chat_ws_event_t));
    ev->type = NGX_CHAT_WS_EV_NONE;

    pos = 0;

    if (r->state == NGX_CHAT_FRAME_FAILED) {
        *used = 0;
        return ngx_chat_frame_error(r, ev);
    }

    /*
     * the message delivered by the previous call may be large: do not let
     * an idle connection keep it
     */

    if (r->release) {
        ngx_chat_frame_reader_free(r);
    }

    /* nor a control payload it assembled */

    if (r->ctl != NULL && r->state == NGX_CHAT_FRAME_HEADER) {
        free(r->ctl);
        r->ctl = NULL;
    }

    for ( ;; ) {

        if (r->state == NGX_CHAT_FRAME_HEADER) {
            rc = ngx_chat_frame_read_header(r, in, len, &pos);

            if (rc == NGX_CHAT_FRAME_AGAIN) {
                break;
            }

            if (rc == NGX_CHAT_FRAME_ERROR) {
                *used = pos;
                return ngx_chat_frame_error(r, ev);
            }

            r->state = NGX_CHAT_FRAME_PAYLOAD;
        }

        /* payload, possibly empty: a frame may complete without input */

        left = r->payload_len - r->payload_got;
        n = (left < (uint64_t) (len - pos)) ? (size_t) left : len - pos;
        p = (n > 0) ? in + pos : (uint8_t *) ngx_chat_frame_empty;

        if (n > 0 && !r->client) {
            ngx_chat_frame_unmask(p, n, r->mask, r->payload_got);
        }

        if (r->opcode & 0x8) {
            rc = ngx_chat_frame_feed_control(r, p, n, &pos, ev);

        } else {
            rc = ngx_chat_frame_feed_text(r, p, n, &pos, ev);
        }

        if (rc == NGX_CHAT_FRAME_MORE) {
            break;
        }

        if (rc != NGX_CHAT_WS_EV_NONE) {
            *used = pos;
            return (ngx_chat_ws_ev_e) rc;
        }
    }

    *used = pos;

    return NGX_CHAT_WS_EV_NONE;
}


/*
 * The payload bytes p/n of a control frame, from *pos of the input.
 * Returns its event, or NGX_CHAT_FRAME_MORE when the input ends first.
 */
static int
ngx_chat_frame_feed_control(ngx_chat_frame_reader_t *r, uint8_t *p,
    size_t n, size_t *pos, ngx_chat_ws_event_t *ev)
{
    if (r->payload_got == 0 && n == r->payload_len) {
        *pos += n;
        r->state = NGX_CHAT_FRAME_HEADER;
        return ngx_chat_frame_control(r, p, n, ev);
    }

    /* control payload split across calls: at most 125 bytes */

    if (r->ctl == NULL) {
        r->ctl = ngx_chat_frame_realloc(NULL, (size_t) r->payload_len);

        if (r->ctl == NULL) {
            ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
            return ngx_chat_frame_error(r, ev);
        }
    }

    if (n > 0) {
        memcpy(r->ctl + r->payload_got, p, n);
    }

    *pos += n;
    r->payload_got += n;

    if (r->payload_got < r->payload_len) {
        return NGX_CHAT_FRAME_MORE;
    }

    r->state = NGX_CHAT_FRAME_HEADER;

    return ngx_chat_frame_control(r, r->ctl, (size_t) r->payload_len, ev);
}


/*
 * The payload bytes p/n of a text frame or a continuation, from *pos of
 * the input.  Returns NGX_CHAT_WS_EV_MESSAGE when a message is complete,
 * NGX_CHAT_WS_EV_NONE when a frame of an unfinished message is,
 * NGX_CHAT_FRAME_MORE when the input ends first, or an error event.
 */
static int
ngx_chat_frame_feed_text(ngx_chat_frame_reader_t *r, uint8_t *p, size_t n,
    size_t *pos, ngx_chat_ws_event_t *ev)
{
    uint32_t  st;

    *pos += n;

    if (!r->in_message && r->payload_got == 0 && n == r->payload_len) {

        /* a whole unfragmented text frame: deliver it in place */

        /* the same reason as when the frame comes in pieces */

        st = r->compressed ? NGX_CHAT_UTF8_ACCEPT
                           : ngx_chat_utf8_feed(NGX_CHAT_UTF8_ACCEPT, p, n);

        if (st != NGX_CHAT_UTF8_ACCEPT) {
            ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INVALID_DATA,
                                st == NGX_CHAT_UTF8_REJECT
                                ? "invalid UTF-8 in text"
                                : "truncated UTF-8 in text");
            return ngx_chat_frame_error(r, ev);
        }

        r->state = NGX_CHAT_FRAME_HEADER;

        ev->type = NGX_CHAT_WS_EV_MESSAGE;
        ev->data = p;
        ev->len = n;
        ev->compressed = r->compressed;

        return ev->type;
    }

    /* validate before copying: fail fast, mid-frame */

    if (!r->compressed) {
        r->utf8 = ngx_chat_utf8_feed(r->utf8, p, n);
    }

    if (r->utf8 == NGX_CHAT_UTF8_REJECT) {
        ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INVALID_DATA,
                            "invalid UTF-8 in text");
        return ngx_chat_frame_error(r, ev);
    }

    if (ngx_chat_frame_append(r, p, n) != NGX_CHAT_FRAME_OK) {
        return ngx_chat_frame_error(r, ev);
    }

    r->payload_got += n;

    if (r->payload_got < r->payload_len) {
        return NGX_CHAT_FRAME_MORE;
    }

    r->state = NGX_CHAT_FRAME_HEADER;

    if (!r->fin) {
        return NGX_CHAT_WS_EV_NONE;
    }

    if (r->utf8 != NGX_CHAT_UTF8_ACCEPT) {
        ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INVALID_DATA,
                            "truncated UTF-8 in text");
        return ngx_chat_frame_error(r, ev);
    }

    r->in_message = 0;
    r->release = 1;

    ev->type = NGX_CHAT_WS_EV_MESSAGE;
    ev->data = r->buf ? r->buf : ngx_chat_frame_empty;
    ev->len = r->buf_len;
    ev->compressed = r->compressed;

    return ev->type;
}


static int
ngx_chat_frame_read_header(ngx_chat_frame_reader_t *r, const uint8_t *in,
    size_t len, size_t *pos)
{
    size_t    need, n, i;
    uint8_t   len7;
    uint64_t  plen, total;

    if (r->hdr_len < 2) {
        n = 2 - r->hdr_len;
        n = (n < len - *pos) ? n : len - *pos;

        if (n == 0) {
            return NGX_CHAT_FRAME_AGAIN;
        }

        memcpy(r->hdr + r->hdr_len, in + *pos, n);
        r->hdr_len += n;
        *pos += n;

        if (r->hdr_len < 2) {
            return NGX_CHAT_FRAME_AGAIN;
        }

        if (ngx_chat_frame_check_start(r) != NGX_CHAT_FRAME_OK) {
            return NGX_CHAT_FRAME_ERROR;
        }
    }

    len7 = r->hdr[1] & 0x7f;
    need = 2 + (len7 == 126 ? 2 : (len7 == 127 ? 8 : 0))
           + (r->client ? 0 : 4);

    n = need - r->hdr_len;
    n = (n < len - *pos) ? n : len - *pos;

    if (n > 0) {
        memcpy(r->hdr + r->hdr_len, in + *pos, n);
        r->hdr_len += n;
        *pos += n;
    }

    if (r->hdr_len < need) {
        return NGX_CHAT_FRAME_AGAIN;
    }

    if (len7 == 126) {
        plen = ((uint64_t) r->hdr[2] << 8) | r->hdr[3];

    } else if (len7 == 127) {
        plen = 0;

        for (i = 2; i < 10; i++) {
            plen = (plen << 8) | r->hdr[i];
        }

        if (plen >> 63) {
            return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                       "64-bit length top bit set");
        }

    } else {
        plen = len7;
    }

    if (!r->client) {
        memcpy(r->mask, r->hdr + need - 4, 4);
    }

    r->hdr_len = 0;
    r->payload_len = plen;
    r->payload_got = 0;

    if (r->opcode & 0x8) {
        return NGX_CHAT_FRAME_OK;
    }

    if (plen > r->frame_max) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_TOO_BIG,
                                   "frame too large");
    }

    total = r->in_message ? r->buf_len + plen : plen;

    if (total > r->message_max) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_TOO_BIG,
                                   "message too large");
    }

    if (r->opcode == NGX_CHAT_WS_TEXT) {
        r->utf8 = NGX_CHAT_UTF8_ACCEPT;
        r->buf_len = 0;
        r->fragments = 0;
    }

    /*
     * A frame costs at least one byte of the message's limit: a stream of
     * empty continuations would otherwise keep a message open forever.
     */

    if (r->fragments == UINT32_MAX || ++r->fragments > r->message_max) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_TOO_BIG,
                                   "too many fragments");
    }

    if (!r->fin) {
        r->in_message = 1;
    }

    return NGX_CHAT_FRAME_OK;
}


/* checks everything the first two header bytes can tell */

static int
ngx_chat_frame_check_start(ngx_chat_frame_reader_t *r)
{
    uint8_t  b0, b1, op;

    b0 = r->hdr[0];
    b1 = r->hdr[1];
    op = b0 & 0x0f;

    /*
     * RSV1 only on the first frame of a text message, and only once
     * permessage-deflate was negotiated (RFC 7692 section 6)
     */

    if ((b0 & 0x30)
        || ((b0 & 0x40) && (!r->deflate || op != NGX_CHAT_WS_TEXT)))
    {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                   "reserved bits set");
    }

    if ((op > NGX_CHAT_WS_BINARY && op < NGX_CHAT_WS_CLOSE)
        || op > NGX_CHAT_WS_PONG)
    {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                   "unknown opcode");
    }

    if (!(b1 & 0x80) && !r->client) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                   "unmasked client frame");
    }

    if ((b1 & 0x80) && r->client) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                   "masked server frame");
    }

    r->opcode = op;
    r->fin = (b0 & 0x80) ? 1 : 0;

    if (op & 0x8) {

        if (!r->fin) {
            return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                       "fragmented control frame");
        }

        if ((b1 & 0x7f) > 125) {
            return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                       "control frame too long");
        }

        return NGX_CHAT_FRAME_OK;
    }

    if (op == NGX_CHAT_WS_CONT) {

        if (!r->in_message) {
            return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                       "continuation without start");
        }

        return NGX_CHAT_FRAME_OK;
    }

    if (r->in_message) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                                   "new message inside fragments");
    }

    if (op == NGX_CHAT_WS_BINARY) {
        return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_UNSUPPORTED,
                                   "binary frame");
    }

    r->compressed = (b0 & 0x40) ? 1 : 0;

    return NGX_CHAT_FRAME_OK;
}


static void
ngx_chat_frame_unmask(uint8_t *p, size_t n, const uint8_t *mask,
    uint64_t offset)
{
    size_t    i;
    uint8_t   m[8];
    uint64_t  w, mw;

    for (i = 0; i < 8; i++) {
        m[i] = mask[(offset + i) & 3];
    }

    memcpy(&mw, m, 8);

    /* a word is a whole number of mask periods: the phase is kept */

    for ( /* void */ ; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        w ^= mw;
        memcpy(p, &w, 8);
    }

    for (i = 0; i < n; i++) {
        p[i] ^= m[i];
    }
}


static int
ngx_chat_frame_append(ngx_chat_frame_reader_t *r, const uint8_t *p, size_t n)
{
    size_t    need, cap;
    uint8_t  *buf;

    if (n == 0) {
        return NGX_CHAT_FRAME_OK;
    }

    /* the header checks keep need within message_max */

    need = r->buf_len + n;

    if (need > r->buf_cap) {
        cap = r->buf_cap ? r->buf_cap : NGX_CHAT_FRAME_BUF_MIN;

        while (cap < need && cap <= r->message_max / 2) {
            cap *= 2;
        }

        if (cap < need) {
            cap = need;
        }

        if (cap > r->message_max) {
            cap = r->message_max;
        }

        buf = ngx_chat_frame_realloc(r->buf, cap);
        if (buf == NULL) {
            return ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INTERNAL,
                                       "out of memory");
        }

        r->buf = buf;
        r->buf_cap = cap;
    }

    memcpy(r->buf + r->buf_len, p, n);
    r->buf_len = need;

    return NGX_CHAT_FRAME_OK;
}


static ngx_chat_ws_ev_e
ngx_chat_frame_control(ngx_chat_frame_reader_t *r, const uint8_t *p,
    size_t n, ngx_chat_ws_event_t *ev)
{
    uint16_t  code;

    if (r->opcode == NGX_CHAT_WS_PING || r->opcode == NGX_CHAT_WS_PONG) {
        ev->type = (r->opcode == NGX_CHAT_WS_PING) ? NGX_CHAT_WS_EV_PING
                                                   : NGX_CHAT_WS_EV_PONG;
        ev->data = p;
        ev->len = n;

        return ev->type;
    }

    /* close */

    if (n == 0) {
        ev->type = NGX_CHAT_WS_EV_CLOSE;
        ev->data = ngx_chat_frame_empty;
        ev->len = 0;
        ev->code = NGX_CHAT_CLOSE_NO_STATUS;

        return ev->type;
    }

    if (n == 1) {
        ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL,
                            "close payload of 1 byte");
        return ngx_chat_frame_error(r, ev);
    }

    code = (uint16_t) ((p[0] << 8) | p[1]);

    /* 1004-1006 and 1015 are reserved and must never be sent */

    if (!((code >= 1000 && code <= 1003)
          || (code >= 1007 && code <= 1014)
          || (code >= 3000 && code <= 4999)))
    {
        ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_PROTOCOL, "invalid close code");
        return ngx_chat_frame_error(r, ev);
    }

    if (!ngx_chat_utf8_valid(p + 2, n - 2)) {
        ngx_chat_frame_fail(r, NGX_CHAT_CLOSE_INVALID_DATA,
                            "invalid UTF-8 in close reason");
        return ngx_chat_frame_error(r, ev);
    }

    ev->type = NGX_CHAT_WS_EV_CLOSE;
    ev->data = p + 2;
    ev->len = n - 2;
    ev->code = code;

    return ev->type;
}


static int
ngx_chat_frame_fail(ngx_chat_frame_reader_t *r, uint16_t code,
    const char *reason)
{
    r->state = NGX_CHAT_FRAME_FAILED;
    r->err_code = code;
    r->err_reason = reason;

    ngx_chat_frame_reader_free(r);

    return NGX_CHAT_FRAME_ERROR;
}


static ngx_chat_ws_ev_e
ngx_chat_frame_error(ngx_chat_frame_reader_t *r, ngx_chat_ws_event_t *ev)
{
    ev->type = NGX_CHAT_WS_EV_ERROR;
    ev->data = NULL;
    ev->len = 0;
    ev->code = r->err_code;
    ev->reason = r->err_reason;

    return ev->type;
}


size_t
ngx_chat_frame_header(uint8_t *buf, unsigned opcode, uint64_t payload_len)
{
    int  i;

    buf[0] = (uint8_t) (0x80 | (opcode & 0x0f));

    if (payload_len < 126) {
        buf[1] = (uint8_t) payload_len;
        return 2;
    }

    if (payload_len <= 0xffff) {
        buf[1] = 126;
        buf[2] = (uint8_t) (payload_len >> 8);
        buf[3] = (uint8_t) payload_len;
        return 4;
    }

    buf[1] = 127;

    for (i = 0; i < 8; i++) {
        buf[2 + i] = (uint8_t) (payload_len >> (56 - 8 * i));
    }

    return 10;
}


size_t
ngx_chat_frame_close(uint8_t *buf, uint16_t code, const char *reason,
    size_t reason_len)
{
    size_t          n;
    const uint8_t  *s;

    buf[0] = 0x80 | NGX_CHAT_WS_CLOSE;

    if (code == 0) {
        buf[1] = 0;
        return 2;
    }

    s = (const uint8_t *) reason;
    n = reason_len;

    if (n > 123) {
        n = 123;

        /* do not cut a code point: back up to the start of the one cut */

        while (n > 0 && (s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    buf[1] = (uint8_t) (2 + n);
    buf[2] = (uint8_t) (code >> 8);
    buf[3] = (uint8_t) code;

    if (n > 0) {
        memcpy(buf + 4, s, n);
    }

    return 4 + n;
}


size_t
ngx_chat_frame_client(uint8_t *out, unsigned opcode, const uint8_t *payload,
    size_t len, const uint8_t *mask)
{
    size_t  n;

    n = ngx_chat_frame_header(out, opcode, len);

    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;

    if (len > 0) {
        memcpy(out + n, payload, len);
        ngx_chat_frame_unmask(out + n, len, mask, 0);
    }

    return n + len;
}
