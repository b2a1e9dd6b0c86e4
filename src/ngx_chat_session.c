/*
 * A WebSocket session: it owns the upgraded connection, reads frames,
 * queues shared frames for writing, and runs the closing handshake.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_members.h"
#include "ngx_chat_request.h"
#include "ngx_chat_fanout.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_users.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_reload.h"


#define NGX_CHAT_READ_BUF       65536
#define NGX_CHAT_READS_PER_EVENT  4
#define NGX_CHAT_WRITEV_MAX     64
#define NGX_CHAT_CLOSE_WAIT     3000
#define NGX_CHAT_OUT_RING       8
#define NGX_CHAT_EXPIRY_STEP    86400000


static ngx_int_t ngx_chat_session_identity(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims);
static void ngx_chat_session_rearm_expiry(ngx_chat_session_t *s);
static void ngx_chat_session_takeover(ngx_chat_session_t *s);
static void ngx_chat_session_release_request(ngx_chat_session_t *s);
static void ngx_chat_session_read_handler(ngx_event_t *rev);
static void ngx_chat_session_write_handler(ngx_event_t *wev);
static void ngx_chat_session_input(ngx_chat_session_t *s, u_char *data,
    size_t len);
static void ngx_chat_session_input_unread(ngx_chat_session_t *s);
static ngx_int_t ngx_chat_session_reader(ngx_chat_session_t *s);
static void ngx_chat_session_reader_free(ngx_chat_session_t *s);
static void ngx_chat_session_control(ngx_chat_session_t *s,
    unsigned opcode, const u_char *data, size_t len);
static void ngx_chat_session_pong(ngx_chat_session_t *s, const u_char *data,
    size_t len);
static void ngx_chat_session_finalize(ngx_chat_session_t *s);
static void ngx_chat_session_going(ngx_chat_session_t *s);
static void ngx_chat_session_drop_unsent(ngx_chat_session_t *s);
static void ngx_chat_session_timer_handler(ngx_event_t *ev);
static void ngx_chat_session_arm(ngx_chat_session_t *s);
static void ngx_chat_session_auth_timer(ngx_chat_session_t *s);
static void ngx_chat_session_ping_timer(ngx_chat_session_t *s);
static void ngx_chat_session_post_write(ngx_chat_session_t *s);
static ngx_int_t ngx_chat_session_queue(ngx_chat_session_t *s,
    ngx_chat_buf_t *b);
static size_t ngx_chat_session_reply_window(ngx_chat_session_t *s);
static ngx_uint_t ngx_chat_session_read_blocked(ngx_chat_session_t *s);
static ngx_uint_t ngx_chat_session_input_blocked(ngx_chat_session_t *s);
static ngx_uint_t ngx_chat_session_send_probation(ngx_chat_session_t *s);
static void ngx_chat_session_uncount(ngx_chat_session_t *s,
    ngx_chat_buf_t *b);
static void ngx_chat_session_written(ngx_chat_session_t *s,
    ngx_uint_t progress);
static void ngx_chat_session_shrink_pool(ngx_chat_session_t *s);
static size_t ngx_chat_pool_size(ngx_pool_t *from, void *p, size_t size);
static u_char *ngx_chat_session_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static void *ngx_chat_pool_move(ngx_pool_t *from, void *p, size_t size,
    u_char **to);
static void ngx_chat_session_close_connection(ngx_connection_t *c);


static u_char  ngx_chat_read_buf[NGX_CHAT_READ_BUF];
/* an unauthenticated session's user, name, jti and sid: all "" */
static u_char  ngx_chat_nobody[4];


ngx_chat_session_t *
ngx_chat_session_create(ngx_http_request_t *r, ngx_chat_loc_conf_t *lcf,
    ngx_chat_buf_t *response)
{
    ngx_connection_t    *c;
    ngx_chat_session_t  *s;

    c = r->connection;

    s = ngx_calloc(sizeof(ngx_chat_session_t), c->log);
    if (s == NULL) {
        return NULL;
    }

    s->connection = c;
    s->request = r;
    s->lcf = lcf;
    s->refs = 1;
    s->user = ngx_chat_nobody;

    s->out = &s->out_one;
    s->out_cap = 1;
    response->reply = 1;
    s->out[0] = ngx_chat_buf_ref(response);
    s->out_count = 1;
    s->out_bytes = response->len;
    s->reply_bytes = response->len;

    s->timer.handler = ngx_chat_session_timer_handler;
    s->timer.data = s;
    s->timer.log = c->log;

    ngx_queue_insert_tail(&ngx_chat_worker.sessions, &s->queue);
    ngx_chat_metrics_session_open(s);

    /* the session holds the request until it closes the connection */
    r->main->count++;

    return s;
}


void
ngx_chat_session_start(ngx_chat_session_t *s)
{
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = s->connection;

    c->log->action = "chatting";

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }


    /* small frames must not wait for the peer's delayed ACK */
    clcf = ngx_http_get_module_loc_conf(s->request, ngx_http_core_module);

    if (clcf->tcp_nodelay) {
        (void) ngx_tcp_nodelay(c);
    }

    if (!s->authed) {
        s->auth_deadline = ngx_current_msec + s->lcf->auth_timeout;
        s->auth_armed = 1;
    }

    s->ping_deadline = ngx_current_msec + s->lcf->ping_interval;
    s->ping_armed = 1;

    ngx_chat_session_arm(s);

    /*
     * Posted, not called: nginx uses the request and c->data until its
     * content phase returns.  A client may also have sent frames right
     * behind its handshake.  The timer event is posted: its handler tells
     * this from a deadline by ev->timedout.
     */
    ngx_post_event(&s->timer, &ngx_posted_events);
}


