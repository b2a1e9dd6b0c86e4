/*
 * Redis for a worker: one pub/sub connection (channels of every kind) and
 * one command connection (PUBLISH, the sends of the redis store, anything
 * else), both hiredis async contexts on nginx events.  hiredis 0.14 reads
 * once per call and has no timers, so its sockets are watched
 * level-triggered and timeouts are nginx timers.
 *
 * A script longer than NGX_CHAT_REDIS_SCRIPT_MIN goes by EVALSHA on a
 * command connection that sent it once by EVAL: Redis keeps the scripts
 * it ran, and reading and hashing a script of a few KiB for each call
 * cost Redis more than the script's work (presence's and the connection
 * count's, a few times per connection).  A NOSCRIPT answer (SCRIPT FLUSH,
 * or a cluster's redirection to a node that never ran it) sends the
 * command again by EVAL, after what that connection sent meanwhile.
 *
 * Names: "<prefix>room:<room>" is a room's channel, "<prefix>relay:<room>"
 * its channel in the redis store, with the counters
 * "<prefix>relay:seq:<room>" and "<prefix>relay:msg_id".
 *
 * chat_redis cluster: the same two connections to each primary, found
 * from the seeds by CLUSTER SLOTS (asked again every few seconds, soon
 * after a MOVED or a lost node).  A command goes to the primary of its
 * key's slot, computed here (ngx_chat_slot.c), and follows MOVED and ASK;
 * channels are sharded (SSUBSCRIBE, SPUBLISH) on the primary of theirs.
 * Names carry hash tags (ngx_chat_redis_name): a room's channel and keys
 * "{<room>}", the keys scripts use together and the users' channel
 * NGX_CHAT_REDIS_TAG; a slot with no node answers NGX_DECLINED, as
 * Redis away does.
 */

#include "ngx_chat.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_socket.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_reload.h"
#include <ngx_sha1.h>

#include <hiredis/async.h>

#include "ngx_chat_slot.h"


#define NGX_CHAT_REDIS_BACKOFF_MIN   100
#define NGX_CHAT_REDIS_BACKOFF_MAX   2000
#define NGX_CHAT_REDIS_UNSENT_MAX    10000

/* chat_redis cluster: nodes known, redirections a command may follow */
#define NGX_CHAT_REDIS_NODES_MAX     64
#define NGX_CHAT_REDIS_REDIRECTS     5
/* the slot map asked again: this often, and soon after a change is seen */
#define NGX_CHAT_REDIS_REFRESH       5000
#define NGX_CHAT_REDIS_REFRESH_SOON  100

/* scripts sent by EVALSHA: this many at most, this long at least */
#define NGX_CHAT_REDIS_SCRIPTS       32
#define NGX_CHAT_REDIS_SCRIPT_MIN    128


typedef struct {
    const char          *text;
    size_t               len;
    u_char               sha[40];
} ngx_chat_redis_script_t;


typedef struct {
    redisAsyncContext   *ac;
    ngx_chat_socket_t    sock;
    ngx_event_t          timer;      /* the connect, or the first answer due */
    ngx_event_t          retry;
    ngx_queue_t          waiting;    /* commands sent, answered in order */
    ngx_msec_t           backoff;
    const char          *name;
    const char          *host;       /* a cluster node's; NULL: chat_redis */
    in_port_t            port;
    unsigned             connected:1;
    unsigned             subscriber:1;
    unsigned             was_down:1;
    unsigned             writing:1;  /* inside hiredis's write handler */
    uint32_t             scripts;    /* bit i: ngx_chat_redis_scripts[i]
                                        sent by EVAL on this connection */
} ngx_chat_redis_conn_t;


/* a command sent, waiting for its answer */
typedef struct {
    ngx_queue_t               queue;
    ngx_chat_redis_reply_pt   handler;
    void                     *data;
    ngx_msec_t                deadline;
    char                     *cmd;        /* a cluster's: to redirect */
    int                       cmd_len;
    ngx_uint_t                redirects;
    u_char                   *channel;    /* a cluster's (un)subscription */
    size_t                    channel_len;
    ngx_uint_t                more;       /* waits after it, same command */
    ngx_chat_redis_script_t  *script;     /* sent by EVALSHA */
} ngx_chat_redis_wait_t;


/* a node of chat_redis cluster: a command and a pub/sub connection */
typedef struct {
    u_char                  host[NGX_INET6_ADDRSTRLEN + 1];
    in_port_t               port;
    ngx_chat_redis_conn_t   cmd;
    ngx_chat_redis_conn_t   sub;
    ngx_queue_t             pending;   /* channels to subscribe this tick */
    u_char                  cmd_name[NGX_INET6_ADDRSTRLEN + 32];
    u_char                  sub_name[NGX_INET6_ADDRSTRLEN + 32];
} ngx_chat_redis_node_t;


/* a channel a node subscribes at the end of the loop tick */
typedef struct {
    ngx_queue_t             queue;
    unsigned                slot;
    size_t                  len;
    u_char                  data[1];
} ngx_chat_redis_pending_t;


/* channels of one slot a SSUBSCRIBE takes at most */
#define NGX_CHAT_REDIS_BATCH  256


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
static void ngx_chat_redis_node_lost(ngx_chat_redis_conn_t *rc);
static ngx_uint_t ngx_chat_redis_on_lost(ngx_uint_t kind, const char *name,
    size_t len);
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
static void ngx_chat_redis_load_script(ngx_chat_redis_conn_t *rc);
static void ngx_chat_redis_conn_init(ngx_chat_redis_conn_t *rc,
    const char *name, ngx_uint_t subscriber, const char *host,
    in_port_t port, ngx_log_t *log);
static void ngx_chat_redis_conn_exit(ngx_chat_redis_conn_t *rc);
static ngx_chat_redis_script_t *ngx_chat_redis_script(
    ngx_chat_redis_conn_t *rc, int argc, const char **argv,
    const size_t *argvlen);
static int ngx_chat_redis_evalsha(char **out,
    ngx_chat_redis_script_t *script, int argc, const char **argv,
    const size_t *argvlen);
static ngx_int_t ngx_chat_redis_noscript(ngx_chat_redis_conn_t *rc,
    ngx_chat_redis_wait_t *w, redisReply *r);
static void ngx_chat_redis_wait_add(ngx_chat_redis_conn_t *rc,
    ngx_chat_redis_wait_t *w);
static ngx_chat_redis_node_t *ngx_chat_redis_node_get(const u_char *host,
    size_t len, ngx_uint_t port, ngx_uint_t *index);
static ngx_chat_redis_conn_t *ngx_chat_redis_route(int argc,
    const char **argv, const size_t *argvlen);
static ngx_int_t ngx_chat_redis_redirect(ngx_chat_redis_conn_t *rc,
    ngx_chat_redis_wait_t *w, redisReply *r);
static void ngx_chat_redis_refresh_soon(void);
static void ngx_chat_redis_refresh(ngx_event_t *ev);
static void ngx_chat_redis_slots_answer(void *data, ngx_int_t rc,
    redisReply *r);
