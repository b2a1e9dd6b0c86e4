/*
 * The REST calls that change a user's state across the cluster
 * (protocol.md section 8): POST /users/{user}/revoke, POST and DELETE
 * /users/{user}/ban.  A ban is written to PostgreSQL first (it outlives
 * Redis), then, as a revocation is, to Redis with its message on the
 * users control channel (ngx_chat_users_store()); the call is answered
 * once every host can know the change.
 */

#include "ngx_chat.h"
#include "ngx_chat_users_int.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_pg.h"

#include <jansson.h>


#define NGX_CHAT_USERS_JTI_TTL   86400       /* s, a jti without exp */


static ngx_chat_users_change_t *ngx_chat_api_users_change(
    ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
static ngx_int_t ngx_chat_api_users_query(ngx_chat_users_change_t *ch,
    const char *sql, int nparams, const char *const *values,
    const int *lengths);
static void ngx_chat_api_users_banned(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_api_users_submit(ngx_chat_users_change_t *ch,
    ngx_uint_t del);


static const char  ngx_chat_api_users_ban_sql[] =
    "insert into chat_user_bans (user_id, until, reason, by_user, at) "
    "values ($1, $2::bigint, $3, $4, $5::bigint) "
    "on conflict (user_id) do update set until = excluded.until, "
    "reason = excluded.reason, by_user = excluded.by_user, "
    "at = excluded.at";

static const char  ngx_chat_api_users_unban_sql[] =
    "delete from chat_user_bans where user_id = $1";


/* the change r asks for, answered through its op; NULL: an error */
static ngx_chat_users_change_t *
ngx_chat_api_users_change(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_chat_users_change_t  *ch;

    ch = ngx_calloc(sizeof(ngx_chat_users_change_t), r->connection->log);
    if (ch == NULL) {
        return NULL;
    }

    ch->op = ngx_chat_api_op(r, ctx, NULL, NGX_HTTP_NO_CONTENT);
    if (ch->op == NULL) {
        ngx_free(ch);
        return NULL;
    }

    ch->until = -1;

    return ch;
}


/*
 * POST /users/{user}/revoke, by the user or an admin: every token of the
 * user issued up to this second; with a body {"jti","exp"?}, only that
 * token (denied until its exp).
 */
ngx_int_t
ngx_chat_api_user_revoke(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    json_t                   *root, *jti, *exp;
    ngx_str_t                *user;
    long long                 until;
    ngx_chat_users_change_t  *ch;

    user = &ctx->user;

    if (!(ctx->auth.claims.roles & NGX_CHAT_ROLE_ADMIN)
        && (ngx_strlen(ctx->auth.claims.sub) != user->len
            || ngx_strncmp(ctx->auth.claims.sub, user->data, user->len)
               != 0))
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "only the user or an admin may revoke "
                                   "the user's tokens");
    }

    root = NULL;
    jti = NULL;
    until = 0;

    if (ctx->body.len) {
        root = json_loadb((char *) ctx->body.data, ctx->body.len,
                          JSON_REJECT_DUPLICATES, NULL);
        jti = root ? json_object_get(root, "jti") : NULL;
        exp = root ? json_object_get(root, "exp") : NULL;

        if (!json_is_object(root) || !json_is_string(jti)
            || json_string_length(jti) == 0
            || json_string_length(jti) > NGX_CHAT_JWT_JTI_MAX
            || (exp && (!json_is_integer(exp)
                        || json_integer_value(exp) <= 0)))
        {
            json_decref(root);
            return ngx_chat_http_error(r, "bad_request",
                                       "the body is {\"jti\",\"exp\"?}: "
                                       "a token id and its exp in s");
        }

        until = exp ? json_integer_value(exp)
                    : ngx_time() + NGX_CHAT_USERS_JTI_TTL;
    }

    ch = ngx_chat_api_users_change(r, ctx);
    if (ch == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (jti) {
        ch->until = (int64_t) until * 1000;
        ch->key_len = ngx_chat_users_jti_key(ch->key, "jti:",
                                             (char *) user->data,
                                             user->len,
                                             json_string_value(jti),
                                             json_string_length(jti));
        ch->value[0] = '1';
        ch->value_len = 1;
        ch->payload_len = ngx_sprintf(ch->payload, "J %V %*s", user,
                                      json_string_length(jti),
                                      json_string_value(jti))
                          - ch->payload;

    } else {
        ch->key_len = ngx_chat_redis_name(ch->key, "revoked:",
                                          (char *) user->data, user->len);
        ch->value_len = ngx_sprintf(ch->value, "%T", ngx_time())
                        - ch->value;
        ch->payload_len = ngx_sprintf(ch->payload, "R %V %*s", user,
                                      ch->value_len, ch->value)
                          - ch->payload;
    }

    json_decref(root);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "chat: \"%s\" revoked %s of user \"%V\"",
                  ctx->auth.claims.sub, jti ? "a token" : "the tokens",
                  user);

    ngx_chat_api_users_submit(ch, 0);

    return NGX_DONE;
}


