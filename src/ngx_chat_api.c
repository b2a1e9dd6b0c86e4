/*
 * The REST API under the location with "chat_api" (protocol.md section
 * 7): routing, authentication, request bodies, and the calls that share
 * their work with the WebSocket requests.
 */

#include "ngx_chat.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_http.h"
#include "ngx_chat_auth.h"
#include "ngx_chat_error.h"
#include "ngx_chat_op.h"
#include "ngx_chat_store.h"
#include "ngx_chat_sql.h"

#include <jansson.h>


#define NGX_CHAT_API_BODY_MAX   65536

#define NGX_CHAT_API_HEALTH     1
#define NGX_CHAT_API_ROOMS      2       /* /rooms */
#define NGX_CHAT_API_ROOM       3       /* /rooms/{room} */
#define NGX_CHAT_API_MESSAGES   4       /* /rooms/{room}/messages */
#define NGX_CHAT_API_READ       5       /* /rooms/{room}/read */


typedef struct {
    ngx_uint_t              route;
    ngx_str_t               room;
    ngx_chat_auth_t         auth;       /* auth.claims: the caller's */
    ngx_int_t               rc;         /* the call's, once authenticated */
    unsigned                waiting:1;  /* for the token check */
    ngx_str_t               body;       /* as read so far */
    size_t                  body_size;
} ngx_chat_api_ctx_t;


typedef struct {
    ngx_uint_t              route;
    ngx_uint_t              methods;
    const char             *allow;
} ngx_chat_api_route_t;


static ngx_chat_api_route_t  ngx_chat_api_routes[] = {
    { NGX_CHAT_API_HEALTH, NGX_HTTP_GET|NGX_HTTP_HEAD, "GET, HEAD" },
    { NGX_CHAT_API_ROOMS, NGX_HTTP_GET|NGX_HTTP_POST, "GET, POST" },
    { NGX_CHAT_API_ROOM, NGX_HTTP_GET, "GET" },
    { NGX_CHAT_API_MESSAGES, NGX_HTTP_GET|NGX_HTTP_POST, "GET, POST" },
    { NGX_CHAT_API_READ, NGX_HTTP_POST, "POST" },
};


static ngx_int_t ngx_chat_api_call(ngx_http_request_t *r);
static ngx_uint_t ngx_chat_api_route(ngx_http_request_t *r, ngx_str_t *room);
static ngx_int_t ngx_chat_api_preflight(ngx_http_request_t *r,
    ngx_chat_api_route_t *rt);
static ngx_int_t ngx_chat_api_health(ngx_http_request_t *r);
static ngx_int_t ngx_chat_api_refuse(ngx_http_request_t *r,
    const char *why);
static void ngx_chat_api_authed(ngx_chat_auth_t *a,
    ngx_chat_jwt_claims_t *claims);
