/*
 * The Lua script that keeps presence in Redis for the whole cluster, and
 * the one way to run it (ngx_chat_presence_eval).  Every presence read or
 * write is one EVAL of it, so that a transition is decided atomically
 * with every live instance in view.
 *
 * In Redis, a worker is an instance id with an expiry in the sorted set
 * "presence:workers": its entries count while it has not expired.  The
 * set "presence:worker:<id>" lists an instance's entries ("u <user>",
 * "r <kind> <room> <user>"), so that whoever finds it expired removes
 * them: a user is online while a live instance lists it there, with no
 * key of its own.  The room's hash "presence:in:<kind><room>" (fields
 * "<user> <id>", for the room's list) names the instances that hold its
 * members: a small hash stays listpack-encoded, where a set of strings
 * takes a hash table before Redis 7.2.  An instance of an earlier
 * version kept sets "presence:user:<user>" and "presence:<kind><room>":
 * whoever retires such an instance removes its members from them too.  The script decides the
 * cluster-wide transitions with every live instance in view, and
 * publishes a room's presence events on its channel itself, so that they
 * go out in the order the transitions happened (as "0 @<user>\n<json>":
 * the user's own connections do not get them).
 */

#include "ngx_chat.h"
#include "ngx_chat_presence_int.h"


/*
 * ARGV: the key prefix, the mode, then the mode's own.  Times are Redis's,
 * so that the hosts' clocks do not matter.
 *   ops id expiry (sign entry)...: the changes of instance id
 *   beat id expiry retired...: the instance lives on; the retired ids
 *     and the instances expired go, with what they held
 *   users user...: online (1/0) and last_seen (-1: never) of each
 *   room kind room: the users present in the room
 * ops and beat answer 1 when the instance was not known to Redis.
 *
 * On a cluster (a key given: the one the keys share a slot with) the
 * prefix holds NGX_CHAT_REDIS_TAG, and the events are not published by
 * the script, as their channels are on other nodes: the answer is
 * {answer, kind, room, event, kind, room, event...}, published here.
 */
