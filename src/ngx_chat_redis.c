/*
 * Redis for a worker: one pub/sub connection (room channels) and one
 * command connection (PUBLISH, and the sends of the redis store), both
 * hiredis async contexts driven by nginx events.  hiredis 0.14 reads once
 * per call and has no timers, so its sockets are watched level-triggered
 * and timeouts are nginx timers.
 *
 * Names: "<prefix>room:<room>" is a room's channel, "<prefix>relay:<room>"
 * its channel in the redis store, with the counters
 * "<prefix>relay:seq:<room>" and "<prefix>relay:msg_id".
 */

#include "ngx_chat.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_fanout.h"
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_CHAT_REDIS_BACKOFF_MIN   100
#define NGX_CHAT_REDIS_BACKOFF_MAX   2000
#define NGX_CHAT_REDIS_UNSENT_MAX    10000
#define NGX_CHAT_REDIS_CHANNEL_MAX   256


typedef struct {
    redisAsyncContext   *ac;
    ngx_connection_t    *c;
    ngx_event_t          timer;
    ngx_event_t          retry;
    ngx_msec_t           backoff;
    const char          *name;
    unsigned             connected:1;
    unsigned             subscriber:1;
    unsigned             was_down:1;
} ngx_chat_redis_conn_t;


typedef struct {
    ngx_queue_t          queue;
    size_t               channel_len;
    size_t               len;
    u_char               data[1];
} ngx_chat_redis_unsent_t;


static void ngx_chat_redis_connect(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_add_read(void *data);
static void ngx_chat_redis_del_read(void *data);
static void ngx_chat_redis_add_write(void *data);
static void ngx_chat_redis_del_write(void *data);
static void ngx_chat_redis_cleanup(void *data);
static void ngx_chat_redis_event(ngx_event_t *ev);
static void ngx_chat_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_chat_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_chat_redis_down(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_timer(ngx_event_t *ev);
static void ngx_chat_redis_retry(ngx_event_t *ev);
static void ngx_chat_redis_on_channel(redisAsyncContext *ac, void *reply,
    void *data);
static size_t ngx_chat_redis_name(u_char *buf, const char *kind,
    const char *room, size_t len);
static void ngx_chat_redis_flush_unsent(void);
static void ngx_chat_redis_load_script(void);
static ngx_int_t ngx_chat_redis_relay_send(ngx_chat_redis_relay_t *rr);
static void ngx_chat_redis_relay_wait(void);
static void ngx_chat_redis_on_relay(redisAsyncContext *ac, void *reply,
    void *data);


/*
 * KEYS: the room's seq counter and the msg_id counter; ARGV: the channel
 * and the five parts of the event (seq, rev, msg_id, ts between them: a
 * room of this store has only messages, its rev is its seq; the payload
 * starts "<rev> <seq>\n" as the durable path's).  One script, so that no
 * other send to the room comes between taking a seq and publishing it:
 * the channel carries the room's events in seq order.  TIME comes after
 * the writes, as Redis before 5 refuses writes after it in a script.
 */
static const char  ngx_chat_redis_relay_script[] =
    "local seq = redis.call('INCR', KEYS[1])\n"
    "local id = redis.call('INCR', KEYS[2])\n"
    "local t = redis.call('TIME')\n"
    "local ts = t[1] .. string.format('%03d', math.floor(t[2] / 1000))\n"
    "redis.call('PUBLISH', ARGV[1], seq .. ' ' .. seq .. '\\n'\n"
    "           .. ARGV[2] .. seq .. ARGV[3] .. seq .. ARGV[4] .. id\n"
    "           .. ARGV[5] .. ts .. ARGV[6])\n"
    "return {seq, id, tonumber(ts)}\n";

static u_char      ngx_chat_redis_relay_sha[41];
static ngx_uint_t  ngx_chat_redis_relays;      /* sends awaiting Redis */


static ngx_chat_redis_conn_t  ngx_chat_redis_sub;
static ngx_chat_redis_conn_t  ngx_chat_redis_cmd;
static ngx_queue_t            ngx_chat_redis_unsent;
static ngx_uint_t             ngx_chat_redis_nunsent;
static ngx_log_t             *ngx_chat_redis_log;


ngx_int_t
ngx_chat_redis_init(ngx_cycle_t *cycle)
{
    u_char                  digest[20];
    ngx_uint_t              i;
    ngx_sha1_t              sha1;
    ngx_chat_redis_conn_t  *rc;

    ngx_chat_redis_log = cycle->log;
    ngx_queue_init(&ngx_chat_redis_unsent);
    ngx_chat_redis_nunsent = 0;
    ngx_chat_redis_relays = 0;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, ngx_chat_redis_relay_script,
                    sizeof(ngx_chat_redis_relay_script) - 1);
    ngx_sha1_final(digest, &sha1);
    *ngx_hex_dump(ngx_chat_redis_relay_sha, digest, 20) = '\0';

    for (i = 0; i < 2; i++) {
        rc = i ? &ngx_chat_redis_cmd : &ngx_chat_redis_sub;
        ngx_memzero(rc, sizeof(ngx_chat_redis_conn_t));

        rc->name = i ? "command" : "pub/sub";
        rc->subscriber = i ? 0 : 1;
        rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;

        rc->timer.handler = ngx_chat_redis_timer;
        rc->timer.data = rc;
        rc->timer.log = cycle->log;
        rc->timer.cancelable = 1;

        rc->retry.handler = ngx_chat_redis_retry;
        rc->retry.data = rc;
        rc->retry.log = cycle->log;
        rc->retry.cancelable = 1;

        ngx_chat_redis_connect(rc);
    }

    return NGX_OK;
}


void
ngx_chat_redis_exit(void)
{
    ngx_uint_t                i;
    ngx_queue_t              *q;
    redisAsyncContext        *ac;
    ngx_chat_redis_conn_t    *rc;

    for (i = 0; i < 2; i++) {
        rc = i ? &ngx_chat_redis_cmd : &ngx_chat_redis_sub;

        ac = rc->ac;
        rc->ac = NULL;

        if (ac) {
            /* what was published last still goes out */
            if (rc->connected && rc->c) {
                redisAsyncHandleWrite(ac);
            }

            rc->connected = 0;
            redisAsyncFree(ac);
        }

        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        if (rc->retry.timer_set) {
            ngx_del_timer(&rc->retry);
        }
    }

    while (!ngx_queue_empty(&ngx_chat_redis_unsent)) {
        q = ngx_queue_head(&ngx_chat_redis_unsent);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_chat_redis_unsent_t, queue));
    }
}