static void
ngx_chat_session_takeover(ngx_chat_session_t *s)
{
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = s->connection;

    /* from here on the session owns the connection */
    s->started = 1;
    c->data = s;
    c->read->handler = ngx_chat_session_read_handler;
    c->write->handler = ngx_chat_session_write_handler;

    /* a graceful shutdown wakes idle connections with c->close set */
    c->idle = 1;

    /* a handshake that ends in an exiting worker: it was not woken */
    if (ngx_exiting) {
        c->close = 1;
    }

#if (NGX_SSL)
    /*
     * With its buffer on, ngx_ssl_send_chain() keeps frames that carry no
     * flush in a 16k buffer, uncounted by c->sent, and the ring would
     * write them again: each frame goes to SSL_write() as it is.
     */
    if (c->ssl) {
        c->ssl->buffer = 0;
    }
#endif

    s->refs++;

    ngx_chat_session_write_handler(c->write);

    /*
     * frames a client sent right behind its handshake; a failed write
     * (the client reset) has closed the session and let the request go
     */
    b = s->closed ? NULL : s->request->header_in;

    if (b && b->pos < b->last) {
        ngx_chat_session_input(s, b->pos, b->last - b->pos);
        b->pos = b->last;
    }

    if (!s->closed) {
        ngx_chat_session_release_request(s);
        ngx_chat_session_read_handler(c->read);
    }

    ngx_chat_session_unref(s);
}


/*
 * The HTTP request is done with once the connection is upgraded: its
 * access log line is written now (status 101), and its pool and the
 * header buffers go, which is most of an idle connection's memory.
 */
static void
ngx_chat_session_release_request(ngx_chat_session_t *s)
{
    ngx_chain_t            *cl;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    c = s->connection;
    r = s->request;

    if (ngx_chat_metrics_keep_request(r)) {
        /* chat_ws_log_at_close: logged when the connection ends */
        return;
    }

    hc = r->http_connection;
    s->request = NULL;

    ngx_http_free_request(r, 0);

    /* freeing a request marks its connection; the session keeps it */
    c->destroyed = 0;
    c->log->action = "chatting";

    if (c->buffer) {
        (void) ngx_pfree(c->pool, c->buffer->start);
        c->buffer = NULL;
    }

    for (cl = hc->busy; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    for (cl = hc->free; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    hc->busy = NULL;
    hc->free = NULL;
    hc->nbusy = 0;

    ngx_chat_session_shrink_pool(s);
}


/*
 * The connection's pool was sized for parsing requests
 * (connection_pool_size): once the request is gone it holds only the
 * connection's log, its log context and its addresses.  The log and the
 * addresses that lie in the pool move to one block of their own size, the
 * log first, and the pool goes: a pool's header and rounding would cost
 * more than they do.  The log context goes too: with no request left it
 * only named the connection, which ngx_chat_session_log_error() reads
 * itself (the same ", client: ..., server: ..." as nginx's).  The session
 * then closes the connection itself (ngx_chat_session_close_connection).
 * A pool that holds more than this knows of (TLS, PROXY protocol,
 * cleanups, large blocks) stays as it is.
 */
static void
ngx_chat_session_shrink_pool(ngx_chat_session_t *s)
{
    size_t               size;
    u_char              *p, *text;
    ngx_log_t           *log;
    ngx_pool_t          *old;
    struct sockaddr     *sa, *local;
    ngx_connection_t    *c;
    ngx_pool_large_t    *l;
    ngx_http_log_ctx_t  *ctx;

    c = s->connection;
    old = c->pool;

#if (NGX_SSL)
    if (c->ssl) {
        return;
    }
#endif

    /* the log's context: ngx_http_init_connection() made it */
    ctx = c->log->data;

    if (c->proxy_protocol || old->cleanup || old->d.next || ctx == NULL
        || ctx->connection != c || ctx->request != NULL)
    {
        return;
    }

    for (l = old->large; l; l = l->next) {
        if (l->alloc) {
            return;
        }
    }

    /* a local address of the listening socket's own is not copied */
    size = ngx_align(sizeof(ngx_log_t), NGX_ALIGNMENT)
           + ngx_chat_pool_size(old, c->sockaddr, c->socklen)
           + ngx_chat_pool_size(old, c->local_sockaddr, c->local_socklen)
           + ngx_chat_pool_size(old, c->addr_text.data, c->addr_text.len);

    p = ngx_alloc(size, c->log);
    if (p == NULL) {
        return;
    }

    log = (ngx_log_t *) p;
    p += ngx_align(sizeof(ngx_log_t), NGX_ALIGNMENT);

    *log = *c->log;
    log->data = c;
    log->handler = ngx_chat_session_log_error;

    sa = ngx_chat_pool_move(old, c->sockaddr, c->socklen, &p);
    local = ngx_chat_pool_move(old, c->local_sockaddr, c->local_socklen, &p);
    text = ngx_chat_pool_move(old, c->addr_text.data, c->addr_text.len, &p);

    c->sockaddr = sa;
    c->local_sockaddr = local;
    c->addr_text.data = text;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    s->timer.log = log;
    c->pool = NULL;

    ngx_destroy_pool(old);
}


/* what ngx_chat_pool_move() takes of the block for p */
static size_t
ngx_chat_pool_size(ngx_pool_t *from, void *p, size_t size)
{
    if (p == NULL || (u_char *) p < (u_char *) from
        || (u_char *) p >= from->d.end)
    {
        return 0;
    }

    return ngx_align(size, NGX_ALIGNMENT);
}


/*
 * The connection's log once its request and pool are gone: what
 * ngx_http_log_error() writes for a connection without a request
 */
static u_char *
ngx_chat_session_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char            *p;
    ngx_connection_t  *c;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(p, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    c = log->data;

    p = ngx_snprintf(p, len, ", client: %V", &c->addr_text);
    len -= p - buf;

    return ngx_snprintf(p, len, ", server: %V", &c->listening->addr_text);
}


/*
 * p, if it lies in the pool from, copied to *to, which moves past it
 * (aligned for the next); else p itself
 */
static void *
ngx_chat_pool_move(ngx_pool_t *from, void *p, size_t size, u_char **to)
{
    void  *n;

    if (p == NULL || (u_char *) p < (u_char *) from
        || (u_char *) p >= from->d.end)
    {
        return p;
    }

    n = *to;
    ngx_memcpy(n, p, size);
    *to += ngx_align(size, NGX_ALIGNMENT);

    return n;
}


/*
 * ngx_http_close_connection() for a connection without a pool: its log
 * block goes once the socket is closed (closing may log).  Never TLS.
 */
static void
ngx_chat_session_close_connection(ngx_connection_t *c)
{
    ngx_log_t  *log;

    log = c->log;

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, -1);
#endif

    c->destroyed = 1;

    ngx_close_connection(c);

    ngx_free(log);
}


void
ngx_chat_session_authenticate(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims, const char *id, size_t id_len)
{
    ngx_chat_json_t  j;

    if (ngx_chat_session_identity(s, claims) != NGX_OK) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
        return;
    }

    s->roles = claims->roles;
    s->expires = (time_t) claims->exp;
    ngx_chat_metrics_session_authed(s);
    s->authed = 1;
    s->present = 1;
    ngx_chat_presence_online(s);

    ngx_chat_known_seen(claims->sub, ngx_strlen(claims->sub), claims->name,
                        ngx_strlen(claims->name));

    ngx_chat_session_rearm_expiry(s);

    ngx_chat_json_init(&j, 160);
    ngx_chat_json_type_begin(&j, "welcome", id, id_len);
    ngx_chat_json_raw(&j, ",\"user\":", 8);
    ngx_chat_json_str(&j, (char *) s->user, s->user_len);
    ngx_chat_json_raw(&j, ",\"expires_at\":", 14);
    ngx_chat_json_int(&j, (long long) s->expires);
    ngx_chat_json_raw(&j, ",\"server_time\":", 15);
    ngx_chat_json_int(&j, (long long) ngx_chat_now_ms());
    ngx_chat_json_raw(&j, "}", 1);

    (void) ngx_chat_session_send_json(s, &j);
    ngx_chat_json_free(&j);
}


