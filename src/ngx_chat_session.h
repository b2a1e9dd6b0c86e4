/*
 * A WebSocket connection: its frames in, its queue out, its deadlines.
 * Only ngx_chat_session.c changes a session's fields.
 */

#ifndef _NGX_CHAT_SESSION_H_INCLUDED_
#define _NGX_CHAT_SESSION_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_buf.h"
#include "ngx_chat_frame.h"
#include "ngx_chat_proto.h"


/* sends a session may have waiting for a commit before it is not read */
#define NGX_CHAT_SEND_INFLIGHT_MAX  256
/* ms after a send refused by the user's rate: one check at a time */
#define NGX_CHAT_SEND_PROBATION     10000

/* other requests (join, history, read) a session may have under way */
#define NGX_CHAT_OPS_INFLIGHT_MAX   8


typedef struct ngx_chat_session_rate_s  ngx_chat_session_rate_t;


/*
 * Every connection holds one while it lives, idle or not: counters are
 * 32 bits, and the token's strings hang off one pointer.
 */
struct ngx_chat_session_s {
    ngx_connection_t          *connection;
    ngx_http_request_t        *request;
    ngx_chat_loc_conf_t       *lcf;
    ngx_queue_t                queue;          /* worker's sessions */

    /* only while a frame or message is read in parts; NULL between */
    ngx_chat_frame_reader_t   *reader;

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
    size_t                     out_offset;
    size_t                     out_bytes;
    uint32_t                   out_head;
    uint32_t                   out_count;
    uint32_t                   out_cap;

    uint32_t                   refs;

    /* the pong queued and not sent yet, which a newer ping rewrites */
    ngx_chat_buf_t            *pong;

    /*
     * Queued bytes by kind, each counted until its frame is out whole.
     * Room events count against chat_send_queue_max; answers to this
     * session's own requests (replies, replays) never close it: instead
     * nothing more is read from it while they fill half of that.
     */
    size_t                     event_bytes;
    size_t                     reply_bytes;

    ngx_chat_member_t         *members;
    /* the user's next authenticated session here (presence) */
    ngx_chat_session_t        *unext;

    /*
     * One event for every deadline below, armed at the earliest; it is
     * also posted once to take the connection over (see session_start).
     */
    ngx_event_t                timer;
    ngx_msec_t                 auth_deadline;   /* auth timeout, then expiry */
    ngx_msec_t                 ping_deadline;   /* next ping, or pong due */
    ngx_msec_t                 close_deadline;  /* end of the close wait */
    ngx_msec_t                 send_deadline;   /* queued output stalls */

    uint32_t                   inflight;      /* sends awaiting commit */
    uint32_t                   ops;           /* other requests under way */

    uint64_t                   request_tat;   /* chat_request_rate state */
    /* allocated at the first pause or refusal (ngx_chat_session_rate.c) */
    ngx_chat_session_rate_t   *rate;
    ngx_msec_t                 send_until;    /* the user may not send */

    /*
     * NUL-terminated, one allocation: the user id, then its name, then
     * the token's jti and its session's sid (for revocations,
     * ngx_chat_users.c), each "" if none; all "" until authenticated.
     * ngx_chat_session_name() and the others below find them.
     */
    u_char                    *user;
    uint32_t                   user_len;
    uint32_t                   name_len;
    uint32_t                   jti_len;
    uint32_t                   sid_len;

    time_t                     expires;
    time_t                     iat;           /* the token's */

    uint16_t                   close_code;

    unsigned                   roles:2;        /* NGX_CHAT_ROLE_* */
    unsigned                   user_counted:1; /* in the connections cap */
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
    unsigned                   rate_choked:1;  /* refused too often */
    unsigned                   auth_wait:1;    /* a token is checked */
    unsigned                   present:1;      /* counted as online */
    unsigned                   deflate:1;      /* permessage-deflate */
    unsigned                   deflate_bits:4; /* its window, 0: 15 bits */
    unsigned                   restart_due:1;  /* reload: closes once its
                                                  answers are out */
};


