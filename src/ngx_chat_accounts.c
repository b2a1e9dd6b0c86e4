/*
 * Accounts (protocol.md section 10): registration, login, refresh and
 * logout, each one statement of sql/012 in PostgreSQL, which hashes
 * passwords (bcrypt, never in a worker), keeps sessions and refresh
 * tokens (as hashes), and counts login attempts for the whole cluster.
 *
 * The worker signs access tokens with chat_accounts_key (HS256, RS256 or
 * ES256; cheap, but about a millisecond for RS256): sub, name, roles,
 * iat, exp, jti ("<session>.<generation>"), sid (the session) and
 * iss/aud when chat_jwt_issuer/audience are set.  A session
 * that ends (logout, or a spent refresh token presented again) is denied
 * in Redis ("<prefix>sid:<user> <sha1 of sid>", checked with the other
 * revocations, until the last access token it issued has expired) and
 * announced on the users control channel, which closes the connections
 * using its tokens on every host with 4001 (ngx_chat_users.c).
 */

#include "ngx_chat.h"
#include "ngx_chat_accounts.h"
#include "ngx_chat_users_int.h"
#include "ngx_chat_metrics.h"


/* room for the numbers of a statement's parameters */
typedef struct {
    u_char                      n[6][NGX_INT64_LEN];
} ngx_chat_accounts_num_t;


/* a logout waiting for its statement */
typedef struct {
    ngx_chat_op_t              *op;
    u_char                      sid[NGX_CHAT_JWT_JTI_MAX + 1];
} ngx_chat_accounts_logout_t;


static void ngx_chat_accounts_params(ngx_chat_accounts_req_t *req,
    const char **values, int *lengths, ngx_chat_accounts_num_t *num);
