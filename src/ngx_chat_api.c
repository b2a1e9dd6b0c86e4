/*
 * The REST API under the location with "chat_api" (protocol.md section
 * 7): the route table, authentication, request bodies and query
 * arguments.  The calls themselves live in the files of their areas.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_http.h"
#include "ngx_chat_error.h"
#include "ngx_chat_store.h"
#include "ngx_chat_members.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_route.h"


#define NGX_CHAT_API_BODY_MAX   65536


static ngx_int_t ngx_chat_api_health(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);


/*
 * Every call: a path matched by several rows answers 405 with the
 * methods of all of them.
 */
static const ngx_chat_api_route_t  ngx_chat_api_routes[] = {

    { NGX_HTTP_GET|NGX_HTTP_HEAD, "health", ngx_chat_api_health,
      NGX_CHAT_API_PUBLIC },

    { NGX_HTTP_GET, "rooms", ngx_chat_api_rooms, 0 },
    { NGX_HTTP_POST, "rooms", ngx_chat_api_room_create, NGX_CHAT_API_BODY },
    { NGX_HTTP_GET, "rooms/{room}", ngx_chat_api_rooms, 0 },

    { NGX_HTTP_GET, "rooms/{room}/messages", ngx_chat_api_messages,
      NGX_CHAT_API_LOGGED },
    { NGX_HTTP_POST, "rooms/{room}/messages", ngx_chat_api_message_send,
      NGX_CHAT_API_BODY },

    { NGX_HTTP_POST, "rooms/{room}/read", ngx_chat_api_read,
      NGX_CHAT_API_BODY|NGX_CHAT_API_LOGGED },

    { NGX_HTTP_PATCH, "rooms/{room}/messages/{seq}", ngx_chat_api_message_edit,
      NGX_CHAT_API_BODY|NGX_CHAT_API_LOGGED },
    { NGX_HTTP_DELETE, "rooms/{room}/messages/{seq}",
      ngx_chat_api_message_delete, NGX_CHAT_API_LOGGED },
    { NGX_HTTP_GET, "search", ngx_chat_api_search, NGX_CHAT_API_LOGGED },

    /* direct messages, membership, moderation (ngx_chat_api_members.c) */
    { NGX_HTTP_POST, "dm/{user}", ngx_chat_api_dm, NGX_CHAT_API_LOGGED },
    { NGX_HTTP_PATCH, "rooms/{room}", ngx_chat_api_room_patch,
      NGX_CHAT_API_BODY|NGX_CHAT_API_LOGGED },
    { NGX_HTTP_GET, "rooms/{room}/members", ngx_chat_api_members,
      NGX_CHAT_API_LOGGED },
    { NGX_HTTP_PUT, "rooms/{room}/members/{user}", ngx_chat_api_member_put,
      NGX_CHAT_API_LOGGED },
    { NGX_HTTP_DELETE, "rooms/{room}/members/{user}",
      ngx_chat_api_member_delete, NGX_CHAT_API_LOGGED },
    { NGX_HTTP_POST|NGX_HTTP_DELETE, "rooms/{room}/bans/{user}",
      ngx_chat_api_ban, NGX_CHAT_API_LOGGED },
    { NGX_HTTP_POST|NGX_HTTP_DELETE, "rooms/{room}/mutes/{user}",
      ngx_chat_api_mute, NGX_CHAT_API_LOGGED },

    { NGX_HTTP_GET, "presence", ngx_chat_api_presence, 0 },

    { NGX_HTTP_POST, "users/{user}/revoke", ngx_chat_api_user_revoke, 0 },
    { NGX_HTTP_POST|NGX_HTTP_DELETE, "users/{user}/ban",
      ngx_chat_api_user_ban, 0 },

    /* accounts (ngx_chat_api_accounts.c) */
    { NGX_HTTP_POST, "auth/register", ngx_chat_api_auth_register,
      NGX_CHAT_API_ACCOUNTS|NGX_CHAT_API_PUBLIC|NGX_CHAT_API_BODY },
    { NGX_HTTP_POST, "auth/login", ngx_chat_api_auth_login,
      NGX_CHAT_API_ACCOUNTS|NGX_CHAT_API_PUBLIC|NGX_CHAT_API_BODY },
    { NGX_HTTP_POST, "auth/refresh", ngx_chat_api_auth_refresh,
      NGX_CHAT_API_ACCOUNTS|NGX_CHAT_API_PUBLIC|NGX_CHAT_API_BODY },
    { NGX_HTTP_POST, "auth/logout", ngx_chat_api_auth_logout,
      NGX_CHAT_API_ACCOUNTS },
};


