/*
 * The module's nginx variables, for log_format and the like:
 *
 *   $chat_user              the authenticated user of the WebSocket
 *                           connection or of the REST call
 *   $chat_room              the room of a REST call ({room} of its path)
 *   $chat_close_code        the close code of a WebSocket connection:
 *                           the one its close frame carried, 1006 when it
 *                           ended without one; empty while it is open
 *   $chat_session_messages  the sends asked on a WebSocket connection
 *
 * A WebSocket connection's request is logged when the connection takes
 * over (status 101) unless chat_ws_log_at_close keeps the request until
 * the connection ends, so that those variables have their last values.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_http.h"
#include "ngx_chat_api.h"
#include "ngx_chat_metrics.h"


typedef struct {
    ngx_chat_session_t     *session;
    const char             *user;        /* a REST call's */
    ngx_uint_t              messages;
} ngx_chat_metrics_ctx_t;


static ngx_chat_metrics_ctx_t *ngx_chat_metrics_ctx(ngx_http_request_t *r);
static ngx_int_t ngx_chat_metrics_var_user(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_chat_metrics_var_room(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_chat_metrics_var_close_code(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_chat_metrics_var_messages(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_chat_metrics_var_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_uint_t n);
static ngx_int_t ngx_chat_metrics_var_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len);


static ngx_http_variable_t  ngx_chat_metrics_vars[] = {

    { ngx_string("chat_user"), NULL, ngx_chat_metrics_var_user, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("chat_room"), NULL, ngx_chat_metrics_var_room, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("chat_close_code"), NULL, ngx_chat_metrics_var_close_code,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("chat_session_messages"), NULL,
      ngx_chat_metrics_var_messages, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_chat_metrics_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_chat_metrics_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_chat_metrics_keep_request(ngx_http_request_t *r)
{
    ngx_chat_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_chat_metrics_module);

    return mlcf->log_at_close;
}


void
ngx_chat_metrics_api_user(ngx_http_request_t *r, const char *user)
{
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_chat_metrics_ctx(r);

    if (ctx) {
        ctx->user = user;
    }
}


/* a new session: its request's variables read it */
void
ngx_chat_metrics_vars_session(ngx_chat_session_t *s)
{
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_chat_metrics_ctx(s->request);

    if (ctx) {
        ctx->session = s;
    }
}


/* counted while the request is kept for the log */
void
ngx_chat_metrics_vars_send(ngx_chat_session_t *s)
{
    ngx_chat_metrics_ctx_t  *ctx;

    if (s->request == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(s->request, ngx_chat_metrics_module);

    if (ctx) {
        ctx->messages++;
    }
}


static ngx_chat_metrics_ctx_t *
ngx_chat_metrics_ctx(ngx_http_request_t *r)
{
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_metrics_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_chat_metrics_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_chat_metrics_module);
    }

    return ctx;
}


static ngx_int_t
ngx_chat_metrics_var_user(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *user;
    size_t                   len;
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_metrics_module);

    user = NULL;
    len = 0;

    if (ctx && ctx->session && ctx->session->authed) {
        user = ctx->session->user;
        len = ctx->session->user_len;

    } else if (ctx && ctx->user) {
        user = (u_char *) ctx->user;
        len = ngx_strlen(user);
    }

    if (len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_chat_metrics_var_set(v, user, len);
}


static ngx_int_t
ngx_chat_metrics_var_room(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_chat_api_ctx_t        *actx;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the module's context of a request is the REST call's only there */
    actx = clcf->handler == ngx_chat_api_handler
           ? ngx_http_get_module_ctx(r, ngx_chat_module) : NULL;

    if (actx == NULL || actx->room.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_chat_metrics_var_set(v, actx->room.data, actx->room.len);
}


static ngx_int_t
ngx_chat_metrics_var_close_code(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_chat_session_t      *s;
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_metrics_module);
    s = ctx ? ctx->session : NULL;

    if (s == NULL || !(s->close_sent || s->closed)) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_chat_metrics_var_number(r, v,
                                       s->close_sent ? s->close_code : 1006);
}


static ngx_int_t
ngx_chat_metrics_var_messages(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_chat_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chat_metrics_module);

    if (ctx == NULL || ctx->session == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_chat_metrics_var_number(r, v, ctx->messages);
}


static ngx_int_t
ngx_chat_metrics_var_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_uint_t n)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_chat_metrics_var_set(v, p, ngx_sprintf(p, "%ui", n) - p);
}


static ngx_int_t
ngx_chat_metrics_var_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
