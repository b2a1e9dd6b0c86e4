/*
 * ngx_chat: the common header of the nginx side of the module.
 */

#ifndef _NGX_CHAT_H_INCLUDED_
#define _NGX_CHAT_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>

#include "ngx_chat_buf.h"
#include "ngx_chat_frame.h"
#include "ngx_chat_jwt.h"
#include "ngx_chat_limit.h"
#include "ngx_chat_proto.h"
#include "ngx_chat_room.h"


#define NGX_CHAT_SCHEMA_VERSION   5

#define NGX_CHAT_HANDLER_WS       1
#define NGX_CHAT_HANDLER_API      2

#define NGX_CHAT_NAME_MAX         128

#define NGX_CHAT_REDIS_PREFIX_MAX  128

/* sends a session may have waiting for a commit before it is not read */
#define NGX_CHAT_SEND_INFLIGHT_MAX  256

/* other requests (join, history, read) a session may have under way */
#define NGX_CHAT_OPS_INFLIGHT_MAX   8

/* chat_store: where a location's sends go */
#define NGX_CHAT_STORE_POSTGRESQL  0
#define NGX_CHAT_STORE_REDIS       1

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

/* SQLSTATE of a room creation over chat_room_create_rate (sql/005) */
#define NGX_CHAT_STATE_RATE_LIMITED  "RL429"

#define NGX_CHAT_NOT_STORED                                                   \
    "messages are not stored here (chat_store redis)"


typedef struct {
    ngx_str_t              redis_host;
    in_port_t              redis_port;
    ngx_str_t              redis_prefix;
    ngx_msec_t             redis_timeout;

    ngx_str_t              pg_conninfo;
    ngx_uint_t             pg_pool;
    ngx_msec_t             pg_timeout;

    ngx_array_t           *jwt_keys;      /* ngx_chat_jwt_key_t */
    ngx_str_t              jwt_issuer;
    ngx_str_t              jwt_audience;
    ngx_chat_jwt_conf_t    jwt;

    ngx_flag_t             autocreate;
    ngx_uint_t             batch_max;
    ngx_chat_limit_t       room_create_rate;

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
    size_t                 reply_max;     /* chat_reply_max as set */
    size_t                 reply_bound;   /* a reply frame, history pages */
    ngx_uint_t             join_replay_max;
    ngx_uint_t             store;         /* NGX_CHAT_STORE_* */
    ngx_chat_limit_t       request_rate;
    ngx_uint_t             rooms_max;
} ngx_chat_loc_conf_t;


typedef struct ngx_chat_session_s  ngx_chat_session_t;

struct ngx_chat_session_s {
    ngx_connection_t          *connection;
    ngx_http_request_t        *request;
    ngx_chat_loc_conf_t       *lcf;
    ngx_queue_t                queue;          /* worker's sessions */

    ngx_uint_t                 refs;

    ngx_chat_frame_reader_t    reader;

    /* input read but not taken yet: the session stopped at a limit */
    u_char                    *unread;
    size_t                     unread_len;

    /*
     * out queue: a ring of shared frames; the head may be partly sent.
     * out_one is the ring until two frames wait at once; the larger ring
     * allocated then is freed when it empties.
     */
    ngx_chat_buf_t           **out;
    ngx_chat_buf_t            *out_one;
    ngx_uint_t                 out_head;
    ngx_uint_t                 out_count;
    ngx_uint_t                 out_cap;
    size_t                     out_offset;
    size_t                     out_bytes;

    /*
     * Queued bytes by kind, each counted until its frame is out whole.
     * Room events count against chat_send_queue_max; answers to this
     * session's own requests (replies, replays) never close it: instead
     * nothing more is read from it while they fill half of that.
     */
    size_t                     event_bytes;
    size_t                     reply_bytes;

    ngx_chat_member_t         *members;

    /*
     * One event for every deadline below, armed at the earliest; it is
     * also posted once to take the connection over (see session_start).
     */
    ngx_event_t                timer;
    ngx_msec_t                 auth_deadline;   /* auth timeout, then expiry */
    ngx_msec_t                 ping_deadline;   /* next ping, or pong due */
    ngx_msec_t                 close_deadline;  /* end of the close wait */
    ngx_msec_t                 send_deadline;   /* queued output stalls */

    ngx_uint_t                 inflight;      /* sends awaiting commit */
    ngx_uint_t                 ops;           /* other requests under way */

