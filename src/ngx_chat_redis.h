/*
 * Redis: pub/sub between workers and hosts, commands, and the relay store.
 */

#ifndef _NGX_CHAT_REDIS_H_INCLUDED_
#define _NGX_CHAT_REDIS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"

#include <hiredis/hiredis.h>


/*
 * Kinds of channel.  A kind names its channels "<chat_redis_prefix>
 * <kind prefix><name>" and handles what comes on them.  The rooms of each
 * store are numbered as the stores; user and control channels take the
 * next numbers.
 */
#define NGX_CHAT_REDIS_ROOMS         NGX_CHAT_STORE_POSTGRESQL
#define NGX_CHAT_REDIS_RELAY_ROOMS   NGX_CHAT_STORE_REDIS
/* the one channel all workers hear revocations and bans on */
#define NGX_CHAT_REDIS_USERS         5
#define NGX_CHAT_REDIS_KINDS_MAX     8

/* a message published on the channel "name" of the kind */
typedef void (*ngx_chat_redis_message_pt)(ngx_uint_t kind, const char *name,
    size_t len, const char *payload, size_t payload_len);
/* Redis confirmed a subscription, or its end */
typedef void (*ngx_chat_redis_channel_pt)(ngx_uint_t kind, const char *name,
    size_t len);
typedef void (*ngx_chat_redis_link_pt)(void);
/* the channel "name" of the kind was on the node lost */
typedef ngx_uint_t (*ngx_chat_redis_on_pt)(ngx_uint_t kind, const char *name,
    size_t len);
typedef void (*ngx_chat_redis_lost_pt)(ngx_chat_redis_on_pt on);

typedef struct {
    const char                  *prefix;
    ngx_chat_redis_message_pt    message;
    ngx_chat_redis_channel_pt    subscribed;
    ngx_chat_redis_channel_pt    unsubscribed;
    /* optional: the pub/sub connection is up (subscribe again), or lost */
    ngx_chat_redis_link_pt       up;
    ngx_chat_redis_link_pt       down;
    /*
     * optional, on a cluster: one node's pub/sub connection is lost, with
     * the channels for which on() is true (else down hears of it)
     */
    ngx_chat_redis_lost_pt       lost;
} ngx_chat_redis_kind_t;


/*
 * A command's answer.  NGX_OK: Redis's reply (an error reply too), valid
 * only during the call.  NGX_DECLINED, with NULL: no answer, as the
 * connection was lost or Redis did not answer within the timeout.
 */
typedef void (*ngx_chat_redis_reply_pt)(void *data, ngx_int_t rc,
    redisReply *reply);


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

/* in a worker's init; the kind's memory stays valid */
ngx_int_t ngx_chat_redis_kind_add(ngx_uint_t kind,
    const ngx_chat_redis_kind_t *k);
/* NGX_OK: Redis will confirm; NGX_DECLINED: not connected */
ngx_int_t ngx_chat_redis_subscribe(ngx_uint_t kind, const char *name,
    size_t len);
ngx_int_t ngx_chat_redis_unsubscribe(ngx_uint_t kind, const char *name,
    size_t len);

/*
 * Every command but (un)subscribing goes this way.  NGX_OK: the handler,
 * if any, runs once, later.  NGX_DECLINED: Redis is not connected, the
 * handler never runs.  hiredis cannot cancel a command: one not answered
 * within timeout (ms) is answered NGX_DECLINED and the connection is made
 * anew, with all it carried.
 */
ngx_int_t ngx_chat_redis_command(int argc, const char **argv,
    const size_t *argvlen, ngx_chat_redis_reply_pt handler, void *data,
    ngx_msec_t timeout);

/* a room's event to every worker; kept while Redis is away */
/* kind: NGX_CHAT_REDIS_ROOMS or NGX_CHAT_REDIS_RELAY_ROOMS */
void ngx_chat_redis_publish(ngx_uint_t kind, const char *room,
    size_t room_len, const char *payload, size_t len);

/* chat_redis_prefix, at most */
#define NGX_CHAT_REDIS_PREFIX_MAX  128

/*
 * A key or channel of this module: chat_redis_prefix, a kind of at most
 * 15 bytes ("room:", "relay:seq:", "typing:"), and a name of at most a
 * room id, a space and a user id (on a cluster, and a hash tag)
 */
#define NGX_CHAT_REDIS_KEY_MAX                                                \
    (NGX_CHAT_REDIS_PREFIX_MAX + 16 + NGX_CHAT_ROOM_ID_MAX + 1                \
     + NGX_CHAT_USER_ID_MAX + 8)

/*
 * chat_redis cluster: the hash tag of the keys scripts use together and
 * of the users' channel; a room's names are tagged with the room id
 */
#define NGX_CHAT_REDIS_TAG  "{chat}"

/* chat_redis cluster is configured */
ngx_uint_t ngx_chat_redis_clustered(void);

/* the key in buf, of NGX_CHAT_REDIS_KEY_MAX bytes; returns its length */
size_t ngx_chat_redis_name(u_char *buf, const char *kind, const char *name,
    size_t len);

/* NGX_OK: the handler runs later; NGX_DECLINED: Redis is not connected */
ngx_int_t ngx_chat_redis_relay(ngx_chat_redis_relay_t *rr);

/* the prefix of a channel kind ("room:"), "" for none */
const char *ngx_chat_redis_kind_prefix(ngx_uint_t kind);

#endif /* _NGX_CHAT_REDIS_H_INCLUDED_ */
