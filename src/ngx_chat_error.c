/*
 * The error table.
 */

#include "ngx_chat.h"
#include "ngx_chat_error.h"


static const ngx_chat_error_t  ngx_chat_error_table[] = {
    { "bad_request", NGX_HTTP_BAD_REQUEST, "the request was refused" },
    { "unauthenticated", NGX_HTTP_UNAUTHORIZED, "authenticate first" },
    { "forbidden", NGX_HTTP_FORBIDDEN, "not allowed" },
    { "not_found", NGX_HTTP_NOT_FOUND, "not found" },
    { "conflict", NGX_HTTP_CONFLICT, "conflict" },
    { "too_large", NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too large" },
    { "rate_limited", NGX_HTTP_TOO_MANY_REQUESTS, "too many requests" },
    { "unavailable", NGX_HTTP_SERVICE_UNAVAILABLE,
      "a backend is unavailable, try again" },
    { "internal", NGX_HTTP_INTERNAL_SERVER_ERROR, "internal error" },
    { NULL, 0, NULL }
};


const ngx_chat_error_t *
ngx_chat_error_by_code(const char *code)
{
    const ngx_chat_error_t  *e;

    for (e = ngx_chat_error_table; e->code; e++) {
        if (ngx_strcmp(e->code, code) == 0) {
            return e;
        }
    }

    return NULL;
}


const ngx_chat_error_t *
ngx_chat_error_by_status(ngx_uint_t status)
{
    const ngx_chat_error_t  *e;

    for (e = ngx_chat_error_table; e->code; e++) {
        if (e->status == status) {
            return e;
        }
    }

    return NULL;
}


/* an unknown code is the gateway's own fault */
ngx_uint_t
ngx_chat_error_status(const char *code)
{
    const ngx_chat_error_t  *e;

    e = ngx_chat_error_by_code(code);

    return e ? e->status : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the row of code in the table; an unknown code: the table's length */
ngx_uint_t
ngx_chat_error_index(const char *code)
{
    const ngx_chat_error_t  *e;

    for (e = ngx_chat_error_table; e->code; e++) {
        if (ngx_strcmp(e->code, code) == 0) {
            break;
        }
    }

    return e - ngx_chat_error_table;
}


/* the code of row i, NULL past the table */
const char *
ngx_chat_error_code(ngx_uint_t i)
{
    if (i >= sizeof(ngx_chat_error_table) / sizeof(ngx_chat_error_t) - 1) {
        return NULL;
    }

    return ngx_chat_error_table[i].code;
}
