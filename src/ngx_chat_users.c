/*
 * Users across the cluster: token revocation, global bans and the
 * per-user send rate (protocol.md section 8).
 *
 * Redis holds "<prefix>revoked:<user>" (the second of the user's last
 * revocation), "<prefix>jti:<user> <sha1 of jti>" (a revoked token, until
 * its exp) and "<prefix>uban:<user>" (a global ban's until in ms, 0:
 * until lifted; gone when it ends).  A token is checked against them with
 * one MGET when it is presented; an authenticated connection costs
 * nothing more.  Every change is published on the one channel
 * "<prefix>users:control", which every worker of every host subscribes
 * to: each closes its live connections the change concerns, and keeps
 * what it heard in a cache of its own (a token whose MGET answer crossed
 * the change on the way is still refused; with Redis away, tokens are
 * checked against the cache alone).
 *
 * Global bans are kept in PostgreSQL (chat_user_bans): each worker loads
 * them into its cache when it starts, and into its cache and Redis
 * whenever its pub/sub connection comes up, so a ban outlives a Redis
 * restart and holds while Redis is away.
 *
 * The send rate is one GCRA script per send in Redis
 * ("<prefix>rate:<user>"), shared by every worker and host; while Redis
 * does not answer, each worker counts on its own.  The connections cap
 * counts per worker in "<prefix>conns:<user>", in the same script that
 * checks a connection's token.
 */

#include "ngx_chat.h"
#include "ngx_chat_users.h"
#include "ngx_chat_api.h"
#include "ngx_chat_http.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_session.h"
#include "ngx_chat_store.h"
#include <ngx_sha1.h>

#include <jansson.h>


#define NGX_CHAT_USERS_CHANNEL   "control"
#define NGX_CHAT_USERS_JTI_TTL   86400       /* s, a jti without exp */
#define NGX_CHAT_USERS_ALIVE     10000       /* ms, a worker says so */
#define NGX_CHAT_USERS_ALIVE_TTL "30000"     /* ms, counts without it go */


typedef struct {
    ngx_str_node_t          sn;
    time_t                  revoked;     /* 0: none heard */
    int64_t                 ban_until;   /* -1: none, 0: until lifted */
    uint64_t                send_tat;    /* the fallback send rate */
    u_char                  data[1];
} ngx_chat_user_t;


/* a send waiting for the cluster's count */
typedef struct {
    ngx_chat_op_t              *op;
    const ngx_chat_store_t     *store;
    const ngx_chat_limit_t     *lim;
    ngx_chat_request_t          req;
    size_t                      name_len;
    char                        name[NGX_CHAT_JWT_NAME_MAX + 1];
} ngx_chat_users_send_t;


/* a REST call changing a user's state, through PostgreSQL then Redis */
typedef struct {
    ngx_chat_op_t              *op;
    int64_t                     until;       /* -1: none */
    u_char                      payload[NGX_CHAT_REDIS_KEY_MAX + 64];
    size_t                      payload_len;
    u_char                      key[NGX_CHAT_REDIS_KEY_MAX];
    size_t                      key_len;
    u_char                      value[NGX_INT64_LEN];
    size_t                      value_len;
    u_char                      pxat[NGX_INT64_LEN];
    size_t                      pxat_len;
} ngx_chat_users_change_t;


static ngx_chat_user_t *ngx_chat_users_get(const char *user, size_t len,
    ngx_uint_t create);
static ngx_int_t ngx_chat_users_refused(ngx_chat_auth_t *a,
    ngx_chat_user_t *u);
static void ngx_chat_users_checked(void *data, ngx_int_t rc,
    redisReply *reply);
static int64_t ngx_chat_users_int(redisReply *r);
static size_t ngx_chat_users_jti_key(u_char *buf, const char *user,
    size_t len, const char *jti, size_t jti_len);
static void ngx_chat_users_message(ngx_uint_t kind, const char *name,
    size_t len, const char *payload, size_t payload_len);
static void ngx_chat_users_apply(u_char op, const char *user, size_t len,
    const char *arg, size_t arg_len);
static void ngx_chat_users_close(const char *user, size_t len, u_char op,
    int64_t arg, const char *jti, size_t jti_len);
static void ngx_chat_users_channel(ngx_uint_t kind, const char *name,
    size_t len);
static void ngx_chat_users_up(void);
static void ngx_chat_users_load(void);
static void ngx_chat_users_mark_bans(int64_t from, int64_t to);
static void ngx_chat_users_loaded(void *data, PGresult *res,
    ngx_uint_t status);
static ngx_int_t ngx_chat_users_store(ngx_chat_users_change_t *ch,
    ngx_uint_t del);
static void ngx_chat_users_stored(void *data, ngx_int_t rc,
    redisReply *reply);
static ngx_chat_users_change_t *ngx_chat_users_change(
    ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx);
static ngx_int_t ngx_chat_users_query(ngx_chat_users_change_t *ch,
    const char *sql, int nparams, const char *const *values,
    const int *lengths);
