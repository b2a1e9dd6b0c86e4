/*
 * Users across the cluster: what a token is checked against when it is
 * presented, and how a change reaches every worker (protocol.md
 * section 8).  The REST calls that make the changes are in
 * ngx_chat_api_users.c; the per-user send rate and connections cap in
 * ngx_chat_user_limits.c.
 *
 * Redis holds "<prefix>revoked:<user>" (the second of the user's last
 * revocation), "<prefix>jti:<user> <sha1 of jti>" (a revoked token, until
 * its exp), "<prefix>sid:<user> <sha1 of sid>" (a revoked session of
 * chat_accounts: every token with that sid claim, until the last one's
 * exp) and "<prefix>uban:<user>" (a global ban's until in ms, 0: until
 * lifted; gone when it ends).  A token is checked against them with
 * one MGET when it is presented (with the connection count, when it opens
 * a connection); an authenticated connection costs nothing more.  Every
 * change is published on the one channel "<prefix>users:control", which
 * every worker of every host subscribes to: each closes its live
 * connections the change concerns, and keeps what it heard in a cache of
 * its own (a token whose MGET answer crossed the change on the way is
 * still refused; with Redis away, tokens are checked against the cache
 * alone).  The cache also holds the fallback send rate.
 *
 * Global bans are kept in PostgreSQL (chat_user_bans): each worker loads
 * them into its cache when it starts, and into its cache and Redis
 * whenever its pub/sub connection comes up, so a ban outlives a Redis
 * restart and holds while Redis is away.
 */

#include "ngx_chat.h"
#include "ngx_chat_users_int.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_session.h"
#include "ngx_chat_channel.h"
#include <ngx_sha1.h>


#define NGX_CHAT_USERS_CHANNEL   "control"


static ngx_int_t ngx_chat_users_refused(ngx_chat_auth_t *a,
    ngx_chat_user_t *u);
static int64_t ngx_chat_users_int(redisReply *r);
static void ngx_chat_users_message(ngx_uint_t kind, const char *name,
    size_t len, const char *payload, size_t payload_len);
static void ngx_chat_users_close(const char *user, size_t len, u_char op,
    int64_t arg, const char *jti, size_t jti_len);
static void ngx_chat_users_channel(ngx_uint_t kind, const char *name,
    size_t len);
static void ngx_chat_users_up(void);
static void ngx_chat_users_load(void);
static void ngx_chat_users_mark_bans(int64_t from, int64_t to);
static void ngx_chat_users_loaded(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_users_stored(void *data, ngx_int_t rc,
    redisReply *reply);


/*
 * KEYS[1]: the key; ARGV: its value ("" deletes it), the ms it expires
 * at ("0": never), the channel and the message ("": none), and on a
 * cluster "SPUBLISH" (the channel is sharded).  The key is written
 * before the message goes out: a token checked after the message is
 * checked against the key.
 */
static const char  ngx_chat_users_change_script[] =
    "if ARGV[1] == '' then redis.call('DEL', KEYS[1])\n"
    "elseif ARGV[2] ~= '0' then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])\n"
    "else redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call(ARGV[5] or 'PUBLISH', ARGV[3], ARGV[4])\n"
    "end\n"
    "return 1\n";

static const char  ngx_chat_users_bans_sql[] =
    "select user_id, coalesce(until, 0) from chat_user_bans "
    "where until is null or until > $1::bigint";


static const ngx_chat_redis_kind_t  ngx_chat_users_kind = {
    "users:",
    ngx_chat_users_message,
    ngx_chat_users_channel,
    ngx_chat_users_channel,
    ngx_chat_users_up,
    NULL,
    NULL
};


static ngx_rbtree_t       ngx_chat_users_tree;
static ngx_rbtree_node_t  ngx_chat_users_sentinel;
static ngx_uint_t         ngx_chat_users_exiting;


ngx_int_t
ngx_chat_users_init(ngx_cycle_t *cycle)
{
    ngx_rbtree_init(&ngx_chat_users_tree, &ngx_chat_users_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_chat_users_exiting = 0;

    ngx_chat_user_limits_init(cycle);

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
    ngx_rbtree_node_t  *node;

    ngx_chat_users_exiting = 1;

    ngx_chat_user_limits_exit();

    while (ngx_chat_users_tree.root != &ngx_chat_users_sentinel) {
        node = ngx_rbtree_min(ngx_chat_users_tree.root,
                              &ngx_chat_users_sentinel);
        ngx_rbtree_delete(&ngx_chat_users_tree, node);
        ngx_free(node);
    }
}


/* the user's entry in this worker's cache; create: made if there is none */
ngx_chat_user_t *
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

    /* one a connected user: its id's length, not the padded struct's */
    u = ngx_alloc(offsetof(ngx_chat_user_t, data) + len, ngx_chat_worker.log);
    if (u == NULL) {
        return NULL;
    }

    ngx_memzero(u, offsetof(ngx_chat_user_t, data));
    ngx_memcpy(u->data, user, len);
    u->sn.str.data = u->data;
    u->sn.str.len = len;
    u->sn.node.key = hash;
    u->ban_until = -1;

    ngx_rbtree_insert(&ngx_chat_users_tree, &u->sn.node);

    return u;
}


/* entries that only kept a fallback send rate, now refilled, go */
void
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


/* ---- tokens ---- */

ngx_int_t
ngx_chat_users_auth(ngx_chat_auth_t *a)
{
    size_t                  argvlen[5];
    u_char                  keys[4][NGX_CHAT_REDIS_KEY_MAX];
    const char             *argv[5];
    ngx_uint_t              i;
    ngx_chat_user_t        *u;
    ngx_chat_main_conf_t   *mcf;

    mcf = ngx_chat_worker.mcf;
    u = ngx_chat_users_get(a->claims.sub, ngx_strlen(a->claims.sub), 0);

    if (ngx_chat_users_refused(a, u) != NGX_OK || mcf->redis_port == 0) {
        a->handler(a, (a->banned || a->revoked) ? NULL : &a->claims);
        return NGX_OK;
    }

    /* a connection counted: the script of the loop tick's connections */
    a->connection = (a->connection && mcf->user_conns_max);

    if (a->connection) {
        ngx_chat_user_limits_count(a);
        return NGX_AGAIN;
    }

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < 4; i++) {
        argv[i + 1] = (char *) keys[i];
    }

    ngx_chat_users_token_keys(a, keys, &argvlen[1]);

    if (ngx_chat_redis_command(5, argv, argvlen, ngx_chat_users_checked, a,
                               mcf->redis_timeout)
        != NGX_OK)
    {
        ngx_chat_users_unchecked(a);
        return NGX_OK;
    }

    return NGX_AGAIN;
}