static ngx_int_t ngx_chat_redis_subscribe_later(ngx_uint_t kind,
    const char *name, size_t len);
static void ngx_chat_redis_subscribe_flush(ngx_event_t *ev);
static void ngx_chat_redis_pending_free(ngx_chat_redis_node_t *node);
static void ngx_chat_redis_wait_channel(ngx_chat_redis_wait_t *w,
    const u_char *channel, size_t len);
static void ngx_chat_redis_channel_refused(ngx_chat_redis_conn_t *rc,
    redisReply *r);
static ngx_chat_redis_kind_slot_t *ngx_chat_redis_channel_name(
    const char *channel, size_t len, ngx_uint_t *kind, const char **name,
    size_t *n);
static void ngx_chat_redis_channel_lost(ngx_uint_t kind,
    ngx_chat_redis_kind_slot_t *slot, const char *name, size_t n);
static int ngx_libc_cdecl ngx_chat_redis_pending_cmp(const void *a,
    const void *b);
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
    "if ARGV[7] then id = id * 16384 + tonumber(ARGV[7]) end\n"
    "local t = redis.call('TIME')\n"
    "local ts = t[1] .. string.format('%03d', math.floor(t[2] / 1000))\n"
    "redis.call(ARGV[7] and 'SPUBLISH' or 'PUBLISH', ARGV[1],\n"
    "           seq .. ' ' .. seq .. '\\n'\n"
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
    ngx_chat_fanout_redis_down,
    ngx_chat_fanout_redis_lost
};

static const ngx_chat_redis_kind_t  ngx_chat_redis_relay_rooms = {
    "relay:",
    ngx_chat_fanout_redis_message,
    ngx_chat_fanout_redis_subscribed,
    ngx_chat_fanout_redis_unsubscribed,
    NULL,
    NULL,
    NULL
};

static ngx_chat_redis_kind_slot_t  ngx_chat_redis_kinds[
                                       NGX_CHAT_REDIS_KINDS_MAX];


static ngx_chat_redis_conn_t  ngx_chat_redis_sub;
static ngx_chat_redis_conn_t  ngx_chat_redis_cmd;

/* the scripts met, for EVALSHA */
static ngx_chat_redis_script_t  ngx_chat_redis_scripts[NGX_CHAT_REDIS_SCRIPTS];
static ngx_uint_t               ngx_chat_redis_nscripts;

/*
 * chat_redis cluster: the nodes met (seeds, the slot map's, redirections)
 * and the slot map, each slot's node index + 1 (0: none known)
 */
static ngx_uint_t              ngx_chat_redis_cluster;
static ngx_chat_redis_node_t  *ngx_chat_redis_nodes[NGX_CHAT_REDIS_NODES_MAX];
static ngx_uint_t              ngx_chat_redis_nnodes;
static u_char                  ngx_chat_redis_slots[NGX_CHAT_SLOTS];
static u_char                  ngx_chat_redis_slots_new[NGX_CHAT_SLOTS];
static ngx_event_t             ngx_chat_redis_refresh_ev;
static ngx_uint_t              ngx_chat_redis_refreshing;
static ngx_uint_t              ngx_chat_redis_asked;
static ngx_uint_t              ngx_chat_redis_resubscribe;
static ngx_uint_t              ngx_chat_redis_lost_node;
static ngx_event_t             ngx_chat_redis_flush_ev;
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
    ngx_chat_redis_addr_t  *addr;

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

    ngx_chat_redis_cluster = (ngx_chat_worker.mcf->redis_cluster != NULL);

    if (ngx_chat_redis_cluster) {
        ngx_chat_redis_nnodes = 0;
        ngx_chat_redis_refreshing = 0;
        ngx_memzero(ngx_chat_redis_slots, sizeof(ngx_chat_redis_slots));

        ngx_memzero(&ngx_chat_redis_refresh_ev, sizeof(ngx_event_t));
        ngx_chat_redis_refresh_ev.handler = ngx_chat_redis_refresh;
        ngx_chat_redis_refresh_ev.log = cycle->log;
        ngx_chat_redis_refresh_ev.cancelable = 1;

        ngx_memzero(&ngx_chat_redis_flush_ev, sizeof(ngx_event_t));
        ngx_chat_redis_flush_ev.handler = ngx_chat_redis_subscribe_flush;
        ngx_chat_redis_flush_ev.log = cycle->log;

        addr = ngx_chat_worker.mcf->redis_cluster->elts;

        for (i = 0; i < ngx_chat_worker.mcf->redis_cluster->nelts; i++) {
            (void) ngx_chat_redis_node_get(addr[i].host,
                                           ngx_strlen(addr[i].host),
                                           addr[i].port, NULL);
        }

        /* the seeds' first command connection asks for the map */
        ngx_add_timer(&ngx_chat_redis_refresh_ev,
                      NGX_CHAT_REDIS_REFRESH_SOON);

        return NGX_OK;
    }

    for (i = 0; i < 2; i++) {
        rc = i ? &ngx_chat_redis_cmd : &ngx_chat_redis_sub;
        ngx_chat_redis_conn_init(rc, i ? "command" : "pub/sub", !i, NULL, 0,
                                 cycle->log);
        ngx_chat_redis_connect(rc);
    }

    return NGX_OK;
}


static void
ngx_chat_redis_conn_init(ngx_chat_redis_conn_t *rc, const char *name,
    ngx_uint_t subscriber, const char *host, in_port_t port, ngx_log_t *log)
{
    ngx_memzero(rc, sizeof(ngx_chat_redis_conn_t));

    rc->name = name;
    rc->host = host;
    rc->port = port;
    rc->subscriber = subscriber;
    rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;
    ngx_queue_init(&rc->waiting);
    ngx_chat_socket_init(&rc->sock, ngx_chat_redis_ready, rc, log);

    rc->timer.handler = ngx_chat_redis_timer;
    rc->timer.data = rc;
    rc->timer.log = log;
    rc->timer.cancelable = 1;

    rc->retry.handler = ngx_chat_redis_retry;
    rc->retry.data = rc;
    rc->retry.log = log;
    rc->retry.cancelable = 1;
}


void
ngx_chat_redis_exit(void)
{
    ngx_uint_t                i;
    ngx_queue_t              *q;

    if (ngx_chat_redis_cluster) {
        if (ngx_chat_redis_refresh_ev.timer_set) {
            ngx_del_timer(&ngx_chat_redis_refresh_ev);
        }

        if (ngx_chat_redis_flush_ev.posted) {
            ngx_delete_posted_event(&ngx_chat_redis_flush_ev);
        }

        for (i = 0; i < ngx_chat_redis_nnodes; i++) {
            ngx_chat_redis_pending_free(ngx_chat_redis_nodes[i]);
            ngx_chat_redis_conn_exit(&ngx_chat_redis_nodes[i]->sub);
            ngx_chat_redis_conn_exit(&ngx_chat_redis_nodes[i]->cmd);
        }

    } else {
        ngx_chat_redis_conn_exit(&ngx_chat_redis_sub);
        ngx_chat_redis_conn_exit(&ngx_chat_redis_cmd);
    }

    while (!ngx_queue_empty(&ngx_chat_redis_unsent)) {
        q = ngx_queue_head(&ngx_chat_redis_unsent);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_chat_redis_unsent_t, queue));
    }

    for (i = 0; i < ngx_chat_redis_nnodes; i++) {
        ngx_free(ngx_chat_redis_nodes[i]);
    }

    ngx_chat_redis_nnodes = 0;
}


