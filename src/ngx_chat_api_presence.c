/*
 * GET /presence?user=a&user=b (protocol.md sections 7 and 8): who is
 * online on any host, and when each was last seen.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_presence.h"


static void ngx_chat_api_presence_done(void *data,
    ngx_chat_presence_state_t *users, ngx_uint_t n, ngx_int_t rc);


/* GET /presence?user=a&user=b */
ngx_int_t
ngx_chat_api_presence(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    u_char                     *p, *last, *end, *eq;
    ngx_str_t                   v;
    ngx_uint_t                  n;
    ngx_chat_op_t              *op;
    ngx_chat_presence_state_t  *users;

    users = ngx_pcalloc(r->pool, NGX_CHAT_PRESENCE_USERS_MAX
                                 * sizeof(ngx_chat_presence_state_t));
    if (users == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;
    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = end + 1) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        eq = ngx_strlchr(p, end, '=');

        if (eq == NULL || eq - p != 4 || ngx_strncmp(p, "user", 4) != 0) {
            continue;
        }

        if (n == NGX_CHAT_PRESENCE_USERS_MAX) {
            return ngx_chat_http_error(r, "bad_request",
                                       "at most "
                                       ngx_value(NGX_CHAT_PRESENCE_USERS_MAX)
                                       " users at once");
        }

        v.data = eq + 1;
        v.len = end - v.data;

        if (ngx_chat_api_unescape(r, &v) != NGX_OK
            || !ngx_chat_user_id_valid((char *) v.data, v.len))
        {
            return ngx_chat_http_error(r, "bad_request", "invalid user id");
        }

        users[n++].user = v;
    }

    if (n == 0) {
        return ngx_chat_http_error(r, "bad_request",
                                   "name at least one user (?user=)");
    }

    op = ngx_chat_api_op(r, ctx, NULL, NGX_HTTP_OK);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_chat_presence_lookup(users, n, ngx_chat_api_presence_done, op);

    return NGX_DONE;
}


static void
ngx_chat_api_presence_done(void *data, ngx_chat_presence_state_t *users,
    ngx_uint_t n, ngx_int_t rc)
{
    ngx_chat_op_t *op = data;

    ngx_uint_t       i;
    ngx_chat_json_t  j;

    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);
        return;
    }

    if (rc != NGX_OK) {
        ngx_chat_op_error(op, "unavailable", "presence is unavailable");
        return;
    }

    ngx_chat_json_init(&j, 32 + 128 * n);
    ngx_chat_json_key(&j, "users");
    ngx_chat_json_char(&j, '[');

    for (i = 0; i < n; i++) {
        ngx_chat_json_sep(&j);
        ngx_chat_json_char(&j, '{');
        ngx_chat_json_kv_str(&j, "user", (char *) users[i].user.data,
                             users[i].user.len);
        ngx_chat_json_kv_str(&j, "state",
                             users[i].online ? "online" : "offline",
                             users[i].online ? 6 : 7);

        if (users[i].last_seen) {
            ngx_chat_json_kv_int(&j, "last_seen", users[i].last_seen);

        } else {
            ngx_chat_json_kv_raw(&j, "last_seen", "null", 4);
        }

        ngx_chat_json_char(&j, '}');
    }

    ngx_chat_json_char(&j, ']');

    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}