/* Redis away: what this worker heard decides (see above) */
void
ngx_chat_users_unchecked(ngx_chat_auth_t *a)
{
    ngx_log_error(NGX_LOG_WARN, a->log, 0,
                  "chat: token of \"%s\" checked without redis",
                  a->claims.sub);
    a->handler(a, &a->claims);
}


/* the four keys a token is checked against, and their lengths */
void
ngx_chat_users_token_keys(ngx_chat_auth_t *a,
    u_char (*keys)[NGX_CHAT_REDIS_KEY_MAX], size_t *lens)
{
    size_t  len;

    len = ngx_strlen(a->claims.sub);

    lens[0] = ngx_chat_redis_name(keys[0], "revoked:", a->claims.sub, len);
    lens[1] = ngx_chat_redis_name(keys[1], "uban:", a->claims.sub, len);

    /* without a jti (or sid), a key no jti (or sid) has */
    lens[2] = a->claims.jti[0]
        ? ngx_chat_users_jti_key(keys[2], "jti:", a->claims.sub, len,
                                 a->claims.jti, ngx_strlen(a->claims.jti))
        : ngx_chat_redis_name(keys[2], "jti:", "", 0);

    lens[3] = a->claims.sid[0]
        ? ngx_chat_users_jti_key(keys[3], "sid:", a->claims.sub, len,
                                 a->claims.sid, ngx_strlen(a->claims.sid))
        : ngx_chat_redis_name(keys[3], "sid:", "", 0);
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


/*
 * The MGET's answer, or one connection's of the count script: the same
 * four values and whether it counted the connection, or that count alone
 * (an integer) when none of the token's four keys exists, as for nearly
 * every connection: no array of nils for Redis to build and hiredis to
 * allocate.
 */
void
ngx_chat_users_checked(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_auth_t  *a = data;

    int64_t           until, revoked, count;
    const char       *gone;
    ngx_chat_user_t   tmp, *u;

    u = ngx_chat_users_get(a->claims.sub, ngx_strlen(a->claims.sub), 0);

    if (rc == NGX_OK && reply && reply->type == REDIS_REPLY_INTEGER
        && a->connection)
    {
        revoked = -1;
        until = -1;
        gone = NULL;
        count = reply->integer;

    } else if (rc == NGX_OK && reply && reply->type == REDIS_REPLY_ARRAY
               && reply->elements >= 2)
    {
        revoked = ngx_chat_users_int(reply->element[0]);
        until = ngx_chat_users_int(reply->element[1]);

        gone = NULL;

        if (reply->elements > 3) {
            if (reply->element[2]->type == REDIS_REPLY_STRING) {
                gone = "jti";

            } else if (reply->element[3]->type == REDIS_REPLY_STRING) {
                gone = "session";
            }
        }

        count = (reply->elements > 4
                 && reply->element[4]->type == REDIS_REPLY_INTEGER)
                ? reply->element[4]->integer : -1;

    } else {
        ngx_log_error(NGX_LOG_WARN, a->log, 0,
                      "chat: token of \"%s\" checked without redis",
                      a->claims.sub);
        (void) ngx_chat_users_refused(a, u);
        goto done;
    }

    /* what Redis says, and what this worker heard meanwhile */
    ngx_memzero(&tmp, sizeof(ngx_chat_user_t));
    tmp.revoked = (time_t) ngx_max(revoked, 0);

    if (u && u->revoked > tmp.revoked) {
        tmp.revoked = u->revoked;
    }

    tmp.ban_until = (until >= 0) ? until : (u ? u->ban_until : -1);

    if (ngx_chat_users_refused(a, &tmp) == NGX_OK && gone) {
        a->revoked = 1;
        ngx_log_error(NGX_LOG_INFO, a->log, 0,
                      "chat: token of user \"%s\" rejected: %s revoked",
                      a->claims.sub, gone);
    }

    if (a->connection && count >= 0) {
        a->counted = (count == 1);

        if (!a->counted && !a->banned && !a->revoked) {
            a->crowded = 1;
            ngx_log_error(NGX_LOG_INFO, a->log, 0,
                          "chat: token of user \"%s\" rejected: "
                          "chat_user_connections_max reached",
                          a->claims.sub);
        }

        if (a->counted && (a->banned || a->revoked)) {
            ngx_chat_user_limits_uncount(a->claims.sub,
                                         ngx_strlen(a->claims.sub));
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


/* a jti (or sid) of any length, as a key of bounded length */
size_t
ngx_chat_users_jti_key(u_char *buf, const char *kind, const char *user,
    size_t len, const char *jti, size_t jti_len)
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

    return ngx_chat_redis_name(buf, kind, (char *) name, n);
}


/* ---- the control channel ---- */

/* the payload's grammar: ngx_chat_channel_control_parse() */
static void
ngx_chat_users_message(ngx_uint_t kind, const char *name, size_t len,
    const char *payload, size_t payload_len)
{
    ngx_chat_user_t             *u;
    ngx_chat_channel_control_t   c;

    if (ngx_chat_channel_control_parse(payload, payload_len, &c) != 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "chat: malformed message on the users channel "
                      "ignored");
        return;
    }

    if (c.op == 'J' || c.op == 'S') {
        ngx_chat_users_close(c.user, c.user_len, c.op, 0, c.arg, c.arg_len);
        return;
    }

    u = ngx_chat_users_get(c.user, c.user_len, 1);
    if (u == NULL) {
        return;
    }

    switch (c.op) {

    case 'R':
        u->revoked = ngx_max(u->revoked, (time_t) c.n);
        break;

    case 'B':
        u->ban_until = c.n;
        break;

    default: /* 'U' */
        u->ban_until = -1;
        return;
    }

    ngx_chat_users_close(c.user, c.user_len, c.op, c.n, NULL, 0);
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
                && ngx_memcmp(ngx_chat_session_jti(s), jti, jti_len) == 0)
            || (op == 'S' && jti_len && s->sid_len == jti_len
                && ngx_memcmp(ngx_chat_session_sid(s), jti, jti_len) == 0))
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

    ngx_chat_user_limits_alive();
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
ngx_int_t
ngx_chat_users_store(ngx_chat_users_change_t *ch, ngx_uint_t del)
{
    size_t       argvlen[9];
    u_char       channel[NGX_CHAT_REDIS_KEY_MAX];
    const char  *argv[9];

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
    argv[8] = "SPUBLISH";
    argvlen[8] = 8;

    return ngx_chat_redis_command(ngx_chat_redis_clustered() ? 9 : 8,
                                  argv, argvlen,
                                  ch->op ? ngx_chat_users_stored : NULL, ch,
                                  ngx_chat_worker.mcf->redis_timeout);
}


static void
ngx_chat_users_stored(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_users_change_t  *ch = data;

    ngx_chat_op_t  *op;
    const char     *refusal;

    op = ch->op;
    refusal = ch->refusal;
    ngx_free(ch);

    if (rc != NGX_OK || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_chat_op_error(op, "unavailable",
                          "the change could not reach every host");
        return;
    }

    if (refusal) {
        ngx_chat_op_error(op, "unauthenticated", refusal);
        return;
    }

    ngx_chat_op_ok(op, NULL);
}


/* argv[0] to argv[2] of a script's EVAL: the script and its key count */
void
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
