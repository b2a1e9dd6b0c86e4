/*
 * permessage-deflate on a connection (chat_deflate): what the handshake
 * agreed, the compressed twin of each frame queued, compressed messages
 * inflated.  One deflate and one inflate stream per worker, made on first
 * use, serve every connection: no context takeover either way, so an idle
 * connection holds no zlib state.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_deflate.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_utf8.h"


static ngx_chat_deflate_t  *ngx_chat_deflater;
static ngx_chat_inflate_t  *ngx_chat_inflater;


/*
 * The handshake accepted an offer; bits: server_max_window_bits, or 0.
 * 15 is the deflater's own window: no limit then.
 */
void
ngx_chat_session_deflate(ngx_chat_session_t *s, ngx_uint_t bits)
{
    s->deflate = 1;
    s->deflate_bits = (bits < 15) ? bits : 0;

    if (s->reader) {
        ngx_chat_frame_reader_deflate(s->reader);
    }
}


/*
 * What goes to the session for frame b: its compressed twin if the
 * session negotiated compression and the payload is worth it, else b.
 * The twin is built once, by the first session that wants it, and shared
 * by all the others as b is.
 */
ngx_chat_buf_t *
ngx_chat_session_deflated(ngx_chat_session_t *s, ngx_chat_buf_t *b)
{
    int              built;
    size_t           len, start;
    ngx_chat_buf_t  *t;

    if (!s->deflate || (b->twin_done && b->twin == NULL)) {
        return b;
    }

    len = ngx_chat_buf_text_payload(b, &start);

    /*
     * The twin is compressed with a 15-bit window, but no distance can
     * reach past the start of its message: a client's smaller window of
     * 2^bits holds any message that long.
     */

    if (len < s->lcf->deflate_min
        || (s->deflate_bits && len > ((size_t) 1 << s->deflate_bits)))
    {
        return b;
    }

    t = b->twin;

    if (t == NULL) {

        if (ngx_chat_deflater == NULL) {
            ngx_chat_deflater = ngx_chat_deflate_create();

            if (ngx_chat_deflater == NULL) {
                return b;
            }
        }

        built = 0;
        t = ngx_chat_deflate_frame(ngx_chat_deflater, b, &built);

        if (built) {
            ngx_chat_metrics_count(NGX_CHAT_METRICS_DEFLATED);
        }

        if (t == NULL) {
            return b;
        }
    }

    t->reply = b->reply;

    return t;
}


/*
 * A compressed message in *data, *len, inflated in place of it, checked
 * against the connection's message limit (while inflating) and for
 * UTF-8.  Returns 0, or the close code; *reason says why.
 */
uint16_t
ngx_chat_session_inflate(ngx_chat_session_t *s, const u_char **data,
    size_t *len, const char **reason)
{
    size_t          n;
    ngx_int_t       rc;
    const uint8_t  *out;

    if (ngx_chat_inflater == NULL) {
        ngx_chat_inflater = ngx_chat_inflate_create();

        if (ngx_chat_inflater == NULL) {
            *reason = "out of memory";
            return NGX_CHAT_CLOSE_INTERNAL;
        }
    }

    rc = ngx_chat_inflate_message(ngx_chat_inflater, *data, *len,
                                  s->lcf->frame_max, &out, &n);

    switch (rc) {

    case NGX_CHAT_INFLATE_OK:
        break;

    case NGX_CHAT_INFLATE_TOO_BIG:
        *reason = "message too large";
        return NGX_CHAT_CLOSE_TOO_BIG;

    case NGX_CHAT_INFLATE_CORRUPT:
        *reason = "invalid compressed data";
        return NGX_CHAT_CLOSE_INVALID_DATA;

    default:
        *reason = "out of memory";
        return NGX_CHAT_CLOSE_INTERNAL;
    }

    ngx_chat_metrics_count(NGX_CHAT_METRICS_INFLATED);

    if (!ngx_chat_utf8_valid(out, n)) {
        *reason = "invalid UTF-8 in text";
        return NGX_CHAT_CLOSE_INVALID_DATA;
    }

    *data = out;
    *len = n;

    return 0;
}


void
ngx_chat_session_deflate_exit(void)
{
    ngx_chat_deflate_destroy(ngx_chat_deflater);
    ngx_chat_inflate_destroy(ngx_chat_inflater);

    ngx_chat_deflater = NULL;
    ngx_chat_inflater = NULL;
}