    uint64_t                   request_tat;   /* chat_request_rate state */
    ngx_queue_t                rate_queue;    /* paused sessions */
    ngx_msec_t                 rate_resume;

    /* NUL-terminated; "" until authenticated, then one allocation */
    u_char                    *user;
    u_char                    *name;
    size_t                     user_len;
    size_t                     name_len;

    time_t                     expires;
    unsigned                   roles;

    uint16_t                   close_code;

    unsigned                   authed:1;
    unsigned                   closed:1;       /* finalized */
    unsigned                   close_sent:1;   /* close frame queued */
    unsigned                   close_recv:1;
    unsigned                   draining:1;     /* write side shut */
    unsigned                   pong_wait:1;
    unsigned                   read_paused:1;
    unsigned                   read_stalled:1; /* stopped by a limit */
    unsigned                   replay_wait:1;  /* a replay awaits room */
    unsigned                   in_handler:1;
    unsigned                   started:1;
    unsigned                   auth_armed:1;   /* its deadline counts */
    unsigned                   ping_armed:1;
    unsigned                   close_armed:1;
    unsigned                   send_armed:1;
    unsigned                   rate_paused:1;  /* in the paused queue */
};


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

int64_t ngx_chat_now_ms(void);


/* ngx_chat_handshake.c */
ngx_int_t ngx_chat_ws_handler(ngx_http_request_t *r);

/* ngx_chat_session.c */
ngx_chat_session_t *ngx_chat_session_create(ngx_http_request_t *r,
    ngx_chat_loc_conf_t *lcf, ngx_chat_buf_t *response);
void ngx_chat_session_start(ngx_chat_session_t *s);
void ngx_chat_session_authenticate(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims, const char *id, size_t id_len);
ngx_int_t ngx_chat_session_identity(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims);
void ngx_chat_session_rearm_expiry(ngx_chat_session_t *s);
ngx_int_t ngx_chat_session_enqueue(ngx_chat_session_t *s, ngx_chat_buf_t *b);
ngx_int_t ngx_chat_session_reply(ngx_chat_session_t *s, ngx_chat_buf_t *b);
ngx_uint_t ngx_chat_session_reply_room(ngx_chat_session_t *s);
void ngx_chat_session_op_begin(ngx_chat_session_t *s);
void ngx_chat_session_op_end(ngx_chat_session_t *s);
void ngx_chat_session_resume(ngx_chat_session_t *s);
ngx_int_t ngx_chat_session_send_json(ngx_chat_session_t *s,
    ngx_chat_json_t *j);
void ngx_chat_session_error(ngx_chat_session_t *s, const char *id,
    size_t id_len, const char *code, const char *message);
void ngx_chat_session_close(ngx_chat_session_t *s, uint16_t code,
    const char *reason);
void ngx_chat_session_ref(ngx_chat_session_t *s);
void ngx_chat_session_unref(ngx_chat_session_t *s);
void ngx_chat_session_send_done(ngx_chat_session_t *s);
void ngx_chat_sessions_shutdown(void);

/* ngx_chat_request.c */
void ngx_chat_request_init(ngx_cycle_t *cycle);
void ngx_chat_request_exit(void);
void ngx_chat_request_dispatch(ngx_chat_session_t *s, const u_char *data,
    size_t len);
void ngx_chat_request_rate_limited(ngx_chat_session_t *s, const char *id,
    size_t id_len, const char *message, long long retry_after);

/* ngx_chat_fanout.c */
ngx_int_t ngx_chat_fanout_init(ngx_cycle_t *cycle);
void ngx_chat_fanout_exit(void);
void ngx_chat_fanout_join(ngx_chat_session_t *s, ngx_chat_request_t *req);
void ngx_chat_fanout_leave(ngx_chat_session_t *s, ngx_chat_request_t *req);
void ngx_chat_fanout_session_gone(ngx_chat_session_t *s);
void ngx_chat_fanout_session_drained(ngx_chat_session_t *s);
ngx_int_t ngx_chat_fanout_joined(ngx_chat_session_t *s, const char *room,
    size_t len);
void ngx_chat_fanout_committed(const char *room, size_t room_len,
    int64_t seq, const char *json, size_t json_len);
void ngx_chat_fanout_ephemeral(const char *room, size_t len,
    const char *json, size_t json_len);
void ngx_chat_fanout_redis_message(ngx_uint_t store, const char *room,
    size_t len, const char *payload, size_t payload_len);
