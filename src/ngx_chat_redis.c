/*
 * Redis for a worker: one pub/sub connection (room channels) and one
 * command connection (PUBLISH), both hiredis async contexts driven by
 * nginx events.  hiredis 0.14 reads once per call and has no timers, so
 * its sockets are watched level-triggered and timeouts are nginx timers.
 */

#include "ngx_chat.h"

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
static size_t ngx_chat_redis_channel(u_char *buf, const char *room,
    size_t len);
static void ngx_chat_redis_flush_unsent(void);


static ngx_chat_redis_conn_t  ngx_chat_redis_sub;
static ngx_chat_redis_conn_t  ngx_chat_redis_cmd;
static ngx_queue_t            ngx_chat_redis_unsent;
static ngx_uint_t             ngx_chat_redis_nunsent;
static ngx_log_t             *ngx_chat_redis_log;


ngx_int_t
ngx_chat_redis_init(ngx_cycle_t *cycle)
{
    ngx_uint_t              i;
    ngx_chat_redis_conn_t  *rc;

    ngx_chat_redis_log = cycle->log;
    ngx_queue_init(&ngx_chat_redis_unsent);
    ngx_chat_redis_nunsent = 0;

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

    ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                  "chat: redis %s connect timed out", rc->name);

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


static size_t
ngx_chat_redis_channel(u_char *buf, const char *room, size_t len)
{
    u_char     *p;
    ngx_str_t  *prefix;

    prefix = &ngx_chat_worker.mcf->redis_prefix;

    p = ngx_cpymem(buf, prefix->data, prefix->len);
    p = ngx_cpymem(p, "room:", 5);
    p = ngx_cpymem(p, room, len);

    return p - buf;
}


ngx_int_t
ngx_chat_redis_subscribe(const char *room, size_t len)
{
    size_t  n;
    u_char  channel[NGX_CHAT_REDIS_CHANNEL_MAX];

    if (!ngx_chat_redis_sub.connected) {
        return NGX_DECLINED;
    }

    n = ngx_chat_redis_channel(channel, room, len);

    if (redisAsyncCommand(ngx_chat_redis_sub.ac, ngx_chat_redis_on_channel,
                          NULL, "SUBSCRIBE %b", channel, n)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_chat_redis_unsubscribe(const char *room, size_t len)
{
    size_t  n;
    u_char  channel[NGX_CHAT_REDIS_CHANNEL_MAX];

    if (!ngx_chat_redis_sub.connected) {
        return NGX_DECLINED;
    }

    n = ngx_chat_redis_channel(channel, room, len);

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
    size_t       prefix;
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

    prefix = ngx_chat_worker.mcf->redis_prefix.len + 5;

    if ((size_t) channel->len <= prefix) {
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        ngx_chat_fanout_redis_message(channel->str + prefix,
                                      channel->len - prefix,
                                      r->element[2]->str,
                                      r->element[2]->len);
        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        ngx_chat_fanout_redis_subscribed(channel->str + prefix,
                                         channel->len - prefix);
        return;
    }

    if (kind->len == 11 && ngx_strncmp(kind->str, "unsubscribe", 11) == 0) {
        ngx_chat_fanout_redis_unsubscribed(channel->str + prefix,
                                           channel->len - prefix);
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

    n = ngx_chat_redis_channel(channel, room, room_len);

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
