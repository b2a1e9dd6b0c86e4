/*
 * Sends of the redis store (chat_store redis): nothing is written to
 * PostgreSQL.  One Redis script takes the room's next seq and a msg_id
 * and publishes the event on the room's channel of that store.  Every
 * worker, this one included, shows it when its subscription brings it,
 * so connections see the channel's order, which is seq order.
 *
 * Over a WebSocket the sender must have joined the room: the join checked
 * the access.  A REST send checks it as a join does, with one statement.
 */

#include "ngx_chat_op.h"
#include "ngx_chat_session.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_redis.h"
#include "ngx_chat_access.h"


typedef struct {
    ngx_chat_redis_relay_t   rr;          /* first: the handler's argument */
    ngx_chat_op_t           *op;
    ngx_chat_json_t          event;
} ngx_chat_relay_t;


static ngx_int_t ngx_chat_relay_event(ngx_chat_relay_t *rl,
    const char *name, size_t name_len, ngx_chat_request_t *req);
static void ngx_chat_relay_checked(void *data, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after);
static void ngx_chat_relay_publish(ngx_chat_relay_t *rl);
static void ngx_chat_relay_done(ngx_chat_redis_relay_t *rr, ngx_int_t rc);
static void ngx_chat_relay_answer(ngx_chat_relay_t *rl,
    ngx_chat_json_t *fields, const char *code, const char *message);


void
ngx_chat_relay_send(ngx_chat_op_t *op, const char *name, size_t name_len,
    ngx_chat_request_t *req)
{
    ngx_chat_relay_t    *rl;
    ngx_chat_session_t  *s;

    s = op->session;

    if (s && !ngx_chat_fanout_joined(s, op->room, op->room_len)) {
        ngx_chat_op_error(op, "forbidden", "join the room before sending");
        return;
    }

    rl = ngx_calloc(sizeof(ngx_chat_relay_t), ngx_chat_worker.log);
    if (rl == NULL) {
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    rl->op = op;
    rl->rr.handler = ngx_chat_relay_done;
    rl->rr.room = op->room;
    rl->rr.room_len = op->room_len;

    if (ngx_chat_relay_event(rl, name, name_len, req) != NGX_OK) {
        ngx_free(rl);
        ngx_chat_op_error(op, "internal", "out of memory");
        return;
    }

    if (s) {
        ngx_chat_session_send_begin(s);

        ngx_chat_relay_publish(rl);
        return;
    }

    /* REST: the access check of a join, which makes a member as well */
    if (ngx_chat_access_check(op->room, op->room_len, op->user,
                              op->user_len, ngx_chat_relay_checked, rl)
        != NGX_OK)
    {
        ngx_chat_relay_answer(rl, NULL, "internal", "out of memory");
    }
}


/* the event as the durable path writes it, but for Redis's numbers */
static ngx_int_t
ngx_chat_relay_event(ngx_chat_relay_t *rl, const char *name,
    size_t name_len, ngx_chat_request_t *req)
{
    ngx_chat_op_t       *op;
    ngx_chat_message_t   m;

    op = rl->op;

    ngx_memzero(&m, sizeof(ngx_chat_message_t));
    m.room = op->room;
    m.room_len = op->room_len;
    m.from = op->user;
    m.from_len = op->user_len;
    m.name = name;
    m.name_len = name_len;
    m.body = req->body;
    m.body_len = req->body_len;
    m.client_msg_id = req->client_msg_id;
    m.cid_len = req->client_msg_id_len;
    m.reply_to = req->has_reply_to ? req->reply_to : 0;
    m.meta = req->meta;
    m.meta_len = req->meta_len;

    ngx_chat_json_init(&rl->event, 256 + req->body_len + req->meta_len);

    if (ngx_chat_json_message_parts(&rl->event, &m, rl->rr.part) != 0) {
        ngx_chat_json_free(&rl->event);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_chat_relay_checked(void *data, int64_t seq, int64_t rev,
    const char *code, const char *message, long long retry_after)
{
    ngx_chat_relay_t *rl = data;

    if (code) {
        rl->op->retry_after = retry_after;
        ngx_chat_relay_answer(rl, NULL, code, message);
        return;
    }

    ngx_chat_relay_publish(rl);
}


static void
ngx_chat_relay_publish(ngx_chat_relay_t *rl)
{
    if (ngx_chat_redis_relay(&rl->rr) != NGX_OK) {
        ngx_chat_relay_answer(rl, NULL, "unavailable",
                              "the message store is unavailable");
    }
}


static void
ngx_chat_relay_done(ngx_chat_redis_relay_t *rr, ngx_int_t rc)
{
    ngx_chat_relay_t  *rl = (ngx_chat_relay_t *) rr;

    ngx_chat_op_t    *op;
    ngx_chat_json_t   j;

    if (rc == NGX_DECLINED) {
        /* not acknowledged: it may or may not have been published */
        ngx_chat_relay_answer(rl, NULL, "unavailable",
                              "the message store is unavailable");
        return;
    }

    if (rc != NGX_OK) {
        ngx_chat_relay_answer(rl, NULL, "internal",
                              "the message could not be sent");
        return;
    }

    op = rl->op;

    ngx_chat_json_init(&j, 160);
    ngx_chat_json_kv_str(&j, "room", op->room, op->room_len);
    ngx_chat_json_kv_int(&j, "seq", rr->seq);
    /* a room of this store has only messages: its rev is its seq */
    ngx_chat_json_kv_int(&j, "rev", rr->seq);
    ngx_chat_json_kv_int(&j, "msg_id", rr->msg_id);
    ngx_chat_json_kv_int(&j, "ts", rr->ts);

    ngx_chat_relay_answer(rl, &j, NULL, NULL);
    ngx_chat_json_free(&j);
}


/* the answer: fields, or code and message; the connection may send more */
static void
ngx_chat_relay_answer(ngx_chat_relay_t *rl, ngx_chat_json_t *fields,
    const char *code, const char *message)
{
    ngx_chat_op_t       *op;
    ngx_chat_session_t  *s;

    op = rl->op;
    s = op->session;

    ngx_chat_json_free(&rl->event);
    ngx_free(rl);

    if (s) {
        ngx_chat_session_send_done(s);
    }

    if (!ngx_chat_worker.active) {
        /* the worker exits and frees its Redis connections */
        ngx_chat_op_free(op);

    } else if (code) {
        ngx_chat_op_error(op, code, message);

    } else {
        ngx_chat_op_ok(op, fields);
    }
}