static void ngx_chat_users_banned(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_users_submit(ngx_chat_users_change_t *ch,
    ngx_uint_t del);
static void ngx_chat_users_rated(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_users_send_go(ngx_chat_users_send_t *p,
    uint64_t wait);
static void ngx_chat_users_uncount(const char *user, size_t len);
static void ngx_chat_users_eval(const char **argv, size_t *argvlen,
    const char *script, size_t len, const char *nkeys);
static void ngx_chat_users_alive_handler(ngx_event_t *ev);
static void ngx_chat_users_prune(void);


/*
 * KEYS[1]: the key; ARGV: its value ("" deletes it), the ms it expires
 * at ("0": never), the channel and the message ("": none).  The key is written
 * before the message goes out: a token checked after the message is
 * checked against the key.
 */
static const char  ngx_chat_users_change_script[] =
    "if ARGV[1] == '' then redis.call('DEL', KEYS[1])\n"
    "elseif ARGV[2] ~= '0' then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])\n"
    "else redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end\n"
    "return 1\n";

/*
 * GCRA, in microseconds.  KEYS[1]: the user's state; ARGV: now, the
 * interval, the burst tolerance (burst intervals).  Returns 0 (taken) or
 * the wait.
 */
static const char  ngx_chat_users_rate_script[] =
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
 * A token that opens a connection: the three keys of the MGET, then the
 * user's connections, a hash of "<host>:<pid>" to that worker's count.
 * A worker's count stands while its "<prefix>alive:<host>:<pid>" (ARGV[1]
 * is "<prefix>alive:") lives: a host that died stops counting within
 * NGX_CHAT_USERS_ALIVE_TTL.  Under ARGV[2] (the cap) the connection is
 * counted under ARGV[3]; the fourth answer says whether it was.  The
 * worker's own "alive" key is set here too (ARGV[4]: its ttl), so that a
 * worker counts from its first connection on.
 */
static const char  ngx_chat_users_conn_script[] =
    "local r = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])\n"
    "redis.call('SET', ARGV[1] .. ARGV[3], '1', 'PX', ARGV[4])\n"
    "local n = 0\n"
    "local h = redis.call('HGETALL', KEYS[4])\n"
    "for i = 1, #h, 2 do\n"
    "  if redis.call('EXISTS', ARGV[1] .. h[i]) == 1 then\n"
    "    n = n + tonumber(h[i + 1])\n"
    "  else redis.call('HDEL', KEYS[4], h[i]) end\n"
    "end\n"
    "r[4] = 0\n"
    "if n < tonumber(ARGV[2]) then\n"
    "  redis.call('HINCRBY', KEYS[4], ARGV[3], 1)\n"
    "  redis.call('PEXPIRE', KEYS[4], 86400000)\n"
    "  r[4] = 1\n"
    "end\n"
    "return r\n";

/* a counted connection closed; never below 0 (Redis may have restarted) */
static const char  ngx_chat_users_gone_script[] =
    "if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') > 0 then\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end\n"
    "return 1\n";

static const char  ngx_chat_users_bans_sql[] =
    "select user_id, coalesce(until, 0) from chat_user_bans "
    "where until is null or until > $1::bigint";

static const char  ngx_chat_users_ban_sql[] =
    "insert into chat_user_bans (user_id, until, reason, by_user, at) "
    "values ($1, $2::bigint, $3, $4, $5::bigint) "
    "on conflict (user_id) do update set until = excluded.until, "
    "reason = excluded.reason, by_user = excluded.by_user, "
    "at = excluded.at";

static const char  ngx_chat_users_unban_sql[] =
    "delete from chat_user_bans where user_id = $1";


static const ngx_chat_redis_kind_t  ngx_chat_users_kind = {
    "users:",
    ngx_chat_users_message,
    ngx_chat_users_channel,
    ngx_chat_users_channel,
    ngx_chat_users_up,
    NULL
};


static ngx_rbtree_t       ngx_chat_users_tree;
static ngx_rbtree_node_t  ngx_chat_users_sentinel;
static ngx_event_t        ngx_chat_users_alive;
static ngx_uint_t         ngx_chat_users_exiting;

/* this worker in the connection counts: "<host>:<pid>" */
static u_char             ngx_chat_users_self[NGX_MAXHOSTNAMELEN
                                              + NGX_INT64_LEN + 2];
static size_t             ngx_chat_users_self_len;


ngx_int_t
ngx_chat_users_init(ngx_cycle_t *cycle)
{
    ngx_rbtree_init(&ngx_chat_users_tree, &ngx_chat_users_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_chat_users_exiting = 0;

    ngx_chat_users_self_len = ngx_snprintf(ngx_chat_users_self,
                                           sizeof(ngx_chat_users_self),
                                           "%V:%P", &cycle->hostname,
                                           ngx_pid)
                              - ngx_chat_users_self;

    ngx_memzero(&ngx_chat_users_alive, sizeof(ngx_event_t));
    ngx_chat_users_alive.handler = ngx_chat_users_alive_handler;
    ngx_chat_users_alive.log = cycle->log;
    ngx_chat_users_alive.cancelable = 1;

    /* known from the start, also while Redis is away */
    ngx_chat_users_load();

    if (ngx_chat_worker.mcf->redis_port == 0) {
        return NGX_OK;
    }

    return ngx_chat_redis_kind_add(NGX_CHAT_REDIS_USERS,
                                   &ngx_chat_users_kind);
}


void
ngx_chat_users_exit(void)
{
    size_t              argvlen[2];
    u_char              key[NGX_CHAT_REDIS_KEY_MAX];
    const char         *argv[2];
    ngx_rbtree_node_t  *node;

    ngx_chat_users_exiting = 1;

    if (ngx_chat_users_alive.timer_set) {
        ngx_del_timer(&ngx_chat_users_alive);
    }

    /* this worker's connections stop counting at once */
    if (ngx_chat_worker.mcf->redis_port) {
        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = (char *) key;
        argvlen[1] = ngx_chat_redis_name(key, "alive:",
                                         (char *) ngx_chat_users_self,
                                         ngx_chat_users_self_len);
        (void) ngx_chat_redis_command(2, argv, argvlen, NULL, NULL,
                                      ngx_chat_worker.mcf->redis_timeout);
    }

    while (ngx_chat_users_tree.root != &ngx_chat_users_sentinel) {
        node = ngx_rbtree_min(ngx_chat_users_tree.root,
                              &ngx_chat_users_sentinel);
        ngx_rbtree_delete(&ngx_chat_users_tree, node);
        ngx_free(node);
    }
}


static ngx_chat_user_t *
ngx_chat_users_get(const char *user, size_t len, ngx_uint_t create)
{
    uint32_t          hash;
    ngx_str_t         key;
    ngx_chat_user_t  *u;

    if (ngx_chat_users_exiting) {
        return NULL;
    }

    key.data = (u_char *) user;
    key.len = len;
    hash = ngx_crc32_short(key.data, len);

    u = (ngx_chat_user_t *) ngx_str_rbtree_lookup(&ngx_chat_users_tree, &key,
                                                  hash);
    if (u || !create) {
        return u;
    }

    u = ngx_alloc(sizeof(ngx_chat_user_t) + len, ngx_chat_worker.log);
    if (u == NULL) {
        return NULL;
    }

    ngx_memzero(u, sizeof(ngx_chat_user_t));
    ngx_memcpy(u->data, user, len);
    u->sn.str.data = u->data;
    u->sn.str.len = len;
    u->sn.node.key = hash;
    u->ban_until = -1;

    ngx_rbtree_insert(&ngx_chat_users_tree, &u->sn.node);

    return u;
}


/* ---- tokens ---- */

ngx_int_t
ngx_chat_users_auth(ngx_chat_auth_t *a)
{
    int                     argc;
    size_t                  len, argvlen[11];
    u_char                  keys[4][NGX_CHAT_REDIS_KEY_MAX];
    u_char                  alive[NGX_CHAT_REDIS_KEY_MAX], max[NGX_INT_T_LEN];
    const char             *argv[11], **k;
    ngx_chat_user_t        *u;
    ngx_chat_main_conf_t   *mcf;

    mcf = ngx_chat_worker.mcf;
    len = ngx_strlen(a->claims.sub);
    u = ngx_chat_users_get(a->claims.sub, len, 0);

    if (ngx_chat_users_refused(a, u) != NGX_OK || mcf->redis_port == 0) {
        a->handler(a, (a->banned || a->revoked) ? NULL : &a->claims);
        return NGX_OK;
    }

    /* a connection counted: the script; else the keys alone */
    a->connection = (a->connection && mcf->user_conns_max);
    k = a->connection ? &argv[3] : &argv[1];

    k[0] = (char *) keys[0];
    argvlen[k - argv] = ngx_chat_redis_name(keys[0], "revoked:",
                                            a->claims.sub, len);
    k[1] = (char *) keys[1];
    argvlen[k - argv + 1] = ngx_chat_redis_name(keys[1], "uban:",
                                                a->claims.sub, len);
    k[2] = (char *) keys[2];

    /* without a jti, a key no jti has */
    argvlen[k - argv + 2] = a->claims.jti[0]
        ? ngx_chat_users_jti_key(keys[2], a->claims.sub, len, a->claims.jti,
                                 ngx_strlen(a->claims.jti))
        : ngx_chat_redis_name(keys[2], "jti:", "", 0);

    if (a->connection) {
        ngx_chat_users_eval(argv, argvlen, ngx_chat_users_conn_script,
                            sizeof(ngx_chat_users_conn_script) - 1, "4");
        argv[6] = (char *) keys[3];
        argvlen[6] = ngx_chat_redis_name(keys[3], "conns:", a->claims.sub,
                                         len);
        argv[7] = (char *) alive;
        argvlen[7] = ngx_chat_redis_name(alive, "alive:", "", 0);
        argv[8] = (char *) max;
        argvlen[8] = ngx_sprintf(max, "%ui", mcf->user_conns_max) - max;
        argv[9] = (char *) ngx_chat_users_self;
        argvlen[9] = ngx_chat_users_self_len;
        argv[10] = NGX_CHAT_USERS_ALIVE_TTL;
        argvlen[10] = sizeof(NGX_CHAT_USERS_ALIVE_TTL) - 1;
        argc = 11;

    } else {
        argv[0] = "MGET";
        argvlen[0] = 4;
        argc = 4;
    }

    if (ngx_chat_redis_command(argc, argv, argvlen, ngx_chat_users_checked,
                               a, mcf->redis_timeout)
        != NGX_OK)
    {
        /* Redis away: what this worker heard decides (see above) */
        ngx_log_error(NGX_LOG_WARN, a->log, 0,
                      "chat: token of \"%s\" checked without redis",
                      a->claims.sub);
        a->handler(a, &a->claims);
        return NGX_OK;
    }

    return NGX_AGAIN;
}


/* NGX_OK: nothing this worker knows of refuses the token */
static ngx_int_t
ngx_chat_users_refused(ngx_chat_auth_t *a, ngx_chat_user_t *u)
{
    if (u == NULL) {
        return NGX_OK;
    }

    if (u->ban_until == 0 || u->ban_until > ngx_chat_now_ms()) {
        a->banned = 1;

    } else if (u->revoked
               && (a->claims.iat == 0 || a->claims.iat <= u->revoked))
    {
        a->revoked = 1;

    } else {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, a->log, 0,
                  "chat: token of user \"%s\" rejected: %s", a->claims.sub,
                  a->banned ? "banned" : "revoked");

    return NGX_DECLINED;
}


static void
ngx_chat_users_checked(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_auth_t  *a = data;

    int64_t           until, revoked;
    ngx_chat_user_t   tmp, *u;

    u = ngx_chat_users_get(a->claims.sub, ngx_strlen(a->claims.sub), 0);

    if (rc != NGX_OK || reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2)
    {
        ngx_log_error(NGX_LOG_WARN, a->log, 0,
                      "chat: token of \"%s\" checked without redis",
                      a->claims.sub);
        (void) ngx_chat_users_refused(a, u);
        goto done;
    }

    /* what Redis says, and what this worker heard meanwhile */
    revoked = ngx_chat_users_int(reply->element[0]);
    until = ngx_chat_users_int(reply->element[1]);

    ngx_memzero(&tmp, sizeof(ngx_chat_user_t));
    tmp.revoked = (time_t) ngx_max(revoked, 0);

    if (u && u->revoked > tmp.revoked) {
        tmp.revoked = u->revoked;
    }

    tmp.ban_until = (until >= 0) ? until : (u ? u->ban_until : -1);

    if (ngx_chat_users_refused(a, &tmp) == NGX_OK
        && reply->elements > 2
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        a->revoked = 1;
        ngx_log_error(NGX_LOG_INFO, a->log, 0,
                      "chat: token of user \"%s\" rejected: jti revoked",
                      a->claims.sub);
    }

    if (a->connection && reply->elements > 3
        && reply->element[3]->type == REDIS_REPLY_INTEGER)
    {
        a->counted = (reply->element[3]->integer == 1);

        if (!a->counted && !a->banned && !a->revoked) {
            a->crowded = 1;
            ngx_log_error(NGX_LOG_INFO, a->log, 0,
                          "chat: token of user \"%s\" rejected: "
                          "chat_user_connections_max reached",
                          a->claims.sub);
        }

        if (a->counted && (a->banned || a->revoked)) {
            ngx_chat_users_uncount(a->claims.sub, ngx_strlen(a->claims.sub));
            a->counted = 0;
        }
    }

done:

    a->handler(a, (a->banned || a->revoked || a->crowded) ? NULL
                                                          : &a->claims);
}


/* a number Redis keeps as a string; -1 if there is none */
static int64_t
ngx_chat_users_int(redisReply *r)
{
    ngx_int_t  n;

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0) {
        return -1;
    }

    n = ngx_atoi((u_char *) r->str, r->len);

    return (n == NGX_ERROR) ? -1 : (int64_t) n;
}


/* a jti of any length, as a key of bounded length */
static size_t
ngx_chat_users_jti_key(u_char *buf, const char *user, size_t len,
    const char *jti, size_t jti_len)
{
    size_t      n;
    u_char      digest[20], name[NGX_CHAT_USER_ID_MAX + 1 + 40];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, jti, jti_len);
    ngx_sha1_final(digest, &sha1);

    n = len;
    ngx_memcpy(name, user, n);
    name[n++] = ' ';
    n = ngx_hex_dump(name + n, digest, 20) - name;

    return ngx_chat_redis_name(buf, "jti:", (char *) name, n);
}


