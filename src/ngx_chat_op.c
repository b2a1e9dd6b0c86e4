#include "ngx_chat_op.h"
#include "ngx_chat_store.h"


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
    ngx_chat_op_t  *op;

    op = ngx_calloc(sizeof(ngx_chat_op_t), r->connection->log);
    if (op == NULL) {
        return NULL;
    }

    op->http = r;
    op->status = status;
    op->user_len = user_len;
    ngx_memcpy(op->user, user, user_len);

    if (room) {
        op->room_len = room->len;
        ngx_memcpy(op->room, room->data, room->len);
    }

    /* the request waits for the answer */
    r->main->count++;

    return op;
}


ngx_int_t
ngx_chat_op_gone(ngx_chat_op_t *op)
{
    if (op->session) {
        return op->session->closed || op->session->close_sent;
    }

    return 0;
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

    ngx_http_finalize_request(op->http, rc);
    ngx_chat_op_free(op);
}


void
ngx_chat_op_error(ngx_chat_op_t *op, const char *code, const char *message)
{
    ngx_int_t  rc;

    if (op->session) {
        if (ngx_chat_op_gone(op)) {
            /* void */

        } else if (op->retry_after) {
            ngx_chat_request_rate_limited(op->session, op->id, op->id_len,
                                          message, op->retry_after);

        } else {
            ngx_chat_session_error(op->session, op->id, op->id_len, code,
                                   message);
        }

        ngx_chat_op_free(op);
        return;
    }

    if (op->retry_after
        && ngx_chat_http_retry_after(op->http, op->retry_after) != NGX_OK)
    {
        ngx_http_finalize_request(op->http, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_chat_op_free(op);
        return;
    }

    rc = ngx_chat_http_error(op->http, ngx_chat_http_status(code), code,
                             message);
    ngx_http_finalize_request(op->http, rc);
    ngx_chat_op_free(op);
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
        op->retry_after = ngx_chat_store_retry_after(detail ? detail : "0");
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
