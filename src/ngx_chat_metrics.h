/*
 * Metrics of the whole host: counters in one shared memory zone that
 * every worker adds to (atomically, no lock), gauges in a slot of their
 * worker's, all served by "chat_metrics" in the Prometheus text format.
 * The areas call one function per event; what is counted and how lives
 * in ngx_chat_metrics.c, the nginx variables in ngx_chat_metrics_vars.c.
 */

#ifndef _NGX_CHAT_METRICS_H_INCLUDED_
#define _NGX_CHAT_METRICS_H_INCLUDED_

#include "ngx_chat.h"


/* plain counters */
typedef enum {
    NGX_CHAT_METRICS_ACCEPTED = 0,
    NGX_CHAT_METRICS_FRAMES_IN,
    NGX_CHAT_METRICS_FRAMES_OUT,
    NGX_CHAT_METRICS_MESSAGES_IN,
    NGX_CHAT_METRICS_EVENTS_OUT,
    NGX_CHAT_METRICS_COMMITS_FAILED,
    NGX_CHAT_METRICS_PG_RECONNECTS,
    NGX_CHAT_METRICS_ENDED,          /* connections gone without a close */
    NGX_CHAT_METRICS_DEFLATED,       /* frames compressed (permessage-deflate) */
    NGX_CHAT_METRICS_INFLATED,       /* compressed messages inflated */
    NGX_CHAT_METRICS_JOINS_CACHED,   /* joins of known members */
    NGX_CHAT_METRICS_COMMITS_HELD,   /* group commits held (batch_hold) */
    NGX_CHAT_METRICS_COUNTERS
} ngx_chat_metrics_counter_e;

/* the limits behind a rate_limited answer */
typedef enum {
    NGX_CHAT_METRICS_LIMIT_REQUEST = 0,     /* chat_request_rate */
    NGX_CHAT_METRICS_LIMIT_USER_SEND,       /* chat_user_send_rate */
    NGX_CHAT_METRICS_LIMIT_ROOM_CREATE,     /* chat_room_create_rate */
    NGX_CHAT_METRICS_LIMIT_CONNECTIONS,     /* chat_user_connections_max */
    NGX_CHAT_METRICS_LIMITS
} ngx_chat_metrics_limit_e;

/* where an error answer went */
#define NGX_CHAT_METRICS_WS    0    /* an error frame */
#define NGX_CHAT_METRICS_HTTP  1    /* an HTTP error response */


/* one call per event, from the areas */
void ngx_chat_metrics_count(ngx_chat_metrics_counter_e c);
ngx_uint_t ngx_chat_metrics_reloaded(void);
void ngx_chat_metrics_limited(ngx_chat_metrics_limit_e limit);
void ngx_chat_metrics_rejected(ngx_uint_t via, const char *code);

void ngx_chat_metrics_session_open(ngx_chat_session_t *s);
void ngx_chat_metrics_session_authed(ngx_chat_session_t *s);
void ngx_chat_metrics_session_close(ngx_chat_session_t *s, uint16_t code);
void ngx_chat_metrics_session_end(ngx_chat_session_t *s);
void ngx_chat_metrics_frame_in(ngx_uint_t type);
/* a send, from a connection (op->session) or a REST call */
void ngx_chat_metrics_send(ngx_chat_session_t *s);

/* the group commit: a statement of n events sent; an event answered */
void ngx_chat_metrics_batch(ngx_uint_t n);
uint64_t ngx_chat_metrics_now_us(void);
void ngx_chat_metrics_committed(uint64_t queued_us);
/* a message event queued to this worker's joined connections */
void ngx_chat_metrics_fanout(const u_char *frame, size_t len, int64_t seq);

void ngx_chat_metrics_redis_up(ngx_uint_t subscriber, ngx_uint_t again);
void ngx_chat_metrics_redis_down(ngx_uint_t subscriber, ngx_uint_t was_up);
void ngx_chat_metrics_pg_checked(ngx_uint_t again);
void ngx_chat_metrics_pg_up(ngx_uint_t ready);
void ngx_chat_metrics_pg_down(ngx_uint_t was_up);

/* ngx_chat_metrics_vars.c: the request is kept until the connection ends */
ngx_uint_t ngx_chat_metrics_keep_request(ngx_http_request_t *r);
/* the user a REST call was authenticated as (claims stay valid) */
void ngx_chat_metrics_api_user(ngx_http_request_t *r, const char *user);


/* between ngx_chat_metrics.c and ngx_chat_metrics_vars.c */
typedef struct {
    ngx_flag_t             log_at_close;   /* chat_ws_log_at_close */
} ngx_chat_metrics_loc_conf_t;

extern ngx_module_t  ngx_chat_metrics_module;

ngx_int_t ngx_chat_metrics_add_variables(ngx_conf_t *cf);
void ngx_chat_metrics_vars_session(ngx_chat_session_t *s);
void ngx_chat_metrics_vars_send(ngx_chat_session_t *s);

#endif /* _NGX_CHAT_METRICS_H_INCLUDED_ */
