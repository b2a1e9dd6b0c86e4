/*
 * Fanout: the worker's rooms and the sessions joined to them.
 *
 * Every durable room event reaches a room through ngx_chat_fanout_deliver(),
 * from a local commit, from Redis, or from PostgreSQL when a gap is read
 * back, so each joined session sees each rev once and in order (what a
 * room does with an event is ngx_chat_order_arrive()'s decision).  A room
 * is subscribed on its first local join and unsubscribed after its last
 * leave; at most one SUBSCRIBE or UNSUBSCRIBE is outstanding per room.
 *
 * A room of a store without a log (chat_store redis) is another room with
 * the same id, in its own table and on its own channel.  Nothing stored
 * can fill its gaps, and Redis brings its events in rev order, so each
 * event is shown as it comes, with no pending events and no reading back.
 */

#include "ngx_chat.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_session.h"
#include "ngx_chat_request.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_access.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_store.h"
#include "ngx_chat_order.h"


#define NGX_CHAT_ROOM_SUBSCRIBING  1   /* waiting to be subscribed */
#define NGX_CHAT_ROOM_OPENING      2   /* waiting for a join's latest rev */
#define NGX_CHAT_ROOM_READY        3

#define NGX_CHAT_SUB_NONE          0
#define NGX_CHAT_SUB_PENDING       1
#define NGX_CHAT_SUB_ACTIVE        2
#define NGX_CHAT_UNSUB_PENDING     3

#define NGX_CHAT_GAP_WAIT          200
#define NGX_CHAT_PENDING_MAX       10000

/* how often the latest revs of the open rooms are compared with storage */
#define NGX_CHAT_SYNC_INTERVAL     1000
#define NGX_CHAT_SYNC_ROOMS        1000

/* a replay that fell behind the room catches up this many rows a time */
#define NGX_CHAT_CATCH_UP_ROWS     200
#define NGX_CHAT_CATCH_UP_MAX      8

typedef struct {
    ngx_event_t               gap_timer;
    ngx_event_t               release;
    ngx_uint_t                sub;
    const ngx_chat_store_t   *store;
    int64_t                   expected;  /* storage has this rev at least */
    int64_t                   seq;       /* the latest seq delivered */
    unsigned                  resyncing:1;
} ngx_chat_room_ctx_t;


/*
 * A member with the join request it came from.  since is a seq (join
 * with since) or a rev (since_rev); the other positions are revs, but
 * for target_seq, the reply's seq.
 */
typedef struct {
    ngx_chat_member_t    member;
    int64_t              since;
    int64_t              target;
    int64_t              target_seq;
    int64_t              stored;       /* the room's rev when checked */
    int64_t              stored_seq;   /* and its seq */
    int64_t              read_to;      /* read from storage up to here */
    ngx_uint_t           rounds;       /* catching up after overflows */

    /* the replay's frames, queued as the peer takes them */
    ngx_chat_buf_t     **replay;
    uint32_t             nreplay;
    uint32_t             replay_next;

    size_t               id_len;
    char                 id[NGX_CHAT_REQ_ID_JSON_SIZE];
    unsigned             has_since:1;
    unsigned             since_rev:1;  /* since is a rev */
    unsigned             checking:1;
    unsigned             truncated:1;
    unsigned             overflow:1;   /* live events let go */
    unsigned             catching:1;   /* reading back what it let go */
} ngx_chat_join_t;


/* what a PostgreSQL callback needs to find its room or member again */
typedef struct {
    ngx_chat_session_t  *session;
    uint32_t             gen;
    size_t               room_len;
    char                 room[NGX_CHAT_ROOM_ID_MAX + 1];
} ngx_chat_room_ref_t;


static ngx_chat_room_t *ngx_chat_room_acquire(const ngx_chat_store_t *store,
    const char *id, size_t len);
static void ngx_chat_room_order(ngx_chat_room_t *room, ngx_chat_order_t *o);
static void ngx_chat_room_open(ngx_chat_room_t *room);
static void ngx_chat_room_release_later(ngx_chat_room_t *room);
static void ngx_chat_room_release_handler(ngx_event_t *ev);
static void ngx_chat_room_destroy(ngx_chat_room_t *room);
static void ngx_chat_room_subscribe(ngx_chat_room_t *room);
static void ngx_chat_fanout_deliver(ngx_chat_room_t *room,
    ngx_chat_buf_t *b);
static void ngx_chat_fanout_emit(ngx_chat_room_t *room, ngx_chat_buf_t *b);
static void ngx_chat_fanout_emit_pending(ngx_chat_room_t *room);
static void ngx_chat_fanout_emit_live(ngx_chat_room_t *room,
    ngx_chat_buf_t *b);
static ngx_int_t ngx_chat_fanout_payload(const char *payload, size_t len,
    int64_t *rev, int64_t *seq, const char **json);
