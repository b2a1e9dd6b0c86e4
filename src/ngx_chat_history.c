/*
 * History pages and read cursors: one statement each, answered over a
 * WebSocket or REST alike.
 */

#include "ngx_chat_op.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_session.h"
#include "ngx_chat_sql.h"


static void ngx_chat_history_done(void *data, PGresult *res,
    ngx_uint_t status);
static ngx_int_t ngx_chat_history_fit(ngx_chat_op_t *op, PGresult *res,
    int *first, int *last);
static void ngx_chat_read_done(void *data, PGresult *res, ngx_uint_t status);


void
ngx_chat_history(ngx_chat_op_t *op)
{
    u_char       before[NGX_INT64_LEN], after[NGX_INT64_LEN];
    u_char       limit[NGX_INT_T_LEN];
    int          lengths[5];
    const char  *values[5];

    values[0] = op->room;
    lengths[0] = op->room_len;
    values[1] = op->user;
    lengths[1] = op->user_len;

    values[2] = op->before ? (char *) before : NULL;
    lengths[2] = ngx_sprintf(before, "%L", op->before) - before;

    values[3] = op->after >= 0 ? (char *) after : NULL;
    lengths[3] = ngx_sprintf(after, "%L", op->after) - after;

    /* one row more tells whether there is more */
    values[4] = (char *) limit;
    lengths[4] = ngx_sprintf(limit, "%ui", op->limit + 1) - limit;

    ngx_chat_op_query(op, NGX_CHAT_SQL_HISTORY, 5, values, lengths,
                      ngx_chat_history_done);
}


static void
ngx_chat_history_done(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    int              first, last, n;
    ngx_uint_t       more;
    ngx_chat_json_t  j;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    /*
     * Rows ascend.  The extra row is the oldest when paging back (no
     * "after"), the newest when paging forward.
     */
    n = PQntuples(res);
    more = (ngx_uint_t) n > op->limit;
    first = 0;
    last = n;

    if (more) {
        if (op->after < 0) {
            first = 1;

        } else {
            last = n - 1;
        }
    }

    switch (ngx_chat_history_fit(op, res, &first, &last)) {

    case NGX_ERROR:
        ngx_chat_op_error(op, "internal", "out of memory");
        return;

    case NGX_DECLINED:
        more = 1;
        break;

    default: /* NGX_OK */
        break;
    }

    ngx_chat_json_init(&j, 256 + 256 * (last - first));
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_key(&j, "messages");
    ngx_chat_sql_rows_messages(res, first, last, 0, op->room, op->room_len,
                               &j);
    ngx_chat_json_kv_bool(&j, "has_more", more);


    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}


/*
 * Narrows the rows [first, last) to what fits in one reply of
 * chat_reply_max, kept from the end that paging goes on from: the newest
 * rows when paging back, the oldest when paging forward.  Returns NGX_OK
 * when all fit, NGX_DECLINED when some were left out, NGX_ERROR.  One row
 * always goes, so that paging moves on: configuration makes sure that a
 * message the module stores fits.
 */
static ngx_int_t
ngx_chat_history_fit(ngx_chat_op_t *op, PGresult *res, int *first, int *last)
{
    int                   i, step, end, c;
    size_t                size, bound;
    ngx_chat_json_t       e;
    ngx_chat_loc_conf_t  *lcf;

    if (op->session) {
        lcf = op->session->lcf;

    } else {
        lcf = ngx_http_get_module_loc_conf(op->http, ngx_chat_module);
    }

    bound = lcf->reply_bound - NGX_CHAT_PAGE_HEAD_MAX;

    /*
     * The usual page is far below the bound: an upper bound of each
     * entry (ngx_chat_json_message_max() for its own lengths: strings
     * sender, sender_name, body and client_msg_id escaped, meta as is)
     * shows it without writing anything.
     */

    size = 0;

    for (i = *first; i < *last; i++) {
        size += 256 + 6 * op->room_len + PQgetlength(res, i, 7);

        for (c = 2; c < 6; c++) {
            size += 6 * PQgetlength(res, i, c);
        }
    }

    if (size <= bound) {
        return NGX_OK;
    }

    /* else each entry is measured, from the end paging goes on from */

    if (op->after < 0) {
        i = *last - 1;
        end = *first - 1;
        step = -1;

    } else {
        i = *first;
        end = *last;
        step = 1;
    }

    ngx_chat_json_init(&e, 1024);
    size = 0;

    for ( /* void */ ; i != end; i += step) {
        ngx_chat_json_reset(&e);

        if (ngx_chat_sql_row_message(res, i, 0, op->room, op->room_len, 0,
                                       &e)
            != NGX_OK)
        {
            ngx_chat_json_free(&e);
            return NGX_ERROR;
        }

        /* and the comma before it */
        size += e.len + 1;

        if (size > bound && size != e.len + 1) {
            break;
        }
    }

    ngx_chat_json_free(&e);

    if (i == end) {
        return NGX_OK;
    }

    if (op->after < 0) {
        *first = i + 1;

    } else {
        *last = i;
    }

    return NGX_DECLINED;
}


void
ngx_chat_read(ngx_chat_op_t *op)
{
    u_char       seq[NGX_INT64_LEN];
    int          lengths[4];
    const char  *values[4];

    values[0] = op->room;
    lengths[0] = op->room_len;
    values[1] = op->user;
    lengths[1] = op->user_len;
    values[2] = (char *) seq;
    lengths[2] = ngx_sprintf(seq, "%L", op->seq) - seq;
    values[3] = op->delivered ? "delivered" : "read";
    lengths[3] = ngx_strlen(values[3]);

    ngx_chat_op_query(op, NGX_CHAT_SQL_READ, 4, values, lengths,
                      ngx_chat_read_done);
}


static void
ngx_chat_read_done(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    ngx_chat_json_t  j;

    if (status != NGX_CHAT_PG_OK) {
        if (ngx_chat_op_gone(op)) {
            ngx_chat_op_free(op);
            return;
        }

        ngx_chat_op_failed(op, status, res);
        return;
    }

    /* a first read of a public channel made the user a member */
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 2)) {
        ngx_chat_fanout_committed(op->room, op->room_len,
                                  atoll(PQgetvalue(res, 0, 1)), 0,
                                  PQgetvalue(res, 0, 2),
                                  PQgetlength(res, 0, 2));
    }

    /* the cursor moved: everyone in the room sees the receipt */
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        ngx_chat_json_init(&j, 128);

        if (ngx_chat_json_receipt(&j, op->room, op->room_len, op->user,
                                  op->user_len, atoll(PQgetvalue(res, 0, 0)),
                                  op->delivered ? "delivered" : "read")
            == 0)
        {
            ngx_chat_fanout_ephemeral(NGX_CHAT_STORE_POSTGRESQL, op->room,
                                      op->room_len, NULL, 0, j.data, j.len);
        }

        ngx_chat_json_free(&j);
    }

    ngx_chat_op_ok(op, NULL);
}
