/*
 * Presence read back from Redis: who of some users is online and when
 * each was last seen (ngx_chat_presence_lookup, for GET /presence and the
 * members list), and the "presence" request, the users present in a
 * room.  Both are one script each: the cluster's view, not the worker's.
 */

#include "ngx_chat.h"
#include "ngx_chat_presence_int.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_op.h"
#include "ngx_chat_store.h"


/* a lookup of users waiting for Redis */
typedef struct {
    ngx_chat_presence_state_t     *users;
    ngx_uint_t                     n;
    ngx_chat_presence_handler_pt   handler;
    void                          *data;
} ngx_chat_presence_lookup_t;


static void ngx_chat_presence_users_done(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_presence_checked(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_presence_room(ngx_chat_op_t *op);
static void ngx_chat_presence_room_done(void *data, ngx_int_t rc,
    redisReply *reply);


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
