#include <stdlib.h>
#include <string.h>

#include "ngx_chat_buf.h"
#include "ngx_chat_frame.h"


ngx_chat_buf_t *
ngx_chat_buf_alloc(size_t len)
{
    ngx_chat_buf_t  *b;

    if (len > UINT32_MAX) {
        return NULL;
    }

    b = malloc(sizeof(ngx_chat_buf_t) + len);
    if (b == NULL) {
        return NULL;
    }

    b->refs = 1;
    b->reply = 0;
    b->twin_done = 0;
    b->twin = NULL;
    b->len = (uint32_t) len;
    b->rev = 0;
    b->seq = 0;
    b->data = (uint8_t *) (b + 1);

    return b;
}


ngx_chat_buf_t *
ngx_chat_buf_frame(unsigned opcode, const void *payload, size_t len)
{
    size_t           n;
    uint8_t          hdr[10];
    ngx_chat_buf_t  *b;

    n = ngx_chat_frame_header(hdr, opcode, len);

    b = ngx_chat_buf_alloc(n + len);
    if (b == NULL) {
        return NULL;
    }

    memcpy(b->data, hdr, n);

    if (len) {
        memcpy(b->data + n, payload, len);
    }

    return b;
}


ngx_chat_buf_t *
ngx_chat_buf_text_frame(const char *payload, size_t len, int64_t rev)
{
    ngx_chat_buf_t  *b;

    b = ngx_chat_buf_frame(NGX_CHAT_WS_TEXT, payload, len);

    if (b) {
        b->rev = rev;
    }

    return b;
}


void
ngx_chat_buf_unref(ngx_chat_buf_t *b)
{
    if (--b->refs == 0) {

        if (b->twin) {
            ngx_chat_buf_unref(b->twin);
        }

        free(b);
    }
}


size_t
ngx_chat_buf_text_payload(ngx_chat_buf_t *b, size_t *start)
{
    size_t    n, len, i;
    uint8_t  *p;

    p = b->data;

    if (b->len < 2 || p[0] != (0x80 | NGX_CHAT_WS_TEXT) || (p[1] & 0x80)) {
        return 0;
    }

    len = p[1] & 0x7f;
    n = 2;

    if (len == 126) {
        n = 4;
        len = (b->len < n) ? 0 : ((size_t) p[2] << 8 | p[3]);

    } else if (len == 127) {
        n = 10;
        len = 0;

        for (i = 2; i < n && i < b->len; i++) {
            len = len << 8 | p[i];
        }
    }

    if (n + len != b->len) {
        return 0;
    }

    *start = n;

    return len;
}