/* the user and name of the claims, in one allocation, replacing any */
static ngx_int_t
ngx_chat_session_identity(ngx_chat_session_t *s,
    ngx_chat_jwt_claims_t *claims)
{
    u_char  *p;
    size_t   user_len, name_len, jti_len, sid_len;

    user_len = ngx_strlen(claims->sub);
    name_len = ngx_strlen(claims->name);
    jti_len = ngx_strlen(claims->jti);
    sid_len = ngx_strlen(claims->sid);

    p = ngx_alloc(user_len + 1 + name_len + 1 + jti_len + 1 + sid_len + 1,
                  s->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (s->user != ngx_chat_nobody) {
        ngx_free(s->user);
    }

    s->user = p;
    s->user_len = user_len;
    s->name_len = name_len;
    s->jti_len = jti_len;
    s->sid_len = sid_len;

    p = ngx_cpymem(p, claims->sub, user_len + 1);
    p = ngx_cpymem(p, claims->name, name_len + 1);
    p = ngx_cpymem(p, claims->jti, jti_len + 1);
    ngx_memcpy(p, claims->sid, sid_len + 1);
    s->iat = (time_t) claims->iat;

    return NGX_OK;
}


/* a refresh: the same user, a new expiry and roles */
ngx_int_t
ngx_chat_session_refresh(ngx_chat_session_t *s, ngx_chat_jwt_claims_t *claims)
{
    if (ngx_chat_session_identity(s, claims) != NGX_OK) {
        return NGX_ERROR;
    }

    s->expires = (time_t) claims->exp;
    s->roles = claims->roles;

    ngx_chat_session_rearm_expiry(s);

    return NGX_OK;
}


static void
ngx_chat_session_rearm_expiry(ngx_chat_session_t *s)
{
    time_t      now;
    ngx_msec_t  delay;

    now = ngx_time();

    if (s->expires <= now) {
        delay = 1;

    } else if (s->expires - now > NGX_CHAT_EXPIRY_STEP / 1000) {
        /* timers hold 32-bit milliseconds: look again later */
        delay = NGX_CHAT_EXPIRY_STEP;

    } else {
        delay = (ngx_msec_t) (s->expires - now) * 1000;
    }

    s->auth_deadline = ngx_current_msec + delay;
    s->auth_armed = 1;

    ngx_chat_session_arm(s);
}


void
ngx_chat_session_ref(ngx_chat_session_t *s)
{
    s->refs++;
}


void
ngx_chat_session_unref(ngx_chat_session_t *s)
{
    if (--s->refs == 0) {
        if (s->user != ngx_chat_nobody) {
            ngx_free(s->user);
        }

        /* not paused: the paused queue holds a reference */
        if (s->rate) {
            ngx_free(s->rate);
        }

        ngx_free(s);
    }
}


ngx_int_t
ngx_chat_session_enqueue(ngx_chat_session_t *s, ngx_chat_buf_t *b)
{
    if (s->closed || s->close_sent) {
        return NGX_OK;
    }

    /* what is queued, and counted: the compressed frame if it goes */
    b = ngx_chat_session_deflated(s, b);

    if (s->event_bytes + b->len > s->lcf->send_queue_max
        && s->out_count > 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, s->connection->log, 0,
                      "chat: user \"%s\" reads too slowly: %uz bytes queued",
                      s->user, s->out_bytes);
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_TRY_LATER,
                               "reading too slowly");
        return NGX_DECLINED;
    }

    return ngx_chat_session_queue(s, b);
}


/*
 * An answer to this session's own request: it is queued whatever its
 * size, and the reading stops until the peer has taken enough of it.
 */
ngx_int_t
ngx_chat_session_reply(ngx_chat_session_t *s, ngx_chat_buf_t *b)
{
    if (s->closed || s->close_sent) {
        return NGX_OK;
    }

    b->reply = 1;

    return ngx_chat_session_queue(s, ngx_chat_session_deflated(s, b));
}


/* whether more of a long answer (a replay) may be queued now */
ngx_uint_t
ngx_chat_session_reply_room(ngx_chat_session_t *s)
{
    if (s->reply_bytes < ngx_chat_session_reply_window(s)) {
        return 1;
    }

    s->replay_wait = 1;

    return 0;
}


void
ngx_chat_session_op_begin(ngx_chat_session_t *s)
{
    s->ops++;
}