ngx_int_t
ngx_chat_redis_up(void)
{
    return ngx_chat_redis_sub.connected && ngx_chat_redis_cmd.connected;
}


static void
ngx_chat_redis_connect(ngx_chat_redis_conn_t *rc)
{
    redisAsyncContext     *ac;
    ngx_connection_t      *c;
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    if (mcf->redis_port) {
        ac = redisAsyncConnect((char *) mcf->redis_host.data,
                               mcf->redis_port);
    } else {
        ac = redisAsyncConnectUnix((char *) mcf->redis_host.data);
    }

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis %s connect failed: %s", rc->name,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_chat_redis_down(rc);
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_chat_redis_log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_chat_redis_down(rc);
        return;
    }

    c->data = rc;
    c->read->handler = ngx_chat_redis_event;
    c->write->handler = ngx_chat_redis_event;
    c->read->log = ngx_chat_redis_log;
    c->write->log = ngx_chat_redis_log;

    rc->c = c;
    rc->ac = ac;

    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ngx_chat_redis_add_read;
    ac->ev.delRead = ngx_chat_redis_del_read;
    ac->ev.addWrite = ngx_chat_redis_add_write;
    ac->ev.delWrite = ngx_chat_redis_del_write;
    ac->ev.cleanup = ngx_chat_redis_cleanup;

    /* the connect callback setter asks for the first write event */
    redisAsyncSetConnectCallback(ac, ngx_chat_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_chat_redis_on_disconnect);

    ngx_add_timer(&rc->timer, mcf->redis_timeout);
}


