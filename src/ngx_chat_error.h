/*
 * The protocol's error codes (protocol.md sections 4 and 7): for each its
 * HTTP status and the message given when the caller has none better.
 */

#ifndef _NGX_CHAT_ERROR_H_INCLUDED_
#define _NGX_CHAT_ERROR_H_INCLUDED_

#include "ngx_chat.h"


typedef struct {
    const char   *code;
    ngx_uint_t    status;
    const char   *message;
} ngx_chat_error_t;


/* NULL: not a code of the protocol */
const ngx_chat_error_t *ngx_chat_error_by_code(const char *code);
/* the code of an HTTP status nginx answered with, NULL if none */
const ngx_chat_error_t *ngx_chat_error_by_status(ngx_uint_t status);
ngx_uint_t ngx_chat_error_status(const char *code);
/* the table's rows by number (metrics): an unknown code is its length */
ngx_uint_t ngx_chat_error_index(const char *code);
const char *ngx_chat_error_code(ngx_uint_t i);


#endif /* _NGX_CHAT_ERROR_H_INCLUDED_ */