/* POST /users/{user}/ban {"until"?,"reason"?}: admins only */
ngx_int_t
ngx_chat_api_user_ban(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    int                       lengths[5];
    json_t                   *root, *until, *reason;
    int64_t                   at;
    u_char                    ms[2][NGX_INT64_LEN];
    const char               *values[5];
    ngx_chat_users_change_t  *ch;

    if (!(ctx->auth.claims.roles & NGX_CHAT_ROLE_ADMIN)) {
        return ngx_chat_http_error(r, "forbidden",
                                   "only an admin may ban a user");
    }

    at = ngx_chat_now_ms();
    root = NULL;
    until = NULL;
    reason = NULL;

    if (r->method == NGX_HTTP_POST && ctx->body.len) {
        root = json_loadb((char *) ctx->body.data, ctx->body.len,
                          JSON_REJECT_DUPLICATES, NULL);
        until = root ? json_object_get(root, "until") : NULL;
        reason = root ? json_object_get(root, "reason") : NULL;

        if (!json_is_object(root)
            || (until && (!json_is_integer(until)
                          || json_integer_value(until) <= at))
            || (reason && (!json_is_string(reason)
                           || json_string_length(reason) > 1024)))
        {
            json_decref(root);
            return ngx_chat_http_error(r, "bad_request",
                                       "the body is {\"until\"?,"
                                       "\"reason\"?}: until in ms, in the "
                                       "future; a reason of at most 1024 "
                                       "bytes");
        }
    }

    ch = ngx_chat_api_users_change(r, ctx);
    if (ch == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (char *) ctx->user.data;
    lengths[0] = ctx->user.len;
    ch->key_len = ngx_chat_redis_name(ch->key, "uban:",
                                      (char *) ctx->user.data,
                                      ctx->user.len);

    if (r->method == NGX_HTTP_DELETE) {
        ch->payload_len = ngx_sprintf(ch->payload, "U %V", &ctx->user)
                          - ch->payload;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "chat: \"%s\" lifted the global ban of \"%V\"",
                      ctx->auth.claims.sub, &ctx->user);

        return ngx_chat_api_users_query(ch, ngx_chat_api_users_unban_sql,
                                        1, values, lengths);
    }

    ch->until = until ? (int64_t) json_integer_value(until) : 0;
    ch->value_len = ngx_sprintf(ch->value, "%L", ch->until) - ch->value;
    ch->payload_len = ngx_sprintf(ch->payload, "B %V %L", &ctx->user,
                                  ch->until)
                      - ch->payload;

    values[1] = until ? (char *) ms[0] : NULL;
    lengths[1] = until ? ngx_sprintf(ms[0], "%L", ch->until) - ms[0] : 0;
    values[2] = reason ? json_string_value(reason) : NULL;
    lengths[2] = reason ? json_string_length(reason) : 0;
    values[3] = ctx->auth.claims.sub;
    lengths[3] = ngx_strlen(ctx->auth.claims.sub);
    values[4] = (char *) ms[1];
    lengths[4] = ngx_sprintf(ms[1], "%L", at) - ms[1];

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "chat: \"%s\" banned \"%V\" globally until %s%*s",
                  ctx->auth.claims.sub, &ctx->user,
                  until ? "" : "lifted", (size_t) lengths[1], ms[0]);

    (void) ngx_chat_api_users_query(ch, ngx_chat_api_users_ban_sql, 5,
                                    values, lengths);
    json_decref(root);

    return NGX_DONE;
}


/* ch's statement; once stored, its change goes to Redis */
static ngx_int_t
ngx_chat_api_users_query(ngx_chat_users_change_t *ch, const char *sql,
    int nparams, const char *const *values, const int *lengths)
{
    if (ngx_chat_pg_query(sql, nparams, values, lengths,
                          ngx_chat_api_users_banned, ch)
        != NGX_OK)
    {
        ngx_chat_op_error(ch->op, "unavailable",
                          "the store is unavailable");
        ngx_free(ch);
    }

    return NGX_DONE;
}


static void
ngx_chat_api_users_banned(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_users_change_t  *ch = data;

    if (ngx_chat_op_result(ch->op, status, res) != NGX_OK) {
        ngx_free(ch);
        return;
    }

    ngx_chat_api_users_submit(ch, ch->value_len == 0);
}


/* the change to Redis; its op is answered once every host can know it */
static void
ngx_chat_api_users_submit(ngx_chat_users_change_t *ch, ngx_uint_t del)
{
    if (ngx_chat_worker.mcf->redis_port == 0
        || ngx_chat_users_store(ch, del) != NGX_OK)
    {
        ngx_chat_op_error(ch->op, "unavailable", "redis is unavailable");
        ngx_free(ch);
    }
}