/* the methods an Allow header names, in its order */
static struct {
    ngx_uint_t   method;
    const char  *name;
} ngx_chat_api_methods[] = {
    { NGX_HTTP_GET, "GET" },
    { NGX_HTTP_HEAD, "HEAD" },
    { NGX_HTTP_POST, "POST" },
    { NGX_HTTP_PUT, "PUT" },
    { NGX_HTTP_PATCH, "PATCH" },
    { NGX_HTTP_DELETE, "DELETE" },
};

#define NGX_CHAT_API_WITH_BODY  (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH)


static ngx_int_t ngx_chat_api_call(ngx_http_request_t *r);
static const ngx_chat_api_route_t *ngx_chat_api_route(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_uint_t *allowed);
static ngx_uint_t ngx_chat_api_match(const char *pattern, ngx_str_t *path,
    ngx_chat_api_ctx_t *ctx);
static const char *ngx_chat_api_captures(ngx_chat_api_ctx_t *ctx);
static char *ngx_chat_api_allow(ngx_http_request_t *r, ngx_uint_t allowed);
static ngx_int_t ngx_chat_api_preflight(ngx_http_request_t *r,
    const char *allow);
static ngx_int_t ngx_chat_api_refuse(ngx_http_request_t *r,
    const char *why);
static void ngx_chat_api_authed(ngx_chat_auth_t *a,
    ngx_chat_jwt_claims_t *claims);