static void ngx_chat_accounts_registered(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_accounts_logged_in(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_accounts_refreshed(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_accounts_ended(void *data, PGresult *res,
    ngx_uint_t status);
static ngx_int_t ngx_chat_accounts_refused(ngx_chat_op_t *op,
    PGresult *res, ngx_uint_t status);
static void ngx_chat_accounts_issue(ngx_chat_op_t *op, PGresult *res);
static void ngx_chat_accounts_end(ngx_chat_op_t *op, const char *user,
    const char *sid, const char *refusal);
static const char *ngx_chat_accounts_value(PGresult *res, int col);
static void ngx_chat_accounts_log_user(ngx_chat_op_t *op, const char *user);


static const char  ngx_chat_accounts_register_sql[] =
    "select status, retry_after from chat_account_register("
    "$1, $2, $7, $3::integer, $4, $5::bigint, $6::bigint)";

static const char  ngx_chat_accounts_login_sql[] =
    "select status, retry_after, session_id, generation, refresh_token, "
    "name, roles, $1::text from chat_account_login($1, $2, $3::integer, $4, "
    "$7::bigint, $8::bigint, $5::bigint, $6::bigint, $9::bigint)";

static const char  ngx_chat_accounts_refresh_sql[] =
    "select status, 0, session_id, generation, refresh_token, name, roles, "
    "user_id from chat_account_refresh($1, $2::bigint)";

static const char  ngx_chat_accounts_logout_sql[] =
    "select chat_account_logout($1, $2)";


#define NGX_CHAT_ACCOUNTS_BAD_LOGIN    "wrong user or password"
#define NGX_CHAT_ACCOUNTS_BAD_REFRESH  "invalid refresh token"
#define NGX_CHAT_ACCOUNTS_REUSED                                             \
    "refresh token already used: the session is revoked"

/* the columns of a login's or a refresh's row */
#define NGX_CHAT_ACCOUNTS_STATUS   0
#define NGX_CHAT_ACCOUNTS_RETRY    1
#define NGX_CHAT_ACCOUNTS_SID      2
#define NGX_CHAT_ACCOUNTS_GEN      3
#define NGX_CHAT_ACCOUNTS_REFRESH  4
#define NGX_CHAT_ACCOUNTS_NAME     5
#define NGX_CHAT_ACCOUNTS_ROLES    6
#define NGX_CHAT_ACCOUNTS_USER     7


void
ngx_chat_accounts_register(ngx_chat_op_t *op, ngx_chat_accounts_req_t *req)
{
    int                      lengths[7];
    const char              *values[7];
    ngx_chat_accounts_num_t  num;

    ngx_chat_accounts_params(req, values, lengths, &num);

    values[6] = req->name;
    lengths[6] = req->name ? ngx_strlen(req->name) : 0;

    ngx_chat_op_query(op, ngx_chat_accounts_register_sql, 7, values, lengths,
                      ngx_chat_accounts_registered);
}


static void
ngx_chat_accounts_registered(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t  *op = data;

    ngx_chat_json_t  j;

    if (ngx_chat_accounts_refused(op, res, status) != NGX_OK) {
        return;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_STATUS), "ok") != 0) {
        ngx_chat_op_error(op, "conflict", "this user id is taken");
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, op->http->connection->log, 0,
                  "chat: account \"%s\" registered", op->user);

    ngx_chat_accounts_log_user(op, op->user);

    ngx_chat_json_init(&j, 96);
    ngx_chat_json_kv_str(&j, "user", op->user, op->user_len);
    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}


void
ngx_chat_accounts_login(ngx_chat_op_t *op, ngx_chat_accounts_req_t *req)
{
    int                      lengths[9];
    const char              *values[9];
    ngx_chat_main_conf_t    *mcf;
    ngx_chat_accounts_num_t  num;

    mcf = ngx_chat_worker.mcf;

    ngx_chat_accounts_params(req, values, lengths, &num);

    values[6] = (char *) num.n[3];
    lengths[6] = ngx_sprintf(num.n[3], "%uL",
                             mcf->accounts_login_rate.interval) - num.n[3];
    values[7] = (char *) num.n[4];
    lengths[7] = ngx_sprintf(num.n[4], "%uL", mcf->accounts_login_rate.burst)
                 - num.n[4];
    values[8] = (char *) num.n[5];
    lengths[8] = ngx_sprintf(num.n[5], "%T", mcf->accounts_refresh_ttl)
                 - num.n[5];

    ngx_chat_op_query(op, ngx_chat_accounts_login_sql, 9, values, lengths,
                      ngx_chat_accounts_logged_in);
}


/*
 * $1 to $6 of a registration or a login: the user, the password, the
 * bcrypt cost, the client's address and the address's rate
 */
static void
ngx_chat_accounts_params(ngx_chat_accounts_req_t *req, const char **values,
    int *lengths, ngx_chat_accounts_num_t *num)
{
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    values[0] = req->user;
    lengths[0] = ngx_strlen(req->user);
    values[1] = req->password;
    lengths[1] = ngx_strlen(req->password);
    values[2] = (char *) num->n[0];
    lengths[2] = ngx_sprintf(num->n[0], "%ui", mcf->accounts_cost)
                 - num->n[0];
    values[3] = (char *) req->addr.data;
    lengths[3] = req->addr.len;
    values[4] = (char *) num->n[1];
    lengths[4] = ngx_sprintf(num->n[1], "%uL",
                             mcf->accounts_address_rate.interval)
                 - num->n[1];
    values[5] = (char *) num->n[2];
    lengths[5] = ngx_sprintf(num->n[2], "%uL",
                             mcf->accounts_address_rate.burst)
                 - num->n[2];
}


static void
ngx_chat_accounts_logged_in(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t  *op = data;

    if (ngx_chat_accounts_refused(op, res, status) != NGX_OK) {
        return;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_STATUS), "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, op->http->connection->log, 0,
                      "chat: login of \"%s\" refused", op->user);
        ngx_chat_op_error(op, "unauthenticated",
                          NGX_CHAT_ACCOUNTS_BAD_LOGIN);
        return;
    }

    ngx_chat_accounts_issue(op, res);
}


void
ngx_chat_accounts_refresh(ngx_chat_op_t *op, ngx_chat_accounts_req_t *req)
{
    int          lengths[2];
    u_char       ttl[NGX_INT64_LEN];
    const char  *values[2];

    values[0] = req->refresh;
    lengths[0] = ngx_strlen(req->refresh);
    values[1] = (char *) ttl;
    lengths[1] = ngx_sprintf(ttl, "%T",
                             ngx_chat_worker.mcf->accounts_refresh_ttl)
                 - ttl;

    ngx_chat_op_query(op, ngx_chat_accounts_refresh_sql, 2, values, lengths,
                      ngx_chat_accounts_refreshed);
}