/* ---- the control channel ---- */

/*
 * "R <user> <second>": revoked; "J <user> <jti>": one token revoked;
 * "B <user> <until ms, 0: until lifted>": banned; "U <user>": unbanned.
 */
static void
ngx_chat_users_message(ngx_uint_t kind, const char *name, size_t len,
    const char *payload, size_t payload_len)
{
    u_char       op;
    const char  *user, *sp, *end;

    end = payload + payload_len;

    if (payload_len < 3 || payload[1] != ' ') {
        return;
    }

    op = payload[0];
    user = payload + 2;
    sp = (const char *) ngx_strlchr((u_char *) user, (u_char *) end, ' ');

    if (sp == NULL) {
        sp = end;
    }

    if (!ngx_chat_user_id_valid(user, sp - user)) {
        return;
    }

    ngx_chat_users_apply(op, user, sp - user, sp < end ? sp + 1 : end,
                         sp < end ? end - sp - 1 : 0);
}


static void
ngx_chat_users_apply(u_char op, const char *user, size_t len,
    const char *arg, size_t arg_len)
{
    ngx_int_t         n;
    ngx_chat_user_t  *u;

    n = 0;

    if (op != 'J' && op != 'U') {
        n = ngx_atoi((u_char *) arg, arg_len);
        if (n == NGX_ERROR) {
            return;
        }
    }

    if (op == 'J') {
        ngx_chat_users_close(user, len, op, 0, arg, arg_len);
        return;
    }

    u = ngx_chat_users_get(user, len, 1);
    if (u == NULL) {
        return;
    }

    switch (op) {

    case 'R':
        u->revoked = ngx_max(u->revoked, (time_t) n);
        break;

    case 'B':
        u->ban_until = n;
        break;

    case 'U':
        u->ban_until = -1;
        return;

    default:
        return;
    }

    ngx_chat_users_close(user, len, op, n, NULL, 0);
}


