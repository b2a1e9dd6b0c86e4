
/*
 * chatctl: an HTTP answer read to the end of the connection, split into
 * status, headers and body (Content-Length or chunked).  The bytes come
 * from the network: fuzz/fuzz_answer.c drives this file alone.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatctl.h"


static const char *ngx_chatctl_header(const char *head, const char *name);
static size_t ngx_chatctl_unchunk(char *p, size_t len);


/*
 * buf holds len bytes and a NUL after them; res owns it from here (freed
 * here on failure).  0: the answer is in res; -1: not an HTTP answer.
 */

int
ngx_chatctl_http_parse(char *buf, size_t len, ngx_chatctl_res_t *res)
{
    char         *end, *body;
    size_t        blen;
    long long     n;
    const char   *v;
    json_error_t  jerr;

    end = strstr(buf, "\r\n\r\n");

    if (end == NULL || strncmp(buf, "HTTP/1.", 7) != 0 || len < 12) {
        free(buf);
        ngx_chatctl_net_fail("not an HTTP answer");
        return -1;
    }

    *end = '\0';
    res->head = buf;
    res->status = atoi(buf + 9);

    body = end + 4;
    blen = len - (size_t) (body - buf);

    v = ngx_chatctl_header(buf, "Transfer-Encoding");

    if (v != NULL && strncasecmp(v, "chunked", 7) == 0) {
        blen = ngx_chatctl_unchunk(body, blen);

    } else if ((v = ngx_chatctl_header(buf, "Content-Length")) != NULL) {
        n = strtoll(v, NULL, 10);

        if (n >= 0 && (size_t) n < blen) {
            blen = (size_t) n;
        }
    }

    body[blen] = '\0';
    res->body = body;
    res->body_len = blen;

    v = ngx_chatctl_header(buf, "Retry-After");
    res->retry_after = v ? strtoll(v, NULL, 10) : 0;

    if (blen > 0) {
        res->json = json_loadb(body, blen, 0, &jerr);
    }

    return 0;
}


static const char *
ngx_chatctl_header(const char *head, const char *name)
{
    size_t       n;
    const char  *p;

    n = strlen(name);

    for (p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
        p += 2;

        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;

            while (*p == ' ' || *p == '\t') {
                p++;
            }

            return p;
        }
    }

    return NULL;
}


/* decodes a chunked body in place; returns its length */

static size_t
ngx_chatctl_unchunk(char *p, size_t len)
{
    char    *in, *end, *out, *next;
    size_t   size;

    in = p;
    out = p;
    end = p + len;

    while (in < end) {
        size = strtoul(in, &next, 16);
        next = strstr(next, "\r\n");

        if (next == NULL || size == 0) {
            break;
        }

        in = next + 2;

        if (size > (size_t) (end - in)) {
            size = (size_t) (end - in);
        }

        memmove(out, in, size);
        out += size;
        in += size + 2;
    }

    return (size_t) (out - p);
}


void
ngx_chatctl_res_free(ngx_chatctl_res_t *res)
{
    json_decref(res->json);
    free(res->head);
    memset(res, 0, sizeof(ngx_chatctl_res_t));
}