static void
ngx_chat_redis_conn_exit(ngx_chat_redis_conn_t *rc)
{
    ngx_uint_t          connected;
    redisAsyncContext  *ac;

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
}


/* a cluster is up when every slot has a node with both connections up */
ngx_int_t
ngx_chat_redis_up(void)
{
    ngx_uint_t              i;
    ngx_chat_redis_node_t  *node;

    if (!ngx_chat_redis_cluster) {
        return ngx_chat_redis_sub.connected && ngx_chat_redis_cmd.connected;
    }

    for (i = 0; i < NGX_CHAT_SLOTS; i++) {
        if (ngx_chat_redis_slots[i] == 0) {
            return 0;
        }

        node = ngx_chat_redis_nodes[ngx_chat_redis_slots[i] - 1];

        if (!node->cmd.connected || !node->sub.connected) {
            return 0;
        }
    }

    return 1;
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

    if (rc->host) {
        ac = redisAsyncConnect(rc->host, rc->port);

    } else if (mcf->redis_port) {
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
 * A command queued on a connected socket goes out at the end of this loop
 * tick, with every other command the tick queues: the write event is
 * posted, not asked of epoll, which would cost two epoll_ctl() calls and
 * one more turn of the loop before the command leaves (and, after a
 * commit, put its PUBLISH behind the local deliveries of the tick).  The
 * socket is watched for writing only while hiredis could not write all
 * (it asks again from inside its write handler) or while it connects.
 */
static void
ngx_chat_redis_add_write(void *data)
{
    ngx_chat_redis_conn_t  *rc = data;

    ngx_event_t  *wev;

    if (rc->connected && !rc->writing && rc->sock.c) {
        wev = rc->sock.c->write;

        if (!wev->posted) {
            ngx_post_event(wev, &ngx_posted_events);
        }

        return;
    }

    (void) ngx_chat_socket_watch(&rc->sock, 1, 1);
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

    /*
     * The context may be freed inside: only rc, which outlives it, is
     * touched afterwards.
     */
    if (write) {
        rc->writing = 1;
        redisAsyncHandleWrite(rc->ac);
        rc->writing = 0;

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
    rc->scripts = 0;
    rc->was_down = 0;
    rc->backoff = NGX_CHAT_REDIS_BACKOFF_MIN;

    if (rc->subscriber) {
        ngx_chat_redis_link(1);

    } else {
        ngx_chat_redis_load_script(rc);
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
        if (ngx_chat_redis_cluster) {
            ngx_chat_redis_node_lost(rc);

        } else {
            ngx_chat_redis_link(0);
        }
    }

    /* an exiting worker still serving sessions (a reload) reconnects */
    if (!ngx_chat_worker.active || !ngx_chat_reload_backends_kept()) {
        return;
    }

    /* a node lost: the cluster may have failed over */
    if (ngx_chat_redis_cluster) {
        ngx_chat_redis_refresh_soon();
    }

    if (!rc->retry.timer_set) {
        ngx_add_timer(&rc->retry, rc->backoff);
        rc->backoff = ngx_min(rc->backoff * 2, NGX_CHAT_REDIS_BACKOFF_MAX);
    }
}


/*
 * On a cluster, one node's pub/sub connection is lost: the channels it
 * had are not subscribed any more, the others are.  A kind without a
 * lost handler hears of it as of Redis lost, and subscribes again.
 */
static void
ngx_chat_redis_node_lost(ngx_chat_redis_conn_t *rc)
{
    ngx_uint_t                    i;
    const ngx_chat_redis_kind_t  *k;

    for (i = 0; i < ngx_chat_redis_nnodes; i++) {
        if (&ngx_chat_redis_nodes[i]->sub == rc) {
            ngx_chat_redis_lost_node = i;
            break;
        }
    }

    for (i = 0; i < NGX_CHAT_REDIS_KINDS_MAX; i++) {
        k = ngx_chat_redis_kinds[i].kind;

        if (k == NULL) {
            continue;
        }

        if (k->lost) {
            k->lost(ngx_chat_redis_on_lost);

        } else if (k->down) {
            k->down();
        }
    }

    if (ngx_chat_worker.active && ngx_chat_reload_backends_kept()) {
        ngx_chat_redis_link(1);
    }
}


/* the channel's slot was served by the node lost */
static ngx_uint_t
ngx_chat_redis_on_lost(ngx_uint_t kind, const char *name, size_t len)
{
    u_char  channel[NGX_CHAT_REDIS_KEY_MAX];
    size_t  n;

    n = ngx_chat_redis_channel(channel, kind, name, len);

    return ngx_chat_redis_slots[ngx_chat_slot((char *) channel, n)]
           == ngx_chat_redis_lost_node + 1;
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
    ngx_chat_redis_conn_t  *rc;

    if (!ngx_chat_redis_cluster) {
        return ngx_chat_redis_send(&ngx_chat_redis_cmd, argc, argv, argvlen,
                                   handler, data, timeout);
    }

    rc = ngx_chat_redis_route(argc, argv, argvlen);
    if (rc == NULL) {
        return NGX_DECLINED;
    }

    return ngx_chat_redis_send(rc, argc, argv, argvlen, handler, data,
                               timeout);
}


/*
 * The command connection of the node of a command's key: the first key
 * of EVAL and EVALSHA, argv[1] of the others; a command without a key
 * goes to any node up.
 */
static ngx_chat_redis_conn_t *
ngx_chat_redis_route(int argc, const char **argv, const size_t *argvlen)
{
    ngx_int_t               slot;
    ngx_uint_t              i;
    ngx_chat_redis_node_t  *node;

    slot = -1;

    if (argvlen[0] >= 4 && ngx_strncasecmp((u_char *) argv[0],
                                           (u_char *) "EVAL", 4) == 0)
    {
        if (argc > 3 && !(argvlen[2] == 1 && argv[2][0] == '0')) {
            slot = ngx_chat_slot(argv[3], argvlen[3]);
        }

    } else if (argc > 1) {
        slot = ngx_chat_slot(argv[1], argvlen[1]);
    }

    if (slot >= 0) {
        if (ngx_chat_redis_slots[slot] == 0) {
            return NULL;
        }

        return &ngx_chat_redis_nodes[ngx_chat_redis_slots[slot] - 1]->cmd;
    }

    for (i = 0; i < ngx_chat_redis_nnodes; i++) {
        node = ngx_chat_redis_nodes[i];

        if (node->cmd.connected) {
            return &node->cmd;
        }
    }

    return NULL;
}


/*
 * A node by its address, met for the first time: its connections are
 * made at once.  NULL: too many nodes.
 */
static ngx_chat_redis_node_t *
ngx_chat_redis_node_get(const u_char *host, size_t len, ngx_uint_t port,
    ngx_uint_t *index)
{
    ngx_uint_t              i;
    ngx_chat_redis_node_t  *node;

    for (i = 0; i < ngx_chat_redis_nnodes; i++) {
        node = ngx_chat_redis_nodes[i];

        if (node->port == port && ngx_strlen(node->host) == len
            && ngx_strncmp(node->host, host, len) == 0)
        {
            if (index) {
                *index = i;
            }

            return node;
        }
    }

    if (ngx_chat_redis_nnodes == NGX_CHAT_REDIS_NODES_MAX
        || len == 0 || len >= sizeof(node->host))
    {
        ngx_log_error(NGX_LOG_ERR, ngx_chat_redis_log, 0,
                      "chat: redis cluster node \"%*s:%ui\" not used",
                      len, host, port);
        return NULL;
    }

    node = ngx_calloc(sizeof(ngx_chat_redis_node_t), ngx_chat_redis_log);
    if (node == NULL) {
        return NULL;
    }

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';
    node->port = (in_port_t) port;
    ngx_queue_init(&node->pending);

    /* the logs name the node: "chat: redis 10.0.0.7:6379 command ..." */
    ngx_sprintf(node->cmd_name, "%s:%ui command%Z", node->host, port);
    ngx_sprintf(node->sub_name, "%s:%ui pub/sub%Z", node->host, port);

    ngx_chat_redis_conn_init(&node->cmd, (char *) node->cmd_name, 0,
                             (char *) node->host, node->port,
                             ngx_chat_redis_log);
    ngx_chat_redis_conn_init(&node->sub, (char *) node->sub_name, 1,
                             (char *) node->host, node->port,
                             ngx_chat_redis_log);

    if (index) {
        *index = ngx_chat_redis_nnodes;
    }

    ngx_chat_redis_nodes[ngx_chat_redis_nnodes++] = node;

    ngx_chat_redis_connect(&node->cmd);
    ngx_chat_redis_connect(&node->sub);

    return node;
}


/* MOVED or ASK: the command goes to the node named, once more */
static ngx_int_t
ngx_chat_redis_redirect(ngx_chat_redis_conn_t *rc, ngx_chat_redis_wait_t *w,
    redisReply *r)
{
    int                     ask;
    size_t                  host_len;
    unsigned                slot, port;
    ngx_uint_t              index;
    const char             *host;
    ngx_chat_redis_conn_t  *to;
    ngx_chat_redis_node_t  *node;

    if (w->redirects >= NGX_CHAT_REDIS_REDIRECTS
        || ngx_chat_slot_redirect(r->str, r->len, &ask, &slot, &host,
                                  &host_len, &port)
           != 0)
    {
        return NGX_DECLINED;
    }

    node = ngx_chat_redis_node_get((u_char *) host, host_len, port, &index);
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (!ask) {
        ngx_chat_redis_slots[slot] = (u_char) (index + 1);
        ngx_chat_redis_refresh_soon();
    }

    to = &node->cmd;

    if (!to->connected || to->ac == NULL
        || (ask && redisAsyncCommand(to->ac, NULL, NULL, "ASKING")
                   != REDIS_OK)
        || redisAsyncFormattedCommand(to->ac, ngx_chat_redis_on_reply, w,
                                      w->cmd, w->cmd_len)
           != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    ngx_queue_remove(&w->queue);

    if (rc->ac) {
        ngx_chat_redis_wait_arm(rc);
    }

    w->redirects++;
    ngx_chat_redis_wait_add(to, w);

    return NGX_OK;
}


static void
ngx_chat_redis_refresh_soon(void)
{
    if (!ngx_chat_redis_refreshing && ngx_chat_reload_backends_kept()) {
        ngx_add_timer(&ngx_chat_redis_refresh_ev,
                      NGX_CHAT_REDIS_REFRESH_SOON);
    }
}


/* CLUSTER SLOTS, to each node up in turn */
static void
ngx_chat_redis_refresh(ngx_event_t *ev)
{
    size_t                  len[2];
    ngx_uint_t              i, n;
    const char             *argv[2];
    ngx_chat_redis_node_t  *node;

    if (!ngx_chat_reload_backends_kept() || ngx_chat_redis_refreshing) {
        return;
    }

    argv[0] = "CLUSTER";
    len[0] = 7;
    argv[1] = "SLOTS";
    len[1] = 5;

    for (n = 0; n < ngx_chat_redis_nnodes; n++) {
        i = ngx_chat_redis_asked++ % ngx_chat_redis_nnodes;
        node = ngx_chat_redis_nodes[i];

        if (ngx_chat_redis_send(&node->cmd, 2, argv, len,
                                ngx_chat_redis_slots_answer, NULL,
                                ngx_chat_worker.mcf->redis_timeout)
            == NGX_OK)
        {
            ngx_chat_redis_refreshing = 1;
            return;
        }
    }

    ngx_add_timer(ev, NGX_CHAT_REDIS_REFRESH_SOON * 5);
}


/*
 * The slot map: [[start, end, [host, port, id], replicas...], ...].  Only
 * primaries serve the module; a changed map subscribes the rooms again.
 */
static void
ngx_chat_redis_slots_answer(void *data, ngx_int_t rc, redisReply *r)
{
    ngx_uint_t   i, j, index, complete, next;
    redisReply  *e, *a;

    ngx_chat_redis_refreshing = 0;
    next = NGX_CHAT_REDIS_REFRESH_SOON * 5;

    if (rc != NGX_OK || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        goto done;
    }

    ngx_memzero(ngx_chat_redis_slots_new, sizeof(ngx_chat_redis_slots_new));

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY
            || e->element[2]->elements < 2)
        {
            goto done;
        }

        a = e->element[2];

        if (a->element[0]->type != REDIS_REPLY_STRING
            || a->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[0]->integer < 0
            || e->element[1]->integer >= NGX_CHAT_SLOTS
            || e->element[0]->integer > e->element[1]->integer)
        {
            goto done;
        }

        if (ngx_chat_redis_node_get((u_char *) a->element[0]->str,
                                    a->element[0]->len,
                                    (ngx_uint_t) a->element[1]->integer,
                                    &index)
            == NULL)
        {
            continue;
        }

        for (j = e->element[0]->integer; j <= (ngx_uint_t) e->element[1]->integer;
             j++)
        {
            ngx_chat_redis_slots_new[j] = (u_char) (index + 1);
        }
    }

    complete = 1;

    for (i = 0; i < NGX_CHAT_SLOTS; i++) {
        if (ngx_chat_redis_slots_new[i] == 0) {
            complete = 0;
            break;
        }
    }

    if (complete) {
        next = NGX_CHAT_REDIS_REFRESH;
    }

    if (ngx_memcmp(ngx_chat_redis_slots, ngx_chat_redis_slots_new,
                   NGX_CHAT_SLOTS) != 0)
    {
        ngx_memcpy(ngx_chat_redis_slots, ngx_chat_redis_slots_new,
                   NGX_CHAT_SLOTS);

        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_redis_log, 0,
                      "chat: redis cluster slot map changed%s",
                      complete ? "" : ", some slots have no node");

        /* rooms of slots that moved subscribe on their new node */
        ngx_chat_redis_link(1);
    }

    /* a subscription was refused: every channel is subscribed anew */
    if (ngx_chat_redis_resubscribe) {
        ngx_chat_redis_resubscribe = 0;
        ngx_chat_redis_link(0);
        ngx_chat_redis_link(1);
    }

done:

    if (ngx_chat_reload_backends_kept()) {
        ngx_add_timer(&ngx_chat_redis_refresh_ev, next);
    }
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
    ngx_int_t                 rv;
    ngx_chat_redis_wait_t    *w;
    ngx_chat_redis_script_t  *script;

    if (!rc->connected || rc->ac == NULL) {
        return NGX_DECLINED;
    }

    script = rc->subscriber ? NULL
                            : ngx_chat_redis_script(rc, argc, argv, argvlen);

    w = ngx_alloc(sizeof(ngx_chat_redis_wait_t), ngx_chat_redis_log);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    w->handler = handler;
    w->data = data;
    w->deadline = ngx_current_msec + timeout;

    w->cmd = NULL;
    w->redirects = 0;
    w->channel = NULL;
    w->more = 0;
    w->script = script;

    if (rc->subscriber) {
        rv = redisAsyncCommandArgv(rc->ac, ngx_chat_redis_on_channel, NULL,
                                   argc, argv, argvlen);

    } else if (ngx_chat_redis_cluster || script) {
        /* kept, to be sent again where MOVED or ASK says, or by EVAL */
        w->cmd_len = script
            ? ngx_chat_redis_evalsha(&w->cmd, script, argc, argv, argvlen)
            : redisFormatCommandArgv(&w->cmd, argc, argv, argvlen);

        rv = (w->cmd_len < 0)
             ? REDIS_ERR
             : redisAsyncFormattedCommand(rc->ac, ngx_chat_redis_on_reply, w,
                                          w->cmd, w->cmd_len);
    } else {
        rv = redisAsyncCommandArgv(rc->ac, ngx_chat_redis_on_reply, w,
                                   argc, argv, argvlen);
    }

    if (rv != REDIS_OK) {
        if (w->cmd) {
            free(w->cmd);
        }

        ngx_free(w);
        return NGX_DECLINED;
    }

    ngx_chat_redis_wait_add(rc, w);

    return NGX_OK;
}


/*
 * A known script (NULL: the command goes as it is).  The EVAL that a
 * connection sends first loads it into Redis; the next go by EVALSHA.
 */
static ngx_chat_redis_script_t *
ngx_chat_redis_script(ngx_chat_redis_conn_t *rc, int argc, const char **argv,
    const size_t *argvlen)
{
    u_char                    digest[20];
    ngx_uint_t                i;
    ngx_sha1_t                sha1;
    ngx_chat_redis_script_t  *sc;

    if (argc < 3 || argvlen[0] != 4
        || ngx_strncasecmp((u_char *) argv[0], (u_char *) "EVAL", 4) != 0
        || argvlen[1] < NGX_CHAT_REDIS_SCRIPT_MIN)
    {
        return NULL;
    }

    for (i = 0; i < ngx_chat_redis_nscripts; i++) {
        sc = &ngx_chat_redis_scripts[i];

        if (sc->len == argvlen[1]
            && (sc->text == argv[1]
                || ngx_memcmp(sc->text, argv[1], sc->len) == 0))
        {
            break;
        }
    }

    if (i == ngx_chat_redis_nscripts) {
        if (i == NGX_CHAT_REDIS_SCRIPTS) {
            return NULL;
        }

        /* the module's scripts are static: the text stays */
        sc = &ngx_chat_redis_scripts[i];
        sc->text = argv[1];
        sc->len = argvlen[1];

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, argv[1], argvlen[1]);
        ngx_sha1_final(digest, &sha1);
        ngx_hex_dump(sc->sha, digest, 20);

        ngx_chat_redis_nscripts++;
    }

    if (!(rc->scripts & (1u << i))) {
        rc->scripts |= 1u << i;
        return NULL;
    }

    return &ngx_chat_redis_scripts[i];
}


