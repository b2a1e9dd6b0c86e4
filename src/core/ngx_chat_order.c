/*
 * Ordered delivery decisions; see ngx_chat_order.h.
 */

#include "ngx_chat_order.h"


ngx_chat_order_e
ngx_chat_order_arrive(const ngx_chat_order_t *o, int64_t rev)
{
    if (!o->logged) {
        /*
         * nothing could fill a gap, and the channel brings the events in
         * order: each is shown as it comes (joining members hold it)
         */
        return NGX_CHAT_ORDER_DELIVER;
    }

    if (!o->ready) {
        return NGX_CHAT_ORDER_HOLD;
    }

    if (rev <= o->delivered) {
        return NGX_CHAT_ORDER_DUPLICATE;
    }

    if (rev != o->delivered + 1) {
        return NGX_CHAT_ORDER_GAP;
    }

    return NGX_CHAT_ORDER_DELIVER;
}


int
ngx_chat_order_expect(ngx_chat_order_t *o, int64_t rev)
{
    if (!o->logged || rev <= o->delivered) {
        return 0;
    }

    if (rev > o->expected) {
        o->expected = rev;
    }

    return o->ready;
}


int
ngx_chat_order_must_fill(const ngx_chat_order_t *o, size_t npending)
{
    if (!o->logged || !o->ready) {
        return 0;
    }

    /* what the log had may have come meanwhile */
    return npending != 0 || o->delivered < o->expected;
}


int
ngx_chat_order_member_takes(int64_t floor, int64_t rev)
{
    return rev == 0 || rev > floor;
}


int64_t
ngx_chat_order_join_target(int64_t delivered, int64_t stored,
    int64_t since_rev)
{
    int64_t  target;

    /*
     * A room behind its log, or a client ahead of this worker, moves the
     * target on: the replay reads up to it, and the member skips the
     * room's own catching up to it.
     */
    target = delivered > stored ? delivered : stored;

    return since_rev > target ? since_rev : target;
}
