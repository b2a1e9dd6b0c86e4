/*
 * The limits of one user across the cluster (protocol.md section 8).
 *
 * chat_user_send_rate: one GCRA script per send in Redis
 * ("<prefix>rate:<user>"), shared by every worker and host; while Redis
 * does not answer, each worker counts on its own, in its cache of users.
 *
 * chat_user_connections_max: each worker counts its connections of a
 * user in the hash "<prefix>conns:<user>", in the same script that checks
 * the connection's token (ngx_chat_users_auth()): one script for all the
 * connections of a loop tick, which Redis runs as it would one script
 * per connection, in turn (a storm of reconnects paid a script's own
 * cost, most of its Redis CPU, per connection).  A worker's count
 * stands while its "<prefix>alive:<host>:<pid>" lives, which it renews
 * every NGX_CHAT_USERS_ALIVE ms: the counts of a host that died go.
 */

#include "ngx_chat.h"
#include "ngx_chat_users_int.h"
#include "ngx_chat_session.h"
#include "ngx_chat_store.h"
#include "ngx_chat_metrics.h"


#define NGX_CHAT_USERS_ALIVE     10000       /* ms, a worker says so */
#define NGX_CHAT_USERS_ALIVE_TTL "30000"     /* ms, counts without it go */
/* connections one count script takes at most */
#define NGX_CHAT_USERS_COUNT_MAX 100


/* one count script's connections, waiting for its answer */
typedef struct {
    ngx_queue_t                 auths;
} ngx_chat_user_limits_batch_t;


/* a send waiting for the cluster's count */
typedef struct {
    ngx_chat_op_t              *op;
    const ngx_chat_store_t     *store;
    const ngx_chat_limit_t     *lim;
    ngx_chat_request_t          req;
    size_t                      name_len;
    char                        name[NGX_CHAT_JWT_NAME_MAX + 1];
} ngx_chat_user_limits_send_t;