/* the command as hiredis formats it, by EVALSHA; its length, -1: none */
static int
ngx_chat_redis_evalsha(char **out, ngx_chat_redis_script_t *script,
    int argc, const char **argv, const size_t *argvlen)
{
    int      i;
    char    *cmd;
    u_char  *p;
    size_t   len;

    static const char  head[] = "$7\r\nEVALSHA\r\n$40\r\n";

    len = 1 + NGX_INT_T_LEN + 2 + sizeof(head) - 1 + 40 + 2;

    for (i = 2; i < argc; i++) {
        len += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    cmd = malloc(len);
    if (cmd == NULL) {
        return -1;
    }

    p = ngx_sprintf((u_char *) cmd, "*%d\r\n", argc);
    p = ngx_cpymem(p, head, sizeof(head) - 1);
    p = ngx_cpymem(p, script->sha, 40);
    *p++ = CR; *p++ = LF;

    for (i = 2; i < argc; i++) {
        p = ngx_sprintf(p, "$%uz\r\n", argvlen[i]);
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = CR; *p++ = LF;
    }

    *out = cmd;

    return (int) (p - (u_char *) cmd);
}


/* NOSCRIPT: the command goes again by EVAL, which loads the script */
static ngx_int_t
ngx_chat_redis_noscript(ngx_chat_redis_conn_t *rc, ngx_chat_redis_wait_t *w,
    redisReply *r)
{
    char                     *cmd;
    u_char                   *p, *tail;
    size_t                    len, head;
    ngx_chat_redis_script_t  *sc;

    sc = w->script;

    if (sc == NULL || r->len < 8 || ngx_strncmp(r->str, "NOSCRIPT", 8) != 0
        || rc->ac == NULL)
    {
        return NGX_DECLINED;
    }

    /* "*<argc>\r\n", then EVALSHA and the sha1 (ngx_chat_redis_evalsha) */
    tail = ngx_strlchr((u_char *) w->cmd, (u_char *) w->cmd + w->cmd_len,
                       LF) + 1;
    head = tail - (u_char *) w->cmd;
    tail += sizeof("$7\r\nEVALSHA\r\n$40\r\n") - 1 + 40 + 2;

    len = head + sizeof("$4\r\nEVAL\r\n") - 1 + 1 + NGX_SIZE_T_LEN + 2
          + sc->len + 2 + (w->cmd_len - (tail - (u_char *) w->cmd));

    cmd = malloc(len);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_cpymem(cmd, w->cmd, head);
    p = ngx_sprintf(p, "$4\r\nEVAL\r\n$%uz\r\n", sc->len);
    p = ngx_cpymem(p, sc->text, sc->len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, tail, w->cmd_len - (tail - (u_char *) w->cmd));

    if (redisAsyncFormattedCommand(rc->ac, ngx_chat_redis_on_reply, w, cmd,
                                   p - (u_char *) cmd)
        != REDIS_OK)
    {
        free(cmd);
        return NGX_DECLINED;
    }

    free(w->cmd);
    w->cmd = cmd;
    w->cmd_len = p - (u_char *) cmd;
    w->script = NULL;

    ngx_queue_remove(&w->queue);
    ngx_chat_redis_wait_arm(rc);
    ngx_chat_redis_wait_add(rc, w);

    return NGX_OK;
}


static void
ngx_chat_redis_wait_add(ngx_chat_redis_conn_t *rc, ngx_chat_redis_wait_t *w)
{
    ngx_queue_t            *q;
    ngx_chat_redis_wait_t  *prev;

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

    if (w->cmd) {
        free(w->cmd);
    }

    if (w->channel) {
        ngx_free(w->channel);
    }

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
    redisReply             *r = reply;
    ngx_chat_redis_wait_t  *w = data;

    if (r && r->type == REDIS_REPLY_ERROR && w->cmd
        && (ngx_chat_redis_noscript(ac->data, w, r) == NGX_OK
            || ngx_chat_redis_redirect(ac->data, w, r) == NGX_OK))
    {
        return;
    }

    ngx_chat_redis_answered(ac->data, w, reply);
}


/* "<prefix><kind><room>": kind and room fit in the rest of the buffer */
size_t
ngx_chat_redis_name(u_char *buf, const char *kind, const char *room,
    size_t len)
{
    u_char      *p, *sp;
    size_t       n;
    ngx_str_t   *prefix;
    ngx_uint_t   i;

    static const char  *own[] = {
        "room:", "relay:", "relay:seq:", "typing:", "rate:", NULL
    };

    prefix = &ngx_chat_worker.mcf->redis_prefix;

    p = ngx_cpymem(buf, prefix->data, prefix->len);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));

    if (!ngx_chat_redis_cluster) {
        p = ngx_cpymem(p, room, len);
        return p - buf;
    }

    /*
     * On a cluster a room's channel and keys, and a user's rate, go by
     * their own slot (a typist's key, "room user", by the room's); every
     * other key (the ones scripts use together) and the users' channel
     * share the slot of NGX_CHAT_REDIS_TAG.
     */
    for (i = 0; own[i]; i++) {
        if (ngx_strcmp(kind, own[i]) == 0) {
            sp = ngx_strlchr((u_char *) room, (u_char *) room + len, ' ');
            n = sp ? (size_t) (sp - (u_char *) room) : len;

            *p++ = '{';
            p = ngx_cpymem(p, room, n);
            *p++ = '}';
            p = ngx_cpymem(p, room + n, len - n);

            return p - buf;
        }
    }

    p = ngx_cpymem(p, NGX_CHAT_REDIS_TAG, sizeof(NGX_CHAT_REDIS_TAG) - 1);
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


