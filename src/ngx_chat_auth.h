/*
 * Authentication: every token the module accepts passes here, whether it
 * comes in an Authorization header (the handshake, the REST API) or in an
 * auth or refresh request.
 */

#ifndef _NGX_CHAT_AUTH_H_INCLUDED_
#define _NGX_CHAT_AUTH_H_INCLUDED_

#include "ngx_chat.h"


typedef struct ngx_chat_auth_s  ngx_chat_auth_t;

/* claims NULL: the token is refused, and the refusal is logged */
typedef void (*ngx_chat_auth_handler_pt)(ngx_chat_auth_t *a,
    ngx_chat_jwt_claims_t *claims);

/* the caller's, alive until its handler has run */
struct ngx_chat_auth_s {
    ngx_chat_auth_handler_pt   handler;
    void                      *data;
    ngx_log_t                 *log;
    const char                *what;      /* "token", "refresh token" */
    const u_char              *user;      /* whose session, or NULL */
    ngx_chat_jwt_claims_t      claims;
    ngx_queue_t                queue;     /* waiting for its count */
    unsigned                   connection:1; /* opens a connection */
    unsigned                   banned:1;  /* refused: globally banned */
    unsigned                   revoked:1; /* refused: token revoked */
    unsigned                   crowded:1; /* refused: connections cap */
    unsigned                   counted:1; /* counted in the cap */
};


/*
 * The token of "Authorization: Bearer <token>": NGX_OK, NGX_DECLINED when
 * there is no such header, NGX_ERROR for another scheme or no token.
 */
ngx_int_t ngx_chat_auth_bearer(ngx_http_request_t *r, ngx_str_t *token);

/*
 * NGX_OK: the handler has run.  NGX_AGAIN: it runs later, once a check
 * that asks a backend (such as a revocation list) has its answer; the
 * caller then keeps its request or connection waiting.
 */
ngx_int_t ngx_chat_auth_check(ngx_chat_auth_t *a, const u_char *token,
    size_t len);


#endif /* _NGX_CHAT_AUTH_H_INCLUDED_ */
