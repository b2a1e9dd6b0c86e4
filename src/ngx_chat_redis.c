/*
 * Redis for a worker: one pub/sub connection (channels of every kind) and
 * one command connection (PUBLISH, the sends of the redis store, anything
 * else), both hiredis async contexts on nginx events.  hiredis 0.14 reads
 * once per call and has no timers, so its sockets are watched
 * level-triggered and timeouts are nginx timers.
 *
 * Names: "<prefix>room:<room>" is a room's channel, "<prefix>relay:<room>"
 * its channel in the redis store, with the counters
 * "<prefix>relay:seq:<room>" and "<prefix>relay:msg_id".
 */

#include "ngx_chat.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_socket.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_metrics.h"
#include <ngx_sha1.h>

#include <hiredis/async.h>


#define NGX_CHAT_REDIS_BACKOFF_MIN   100
#define NGX_CHAT_REDIS_BACKOFF_MAX   2000
#define NGX_CHAT_REDIS_UNSENT_MAX    10000


typedef struct {
    redisAsyncContext   *ac;
    ngx_chat_socket_t    sock;
    ngx_event_t          timer;      /* the connect, or the first answer due */
    ngx_event_t          retry;
    ngx_event_t          flush;      /* posted: the tick's commands out */
    ngx_queue_t          waiting;    /* commands sent, answered in order */
    ngx_msec_t           backoff;
    const char          *name;
    unsigned             connected:1;
    unsigned             flushing:1;
    unsigned             subscriber:1;
    unsigned             was_down:1;
} ngx_chat_redis_conn_t;


/* a command sent, waiting for its answer */
typedef struct {
    ngx_queue_t               queue;
    ngx_chat_redis_reply_pt   handler;
    void                     *data;
    ngx_msec_t                deadline;
} ngx_chat_redis_wait_t;


typedef struct {
    ngx_queue_t          queue;
    size_t               channel_len;
    size_t               len;
    u_char               data[1];
} ngx_chat_redis_unsent_t;


typedef struct {
    const ngx_chat_redis_kind_t  *kind;
    size_t                        prefix_len;
} ngx_chat_redis_kind_slot_t;


