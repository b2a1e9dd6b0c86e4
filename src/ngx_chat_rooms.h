/*
 * A worker's rooms as the fanout's files share them: ngx_chat_rooms.c
 * (subscriptions: a room from its first local join to its release),
 * ngx_chat_deliver.c (ordered delivery: events in rev order, gaps read
 * back) and ngx_chat_join.c (the join protocol: access check, replay,
 * going live).  The fanout's interface is ngx_chat_fanout.h.
 */

#ifndef _NGX_CHAT_ROOMS_H_INCLUDED_
#define _NGX_CHAT_ROOMS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_session.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_store.h"


#define NGX_CHAT_ROOM_SUBSCRIBING  1   /* waiting to be subscribed */
#define NGX_CHAT_ROOM_OPENING      2   /* waiting for a join's latest rev */
#define NGX_CHAT_ROOM_READY        3

#define NGX_CHAT_SUB_NONE          0
#define NGX_CHAT_SUB_PENDING       1
#define NGX_CHAT_SUB_ACTIVE        2
#define NGX_CHAT_UNSUB_PENDING     3


/*
 * A room's state on this worker.  Small: most rooms are DMs and pairs.
 * Its gap timer is allocated only while a gap waits, and a room waiting
 * to be released is in one queue of the worker's.
 */
typedef struct {
    ngx_chat_room_t          *room;
    ngx_event_t              *gap_timer;     /* NULL: no gap waits */
    ngx_queue_t               release;       /* in the worker's queue */
    const ngx_chat_store_t   *store;
    struct ngx_chat_former_s *former;        /* ngx_chat_member_cache.c */
    int64_t                   expected;  /* storage has this rev at least */
    int64_t                   seq;       /* the latest seq delivered */
    unsigned                  sub:2;         /* NGX_CHAT_SUB_* */
    unsigned                  resyncing:1;
    unsigned                  releasing:1;   /* in the release queue */
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

    /* live events that came while the replay was under way */
    ngx_chat_held_t      held;

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


/* ngx_chat_rooms.c */
void ngx_chat_rooms_init(void);
void ngx_chat_rooms_exit(void);
ngx_chat_room_t *ngx_chat_room_acquire(const ngx_chat_store_t *store,
    const char *id, size_t len);
void ngx_chat_room_open(ngx_chat_room_t *room);
void ngx_chat_room_release_later(ngx_chat_room_t *room);
ngx_chat_room_t *ngx_chat_fanout_room_of(ngx_uint_t store, const char *id,
    size_t len);
void ngx_chat_fanout_each(void (*handler)(ngx_chat_room_t *room, void *arg));
void ngx_chat_fanout_free_room(ngx_chat_room_t *room, void *arg);
/* a room or member found again by a callback that may outlive it */
ngx_chat_room_ref_t *ngx_chat_room_ref(ngx_chat_room_t *room,
    ngx_chat_session_t *s, uint32_t gen);
ngx_chat_room_t *ngx_chat_room_deref(ngx_chat_room_ref_t *ref);

/* ngx_chat_deliver.c */
void ngx_chat_fanout_emit_pending(ngx_chat_room_t *room);
void ngx_chat_fanout_expect(ngx_chat_room_t *room, int64_t rev);
void ngx_chat_fanout_gap_handler(ngx_event_t *ev);
/* the room's gap timer: armed, armed for ms (unless it is), disarmed */
ngx_uint_t ngx_chat_room_gap_armed(ngx_chat_room_t *room);
void ngx_chat_room_gap_arm(ngx_chat_room_t *room, ngx_msec_t ms);
void ngx_chat_room_gap_disarm(ngx_chat_room_t *room);
void ngx_chat_fanout_resync(ngx_chat_room_t *room);

/* ngx_chat_join.c */
void ngx_chat_join_check(ngx_chat_join_t *jn);
void ngx_chat_fanout_drop_user(ngx_chat_room_t *room, const char *user,
    size_t len);


#endif /* _NGX_CHAT_ROOMS_H_INCLUDED_ */
