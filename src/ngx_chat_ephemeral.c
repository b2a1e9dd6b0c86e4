/*
 * Ephemeral room events: never stored and without a rev, sent to the
 * room's joined connections on every worker and host.
 *
 * typing (protocol.md section 4): at most one event per user and room
 * every 2 s, across the cluster.  A Redis key set with NX and a 2 s
 * expiry decides which request passes; the others are answered "ok" and
 * dropped.  A stop always goes, and deletes the key: typing again right
 * after it shows again.  Both are published once Redis has answered, so
 * a stop never overtakes the typing it ends.  The typist's own
 * connections never get the event.
 */

#include "ngx_chat.h"
#include "ngx_chat_ephemeral.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_store.h"
#include "ngx_chat_members.h"


#define NGX_CHAT_TYPING_WINDOW  "2000"


/* a typing event waiting for Redis to say whether it passes */
typedef struct {
    ngx_uint_t            store;
    size_t                room_len;
    char                  room[NGX_CHAT_ROOM_ID_MAX + 1];
    size_t                user_len;
    char                  user[NGX_CHAT_USER_ID_MAX + 1];
    ngx_uint_t            stop;
    size_t                json_len;
    char                  json[1];
} ngx_chat_typing_t;


static void ngx_chat_typing_passed(void *data, ngx_int_t rc,
    redisReply *reply);


void
ngx_chat_typing(ngx_chat_session_t *s, ngx_chat_request_t *req)
{
    u_char              key[NGX_CHAT_REDIS_KEY_MAX], *p;
    int                 n;
    size_t              len[6];
    ngx_int_t           rc;
    ngx_uint_t          store;
    const char         *argv[6], *why;
    ngx_chat_json_t     j;
    ngx_chat_typing_t  *t;
    char                name[NGX_CHAT_ROOM_ID_MAX + NGX_CHAT_USER_ID_MAX + 1];

    why = ngx_chat_members_refused(req->room, req->room_len,
                                   (char *) s->user, s->user_len);
    if (why) {
        ngx_chat_session_error(s, req->id, req->id_len, "forbidden", why);
        return;
    }

    if (!ngx_chat_fanout_joined(s, req->room, req->room_len)) {
        ngx_chat_session_error(s, req->id, req->id_len, "bad_request",
                               "join the room first");
        return;
    }

    store = s->lcf->store->index;

    ngx_chat_json_init(&j, 128);

    if (ngx_chat_json_typing(&j, req->room, req->room_len, (char *) s->user,
                             s->user_len, req->stop)
        != 0)
    {
        ngx_chat_json_free(&j);
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return;
    }

    t = ngx_alloc(sizeof(ngx_chat_typing_t) + j.len, s->connection->log);
    if (t == NULL) {
        ngx_chat_json_free(&j);
        ngx_chat_session_error(s, req->id, req->id_len, "internal",
                               "out of memory");
        return;
    }

    t->store = store;
    t->room_len = req->room_len;
    ngx_memcpy(t->room, req->room, req->room_len);
    t->user_len = s->user_len;
    ngx_memcpy(t->user, s->user, s->user_len);
    t->json_len = j.len;
    ngx_memcpy(t->json, j.data, j.len);
    ngx_chat_json_free(&j);

    /* room ids hold no space: "room user" names one typist in one room */
    p = ngx_cpymem((u_char *) name, req->room, req->room_len);
    *p++ = ' ';
    p = ngx_cpymem(p, s->user, s->user_len);

    t->stop = req->stop;

    argv[1] = (char *) key;
    len[1] = ngx_chat_redis_name(key, "typing:", name, p - (u_char *) name);

    if (req->stop) {
        argv[0] = "DEL";
        len[0] = 3;
        n = 2;

    } else {
        argv[0] = "SET";
        len[0] = 3;
        argv[2] = "1";
        len[2] = 1;
        argv[3] = "PX";
        len[3] = 2;
        argv[4] = NGX_CHAT_TYPING_WINDOW;
        len[4] = sizeof(NGX_CHAT_TYPING_WINDOW) - 1;
        argv[5] = "NX";
        len[5] = 2;
        n = 6;
    }

    rc = ngx_chat_redis_command(n, argv, len, ngx_chat_typing_passed, t,
                                ngx_chat_worker.mcf->redis_timeout);

    if (rc != NGX_OK) {
        ngx_free(t);
        ngx_chat_session_error(s, req->id, req->id_len, "unavailable",
                               "Redis is unavailable");
        return;
    }

    ngx_chat_session_ok(s, req->id, req->id_len);
}


/* a stop, or a typing whose key was set: none other for 2 s */
static void
ngx_chat_typing_passed(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_chat_typing_t  *t = data;

    if (rc == NGX_OK && reply
        && (t->stop || reply->type == REDIS_REPLY_STATUS))
    {
        ngx_chat_fanout_ephemeral(t->store, t->room, t->room_len, t->user,
                                  t->user_len, t->json, t->json_len);
    }

    ngx_free(t);
}