void
ngx_chat_session_op_end(ngx_chat_session_t *s)
{
    s->ops--;
    ngx_chat_session_resume(s);
}


static ngx_int_t
ngx_chat_session_queue(ngx_chat_session_t *s, ngx_chat_buf_t *b)
{
    ngx_uint_t        cap, i, n;
    ngx_chat_buf_t  **out;

    if (s->out_count == s->out_cap) {
        cap = (s->out == &s->out_one) ? NGX_CHAT_OUT_RING : s->out_cap * 2;

        out = ngx_alloc(cap * sizeof(ngx_chat_buf_t *), s->connection->log);
        if (out == NULL) {
            ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
            return NGX_ERROR;
        }

        for (i = 0; i < s->out_count; i++) {
            n = (s->out_head + i) % s->out_cap;
            out[i] = s->out[n];
        }

        if (s->out != &s->out_one) {
            ngx_free(s->out);
        }

        s->out = out;
        s->out_cap = cap;
        s->out_head = 0;
    }

    n = (s->out_head + s->out_count) % s->out_cap;
    s->out[n] = ngx_chat_buf_ref(b);
    s->out_count++;
    s->out_bytes += b->len;
    *(b->reply ? &s->reply_bytes : &s->event_bytes) += b->len;

    ngx_chat_session_post_write(s);

    return NGX_OK;
}


static size_t
ngx_chat_session_reply_window(ngx_chat_session_t *s)
{
    return s->lcf->send_queue_max / 2;
}


/*
 * Why a session is not read: its sends await their commit, it is over
 * its request rate, its other requests are under way, or the peer has
 * not taken their answers yet.
 * Each limit bounds what one connection can make the worker hold.
 */
static ngx_uint_t
ngx_chat_session_read_blocked(ngx_chat_session_t *s)
{
    return s->read_paused
           || s->rate_paused
           || ngx_chat_session_input_blocked(s);
}


/*
 * Frames already read are taken whole while the rate is passed (they are
 * answered at once); these limits stop in the middle, as each frame taken
 * could make the worker hold or write another answer: a read buffer holds
 * hundreds of small sends.
 */
static ngx_uint_t
ngx_chat_session_input_blocked(ngx_chat_session_t *s)
{
    return s->ops >= NGX_CHAT_OPS_INFLIGHT_MAX
           || s->inflight >= NGX_CHAT_SEND_INFLIGHT_MAX
           || s->auth_wait
           || s->rate_choked
           || (s->inflight && ngx_chat_session_send_probation(s))
           || s->reply_bytes >= ngx_chat_session_reply_window(s);
}


/* a queued frame leaves the queue whole: written, or dropped */
static void
ngx_chat_session_uncount(ngx_chat_session_t *s, ngx_chat_buf_t *b)
{
    *(b->reply ? &s->reply_bytes : &s->event_bytes) -= b->len;
}


/* a session stopped by a limit is read again once no limit holds */
void
ngx_chat_session_resume(ngx_chat_session_t *s)
{
    if (!s->read_stalled || s->closed || ngx_chat_session_read_blocked(s)) {
        return;
    }

    s->read_stalled = 0;

    if (s->started && !s->connection->read->posted) {
        ngx_post_event(s->connection->read, &ngx_posted_events);
    }
}