static void ngx_chat_redis_connect(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_attach(ngx_chat_redis_conn_t *rc,
    redisAsyncContext *ac);
static void ngx_chat_redis_add_read(void *data);
static void ngx_chat_redis_del_read(void *data);
static void ngx_chat_redis_add_write(void *data);
static void ngx_chat_redis_flush(ngx_event_t *ev);
static void ngx_chat_redis_del_write(void *data);
static void ngx_chat_redis_cleanup(void *data);
static void ngx_chat_redis_ready(void *data, ngx_uint_t write);
static void ngx_chat_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_chat_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_chat_redis_drop(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_down(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_link(ngx_uint_t up);
static void ngx_chat_redis_timer(ngx_event_t *ev);
static void ngx_chat_redis_retry(ngx_event_t *ev);
static ngx_int_t ngx_chat_redis_send(ngx_chat_redis_conn_t *rc, int argc,
    const char **argv, const size_t *argvlen,
    ngx_chat_redis_reply_pt handler, void *data, ngx_msec_t timeout);
static void ngx_chat_redis_wait_arm(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_answered(ngx_chat_redis_conn_t *rc,
    ngx_chat_redis_wait_t *w, redisReply *reply);
static void ngx_chat_redis_wait_fail(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_on_reply(redisAsyncContext *ac, void *reply,
    void *data);
static ngx_int_t ngx_chat_redis_channel_command(const char *command,
    ngx_uint_t kind, const char *name, size_t len);
static void ngx_chat_redis_on_channel(redisAsyncContext *ac, void *reply,
    void *data);
static ngx_chat_redis_kind_slot_t *ngx_chat_redis_kind_find(
    const char *channel, size_t len, ngx_uint_t *kind);
static size_t ngx_chat_redis_channel(u_char *buf, ngx_uint_t kind,
    const char *name, size_t len);
static ngx_int_t ngx_chat_redis_publish_now(const u_char *channel, size_t n,
    const char *payload, size_t len);
static void ngx_chat_redis_flush_unsent(void);
static void ngx_chat_redis_load_script(void);
static ngx_int_t ngx_chat_redis_relay_send(ngx_chat_redis_relay_t *rr);
static void ngx_chat_redis_on_relay(void *data, ngx_int_t rc,
    redisReply *r);


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


/*
 * The rooms of each store, the fanout's, on the channels they always had.
 * The fanout subscribes the rooms of both stores again at once.
 */
static const ngx_chat_redis_kind_t  ngx_chat_redis_rooms = {
    "room:",
    ngx_chat_fanout_redis_message,
    ngx_chat_fanout_redis_subscribed,
    ngx_chat_fanout_redis_unsubscribed,
    ngx_chat_fanout_redis_up,
    ngx_chat_fanout_redis_down
};

static const ngx_chat_redis_kind_t  ngx_chat_redis_relay_rooms = {
    "relay:",
    ngx_chat_fanout_redis_message,
    ngx_chat_fanout_redis_subscribed,
    ngx_chat_fanout_redis_unsubscribed,
    NULL,
    NULL
};

static ngx_chat_redis_kind_slot_t  ngx_chat_redis_kinds[
                                       NGX_CHAT_REDIS_KINDS_MAX];


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

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, ngx_chat_redis_relay_script,
                    sizeof(ngx_chat_redis_relay_script) - 1);
    ngx_sha1_final(digest, &sha1);
    *ngx_hex_dump(ngx_chat_redis_relay_sha, digest, 20) = '\0';

    /* a later kind registers itself in its own init, as these do here */
    if (ngx_chat_redis_kind_add(NGX_CHAT_REDIS_ROOMS, &ngx_chat_redis_rooms)
        != NGX_OK
        || ngx_chat_redis_kind_add(NGX_CHAT_REDIS_RELAY_ROOMS,
                                   &ngx_chat_redis_relay_rooms)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < 2; i++) {
        rc = i ? &ngx_chat_redis_cmd : &ngx_chat_redis_sub;
        ngx_memzero(rc, sizeof(ngx_chat_redis_conn_t));

        rc->name = i ? "command" : "pub/sub";
        rc->subscriber = i ? 0 : 1;
        rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;
        ngx_queue_init(&rc->waiting);
        ngx_chat_socket_init(&rc->sock, ngx_chat_redis_ready, rc, cycle->log);

        rc->timer.handler = ngx_chat_redis_timer;
        rc->timer.data = rc;
        rc->timer.log = cycle->log;
        rc->timer.cancelable = 1;

        rc->retry.handler = ngx_chat_redis_retry;
        rc->retry.data = rc;
        rc->retry.log = cycle->log;
        rc->retry.cancelable = 1;

        rc->flush.handler = ngx_chat_redis_flush;
        rc->flush.data = rc;
        rc->flush.log = cycle->log;

        ngx_chat_redis_connect(rc);
    }

    return NGX_OK;
}


void
ngx_chat_redis_exit(void)
{
    ngx_uint_t                i, connected;
    ngx_queue_t              *q;
    redisAsyncContext        *ac;
    ngx_chat_redis_conn_t    *rc;

    for (i = 0; i < 2; i++) {
        rc = i ? &ngx_chat_redis_cmd : &ngx_chat_redis_sub;

        connected = rc->connected;
        rc->connected = 0;

        /*
         * What was published last still goes out.  A write that fails
         * frees the context, and the disconnect callback forgets it.
         */
        if (rc->ac && connected && rc->sock.c) {
            redisAsyncHandleWrite(rc->ac);
        }

        ac = rc->ac;
        rc->ac = NULL;

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_chat_redis_wait_fail(rc);

        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        if (rc->retry.timer_set) {
            ngx_del_timer(&rc->retry);
        }

        if (rc->flush.posted) {
            ngx_delete_posted_event(&rc->flush);
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


ngx_int_t
ngx_chat_redis_kind_add(ngx_uint_t kind, const ngx_chat_redis_kind_t *k)
{
    if (kind >= NGX_CHAT_REDIS_KINDS_MAX
        || (ngx_chat_redis_kinds[kind].kind != NULL
            && ngx_chat_redis_kinds[kind].kind != k))
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "chat: redis channel kind %ui taken", kind);
        return NGX_ERROR;
    }

    ngx_chat_redis_kinds[kind].kind = k;
    ngx_chat_redis_kinds[kind].prefix_len = ngx_strlen(k->prefix);

    return NGX_OK;
}


static void
ngx_chat_redis_connect(ngx_chat_redis_conn_t *rc)
{
    redisAsyncContext     *ac;
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

    if (ngx_chat_socket_wrap(&rc->sock, ac->c.fd) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_chat_redis_down(rc);
        return;
    }

    ngx_chat_redis_attach(rc, ac);

    ngx_add_timer(&rc->timer, mcf->redis_timeout);
}


/* hiredis's event hooks, on the socket adapter */
static void
ngx_chat_redis_attach(ngx_chat_redis_conn_t *rc, redisAsyncContext *ac)
{
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
}


static void
ngx_chat_redis_add_read(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    (void) ngx_chat_socket_watch(&rc->sock, 0, 1);
}


static void
ngx_chat_redis_del_read(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    (void) ngx_chat_socket_watch(&rc->sock, 0, 0);
}


/*
 * The commands of a loop tick go out together when it ends, without
 * asking epoll first (two epoll_ctl calls and a wakeup per tick); only a
 * connect under way, or a socket that did not take them all, waits to
 * be writable.
 */
static void
ngx_chat_redis_add_write(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->connected && !rc->flushing) {
        if (!rc->flush.posted) {
            ngx_post_event(&rc->flush, &ngx_posted_events);
        }

        return;
    }

    (void) ngx_chat_socket_watch(&rc->sock, 1, 1);
}


static void
ngx_chat_redis_flush(ngx_event_t *ev)
{
    ngx_chat_redis_conn_t  *rc = ev->data;

    if (rc->ac == NULL || !rc->connected || rc->sock.c == NULL) {
        return;
    }

    /* the context may be freed inside; rc itself stays */
    rc->flushing = 1;
    redisAsyncHandleWrite(rc->ac);
    rc->flushing = 0;
}


static void
ngx_chat_redis_del_write(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    (void) ngx_chat_socket_watch(&rc->sock, 1, 0);
}


/* hiredis is about to close the socket */
static void
ngx_chat_redis_cleanup(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    ngx_chat_socket_unwrap(&rc->sock, 0);
}


static void
ngx_chat_redis_ready(void *data, ngx_uint_t write)
{
    ngx_chat_redis_conn_t  *rc = data;

    if (rc->ac == NULL) {
        return;
    }

    /* the context may be freed inside: nothing is touched afterwards */
    if (write) {
        redisAsyncHandleWrite(rc->ac);

    } else {
        redisAsyncHandleRead(rc->ac);
    }
}


static void
ngx_chat_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_chat_redis_conn_t  *rc = ac->data;

    ngx_uint_t  level;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (status != REDIS_OK) {
        /* while Redis stays down, only the first failure is an error */
        level = rc->was_down ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, ngx_chat_redis_log, 0,
                      "chat: redis %s connect failed: %s", rc->name,
                      ac->errstr);

        /* hiredis frees the context after this callback */
        rc->ac = NULL;
        ngx_chat_redis_down(rc);
        return;
    }

    if (rc->was_down) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_redis_log, 0,
                      "chat: redis %s connection is back", rc->name);
    }

    ngx_chat_metrics_redis_up(rc->subscriber, rc->was_down);
    rc->connected = 1;
    rc->was_down = 0;
    rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;

    if (rc->subscriber) {
        ngx_chat_redis_link(1);

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
        /* freed by us */
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                  "chat: redis %s connection lost: %s", rc->name,
                  status == REDIS_OK ? "closed" : ac->errstr);

    rc->ac = NULL;
    ngx_chat_redis_down(rc);
}