static ngx_int_t ngx_chat_api_start(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static void ngx_chat_api_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_chat_api_body_take(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static void ngx_chat_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_chat_api_body_call(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);


ngx_int_t
ngx_chat_api_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_http_request_t  *prev;

    prev = ngx_chat_op_enter(r);
    rc = ngx_chat_api_call(r);
    ngx_chat_op_leave(prev);

    return rc;
}


static ngx_int_t
ngx_chat_api_call(ngx_http_request_t *r)
{
    char                        *allow;
    ngx_str_t                    token;
    ngx_uint_t                   allowed;
    const char                  *invalid;
    ngx_chat_api_ctx_t          *ctx;
    const ngx_chat_api_route_t  *rt;

    if (!ngx_chat_worker.active || r != r->main) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_chat_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rt = ngx_chat_api_route(r, ctx, &allowed);

    if (allowed == 0) {
        return ngx_chat_http_error(r, "not_found", "no such API call");
    }

    invalid = ngx_chat_api_captures(ctx);

    if (invalid) {
        return ngx_chat_http_error(r, "bad_request", invalid);
    }

    allow = ngx_chat_api_allow(r, allowed);
    if (allow == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_chat_api_preflight(r, allow);
    }

    if (rt == NULL) {
        if (ngx_chat_http_header_out(r, "Allow", allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_chat_http_error_status(r, NGX_HTTP_NOT_ALLOWED,
                                          "bad_request",
                                          "method not allowed");
    }

    ctx->route = rt;

    if (rt->flags & NGX_CHAT_API_PUBLIC) {
        /* no token; a body is read as for the others */
        ngx_http_set_ctx(r, ctx, ngx_chat_module);
        return ngx_chat_api_start(r, ctx);
    }

    if (ngx_chat_auth_bearer(r, &token) != NGX_OK) {
        return ngx_chat_api_refuse(r, "this call needs a Bearer token");
    }

    ctx->auth.handler = ngx_chat_api_authed;
    ctx->auth.data = r;
    ctx->auth.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_chat_module);

    if (ngx_chat_auth_check(&ctx->auth, token.data, token.len)
        == NGX_AGAIN)
    {
        ctx->waiting = 1;
        r->main->count++;
        return NGX_DONE;
    }

    return ctx->rc;
}


/*
 * The row for the path under the location and the request's method
 * (NULL: none has the method), with its captures in ctx; *allowed gets
 * the methods of every row the path matches.
 */
static const ngx_chat_api_route_t *
ngx_chat_api_route(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_uint_t *allowed)
{
    ngx_str_t                    path;
    ngx_uint_t                   i;
    ngx_chat_loc_conf_t         *lcf;
    ngx_http_core_loc_conf_t    *clcf;
    const ngx_chat_api_route_t  *rt, *first;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    *allowed = 0;
    rt = NULL;
    first = NULL;

    for (i = 0; i < sizeof(ngx_chat_api_routes) / sizeof(rt[0]); i++) {
        /* without chat_accounts, its calls are not there */
        if ((ngx_chat_api_routes[i].flags & NGX_CHAT_API_ACCOUNTS)
            && !lcf->accounts)
        {
            continue;
        }

        if (!ngx_chat_api_match(ngx_chat_api_routes[i].path, &path, ctx)) {
            continue;
        }

        *allowed |= ngx_chat_api_routes[i].methods;

        if (first == NULL) {
            first = &ngx_chat_api_routes[i];
        }

        if (rt == NULL && (r->method & ngx_chat_api_routes[i].methods)) {
            rt = &ngx_chat_api_routes[i];
        }
    }

    /* the captures of the row that answers */
    if (rt || first) {
        (void) ngx_chat_api_match((rt ? rt : first)->path, &path, ctx);
    }

    return rt;
}


/* 1 when path has the segments of pattern; its captures go to ctx */
static ngx_uint_t
ngx_chat_api_match(const char *pattern, ngx_str_t *path,
    ngx_chat_api_ctx_t *ctx)
{
    ngx_chat_route_caps_t  caps;

    ngx_str_null(&ctx->room);
    ngx_str_null(&ctx->user);
    ctx->seq = 0;

    if (!ngx_chat_route_match(pattern, (char *) path->data, path->len,
                              &caps))
    {
        return 0;
    }

    ctx->room.data = (u_char *) caps.room;
    ctx->room.len = caps.room_len;
    ctx->user.data = (u_char *) caps.user;
    ctx->user.len = caps.user_len;
    ctx->seq = caps.seq;

    return 1;
}


/* what is wrong with the path's captures, or NULL */
static const char *
ngx_chat_api_captures(ngx_chat_api_ctx_t *ctx)
{
    if (ctx->room.len
        && !ngx_chat_room_id_valid((char *) ctx->room.data, ctx->room.len))
    {
        return "invalid room id";
    }

    if (ctx->user.len
        && !ngx_chat_user_id_valid((char *) ctx->user.data, ctx->user.len))
    {
        return "invalid user id";
    }

    if (ctx->seq < 0) {
        return "seq must be an integer from 1";
    }

    return NULL;
}


/* the methods of allowed as an Allow header names them */
static char *
ngx_chat_api_allow(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char      *p, *allow;
    ngx_uint_t   i;

    allow = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE"));
    if (allow == NULL) {
        return NULL;
    }

    p = allow;

    for (i = 0; i < sizeof(ngx_chat_api_methods)
                    / sizeof(ngx_chat_api_methods[0]); i++)
    {
        if (!(allowed & ngx_chat_api_methods[i].method)) {
            continue;
        }

        if (p != allow) {
            p = ngx_cpymem(p, ", ", 2);
        }

        p = ngx_cpymem(p, ngx_chat_api_methods[i].name,
                       ngx_strlen(ngx_chat_api_methods[i].name));
    }

    *p = '\0';

    return (char *) allow;
}


static ngx_int_t
ngx_chat_api_refuse(ngx_http_request_t *r, const char *why)
{
    if (ngx_chat_http_header_out(r, "WWW-Authenticate", "Bearer") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chat_http_error(r, "unauthenticated", why);
}


static void
ngx_chat_api_authed(ngx_chat_auth_t *a, ngx_chat_jwt_claims_t *claims)
{
    ngx_http_request_t  *r = a->data;

    ngx_chat_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_module);

    if (claims) {
        ngx_chat_metrics_api_user(r, claims->sub);
        ngx_chat_known_seen(claims->sub, ngx_strlen(claims->sub),
                            claims->name, ngx_strlen(claims->name));
    }

    ctx->rc = claims ? ngx_chat_api_start(r, ctx)
              : a->banned ? ngx_chat_http_error(r, "forbidden",
                                                "the user is banned")
              : ngx_chat_api_refuse(r, "invalid token");

    if (ctx->waiting) {
        ngx_chat_http_finalize_foreign(r, ctx->rc);
    }
}


/* an authenticated call */
static ngx_int_t
ngx_chat_api_start(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_int_t             rc;
    ngx_str_t            *room;
    ngx_chat_loc_conf_t  *lcf;

    room = &ctx->room;

    if (room->len && ngx_chat_room_is_dm((char *) room->data, room->len)
        && !ngx_chat_dm_has_member((char *) room->data, room->len,
                                   ctx->auth.claims.sub,
                                   ngx_strlen(ctx->auth.claims.sub)))
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "not a member of this direct-message "
                                   "room");
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    /* history and cursors need stored messages */
    if ((ctx->route->flags & NGX_CHAT_API_LOGGED) && !lcf->store->logged) {
        return ngx_chat_http_error(r, "bad_request", NGX_CHAT_NOT_STORED);
    }

    if (!(r->method & NGX_CHAT_API_WITH_BODY)) {
        return ctx->route->call(r, ctx);
    }

    if (r->headers_in.content_length_n > NGX_CHAT_API_BODY_MAX) {
        return ngx_chat_http_error(r, "too_large", "the body is too large");
    }

    /*
     * unbuffered: the body comes into memory of its own, never into a
     * temporary file that would have to be read back with a blocking read
     */
    r->request_body_no_buffering = 1;

    rc = ngx_http_read_client_request_body(r, ngx_chat_api_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* an op that answers this call on behalf of its caller */
ngx_chat_op_t *
ngx_chat_api_op(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_str_t *room, ngx_uint_t status)
{
    return ngx_chat_op_rest(r, ctx->auth.claims.sub,
                            ngx_strlen(ctx->auth.claims.sub), room, status);
}


static ngx_int_t
ngx_chat_api_preflight(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t      *origin;
    ngx_chat_loc_conf_t  *lcf;

    origin = ngx_chat_http_header(r, "Origin", sizeof("Origin") - 1);
    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);

    if (origin != NULL
        && ngx_chat_http_origin_allowed(r, lcf, &origin->value) != NGX_OK)
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "origin not allowed");
    }

    if (ngx_chat_http_header_out(r, "Allow", allow) != NGX_OK
        || ngx_chat_http_header_out(r, "Access-Control-Allow-Methods",
                                    allow) != NGX_OK
        || ngx_chat_http_header_out(r, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type") != NGX_OK
        || ngx_chat_http_header_out(r, "Access-Control-Max-Age", "600")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chat_http_send(r, NGX_HTTP_NO_CONTENT, NULL);
}


static ngx_int_t
ngx_chat_api_health(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_int_t        rc;
    ngx_uint_t       redis, pg, ok;
    ngx_chat_json_t  j;

    redis = ngx_chat_redis_up();
    pg = ngx_chat_pg_up();
    ok = redis && pg;

    ngx_chat_json_init(&j, 96);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "status", ok ? "ok" : "unavailable",
                         ok ? 2 : 11);
    ngx_chat_json_kv_str(&j, "redis", redis ? "up" : "down",
                         redis ? 2 : 4);
    ngx_chat_json_kv_str(&j, "postgres", pg ? "up" : "down", pg ? 2 : 4);
    ngx_chat_json_end(&j);
    ngx_chat_json_char(&j, '\n');

    rc = ngx_chat_http_send(r, ok ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE,
                            &j);
    ngx_chat_json_free(&j);

    return rc;
}


/*
 * Reads a POST body as it comes, in memory, up to NGX_CHAT_API_BODY_MAX
 * bytes (chunked bodies included), then runs the call.
 */
static void
ngx_chat_api_body_read(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_chat_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_module);

    for ( ;; ) {
        rc = ngx_chat_api_body_take(r, ctx);

        if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            ngx_http_finalize_request(r,
                ngx_chat_http_error(r, "too_large",
                                    "the body is too large"));
            return;
        }

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (!r->reading_body) {
            r->read_event_handler = ngx_http_block_reading;
            ngx_chat_api_body(r);
            return;
        }

        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (rc == NGX_AGAIN && r->request_body->bufs == NULL) {
            /* nothing new: wait for the client */
            r->read_event_handler = ngx_chat_api_body_read;
            return;
        }
    }
}


