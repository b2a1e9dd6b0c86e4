/*
 * HTTP: the handshake, the REST API and what they share.
 */

#ifndef _NGX_CHAT_HTTP_H_INCLUDED_
#define _NGX_CHAT_HTTP_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


/* ngx_chat_handshake.c */
ngx_int_t ngx_chat_ws_handler(ngx_http_request_t *r);


ngx_table_elt_t *ngx_chat_http_header(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_int_t ngx_chat_http_header_out(ngx_http_request_t *r, const char *name,
    const char *value);
ngx_int_t ngx_chat_http_origin_allowed(ngx_http_request_t *r,
    ngx_chat_loc_conf_t *lcf, ngx_str_t *origin);
ngx_int_t ngx_chat_http_errors_handler(ngx_http_request_t *r);
ngx_int_t ngx_chat_http_error(ngx_http_request_t *r, const char *code,
    const char *message);
ngx_int_t ngx_chat_http_error_status(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_chat_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chat_json_t *j);
ngx_int_t ngx_chat_http_retry_after(ngx_http_request_t *r,
    long long seconds);
ngx_int_t ngx_chat_http_cors(ngx_http_request_t *r);
ngx_int_t ngx_chat_http_body(ngx_http_request_t *r, const char *type,
    u_char *data, size_t len);


/* ngx_chat_api.c */
ngx_int_t ngx_chat_api_handler(ngx_http_request_t *r);

/*
 * Finalizes a request from another connection's event (Redis, PostgreSQL,
 * the batcher), then runs what the finalization posted, as nginx's upstream
 * module does: a request terminated that way (its client reset) would
 * otherwise stay, with its connection, forever.
 */
void ngx_chat_http_finalize_foreign(ngx_http_request_t *r, ngx_int_t rc);


#endif /* _NGX_CHAT_HTTP_H_INCLUDED_ */
