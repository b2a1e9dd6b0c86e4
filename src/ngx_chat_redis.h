/*
 * Redis: pub/sub between workers and hosts, and the relay store.
 */

#ifndef _NGX_CHAT_REDIS_H_INCLUDED_
#define _NGX_CHAT_REDIS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


typedef struct ngx_chat_redis_relay_s  ngx_chat_redis_relay_t;

/* rc: NGX_OK, NGX_DECLINED (Redis unreachable or refused), NGX_ERROR */
typedef void (*ngx_chat_redis_relay_pt)(ngx_chat_redis_relay_t *rr,
    ngx_int_t rc);

/*
 * A send of the redis store: the event text is part[0], seq, part[1],
 * rev (the seq again), part[2], msg_id, part[3], ts, part[4]; Redis fills
 * in the numbers.  The text must stay valid until the handler has run.
 */
struct ngx_chat_redis_relay_s {
    ngx_chat_redis_relay_pt    handler;
    const char                *room;
    size_t                     room_len;
    ngx_chat_json_part_t       part[5];
    int64_t                    seq;
    int64_t                    msg_id;
    int64_t                    ts;
    unsigned                   retried:1;
};

ngx_int_t ngx_chat_redis_init(ngx_cycle_t *cycle);
void ngx_chat_redis_exit(void);
ngx_int_t ngx_chat_redis_up(void);
ngx_int_t ngx_chat_redis_subscribe(ngx_uint_t store, const char *room,
    size_t len);
ngx_int_t ngx_chat_redis_unsubscribe(ngx_uint_t store, const char *room,
    size_t len);
void ngx_chat_redis_publish(const char *room, size_t room_len,
    const char *payload, size_t len);
/* NGX_OK: the handler runs later; NGX_DECLINED: Redis is not connected */
ngx_int_t ngx_chat_redis_relay(ngx_chat_redis_relay_t *rr);

#endif /* _NGX_CHAT_REDIS_H_INCLUDED_ */