/* moves what nginx read of the body into ctx->body */
static ngx_int_t
ngx_chat_api_body_take(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "chat: a request body in a file");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = b->last - b->pos;

        if (n == 0) {
            continue;
        }

        if (ctx->body.data == NULL) {
            /* a chunked body counts its length as it comes */
            ctx->body_size = r->headers_in.chunked
                             ? NGX_CHAT_API_BODY_MAX
                             : (size_t) r->headers_in.content_length_n;

            ctx->body.data = ngx_pnalloc(r->pool, ctx->body_size);
            if (ctx->body.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (n > ctx->body_size - ctx->body.len) {
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        ctx->body.len = ngx_cpymem(ctx->body.data + ctx->body.len, b->pos, n)
                        - ctx->body.data;
        b->pos = b->last;
    }

    r->request_body->bufs = NULL;

    return NGX_OK;
}

/* the body is in: run the call */
static void
ngx_chat_api_body(ngx_http_request_t *r)
{
    ngx_http_request_t  *prev;
    ngx_chat_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_module);

    prev = ngx_chat_op_enter(r);
    ngx_http_finalize_request(r, ngx_chat_api_body_call(r, ctx));
    ngx_chat_op_leave(prev);
}


static ngx_int_t
ngx_chat_api_body_call(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    if (ctx->body.len == 0 && (ctx->route->flags & NGX_CHAT_API_BODY)) {
        return ngx_chat_http_error(r, "bad_request", "a JSON body is needed");
    }

    return ctx->route->call(r, ctx);
}



