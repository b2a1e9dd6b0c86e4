/*
 * Ordered delivery of a room's durable events: what a room does with an
 * event that arrives, given what it delivered.  Events are ordered by the
 * room's rev (protocol.md section 5a), and come from a local commit, from
 * Redis (in any order, maybe twice, maybe never) or from a read of the
 * room's log.  Free of nginx types: fanout keeps the state and acts.
 */

#ifndef _NGX_CHAT_ORDER_H_INCLUDED_
#define _NGX_CHAT_ORDER_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


typedef enum {
    NGX_CHAT_ORDER_DELIVER = 0,  /* the next one: deliver it now */
    NGX_CHAT_ORDER_DUPLICATE,    /* delivered already: drop it */
    NGX_CHAT_ORDER_HOLD,         /* the room is opening: keep it */
    NGX_CHAT_ORDER_GAP           /* one before it is missing: keep it, wait
                                    for the gap, then read it back */
} ngx_chat_order_e;


typedef struct {
    int64_t     delivered;       /* the last rev delivered */
    int64_t     expected;        /* the log holds this rev at least */
    unsigned    ready:1;         /* the room knows where it starts */
    unsigned    logged:1;        /* a log can fill gaps (not the redis
                                    store: its events come in order, each
                                    once, and are shown as they come) */
} ngx_chat_order_t;


ngx_chat_order_e ngx_chat_order_arrive(const ngx_chat_order_t *o,
    int64_t rev);
/*
 * The log holds rev at least (a sync, a join's check): returns 1 when the
 * room is behind it, to wait for the gap and then fill it.
 */
int ngx_chat_order_expect(ngx_chat_order_t *o, int64_t rev);
/*
 * The gap wait is over, npending events are kept: 1 when something is
 * still missing and must be read back from the log.
 */
int ngx_chat_order_must_fill(const ngx_chat_order_t *o, size_t npending);
/*
 * A joined member whose replay reached floor: does an event of rev
 * (0: not a durable one) go to it?
 */
int ngx_chat_order_member_takes(int64_t floor, int64_t rev);
/*
 * Where a join's replay ends: the latest rev the room delivered, the log
 * held (when checked), or the client saw (since_rev, when given, else
 * -1); events after it go live.
 */
int64_t ngx_chat_order_join_target(int64_t delivered, int64_t stored,
    int64_t since_rev);

#endif /* _NGX_CHAT_ORDER_H_INCLUDED_ */