static void ngx_chat_fanout_gap_handler(ngx_event_t *ev);
static void ngx_chat_fanout_resync(ngx_chat_room_t *room);
static void ngx_chat_fanout_resynced(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_join_check(ngx_chat_join_t *jn);
static void ngx_chat_join_checked(void *data, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after);
static void ngx_chat_join_open_room(ngx_chat_join_t *jn);
static ngx_chat_join_t *ngx_chat_join_find(ngx_chat_room_ref_t *ref);
static void ngx_chat_join_start(ngx_chat_join_t *jn);
static void ngx_chat_join_fail(ngx_chat_join_t *jn, const char *code,
    const char *message);
static void ngx_chat_join_refuse(ngx_chat_join_t *jn, const char *code,
    const char *message, long long retry_after);
static void ngx_chat_join_replayed(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_join_feed(ngx_chat_join_t *jn);
static void ngx_chat_join_query(ngx_chat_join_t *jn, const char *sql,
    ngx_uint_t limit, ngx_chat_pg_handler_pt handler);
static void ngx_chat_fanout_join_overflow(ngx_chat_join_t *jn);
static void ngx_chat_join_finish(ngx_chat_join_t *jn, ngx_uint_t truncated);
static void ngx_chat_join_reply(ngx_chat_session_t *s, const char *id,
    size_t id_len, ngx_chat_room_t *room, int64_t seq, int64_t rev,
    ngx_uint_t truncated);
static void ngx_chat_join_free_replay(ngx_chat_join_t *jn);
static void ngx_chat_fanout_expect(ngx_chat_room_t *room, int64_t rev);
static void ngx_chat_fanout_sync_handler(ngx_event_t *ev);
static void ngx_chat_fanout_synced(void *data, PGresult *res,
    ngx_uint_t status);
static ngx_chat_join_t *ngx_chat_session_member(ngx_chat_session_t *s,
    const char *room, size_t len);
static void ngx_chat_member_remove(ngx_chat_session_t *s,
    ngx_chat_member_t *m);
static ngx_chat_room_ref_t *ngx_chat_room_ref(ngx_chat_room_t *room,
    ngx_chat_session_t *s, uint32_t gen);
static ngx_chat_room_t *ngx_chat_room_deref(ngx_chat_room_ref_t *ref);


static uint32_t     ngx_chat_join_gen;
static ngx_event_t  ngx_chat_sync_ev;
static ngx_uint_t   ngx_chat_sync_queries;


ngx_int_t
ngx_chat_fanout_init(ngx_cycle_t *cycle)
{
    ngx_chat_join_gen = 0;
    ngx_chat_sync_queries = 0;

    /*
     * A worker that dies between a commit and its publish leaves the
     * other workers without those events, and only a later message would
     * show the gap: the open rooms are compared with storage in the
     * background, so no committed event waits for one.
     */
    ngx_memzero(&ngx_chat_sync_ev, sizeof(ngx_event_t));
    ngx_chat_sync_ev.handler = ngx_chat_fanout_sync_handler;
    ngx_chat_sync_ev.log = cycle->log;
    ngx_chat_sync_ev.cancelable = 1;
    ngx_add_timer(&ngx_chat_sync_ev, NGX_CHAT_SYNC_INTERVAL);

    return NGX_OK;
}


static void
ngx_chat_fanout_free_room(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (ctx) {
        if (ctx->gap_timer.timer_set) {
            ngx_del_timer(&ctx->gap_timer);
        }

        if (ctx->release.posted) {
            ngx_delete_posted_event(&ctx->release);
        }

        ngx_free(ctx);
        room->data = NULL;
    }
}


/* calls handler for each room of every store */
static void
ngx_chat_fanout_each(void (*handler)(ngx_chat_room_t *room, void *arg))
{
    const ngx_chat_store_t *const  *st;

    for (st = ngx_chat_stores; *st; st++) {
        ngx_chat_room_each((*st)->rooms(), handler, NULL);
    }
}


void
ngx_chat_fanout_exit(void)
{
    if (ngx_chat_sync_ev.timer_set) {
        ngx_del_timer(&ngx_chat_sync_ev);
    }

    /* sessions are gone by now: only the rooms' own state is left */
    ngx_chat_fanout_each(ngx_chat_fanout_free_room);
}


static ngx_chat_room_t *
ngx_chat_room_acquire(const ngx_chat_store_t *store, const char *id,
    size_t len)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_room_find(store->rooms(), id, len);
    if (room) {
        return room;
    }

    ctx = ngx_calloc(sizeof(ngx_chat_room_ctx_t), ngx_chat_worker.log);
    if (ctx == NULL) {
        return NULL;
    }

    room = ngx_chat_room_add(store->rooms(), id, len);
    if (room == NULL) {
        ngx_free(ctx);
        return NULL;
    }

    room->data = ctx;
    ctx->store = store;

    ctx->gap_timer.handler = ngx_chat_fanout_gap_handler;
    ctx->gap_timer.data = room;
    ctx->gap_timer.log = ngx_chat_worker.log;
    ctx->gap_timer.cancelable = 1;

    ctx->release.handler = ngx_chat_room_release_handler;
    ctx->release.data = room;
    ctx->release.log = ngx_chat_worker.log;

    /*
     * Subscribe first, then read the latest rev: whatever is committed
     * after that read is published after the subscription is active.
     */
    room->state = NGX_CHAT_ROOM_SUBSCRIBING;
    ngx_chat_room_subscribe(room);

    return room;
}


static void
ngx_chat_room_subscribe(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (ctx->sub != NGX_CHAT_SUB_NONE) {
        return;
    }

    if (ngx_chat_redis_subscribe(ctx->store->index, room->id, room->id_len)
        == NGX_OK)
    {
        ctx->sub = NGX_CHAT_SUB_PENDING;
    }
}


/*
 * The room is subscribed (or Redis is away): each waiting join checks its
 * access and reads the latest rev; the first answer opens the room.
 */
static void
ngx_chat_room_open(ngx_chat_room_t *room)
{
    ngx_chat_join_t    *jn;
    ngx_chat_member_t  *m, *next;

    room->state = NGX_CHAT_ROOM_OPENING;

    for (m = room->members; m; m = next) {
        next = m->next;
        jn = (ngx_chat_join_t *) m;

        if (!m->live && !jn->checking) {
            ngx_chat_join_check(jn);
        }
    }
}


static void
ngx_chat_room_release_later(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    /* never inside a loop over the room's members */
    if (!ctx->release.posted) {
        ngx_post_event(&ctx->release, &ngx_posted_events);
    }
}


static void
ngx_chat_room_release_handler(ngx_event_t *ev)
{
    ngx_chat_room_t      *room = ev->data;
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (room->nmembers) {
        return;
    }

    switch (ctx->sub) {

    case NGX_CHAT_SUB_ACTIVE:
        if (ngx_chat_redis_unsubscribe(ctx->store->index, room->id,
                                       room->id_len)
            == NGX_OK)
        {
            ctx->sub = NGX_CHAT_UNSUB_PENDING;
            return;
        }

        ctx->sub = NGX_CHAT_SUB_NONE;
        break;

    case NGX_CHAT_SUB_PENDING:
    case NGX_CHAT_UNSUB_PENDING:
        /* decided when Redis answers */
        return;
    }

    ngx_chat_room_destroy(room);
}


static void
ngx_chat_room_destroy(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t    *ctx = room->data;
    ngx_chat_room_table_t  *rooms;

    rooms = ctx->store->rooms();

    ngx_chat_fanout_free_room(room, NULL);
    ngx_chat_room_delete(rooms, room);
}


/* the rooms of a store's channels, as Redis names them */
static ngx_chat_room_t *
ngx_chat_fanout_room_of(ngx_uint_t store, const char *id, size_t len)
{
    const ngx_chat_store_t  *st;

    st = ngx_chat_store_of(store);

    return st ? ngx_chat_room_find(st->rooms(), id, len) : NULL;
}


void
ngx_chat_fanout_redis_subscribed(ngx_uint_t store, const char *id,
    size_t len)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_fanout_room_of(store, id, len);
    if (room == NULL) {
        return;
    }

    ctx = room->data;
    ctx->sub = NGX_CHAT_SUB_ACTIVE;

    if (room->nmembers == 0) {
        ngx_chat_room_release_later(room);
        return;
    }

    if (room->state == NGX_CHAT_ROOM_SUBSCRIBING) {
        ngx_chat_room_open(room);

    } else if (room->state == NGX_CHAT_ROOM_READY && ctx->store->logged) {
        /* events published while it was not subscribed */
        ngx_chat_fanout_resync(room);
    }
}


