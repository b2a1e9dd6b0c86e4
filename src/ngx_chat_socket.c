/*
 * The nginx side of a library's socket, written once for hiredis and
 * libpq.  Both libraries read and write what they can per call and say
 * which direction they wait for, so interest is level-triggered and
 * follows what they ask.
 */

#include "ngx_chat.h"
#include "ngx_chat_socket.h"


static void ngx_chat_socket_event(ngx_event_t *ev);


void
ngx_chat_socket_init(ngx_chat_socket_t *s, ngx_chat_socket_ready_pt ready,
    void *owner, ngx_log_t *log)
{
    s->c = NULL;
    s->ready = ready;
    s->owner = owner;
    s->log = log;
}


ngx_int_t
ngx_chat_socket_wrap(ngx_chat_socket_t *s, ngx_socket_t fd)
{
    ngx_connection_t  *c;

    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, s->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = s;
    c->read->handler = ngx_chat_socket_event;
    c->write->handler = ngx_chat_socket_event;
    c->read->log = s->log;
    c->write->log = s->log;

    s->c = c;

    return NGX_OK;
}


ngx_int_t
ngx_chat_socket_watch(ngx_chat_socket_t *s, ngx_uint_t write, ngx_uint_t on)
{
    ngx_event_t  *ev;

    if (s->c == NULL) {
        return NGX_OK;
    }

    ev = write ? s->c->write : s->c->read;

    if (on && !ev->active) {
        return ngx_add_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT,
                             NGX_LEVEL_EVENT);
    }

    if (!on && ev->active) {
        return ngx_del_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT, 0);
    }

    return NGX_OK;
}


ngx_int_t
ngx_chat_socket_want(ngx_chat_socket_t *s, ngx_uint_t rd, ngx_uint_t wr)
{
    if (ngx_chat_socket_watch(s, 0, rd) != NGX_OK
        || ngx_chat_socket_watch(s, 1, wr) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_chat_socket_unwrap(ngx_chat_socket_t *s, ngx_uint_t closed)
{
    ngx_connection_t  *c;

    c = s->c;
    if (c == NULL) {
        return;
    }

    if (closed) {
        c->read->active = 0;
        c->write->active = 0;

    } else {
        (void) ngx_chat_socket_want(s, 0, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* the library owns the socket and closes it */
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
    s->c = NULL;
}


static void
ngx_chat_socket_event(ngx_event_t *ev)
{
    ngx_connection_t   *c;
    ngx_chat_socket_t  *s;

    c = ev->data;
    s = c->data;

    s->ready(s->owner, ev->write);
}
