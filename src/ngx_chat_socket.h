/*
 * A socket that a library (hiredis, libpq) opened and owns, watched by
 * nginx: wrapped as an nginx connection, level-triggered, readiness
 * handed to its owner.
 */

#ifndef _NGX_CHAT_SOCKET_H_INCLUDED_
#define _NGX_CHAT_SOCKET_H_INCLUDED_

#include "ngx_chat.h"


/* write: 1 when the socket is writable, 0 when readable */
typedef void (*ngx_chat_socket_ready_pt)(void *owner, ngx_uint_t write);

typedef struct {
    ngx_connection_t          *c;          /* NULL: not wrapped */
    ngx_chat_socket_ready_pt   ready;
    void                      *owner;
    ngx_log_t                 *log;
} ngx_chat_socket_t;


void ngx_chat_socket_init(ngx_chat_socket_t *s, ngx_chat_socket_ready_pt ready,
    void *owner, ngx_log_t *log);
ngx_int_t ngx_chat_socket_wrap(ngx_chat_socket_t *s, ngx_socket_t fd);
/* watch one direction, or stop watching it; nothing when not wrapped */
ngx_int_t ngx_chat_socket_watch(ngx_chat_socket_t *s, ngx_uint_t write,
    ngx_uint_t on);
/* watch exactly these directions */
ngx_int_t ngx_chat_socket_want(ngx_chat_socket_t *s, ngx_uint_t rd,
    ngx_uint_t wr);
/*
 * The library closes the socket itself, after or before this: "closed"
 * says it did already, and then its number may be another's by now, so
 * the event module is not asked to forget it (the kernel did).
 */
void ngx_chat_socket_unwrap(ngx_chat_socket_t *s, ngx_uint_t closed);

#endif /* _NGX_CHAT_SOCKET_H_INCLUDED_ */
