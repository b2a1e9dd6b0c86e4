/*
 * The members a worker knows of, so that a member's rejoin needs no
 * access check in PostgreSQL.  Coherence (docs/architecture.md, "The
 * membership cache"): the cache knows what the room's event stream, as
 * this worker delivered it in rev order, says.
 *
 * - A live member of the room is a member as of the room's delivered
 *   rev: its access was checked at a snapshot of the room, and every
 *   event that ends a membership (left, kicked, banned) takes the user's
 *   sessions out of the room as it is delivered.
 * - When such a member leaves without an event (the leave request, the
 *   connection closing), the user is kept here as a former member; the
 *   same events forget them (ngx_chat_fanout_drop_user()).
 * - A room that may have missed an event (its subscription lost, a
 *   resync reading back what Redis did not bring) forgets every former
 *   member and marks its live members unproven: from then on only a new
 *   check in PostgreSQL makes a member known again.
 * - The cache answers only while the room is subscribed, up to date (no
 *   event held, no gap waited for, no resync under way) and of the
 *   logged store, the one whose channel carries the member events.
 *
 * A join answered here is a join at the room's delivered rev; an end of
 * the membership committed later reaches the new session like any other
 * member's.
 */

#include "ngx_chat.h"
#include "ngx_chat_rooms.h"
#include "ngx_chat_member_cache.h"


#define NGX_CHAT_FORMER_BUCKETS  4096
#define NGX_CHAT_FORMER_MAX      65536     /* a worker's former members */


typedef struct ngx_chat_former_s  ngx_chat_former_t;

struct ngx_chat_former_s {
    ngx_chat_former_t   *hnext;        /* in the bucket */
    ngx_chat_former_t   *rnext;        /* in the room */
    ngx_chat_former_t  **rprev;        /* what points to it in the room */
    ngx_chat_room_t     *room;
    uint32_t             hash;
    uint32_t             len;
    u_char               user[1];
};


static ngx_chat_former_t **ngx_chat_former_find(ngx_chat_room_t *room,
    const u_char *user, size_t len, uint32_t hash);
static uint32_t ngx_chat_former_hash(ngx_chat_room_t *room,
    const u_char *user, size_t len);
static void ngx_chat_former_free(ngx_chat_former_t **p);


static ngx_chat_former_t  *ngx_chat_formers[NGX_CHAT_FORMER_BUCKETS];
static ngx_uint_t          ngx_chat_nformers;


/* the room's events reach this worker, all of them, in order */
static ngx_uint_t
ngx_chat_member_cache_usable(ngx_chat_room_t *room)
{
    ngx_chat_room_ctx_t  *ctx = room->data;

    return ctx->store->logged
           && room->state == NGX_CHAT_ROOM_READY
           && ctx->sub == NGX_CHAT_SUB_ACTIVE
           && !ctx->resyncing
           && room->npending == 0
           && !ngx_chat_room_gap_armed(room);
}


ngx_uint_t
ngx_chat_member_cache_allows(ngx_chat_room_t *room, const u_char *user,
    size_t len)
{
    ngx_chat_member_t   *m;
    ngx_chat_session_t  *s;

    if (!ngx_chat_member_cache_usable(room)) {
        return 0;
    }

    for (m = room->members; m; m = m->next) {
        s = m->session;

        if (m->live && !m->unproven && s->user_len == len
            && ngx_memcmp(s->user, user, len) == 0)
        {
            return 1;
        }
    }

    return *ngx_chat_former_find(room, user, len,
                                 ngx_chat_former_hash(room, user, len))
           != NULL;
}


/* a live member leaves without an event ending its membership */
void
ngx_chat_member_cache_keep(ngx_chat_member_t *m)
{
    uint32_t              hash;
    ngx_chat_room_t      *room;
    ngx_chat_former_t    *f, **p;
    ngx_chat_session_t   *s;
    ngx_chat_room_ctx_t  *ctx;

    room = m->room;
    s = m->session;

    if (room == NULL || !m->live || m->unproven
        || !ngx_chat_member_cache_usable(room)
        || ngx_chat_nformers >= NGX_CHAT_FORMER_MAX)
    {
        return;
    }

    hash = ngx_chat_former_hash(room, s->user, s->user_len);
    p = ngx_chat_former_find(room, s->user, s->user_len, hash);

    if (*p) {
        return;
    }

    f = ngx_alloc(offsetof(ngx_chat_former_t, user) + s->user_len,
                  ngx_chat_worker.log);
    if (f == NULL) {
        return;                          /* unknown: checked in storage */
    }

    ctx = room->data;

    f->room = room;
    f->hash = hash;
    f->len = s->user_len;
    ngx_memcpy(f->user, s->user, s->user_len);

    f->hnext = NULL;
    *p = f;

    f->rnext = ctx->former;
    f->rprev = (ngx_chat_former_t **) &ctx->former;
    if (f->rnext) {
        f->rnext->rprev = &f->rnext;
    }
    ctx->former = f;

    ngx_chat_nformers++;
}


/* an event ended the user's membership */
void
ngx_chat_member_cache_forget(ngx_chat_room_t *room, const u_char *user,
    size_t len)
{
    ngx_chat_former_t  **p;

    p = ngx_chat_former_find(room, user, len,
                             ngx_chat_former_hash(room, user, len));

    if (*p) {
        ngx_chat_former_free(p);
    }
}


/* the room may have missed an event, or goes: nobody is known any more */
void
ngx_chat_member_cache_drop(ngx_chat_room_t *room)
{
    ngx_chat_former_t    *f;
    ngx_chat_member_t    *m;
    ngx_chat_room_ctx_t  *ctx = room->data;

    for (m = room->members; m; m = m->next) {
        m->unproven = 1;
    }

    while (ctx->former) {
        f = ctx->former;
        ngx_chat_former_free(ngx_chat_former_find(room, f->user, f->len,
                                                  f->hash));
    }
}


static ngx_chat_former_t **
ngx_chat_former_find(ngx_chat_room_t *room, const u_char *user, size_t len,
    uint32_t hash)
{
    ngx_chat_former_t  **p;

    for (p = &ngx_chat_formers[hash % NGX_CHAT_FORMER_BUCKETS];
         *p;
         p = &(*p)->hnext)
    {
        if ((*p)->room == room && (*p)->len == len
            && ngx_memcmp((*p)->user, user, len) == 0)
        {
            break;
        }
    }

    return p;
}


static uint32_t
ngx_chat_former_hash(ngx_chat_room_t *room, const u_char *user, size_t len)
{
    return ngx_crc32_short((u_char *) user, len) ^ room->hash;
}


/* p: where the entry is linked in its bucket */
static void
ngx_chat_former_free(ngx_chat_former_t **p)
{
    ngx_chat_former_t  *f;

    f = *p;
    *p = f->hnext;

    *f->rprev = f->rnext;
    if (f->rnext) {
        f->rnext->rprev = f->rprev;
    }

    ngx_free(f);
    ngx_chat_nformers--;
}
