#include "ngx_chat_op.h"
#include "ngx_chat_session.h"
#include "ngx_chat_request.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_http.h"
#include "ngx_chat_error.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_metrics.h"


static void ngx_chat_op_rest_gone(void *data);
static void ngx_chat_op_rest_finalize(ngx_chat_op_t *op, ngx_int_t rc);


/* the REST request whose handler runs now */
static ngx_http_request_t  *ngx_chat_op_running;


ngx_chat_op_t *
ngx_chat_op_ws(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_op_t  *op;

    op = ngx_calloc(sizeof(ngx_chat_op_t), s->connection->log);
    if (op == NULL) {
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return NULL;
    }

    op->session = s;
    ngx_chat_session_ref(s);

    /* sends have a bound of their own: many may await one commit */
    if (req->type != NGX_CHAT_REQ_SEND) {
        op->counted = 1;
        ngx_chat_session_op_begin(s);
    }

    op->id_len = req->id_len;
    ngx_memcpy(op->id, req->id, req->id_len);
    op->room_len = req->room_len;
    ngx_memcpy(op->room, req->room, req->room_len);
    op->user_len = s->user_len;
    ngx_memcpy(op->user, s->user, s->user_len);

    return op;
}


ngx_chat_op_t *
ngx_chat_op_rest(ngx_http_request_t *r, const char *user, size_t user_len,
    ngx_str_t *room, ngx_uint_t status)
{
    ngx_chat_op_t       *op;
    ngx_pool_cleanup_t  *cln;

    op = ngx_calloc(sizeof(ngx_chat_op_t), r->connection->log);
    if (op == NULL) {
        return NULL;
    }

    /* the request may be freed before the answer: the op learns it */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_free(op);
        return NULL;
    }

    cln->handler = ngx_chat_op_rest_gone;
    cln->data = op;

    op->cleanup = cln;
    op->http = r;
    op->status = status;
    op->user_len = user_len;
    ngx_memcpy(op->user, user, user_len);

    if (room && room->len) {
        op->room_len = room->len;
        ngx_memcpy(op->room, room->data, room->len);
    }

    /* the request waits for the answer */
    r->main->count++;

    /*
     * A client that goes away meanwhile ends the request at once, as
     * nginx's proxy does; a reset that came before is looked at soon.
     */
    r->read_event_handler = ngx_http_test_reading;

    if (r->connection->read->pending_eof && !r->connection->read->posted) {
        ngx_post_event(r->connection->read, &ngx_posted_events);
    }

    return op;
}


ngx_http_request_t *
ngx_chat_op_enter(ngx_http_request_t *r)
{
    ngx_http_request_t  *prev;

    prev = ngx_chat_op_running;
    ngx_chat_op_running = r;

    return prev;
}


void
ngx_chat_op_leave(ngx_http_request_t *prev)
{
    ngx_chat_op_running = prev;
}


static void
ngx_chat_op_rest_gone(void *data)
{
    ngx_chat_op_t  *op = data;

    op->http = NULL;
    op->cleanup = NULL;
}


static void
ngx_chat_op_rest_finalize(ngx_chat_op_t *op, ngx_int_t rc)
{
    ngx_uint_t           foreign;
    ngx_http_request_t  *r;

    r = op->http;
    foreign = (r != ngx_chat_op_running);

    op->cleanup->handler = NULL;
    op->cleanup = NULL;
    op->http = NULL;

    r->read_event_handler = ngx_http_block_reading;

    /* a failed write terminates the request by posting it */
    if (foreign) {
        ngx_chat_http_finalize_foreign(r, rc);

    } else {
        ngx_http_finalize_request(r, rc);
    }
}


ngx_int_t
ngx_chat_op_gone(ngx_chat_op_t *op)
{
    if (op->session) {
        return !ngx_chat_session_open(op->session);
    }

    return op->http == NULL;
}


void
ngx_chat_op_free(ngx_chat_op_t *op)
{
    if (op->session) {
        if (op->counted) {
            ngx_chat_session_op_end(op->session);
        }

        ngx_chat_session_unref(op->session);
    }

    if (op->cleanup) {
        op->cleanup->handler = NULL;
    }

    ngx_free(op);
}


