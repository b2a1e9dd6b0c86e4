/*
 * Group commit: the durable room events asked for in one loop tick go to
 * PostgreSQL as one statement, and each is acknowledged only after that
 * commit.  One batch is in flight per worker, so the events of one
 * connection commit in the order they were asked for.
 *
 * Under load the next batch may wait (chat_batch_hold N): after a commit
 * of at least NGX_CHAT_BATCH_HOLD_FROM events (or N, if fewer), fewer
 * than N waiting wait until N do, for at most as long again as that
 * commit took (and chat_batch_hold_max).  Each commit costs PostgreSQL
 * several hundred microseconds of CPU whatever it holds, so the hold
 * must start well below N: a worker whose commits hold 4-8 events runs
 * them back to back, and its server core fills up with commits before
 * batches ever reach N on their own.  Held, a batch gathers what arrives
 * during its predecessor's commit and as long again: at a few thousand
 * sends a second it grows by half (docs/durable-commit.md), not to N.
 * At light load commits hold one to three events and seldom wait (after
 * a burst), and at saturation N or more wait when a commit answers, so nothing waits
 * either: the hold never lowers how many sends a worker can commit.
 *
 * Each kind of durable room event (ngx_chat_commit_kinds[]) has its own
 * statement, its element of the statement's JSON array, and its event
 * builder.  Every kind's statement numbers the room's rev under the room
 * row lock and answers, per element in batch order, i, status, rev and
 * retry_after, then the kind's own columns; every committed event goes
 * to ngx_chat_fanout_committed() with its rev, for the same ordered
 * delivery.  A membership, moderation or room change adds its row here
 * with its statement; the kinds themselves may live in the files of their
 * areas (edits and deletes: ngx_chat_edit.c).
 */

#include "ngx_chat.h"
#include "ngx_chat_batch.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_op.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_metrics.h"


typedef struct {
    ngx_chat_commit_t    commit;       /* first */
    int64_t              reply_to;
    size_t               name_len;
    char                 name[NGX_CHAT_JWT_NAME_MAX + 1];
    size_t               cid_len;
    char                 cid[NGX_CHAT_CLIENT_MSG_ID_MAX + 1];
    size_t               body_len;
    size_t               meta_len;
    char                 data[1];      /* body, then meta */
} ngx_chat_send_t;


static void ngx_chat_batch_flush(ngx_event_t *ev);
static void ngx_chat_batch_next(ngx_uint_t ok);
static ngx_uint_t ngx_chat_batch_enough(void);
static void ngx_chat_batch_committed(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_batch_refused(ngx_chat_commit_t *c, PGresult *res,
    int row);
static void ngx_chat_batch_fail(ngx_queue_t *batch, const char *code,
    const char *message);
static ngx_chat_op_t *ngx_chat_commit_release(ngx_chat_commit_t *c);
static void ngx_chat_message_write(ngx_chat_json_t *j,
    ngx_chat_commit_t *c);
static void ngx_chat_message_done(ngx_chat_commit_t *c, PGresult *res,
    int row);
static void ngx_chat_member_write(ngx_chat_json_t *j, ngx_chat_commit_t *c);
static void ngx_chat_member_done(ngx_chat_commit_t *c, PGresult *res,
    int row);


static const ngx_chat_commit_kind_t  ngx_chat_commit_kinds[] = {

    { "message", NGX_CHAT_SQL_COMMIT_MESSAGES, ngx_chat_message_write,
      ngx_chat_message_done, NULL, 0 },

    { "edited", NGX_CHAT_SQL_COMMIT_CHANGES, ngx_chat_change_write,
      ngx_chat_change_done, ngx_chat_change_refused, 0 },

    { "deleted", NGX_CHAT_SQL_COMMIT_CHANGES, ngx_chat_change_write,
      ngx_chat_change_done, ngx_chat_change_refused, 0 },

    /* membership, moderation and room changes (sql/008) */
    { "member", NGX_CHAT_SQL_COMMIT_MEMBERS, ngx_chat_member_write,
      ngx_chat_member_done, NULL, NGX_CHAT_COMMIT_COLUMNS + 2 },
};

#define NGX_CHAT_COMMIT_MESSAGE  (&ngx_chat_commit_kinds[0])
#define NGX_CHAT_COMMIT_MEMBER   (&ngx_chat_commit_kinds[3])


/* an action of the kind "member": its element, written by the caller */
typedef struct {
    ngx_chat_commit_t    commit;       /* first */
    size_t               len;
    char                 data[1];
} ngx_chat_member_commit_t;


/* the kind of that name, for the kinds written in other files */
const ngx_chat_commit_kind_t *
ngx_chat_commit_kind(const char *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_chat_commit_kinds)
                    / sizeof(ngx_chat_commit_kinds[0]); i++)
    {
        if (ngx_strcmp(ngx_chat_commit_kinds[i].name, name) == 0) {
            return &ngx_chat_commit_kinds[i];
        }
    }

    return NULL;
}


