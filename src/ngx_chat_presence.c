/*
 * Presence (protocol.md section 8), kept in Redis for the whole cluster.
 *
 * Each worker counts, in memory, its authenticated connections per user
 * ("u <user>") and its joined connections per user and room ("r <kind>
 * <room> <user>", kind being the room channel's kind prefix: a room of
 * each store is a stream of its own).  Only a count going from 0 to 1 or
 * back to 0 goes to Redis: the changes of one loop tick in one script.
 *
 * In Redis, a worker is an instance id with an expiry in the sorted set
 * "presence:workers": its entries count while it has not expired.  The
 * user's set "presence:user:<user>" and the room's set
 * "presence:<kind><room>" ("<user> <id>") name the instances that hold
 * them, and "presence:worker:<id>" lists an instance's entries, so that
 * whoever finds it expired removes them.  The script decides the
 * cluster-wide transitions with every live instance in view, and
 * publishes a room's presence events on its channel itself, so that they
 * go out in the order the transitions happened (as "0 @<user>\n<json>":
 * the user's own connections do not get them).
 *
 * An idle worker costs one script per chat_presence_ttl / 4, whatever its
 * number of connections: the beat pushes its expiry to 3/4 of the TTL
 * ahead and removes the instances that expired (at most 16 a time), so a
 * host that dies leaves its users online no longer than the TTL.
 *
 * When the worker cannot tell what Redis holds of it (a script failed,
 * Redis lost its data, or others found it expired), it takes a new
 * instance id, writes all its entries under that, and retires the old
 * one: the script sees no transition for what both hold.
 */

#include "ngx_chat.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_op.h"
#include "ngx_chat_store.h"


#define NGX_CHAT_PRESENCE_ID_LEN    32
#define NGX_CHAT_PRESENCE_CHUNK     500     /* changes per script */
#define NGX_CHAT_PRESENCE_RETIRE    8       /* old ids kept to retire */
#define NGX_CHAT_PRESENCE_RETRY     1000    /* ms, after a failure */

/* "r", kind, room and user, spaces between */
#define NGX_CHAT_PRESENCE_KEY_MAX                                             \
    (2 + 16 + 1 + NGX_CHAT_ROOM_ID_MAX + 1 + NGX_CHAT_USER_ID_MAX)


typedef struct ngx_chat_presence_entry_s  ngx_chat_presence_entry_t;

struct ngx_chat_presence_entry_s {
    ngx_chat_presence_entry_t  *next;
    ngx_uint_t                  hash;
    ngx_uint_t                  count;
    size_t                      len;
    u_char                      key[1];
};


typedef struct {
    ngx_chat_presence_entry_t **buckets;
    ngx_uint_t                  nbuckets;
    ngx_uint_t                  nentries;

    /* changes not sent yet: "+key\0" or "-key\0" */
    u_char                     *ops;
    size_t                      ops_len;
    size_t                      ops_cap;
    ngx_uint_t                  nops;

    ngx_event_t                 flush;
    ngx_event_t                 beat;

    u_char                      id[NGX_CHAT_PRESENCE_ID_LEN];
    size_t                      id_len;
    ngx_uint_t                  gen;        /* of the id */
    u_char                      retire[NGX_CHAT_PRESENCE_RETIRE]
                                      [NGX_CHAT_PRESENCE_ID_LEN];
    size_t                      retire_len[NGX_CHAT_PRESENCE_RETIRE];
    ngx_uint_t                  nretire;

    ngx_msec_t                  interval;   /* of the beats */
    u_char                      expiry[NGX_INT_T_LEN];
    size_t                      expiry_len;

    unsigned                    answered:1; /* Redis has seen the id */
    unsigned                    dirty:1;    /* Redis may be wrong */
    unsigned                    active:1;
} ngx_chat_presence_t;


