#include <stdlib.h>
#include <string.h>

#include "ngx_chat_room.h"


static void ngx_chat_room_pending_shrink(ngx_chat_room_t *room);

static uint32_t
ngx_chat_room_hash(const char *id, size_t len)
{
    size_t    i;
    uint32_t  h;

    /* FNV-1a */
    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (uint8_t) id[i];
        h *= 16777619u;
    }

    return h;
}


int
ngx_chat_room_table_init(ngx_chat_room_table_t *t, size_t nbuckets,
    size_t data_size)
{
    t->buckets = calloc(nbuckets, sizeof(ngx_chat_room_t *));
    if (t->buckets == NULL) {
        return -1;
    }

    t->nbuckets = nbuckets;
    t->count = 0;
    t->next_gen = 1;
    t->data_size = (uint32_t) data_size;

    return 0;
}


void
ngx_chat_room_table_free(ngx_chat_room_table_t *t)
{
    size_t            i;
    ngx_chat_room_t  *room, *next;

    if (t->buckets == NULL) {
        return;
    }

    for (i = 0; i < t->nbuckets; i++) {
        for (room = t->buckets[i]; room; room = next) {
            next = room->hnext;
            ngx_chat_room_pending_clear(room);
            free(room->pending);
            free(room);
        }
    }

    free(t->buckets);
    t->buckets = NULL;
    t->count = 0;
}


ngx_chat_room_t *
ngx_chat_room_find(ngx_chat_room_table_t *t, const char *id, size_t len)
{
    uint32_t          h;
    ngx_chat_room_t  *room;

    h = ngx_chat_room_hash(id, len);

    for (room = t->buckets[h % t->nbuckets]; room; room = room->hnext) {
        if (room->hash == h && room->id_len == len
            && memcmp(room->id, id, len) == 0)
        {
            return room;
        }
    }

    return NULL;
}


static void
ngx_chat_room_grow(ngx_chat_room_table_t *t)
{
    size_t             i, n;
    ngx_chat_room_t  **b, *room, *next;

    n = t->nbuckets * 2;

    b = calloc(n, sizeof(ngx_chat_room_t *));
    if (b == NULL) {
        /* a longer chain is slower, not wrong */
        return;
    }

    for (i = 0; i < t->nbuckets; i++) {
        for (room = t->buckets[i]; room; room = next) {
            next = room->hnext;
            room->hnext = b[room->hash % n];
            b[room->hash % n] = room;
        }
    }

    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}


ngx_chat_room_t *
ngx_chat_room_add(ngx_chat_room_table_t *t, const char *id, size_t len)
{
    size_t            size, data;
    ngx_chat_room_t  *room;

    if (len == 0 || len > NGX_CHAT_ROOM_ID_MAX) {
        return NULL;
    }

    size = offsetof(ngx_chat_room_t, id) + len + 1;
    data = (size + 7) & ~(size_t) 7;

    if (t->data_size) {
        size = data + t->data_size;
    }

    room = calloc(1, size);
    if (room == NULL) {
        return NULL;
    }

    if (t->data_size) {
        room->data = (char *) room + data;
    }

    memcpy(room->id, id, len);
    room->id_len = len;
    room->hash = ngx_chat_room_hash(id, len);
    room->gen = t->next_gen++;

    if (t->count >= t->nbuckets * 2) {
        ngx_chat_room_grow(t);
    }

    room->hnext = t->buckets[room->hash % t->nbuckets];
    t->buckets[room->hash % t->nbuckets] = room;
    t->count++;

    return room;
}


void
ngx_chat_room_delete(ngx_chat_room_table_t *t, ngx_chat_room_t *room)
{
    ngx_chat_room_t  **p;

    for (p = &t->buckets[room->hash % t->nbuckets]; *p; p = &(*p)->hnext) {
        if (*p == room) {
            *p = room->hnext;
            t->count--;
            break;
        }
    }

    ngx_chat_room_pending_clear(room);
    free(room->pending);
    free(room);
}


void
ngx_chat_room_each(ngx_chat_room_table_t *t,
    void (*fn)(ngx_chat_room_t *room, void *arg), void *arg)
{
    size_t            i;
    ngx_chat_room_t  *room;

    for (i = 0; i < t->nbuckets; i++) {
        for (room = t->buckets[i]; room; room = room->hnext) {
            fn(room, arg);
        }
    }
}


