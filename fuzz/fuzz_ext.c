/*
 * Sec-WebSocket-Extensions offers (src/core/ngx_chat_ext.c): any header
 * value is read without reading past it; an accepted offer's answer is
 * itself an offer the server accepts, with the same window; and what a
 * value decides does not change when an unacceptable header comes first.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_chat_ext.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, again;
    char            ans[NGX_CHAT_EXT_ANSWER_MAX];
    size_t          n;
    uint8_t        *copy;
    ngx_chat_ext_t  ext, back, two;

    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);

    memset(&ext, 0, sizeof(ngx_chat_ext_t));
    rc = ngx_chat_ext_offer(&ext, copy, size);

    FUZZ_CHECK(rc == (int) ext.deflate, "result and flag differ");
    FUZZ_CHECK(ext.server_bits == 0
               || (ext.server_bits >= 8 && ext.server_bits <= 15),
               "window out of range");

    if (rc) {
        n = ngx_chat_ext_answer(&ext, ans);
        FUZZ_CHECK(n < sizeof(ans), "answer too long");

        memset(&back, 0, sizeof(ngx_chat_ext_t));
        FUZZ_CHECK(ngx_chat_ext_offer(&back, (uint8_t *) ans, n) == 1
                   && back.server_bits == ext.server_bits,
                   "the answer read back differs");
    }

    memset(&two, 0, sizeof(ngx_chat_ext_t));
    again = ngx_chat_ext_offer(&two, (const uint8_t *) "x-none", 6);
    FUZZ_CHECK(again == 0, "x-none accepted");
    again = ngx_chat_ext_offer(&two, copy, size);
    FUZZ_CHECK(again == rc && two.server_bits == ext.server_bits,
               "a declined header before changed the verdict");

    free(copy);

    return 0;
}
