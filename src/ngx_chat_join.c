/*
 * The join protocol: the access check, the replay of what the client
 * missed (since or since_rev), fed as the client takes it, the reply,
 * then the live events held meanwhile; and leaving.
 */

#include "ngx_chat.h"
#include "ngx_chat_rooms.h"
#include "ngx_chat_request.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_access.h"
#include "ngx_chat_sql.h"
#include "ngx_chat_order.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_member_cache.h"
#include "ngx_chat_metrics.h"


/* a replay that fell behind the room catches up this many rows a time */
#define NGX_CHAT_CATCH_UP_ROWS     200
#define NGX_CHAT_CATCH_UP_MAX      8


static ngx_chat_room_ref_t *ngx_chat_join_ref(ngx_chat_join_t *jn);
static void ngx_chat_join_checked(void *data, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after);
static void ngx_chat_join_open_room(ngx_chat_join_t *jn);
static void ngx_chat_join_start(ngx_chat_join_t *jn);
static void ngx_chat_join_query(ngx_chat_join_t *jn, const char *sql,
    ngx_uint_t limit, ngx_chat_pg_handler_pt handler);
static void ngx_chat_join_fail(ngx_chat_join_t *jn, const char *code,
    const char *message);
static void ngx_chat_join_refuse(ngx_chat_join_t *jn, const char *code,
    const char *message, long long retry_after);
static void ngx_chat_join_replayed(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_join_feed(ngx_chat_join_t *jn);
static void ngx_chat_join_free_replay(ngx_chat_join_t *jn);
static void ngx_chat_join_finish(ngx_chat_join_t *jn, ngx_uint_t truncated);
static void ngx_chat_join_compact(ngx_chat_join_t *jn);
static void ngx_chat_join_reply(ngx_chat_session_t *s, const char *id,
    size_t id_len, ngx_chat_room_t *room, int64_t seq, int64_t rev,
    ngx_uint_t truncated);
static ngx_chat_join_t *ngx_chat_session_member(ngx_chat_session_t *s,
    const char *room, size_t len);
static void ngx_chat_member_remove(ngx_chat_session_t *s,
    ngx_chat_member_t *m);
static ngx_chat_join_t *ngx_chat_join_redeem(ngx_chat_room_ref_t *ref);


static uint32_t     ngx_chat_join_gen;


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
    jn->member.in_join = 1;
    ngx_chat_session_op_begin(s);
    jn->since = req->has_since_rev ? req->since_rev : req->since;
    jn->has_since = req->has_since || req->has_since_rev;
    jn->since_rev = req->has_since_rev;
    jn->id_len = req->id_len;
    ngx_memcpy(jn->id, req->id, req->id_len);

    ngx_chat_room_link(room, &jn->member);
    ngx_chat_session_add_member(s, &jn->member);

    ctx = room->data;

    if (ngx_chat_member_cache_allows(room, s->user, s->user_len)) {
        /* a member as of what the room delivered: no check in storage */
        ngx_chat_metrics_count(NGX_CHAT_METRICS_JOINS_CACHED);
        jn->stored = room->delivered;
        jn->stored_seq = ctx->seq;
        ngx_chat_join_start(jn);

    } else if (room->state != NGX_CHAT_ROOM_SUBSCRIBING) {
        ngx_chat_join_check(jn);

    } else if (ctx->sub != NGX_CHAT_SUB_PENDING) {
        /* no subscription is coming: no Redis now */
        ngx_chat_room_open(room);
    }
}


/* what a callback finds the join with; NULL: the join failed */
static ngx_chat_room_ref_t *
ngx_chat_join_ref(ngx_chat_join_t *jn)
{
    ngx_chat_room_ref_t  *ref;

    ref = ngx_chat_room_ref(jn->member.room, jn->member.session,
                            jn->member.join_gen);
    if (ref == NULL) {
        ngx_chat_join_fail(jn, "internal", "out of memory");
    }

    return ref;
}