/*
 * The connection is given up.  hiredis answers what it carried, with no
 * reply, before the context is gone: nothing late can come back.
 */
static void
ngx_chat_redis_drop(ngx_chat_redis_conn_t *rc)
{
    redisAsyncContext  *ac;

    ac = rc->ac;
    rc->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_chat_redis_down(rc);
}


static void
ngx_chat_redis_down(ngx_chat_redis_conn_t *rc)
{
    ngx_uint_t  was_connected;

    was_connected = rc->connected;
    ngx_chat_metrics_redis_down(rc->subscriber, was_connected);
    rc->connected = 0;
    rc->was_down = 1;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    /* (un)subscriptions: hiredis keeps no answer for them */
    ngx_chat_redis_wait_fail(rc);

    if (rc->subscriber && was_connected) {
        ngx_chat_redis_link(0);
    }

    if (ngx_exiting || ngx_terminate || !ngx_chat_worker.active) {
        return;
    }

    if (!rc->retry.timer_set) {
        ngx_add_timer(&rc->retry, rc->backoff);
        rc->backoff = ngx_min(rc->backoff * 2, NGX_CHAT_REDIS_BACKOFF_MAX);
    }
}


/* the pub/sub connection is up, or lost: each kind hears of it */
static void
ngx_chat_redis_link(ngx_uint_t up)
{
    ngx_uint_t                    i;
    ngx_chat_redis_link_pt        handler;
    const ngx_chat_redis_kind_t  *k;

    for (i = 0; i < NGX_CHAT_REDIS_KINDS_MAX; i++) {
        k = ngx_chat_redis_kinds[i].kind;

        if (k == NULL) {
            continue;
        }

        handler = up ? k->up : k->down;

        if (handler) {
            handler();
        }
    }
}


