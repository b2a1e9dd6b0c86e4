/*
 * Membership and moderation on a worker's live connections: what a
 * durable "member" event does to the room's local sessions, the mutes a
 * worker knows per room (typing is refused without a round trip), and
 * the users a worker has seen authenticate (chat_users).
 */

#ifndef _NGX_CHAT_MEMBERS_H_INCLUDED_
#define _NGX_CHAT_MEMBERS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"
#include "ngx_chat_pg.h"


/*
 * b, a durable event of room, was just queued to the room's sessions:
 * a member event ending a membership takes the user's sessions out of
 * the room, a mute or ban (and their end) is remembered
 */
void ngx_chat_members_event(ngx_chat_room_t *room, ngx_chat_buf_t *b);

/*
 * A join's access check passed (row of NGX_CHAT_SQL_ROOM_OPEN_BATCH):
 * its "joined" event, if it made the user a member, is published, and
 * the user's mute in the room remembered
 */
void ngx_chat_members_entered(const char *room, size_t room_len,
    const char *user, size_t user_len, PGresult *res, int row);

/*
 * why the user may not type in the room (banned or muted, as this worker
 * learnt at join and from member events), or NULL
 */
const char *ngx_chat_members_refused(const char *room, size_t room_len,
    const char *user, size_t user_len);

/* ngx_chat_known.c: an authenticated user, recorded once per worker */
void ngx_chat_known_seen(const char *user, size_t user_len,
    const char *name, size_t name_len);

#endif /* _NGX_CHAT_MEMBERS_H_INCLUDED_ */