static void
ngx_chat_redis_add_read(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->c && !rc->c->read->active) {
        (void) ngx_add_event(rc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_chat_redis_del_read(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->c && rc->c->read->active) {
        (void) ngx_del_event(rc->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_chat_redis_add_write(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->c && !rc->c->write->active) {
        (void) ngx_add_event(rc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_chat_redis_del_write(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->c && rc->c->write->active) {
        (void) ngx_del_event(rc->c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_chat_redis_cleanup(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    ngx_connection_t  *c;

    c = rc->c;
    if (c == NULL) {
        return;
    }

    ngx_chat_redis_del_read(rc);
    ngx_chat_redis_del_write(rc);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* hiredis closes the socket itself */
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
    rc->c = NULL;
}


static void
ngx_chat_redis_event(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_chat_redis_conn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (rc->ac == NULL) {
        return;
    }

    /* the context may be freed inside: nothing is touched afterwards */
    if (ev->write) {
        redisAsyncHandleWrite(rc->ac);

    } else {
        redisAsyncHandleRead(rc->ac);
    }
}


static void
ngx_chat_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_chat_redis_conn_t  *rc = ac->data;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (status != REDIS_OK) {
        /* while Redis stays down, only the first failure is an error */
        if (rc->was_down) {
            ngx_log_error(NGX_LOG_INFO, ngx_chat_redis_log, 0,
                          "chat: redis %s connect failed: %s", rc->name,
                          ac->errstr);
        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                          "chat: redis %s connect failed: %s", rc->name,
                          ac->errstr);
        }

        /* hiredis frees the context after this callback */
        rc->ac = NULL;
        ngx_chat_redis_down(rc);
        return;
    }

    if (rc->was_down) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_redis_log, 0,
                      "chat: redis %s connection is back", rc->name);
    }

    rc->connected = 1;
    rc->was_down = 0;
    rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;

    if (rc->subscriber) {
        ngx_chat_fanout_redis_up();

    } else {
        ngx_chat_redis_load_script();
        ngx_chat_redis_flush_unsent();
    }
}


static void
ngx_chat_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_chat_redis_conn_t  *rc = ac->data;

    if (rc == NULL || rc->ac == NULL) {
        /* freed by us on exit */
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                  "chat: redis %s connection lost: %s", rc->name,
                  status == REDIS_OK ? "closed" : ac->errstr);

    rc->ac = NULL;
    ngx_chat_redis_down(rc);
}


static void
ngx_chat_redis_down(ngx_chat_redis_conn_t *rc)
{
    ngx_uint_t  was_connected;

    was_connected = rc->connected;
    rc->connected = 0;
    rc->was_down = 1;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (rc->subscriber && was_connected) {
        ngx_chat_fanout_redis_down();
    }

    if (ngx_exiting || ngx_terminate || !ngx_chat_worker.active) {
        return;
    }

    if (!rc->retry.timer_set) {
        ngx_add_timer(&rc->retry, rc->backoff);
        rc->backoff = ngx_min(rc->backoff * 2, NGX_CHAT_REDIS_BACKOFF_MAX);
    }
}


static void
ngx_chat_redis_timer(ngx_event_t *ev)
{
    ngx_chat_redis_conn_t  *rc = ev->data;

    redisAsyncContext  *ac;

    if (rc->connected) {
        /* sends of the redis store wait, and Redis answers nothing */
        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis %s connection: no answer in time, "
                      "reconnecting", rc->name);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis %s connect timed out", rc->name);
    }

    ac = rc->ac;
    rc->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_chat_redis_down(rc);
}


static void
ngx_chat_redis_retry(ngx_event_t *ev)
{
    ngx_chat_redis_conn_t  *rc = ev->data;

    if (rc->ac == NULL) {
        ngx_chat_redis_connect(rc);
    }
}


/* "<prefix><kind><room>": kind and room fit in the rest of the buffer */
static size_t
ngx_chat_redis_name(u_char *buf, const char *kind, const char *room,
    size_t len)
{
    u_char     *p;
    ngx_str_t  *prefix;

    prefix = &ngx_chat_worker.mcf->redis_prefix;

    p = ngx_cpymem(buf, prefix->data, prefix->len);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));
    p = ngx_cpymem(p, room, len);

    return p - buf;
}


#define ngx_chat_redis_channel(buf, store, room, len)                         \
    ngx_chat_redis_name(buf, (store) == NGX_CHAT_STORE_REDIS ? "relay:"      \
                                                             : "room:",      \
                        room, len)