void
ngx_chat_fanout_redis_unsubscribed(ngx_uint_t store, const char *id,
    size_t len)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_fanout_room_of(store, id, len);
    if (room == NULL) {
        return;
    }

    ctx = room->data;
    ctx->sub = NGX_CHAT_SUB_NONE;

    if (room->nmembers == 0) {
        ngx_chat_room_destroy(room);
        return;
    }

    /* someone joined while it was being unsubscribed */
    ngx_chat_room_subscribe(room);
}


static void
ngx_chat_fanout_redis_room_up(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (room->nmembers && ctx->sub == NGX_CHAT_SUB_NONE) {
        ngx_chat_room_subscribe(room);
    }
}


void
ngx_chat_fanout_redis_up(void)
{
    ngx_chat_fanout_each(ngx_chat_fanout_redis_room_up);
}


static void
ngx_chat_fanout_redis_room_down(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    ctx->sub = NGX_CHAT_SUB_NONE;

    if (room->nmembers == 0) {
        ngx_chat_room_release_later(room);

    } else if (room->state == NGX_CHAT_ROOM_SUBSCRIBING) {
        ngx_chat_room_open(room);
    }
}


void
ngx_chat_fanout_redis_down(void)
{
    ngx_chat_fanout_each(ngx_chat_fanout_redis_room_down);
}