static const char  ngx_chat_presence_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local p, mode = ARGV[1], ARGV[2]\n"
    "local pubs = #KEYS > 0 and {} or nil\n"
    "local function done(x)\n"
    "  if not pubs then return x end\n"
    "  local r = {x}\n"
    "  for i = 1, #pubs do r[#r + 1] = pubs[i] end\n"
    "  return r\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local workers = p .. 'presence:workers'\n"
    "local live = {}\n"
    "local own, pend = nil, {}\n"
    "for _, w in ipairs(redis.call('ZRANGEBYSCORE', workers,\n"
    "                              '(' .. now, '+inf')) do\n"
    "  live[w] = true\n"
    "end\n"
    "local function held(key, m)\n"
    "  if key then\n"
    "    local f = {}\n"
    "    for w in pairs(live) do f[#f + 1] = m .. w end\n"
    "    if #f == 0 then return false end\n"
    "    for _, v in ipairs(redis.call('HMGET', key, unpack(f))) do\n"
    "      if v then return true end\n"
    "    end\n"
    "    return false\n"
    "  end\n"
    "  for w in pairs(live) do\n"
    "    if w == own and pend[m] ~= nil then\n"
    "      if pend[m] then return true end\n"
    "    elseif redis.call('SISMEMBER', p .. 'presence:worker:' .. w, m)\n"
    "           == 1 then return true end\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local function put(w, e, add)\n"
    "  if w == own then pend[e] = add return end\n"
    "  redis.call(add and 'SADD' or 'SREM', p .. 'presence:worker:' .. w, e)\n"
    "end\n"
    "local function flush()\n"
    "  local set = {[true] = {}, [false] = {}}\n"
    "  for e, add in pairs(pend) do set[add][#set[add] + 1] = e end\n"
    "  for add, l in pairs(set) do\n"
    "    for i = 1, #l, 500 do\n"
    "      redis.call(add and 'SADD' or 'SREM', p .. 'presence:worker:' .. own,\n"
    "                 unpack(l, i, math.min(i + 499, #l)))\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function event(kind, room, user, state)\n"
    "  local m = '0 @' .. user\n"
    "    .. '\\n{\"type\":\"presence\",'\n"
    "    .. '\"room\":\"' .. room .. '\",\"user\":\"' .. user\n"
    "    .. '\",\"state\":\"' .. state .. '\"}'\n"
    "  if pubs then\n"
    "    pubs[#pubs + 1] = kind\n"
    "    pubs[#pubs + 1] = room\n"
    "    pubs[#pubs + 1] = m\n"
    "  else\n"
    "    redis.call('PUBLISH', p .. kind .. room, m)\n"
    "  end\n"
    "end\n"
    "local legacy = false\n"
    "local function change(w, e, add, seen)\n"
    "  local kind, room, user = string.match(e, '^r (%S+) (%S+) (%S+)$')\n"
    "  local key, m\n"
    "  if kind then\n"
    "    key, m = p .. 'presence:in:' .. kind .. room, user .. ' '\n"
    "  else\n"
    "    user, m = string.sub(e, 3), e\n"
    "  end\n"
    "  if legacy then\n"
    "    redis.call('SREM', kind and p .. 'presence:' .. kind .. room\n"
    "               or p .. 'presence:user:' .. user, kind and m .. w or w)\n"
    "  end\n"
    "  if add then\n"
    "    local was = kind and held(key, m)\n"
    "    if key then redis.call('HSET', key, m .. w, '1') end\n"
    "    put(w, e, true)\n"
    "    if kind and not was then event(kind, room, user, 'online') end\n"
    "    return\n"
    "  end\n"
    "  if key then redis.call('HDEL', key, m .. w) end\n"
    "  put(w, e, false)\n"
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
    "  legacy = true\n"
    "  for _, e in ipairs(redis.call('SMEMBERS', key)) do\n"
    "    change(w, e, false, seen)\n"
    "  end\n"
    "  legacy = false\n"
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
    "    own = w\n"
    "    for i = 5, #ARGV, 2 do\n"
    "      change(w, ARGV[i + 1], ARGV[i] == '+', now)\n"
    "    end\n"
    "    flush()\n"
    "    return done(fresh)\n"
    "  end\n"
    "  for i = 5, #ARGV do\n"
    "    if ARGV[i] == w then fresh = 0 end\n"
    "    retire(ARGV[i], now)\n"
    "  end\n"
    "  for _, d in ipairs(redis.call('ZRANGEBYSCORE', workers, '-inf', now,\n"
    "                               'LIMIT', 0, 16)) do\n"
    "    retire(d)\n"
    "  end\n"
    "  return done(fresh)\n"
    "end\n"
    "local out = {}\n"
    "if mode == 'users' then\n"
    "  for i = 3, #ARGV do\n"
    "    if held(nil, 'u ' .. ARGV[i]) then\n"
    "      out[#out + 1] = 1\n"
    "      out[#out + 1] = now\n"
    "    else\n"
    "      out[#out + 1] = 0\n"
    "      out[#out + 1] = tonumber(redis.call('HGET', p .. 'presence:seen',\n"
    "                                          ARGV[i]) or '-1')\n"
    "    end\n"
    "  end\n"
    "  return done(out)\n"
    "end\n"
    "local seen = {}\n"
    "local key = p .. 'presence:in:' .. ARGV[3] .. ARGV[4]\n"
    "for _, m in ipairs(redis.call('HKEYS', key)) do\n"
    "  local u, w = string.match(m, '^(%S+) (%S+)$')\n"
    "  if u and live[w] and not seen[u] then\n"
    "    seen[u] = true\n"
    "    out[#out + 1] = u\n"
    "  end\n"
    "end\n"
    "table.sort(out)\n"
    "return done(out)\n";


typedef struct {
    ngx_chat_redis_reply_pt   handler;
    void                     *data;
} ngx_chat_presence_call_t;


static void ngx_chat_presence_published(void *data, ngx_int_t rc,
    redisReply *r);


