/*
 * Sec-WebSocket-Extensions: which offers of permessage-deflate are
 * accepted (RFC 7692 section 7.1) and the answer written for them.
 */

#include <string.h>

#include "unit.h"
#include "ngx_chat_ext.h"


/* 1 if accepted; *bits: server_max_window_bits taken */
static int
offer(const char *value, unsigned *bits)
{
    int             rc;
    ngx_chat_ext_t  ext;

    memset(&ext, 0, sizeof(ngx_chat_ext_t));
    rc = ngx_chat_ext_offer(&ext, (const uint8_t *) value, strlen(value));

    UNIT_CHECK(rc == (int) ext.deflate, "result and flag agree: %s", value);

    if (bits) {
        *bits = ext.server_bits;
    }

    return rc;
}


static void
test_accepted(void)
{
    size_t          i;
    unsigned        bits;

    static const char  *yes[] = {
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate;client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; client_max_window_bits=15",
        "PerMessage-Deflate",
        "x-webkit-deflate-frame, permessage-deflate",
        " ,, permessage-deflate ,",
        "permessage-deflate; client_max_window_bits=\"9\"",
        /* the first offer is declined, the second taken */
        "permessage-deflate; foo, permessage-deflate",
        "permessage-deflate; server_max_window_bits=16, "
            "permessage-deflate; client_max_window_bits",
        "permessage-deflate\t;\tclient_no_context_takeover",
    };

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        UNIT_CHECK(offer(yes[i], &bits) == 1 && bits == 0, "accepts %s",
                   yes[i]);
    }

    UNIT_CHECK(offer("permessage-deflate; server_max_window_bits=10", &bits)
               == 1 && bits == 10, "server bits 10: %u", bits);
    UNIT_CHECK(offer("permessage-deflate; server_max_window_bits=\"12\"",
                     &bits) == 1 && bits == 12, "quoted 12: %u", bits);
    UNIT_CHECK(offer("permessage-deflate; server_max_window_bits=8", &bits)
               == 1 && bits == 8, "8: %u", bits);
    UNIT_CHECK(offer("permessage-deflate; server_max_window_bits=15", &bits)
               == 1 && bits == 15, "15: %u", bits);
}


static void
test_declined(void)
{
    size_t  i;

    static const char  *no[] = {
        "",
        "   ",
        "x-webkit-deflate-frame",
        "permessage-deflat",
        "permessage-deflatex",
        "permessage-deflate; foo",
        "permessage-deflate; foo=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=123456789012",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"x\"",
        "permessage-deflate; client_no_context_takeover; "
            "client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; "
            "server_max_window_bits=10",
        /* the grammar broken: nothing after it is read */
        "permessage-deflate;",
        "permessage-deflate; ; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate x",
        "permessage-deflate; x=\"\", permessage-deflate",
        "foo; bar=\"unterminated, permessage-deflate",
        "permessage-deflate=1",
        "@, permessage-deflate",
    };

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        UNIT_CHECK(offer(no[i], NULL) == 0, "declines %s", no[i]);
    }
}


static void
test_headers_and_answer(void)
{
    char            buf[NGX_CHAT_EXT_ANSWER_MAX];
    size_t          n;
    ngx_chat_ext_t  ext;

    static const char  second[] = "permessage-deflate; "
                                  "server_max_window_bits=9";
    static const char  plain[] = "permessage-deflate; "
        "server_no_context_takeover; client_no_context_takeover";

    /* several headers: read in turn until one is accepted */

    memset(&ext, 0, sizeof(ngx_chat_ext_t));
    UNIT_CHECK(ngx_chat_ext_offer(&ext, (const uint8_t *) "foo", 3) == 0,
               "first header");
    UNIT_CHECK(ngx_chat_ext_offer(&ext, (const uint8_t *) second,
                                  strlen(second)) == 1
               && ext.server_bits == 9, "second header");
    UNIT_CHECK(ngx_chat_ext_offer(&ext, (const uint8_t *) "foo", 3) == 1
               && ext.server_bits == 9, "a later one changes nothing");

    n = ngx_chat_ext_answer(&ext, buf);
    UNIT_CHECK(n == sizeof(plain) - 1 + 26
               && memcmp(buf, plain, sizeof(plain) - 1) == 0
               && memcmp(buf + sizeof(plain) - 1,
                         "; server_max_window_bits=9", 26) == 0,
               "answer with bits: %.*s", (int) n, buf);

    ext.server_bits = 0;
    n = ngx_chat_ext_answer(&ext, buf);
    UNIT_CHECK(n == sizeof(plain) - 1 && memcmp(buf, plain, n) == 0,
               "answer: %.*s", (int) n, buf);

    ext.server_bits = 15;
    n = ngx_chat_ext_answer(&ext, buf);
    UNIT_CHECK(n < NGX_CHAT_EXT_ANSWER_MAX
               && memcmp(buf + n - 3, "=15", 3) == 0, "15 fits");
}


int
main(void)
{
    test_accepted();
    test_declined();
    test_headers_and_answer();

    return UNIT_DONE();
}