void
ngx_chat_fanout_redis_message(ngx_uint_t store, const char *id, size_t len,
    const char *payload, size_t payload_len)
{
    int64_t            rev, seq;
    const char        *json;
    ngx_chat_buf_t    *b;
    ngx_chat_room_t   *room;
    ngx_chat_order_t   o;

    room = ngx_chat_fanout_room_of(store, id, len);
    if (room == NULL) {
        return;
    }

    if (ngx_chat_fanout_payload(payload, payload_len, &rev, &seq, &json)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                      "chat: ignored a malformed event for room \"%*s\"",
                      len, id);
        return;
    }

    ngx_chat_room_order(room, &o);

    /* this worker's own commits come back from Redis: already delivered */
    if (rev && ngx_chat_order_arrive(&o, rev) == NGX_CHAT_ORDER_DUPLICATE) {
        return;
    }

    /* framed once per worker, shared by every local session */
    b = ngx_chat_buf_text_frame(json, payload + payload_len - json, rev);
    if (b == NULL) {
        return;
    }

    b->seq = seq;

    if (rev == 0) {
        ngx_chat_fanout_emit_live(room, b);

    } else {
        ngx_chat_fanout_deliver(room, b);
    }

    ngx_chat_buf_unref(b);
}


/*
 * "<rev> <seq>\n<event json>" (seq 0: not a message), or "0\n<json>" for
 * an ephemeral event: the numbers are read without parsing the JSON.
 */
static ngx_int_t
ngx_chat_fanout_payload(const char *payload, size_t len, int64_t *rev,
    int64_t *seq, const char **json)
{
    int64_t     n[2];
    ngx_uint_t  i;
    const char  *p, *last, *start;

    p = payload;
    last = payload + len;
    n[0] = 0;
    n[1] = 0;

    for (i = 0; i < 2; i++) {
        start = p;

        while (p < last && *p >= '0' && *p <= '9' && n[i] < INT64_MAX / 10) {
            n[i] = n[i] * 10 + (*p++ - '0');
        }

        if (p == start || p == last) {
            return NGX_ERROR;
        }

        if (*p == '\n') {
            break;
        }

        if (*p != ' ' || i == 1) {
            return NGX_ERROR;
        }

        p++;
    }

    *rev = n[0];
    *seq = n[1];
    *json = p + 1;

    return NGX_OK;
}


/*
 * An event without a rev (receipt, typing, presence): published as
 * "0\n<json>" and shown to the room's live connections in every worker,
 * this one included, when Redis brings it back.
 */
void
ngx_chat_fanout_ephemeral(const char *id, size_t len, const char *json,
    size_t json_len)
{
    u_char  *payload;

    payload = ngx_alloc(2 + json_len, ngx_chat_worker.log);
    if (payload == NULL) {
        return;
    }

    payload[0] = '0';
    payload[1] = '\n';
    ngx_memcpy(payload + 2, json, json_len);

    ngx_chat_redis_publish(id, len, (char *) payload, 2 + json_len);
    ngx_free(payload);
}


static void
ngx_chat_fanout_emit_live(ngx_chat_room_t *room, ngx_chat_buf_t *b)
{
    ngx_chat_member_t  *m, *next;

    for (m = room->members; m; m = next) {
        next = m->next;

        if (m->live) {
            (void) ngx_chat_session_enqueue(m->session, b);
        }
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
        ngx_chat_redis_publish(id, len, (char *) payload, p - payload);
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

        if (o.ready && !ctx->gap_timer.timer_set && !ctx->resyncing) {
            ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT);
        }

        return;

    case NGX_CHAT_ORDER_DELIVER:
        break;
    }

    ngx_chat_fanout_emit(room, b);

    if (o.logged) {
        ngx_chat_fanout_emit_pending(room);
    }

    if (room->npending == 0 && ctx->gap_timer.timer_set) {
        ngx_del_timer(&ctx->gap_timer);
    }
}


/* the events kept that follow what was delivered now */
static void
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
            }

        } else if (((ngx_chat_join_t *) m)->overflow) {
            /* read back from storage when the replay is out */
            continue;

        } else if (ngx_chat_member_hold(m, b) != 0) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");

        } else if (m->held_bytes > s->lcf->send_queue_max) {
            ngx_chat_fanout_join_overflow((ngx_chat_join_t *) m);
        }
    }
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

    ngx_chat_member_free_held(&jn->member);
    jn->overflow = 1;
}


static void
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
static void
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

    if (!ctx->gap_timer.timer_set && !ctx->resyncing) {
        ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT);
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

    if (ngx_exiting || ngx_terminate || ngx_quit) {
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


static void
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

    if (ctx->gap_timer.timer_set) {
        ngx_del_timer(&ctx->gap_timer);
    }

    ref = ngx_chat_room_ref(room, NULL, 0);
    if (ref == NULL) {
        ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT);
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

    rc = ngx_chat_pg_query(NGX_CHAT_SQL_LOG_OLDEST, 4, values, lengths,
                           ngx_chat_fanout_resynced, ref);

    if (rc != NGX_OK) {
        ngx_free(ref);
        ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT * 5);
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
        ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT * 5);
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

    if (room->npending && !ctx->gap_timer.timer_set) {
        ngx_add_timer(&ctx->gap_timer, NGX_CHAT_GAP_WAIT);
    }
}


