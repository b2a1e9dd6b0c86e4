/*
 * HTTP answers shared by the WebSocket handshake and the REST API: JSON
 * bodies in the protocol's shape, the status of each error code, origin
 * checks and CORS.
 */

#include "ngx_chat.h"
#include "ngx_chat_http.h"
#include "ngx_chat_error.h"
#include "ngx_chat_metrics.h"


static ngx_table_elt_t *ngx_chat_http_list_find(ngx_list_t *list,
    const char *name, size_t len);


ngx_table_elt_t *
ngx_chat_http_header(ngx_http_request_t *r, const char *name, size_t len)
{
    return ngx_chat_http_list_find(&r->headers_in.headers, name, len);
}


static ngx_table_elt_t *
ngx_chat_http_list_find(ngx_list_t *list, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_chat_http_origin_allowed(ngx_http_request_t *r, ngx_chat_loc_conf_t *lcf,
    ngx_str_t *origin)
{
    u_char      *p, *last;
    size_t       len, n;
    ngx_str_t   *o, host;
    ngx_uint_t   i;
    const char  *scheme;

    if (lcf->origins_any) {
        return NGX_OK;
    }

    len = origin->len;
    while (len && origin->data[len - 1] == '/') {
        len--;
    }

    if (lcf->origins) {
        o = lcf->origins->elts;

        for (i = 0; i < lcf->origins->nelts; i++) {
            if (o[i].len == len
                && ngx_strncasecmp(o[i].data, origin->data, len) == 0)
            {
                return NGX_OK;
            }
        }
    }

    /*
     * same origin: the origin's scheme is the request's, and its
     * host[:port] is the request's Host
     */
    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    last = origin->data + len;

#if (NGX_HTTP_SSL)
    scheme = r->connection->ssl ? "https://" : "http://";
#else
    scheme = "http://";
#endif

    n = ngx_strlen(scheme);

    if ((size_t) (last - origin->data) < n
        || ngx_strncasecmp(origin->data, (u_char *) scheme, n) != 0)
    {
        return NGX_DECLINED;
    }

    p = origin->data + n;

    host = r->headers_in.host->value;

    if ((size_t) (last - p) == host.len
        && ngx_strncasecmp(p, host.data, host.len) == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The handler of "chat_errors": the section 7 JSON body for an error that
 * nginx met before a chat location could answer (a header or a request
 * line too long, a body over client_max_body_size, TRACE, a malformed
 * request), reached with error_page.  The status is the one the error
 * page was reached with ("error_page 494 =431" for nginx's 494, which
 * error_page would otherwise turn into 400).
 */
ngx_int_t
ngx_chat_http_errors_handler(ngx_http_request_t *r)
{
    ngx_uint_t               status;
    const char              *code, *msg;
    const ngx_chat_error_t  *e;

    if (r->err_status == 0 || !r->internal) {
        /* asked for directly, not through error_page */
        return ngx_chat_http_error(r, "not_found",
                                   "no such API call");
    }

    status = r->err_status;
    code = NULL;
    msg = NULL;

    switch (status) {

    case 431:
        /* "error_page 494 =431 ...": nginx itself has no line for it */
        ngx_str_set(&r->headers_out.status_line,
                    "431 Request Header Fields Too Large");
        code = "too_large";
        msg = "the request header is too large";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        code = "too_large";
        msg = "the request line is too long";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        msg = "the body is too large";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        code = "bad_request";
        msg = "method not allowed";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "bad_request";
        msg = "the request was not read in time";
        break;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTPS_CERT_ERROR:
    case NGX_HTTPS_NO_CERT:
    case NGX_HTTP_TO_HTTPS:
        status = NGX_HTTP_BAD_REQUEST;
        msg = "malformed request";
        break;
    }

    if (code == NULL) {
        e = ngx_chat_error_by_status(status);

        if (e == NULL) {
            status = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR && status < 600)
                     ? NGX_HTTP_INTERNAL_SERVER_ERROR : NGX_HTTP_BAD_REQUEST;
            e = ngx_chat_error_by_status(status);
        }

        code = e->code;

        if (msg == NULL) {
            msg = e->message;
        }
    }

    /* the status set here is the one sent, not err_status */
    r->err_status = 0;

    return ngx_chat_http_error_status(r, status, code, msg);
}


/* the section 7 error body, with the status of its code */
ngx_int_t
ngx_chat_http_error(ngx_http_request_t *r, const char *code,
    const char *message)
{
    return ngx_chat_http_error_status(r, ngx_chat_error_status(code), code,
                                      message);
}


ngx_int_t
ngx_chat_http_error_status(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_int_t        rc;
    ngx_chat_json_t  j;

    ngx_chat_metrics_rejected(NGX_CHAT_METRICS_HTTP, code);
    ngx_chat_json_init(&j, 128);
    ngx_chat_json_rest_error(&j, code, message);
    ngx_chat_json_char(&j, '\n');

    rc = ngx_chat_http_send(r, status, &j);
    ngx_chat_json_free(&j);

    return rc;
}


/* a JSON answer (j NULL: none, as for 204) with CORS and Retry-After */
ngx_int_t
ngx_chat_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chat_json_t *j)
{
    ngx_int_t  rc;

    if (j && j->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_chat_http_cors(r) == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((status == NGX_HTTP_SERVICE_UNAVAILABLE
         || status == NGX_HTTP_TOO_MANY_REQUESTS)
        && ngx_chat_http_list_find(&r->headers_out.headers, "Retry-After",
                                   sizeof("Retry-After") - 1)
           == NULL
        && ngx_chat_http_header_out(r, "Retry-After", "2") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;

    if (j == NULL || status == NGX_HTTP_NO_CONTENT) {
        r->headers_out.content_length_n = 0;
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    return ngx_chat_http_body(r, "application/json", (u_char *) j->data,
                              j->len);
}


/*
 * CORS for a request from an allowed origin: the browser may read the
 * answer and its Retry-After.
 */
ngx_int_t
ngx_chat_http_cors(ngx_http_request_t *r)
{
    u_char               *p;
    ngx_table_elt_t      *origin;
    ngx_chat_loc_conf_t  *lcf;

    origin = ngx_chat_http_header(r, "Origin", sizeof("Origin") - 1);
    if (origin == NULL) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    if (ngx_chat_http_origin_allowed(r, lcf, &origin->value) != NGX_OK) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, origin->value.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, origin->value.data, origin->value.len);
    p[origin->value.len] = '\0';

    if (ngx_chat_http_header_out(r, "Access-Control-Allow-Origin",
                                 (char *) p) != NGX_OK
        || ngx_chat_http_header_out(r, "Vary", "Origin") != NGX_OK
        || ngx_chat_http_header_out(r, "Access-Control-Expose-Headers",
                                    "Retry-After") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Retry-After of a 429 or 503 that knows its wait (else it is 2) */
ngx_int_t
ngx_chat_http_retry_after(ngx_http_request_t *r, long long seconds)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%L", seconds);
    *last = '\0';

    if (ngx_chat_http_header_out(r, "Retry-After", (char *) p) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an output header; name and value must outlive the request */
ngx_int_t
ngx_chat_http_header_out(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/* the headers (status set) and a body of that type, copied */
ngx_int_t
ngx_chat_http_body(ngx_http_request_t *r, const char *type, u_char *data,
    size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, data, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
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


void
ngx_chat_http_finalize_foreign(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);

    /*
     * c->data is the request while it lives; after a keepalive, a close
     * or an upgrade to a WebSocket session it is not, and nothing of the
     * request is left to run
     */
    if (!c->destroyed && c->data == r) {
        ngx_http_run_posted_requests(c);
    }
}