/* on a cluster every channel is sharded: the node of its slot hears it */
ngx_int_t
ngx_chat_redis_subscribe(ngx_uint_t kind, const char *name, size_t len)
{
    if (ngx_chat_redis_cluster) {
        return ngx_chat_redis_subscribe_later(kind, name, len);
    }

    return ngx_chat_redis_channel_command(
               ngx_chat_redis_cluster ? "SSUBSCRIBE" : "SUBSCRIBE",
               kind, name, len);
}


ngx_int_t
ngx_chat_redis_unsubscribe(ngx_uint_t kind, const char *name, size_t len)
{
    return ngx_chat_redis_channel_command(
               ngx_chat_redis_cluster ? "SUNSUBSCRIBE" : "UNSUBSCRIBE",
               kind, name, len);
}


/*
 * On a cluster the subscriptions of a loop tick (all the rooms again,
 * after a node came back or the slot map changed) go out together at its
 * end: one SSUBSCRIBE for the channels of each slot (Redis takes no more
 * in one), all of a node's in one write.
 */
static ngx_int_t
ngx_chat_redis_subscribe_later(ngx_uint_t kind, const char *name, size_t len)
{
    u_char                    channel[NGX_CHAT_REDIS_KEY_MAX];
    size_t                    n;
    unsigned                  slot;
    ngx_chat_redis_node_t    *node;
    ngx_chat_redis_pending_t *p;

    if (kind >= NGX_CHAT_REDIS_KINDS_MAX
        || ngx_chat_redis_kinds[kind].kind == NULL)
    {
        return NGX_ERROR;
    }

    n = ngx_chat_redis_channel(channel, kind, name, len);
    slot = ngx_chat_slot((char *) channel, n);

    if (ngx_chat_redis_slots[slot] == 0) {
        return NGX_DECLINED;
    }

    node = ngx_chat_redis_nodes[ngx_chat_redis_slots[slot] - 1];

    if (!node->sub.connected || node->sub.ac == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_alloc(sizeof(ngx_chat_redis_pending_t) + n, ngx_chat_redis_log);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    p->slot = slot;
    p->len = n;
    ngx_memcpy(p->data, channel, n);
    ngx_queue_insert_tail(&node->pending, &p->queue);

    if (!ngx_chat_redis_flush_ev.posted) {
        ngx_post_event(&ngx_chat_redis_flush_ev, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_chat_redis_subscribe_flush(ngx_event_t *ev)
{
    size_t                     *len;
    ngx_uint_t                  i, j, k, n, count;
    ngx_queue_t                *q;
    const char                **argv;
    ngx_chat_redis_node_t      *node;
    ngx_chat_redis_wait_t      *w;
    ngx_chat_redis_pending_t  **all;

    argv = NULL;
    all = NULL;

    for (i = 0; i < ngx_chat_redis_nnodes; i++) {
        node = ngx_chat_redis_nodes[i];

        if (ngx_queue_empty(&node->pending)) {
            continue;
        }

        /* lost meanwhile: its rooms heard of it and subscribe again */
        if (!node->sub.connected || node->sub.ac == NULL) {
            ngx_chat_redis_pending_free(node);
            continue;
        }

        count = 0;

        for (q = ngx_queue_head(&node->pending);
             q != ngx_queue_sentinel(&node->pending);
             q = ngx_queue_next(q))
        {
            count++;
        }

        all = ngx_alloc(count * sizeof(ngx_chat_redis_pending_t *),
                        ngx_chat_redis_log);
        argv = ngx_alloc((NGX_CHAT_REDIS_BATCH + 1)
                         * (sizeof(char *) + sizeof(size_t)),
                         ngx_chat_redis_log);

        if (all == NULL || argv == NULL) {
            goto failed;
        }

        len = (size_t *) (argv + NGX_CHAT_REDIS_BATCH + 1);

        for (n = 0, q = ngx_queue_head(&node->pending);
             q != ngx_queue_sentinel(&node->pending);
             q = ngx_queue_next(q))
        {
            all[n++] = ngx_queue_data(q, ngx_chat_redis_pending_t, queue);
        }

        ngx_qsort(all, count, sizeof(ngx_chat_redis_pending_t *),
                  ngx_chat_redis_pending_cmp);

        argv[0] = "SSUBSCRIBE";
        len[0] = 10;

        for (j = 0; j < count; j = k) {
            for (k = j, n = 1;
                 k < count && all[k]->slot == all[j]->slot
                 && n <= NGX_CHAT_REDIS_BATCH;
                 k++, n++)
            {
                argv[n] = (char *) all[k]->data;
                len[n] = all[k]->len;
            }

            if (ngx_chat_redis_send(&node->sub, n, argv, len, NULL, NULL,
                                    ngx_chat_worker.mcf->redis_timeout)
                != NGX_OK)
            {
                break;
            }

            /* a confirmation comes for each channel: each answers one */
            w = ngx_queue_data(ngx_queue_last(&node->sub.waiting),
                               ngx_chat_redis_wait_t, queue);
            ngx_chat_redis_wait_channel(w, all[j]->data, all[j]->len);
            w->more = k - j - 1;

            for (n = j + 1; n < k; n++) {
                w = ngx_calloc(sizeof(ngx_chat_redis_wait_t),
                               ngx_chat_redis_log);
                if (w == NULL) {
                    break;
                }

                w->deadline = ngx_current_msec
                              + ngx_chat_worker.mcf->redis_timeout;
                ngx_chat_redis_wait_channel(w, all[n]->data, all[n]->len);
                ngx_chat_redis_wait_add(&node->sub, w);
            }
        }

    failed:

        if (all) {
            ngx_free(all);
            all = NULL;
        }

        if (argv) {
            ngx_free(argv);
            argv = NULL;
        }

        ngx_chat_redis_pending_free(node);
    }
}


/* the channel a wait is for, to be told if Redis refuses it */
static void
ngx_chat_redis_wait_channel(ngx_chat_redis_wait_t *w, const u_char *channel,
    size_t len)
{
    w->channel = ngx_alloc(len, ngx_chat_redis_log);

    if (w->channel) {
        ngx_memcpy(w->channel, channel, len);
        w->channel_len = len;
    }
}


static void
ngx_chat_redis_pending_free(ngx_chat_redis_node_t *node)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&node->pending)) {
        q = ngx_queue_head(&node->pending);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_chat_redis_pending_t, queue));
    }
}