static void
ngx_chat_session_post_write(ngx_chat_session_t *s)
{
    ngx_event_t  *wev;

    /* one write per loop tick carries everything queued in that tick */
    wev = s->connection->write;

    if (s->started && !wev->posted && !s->in_handler) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


ngx_int_t
ngx_chat_session_send_json(ngx_chat_session_t *s, ngx_chat_json_t *j)
{
    ngx_int_t        rc;
    ngx_chat_buf_t  *b;

    if (j->failed) {
        return NGX_ERROR;
    }

    b = ngx_chat_buf_text_frame(j->data, j->len, 0);
    if (b == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_chat_session_reply(s, b);
    ngx_chat_buf_unref(b);

    return rc;
}


void
ngx_chat_session_error(ngx_chat_session_t *s, const char *id, size_t id_len,
    const char *code, const char *message)
{
    ngx_chat_session_error_retry(s, id, id_len, code, message, 0);
}


/* a bare "ok" to a request with an id */
void
ngx_chat_session_ok(ngx_chat_session_t *s, const char *id, size_t id_len)
{
    ngx_chat_json_t  j;

    if (id_len == 0) {
        return;
    }

    ngx_chat_json_init(&j, 64);
    ngx_chat_json_ok_begin(&j, id, id_len);
    ngx_chat_json_end(&j);
    (void) ngx_chat_session_send_json(s, &j);
    ngx_chat_json_free(&j);
}


/* an error frame; retry_after in seconds, or 0 for none */
void
ngx_chat_session_error_retry(ngx_chat_session_t *s, const char *id,
    size_t id_len, const char *code, const char *message,
    long long retry_after)
{
    int              rc;
    ngx_chat_json_t  j;

    ngx_chat_metrics_rejected(NGX_CHAT_METRICS_WS, code);
    ngx_chat_json_init(&j, 160);

    rc = (retry_after > 0)
         ? ngx_chat_json_error_retry(&j, id, id_len, code, message,
                                     retry_after)
         : ngx_chat_json_error(&j, id, id_len, code, message);

    if (rc == 0) {
        (void) ngx_chat_session_send_json(s, &j);
    }

    ngx_chat_json_free(&j);
}


void
ngx_chat_session_close(ngx_chat_session_t *s, uint16_t code,
    const char *reason)
{
    size_t           n;
    uint8_t          frame[127];
    ngx_chat_buf_t  *b;

    if (s->closed) {
        return;
    }

    if (code == 0) {
        ngx_chat_session_finalize(s);
        return;
    }

    if (s->close_sent) {
        return;
    }

    /* the room events still queued do not matter to a closing peer */
    ngx_chat_session_drop_unsent(s);

    n = ngx_chat_frame_close(frame,
                             code == NGX_CHAT_CLOSE_NO_STATUS ? 0 : code,
                             reason, reason ? ngx_strlen(reason) : 0);

    b = ngx_chat_buf_alloc(n);
    if (b == NULL) {
        ngx_chat_session_finalize(s);
        return;
    }

    ngx_memcpy(b->data, frame, n);

    (void) ngx_chat_session_reply(s, b);
    ngx_chat_buf_unref(b);

    s->close_sent = 1;
    s->close_code = code;
    ngx_chat_metrics_session_close(s, code);

    s->auth_armed = 0;
    s->ping_armed = 0;
    s->send_armed = 0;
    s->close_deadline = ngx_current_msec + NGX_CHAT_CLOSE_WAIT;
    s->close_armed = 1;

    ngx_chat_session_arm(s);

    ngx_chat_fanout_session_gone(s);
    ngx_chat_users_closed(s);

    if (s->present) {
        s->present = 0;
        ngx_chat_presence_offline(s);
    }
}


static void
ngx_chat_session_drop_unsent(ngx_chat_session_t *s)
{
    ngx_uint_t       i, keep;
    ngx_chat_buf_t  *b;

    /* a frame partly written must be finished before any other */
    keep = (s->out_offset > 0) ? 1 : 0;

    for (i = keep; i < s->out_count; i++) {
        b = s->out[(s->out_head + i) % s->out_cap];

        if (b == s->pong) {
            s->pong = NULL;
        }

        s->out_bytes -= b->len;
        ngx_chat_session_uncount(s, b);
        ngx_chat_buf_unref(b);
    }

    s->out_count = keep;
}


static void
ngx_chat_session_finalize(ngx_chat_session_t *s)
{
    ngx_uint_t           i;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (s->closed) {
        return;
    }

    s->closed = 1;
    ngx_chat_metrics_session_end(s);

    s->auth_armed = 0;
    s->ping_armed = 0;
    s->close_armed = 0;
    s->send_armed = 0;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->timer.posted) {
        ngx_delete_posted_event(&s->timer);
    }

    ngx_chat_fanout_session_gone(s);

    if (s->present) {
        s->present = 0;
        ngx_chat_presence_offline(s);
    }

    for (i = 0; i < s->out_count; i++) {
        ngx_chat_buf_unref(s->out[(s->out_head + i) % s->out_cap]);
    }

    if (s->out != &s->out_one) {
        ngx_free(s->out);
    }

    s->out = NULL;
    s->out_count = 0;
    s->pong = NULL;

    ngx_chat_session_reader_free(s);
    ngx_queue_remove(&s->queue);

    if (s->unread) {
        ngx_free(s->unread);
        s->unread = NULL;
    }

    c = s->connection;
    r = s->request;
    s->connection = NULL;
    s->request = NULL;

    if (r) {
        /* closed before the takeover released it */
        c->data = r;
        ngx_http_free_request(r, 0);
    }

    /* no pool: its log block is the session's (shrink_pool) */
    if (c->pool == NULL) {
        s->timer.log = ngx_cycle->log;
        ngx_chat_session_close_connection(c);

    } else {
        ngx_http_close_connection(c);
    }

    ngx_chat_session_unref(s);
}


static void
ngx_chat_session_read_handler(ngx_event_t *rev)
{
    ssize_t              n;
    ngx_uint_t           i;
    ngx_connection_t    *c;
    ngx_chat_session_t  *s;

    c = rev->data;
    s = c->data;

    if (s->closed) {
        return;
    }

    if (c->close) {
        /*
         * Graceful shutdown or reload.  The session may stay, served as
         * before, until its slice of chat_reload_spread (after a quit or
         * without a spread, the first tick, or its answers if it waits
         * for some); not when worker_shutdown_timeout is over (c->error).
         */
        c->close = 0;

        if (c->error || !ngx_chat_reload_hold()) {
            ngx_chat_session_going(s);
        }

        return;
    }

    s->refs++;

    for (i = 0; i < NGX_CHAT_READS_PER_EVENT; i++) {

        if (s->closed) {
            break;
        }

        if (!s->draining && ngx_chat_session_read_blocked(s)) {
            s->read_stalled = 1;
            break;
        }

        if (s->unread) {
            ngx_chat_session_input_unread(s);
            continue;
        }

        n = c->recv(c, ngx_chat_read_buf, NGX_CHAT_READ_BUF);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_chat_session_finalize(s);
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_chat_session_finalize(s);
            break;
        }

        if (s->draining) {
            continue;
        }

        ngx_chat_session_input(s, ngx_chat_read_buf, n);
    }

    if (i == NGX_CHAT_READS_PER_EVENT && !s->closed && rev->ready
        && !rev->posted)
    {
        /* let other connections have their turn */
        ngx_post_event(rev, &ngx_posted_events);
    }

    ngx_chat_session_unref(s);
}


