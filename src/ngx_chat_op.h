/*
 * An operation that waits for PostgreSQL on behalf of a WebSocket
 * request (answered with an "ok" or "error" frame carrying its id) or of
 * a REST call (answered with an HTTP status and a JSON body).
 */

#ifndef _NGX_CHAT_OP_H_INCLUDED_
#define _NGX_CHAT_OP_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_proto.h"


typedef struct {
    ngx_chat_session_t   *session;      /* a WebSocket request, or */
    ngx_http_request_t   *http;         /* a REST call (NULL: gone) */
    ngx_pool_cleanup_t   *cleanup;      /* tells the op the call is gone */

    int64_t               seq;
    int64_t               before;       /* 0: none */
    int64_t               after;        /* -1: none */
    ngx_uint_t            limit;
    ngx_uint_t            status;       /* REST success status */
    long long             retry_after;  /* s, for an error rate_limited */

    size_t                id_len;
    char                  id[NGX_CHAT_REQ_ID_JSON_SIZE];
    size_t                room_len;
    char                  room[NGX_CHAT_ROOM_ID_MAX + 1];
    size_t                user_len;
    char                  user[NGX_CHAT_USER_ID_MAX + 1];

    unsigned              counted:1;    /* in the session's ops */
    unsigned              delivered:1;  /* read: the delivered cursor */
} ngx_chat_op_t;


ngx_chat_op_t *ngx_chat_op_ws(ngx_chat_session_t *s, ngx_chat_request_t *req);
ngx_chat_op_t *ngx_chat_op_rest(ngx_http_request_t *r, const char *user,
    size_t user_len, ngx_str_t *room, ngx_uint_t status);

/* a successful answer: fields is "key":value,... (may be NULL) */
void ngx_chat_op_ok(ngx_chat_op_t *op, ngx_chat_json_t *fields);
void ngx_chat_op_error(ngx_chat_op_t *op, const char *code,
    const char *message);
void ngx_chat_op_query(ngx_chat_op_t *op, const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler);
ngx_int_t ngx_chat_op_result(ngx_chat_op_t *op, ngx_uint_t status,
    PGresult *res);
void ngx_chat_op_failed(ngx_chat_op_t *op, ngx_uint_t status, PGresult *res);

/* the answer is no longer wanted: the session or request went away */
ngx_int_t ngx_chat_op_gone(ngx_chat_op_t *op);
void ngx_chat_op_free(ngx_chat_op_t *op);

/*
 * A REST handler runs (enter returns what leave restores): answers given
 * meanwhile are finalized by nginx's own request loop.
 */
ngx_http_request_t *ngx_chat_op_enter(ngx_http_request_t *r);
void ngx_chat_op_leave(ngx_http_request_t *prev);

/* ngx_chat_batch.c */
void ngx_chat_batch_send(ngx_chat_op_t *op, const char *name,
    size_t name_len, ngx_chat_request_t *req);
void ngx_chat_batch_member(ngx_chat_op_t *op, const char *elem, size_t len);

/* ngx_chat_relay.c */
void ngx_chat_relay_send(ngx_chat_op_t *op, const char *name,
    size_t name_len, ngx_chat_request_t *req);

/* ngx_chat_history.c */
void ngx_chat_history(ngx_chat_op_t *op);
void ngx_chat_read(ngx_chat_op_t *op);

#endif /* _NGX_CHAT_OP_H_INCLUDED_ */