static int ngx_libc_cdecl
ngx_chat_redis_pending_cmp(const void *a, const void *b)
{
    const ngx_chat_redis_pending_t  *pa, *pb;

    pa = *(ngx_chat_redis_pending_t * const *) a;
    pb = *(ngx_chat_redis_pending_t * const *) b;

    return (int) pa->slot - (int) pb->slot;
}


static ngx_int_t
ngx_chat_redis_channel_command(const char *command, ngx_uint_t kind,
    const char *name, size_t len)
{
    u_char                  channel[NGX_CHAT_REDIS_KEY_MAX];
    size_t                  argvlen[2];
    unsigned                slot;
    const char             *argv[2];
    ngx_chat_redis_conn_t  *rc;

    if (kind >= NGX_CHAT_REDIS_KINDS_MAX
        || ngx_chat_redis_kinds[kind].kind == NULL)
    {
        return NGX_ERROR;
    }

    argv[0] = command;
    argvlen[0] = ngx_strlen(command);
    argv[1] = (char *) channel;
    argvlen[1] = ngx_chat_redis_channel(channel, kind, name, len);

    rc = &ngx_chat_redis_sub;

    if (ngx_chat_redis_cluster) {
        slot = ngx_chat_slot(argv[1], argvlen[1]);

        if (ngx_chat_redis_slots[slot] == 0) {
            return NGX_DECLINED;
        }

        rc = &ngx_chat_redis_nodes[ngx_chat_redis_slots[slot] - 1]->sub;
    }

    if (ngx_chat_redis_send(rc, 2, argv, argvlen, NULL, NULL,
                            ngx_chat_worker.mcf->redis_timeout)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_chat_redis_cluster) {
        ngx_chat_redis_wait_channel(
            ngx_queue_data(ngx_queue_last(&rc->waiting),
                           ngx_chat_redis_wait_t, queue),
            channel, argvlen[1]);
    }

    return NGX_OK;
}


