/*
 * permessage-deflate without context takeover: messages compressed and
 * inflated alone, against zlib driven here as a client would; the limits
 * of inflating (bombs, corrupt and cut streams, context the server did
 * not allow); the compressed twin of a frame.
 */

#include <stdint.h>
#include <zlib.h>

#include "unit.h"
#include "ngx_chat_deflate.h"
#include "ngx_chat_frame.h"


/* a chat-like text of n bytes */
static uint8_t *
text(size_t n, unsigned seed)
{
    size_t    i;
    uint8_t  *p;

    static const char  words[] =
        "{\"type\":\"message\",\"room\":\"lobby\",\"from\":\"alice\","
        "\"text\":\"hello there, how are you all doing today?\"}";

    p = malloc(n ? n : 1);

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245 + 12345;
        p[i] = (uint8_t) ((seed >> 16) % 7 == 0
                          ? 'a' + (seed >> 8) % 26
                          : (unsigned) words[i % (sizeof(words) - 1)]);
    }

    return p;
}


/*
 * A client's compressor: raw deflate, window of wbits, each message
 * ended by a sync flush and its last four bytes taken off; keep: context
 * taken over from message to message (what RFC 7692 allows by default).
 */
typedef struct {
    z_stream  strm;
    int       keep;
    uint8_t   out[1 << 20];
    size_t    len;
} client_t;


static void
client_init(client_t *c, int wbits, int keep)
{
    memset(&c->strm, 0, sizeof(z_stream));
    deflateInit2(&c->strm, 9, Z_DEFLATED, -wbits, 8, Z_DEFAULT_STRATEGY);
    c->keep = keep;
}


static void
client_message(client_t *c, const uint8_t *in, size_t len, int flush)
{
    if (!c->keep) {
        deflateReset(&c->strm);
    }

    c->strm.next_in = (uint8_t *) in;
    c->strm.avail_in = len;
    c->strm.next_out = c->out;
    c->strm.avail_out = sizeof(c->out);

    deflate(&c->strm, flush);

    c->len = sizeof(c->out) - c->strm.avail_out;

    if (flush == Z_SYNC_FLUSH) {
        c->len -= 4;
    }
}


/* zlib alone reads the message, then the four bytes taken off, as want */
static int
zlib_reads(const uint8_t *msg, size_t len, const uint8_t *want, size_t n)
{
    int        ok;
    z_stream   s;
    uint8_t   *buf;

    static uint8_t  tail[4] = { 0x00, 0x00, 0xff, 0xff };

    buf = malloc(n + 16);
    memset(&s, 0, sizeof(z_stream));
    inflateInit2(&s, -15);

    s.next_out = buf;
    s.avail_out = n + 16;
    s.next_in = (uint8_t *) msg;
    s.avail_in = len;
    ok = inflate(&s, Z_SYNC_FLUSH) != Z_DATA_ERROR && s.avail_in == 0;

    s.next_in = tail;
    s.avail_in = sizeof(tail);
    ok = ok && inflate(&s, Z_SYNC_FLUSH) != Z_DATA_ERROR
         && s.total_out == n && memcmp(buf, want, n) == 0;

    inflateEnd(&s);
    free(buf);

    return ok;
}


static void
test_round_trip(void)
{
    size_t               i, n, out_len, got_len;
    uint8_t             *in;
    const uint8_t       *out, *got;
    ngx_chat_deflate_t  *d;
    ngx_chat_inflate_t  *z;

    static const size_t  sizes[] = { 1, 2, 100, 1000, 16384, 40000, 200000 };

    d = ngx_chat_deflate_create();
    z = ngx_chat_inflate_create();
    UNIT_CHECK(d && z, "create");

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        n = sizes[i];
        in = text(n, i);

        UNIT_CHECK(ngx_chat_deflate_message(d, in, n, &out, &out_len) == 0,
                   "deflate %zu", n);
        UNIT_CHECK(n < 1000 || out_len < n / 2, "%zu compressed to %zu", n,
                   out_len);

        UNIT_CHECK(ngx_chat_inflate_message(z, out, out_len, n, &got,
                                            &got_len)
                   == NGX_CHAT_INFLATE_OK
                   && got_len == n && memcmp(got, in, n) == 0,
                   "round trip %zu", n);

        /* exactly the limit passes, one byte less does not */
        UNIT_CHECK(ngx_chat_inflate_message(z, out, out_len, n - 1, &got,
                                            &got_len)
                   == NGX_CHAT_INFLATE_TOO_BIG, "limit %zu - 1", n);

        /* zlib's own inflater reads the same, the tail fed apart */
        UNIT_CHECK(zlib_reads(out, out_len, in, n), "zlib reads %zu", n);

        free(in);
    }

    ngx_chat_deflate_destroy(d);
    ngx_chat_inflate_destroy(z);
}


