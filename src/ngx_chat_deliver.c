/*
 * Ordered delivery.  Every durable room event reaches a room through
 * ngx_chat_fanout_deliver(), from a local commit, from Redis, or from
 * PostgreSQL when a gap is read back, so each joined session sees each
 * rev once and in order (what a room does with an event is
 * ngx_chat_order_arrive()'s decision).  A room of a store without a log
 * shows each event as it comes: Redis brings them in rev order, and
 * nothing stored could fill a gap.
 */

#include "ngx_chat.h"
#include "ngx_chat_rooms.h"
#include "ngx_chat_member_cache.h"
#include "ngx_chat_request.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_access.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_order.h"
#include "ngx_chat_channel.h"
#include "ngx_chat_members.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_reload.h"


#define NGX_CHAT_GAP_WAIT          200
#define NGX_CHAT_PENDING_MAX       10000

/* how often the latest revs of the open rooms are compared with storage */
#define NGX_CHAT_SYNC_INTERVAL     1000
#define NGX_CHAT_SYNC_ROOMS        1000


static void ngx_chat_fanout_emit_live(ngx_chat_room_t *room,
    ngx_chat_buf_t *b, const char *skip, size_t skip_len);
static void ngx_chat_room_order(ngx_chat_room_t *room, ngx_chat_order_t *o);
static void ngx_chat_fanout_deliver(ngx_chat_room_t *room,
    ngx_chat_buf_t *b);
static void ngx_chat_fanout_emit(ngx_chat_room_t *room, ngx_chat_buf_t *b);
static void ngx_chat_fanout_join_overflow(ngx_chat_join_t *jn);
static void ngx_chat_fanout_sync_handler(ngx_event_t *ev);
static void ngx_chat_fanout_synced(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_fanout_resynced(void *data, PGresult *res,
    ngx_uint_t status);


static ngx_event_t  ngx_chat_sync_ev;
static ngx_uint_t   ngx_chat_sync_queries;


ngx_int_t
ngx_chat_fanout_init(ngx_cycle_t *cycle)
{
    ngx_chat_sync_queries = 0;

    ngx_chat_rooms_init();

    /*
     * A worker that dies between a commit and its publish leaves the
     * other workers without those events, and only a later message would
     * show the gap: the open rooms are compared with storage in the
     * background, so no committed event waits for one.
     */
    ngx_memzero(&ngx_chat_sync_ev, sizeof(ngx_event_t));
    ngx_chat_sync_ev.handler = ngx_chat_fanout_sync_handler;
    ngx_chat_sync_ev.data = &ngx_chat_no_connection;
    ngx_chat_sync_ev.log = cycle->log;
    ngx_chat_sync_ev.cancelable = 1;
    ngx_add_timer(&ngx_chat_sync_ev, NGX_CHAT_SYNC_INTERVAL);

    return NGX_OK;
}


void
ngx_chat_fanout_exit(void)
{
    if (ngx_chat_sync_ev.timer_set) {
        ngx_del_timer(&ngx_chat_sync_ev);
    }

    ngx_chat_rooms_exit();
}


void
ngx_chat_fanout_redis_message(ngx_uint_t store, const char *id, size_t len,
    const char *payload, size_t payload_len)
{
    ngx_chat_buf_t            *b;
    ngx_chat_room_t           *room;
    ngx_chat_order_t           o;
    ngx_chat_channel_event_t   pl;

    room = ngx_chat_fanout_room_of(store, id, len);
    if (room == NULL) {
        return;
    }

    if (ngx_chat_channel_parse(payload, payload_len, &pl) != 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                      "chat: ignored a malformed event for room \"%*s\"",
                      len, id);
        return;
    }

    ngx_chat_room_order(room, &o);

    /* this worker's own commits come back from Redis: already delivered */
    if (pl.rev
        && ngx_chat_order_arrive(&o, pl.rev) == NGX_CHAT_ORDER_DUPLICATE)
    {
        return;
    }

    /* framed once per worker, shared by every local session */
    b = ngx_chat_buf_text_frame(pl.json, payload + payload_len - pl.json,
                                pl.rev);
    if (b == NULL) {
        return;
    }

    b->seq = pl.seq;

    if (pl.rev == 0) {
        ngx_chat_fanout_emit_live(room, b, pl.skip, pl.skip_len);

    } else {
        ngx_chat_fanout_deliver(room, b);
    }

    ngx_chat_buf_unref(b);
}


/*
 * An event without a rev (receipt, typing, presence): published as
 * "0\n<json>" and shown to the room's live connections in every worker,
 * this one included, when Redis brings it back.
 */
