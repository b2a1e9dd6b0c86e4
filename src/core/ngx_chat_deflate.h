/*
 * permessage-deflate (RFC 7692) without context takeover: a message is
 * compressed, or inflated, alone, so one stream per worker serves every
 * connection and an idle connection holds no zlib state.  Free of nginx
 * types.
 */

#ifndef _NGX_CHAT_DEFLATE_H_INCLUDED_
#define _NGX_CHAT_DEFLATE_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "ngx_chat_buf.h"


/* ngx_chat_inflate_message() */
#define NGX_CHAT_INFLATE_OK       0
#define NGX_CHAT_INFLATE_TOO_BIG  1   /* more than max bytes: 1009 */
#define NGX_CHAT_INFLATE_CORRUPT  2   /* not a deflate stream: 1007 */
#define NGX_CHAT_INFLATE_NOMEM    3


typedef struct ngx_chat_deflate_s  ngx_chat_deflate_t;
typedef struct ngx_chat_inflate_s  ngx_chat_inflate_t;


ngx_chat_deflate_t *ngx_chat_deflate_create(void);
void ngx_chat_deflate_destroy(ngx_chat_deflate_t *d);

/*
 * One message compressed alone, ended by a sync flush whose last four
 * bytes (00 00 ff ff) are taken off (RFC 7692 section 7.2.1).  *out stays
 * valid until the next call.  Returns 0, or -1 (out of memory).
 */
int ngx_chat_deflate_message(ngx_chat_deflate_t *d, const uint8_t *in,
    size_t len, const uint8_t **out, size_t *out_len);

/*
 * The compressed twin of an unfragmented text frame, built on the first
 * call and kept by the frame (b->twin): the same frame with RSV1 set and
 * the payload compressed.  NULL when b is no such frame, when compressing
 * does not make it shorter, or when memory ran out: then b goes as it is.
 * Sets *built when this call compressed.
 */
ngx_chat_buf_t *ngx_chat_deflate_frame(ngx_chat_deflate_t *d,
    ngx_chat_buf_t *b, int *built);


ngx_chat_inflate_t *ngx_chat_inflate_create(void);
void ngx_chat_inflate_destroy(ngx_chat_inflate_t *z);

/*
 * One compressed message (the payloads of its frames, as received)
 * inflated alone into at most max bytes: a larger result is stopped
 * there, before more is produced.  A message that refers back to an
 * earlier one (context takeover the server did not allow) is CORRUPT.
 * *out stays valid until the next call; the buffer grows up to max + 1.
 */
int ngx_chat_inflate_message(ngx_chat_inflate_t *z, const uint8_t *in,
    size_t len, size_t max, const uint8_t **out, size_t *out_len);

/* memory kept between messages: the output buffer shrinks to this */
#define NGX_CHAT_INFLATE_KEEP  16384


#endif /* _NGX_CHAT_DEFLATE_H_INCLUDED_ */