static void
ngx_chat_accounts_refreshed(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t  *op = data;

    const char  *st;

    if (ngx_chat_accounts_refused(op, res, status) != NGX_OK) {
        return;
    }

    st = PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_STATUS);

    if (ngx_strcmp(st, "ok") == 0) {
        ngx_chat_accounts_issue(op, res);
        return;
    }

    if (ngx_strcmp(st, "reused") == 0) {
        ngx_log_error(NGX_LOG_WARN, op->http->connection->log, 0,
                      "chat: a spent refresh token of \"%s\" presented "
                      "again: session revoked",
                      PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_USER));

        ngx_chat_accounts_end(op, PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_USER),
                              PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_SID),
                              NGX_CHAT_ACCOUNTS_REUSED);
        return;
    }

    ngx_chat_op_error(op, "unauthenticated", NGX_CHAT_ACCOUNTS_BAD_REFRESH);
}


void
ngx_chat_accounts_logout(ngx_chat_op_t *op, ngx_chat_accounts_req_t *req)
{
    int                          lengths[2];
    const char                  *values[2];
    ngx_chat_accounts_logout_t  *lo;

    lo = ngx_alloc(sizeof(ngx_chat_accounts_logout_t), ngx_chat_worker.log);
    if (lo == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    lo->op = op;
    ngx_cpystrn(lo->sid, (u_char *) req->sid, sizeof(lo->sid));

    values[0] = op->user;
    lengths[0] = op->user_len;
    values[1] = (char *) lo->sid;
    lengths[1] = ngx_strlen(lo->sid);

    if (ngx_chat_pg_query(ngx_chat_accounts_logout_sql, 2, values, lengths,
                          ngx_chat_accounts_ended, lo)
        != NGX_OK)
    {
        ngx_free(lo);
        ngx_chat_op_failed(op, NGX_CHAT_PG_UNAVAILABLE, NULL);
    }
}


static void
ngx_chat_accounts_ended(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_accounts_logout_t  *lo = data;

    ngx_chat_op_t  *op;

    op = lo->op;

    if (ngx_chat_op_result(op, status, res) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, op->http->connection->log, 0,
                      "chat: \"%s\" logged out", op->user);

        ngx_chat_accounts_end(op, op->user, (char *) lo->sid, NULL);
    }

    ngx_free(lo);
}


/*
 * NGX_OK: the statement answered a row for op, whose status is neither
 * an error nor rate_limited; otherwise op is answered (or freed) here.
 */
static ngx_int_t
ngx_chat_accounts_refused(ngx_chat_op_t *op, PGresult *res,
    ngx_uint_t status)
{
    const char  *retry;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (PQntuples(res) != 1) {
        ngx_chat_op_error(op, "internal", "the request could not be served");
        return NGX_DECLINED;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_STATUS),
                   "rate_limited")
        == 0)
    {
        retry = PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_RETRY);
        op->retry_after = ngx_max(ngx_atoi((u_char *) retry,
                                           ngx_strlen(retry)), 1);

        ngx_log_error(NGX_LOG_INFO, op->http->connection->log, 0,
                      "chat: accounts: too many attempts for \"%s\" or "
                      "from %V", op->user, &op->http->connection->addr_text);

        ngx_chat_op_error(op, "rate_limited",
                          "too many attempts: try again later");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the tokens of a session's row: 200 {access_token, expires_at, ...} */
