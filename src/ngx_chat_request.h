/*
 * The requests of the WebSocket protocol: decoded, checked, dispatched.
 */

#ifndef _NGX_CHAT_REQUEST_H_INCLUDED_
#define _NGX_CHAT_REQUEST_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


void ngx_chat_request_dispatch(ngx_chat_session_t *s, const u_char *data,
    size_t len);

#endif /* _NGX_CHAT_REQUEST_H_INCLUDED_ */