static void ngx_chat_user_limits_rated(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_user_limits_send_go(ngx_chat_user_limits_send_t *p,
    uint64_t wait);
static void ngx_chat_user_limits_count_flush(ngx_event_t *ev);
static void ngx_chat_user_limits_count_send(
    ngx_chat_user_limits_batch_t *b, ngx_uint_t n);
static void ngx_chat_user_limits_counted(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_user_limits_alive_handler(ngx_event_t *ev);
static void ngx_chat_user_limits_alive_key(ngx_uint_t set);


/*
 * GCRA, in microseconds.  KEYS[1]: the user's state; ARGV: now, the
 * interval, the burst tolerance (burst intervals).  Returns 0 (taken) or
 * the wait.
 */
static const char  ngx_chat_user_limits_rate_script[] =
    "local now = tonumber(ARGV[1])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "if tat - now > tonumber(ARGV[3]) then\n"
    "  return tat - now - tonumber(ARGV[3]) end\n"
    "tat = tat + tonumber(ARGV[2])\n"
    "redis.call('SET', KEYS[1], string.format('%d', tat), 'PX',\n"
    "           math.floor((tat - now) / 1000) + 1000)\n"
    "return 0\n";

/*
 * The tokens that open connections, five keys each: the four keys of the
 * token's MGET, then the user's connections, a hash of "<host>:<pid>" to
 * that worker's count.  A worker's count stands while its
 * "<prefix>alive:<host>:<pid>" (ARGV[1] is "<prefix>alive:") lives: a
 * host that died stops counting within NGX_CHAT_USERS_ALIVE_TTL.  Under
 * ARGV[2] (the cap) the connection is counted under ARGV[3]; the fifth
 * answer of each says whether it was, and is the whole answer (an
 * integer) when none of the four keys exists.  Each connection is done in turn,
 * as one script each would be: two of one user see each other's count.
 * The worker's own "alive" key is set here too (ARGV[4]: its ttl), so
 * that a worker counts from its first connection on.
 */
static const char  ngx_chat_user_limits_conn_script[] =
    "local alive, cap = ARGV[1], tonumber(ARGV[2])\n"
    "redis.call('SET', alive .. ARGV[3], '1', 'PX', ARGV[4])\n"
    "local out, up = {}, {[ARGV[3]] = true}\n"
    "local function lives(w)\n"
    "  if up[w] == nil then\n"
    "    up[w] = redis.call('EXISTS', alive .. w) == 1\n"
    "  end\n"
    "  return up[w]\n"
    "end\n"
    "for b = 0, #KEYS - 5, 5 do\n"
    "  local r = redis.call('MGET', KEYS[b + 1], KEYS[b + 2],\n"
    "                       KEYS[b + 3], KEYS[b + 4])\n"
    "  local n = 0\n"
    "  local h = redis.call('HGETALL', KEYS[b + 5])\n"
    "  for i = 1, #h, 2 do\n"
    "    local c = tonumber(h[i + 1])\n"
    "    if c > 0 and lives(h[i]) then\n"
    "      n = n + c\n"
    "    else redis.call('HDEL', KEYS[b + 5], h[i]) end\n"
    "  end\n"
    "  r[5] = 0\n"
    "  if n < cap then\n"
    "    redis.call('HINCRBY', KEYS[b + 5], ARGV[3], 1)\n"
    "    redis.call('PEXPIRE', KEYS[b + 5], 86400000)\n"
    "    r[5] = 1\n"
    "  end\n"
    "  if r[1] or r[2] or r[3] or r[4] then out[#out + 1] = r\n"
    "  else out[#out + 1] = r[5] end\n"
    "end\n"
    "return out\n";

/*
 * A counted connection closed; never below 0 (Redis may have restarted).
 * A count that would drop to 0 goes, and with the last one the hash
 * (Redis removes an empty hash): no key stays for a user who left.
 */
static const char  ngx_chat_user_limits_gone_script[] =
    "if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') > 1 then\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)\n"
    "else redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "return 1\n";


static ngx_event_t        ngx_chat_user_limits_alive_event;
static ngx_event_t        ngx_chat_user_limits_count_event;
static ngx_queue_t        ngx_chat_user_limits_counting;  /* this tick's */
static ngx_uint_t         ngx_chat_user_limits_exiting;

/* this worker in the connection counts: "<host>:<pid>" */
static u_char             ngx_chat_user_limits_self[NGX_MAXHOSTNAMELEN
                                              + NGX_INT64_LEN + 2];
static size_t             ngx_chat_user_limits_self_len;


void
ngx_chat_user_limits_init(ngx_cycle_t *cycle)
{
    ngx_chat_user_limits_exiting = 0;

    ngx_chat_user_limits_self_len =
        ngx_snprintf(ngx_chat_user_limits_self,
                     sizeof(ngx_chat_user_limits_self), "%V:%P",
                     &cycle->hostname, ngx_pid)
        - ngx_chat_user_limits_self;

    ngx_memzero(&ngx_chat_user_limits_alive_event, sizeof(ngx_event_t));
    ngx_chat_user_limits_alive_event.handler =
        ngx_chat_user_limits_alive_handler;
    ngx_chat_user_limits_alive_event.data = &ngx_chat_no_connection;
    ngx_chat_user_limits_alive_event.log = cycle->log;
    ngx_chat_user_limits_alive_event.cancelable = 1;

    ngx_queue_init(&ngx_chat_user_limits_counting);
    ngx_memzero(&ngx_chat_user_limits_count_event, sizeof(ngx_event_t));
    ngx_chat_user_limits_count_event.handler =
        ngx_chat_user_limits_count_flush;
    ngx_chat_user_limits_count_event.data = &ngx_chat_no_connection;
    ngx_chat_user_limits_count_event.log = cycle->log;
}


void
ngx_chat_user_limits_exit(void)
{
    ngx_chat_user_limits_exiting = 1;

    if (ngx_chat_user_limits_alive_event.timer_set) {
        ngx_del_timer(&ngx_chat_user_limits_alive_event);
    }

    /* this worker's connections stop counting at once */
    if (ngx_chat_worker.mcf->redis_port) {
        ngx_chat_user_limits_alive_key(0);
    }
}


void
ngx_chat_user_limits_alive(void)
{
    ngx_chat_user_limits_alive_handler(&ngx_chat_user_limits_alive_event);
}


/* ---- the send rate ---- */

void
ngx_chat_users_send(ngx_chat_op_t *op, const ngx_chat_limit_t *lim,
    const ngx_chat_store_t *store, const char *name, size_t name_len,
    ngx_chat_request_t *req)
{
    int                           n;
    size_t                        argvlen[7];
    u_char                        key[NGX_CHAT_REDIS_KEY_MAX];
    u_char                        num[3][NGX_INT64_LEN];
    const char                   *argv[7];
    ngx_chat_user_limits_send_t  *p;

    ngx_chat_metrics_send(op->session);

    if (lim->interval == 0) {
        store->send(op, name, name_len, req);
        return;
    }

    p = ngx_alloc(sizeof(ngx_chat_user_limits_send_t), ngx_chat_worker.log);
    if (p == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    p->op = op;
    p->store = store;
    p->lim = lim;
    p->name_len = ngx_min(name_len, NGX_CHAT_JWT_NAME_MAX);
    ngx_memcpy(p->name, name, p->name_len);

    /* the decoded request moves here: the caller frees an empty one */
    p->req = *req;
    req->root = NULL;
    req->meta = NULL;

    if (op->session) {
        ngx_chat_session_send_begin(op->session);
    }

    if (ngx_chat_worker.mcf->redis_port == 0) {
        ngx_chat_user_limits_rated(p, NGX_DECLINED, NULL);
        return;
    }

    ngx_chat_users_eval(argv, argvlen, ngx_chat_user_limits_rate_script,
                        sizeof(ngx_chat_user_limits_rate_script) - 1, "1");
    argv[3] = (char *) key;
    argvlen[3] = ngx_chat_redis_name(key, "rate:", op->user, op->user_len);

    argv[4] = (char *) num[0];
    argvlen[4] = ngx_sprintf(num[0], "%uL",
                             (uint64_t) ngx_chat_now_ms() * 1000)
                 - num[0];
    argv[5] = (char *) num[1];
    argvlen[5] = ngx_sprintf(num[1], "%uL", lim->interval) - num[1];
    argv[6] = (char *) num[2];
    argvlen[6] = ngx_sprintf(num[2], "%uL", lim->interval * lim->burst)
                 - num[2];
    n = 7;

    if (ngx_chat_redis_command(n, argv, argvlen, ngx_chat_user_limits_rated,
                               p, ngx_chat_worker.mcf->redis_timeout)
        != NGX_OK)
    {
        ngx_chat_user_limits_rated(p, NGX_DECLINED, NULL);
    }
}


static void
ngx_chat_user_limits_rated(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_user_limits_send_t  *p = data;

    uint64_t          wait;
    ngx_chat_user_t  *u;

    if (rc == NGX_OK && reply && reply->type == REDIS_REPLY_INTEGER) {
        ngx_chat_user_limits_send_go(p, reply->integer > 0
                                        ? (uint64_t) reply->integer : 0);
        return;
    }

    /* Redis away: this worker counts the user's sends on its own */
    u = ngx_chat_users_get(p->op->user, p->op->user_len, 1);

    wait = u ? ngx_chat_limit_take(&u->send_tat,
                                   (uint64_t) ngx_current_msec * 1000 + 1,
                                   p->lim)
             : 0;

    ngx_chat_user_limits_send_go(p, wait);
}


static void
ngx_chat_user_limits_send_go(ngx_chat_user_limits_send_t *p,
    uint64_t wait)
{
    ngx_chat_op_t  *op;

    op = p->op;

    if (op->session) {
        ngx_chat_session_send_done(op->session);
    }

    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);

    } else if (wait) {
        op->retry_after = ngx_chat_limit_seconds(wait);
        ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_USER_SEND);

        /*
         * as a refused request: the connection is not read until the
         * user may send again, and its sends until then are refused
         * without asking Redis (ngx_chat_request_send)
         */
        if (op->session) {
            op->session->send_until = ngx_current_msec + wait / 1000 + 1;
            ngx_chat_session_rate_refused(op->session, wait);
        }

        ngx_chat_op_error(op, "rate_limited", NGX_CHAT_USERS_SEND_RATED);

    } else {
        p->store->send(op, p->name, p->name_len, &p->req);
    }

    ngx_chat_request_free(&p->req);
    ngx_free(p);
}


