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
 * when the spread's ticks close it later (after a quit or without a
 * spread, at the first tick, or once its answers are out), 0 when it
 * closes at once (the spread over).
 */
ngx_uint_t ngx_chat_reload_hold(void);

/*
 * 1 while the worker looks after its backends and rooms (reconnects, the
 * room sync, the cluster's slot map): it runs, or, exiting, it still
 * serves sessions of the spread (or waits for their answers).  What stops
 * when a worker exits goes on until the spread is over.
 */
ngx_uint_t ngx_chat_reload_backends_kept(void);

void ngx_chat_reload_exit(void);


#endif /* _NGX_CHAT_RELOAD_H_INCLUDED_ */
