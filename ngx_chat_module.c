/*
 * ngx_chat: a real-time chat gateway inside nginx.
 *
 * This file holds the module definition, the directives and the worker
 * start and stop; the areas live in src/.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_request.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_rooms.h"
#include "ngx_chat_batch.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_access.h"
#include "ngx_chat_http.h"
#include "ngx_chat_store.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_users.h"
#include "ngx_chat_reload.h"


#define NGX_CHAT_HANDLER_WS       1
#define NGX_CHAT_HANDLER_API      2


/* defaults of the directives (README.md lists them) */
#define NGX_CHAT_AUTH_TIMEOUT        10000
#define NGX_CHAT_PING_INTERVAL       30000
#define NGX_CHAT_PONG_TIMEOUT        10000
#define NGX_CHAT_SEND_TIMEOUT        30000
#define NGX_CHAT_FRAME_MAX           16384
#define NGX_CHAT_FRAME_MAX_LEAST     128
#define NGX_CHAT_MESSAGE_MAX         NGX_CHAT_BODY_MAX_DEFAULT
#define NGX_CHAT_SEND_QUEUE_MAX      (1024 * 1024)
#define NGX_CHAT_DEFLATE             1
#define NGX_CHAT_DEFLATE_MIN_LENGTH  128
#define NGX_CHAT_JOIN_REPLAY_MAX     500
#define NGX_CHAT_ROOMS_MAX           100
#define NGX_CHAT_REDIS_TIMEOUT       5000
#define NGX_CHAT_PRESENCE_TTL        30000
#define NGX_CHAT_PRESENCE_TTL_LEAST  1000
#define NGX_CHAT_PG_POOL             4
#define NGX_CHAT_PG_TIMEOUT          10000
#define NGX_CHAT_RELOAD_SPREAD       5000
#define NGX_CHAT_BATCH_MAX           500
#define NGX_CHAT_BATCH_HOLD          16
#define NGX_CHAT_BATCH_HOLD_MAX      10
#define NGX_CHAT_JWT_LEN_MAX         NGX_CHAT_JWT_MAX_LEN
#define NGX_CHAT_SEARCH_LANGUAGE     "simple"

/*
 * Default limits: chat_request_rate 20r/s burst=200 (a client at the rooms
 * cap rejoins its 100 rooms and reads a page of each at once);
 * chat_room_create_rate 10r/m burst=50.
 */
#define NGX_CHAT_REQUEST_INTERVAL      50000
#define NGX_CHAT_REQUEST_BURST         200
#define NGX_CHAT_ROOM_CREATE_INTERVAL  6000000
#define NGX_CHAT_ROOM_CREATE_BURST     50

#define NGX_CHAT_RATE_UNSET  ((uint64_t) -1)

/*
 * Accounts: access tokens for 15 minutes, refresh tokens for 30 days,
 * bcrypt cost 10; chat_accounts_login_rate 5r/m burst=10 per user,
 * chat_accounts_address_rate 30r/m burst=30 per client address.
 */
#define NGX_CHAT_ACCOUNTS_ACCESS_TTL      900
#define NGX_CHAT_ACCOUNTS_REFRESH_TTL     (30 * 86400)
#define NGX_CHAT_ACCOUNTS_COST            10
#define NGX_CHAT_ACCOUNTS_LOGIN_INTERVAL  12000000
#define NGX_CHAT_ACCOUNTS_LOGIN_BURST     10
#define NGX_CHAT_ACCOUNTS_ADDR_INTERVAL   2000000
#define NGX_CHAT_ACCOUNTS_ADDR_BURST      30


static void *ngx_chat_create_main_conf(ngx_conf_t *cf);
static char *ngx_chat_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_chat_create_loc_conf(ngx_conf_t *cf);
static char *ngx_chat_merge_reply_max(ngx_conf_t *cf,
    ngx_chat_loc_conf_t *conf, ngx_chat_loc_conf_t *prev);
static char *ngx_chat_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_chat_ws(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_chat_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_chat_errors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_store_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_chat_redis_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *out, in_port_t *out_port);
static ngx_int_t ngx_chat_addr_numeric(u_char *addr, size_t len);
static char *ngx_chat_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_key_file(ngx_conf_t *cf, ngx_chat_main_conf_t *mcf,
    ngx_str_t *value, ngx_chat_jwt_key_t **added);
static char *ngx_chat_accounts_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_accounts_merge(ngx_conf_t *cf,
    ngx_chat_loc_conf_t *conf, ngx_chat_loc_conf_t *prev);
static char *ngx_chat_allowed_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chat_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static void ngx_chat_rate_merge(ngx_chat_limit_t *conf,
    ngx_chat_limit_t *prev, uint64_t interval, uint64_t burst);
