/*
 * Full-text search (GET /search, protocol.md section 7): the newest
 * messages matching a query in the rooms the caller may read, paged by
 * msg_id.  PostgreSQL does the work (chat_search, sql/009) on the GIN
 * index of chat_search_language's configuration.
 */

#include "ngx_chat.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_utf8.h"


#define NGX_CHAT_SEARCH_Q_MAX        256
#define NGX_CHAT_SEARCH_LIMIT_DEF    20
#define NGX_CHAT_SEARCH_LIMIT_MAX    100


static ngx_int_t ngx_chat_search_query(ngx_http_request_t *r, ngx_str_t *q);
static void ngx_chat_search_done(void *data, PGresult *res,
    ngx_uint_t status);


/* GET /search?q=&room=&limit=&before= */
ngx_int_t
ngx_chat_api_search(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    u_char          before_s[NGX_INT64_LEN], limit_s[NGX_INT_T_LEN];
    int64_t         before, limit;
    int             lengths[6];
    ngx_str_t       q, room, *lang;
    const char     *values[6];
    ngx_chat_op_t  *op;

    if (ngx_chat_search_query(r, &q) != NGX_OK) {
        return ngx_chat_http_error(r, "bad_request",
                                   "q must be UTF-8 text of 1 to "
                                   ngx_value(NGX_CHAT_SEARCH_Q_MAX)
                                   " bytes");
    }

    before = 0;
    limit = NGX_CHAT_SEARCH_LIMIT_DEF;

    if (ngx_chat_api_arg(r, "before", 0, INT64_MAX, &before) == NGX_ERROR
        || ngx_chat_api_arg(r, "limit", 1, NGX_CHAT_SEARCH_LIMIT_MAX, &limit)
           == NGX_ERROR)
    {
        return ngx_chat_http_error(r, "bad_request",
                                   "before must be an integer >= 0, limit "
                                   "an integer from 1 to "
                                   ngx_value(NGX_CHAT_SEARCH_LIMIT_MAX));
    }

    ngx_str_null(&room);

    if (ngx_http_arg(r, (u_char *) "room", 4, &room) == NGX_OK
        && (ngx_chat_api_unescape(r, &room) != NGX_OK
            || !ngx_chat_room_id_valid((char *) room.data, room.len)))
    {
        return ngx_chat_http_error(r, "bad_request", "invalid room id");
    }

    if (room.len && ngx_chat_room_is_dm((char *) room.data, room.len)
        && !ngx_chat_dm_has_member((char *) room.data, room.len,
                                   ctx->auth.claims.sub,
                                   ngx_strlen(ctx->auth.claims.sub)))
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "not a member of this direct-message "
                                   "room");
    }

    op = ngx_chat_api_op(r, ctx, room.len ? &room : NULL, NGX_HTTP_OK);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->limit = (ngx_uint_t) limit;
    lang = &ngx_chat_worker.mcf->search_language;

    values[0] = op->user;
    lengths[0] = op->user_len;
    values[1] = (char *) q.data;
    lengths[1] = q.len;
    values[2] = op->room_len ? op->room : NULL;
    lengths[2] = op->room_len;
    values[3] = ngx_chat_api_has_arg(r, "before") ? (char *) before_s : NULL;
    lengths[3] = ngx_sprintf(before_s, "%L", before) - before_s;

    /* one row more tells whether there is more */
    values[4] = (char *) limit_s;
    lengths[4] = ngx_sprintf(limit_s, "%L", limit + 1) - limit_s;
    values[5] = (char *) lang->data;
    lengths[5] = lang->len;

    ngx_chat_op_query(op, NGX_CHAT_SQL_SEARCH, 6, values, lengths,
                      ngx_chat_search_done);

    return NGX_DONE;
}


/*
 * q, as a form sends it ("+" is a space), percent-decoded: 1 to
 * NGX_CHAT_SEARCH_Q_MAX bytes of UTF-8 without NUL
 */
static ngx_int_t
ngx_chat_search_query(ngx_http_request_t *r, ngx_str_t *q)
{
    u_char     *p;
    ngx_str_t   v;

    if (ngx_http_arg(r, (u_char *) "q", 1, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a copy: the argument is a part of the request line */
    p = ngx_pnalloc(r->pool, v.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, v.data, v.len);
    v.data = p;

    for (p = v.data; p < v.data + v.len; p++) {
        if (*p == '+') {
            *p = ' ';
        }
    }

    if (ngx_chat_api_unescape(r, &v) != NGX_OK
        || v.len == 0 || v.len > NGX_CHAT_SEARCH_Q_MAX
        || ngx_strlchr(v.data, v.data + v.len, '\0') != NULL
        || !ngx_chat_utf8_valid(v.data, v.len))
    {
        return NGX_ERROR;
    }

    *q = v;

    return NGX_OK;
}


/* {"messages":[entries with their room, newest first],"has_more"} */
static void
ngx_chat_search_done(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    int              n;
    ngx_uint_t       more;
    ngx_chat_json_t  j;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    n = PQntuples(res);
    more = (ngx_uint_t) n > op->limit;

    if (more) {
        n = op->limit;
    }

    ngx_chat_json_init(&j, 256 + 512 * n);
    ngx_chat_json_key(&j, "messages");
    ngx_chat_sql_rows_messages(res, 0, n, 1, NULL, 0, &j);
    ngx_chat_json_kv_bool(&j, "has_more", more);

    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}
