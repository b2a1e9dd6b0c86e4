/*
 * A spread: a number of things done in slices, one slice a tick, evenly
 * over a window (the sessions an exiting worker closes after a reload,
 * chat_reload_spread).
 */

#ifndef _NGX_CHAT_SPREAD_H_INCLUDED_
#define _NGX_CHAT_SPREAD_H_INCLUDED_

#include <stdint.h>


/*
 * How many of the "left" things to do now, "rest_ms" before the end of a
 * window of "window_ms" that began with "total" things: as many as stand
 * above the straight line from total to none over the window, rounded to
 * the nearest (0 when things went by themselves faster); all of them at
 * or past the end.
 */
uint64_t ngx_chat_spread_slice(uint64_t left, uint64_t total,
    int64_t rest_ms, uint64_t window_ms);


#endif /* _NGX_CHAT_SPREAD_H_INCLUDED_ */
