/*
 * Where a location's sends go (chat_store): what differs between the two
 * stores, chosen when the configuration is read.
 */

#ifndef _NGX_CHAT_STORE_H_INCLUDED_
#define _NGX_CHAT_STORE_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_op.h"


typedef void (*ngx_chat_store_send_pt)(ngx_chat_op_t *op, const char *name,
    size_t name_len, ngx_chat_request_t *req);

struct ngx_chat_store_s {
    ngx_str_t                 name;

    /* rooms of each store are apart: room tables, Redis channels */
    ngx_uint_t                index;        /* NGX_CHAT_STORE_* */

    /*
     * PostgreSQL keeps every room's events in order: history, cursors,
     * replays and gap fills read them back.  Redis only numbers them.
     */
    unsigned                  logged:1;

    /* commit (or number) the send, answer it, publish its event */
    ngx_chat_store_send_pt    send;

    /* the worker's rooms of this store */
    ngx_chat_room_table_t  *(*rooms)(void);
};


extern const ngx_chat_store_t  ngx_chat_store_postgresql;
extern const ngx_chat_store_t  ngx_chat_store_redis;

/* every store, NULL last */
extern const ngx_chat_store_t  *const ngx_chat_stores[];

const ngx_chat_store_t *ngx_chat_store_by_name(ngx_str_t *name);
/* the store of an index (NGX_CHAT_STORE_*), as Redis names channels */
const ngx_chat_store_t *ngx_chat_store_of(ngx_uint_t index);


#endif /* _NGX_CHAT_STORE_H_INCLUDED_ */
