/*
 * The WebSocket opening handshake (RFC 6455 section 4.2): every check the
 * protocol asks for, then the 101 answer and the session takes over the
 * connection.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_http.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_users.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_ext.h"
#include <ngx_sha1.h>


#define NGX_CHAT_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* nginx has no name, nor a status line, for 426 */
#define NGX_CHAT_HTTP_UPGRADE_REQUIRED  426


typedef struct {
    ngx_http_request_t    *request;
    ngx_str_t              key;
    ngx_uint_t             subprotocol;
    ngx_chat_ext_t         ext;           /* permessage-deflate agreed */
    ngx_chat_auth_t        auth;
    ngx_int_t              rc;
    unsigned               waiting:1;
} ngx_chat_handshake_t;


static ngx_int_t ngx_chat_handshake_check(ngx_http_request_t *r,
    ngx_chat_handshake_t *hs);
static void ngx_chat_handshake_authed(ngx_chat_auth_t *a,
    ngx_chat_jwt_claims_t *claims);
static ngx_int_t ngx_chat_handshake_accept(ngx_chat_handshake_t *hs,
    ngx_chat_jwt_claims_t *claims);
static ngx_int_t ngx_chat_has_token(ngx_str_t *value, const char *token,
    size_t len);
static void ngx_chat_handshake_extensions(ngx_http_request_t *r,
    ngx_chat_ext_t *ext);
static ngx_chat_buf_t *ngx_chat_handshake_response(ngx_str_t *key,
    ngx_uint_t subprotocol, ngx_chat_ext_t *ext);


/*
 * The handshake: its checks, then the token of an Authorization header
 * if there is one (the client may instead authenticate with an "auth"
 * request), then the answer.
 */
ngx_int_t
ngx_chat_ws_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             token;
    ngx_chat_handshake_t  *hs;

    if (r != r->main || !ngx_chat_worker.active) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hs = ngx_pcalloc(r->pool, sizeof(ngx_chat_handshake_t));
    if (hs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hs->request = r;

    rc = ngx_chat_handshake_check(r, hs);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_chat_auth_bearer(r, &token);

    if (rc == NGX_DECLINED) {
        return ngx_chat_handshake_accept(hs, NULL);
    }

    if (rc == NGX_ERROR) {
        return ngx_chat_http_error(r, "unauthenticated",
                                   "expected a Bearer token");
    }

    hs->auth.handler = ngx_chat_handshake_authed;
    hs->auth.data = hs;
    hs->auth.log = r->connection->log;
    hs->auth.connection = 1;

    if (ngx_chat_auth_check(&hs->auth, token.data, token.len) == NGX_AGAIN) {
        hs->waiting = 1;
        r->main->count++;
        return NGX_DONE;
    }

    return hs->rc;
}


static void
ngx_chat_handshake_authed(ngx_chat_auth_t *a, ngx_chat_jwt_claims_t *claims)
{
    ngx_chat_handshake_t  *hs = a->data;

    if (claims == NULL && a->banned) {
        hs->rc = ngx_chat_http_error(hs->request, "forbidden",
                                     "the user is banned");

    } else if (claims == NULL && a->crowded) {
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_CONNECTIONS);
        hs->rc = (ngx_chat_http_retry_after(hs->request, 1) == NGX_OK)
                 ? ngx_chat_http_error(hs->request, "rate_limited",
                                       NGX_CHAT_USERS_CROWDED)
                 : NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else if (claims == NULL) {
        hs->rc = ngx_chat_http_error(hs->request, "unauthenticated",
                                     "invalid token");

    } else {
        hs->rc = ngx_chat_handshake_accept(hs, claims);
    }

    if (hs->waiting) {
        ngx_chat_http_finalize_foreign(hs->request, hs->rc);
    }
}


/* NGX_OK, or the answer to a request that is no WebSocket upgrade */
static ngx_int_t
ngx_chat_handshake_check(ngx_http_request_t *r, ngx_chat_handshake_t *hs)
{
    ngx_str_t             *key, decoded;
    ngx_uint_t            *subprotocol;
    u_char                 raw[32];
    ngx_table_elt_t       *h, *upgrade, *connection;
    ngx_chat_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);
    key = &hs->key;
    subprotocol = &hs->subprotocol;

#if (NGX_HTTP_V2)
    if (r->stream) {
        return ngx_chat_http_error(r, "bad_request",
                                   "WebSocket needs HTTP/1.1");
    }
