/*
 * Reference-counted byte buffers: one server frame is built once per
 * worker and the same buffer is queued to every session that receives it.
 * Free of nginx types.
 */

#ifndef _NGX_CHAT_BUF_H_INCLUDED_
#define _NGX_CHAT_BUF_H_INCLUDED_

#include <stdint.h>
#include <stddef.h>


typedef struct ngx_chat_buf_s  ngx_chat_buf_t;

struct ngx_chat_buf_s {
    uint32_t   refs:30;
    uint32_t   reply:1;      /* one session's own answer, not an event */
    uint32_t   twin_done:1;  /* twin was built, or cannot be */
    uint32_t   len;
    int64_t    rev;          /* the room's rev: 0 for frames that are not
                                durable room events */
    int64_t    seq;          /* a message event's seq, else 0 */
    uint8_t   *data;
    /* the same frame compressed (permessage-deflate), held by this one */
    ngx_chat_buf_t  *twin;
};


ngx_chat_buf_t *ngx_chat_buf_alloc(size_t len);
/* a whole unmasked frame: header and payload */
ngx_chat_buf_t *ngx_chat_buf_frame(unsigned opcode, const void *payload,
    size_t len);
ngx_chat_buf_t *ngx_chat_buf_text_frame(const char *payload, size_t len,
    int64_t rev);

static inline ngx_chat_buf_t *
ngx_chat_buf_ref(ngx_chat_buf_t *b)
{
    b->refs++;
    return b;
}

void ngx_chat_buf_unref(ngx_chat_buf_t *b);

/*
 * The payload of a plain (RSV bits clear) unfragmented text frame: its
 * length, and where it starts in *start; 0 for any other frame.
 */
size_t ngx_chat_buf_text_payload(ngx_chat_buf_t *b, size_t *start);

#endif /* _NGX_CHAT_BUF_H_INCLUDED_ */