/* a commit of this many events means load: the next may be held */
#define NGX_CHAT_BATCH_HOLD_FROM  4


static ngx_queue_t   ngx_chat_batch_waiting;
static ngx_uint_t    ngx_chat_batch_nwaiting;
static ngx_queue_t   ngx_chat_batch_inflight;
static ngx_uint_t    ngx_chat_batch_busy;
static ngx_event_t   ngx_chat_batch_ev;      /* posted, or the hold's timer */
static ngx_uint_t    ngx_chat_batch_sent_n;  /* the in-flight batch's size */
static uint64_t      ngx_chat_batch_sent_at; /* and when it left, in µs */


ngx_int_t
ngx_chat_batch_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_chat_batch_waiting);
    ngx_queue_init(&ngx_chat_batch_inflight);
    ngx_chat_batch_nwaiting = 0;
    ngx_chat_batch_busy = 0;

    ngx_memzero(&ngx_chat_batch_ev, sizeof(ngx_event_t));
    ngx_chat_batch_ev.handler = ngx_chat_batch_flush;
    ngx_chat_batch_ev.data = &ngx_chat_no_connection;
    ngx_chat_batch_ev.log = cycle->log;

    return NGX_OK;
}


void
ngx_chat_batch_exit(void)
{
    ngx_queue_t        *q;
    ngx_chat_commit_t  *c;

    if (ngx_chat_batch_ev.posted) {
        ngx_delete_posted_event(&ngx_chat_batch_ev);
    }

    if (ngx_chat_batch_ev.timer_set) {
        ngx_del_timer(&ngx_chat_batch_ev);
    }

    while (!ngx_queue_empty(&ngx_chat_batch_waiting)) {
        q = ngx_queue_head(&ngx_chat_batch_waiting);
        ngx_queue_remove(q);
        c = ngx_queue_data(q, ngx_chat_commit_t, queue);
        ngx_chat_op_free(c->op);
        ngx_free(c);
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
    ngx_chat_send_t  *snd;

    snd = ngx_alloc(sizeof(ngx_chat_send_t) + req->body_len + req->meta_len,
                    ngx_chat_worker.log);
    if (snd == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    snd->commit.op = op;
    snd->reply_to = req->has_reply_to ? req->reply_to : 0;
    snd->name_len = name_len;
    ngx_memcpy(snd->name, name, name_len);
    snd->cid_len = req->client_msg_id_len;

    if (req->client_msg_id_len) {
        ngx_memcpy(snd->cid, req->client_msg_id, req->client_msg_id_len);
    }

    snd->body_len = req->body_len;
    ngx_memcpy(snd->data, req->body, req->body_len);
    snd->meta_len = req->meta_len;

    if (req->meta_len) {
        ngx_memcpy(snd->data + req->body_len, req->meta, req->meta_len);
    }

    ngx_chat_batch_add(&snd->commit, NGX_CHAT_COMMIT_MESSAGE);
}


/* c (allocated with ngx_alloc, c->op set) waits for the next commit */
void
ngx_chat_batch_add(ngx_chat_commit_t *c, const ngx_chat_commit_kind_t *kind)
{
    c->kind = kind;
    c->queued = ngx_chat_metrics_now_us();

    if (c->op->session) {
        ngx_chat_session_send_begin(c->op->session);
    }

    ngx_queue_insert_tail(&ngx_chat_batch_waiting, &c->queue);
    ngx_chat_batch_nwaiting++;

    /* a held batch leaves when it is big enough, or when its hold ends */
    if (ngx_chat_batch_ev.timer_set) {

        if (ngx_chat_batch_nwaiting >= ngx_chat_batch_enough()) {
            ngx_del_timer(&ngx_chat_batch_ev);
            ngx_post_event(&ngx_chat_batch_ev, &ngx_posted_events);
        }

        return;
    }

    /* the flush runs after this loop tick's reads: one commit for all */
    if (!ngx_chat_batch_busy && !ngx_chat_batch_ev.posted) {
        ngx_post_event(&ngx_chat_batch_ev, &ngx_posted_events);
    }
}


/*
 * The waiting events of the first one's kind, up to the next of another
 * kind (which waits for the next commit: the queue's order is kept), go
 * to PostgreSQL as one statement.
 */
static void
ngx_chat_batch_flush(ngx_event_t *ev)
{
    ngx_int_t                      rc;
    ngx_uint_t                     n, max;
    ngx_queue_t                   *q;
    ngx_chat_json_t                j;
    ngx_chat_commit_t             *c;
    const ngx_chat_commit_kind_t  *kind;

    ev->timedout = 0;

    if (ngx_chat_batch_busy || ngx_queue_empty(&ngx_chat_batch_waiting)) {
        return;
    }

    max = ngx_chat_worker.mcf->batch_max;
    n = 0;
    c = ngx_queue_data(ngx_queue_head(&ngx_chat_batch_waiting),
                       ngx_chat_commit_t, queue);
    kind = c->kind;

    ngx_chat_json_init(&j, 4096);
    ngx_chat_json_char(&j, '[');

    while (n < max && !ngx_queue_empty(&ngx_chat_batch_waiting)) {
        q = ngx_queue_head(&ngx_chat_batch_waiting);
        c = ngx_queue_data(q, ngx_chat_commit_t, queue);

        if (c->kind != kind) {
            break;
        }

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ngx_chat_batch_inflight, q);
        ngx_chat_batch_nwaiting--;
        n++;

        ngx_chat_json_sep(&j);
        kind->write(&j, c);
    }

    ngx_chat_json_char(&j, ']');

    if (j.failed) {
        ngx_chat_json_free(&j);
        ngx_chat_batch_fail(&ngx_chat_batch_inflight, "internal",
                            "out of memory");
        return;
    }

    /*
     * Busy before the query: a connection that fails as it is handed the
     * statement answers at once, and that answer must find the batch
     * over, not leave it marked busy for ever.
     */
    ngx_chat_batch_busy = 1;

    rc = ngx_chat_sql_batch_query(kind->sql, &j, ngx_chat_batch_committed,
                                  NULL);
    ngx_chat_json_free(&j);

    if (rc != NGX_OK) {
        ngx_chat_batch_busy = 0;
        ngx_chat_metrics_count(NGX_CHAT_METRICS_COMMITS_FAILED);
        ngx_chat_batch_fail(&ngx_chat_batch_inflight, "unavailable",
                            "the message store is unavailable");
        return;
    }

    ngx_chat_batch_sent_n = n;
    ngx_chat_batch_sent_at = ngx_chat_metrics_now_us();
    ngx_chat_metrics_batch(n);
}


/*
 * What waits goes to PostgreSQL next: at once, or, after a successful
 * commit of NGX_CHAT_BATCH_HOLD_FROM events or more (or chat_batch_hold,
 * if fewer), when chat_batch_hold wait
 * (ngx_chat_batch_add) or as much time again has passed.  A failed
 * commit holds nothing: its answers come fast, and so should the next.
 */
static void
ngx_chat_batch_next(ngx_uint_t ok)
{
    uint64_t               took;
    ngx_msec_t             ms;
    ngx_chat_main_conf_t  *mcf;

    if (ngx_queue_empty(&ngx_chat_batch_waiting)
        || ngx_chat_batch_ev.posted || ngx_chat_batch_ev.timer_set)
    {
        return;
    }

    mcf = ngx_chat_worker.mcf;

    if (ok && mcf->batch_hold
        && ngx_chat_batch_sent_n >= ngx_min(mcf->batch_hold,
                                            NGX_CHAT_BATCH_HOLD_FROM)
        && ngx_chat_batch_nwaiting < ngx_chat_batch_enough())
    {
        took = ngx_chat_metrics_now_us() - ngx_chat_batch_sent_at;
        ms = ngx_min((ngx_msec_t) ((took + 999) / 1000), mcf->batch_hold_max);

        if (ms) {
            ngx_chat_metrics_count(NGX_CHAT_METRICS_COMMITS_HELD);
            ngx_add_timer(&ngx_chat_batch_ev, ms);
            return;
        }
    }

    ngx_post_event(&ngx_chat_batch_ev, &ngx_posted_events);
}


/* the waiting events that end a hold: chat_batch_hold, or a full batch */
static ngx_uint_t
ngx_chat_batch_enough(void)
{
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    return ngx_min(mcf->batch_hold, mcf->batch_max);
}


static void
ngx_chat_batch_committed(void *data, PGresult *res, ngx_uint_t status)
{
    int                 row, nrows;
    char               *st;
    ngx_queue_t        *q;
    ngx_chat_commit_t  *c;

    ngx_chat_batch_busy = 0;

    /*
     * What came while this batch committed goes to PostgreSQL before the
     * events of this one are written out: posted ahead of the deliveries
     * its rows post, the next commit (and its WAL flush) runs while this
     * worker writes to its sessions.
     */
    ngx_chat_batch_next(status == NGX_CHAT_PG_OK);

    if (status != NGX_CHAT_PG_OK) {
        ngx_chat_metrics_count(NGX_CHAT_METRICS_COMMITS_FAILED);
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

    for (row = 0; !ngx_queue_empty(&ngx_chat_batch_inflight); row++) {
        q = ngx_queue_head(&ngx_chat_batch_inflight);
        ngx_queue_remove(q);
        c = ngx_queue_data(q, ngx_chat_commit_t, queue);

        st = row < nrows ? PQgetvalue(res, row, NGX_CHAT_COMMIT_STATUS) : "";
        ngx_chat_metrics_committed(c->queued);

        /* "dup": committed before, answered as then */
        if (row < nrows && !PQgetisnull(res, row, NGX_CHAT_COMMIT_REV)
            && (ngx_strcmp(st, "ok") == 0 || ngx_strcmp(st, "dup") == 0))
        {
            c->kind->done(c, res, row);

        } else {
            ngx_chat_batch_refused(c, row < nrows ? res : NULL, row);
        }
    }

next:

    /* a row's handler may have asked for another commit */
    ngx_chat_batch_next(status == NGX_CHAT_PG_OK);
}


/* the statement refused c, or answered nothing for it (res NULL) */
static void
ngx_chat_batch_refused(ngx_chat_commit_t *c, PGresult *res, int row)
{
    char  *st;

    if (res && c->kind->refused) {
        c->kind->refused(c, res, row);
        return;
    }

    st = res ? PQgetvalue(res, row, NGX_CHAT_COMMIT_STATUS) : "";

    if (res && c->kind->message && !PQgetisnull(res, row, c->kind->message)
        && ngx_strcmp(st, "internal") != 0)
    {
        /* the status is a protocol code, the words the statement's own */
        ngx_chat_commit_fail(c, st, PQgetvalue(res, row, c->kind->message));

    } else if (ngx_strcmp(st, "not_found") == 0) {
        ngx_chat_commit_fail(c, "not_found", "no such room");

    } else if (ngx_strcmp(st, "rate_limited") == 0) {
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_ROOM_CREATE);
        c->op->retry_after = ngx_chat_sql_retry_after(
                          PQgetvalue(res, row, NGX_CHAT_COMMIT_RETRY_AFTER));
        ngx_chat_commit_fail(c, "rate_limited",
                             "too many new rooms (chat_room_create_rate)");

    } else if (ngx_strcmp(st, "forbidden") == 0) {
        /* the statement does not say which of its checks refused */
        ngx_chat_commit_fail(c, "forbidden", "may not send to this room "
                             "(not a member, banned or muted)");

    } else {
        ngx_chat_commit_fail(c, "internal",
                             "the message could not be stored");
    }
}


static void
ngx_chat_batch_fail(ngx_queue_t *batch, const char *code,
    const char *message)
{
    ngx_uint_t          n;
    ngx_queue_t        *q;
    ngx_chat_commit_t  *c;

    n = 0;

    while (!ngx_queue_empty(batch)) {
        q = ngx_queue_head(batch);
        ngx_queue_remove(q);
        c = ngx_queue_data(q, ngx_chat_commit_t, queue);

        if (n++ == 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                          "chat: a batch of %s events failed (%s), the first "
                          "from user \"%*s\" to room \"%*s\"", c->kind->name,
                          code, c->op->user_len, c->op->user,
                          c->op->room_len, c->op->room);
        }

        ngx_chat_commit_fail(c, code, message);
    }
}