/* ---- connections ---- */

/* the script goes at the end of the loop tick, with the tick's others */
void
ngx_chat_user_limits_count(ngx_chat_auth_t *a)
{
    ngx_queue_insert_tail(&ngx_chat_user_limits_counting, &a->queue);

    if (!ngx_chat_user_limits_count_event.posted) {
        ngx_post_event(&ngx_chat_user_limits_count_event,
                       &ngx_posted_events);
    }
}


static void
ngx_chat_user_limits_count_flush(ngx_event_t *ev)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_chat_auth_t               *a;
    ngx_chat_user_limits_batch_t  *b;

    while (!ngx_queue_empty(&ngx_chat_user_limits_counting)) {

        b = ngx_alloc(sizeof(ngx_chat_user_limits_batch_t),
                      ngx_chat_worker.log);
        if (b == NULL) {
            q = ngx_queue_head(&ngx_chat_user_limits_counting);
            ngx_queue_remove(q);
            a = ngx_queue_data(q, ngx_chat_auth_t, queue);
            ngx_chat_users_unchecked(a);
            continue;
        }

        ngx_queue_init(&b->auths);
        n = ngx_chat_queue_move(&b->auths, &ngx_chat_user_limits_counting,
                                NGX_CHAT_USERS_COUNT_MAX);

        ngx_chat_user_limits_count_send(b, n);
    }
}