#define ngx_chat_session_name(s)  ((s)->user + (s)->user_len + 1)
#define ngx_chat_session_jti(s)                                               \
    (ngx_chat_session_name(s) + (s)->name_len + 1)
#define ngx_chat_session_sid(s)                                               \
    (ngx_chat_session_jti(s) + (s)->jti_len + 1)



ngx_chat_session_t *ngx_chat_session_create(ngx_http_request_t *r,
    ngx_chat_loc_conf_t *lcf, ngx_chat_buf_t *response);
void ngx_chat_session_start(ngx_chat_session_t *s);
void ngx_chat_session_authenticate(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims, const char *id, size_t id_len);
ngx_int_t ngx_chat_session_refresh(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims);
ngx_int_t ngx_chat_session_enqueue(ngx_chat_session_t *s, ngx_chat_buf_t *b);
ngx_int_t ngx_chat_session_reply(ngx_chat_session_t *s, ngx_chat_buf_t *b);
ngx_uint_t ngx_chat_session_reply_room(ngx_chat_session_t *s);
void ngx_chat_session_op_begin(ngx_chat_session_t *s);
void ngx_chat_session_op_end(ngx_chat_session_t *s);
void ngx_chat_session_resume(ngx_chat_session_t *s);
ngx_int_t ngx_chat_session_send_json(ngx_chat_session_t *s,
    ngx_chat_json_t *j);
void ngx_chat_session_ok(ngx_chat_session_t *s, const char *id,
    size_t id_len);
void ngx_chat_session_error(ngx_chat_session_t *s, const char *id,
    size_t id_len, const char *code, const char *message);
void ngx_chat_session_error_retry(ngx_chat_session_t *s, const char *id,
    size_t id_len, const char *code, const char *message,
    long long retry_after);
void ngx_chat_session_close(ngx_chat_session_t *s, uint16_t code,
    const char *reason);
void ngx_chat_session_ref(ngx_chat_session_t *s);
void ngx_chat_session_unref(ngx_chat_session_t *s);
/* a send goes to the store; done: it is answered */
void ngx_chat_session_send_begin(ngx_chat_session_t *s);
void ngx_chat_session_send_done(ngx_chat_session_t *s);
/* neither finalized nor closing: it takes events and replies */
#define ngx_chat_session_open(s)  (!(s)->closed && !(s)->close_sent)
void ngx_chat_sessions_shutdown(void);
/* the worker exits after a reload (ngx_chat_reload.c) */
ngx_uint_t ngx_chat_sessions_serving(void);
ngx_uint_t ngx_chat_sessions_going(ngx_uint_t n, ngx_uint_t all);
void ngx_chat_session_auth_wait(ngx_chat_session_t *s, ngx_uint_t wait);
void ngx_chat_session_add_member(ngx_chat_session_t *s, ngx_chat_member_t *m);
void ngx_chat_session_remove_member(ngx_chat_session_t *s,
    ngx_chat_member_t *m);
void ngx_chat_session_replace_member(ngx_chat_session_t *s,
    ngx_chat_member_t *m, ngx_chat_member_t *by);

/* ngx_chat_session_rate.c: chat_request_rate */
void ngx_chat_session_rate_init(ngx_cycle_t *cycle);
void ngx_chat_session_rate_exit(void);
uint64_t ngx_chat_session_rate_take(ngx_chat_session_t *s);
void ngx_chat_session_rate_pause(ngx_chat_session_t *s, uint64_t wait);
void ngx_chat_session_rate_refused(ngx_chat_session_t *s, uint64_t wait);

/* ngx_chat_session_deflate.c: permessage-deflate (chat_deflate) */
void ngx_chat_session_deflate(ngx_chat_session_t *s, ngx_uint_t bits);
ngx_chat_buf_t *ngx_chat_session_deflated(ngx_chat_session_t *s,
    ngx_chat_buf_t *b);
uint16_t ngx_chat_session_inflate(ngx_chat_session_t *s, const u_char **data,
    size_t *len, const char **reason);
void ngx_chat_session_deflate_exit(void);

#endif /* _NGX_CHAT_SESSION_H_INCLUDED_ */