/* closes this worker's connections of the user that op concerns */
static void
ngx_chat_users_close(const char *user, size_t len, u_char op, int64_t arg,
    const char *jti, size_t jti_len)
{
    ngx_queue_t         *q, *next;
    ngx_chat_session_t  *s;

    for (q = ngx_queue_head(&ngx_chat_worker.sessions);
         q != ngx_queue_sentinel(&ngx_chat_worker.sessions);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_chat_session_t, queue);

        if (!s->authed || !ngx_chat_session_open(s) || s->user_len != len
            || ngx_memcmp(s->user, user, len) != 0)
        {
            continue;
        }

        if (op == 'B') {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "chat: connection of banned user \"%s\" closed",
                          s->user);
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_FORBIDDEN, "banned");
            continue;
        }

        if ((op == 'R' && (s->iat == 0 || s->iat <= arg))
            || (op == 'J' && s->jti_len == jti_len
                && ngx_memcmp(s->jti, jti, jti_len) == 0))
        {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "chat: connection of user \"%s\" closed: token "
                          "revoked", s->user);
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_AUTH_FAILED,
                                   "token revoked");
        }
    }
}


static void
ngx_chat_users_channel(ngx_uint_t kind, const char *name, size_t len)
{
    /* void */
}


/* subscribed anew, perhaps after missing changes: bans are read again */
static void
ngx_chat_users_up(void)
{
    (void) ngx_chat_redis_subscribe(NGX_CHAT_REDIS_USERS,
                                    NGX_CHAT_USERS_CHANNEL,
                                    sizeof(NGX_CHAT_USERS_CHANNEL) - 1);

    ngx_chat_users_alive_handler(&ngx_chat_users_alive);
    ngx_chat_users_load();
}


