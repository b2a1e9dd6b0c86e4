/*
 * Access checks of joins (and of REST sends in the redis store), in
 * batches: the checks asked for in one loop tick go to PostgreSQL as one
 * statement.  A reconnect storm would otherwise cost a round trip and a
 * function call per connection; a batch answers a member's join with one
 * indexed read.  Checks do not depend on each other's order, so several
 * batches may be in flight at once.
 *
 * A batch goes first to a plain statement that answers the joins of
 * members (most of a reconnect storm), without the function's per-row
 * work; what it does not answer (first joins, new rooms, refusals) goes
 * on to chat_room_open_batch as a second batch.
 */

#include "ngx_chat.h"
#include "ngx_chat_access.h"
#include "ngx_chat_proto.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_members.h"
#include "ngx_chat_metrics.h"


typedef struct {
    ngx_queue_t                  queue;
    ngx_chat_access_handler_pt   handler;
    void                        *data;
    size_t                       room_len;
    size_t                       user_len;
    char                        *user;
    char                         room[1];      /* room, NUL, user, NUL */
} ngx_chat_access_t;


typedef struct {
    ngx_queue_t                  checks;
} ngx_chat_access_batch_t;


static void ngx_chat_access_flush(ngx_event_t *ev);
static ngx_int_t ngx_chat_access_json(ngx_chat_access_batch_t *batch,
    ngx_chat_json_t *j);
static void ngx_chat_access_members(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_access_open(ngx_chat_access_batch_t *batch);
static void ngx_chat_access_checked(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_access_row(ngx_chat_access_t *ac, PGresult *res,
    int row, int nrows, ngx_uint_t status);
static void ngx_chat_access_answer(ngx_chat_access_t *ac, int64_t seq,
    int64_t rev, const char *code, const char *message,
    long long retry_after);


static ngx_queue_t   ngx_chat_access_waiting;
static ngx_event_t   ngx_chat_access_ev;


ngx_int_t
ngx_chat_access_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_chat_access_waiting);

    ngx_memzero(&ngx_chat_access_ev, sizeof(ngx_event_t));
    ngx_chat_access_ev.handler = ngx_chat_access_flush;
    ngx_chat_access_ev.data = &ngx_chat_no_connection;
    ngx_chat_access_ev.log = cycle->log;

    return NGX_OK;
}


void
ngx_chat_access_exit(void)
{
    ngx_queue_t  *q;

    if (ngx_chat_access_ev.posted) {
        ngx_delete_posted_event(&ngx_chat_access_ev);
    }

    /* their sessions are being closed: nobody waits for the answers */
    while (!ngx_queue_empty(&ngx_chat_access_waiting)) {
        q = ngx_queue_head(&ngx_chat_access_waiting);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_chat_access_t, queue));
    }
}


/*
 * Checks that user may read the room, creating it when allowed and making
 * the user a member; the handler gets the room's stored seq, or the
 * protocol's error code and message, always from a later event.
 */
