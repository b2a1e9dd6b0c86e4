/*
 * Presence (protocol.md section 8): who is online on any worker of any
 * host, and since when they were last seen.
 */

#ifndef _NGX_CHAT_PRESENCE_H_INCLUDED_
#define _NGX_CHAT_PRESENCE_H_INCLUDED_

#include "ngx_chat.h"


typedef struct {
    ngx_str_t    user;          /* asked for */
    ngx_uint_t   online;        /* answered */
    int64_t      last_seen;     /* ms; 0: never seen */
} ngx_chat_presence_state_t;

/* rc: NGX_OK, or NGX_ERROR when presence cannot be known (Redis down) */
typedef void (*ngx_chat_presence_handler_pt)(void *data,
    ngx_chat_presence_state_t *users, ngx_uint_t n, ngx_int_t rc);


/*
 * Fills online and last_seen of users[0..n-1] and calls handler; the
 * handler may run before this returns.  users stays the caller's.
 */
void ngx_chat_presence_lookup(ngx_chat_presence_state_t *users, ngx_uint_t n,
    ngx_chat_presence_handler_pt handler, void *data);

#endif /* _NGX_CHAT_PRESENCE_H_INCLUDED_ */
