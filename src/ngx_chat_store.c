#include "ngx_chat_store.h"


/* one row of NGX_CHAT_SQL_MESSAGE_COLUMNS as a "message" event */
ngx_int_t
ngx_chat_store_row_message(PGresult *res, int row, const char *room,
    size_t room_len, ngx_chat_json_t *j)
{
    ngx_chat_message_t  m;

    ngx_memzero(&m, sizeof(ngx_chat_message_t));

    m.room = room;
    m.room_len = room_len;
    m.seq = atoll(PQgetvalue(res, row, 0));
    m.msg_id = atoll(PQgetvalue(res, row, 1));
    m.from = PQgetvalue(res, row, 2);
    m.from_len = PQgetlength(res, row, 2);
    m.name = PQgetvalue(res, row, 3);
    m.name_len = PQgetisnull(res, row, 3) ? 0 : PQgetlength(res, row, 3);
    m.deleted = PQgetvalue(res, row, 9)[0] == 't';

    if (!m.deleted) {
        m.body = PQgetvalue(res, row, 4);
        m.body_len = PQgetlength(res, row, 4);
        m.meta = PQgetvalue(res, row, 7);
        m.meta_len = PQgetisnull(res, row, 7) ? 0 : PQgetlength(res, row, 7);
    }

    m.client_msg_id = PQgetvalue(res, row, 5);
    m.cid_len = PQgetisnull(res, row, 5) ? 0 : PQgetlength(res, row, 5);
    m.reply_to = PQgetisnull(res, row, 6) ? 0 : atoll(PQgetvalue(res, row, 6));
    m.ts = atoll(PQgetvalue(res, row, 8));
    m.with_type = 1;

    return ngx_chat_json_message(j, &m) == 0 ? NGX_OK : NGX_ERROR;
}