static void
ngx_chat_redis_on_channel(redisAsyncContext *ac, void *reply, void *data)
{
    size_t                       n;
    ngx_uint_t                   kind;
    redisReply                  *r = reply;
    redisReply                  *type, *channel;
    const char                  *name, *t;
    redisCallback               *cb;
    ngx_chat_redis_conn_t       *rc;
    ngx_chat_redis_wait_t       *w;
    ngx_chat_redis_kind_slot_t  *slot;

    /* NULL when the connection goes away: subscribing again handles that */
    if (r == NULL) {
        return;
    }

    rc = ac->data;

    /*
     * hiredis 0.14 knows no sharded pub/sub: the connection stays in its
     * command mode, where each reply takes the next callback queued.  One
     * is kept queued for the confirmations and messages to come.
     */
    if (ngx_chat_redis_cluster && ac->replies.head == NULL) {
        cb = malloc(sizeof(redisCallback));

        if (cb) {
            cb->next = NULL;
            cb->fn = ngx_chat_redis_on_channel;
            cb->pending_subs = 0;
            cb->privdata = NULL;
            ac->replies.head = cb;
            ac->replies.tail = cb;
        }
    }

    if (ngx_chat_redis_cluster && r->type == REDIS_REPLY_ERROR) {
        ngx_chat_redis_channel_refused(rc, r);
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        return;
    }

    type = r->element[0];
    channel = r->element[1];

    if (type->type != REDIS_REPLY_STRING
        || channel->type != REDIS_REPLY_STRING)
    {
        return;
    }

    t = type->str;

    if (ngx_chat_redis_cluster) {
        if (ngx_strcmp(t, "smessage") == 0) {
            t = "message";

        } else if (ngx_strcmp(t, "ssubscribe") == 0) {
            t = "subscribe";

        } else if (ngx_strcmp(t, "sunsubscribe") == 0) {
            t = "unsubscribe";
        }
    }

    /* a confirmation answers the first (un)subscription waiting */
    if ((ngx_strcmp(t, "subscribe") == 0
         || ngx_strcmp(t, "unsubscribe") == 0)
        && !ngx_queue_empty(&rc->waiting))
    {
        w = ngx_queue_data(ngx_queue_head(&rc->waiting),
                           ngx_chat_redis_wait_t, queue);
        ngx_chat_redis_answered(rc, w, r);
    }

    slot = ngx_chat_redis_channel_name(channel->str, channel->len, &kind,
                                       &name, &n);
    if (slot == NULL) {
        return;
    }

    if (ngx_strcmp(t, "message") == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        slot->kind->message(kind, name, n, r->element[2]->str,
                            r->element[2]->len);
        return;
    }

    if (ngx_strcmp(t, "subscribe") == 0) {
        slot->kind->subscribed(kind, name, n);
        return;
    }

    if (ngx_strcmp(t, "unsubscribe") == 0) {
        if (ngx_chat_redis_cluster) {
            ngx_chat_redis_channel_lost(kind, slot, name, n);
            return;
        }

        slot->kind->unsubscribed(kind, name, n);
    }
}


