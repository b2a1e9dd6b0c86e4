/*
 * The WebSocket opening handshake (RFC 6455 section 4.2): every check the
 * protocol asks for, then the 101 answer and the session takes over the
 * connection.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_http.h"
#include <ngx_sha1.h>


#define NGX_CHAT_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* nginx has no name, nor a status line, for 426 */
#define NGX_CHAT_HTTP_UPGRADE_REQUIRED  426


static ngx_int_t ngx_chat_has_token(ngx_str_t *value, const char *token,
    size_t len);
static ngx_chat_buf_t *ngx_chat_handshake_response(ngx_str_t *key,
    ngx_uint_t subprotocol);


ngx_int_t
ngx_chat_ws_handler(ngx_http_request_t *r)
{
    u_char                 *p;
    ngx_str_t               key, decoded, token;
    ngx_uint_t              subprotocol;
    const char             *err;
    u_char                  raw[32];
    ngx_table_elt_t        *h, *upgrade, *connection;
    ngx_chat_buf_t         *resp;
    ngx_chat_session_t     *s;
    ngx_chat_loc_conf_t    *lcf;
    ngx_chat_main_conf_t   *mcf;
    ngx_chat_jwt_claims_t   claims;

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_chat_module);

    if (r != r->main || !ngx_chat_worker.active) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "WebSocket needs HTTP/1.1");
    }
#endif

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "WebSocket needs HTTP/1.1");
    }

    if (r->method != NGX_HTTP_GET) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "a WebSocket upgrade is a GET request");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "a WebSocket upgrade has no body");
    }

    h = ngx_chat_http_header(r, "Sec-WebSocket-Version",
                             sizeof("Sec-WebSocket-Version") - 1);

    if (h != NULL && !(h->value.len == 2
                       && ngx_strncmp(h->value.data, "13", 2) == 0))
    {
        if (ngx_chat_http_header_out(r, "Sec-WebSocket-Version", "13")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");

        return ngx_chat_http_error(r, NGX_CHAT_HTTP_UPGRADE_REQUIRED,
                                   "bad_request",
                                   "only WebSocket version 13 is supported");
    }

    upgrade = ngx_chat_http_header(r, "Upgrade", sizeof("Upgrade") - 1);
    connection = ngx_chat_http_header(r, "Connection",
                                      sizeof("Connection") - 1);

    if (h == NULL
        || upgrade == NULL
        || !ngx_chat_has_token(&upgrade->value, "websocket",
                               sizeof("websocket") - 1)
        || connection == NULL
        || !ngx_chat_has_token(&connection->value, "upgrade",
                               sizeof("upgrade") - 1))
    {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "not a WebSocket upgrade request");
    }

    h = ngx_chat_http_header(r, "Sec-WebSocket-Key",
                             sizeof("Sec-WebSocket-Key") - 1);
    if (h == NULL || h->value.len != 24) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "invalid Sec-WebSocket-Key");
    }

    key = h->value;
    decoded.data = raw;

    if (ngx_decode_base64(&decoded, &key) != NGX_OK || decoded.len != 16) {
        return ngx_chat_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                   "invalid Sec-WebSocket-Key");
    }

    h = ngx_chat_http_header(r, "Origin", sizeof("Origin") - 1);
    if (h != NULL
        && ngx_chat_http_origin_allowed(r, lcf, &h->value) != NGX_OK)
    {
        return ngx_chat_http_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "origin not allowed");
    }

    subprotocol = 0;
    h = ngx_chat_http_header(r, "Sec-WebSocket-Protocol",
                             sizeof("Sec-WebSocket-Protocol") - 1);
    if (h != NULL
        && ngx_chat_has_token(&h->value, "chat.v1", sizeof("chat.v1") - 1))
    {
        subprotocol = 1;
    }

    ngx_memzero(&claims, sizeof(ngx_chat_jwt_claims_t));

    h = r->headers_in.authorization;
    if (h != NULL) {
        p = h->value.data;

        if (h->value.len <= 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7))
        {
            return ngx_chat_http_error(r, NGX_HTTP_UNAUTHORIZED,
                                       "unauthenticated",
                                       "expected a Bearer token");
        }

        token.data = p + 7;
        token.len = h->value.len - 7;

        if (ngx_chat_jwt_verify(&mcf->jwt, (char *) token.data, token.len,
                                (long long) ngx_time(), &claims, &err)
            != 0)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "chat: token rejected: %s", err);
            return ngx_chat_http_error(r, NGX_HTTP_UNAUTHORIZED,
                                       "unauthenticated", "invalid token");
        }
    }

    resp = ngx_chat_handshake_response(&key, subprotocol);
    if (resp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_chat_session_create(r, lcf, resp);
    ngx_chat_buf_unref(resp);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->header_sent = 1;
    r->keepalive = 0;

    if (h != NULL) {
        ngx_chat_session_authenticate(s, &claims, NULL, 0);
    }

    ngx_chat_session_start(s);

    return NGX_DONE;
}




/* a comma-separated header value contains the token, case-insensitively */
static ngx_int_t
ngx_chat_has_token(ngx_str_t *value, const char *token, size_t len)
{
    u_char  *p, *last, *start, *end;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}




static ngx_chat_buf_t *
ngx_chat_handshake_response(ngx_str_t *key, ngx_uint_t subprotocol)
{
    u_char           *p;
    u_char            digest[20], accept[28];
    ngx_str_t         src, dst;
    ngx_sha1_t        sha1;
    ngx_chat_buf_t   *b;

    static const char  head[] =
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    static const char  proto[] = "\r\nSec-WebSocket-Protocol: chat.v1";

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_CHAT_WS_GUID, sizeof(NGX_CHAT_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    b = ngx_chat_buf_alloc(sizeof(head) - 1 + dst.len + sizeof(proto) - 1
                           + 4);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->data, head, sizeof(head) - 1);
    p = ngx_cpymem(p, dst.data, dst.len);

    if (subprotocol) {
        p = ngx_cpymem(p, proto, sizeof(proto) - 1);
    }

    p = ngx_cpymem(p, "\r\n\r\n", 4);
    b->len = p - b->data;

    return b;
}