static void
ngx_chat_session_input(ngx_chat_session_t *s, u_char *data, size_t len)
{
    size_t               used, mlen;
    uint16_t             code;
    uint64_t             wait;
    const char          *reason;
    const u_char        *msg;
    ngx_chat_ws_ev_e     type;
    ngx_chat_ws_event_t  ev;

    while (!s->closed) {

        if (len && !s->draining && ngx_chat_session_input_blocked(s)) {
            /* a limit was reached inside this input: keep the rest */
            s->unread = ngx_alloc(len, s->connection->log);
            if (s->unread == NULL) {
                ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL,
                                       "out of memory");
                return;
            }

            ngx_memcpy(s->unread, data, len);
            s->unread_len = len;
            s->read_stalled = 1;
            return;
        }

        if (s->reader == NULL && ngx_chat_session_reader(s) != NGX_OK) {
            return;
        }

        type = ngx_chat_frame_reader_feed(s->reader, data, len, &used, &ev);
        ngx_chat_metrics_frame_in(type);
        data += used;
        len -= used;

        switch (type) {

        case NGX_CHAT_WS_EV_NONE:
            /* all read: an idle connection holds no reader */
            if (ngx_chat_frame_reader_rests(s->reader)) {
                ngx_chat_session_reader_free(s);
            }

            return;

        case NGX_CHAT_WS_EV_MESSAGE:
            if (s->close_sent || s->restart_due) {
                break;
            }

            msg = ev.data;
            mlen = ev.len;

            if (ev.compressed) {
                code = ngx_chat_session_inflate(s, &msg, &mlen, &reason);

                if (code) {
                    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                                  "chat: user \"%s\": %s, closing with %d",
                                  s->user, reason, (int) code);
                    ngx_chat_session_close(s, code, reason);
                    return;
                }
            }

            ngx_chat_request_dispatch(s, msg, mlen);
            break;

        case NGX_CHAT_WS_EV_PING:
            /* answered, but a ping costs from the budget as a request */
            ngx_chat_session_pong(s, ev.data, ev.len);
            wait = ngx_chat_session_rate_take(s);

            if (wait) {
                ngx_chat_metrics_limited(NGX_CHAT_METRICS_LIMIT_REQUEST);
                ngx_chat_session_rate_refused(s, wait);
            }

            break;

        case NGX_CHAT_WS_EV_PONG:
            if (s->pong_wait) {
                s->pong_wait = 0;
                s->ping_deadline = ngx_current_msec + s->lcf->ping_interval;
                s->ping_armed = 1;
                ngx_chat_session_arm(s);
            }
            break;

        case NGX_CHAT_WS_EV_CLOSE:
            s->close_recv = 1;

            /* echo the peer's code, then nothing more is read */
            ngx_chat_session_close(s, ev.code, NULL);
            return;

        case NGX_CHAT_WS_EV_ERROR:
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "chat: user \"%s\": %s, closing with %d",
                          s->user, ev.reason, (int) ev.code);
            ngx_chat_session_close(s, ev.code, ev.reason);
            return;
        }

    }
}


/*
 * The frame reader is allocated when input comes and freed once the input
 * ends between messages: it is needed only while a frame or a message
 * arrives in parts, and most connections are idle most of the time.
 */
static ngx_int_t
ngx_chat_session_reader(ngx_chat_session_t *s)
{
    s->reader = ngx_alloc(sizeof(ngx_chat_frame_reader_t),
                          s->connection->log);
    if (s->reader == NULL) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
        return NGX_ERROR;
    }

    ngx_chat_frame_reader_init(s->reader, s->lcf->frame_max,
                               s->lcf->frame_max);

    if (s->deflate) {
        ngx_chat_frame_reader_deflate(s->reader);
    }

    return NGX_OK;
}


static void
ngx_chat_session_reader_free(ngx_chat_session_t *s)
{
    if (s->reader) {
        ngx_chat_frame_reader_free(s->reader);
        ngx_free(s->reader);
        s->reader = NULL;
    }
}


static void
ngx_chat_session_input_unread(ngx_chat_session_t *s)
{
    u_char  *p;
    size_t   len;

    p = s->unread;
    len = s->unread_len;
    s->unread = NULL;
    s->unread_len = 0;

    ngx_chat_session_input(s, p, len);
    ngx_free(p);
}


static void
ngx_chat_session_control(ngx_chat_session_t *s, unsigned opcode,
    const u_char *data, size_t len)
{
    ngx_chat_buf_t  *b;

    b = ngx_chat_buf_frame(opcode, data, len);
    if (b == NULL) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
        return;
    }

    (void) ngx_chat_session_enqueue(s, b);
    ngx_chat_buf_unref(b);
}


/*
 * RFC 6455 section 5.5.3: when pongs are not sent yet, only the most
 * recent ping need be answered.  A pong queued and not started takes the
 * new payload in place, so a peer that pings without reading makes the
 * worker hold one pong (two while one is half written), not one per ping.
 */
static void
ngx_chat_session_pong(ngx_chat_session_t *s, const u_char *data, size_t len)
{
    size_t           n;
    ngx_chat_buf_t  *b;

    if (!ngx_chat_session_open(s)) {
        return;
    }

    b = s->pong;

    if (b != NULL && (b != s->out[s->out_head] || s->out_offset == 0)) {
        n = ngx_chat_frame_header(b->data, NGX_CHAT_WS_PONG, len);

        if (len) {
            ngx_memcpy(b->data + n, data, len);
        }

        s->out_bytes = s->out_bytes - b->len + n + len;
        s->event_bytes = s->event_bytes - b->len + n + len;
        b->len = (uint32_t) (n + len);

        return;
    }

    /* room for any pong: a control payload is at most 125 bytes */

    b = ngx_chat_buf_alloc(2 + 125);
    if (b == NULL) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_INTERNAL, "out of memory");
        return;
    }

    n = ngx_chat_frame_header(b->data, NGX_CHAT_WS_PONG, len);

    if (len) {
        ngx_memcpy(b->data + n, data, len);
    }

    b->len = (uint32_t) (n + len);

    if (ngx_chat_session_enqueue(s, b) == NGX_OK && ngx_chat_session_open(s)) {
        s->pong = b;
    }

    ngx_chat_buf_unref(b);
}


