/*
 * Group commit: the sends parsed in one loop tick go to PostgreSQL as one
 * statement, and each is acknowledged only after that commit.  One batch
 * is in flight per worker, so sends from one connection commit in the
 * order they were sent.
 */

#include "ngx_chat.h"
#include "ngx_chat_batch.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_op.h"
#include "ngx_chat_sql.h"


typedef struct {
    ngx_queue_t          queue;
    ngx_chat_op_t       *op;           /* who waits for the answer */
    int64_t              reply_to;
    size_t               name_len;
    char                 name[NGX_CHAT_NAME_MAX + 1];
    size_t               cid_len;
    char                 cid[NGX_CHAT_CLIENT_MSG_ID_MAX + 1];
    size_t               body_len;
    size_t               meta_len;
    char                 data[1];      /* body, then meta */
} ngx_chat_send_t;


static void ngx_chat_batch_flush(ngx_event_t *ev);
static void ngx_chat_batch_committed(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_batch_fail(ngx_queue_t *batch, const char *code,
    const char *message);
static void ngx_chat_send_ok(ngx_chat_send_t *snd, ngx_chat_json_t *fields);
static void ngx_chat_send_fail(ngx_chat_send_t *snd, const char *code,
    const char *message);
static ngx_chat_op_t *ngx_chat_send_release(ngx_chat_send_t *snd);


static ngx_queue_t   ngx_chat_batch_waiting;
static ngx_uint_t    ngx_chat_batch_nwaiting;
static ngx_queue_t   ngx_chat_batch_inflight;
static ngx_uint_t    ngx_chat_batch_busy;
static ngx_event_t   ngx_chat_batch_ev;


ngx_int_t
ngx_chat_batch_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_chat_batch_waiting);
    ngx_queue_init(&ngx_chat_batch_inflight);
    ngx_chat_batch_nwaiting = 0;
    ngx_chat_batch_busy = 0;

    ngx_memzero(&ngx_chat_batch_ev, sizeof(ngx_event_t));
    ngx_chat_batch_ev.handler = ngx_chat_batch_flush;
    ngx_chat_batch_ev.log = cycle->log;

    return NGX_OK;
}


void
ngx_chat_batch_exit(void)
{
    ngx_queue_t      *q;
    ngx_chat_send_t  *snd;

    if (ngx_chat_batch_ev.posted) {
        ngx_delete_posted_event(&ngx_chat_batch_ev);
    }

    while (!ngx_queue_empty(&ngx_chat_batch_waiting)) {
        q = ngx_queue_head(&ngx_chat_batch_waiting);
        ngx_queue_remove(q);
        snd = ngx_queue_data(q, ngx_chat_send_t, queue);
        ngx_chat_op_free(snd->op);
        ngx_free(snd);
    }

    /* the in-flight batch belongs to its query, which frees nothing now */
}


/*
 * Queues a send for the next commit: op names the room and the sender;
 * name is the sender's display name.
 */
