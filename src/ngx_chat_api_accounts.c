/*
 * The REST calls of accounts (protocol.md section 10), under the location
 * of chat_api when chat_accounts is on (404 otherwise): POST
 * /auth/register, /auth/login and /auth/refresh (no token needed) and
 * POST /auth/logout (Bearer).  Their bodies are checked here; the work is
 * done by ngx_chat_accounts.c.  Passwords go to PostgreSQL as statement
 * parameters and nowhere else: never into a log line.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_accounts.h"

#include <jansson.h>


/* the members a body may have */
#define NGX_CHAT_API_ACCOUNTS_USER      0x01
#define NGX_CHAT_API_ACCOUNTS_PASSWORD  0x02
#define NGX_CHAT_API_ACCOUNTS_NAME      0x04
#define NGX_CHAT_API_ACCOUNTS_REFRESH   0x08


typedef void (*ngx_chat_api_accounts_pt)(ngx_chat_op_t *op,
    ngx_chat_accounts_req_t *req);


static const char *ngx_chat_api_accounts_body(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_uint_t members, size_t password_min,
    ngx_chat_accounts_req_t *req);
static const char *ngx_chat_api_accounts_string(ngx_http_request_t *r,
    json_t *root, const char *name, size_t min, size_t max);
static ngx_int_t ngx_chat_api_accounts_call(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_uint_t members, size_t password_min,
    ngx_uint_t status, ngx_chat_api_accounts_pt run);


/* POST /auth/register {"user","password","name"?}: 201 {"user"} */
ngx_int_t
ngx_chat_api_auth_register(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    return ngx_chat_api_accounts_call(r, ctx, NGX_CHAT_API_ACCOUNTS_USER
                                              |NGX_CHAT_API_ACCOUNTS_PASSWORD
                                              |NGX_CHAT_API_ACCOUNTS_NAME,
                                      NGX_CHAT_ACCOUNTS_PASSWORD_MIN,
                                      NGX_HTTP_CREATED,
                                      ngx_chat_accounts_register);
}


/* POST /auth/login {"user","password"}; any length once allowed is tried */
ngx_int_t
ngx_chat_api_auth_login(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    return ngx_chat_api_accounts_call(r, ctx, NGX_CHAT_API_ACCOUNTS_USER
                                              |NGX_CHAT_API_ACCOUNTS_PASSWORD,
                                      1, NGX_HTTP_OK,
                                      ngx_chat_accounts_login);
}


/* POST /auth/refresh {"refresh_token"} */
ngx_int_t
ngx_chat_api_auth_refresh(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    return ngx_chat_api_accounts_call(r, ctx, NGX_CHAT_API_ACCOUNTS_REFRESH,
                                      0, NGX_HTTP_OK,
                                      ngx_chat_accounts_refresh);
}


/*
 * A public call: its body checked, then done by "run" through an op
 * answering with status, named after the user it is about (if any)
 */
static ngx_int_t
ngx_chat_api_accounts_call(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_uint_t members, size_t password_min, ngx_uint_t status,
    ngx_chat_api_accounts_pt run)
{
    const char               *bad, *user;
    ngx_chat_op_t            *op;
    ngx_chat_accounts_req_t   req;

    bad = ngx_chat_api_accounts_body(r, ctx, members, password_min, &req);
    if (bad) {
        return ngx_chat_http_error(r, "bad_request", bad);
    }

    user = req.user ? req.user : "";

    op = ngx_chat_op_rest(r, user, ngx_strlen(user), NULL, status);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    run(op, &req);

    return NGX_DONE;
}


/* POST /auth/logout, with the Bearer token of a session: 204 */
ngx_int_t
ngx_chat_api_auth_logout(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_chat_op_t            *op;
    ngx_chat_accounts_req_t   req;

    if (ctx->auth.claims.sid[0] == '\0') {
        return ngx_chat_http_error(r, "bad_request",
                                   "this token has no session (sid): only "
                                   "tokens of /auth/login log out");
    }

    ngx_memzero(&req, sizeof(ngx_chat_accounts_req_t));
    req.sid = ctx->auth.claims.sid;

    op = ngx_chat_api_op(r, ctx, NULL, NGX_HTTP_NO_CONTENT);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_chat_accounts_logout(op, &req);

    return NGX_DONE;
}


/*
 * The body's members into req (copies in r's pool): NULL, or what is
 * wrong with it.  Other members are ignored.
 */
static const char *
ngx_chat_api_accounts_body(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_uint_t members, size_t password_min, ngx_chat_accounts_req_t *req)
{
    json_t      *root;
    const char  *bad;

    ngx_memzero(req, sizeof(ngx_chat_accounts_req_t));
    req->addr = r->connection->addr_text;

    /* strings with a NUL are refused by jansson itself */
    root = json_loadb((char *) ctx->body.data, ctx->body.len,
                      JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(root)) {
        json_decref(root);
        return "the body must be a JSON object";
    }

    bad = NULL;

    if (members & NGX_CHAT_API_ACCOUNTS_USER) {
        req->user = ngx_chat_api_accounts_string(r, root, "user", 1,
                                                 NGX_CHAT_USER_ID_MAX);

        if (req->user == NULL
            || !ngx_chat_user_id_valid(req->user, ngx_strlen(req->user)))
        {
            bad = "\"user\" must be a user id: 1 to 64 bytes of "
                  "[A-Za-z0-9_.@-]";
            goto done;
        }
    }

    if (members & NGX_CHAT_API_ACCOUNTS_PASSWORD) {
        req->password = ngx_chat_api_accounts_string(r, root, "password",
                                              password_min,
                                              NGX_CHAT_ACCOUNTS_PASSWORD_MAX);
        if (req->password == NULL) {
            bad = (password_min > 1)
                  ? "\"password\" must be a string of 8 to 1024 bytes"
                  : "\"password\" must be a string of 1 to 1024 bytes";
            goto done;
        }
    }

    if ((members & NGX_CHAT_API_ACCOUNTS_NAME)
        && json_object_get(root, "name") != NULL
        && !json_is_null(json_object_get(root, "name")))
    {
        req->name = ngx_chat_api_accounts_string(r, root, "name", 1,
                                                 NGX_CHAT_JWT_NAME_MAX);
        if (req->name == NULL) {
            bad = "\"name\" must be a string of 1 to 128 bytes";
            goto done;
        }
    }

    if (members & NGX_CHAT_API_ACCOUNTS_REFRESH) {
        req->refresh = ngx_chat_api_accounts_string(r, root, "refresh_token",
                                            1,
                                            NGX_CHAT_ACCOUNTS_REFRESH_MAX);
        if (req->refresh == NULL) {
            bad = "\"refresh_token\" must be a string of 1 to 256 bytes";
        }
    }

done:

    json_decref(root);

    return bad;
}


/* a string member of min to max bytes, copied NUL-terminated; or NULL */
static const char *
ngx_chat_api_accounts_string(ngx_http_request_t *r, json_t *root,
    const char *name, size_t min, size_t max)
{
    u_char  *p;
    size_t   n;
    json_t  *v;

    v = json_object_get(root, name);

    if (!json_is_string(v)) {
        return NULL;
    }

    n = json_string_length(v);

    if (n < min || n > max) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, n + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, json_string_value(v), n + 1);

    return (char *) p;
}
