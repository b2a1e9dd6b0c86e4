/*
 * Presence (protocol.md section 8): who is online on any worker of any
 * host, and since when they were last seen; who is present in a room.
 */

#ifndef _NGX_CHAT_PRESENCE_H_INCLUDED_
#define _NGX_CHAT_PRESENCE_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


/* GET /presence answers at most this many users at once */
#define NGX_CHAT_PRESENCE_USERS_MAX  100


typedef struct {
    ngx_str_t    user;          /* asked for */
    ngx_uint_t   online;        /* answered */
    int64_t      last_seen;     /* ms; 0: never seen */
} ngx_chat_presence_state_t;

/* rc: NGX_OK, or NGX_ERROR when presence cannot be known (Redis down) */
typedef void (*ngx_chat_presence_handler_pt)(void *data,
    ngx_chat_presence_state_t *users, ngx_uint_t n, ngx_int_t rc);


/*
 * Fills online and last_seen of users[0..n-1] and calls handler; the
 * handler may run before this returns.  users stays the caller's.
 */
void ngx_chat_presence_lookup(ngx_chat_presence_state_t *users, ngx_uint_t n,
    ngx_chat_presence_handler_pt handler, void *data);

ngx_int_t ngx_chat_presence_init(ngx_cycle_t *cycle);
void ngx_chat_presence_exit(void);

/* the session is authenticated, or no longer (after its members went) */
void ngx_chat_presence_online(ngx_chat_session_t *s);
void ngx_chat_presence_offline(ngx_chat_session_t *s);

/*
 * A member of the session in the room just went live, or a live one just
 * left the session's member list
 */
void ngx_chat_presence_enter(ngx_chat_session_t *s, ngx_chat_room_t *room);
void ngx_chat_presence_leave(ngx_chat_session_t *s, ngx_chat_room_t *room);

/* the "presence" request: the users present in the room */
void ngx_chat_presence_request(ngx_chat_session_t *s,
    ngx_chat_request_t *req);

#endif /* _NGX_CHAT_PRESENCE_H_INCLUDED_ */
