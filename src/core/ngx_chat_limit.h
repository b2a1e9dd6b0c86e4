/*
 * Rates in the manner of nginx's limit_req: "20r/s" or "30r/m" with a
 * burst, kept as a GCRA state (one 64-bit time per limited thing, no
 * timer).  Knows nothing of nginx so that unit tests drive it directly.
 */

#ifndef _NGX_CHAT_LIMIT_H_INCLUDED_
#define _NGX_CHAT_LIMIT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_CHAT_LIMIT_MAX  1000000     /* most requests a second or burst */


typedef struct {
    uint64_t    interval;   /* microseconds per request, 0: no limit */
    uint64_t    burst;      /* requests allowed beyond the rate */
} ngx_chat_limit_t;


/*
 * "Nr/s" or "Nr/m", N from 1 to NGX_CHAT_LIMIT_MAX: sets lim->interval.
 * Returns 0, or -1 with *err saying why.
 */
int ngx_chat_limit_parse_rate(const char *s, size_t len,
    ngx_chat_limit_t *lim, const char **err);

/* "burst=N", N from 0 to NGX_CHAT_LIMIT_MAX: sets lim->burst */
int ngx_chat_limit_parse_burst(const char *s, size_t len,
    ngx_chat_limit_t *lim, const char **err);

/*
 * One request at now (microseconds, monotonic): 0 when it is within the
 * limit (and *tat, the state, moves on), else the microseconds to wait
 * before one would be (and *tat is unchanged).  As limit_req with
 * "nodelay": burst + 1 requests pass at once, then one per interval.
 * A state of 0 is a fresh one.
 */
uint64_t ngx_chat_limit_take(uint64_t *tat, uint64_t now,
    const ngx_chat_limit_t *lim);

/* a wait as the protocol's retry_after: whole seconds, at least 1 */
long long ngx_chat_limit_seconds(uint64_t wait);


#endif /* _NGX_CHAT_LIMIT_H_INCLUDED_ */