void
ngx_chat_fanout_ephemeral(ngx_uint_t store, const char *id, size_t len,
    const char *skip, size_t skip_len, const char *json, size_t json_len)
{
    u_char  *payload, *p;

    payload = ngx_alloc(4 + skip_len + json_len, ngx_chat_worker.log);
    if (payload == NULL) {
        return;
    }

    p = payload;
    *p++ = '0';

    if (skip_len) {
        *p++ = ' ';
        *p++ = '@';
        p = ngx_cpymem(p, skip, skip_len);
    }

    *p++ = '\n';
    p = ngx_cpymem(p, json, json_len);

    ngx_chat_redis_publish(store, id, len, (char *) payload, p - payload);
    ngx_free(payload);
}


static void
ngx_chat_fanout_emit_live(ngx_chat_room_t *room, ngx_chat_buf_t *b,
    const char *skip, size_t skip_len)
{
    ngx_chat_member_t   *m, *next;
    ngx_chat_session_t  *s;

    for (m = room->members; m; m = next) {
        next = m->next;
        s = m->session;

        if (!m->live
            || (skip_len && s->user_len == skip_len
                && ngx_memcmp(s->user, skip, skip_len) == 0))
        {
            continue;
        }

        (void) ngx_chat_session_enqueue(s, b);
        ngx_chat_metrics_count(NGX_CHAT_METRICS_EVENTS_OUT);
    }
}


/*
 * A durable event committed by this worker (seq: a message's, else 0):
 * published to the other workers and hosts, and delivered here.
 */
void
ngx_chat_fanout_committed(const char *id, size_t len, int64_t rev,
    int64_t seq, const char *json, size_t json_len)
{
    u_char           *p, *payload;
    ngx_chat_buf_t   *b;
    ngx_chat_room_t  *room;

    payload = ngx_alloc(2 * NGX_INT64_LEN + 2 + json_len,
                        ngx_chat_worker.log);

    if (payload) {
        p = ngx_sprintf(payload, "%L %L\n", rev, seq);
        p = ngx_cpymem(p, json, json_len);
        ngx_chat_redis_publish(NGX_CHAT_REDIS_ROOMS, id, len,
                               (char *) payload, p - payload);
        ngx_free(payload);
    }

    /* local sessions need not wait for the round trip through Redis */
    room = ngx_chat_room_find(ngx_chat_store_postgresql.rooms(), id, len);
    if (room == NULL) {
        return;
    }

    b = ngx_chat_buf_text_frame(json, json_len, rev);
    if (b == NULL) {
        return;
    }

    b->seq = seq;

    ngx_chat_fanout_deliver(room, b);
    ngx_chat_buf_unref(b);
}


static void
ngx_chat_room_order(ngx_chat_room_t *room, ngx_chat_order_t *o)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    o->delivered = room->delivered;
    o->expected = ctx->expected;
    o->ready = room->state == NGX_CHAT_ROOM_READY;
    o->logged = ctx->store->logged;
}


static void
ngx_chat_fanout_deliver(ngx_chat_room_t *room, ngx_chat_buf_t *b)
{
    ngx_chat_order_t      o;
    ngx_chat_room_ctx_t  *ctx = room->data;

    ngx_chat_room_order(room, &o);

    switch (ngx_chat_order_arrive(&o, b->rev)) {

    case NGX_CHAT_ORDER_DUPLICATE:
        return;

    case NGX_CHAT_ORDER_HOLD:
    case NGX_CHAT_ORDER_GAP:
        /* dropping is safe: a gap is always read back from PostgreSQL */
        if (room->npending < NGX_CHAT_PENDING_MAX) {
            (void) ngx_chat_room_pending_add(room, b);
        }

        if (o.ready && !ngx_chat_room_gap_armed(room) && !ctx->resyncing) {
            ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT);
        }

        return;

    case NGX_CHAT_ORDER_DELIVER:
        break;
    }

    ngx_chat_fanout_emit(room, b);

    if (o.logged) {
        ngx_chat_fanout_emit_pending(room);
    }

    if (room->npending == 0 && ngx_chat_room_gap_armed(room)) {
        ngx_chat_room_gap_disarm(room);
    }
}


/* the events kept that follow what was delivered now */
void
ngx_chat_fanout_emit_pending(ngx_chat_room_t *room)
{
    ngx_chat_buf_t  *b;

    while ((b = ngx_chat_room_pending_next(room)) != NULL) {
        ngx_chat_fanout_emit(room, b);
        ngx_chat_buf_unref(b);
    }
}


