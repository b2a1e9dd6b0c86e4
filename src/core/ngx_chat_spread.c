/*
 * A spread: things done in even slices over a window.
 */

#include "ngx_chat_spread.h"


uint64_t
ngx_chat_spread_slice(uint64_t left, uint64_t total, int64_t rest_ms,
    uint64_t window_ms)
{
    uint64_t  keep;

    if (rest_ms <= 0 || window_ms == 0) {
        return left;
    }

    if ((uint64_t) rest_ms > window_ms) {
        rest_ms = (int64_t) window_ms;
    }

    /* what the line leaves at this time, to the nearest */
    keep = (2 * total * (uint64_t) rest_ms + window_ms) / (2 * window_ms);

    return left > keep ? left - keep : 0;
}