/*
 * A cluster node refused an (un)subscription: MOVED (the slot is on
 * another node, as a stale map sent it here) or the cluster is not
 * serving the slot.  The map is fixed from MOVED at once, else asked
 * again; the channel's kind hears it is not subscribed, and subscribes
 * again where the map says.
 */
static void
ngx_chat_redis_channel_refused(ngx_chat_redis_conn_t *rc, redisReply *r)
{
    int                          ask;
    size_t                       host_len, n, len;
    unsigned                     s, port;
    ngx_uint_t                   index, kind, more, moved;
    const char                  *host, *name;
    ngx_chat_redis_wait_t       *w;
    ngx_chat_redis_kind_slot_t  *slot;
    u_char                       channel[NGX_CHAT_REDIS_KEY_MAX];

    ngx_log_error(NGX_LOG_INFO, ngx_chat_redis_log, 0,
                  "chat: redis %s refused a subscription: %*s", rc->name,
                  (size_t) r->len, r->str);

    ngx_chat_redis_refresh_soon();

    moved = (ngx_chat_slot_redirect(r->str, r->len, &ask, &s, &host,
                                    &host_len, &port)
                 == 0
             && !ask
             && ngx_chat_redis_node_get((u_char *) host, host_len, port,
                                        &index)
                != NULL);

    if (moved) {
        ngx_chat_redis_slots[s] = (u_char) (index + 1);

    } else {
        /* subscribed again after the map is read */
        ngx_chat_redis_resubscribe = 1;
    }

    if (ngx_queue_empty(&rc->waiting)) {
        return;
    }

    /* the one answer of a command: for each channel it named */
    w = ngx_queue_data(ngx_queue_head(&rc->waiting), ngx_chat_redis_wait_t,
                       queue);

    for (more = w->more + 1; more && !ngx_queue_empty(&rc->waiting); more--) {
        w = ngx_queue_data(ngx_queue_head(&rc->waiting),
                           ngx_chat_redis_wait_t, queue);
        len = 0;

        if (w->channel && w->channel_len <= sizeof(channel)) {
            len = w->channel_len;
            ngx_memcpy(channel, w->channel, len);
        }

        ngx_chat_redis_answered(rc, w, r);

        if (!moved || len == 0) {
            continue;
        }

        slot = ngx_chat_redis_channel_name((char *) channel, len, &kind,
                                           &name, &n);
        if (slot != NULL) {
            ngx_chat_redis_channel_lost(kind, slot, name, n);
        }
    }
}


/*
 * On a cluster a channel's subscription also ends when its slot leaves
 * the node (sunsubscribe, unasked).  Rooms subscribe again from their
 * unsubscribed handler while they have members; a kind that never
 * unsubscribes (the users' channel) does so through its up handler.
 */
static void
ngx_chat_redis_channel_lost(ngx_uint_t kind, ngx_chat_redis_kind_slot_t *slot,
    const char *name, size_t n)
{
    slot->kind->unsubscribed(kind, name, n);

    if (kind != NGX_CHAT_REDIS_ROOMS && kind != NGX_CHAT_REDIS_RELAY_ROOMS
        && slot->kind->up)
    {
        slot->kind->up();
    }
}


/*
 * The kind of a channel and the name in it, without the hash tags
 * ngx_chat_redis_name put in on a cluster
 */
static ngx_chat_redis_kind_slot_t *
ngx_chat_redis_channel_name(const char *channel, size_t len,
    ngx_uint_t *kind, const char **name, size_t *n)
{
    size_t                       tag;
    ngx_chat_redis_kind_slot_t  *slot;

    slot = ngx_chat_redis_kind_find(channel, len, kind);
    if (slot == NULL) {
        return NULL;
    }

    *n = ngx_chat_worker.mcf->redis_prefix.len + slot->prefix_len;
    *name = channel + *n;
    *n = len - *n;

    if (!ngx_chat_redis_cluster) {
        return slot;
    }

    tag = sizeof(NGX_CHAT_REDIS_TAG) - 1;

    if (*n > tag && ngx_strncmp(*name, NGX_CHAT_REDIS_TAG, tag) == 0) {
        *name += tag;
        *n -= tag;

    } else if (*n > 2 && (*name)[0] == '{' && (*name)[*n - 1] == '}') {
        (*name)++;
        *n -= 2;
    }

    return slot;
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

    if (ngx_chat_redis_cluster) {
        argv[0] = "SPUBLISH";
        argvlen[0] = 8;

    } else {
        argv[0] = "PUBLISH";
        argvlen[0] = 7;
    }

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
ngx_chat_redis_load_script(ngx_chat_redis_conn_t *rc)
{
    const char  *argv[3];
    size_t       len[3];

    argv[0] = "SCRIPT";
    len[0] = 6;
    argv[1] = "LOAD";
    len[1] = 4;
    argv[2] = ngx_chat_redis_relay_script;
    len[2] = sizeof(ngx_chat_redis_relay_script) - 1;

    (void) ngx_chat_redis_send(rc, 3, argv, len, NULL, NULL,
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
    int          argc;
    u_char       seq_key[NGX_CHAT_REDIS_KEY_MAX];
    u_char       id_key[NGX_CHAT_REDIS_KEY_MAX];
    u_char       channel[NGX_CHAT_REDIS_KEY_MAX];
    u_char       slot[NGX_INT_T_LEN];
    char         tag[NGX_CHAT_SLOT_TAG_MAX];
    size_t       len[12];
    unsigned     s;
    ngx_uint_t   i;
    const char  *argv[12];

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
    argc = 11;

    /*
     * On a cluster the msg_id counter is the room's slot's: an id is its
     * count times 16384 plus the slot, unique over the cluster.
     */
    if (ngx_chat_redis_cluster) {
        s = ngx_chat_slot(argv[3], len[3]);
        len[4] = ngx_sprintf(id_key, "%Vrelay:msg_id:{%*s}",
                             &ngx_chat_worker.mcf->redis_prefix,
                             ngx_chat_slot_tag(s, tag), tag)
                 - id_key;
        argv[11] = (char *) slot;
        len[11] = ngx_sprintf(slot, "%ud", s) - slot;
        argc = 12;
    }
    argv[5] = (char *) channel;
    len[5] = ngx_chat_redis_channel(channel, NGX_CHAT_REDIS_RELAY_ROOMS,
                                    rr->room, rr->room_len);

    for (i = 0; i < 5; i++) {
        argv[6 + i] = rr->part[i].data;
        len[6 + i] = rr->part[i].len;
    }

    if (ngx_chat_redis_command(argc, argv, len, ngx_chat_redis_on_relay, rr,
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


ngx_uint_t
ngx_chat_redis_clustered(void)
{
    return ngx_chat_worker.mcf->redis_cluster != NULL;
}
