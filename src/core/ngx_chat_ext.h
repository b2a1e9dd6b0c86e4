/*
 * Sec-WebSocket-Extensions (RFC 6455 section 9.1): the client's offers of
 * permessage-deflate (RFC 7692 section 7.1) read, and the server's
 * answer written.  Free of nginx types.
 */

#ifndef _NGX_CHAT_EXT_H_INCLUDED_
#define _NGX_CHAT_EXT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


typedef struct {
    unsigned   deflate:1;       /* an offer was accepted */
    unsigned   server_bits:4;   /* server_max_window_bits asked, else 0 */
} ngx_chat_ext_t;


/*
 * Reads one header value (the values of several headers are read in
 * turn) and accepts the first acceptable offer of permessage-deflate; an
 * offer with an unknown, repeated or invalid parameter is declined (RFC
 * 7692 section 7.1), and so is every offer of a value that breaks the
 * header's grammar.  Returns 1 once an offer is accepted, else 0.
 */
int ngx_chat_ext_offer(ngx_chat_ext_t *ext, const uint8_t *value,
    size_t len);

/* the longest answer ngx_chat_ext_answer() writes */
#define NGX_CHAT_EXT_ANSWER_MAX  128

/*
 * The response header's value for an accepted offer: no context
 * takeover either way, and the server's window as the client asked.
 * Returns its length.
 */
size_t ngx_chat_ext_answer(const ngx_chat_ext_t *ext, char *buf);


#endif /* _NGX_CHAT_EXT_H_INCLUDED_ */