/* the bans in force, from PostgreSQL */
static void
ngx_chat_users_load(void)
{
    u_char       now[NGX_INT64_LEN];
    int          lengths[1];
    const char  *values[1];

    values[0] = (char *) now;
    lengths[0] = ngx_sprintf(now, "%L", ngx_chat_now_ms()) - now;

    if (ngx_chat_pg_query(ngx_chat_users_bans_sql, 1, values, lengths,
                          ngx_chat_users_loaded, NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                      "chat: global bans not loaded: no postgresql");
    }
}


static void
ngx_chat_users_loaded(void *data, PGresult *res, ngx_uint_t status)
{
    int                      i, n;
    char                    *user;
    size_t                   len;
    int64_t                  until;
    ngx_chat_user_t         *u;
    ngx_chat_users_change_t  ch;

    if (status != NGX_CHAT_PG_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_chat_worker.log, 0,
                      "chat: global bans not loaded");
        return;
    }

    /* bans known so far are marked -2 until the rows confirm them */
    ngx_chat_users_mark_bans(-1, -2);

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        user = PQgetvalue(res, i, 0);
        len = ngx_strlen(user);
        until = ngx_atoi((u_char *) PQgetvalue(res, i, 1),
                         ngx_strlen(PQgetvalue(res, i, 1)));

        if (!ngx_chat_user_id_valid(user, len) || until < 0) {
            continue;
        }

        u = ngx_chat_users_get(user, len, 1);
        if (u == NULL) {
            break;
        }

        if (u->ban_until == -1) {
            /* banned while this worker was not listening */
            ngx_chat_users_close(user, len, 'B', until, NULL, 0);
        }

        u->ban_until = until;

        /*
         * Redis may have lost it: written again, not announced (every
         * worker that missed changes loads them itself)
         */
        ngx_memzero(&ch, sizeof(ngx_chat_users_change_t));
        ch.until = until;
        ch.key_len = ngx_chat_redis_name(ch.key, "uban:", user, len);
        ch.value_len = ngx_sprintf(ch.value, "%L", until) - ch.value;

        (void) ngx_chat_users_store(&ch, 0);
    }

    /* and a ban lifted while this worker was not listening is gone */
    ngx_chat_users_mark_bans(-2, -1);
}


/* every ban of the cache (-1: every other entry) is marked "to" */
static void
ngx_chat_users_mark_bans(int64_t from, int64_t to)
{
    ngx_chat_user_t    *u;
    ngx_rbtree_node_t  *node;

    if (ngx_chat_users_tree.root == &ngx_chat_users_sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(ngx_chat_users_tree.root,
                               &ngx_chat_users_sentinel);
         node;
         node = ngx_rbtree_next(&ngx_chat_users_tree, node))
    {
        u = (ngx_chat_user_t *) node;

        if (from == -1 ? u->ban_until != -1 : u->ban_until == from) {
            u->ban_until = to;
        }
    }
}


