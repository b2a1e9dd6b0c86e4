/*
 * The members a worker knows of: a member's rejoin answered without
 * PostgreSQL, as coherent as the room's event stream on this worker.
 */

#ifndef _NGX_CHAT_MEMBER_CACHE_H_INCLUDED_
#define _NGX_CHAT_MEMBER_CACHE_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_rooms.h"


/* 1: the user is a member of the room as of the rev it delivered */
ngx_uint_t ngx_chat_member_cache_allows(ngx_chat_room_t *room,
    const u_char *user, size_t len);
/* a live member leaves, no event ending its membership */
void ngx_chat_member_cache_keep(ngx_chat_member_t *m);
/* an event ended the user's membership */
void ngx_chat_member_cache_forget(ngx_chat_room_t *room, const u_char *user,
    size_t len);
/* the room may have missed an event, or goes */
void ngx_chat_member_cache_drop(ngx_chat_room_t *room);

#endif /* _NGX_CHAT_MEMBER_CACHE_H_INCLUDED_ */