void
ngx_chat_commit_ok(ngx_chat_commit_t *c, ngx_chat_json_t *fields)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_commit_release(c);
    ngx_chat_op_ok(op, fields);
}


void
ngx_chat_commit_fail(ngx_chat_commit_t *c, const char *code,
    const char *message)
{
    ngx_chat_op_t  *op;

    op = ngx_chat_commit_release(c);
    ngx_chat_op_error(op, code, message);
}


/* the event is answered: its connection may send more */
static ngx_chat_op_t *
ngx_chat_commit_release(ngx_chat_commit_t *c)
{
    ngx_chat_op_t       *op;
    ngx_chat_session_t  *s;

    op = c->op;
    s = op->session;
    ngx_free(c);

    if (s) {
        ngx_chat_session_send_done(s);
    }

    return op;
}


/* the kind "message" */

static void
ngx_chat_message_write(ngx_chat_json_t *j, ngx_chat_commit_t *c)
{
    ngx_chat_send_t  *snd = (ngx_chat_send_t *) c;

    ngx_chat_json_char(j, '{');
    ngx_chat_json_kv_str(j, "room", c->op->room, c->op->room_len);
    ngx_chat_json_kv_str(j, "from", c->op->user, c->op->user_len);

    if (snd->name_len) {
        ngx_chat_json_kv_str(j, "name", snd->name, snd->name_len);
    }

    ngx_chat_json_kv_str(j, "body", snd->data, snd->body_len);

    if (snd->cid_len) {
        ngx_chat_json_kv_str(j, "cid", snd->cid, snd->cid_len);
    }

    if (snd->reply_to) {
        ngx_chat_json_kv_int(j, "reply_to", snd->reply_to);
    }

    /* a string: through jsonb, the client's text stays as it is */
    if (snd->meta_len) {
        ngx_chat_json_kv_str(j, "meta", snd->data + snd->body_len,
                             snd->meta_len);
    }

    ngx_chat_json_char(j, '}');
}


