/*
 * What the files of users across the cluster share and no other area
 * needs: the per-worker cache of users and the Redis change script
 * (ngx_chat_users.c), a change of a user's state on its way to Redis (made
 * by the REST calls of ngx_chat_api_users.c), and the connection count of
 * ngx_chat_user_limits.c that a token's check asks for.
 */

#ifndef _NGX_CHAT_USERS_INT_H_INCLUDED_
#define _NGX_CHAT_USERS_INT_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_users.h"
#include "ngx_chat_redis.h"


/* a user in this worker's cache: what it heard, the fallback send rate */
typedef struct {
    ngx_str_node_t          sn;
    time_t                  revoked;     /* 0: none heard */
    int64_t                 ban_until;   /* -1: none, 0: until lifted */
    uint64_t                send_tat;    /* the fallback send rate */
    u_char                  data[1];
} ngx_chat_user_t;


/* a REST call changing a user's state, through PostgreSQL then Redis */
typedef struct {
    ngx_chat_op_t              *op;
    const char                 *refusal;     /* stored: op gets a 401 */
    int64_t                     until;       /* -1: none */
    u_char                      payload[NGX_CHAT_REDIS_KEY_MAX + 64];
    size_t                      payload_len;
    u_char                      key[NGX_CHAT_REDIS_KEY_MAX];
    size_t                      key_len;
    u_char                      value[NGX_INT64_LEN];
    size_t                      value_len;
    u_char                      pxat[NGX_INT64_LEN];
    size_t                      pxat_len;
} ngx_chat_users_change_t;


/* ngx_chat_users.c */

ngx_chat_user_t *ngx_chat_users_get(const char *user, size_t len,
    ngx_uint_t create);
void ngx_chat_users_prune(void);
size_t ngx_chat_users_jti_key(u_char *buf, const char *kind,
    const char *user, size_t len, const char *jti, size_t jti_len);
ngx_int_t ngx_chat_users_store(ngx_chat_users_change_t *ch,
    ngx_uint_t del);
void ngx_chat_users_eval(const char **argv, size_t *argvlen,
    const char *script, size_t len, const char *nkeys);
void ngx_chat_users_token_keys(ngx_chat_auth_t *a,
    u_char (*keys)[NGX_CHAT_REDIS_KEY_MAX], size_t *lens);
/* a token's answer from Redis: its four keys, [the count's] */
void ngx_chat_users_checked(void *data, ngx_int_t rc, redisReply *reply);
void ngx_chat_users_unchecked(ngx_chat_auth_t *a);


/* ngx_chat_user_limits.c */

void ngx_chat_user_limits_init(ngx_cycle_t *cycle);
void ngx_chat_user_limits_exit(void);

/* this worker's connections count from now on (the pub/sub link is up) */
void ngx_chat_user_limits_alive(void);

/*
 * A token that opens a connection, checked and counted with the others
 * of this loop tick in one script; its handler runs once Redis answered
 * (ngx_chat_users_checked), or Redis is away.
 */
void ngx_chat_user_limits_count(ngx_chat_auth_t *a);

/* a connection counted by the script above closed, or was refused */
void ngx_chat_user_limits_uncount(const char *user, size_t len);

#endif /* _NGX_CHAT_USERS_INT_H_INCLUDED_ */