void
ngx_chat_batch_send(ngx_chat_op_t *op, const char *name, size_t name_len,
    ngx_chat_request_t *req)
{
    ngx_chat_send_t     *snd;
    ngx_chat_session_t  *s;

    snd = ngx_alloc(sizeof(ngx_chat_send_t) + req->body_len + req->meta_len,
                    ngx_chat_worker.log);
    if (snd == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    snd->op = op;
    snd->reply_to = req->has_reply_to ? req->reply_to : 0;
    snd->name_len = name_len;
    ngx_memcpy(snd->name, name, name_len);
    snd->cid_len = req->client_msg_id_len;
    ngx_memcpy(snd->cid, req->client_msg_id, req->client_msg_id_len);
    snd->body_len = req->body_len;
    ngx_memcpy(snd->data, req->body, req->body_len);
    snd->meta_len = req->meta_len;

    if (req->meta_len) {
        ngx_memcpy(snd->data + req->body_len, req->meta, req->meta_len);
    }

    s = op->session;

    if (s) {
        ngx_chat_session_send_begin(s);
    }

    ngx_queue_insert_tail(&ngx_chat_batch_waiting, &snd->queue);
    ngx_chat_batch_nwaiting++;

    /* the flush runs after this loop tick's reads: one commit for all */
    if (!ngx_chat_batch_busy && !ngx_chat_batch_ev.posted) {
        ngx_post_event(&ngx_chat_batch_ev, &ngx_posted_events);
    }
}


static void
ngx_chat_batch_flush(ngx_event_t *ev)
{
    u_char             interval[NGX_INT64_LEN];
    u_char             burst[NGX_INT64_LEN];
    int                lengths[4];
    ngx_int_t          rc;
    ngx_uint_t         n, max;
    const char        *values[4];
    ngx_queue_t       *q;
    ngx_chat_send_t   *snd;
    ngx_chat_json_t    j;

    if (ngx_chat_batch_busy || ngx_queue_empty(&ngx_chat_batch_waiting)) {
        return;
    }

    max = ngx_chat_worker.mcf->batch_max;
    n = 0;

    ngx_chat_json_init(&j, 4096);
    ngx_chat_json_char(&j, '[');

    while (n < max && !ngx_queue_empty(&ngx_chat_batch_waiting)) {
        q = ngx_queue_head(&ngx_chat_batch_waiting);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ngx_chat_batch_inflight, q);
        ngx_chat_batch_nwaiting--;
        n++;

        snd = ngx_queue_data(q, ngx_chat_send_t, queue);

        ngx_chat_json_sep(&j);
        ngx_chat_json_char(&j, '{');
        ngx_chat_json_kv_str(&j, "room", snd->op->room, snd->op->room_len);
        ngx_chat_json_kv_str(&j, "from", snd->op->user, snd->op->user_len);

        if (snd->name_len) {
            ngx_chat_json_kv_str(&j, "name", snd->name, snd->name_len);
        }

        ngx_chat_json_kv_str(&j, "body", snd->data, snd->body_len);

        if (snd->cid_len) {
            ngx_chat_json_kv_str(&j, "cid", snd->cid, snd->cid_len);
        }

        if (snd->reply_to) {
            ngx_chat_json_kv_int(&j, "reply_to", snd->reply_to);
        }

        /* a string: through jsonb, the client's text stays as it is */
        if (snd->meta_len) {
            ngx_chat_json_kv_str(&j, "meta", snd->data + snd->body_len,
                                 snd->meta_len);
        }

        ngx_chat_json_char(&j, '}');
    }

    ngx_chat_json_char(&j, ']');

    if (j.failed) {
        ngx_chat_json_free(&j);
        ngx_chat_batch_fail(&ngx_chat_batch_inflight, "internal",
                            "out of memory");
        return;
    }

    values[0] = j.data;
    lengths[0] = j.len;
    values[1] = ngx_chat_worker.mcf->autocreate ? "t" : "f";
    lengths[1] = 1;
    values[2] = (char *) interval;
    values[3] = (char *) burst;
    ngx_chat_sql_room_create_rate(interval, &lengths[2], burst,
                                    &lengths[3]);

    rc = ngx_chat_pg_query(NGX_CHAT_SQL_SEND_BATCH, 4, values, lengths,
                           ngx_chat_batch_committed, NULL);
    ngx_chat_json_free(&j);

    if (rc != NGX_OK) {
        ngx_chat_batch_fail(&ngx_chat_batch_inflight, "unavailable",
                            "the message store is unavailable");
        return;
    }

    ngx_chat_batch_busy = 1;
}