/* columns after NGX_CHAT_COMMIT_COLUMNS: seq, msg_id, ts, joined */
static void
ngx_chat_message_done(ngx_chat_commit_t *c, PGresult *res, int row)
{
    ngx_chat_op_t       *op;
    ngx_chat_json_t      j;
    ngx_chat_send_t     *snd;
    ngx_chat_message_t   m;

    snd = (ngx_chat_send_t *) c;
    op = c->op;

    ngx_memzero(&m, sizeof(ngx_chat_message_t));
    m.room = op->room;
    m.room_len = op->room_len;
    m.rev = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_REV));
    m.seq = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS));
    m.msg_id = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS + 1));
    m.ts = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS + 2));
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

    /* a new member's first message: its "joined" event comes first */
    if (PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS + 3)[0] == 't') {
        ngx_chat_json_init(&j, 128);
        ngx_chat_json_char(&j, '{');
        ngx_chat_json_kv_str(&j, "type", "member", 6);
        ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
        ngx_chat_json_kv_str(&j, "user", op->user, op->user_len);
        ngx_chat_json_kv_int(&j, "rev", m.rev - 1);
        ngx_chat_json_kv_str(&j, "action", "joined", 6);

        if (ngx_chat_json_end(&j) == 0) {
            ngx_chat_fanout_committed(op->room, op->room_len, m.rev - 1, 0,
                                      j.data, j.len);
        }

        ngx_chat_json_free(&j);
    }

    /* a retried send is published again: receivers drop the copy */
    ngx_chat_json_init(&j, 256 + snd->body_len + snd->meta_len);

    if (ngx_chat_json_message(&j, &m) == 0) {
        ngx_chat_fanout_committed(op->room, op->room_len, m.rev, m.seq,
                                  j.data, j.len);
    }

    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 160);
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_kv_int(&j, "seq", m.seq);
    ngx_chat_json_kv_int(&j, "rev", m.rev);
    ngx_chat_json_kv_int(&j, "msg_id", m.msg_id);
    ngx_chat_json_kv_int(&j, "ts", m.ts);

    ngx_chat_commit_ok(c, &j);
    ngx_chat_json_free(&j);
}