void
ngx_chat_fanout_join(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_uint_t            n;
    ngx_chat_member_t    *m;
    ngx_chat_join_t      *jn;
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    jn = ngx_chat_session_member(s, req->room, req->room_len);

    if (jn) {
        if (!jn->member.live) {
            ngx_chat_session_error(s, req->id, req->id_len, "conflict",
                                   "a join of this room is in progress");
            return;
        }

        /* joined already: nothing is replayed twice */
        room = jn->member.room;
        ctx = room->data;

        ngx_chat_join_reply(s, req->id, req->id_len, room, ctx->seq,
                            room->delivered, 0);
        return;
    }

    /* chat_rooms_per_connection: a room not joined yet needs a place */
    n = 0;

    for (m = s->members; m; m = m->snext) {
        n++;
    }

    if (n >= s->lcf->rooms_max) {
        ngx_chat_session_error(s, req->id, req->id_len, "too_large",
                               "this connection has joined as many rooms "
                               "as it may (chat_rooms_per_connection): "
                               "leave one first");
        return;
    }

    jn = ngx_calloc(sizeof(ngx_chat_join_t), s->connection->log);
    if (jn == NULL) {
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return;
    }

    room = ngx_chat_room_acquire(s->lcf->store, req->room, req->room_len);
    if (room == NULL) {
        ngx_free(jn);
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return;
    }

    jn->member.session = s;
    jn->member.join_gen = ++ngx_chat_join_gen;
    ngx_chat_session_op_begin(s);
    jn->since = req->has_since_rev ? req->since_rev : req->since;
    jn->has_since = req->has_since || req->has_since_rev;
    jn->since_rev = req->has_since_rev;
    jn->id_len = req->id_len;
    ngx_memcpy(jn->id, req->id, req->id_len);

    ngx_chat_room_link(room, &jn->member);
    ngx_chat_session_add_member(s, &jn->member);

    ctx = room->data;

    if (room->state != NGX_CHAT_ROOM_SUBSCRIBING) {
        ngx_chat_join_check(jn);

    } else if (ctx->sub != NGX_CHAT_SUB_PENDING) {
        /* no subscription is coming: no Redis now */
        ngx_chat_room_open(room);
    }
}


/* access and membership, for every join: the room may be private */
static void
ngx_chat_join_check(ngx_chat_join_t *jn)
{
    ngx_int_t             rc;
    ngx_chat_room_t      *room;
    ngx_chat_session_t   *s;
    ngx_chat_room_ref_t  *ref;

    room = jn->member.room;
    s = jn->member.session;

    ref = ngx_chat_room_ref(room, s, jn->member.join_gen);
    if (ref == NULL) {
        ngx_chat_join_fail(jn, "internal", "out of memory");
        return;
    }

    rc = ngx_chat_access_check(room->id, room->id_len, (char *) s->user,
                               s->user_len, ngx_chat_join_checked, ref);

    if (rc != NGX_OK) {
        ngx_chat_session_unref(s);
        ngx_free(ref);
        ngx_chat_join_fail(jn, "internal", "out of memory");
        return;
    }

    jn->checking = 1;
}


static void
ngx_chat_join_checked(void *data, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after)
{
    ngx_chat_room_ref_t *ref = data;

    ngx_chat_join_t     *jn;
    ngx_chat_session_t  *s;

    s = ref->session;
    jn = ngx_chat_join_find(ref);

    if (jn == NULL) {
        return;
    }

    jn->checking = 0;

    if (code) {
        ngx_chat_join_refuse(jn, code, message, retry_after);
        ngx_chat_session_unref(s);
        return;
    }

    jn->stored = rev;
    jn->stored_seq = seq;

    ngx_chat_join_open_room(jn);

    if (ngx_chat_session_open(s)) {
        ngx_chat_join_start(jn);
    }

    ngx_chat_session_unref(s);
}


/* the room learns where storage is from the join's check */
static void
ngx_chat_join_open_room(ngx_chat_join_t *jn)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = jn->member.room;
    ctx = room->data;

    if (!ctx->store->logged) {
        /* the stored rev is not this room's: it goes on from what comes */
        room->state = NGX_CHAT_ROOM_READY;
        return;
    }

    if (room->state == NGX_CHAT_ROOM_READY) {
        /* the room may be behind storage: its Redis link was away */
        ngx_chat_fanout_expect(room, jn->stored);
        return;
    }

    room->delivered = jn->stored;
    ctx->seq = jn->stored_seq;
    room->state = NGX_CHAT_ROOM_READY;

    /* what arrived while the room was opening */
    ngx_chat_fanout_emit_pending(room);

    if (room->npending) {
        ngx_chat_fanout_resync(room);
    }
}