static char *ngx_chat_check_bounds(ngx_conf_t *cf, void *post, void *data);
static char *ngx_chat_search_language_check(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_chat_init_process(ngx_cycle_t *cycle);
static void ngx_chat_exit_process(ngx_cycle_t *cycle);


ngx_chat_worker_t  ngx_chat_worker;
ngx_connection_t   ngx_chat_no_connection;


static ngx_conf_num_bounds_t  ngx_chat_pool_bounds = {
    ngx_chat_check_bounds, 1, 64
};

static ngx_conf_num_bounds_t  ngx_chat_batch_bounds = {
    ngx_chat_check_bounds, 1, 10000
};

static ngx_conf_num_bounds_t  ngx_chat_hold_bounds = {
    ngx_chat_check_bounds, 0, 10000
};

static ngx_conf_num_bounds_t  ngx_chat_replay_bounds = {
    ngx_chat_check_bounds, 1, 100000
};

static ngx_conf_num_bounds_t  ngx_chat_rooms_bounds = {
    ngx_chat_check_bounds, 1, 10000
};

static ngx_conf_num_bounds_t  ngx_chat_cost_bounds = {
    ngx_chat_check_bounds, 4, 16
};

static ngx_conf_post_t  ngx_chat_search_language_post = {
    ngx_chat_search_language_check
};


static ngx_command_t  ngx_chat_commands[] = {

    { ngx_string("chat_ws"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_chat_ws,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_chat_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_errors"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_chat_errors,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_chat_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, redis_prefix),
      NULL },

    { ngx_string("chat_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("chat_presence_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, presence_ttl),
      NULL },

    { ngx_string("chat_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_chat_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, pg_conninfo),
      NULL },

    { ngx_string("chat_postgres_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, pg_pool),
      &ngx_chat_pool_bounds },

    { ngx_string("chat_postgres_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, pg_timeout),
      NULL },

    { ngx_string("chat_reload_spread"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, reload_spread),
      NULL },

    { ngx_string("chat_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_chat_jwt_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, jwt_issuer),
      NULL },

    { ngx_string("chat_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, jwt_audience),
      NULL },

    { ngx_string("chat_room_autocreate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, autocreate),
      NULL },

    { ngx_string("chat_room_create_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_chat_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, room_create_rate),
      NULL },

    { ngx_string("chat_search_language"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, search_language),
      &ngx_chat_search_language_post },

    { ngx_string("chat_batch_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, batch_max),
      &ngx_chat_batch_bounds },

    { ngx_string("chat_batch_hold"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, batch_hold),
      &ngx_chat_hold_bounds },

    { ngx_string("chat_batch_hold_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, batch_hold_max),
      NULL },

    { ngx_string("chat_allowed_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
      |NGX_CONF_1MORE,
      ngx_chat_allowed_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_auth_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, auth_timeout),
      NULL },

    { ngx_string("chat_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("chat_pong_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, pong_timeout),
      NULL },

    { ngx_string("chat_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, send_timeout),
      NULL },

    { ngx_string("chat_frame_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, frame_max),
      NULL },

    { ngx_string("chat_message_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, message_max),
      NULL },

    { ngx_string("chat_deflate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, deflate),
      NULL },

    { ngx_string("chat_deflate_min_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, deflate_min),
      NULL },

    { ngx_string("chat_send_queue_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, send_queue_max),
      NULL },

    { ngx_string("chat_reply_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, reply_max),
      NULL },

    { ngx_string("chat_join_replay_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, join_replay_max),
      &ngx_chat_replay_bounds },

    { ngx_string("chat_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chat_store_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_request_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_chat_rate,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, request_rate),
      NULL },

    { ngx_string("chat_user_send_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_chat_rate,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, user_send_rate),
      NULL },

    { ngx_string("chat_user_connections_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, user_conns_max),
      NULL },

    { ngx_string("chat_rooms_per_connection"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, rooms_max),
      &ngx_chat_rooms_bounds },

    { ngx_string("chat_accounts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_loc_conf_t, accounts),
      NULL },

    { ngx_string("chat_accounts_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_chat_accounts_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_accounts_access_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, accounts_access_ttl),
      NULL },

    { ngx_string("chat_accounts_refresh_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, accounts_refresh_ttl),
      NULL },

    { ngx_string("chat_accounts_bcrypt_cost"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, accounts_cost),
      &ngx_chat_cost_bounds },

    { ngx_string("chat_accounts_login_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_chat_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, accounts_login_rate),
      NULL },

    { ngx_string("chat_accounts_address_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_chat_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chat_main_conf_t, accounts_address_rate),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_chat_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_chat_create_main_conf,             /* create main configuration */
    ngx_chat_init_main_conf,               /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_chat_create_loc_conf,              /* create location configuration */
    ngx_chat_merge_loc_conf                /* merge location configuration */
};


ngx_module_t  ngx_chat_module = {
    NGX_MODULE_V1,
    &ngx_chat_module_ctx,                  /* module context */
    ngx_chat_commands,                     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_chat_init_process,                 /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_chat_exit_process,                 /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_chat_create_main_conf(ngx_conf_t *cf)
{
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_chat_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->redis_host = { 0, NULL };
     *     mcf->pg_conninfo = { 0, NULL };
     *     mcf->jwt_issuer = { 0, NULL };
     *     mcf->jwt_audience = { 0, NULL };
     *     mcf->used = 0;
     */

    mcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    mcf->presence_ttl = NGX_CONF_UNSET_MSEC;
    mcf->pg_pool = NGX_CONF_UNSET_UINT;
    mcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    mcf->reload_spread = NGX_CONF_UNSET_MSEC;
    mcf->autocreate = NGX_CONF_UNSET;
    mcf->batch_max = NGX_CONF_UNSET_UINT;
    mcf->batch_hold = NGX_CONF_UNSET_UINT;
    mcf->batch_hold_max = NGX_CONF_UNSET_MSEC;
    mcf->room_create_rate.interval = NGX_CHAT_RATE_UNSET;
    mcf->user_conns_max = NGX_CONF_UNSET_UINT;
    mcf->accounts_access_ttl = NGX_CONF_UNSET;
    mcf->accounts_refresh_ttl = NGX_CONF_UNSET;
    mcf->accounts_cost = NGX_CONF_UNSET_UINT;
    mcf->accounts_login_rate.interval = NGX_CHAT_RATE_UNSET;
    mcf->accounts_address_rate.interval = NGX_CHAT_RATE_UNSET;

    mcf->jwt_keys = ngx_array_create(cf->pool, 2, sizeof(ngx_chat_jwt_key_t));
    if (mcf->jwt_keys == NULL) {
        return NULL;
    }

    return mcf;
}


static char *
ngx_chat_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_chat_main_conf_t *mcf = conf;

    if (mcf->redis_prefix.data == NULL) {
        ngx_str_set(&mcf->redis_prefix, "chat:");
    }

    /* Redis names are built in fixed buffers: prefix, kind, room id */
    if (mcf->redis_prefix.len > NGX_CHAT_REDIS_PREFIX_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_redis_prefix\" must be at most %d bytes",
                           NGX_CHAT_REDIS_PREFIX_MAX);
        return NGX_CONF_ERROR;
    }

    /* on a cluster the module puts hash tags in names itself */
    if (mcf->redis_cluster
        && (ngx_strlchr(mcf->redis_prefix.data,
                        mcf->redis_prefix.data + mcf->redis_prefix.len, '{')
            || ngx_strlchr(mcf->redis_prefix.data,
                           mcf->redis_prefix.data + mcf->redis_prefix.len,
                           '}')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_redis_prefix\" may not hold \"{\" or "
                           "\"}\" with \"chat_redis cluster\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(mcf->redis_timeout, NGX_CHAT_REDIS_TIMEOUT);
    ngx_conf_init_msec_value(mcf->presence_ttl, NGX_CHAT_PRESENCE_TTL);

    /* beats come every TTL / 4: a second or more keeps that sane */
    if (mcf->presence_ttl < NGX_CHAT_PRESENCE_TTL_LEAST) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_presence_ttl\" must be at least 1s");
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_uint_value(mcf->pg_pool, NGX_CHAT_PG_POOL);
    ngx_conf_init_msec_value(mcf->pg_timeout, NGX_CHAT_PG_TIMEOUT);
    ngx_conf_init_msec_value(mcf->reload_spread, NGX_CHAT_RELOAD_SPREAD);
    ngx_conf_init_uint_value(mcf->user_conns_max,
                             NGX_CHAT_USER_CONNECTIONS_MAX);
    ngx_conf_init_value(mcf->autocreate, 1);
    ngx_conf_init_uint_value(mcf->batch_max, NGX_CHAT_BATCH_MAX);
    ngx_conf_init_uint_value(mcf->batch_hold, NGX_CHAT_BATCH_HOLD);
    ngx_conf_init_msec_value(mcf->batch_hold_max, NGX_CHAT_BATCH_HOLD_MAX);

    if (mcf->search_language.data == NULL) {
        ngx_str_set(&mcf->search_language, NGX_CHAT_SEARCH_LANGUAGE);
    }
    ngx_chat_rate_merge(&mcf->room_create_rate, &mcf->room_create_rate,
                        NGX_CHAT_ROOM_CREATE_INTERVAL,
                        NGX_CHAT_ROOM_CREATE_BURST);
    ngx_conf_init_value(mcf->accounts_access_ttl,
                        NGX_CHAT_ACCOUNTS_ACCESS_TTL);
    ngx_conf_init_value(mcf->accounts_refresh_ttl,
                        NGX_CHAT_ACCOUNTS_REFRESH_TTL);
    ngx_conf_init_uint_value(mcf->accounts_cost, NGX_CHAT_ACCOUNTS_COST);
    ngx_chat_rate_merge(&mcf->accounts_login_rate, &mcf->accounts_login_rate,
                        NGX_CHAT_ACCOUNTS_LOGIN_INTERVAL,
                        NGX_CHAT_ACCOUNTS_LOGIN_BURST);
    ngx_chat_rate_merge(&mcf->accounts_address_rate,
                        &mcf->accounts_address_rate,
                        NGX_CHAT_ACCOUNTS_ADDR_INTERVAL,
                        NGX_CHAT_ACCOUNTS_ADDR_BURST);

    if (mcf->accounts_access_ttl < 1 || mcf->accounts_refresh_ttl < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_accounts_access_ttl\" and "
                           "\"chat_accounts_refresh_ttl\" must be at least "
                           "1s");
        return NGX_CONF_ERROR;
    }

    mcf->jwt.keys = mcf->jwt_keys->elts;
    mcf->jwt.nkeys = mcf->jwt_keys->nelts;
    mcf->jwt.iss = mcf->jwt_issuer.len ? (char *) mcf->jwt_issuer.data : NULL;
    mcf->jwt.aud = mcf->jwt_audience.len
                   ? (char *) mcf->jwt_audience.data : NULL;
    mcf->jwt.leeway = NGX_CHAT_JWT_LEEWAY;
    mcf->jwt.max_len = NGX_CHAT_JWT_LEN_MAX;

    if (!mcf->used) {
        return NGX_CONF_OK;
    }

    if (mcf->jwt_keys->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_ws\" and \"chat_api\" need at least one "
                           "\"chat_jwt_key\" in the http block");
        return NGX_CONF_ERROR;
    }

    if (mcf->redis_host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_ws\" and \"chat_api\" need \"chat_redis\" "
                           "in the http block");
        return NGX_CONF_ERROR;
    }

    if (mcf->pg_conninfo.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_ws\" and \"chat_api\" need "
                           "\"chat_postgres\" in the http block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_chat_create_loc_conf(ngx_conf_t *cf)
{
    ngx_chat_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_chat_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->handler = 0;
     */

    lcf->origins = NGX_CONF_UNSET_PTR;
    lcf->origins_any = NGX_CONF_UNSET;
    lcf->auth_timeout = NGX_CONF_UNSET_MSEC;
    lcf->ping_interval = NGX_CONF_UNSET_MSEC;
    lcf->pong_timeout = NGX_CONF_UNSET_MSEC;
    lcf->send_timeout = NGX_CONF_UNSET_MSEC;
    lcf->frame_max = NGX_CONF_UNSET_SIZE;
    lcf->message_max = NGX_CONF_UNSET_SIZE;
    lcf->send_queue_max = NGX_CONF_UNSET_SIZE;
    lcf->deflate = NGX_CONF_UNSET;
    lcf->deflate_min = NGX_CONF_UNSET_SIZE;
    lcf->reply_max = NGX_CONF_UNSET_SIZE;
    lcf->join_replay_max = NGX_CONF_UNSET_UINT;
    lcf->store = NGX_CONF_UNSET_PTR;
    lcf->request_rate.interval = NGX_CHAT_RATE_UNSET;
    lcf->rooms_max = NGX_CONF_UNSET_UINT;
    lcf->user_send_rate.interval = NGX_CHAT_RATE_UNSET;
    lcf->accounts = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_chat_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_chat_loc_conf_t *prev = parent;
    ngx_chat_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_value(conf->origins_any, prev->origins_any, 0);
    ngx_conf_merge_msec_value(conf->auth_timeout, prev->auth_timeout,
                              NGX_CHAT_AUTH_TIMEOUT);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              NGX_CHAT_PING_INTERVAL);
    ngx_conf_merge_msec_value(conf->pong_timeout, prev->pong_timeout,
                              NGX_CHAT_PONG_TIMEOUT);
    ngx_conf_merge_msec_value(conf->send_timeout, prev->send_timeout,
                              NGX_CHAT_SEND_TIMEOUT);
    ngx_conf_merge_size_value(conf->frame_max, prev->frame_max,
                              NGX_CHAT_FRAME_MAX);
    ngx_conf_merge_size_value(conf->message_max, prev->message_max,
                              NGX_CHAT_MESSAGE_MAX);
    ngx_conf_merge_size_value(conf->send_queue_max, prev->send_queue_max,
                              NGX_CHAT_SEND_QUEUE_MAX);
    ngx_conf_merge_value(conf->deflate, prev->deflate, NGX_CHAT_DEFLATE);
    ngx_conf_merge_size_value(conf->deflate_min, prev->deflate_min,
                              NGX_CHAT_DEFLATE_MIN_LENGTH);
    ngx_conf_merge_uint_value(conf->join_replay_max, prev->join_replay_max,
                              NGX_CHAT_JOIN_REPLAY_MAX);
    ngx_conf_merge_ptr_value(conf->store, prev->store,
                             &ngx_chat_store_postgresql);
    ngx_chat_rate_merge(&conf->request_rate, &prev->request_rate,
                        NGX_CHAT_REQUEST_INTERVAL, NGX_CHAT_REQUEST_BURST);
    ngx_conf_merge_uint_value(conf->rooms_max, prev->rooms_max,
                              NGX_CHAT_ROOMS_MAX);
    ngx_chat_rate_merge(&conf->user_send_rate, &prev->user_send_rate,
                        NGX_CHAT_USER_SEND_INTERVAL,
                        NGX_CHAT_USER_SEND_BURST);

    if (conf->frame_max < NGX_CHAT_FRAME_MAX_LEAST) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_frame_max\" must be at least 128");
        return NGX_CONF_ERROR;
    }

    if (conf->message_max == 0 || conf->message_max > conf->frame_max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_message_max\" must be between 1 and "
                           "\"chat_frame_max\" (%uz)", conf->frame_max);
        return NGX_CONF_ERROR;
    }

    if (conf->deflate_min == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_deflate_min_length\" must be at least 1");
        return NGX_CONF_ERROR;
    }

    if (conf->send_queue_max < conf->frame_max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_send_queue_max\" must be at least "
                           "\"chat_frame_max\" (%uz)", conf->frame_max);
        return NGX_CONF_ERROR;
    }

    if (ngx_chat_merge_reply_max(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_chat_accounts_merge(cf, conf, prev);
}


/*
 * A reply frame is at most chat_reply_max bytes, and a history page stops
 * before it would pass that: so the bound must hold the page's frame with
 * one entry of the largest message, and fit in the send queue.  Unset, it
 * is 256k, lowered to the queue and raised to that one entry.
 */
static char *
ngx_chat_merge_reply_max(ngx_conf_t *cf, ngx_chat_loc_conf_t *conf,
    ngx_chat_loc_conf_t *prev)
{
    size_t  need;

    need = ngx_chat_json_message_max(conf->message_max,
                                     NGX_CHAT_META_MAX_DEFAULT,
                                     NGX_CHAT_JWT_NAME_MAX);

    need = need ? need + NGX_CHAT_PAGE_HEAD_MAX : NGX_MAX_SIZE_T_VALUE;

    /* computed for each location: it depends on its chat_message_max */

    ngx_conf_merge_size_value(conf->reply_max, prev->reply_max,
                              NGX_CONF_UNSET_SIZE);

    if (conf->reply_max == NGX_CONF_UNSET_SIZE) {
        conf->reply_bound = ngx_min(256 * 1024, conf->send_queue_max);
        conf->reply_bound = ngx_max(conf->reply_bound, need);

        if (conf->reply_bound > conf->send_queue_max) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"chat_send_queue_max\" must be at least "
                               "%uz for a reply with a message of "
                               "\"chat_message_max\" (%uz)",
                               need, conf->message_max);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (conf->reply_max < need || conf->reply_max > conf->send_queue_max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_reply_max\" must be between %uz (a "
                           "reply with a message of \"chat_message_max\") "
                           "and \"chat_send_queue_max\" (%uz)",
                           need, conf->send_queue_max);
        return NGX_CONF_ERROR;
    }

    conf->reply_bound = conf->reply_max;

    return NGX_CONF_OK;
}


static char *
ngx_chat_set_handler(ngx_conf_t *cf, void *conf, ngx_uint_t handler)
{
    ngx_chat_loc_conf_t *lcf = conf;

    ngx_chat_main_conf_t      *mcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->handler) {
        return "is duplicate";
    }

    lcf->handler = handler;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = (handler == NGX_CHAT_HANDLER_WS) ? ngx_chat_ws_handler
                                                     : ngx_chat_api_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_chat_module);
    mcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_chat_ws(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_chat_set_handler(cf, conf, NGX_CHAT_HANDLER_WS);
}


static char *
ngx_chat_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_chat_set_handler(cf, conf, NGX_CHAT_HANDLER_API);
}


static char *
ngx_chat_errors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_chat_http_errors_handler;

    return NGX_CONF_OK;
}


static char *
ngx_chat_store_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chat_loc_conf_t  *lcf = conf;

    ngx_str_t  *value;

    if (lcf->store != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->store = ngx_chat_store_by_name(&value[1]);

    if (lcf->store == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": chat_store takes "
                           "postgresql or redis", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * chat_redis 127.0.0.1:6379 | unix:/path | cluster ADDR... (seed nodes of
 * a Redis Cluster: the module asks them for the rest)
 */
static char *
ngx_chat_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chat_main_conf_t *mcf = conf;

    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_chat_redis_addr_t  *addr;

    if (mcf->redis_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (value[1].len > 5
            && ngx_strncmp(value[1].data, "unix:", 5) == 0)
        {
            mcf->redis_host.data = value[1].data + 5;
            mcf->redis_host.len = value[1].len - 5;
            mcf->redis_port = 0;
            return NGX_CONF_OK;
        }

        return ngx_chat_redis_addr(cf, &value[1], &mcf->redis_host,
                                   &mcf->redis_port);
    }

    if (value[1].len != 7 || ngx_strncmp(value[1].data, "cluster", 7) != 0)
    {
        return "takes one address, or \"cluster\" and its seed nodes";
    }

    mcf->redis_cluster = ngx_array_create(cf->pool, cf->args->nelts - 2,
                                          sizeof(ngx_chat_redis_addr_t));
    if (mcf->redis_cluster == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        /* the first seed stands for Redis where one address is asked */
        if (ngx_chat_redis_addr(cf, &value[i], &mcf->redis_host,
                                &mcf->redis_port)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        addr = ngx_array_push(mcf->redis_cluster);
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        if (mcf->redis_host.len >= sizeof(addr->host)) {
            return "has an address too long";
        }

        ngx_memcpy(addr->host, mcf->redis_host.data, mcf->redis_host.len + 1);
        addr->port = mcf->redis_port;
    }

    addr = mcf->redis_cluster->elts;
    mcf->redis_host.data = addr[0].host;
    mcf->redis_host.len = ngx_strlen(addr[0].host);
    mcf->redis_port = addr[0].port;

    return NGX_CONF_OK;
}


/* "host:port" with a numeric host, into host (NUL-terminated) and port */
static char *
ngx_chat_redis_addr(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *out,
    in_port_t *out_port)
{
    u_char     *p, *last;
    ngx_int_t   port;
    ngx_str_t   host;

    last = value->data + value->len;
    p = ngx_strlchr(value->data, last, ']');
    p = ngx_strlchr(p ? p : value->data, last, ':');

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_redis\" needs an address and a port, "
                           "as in 127.0.0.1:6379, or unix:/path");
        return NGX_CONF_ERROR;
    }

    port = ngx_atoi(p + 1, last - p - 1);
    if (port < 1 || port > 65535) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid port in \"chat_redis %V\"", value);
        return NGX_CONF_ERROR;
    }

    host.data = value->data;
    host.len = p - value->data;

    if (host.len > 2 && host.data[0] == '[' && host.data[host.len - 1] == ']')
    {
        host.data++;
        host.len -= 2;
    }

    /* a name would need a blocking lookup in every worker */
    if (ngx_chat_addr_numeric(host.data, host.len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_redis\" needs a numeric address, "
                           "not \"%V\"", &host);
        return NGX_CONF_ERROR;
    }

    out->data = ngx_pnalloc(cf->pool, host.len + 1);
    if (out->data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(out->data, host.data, host.len);
    out->data[host.len] = '\0';
    out->len = host.len;
    *out_port = (in_port_t) port;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_chat_addr_numeric(u_char *addr, size_t len)
{
    struct in6_addr  a6;

    if (ngx_inet_addr(addr, len) != INADDR_NONE
        || ngx_inet6_addr(addr, len, a6.s6_addr) == NGX_OK)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * A host name would make libpq resolve it with a blocking lookup in every
 * worker: each host must be a numeric address or a socket directory,
 * unless its hostaddr is given.
 */
static char *
ngx_chat_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chat_main_conf_t *mcf = conf;

    u_char              *host, *addr, *h, *a, *he, *ae;
    char                *err, *rv;
    ngx_str_t           *value;
    PQconninfoOption    *opts, *o;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    err = NULL;
    opts = PQconninfoParse((char *) mcf->pg_conninfo.data, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"chat_postgres\" \"%V\": %s",
                           &value[1], err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    host = (u_char *) "";
    addr = (u_char *) "";

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = (u_char *) o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            addr = (u_char *) o->val;
        }
    }

    rv = NGX_CONF_OK;

    /* comma-separated lists; the n-th hostaddr stands for the n-th host */
    h = host;
    a = addr;

    while (*h) {
        he = (u_char *) ngx_strchr(h, ',');
        if (he == NULL) {
            he = h + ngx_strlen(h);
        }

        ae = (u_char *) ngx_strchr(a, ',');
        if (ae == NULL) {
            ae = a + ngx_strlen(a);
        }

        if (ae > a || he == h || h[0] == '/'
            || ngx_chat_addr_numeric(h, he - h) == NGX_OK)
        {
            h = *he ? he + 1 : he;
            a = *ae ? ae + 1 : ae;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_postgres\" needs a numeric host address "
                           "(or hostaddr=) or a socket directory, not "
                           "\"%*s\"", (size_t) (he - h), h);
        rv = NGX_CONF_ERROR;
        break;
    }

    PQconninfoFree(opts);

    return rv;
}


static char *
ngx_chat_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_chat_key_file(cf, conf, cf->args->elts, NULL);
}


/*
 * "<directive> ALG FILE": the key of FILE, loaded for ALG, a verification
 * key from now on.  With added, it also signs (RS256, ES256: FILE is a
 * private key) and *added points to it.
 */
static char *
ngx_chat_key_file(ngx_conf_t *cf, ngx_chat_main_conf_t *mcf,
    ngx_str_t *value, ngx_chat_jwt_key_t **added)
{
    u_char               *buf;
    size_t                len;
    ssize_t               n;
    ngx_fd_t              fd;
    ngx_str_t             name;
    ngx_file_info_t       fi;
    const char           *err;
    ngx_pool_cleanup_t   *cln;
    ngx_chat_jwt_alg_e    alg;
    ngx_chat_jwt_key_t   *k;

    if (ngx_chat_jwt_alg_parse((char *) value[1].data, &alg) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown algorithm \"%V\" in \"%V\", "
                           "use HS256, RS256 or ES256", &value[1],
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    name = value[2];
    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* keys are read here, as root, so workers need no access to them */
    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\" file \"%V\"", &value[0],
                           &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 65536)
    {
        ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" is not a key file "
                           "of at most 64k", &value[0], &name);
        return NGX_CONF_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(cf->pool, len + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, len);
    ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\" file \"%V\"", &value[0],
                           &name);
        return NGX_CONF_ERROR;
    }

    buf[len] = '\0';

    if (alg == NGX_CHAT_JWT_HS256) {
        len = ngx_chat_jwt_key_trim(buf, len);
        buf[len] = '\0';
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    k = ngx_array_push(mcf->jwt_keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    /* RS256/ES256 keys are parsed here once, not for every token */
    err = added ? ngx_chat_jwt_signing_key_load(k, alg, buf, len)
                : ngx_chat_jwt_key_load(k, alg, buf, len);
    if (err) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\": %s", &value[0], &name,
                           err);
        return NGX_CONF_ERROR;
    }

    /* the parsed key (NULL for HS256) goes with this configuration */
    cln->handler = ngx_chat_jwt_pkey_free;
    cln->data = k->pkey;

    if (added) {
        *added = k;
    }

    return NGX_CONF_OK;
}


static char *
ngx_chat_allowed_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chat_loc_conf_t *lcf = conf;

    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (lcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->origins = ngx_array_create(cf->pool, cf->args->nelts,
                                    sizeof(ngx_str_t));
    if (lcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    lcf->origins_any = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 1 && value[i].data[0] == '*') {
            lcf->origins_any = 1;
            continue;
        }

        /* origins compare case-insensitively and without a trailing "/" */
        while (value[i].len && value[i].data[value[i].len - 1] == '/') {
            value[i].len--;
        }

        o = ngx_array_push(lcf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
        ngx_strlow(o->data, o->data, o->len);
    }

    return NGX_CONF_OK;
}


/* "off", or a rate and a burst as limit_req takes them: 20r/s burst=100 */
static char *
ngx_chat_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t         *value;
    const char        *err;
    ngx_chat_limit_t  *lim, parsed;

    lim = (ngx_chat_limit_t *) ((char *) conf + cmd->offset);

    if (lim->interval != NGX_CHAT_RATE_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    parsed.interval = 0;
    parsed.burst = 0;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" takes no burst", &value[0]);
            return NGX_CONF_ERROR;
        }

        *lim = parsed;
        return NGX_CONF_OK;
    }

    if (ngx_chat_limit_parse_rate((char *) value[1].data, value[1].len,
                                  &parsed, &err)
        != 0
        || (cf->args->nelts > 2
            && ngx_chat_limit_parse_burst((char *) value[2].data,
                                          value[2].len, &parsed, &err)
               != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid \"%V\": %s",
                           &value[0], err);
        return NGX_CONF_ERROR;
    }

    *lim = parsed;

    return NGX_CONF_OK;
}


static void
ngx_chat_rate_merge(ngx_chat_limit_t *conf, ngx_chat_limit_t *prev,
    uint64_t interval, uint64_t burst)
{
    if (conf->interval != NGX_CHAT_RATE_UNSET) {
        return;
    }

    if (prev->interval != NGX_CHAT_RATE_UNSET) {
        *conf = *prev;
        return;
    }

    conf->interval = interval;
    conf->burst = burst;
}


/* nginx's own bounds check does not name the directive */
static char *
ngx_chat_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t *bounds = post;
    ngx_int_t *np = data;

    ngx_str_t  *value;

    if (*np >= bounds->low && *np <= bounds->high) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" must be between %i and %i, not %V",
                       &value[0], bounds->low, bounds->high, &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * chat_search_language names a text search configuration ("simple",
 * "english", "pg_catalog.german"): it is written into the search
 * statement as a literal, so only such names pass
 */
static char *
ngx_chat_search_language_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t *lang = data;

    u_char  *p;

    for (p = lang->data; p < lang->data + lang->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '.'))
        {
            break;
        }
    }

    if (lang->len == 0 || lang->len > 127 || p != lang->data + lang->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_search_language\" must name a text "
                           "search configuration ([a-z0-9_.], at most 127 "
                           "bytes), not \"%V\"", lang);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_chat_init_process(ngx_cycle_t *cycle)
{
    ngx_chat_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_chat_no_connection.fd = (ngx_socket_t) -1;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_chat_module);
    if (mcf == NULL || !mcf->used) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_chat_worker, sizeof(ngx_chat_worker_t));

    ngx_chat_worker.mcf = mcf;
    ngx_chat_worker.log = cycle->log;
    ngx_queue_init(&ngx_chat_worker.sessions);
    ngx_chat_session_rate_init(cycle);

    /* a room's state is allocated with it: one malloc chunk a room */
    if (ngx_chat_room_table_init(&ngx_chat_worker.rooms, 1024,
                                 sizeof(ngx_chat_room_ctx_t)) != 0
        || ngx_chat_room_table_init(&ngx_chat_worker.relay_rooms, 64,
                                    sizeof(ngx_chat_room_ctx_t)) != 0)
    {
        return NGX_ERROR;
    }

    if (ngx_chat_pg_init(cycle) != NGX_OK
        || ngx_chat_batch_init(cycle) != NGX_OK
        || ngx_chat_access_init(cycle) != NGX_OK
        || ngx_chat_fanout_init(cycle) != NGX_OK
        || ngx_chat_users_init(cycle) != NGX_OK
        || ngx_chat_redis_init(cycle) != NGX_OK
        || ngx_chat_presence_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_chat_worker.active = 1;

    return NGX_OK;
}


static void
ngx_chat_exit_process(ngx_cycle_t *cycle)
{
    if (!ngx_chat_worker.active) {
        return;
    }

    /* from here on nothing reconnects or starts anew */
    ngx_chat_worker.active = 0;

    ngx_chat_reload_exit();
    ngx_chat_sessions_shutdown();
    ngx_chat_session_rate_exit();
    ngx_chat_batch_exit();
    ngx_chat_access_exit();
    ngx_chat_fanout_exit();
    ngx_chat_presence_exit();
    ngx_chat_users_exit();
    ngx_chat_redis_exit();
    ngx_chat_pg_exit();

    ngx_chat_room_table_free(&ngx_chat_worker.rooms);
    ngx_chat_room_table_free(&ngx_chat_worker.relay_rooms);
}


int64_t
ngx_chat_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/*
 * chat_accounts_key ALG FILE: the key that signs the tokens of
 * chat_accounts (HS256: the secret; RS256, ES256: a PEM private key),
 * also a verification key as if named by chat_jwt_key.
 */
static char *
ngx_chat_accounts_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chat_main_conf_t *mcf = conf;

    char                *rv;
    ngx_str_t           *value;
    ngx_chat_jwt_key_t  *key;

    if (mcf->accounts_key.alg) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_chat_key_file(cf, mcf, value, &key);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    mcf->accounts_key = *key;

    return NGX_CONF_OK;
}


static char *
ngx_chat_accounts_merge(ngx_conf_t *cf, ngx_chat_loc_conf_t *conf,
    ngx_chat_loc_conf_t *prev)
{
    ngx_chat_main_conf_t  *mcf;

    ngx_conf_merge_value(conf->accounts, prev->accounts, 0);

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_chat_module);

    if (conf->accounts && conf->handler && mcf->accounts_key.alg == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chat_accounts on\" needs "
                           "\"chat_accounts_key\" in the http block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
