/*
 * The group commit of sends to PostgreSQL.
 */

#ifndef _NGX_CHAT_BATCH_H_INCLUDED_
#define _NGX_CHAT_BATCH_H_INCLUDED_

#include "ngx_chat.h"


ngx_int_t ngx_chat_batch_init(ngx_cycle_t *cycle);
void ngx_chat_batch_exit(void);

#endif /* _NGX_CHAT_BATCH_H_INCLUDED_ */
