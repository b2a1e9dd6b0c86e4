/*
 * Authentication: the Bearer header, and the check of a token against
 * chat_jwt_key and the claim rules of ngx_chat_jwt.c.
 */

#include "ngx_chat.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_users.h"


#define NGX_CHAT_BEARER  "Bearer "


ngx_int_t
ngx_chat_auth_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (h->value.len <= sizeof(NGX_CHAT_BEARER) - 1
        || ngx_strncasecmp(h->value.data, (u_char *) NGX_CHAT_BEARER,
                           sizeof(NGX_CHAT_BEARER) - 1)
           != 0)
    {
        return NGX_ERROR;
    }

    token->data = h->value.data + sizeof(NGX_CHAT_BEARER) - 1;
    token->len = h->value.len - (sizeof(NGX_CHAT_BEARER) - 1);

    return NGX_OK;
}


ngx_int_t
ngx_chat_auth_check(ngx_chat_auth_t *a, const u_char *token, size_t len)
{
    const char  *err;

    if (ngx_chat_jwt_verify(&ngx_chat_worker.mcf->jwt, (const char *) token,
                            len, (long long) ngx_time(), &a->claims, &err)
        != 0)
    {
        if (a->user) {
            ngx_log_error(NGX_LOG_INFO, a->log, 0,
                          "chat: %s of user \"%s\" rejected: %s",
                          a->what ? a->what : "token", a->user, err);

        } else {
            ngx_log_error(NGX_LOG_INFO, a->log, 0, "chat: %s rejected: %s",
                          a->what ? a->what : "token", err);
        }

        a->handler(a, NULL);
        return NGX_OK;
    }

    /* revocations and bans: may ask Redis */
    return ngx_chat_users_auth(a);
}
