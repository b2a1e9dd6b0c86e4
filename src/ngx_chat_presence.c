/*
 * Presence (protocol.md section 8): the worker's counts, and the calls of
 * the rest of the module into presence.
 *
 * Each worker counts, in memory, its authenticated connections per user
 * ("u <user>") and its joined connections per user and room ("r <kind>
 * <room> <user>", kind being the room channel's kind prefix: a room of
 * each store is a stream of its own).  Only a count going from 0 to 1 or
 * back to 0 goes to Redis (ngx_chat_presence_sync.c): the session and the
 * join code call here once per connection, and Redis hears once per user
 * and room of the worker.
 */

#include "ngx_chat.h"
#include "ngx_chat_presence_int.h"
#include "ngx_chat_redis.h"


/* "r", kind, room and user, spaces between */
#define NGX_CHAT_PRESENCE_KEY_MAX                                             \
    (2 + 16 + 1 + NGX_CHAT_ROOM_ID_MAX + 1 + NGX_CHAT_USER_ID_MAX)


static void ngx_chat_presence_user(const u_char *user, size_t len,
    ngx_int_t delta);
static void ngx_chat_presence_in_room(ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len, ngx_int_t delta);
static void ngx_chat_presence_move(u_char *key, size_t len,
    ngx_int_t delta);
static size_t ngx_chat_presence_room_key(u_char *key, ngx_uint_t store,
    const char *room, size_t room_len, const u_char *user, size_t user_len);
static ngx_int_t ngx_chat_presence_count(u_char *key, size_t len,
    ngx_int_t delta);
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
    ngx_chat_presence_entry_t  *e, *next;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL) {
        return;
    }

    pr->active = 0;

    ngx_chat_presence_sync_exit();

    for (i = 0; i < pr->nbuckets; i++) {
        for (e = pr->buckets[i]; e; e = next) {
            next = e->next;
            ngx_free(e);
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = NULL;
}


void
ngx_chat_presence_online(const u_char *user, size_t len)
{
    ngx_chat_presence_user(user, len, 1);
}


void
ngx_chat_presence_offline(const u_char *user, size_t len)
{
    ngx_chat_presence_user(user, len, -1);
}


void
ngx_chat_presence_enter(ngx_uint_t store, const char *room, size_t room_len,
    const u_char *user, size_t user_len)
{
    ngx_chat_presence_in_room(store, room, room_len, user, user_len, 1);
}


void
ngx_chat_presence_leave(ngx_uint_t store, const char *room, size_t room_len,
    const u_char *user, size_t user_len)
{
    ngx_chat_presence_in_room(store, room, room_len, user, user_len, -1);
}


static void
ngx_chat_presence_user(const u_char *user, size_t len, ngx_int_t delta)
{
    u_char  key[NGX_CHAT_PRESENCE_KEY_MAX];

    key[0] = 'u';
    key[1] = ' ';
    ngx_memcpy(key + 2, user, len);

    ngx_chat_presence_move(key, len + 2, delta);
}


static void
ngx_chat_presence_in_room(ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len, ngx_int_t delta)
{
    size_t  n;
    u_char  key[NGX_CHAT_PRESENCE_KEY_MAX];

    n = ngx_chat_presence_room_key(key, store, room, room_len, user,
                                   user_len);

    ngx_chat_presence_move(key, n, delta);
}


/* a count reaching 1 or going back to 0 is news for Redis */
static void
ngx_chat_presence_move(u_char *key, size_t len, ngx_int_t delta)
{
    /* a worker that exits retires all it holds at once */
    if (!ngx_chat_worker.active) {
        return;
    }

    if (ngx_chat_presence_count(key, len, delta) == (delta > 0 ? 1 : 0)) {
        ngx_chat_presence_change(delta > 0 ? '+' : '-', key, len);
    }
}


static size_t
ngx_chat_presence_room_key(u_char *key, ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len)
{
    u_char      *p;
    const char  *kind;

    kind = ngx_chat_redis_kind_prefix(store);

    p = ngx_cpymem(key, "r ", 2);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));
    *p++ = ' ';
    p = ngx_cpymem(p, room, room_len);
    *p++ = ' ';
    p = ngx_cpymem(p, user, user_len);

    return p - key;
}


/*
 * The worker's count of key moves by delta; returns the new count, or -1
 * (out of memory: that connection is not counted).
 */
static ngx_int_t
ngx_chat_presence_count(u_char *key, size_t len, ngx_int_t delta)
{
    uint32_t                     hash;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_entry_t   *e, **pe;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL || !pr->active) {
        return -1;
    }

    hash = (uint32_t) ngx_hash_key(key, len);

    for (pe = &pr->buckets[hash % pr->nbuckets]; *pe; pe = &(*pe)->next) {
        e = *pe;

        if (e->hash != hash || e->len != len
            || ngx_memcmp(e->key, key, len) != 0)
        {
            continue;
        }

        e->count += delta;

        if (e->count == 0) {
            *pe = e->next;
            ngx_free(e);
            pr->nentries--;
            return 0;
        }

        return e->count;
    }

    if (delta < 0) {
        return -1;
    }

    e = ngx_alloc(offsetof(ngx_chat_presence_entry_t, key) + len,
                  ngx_chat_worker.log);
    if (e == NULL) {
        return -1;
    }

    if (pr->nentries >= 2 * pr->nbuckets) {
        ngx_chat_presence_grow();
    }

    e->hash = hash;
    e->count = 1;
    e->len = len;
    ngx_memcpy(e->key, key, len);
    e->next = pr->buckets[hash % pr->nbuckets];
    pr->buckets[hash % pr->nbuckets] = e;
    pr->nentries++;

    return 1;
}


/* chains stay short: twice the buckets when there are twice as many keys */
static void
ngx_chat_presence_grow(void)
{
    ngx_uint_t                   i, n;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_entry_t   *e, *next, **b;

    pr = &ngx_chat_presence;
    n = 2 * pr->nbuckets;

    b = ngx_calloc(n * sizeof(void *), ngx_chat_worker.log);
    if (b == NULL) {
        return;
    }

    for (i = 0; i < pr->nbuckets; i++) {
        for (e = pr->buckets[i]; e; e = next) {
            next = e->next;
            e->next = b[e->hash % n];
            b[e->hash % n] = e;
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = b;
    pr->nbuckets = n;
}
