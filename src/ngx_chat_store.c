/*
 * The stores of chat_store.
 */

#include "ngx_chat.h"
#include "ngx_chat_store.h"


static ngx_chat_room_table_t *ngx_chat_store_logged_rooms(void);
static ngx_chat_room_table_t *ngx_chat_store_relay_rooms(void);


const ngx_chat_store_t  ngx_chat_store_postgresql = {
    ngx_string("postgresql"),
    NGX_CHAT_STORE_POSTGRESQL,
    1,
    ngx_chat_batch_send,
    ngx_chat_store_logged_rooms
};


const ngx_chat_store_t  ngx_chat_store_redis = {
    ngx_string("redis"),
    NGX_CHAT_STORE_REDIS,
    0,
    ngx_chat_relay_send,
    ngx_chat_store_relay_rooms
};


const ngx_chat_store_t  *const ngx_chat_stores[] = {
    &ngx_chat_store_postgresql,
    &ngx_chat_store_redis,
    NULL
};


const ngx_chat_store_t *
ngx_chat_store_by_name(ngx_str_t *name)
{
    const ngx_chat_store_t *const  *st;

    for (st = ngx_chat_stores; *st; st++) {
        if ((*st)->name.len == name->len
            && ngx_strncmp((*st)->name.data, name->data, name->len) == 0)
        {
            return *st;
        }
    }

    return NULL;
}


const ngx_chat_store_t *
ngx_chat_store_of(ngx_uint_t index)
{
    const ngx_chat_store_t *const  *st;

    for (st = ngx_chat_stores; *st; st++) {
        if ((*st)->index == index) {
            return *st;
        }
    }

    return NULL;
}


static ngx_chat_room_table_t *
ngx_chat_store_logged_rooms(void)
{
    return &ngx_chat_worker.rooms;
}


static ngx_chat_room_table_t *
ngx_chat_store_relay_rooms(void)
{
    return &ngx_chat_worker.relay_rooms;
}