/*
 * Every key of the script shares one slot on a cluster (they are not a
 * room's: ngx_chat_redis_name), so one script serves it too.
 */
static void
ngx_chat_user_limits_count_send(ngx_chat_user_limits_batch_t *b,
    ngx_uint_t n)
{
    int               argc;
    u_char           *p, nkeys[NGX_INT_T_LEN], max[NGX_INT_T_LEN];
    size_t           *argvlen;
    ngx_uint_t        i, k;
    const char      **argv;
    ngx_queue_t      *q;
    ngx_chat_auth_t  *a;
    u_char          (*keys)[NGX_CHAT_REDIS_KEY_MAX];
    u_char            alive[NGX_CHAT_REDIS_KEY_MAX];

    argc = 3 + 5 * n + 4;

    p = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t))
                  + 5 * n * NGX_CHAT_REDIS_KEY_MAX, ngx_chat_worker.log);
    if (p == NULL) {
        ngx_chat_user_limits_counted(b, NGX_ERROR, NULL);
        return;
    }

    argv = (const char **) p;
    argvlen = (size_t *) (p + argc * sizeof(char *));
    keys = (u_char (*)[NGX_CHAT_REDIS_KEY_MAX])
           (p + argc * (sizeof(char *) + sizeof(size_t)));

    ngx_chat_users_eval(argv, argvlen, ngx_chat_user_limits_conn_script,
                        sizeof(ngx_chat_user_limits_conn_script) - 1,
                        (char *) nkeys);
    argvlen[2] = ngx_sprintf(nkeys, "%ui", 5 * n) - nkeys;

    k = 3;

    for (q = ngx_queue_head(&b->auths);
         q != ngx_queue_sentinel(&b->auths);
         q = ngx_queue_next(q))
    {
        a = ngx_queue_data(q, ngx_chat_auth_t, queue);

        for (i = 0; i < 5; i++) {
            argv[k + i] = (char *) keys[k - 3 + i];
        }

        ngx_chat_users_token_keys(a, &keys[k - 3], &argvlen[k]);
        argvlen[k + 4] = ngx_chat_redis_name(keys[k + 1], "conns:",
                                             a->claims.sub,
                                             ngx_strlen(a->claims.sub));
        k += 5;
    }

    argv[k] = (char *) alive;
    argvlen[k] = ngx_chat_redis_name(alive, "alive:", "", 0);
    argv[k + 1] = (char *) max;
    argvlen[k + 1] = ngx_sprintf(max, "%ui",
                                 ngx_chat_worker.mcf->user_conns_max)
                     - max;
    argv[k + 2] = (char *) ngx_chat_user_limits_self;
    argvlen[k + 2] = ngx_chat_user_limits_self_len;
    argv[k + 3] = NGX_CHAT_USERS_ALIVE_TTL;
    argvlen[k + 3] = sizeof(NGX_CHAT_USERS_ALIVE_TTL) - 1;

    /* hiredis keeps its own copy of the command */
    if (ngx_chat_redis_command(argc, argv, argvlen,
                               ngx_chat_user_limits_counted, b,
                               ngx_chat_worker.mcf->redis_timeout)
        != NGX_OK)
    {
        ngx_chat_user_limits_counted(b, NGX_ERROR, NULL);
    }

    ngx_free(p);
}