/*
 * The key of ch written (or deleted) and its message published, in one
 * script.  ch->op NULL: nobody waits for it.
 */
static ngx_int_t
ngx_chat_users_store(ngx_chat_users_change_t *ch, ngx_uint_t del)
{
    size_t       argvlen[8];
    u_char       channel[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[8];

    if (ch->until > 0) {
        ch->pxat_len = ngx_sprintf(ch->pxat, "%L", ch->until) - ch->pxat;

    } else {
        ch->pxat[0] = '0';
        ch->pxat_len = 1;
    }

    ngx_chat_users_eval(argv, argvlen, ngx_chat_users_change_script,
                        sizeof(ngx_chat_users_change_script) - 1, "1");
    argv[3] = (char *) ch->key;
    argvlen[3] = ch->key_len;
    argv[4] = (char *) ch->value;
    argvlen[4] = del ? 0 : ch->value_len;
    argv[5] = (char *) ch->pxat;
    argvlen[5] = ch->pxat_len;
    argv[6] = (char *) channel;
    argvlen[6] = ngx_chat_redis_name(channel, "users:",
                                     NGX_CHAT_USERS_CHANNEL,
                                     sizeof(NGX_CHAT_USERS_CHANNEL) - 1);
    argv[7] = (char *) ch->payload;
    argvlen[7] = ch->payload_len;

    return ngx_chat_redis_command(8, argv, argvlen,
                                  ch->op ? ngx_chat_users_stored : NULL, ch,
                                  ngx_chat_worker.mcf->redis_timeout);
}


static void
ngx_chat_users_stored(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_users_change_t  *ch = data;

    ngx_chat_op_t  *op;

    op = ch->op;
    ngx_free(ch);

    if (rc != NGX_OK || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_chat_op_error(op, "unavailable",
                          "the change could not reach every host");
        return;
    }

    ngx_chat_op_ok(op, NULL);
}


/* ---- REST ---- */

static ngx_chat_users_change_t *
ngx_chat_users_change(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    ngx_chat_users_change_t  *ch;

    ch = ngx_calloc(sizeof(ngx_chat_users_change_t), r->connection->log);
    if (ch == NULL) {
        return NULL;
    }

    ch->op = ngx_chat_api_op(r, ctx, NULL, NGX_HTTP_NO_CONTENT);
    if (ch->op == NULL) {
        ngx_free(ch);
        return NULL;
    }

    ch->until = -1;

    return ch;
}


/*
 * POST /users/{user}/revoke, by the user or an admin: every token of the
 * user issued up to this second; with a body {"jti","exp"?}, only that
 * token (denied until its exp).
 */
ngx_int_t
ngx_chat_api_user_revoke(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    json_t                   *root, *jti, *exp;
    ngx_str_t                *user;
    long long                 until;
    ngx_chat_users_change_t  *ch;

    user = &ctx->user;

    if (!(ctx->auth.claims.roles & NGX_CHAT_ROLE_ADMIN)
        && (ngx_strlen(ctx->auth.claims.sub) != user->len
            || ngx_strncmp(ctx->auth.claims.sub, user->data, user->len)
               != 0))
    {
        return ngx_chat_http_error(r, "forbidden",
                                   "only the user or an admin may revoke "
                                   "the user's tokens");
    }

    root = NULL;
    jti = NULL;
    until = 0;

    if (ctx->body.len) {
        root = json_loadb((char *) ctx->body.data, ctx->body.len,
                          JSON_REJECT_DUPLICATES, NULL);
        jti = root ? json_object_get(root, "jti") : NULL;
        exp = root ? json_object_get(root, "exp") : NULL;

        if (!json_is_object(root) || !json_is_string(jti)
            || json_string_length(jti) == 0
            || json_string_length(jti) > NGX_CHAT_JWT_JTI_MAX
            || (exp && (!json_is_integer(exp)
                        || json_integer_value(exp) <= 0)))
        {
            json_decref(root);
            return ngx_chat_http_error(r, "bad_request",
                                       "the body is {\"jti\",\"exp\"?}: "
                                       "a token id and its exp in s");
        }

        until = exp ? json_integer_value(exp)
                    : ngx_time() + NGX_CHAT_USERS_JTI_TTL;
    }

    ch = ngx_chat_users_change(r, ctx);
    if (ch == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (jti) {
        ch->until = (int64_t) until * 1000;
        ch->key_len = ngx_chat_users_jti_key(ch->key, (char *) user->data,
                                             user->len,
                                             json_string_value(jti),
                                             json_string_length(jti));
        ch->value[0] = '1';
        ch->value_len = 1;
        ch->payload_len = ngx_sprintf(ch->payload, "J %V %*s", user,
                                      json_string_length(jti),
                                      json_string_value(jti))
                          - ch->payload;

    } else {
        ch->key_len = ngx_chat_redis_name(ch->key, "revoked:",
                                          (char *) user->data, user->len);
        ch->value_len = ngx_sprintf(ch->value, "%T", ngx_time())
                        - ch->value;
        ch->payload_len = ngx_sprintf(ch->payload, "R %V %*s", user,
                                      ch->value_len, ch->value)
                          - ch->payload;
    }

    json_decref(root);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "chat: \"%s\" revoked %s of user \"%V\"",
                  ctx->auth.claims.sub, jti ? "a token" : "the tokens",
                  user);

    ngx_chat_users_submit(ch, 0);

    return NGX_DONE;
}


/* POST /users/{user}/ban {"until"?,"reason"?}: admins only */
ngx_int_t
ngx_chat_api_user_ban(ngx_http_request_t *r, ngx_chat_api_ctx_t *ctx)
{
    int                       lengths[5];
    json_t                   *root, *until, *reason;
    int64_t                   at;
    u_char                    ms[2][NGX_INT64_LEN];
    const char               *values[5];
    ngx_chat_users_change_t  *ch;

    if (!(ctx->auth.claims.roles & NGX_CHAT_ROLE_ADMIN)) {
        return ngx_chat_http_error(r, "forbidden",
                                   "only an admin may ban a user");
    }

    at = ngx_chat_now_ms();
    root = NULL;
    until = NULL;
    reason = NULL;

    if (r->method == NGX_HTTP_POST && ctx->body.len) {
        root = json_loadb((char *) ctx->body.data, ctx->body.len,
                          JSON_REJECT_DUPLICATES, NULL);
        until = root ? json_object_get(root, "until") : NULL;
        reason = root ? json_object_get(root, "reason") : NULL;

        if (!json_is_object(root)
            || (until && (!json_is_integer(until)
                          || json_integer_value(until) <= at))
            || (reason && (!json_is_string(reason)
                           || json_string_length(reason) > 1024)))
        {
            json_decref(root);
            return ngx_chat_http_error(r, "bad_request",
                                       "the body is {\"until\"?,"
                                       "\"reason\"?}: until in ms, in the "
                                       "future; a reason of at most 1024 "
                                       "bytes");
        }
    }

    ch = ngx_chat_users_change(r, ctx);
    if (ch == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (char *) ctx->user.data;
    lengths[0] = ctx->user.len;
    ch->key_len = ngx_chat_redis_name(ch->key, "uban:",
                                      (char *) ctx->user.data,
                                      ctx->user.len);

    if (r->method == NGX_HTTP_DELETE) {
        ch->payload_len = ngx_sprintf(ch->payload, "U %V", &ctx->user)
                          - ch->payload;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "chat: \"%s\" lifted the global ban of \"%V\"",
                      ctx->auth.claims.sub, &ctx->user);

        return ngx_chat_users_query(ch, ngx_chat_users_unban_sql, 1, values,
                                    lengths);
    }

    ch->until = until ? (int64_t) json_integer_value(until) : 0;
    ch->value_len = ngx_sprintf(ch->value, "%L", ch->until) - ch->value;
    ch->payload_len = ngx_sprintf(ch->payload, "B %V %L", &ctx->user,
                                  ch->until)
                      - ch->payload;

    values[1] = until ? (char *) ms[0] : NULL;
    lengths[1] = until ? ngx_sprintf(ms[0], "%L", ch->until) - ms[0] : 0;
    values[2] = reason ? json_string_value(reason) : NULL;
    lengths[2] = reason ? json_string_length(reason) : 0;
    values[3] = ctx->auth.claims.sub;
    lengths[3] = ngx_strlen(ctx->auth.claims.sub);
    values[4] = (char *) ms[1];
    lengths[4] = ngx_sprintf(ms[1], "%L", at) - ms[1];

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "chat: \"%s\" banned \"%V\" globally until %s%*s",
                  ctx->auth.claims.sub, &ctx->user,
                  until ? "" : "lifted", (size_t) lengths[1], ms[0]);

    (void) ngx_chat_users_query(ch, ngx_chat_users_ban_sql, 5, values,
                                lengths);
    json_decref(root);

    return NGX_DONE;
}


