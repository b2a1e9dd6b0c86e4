/*
 * Users across the cluster: token revocation, global bans, the per-user
 * send rate and connections cap (protocol.md section 8).  Written in
 * ngx_chat_users.c (tokens, the control channel), ngx_chat_api_users.c
 * (the REST calls) and ngx_chat_user_limits.c (the limits); what those
 * share alone is in ngx_chat_users_int.h.
 */

#ifndef _NGX_CHAT_USERS_H_INCLUDED_
#define _NGX_CHAT_USERS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_op.h"


/* chat_user_connections_max: a user's connections on every host */
#define NGX_CHAT_USER_CONNECTIONS_MAX  100
#define NGX_CHAT_USERS_CROWDED                                                \
    "too many connections of this user (chat_user_connections_max)"

#define NGX_CHAT_USERS_SEND_RATED                                             \
    "too many messages from this user (chat_user_send_rate)"

/* chat_user_send_rate 10r/5s burst=9: ten at once, then one in 0.5 s */
#define NGX_CHAT_USER_SEND_INTERVAL  500000
#define NGX_CHAT_USER_SEND_BURST     9


ngx_int_t ngx_chat_users_init(ngx_cycle_t *cycle);
void ngx_chat_users_exit(void);

/*
 * The verified claims of a.  NGX_OK: a->handler has run (with NULL and
 * a->banned or a->revoked set when refused); NGX_AGAIN: it runs later.
 */
ngx_int_t ngx_chat_users_auth(ngx_chat_auth_t *a);

/*
 * A connection authenticated with a (a->connection set): it is counted
 * against chat_user_connections_max until it closes.
 */
void ngx_chat_users_connected(ngx_chat_session_t *s, ngx_chat_auth_t *a);
void ngx_chat_users_closed(ngx_chat_session_t *s);

/*
 * A send of op's user, under lim (chat_user_send_rate): it goes to
 * store->send once the cluster's count allows it, or op is answered
 * rate_limited.  req is taken over (the caller's is left empty).
 */
void ngx_chat_users_send(ngx_chat_op_t *op, const ngx_chat_limit_t *lim,
    const ngx_chat_store_t *store, const char *name, size_t name_len,
    ngx_chat_request_t *req);

#endif /* _NGX_CHAT_USERS_H_INCLUDED_ */