static void
ngx_chat_session_write_handler(ngx_event_t *wev)
{
    off_t                sent, start;
    size_t               n;
    ngx_buf_t            bufs[NGX_CHAT_WRITEV_MAX];
    ngx_uint_t           i, k;
    ngx_chain_t          chain[NGX_CHAT_WRITEV_MAX], *rest;
    ngx_chat_buf_t      *b;
    ngx_connection_t    *c;
    ngx_chat_session_t  *s;

    c = wev->data;
    s = c->data;

    if (s->closed) {
        return;
    }

    s->refs++;
    s->in_handler = 1;
    start = c->sent;

    while (s->out_count && wev->ready) {

        k = ngx_min(s->out_count, NGX_CHAT_WRITEV_MAX);

        for (i = 0; i < k; i++) {
            b = s->out[(s->out_head + i) % s->out_cap];

            ngx_memzero(&bufs[i], sizeof(ngx_buf_t));
            bufs[i].memory = 1;
            bufs[i].pos = b->data + (i == 0 ? s->out_offset : 0);
            bufs[i].last = b->data + b->len;

            chain[i].buf = &bufs[i];
            chain[i].next = (i + 1 < k) ? &chain[i + 1] : NULL;
        }

        sent = c->sent;
        rest = c->send_chain(c, chain, 0);

        if (rest == NGX_CHAIN_ERROR) {
            s->in_handler = 0;
            ngx_chat_session_finalize(s);
            ngx_chat_session_unref(s);
            return;
        }

        n = (size_t) (c->sent - sent);
        s->out_bytes -= n;

        /* retire what went out whole, remember where the next one stands */
        n += s->out_offset;

        while (s->out_count) {
            b = s->out[s->out_head];

            if (n < b->len) {
                break;
            }

            n -= b->len;

            if (b == s->pong) {
                s->pong = NULL;
            }

            ngx_chat_metrics_count(NGX_CHAT_METRICS_FRAMES_OUT);
            ngx_chat_session_uncount(s, b);
            ngx_chat_buf_unref(b);
            s->out_head = (s->out_head + 1) % s->out_cap;
            s->out_count--;
        }

        s->out_offset = n;

        if (rest != NULL) {
            break;
        }
    }

    s->in_handler = 0;

    ngx_chat_session_written(s, c->sent != start);

    if (s->closed) {
        ngx_chat_session_unref(s);
        return;
    }

    if (s->out_count == 0 && s->out != &s->out_one) {
        /* a burst is over: an idle session keeps no ring */
        ngx_free(s->out);
        s->out = &s->out_one;
        s->out_cap = 1;
        s->out_head = 0;
    }

    if (s->out_count == 0 && s->close_sent && !s->draining) {
        /*
         * The close frame is out: half-close and read until the peer
         * closes too, so our close frame is not lost to a reset.
         */
        s->draining = 1;
        (void) ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN);

        if (!c->read->posted) {
            ngx_post_event(c->read, &ngx_posted_events);
        }
    }

    if (s->out_count && ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_chat_session_finalize(s);
    }

    ngx_chat_session_unref(s);
}


/*
 * After a write: the stall deadline, the replays that wait for room, and
 * the reading that waits for the answers to go.
 */
static void
ngx_chat_session_written(ngx_chat_session_t *s, ngx_uint_t progress)
{
    /*
     * Output that the peer does not take for chat_send_timeout closes the
     * session: a peer that stopped reading holds nothing for long.  The
     * deadline moves with every write that makes progress; the timer
     * catches up with it lazily.
     */
    if (s->out_count == 0 || s->close_sent) {
        s->send_armed = 0;

    } else if (progress || !s->send_armed) {
        s->send_deadline = ngx_current_msec + s->lcf->send_timeout;

        if (!s->send_armed) {
            s->send_armed = 1;
            ngx_chat_session_arm(s);
        }
    }

    if (s->replay_wait && !s->close_sent
        && s->reply_bytes < ngx_chat_session_reply_window(s))
    {
        /* a replay waits for room: it queues its next frames */
        s->replay_wait = 0;
        ngx_chat_fanout_session_drained(s);

        if (s->closed) {
            return;
        }
    }

    ngx_chat_session_resume(s);
}


void
ngx_chat_session_send_begin(ngx_chat_session_t *s)
{
    s->inflight++;

    if (s->inflight >= NGX_CHAT_SEND_INFLIGHT_MAX) {
        /* the client outruns the store: stop reading it for a while */
        s->read_paused = 1;
    }
}


void
ngx_chat_session_send_done(ngx_chat_session_t *s)
{
    if (s->closed) {
        return;
    }

    s->inflight--;

    if (s->read_paused && s->inflight < NGX_CHAT_SEND_INFLIGHT_MAX / 2) {
        s->read_paused = 0;
    }

    /* unless another limit holds it */
    ngx_chat_session_resume(s);
}


/*
 * For a while after the user's send rate refused a send of this
 * connection, its sends are checked one at a time: a client that floods
 * sends past the rate has one check in Redis at a time, not hundreds
 * that all come back refused.
 */
static ngx_uint_t
ngx_chat_session_send_probation(ngx_chat_session_t *s)
{
    return s->send_until
           && (ngx_msec_int_t) (ngx_current_msec - s->send_until)
              < NGX_CHAT_SEND_PROBATION;
}


static void
ngx_chat_session_timer_handler(ngx_event_t *ev)
{
    ngx_chat_session_t  *s = ev->data;

    if (!ev->timedout) {
        /* posted by ngx_chat_session_start() */
        ngx_chat_session_takeover(s);
        return;
    }

    ev->timedout = 0;

    s->refs++;

    if (s->close_armed
        && (ngx_msec_int_t) (s->close_deadline - ngx_current_msec) <= 0)
    {
        ngx_chat_session_finalize(s);
        ngx_chat_session_unref(s);
        return;
    }

    if (s->auth_armed
        && (ngx_msec_int_t) (s->auth_deadline - ngx_current_msec) <= 0)
    {
        s->auth_armed = 0;
        ngx_chat_session_auth_timer(s);
    }

    if (s->ping_armed && !s->closed
        && (ngx_msec_int_t) (s->ping_deadline - ngx_current_msec) <= 0)
    {
        s->ping_armed = 0;
        ngx_chat_session_ping_timer(s);
    }

    if (s->send_armed && !s->closed && !s->close_sent
        && (ngx_msec_int_t) (s->send_deadline - ngx_current_msec) <= 0)
    {
        s->send_armed = 0;
        ngx_log_error(NGX_LOG_NOTICE, s->connection->log, 0,
                      "chat: user \"%s\" reads too slowly: nothing taken "
                      "for %M ms", s->user, s->lcf->send_timeout);
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_TRY_LATER,
                               "reading too slowly");
    }

    if (!s->closed) {
        ngx_chat_session_arm(s);
    }

    ngx_chat_session_unref(s);
}


/* sets the timer to the earliest deadline armed, to the millisecond */

