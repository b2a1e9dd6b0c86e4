/*
 * Client requests: decode one text message and run it.
 */

#include "ngx_chat.h"
#include "ngx_chat_request.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_ephemeral.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_op.h"
#include "ngx_chat_store.h"
#include "ngx_chat_edit.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_users.h"
#include "ngx_chat_metrics.h"


/* an auth or refresh request while its token is checked */
typedef struct {
    ngx_chat_auth_t        auth;
    ngx_chat_session_t    *session;
    size_t                 id_len;
    char                   id[NGX_CHAT_REQ_ID_JSON_SIZE];
    unsigned               refresh:1;
    unsigned               waiting:1;
} ngx_chat_request_auth_t;


static void ngx_chat_request_token(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static void ngx_chat_request_ping(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static void ngx_chat_request_send(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static void ngx_chat_request_history(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static void ngx_chat_request_read(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static void ngx_chat_request_authed(ngx_chat_auth_t *a,
    ngx_chat_jwt_claims_t *claims);
static void ngx_chat_request_refreshed(ngx_chat_session_t *s,
    ngx_chat_request_auth_t *ra, ngx_chat_jwt_claims_t *claims);
static ngx_int_t ngx_chat_request_room_allowed(ngx_chat_session_t *s,
    ngx_chat_request_t *req);
static ngx_int_t ngx_chat_request_over_rate(ngx_chat_session_t *s,
    ngx_chat_request_t *req, int rc);


typedef void (*ngx_chat_request_pt)(ngx_chat_session_t *s,
    ngx_chat_request_t *req);

/*
 * What runs each request type: a new type is a row here and a handler.
 * A type without a row is refused as not supported.
 */
typedef struct {
    ngx_uint_t             type;          /* NGX_CHAT_REQ_* */
    ngx_chat_request_pt    handler;
    unsigned               before_auth:1; /* allowed unauthenticated */
    unsigned               room:1;        /* the user may use the room */
    unsigned               logged:1;      /* needs a store that keeps it */
} ngx_chat_request_do_t;


static const ngx_chat_request_do_t  ngx_chat_request_do[] = {
    { NGX_CHAT_REQ_AUTH, ngx_chat_request_token, 1, 0, 0 },
    { NGX_CHAT_REQ_REFRESH, ngx_chat_request_token, 0, 0, 0 },
    { NGX_CHAT_REQ_PING, ngx_chat_request_ping, 1, 0, 0 },
    { NGX_CHAT_REQ_JOIN, ngx_chat_fanout_join, 0, 1, 0 },
    { NGX_CHAT_REQ_LEAVE, ngx_chat_fanout_leave, 0, 0, 0 },
    { NGX_CHAT_REQ_SEND, ngx_chat_request_send, 0, 1, 0 },
    { NGX_CHAT_REQ_HISTORY, ngx_chat_request_history, 0, 1, 1 },
    { NGX_CHAT_REQ_READ, ngx_chat_request_read, 0, 1, 1 },
    { NGX_CHAT_REQ_TYPING, ngx_chat_typing, 0, 1, 0 },
    { NGX_CHAT_REQ_EDIT, ngx_chat_edit_request, 0, 1, 1 },
    { NGX_CHAT_REQ_DELETE, ngx_chat_edit_request, 0, 1, 1 },
    { NGX_CHAT_REQ_PRESENCE, ngx_chat_presence_request, 0, 1, 0 },
    { 0, NULL, 0, 0, 0 }
};


void
ngx_chat_request_dispatch(ngx_chat_session_t *s, const u_char *data,
    size_t len)
{
    int                          rc;
    const char                  *code, *msg;
    ngx_chat_request_t           req;
    ngx_chat_proto_limits_t      lim;
    const ngx_chat_request_do_t *d;

    lim.body_max = s->lcf->message_max;
    lim.meta_max = NGX_CHAT_META_MAX_DEFAULT;

    ngx_memzero(&req, sizeof(ngx_chat_request_t));

    rc = ngx_chat_request_decode((const char *) data, len, &lim, &req, &code,
                                 &msg);

    if (ngx_chat_request_over_rate(s, &req, rc) != NGX_OK) {
        ngx_chat_request_free(&req);
        return;
    }

    for (d = ngx_chat_request_do; d->handler; d++) {
        if (d->type == req.type) {
            break;
        }
    }

    if (rc != 0) {
        ngx_chat_session_error(s, req.id, req.id_len, code, msg);

    } else if (!s->authed && !d->before_auth) {
        ngx_chat_session_error(s, req.id, req.id_len, "unauthenticated",
                               "authenticate first");

    } else if (d->handler == NULL) {
        ngx_chat_session_error(s, req.id, req.id_len, "bad_request",
                               "this request type is not supported by "
                               "this server yet");

    } else if (d->logged && !s->lcf->store->logged) {
        ngx_chat_session_error(s, req.id, req.id_len, "bad_request",
                               NGX_CHAT_NOT_STORED);

    } else if (!d->room || ngx_chat_request_room_allowed(s, &req) == NGX_OK) {
        d->handler(s, &req);
    }

    ngx_chat_request_free(&req);
}


static void
ngx_chat_request_ping(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_json_t  j;

    if (req->id_len) {
        ngx_chat_json_init(&j, 64);
        ngx_chat_json_type_begin(&j, "pong", req->id, req->id_len);
        ngx_chat_json_end(&j);
        (void) ngx_chat_session_send_json(s, &j);
        ngx_chat_json_free(&j);
    }
}


static void
ngx_chat_request_send(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    uint64_t        wait;
    ngx_chat_op_t  *op;

    if (s->send_until
        && (ngx_msec_int_t) (s->send_until - ngx_current_msec) > 0)
    {
        /* refused a moment ago: the user's rate has not let up yet */
        wait = (uint64_t) (s->send_until - ngx_current_msec) * 1000;
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_USER_SEND);
        ngx_chat_session_error_retry(s, req->id, req->id_len,
                                     "rate_limited",
                                     NGX_CHAT_USERS_SEND_RATED,
                                     ngx_chat_limit_seconds(wait));
        ngx_chat_session_rate_refused(s, wait);
        return;
    }

    op = ngx_chat_op_ws(s, req);

    if (op) {
        ngx_chat_users_send(op, &s->lcf->user_send_rate, s->lcf->store,
                            (char *) ngx_chat_session_name(s), s->name_len,
                            req);
    }
}


static void
ngx_chat_request_history(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_op_ws(s, req);
    if (op == NULL) {
        return;
    }

    op->before = req->has_before ? req->before : 0;
    op->after = req->has_after ? req->after : -1;
    op->limit = req->has_limit ? (ngx_uint_t) req->limit
                               : NGX_CHAT_HISTORY_LIMIT_DEF;

    if (req->has_before && req->before == 0) {
        /* nothing comes before seq 1: no need to ask */
        op->before = 1;
    }

    ngx_chat_history(op);
}


static void
ngx_chat_request_read(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_op_ws(s, req);

    if (op) {
        op->seq = req->seq;
        op->delivered = ngx_chat_req_delivered(req);
        ngx_chat_read(op);
    }
}


/* an auth or refresh request: its token goes to the check */
static void
ngx_chat_request_token(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_request_auth_t  *ra;

    if (req->type == NGX_CHAT_REQ_AUTH && s->authed) {
        ngx_chat_session_error(s, req->id, req->id_len, "bad_request",
                               "already authenticated");
        return;
    }

    ra = ngx_alloc(sizeof(ngx_chat_request_auth_t), s->connection->log);
    if (ra == NULL) {
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return;
    }

    ngx_memzero(ra, sizeof(ngx_chat_request_auth_t));

    ra->session = s;
    ra->refresh = (req->type == NGX_CHAT_REQ_REFRESH);
    ra->id_len = req->id_len;
    ngx_memcpy(ra->id, req->id, req->id_len);

    ra->auth.handler = ngx_chat_request_authed;
    ra->auth.data = ra;
    ra->auth.log = s->connection->log;
    ra->auth.connection = !ra->refresh;

    if (ra->refresh) {
        ra->auth.what = "refresh token";
        ra->auth.user = s->user;
    }

    ngx_chat_session_ref(s);

    if (ngx_chat_auth_check(&ra->auth, (u_char *) req->token, req->token_len)
        == NGX_AGAIN)
    {
        /* nothing more is taken from the connection until it is known */
        ra->waiting = 1;
        ngx_chat_session_auth_wait(s, 1);
    }
}


static void
ngx_chat_request_authed(ngx_chat_auth_t *a, ngx_chat_jwt_claims_t *claims)
{
    ngx_chat_session_t       *s;
    ngx_chat_request_auth_t  *ra;

    ra = a->data;
    s = ra->session;

    if (ngx_chat_session_open(s)) {
        if (ra->refresh) {
            ngx_chat_request_refreshed(s, ra, claims);

        } else if (claims) {
            ngx_chat_session_authenticate(s, claims, ra->id, ra->id_len);
            ngx_chat_users_connected(s, a);

        } else if (a->banned) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_FORBIDDEN, "banned");

        } else if (a->crowded) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_TRY_LATER,
                                   NGX_CHAT_USERS_CROWDED);

        } else {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_AUTH_FAILED,
                                   "authentication failed");
        }
    }

    if (ra->waiting) {
        ngx_chat_session_auth_wait(s, 0);
    }

    ngx_free(ra);
    ngx_chat_session_unref(s);
}