void
ngx_chat_room_link(ngx_chat_room_t *room, ngx_chat_member_t *m)
{
    m->room = room;
    m->prev = NULL;
    m->next = room->members;

    if (room->members) {
        room->members->prev = m;
    }

    room->members = m;
    room->nmembers++;
}


void
ngx_chat_room_unlink(ngx_chat_member_t *m)
{
    ngx_chat_room_t  *room;

    room = m->room;
    if (room == NULL) {
        return;
    }

    if (m->prev) {
        m->prev->next = m->next;

    } else {
        room->members = m->next;
    }

    if (m->next) {
        m->next->prev = m->prev;
    }

    room->nmembers--;
    m->room = NULL;
    m->prev = NULL;
    m->next = NULL;
}


int
ngx_chat_held_add(ngx_chat_held_t *h, ngx_chat_buf_t *b)
{
    uint32_t          cap;
    ngx_chat_buf_t  **p;

    if (h->n == h->cap) {
        cap = h->cap ? h->cap * 2 : 8;

        p = realloc(h->bufs, cap * sizeof(ngx_chat_buf_t *));
        if (p == NULL) {
            return -1;
        }

        h->bufs = p;
        h->cap = cap;
    }

    h->bufs[h->n++] = ngx_chat_buf_ref(b);
    h->bytes += b->len;

    return 0;
}


void
ngx_chat_held_free(ngx_chat_held_t *h)
{
    uint32_t  i;

    for (i = 0; i < h->n; i++) {
        ngx_chat_buf_unref(h->bufs[i]);
    }

    free(h->bufs);
    h->bufs = NULL;
    h->n = 0;
    h->cap = 0;
    h->bytes = 0;
}


int
ngx_chat_room_pending_add(ngx_chat_room_t *room, ngx_chat_buf_t *b)
{
    uint32_t          i, cap;
    ngx_chat_buf_t  **p;

    if (b->rev <= room->delivered) {
        return 0;
    }

    /* events mostly arrive in order: search from the end */
    for (i = room->npending; i > 0; i--) {
        if (room->pending[i - 1]->rev == b->rev) {
            return 0;
        }

        if (room->pending[i - 1]->rev < b->rev) {
            break;
        }
    }

    if (room->npending == room->pending_cap) {
        cap = room->pending_cap ? room->pending_cap * 2 : 8;

        p = realloc(room->pending, cap * sizeof(ngx_chat_buf_t *));
        if (p == NULL) {
            return -1;
        }

        room->pending = p;
        room->pending_cap = cap;
    }

    memmove(&room->pending[i + 1], &room->pending[i],
            (room->npending - i) * sizeof(ngx_chat_buf_t *));

    room->pending[i] = ngx_chat_buf_ref(b);
    room->npending++;

    return 1;
}


ngx_chat_buf_t *
ngx_chat_room_pending_next(ngx_chat_room_t *room)
{
    uint32_t         n;
    ngx_chat_buf_t  *b;

    /* drop what was delivered meanwhile, e.g. by a gap fill */
    for (n = 0; n < room->npending; n++) {
        if (room->pending[n]->rev > room->delivered) {
            break;
        }

        ngx_chat_buf_unref(room->pending[n]);
    }

    if (n) {
        room->npending -= n;
        memmove(room->pending, &room->pending[n],
                room->npending * sizeof(ngx_chat_buf_t *));
    }

    if (room->npending == 0) {
        ngx_chat_room_pending_shrink(room);
        return NULL;
    }

    if (room->pending[0]->rev != room->delivered + 1) {
        return NULL;
    }

    b = room->pending[0];
    room->npending--;
    memmove(room->pending, &room->pending[1],
            room->npending * sizeof(ngx_chat_buf_t *));

    ngx_chat_room_pending_shrink(room);

    /* the caller owns the reference now */
    return b;
}


void
ngx_chat_room_pending_clear(ngx_chat_room_t *room)
{
    uint32_t  i;

    for (i = 0; i < room->npending; i++) {
        ngx_chat_buf_unref(room->pending[i]);
    }

    room->npending = 0;
    ngx_chat_room_pending_shrink(room);
}


/*
 * Events wait here only across a gap, and most rooms are idle: an empty
 * list goes, instead of holding its capacity for the room's life.
 */
static void
ngx_chat_room_pending_shrink(ngx_chat_room_t *room)
{
    if (room->npending == 0 && room->pending) {
        free(room->pending);
        room->pending = NULL;
        room->pending_cap = 0;
    }
}