static void
ngx_chat_join_start(ngx_chat_join_t *jn)
{
    int64_t               since_rev;
    ngx_chat_room_t      *room;
    ngx_chat_session_t   *s;
    ngx_chat_room_ctx_t  *ctx;

    room = jn->member.room;
    s = jn->member.session;
    ctx = room->data;

    if (!ctx->store->logged) {
        jn->target = room->delivered;

        /* nothing to replay: every event held is for this member */
        if (jn->member.nheld) {
            jn->target = jn->member.held[0]->rev - 1;
        }

        /* a room of only messages: its seq is its rev */
        jn->target_seq = jn->target;

        ngx_chat_join_finish(jn, 0);
        return;
    }

    /* events after the reply are those after the target, held meanwhile */
    since_rev = (jn->has_since && jn->since_rev) ? jn->since : -1;
    jn->target = ngx_chat_order_join_target(room->delivered, jn->stored,
                                            since_rev);
    jn->target_seq = ngx_max(ctx->seq, jn->stored_seq);

    if (!jn->has_since
        || jn->since >= (jn->since_rev ? jn->target : jn->target_seq))
    {
        ngx_chat_join_finish(jn, 0);
        return;
    }

    jn->read_to = jn->target;

    ngx_chat_join_query(jn, jn->since_rev ? NGX_CHAT_SQL_LOG_NEWEST
                                          : NGX_CHAT_SQL_LOG_SINCE_SEQ,
                        s->lcf->join_replay_max + 1, ngx_chat_join_replayed);
}


/*
 * reads a part of the room for the join: revs (since, target], or with
 * since as a seq, messages after it up to rev target
 */
static void
ngx_chat_join_query(ngx_chat_join_t *jn, const char *sql, ngx_uint_t limit,
    ngx_chat_pg_handler_pt handler)
{
    u_char                since[NGX_INT64_LEN], target[NGX_INT64_LEN];
    u_char                lim[NGX_INT_T_LEN];
    ngx_int_t             rc;
    const char           *values[4];
    int                   lengths[4];
    ngx_chat_room_t      *room;
    ngx_chat_session_t   *s;
    ngx_chat_room_ref_t  *ref;

    room = jn->member.room;
    s = jn->member.session;

    ref = ngx_chat_room_ref(room, s, jn->member.join_gen);
    if (ref == NULL) {
        ngx_chat_join_fail(jn, "internal", "out of memory");
        return;
    }

    values[0] = room->id;
    lengths[0] = room->id_len;
    values[1] = (char *) since;
    lengths[1] = ngx_sprintf(since, "%L", jn->since) - since;
    values[2] = (char *) target;
    lengths[2] = ngx_sprintf(target, "%L", jn->target) - target;
    values[3] = (char *) lim;
    lengths[3] = ngx_sprintf(lim, "%ui", limit) - lim;

    rc = ngx_chat_pg_query(sql, 4, values, lengths, handler, ref);

    if (rc != NGX_OK) {
        ngx_chat_session_unref(s);
        ngx_free(ref);
        ngx_chat_join_fail(jn, "unavailable",
                           "the message store is unavailable");
    }
}


static void
ngx_chat_join_fail(ngx_chat_join_t *jn, const char *code,
    const char *message)
{
    ngx_chat_join_refuse(jn, code, message, 0);
}


/* the member goes first: the error may close the session */
static void
ngx_chat_join_refuse(ngx_chat_join_t *jn, const char *code,
    const char *message, long long retry_after)
{
    size_t               id_len;
    char                 id[NGX_CHAT_REQ_ID_JSON_SIZE];
    ngx_chat_session_t  *s;

    s = jn->member.session;
    id_len = jn->id_len;
    ngx_memcpy(id, jn->id, id_len);

    ngx_chat_member_remove(s, &jn->member);

    ngx_chat_session_error_retry(s, id, id_len, code, message,
                                 retry_after ? retry_after : -1);
}


/* the join a query answered for, unless it is over or the query failed */
static ngx_chat_join_t *
ngx_chat_join_result(ngx_chat_room_ref_t *ref, ngx_uint_t status)
{
    ngx_chat_join_t  *jn;

    jn = ngx_chat_join_find(ref);

    if (jn && status != NGX_CHAT_PG_OK) {
        ngx_chat_join_fail(jn, status == NGX_CHAT_PG_UNAVAILABLE
                               ? "unavailable" : "internal",
                           "the message store is unavailable");
        ngx_chat_session_unref(jn->member.session);
        return NULL;
    }

    return jn;
}


/* rows from first to last (either way) become replay frames */
static ngx_int_t
ngx_chat_join_frames(ngx_chat_join_t *jn, PGresult *res, int first, int last)
{
    int                  i, step, n;
    ngx_chat_buf_t      *b;
    ngx_chat_session_t  *s;

    s = jn->member.session;
    step = first <= last ? 1 : -1;
    n = (last - first) * step + 1;

    /* a read starts only when the frames of the one before are out */
    ngx_chat_join_free_replay(jn);

    jn->replay = ngx_alloc(n * sizeof(ngx_chat_buf_t *), s->connection->log);
    if (jn->replay == NULL) {
        return NGX_ERROR;
    }

    for (i = first; i != last + step; i += step) {
        b = ngx_chat_sql_row_event(res, i, jn->member.room->id,
                                   jn->member.room->id_len);

        if (b) {
            jn->replay[jn->nreplay++] = b;
        }
    }

    return NGX_OK;
}


