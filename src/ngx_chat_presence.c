/*
 * Presence (protocol.md section 8): the worker's counts, and the calls of
 * the rest of the module into presence.
 *
 * Each worker knows, in memory, its authenticated sessions per user ("u
 * <user>": a list of them) and, through their member lists, the rooms
 * each user is in ("r <kind> <room> <user>", kind being the room
 * channel's kind prefix: a room of each store is a stream of its own).
 * Only a user's first session coming or last going, or its first live
 * member in a room coming or last going, goes to Redis
 * (ngx_chat_presence_sync.c): the session and the join code call here
 * once per connection, and Redis hears once per user and room of the
 * worker.  A room costs no memory of its own here: the user's other
 * sessions are asked whether they are in it.
 */

#include "ngx_chat.h"
#include "ngx_chat_presence_int.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_rooms.h"


/* "r", kind, room and user, spaces between */
#define NGX_CHAT_PRESENCE_KEY_MAX                                             \
    (2 + 16 + 1 + NGX_CHAT_ROOM_ID_MAX + 1 + NGX_CHAT_USER_ID_MAX)


static void ngx_chat_presence_room(ngx_chat_session_t *s,
    ngx_chat_room_t *room, u_char sign);
static ngx_uint_t ngx_chat_presence_in(ngx_chat_presence_user_t *u,
    ngx_chat_room_t *room, ngx_chat_session_t *except,
    ngx_chat_session_t *stop);
static void ngx_chat_presence_user_change(u_char sign,
    ngx_chat_presence_user_t *u);
static void ngx_chat_presence_room_change(u_char sign, ngx_chat_room_t *room,
    const u_char *user, size_t user_len);
static ngx_chat_presence_user_t *ngx_chat_presence_find(const u_char *user,
    size_t len, ngx_chat_presence_user_t ***where);
static void ngx_chat_presence_grow(void);


ngx_chat_presence_t  ngx_chat_presence;


ngx_int_t
ngx_chat_presence_init(ngx_cycle_t *cycle)
{
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;
    ngx_memzero(pr, sizeof(ngx_chat_presence_t));

    pr->nbuckets = 1024;
    pr->buckets = ngx_calloc(pr->nbuckets * sizeof(void *), cycle->log);
    if (pr->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_chat_presence_sync_init(cycle->log);

    return NGX_OK;
}


/* the worker leaves: its users and rooms go with it, at once */
void
ngx_chat_presence_exit(void)
{
    ngx_uint_t                  i;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_user_t   *u, *next;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL) {
        return;
    }

    pr->active = 0;

    ngx_chat_presence_sync_exit();

    for (i = 0; i < pr->nbuckets; i++) {
        for (u = pr->buckets[i]; u; u = next) {
            next = u->next;
            ngx_free(u);
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = NULL;
}


void
ngx_chat_presence_online(ngx_chat_session_t *s)
{
    uint32_t                    hash;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_user_t   *u, **pu;

    pr = &ngx_chat_presence;

    s->unext = NULL;

    if (pr->buckets == NULL || !pr->active) {
        return;
    }

    u = ngx_chat_presence_find(s->user, s->user_len, NULL);

    if (u == NULL) {
        u = ngx_alloc(offsetof(ngx_chat_presence_user_t, user)
                      + s->user_len, ngx_chat_worker.log);
        if (u == NULL) {
            return;                 /* out of memory: not counted */
        }

        if (pr->nentries >= 2 * pr->nbuckets) {
            ngx_chat_presence_grow();
        }

        hash = (uint32_t) ngx_hash_key(s->user, s->user_len);

        u->sessions = NULL;
        u->hash = hash;
        u->len = s->user_len;
        ngx_memcpy(u->user, s->user, s->user_len);

        pu = &pr->buckets[hash % pr->nbuckets];
        u->next = *pu;
        *pu = u;
        pr->nentries++;

        ngx_chat_presence_user_change('+', u);
    }

    s->unext = u->sessions;
    u->sessions = s;
}


void
ngx_chat_presence_offline(ngx_chat_session_t *s)
{
    ngx_chat_session_t         **ps;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_user_t    *u, **pu;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL || !pr->active) {
        return;
    }

    u = ngx_chat_presence_find(s->user, s->user_len, &pu);
    if (u == NULL) {
        return;
    }

    for (ps = &u->sessions; *ps; ps = &(*ps)->unext) {
        if (*ps == s) {
            *ps = s->unext;
            break;
        }
    }

    s->unext = NULL;

    if (u->sessions) {
        return;
    }

    ngx_chat_presence_user_change('-', u);

    *pu = u->next;
    ngx_free(u);
    pr->nentries--;
}


void
ngx_chat_presence_enter(ngx_chat_session_t *s, ngx_chat_room_t *room)
{
    ngx_chat_presence_room(s, room, '+');
}


void
ngx_chat_presence_leave(ngx_chat_session_t *s, ngx_chat_room_t *room)
{
    ngx_chat_presence_room(s, room, '-');
}


/*
 * The session's member in the room went live or left: news for Redis
 * unless another session of the user is in the room (a session has one
 * member a room at most)
 */
static void
ngx_chat_presence_room(ngx_chat_session_t *s, ngx_chat_room_t *room,
    u_char sign)
{
    ngx_chat_presence_t       *pr;
    ngx_chat_presence_user_t  *u;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL || !pr->active || room == NULL) {
        return;
    }

    u = ngx_chat_presence_find(s->user, s->user_len, NULL);

    if (u && ngx_chat_presence_in(u, room, s, NULL)) {
        return;
    }

    ngx_chat_presence_room_change(sign, room, s->user, s->user_len);
}


