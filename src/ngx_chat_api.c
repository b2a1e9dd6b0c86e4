/*
 * The REST API under the location with "chat_api", and the JSON answers
 * shared with the WebSocket handshake.
 */

#include "ngx_chat.h"


static ngx_int_t ngx_chat_api_health(ngx_http_request_t *r);


ngx_int_t
ngx_chat_api_handler(ngx_http_request_t *r)
{
    ngx_str_t                  path;
    ngx_http_core_loc_conf_t  *clcf;

    if (!ngx_chat_worker.active) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    if (path.len == 6 && ngx_strncmp(path.data, "health", 6) == 0) {
        return ngx_chat_api_health(r);
    }

    if (r->headers_in.authorization == NULL) {
        return ngx_chat_http_error(r, NGX_HTTP_UNAUTHORIZED,
                                   "unauthenticated",
                                   "this call needs a Bearer token");
    }

    return ngx_chat_http_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                               "no such API call");
}


static ngx_int_t
ngx_chat_api_health(ngx_http_request_t *r)
{
    ngx_uint_t        redis, pg, status;
    ngx_table_elt_t  *h;
    ngx_chat_json_t   j;
    ngx_int_t         rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return ngx_chat_http_error(r, NGX_HTTP_NOT_ALLOWED, "bad_request",
                                   "method not allowed");
    }

    redis = ngx_chat_redis_up();
    pg = ngx_chat_pg_up();
    status = (redis && pg) ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_chat_json_init(&j, 96);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "status", redis && pg ? "ok" : "unavailable",
                         redis && pg ? 2 : 11);
    ngx_chat_json_kv_str(&j, "redis", redis ? "up" : "down",
                         redis ? 2 : 4);
    ngx_chat_json_kv_str(&j, "postgres", pg ? "up" : "down", pg ? 2 : 4);
    ngx_chat_json_end(&j);
    ngx_chat_json_char(&j, '\n');

    rc = ngx_chat_http_send(r, status, &j);
    ngx_chat_json_free(&j);

    return rc;
}


ngx_int_t
ngx_chat_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_int_t        rc;
    ngx_chat_json_t  j;

    ngx_chat_json_init(&j, 128);
    ngx_chat_json_rest_error(&j, code, message);
    ngx_chat_json_char(&j, '\n');

    rc = ngx_chat_http_send(r, status, &j);
    ngx_chat_json_free(&j);

    return rc;
}


ngx_int_t
ngx_chat_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chat_json_t *j)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (j->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_HEAD) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    b = ngx_create_temp_buf(r->pool, j->len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, j->data, j->len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
