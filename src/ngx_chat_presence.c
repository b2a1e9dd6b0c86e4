/*
 * Presence (protocol.md section 8).
 */

#include "ngx_chat.h"
#include "ngx_chat_presence.h"


void
ngx_chat_presence_lookup(ngx_chat_presence_state_t *users, ngx_uint_t n,
    ngx_chat_presence_handler_pt handler, void *data)
{
    ngx_uint_t  i;

    /* not kept yet: nobody is known to be online */
    for (i = 0; i < n; i++) {
        users[i].online = 0;
        users[i].last_seen = 0;
    }

    handler(data, users, n, NGX_OK);
}