ngx_int_t
ngx_chat_access_check(const char *room, size_t room_len, const char *user,
    size_t user_len, ngx_chat_access_handler_pt handler, void *data)
{
    ngx_chat_access_t  *ac;

    ac = ngx_alloc(sizeof(ngx_chat_access_t) + room_len + user_len + 1,
                   ngx_chat_worker.log);
    if (ac == NULL) {
        return NGX_ERROR;
    }

    ac->handler = handler;
    ac->data = data;
    ac->room_len = room_len;
    ac->user_len = user_len;
    ac->user = ac->room + room_len + 1;
    ngx_memcpy(ac->room, room, room_len);
    ac->room[room_len] = '\0';
    ngx_memcpy(ac->user, user, user_len);
    ac->user[user_len] = '\0';

    ngx_queue_insert_tail(&ngx_chat_access_waiting, &ac->queue);

    if (!ngx_chat_access_ev.posted) {
        ngx_post_event(&ngx_chat_access_ev, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_chat_access_flush(ngx_event_t *ev)
{
    ngx_int_t                 rc;
    ngx_queue_t              *q;
    ngx_chat_json_t           j;
    const char               *values[1];
    int                       lengths[1];
    ngx_chat_access_batch_t  *batch;

    while (!ngx_queue_empty(&ngx_chat_access_waiting)) {

        batch = ngx_alloc(sizeof(ngx_chat_access_batch_t),
                          ngx_chat_worker.log);
        if (batch == NULL) {
            q = ngx_queue_head(&ngx_chat_access_waiting);
            ngx_queue_remove(q);
            ngx_chat_access_answer(ngx_queue_data(q, ngx_chat_access_t,
                                                  queue),
                                   0, 0, "internal", "out of memory", 0);
            continue;
        }

        ngx_queue_init(&batch->checks);
        ngx_chat_queue_move(&batch->checks, &ngx_chat_access_waiting,
                            ngx_chat_worker.mcf->batch_max);

        rc = ngx_chat_access_json(batch, &j);

        if (rc == NGX_OK) {
            values[0] = j.data;
            lengths[0] = j.len;

            rc = ngx_chat_pg_query_first(NGX_CHAT_SQL_MEMBERS_OPEN, 1, values,
                                         lengths, ngx_chat_access_members,
                                         batch);
        }

        ngx_chat_json_free(&j);

        if (rc != NGX_OK) {
            ngx_chat_access_checked(batch, NULL, NGX_CHAT_PG_UNAVAILABLE);
        }
    }
}


/* the batch as the statements take it: [{"room":..,"user":..},...] */
static ngx_int_t
ngx_chat_access_json(ngx_chat_access_batch_t *batch, ngx_chat_json_t *j)
{
    ngx_queue_t        *q;
    ngx_chat_access_t  *ac;

    ngx_chat_json_init(j, 4096);
    ngx_chat_json_char(j, '[');

    for (q = ngx_queue_head(&batch->checks);
         q != ngx_queue_sentinel(&batch->checks);
         q = ngx_queue_next(q))
    {
        ac = ngx_queue_data(q, ngx_chat_access_t, queue);

        ngx_chat_json_sep(j);
        ngx_chat_json_char(j, '{');
        ngx_chat_json_kv_str(j, "room", ac->room, ac->room_len);
        ngx_chat_json_kv_str(j, "user", ac->user, ac->user_len);
        ngx_chat_json_char(j, '}');
    }

    ngx_chat_json_char(j, ']');

    return j->failed ? NGX_ERROR : NGX_OK;
}


/* the members answered (rows by position, ascending); the rest go on */
static void
ngx_chat_access_members(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_access_batch_t *batch = data;

    int                 row, nrows, i;
    ngx_queue_t        *q, *next;
    ngx_chat_access_t  *ac;

    if (status != NGX_CHAT_PG_OK) {
        /* the function answers each one as it would have alone */
        ngx_chat_access_open(batch);
        return;
    }

    nrows = PQntuples(res);
    row = 0;
    i = 0;

    for (q = ngx_queue_head(&batch->checks);
         q != ngx_queue_sentinel(&batch->checks);
         q = next, i++)
    {
        next = ngx_queue_next(q);

        if (row < nrows && atoi(PQgetvalue(res, row, 0)) == i) {
            ngx_queue_remove(q);
            ac = ngx_queue_data(q, ngx_chat_access_t, queue);
            ngx_chat_access_row(ac, res, row, nrows, status);
            row++;
        }
    }

    if (ngx_queue_empty(&batch->checks)) {
        ngx_free(batch);
        return;
    }

    ngx_chat_access_open(batch);
}


/* the checks of the batch, in chat_room_open_batch */
static void
ngx_chat_access_open(ngx_chat_access_batch_t *batch)
{
    ngx_int_t        rc;
    ngx_chat_json_t  j;

    rc = ngx_chat_access_json(batch, &j);

    if (rc == NGX_OK) {
        rc = ngx_chat_sql_batch_query(NGX_CHAT_SQL_ROOM_OPEN_BATCH, &j,
                                      ngx_chat_access_checked, batch);
    }

    ngx_chat_json_free(&j);

    if (rc != NGX_OK) {
        ngx_chat_access_checked(batch, NULL, NGX_CHAT_PG_UNAVAILABLE);
    }
}


static void
ngx_chat_access_checked(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_access_batch_t *batch = data;

    int                 row, nrows;
    ngx_queue_t        *q;
    ngx_chat_access_t  *ac;

    nrows = (status == NGX_CHAT_PG_OK) ? PQntuples(res) : 0;
    row = 0;

    while (!ngx_queue_empty(&batch->checks)) {
        q = ngx_queue_head(&batch->checks);
        ngx_queue_remove(q);
        ac = ngx_queue_data(q, ngx_chat_access_t, queue);

        ngx_chat_access_row(ac, res, row, nrows, status);

        row++;
    }

    ngx_free(batch);
}


/* a check answered by its row of res, if it has one */
static void
ngx_chat_access_row(ngx_chat_access_t *ac, PGresult *res, int row,
    int nrows, ngx_uint_t status)
{
    const char  *code, *message;

    if (row >= nrows) {
        /* the statement failed as a whole, or never ran */
        code = ngx_chat_pg_error_code(status, res);
        message = ngx_strcmp(code, "unavailable") == 0
                  ? "the message store is unavailable"
                  : "the request could not be served";
        ngx_chat_access_answer(ac, 0, 0, code, message, 0);

    } else if (!PQgetisnull(res, row, 4)) {
        /* a new room beyond the user's chat_room_create_rate */
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_ROOM_CREATE);
        ngx_chat_access_answer(ac, 0, 0, "rate_limited",
                               PQgetvalue(res, row, 3),
                               ngx_chat_sql_retry_after(
                                   PQgetvalue(res, row, 4)));

    } else if (!PQgetisnull(res, row, 2)) {
        /* this join's own failure: the schema's words, if its own */
        code = ngx_chat_pg_state_code(PQgetvalue(res, row, 2));
        message = ngx_strcmp(code, "internal") == 0
                  ? "the request could not be served"
                  : PQgetvalue(res, row, 3);
        ngx_chat_access_answer(ac, 0, 0, code, message, 0);

    } else if (PQgetisnull(res, row, 1)) {
        ngx_chat_access_answer(ac, 0, 0, "not_found", "no such room", 0);

    } else {
        ngx_chat_members_entered(ac->room, ac->room_len, ac->user,
                                 ac->user_len, res, row);
        ngx_chat_access_answer(ac, atoll(PQgetvalue(res, row, 1)),
                               atoll(PQgetvalue(res, row, 5)), NULL,
                               NULL, 0);
    }
}


static void
ngx_chat_access_answer(ngx_chat_access_t *ac, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after)
{
    ac->handler(ac->data, seq, rev, code, message, retry_after);
    ngx_free(ac);
}