/* EVAL of the script in mode with the args after it */
ngx_int_t
ngx_chat_presence_eval(const char *mode, ngx_uint_t n, const char **args,
    size_t *lens, ngx_chat_redis_reply_pt handler, void *data)
{
    u_char                     key[NGX_CHAT_REDIS_KEY_MAX];
    u_char                     prefix[NGX_CHAT_REDIS_KEY_MAX];
    size_t                    *len;
    ngx_int_t                  rc;
    ngx_uint_t                 i, k;
    const char               **argv;
    ngx_chat_presence_call_t  *call;

    argv = ngx_alloc((n + 6) * (sizeof(char *) + sizeof(size_t)),
                     ngx_chat_worker.log);
    if (argv == NULL) {
        return NGX_ERROR;
    }

    len = (size_t *) (argv + n + 6);
    call = NULL;
    k = 0;

    argv[0] = "EVAL";
    len[0] = 4;
    argv[1] = ngx_chat_presence_script;
    len[1] = sizeof(ngx_chat_presence_script) - 1;
    argv[2] = "0";
    len[2] = 1;
    argv[3] = (char *) prefix;
    len[3] = ngx_chat_redis_name(prefix, "", "", 0);

    if (ngx_chat_redis_clustered()) {
        call = ngx_alloc(sizeof(ngx_chat_presence_call_t),
                         ngx_chat_worker.log);
        if (call == NULL) {
            ngx_free(argv);
            return NGX_ERROR;
        }

        call->handler = handler;
        call->data = data;
        handler = ngx_chat_presence_published;
        data = call;

        k = 1;
        argv[2] = "1";
        argv[4] = (char *) prefix;
        len[4] = len[3];
        argv[3] = (char *) key;
        len[3] = ngx_cpymem(ngx_cpymem(key, prefix, len[4]),
                            "presence:workers", sizeof("presence:workers") - 1)
                 - key;
    }

    argv[4 + k] = mode;
    len[4 + k] = ngx_strlen(mode);

    for (i = 0; i < n; i++) {
        argv[5 + k + i] = args[i];
        len[5 + k + i] = lens[i];
    }

    rc = ngx_chat_redis_command(n + 5 + k, argv, len, handler, data,
                                ngx_chat_worker.mcf->redis_timeout);

    ngx_free(argv);

    if (rc != NGX_OK && call) {
        ngx_free(call);
    }

    return rc;
}


/* a cluster's answer: its events published, the answer itself handed on */
static void
ngx_chat_presence_published(void *data, ngx_int_t rc, redisReply *r)
{
    ngx_chat_presence_call_t  *call = data;

    u_char                   channel[NGX_CHAT_REDIS_KEY_MAX];
    size_t                   argvlen[3];
    ngx_uint_t               i;
    redisReply              *kind, *room, *event;
    const char              *argv[3];
    ngx_chat_redis_reply_pt  handler;

    handler = call->handler;
    data = call->data;
    ngx_free(call);

    if (rc != NGX_OK || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        if (handler) {
            handler(data, rc, r);
        }

        return;
    }

    for (i = 1; i + 2 < r->elements; i += 3) {
        kind = r->element[i];
        room = r->element[i + 1];
        event = r->element[i + 2];

        if (kind->type != REDIS_REPLY_STRING
            || room->type != REDIS_REPLY_STRING
            || event->type != REDIS_REPLY_STRING
            || kind->len > 15 || room->len > NGX_CHAT_ROOM_ID_MAX)
        {
            continue;
        }

        /* kind is "room:" or "relay:", NUL-terminated by hiredis */
        argv[0] = "SPUBLISH";
        argvlen[0] = 8;
        argv[1] = (char *) channel;
        argvlen[1] = ngx_chat_redis_name(channel, kind->str, room->str,
                                         room->len);
        argv[2] = event->str;
        argvlen[2] = event->len;

        (void) ngx_chat_redis_command(3, argv, argvlen, NULL, NULL,
                                      ngx_chat_worker.mcf->redis_timeout);
    }

    if (handler) {
        handler(data, NGX_OK, r->element[0]);
    }
}