/* delivers b, the room's next durable event, to its members */
static void
ngx_chat_fanout_emit(ngx_chat_room_t *room, ngx_chat_buf_t *b)
{
    ngx_chat_join_t      *jn;
    ngx_chat_member_t    *m, *next;
    ngx_chat_session_t   *s;
    ngx_chat_room_ctx_t  *ctx = room->data;

    room->delivered = b->rev;

    if (b->seq > ctx->seq) {
        ctx->seq = b->seq;
    }

    for (m = room->members; m; m = next) {
        /* a session closed by its full queue unlinks only itself */
        next = m->next;
        s = m->session;

        if (m->live) {
            if (ngx_chat_order_member_takes(m->floor, b->rev)) {
                (void) ngx_chat_session_enqueue(s, b);
                ngx_chat_metrics_count(NGX_CHAT_METRICS_EVENTS_OUT);
            }

            continue;
        }

        /* a member not live is its join's */
        jn = (ngx_chat_join_t *) m;

        if (jn->overflow) {
            /* read back from storage when the replay is out */
            continue;
        }

        if (ngx_chat_held_add(&jn->held, b) != 0) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");

        } else if (jn->held.bytes > s->lcf->send_queue_max) {
            ngx_chat_fanout_join_overflow(jn);
        }
    }

    ngx_chat_metrics_fanout(b->data, b->len, b->seq);

    /* moderation: after the event, nothing more to whom it ends */
    ngx_chat_members_event(room, b);
}


/*
 * A joining member holds more live events than a live one could queue:
 * they are let go, and its replay reads them back from storage when it
 * is out.  Nothing stored can replace them in the redis store.
 */
static void
ngx_chat_fanout_join_overflow(ngx_chat_join_t *jn)
{
    ngx_chat_room_ctx_t  *ctx = jn->member.room->data;

    if (!ctx->store->logged) {
        ngx_chat_session_close(jn->member.session, NGX_CHAT_CLOSE_TRY_LATER,
                               "reading too slowly");
        return;
    }

    ngx_chat_held_free(&jn->held);
    jn->overflow = 1;
}


void
ngx_chat_fanout_gap_handler(ngx_event_t *ev)
{
    ngx_chat_room_t   *room = ev->data;
    ngx_chat_order_t   o;

    ngx_chat_room_order(room, &o);

    if (ngx_chat_order_must_fill(&o, room->npending)) {
        ngx_chat_fanout_resync(room);
    }
}


/*
 * Storage has the room's events up to rev: if they do not come within
 * the gap wait (they may be on their way through Redis), they are read
 * back.
 */
void
ngx_chat_fanout_expect(ngx_chat_room_t *room, int64_t rev)
{
    ngx_chat_order_t      o;
    ngx_chat_room_ctx_t  *ctx = room->data;

    ngx_chat_room_order(room, &o);

    if (!ngx_chat_order_expect(&o, rev)) {
        ctx->expected = o.expected;
        return;
    }

    ctx->expected = o.expected;

    if (!ngx_chat_room_gap_armed(room) && !ctx->resyncing) {
        ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT);
    }
}


typedef struct {
    u_char       *pos;
    u_char       *last;
    ngx_uint_t    n;
    u_char        buf[NGX_CHAT_SYNC_ROOMS * (NGX_CHAT_ROOM_ID_MAX + 3) + 4];
} ngx_chat_sync_batch_t;


static void
ngx_chat_fanout_sync_send(ngx_chat_sync_batch_t *sb)
{
    int          length;
    const char  *value;

    *sb->pos++ = '}';
    value = (const char *) sb->buf;
    length = sb->pos - sb->buf;

    if (ngx_chat_pg_query(NGX_CHAT_SQL_ROOMS_LATEST, 1, &value, &length,
                          ngx_chat_fanout_synced, NULL)
        == NGX_OK)
    {
        ngx_chat_sync_queries++;
    }

    sb->pos = sb->buf;
    sb->n = 0;
}


static void
ngx_chat_fanout_sync_room(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_sync_batch_t  *sb = arg;

    if (room->nmembers == 0 || room->state != NGX_CHAT_ROOM_READY) {
        return;
    }

    /* room ids need no escaping inside double quotes */
    *sb->pos++ = sb->n ? ',' : '{';
    *sb->pos++ = '"';
    sb->pos = ngx_cpymem(sb->pos, room->id, room->id_len);
    *sb->pos++ = '"';

    if (++sb->n == NGX_CHAT_SYNC_ROOMS) {
        ngx_chat_fanout_sync_send(sb);
    }
}


