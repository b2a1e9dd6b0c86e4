/*
 * Edits and deletes of messages (protocol.md sections 4 and 9): the
 * WebSocket requests, the REST calls, and the commit kinds "edited" and
 * "deleted".  Their statement (chat_change_batch, sql/009) decides under
 * the room row lock who may do what, numbers the event's rev, writes the
 * message row and keeps the event for replays; what it answers is
 * published here as it is, so that a replay sends the same text.
 */

#include "ngx_chat.h"
#include "ngx_chat_edit.h"
#include "ngx_chat_batch.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_session.h"

#include <jansson.h>


/* the columns after NGX_CHAT_COMMIT_COLUMNS */
#define NGX_CHAT_CHANGE_EDITED_AT  (NGX_CHAT_COMMIT_COLUMNS)
#define NGX_CHAT_CHANGE_EVENT      (NGX_CHAT_COMMIT_COLUMNS + 1)
#define NGX_CHAT_CHANGE_MESSAGE    (NGX_CHAT_COMMIT_COLUMNS + 2)


typedef struct {
    ngx_chat_commit_t    commit;       /* first */
    int64_t              seq;
    unsigned             roles;        /* the JWT's NGX_CHAT_ROLE_* */
    unsigned             edit:1;
    size_t               body_len;
    char                 body[1];
} ngx_chat_change_t;


static void ngx_chat_change(ngx_chat_op_t *op, unsigned roles, int64_t seq,
    const char *body, size_t body_len);
static const char *ngx_chat_api_edit_body(ngx_http_request_t *r,
    json_t *root, ngx_str_t *body, const char **code);


void
ngx_chat_edit_request(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_op_ws(s, req);
    if (op == NULL) {
        return;
    }

    if (req->type == NGX_CHAT_REQ_EDIT) {
        ngx_chat_change(op, s->roles, req->seq, req->body, req->body_len);

    } else {
        ngx_chat_change(op, s->roles, req->seq, NULL, 0);
    }
}


