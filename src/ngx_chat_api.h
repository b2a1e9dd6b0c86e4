/*
 * The REST API: its calls are rows of a route table (ngx_chat_api.c),
 * each a method, a path pattern and a handler in the file of its area.
 */

#ifndef _NGX_CHAT_API_H_INCLUDED_
#define _NGX_CHAT_API_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_op.h"


typedef struct ngx_chat_api_ctx_s  ngx_chat_api_ctx_t;

/*
 * Runs an authenticated call; returns an HTTP status (often from
 * ngx_chat_http_error) or NGX_DONE when an op answers later.
 */
typedef ngx_int_t (*ngx_chat_api_call_pt)(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);

/* route flags */
#define NGX_CHAT_API_PUBLIC   0x01    /* no token needed */
#define NGX_CHAT_API_BODY     0x02    /* a JSON body is required */
#define NGX_CHAT_API_LOGGED   0x04    /* needs a store that keeps messages */
#define NGX_CHAT_API_ACCOUNTS 0x08    /* only with chat_accounts on */

typedef struct {
    ngx_uint_t              methods;    /* NGX_HTTP_GET|... */
    /* segments; "{room}", "{user}" and "{seq}" take a path segment */
    const char             *path;
    ngx_chat_api_call_pt    call;
    ngx_uint_t              flags;
} ngx_chat_api_route_t;


struct ngx_chat_api_ctx_s {
    const ngx_chat_api_route_t  *route;
    ngx_str_t                    room;      /* {room}, validated */
    ngx_str_t                    user;      /* {user}, validated */
    int64_t                      seq;       /* {seq}, >= 1 */
    ngx_chat_auth_t              auth;      /* auth.claims: the caller's */
    ngx_int_t                    rc;        /* the call's, once authed */
    unsigned                     waiting:1; /* for the token check */
    ngx_str_t                    body;      /* POST, PUT, PATCH: as read */
    size_t                       body_size;
};


/* an op that answers this call; room may be NULL */
ngx_chat_op_t *ngx_chat_api_op(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_str_t *room, ngx_uint_t status);

/* query arguments */
ngx_uint_t ngx_chat_api_has_arg(ngx_http_request_t *r, const char *name);
ngx_int_t ngx_chat_api_arg(ngx_http_request_t *r, const char *name,
    int64_t min, int64_t max, int64_t *value);
ngx_int_t ngx_chat_api_unescape(ngx_http_request_t *r, ngx_str_t *v);


/* ngx_chat_api_rooms.c */
ngx_int_t ngx_chat_api_rooms(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_room_create(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_messages(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_message_send(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_read(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
void ngx_chat_api_rooms_done(void *data, PGresult *res, ngx_uint_t status);

/* ngx_chat_api_members.c */
ngx_int_t ngx_chat_api_dm(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_room_patch(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_members(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_member_put(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_member_delete(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_ban(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_mute(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);

/* ngx_chat_edit.c */
ngx_int_t ngx_chat_api_message_edit(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_message_delete(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);

/* ngx_chat_search.c */
ngx_int_t ngx_chat_api_search(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);

/* ngx_chat_api_presence.c */
ngx_int_t ngx_chat_api_presence(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);

/* ngx_chat_api_users.c */
ngx_int_t ngx_chat_api_user_revoke(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_user_ban(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);

/* ngx_chat_api_accounts.c */
ngx_int_t ngx_chat_api_auth_register(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_auth_login(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_auth_refresh(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
ngx_int_t ngx_chat_api_auth_logout(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);

#endif /* _NGX_CHAT_API_H_INCLUDED_ */
