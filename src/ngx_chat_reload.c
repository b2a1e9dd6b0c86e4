/*
 * chat_reload_spread: after a reload nginx wakes the old worker's idle
 * connections with c->close set, all at once (ngx_close_idle_connections).
 * A session that would close then asks ngx_chat_reload_hold(): with a
 * spread it stays open, served as before, and a timer of this file closes
 * the sessions in slices, the oldest first, one slice a tick: as many as
 * stand above a straight line from the sessions at the start to none at
 * the end of the window (ngx_chat_spread_slice).  A session waiting for
 * the answer to a send closes once it is out (ngx_chat_sessions_going),
 * so that no client loses the ack of a stored message; past the window
 * by chat_postgres_timeout, every session closes.  The timer is not
 * cancelable: the worker does not exit before its sessions are told.
 * Once none is left the worker exits as nginx has it, after the close
 * handshakes (each session's close wait).
 *
 * Without a window (chat_reload_spread 0, or a quit, which closes with
 * 1001) the same ticks run with a window of none: every session is due
 * at the first, those with nothing under way close at once, and those
 * waiting for an answer once it is out.  Closed at once, a session whose
 * send was in its commit lost the ack of a stored message, and its
 * client could only guess whether to send it again.
 *
 * With worker_shutdown_timeout the window ends early enough for the close
 * handshakes to finish before nginx closes every connection.
 */

#include "ngx_chat.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_reload.h"
#include "ngx_chat_session.h"
#include "ngx_chat_spread.h"


/* a slice every tick */
#define NGX_CHAT_RELOAD_TICK    100
/* what a window leaves before worker_shutdown_timeout (or half of it) */
#define NGX_CHAT_RELOAD_MARGIN  1000


typedef enum {
    NGX_CHAT_RELOAD_NONE = 0,     /* not asked yet */
    NGX_CHAT_RELOAD_SPREADING,
    NGX_CHAT_RELOAD_OVER          /* every session closes at once */
} ngx_chat_reload_state_e;


static void ngx_chat_reload_tick(ngx_event_t *ev);
static ngx_msec_t ngx_chat_reload_window(void);


static ngx_chat_reload_state_e  ngx_chat_reload_state;
static ngx_event_t              ngx_chat_reload_ev;
static ngx_msec_t               ngx_chat_reload_end;
static ngx_msec_t               ngx_chat_reload_window_ms;
static ngx_uint_t               ngx_chat_reload_total;  /* at the start */


ngx_uint_t
ngx_chat_reload_hold(void)
{
    ngx_msec_t  window;

    switch (ngx_chat_reload_state) {

    case NGX_CHAT_RELOAD_SPREADING:
        return 1;

    case NGX_CHAT_RELOAD_OVER:
        return 0;

    default: /* NGX_CHAT_RELOAD_NONE */
        break;
    }

    ngx_chat_reload_state = NGX_CHAT_RELOAD_OVER;

    if (!ngx_chat_worker.active || !ngx_exiting) {
        return 0;
    }

    /* a shutdown (1001) spreads nothing, but waits for answers too */
    window = ngx_chat_metrics_reloaded() ? ngx_chat_reload_window() : 0;

    ngx_chat_reload_state = NGX_CHAT_RELOAD_SPREADING;
    ngx_chat_reload_end = ngx_current_msec + window;
    ngx_chat_reload_window_ms = window;
    ngx_chat_reload_total = ngx_chat_sessions_serving();

    ngx_chat_reload_ev.handler = ngx_chat_reload_tick;
    ngx_chat_reload_ev.data = &ngx_chat_no_connection;
    ngx_chat_reload_ev.log = ngx_chat_worker.log;
    ngx_chat_reload_ev.cancelable = 0;

    /* the first slice at the first tick: nginx is still waking the rest */
    ngx_add_timer(&ngx_chat_reload_ev, ngx_min(window, NGX_CHAT_RELOAD_TICK));

    if (window) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_worker.log, 0,
                      "chat: reload: closing %ui sessions over %M ms",
                      ngx_chat_reload_total, window);
    }

    return 1;
}


ngx_uint_t
ngx_chat_reload_backends_kept(void)
{
    return !ngx_terminate
           && (!ngx_exiting
               || ngx_chat_reload_state == NGX_CHAT_RELOAD_SPREADING);
}


static void
ngx_chat_reload_tick(ngx_event_t *ev)
{
    ngx_uint_t      left, due, all;
    ngx_msec_int_t  rest;

    left = ngx_chat_sessions_serving();
    rest = (ngx_msec_int_t) (ngx_chat_reload_end - ngx_current_msec);

    /* the answers to a send come within chat_postgres_timeout */
    all = (rest <= -(ngx_msec_int_t) ngx_chat_worker.mcf->pg_timeout);

    due = ngx_chat_sessions_going((ngx_uint_t)
              ngx_chat_spread_slice(left, ngx_chat_reload_total, rest,
                                    ngx_chat_reload_window_ms),
              all);

    if (due == 0 && ngx_chat_sessions_serving() == 0) {
        /* the stragglers of a late handshake close at once from now on */
        ngx_chat_reload_state = NGX_CHAT_RELOAD_OVER;
        return;
    }

    ngx_add_timer(ev, rest > 0 ? ngx_min((ngx_msec_t) rest,
                                         NGX_CHAT_RELOAD_TICK)
                               : NGX_CHAT_RELOAD_TICK);
}


/* chat_reload_spread, shortened to leave worker_shutdown_timeout a margin */
static ngx_msec_t
ngx_chat_reload_window(void)
{
    ngx_msec_t        window, timeout;
    ngx_core_conf_t  *ccf;

    window = ngx_chat_worker.mcf->reload_spread;

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);
    timeout = ccf->shutdown_timeout;

    if (timeout && timeout != NGX_CONF_UNSET_MSEC) {
        timeout -= ngx_min(timeout / 2, NGX_CHAT_RELOAD_MARGIN);
        window = ngx_min(window, timeout);
    }

    return window;
}


void
ngx_chat_reload_exit(void)
{
    if (ngx_chat_reload_ev.timer_set) {
        ngx_del_timer(&ngx_chat_reload_ev);
    }

    ngx_chat_reload_state = NGX_CHAT_RELOAD_NONE;
}