/* a lookup of users waiting for Redis */
typedef struct {
    ngx_chat_presence_state_t     *users;
    ngx_uint_t                     n;
    ngx_chat_presence_handler_pt   handler;
    void                          *data;
} ngx_chat_presence_lookup_t;


static void ngx_chat_presence_user(const u_char *user, size_t len,
    ngx_int_t delta);
static void ngx_chat_presence_in_room(ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len, ngx_int_t delta);
static void ngx_chat_presence_move(u_char *key, size_t len,
    ngx_int_t delta);
static ngx_int_t ngx_chat_presence_count(u_char *key, size_t len,
    ngx_int_t delta);
static void ngx_chat_presence_grow(void);
static void ngx_chat_presence_change(u_char sign, u_char *key, size_t len);
static void ngx_chat_presence_flush(ngx_event_t *ev);
static ngx_int_t ngx_chat_presence_send_ops(void);
static ngx_int_t ngx_chat_presence_eval(const char *mode, ngx_uint_t n,
    const char **args, size_t *lens, ngx_chat_redis_reply_pt handler,
    void *data);
static void ngx_chat_presence_answered(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_presence_beat(ngx_event_t *ev);
static ngx_int_t ngx_chat_presence_send_beat(ngx_uint_t self);
static void ngx_chat_presence_new_id(void);
static void ngx_chat_presence_resync(void);
static void ngx_chat_presence_failed(void);
static size_t ngx_chat_presence_room_key(u_char *key, ngx_uint_t store,
    const char *room, size_t room_len, const u_char *user, size_t user_len);
static void ngx_chat_presence_users_done(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_presence_checked(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_presence_room(ngx_chat_op_t *op);
static void ngx_chat_presence_room_done(void *data, ngx_int_t rc,
    redisReply *reply);


/*
 * ARGV: the key prefix, the mode, then the mode's own.  Times are Redis's,
 * so that the hosts' clocks do not matter.
 *   ops id expiry (sign entry)...: the changes of instance id
 *   beat id expiry retired...: the instance lives on; the retired ids
 *     and the instances expired go, with what they held
 *   users user...: online (1/0) and last_seen (-1: never) of each
 *   room kind room: the users present in the room
 * ops and beat answer 1 when the instance was not known to Redis.
 */
static const char  ngx_chat_presence_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local p, mode = ARGV[1], ARGV[2]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local workers = p .. 'presence:workers'\n"
    "local live = {}\n"
    "for _, w in ipairs(redis.call('ZRANGEBYSCORE', workers,\n"
    "                              '(' .. now, '+inf')) do\n"
    "  live[w] = true\n"
    "end\n"
    "local function held(key, m)\n"
    "  for w in pairs(live) do\n"
    "    if redis.call('SISMEMBER', key, m .. w) == 1 then return true end\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local function event(kind, room, user, state)\n"
    "  redis.call('PUBLISH', p .. kind .. room, '0 @' .. user\n"
    "    .. '\\n{\"type\":\"presence\",'\n"
    "    .. '\"room\":\"' .. room .. '\",\"user\":\"' .. user\n"
    "    .. '\",\"state\":\"' .. state .. '\"}')\n"
    "end\n"
    "local function change(w, e, add, seen)\n"
    "  local kind, room, user = string.match(e, '^r (%S+) (%S+) (%S+)$')\n"
    "  local key, m\n"
    "  if kind then\n"
    "    key, m = p .. 'presence:' .. kind .. room, user .. ' '\n"
    "  else\n"
    "    user = string.sub(e, 3)\n"
    "    key, m = p .. 'presence:user:' .. user, ''\n"
    "  end\n"
    "  if add then\n"
    "    local was = held(key, m)\n"
    "    redis.call('SADD', key, m .. w)\n"
    "    redis.call('SADD', p .. 'presence:worker:' .. w, e)\n"
    "    if kind and not was then event(kind, room, user, 'online') end\n"
    "    return\n"
    "  end\n"
    "  redis.call('SREM', key, m .. w)\n"
    "  redis.call('SREM', p .. 'presence:worker:' .. w, e)\n"
    "  if held(key, m) then return end\n"
    "  if kind then\n"
    "    event(kind, room, user, 'offline')\n"
    "  else\n"
    "    redis.call('HSET', p .. 'presence:seen', user, seen)\n"
    "  end\n"
    "end\n"
    "local function retire(w, seen)\n"
    "  live[w] = nil\n"
    "  local beats = p .. 'presence:beats'\n"
    "  seen = seen or tonumber(redis.call('HGET', beats, w)) or now\n"
    "  local key = p .. 'presence:worker:' .. w\n"
    "  for _, e in ipairs(redis.call('SMEMBERS', key)) do\n"
    "    change(w, e, false, seen)\n"
    "  end\n"
    "  redis.call('DEL', key)\n"
    "  redis.call('ZREM', workers, w)\n"
    "  redis.call('HDEL', beats, w)\n"
    "end\n"
    "if mode == 'ops' or mode == 'beat' then\n"
    "  local w = ARGV[3]\n"
    "  local fresh = redis.call('ZADD', workers, now + tonumber(ARGV[4]), w)\n"
    "  redis.call('HSET', p .. 'presence:beats', w, now)\n"
    "  live[w] = true\n"
    "  if mode == 'ops' then\n"
    "    for i = 5, #ARGV, 2 do\n"
    "      change(w, ARGV[i + 1], ARGV[i] == '+', now)\n"
    "    end\n"
    "    return fresh\n"
    "  end\n"
    "  for i = 5, #ARGV do\n"
    "    if ARGV[i] == w then fresh = 0 end\n"
    "    retire(ARGV[i], now)\n"
    "  end\n"
    "  for _, d in ipairs(redis.call('ZRANGEBYSCORE', workers, '-inf', now,\n"
    "                               'LIMIT', 0, 16)) do\n"
    "    retire(d)\n"
    "  end\n"
    "  return fresh\n"
    "end\n"
    "local out = {}\n"
    "if mode == 'users' then\n"
    "  for i = 3, #ARGV do\n"
    "    if held(p .. 'presence:user:' .. ARGV[i], '') then\n"
    "      out[#out + 1] = 1\n"
    "      out[#out + 1] = now\n"
    "    else\n"
    "      out[#out + 1] = 0\n"
    "      out[#out + 1] = tonumber(redis.call('HGET', p .. 'presence:seen',\n"
    "                                          ARGV[i]) or '-1')\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local seen = {}\n"
    "local key = p .. 'presence:' .. ARGV[3] .. ARGV[4]\n"
    "for _, m in ipairs(redis.call('SMEMBERS', key)) do\n"
    "  local u, w = string.match(m, '^(%S+) (%S+)$')\n"
    "  if u and live[w] and not seen[u] then\n"
    "    seen[u] = true\n"
    "    out[#out + 1] = u\n"
    "  end\n"
    "end\n"
    "table.sort(out)\n"
    "return out\n";


static ngx_chat_presence_t  ngx_chat_presence;


ngx_int_t
ngx_chat_presence_init(ngx_cycle_t *cycle)
{
    ngx_msec_t            ttl;
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;
    ngx_memzero(pr, sizeof(ngx_chat_presence_t));

    pr->nbuckets = 1024;
    pr->buckets = ngx_calloc(pr->nbuckets * sizeof(void *), cycle->log);
    if (pr->buckets == NULL) {
        return NGX_ERROR;
    }

    /* beats every TTL / 4, each valid for the 3/4 left */
    ttl = ngx_chat_worker.mcf->presence_ttl;
    pr->interval = ttl / 4;
    pr->expiry_len = ngx_sprintf(pr->expiry, "%M", ttl - pr->interval)
                     - pr->expiry;

    pr->flush.handler = ngx_chat_presence_flush;
    pr->flush.log = cycle->log;

    pr->beat.handler = ngx_chat_presence_beat;
    pr->beat.log = cycle->log;
    pr->beat.cancelable = 1;

    ngx_chat_presence_new_id();
    pr->active = 1;

    /* the first beat once Redis had time to connect */
    ngx_add_timer(&pr->beat, 100);

    return NGX_OK;
}


/* the worker leaves: its users and rooms go with it, at once */
void
ngx_chat_presence_exit(void)
{
    ngx_uint_t                  i;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_entry_t  *e, *next;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL) {
        return;
    }

    pr->active = 0;

    if (pr->flush.posted) {
        ngx_delete_posted_event(&pr->flush);
    }

    if (pr->beat.timer_set) {
        ngx_del_timer(&pr->beat);
    }

    (void) ngx_chat_presence_send_beat(1);

    for (i = 0; i < pr->nbuckets; i++) {
        for (e = pr->buckets[i]; e; e = next) {
            next = e->next;
            ngx_free(e);
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = NULL;

    if (pr->ops) {
        ngx_free(pr->ops);
        pr->ops = NULL;
    }
}


void
ngx_chat_presence_online(const u_char *user, size_t len)
{
    ngx_chat_presence_user(user, len, 1);
}


void
ngx_chat_presence_offline(const u_char *user, size_t len)
{
    ngx_chat_presence_user(user, len, -1);
}


void
ngx_chat_presence_enter(ngx_uint_t store, const char *room, size_t room_len,
    const u_char *user, size_t user_len)
{
    ngx_chat_presence_in_room(store, room, room_len, user, user_len, 1);
}


void
ngx_chat_presence_leave(ngx_uint_t store, const char *room, size_t room_len,
    const u_char *user, size_t user_len)
{
    ngx_chat_presence_in_room(store, room, room_len, user, user_len, -1);
}


static void
ngx_chat_presence_user(const u_char *user, size_t len, ngx_int_t delta)
{
    u_char  key[NGX_CHAT_PRESENCE_KEY_MAX];

    key[0] = 'u';
    key[1] = ' ';
    ngx_memcpy(key + 2, user, len);

    ngx_chat_presence_move(key, len + 2, delta);
}


static void
ngx_chat_presence_in_room(ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len, ngx_int_t delta)
{
    size_t  n;
    u_char  key[NGX_CHAT_PRESENCE_KEY_MAX];

    n = ngx_chat_presence_room_key(key, store, room, room_len, user,
                                   user_len);

    ngx_chat_presence_move(key, n, delta);
}


/* a count reaching 1 or going back to 0 is news for Redis */
static void
ngx_chat_presence_move(u_char *key, size_t len, ngx_int_t delta)
{
    /* a worker that exits retires all it holds at once */
    if (!ngx_chat_worker.active) {
        return;
    }

    if (ngx_chat_presence_count(key, len, delta) == (delta > 0 ? 1 : 0)) {
        ngx_chat_presence_change(delta > 0 ? '+' : '-', key, len);
    }
}


static size_t
ngx_chat_presence_room_key(u_char *key, ngx_uint_t store, const char *room,
    size_t room_len, const u_char *user, size_t user_len)
{
    u_char      *p;
    const char  *kind;

    kind = ngx_chat_redis_kind_prefix(store);

    p = ngx_cpymem(key, "r ", 2);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));
    *p++ = ' ';
    p = ngx_cpymem(p, room, room_len);
    *p++ = ' ';
    p = ngx_cpymem(p, user, user_len);

    return p - key;
}


/*
 * The worker's count of key moves by delta; returns the new count, or -1
 * (out of memory: that connection is not counted).
 */
static ngx_int_t
ngx_chat_presence_count(u_char *key, size_t len, ngx_int_t delta)
{
    ngx_uint_t                   hash;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_entry_t   *e, **pe;

    pr = &ngx_chat_presence;

    if (pr->buckets == NULL || !pr->active) {
        return -1;
    }

    hash = ngx_hash_key(key, len);

    for (pe = &pr->buckets[hash % pr->nbuckets]; *pe; pe = &(*pe)->next) {
        e = *pe;

        if (e->hash != hash || e->len != len
            || ngx_memcmp(e->key, key, len) != 0)
        {
            continue;
        }

        e->count += delta;

        if (e->count == 0) {
            *pe = e->next;
            ngx_free(e);
            pr->nentries--;
            return 0;
        }

        return e->count;
    }

    if (delta < 0) {
        return -1;
    }

    e = ngx_alloc(sizeof(ngx_chat_presence_entry_t) + len,
                  ngx_chat_worker.log);
    if (e == NULL) {
        return -1;
    }

    if (pr->nentries >= 2 * pr->nbuckets) {
        ngx_chat_presence_grow();
    }

    e->hash = hash;
    e->count = 1;
    e->len = len;
    ngx_memcpy(e->key, key, len);
    e->next = pr->buckets[hash % pr->nbuckets];
    pr->buckets[hash % pr->nbuckets] = e;
    pr->nentries++;

    return 1;
}


/* chains stay short: twice the buckets when there are twice as many keys */
static void
ngx_chat_presence_grow(void)
{
    ngx_uint_t                   i, n;
    ngx_chat_presence_t         *pr;
    ngx_chat_presence_entry_t   *e, *next, **b;

    pr = &ngx_chat_presence;
    n = 2 * pr->nbuckets;

    b = ngx_calloc(n * sizeof(void *), ngx_chat_worker.log);
    if (b == NULL) {
        return;
    }

    for (i = 0; i < pr->nbuckets; i++) {
        for (e = pr->buckets[i]; e; e = next) {
            next = e->next;
            e->next = b[e->hash % n];
            b[e->hash % n] = e;
        }
    }

    ngx_free(pr->buckets);
    pr->buckets = b;
    pr->nbuckets = n;
}


/* a change for Redis, sent with the others of this loop tick */
static void
ngx_chat_presence_change(u_char sign, u_char *key, size_t len)
{
    u_char               *ops;
    size_t                cap;
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    if (pr->ops_len + len + 2 > pr->ops_cap) {
        cap = ngx_max(2 * pr->ops_cap, pr->ops_len + len + 2 + 4096);

        ops = ngx_alloc(cap, ngx_chat_worker.log);
        if (ops == NULL) {
            pr->dirty = 1;
            return;
        }

        if (pr->ops) {
            ngx_memcpy(ops, pr->ops, pr->ops_len);
            ngx_free(pr->ops);
        }

        pr->ops = ops;
        pr->ops_cap = cap;
    }

    pr->ops[pr->ops_len++] = sign;
    ngx_memcpy(pr->ops + pr->ops_len, key, len);
    pr->ops_len += len;
    pr->ops[pr->ops_len++] = '\0';
    pr->nops++;

    if (!pr->flush.posted) {
        ngx_post_event(&pr->flush, &ngx_posted_events);
    }
}


static void
ngx_chat_presence_flush(ngx_event_t *ev)
{
    if (ngx_chat_presence_send_ops() != NGX_OK) {
        ngx_chat_presence_failed();
    }
}


/* the changes waiting, in scripts of NGX_CHAT_PRESENCE_CHUNK */
static ngx_int_t
ngx_chat_presence_send_ops(void)
{
    u_char               *p, *last;
    size_t               *lens;
    ngx_int_t             rc;
    ngx_uint_t            n, max;
    const char          **args;
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    if (pr->nops == 0) {
        return NGX_OK;
    }

    max = 2 + 2 * ngx_min(pr->nops, NGX_CHAT_PRESENCE_CHUNK);

    args = ngx_alloc(max * (sizeof(char *) + sizeof(size_t)),
                     ngx_chat_worker.log);
    if (args == NULL) {
        return NGX_ERROR;
    }

    lens = (size_t *) (args + max);

    p = pr->ops;
    last = pr->ops + pr->ops_len;
    rc = NGX_OK;

    while (p < last && rc == NGX_OK) {
        args[0] = (char *) pr->id;
        lens[0] = pr->id_len;
        args[1] = (char *) pr->expiry;
        lens[1] = pr->expiry_len;

        for (n = 2; n < max && p < last; n += 2) {
            args[n] = (*p == '+') ? "+" : "-";
            lens[n] = 1;
            args[n + 1] = (char *) p + 1;
            lens[n + 1] = ngx_strlen(p + 1);
            p += lens[n + 1] + 2;
        }

        rc = ngx_chat_presence_eval("ops", n, args, lens,
                                    ngx_chat_presence_answered,
                                    (void *) pr->gen);
    }

    ngx_free(args);

    pr->ops_len = 0;
    pr->nops = 0;

    return rc;
}


/* EVAL of the script in mode with the args after it */
static ngx_int_t
ngx_chat_presence_eval(const char *mode, ngx_uint_t n, const char **args,
    size_t *lens, ngx_chat_redis_reply_pt handler, void *data)
{
    size_t       *len;
    ngx_int_t     rc;
    ngx_uint_t    i;
    const char  **argv;
    ngx_str_t    *prefix;

    argv = ngx_alloc((n + 5) * (sizeof(char *) + sizeof(size_t)),
                     ngx_chat_worker.log);
    if (argv == NULL) {
        return NGX_ERROR;
    }

    len = (size_t *) (argv + n + 5);
    prefix = &ngx_chat_worker.mcf->redis_prefix;

    argv[0] = "EVAL";
    len[0] = 4;
    argv[1] = ngx_chat_presence_script;
    len[1] = sizeof(ngx_chat_presence_script) - 1;
    argv[2] = "0";
    len[2] = 1;
    argv[3] = (char *) prefix->data;
    len[3] = prefix->len;
    argv[4] = mode;
    len[4] = ngx_strlen(mode);

    for (i = 0; i < n; i++) {
        argv[5 + i] = args[i];
        len[5 + i] = lens[i];
    }

    rc = ngx_chat_redis_command(n + 5, argv, len, handler, data,
                                ngx_chat_worker.mcf->redis_timeout);

    ngx_free(argv);

    return rc;
}


/* the answer to changes or a beat of the instance of generation data */
static void
ngx_chat_presence_answered(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_uint_t            gen = (ngx_uint_t) data;
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    if (!pr->active || gen != pr->gen) {
        return;
    }

    if (rc != NGX_OK || reply->type != REDIS_REPLY_INTEGER) {
        if (rc == NGX_OK && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_chat_worker.log, 0,
                          "chat: redis refused a presence script: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_chat_presence_failed();
        return;
    }

    /* known before, and now new to Redis: what it held of us is gone */
    if (reply->integer == 1 && pr->answered) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_worker.log, 0,
                      "chat: redis lost this worker's presence, "
                      "writing it again");
        pr->dirty = 1;
        ngx_chat_presence_resync();
        return;
    }

    pr->answered = 1;
}


/* Redis may not hold what it should: all of it is written again soon */
static void
ngx_chat_presence_failed(void)
{
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    pr->dirty = 1;
    pr->ops_len = 0;
    pr->nops = 0;

    if (pr->active) {
        ngx_add_timer(&pr->beat, NGX_CHAT_PRESENCE_RETRY);
    }
}


static void
ngx_chat_presence_beat(ngx_event_t *ev)
{
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    if (pr->dirty) {
        ngx_chat_presence_resync();

    } else if (ngx_chat_presence_send_beat(0) != NGX_OK) {
        /* Redis is away: what was not sent meanwhile is lost */
        pr->dirty = (pr->nentries != 0);
    }

    if (pr->active && !pr->beat.timer_set) {
        ngx_add_timer(&pr->beat, pr->dirty ? NGX_CHAT_PRESENCE_RETRY
                                           : pr->interval);
    }
}


/* the instance lives on (self: it leaves), and the retired ids go */
static ngx_int_t
ngx_chat_presence_send_beat(ngx_uint_t self)
{
    size_t                lens[3 + NGX_CHAT_PRESENCE_RETIRE];
    ngx_int_t             rc;
    ngx_uint_t            i, n;
    const char           *args[3 + NGX_CHAT_PRESENCE_RETIRE];
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    args[0] = (char *) pr->id;
    lens[0] = pr->id_len;
    args[1] = (char *) pr->expiry;
    lens[1] = pr->expiry_len;
    n = 2;

    for (i = 0; i < pr->nretire; i++) {
        args[n] = (char *) pr->retire[i];
        lens[n++] = pr->retire_len[i];
    }

    if (self) {
        args[n] = (char *) pr->id;
        lens[n++] = pr->id_len;
    }

    rc = ngx_chat_presence_eval("beat", n, args, lens,
                                self ? NULL : ngx_chat_presence_answered,
                                (void *) pr->gen);

    if (rc == NGX_OK) {
        pr->nretire = 0;
    }

    return rc;
}


static void
ngx_chat_presence_new_id(void)
{
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    pr->id_len = ngx_sprintf(pr->id, "%P-%08xD%08xD", ngx_pid,
                             (uint32_t) ngx_random(), (uint32_t) ngx_random())
                 - pr->id;
    pr->gen++;
    pr->answered = 0;
}


/*
 * Everything again under a new id, then the old one retired: the users
 * and rooms held under both see no transition, those only under the old
 * one go offline.
 */
static void
ngx_chat_presence_resync(void)
{
    ngx_uint_t                  i;
    ngx_chat_presence_t        *pr;
    ngx_chat_presence_entry_t  *e;

    pr = &ngx_chat_presence;

    if (!ngx_chat_redis_up()) {
        return;
    }

    if (pr->nretire == NGX_CHAT_PRESENCE_RETIRE) {
        /* the oldest expire by themselves */
        pr->nretire--;
        ngx_memmove(pr->retire[0], pr->retire[1],
                    pr->nretire * NGX_CHAT_PRESENCE_ID_LEN);
        ngx_memmove(&pr->retire_len[0], &pr->retire_len[1],
                    pr->nretire * sizeof(size_t));
    }

    ngx_memcpy(pr->retire[pr->nretire], pr->id, pr->id_len);
    pr->retire_len[pr->nretire++] = pr->id_len;

    ngx_chat_presence_new_id();

    pr->ops_len = 0;
    pr->nops = 0;
    pr->dirty = 0;

    for (i = 0; i < pr->nbuckets; i++) {
        for (e = pr->buckets[i]; e; e = e->next) {
            ngx_chat_presence_change('+', e->key, e->len);
        }
    }

    if (pr->flush.posted) {
        ngx_delete_posted_event(&pr->flush);
    }

    if (pr->dirty
        || ngx_chat_presence_send_ops() != NGX_OK
        || ngx_chat_presence_send_beat(0) != NGX_OK)
    {
        ngx_chat_presence_failed();
    }
}


void
ngx_chat_presence_lookup(ngx_chat_presence_state_t *users, ngx_uint_t n,
    ngx_chat_presence_handler_pt handler, void *data)
{
    size_t                      *lens;
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    const char                 **args;
    ngx_chat_presence_lookup_t  *lk;

    if (n == 0) {
        handler(data, users, n, NGX_OK);
        return;
    }

    lk = ngx_alloc(sizeof(ngx_chat_presence_lookup_t)
                   + n * (sizeof(char *) + sizeof(size_t)),
                   ngx_chat_worker.log);
    if (lk == NULL) {
        handler(data, users, n, NGX_ERROR);
        return;
    }

    lk->users = users;
    lk->n = n;
    lk->handler = handler;
    lk->data = data;

    args = (const char **) (lk + 1);
    lens = (size_t *) (args + n);

    for (i = 0; i < n; i++) {
        args[i] = (char *) users[i].user.data;
        lens[i] = users[i].user.len;
    }

    rc = ngx_chat_presence_eval("users", n, args, lens,
                                ngx_chat_presence_users_done, lk);

    if (rc != NGX_OK) {
        ngx_free(lk);
        handler(data, users, n, NGX_ERROR);
    }
}


static void
ngx_chat_presence_users_done(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_presence_lookup_t *lk = data;

    ngx_uint_t                  i;
    redisReply                 *on, *seen;
    ngx_chat_presence_state_t  *u;

    if (rc != NGX_OK || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 * lk->n)
    {
        rc = NGX_ERROR;
        goto done;
    }

    for (i = 0; i < lk->n; i++) {
        on = reply->element[2 * i];
        seen = reply->element[2 * i + 1];

        if (on->type != REDIS_REPLY_INTEGER
            || seen->type != REDIS_REPLY_INTEGER)
        {
            rc = NGX_ERROR;
            goto done;
        }

        u = &lk->users[i];
        u->online = (on->integer == 1);
        u->last_seen = seen->integer > 0 ? seen->integer : 0;
    }

    rc = NGX_OK;

done:

    lk->handler(lk->data, lk->users, lk->n, rc);
    ngx_free(lk);
}


/*
 * A connection that joined the room may see who is there; another one
 * asks PostgreSQL first whether the user may read the room.
 */
void
ngx_chat_presence_request(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    int             lengths[2];
    const char     *values[2];
    ngx_chat_op_t  *op;

    op = ngx_chat_op_ws(s, req);
    if (op == NULL) {
        return;
    }

    if (ngx_chat_fanout_joined(s, req->room, req->room_len)) {
        ngx_chat_presence_room(op);
        return;
    }

    values[0] = op->room;
    lengths[0] = op->room_len;
    values[1] = op->user;
    lengths[1] = op->user_len;

    ngx_chat_op_query(op, "select (chat_room_check($1, $2)).id", 2, values,
                      lengths, ngx_chat_presence_checked);
}


static void
ngx_chat_presence_checked(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_op_t *op = data;

    if (ngx_chat_op_result(op, status, res) != NGX_OK) {
        return;
    }

    ngx_chat_presence_room(op);
}


static void
ngx_chat_presence_room(ngx_chat_op_t *op)
{
    size_t       lens[2];
    const char  *args[2];

    args[0] = ngx_chat_redis_kind_prefix(op->session->lcf->store->index);
    lens[0] = ngx_strlen(args[0]);
    args[1] = op->room;
    lens[1] = op->room_len;

    if (ngx_chat_presence_eval("room", 2, args, lens,
                               ngx_chat_presence_room_done, op)
        != NGX_OK)
    {
        ngx_chat_op_error(op, "unavailable", "presence is unavailable");
    }
}


static void
ngx_chat_presence_room_done(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_op_t *op = data;

    size_t            i;
    redisReply       *u;
    ngx_chat_json_t   j;

    if (ngx_chat_op_gone(op)) {
        ngx_chat_op_free(op);
        return;
    }

    if (rc != NGX_OK || reply->type != REDIS_REPLY_ARRAY) {
        ngx_chat_op_error(op, "unavailable", "presence is unavailable");
        return;
    }

    ngx_chat_json_init(&j, 64 + 70 * reply->elements);
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_key(&j, "users");
    ngx_chat_json_char(&j, '[');

    for (i = 0; i < reply->elements; i++) {
        u = reply->element[i];

        if (u->type != REDIS_REPLY_STRING
            || !ngx_chat_user_id_valid(u->str, u->len))
        {
            continue;
        }

        ngx_chat_json_sep(&j);
        ngx_chat_json_str(&j, u->str, u->len);
    }

    ngx_chat_json_char(&j, ']');

    ngx_chat_op_ok(op, &j);
    ngx_chat_json_free(&j);
}
