
/*
 * chatctl HTTP client: one request per connection (Connection: close),
 * the REST API's error bodies, paths and query strings.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatctl.h"


#define NGX_CHATCTL_RES_MAX  (64 * 1024 * 1024)


static int ngx_chatctl_http_read(ngx_chatctl_conn_t *c, char **out,
    size_t *len);
static size_t ngx_chatctl_encode(char *out, size_t size, const char *s);


/* 0: an answer is in res; -1: no answer, ngx_chatctl_net_error() says why */

int
ngx_chatctl_http(ngx_chatctl_conf_t *cf, const char *method,
    const char *path, const char *body, size_t body_len, const char *token,
    ngx_chatctl_res_t *res)
{
    int                 rc;
    char               *head, *buf;
    size_t              len;
    ngx_chatctl_conn_t  c;

    memset(res, 0, sizeof(ngx_chatctl_res_t));

    len = strlen(path) + strlen(cf->api_path) + strlen(cf->u.host)
          + (token ? strlen(token) : 0) + 512;
    head = malloc(len);

    if (head == NULL) {
        return -1;
    }

    snprintf(head, len,
             "%s %s%s HTTP/1.1\r\n"
             "Host: %s%s%s:%s\r\n"
             "User-Agent: chatctl\r\n"
             "Accept: application/json\r\n"
             "Connection: close\r\n"
             "%s%s%s"
             "%s"
             "Content-Length: %zu\r\n\r\n",
             method, cf->api_path, path, ngx_chatctl_host(&cf->u),
             token ? "Authorization: Bearer " : "", token ? token : "",
             token ? "\r\n" : "",
             body ? "Content-Type: application/json\r\n" : "",
             body ? body_len : 0);

    if (ngx_chatctl_conn_open(cf, &c) != 0) {
        free(head);
        return -1;
    }

    rc = ngx_chatctl_conn_write(&c, head, strlen(head));

    if (rc == 0 && body != NULL && body_len > 0) {
        rc = ngx_chatctl_conn_write(&c, body, body_len);
    }

    free(head);

    if (rc == 0) {
        rc = ngx_chatctl_http_read(&c, &buf, &len);
    }

    ngx_chatctl_conn_close(&c);

    if (rc != 0) {
        return -1;
    }

    return ngx_chatctl_http_parse(buf, len, res);
}


static int
ngx_chatctl_http_read(ngx_chatctl_conn_t *c, char **out, size_t *len)
{
    char     *buf, *p;
    size_t    cap, n;
    ssize_t   got;

    cap = 16384;
    n = 0;
    buf = malloc(cap + 1);

    if (buf == NULL) {
        return -1;
    }

    for ( ;; ) {
        if (cap - n < 4096) {
            if (cap >= NGX_CHATCTL_RES_MAX) {
                free(buf);
                return -1;
            }

            cap *= 2;
            p = realloc(buf, cap + 1);

            if (p == NULL) {
                free(buf);
                return -1;
            }

            buf = p;
        }

        got = ngx_chatctl_conn_read(c, buf + n, cap - n, c->timeout_ms);

        if (got == 0) {
            break;
        }

        if (got == -2 && ngx_chatctl_conn_pending(c)) {
            continue;
        }

        if (got < 0) {
            if (got == -2) {
                ngx_chatctl_net_fail("no answer within the timeout");
            }

            free(buf);
            return -1;
        }

        n += (size_t) got;
    }

    buf[n] = '\0';
    *out = buf;
    *len = n;

    return 0;
}


/*
 * A call of the REST API with the token in use: refreshed first when it
 * has expired, and once more on a 401.  0 on a 2xx answer; otherwise the
 * error is printed and its exit code returned.
 */

int
ngx_chatctl_api(ngx_chatctl_conf_t *cf, const char *method, const char *path,
    const char *body, size_t body_len, ngx_chatctl_res_t *res)
{
    int          again;
    const char  *token;

    memset(res, 0, sizeof(ngx_chatctl_res_t));

    token = ngx_chatctl_token(cf, 0);

    if (token == NULL) {
        return NGX_CHATCTL_AUTH;
    }

    for (again = 0; /* void */; again++) {

        if (ngx_chatctl_http(cf, method, path, body, body_len, token, res)
            != 0)
        {
            return ngx_chatctl_fail("unavailable", "%s",
                                    ngx_chatctl_net_error());
        }

        if (res->status != 401 || again || !cf->token_from_file
            || cf->refresh_token == NULL)
        {
            break;
        }

        token = ngx_chatctl_token(cf, 1);

        if (token == NULL) {
            return NGX_CHATCTL_AUTH;
        }

        ngx_chatctl_res_free(res);
    }

    if (res->status >= 200 && res->status < 300) {
        return NGX_CHATCTL_OK;
    }

    return ngx_chatctl_res_error(res);
}


/* prints the error of a non-2xx answer; returns its exit code */

int
ngx_chatctl_res_error(ngx_chatctl_res_t *res)
{
    json_t      *e;
    const char  *code, *msg;

    code = NULL;
    msg = NULL;

    e = json_object_get(res->json, "error");

    if (json_is_object(e)) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
    }

    if (code == NULL) {
        switch (res->status) {
        case 400: code = "bad_request"; break;
        case 401: code = "unauthenticated"; break;
        case 403: code = "forbidden"; break;
        case 404: code = "not_found"; break;
        case 409: code = "conflict"; break;
        case 413: code = "too_large"; break;
        case 429: code = "rate_limited"; break;
        case 502:
        case 503:
        case 504: code = "unavailable"; break;
        default: code = "internal";
        }
    }

    if (msg == NULL) {
        msg = "(no message)";
    }

    if (res->retry_after > 0) {
        return ngx_chatctl_fail(code, "%s (HTTP %d, retry after %lld s)",
                                msg, res->status, res->retry_after);
    }

    return ngx_chatctl_fail(code, "%s (HTTP %d)", msg, res->status);
}


/* fmt with each %s replaced by its argument, percent-encoded */

void
ngx_chatctl_path(char *buf, size_t size, const char *fmt, ...)
{
    size_t       n;
    va_list      ap;
    const char  *p;

    va_start(ap, fmt);

    n = 0;

    for (p = fmt; *p && n + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 's') {
            n += ngx_chatctl_encode(buf + n, size - n, va_arg(ap, char *));
            p++;
            continue;
        }

        buf[n++] = *p;
    }

    buf[n] = '\0';

    va_end(ap);
}


/* appends ?key=value or &key=value, the value percent-encoded */

void
ngx_chatctl_query(char *buf, size_t size, const char *key, const char *value)
{
    size_t  n;

    n = strlen(buf);
    n += snprintf(buf + n, size - n, "%c%s=", strchr(buf, '?') ? '&' : '?',
                  key);

    if (n < size) {
        ngx_chatctl_encode(buf + n, size - n, value);
    }
}


static size_t
ngx_chatctl_encode(char *out, size_t size, const char *s)
{
    size_t                n;
    const unsigned char  *p;
    static const char     hex[] = "0123456789ABCDEF";

    n = 0;

    for (p = (const unsigned char *) s; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || strchr("-_.~:@", *p))
        {
            out[n++] = (char) *p;
            continue;
        }

        out[n++] = '%';
        out[n++] = hex[*p >> 4];
        out[n++] = hex[*p & 0xf];
    }

    out[n] = '\0';

    return n;
}