static void
ngx_chat_session_arm(ngx_chat_session_t *s)
{
    ngx_uint_t       armed;
    ngx_msec_t       next;
    ngx_msec_int_t   delay;

    armed = 0;
    next = 0;

    if (s->close_armed) {
        next = s->close_deadline;
        armed = 1;
    }

    if (s->auth_armed
        && (!armed || (ngx_msec_int_t) (s->auth_deadline - next) < 0))
    {
        next = s->auth_deadline;
        armed = 1;
    }

    if (s->ping_armed
        && (!armed || (ngx_msec_int_t) (s->ping_deadline - next) < 0))
    {
        next = s->ping_deadline;
        armed = 1;
    }

    if (s->send_armed
        && (!armed || (ngx_msec_int_t) (s->send_deadline - next) < 0))
    {
        next = s->send_deadline;
        armed = 1;
    }

    if (s->timer.timer_set) {
        if (armed && s->timer.timer.key == next) {
            return;
        }

        /* ngx_add_timer() would keep an old value within 300 ms */
        ngx_del_timer(&s->timer);
    }

    if (!armed) {
        return;
    }

    /* a shutting down worker waits for a close wait, not for the others */
    s->timer.cancelable = !s->close_armed;

    delay = (ngx_msec_int_t) (next - ngx_current_msec);
    ngx_add_timer(&s->timer, delay > 0 ? (ngx_msec_t) delay : 0);
}


static void
ngx_chat_session_auth_timer(ngx_chat_session_t *s)
{
    if (!s->authed) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_AUTH_TIMEOUT,
                               "authentication timeout");
        return;
    }

    if (s->expires <= ngx_time()) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_AUTH_FAILED, "token expired");
        return;
    }

    ngx_chat_session_rearm_expiry(s);
}


static void
ngx_chat_session_ping_timer(ngx_chat_session_t *s)
{
    if (s->pong_wait) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "chat: user \"%s\" did not answer a ping", s->user);
        ngx_chat_session_finalize(s);
        return;
    }

    ngx_chat_session_control(s, NGX_CHAT_WS_PING, NULL, 0);
    s->pong_wait = 1;
    s->ping_deadline = ngx_current_msec + s->lcf->pong_timeout;
    s->ping_armed = 1;
}


/*
 * The worker exits: the session is told so, 1012 after a reload, 1001 on
 * a shutdown.  This runs outside event processing too (nginx waking its
 * idle connections), where a posted write would wait for the next event:
 * the close frame is written at once.
 */
static void
ngx_chat_session_going(ngx_chat_session_t *s)
{
    s->refs++;

    if (ngx_chat_metrics_reloaded()) {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_RESTART, "service restart");

    } else {
        ngx_chat_session_close(s, NGX_CHAT_CLOSE_GOING_AWAY,
                               "server going away");
    }

    if (!s->closed) {
        ngx_chat_session_write_handler(s->connection->write);
    }

    ngx_chat_session_unref(s);
}


/*
 * The sessions an exiting worker still serves as before: taken over, not
 * closing, not due to close.
 */
ngx_uint_t
ngx_chat_sessions_serving(void)
{
    ngx_uint_t           n;
    ngx_queue_t         *q;
    ngx_chat_session_t  *s;

    n = 0;

    for (q = ngx_queue_head(&ngx_chat_worker.sessions);
         q != ngx_queue_sentinel(&ngx_chat_worker.sessions);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_chat_session_t, queue);
        n += (s->started && ngx_chat_session_open(s) && !s->restart_due);
    }

    return n;
}


/*
 * A tick of chat_reload_spread.  The sessions due to close whose answers
 * are out close; then n more are due, the oldest first.  One with nothing
 * under way closes at once; one waiting for answers to its own requests
 * (a send being committed, or its ok not written yet) closes once they
 * are out, at a later tick: a close now would lose them, and its client
 * would not know whether its send was stored.  Meanwhile no new request
 * of it is taken, as after a close frame.  "all": every session closes
 * now.  Returns the sessions still due.
 */
ngx_uint_t
ngx_chat_sessions_going(ngx_uint_t n, ngx_uint_t all)
{
    ngx_uint_t           due, busy;
    ngx_queue_t         *q, *next;
    ngx_chat_session_t  *s;

    due = 0;

    for (q = ngx_queue_head(&ngx_chat_worker.sessions);
         q != ngx_queue_sentinel(&ngx_chat_worker.sessions);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_chat_session_t, queue);

        if (!s->started || !ngx_chat_session_open(s)) {
            continue;
        }

        /* requests under way, or answers queued and not written yet */
        busy = (s->inflight || s->ops || s->reply_bytes);

        if (!s->restart_due) {
            if (n == 0 && !all) {
                continue;
            }

            n -= (n > 0);
            s->restart_due = 1;
        }

        if (busy && !all) {
            due++;
            continue;
        }

        ngx_chat_session_going(s);
    }

    return due;
}


void
ngx_chat_sessions_shutdown(void)
{
    ngx_queue_t         *q;
    ngx_chat_session_t  *s;

    while (!ngx_queue_empty(&ngx_chat_worker.sessions)) {
        q = ngx_queue_head(&ngx_chat_worker.sessions);
        s = ngx_queue_data(q, ngx_chat_session_t, queue);
        ngx_chat_session_finalize(s);
    }

    ngx_chat_session_deflate_exit();
}


/* the rooms a session joined: one member per room, kept by the fanout */
void
ngx_chat_session_add_member(ngx_chat_session_t *s, ngx_chat_member_t *m)
{
    m->snext = s->members;
    s->members = m;
}


void
ngx_chat_session_remove_member(ngx_chat_session_t *s, ngx_chat_member_t *m)
{
    ngx_chat_member_t  **p;

    for (p = &s->members; *p; p = &(*p)->snext) {
        if (*p == m) {
            *p = m->snext;
            return;
        }
    }
}


void
ngx_chat_session_replace_member(ngx_chat_session_t *s, ngx_chat_member_t *m,
    ngx_chat_member_t *by)
{
    ngx_chat_member_t  **p;

    for (p = &s->members; *p; p = &(*p)->snext) {
        if (*p == m) {
            *p = by;
            return;
        }
    }
}


/* while a token is checked nothing more is taken from the connection */
void
ngx_chat_session_auth_wait(ngx_chat_session_t *s, ngx_uint_t wait)
{
    s->auth_wait = wait ? 1 : 0;

    if (!wait) {
        ngx_chat_session_resume(s);
    }
}