/*
 * Queues a membership or moderation action, or a room change (sql/008's
 * chat_member_apply): elem is its element of the statement's array.
 */
void
ngx_chat_batch_member(ngx_chat_op_t *op, const char *elem, size_t len)
{
    ngx_chat_member_commit_t  *mc;

    mc = ngx_alloc(sizeof(ngx_chat_member_commit_t) + len,
                   ngx_chat_worker.log);
    if (mc == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    mc->commit.op = op;
    mc->len = len;
    ngx_memcpy(mc->data, elem, len);

    ngx_chat_batch_add(&mc->commit, NGX_CHAT_COMMIT_MEMBER);
}


/* the kind "member" */

static void
ngx_chat_member_write(ngx_chat_json_t *j, ngx_chat_commit_t *c)
{
    ngx_chat_member_commit_t  *mc = (ngx_chat_member_commit_t *) c;

    ngx_chat_json_raw(j, mc->data, mc->len);
}


/*
 * columns after NGX_CHAT_COMMIT_COLUMNS: the event (null: nothing
 * changed), the answer's JSON object, the refusal's words
 */
static void
ngx_chat_member_done(ngx_chat_commit_t *c, PGresult *res, int row)
{
    int               len;
    char             *ev, *reply;
    int64_t           rev;
    ngx_chat_op_t    *op;
    ngx_chat_json_t   j;

    op = c->op;
    rev = atoll(PQgetvalue(res, row, NGX_CHAT_COMMIT_REV));

    if (!PQgetisnull(res, row, NGX_CHAT_COMMIT_COLUMNS)) {
        ev = PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS);
        len = PQgetlength(res, row, NGX_CHAT_COMMIT_COLUMNS);

        /* moderation is accountable: who, whom, where, what */
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_worker.log, 0,
                      "chat: user \"%*s\" changed room \"%*s\": %*s",
                      op->user_len, op->user, op->room_len, op->room,
                      (size_t) len, ev);

        ngx_chat_fanout_committed(op->room, op->room_len, rev, 0, ev, len);
    }

    reply = PQgetvalue(res, row, NGX_CHAT_COMMIT_COLUMNS + 1);
    len = PQgetlength(res, row, NGX_CHAT_COMMIT_COLUMNS + 1);

    /* the object's members are the answer's fields */
    ngx_chat_json_init(&j, len + 32);

    if (len > 2) {
        ngx_chat_json_raw(&j, reply + 1, len - 2);
    }

    if (rev) {
        ngx_chat_json_kv_int(&j, "rev", rev);
    }

    ngx_chat_commit_ok(c, &j);
    ngx_chat_json_free(&j);
}
