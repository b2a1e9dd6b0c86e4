/*
 * Edits and deletes of messages.
 */

#ifndef _NGX_CHAT_EDIT_H_INCLUDED_
#define _NGX_CHAT_EDIT_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_proto.h"


/* the WebSocket requests "edit" and "delete" */
void ngx_chat_edit_request(ngx_chat_session_t *s, ngx_chat_request_t *req);

#endif /* _NGX_CHAT_EDIT_H_INCLUDED_ */
