/*
 * Rooms and their subscriptions: a room is acquired on its first local
 * join, subscribed on its store's Redis channel, and released after its
 * last leave; at most one SUBSCRIBE or UNSUBSCRIBE is outstanding per
 * room.  A room of a store without a log (chat_store redis) is another
 * room with the same id, in its own table and on its own channel.
 */

#include "ngx_chat.h"
#include "ngx_chat_rooms.h"
#include "ngx_chat_member_cache.h"
#include "ngx_chat_request.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_access.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_order.h"


static ngx_chat_room_t *ngx_chat_fanout_room_sub(ngx_uint_t store,
    const char *id, size_t len, ngx_uint_t sub);
static void ngx_chat_room_subscribe(ngx_chat_room_t *room);
static void ngx_chat_rooms_release_handler(ngx_event_t *ev);
static void ngx_chat_room_release(ngx_chat_room_t *room);
static void ngx_chat_room_destroy(ngx_chat_room_t *room);


/* rooms whose last member left in this loop tick, released after it */
static ngx_queue_t   ngx_chat_rooms_releasing;
static ngx_event_t   ngx_chat_rooms_release_ev;


void
ngx_chat_rooms_init(void)
{
    ngx_queue_init(&ngx_chat_rooms_releasing);
    ngx_memzero(&ngx_chat_rooms_release_ev, sizeof(ngx_event_t));
}


void
ngx_chat_rooms_exit(void)
{
    if (ngx_chat_rooms_release_ev.posted) {
        ngx_delete_posted_event(&ngx_chat_rooms_release_ev);
    }

    /* sessions are gone by now: only the rooms' own state is left */
    ngx_chat_fanout_each(ngx_chat_fanout_free_room);
}


void
ngx_chat_fanout_free_room(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (ctx) {
        ngx_chat_member_cache_drop(room);
        ngx_chat_room_gap_disarm(room);

        if (ctx->releasing) {
            ngx_queue_remove(&ctx->release);
        }

        /* freed with the room */
        room->data = NULL;
    }
}


ngx_uint_t
ngx_chat_room_gap_armed(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    return ctx->gap_timer && ctx->gap_timer->timer_set;
}


void
ngx_chat_room_gap_arm(ngx_chat_room_t *room, ngx_msec_t ms)
{
    ngx_event_t          *ev;
    ngx_chat_room_ctx_t  *ctx = room->data;

    ev = ctx->gap_timer;

    if (ev == NULL) {
        ev = ngx_calloc(sizeof(ngx_event_t), ngx_chat_worker.log);
        if (ev == NULL) {
            /* the once-a-second sync still finds what is missing */
            return;
        }

        ev->handler = ngx_chat_fanout_gap_handler;
        ev->data = room;
        ev->log = ngx_chat_worker.log;
        ev->cancelable = 1;
        ctx->gap_timer = ev;
    }

    ngx_add_timer(ev, ms);
}


void
ngx_chat_room_gap_disarm(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (ctx->gap_timer == NULL) {
        return;
    }

    if (ctx->gap_timer->timer_set) {
        ngx_del_timer(ctx->gap_timer);
    }

    ngx_free(ctx->gap_timer);
    ctx->gap_timer = NULL;
}


/* calls handler for each room of every store */
void
ngx_chat_fanout_each(void (*handler)(ngx_chat_room_t *room, void *arg))
{
    const ngx_chat_store_t *const  *st;

    for (st = ngx_chat_stores; *st; st++) {
        ngx_chat_room_each((*st)->rooms(), handler, NULL);
    }
}


ngx_chat_room_t *
ngx_chat_room_acquire(const ngx_chat_store_t *store, const char *id,
    size_t len)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_room_find(store->rooms(), id, len);
    if (room) {
        return room;
    }

    room = ngx_chat_room_add(store->rooms(), id, len);
    if (room == NULL) {
        return NULL;
    }

    ctx = room->data;
    ctx->room = room;
    ctx->store = store;

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
void
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


void
ngx_chat_room_release_later(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    /* never inside a loop over the room's members */
    if (!ctx->releasing) {
        ctx->releasing = 1;
        ngx_queue_insert_tail(&ngx_chat_rooms_releasing, &ctx->release);
    }

    if (!ngx_chat_rooms_release_ev.posted) {
        ngx_chat_rooms_release_ev.handler = ngx_chat_rooms_release_handler;
        ngx_chat_rooms_release_ev.data = &ngx_chat_no_connection;
        ngx_chat_rooms_release_ev.log = ngx_chat_worker.log;
        ngx_post_event(&ngx_chat_rooms_release_ev, &ngx_posted_events);
    }
}


static void
ngx_chat_rooms_release_handler(ngx_event_t *ev)
{
    ngx_queue_t          *q;
    ngx_chat_room_ctx_t  *ctx;

    while (!ngx_queue_empty(&ngx_chat_rooms_releasing)) {
        q = ngx_queue_head(&ngx_chat_rooms_releasing);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_chat_room_ctx_t, release);
        ctx->releasing = 0;

        ngx_chat_room_release(ctx->room);
    }
}


static void
ngx_chat_room_release(ngx_chat_room_t *room)
{
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
ngx_chat_room_t *
ngx_chat_fanout_room_of(ngx_uint_t store, const char *id, size_t len)
{
    const ngx_chat_store_t  *st;

    st = ngx_chat_store_of(store);

    return st ? ngx_chat_room_find(st->rooms(), id, len) : NULL;
}


/* Redis answered a (un)subscription of a room still here */
static ngx_chat_room_t *
ngx_chat_fanout_room_sub(ngx_uint_t store, const char *id, size_t len,
    ngx_uint_t sub)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_fanout_room_of(store, id, len);

    if (room) {
        ctx = room->data;
        ctx->sub = sub;
    }

    return room;
}


void
ngx_chat_fanout_redis_subscribed(ngx_uint_t store, const char *id,
    size_t len)
{
    ngx_chat_room_t      *room;
    ngx_chat_room_ctx_t  *ctx;

    room = ngx_chat_fanout_room_sub(store, id, len, NGX_CHAT_SUB_ACTIVE);
    if (room == NULL) {
        return;
    }

    ctx = room->data;

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
    ngx_chat_room_t  *room;

    room = ngx_chat_fanout_room_sub(store, id, len, NGX_CHAT_SUB_NONE);
    if (room == NULL) {
        return;
    }

    if (room->nmembers == 0) {
        ngx_chat_room_destroy(room);
        return;
    }

    /* someone joined while it was being unsubscribed: events were lost */
    ngx_chat_member_cache_drop(room);
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
    ngx_chat_member_cache_drop(room);

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


static ngx_uint_t  (*ngx_chat_fanout_lost_on)(ngx_uint_t kind,
    const char *name, size_t len);


static void
ngx_chat_fanout_redis_room_lost(ngx_chat_room_t *room, void *arg)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    if (ngx_chat_fanout_lost_on(ctx->store->index, room->id, room->id_len)) {
        ngx_chat_fanout_redis_room_down(room, arg);
    }
}


/* the rooms of the other nodes stay subscribed */
void
ngx_chat_fanout_redis_lost(ngx_uint_t (*on)(ngx_uint_t kind,
    const char *name, size_t len))
{
    ngx_chat_fanout_lost_on = on;
    ngx_chat_fanout_each(ngx_chat_fanout_redis_room_lost);
}


ngx_chat_room_ref_t *
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
ngx_chat_room_t *
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