ngx_int_t
ngx_chat_redis_subscribe(ngx_uint_t store, const char *room, size_t len)
{
    size_t  n;
    u_char  channel[NGX_CHAT_REDIS_CHANNEL_MAX];

    if (!ngx_chat_redis_sub.connected) {
        return NGX_DECLINED;
    }

    n = ngx_chat_redis_channel(channel, store, room, len);

    if (redisAsyncCommand(ngx_chat_redis_sub.ac, ngx_chat_redis_on_channel,
                          NULL, "SUBSCRIBE %b", channel, n)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_chat_redis_unsubscribe(ngx_uint_t store, const char *room, size_t len)
{
    size_t  n;
    u_char  channel[NGX_CHAT_REDIS_CHANNEL_MAX];

    if (!ngx_chat_redis_sub.connected) {
        return NGX_DECLINED;
    }

    n = ngx_chat_redis_channel(channel, store, room, len);

    if (redisAsyncCommand(ngx_chat_redis_sub.ac, ngx_chat_redis_on_channel,
                          NULL, "UNSUBSCRIBE %b", channel, n)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_chat_redis_on_channel(redisAsyncContext *ac, void *reply, void *data)
{
    size_t       n;
    const char  *room;
    ngx_uint_t   store;
    redisReply  *r = reply;
    redisReply  *kind, *channel;

    /* NULL when the connection goes away: resubscribing handles that */
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        return;
    }

    kind = r->element[0];
    channel = r->element[1];

    if (kind->type != REDIS_REPLY_STRING
        || channel->type != REDIS_REPLY_STRING)
    {
        return;
    }

    n = ngx_chat_worker.mcf->redis_prefix.len;

    if ((size_t) channel->len <= n) {
        return;
    }

    room = channel->str + n;
    n = channel->len - n;

    if (n > 5 && ngx_strncmp(room, "room:", 5) == 0) {
        store = NGX_CHAT_STORE_POSTGRESQL;
        room += 5;
        n -= 5;

    } else if (n > 6 && ngx_strncmp(room, "relay:", 6) == 0) {
        store = NGX_CHAT_STORE_REDIS;
        room += 6;
        n -= 6;

    } else {
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        ngx_chat_fanout_redis_message(store, room, n, r->element[2]->str,
                                      r->element[2]->len);
        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        ngx_chat_fanout_redis_subscribed(store, room, n);
        return;
    }

    if (kind->len == 11 && ngx_strncmp(kind->str, "unsubscribe", 11) == 0) {
        ngx_chat_fanout_redis_unsubscribed(store, room, n);
    }
}


void
ngx_chat_redis_publish(const char *room, size_t room_len,
    const char *payload, size_t len)
{
    size_t                    n;
    u_char                    channel[NGX_CHAT_REDIS_CHANNEL_MAX];
    ngx_queue_t              *q;
    ngx_chat_redis_unsent_t  *u;

    n = ngx_chat_redis_channel(channel, NGX_CHAT_STORE_POSTGRESQL, room,
                               room_len);

    if (ngx_chat_redis_cmd.connected
        && redisAsyncCommand(ngx_chat_redis_cmd.ac, NULL, NULL,
                             "PUBLISH %b %b", channel, n, payload, len)
           == REDIS_OK)
    {
        return;
    }

    /*
     * Kept for when Redis is back.  Losing the oldest is safe: receivers
     * see the gap at the next event and read it from PostgreSQL.
     */
    if (ngx_chat_redis_nunsent >= NGX_CHAT_REDIS_UNSENT_MAX) {
        q = ngx_queue_head(&ngx_chat_redis_unsent);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_chat_redis_unsent_t, queue));
        ngx_chat_redis_nunsent--;
    }

    u = ngx_alloc(sizeof(ngx_chat_redis_unsent_t) + n + len,
                  ngx_chat_redis_log);
    if (u == NULL) {
        return;
    }

    u->channel_len = n;
    u->len = len;
    ngx_memcpy(u->data, channel, n);
    ngx_memcpy(u->data + n, payload, len);

    ngx_queue_insert_tail(&ngx_chat_redis_unsent, &u->queue);
    ngx_chat_redis_nunsent++;
}


static void
ngx_chat_redis_flush_unsent(void)
{
    ngx_queue_t              *q;
    ngx_chat_redis_unsent_t  *u;

    while (!ngx_queue_empty(&ngx_chat_redis_unsent)
           && ngx_chat_redis_cmd.connected)
    {
        q = ngx_queue_head(&ngx_chat_redis_unsent);
        u = ngx_queue_data(q, ngx_chat_redis_unsent_t, queue);

        if (redisAsyncCommand(ngx_chat_redis_cmd.ac, NULL, NULL,
                              "PUBLISH %b %b", u->data, u->channel_len,
                              u->data + u->channel_len, u->len)
            != REDIS_OK)
        {
            return;
        }

        ngx_queue_remove(q);
        ngx_free(u);
        ngx_chat_redis_nunsent--;
    }
}


/*
 * A new command connection may be to a Redis that never saw the script:
 * loading it first keeps EVALSHA from failing.  The reply is not needed:
 * a send that still meets NOSCRIPT falls back to EVAL.
 */
static void
ngx_chat_redis_load_script(void)
{
    const char  *argv[3];
    size_t       len[3];

    argv[0] = "SCRIPT";
    len[0] = 6;
    argv[1] = "LOAD";
    len[1] = 4;
    argv[2] = ngx_chat_redis_relay_script;
    len[2] = sizeof(ngx_chat_redis_relay_script) - 1;

    (void) redisAsyncCommandArgv(ngx_chat_redis_cmd.ac, NULL, NULL, 3, argv,
                                 len);
}


ngx_int_t
ngx_chat_redis_relay(ngx_chat_redis_relay_t *rr)
{
    if (!ngx_chat_redis_cmd.connected) {
        return NGX_DECLINED;
    }

    rr->retried = 0;

    return ngx_chat_redis_relay_send(rr);
}


static ngx_int_t
ngx_chat_redis_relay_send(ngx_chat_redis_relay_t *rr)
{
    u_char       seq_key[NGX_CHAT_REDIS_CHANNEL_MAX];
    u_char       id_key[NGX_CHAT_REDIS_CHANNEL_MAX];
    u_char       channel[NGX_CHAT_REDIS_CHANNEL_MAX];
    size_t       len[11];
    ngx_uint_t   i;
    const char  *argv[11];

    if (rr->retried) {
        argv[0] = "EVAL";
        argv[1] = ngx_chat_redis_relay_script;
        len[1] = sizeof(ngx_chat_redis_relay_script) - 1;

    } else {
        argv[0] = "EVALSHA";
        argv[1] = (char *) ngx_chat_redis_relay_sha;
        len[1] = 40;
    }

    len[0] = ngx_strlen(argv[0]);
    argv[2] = "2";
    len[2] = 1;
    argv[3] = (char *) seq_key;
    len[3] = ngx_chat_redis_name(seq_key, "relay:seq:", rr->room,
                                 rr->room_len);
    argv[4] = (char *) id_key;
    len[4] = ngx_chat_redis_name(id_key, "relay:msg_id", "", 0);
    argv[5] = (char *) channel;
    len[5] = ngx_chat_redis_channel(channel, NGX_CHAT_STORE_REDIS, rr->room,
                                    rr->room_len);

    for (i = 0; i < 5; i++) {
        argv[6 + i] = rr->part[i].data;
        len[6 + i] = rr->part[i].len;
    }

    if (redisAsyncCommandArgv(ngx_chat_redis_cmd.ac, ngx_chat_redis_on_relay,
                              rr, 11, argv, len)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_chat_redis_relays++ == 0) {
        ngx_chat_redis_relay_wait();
    }

    return NGX_OK;
}


/*
 * hiredis has no timeouts: while sends wait, Redis must answer one within
 * chat_redis_timeout, or the connection is dropped and they all fail.
 */
static void
ngx_chat_redis_relay_wait(void)
{
    ngx_event_t  *ev;

    ev = &ngx_chat_redis_cmd.timer;

    if (ngx_chat_redis_relays) {
        ngx_add_timer(ev, ngx_chat_worker.mcf->redis_timeout);

    } else if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


static void
ngx_chat_redis_on_relay(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_chat_redis_relay_t *rr = data;

    ngx_uint_t   i;
    redisReply  *r = reply;

    ngx_chat_redis_relays--;

    /* NULL: the connection is gone, and the send with it */
    if (r == NULL) {
        rr->handler(rr, NGX_DECLINED);
        return;
    }

    ngx_chat_redis_relay_wait();

    if (r->type == REDIS_REPLY_ERROR) {
        /*
         * The script cache was flushed: EVAL loads the script again.  Only
         * then may a send from one connection overtake an earlier one.
         */
        if (!rr->retried && r->len >= 8
            && ngx_strncmp(r->str, "NOSCRIPT", 8) == 0
            && ngx_chat_redis_cmd.connected)
        {
            rr->retried = 1;

            if (ngx_chat_redis_relay_send(rr) == NGX_OK) {
                return;
            }
        }

        ngx_log_error(NGX_LOG_WARN, ngx_chat_redis_log, 0,
                      "chat: redis refused a send to room \"%*s\": %*s",
                      rr->room_len, rr->room, (size_t) r->len, r->str);

        rr->handler(rr, NGX_DECLINED);
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        goto invalid;
    }

    for (i = 0; i < 3; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER
            || r->element[i]->integer < 1)
        {
            goto invalid;
        }
    }

    rr->seq = r->element[0]->integer;
    rr->msg_id = r->element[1]->integer;
    rr->ts = r->element[2]->integer;

    rr->handler(rr, NGX_OK);
    return;

invalid:

    ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                  "chat: an invalid reply from redis to a send to room "
                  "\"%*s\"", rr->room_len, rr->room);

    rr->handler(rr, NGX_ERROR);
}