void ngx_chat_fanout_redis_subscribed(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_fanout_redis_unsubscribed(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_fanout_redis_up(void);
void ngx_chat_fanout_redis_down(void);

/* ngx_chat_batch.c */
ngx_int_t ngx_chat_batch_init(ngx_cycle_t *cycle);
void ngx_chat_batch_exit(void);

/* ngx_chat_redis.c */
typedef struct ngx_chat_redis_relay_s  ngx_chat_redis_relay_t;

/* rc: NGX_OK, NGX_DECLINED (Redis unreachable or refused), NGX_ERROR */
typedef void (*ngx_chat_redis_relay_pt)(ngx_chat_redis_relay_t *rr,
    ngx_int_t rc);

/*
 * A send of the redis store: the event text is part[0], seq, part[1],
 * msg_id, part[2], ts, part[3]; Redis fills in the three numbers.  The
 * text must stay valid until the handler has run.
 */
struct ngx_chat_redis_relay_s {
    ngx_chat_redis_relay_pt    handler;
    const char                *room;
    size_t                     room_len;
    ngx_chat_json_part_t       part[4];
    int64_t                    seq;
    int64_t                    msg_id;
    int64_t                    ts;
    unsigned                   retried:1;
};

ngx_int_t ngx_chat_redis_init(ngx_cycle_t *cycle);
void ngx_chat_redis_exit(void);
ngx_int_t ngx_chat_redis_up(void);
ngx_int_t ngx_chat_redis_subscribe(ngx_uint_t store, const char *room,
    size_t len);
ngx_int_t ngx_chat_redis_unsubscribe(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_redis_publish(const char *room, size_t room_len,
    const char *payload, size_t len);
/* NGX_OK: the handler runs later; NGX_DECLINED: Redis is not connected */
ngx_int_t ngx_chat_redis_relay(ngx_chat_redis_relay_t *rr);

/* ngx_chat_pg.c */
typedef void (*ngx_chat_pg_handler_pt)(void *data, PGresult *res,
    ngx_uint_t status);

#define NGX_CHAT_PG_OK           0
#define NGX_CHAT_PG_UNAVAILABLE  1   /* no connection, or it was lost */
#define NGX_CHAT_PG_FAILED       2   /* the statement failed */

ngx_int_t ngx_chat_pg_init(ngx_cycle_t *cycle);
void ngx_chat_pg_exit(void);
ngx_int_t ngx_chat_pg_up(void);
/*
 * The handler runs once, with the result (valid only during the call):
 * NGX_CHAT_PG_OK, NGX_CHAT_PG_FAILED (the error result: see
 * ngx_chat_pg_error_code), or NGX_CHAT_PG_UNAVAILABLE with NULL.
 * NGX_DECLINED: no backend.
 */
ngx_int_t ngx_chat_pg_query(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);
const char *ngx_chat_pg_error_code(ngx_uint_t status, PGresult *res);
const char *ngx_chat_pg_state_code(const char *state);

/*
 * ngx_chat_access.c: the access check of a join.  The handler gets the
 * room's stored seq and code NULL, or the protocol's error code and
 * message (with retry_after in seconds for rate_limited, else 0).
 */
typedef void (*ngx_chat_access_handler_pt)(void *data, int64_t seq,
    const char *code, const char *message, long long retry_after);

ngx_int_t ngx_chat_access_init(ngx_cycle_t *cycle);
void ngx_chat_access_exit(void);
ngx_int_t ngx_chat_access_check(const char *room, size_t room_len,
    const char *user, size_t user_len, ngx_chat_access_handler_pt handler,
    void *data);

/* ngx_chat_api.c */
ngx_int_t ngx_chat_api_handler(ngx_http_request_t *r);

/* ngx_chat_http.c */
ngx_table_elt_t *ngx_chat_http_header(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_int_t ngx_chat_http_header_out(ngx_http_request_t *r, const char *name,
    const char *value);
ngx_int_t ngx_chat_http_origin_allowed(ngx_http_request_t *r,
    ngx_chat_loc_conf_t *lcf, ngx_str_t *origin);
ngx_uint_t ngx_chat_http_status(const char *code);
ngx_int_t ngx_chat_http_errors_handler(ngx_http_request_t *r);
ngx_int_t ngx_chat_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_chat_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chat_json_t *j);
ngx_int_t ngx_chat_http_retry_after(ngx_http_request_t *r,
    long long seconds);
ngx_int_t ngx_chat_http_cors(ngx_http_request_t *r);

#endif /* _NGX_CHAT_H_INCLUDED_ */
