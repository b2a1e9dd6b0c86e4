/*
 * A reload without a storm: the sessions of a worker that exits after a
 * reload are closed (1012) in even slices over chat_reload_spread, so that
 * their clients reconnect to the new workers at different times.
 */

#ifndef _NGX_CHAT_RELOAD_H_INCLUDED_
#define _NGX_CHAT_RELOAD_H_INCLUDED_

#include "ngx_chat.h"


/*
 * Asked by a session that nginx wakes to close as the worker exits: 1
 * when the spread closes it later, 0 when it closes at once (a shutdown,
 * no spread, the spread over).
 */
ngx_uint_t ngx_chat_reload_hold(void);

/*
 * 1 while the exiting worker still serves sessions of the spread: what
 * stops when a worker exits (the room sync, reconnects to Redis and
 * PostgreSQL) goes on until then.
 */
ngx_uint_t ngx_chat_reload_serving(void);

void ngx_chat_reload_exit(void);


#endif /* _NGX_CHAT_RELOAD_H_INCLUDED_ */