/* each connection's answer, in order; NGX_ERROR: none was sent */
static void
ngx_chat_user_limits_counted(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_user_limits_batch_t  *b = data;

    size_t            i;
    redisReply       *r;
    ngx_queue_t      *q;
    ngx_chat_auth_t  *a;

    for (i = 0; !ngx_queue_empty(&b->auths); i++) {
        q = ngx_queue_head(&b->auths);
        ngx_queue_remove(q);
        a = ngx_queue_data(q, ngx_chat_auth_t, queue);

        if (rc == NGX_ERROR) {
            ngx_chat_users_unchecked(a);
            continue;
        }

        r = (rc == NGX_OK && reply && reply->type == REDIS_REPLY_ARRAY
             && i < reply->elements)
            ? reply->element[i] : NULL;

        ngx_chat_users_checked(a, r ? NGX_OK : NGX_DECLINED, r);
    }

    ngx_free(b);
}


void
ngx_chat_users_connected(ngx_chat_session_t *s, ngx_chat_auth_t *a)
{
    s->user_counted = a->counted;
}


void
ngx_chat_users_closed(ngx_chat_session_t *s)
{
    if (s->user_counted) {
        s->user_counted = 0;
        ngx_chat_user_limits_uncount((char *) s->user, s->user_len);
    }
}


void
ngx_chat_user_limits_uncount(const char *user, size_t len)
{
    size_t       argvlen[5];
    u_char       key[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[5];

    ngx_chat_users_eval(argv, argvlen, ngx_chat_user_limits_gone_script,
                        sizeof(ngx_chat_user_limits_gone_script) - 1, "1");
    argv[3] = (char *) key;
    argvlen[3] = ngx_chat_redis_name(key, "conns:", user, len);
    argv[4] = (char *) ngx_chat_user_limits_self;
    argvlen[4] = ngx_chat_user_limits_self_len;

    /* Redis away: the count stays until this worker's "alive" key ends */
    (void) ngx_chat_redis_command(5, argv, argvlen, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);
}


/* this worker's connections count while it says so: one command a tick */
static void
ngx_chat_user_limits_alive_handler(ngx_event_t *ev)
{
    if (ngx_chat_user_limits_exiting || !ngx_chat_worker.active
        || ngx_chat_worker.mcf->redis_port == 0)
    {
        return;
    }

    ngx_chat_user_limits_alive_key(1);

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, NGX_CHAT_USERS_ALIVE);

    ngx_chat_users_prune();
}


/* this worker's "alive" key set (its counts stand) or deleted (they go) */
static void
ngx_chat_user_limits_alive_key(ngx_uint_t set)
{
    size_t       argvlen[5];
    u_char       key[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[5];

    argv[0] = set ? "SET" : "DEL";
    argvlen[0] = 3;
    argv[1] = (char *) key;
    argvlen[1] = ngx_chat_redis_name(key, "alive:",
                                     (char *) ngx_chat_user_limits_self,
                                     ngx_chat_user_limits_self_len);
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = NGX_CHAT_USERS_ALIVE_TTL;
    argvlen[4] = sizeof(NGX_CHAT_USERS_ALIVE_TTL) - 1;

    (void) ngx_chat_redis_command(set ? 5 : 2, argv, argvlen, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);
}
