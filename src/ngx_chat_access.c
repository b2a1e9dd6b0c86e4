/*
 * Access checks of joins (and of REST sends in the redis store), in
 * batches: the checks asked for in one loop tick go to PostgreSQL as one
 * statement.  A reconnect storm would otherwise cost a round trip and a
 * function call per connection; a batch answers a member's join with one
 * indexed read.  Checks do not depend on each other's order, so several
 * batches may be in flight at once.
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
static void ngx_chat_access_checked(void *data, PGresult *res,
    ngx_uint_t status);
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
    ngx_uint_t                n, max;
    ngx_queue_t              *q;
    ngx_chat_json_t           j;
    ngx_chat_access_t        *ac;
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

        max = ngx_chat_worker.mcf->batch_max;
        n = 0;

        ngx_chat_json_init(&j, 4096);
        ngx_chat_json_char(&j, '[');

        while (n < max && !ngx_queue_empty(&ngx_chat_access_waiting)) {
            q = ngx_queue_head(&ngx_chat_access_waiting);
            ngx_queue_remove(q);
            ngx_queue_insert_tail(&batch->checks, q);
            n++;

            ac = ngx_queue_data(q, ngx_chat_access_t, queue);

            ngx_chat_json_sep(&j);
            ngx_chat_json_char(&j, '{');
            ngx_chat_json_kv_str(&j, "room", ac->room, ac->room_len);
            ngx_chat_json_kv_str(&j, "user", ac->user, ac->user_len);
            ngx_chat_json_char(&j, '}');
        }

        ngx_chat_json_char(&j, ']');

        rc = j.failed ? NGX_ERROR
                      : ngx_chat_sql_batch_query(NGX_CHAT_SQL_ROOM_OPEN_BATCH,
                                                 &j, ngx_chat_access_checked,
                                                 batch);

        ngx_chat_json_free(&j);

        if (rc != NGX_OK) {
            ngx_chat_access_checked(batch, NULL, NGX_CHAT_PG_UNAVAILABLE);
        }
    }
}


static void
ngx_chat_access_checked(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_access_batch_t *batch = data;

    int                 row, nrows;
    const char         *code, *message;
    ngx_queue_t        *q;
    ngx_chat_access_t  *ac;

    nrows = (status == NGX_CHAT_PG_OK) ? PQntuples(res) : 0;
    row = 0;

    while (!ngx_queue_empty(&batch->checks)) {
        q = ngx_queue_head(&batch->checks);
        ngx_queue_remove(q);
        ac = ngx_queue_data(q, ngx_chat_access_t, queue);

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

        row++;
    }

    ngx_free(batch);
}


static void
ngx_chat_access_answer(ngx_chat_access_t *ac, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after)
{
    ac->handler(ac->data, seq, rev, code, message, retry_after);
    ngx_free(ac);
}