static void
ngx_chat_redis_timer(ngx_event_t *ev)
{
    ngx_chat_redis_conn_t  *rc = ev->data;

    ngx_chat_redis_wait_t  *w;

    if (rc->connected) {
        if (ngx_queue_empty(&rc->waiting)) {
            return;
        }

        /* nginx may run a timer moved a little later at its old time */
        w = ngx_queue_data(ngx_queue_head(&rc->waiting),
                           ngx_chat_redis_wait_t, queue);

        if ((ngx_msec_int_t) (w->deadline - ngx_current_msec) > 0) {
            ngx_chat_redis_wait_arm(rc);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis %s connection: no answer in time, "
                      "reconnecting", rc->name);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis %s connect timed out", rc->name);
    }

    ngx_chat_redis_drop(rc);
}


static void
ngx_chat_redis_retry(ngx_event_t *ev)
{
    ngx_chat_redis_conn_t  *rc = ev->data;

    if (rc->ac == NULL) {
        ngx_chat_redis_connect(rc);
    }
}


ngx_int_t
ngx_chat_redis_command(int argc, const char **argv, const size_t *argvlen,
    ngx_chat_redis_reply_pt handler, void *data, ngx_msec_t timeout)
{
    return ngx_chat_redis_send(&ngx_chat_redis_cmd, argc, argv, argvlen,
                               handler, data, timeout);
}


/*
 * Redis answers a connection's commands in order.  A subscriber's answers
 * come to the channel callback, the others' each to its own.
 */
