/*
 * The SQL the module runs, and turning stored rows into protocol frames.
 */

#ifndef _NGX_CHAT_SQL_H_INCLUDED_
#define _NGX_CHAT_SQL_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_proto.h"


#define NGX_CHAT_SQL_MESSAGE_COLUMNS                                          \
    "seq, msg_id, sender, sender_name, body, client_msg_id, reply_to, "      \
    "meta, ts, deleted, edited_at"

/* retry_after is in ms */
#define NGX_CHAT_SQL_ROOM_OPEN_BATCH                                          \
    "select i, seq, state, message, retry_after"                             \
    " from chat_room_open_batch($1::jsonb, $2, $3, $4) order by i"

/* newest first: a capped replay keeps the latest messages */
#define NGX_CHAT_SQL_REPLAY                                                   \
    "select " NGX_CHAT_SQL_MESSAGE_COLUMNS " from messages"                  \
    " where room_id = $1 and seq > $2 and seq <= $3"                         \
    " order by seq desc limit $4"

#define NGX_CHAT_SQL_RESYNC                                                   \
    "select " NGX_CHAT_SQL_MESSAGE_COLUMNS " from messages"                  \
    " where room_id = $1 and seq > $2 order by seq limit $3"

#define NGX_CHAT_SQL_SEND_BATCH                                               \
    "select i, status, seq, msg_id, ts, retry_after"                         \
    " from chat_send_batch_quota($1::jsonb, $2, $3, $4)"

/* chat_history returns NGX_CHAT_SQL_MESSAGE_COLUMNS */
#define NGX_CHAT_SQL_HISTORY                                                  \
    "select * from chat_history($1, $2, $3, $4, $5)"

#define NGX_CHAT_SQL_READ                                                     \
    "select chat_read($1, $2, $3)"

/* chat_rooms_of returns NGX_CHAT_ROOM_COLUMNS, then a message's columns */
#define NGX_CHAT_SQL_ROOMS_OF                                                 \
    "select * from chat_rooms_of($1, $2)"

#define NGX_CHAT_ROOM_COLUMNS  10

#define NGX_CHAT_SQL_ROOM_CREATE                                              \
    "select * from chat_room_create($1, $2, $3, $4, $5, $6, $7)"

#define NGX_CHAT_RESYNC_ROWS  1000


/*
 * chat_room_create_rate as the statements above take it: the interval in
 * ms and the burst, as text in buffers of NGX_INT64_LEN
 */
void ngx_chat_sql_room_create_rate(u_char *interval, int *interval_len,
    u_char *burst, int *burst_len);
long long ngx_chat_sql_retry_after(const char *ms);

ngx_int_t ngx_chat_sql_row_message(PGresult *res, int row, int c,
    const char *room, size_t room_len, ngx_uint_t event, ngx_chat_json_t *j);

#endif /* _NGX_CHAT_SQL_H_INCLUDED_ */