static ngx_int_t ngx_chat_api_start(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static ngx_chat_op_t *ngx_chat_api_op(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_str_t *room, ngx_uint_t status);
static void ngx_chat_api_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_chat_api_body_take(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static void ngx_chat_api_body(ngx_http_request_t *r);
static void ngx_chat_api_body_call(ngx_http_request_t *r);
static ngx_int_t ngx_chat_api_messages(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static ngx_uint_t ngx_chat_api_has_arg(ngx_http_request_t *r,
    const char *name);
static ngx_int_t ngx_chat_api_arg(ngx_http_request_t *r, const char *name,
    int64_t min, int64_t max, int64_t *value);
static ngx_int_t ngx_chat_api_unescape(ngx_http_request_t *r, ngx_str_t *v);
static ngx_int_t ngx_chat_api_rooms(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx);
static ngx_int_t ngx_chat_api_create(ngx_http_request_t *r,
    ngx_chat_api_ctx_t *ctx, ngx_str_t *body);
static void ngx_chat_api_rooms_done(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_api_room_json(ngx_chat_json_t *j, PGresult *res,
    int row, ngx_uint_t object);


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
    ngx_str_t              room, token;
    ngx_uint_t             route, i;
    ngx_chat_api_ctx_t    *ctx;
    ngx_chat_api_route_t  *rt;

    if (!ngx_chat_worker.active || r != r->main) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    route = ngx_chat_api_route(r, &room);

    if (route == 0) {
        return ngx_chat_http_error(r, "not_found",
                                   "no such API call");
    }

    if (room.len && !ngx_chat_room_id_valid((char *) room.data, room.len)) {
        return ngx_chat_http_error(r, "bad_request",
                                   "invalid room id");
    }

    rt = NULL;

    for (i = 0; i < sizeof(ngx_chat_api_routes) / sizeof(rt[0]); i++) {
        if (ngx_chat_api_routes[i].route == route) {
            rt = &ngx_chat_api_routes[i];
            break;
        }
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_chat_api_preflight(r, rt);
    }

    if (!(r->method & rt->methods)) {
        if (ngx_chat_http_header_out(r, "Allow", rt->allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_chat_http_error_status(r, NGX_HTTP_NOT_ALLOWED,
                                          "bad_request",
                                          "method not allowed");
    }

    if (route == NGX_CHAT_API_HEALTH) {
        return ngx_chat_api_health(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_chat_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = route;
    ctx->room = room;

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

    ctx->rc = claims ? ngx_chat_api_start(r, ctx)
                     : ngx_chat_api_refuse(r, "invalid token");

    if (ctx->waiting) {
        ngx_http_finalize_request(r, ctx->rc);
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
    if (!lcf->store->logged
        && (ctx->route == NGX_CHAT_API_READ
            || (ctx->route == NGX_CHAT_API_MESSAGES
                && r->method != NGX_HTTP_POST)))
    {
        return ngx_chat_http_error(r, "bad_request", NGX_CHAT_NOT_STORED);
    }

    if (r->method == NGX_HTTP_POST) {
        if (r->headers_in.content_length_n > NGX_CHAT_API_BODY_MAX) {
            return ngx_chat_http_error(r, "too_large",
                                       "the body is too large");
        }

        /*
         * unbuffered: the body comes into memory of its own, never into a
         * temporary file that would have to be read back with a blocking
         * read
         */
        r->request_body_no_buffering = 1;

        rc = ngx_http_read_client_request_body(r, ngx_chat_api_body_read);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (ctx->route == NGX_CHAT_API_MESSAGES) {
        return ngx_chat_api_messages(r, ctx);
    }

    return ngx_chat_api_rooms(r, ctx);
}


/* an op that answers this call on behalf of its caller */
static ngx_chat_op_t *
ngx_chat_api_op(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_str_t *room, ngx_uint_t status)
{
    return ngx_chat_op_rest(r, ctx->auth.claims.sub,
                            ngx_strlen(ctx->auth.claims.sub), room, status);
}


/* the call named by the path under the location, and its room if any */
static ngx_uint_t
ngx_chat_api_route(ngx_http_request_t *r, ngx_str_t *room)
{
    u_char                    *p, *last, *slash;
    ngx_str_t                  path, rest;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;
    ngx_str_null(room);

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

    if (path.len == 6 && ngx_strncmp(path.data, "health", 6) == 0) {
        return NGX_CHAT_API_HEALTH;
    }

    if (path.len == 5 && ngx_strncmp(path.data, "rooms", 5) == 0) {
        return NGX_CHAT_API_ROOMS;
    }

    if (path.len <= 6 || ngx_strncmp(path.data, "rooms/", 6) != 0) {
        return 0;
    }

    p = path.data + 6;
    last = path.data + path.len;
    slash = ngx_strlchr(p, last, '/');

    room->data = p;
    room->len = (slash ? slash : last) - p;

    if (room->len == 0) {
        return 0;
    }

    if (slash == NULL) {
        return NGX_CHAT_API_ROOM;
    }

    rest.data = slash + 1;
    rest.len = last - rest.data;

    if (rest.len == 8 && ngx_strncmp(rest.data, "messages", 8) == 0) {
        return NGX_CHAT_API_MESSAGES;
    }

    if (rest.len == 4 && ngx_strncmp(rest.data, "read", 4) == 0) {
        return NGX_CHAT_API_READ;
    }

    return 0;
}


static ngx_int_t
ngx_chat_api_preflight(ngx_http_request_t *r, ngx_chat_api_route_t *rt)
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

    if (ngx_chat_http_header_out(r, "Allow", rt->allow) != NGX_OK
        || ngx_chat_http_header_out(r, "Access-Control-Allow-Methods",
                                    rt->allow) != NGX_OK
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
ngx_chat_api_health(ngx_http_request_t *r)
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


/* the body of a POST is in: run the call */
static void
ngx_chat_api_body(ngx_http_request_t *r)
{
    ngx_http_request_t  *prev;

    prev = ngx_chat_op_enter(r);
    ngx_chat_api_body_call(r);
    ngx_chat_op_leave(prev);
}


static void
ngx_chat_api_body_call(ngx_http_request_t *r)
{
    ngx_str_t                 body;
    const char               *code, *msg;
    ngx_chat_op_t            *op;
    ngx_chat_api_ctx_t       *ctx;
    ngx_chat_request_t        req;
    ngx_chat_loc_conf_t      *lcf;
    ngx_chat_proto_limits_t   lim;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_module);

    if (ctx->body.len == 0) {
        ngx_http_finalize_request(r,
            ngx_chat_http_error(r, "bad_request",
                                "a JSON body is needed"));
        return;
    }

    body = ctx->body;

    if (ctx->route == NGX_CHAT_API_ROOMS) {
        ngx_http_finalize_request(r, ngx_chat_api_create(r, ctx, &body));
        return;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_chat_module);
    lim.body_max = lcf->message_max;
    lim.meta_max = NGX_CHAT_META_MAX_DEFAULT;

    if (ngx_chat_request_decode_as(ctx->route == NGX_CHAT_API_READ
                                   ? NGX_CHAT_REQ_READ : NGX_CHAT_REQ_SEND,
                                   (char *) body.data, body.len, &lim, &req,
                                   &code, &msg)
        != 0)
    {
        ngx_chat_request_free(&req);
        ngx_http_finalize_request(r,
            ngx_chat_http_error(r, code, msg));
        return;
    }

    op = ngx_chat_api_op(r, ctx, &ctx->room,
                         ctx->route == NGX_CHAT_API_READ
                         ? NGX_HTTP_NO_CONTENT : NGX_HTTP_CREATED);
    if (op == NULL) {
        ngx_chat_request_free(&req);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->route == NGX_CHAT_API_READ) {
        op->seq = req.seq;
        ngx_chat_read(op);

    } else {
        /* the same send as over a WebSocket: one commit, one event */
        lcf->store->send(op, ctx->auth.claims.name,
                         ngx_strlen(ctx->auth.claims.name),
                         &req);
    }

    ngx_chat_request_free(&req);

    /* the op holds the request until it answers */
    ngx_http_finalize_request(r, NGX_DONE);
}


/* GET /rooms/{room}/messages?before=&after=&limit= */
static ngx_int_t
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


static ngx_uint_t
ngx_chat_api_has_arg(ngx_http_request_t *r, const char *name)
{
    ngx_str_t  v;

    return ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &v) == NGX_OK;
}


/* an optional integer query argument: absent leaves *value as it is */
static ngx_int_t
ngx_chat_api_arg(ngx_http_request_t *r, const char *name, int64_t min,
    int64_t max, int64_t *value)
{
    off_t      n;
    ngx_str_t  v;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_chat_api_unescape(r, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    n = ngx_atoof(v.data, v.len);

    if (n == NGX_ERROR || n < min || n > max) {
        return NGX_ERROR;
    }

    *value = n;

    return NGX_OK;
}


/* a query argument's value, percent-decoded; a malformed escape is an error */
static ngx_int_t
ngx_chat_api_unescape(ngx_http_request_t *r, ngx_str_t *v)
{
    u_char      *d, *p, *last;
    ngx_int_t    hi, lo;

    if (ngx_strlchr(v->data, v->data + v->len, '%') == NULL) {
        return NGX_OK;
    }

    d = ngx_pnalloc(r->pool, v->len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    p = v->data;
    last = v->data + v->len;
    v->data = d;

    while (p < last) {
        if (*p != '%') {
            *d++ = *p++;
            continue;
        }

        if (last - p < 3) {
            return NGX_ERROR;
        }

        hi = ngx_hextoi(p + 1, 1);
        lo = ngx_hextoi(p + 2, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (hi * 16 + lo);
        p += 3;
    }

    v->len = d - v->data;

    return NGX_OK;
}


/* GET /rooms and GET /rooms/{room} */
static ngx_int_t
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
static ngx_int_t
ngx_chat_api_create(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx,
    ngx_str_t *body)
{
    u_char           interval[NGX_INT64_LEN], burst[NGX_INT64_LEN];
    int              lengths[7];
    json_t          *root, *v;
    ngx_str_t        room;
    const char      *values[7], *err;
    ngx_chat_op_t   *op;
    json_error_t     jerr;

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &jerr);

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


static void
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
