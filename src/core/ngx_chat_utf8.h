/*
 * Incremental UTF-8 validation (RFC 3629).  Knows nothing of nginx so that
 * unit tests and fuzzers can drive it directly.
 */

#ifndef _NGX_CHAT_UTF8_H_INCLUDED_
#define _NGX_CHAT_UTF8_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_CHAT_UTF8_ACCEPT  0
#define NGX_CHAT_UTF8_REJECT  1   /* any other value: inside a sequence */


/*
 * Feeds len bytes to the validator and returns the new state.  Start with
 * NGX_CHAT_UTF8_ACCEPT; the input is complete valid UTF-8 only if the final
 * state is NGX_CHAT_UTF8_ACCEPT.  REJECT is sticky and is returned at the
 * first byte that cannot be part of any valid sequence.
 */
uint32_t ngx_chat_utf8_feed(uint32_t state, const uint8_t *p, size_t len);

/* returns 1 if p[0..len) is complete valid UTF-8, 0 otherwise */
int ngx_chat_utf8_valid(const uint8_t *p, size_t len);


#endif /* _NGX_CHAT_UTF8_H_INCLUDED_ */