/*
 * The rows of a join: its replay (newest first, one more than the cap to
 * tell a truncated one), or a page of what it let pass while the replay
 * was going out (oldest first).
 */
static void
ngx_chat_join_replayed(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_room_ref_t *ref = data;

    int                  n, first, last;
    ngx_chat_join_t     *jn;
    ngx_chat_session_t  *s;

    s = ref->session;

    jn = ngx_chat_join_result(ref, status);
    if (jn == NULL) {
        return;
    }

    n = PQntuples(res);

    if (jn->catching) {
        first = 0;
        last = n - 1;

    } else {
        jn->truncated = (ngx_uint_t) n > s->lcf->join_replay_max;
        first = jn->truncated ? n - 2 : n - 1;
        last = 0;
    }

    if (n && first >= 0 && ngx_chat_join_frames(jn, res, first, last)
                           != NGX_OK)
    {
        ngx_chat_join_fail(jn, "internal", "out of memory");
        ngx_chat_session_unref(s);
        return;
    }

    if (jn->catching) {
        /* a short page is the end, whatever retention removed */
        jn->read_to = (n == NGX_CHAT_CATCH_UP_ROWS)
                      ? atoll(PQgetvalue(res, n - 1, NGX_CHAT_SQL_LOG_REV))
                      : jn->target;
    }

    ngx_chat_join_feed(jn);
    ngx_chat_session_unref(s);
}


/*
 * The replay goes out as fast as the peer takes it: a reader gets all of
 * it whatever its length, and a peer that stops reading holds back only
 * what is queued already.
 */
static void
ngx_chat_join_feed(ngx_chat_join_t *jn)
{
    ngx_chat_buf_t      *b;
    ngx_chat_session_t  *s;

    s = jn->member.session;

    while (jn->replay_next < jn->nreplay) {

        if (!ngx_chat_session_reply_room(s)) {
            return;
        }

        b = jn->replay[jn->replay_next++];

        (void) ngx_chat_session_reply(s, b);
        ngx_chat_buf_unref(b);

        if (!ngx_chat_session_open(s)) {
            return;
        }
    }

    if (jn->overflow) {
        /*
         * Live events came faster than this replay went out, and were
         * let pass: they are read back, and the reply moves past them.
         */
        if (++jn->rounds > NGX_CHAT_CATCH_UP_MAX) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_TRY_LATER,
                                   "reading too slowly");
            return;
        }

        jn->overflow = 0;
        jn->target = ngx_max(jn->target, jn->member.room->delivered);
        jn->target_seq = ngx_max(jn->target_seq,
                           ((ngx_chat_room_ctx_t *) jn->member.room->data)->seq);
    }

    if (jn->read_to < jn->target) {
        jn->since = jn->read_to;
        jn->catching = 1;
        ngx_chat_join_query(jn, NGX_CHAT_SQL_LOG_OLDEST,
                            NGX_CHAT_CATCH_UP_ROWS, ngx_chat_join_replayed);
        return;
    }

    ngx_chat_join_free_replay(jn);
    ngx_chat_join_finish(jn, jn->truncated);
}


static void
ngx_chat_join_free_replay(ngx_chat_join_t *jn)
{
    uint32_t  i;

    if (jn->replay == NULL) {
        return;
    }

    for (i = jn->replay_next; i < jn->nreplay; i++) {
        ngx_chat_buf_unref(jn->replay[i]);
    }

    ngx_free(jn->replay);
    jn->replay = NULL;
    jn->nreplay = 0;
    jn->replay_next = 0;
}


/* the peer took enough: the replays that wait go on */
void
ngx_chat_fanout_session_drained(ngx_chat_session_t *s)
{
    ngx_chat_join_t    *jn;
    ngx_chat_member_t  *m, *next;

    for (m = s->members; m; m = next) {
        next = m->snext;
        jn = (ngx_chat_join_t *) m;

        if (!m->live && jn->replay) {
            ngx_chat_join_feed(jn);

            if (!ngx_chat_session_open(s)) {
                return;
            }
        }
    }
}


static void
ngx_chat_join_finish(ngx_chat_join_t *jn, ngx_uint_t truncated)
{
    uint32_t             i;
    ngx_chat_member_t   *m;
    ngx_chat_session_t  *s;

    m = &jn->member;
    s = m->session;

    ngx_chat_join_reply(s, jn->id, jn->id_len, m->room, jn->target_seq,
                        jn->target, truncated);

    if (!ngx_chat_session_open(s)) {
        return;
    }

    m->live = 1;
    ngx_chat_session_op_end(s);

    if (((ngx_chat_room_ctx_t *) m->room->data)->store->logged) {
        m->floor = jn->target;
    }

    for (i = 0; i < m->nheld; i++) {
        if (ngx_chat_order_member_takes(jn->target, m->held[i]->rev)) {
            if (ngx_chat_session_enqueue(s, m->held[i]) != NGX_OK) {
                break;
            }
        }
    }

    /* the session may be closing: the member list is its to free */
    if (ngx_chat_session_open(s)) {
        ngx_chat_member_free_held(m);
    }
}


