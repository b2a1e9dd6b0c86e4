/*
 * REST calls on direct messages, a room's members and moderation
 * (protocol.md sections 7 and 9).  Every change is an action of the
 * commit kind "member" (sql/008's chat_member_apply decides who may do
 * what, with chat_may); the members list adds who is online.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_sql.h"

#include <jansson.h>


#define NGX_CHAT_REASON_MAX  512

#define NGX_CHAT_SQL_DM_OPEN  "select chat_dm_open($1, $2)"
#define NGX_CHAT_SQL_MEMBERS  "select * from chat_room_members($1, $2)"


/* a members list waiting for presence */
typedef struct {
    ngx_chat_op_t               *op;
    ngx_chat_json_t              j;        /* each member but "online}" */
    size_t                      *ends;
    ngx_chat_presence_state_t   *users;
    ngx_uint_t                   n;
} ngx_chat_api_members_t;


static ngx_int_t ngx_chat_api_sanction(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, const char *action, const char *undo,
    ngx_uint_t reason);
static ngx_int_t ngx_chat_api_action(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, const char *action, json_t *body,
    ngx_uint_t status);
static ngx_int_t ngx_chat_api_body_object(ngx_chat_api_ctx_t *ctx,
    json_t **root);
static const char *ngx_chat_api_until(json_t *root);
static void ngx_chat_api_dm_opened(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_api_members_read(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_api_members_online(void *data,
    ngx_chat_presence_state_t *users, ngx_uint_t n, ngx_int_t rc);


/* POST /dm/{user} */
ngx_int_t
ngx_chat_api_dm(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    char            id[NGX_CHAT_ROOM_ID_MAX + 1];
    int             lengths[2];
    size_t          len;
    ngx_str_t       room;
    const char     *values[2], *me;
    ngx_chat_op_t  *op;

    me = ctx->auth.claims.sub;

    len = ngx_chat_dm_room(id, me, ngx_strlen(me), (char *) ctx->user.data,
                           ctx->user.len);
    if (len == 0) {
        return ngx_chat_http_error(r, "bad_request",
                                   "a direct-message room is between two "
                                   "different users");
    }

    room.data = (u_char *) id;
    room.len = len;

    op = ngx_chat_api_op(r, ctx, &room, NGX_HTTP_CREATED);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = op->user;
    lengths[0] = op->user_len;
    values[1] = (char *) ctx->user.data;
    lengths[1] = ctx->user.len;

    ngx_chat_op_query(op, NGX_CHAT_SQL_DM_OPEN, 2, values, lengths,
                      ngx_chat_api_dm_opened);

    return NGX_DONE;
}


/* 201 for the call that made the room, 200 for every other */
static void
ngx_chat_api_dm_opened(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    int          lengths[2];
    const char  *values[2];

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    op->status = PQgetvalue(res, 0, 0)[0] == 't' ? NGX_HTTP_CREATED
                                                 : NGX_HTTP_OK;

    values[0] = op->user;
    lengths[0] = op->user_len;
    values[1] = op->room;
    lengths[1] = op->room_len;

    ngx_chat_op_query(op, NGX_CHAT_SQL_ROOMS_OF, 2, values, lengths,
                      ngx_chat_api_rooms_done);
}


/* PATCH /rooms/{room} {"name"?,"topic"?} */
ngx_int_t
ngx_chat_api_room_patch(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    json_t      *root, *v;
    ngx_int_t    rc;
    ngx_uint_t   i;
    const char  *err;

    static const char  *keys[] = { "name", "topic" };
    static size_t       max[] = { NGX_CHAT_ROOM_NAME_MAX,
                                  NGX_CHAT_ROOM_TOPIC_MAX };

    if (ngx_chat_api_body_object(ctx, &root) != NGX_OK || root == NULL) {
        return ngx_chat_http_error(r, "bad_request",
                                   "the body must be a JSON object");
    }

    err = NULL;

    for (i = 0; i < 2; i++) {
        v = json_object_get(root, keys[i]);

        if (v != NULL && !json_is_null(v)
            && (!json_is_string(v) || json_string_length(v) > max[i]))
        {
            err = i ? "\"topic\" must be null or a string of at most "
                      ngx_value(NGX_CHAT_ROOM_TOPIC_MAX) " bytes"
                    : "\"name\" must be null or a string of at most "
                      ngx_value(NGX_CHAT_ROOM_NAME_MAX) " bytes";
        }
    }

    if (err == NULL && json_object_get(root, "name") == NULL
        && json_object_get(root, "topic") == NULL)
    {
        err = "nothing to change: give \"name\" or \"topic\"";
    }

    if (err) {
        json_decref(root);
        return ngx_chat_http_error(r, "bad_request", err);
    }

    rc = ngx_chat_api_action(r, ctx, "room", root, NGX_HTTP_OK);
    json_decref(root);

    return rc;
}


/* PUT /rooms/{room}/members/{user} {"role"?} */
ngx_int_t
ngx_chat_api_member_put(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    json_t      *root, *v;
    ngx_int_t    rc;
    const char  *role;

    if (ngx_chat_api_body_object(ctx, &root) != NGX_OK) {
        return ngx_chat_http_error(r, "bad_request",
                                   "the body must be a JSON object");
    }

    v = root ? json_object_get(root, "role") : NULL;

    if (v == NULL) {
        rc = ngx_chat_api_action(r, ctx, "add", NULL, NGX_HTTP_OK);

    } else {
        role = json_is_string(v) ? json_string_value(v) : "";

        if (ngx_strcmp(role, "member") != 0
            && ngx_strcmp(role, "moderator") != 0
            && ngx_strcmp(role, "owner") != 0)
        {
            json_decref(root);
            return ngx_chat_http_error(r, "bad_request",
                                       "\"role\" must be \"member\", "
                                       "\"moderator\" or \"owner\"");
        }

        rc = ngx_chat_api_action(r, ctx, "role", root, NGX_HTTP_OK);
    }

    if (root) {
        json_decref(root);
    }

    return rc;
}


/* DELETE /rooms/{room}/members/{user}: leave on oneself, else kick */
ngx_int_t
ngx_chat_api_member_delete(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_uint_t   self;
    const char  *me;

    me = ctx->auth.claims.sub;
    self = ngx_strlen(me) == ctx->user.len
           && ngx_strncmp(me, ctx->user.data, ctx->user.len) == 0;

    return ngx_chat_api_action(r, ctx, self ? "leave" : "kick", NULL,
                               NGX_HTTP_NO_CONTENT);
}


/* POST /rooms/{room}/bans/{user} {"until"?,"reason"?}, and DELETE */
ngx_int_t
ngx_chat_api_ban(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    return ngx_chat_api_sanction(r, ctx, "ban", "unban", 1);
}


/* POST /rooms/{room}/mutes/{user} {"until"?}, and DELETE */
ngx_int_t
ngx_chat_api_mute(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    return ngx_chat_api_sanction(r, ctx, "mute", "unmute", 0);
}


/* a ban or mute (POST, with "until" and maybe "reason"), or its end */
static ngx_int_t
ngx_chat_api_sanction(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    const char *action, const char *undo, ngx_uint_t reason)
{
    json_t      *root, *v;
    ngx_int_t    rc;
    const char  *err;

    if (r->method == NGX_HTTP_DELETE) {
        return ngx_chat_api_action(r, ctx, undo, NULL, NGX_HTTP_NO_CONTENT);
    }

    if (ngx_chat_api_body_object(ctx, &root) != NGX_OK) {
        return ngx_chat_http_error(r, "bad_request",
                                   "the body must be a JSON object");
    }

    err = ngx_chat_api_until(root);
    v = (root && reason) ? json_object_get(root, "reason") : NULL;

    if (err == NULL && v != NULL
        && (!json_is_string(v)
            || json_string_length(v) > NGX_CHAT_REASON_MAX))
    {
        err = "\"reason\" must be a string of at most "
              ngx_value(NGX_CHAT_REASON_MAX) " bytes";
    }

    rc = err ? ngx_chat_http_error(r, "bad_request", err)
             : ngx_chat_api_action(r, ctx, action, root, NGX_HTTP_NO_CONTENT);

    if (root) {
        json_decref(root);
    }

    return rc;
}


/*
 * An action of the commit kind "member": the element names the room,
 * who acts (with the JWT role they act with everywhere), the action, its
 * user and the body's fields that apply
 */
static ngx_int_t
ngx_chat_api_action(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    const char *action, json_t *body, ngx_uint_t status)
{
    json_t           *v;
    ngx_uint_t        i, roles;
    ngx_chat_op_t    *op;
    ngx_chat_json_t   j;

    static const char  *fields[] = { "role", "reason", "name", "topic" };

    op = ngx_chat_api_op(r, ctx, &ctx->room, status);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    roles = ctx->auth.claims.roles;

    ngx_chat_json_init(&j, 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_kv_str(&j, "by", op->user, op->user_len);

    if (roles & (NGX_CHAT_ROLE_ADMIN|NGX_CHAT_ROLE_MODERATOR)) {
        ngx_chat_json_kv_str(&j, "jwt",
                             (roles & NGX_CHAT_ROLE_ADMIN) ? "admin"
                                                           : "moderator",
                             (roles & NGX_CHAT_ROLE_ADMIN) ? 5 : 9);
    }

    ngx_chat_json_kv_str(&j, "action", action, ngx_strlen(action));

    if (ctx->user.len) {
        ngx_chat_json_kv_str(&j, "user", (char *) ctx->user.data,
                             ctx->user.len);
    }

    for (i = 0; body && i < sizeof(fields) / sizeof(fields[0]); i++) {
        v = json_object_get(body, fields[i]);

        if (json_is_string(v)) {
            ngx_chat_json_kv_str(&j, fields[i], json_string_value(v),
                                 json_string_length(v));

        } else if (json_is_null(v)) {
            ngx_chat_json_kv_raw(&j, fields[i], "null", 4);
        }
    }

    v = body ? json_object_get(body, "until") : NULL;

    if (json_is_integer(v)) {
        ngx_chat_json_kv_int(&j, "until", json_integer_value(v));
    }

    ngx_chat_json_char(&j, '}');

    if (j.failed) {
        ngx_chat_json_free(&j);
        ngx_chat_op_error(op, "internal", "out of memory");
        return NGX_DONE;
    }

    ngx_chat_batch_member(op, j.data, j.len);
    ngx_chat_json_free(&j);

    return NGX_DONE;
}


/* an optional JSON object body: *root NULL when there is none */
static ngx_int_t
ngx_chat_api_body_object(ngx_chat_api_ctx_t *ctx, json_t **root)
{
    json_error_t  err;

    *root = NULL;

    if (ctx->body.len == 0) {
        return NGX_OK;
    }

    *root = json_loadb((char *) ctx->body.data, ctx->body.len,
                       JSON_REJECT_DUPLICATES, &err);

    if (*root == NULL) {
        return NGX_ERROR;
    }

    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static const char *
ngx_chat_api_until(json_t *root)
{
    json_t  *v;

    v = root ? json_object_get(root, "until") : NULL;

    if (v != NULL && !json_is_null(v)
        && (!json_is_integer(v) || json_integer_value(v) < 0))
    {
        return "\"until\" must be a time in ms since the epoch";
    }

    return NULL;
}


/* GET /rooms/{room}/members */
ngx_int_t
ngx_chat_api_members(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    int             lengths[2];
    const char     *values[2];
    ngx_chat_op_t  *op;

    op = ngx_chat_api_op(r, ctx, &ctx->room, NGX_HTTP_OK);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = op->room;
    lengths[0] = op->room_len;
    values[1] = op->user;
    lengths[1] = op->user_len;

    ngx_chat_op_query(op, NGX_CHAT_SQL_MEMBERS, 2, values, lengths,
                      ngx_chat_api_members_read);

    return NGX_DONE;
}


/* rows of chat_room_members: user, role, read_seq, delivered_seq, muted */
static void
ngx_chat_api_members_read(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    int                      i, n;
    size_t                  *starts;
    ngx_chat_api_members_t  *ml;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    n = PQntuples(res);

    ml = ngx_calloc(sizeof(ngx_chat_api_members_t)
                    + (n + 1) * (2 * sizeof(size_t)
                                 + sizeof(ngx_chat_presence_state_t)),
                    ngx_chat_worker.log);
    if (ml == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    ml->op = op;
    ml->n = n;
    ml->users = (ngx_chat_presence_state_t *) (ml + 1);
    ml->ends = (size_t *) (ml->users + n + 1);
    starts = ml->ends + n + 1;

    ngx_chat_json_init(&ml->j, 64 + 160 * n);

    for (i = 0; i < n; i++) {
        ngx_chat_json_char(&ml->j, '{');
        ngx_chat_json_key(&ml->j, "user");
        starts[i] = ml->j.len + 1;
        ngx_chat_json_str(&ml->j, PQgetvalue(res, i, 0),
                          PQgetlength(res, i, 0));
        ml->users[i].user.len = PQgetlength(res, i, 0);
        ngx_chat_json_kv_str(&ml->j, "role", PQgetvalue(res, i, 1),
                             PQgetlength(res, i, 1));
        ngx_chat_json_kv_int(&ml->j, "read_seq", atoll(PQgetvalue(res, i, 2)));
        ngx_chat_json_kv_int(&ml->j, "delivered_seq",
                             atoll(PQgetvalue(res, i, 3)));

        if (!PQgetisnull(res, i, 4)) {
            ngx_chat_json_kv_int(&ml->j, "muted_until",
                                 atoll(PQgetvalue(res, i, 4)));
        }

        ml->ends[i] = ml->j.len;
    }

    if (ml->j.failed) {
        ngx_chat_json_free(&ml->j);
        ngx_free(ml);
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    /* user ids hold nothing JSON escapes: the quoted text is the id */
    for (i = 0; i < n; i++) {
        ml->users[i].user.data = (u_char *) ml->j.data + starts[i];
    }

    ngx_chat_presence_lookup(ml->users, n, ngx_chat_api_members_online, ml);
}


static void
ngx_chat_api_members_online(void *data, ngx_chat_presence_state_t *users,
    ngx_uint_t n, ngx_int_t rc)
{
    ngx_chat_api_members_t *ml = data;

    size_t           start;
    ngx_uint_t       i;
    ngx_chat_json_t  j;

    ngx_chat_json_init(&j, ml->j.len + 32 * n + 32);
    ngx_chat_json_key(&j, "members");
    ngx_chat_json_char(&j, '[');

    start = 0;

    for (i = 0; i < n; i++) {
        ngx_chat_json_sep(&j);
        ngx_chat_json_raw(&j, ml->j.data + start, ml->ends[i] - start);
        /* presence unknown (Redis down): shown offline */
        ngx_chat_json_kv_bool(&j, "online", rc == NGX_OK && users[i].online);
        ngx_chat_json_char(&j, '}');
        start = ml->ends[i];
    }

    ngx_chat_json_char(&j, ']');

    if (j.failed) {
        ngx_chat_op_error(ml->op, "internal", "out of memory");

    } else {
        ngx_chat_op_ok(ml->op, &j);
    }

    ngx_chat_json_free(&j);
    ngx_chat_json_free(&ml->j);
    ngx_free(ml);
}