/* ch's statement; once stored, its change goes to Redis */
static ngx_int_t
ngx_chat_users_query(ngx_chat_users_change_t *ch, const char *sql,
    int nparams, const char *const *values, const int *lengths)
{
    if (ngx_chat_pg_query(sql, nparams, values, lengths,
                          ngx_chat_users_banned, ch)
        != NGX_OK)
    {
        ngx_chat_op_error(ch->op, "unavailable",
                          "the store is unavailable");
        ngx_free(ch);
    }

    return NGX_DONE;
}


static void
ngx_chat_users_banned(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_users_change_t  *ch = data;

    if (ngx_chat_op_result(ch->op, status, res) != NGX_OK) {
        ngx_free(ch);
        return;
    }

    ngx_chat_users_submit(ch, ch->value_len == 0);
}


/* the change to Redis; its op is answered once every host can know it */
static void
ngx_chat_users_submit(ngx_chat_users_change_t *ch, ngx_uint_t del)
{
    if (ngx_chat_worker.mcf->redis_port == 0
        || ngx_chat_users_store(ch, del) != NGX_OK)
    {
        ngx_chat_op_error(ch->op, "unavailable", "redis is unavailable");
        ngx_free(ch);
    }
}


/* ---- the send rate ---- */

void
ngx_chat_users_send(ngx_chat_op_t *op, const ngx_chat_limit_t *lim,
    const ngx_chat_store_t *store, const char *name, size_t name_len,
    ngx_chat_request_t *req)
{
    int                     n;
    size_t                  argvlen[7];
    u_char                  key[NGX_CHAT_REDIS_KEY_MAX];
    u_char                  num[3][NGX_INT64_LEN];
    const char             *argv[7];
    ngx_chat_users_send_t  *p;

    if (lim->interval == 0) {
        store->send(op, name, name_len, req);
        return;
    }

    p = ngx_alloc(sizeof(ngx_chat_users_send_t), ngx_chat_worker.log);
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
        ngx_chat_users_rated(p, NGX_DECLINED, NULL);
        return;
    }

    ngx_chat_users_eval(argv, argvlen, ngx_chat_users_rate_script,
                        sizeof(ngx_chat_users_rate_script) - 1, "1");
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

    if (ngx_chat_redis_command(n, argv, argvlen, ngx_chat_users_rated, p,
                               ngx_chat_worker.mcf->redis_timeout)
        != NGX_OK)
    {
        ngx_chat_users_rated(p, NGX_DECLINED, NULL);
    }
}