static void
ngx_chat_batch_committed(void *data, PGresult *res, ngx_uint_t status)
{
    int                  row, nrows;
    char                *st;
    int64_t              seq, msg_id, ts;
    ngx_queue_t         *q;
    ngx_chat_op_t       *op;
    ngx_chat_json_t      j;
    ngx_chat_send_t     *snd;
    ngx_chat_message_t   m;

    ngx_chat_batch_busy = 0;

    if (status != NGX_CHAT_PG_OK) {
        /* not acknowledged: a retry with client_msg_id is safe */
        ngx_chat_batch_fail(&ngx_chat_batch_inflight,
                            status == NGX_CHAT_PG_UNAVAILABLE
                            ? "unavailable" : "internal",
                            status == NGX_CHAT_PG_UNAVAILABLE
                            ? "the message store is unavailable"
                            : "the message could not be stored");
        goto next;
    }

    nrows = PQntuples(res);
    row = 0;

    while (!ngx_queue_empty(&ngx_chat_batch_inflight)) {
        q = ngx_queue_head(&ngx_chat_batch_inflight);
        ngx_queue_remove(q);
        snd = ngx_queue_data(q, ngx_chat_send_t, queue);
        op = snd->op;

        if (row >= nrows || PQgetisnull(res, row, 2) != 0) {
            st = row < nrows ? PQgetvalue(res, row, 1) : "";
            row++;

            if (ngx_strcmp(st, "not_found") == 0) {
                ngx_chat_send_fail(snd, "not_found", "no such room");

            } else if (ngx_strcmp(st, "rate_limited") == 0) {
                op->retry_after = ngx_chat_sql_retry_after(
                                      PQgetvalue(res, row - 1, 5));
                ngx_chat_send_fail(snd, "rate_limited",
                                   "too many new rooms "
                                   "(chat_room_create_rate)");

            } else if (ngx_strcmp(st, "forbidden") == 0) {
                ngx_chat_send_fail(snd, "forbidden",
                                   "not a member of this room");

            } else {
                ngx_chat_send_fail(snd, "internal",
                                   "the message could not be stored");
            }

            continue;
        }

        seq = atoll(PQgetvalue(res, row, 2));
        msg_id = atoll(PQgetvalue(res, row, 3));
        ts = atoll(PQgetvalue(res, row, 4));
        row++;

        ngx_memzero(&m, sizeof(ngx_chat_message_t));
        m.room = op->room;
        m.room_len = op->room_len;
        m.seq = seq;
        m.msg_id = msg_id;
        m.ts = ts;
        m.from = op->user;
        m.from_len = op->user_len;
        m.name = snd->name;
        m.name_len = snd->name_len;
        m.body = snd->data;
        m.body_len = snd->body_len;
        m.client_msg_id = snd->cid;
        m.cid_len = snd->cid_len;
        m.reply_to = snd->reply_to;
        m.meta = snd->data + snd->body_len;
        m.meta_len = snd->meta_len;
        m.with_type = 1;

        /* a retried send is published again: receivers drop the copy */
        ngx_chat_json_init(&j, 256 + snd->body_len + snd->meta_len);

        if (ngx_chat_json_message(&j, &m) == 0) {
            ngx_chat_fanout_committed(op->room, op->room_len, seq,
                                      j.data, j.len);
        }

        ngx_chat_json_free(&j);

        ngx_chat_json_init(&j, 160);
        ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
        ngx_chat_json_kv_int(&j, "seq", seq);
        ngx_chat_json_kv_int(&j, "msg_id", msg_id);
        ngx_chat_json_kv_int(&j, "ts", ts);

        ngx_chat_send_ok(snd, &j);
        ngx_chat_json_free(&j);
    }

next:

    if (!ngx_queue_empty(&ngx_chat_batch_waiting)
        && !ngx_chat_batch_ev.posted)
    {
        ngx_post_event(&ngx_chat_batch_ev, &ngx_posted_events);
    }
}


static void
ngx_chat_batch_fail(ngx_queue_t *batch, const char *code,
    const char *message)
{
    ngx_uint_t        n;
    ngx_queue_t      *q;
    ngx_chat_send_t  *snd;

    n = 0;

    while (!ngx_queue_empty(batch)) {
        q = ngx_queue_head(batch);
        ngx_queue_remove(q);
        snd = ngx_queue_data(q, ngx_chat_send_t, queue);

        if (n++ == 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                          "chat: a batch of sends failed (%s), the first "
                          "from user \"%*s\" to room \"%*s\"", code,
                          snd->op->user_len, snd->op->user,
                          snd->op->room_len, snd->op->room);
        }

        ngx_chat_send_fail(snd, code, message);
    }
}


static void
ngx_chat_send_ok(ngx_chat_send_t *snd, ngx_chat_json_t *fields)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_send_release(snd);
    ngx_chat_op_ok(op, fields);
}


static void
ngx_chat_send_fail(ngx_chat_send_t *snd, const char *code,
    const char *message)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_send_release(snd);
    ngx_chat_op_error(op, code, message);
}


/* the send is answered: its connection may send more */
static ngx_chat_op_t *
ngx_chat_send_release(ngx_chat_send_t *snd)
{
    ngx_chat_op_t       *op;
    ngx_chat_session_t  *s;

    op = snd->op;
    s = op->session;
    ngx_free(snd);

    if (s) {
        ngx_chat_session_send_done(s);
    }

    return op;
}