ngx_uint_t
ngx_chat_api_has_arg(ngx_http_request_t *r, const char *name)
{
    size_t       len;
    const char  *v;

    return ngx_chat_query_arg((char *) r->args.data, r->args.len, name,
                              ngx_strlen(name), &v, &len);
}


/* an optional integer query argument: absent leaves *value as it is */
ngx_int_t
ngx_chat_api_arg(ngx_http_request_t *r, const char *name, int64_t min,
    int64_t max, int64_t *value)
{
    ngx_str_t    v;
    const char  *p;

    if (!ngx_chat_query_arg((char *) r->args.data, r->args.len, name,
                            ngx_strlen(name), &p, &v.len))
    {
        return NGX_OK;
    }

    v.data = (u_char *) p;

    if (ngx_chat_api_unescape(r, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_chat_parse_int((char *) v.data, v.len, min, max, value) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a query argument's value, percent-decoded; a malformed escape is an error */
ngx_int_t
ngx_chat_api_unescape(ngx_http_request_t *r, ngx_str_t *v)
{
    u_char  *d;

    if (ngx_strlchr(v->data, v->data + v->len, '%') == NULL) {
        return NGX_OK;
    }

    d = ngx_pnalloc(r->pool, v->len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    if (ngx_chat_unescape((char *) v->data, v->len, (char *) d, &v->len)
        != 0)
    {
        return NGX_ERROR;
    }

    v->data = d;

    return NGX_OK;
}
