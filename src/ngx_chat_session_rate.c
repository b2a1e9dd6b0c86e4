/*
 * chat_request_rate on a connection: its budget, and the connections
 * paused until their next request would pass.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"


static ngx_chat_session_rate_t *ngx_chat_session_rate_state(
    ngx_chat_session_t *s);
static void ngx_chat_session_rate_resume(ngx_event_t *ev);


/*
 * A connection over its chat_request_rate is not read until its next
 * request would pass (1 s at most, so that pongs and closes are still
 * read): what it pipelines meanwhile waits in its socket, not in the
 * worker.  The sessions paused, by resume time, and one timer for all.
 */
#define NGX_CHAT_RATE_PAUSE_MAX  1000

/*
 * Each frame over the budget that was already read is answered (a ping
 * with its pong, a request with rate_limited).  A client that pipelines
 * thousands would have as many answers written: past this many refusals
 * within NGX_CHAT_RATE_PAUSE_MAX, the rest of what was read waits, and
 * the connection is not read until that time is over.
 */
#define NGX_CHAT_RATE_REFUSED_MAX  64

/*
 * A session's pause and refusals: most connections never go over their
 * budget, so this is allocated the first time one does.
 */
struct ngx_chat_session_rate_s {
    ngx_queue_t               queue;      /* paused sessions */
    ngx_chat_session_t       *session;
    ngx_msec_t                resume;
    ngx_msec_t                window;     /* refusals counted since */
    ngx_uint_t                refused;
};


static ngx_queue_t   ngx_chat_session_paused;
static ngx_event_t   ngx_chat_session_resume_ev;


void
ngx_chat_session_rate_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_chat_session_paused);

    ngx_memzero(&ngx_chat_session_resume_ev, sizeof(ngx_event_t));
    ngx_chat_session_resume_ev.handler = ngx_chat_session_rate_resume;
    ngx_chat_session_resume_ev.data = &ngx_chat_no_connection;
    ngx_chat_session_resume_ev.log = cycle->log;
    ngx_chat_session_resume_ev.cancelable = 1;
}


/* after the sessions are closed: their last references go */
void
ngx_chat_session_rate_exit(void)
{
    ngx_queue_t              *q;
    ngx_chat_session_t       *s;
    ngx_chat_session_rate_t  *rt;

    if (ngx_chat_session_resume_ev.timer_set) {
        ngx_del_timer(&ngx_chat_session_resume_ev);
    }

    while (!ngx_queue_empty(&ngx_chat_session_paused)) {
        q = ngx_queue_head(&ngx_chat_session_paused);
        ngx_queue_remove(q);
        rt = ngx_queue_data(q, ngx_chat_session_rate_t, queue);
        s = rt->session;
        s->rate_paused = 0;
        ngx_chat_session_unref(s);
    }
}


/* wait: microseconds until the next request would pass */
void
ngx_chat_session_rate_pause(ngx_chat_session_t *s, uint64_t wait)
{
    ngx_msec_t                ms;
    ngx_queue_t              *q;
    ngx_chat_session_rate_t  *rt, *p;

    /* the frames already read are answered; no more are read */
    if (s->rate_paused || s->closed) {
        return;
    }

    rt = ngx_chat_session_rate_state(s);
    if (rt == NULL) {
        /* not paused: each request over the budget is still refused */
        return;
    }

    ms = (ngx_msec_t) (wait / 1000 + 1);

    if (ms > NGX_CHAT_RATE_PAUSE_MAX) {
        ms = NGX_CHAT_RATE_PAUSE_MAX;
    }

    s->rate_paused = 1;
    rt->resume = ngx_current_msec + ms;
    ngx_chat_session_ref(s);

    /* resume times mostly come in order: look from the tail */
    for (q = ngx_queue_last(&ngx_chat_session_paused);
         q != ngx_queue_sentinel(&ngx_chat_session_paused);
         q = ngx_queue_prev(q))
    {
        p = ngx_queue_data(q, ngx_chat_session_rate_t, queue);

        if (p->resume <= rt->resume) {
            break;
        }
    }

    ngx_queue_insert_after(q, &rt->queue);

    if (ngx_queue_head(&ngx_chat_session_paused) == &rt->queue) {
        /* ngx_add_timer() would keep a timer up to 300 ms later */
        if (ngx_chat_session_resume_ev.timer_set) {
            ngx_del_timer(&ngx_chat_session_resume_ev);
        }

        ngx_add_timer(&ngx_chat_session_resume_ev, ms);
    }
}


/* a frame over the budget was answered; wait: as for the pause */
void
ngx_chat_session_rate_refused(ngx_chat_session_t *s, uint64_t wait)
{
    ngx_msec_int_t            left;
    ngx_chat_session_rate_t  *rt;

    rt = ngx_chat_session_rate_state(s);
    if (rt == NULL) {
        return;
    }

    left = (ngx_msec_int_t) (rt->window + NGX_CHAT_RATE_PAUSE_MAX
                             - ngx_current_msec);

    if (rt->refused == 0 || left <= 0) {
        rt->window = ngx_current_msec;
        rt->refused = 0;
        left = NGX_CHAT_RATE_PAUSE_MAX;
    }

    if (++rt->refused >= NGX_CHAT_RATE_REFUSED_MAX && !s->rate_choked) {
        /* it does not heed retry_after: paused to the end of the window */
        s->rate_choked = 1;

        if (s->rate_paused) {
            ngx_queue_remove(&rt->queue);
            s->rate_paused = 0;
            ngx_chat_session_unref(s);
        }

        if (wait < (uint64_t) left * 1000) {
            wait = (uint64_t) left * 1000;
        }
    }

    ngx_chat_session_rate_pause(s, wait);
}


static void
ngx_chat_session_rate_resume(ngx_event_t *ev)
{
    ngx_queue_t              *q;
    ngx_chat_session_t       *s;
    ngx_chat_session_rate_t  *rt;

    while (!ngx_queue_empty(&ngx_chat_session_paused)) {
        q = ngx_queue_head(&ngx_chat_session_paused);
        rt = ngx_queue_data(q, ngx_chat_session_rate_t, queue);
        s = rt->session;

        if ((ngx_msec_int_t) (rt->resume - ngx_current_msec) > 0) {
            ngx_add_timer(ev, rt->resume - ngx_current_msec);
            return;
        }

        ngx_queue_remove(q);
        s->rate_paused = 0;
        s->rate_choked = 0;

        /* unless another limit holds it, such as its sends */
        ngx_chat_session_resume(s);
        ngx_chat_session_unref(s);
    }
}



/* NULL: out of memory (logged), and the session is neither paused nor
   counted: each request over its budget is still refused */
static ngx_chat_session_rate_t *
ngx_chat_session_rate_state(ngx_chat_session_t *s)
{
    ngx_chat_session_rate_t  *rt;

    if (s->rate) {
        return s->rate;
    }

    rt = ngx_calloc(sizeof(ngx_chat_session_rate_t), s->connection->log);
    if (rt == NULL) {
        return NULL;
    }

    rt->session = s;
    s->rate = rt;

    return rt;
}


/* 0: the request passes; else microseconds until one would */
uint64_t
ngx_chat_session_rate_take(ngx_chat_session_t *s)
{
    return ngx_chat_limit_take(&s->request_tat,
                               (uint64_t) ngx_current_msec * 1000,
                               &s->lcf->request_rate);
}