/*
 * Whether a session of the user before stop (NULL: any), but except, has
 * a live member in the room
 */
static ngx_uint_t
ngx_chat_presence_in(ngx_chat_presence_user_t *u, ngx_chat_room_t *room,
    ngx_chat_session_t *except, ngx_chat_session_t *stop)
{
    ngx_chat_member_t   *m;
    ngx_chat_session_t  *t;

    for (t = u->sessions; t != stop; t = t->unext) {
        if (t == except) {
            continue;
        }

        for (m = t->members; m; m = m->snext) {
            if (m->room == room && m->live) {
                return 1;
            }
        }
    }

    return 0;
}


/* Redis lost what it held of the worker: every user and room again */
void
ngx_chat_presence_rewrite(void)
{
    ngx_uint_t                  i;
    ngx_chat_member_t          *m;
    ngx_chat_session_t         *t;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_user_t   *u;

    pr = &ngx_chat_presence;

    for (i = 0; i < pr->nbuckets; i++) {
        for (u = pr->buckets[i]; u; u = u->next) {
            ngx_chat_presence_user_change('+', u);

            for (t = u->sessions; t; t = t->unext) {
                for (m = t->members; m; m = m->snext) {
                    if (m->live && m->room
                        && !ngx_chat_presence_in(u, m->room, NULL, t))
                    {
                        ngx_chat_presence_room_change('+', m->room, u->user,
                                                      u->len);
                    }
                }
            }
        }
    }
}


/* a worker that exits retires all it holds at once: nothing is sent */
static void
ngx_chat_presence_user_change(u_char sign, ngx_chat_presence_user_t *u)
{
    u_char  key[NGX_CHAT_PRESENCE_KEY_MAX];

    if (!ngx_chat_worker.active) {
        return;
    }

    key[0] = 'u';
    key[1] = ' ';
    ngx_memcpy(key + 2, u->user, u->len);

    ngx_chat_presence_change(sign, key, u->len + 2);
}


static void
ngx_chat_presence_room_change(u_char sign, ngx_chat_room_t *room,
    const u_char *user, size_t user_len)
{
    u_char      *p;
    const char  *kind;
    u_char       key[NGX_CHAT_PRESENCE_KEY_MAX];

    if (!ngx_chat_worker.active) {
        return;
    }

    kind = ngx_chat_redis_kind_prefix(
               ((ngx_chat_room_ctx_t *) room->data)->store->index);

    p = ngx_cpymem(key, "r ", 2);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));
    *p++ = ' ';
    p = ngx_cpymem(p, room->id, room->id_len);
    *p++ = ' ';
    p = ngx_cpymem(p, user, user_len);

    ngx_chat_presence_change(sign, key, p - key);
}


/* the user's entry, and where it is linked from if where */
static ngx_chat_presence_user_t *
ngx_chat_presence_find(const u_char *user, size_t len,
    ngx_chat_presence_user_t ***where)
{
    uint32_t                    hash;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_user_t   *u, **pu;

    pr = &ngx_chat_presence;

    hash = (uint32_t) ngx_hash_key((u_char *) user, len);

    for (pu = &pr->buckets[hash % pr->nbuckets]; *pu; pu = &(*pu)->next) {
        u = *pu;

        if (u->hash == hash && u->len == len
            && ngx_memcmp(u->user, user, len) == 0)
        {
            if (where) {
                *where = pu;
            }

            return u;
        }
    }

    return NULL;
}


/* chains stay short: twice the buckets when there are twice as many users */
static void
ngx_chat_presence_grow(void)
{
    ngx_uint_t                   i, n;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_user_t    *u, *next, **b;

    pr = &ngx_chat_presence;
    n = 2 * pr->nbuckets;

    b = ngx_calloc(n * sizeof(void *), ngx_chat_worker.log);
    if (b == NULL) {
        return;
    }

    for (i = 0; i < pr->nbuckets; i++) {
        for (u = pr->buckets[i]; u; u = next) {
            next = u->next;
            u->next = b[u->hash % n];
            b[u->hash % n] = u;
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = b;
    pr->nbuckets = n;
}