#endif

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_chat_http_error(r, "bad_request",
                                   "WebSocket needs HTTP/1.1");
    }

    if (r->method != NGX_HTTP_GET) {
        return ngx_chat_http_error(r, "bad_request",
                                   "a WebSocket upgrade is a GET request");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_chat_http_error(r, "bad_request",
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

        return ngx_chat_http_error_status(r, NGX_CHAT_HTTP_UPGRADE_REQUIRED,
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
        return ngx_chat_http_error(r, "bad_request",
                                   "not a WebSocket upgrade request");
    }

    h = ngx_chat_http_header(r, "Sec-WebSocket-Key",
                             sizeof("Sec-WebSocket-Key") - 1);
    if (h == NULL || h->value.len != 24) {
        return ngx_chat_http_error(r, "bad_request",
                                   "invalid Sec-WebSocket-Key");
    }

    *key = h->value;
    decoded.data = raw;

    if (ngx_decode_base64(&decoded, key) != NGX_OK || decoded.len != 16) {
        return ngx_chat_http_error(r, "bad_request",
                                   "invalid Sec-WebSocket-Key");
    }

    h = ngx_chat_http_header(r, "Origin", sizeof("Origin") - 1);
    if (h != NULL
        && ngx_chat_http_origin_allowed(r, lcf, &h->value) != NGX_OK)
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "origin not allowed");
    }

    *subprotocol = 0;
    h = ngx_chat_http_header(r, "Sec-WebSocket-Protocol",
                             sizeof("Sec-WebSocket-Protocol") - 1);
    if (h != NULL
        && ngx_chat_has_token(&h->value, "chat.v1", sizeof("chat.v1") - 1))
    {
        *subprotocol = 1;
    }

    if (lcf->deflate) {
        ngx_chat_handshake_extensions(r, &hs->ext);
    }

    return NGX_OK;
}


/*
 * The client's offers of permessage-deflate, in every
 * Sec-WebSocket-Extensions header in turn: the first acceptable one is
 * taken; none, or a header that cannot be read, leaves the connection
 * uncompressed (RFC 7692 section 7.1).
 */
static void
ngx_chat_handshake_extensions(ngx_http_request_t *r, ngx_chat_ext_t *ext)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static const char  name[] = "Sec-WebSocket-Extensions";

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof(name) - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) name,
                               sizeof(name) - 1) == 0
            && ngx_chat_ext_offer(ext, h[i].value.data, h[i].value.len))
        {
            return;
        }
    }
}


/* the 101 answer, and the session takes the connection over */
static ngx_int_t
ngx_chat_handshake_accept(ngx_chat_handshake_t *hs,
    ngx_chat_jwt_claims_t *claims)
{
    ngx_http_request_t   *r;
    ngx_chat_buf_t       *resp;
    ngx_chat_session_t   *s;
    ngx_chat_loc_conf_t  *lcf;

    r = hs->request;
    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    resp = ngx_chat_handshake_response(&hs->key, hs->subprotocol, &hs->ext);
    if (resp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_chat_session_create(r, lcf, resp);
    ngx_chat_buf_unref(resp);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (hs->ext.deflate) {
        ngx_chat_session_deflate(s, hs->ext.server_bits);
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->header_sent = 1;
    r->keepalive = 0;

    if (claims) {
        ngx_chat_session_authenticate(s, claims, NULL, 0);
        ngx_chat_users_connected(s, &hs->auth);
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
ngx_chat_handshake_response(ngx_str_t *key, ngx_uint_t subprotocol,
    ngx_chat_ext_t *ext)
{
    u_char           *p;
    char              ans[NGX_CHAT_EXT_ANSWER_MAX];
    size_t            ans_len;
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
    static const char  exts[] = "\r\nSec-WebSocket-Extensions: ";

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_CHAT_WS_GUID, sizeof(NGX_CHAT_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    ans_len = ext->deflate ? ngx_chat_ext_answer(ext, ans) : 0;

    b = ngx_chat_buf_alloc(sizeof(head) - 1 + dst.len + sizeof(proto) - 1
                           + sizeof(exts) - 1 + ans_len + 4);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->data, head, sizeof(head) - 1);
    p = ngx_cpymem(p, dst.data, dst.len);

    if (subprotocol) {
        p = ngx_cpymem(p, proto, sizeof(proto) - 1);
    }

    if (ans_len) {
        p = ngx_cpymem(p, exts, sizeof(exts) - 1);
        p = ngx_cpymem(p, ans, ans_len);
    }

    p = ngx_cpymem(p, "\r\n\r\n", 4);
    b->len = p - b->data;

    return b;
}