static void
ngx_chat_accounts_issue(ngx_chat_op_t *op, PGresult *res)
{
    char                  *token;
    u_char                 jti[NGX_CHAT_JWT_JTI_MAX + NGX_INT64_LEN + 2];
    const char            *err, *refresh;
    ngx_chat_json_t        j;
    ngx_chat_jwt_spec_t    spec;
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    ngx_memzero(&spec, sizeof(ngx_chat_jwt_spec_t));

    spec.sub = ngx_chat_accounts_value(res, NGX_CHAT_ACCOUNTS_USER);
    spec.sid = ngx_chat_accounts_value(res, NGX_CHAT_ACCOUNTS_SID);
    spec.name = ngx_chat_accounts_value(res, NGX_CHAT_ACCOUNTS_NAME);
    spec.roles = ngx_chat_accounts_value(res, NGX_CHAT_ACCOUNTS_ROLES);
    spec.iss = mcf->jwt.iss;
    spec.aud = mcf->jwt.aud;
    spec.iat = ngx_time();
    spec.set_iat = 1;
    spec.exp = spec.iat + mcf->accounts_access_ttl;
    spec.set_exp = 1;

    refresh = ngx_chat_accounts_value(res, NGX_CHAT_ACCOUNTS_REFRESH);

    if (spec.sub == NULL || spec.sid == NULL || refresh == NULL
        || ngx_strlen(spec.sid) > NGX_CHAT_JWT_JTI_MAX)
    {
        ngx_chat_op_error(op, "internal", "the request could not be served");
        return;
    }

    *ngx_sprintf(jti, "%s.%s", spec.sid,
                 PQgetvalue(res, 0, NGX_CHAT_ACCOUNTS_GEN)) = '\0';
    spec.jti = (char *) jti;

    if (spec.roles && spec.roles[0] == '\0') {
        spec.roles = NULL;
    }

    token = ngx_chat_jwt_sign(mcf->accounts_key.alg, mcf->accounts_key.key,
                              mcf->accounts_key.key_len, &spec, &err);
    if (token == NULL) {
        ngx_log_error(NGX_LOG_ALERT, op->http->connection->log, 0,
                      "chat: accounts: token not signed: %s", err);
        ngx_chat_op_error(op, "internal", "the request could not be served");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, op->http->connection->log, 0,
                  "chat: tokens issued to \"%s\" (session %s)", spec.sub,
                  jti);

    ngx_chat_accounts_log_user(op, spec.sub);

    ngx_chat_json_init(&j, 256 + ngx_strlen(token));
    ngx_chat_json_kv_str(&j, "access_token", token, ngx_strlen(token));
    ngx_chat_json_kv_int(&j, "expires_at", spec.exp);
    ngx_chat_json_kv_str(&j, "refresh_token", refresh, ngx_strlen(refresh));

    free(token);

    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}


/*
 * The session sid of user ends on every host: denied in Redis until its
 * last access token has expired, and announced.  op is answered once
 * that is done: with its own status, or 401 with refusal if given.
 */
static void
ngx_chat_accounts_end(ngx_chat_op_t *op, const char *user, const char *sid,
    const char *refusal)
{
    size_t                    len, sid_len;
    ngx_chat_main_conf_t     *mcf;
    ngx_chat_users_change_t  *ch;

    mcf = ngx_chat_worker.mcf;
    len = ngx_strlen(user);
    sid_len = ngx_strlen(sid);

    ch = ngx_calloc(sizeof(ngx_chat_users_change_t), ngx_chat_worker.log);
    if (ch == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    ch->op = op;
    ch->refusal = refusal;
    ch->until = (ngx_chat_now_ms() / 1000 + mcf->accounts_access_ttl
                 + NGX_CHAT_JWT_LEEWAY) * 1000;
    ch->key_len = ngx_chat_users_jti_key(ch->key, "sid:", user, len, sid,
                                         sid_len);
    ch->value[0] = '1';
    ch->value_len = 1;
    ch->payload_len = ngx_snprintf(ch->payload, sizeof(ch->payload),
                                   "S %*s %*s", len, user, sid_len, sid)
                      - ch->payload;

    if (mcf->redis_port == 0 || ngx_chat_users_store(ch, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                      "chat: session of \"%s\" ended in postgresql only: "
                      "redis is unavailable", user);
        ngx_free(ch);

        if (refusal) {
            ngx_chat_op_error(op, "unauthenticated", refusal);

        } else {
            ngx_chat_op_error(op, "unavailable", "redis is unavailable");
        }
    }
}


/* a column of the first row, NULL when null */
static const char *
ngx_chat_accounts_value(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}


/*
 * $chat_user of a call that authenticated by password or refresh token:
 * a copy, since the result it comes from is freed before the log phase
 */
static void
ngx_chat_accounts_log_user(ngx_chat_op_t *op, const char *user)
{
    size_t   len;
    u_char  *copy;

    if (op->http == NULL) {
        return;
    }

    len = ngx_strlen(user);

    copy = ngx_pnalloc(op->http->pool, len + 1);
    if (copy == NULL) {
        return;
    }

    *ngx_cpymem(copy, user, len) = '\0';

    ngx_chat_metrics_api_user(op->http, (const char *) copy);
}