/* PATCH /rooms/{room}/messages/{seq} {"body"} */
ngx_int_t
ngx_chat_api_message_edit(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    json_t         *root;
    ngx_str_t       body;
    const char     *err, *code;
    json_error_t    jerr;
    ngx_chat_op_t  *op;

    root = json_loadb((char *) ctx->body.data, ctx->body.len,
                      JSON_REJECT_DUPLICATES, &jerr);

    err = ngx_chat_api_edit_body(r, root, &body, &code);

    if (err) {
        if (root) {
            json_decref(root);
        }

        return ngx_chat_http_error(r, code, err);
    }

    op = ngx_chat_api_op(r, ctx, &ctx->room, NGX_HTTP_OK);

    if (op) {
        ngx_chat_change(op, ctx->auth.claims.roles, ctx->seq,
                        (char *) body.data, body.len);
    }

    json_decref(root);

    return op ? NGX_DONE : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the "body" of an edit, checked as a send's; NULL or what is wrong */
static const char *
ngx_chat_api_edit_body(ngx_http_request_t *r, json_t *root, ngx_str_t *body,
    const char **code)
{
    json_t               *v;
    ngx_chat_loc_conf_t  *lcf;

    *code = "bad_request";

    if (root == NULL || !json_is_object(root)) {
        return "the body must be a JSON object";
    }

    v = json_object_get(root, "body");

    if (v == NULL) {
        return "missing \"body\"";
    }

    if (!json_is_string(v)) {
        return "\"body\" must be a string";
    }

    body->data = (u_char *) json_string_value(v);
    body->len = json_string_length(v);

    if (body->len == 0) {
        return "\"body\" must not be empty";
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    if (body->len > lcf->message_max) {
        *code = "too_large";
        return "\"body\" is too long";
    }

    return NULL;
}


/* DELETE /rooms/{room}/messages/{seq} */
ngx_int_t
ngx_chat_api_message_delete(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_api_op(r, ctx, &ctx->room, NGX_HTTP_NO_CONTENT);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_chat_change(op, ctx->auth.claims.roles, ctx->seq, NULL, 0);

    return NGX_DONE;
}


/* an edit (body) or a delete (body NULL) waits for the next commit */
static void
ngx_chat_change(ngx_chat_op_t *op, unsigned roles, int64_t seq,
    const char *body, size_t body_len)
{
    ngx_chat_change_t  *ch;

    ch = ngx_alloc(sizeof(ngx_chat_change_t) + body_len, ngx_chat_worker.log);
    if (ch == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    ch->commit.op = op;
    ch->seq = seq;
    ch->roles = roles;
    ch->edit = (body != NULL);
    ch->body_len = body_len;

    if (body_len) {
        ngx_memcpy(ch->body, body, body_len);
    }

    ngx_chat_batch_add(&ch->commit,
                       ngx_chat_commit_kind(body ? "edited" : "deleted"));
}


void
ngx_chat_change_write(ngx_chat_json_t *j, ngx_chat_commit_t *c)
{
    ngx_chat_change_t  *ch = (ngx_chat_change_t *) c;

    ngx_chat_json_char(j, '{');
    ngx_chat_json_kv_str(j, "op", ch->edit ? "edit" : "delete",
                         ch->edit ? 4 : 6);
    ngx_chat_json_kv_str(j, "room", c->op->room, c->op->room_len);
    ngx_chat_json_kv_str(j, "by", c->op->user, c->op->user_len);
    ngx_chat_json_kv_int(j, "seq", ch->seq);

    if (ch->edit) {
        ngx_chat_json_kv_str(j, "body", ch->body, ch->body_len);
    }

    ngx_chat_json_kv_int(j, "roles", ch->roles);
    ngx_chat_json_char(j, '}');
}


/*
 * Committed: the event as the statement wrote it goes out by its rev; a
 * delete of a deleted message ("dup") is answered with that delete's rev
 * and publishes nothing.
 */
void
ngx_chat_change_done(ngx_chat_commit_t *c, PGresult *res, int row)
{
    int64_t             rev;
    ngx_chat_op_t      *op;
    ngx_chat_json_t     j;
    ngx_chat_change_t  *ch;

    ch = (ngx_chat_change_t *) c;
    op = c->op;
    rev = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_REV));

    if (!PQgetisnull(res, row, NGX_CHAT_CHANGE_EVENT)) {
        ngx_chat_fanout_committed(op->room, op->room_len, rev, 0,
                              PQgetvalue(res, row, NGX_CHAT_CHANGE_EVENT),
                              PQgetlength(res, row, NGX_CHAT_CHANGE_EVENT));
    }

    ngx_chat_json_init(&j, 128);
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_kv_int(&j, "seq", ch->seq);
    ngx_chat_json_kv_int(&j, "rev", rev);

    if (ch->edit) {
        ngx_chat_json_kv_int(&j, "edited_at",
                    atoll(PQgetvalue(res, row, NGX_CHAT_CHANGE_EDITED_AT)));
    }

    ngx_chat_commit_ok(c, &j);
    ngx_chat_json_free(&j);
}


/* the statement says which error and why */
void
ngx_chat_change_refused(ngx_chat_commit_t *c, PGresult *res, int row)
{
    char  *st, *msg;

    st = PQgetvalue(res, row, NGX_CHAT_COMMIT_STATUS);
    msg = PQgetvalue(res, row, NGX_CHAT_CHANGE_MESSAGE);

    if (ngx_strcmp(st, "not_found") == 0
        || ngx_strcmp(st, "forbidden") == 0
        || ngx_strcmp(st, "conflict") == 0)
    {
        ngx_chat_commit_fail(c, st, msg[0] ? msg : st);
        return;
    }

    ngx_chat_commit_fail(c, "internal", "the change could not be stored");
}
