/*
 * permessage-deflate (src/core/ngx_chat_deflate.c).  The first byte picks
 * the property:
 *   even: the rest is a compressed message from a client, inflated under
 *         a limit taken from the next two bytes; what is accepted is
 *         exactly what zlib itself makes of the message and its tail,
 *         never more than the limit, and the same again on a second try
 *         (the stream is reset between messages);
 *   odd:  the rest is a message compressed by the server and inflated
 *         back: the same bytes, the limit of its own length holds and
 *         one byte less does not.
 */

#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "ngx_chat_deflate.h"


static ngx_chat_deflate_t  *d;
static ngx_chat_inflate_t  *z;


/* zlib alone: inflated bytes of in + tail into out[cap], or -1 */
static long
ref_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    long      n;
    uint8_t  *all;
    z_stream  s;

    all = malloc(len + 4);
    memcpy(all, in, len);
    memcpy(all + len, "\x00\x00\xff\xff", 4);

    memset(&s, 0, sizeof(z_stream));
    inflateInit2(&s, -15);
    s.next_in = all;
    s.avail_in = len + 4;
    s.next_out = out;
    s.avail_out = cap;

    n = inflate(&s, Z_SYNC_FLUSH);
    n = (n == Z_OK || n == Z_STREAM_END || n == Z_BUF_ERROR)
        ? (long) s.total_out : -1;

    inflateEnd(&s);
    free(all);

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, rc2;
    long            ref;
    size_t          max, n, n2, len;
    uint8_t        *copy, *buf;
    const uint8_t  *out, *out2, *zout;

    if (d == NULL) {
        d = ngx_chat_deflate_create();
        z = ngx_chat_inflate_create();
        FUZZ_CHECK(d && z, "create");
    }

    if (size < 3) {
        return 0;
    }

    if (data[0] & 1) {
        len = size - 1;

        FUZZ_CHECK(ngx_chat_deflate_message(d, data + 1, len, &zout, &n)
                   == 0, "deflate failed");

        copy = malloc(n ? n : 1);
        memcpy(copy, zout, n);

        rc = ngx_chat_inflate_message(z, copy, n, len, &out, &n2);
        FUZZ_CHECK(rc == NGX_CHAT_INFLATE_OK && n2 == len
                   && memcmp(out, data + 1, len) == 0, "round trip");

        if (len > 0) {
            rc = ngx_chat_inflate_message(z, copy, n, len - 1, &out, &n2);
            FUZZ_CHECK(rc == NGX_CHAT_INFLATE_TOO_BIG, "limit - 1");
        }

        free(copy);
        return 0;
    }

    max = (size_t) data[1] << 8 | data[2];
    len = size - 3;

    /* an exact copy: the sanitizers see any read beyond it */
    copy = malloc(len ? len : 1);
    memcpy(copy, data + 3, len);

    n = 0;
    rc = ngx_chat_inflate_message(z, copy, len, max, &out, &n);

    if (rc != NGX_CHAT_INFLATE_OK) {
        n = 0;
    }

    FUZZ_CHECK(rc == NGX_CHAT_INFLATE_OK || rc == NGX_CHAT_INFLATE_TOO_BIG
               || rc == NGX_CHAT_INFLATE_CORRUPT, "unknown result");

    if (rc == NGX_CHAT_INFLATE_OK) {
        FUZZ_CHECK(n <= max, "more than the limit");

        buf = malloc(max + 2);
        ref = ref_inflate(copy, len, buf, max + 1);
        FUZZ_CHECK(ref == (long) n && memcmp(buf, out, n) == 0,
                   "differs from zlib");
        free(buf);
    }

    /* the same again: nothing is left of the message before */

    buf = malloc(n + 1);
    if (rc == NGX_CHAT_INFLATE_OK) {
        memcpy(buf, out, n);
    }

    rc2 = ngx_chat_inflate_message(z, copy, len, max, &out2, &n2);
    FUZZ_CHECK(rc2 == rc, "another result the second time");
    FUZZ_CHECK(rc != NGX_CHAT_INFLATE_OK
               || (n2 == n && memcmp(out2, buf, n) == 0),
               "other bytes the second time");

    free(buf);
    free(copy);

    return 0;
}