static ngx_int_t
ngx_chat_redis_send(ngx_chat_redis_conn_t *rc, int argc, const char **argv,
    const size_t *argvlen, ngx_chat_redis_reply_pt handler, void *data,
    ngx_msec_t timeout)
{
    ngx_int_t               rv;
    ngx_queue_t            *q;
    ngx_chat_redis_wait_t  *w, *prev;

    if (!rc->connected || rc->ac == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_alloc(sizeof(ngx_chat_redis_wait_t), ngx_chat_redis_log);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    w->handler = handler;
    w->data = data;
    w->deadline = ngx_current_msec + timeout;

    if (rc->subscriber) {
        rv = redisAsyncCommandArgv(rc->ac, ngx_chat_redis_on_channel, NULL,
                                   argc, argv, argvlen);
    } else {
        rv = redisAsyncCommandArgv(rc->ac, ngx_chat_redis_on_reply, w,
                                   argc, argv, argvlen);
    }

    if (rv != REDIS_OK) {
        ngx_free(w);
        return NGX_DECLINED;
    }

    /*
     * Those before it are answered before it: they are late by its
     * deadline already, so the first one's deadline is the earliest.
     */
    for (q = ngx_queue_last(&rc->waiting);
         q != ngx_queue_sentinel(&rc->waiting);
         q = ngx_queue_prev(q))
    {
        prev = ngx_queue_data(q, ngx_chat_redis_wait_t, queue);

        if ((ngx_msec_int_t) (prev->deadline - w->deadline) <= 0) {
            break;
        }

        prev->deadline = w->deadline;
    }

    ngx_queue_insert_tail(&rc->waiting, &w->queue);

    ngx_chat_redis_wait_arm(rc);

    return NGX_OK;
}


/* the timer is set for the first answer due */
static void
ngx_chat_redis_wait_arm(ngx_chat_redis_conn_t *rc)
{
    ngx_msec_int_t          left;
    ngx_chat_redis_wait_t  *w;

    if (ngx_queue_empty(&rc->waiting)) {
        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        return;
    }

    w = ngx_queue_data(ngx_queue_head(&rc->waiting), ngx_chat_redis_wait_t,
                       queue);

    left = (ngx_msec_int_t) (w->deadline - ngx_current_msec);

    ngx_add_timer(&rc->timer, left > 0 ? (ngx_msec_t) left : 1);
}


static void
ngx_chat_redis_answered(ngx_chat_redis_conn_t *rc, ngx_chat_redis_wait_t *w,
    redisReply *reply)
{
    void                     *data;
    ngx_chat_redis_reply_pt   handler;

    ngx_queue_remove(&w->queue);

    /* not while the connection is given up */
    if (rc->ac) {
        ngx_chat_redis_wait_arm(rc);
    }

    handler = w->handler;
    data = w->data;
    ngx_free(w);

    if (handler) {
        handler(data, reply ? NGX_OK : NGX_DECLINED, reply);
    }
}


static void
ngx_chat_redis_wait_fail(ngx_chat_redis_conn_t *rc)
{
    ngx_chat_redis_wait_t  *w;

    while (!ngx_queue_empty(&rc->waiting)) {
        w = ngx_queue_data(ngx_queue_head(&rc->waiting),
                           ngx_chat_redis_wait_t, queue);
        ngx_chat_redis_answered(rc, w, NULL);
    }
}


static void
ngx_chat_redis_on_reply(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_chat_redis_answered(ac->data, data, reply);
}


/* "<prefix><kind><room>": kind and room fit in the rest of the buffer */
size_t
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


static size_t
ngx_chat_redis_channel(u_char *buf, ngx_uint_t kind, const char *name,
    size_t len)
{
    return ngx_chat_redis_name(buf, ngx_chat_redis_kinds[kind].kind->prefix,
                               name, len);
}


ngx_int_t
ngx_chat_redis_subscribe(ngx_uint_t kind, const char *name, size_t len)
{
    return ngx_chat_redis_channel_command("SUBSCRIBE", kind, name, len);
}


ngx_int_t
ngx_chat_redis_unsubscribe(ngx_uint_t kind, const char *name, size_t len)
{
    return ngx_chat_redis_channel_command("UNSUBSCRIBE", kind, name, len);
}


static ngx_int_t
ngx_chat_redis_channel_command(const char *command, ngx_uint_t kind,
    const char *name, size_t len)
{
    u_char       channel[NGX_CHAT_REDIS_KEY_MAX];
    size_t       argvlen[2];
    const char  *argv[2];

    if (kind >= NGX_CHAT_REDIS_KINDS_MAX
        || ngx_chat_redis_kinds[kind].kind == NULL)
    {
        return NGX_ERROR;
    }

    argv[0] = command;
    argvlen[0] = ngx_strlen(command);
    argv[1] = (char *) channel;
    argvlen[1] = ngx_chat_redis_channel(channel, kind, name, len);

    return ngx_chat_redis_send(&ngx_chat_redis_sub, 2, argv, argvlen, NULL,
                               NULL, ngx_chat_worker.mcf->redis_timeout);
}


static void
ngx_chat_redis_on_channel(redisAsyncContext *ac, void *reply, void *data)
{
    size_t                       n;
    ngx_uint_t                   kind;
    redisReply                  *r = reply;
    redisReply                  *type, *channel;
    const char                  *name;
    ngx_chat_redis_wait_t       *w;
    ngx_chat_redis_kind_slot_t  *slot;

    /* NULL when the connection goes away: subscribing again handles that */
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        return;
    }

    type = r->element[0];
    channel = r->element[1];

    if (type->type != REDIS_REPLY_STRING
        || channel->type != REDIS_REPLY_STRING)
    {
        return;
    }

    /* a confirmation answers the first (un)subscription waiting */
    if ((ngx_strcmp(type->str, "subscribe") == 0
         || ngx_strcmp(type->str, "unsubscribe") == 0)
        && !ngx_queue_empty(&ngx_chat_redis_sub.waiting))
    {
        w = ngx_queue_data(ngx_queue_head(&ngx_chat_redis_sub.waiting),
                           ngx_chat_redis_wait_t, queue);
        ngx_chat_redis_answered(&ngx_chat_redis_sub, w, r);
    }

    slot = ngx_chat_redis_kind_find(channel->str, channel->len, &kind);
    if (slot == NULL) {
        return;
    }

    n = ngx_chat_worker.mcf->redis_prefix.len + slot->prefix_len;
    name = channel->str + n;
    n = channel->len - n;

    if (ngx_strcmp(type->str, "message") == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        slot->kind->message(kind, name, n, r->element[2]->str,
                            r->element[2]->len);
        return;
    }

    if (ngx_strcmp(type->str, "subscribe") == 0) {
        slot->kind->subscribed(kind, name, n);
        return;
    }

    if (ngx_strcmp(type->str, "unsubscribe") == 0) {
        slot->kind->unsubscribed(kind, name, n);
    }
}