/* access and membership, for every join: the room may be private */
void
ngx_chat_join_check(ngx_chat_join_t *jn)
{
    ngx_int_t             rc;
    ngx_chat_room_t      *room;
    ngx_chat_session_t   *s;
    ngx_chat_room_ref_t  *ref;

    room = jn->member.room;
    s = jn->member.session;

    ref = ngx_chat_join_ref(jn);
    if (ref == NULL) {
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
    jn = ngx_chat_join_redeem(ref);

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
        if (jn->held.n) {
            jn->target = jn->held.bufs[0]->rev - 1;
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

    ref = ngx_chat_join_ref(jn);
    if (ref == NULL) {
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

    rc = ngx_chat_pg_query_named(sql, 4, values, lengths, handler, ref);

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

    ngx_chat_session_error_retry(s, id, id_len, code, message, retry_after);
}


/* the join a query answered for, unless it is over or the query failed */
static ngx_chat_join_t *
ngx_chat_join_result(ngx_chat_room_ref_t *ref, ngx_uint_t status)
{
    ngx_chat_join_t  *jn;

    jn = ngx_chat_join_redeem(ref);

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
    ngx_chat_buf_t       *b;
    ngx_chat_room_ctx_t  *ctx;
    ngx_chat_session_t   *s;

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

        ctx = jn->member.room->data;

        jn->overflow = 0;
        jn->target = ngx_max(jn->target, jn->member.room->delivered);
        jn->target_seq = ngx_max(jn->target_seq, ctx->seq);
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

    ngx_chat_presence_enter(s, m->room);

    if (((ngx_chat_room_ctx_t *) m->room->data)->store->logged) {
        m->floor = jn->target;
    }

    for (i = 0; i < jn->held.n; i++) {
        if (ngx_chat_order_member_takes(jn->target, jn->held.bufs[i]->rev)) {
            if (ngx_chat_session_enqueue(s, jn->held.bufs[i]) != NGX_OK) {
                break;
            }
        }
    }

    /* the session may be closing: the member list is its to free */
    if (ngx_chat_session_open(s)) {
        ngx_chat_held_free(&jn->held);
        ngx_chat_join_compact(jn);
    }
}


/*
 * A live member needs nothing of its join but the member itself: an idle
 * connection keeps 56 bytes per room (a 64-byte malloc chunk) instead of
 * the join's 240.  Every other look at a member as a join is of one not
 * live yet, or asks in_join first.
 */
static void
ngx_chat_join_compact(ngx_chat_join_t *jn)
{
    ngx_chat_member_t   *m, *old;
    ngx_chat_session_t  *s;

    old = &jn->member;
    s = old->session;

    if (jn->replay || jn->held.bufs) {
        return;
    }

    m = ngx_alloc(sizeof(ngx_chat_member_t), s->connection->log);
    if (m == NULL) {
        return;                          /* it stays as it is */
    }

    *m = *old;
    m->in_join = 0;

    if (m->prev) {
        m->prev->next = m;

    } else {
        m->room->members = m;
    }

    if (m->next) {
        m->next->prev = m;
    }

    ngx_chat_session_replace_member(s, old, m);

    ngx_free(jn);
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
    ngx_chat_join_t  *jn;

    jn = ngx_chat_session_member(s, req->room, req->room_len);

    if (jn) {
        if (jn->member.live) {
            ngx_chat_member_cache_keep(&jn->member);
            ngx_chat_member_remove(s, &jn->member);

        } else {
            /* the join in progress never gets its own reply */
            ngx_chat_join_fail(jn, "conflict",
                               "left before the join completed");
        }
    }

    if (!ngx_chat_session_open(s)) {
        return;
    }

    ngx_chat_session_ok(s, req->id, req->id_len);
}


void
ngx_chat_fanout_session_gone(ngx_chat_session_t *s)
{
    while (s->members) {
        ngx_chat_member_cache_keep(s->members);
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

    room = m->room;

    if (m->in_join) {
        /* every member not live is a join: one that ends unfinished */
        ngx_chat_join_free_replay((ngx_chat_join_t *) m);
        ngx_chat_held_free(&((ngx_chat_join_t *) m)->held);
    }

    if (!m->live) {
        ngx_chat_session_op_end(s);

    } else if (room) {
        ngx_chat_presence_leave(s, room);
    }

    ngx_chat_room_unlink(m);
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
ngx_chat_join_redeem(ngx_chat_room_ref_t *ref)
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


/*
 * The user's membership of the room ended (kicked, banned, left): their
 * sessions leave it at once, a join in progress is refused.
 */
void
ngx_chat_fanout_drop_user(ngx_chat_room_t *room, const char *user,
    size_t len)
{
    ngx_chat_member_t   *m, *next;
    ngx_chat_session_t  *s;

    ngx_chat_member_cache_forget(room, (u_char *) user, len);

    for (m = room->members; m; m = next) {
        next = m->next;
        s = m->session;

        if (s->user_len != len || ngx_memcmp(s->user, user, len) != 0) {
            continue;
        }

        if (m->live) {
            ngx_chat_member_remove(s, m);

        } else {
            ngx_chat_join_fail((ngx_chat_join_t *) m, "forbidden",
                               "no longer a member of this room");
        }
    }
}