static void
ngx_chat_request_refreshed(ngx_chat_session_t *s,
    ngx_chat_request_auth_t *ra, ngx_chat_jwt_claims_t *claims)
{
    size_t           len;
    ngx_chat_json_t  j;

    if (claims == NULL) {
        ngx_chat_session_error(s, ra->id, ra->id_len, "unauthenticated",
                               "invalid token");
        return;
    }

    len = ngx_strlen(claims->sub);

    if (len != s->user_len || ngx_memcmp(claims->sub, s->user, len) != 0) {
        ngx_chat_session_error(s, ra->id, ra->id_len, "forbidden",
                               "a refresh token must be for the same user");
        return;
    }

    if (ngx_chat_session_refresh(s, claims) != NGX_OK) {
        ngx_chat_session_error(s, ra->id, ra->id_len, "internal",
                               "out of memory");
        return;
    }

    if (ra->id_len) {
        ngx_chat_json_init(&j, 96);
        ngx_chat_json_ok_begin(&j, ra->id, ra->id_len);
        ngx_chat_json_kv_int(&j, "expires_at", (long long) s->expires);
        ngx_chat_json_end(&j);
        (void) ngx_chat_session_send_json(s, &j);
        ngx_chat_json_free(&j);
    }
}


static ngx_int_t
ngx_chat_request_room_allowed(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    if (ngx_chat_room_is_dm(req->room, req->room_len)
        && !ngx_chat_dm_has_member(req->room, req->room_len,
                                   (char *) s->user, s->user_len))
    {
        ngx_chat_session_error(s, req->id, req->id_len, "forbidden",
                               "not a member of this direct-message room");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Every frame but a send costs from the connection's budget.  Sends have
 * their own: at most NGX_CHAT_SEND_INFLIGHT_MAX wait for the group commit
 * before the connection is no longer read.  A frame over the budget is
 * answered rate_limited and not run (NGX_DECLINED).
 */
static ngx_int_t
ngx_chat_request_over_rate(ngx_chat_session_t *s, ngx_chat_request_t *req,
    int rc)
{
    uint64_t  wait;

    if (rc == 0 && req->type == NGX_CHAT_REQ_SEND) {
        return NGX_OK;
    }

    wait = ngx_chat_session_rate_take(s);
    if (wait == 0) {
        return NGX_OK;
    }

    ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_REQUEST);
    ngx_chat_session_error_retry(s, req->id, req->id_len, "rate_limited",
                                  "too many requests on this connection "
                                  "(chat_request_rate)",
                                  ngx_chat_limit_seconds(wait));
    ngx_chat_session_rate_refused(s, wait);

    return NGX_DECLINED;
}
