/*
 * REST calls on rooms and their messages: the room list, a room,
 * creating a channel, history pages, sending and read cursors.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_store.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_users.h"

#include <jansson.h>


static ngx_chat_op_t *ngx_chat_api_request(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_uint_t type, ngx_uint_t status,
    ngx_chat_request_t *req, ngx_int_t *rc);
static void ngx_chat_api_room_json(ngx_chat_json_t *j, PGresult *res,
    int row, ngx_uint_t object);


/* GET /rooms and GET /rooms/{room} */
ngx_int_t
ngx_chat_api_rooms(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    int             lengths[2];
    const char     *values[2];
    ngx_chat_op_t  *op;

    op = ngx_chat_api_op(r, ctx, &ctx->room, NGX_HTTP_OK);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = op->user;
    lengths[0] = op->user_len;
    values[1] = op->room_len ? op->room : NULL;
    lengths[1] = op->room_len;

    ngx_chat_op_query(op, NGX_CHAT_SQL_ROOMS_OF, 2, values, lengths,
                      ngx_chat_api_rooms_done);

    return NGX_DONE;
}


/* POST /rooms {"room","name"?,"topic"?,"private"?} */
ngx_int_t
ngx_chat_api_room_create(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    u_char           interval[NGX_INT64_LEN], burst[NGX_INT64_LEN];
    int              lengths[7];
    json_t          *root, *v;
    ngx_str_t        room;
    const char      *values[7], *err;
    ngx_chat_op_t   *op;
    json_error_t     jerr;

    root = json_loadb((char *) ctx->body.data, ctx->body.len,
                      JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL || !json_is_object(root)) {
        err = "the body must be a JSON object";
        goto invalid;
    }

    v = json_object_get(root, "room");

    if (!json_is_string(v)
        || !ngx_chat_room_id_valid(json_string_value(v),
                                   json_string_length(v))
        || ngx_chat_room_is_dm(json_string_value(v), json_string_length(v)))
    {
        err = "\"room\" must be a channel id";
        goto invalid;
    }

    room.data = (u_char *) json_string_value(v);
    room.len = json_string_length(v);

    values[2] = NULL;
    lengths[2] = 0;
    v = json_object_get(root, "name");

    if (v != NULL) {
        if (!json_is_string(v)
            || json_string_length(v) > NGX_CHAT_ROOM_NAME_MAX)
        {
            err = "\"name\" must be a string of at most "
                  ngx_value(NGX_CHAT_ROOM_NAME_MAX) " bytes";
            goto invalid;
        }

        values[2] = json_string_value(v);
        lengths[2] = json_string_length(v);
    }

    values[3] = NULL;
    lengths[3] = 0;
    v = json_object_get(root, "topic");

    if (v != NULL) {
        if (!json_is_string(v)
            || json_string_length(v) > NGX_CHAT_ROOM_TOPIC_MAX)
        {
            err = "\"topic\" must be a string of at most "
                  ngx_value(NGX_CHAT_ROOM_TOPIC_MAX) " bytes";
            goto invalid;
        }

        values[3] = json_string_value(v);
        lengths[3] = json_string_length(v);
    }

    v = json_object_get(root, "private");

    if (v != NULL && !json_is_boolean(v)) {
        err = "\"private\" must be true or false";
        goto invalid;
    }

    values[4] = (v && json_is_true(v)) ? "t" : "f";
    lengths[4] = 1;

    op = ngx_chat_api_op(r, ctx, &room, NGX_HTTP_CREATED);
    if (op == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = op->room;
    lengths[0] = op->room_len;
    values[1] = op->user;
    lengths[1] = op->user_len;
    values[5] = (char *) interval;
    values[6] = (char *) burst;
    ngx_chat_sql_room_create_rate(interval, &lengths[5], burst,
                                    &lengths[6]);

    ngx_chat_op_query(op, NGX_CHAT_SQL_ROOM_CREATE, 7, values, lengths,
                      ngx_chat_api_rooms_done);
    json_decref(root);

    return NGX_DONE;

invalid:

    if (root) {
        json_decref(root);
    }

    return ngx_chat_http_error(r, "bad_request", err);
}


/* GET /rooms/{room}/messages?before=&after=&limit= */
ngx_int_t
ngx_chat_api_messages(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    int64_t         before, after, limit;
    ngx_chat_op_t  *op;

    before = 0;
    after = -1;
    limit = NGX_CHAT_HISTORY_LIMIT_DEF;

    if (ngx_chat_api_arg(r, "before", 0, INT64_MAX, &before)
        == NGX_ERROR
        || ngx_chat_api_arg(r, "after", 0, INT64_MAX, &after)
           == NGX_ERROR
        || ngx_chat_api_arg(r, "limit", 1, NGX_CHAT_HISTORY_LIMIT_MAX, &limit)
           == NGX_ERROR)
    {
        return ngx_chat_http_error(r, "bad_request",
                                   "before and after must be integers >= 0, "
                                   "limit an integer from 1 to "
                                   ngx_value(NGX_CHAT_HISTORY_LIMIT_MAX));
    }

    op = ngx_chat_api_op(r, ctx, &ctx->room, NGX_HTTP_OK);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* before=0 asks for nothing: nothing comes before seq 1 either */
    op->before = (before == 0 && ngx_chat_api_has_arg(r, "before"))
                 ? 1 : before;
    op->after = after;
    op->limit = (ngx_uint_t) limit;

    ngx_chat_history(op);

    return NGX_DONE;
}


/* POST /rooms/{room}/messages: the same send as over a WebSocket */
ngx_int_t
ngx_chat_api_message_send(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_int_t             rc;
    ngx_chat_op_t        *op;
    ngx_chat_request_t    req;
    ngx_chat_loc_conf_t  *lcf;

    op = ngx_chat_api_request(r, ctx, NGX_CHAT_REQ_SEND, NGX_HTTP_CREATED,
                              &req, &rc);
    if (op == NULL) {
        return rc;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    /* one commit, one event */
    ngx_chat_users_send(op, &lcf->user_send_rate, lcf->store,
                        ctx->auth.claims.name,
                        ngx_strlen(ctx->auth.claims.name), &req);

    ngx_chat_request_free(&req);

    return NGX_DONE;
}


/* POST /rooms/{room}/read {"seq","state"?} */
ngx_int_t
ngx_chat_api_read(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_int_t           rc;
    ngx_chat_op_t      *op;
    ngx_chat_request_t  req;

    op = ngx_chat_api_request(r, ctx, NGX_CHAT_REQ_READ, NGX_HTTP_NO_CONTENT,
                              &req, &rc);
    if (op == NULL) {
        return rc;
    }

    op->seq = req.seq;
    op->delivered = ngx_chat_req_delivered(&req);
    ngx_chat_request_free(&req);
    ngx_chat_read(op);

    return NGX_DONE;
}


/*
 * The body decoded as a request of type, with the checks and errors of
 * the WebSocket request, and the op that answers it; NULL: *rc answers.
 */
static ngx_chat_op_t *
ngx_chat_api_request(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_uint_t type, ngx_uint_t status, ngx_chat_request_t *req,
    ngx_int_t *rc)
{
    const char               *code, *msg;
    ngx_chat_op_t            *op;
    ngx_chat_loc_conf_t      *lcf;
    ngx_chat_proto_limits_t   lim;

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);
    lim.body_max = lcf->message_max;
    lim.meta_max = NGX_CHAT_META_MAX_DEFAULT;

    if (ngx_chat_request_decode_as(type, (char *) ctx->body.data,
                                   ctx->body.len, &lim, req, &code, &msg)
        != 0)
    {
        ngx_chat_request_free(req);
        *rc = ngx_chat_http_error(r, code, msg);
        return NULL;
    }

    op = ngx_chat_api_op(r, ctx, &ctx->room, status);
    if (op == NULL) {
        ngx_chat_request_free(req);
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return op;
}


/* answers an op with the rows of chat_rooms_of */
void
ngx_chat_api_rooms_done(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    int              i, n;
    ngx_chat_json_t  j;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    n = PQntuples(res);

    ngx_chat_json_init(&j, 256 + 384 * n);

    if (op->room_len) {
        if (n != 1) {
            ngx_chat_json_free(&j);
            ngx_chat_op_error(op, "not_found", "no such room");
            return;
        }

        /* the room's own fields are the answer */
        ngx_chat_api_room_json(&j, res, 0, 0);

    } else {
        ngx_chat_json_key(&j, "rooms");
        ngx_chat_json_char(&j, '[');

        for (i = 0; i < n; i++) {
            ngx_chat_json_sep(&j);
            ngx_chat_api_room_json(&j, res, i, 1);
        }

        ngx_chat_json_char(&j, ']');
    }


    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}


/*
 * A room row as {"room","kind","name","topic"?,"private","last_seq",
 * "read_seq","unread","role"?,"last_message"?}, or as those fields alone.
 */
static void
ngx_chat_api_room_json(ngx_chat_json_t *j, PGresult *res, int row,
    ngx_uint_t object)
{
    char  *id;
    int    id_len;

    id = PQgetvalue(res, row, 0);
    id_len = PQgetlength(res, row, 0);

    if (object) {
        ngx_chat_json_char(j, '{');
    }

    ngx_chat_json_kv_str(j, "room", id, id_len);
    ngx_chat_json_kv_str(j, "kind", PQgetvalue(res, row, 1),
                         PQgetlength(res, row, 1));

    if (PQgetisnull(res, row, 2)) {
        ngx_chat_json_kv_raw(j, "name", "null", 4);

    } else {
        ngx_chat_json_kv_str(j, "name", PQgetvalue(res, row, 2),
                             PQgetlength(res, row, 2));
    }

    if (!PQgetisnull(res, row, 3)) {
        ngx_chat_json_kv_str(j, "topic", PQgetvalue(res, row, 3),
                             PQgetlength(res, row, 3));
    }

    ngx_chat_json_kv_bool(j, "private", PQgetvalue(res, row, 4)[0] == 't');
    ngx_chat_json_kv_int(j, "last_seq", atoll(PQgetvalue(res, row, 5)));
    ngx_chat_json_kv_int(j, "read_seq", atoll(PQgetvalue(res, row, 7)));
    ngx_chat_json_kv_int(j, "unread", atoll(PQgetvalue(res, row, 8)));

    if (!PQgetisnull(res, row, 9)) {
        ngx_chat_json_kv_str(j, "role", PQgetvalue(res, row, 9),
                             PQgetlength(res, row, 9));
    }

    if (!PQgetisnull(res, row, NGX_CHAT_ROOM_COLUMNS)) {
        ngx_chat_json_key(j, "last_message");
        (void) ngx_chat_sql_row_message(res, row, NGX_CHAT_ROOM_COLUMNS,
                                          id, id_len, 0, j);
    }

    if (object) {
        ngx_chat_json_char(j, '}');
    }
}