static void
test_clients(void)
{
    int                  wbits;
    size_t               got_len, i;
    uint8_t             *a, *b;
    client_t            *c;
    const uint8_t       *got;
    ngx_chat_inflate_t  *z;

    z = ngx_chat_inflate_create();
    c = malloc(sizeof(client_t));
    a = text(3000, 1);
    b = text(3000, 1);      /* the same: refers back to a when kept */

    /* any window the client chose is read */

    for (wbits = 9; wbits <= 15; wbits++) {
        client_init(c, wbits, 0);

        for (i = 0; i < 3; i++) {
            client_message(c, i == 1 ? b : a, 3000, Z_SYNC_FLUSH);
            UNIT_CHECK(ngx_chat_inflate_message(z, c->out, c->len, 3000,
                                                &got, &got_len)
                       == NGX_CHAT_INFLATE_OK && got_len == 3000
                       && memcmp(got, a, 3000) == 0,
                       "window %d, message %zu", wbits, i);
        }

        deflateEnd(&c->strm);
    }

    /* a final block (BFINAL) ends a message too */

    client_init(c, 15, 0);
    client_message(c, a, 3000, Z_FINISH);
    UNIT_CHECK(ngx_chat_inflate_message(z, c->out, c->len, 3000, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_OK && got_len == 3000, "BFINAL");

    /* and nothing may follow it */
    c->out[c->len] = 0x00;
    UNIT_CHECK(ngx_chat_inflate_message(z, c->out, c->len + 1, 3000, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "bytes after BFINAL");
    deflateEnd(&c->strm);

    /*
     * Context takeover the server refused: the second message refers
     * back into the first, which the worker's stream no longer has.
     */

    client_init(c, 15, 1);
    client_message(c, a, 3000, Z_SYNC_FLUSH);
    UNIT_CHECK(ngx_chat_inflate_message(z, c->out, c->len, 3000, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_OK, "first message of a kept context");
    client_message(c, b, 3000, Z_SYNC_FLUSH);
    UNIT_CHECK(c->len < 100, "the second refers back (%zu bytes)", c->len);
    UNIT_CHECK(ngx_chat_inflate_message(z, c->out, c->len, 3000, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "context takeover refused");
    deflateEnd(&c->strm);

    free(a);
    free(b);
    free(c);
    ngx_chat_inflate_destroy(z);
}


static void
test_bad_input(void)
{
    size_t               n, got_len, i, cut;
    uint8_t             *in, junk[64];
    const uint8_t       *out, *got;
    ngx_chat_deflate_t  *d;
    ngx_chat_inflate_t  *z;

    d = ngx_chat_deflate_create();
    z = ngx_chat_inflate_create();

    /* a bomb: 16 MiB of one byte, some 16 KiB compressed */

    n = 16 << 20;
    in = calloc(1, n);
    memset(in, 'a', n);
    UNIT_CHECK(ngx_chat_deflate_message(d, in, n, &out, &got_len) == 0,
               "bomb made");
    UNIT_CHECK(got_len < 65536, "bomb of %zu bytes", got_len);
    UNIT_CHECK(ngx_chat_inflate_message(z, out, got_len, 16384, &got, &n)
               == NGX_CHAT_INFLATE_TOO_BIG, "bomb stopped");
    free(in);

    /* the stream still works after it */
    UNIT_CHECK(ngx_chat_deflate_message(d, (const uint8_t *) "{}", 2, &out,
                                        &n) == 0, "small");
    UNIT_CHECK(ngx_chat_inflate_message(z, out, n, 16384, &got, &got_len)
               == NGX_CHAT_INFLATE_OK && got_len == 2
               && memcmp(got, "{}", 2) == 0, "after a bomb");

    /* junk */

    memset(junk, 0xff, sizeof(junk));
    UNIT_CHECK(ngx_chat_inflate_message(z, junk, sizeof(junk), 16384, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "0xff...");

    /* a reserved block type (BTYPE 11) */
    junk[0] = 0x07;
    UNIT_CHECK(ngx_chat_inflate_message(z, junk, 1, 16384, &got, &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "block type 3");

    /* nothing at all: the tail alone is no complete block */
    UNIT_CHECK(ngx_chat_inflate_message(z, junk, 0, 16384, &got, &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "empty");

    /* a stored block whose length disagrees with its complement */
    memcpy(junk, "\x00\x05\x00\x00\x00", 5);
    UNIT_CHECK(ngx_chat_inflate_message(z, junk, 5, 16384, &got, &got_len)
               == NGX_CHAT_INFLATE_CORRUPT, "stored length");

    /*
     * cut anywhere: never taken for the whole message (the tail read as
     * data may even make it too large)
     */

    in = text(2000, 7);
    UNIT_CHECK(ngx_chat_deflate_message(d, in, 2000, &out, &n) == 0, "cut");

    for (cut = 1; cut < n; cut += (cut < 40 ? 1 : 37)) {
        i = ngx_chat_inflate_message(z, out, n - cut, 2000, &got, &got_len);
        UNIT_CHECK(i != NGX_CHAT_INFLATE_OK || got_len != 2000
                   || memcmp(got, in, 2000) != 0, "cut by %zu: %zu", cut, i);
    }

    free(in);
    ngx_chat_deflate_destroy(d);
    ngx_chat_inflate_destroy(z);
}


static void
test_twin(void)
{
    int                  built;
    size_t               len, start, got_len;
    uint8_t             *in;
    const uint8_t       *got;
    ngx_chat_buf_t      *b, *t, *p;
    ngx_chat_deflate_t  *d;
    ngx_chat_inflate_t  *z;

    d = ngx_chat_deflate_create();
    z = ngx_chat_inflate_create();

    in = text(1000, 3);
    b = ngx_chat_buf_text_frame((const char *) in, 1000, 42);
    b->seq = 7;

    UNIT_CHECK(ngx_chat_buf_text_payload(b, &start) == 1000 && start == 4,
               "payload of a 16-bit length frame");

    built = 0;
    t = ngx_chat_deflate_frame(d, b, &built);
    UNIT_CHECK(t != NULL && built && b->twin == t && b->twin_done,
               "twin built");
    UNIT_CHECK(t->data[0] == 0xc1 && t->rev == 42 && t->seq == 7
               && t->len < b->len, "RSV1, FIN, text; rev and seq kept");

    /* the twin's payload as a client reads it */
    len = t->data[1] & 0x7f;
    start = 2;

    if (len == 126) {
        len = (size_t) t->data[2] << 8 | t->data[3];
        start = 4;
    }

    UNIT_CHECK(start + len == t->len, "twin frame length");
    UNIT_CHECK(ngx_chat_inflate_message(z, t->data + start, len, 1000, &got,
                                        &got_len)
               == NGX_CHAT_INFLATE_OK && got_len == 1000
               && memcmp(got, in, 1000) == 0, "twin inflates to the frame");

    /* once: the next call gives the same twin and compresses nothing */
    built = 0;
    UNIT_CHECK(ngx_chat_deflate_frame(d, b, &built) == t && !built, "once");

    /* a twin is never compressed again */
    UNIT_CHECK(ngx_chat_buf_text_payload(t, &start) == 0, "twin not plain");
    built = 0;
    UNIT_CHECK(ngx_chat_deflate_frame(d, t, &built) == NULL && !built,
               "no twin of a twin");

    /* the twin lives as long as someone holds it */
    ngx_chat_buf_ref(t);
    ngx_chat_buf_unref(b);
    UNIT_CHECK(t->refs == 1, "the frame's reference dropped");
    ngx_chat_buf_unref(t);

    /* what does not shrink goes plain */
    b = ngx_chat_buf_text_frame("q7#Zk", 5, 0);
    built = 0;
    UNIT_CHECK(ngx_chat_deflate_frame(d, b, &built) == NULL && built
               && b->twin_done && b->twin == NULL, "short: no twin");
    ngx_chat_buf_unref(b);

    /* no control frame, nor a frame of another kind */
    b = ngx_chat_buf_frame(NGX_CHAT_WS_PING, in, 100);
    built = 0;
    UNIT_CHECK(ngx_chat_deflate_frame(d, b, &built) == NULL && !built,
               "ping");
    ngx_chat_buf_unref(b);

    /* the three length forms */
    b = ngx_chat_buf_text_frame((const char *) in, 125, 0);
    UNIT_CHECK(ngx_chat_buf_text_payload(b, &start) == 125 && start == 2,
               "7-bit length");
    ngx_chat_buf_unref(b);

    free(in);
    in = text(70000, 4);
    b = ngx_chat_buf_text_frame((const char *) in, 70000, 0);
    UNIT_CHECK(ngx_chat_buf_text_payload(b, &start) == 70000 && start == 10,
               "64-bit length");
    t = ngx_chat_deflate_frame(d, b, &built);
    UNIT_CHECK(t && t->data[0] == 0xc1, "large twin");
    ngx_chat_buf_unref(b);

    /* a buffer that is no frame */
    p = ngx_chat_buf_alloc(1);
    p->data[0] = 0x81;
    UNIT_CHECK(ngx_chat_buf_text_payload(p, &start) == 0, "1 byte");
    ngx_chat_buf_unref(p);

    free(in);
    ngx_chat_deflate_destroy(d);
    ngx_chat_inflate_destroy(z);
}


int
main(void)
{
    test_round_trip();
    test_clients();
    test_bad_input();
    test_twin();

    return UNIT_DONE();
}
