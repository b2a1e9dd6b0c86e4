/*
 * The per-worker room table: room id -> the local sessions joined to it,
 * the last rev delivered to them, and the durable events that arrived
 * ahead of a gap.  Free of nginx types: sessions are opaque pointers.
 */

#ifndef _NGX_CHAT_ROOM_H_INCLUDED_
#define _NGX_CHAT_ROOM_H_INCLUDED_

#include <stdint.h>
#include <stddef.h>

#include "ngx_chat_buf.h"
#include "ngx_chat_ids.h"


typedef struct ngx_chat_member_s  ngx_chat_member_t;
typedef struct ngx_chat_room_s    ngx_chat_room_t;


/*
 * The live events a joining member holds until its replay is sent: kept
 * with the join, not with the member, which lives on once the join is
 * over (56 bytes, a 64-byte malloc chunk, a membership).
 */
typedef struct {
    ngx_chat_buf_t    **bufs;
    uint32_t            n;
    uint32_t            cap;
    size_t              bytes;
} ngx_chat_held_t;


struct ngx_chat_member_s {
    ngx_chat_member_t  *prev;        /* in the room */
    ngx_chat_member_t  *next;
    ngx_chat_member_t  *snext;       /* in the session */
    ngx_chat_room_t    *room;
    void               *session;

    /* events up to this rev reached the member by its replay */
    int64_t             floor;

    uint32_t            join_gen;
    unsigned            live:1;
    /* the member is its join's (ngx_chat_join_t), not one on its own */
    unsigned            in_join:1;
    /* joined before the room last lost track of its events */
    unsigned            unproven:1;
};


/*
 * 63 bytes and the id: a 96-byte malloc chunk for ids of up to 24 bytes,
 * with the caller's state (data_size of the table) after it in the same
 * allocation.
 */
struct ngx_chat_room_s {
    ngx_chat_room_t    *hnext;
    uint32_t            hash;
    uint32_t            gen;         /* tells a recreated room apart */

    ngx_chat_member_t  *members;

    int64_t             delivered;   /* last rev delivered locally */

    /* ascending rev, all > delivered; freed when it empties */
    ngx_chat_buf_t    **pending;
    uint32_t            npending;
    uint32_t            pending_cap;

    void               *data;        /* the caller's per-room state */

    uint32_t            nmembers;
    uint16_t            id_len;
    uint8_t             state;       /* the caller's */

    /* NUL-terminated, allocated with the room: most ids are short */
    char                id[1];
};


typedef struct {
    ngx_chat_room_t   **buckets;
    size_t              nbuckets;
    size_t              count;
    uint32_t            next_gen;
    /* a room's data: this many bytes allocated with it, zeroed (or NULL) */
    uint32_t            data_size;
} ngx_chat_room_table_t;


/* data_size: the caller's state allocated with each room (0: none) */
int ngx_chat_room_table_init(ngx_chat_room_table_t *t, size_t nbuckets,
    size_t data_size);
void ngx_chat_room_table_free(ngx_chat_room_table_t *t);

ngx_chat_room_t *ngx_chat_room_find(ngx_chat_room_table_t *t,
    const char *id, size_t len);
ngx_chat_room_t *ngx_chat_room_add(ngx_chat_room_table_t *t,
    const char *id, size_t len);
void ngx_chat_room_delete(ngx_chat_room_table_t *t, ngx_chat_room_t *room);

/* calls fn for every room; fn may not add or delete rooms */
void ngx_chat_room_each(ngx_chat_room_table_t *t,
    void (*fn)(ngx_chat_room_t *room, void *arg), void *arg);

void ngx_chat_room_link(ngx_chat_room_t *room, ngx_chat_member_t *m);
void ngx_chat_room_unlink(ngx_chat_member_t *m);

/* held events keep a reference each; -1 on allocation failure */
int ngx_chat_held_add(ngx_chat_held_t *h, ngx_chat_buf_t *b);
void ngx_chat_held_free(ngx_chat_held_t *h);

/*
 * Pending events: pending_add keeps a reference (1) or ignores a rev
 * already delivered or pending (0); -1 on allocation failure.
 * pending_next pops the event that follows "delivered", if it is there.
 */
int ngx_chat_room_pending_add(ngx_chat_room_t *room, ngx_chat_buf_t *b);
ngx_chat_buf_t *ngx_chat_room_pending_next(ngx_chat_room_t *room);
void ngx_chat_room_pending_clear(ngx_chat_room_t *room);

#endif /* _NGX_CHAT_ROOM_H_INCLUDED_ */
