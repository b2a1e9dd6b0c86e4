/*
 * The worker's side of what Redis holds of its presence: the changes of
 * its counts (a count going from 0 to 1 or back to 0), sent in one script
 * per loop tick, and the beat that keeps its instance id alive.
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
#include "ngx_chat_presence_int.h"
#include "ngx_chat_redis.h"


#define NGX_CHAT_PRESENCE_CHUNK     500     /* changes per script */
#define NGX_CHAT_PRESENCE_RETRY     1000    /* ms, after a failure */


static void ngx_chat_presence_flush(ngx_event_t *ev);
static ngx_int_t ngx_chat_presence_send_ops(void);
static void ngx_chat_presence_answered(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_chat_presence_beat(ngx_event_t *ev);
static ngx_int_t ngx_chat_presence_send_beat(ngx_uint_t self);
static void ngx_chat_presence_new_id(void);
static void ngx_chat_presence_resync(void);
static void ngx_chat_presence_failed(void);


void
ngx_chat_presence_sync_init(ngx_log_t *log)
{
    ngx_msec_t            ttl;
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    /* beats every TTL / 4, each valid for the 3/4 left */
    ttl = ngx_chat_worker.mcf->presence_ttl;
    pr->interval = ttl / 4;
    pr->expiry_len = ngx_sprintf(pr->expiry, "%M", ttl - pr->interval)
                     - pr->expiry;

    pr->flush.handler = ngx_chat_presence_flush;
    pr->flush.data = &ngx_chat_no_connection;
    pr->flush.log = log;

    pr->beat.handler = ngx_chat_presence_beat;
    pr->beat.data = &ngx_chat_no_connection;
    pr->beat.log = log;
    pr->beat.cancelable = 1;

    ngx_chat_presence_new_id();
    pr->active = 1;

    /* the first beat once Redis had time to connect */
    ngx_add_timer(&pr->beat, 100);
}


/* the worker leaves: its instance is retired at once, with all it held */
void
ngx_chat_presence_sync_exit(void)
{
    ngx_chat_presence_t  *pr;

    pr = &ngx_chat_presence;

    if (pr->flush.posted) {
        ngx_delete_posted_event(&pr->flush);
    }

    if (pr->beat.timer_set) {
        ngx_del_timer(&pr->beat);
    }

    (void) ngx_chat_presence_send_beat(1);

    if (pr->ops) {
        ngx_free(pr->ops);
        pr->ops = NULL;
    }
}


/* a change for Redis, sent with the others of this loop tick */
void
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
    ngx_chat_presence_t  *pr;

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

    ngx_chat_presence_rewrite();

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