void
ngx_chat_op_ok(ngx_chat_op_t *op, ngx_chat_json_t *fields)
{
    ngx_int_t        rc;
    ngx_chat_json_t  j;

    if (fields && fields->failed) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    if (op->session) {
        if (op->id_len && !ngx_chat_op_gone(op)) {
            ngx_chat_json_init(&j, 64 + (fields ? fields->len : 0));
            ngx_chat_json_ok_begin(&j, op->id, op->id_len);

            if (fields && fields->len) {
                ngx_chat_json_char(&j, ',');
                ngx_chat_json_raw(&j, fields->data, fields->len);
            }

            ngx_chat_json_end(&j);
            (void) ngx_chat_session_send_json(op->session, &j);
            ngx_chat_json_free(&j);
        }

        ngx_chat_op_free(op);
        return;
    }

    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);
        return;
    }

    if (op->status == NGX_HTTP_NO_CONTENT || fields == NULL) {
        rc = ngx_chat_http_send(op->http, op->status, NULL);

    } else {
        ngx_chat_json_init(&j, 16 + fields->len);
        ngx_chat_json_char(&j, '{');
        ngx_chat_json_raw(&j, fields->data, fields->len);
        ngx_chat_json_raw(&j, "}\n", 2);
        rc = ngx_chat_http_send(op->http, op->status, &j);
        ngx_chat_json_free(&j);
    }

    ngx_chat_op_rest_finalize(op, rc);
    ngx_chat_op_free(op);
}


void
ngx_chat_op_error(ngx_chat_op_t *op, const char *code, const char *message)
{
    ngx_int_t  rc;

    if (op->session) {
        if (ngx_chat_op_gone(op)) {
            /* void */

        } else {
            ngx_chat_session_error_retry(op->session, op->id, op->id_len,
                                         code, message, op->retry_after);
        }

        ngx_chat_op_free(op);
        return;
    }

    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);
        return;
    }

    if (op->retry_after
        && ngx_chat_http_retry_after(op->http, op->retry_after) != NGX_OK)
    {
        ngx_chat_op_rest_finalize(op, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_chat_op_free(op);
        return;
    }

    rc = ngx_chat_http_error(op->http, code, message);
    ngx_chat_op_rest_finalize(op, rc);
    ngx_chat_op_free(op);
}


/* the op's statement; without a backend the op is answered unavailable */
void
ngx_chat_op_query(ngx_chat_op_t *op, const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler)
{
    if (ngx_chat_pg_query(sql, nparams, values, lengths, handler, op)
        != NGX_OK)
    {
        ngx_chat_op_failed(op, NGX_CHAT_PG_UNAVAILABLE, NULL);
    }
}


/*
 * A statement's answer to an op: NGX_OK when the op still waits for it
 * and the statement succeeded; otherwise the op is answered or freed
 * here, and the caller only returns.
 */
ngx_int_t
ngx_chat_op_result(ngx_chat_op_t *op, ngx_uint_t status, PGresult *res)
{
    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);
        return NGX_DECLINED;
    }

    if (status != NGX_CHAT_PG_OK) {
        ngx_chat_op_failed(op, status, res);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the answer to a statement that failed or a store that is away */
void
ngx_chat_op_failed(ngx_chat_op_t *op, ngx_uint_t status, PGresult *res)
{
    char        *state, *detail;
    const char  *code, *message;

    code = ngx_chat_pg_error_code(status, res);
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (status == NGX_CHAT_PG_FAILED && state
        && ngx_strcmp(state, NGX_CHAT_STATE_RATE_LIMITED) == 0)
    {
        /* a new room beyond chat_room_create_rate: the detail is the wait */
        detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        code = "rate_limited";
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_ROOM_CREATE);
        op->retry_after = ngx_chat_sql_retry_after(detail ? detail : "0");
    }

    if (status == NGX_CHAT_PG_UNAVAILABLE) {
        message = "the message store is unavailable";

    } else if (ngx_strcmp(code, "internal") == 0) {
        message = "the request could not be served";

    } else {
        /* the schema's own words: "no such room", ... */
        message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    }

    ngx_chat_op_error(op, code, message ? message : code);
}
