/*
 * Ephemeral room events: typing now; presence next.
 */

#ifndef _NGX_CHAT_EPHEMERAL_H_INCLUDED_
#define _NGX_CHAT_EPHEMERAL_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


void ngx_chat_typing(ngx_chat_session_t *s, ngx_chat_request_t *req);


#endif /* _NGX_CHAT_EPHEMERAL_H_INCLUDED_ */