static void
ngx_chat_fanout_sync_handler(ngx_event_t *ev)
{
    ngx_chat_sync_batch_t          *sb;
    const ngx_chat_store_t *const  *st;

    /* an exiting worker syncs the rooms of the sessions it still serves */
    if (!ngx_chat_reload_backends_kept()) {
        return;
    }

    ngx_add_timer(ev, NGX_CHAT_SYNC_INTERVAL);

    /* a slow store gets no second round before it answered the first */
    if (ngx_chat_sync_queries || !ngx_chat_pg_up()) {
        return;
    }

    for (st = ngx_chat_stores; *st; st++) {
        if ((*st)->logged && (*st)->rooms()->count) {
            break;
        }
    }

    if (*st == NULL) {
        /* no room whose log could be ahead */
        return;
    }

    sb = ngx_alloc(sizeof(ngx_chat_sync_batch_t), ev->log);
    if (sb == NULL) {
        return;
    }

    sb->pos = sb->buf;
    sb->n = 0;

    for (st = ngx_chat_stores; *st; st++) {
        if ((*st)->logged) {
            ngx_chat_room_each((*st)->rooms(), ngx_chat_fanout_sync_room, sb);
        }
    }

    if (sb->n) {
        ngx_chat_fanout_sync_send(sb);
    }

    ngx_free(sb);
}


static void
ngx_chat_fanout_synced(void *data, PGresult *res, ngx_uint_t status)
{
    int               i, n;
    char             *id;
    ngx_chat_room_t  *room;

    ngx_chat_sync_queries--;

    if (status != NGX_CHAT_PG_OK) {
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        id = PQgetvalue(res, i, 0);
        room = ngx_chat_room_find(ngx_chat_store_postgresql.rooms(), id,
                                  PQgetlength(res, i, 0));

        if (room && room->state == NGX_CHAT_ROOM_READY) {
            ngx_chat_fanout_expect(room, atoll(PQgetvalue(res, i, 1)));
        }
    }
}


void
ngx_chat_fanout_resync(ngx_chat_room_t *room)
{
    u_char                since[NGX_INT64_LEN], limit[NGX_INT_T_LEN];
    ngx_int_t             rc;
    const char           *values[4];
    int                   lengths[4];
    ngx_chat_room_ctx_t  *ctx = room->data;
    ngx_chat_room_ref_t  *ref;

    if (ctx->resyncing || room->state != NGX_CHAT_ROOM_READY) {
        return;
    }

    /* what Redis did not bring may end a membership */
    ngx_chat_member_cache_drop(room);

    if (ngx_chat_room_gap_armed(room)) {
        ngx_chat_room_gap_disarm(room);
    }

    ref = ngx_chat_room_ref(room, NULL, 0);
    if (ref == NULL) {
        ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT);
        return;
    }

    values[0] = room->id;
    lengths[0] = room->id_len;
    values[1] = (char *) since;
    lengths[1] = ngx_sprintf(since, "%L", room->delivered) - since;
    values[2] = "9223372036854775807";
    lengths[2] = sizeof("9223372036854775807") - 1;
    values[3] = (char *) limit;
    lengths[3] = ngx_sprintf(limit, "%ui", (ngx_uint_t) NGX_CHAT_RESYNC_ROWS)
                 - limit;

    rc = ngx_chat_pg_query_named(NGX_CHAT_SQL_LOG_OLDEST, 4, values,
                                 lengths, ngx_chat_fanout_resynced, ref);

    if (rc != NGX_OK) {
        ngx_free(ref);
        ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT * 5);
        return;
    }

    ctx->resyncing = 1;
}


static void
ngx_chat_fanout_resynced(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_room_ref_t *ref = data;

    int                   i, n;
    ngx_chat_buf_t       *b;
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_room_deref(ref);
    if (room == NULL) {
        return;
    }

    ctx = room->data;
    ctx->resyncing = 0;

    if (status != NGX_CHAT_PG_OK) {
        ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT * 5);
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        b = ngx_chat_sql_row_event(res, i, room->id, room->id_len);

        if (b == NULL) {
            break;
        }

        ngx_chat_fanout_deliver(room, b);
        ngx_chat_buf_unref(b);

        /* a session may have closed the room's last membership */
        if (room->state != NGX_CHAT_ROOM_READY) {
            return;
        }
    }

    if (n == NGX_CHAT_RESYNC_ROWS) {
        ngx_chat_fanout_resync(room);
        return;
    }

    if (room->npending && !ngx_chat_room_gap_armed(room)) {
        ngx_chat_room_gap_arm(room, NGX_CHAT_GAP_WAIT);
    }
}