/* the ok of a join: the room's latest seq and rev at the join */
static void
ngx_chat_join_reply(ngx_chat_session_t *s, const char *id, size_t id_len,
    ngx_chat_room_t *room, int64_t seq, int64_t rev, ngx_uint_t truncated)
{
    ngx_chat_json_t  j;

    if (id_len == 0) {
        return;
    }

    ngx_chat_json_init(&j, 128);
    ngx_chat_json_ok_begin(&j, id, id_len);
    ngx_chat_json_kv_str(&j, "room", room->id, room->id_len);
    ngx_chat_json_kv_int(&j, "seq", seq);
    ngx_chat_json_kv_int(&j, "rev", rev);

    if (truncated) {
        ngx_chat_json_kv_bool(&j, "truncated", 1);
    }

    ngx_chat_json_raw(&j, "}", 1);
    (void) ngx_chat_session_send_json(s, &j);
    ngx_chat_json_free(&j);
}


void
ngx_chat_fanout_leave(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    ngx_chat_json_t   j;
    ngx_chat_join_t  *jn;

    jn = ngx_chat_session_member(s, req->room, req->room_len);

    if (jn) {
        if (jn->member.live) {
            ngx_chat_member_remove(s, &jn->member);

        } else {
            /* the join in progress never gets its own reply */
            ngx_chat_join_fail(jn, "conflict",
                               "left before the join completed");
        }
    }

    if (s->close_sent) {
        return;
    }

    if (req->id_len) {
        ngx_chat_json_init(&j, 64);
        ngx_chat_json_ok_begin(&j, req->id, req->id_len);
        ngx_chat_json_raw(&j, "}", 1);
        (void) ngx_chat_session_send_json(s, &j);
        ngx_chat_json_free(&j);
    }
}


void
ngx_chat_fanout_session_gone(ngx_chat_session_t *s)
{
    while (s->members) {
        ngx_chat_member_remove(s, s->members);
    }
}


/* the session has joined the room, and the join is complete */
ngx_int_t
ngx_chat_fanout_joined(ngx_chat_session_t *s, const char *room, size_t len)
{
    ngx_chat_join_t  *jn;

    jn = ngx_chat_session_member(s, room, len);

    return jn && jn->member.live;
}


static ngx_chat_join_t *
ngx_chat_session_member(ngx_chat_session_t *s, const char *room, size_t len)
{
    ngx_chat_member_t  *m;

    for (m = s->members; m; m = m->snext) {
        if (m->room->id_len == len && ngx_memcmp(m->room->id, room, len) == 0)
        {
            return (ngx_chat_join_t *) m;
        }
    }

    return NULL;
}


static void
ngx_chat_member_remove(ngx_chat_session_t *s, ngx_chat_member_t *m)
{
    ngx_chat_room_t  *room;

    ngx_chat_session_remove_member(s, m);

    if (!m->live) {
        /* every member is a join: one that ends unfinished */
        ngx_chat_join_free_replay((ngx_chat_join_t *) m);
        ngx_chat_session_op_end(s);
    }

    room = m->room;
    ngx_chat_room_unlink(m);
    ngx_chat_member_free_held(m);
    ngx_free(m);

    if (room && room->nmembers == 0) {
        ngx_chat_room_release_later(room);
    }
}


/*
 * The join a reference names, unless it is over: then the reference's
 * hold on the session is dropped too.  Frees the reference.
 */
static ngx_chat_join_t *
ngx_chat_join_find(ngx_chat_room_ref_t *ref)
{
    ngx_chat_join_t     *jn;
    ngx_chat_session_t  *s;

    s = ref->session;
    jn = NULL;

    if (ngx_chat_session_open(s)) {
        jn = ngx_chat_session_member(s, ref->room, ref->room_len);

        if (jn && (jn->member.live || jn->member.join_gen != ref->gen)) {
            jn = NULL;
        }
    }

    ngx_free(ref);

    if (jn == NULL) {
        ngx_chat_session_unref(s);
    }

    return jn;
}


static ngx_chat_room_ref_t *
ngx_chat_room_ref(ngx_chat_room_t *room, ngx_chat_session_t *s, uint32_t gen)
{
    ngx_chat_room_ref_t  *ref;

    ref = ngx_alloc(sizeof(ngx_chat_room_ref_t), ngx_chat_worker.log);
    if (ref == NULL) {
        return NULL;
    }

    ref->session = s;
    ref->gen = s ? gen : room->gen;
    ref->room_len = room->id_len;
    ngx_memcpy(ref->room, room->id, room->id_len);

    if (s) {
        ngx_chat_session_ref(s);
    }

    return ref;
}


/* the room the reference names, unless it was destroyed meanwhile */
static ngx_chat_room_t *
ngx_chat_room_deref(ngx_chat_room_ref_t *ref)
{
    ngx_chat_room_t  *room;

    room = ngx_chat_room_find(ngx_chat_store_postgresql.rooms(), ref->room,
                              ref->room_len);

    if (room && room->gen != ref->gen) {
        room = NULL;
    }

    ngx_free(ref);

    return room;
}
