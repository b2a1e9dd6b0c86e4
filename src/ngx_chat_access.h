/*
 * The access check of a join, batched.
 */

#ifndef _NGX_CHAT_ACCESS_H_INCLUDED_
#define _NGX_CHAT_ACCESS_H_INCLUDED_

#include "ngx_chat.h"


/*
 * The handler gets the room's stored seq and rev (of one snapshot) and
 * code NULL, or the protocol's error code and message (with retry_after
 * in seconds for rate_limited, else 0).
 */
typedef void (*ngx_chat_access_handler_pt)(void *data, int64_t seq,
    int64_t rev, const char *code, const char *message,
    long long retry_after);

ngx_int_t ngx_chat_access_init(ngx_cycle_t *cycle);
void ngx_chat_access_exit(void);
ngx_int_t ngx_chat_access_check(const char *room, size_t room_len,
    const char *user, size_t user_len, ngx_chat_access_handler_pt handler,
    void *data);

#endif /* _NGX_CHAT_ACCESS_H_INCLUDED_ */
