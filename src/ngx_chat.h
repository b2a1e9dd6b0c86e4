/*
 * ngx_chat: the common header of the nginx side of the module.
 */

#ifndef _NGX_CHAT_H_INCLUDED_
#define _NGX_CHAT_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_chat_jwt.h"
#include "ngx_chat_limit.h"
#include "ngx_chat_room.h"


/* the schema (sql/) this module works with */
#define NGX_CHAT_SCHEMA_VERSION   19

/* a room's display name and topic (POST /rooms) */
#define NGX_CHAT_ROOM_NAME_MAX    128
#define NGX_CHAT_ROOM_TOPIC_MAX   1024

/* chat_store: where a location's sends go (ngx_chat_store.h) */
#define NGX_CHAT_STORE_POSTGRESQL  0
#define NGX_CHAT_STORE_REDIS       1

typedef struct ngx_chat_store_s  ngx_chat_store_t;


#define NGX_CHAT_NOT_STORED                                                   \
    "messages are not stored here (chat_store redis)"


typedef struct ngx_chat_session_s  ngx_chat_session_t;


/* a Redis Cluster node given to chat_redis cluster */
typedef struct {
    u_char                 host[NGX_INET6_ADDRSTRLEN + 1];
    in_port_t              port;
} ngx_chat_redis_addr_t;


typedef struct {
    ngx_str_t              redis_host;    /* cluster: the first seed's */
    in_port_t              redis_port;
    ngx_array_t           *redis_cluster; /* ngx_chat_redis_addr_t, seeds */
    ngx_str_t              redis_prefix;
    ngx_msec_t             redis_timeout;
    ngx_msec_t             presence_ttl;

    ngx_str_t              pg_conninfo;
    ngx_uint_t             pg_pool;
    ngx_msec_t             pg_timeout;

    /* chat_reload_spread: the window of a reload's closes (0: at once) */
    ngx_msec_t             reload_spread;

    ngx_array_t           *jwt_keys;      /* ngx_chat_jwt_key_t */
    ngx_str_t              jwt_issuer;
    ngx_str_t              jwt_audience;
    ngx_chat_jwt_conf_t    jwt;

    ngx_flag_t             autocreate;
    ngx_uint_t             batch_max;
    /* chat_batch_hold: a commit of this many sends holds the next (0: no) */
    ngx_uint_t             batch_hold;
    ngx_msec_t             batch_hold_max;
    ngx_chat_limit_t       room_create_rate;
    ngx_str_t              search_language;   /* chat_search_language */
    ngx_uint_t             user_conns_max;  /* 0: no cap */

    /* chat_accounts_*: the signing key (alg 0: none), lifetimes, rates */
    ngx_chat_jwt_key_t     accounts_key;
    time_t                 accounts_access_ttl;
    time_t                 accounts_refresh_ttl;
    ngx_uint_t             accounts_cost;
    ngx_chat_limit_t       accounts_login_rate;
    ngx_chat_limit_t       accounts_address_rate;

    ngx_uint_t             used;          /* chat_ws or chat_api seen */
} ngx_chat_main_conf_t;


typedef struct {
    ngx_uint_t             handler;
    ngx_array_t           *origins;       /* ngx_str_t, lowercase */
    ngx_flag_t             origins_any;

    ngx_msec_t             auth_timeout;
    ngx_msec_t             ping_interval;
    ngx_msec_t             pong_timeout;
    ngx_msec_t             send_timeout;
    size_t                 frame_max;
    size_t                 message_max;
    size_t                 send_queue_max;
    ngx_flag_t             deflate;       /* chat_deflate */
    size_t                 deflate_min;   /* chat_deflate_min_length */
    size_t                 reply_max;     /* chat_reply_max as set */
    size_t                 reply_bound;   /* a reply frame, history pages */
    ngx_uint_t             join_replay_max;
    const ngx_chat_store_t *store;  /* chat_store */
    ngx_chat_limit_t       request_rate;
    ngx_uint_t             rooms_max;
    ngx_chat_limit_t       user_send_rate;
    ngx_flag_t             accounts;      /* chat_accounts */
} ngx_chat_loc_conf_t;


/* ngx_chat_module.c */
extern ngx_module_t  ngx_chat_module;

typedef struct {
    ngx_chat_main_conf_t      *mcf;
    ngx_log_t                 *log;
    ngx_chat_room_table_t      rooms;
    ngx_chat_room_table_t      relay_rooms;   /* of chat_store redis */
    ngx_queue_t                sessions;
    ngx_flag_t                 active;
} ngx_chat_worker_t;

extern ngx_chat_worker_t  ngx_chat_worker;

/*
 * The data of a timer or posted event of no connection: nginx's debug
 * log names an event by the fd of the connection its data points to.
 */
extern ngx_connection_t   ngx_chat_no_connection;

int64_t ngx_chat_now_ms(void);


/* a batch: up to max of the oldest in from, moved to the end of to */
static ngx_inline ngx_uint_t
ngx_chat_queue_move(ngx_queue_t *to, ngx_queue_t *from, ngx_uint_t max)
{
    ngx_uint_t    n;
    ngx_queue_t  *q;

    for (n = 0; n < max && !ngx_queue_empty(from); n++) {
        q = ngx_queue_head(from);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(to, q);
    }

    return n;
}


#endif /* _NGX_CHAT_H_INCLUDED_ */
