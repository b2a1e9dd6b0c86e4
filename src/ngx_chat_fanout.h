/*
 * Rooms of a worker: subscriptions, ordered delivery, joins.
 */

#ifndef _NGX_CHAT_FANOUT_H_INCLUDED_
#define _NGX_CHAT_FANOUT_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


ngx_int_t ngx_chat_fanout_init(ngx_cycle_t *cycle);
void ngx_chat_fanout_exit(void);
void ngx_chat_fanout_join(ngx_chat_session_t *s, ngx_chat_request_t *req);
void ngx_chat_fanout_leave(ngx_chat_session_t *s, ngx_chat_request_t *req);
void ngx_chat_fanout_session_gone(ngx_chat_session_t *s);
void ngx_chat_fanout_session_drained(ngx_chat_session_t *s);
ngx_int_t ngx_chat_fanout_joined(ngx_chat_session_t *s, const char *room,
    size_t len);
void ngx_chat_fanout_committed(const char *room, size_t room_len,
    int64_t rev, int64_t seq, const char *json, size_t json_len);
/*
 * An ephemeral event (no rev) to a room's joined connections on every
 * worker, but those of the user skip (NULL: none); store is the room's
 * store index
 */
void ngx_chat_fanout_ephemeral(ngx_uint_t store, const char *room,
    size_t len, const char *skip, size_t skip_len, const char *json,
    size_t json_len);
void ngx_chat_fanout_redis_message(ngx_uint_t store, const char *room,
    size_t len, const char *payload, size_t payload_len);
void ngx_chat_fanout_redis_subscribed(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_fanout_redis_unsubscribed(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_fanout_redis_up(void);
void ngx_chat_fanout_redis_down(void);
/* on a cluster: the rooms whose channels on() names were on a node lost */
void ngx_chat_fanout_redis_lost(ngx_uint_t (*on)(ngx_uint_t kind,
    const char *name, size_t len));

#endif /* _NGX_CHAT_FANOUT_H_INCLUDED_ */