static void
ngx_chat_users_rated(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_users_send_t  *p = data;

    uint64_t          wait;
    ngx_chat_user_t  *u;

    if (rc == NGX_OK && reply && reply->type == REDIS_REPLY_INTEGER) {
        ngx_chat_users_send_go(p, reply->integer > 0
                                  ? (uint64_t) reply->integer : 0);
        return;
    }

    /* Redis away: this worker counts the user's sends on its own */
    u = ngx_chat_users_get(p->op->user, p->op->user_len, 1);

    wait = u ? ngx_chat_limit_take(&u->send_tat,
                                   (uint64_t) ngx_current_msec * 1000 + 1,
                                   p->lim)
             : 0;

    ngx_chat_users_send_go(p, wait);
}


static void
ngx_chat_users_send_go(ngx_chat_users_send_t *p, uint64_t wait)
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
        ngx_chat_op_error(op, "rate_limited",
                          "too many messages from this user "
                          "(chat_user_send_rate)");

    } else {
        p->store->send(op, p->name, p->name_len, &p->req);
    }

    ngx_chat_request_free(&p->req);
    ngx_free(p);
}


/* ---- connections ---- */

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
        ngx_chat_users_uncount((char *) s->user, s->user_len);
    }
}


static void
ngx_chat_users_uncount(const char *user, size_t len)
{
    size_t       argvlen[5];
    u_char       key[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[5];

    ngx_chat_users_eval(argv, argvlen, ngx_chat_users_gone_script,
                        sizeof(ngx_chat_users_gone_script) - 1, "1");
    argv[3] = (char *) key;
    argvlen[3] = ngx_chat_redis_name(key, "conns:", user, len);
    argv[4] = (char *) ngx_chat_users_self;
    argvlen[4] = ngx_chat_users_self_len;

    /* Redis away: the count stays until this worker's "alive" key ends */
    (void) ngx_chat_redis_command(5, argv, argvlen, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);
}


/* this worker's connections count while it says so: one command a tick */
static void
ngx_chat_users_alive_handler(ngx_event_t *ev)
{
    size_t       argvlen[5];
    u_char       key[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[5];

    if (ngx_chat_users_exiting || !ngx_chat_worker.active
        || ngx_chat_worker.mcf->redis_port == 0)
    {
        return;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key;
    argvlen[1] = ngx_chat_redis_name(key, "alive:",
                                     (char *) ngx_chat_users_self,
                                     ngx_chat_users_self_len);
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = NGX_CHAT_USERS_ALIVE_TTL;
    argvlen[4] = sizeof(NGX_CHAT_USERS_ALIVE_TTL) - 1;

    (void) ngx_chat_redis_command(5, argv, argvlen, NULL, NULL,
                                  ngx_chat_worker.mcf->redis_timeout);

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, NGX_CHAT_USERS_ALIVE);

    ngx_chat_users_prune();
}


/* entries that only kept a fallback send rate, now refilled, go */
static void
ngx_chat_users_prune(void)
{
    uint64_t            now;
    ngx_chat_user_t    *u;
    ngx_rbtree_node_t  *node, *next;

    if (ngx_chat_users_tree.root == &ngx_chat_users_sentinel) {
        return;
    }

    now = (uint64_t) ngx_current_msec * 1000;

    for (node = ngx_rbtree_min(ngx_chat_users_tree.root,
                               &ngx_chat_users_sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(&ngx_chat_users_tree, node);
        u = (ngx_chat_user_t *) node;

        if (u->revoked == 0 && u->ban_until == -1 && u->send_tat <= now) {
            ngx_rbtree_delete(&ngx_chat_users_tree, node);
            ngx_free(u);
        }
    }
}


/* argv[0] to argv[2] of a script's EVAL: the script and its key count */
static void
ngx_chat_users_eval(const char **argv, size_t *argvlen, const char *script,
    size_t len, const char *nkeys)
{
    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = script;
    argvlen[1] = len;
    argv[2] = nkeys;
    argvlen[2] = 1;
}