/* the kind of the channel: the longest prefix, with a name after it */
static ngx_chat_redis_kind_slot_t *
ngx_chat_redis_kind_find(const char *channel, size_t len, ngx_uint_t *kind)
{
    size_t                       n;
    ngx_uint_t                   i;
    ngx_str_t                   *prefix;
    ngx_chat_redis_kind_slot_t  *slot, *found;

    prefix = &ngx_chat_worker.mcf->redis_prefix;

    if (len <= prefix->len
        || ngx_strncmp(channel, prefix->data, prefix->len) != 0)
    {
        return NULL;
    }

    channel += prefix->len;
    len -= prefix->len;
    found = NULL;

    for (i = 0; i < NGX_CHAT_REDIS_KINDS_MAX; i++) {
        slot = &ngx_chat_redis_kinds[i];
        n = slot->prefix_len;

        if (slot->kind == NULL || len <= n
            || ngx_strncmp(channel, slot->kind->prefix, n) != 0
            || (found && found->prefix_len >= n))
        {
            continue;
        }

        found = slot;
        *kind = i;
    }

    return found;
}


void
ngx_chat_redis_publish(ngx_uint_t kind, const char *room, size_t room_len,
    const char *payload, size_t len)
{
    size_t                    n;
    u_char                    channel[NGX_CHAT_REDIS_KEY_MAX];
    ngx_queue_t              *q;
    ngx_chat_redis_unsent_t  *u;

    n = ngx_chat_redis_channel(channel, kind, room, room_len);

    if (ngx_chat_redis_publish_now(channel, n, payload, len) == NGX_OK) {
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


/*
 * Nobody waits for the answer.  A PUBLISH lost with its connection leaves
 * a gap that receivers read from PostgreSQL.
 */
static ngx_int_t
ngx_chat_redis_publish_now(const u_char *channel, size_t n,
    const char *payload, size_t len)
{
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "PUBLISH";
    argvlen[0] = 7;
    argv[1] = (const char *) channel;
    argvlen[1] = n;
    argv[2] = payload;
    argvlen[2] = len;

    return ngx_chat_redis_command(3, argv, argvlen, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);
}


static void
ngx_chat_redis_flush_unsent(void)
{
    ngx_queue_t              *q;
    ngx_chat_redis_unsent_t  *u;

    while (!ngx_queue_empty(&ngx_chat_redis_unsent)) {
        q = ngx_queue_head(&ngx_chat_redis_unsent);
        u = ngx_queue_data(q, ngx_chat_redis_unsent_t, queue);

        if (ngx_chat_redis_publish_now(u->data, u->channel_len,
                                       (char *) u->data + u->channel_len,
                                       u->len)
            != NGX_OK)
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

    (void) ngx_chat_redis_command(3, argv, len, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);
}


ngx_int_t
ngx_chat_redis_relay(ngx_chat_redis_relay_t *rr)
{
    rr->retried = 0;

    return ngx_chat_redis_relay_send(rr);
}


static ngx_int_t
ngx_chat_redis_relay_send(ngx_chat_redis_relay_t *rr)
{
    u_char       seq_key[NGX_CHAT_REDIS_KEY_MAX];
    u_char       id_key[NGX_CHAT_REDIS_KEY_MAX];
    u_char       channel[NGX_CHAT_REDIS_KEY_MAX];
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
    len[5] = ngx_chat_redis_channel(channel, NGX_CHAT_REDIS_RELAY_ROOMS,
                                    rr->room, rr->room_len);

    for (i = 0; i < 5; i++) {
        argv[6 + i] = rr->part[i].data;
        len[6 + i] = rr->part[i].len;
    }

    if (ngx_chat_redis_command(11, argv, len, ngx_chat_redis_on_relay, rr,
                               ngx_chat_worker.mcf->redis_timeout)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_chat_redis_on_relay(void *data, ngx_int_t rc, redisReply *r)
{
    ngx_chat_redis_relay_t *rr = data;

    ngx_uint_t  i;

    /* no answer: the send may or may not have been published */
    if (rc != NGX_OK) {
        rr->handler(rr, NGX_DECLINED);
        return;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        /*
         * The script cache was flushed: EVAL loads the script again.  Only
         * then may a send from one connection overtake an earlier one.
         */
        if (!rr->retried && r->len >= 8
            && ngx_strncmp(r->str, "NOSCRIPT", 8) == 0)
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


const char *
ngx_chat_redis_kind_prefix(ngx_uint_t kind)
{
    if (kind >= NGX_CHAT_REDIS_KINDS_MAX
        || ngx_chat_redis_kinds[kind].kind == NULL)
    {
        return "";
    }

    return ngx_chat_redis_kinds[kind].kind->prefix;
}
