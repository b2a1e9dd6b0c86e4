#include "ngx_chat_sql.h"


/*
 * One row of NGX_CHAT_SQL_MESSAGE_COLUMNS, from column c on, as a
 * "message" event, or as a history entry (the same without "type").
 */
ngx_int_t
ngx_chat_sql_row_message(PGresult *res, int row, int c, const char *room,
    size_t room_len, ngx_uint_t event, ngx_chat_json_t *j)
{
    ngx_chat_message_t  m;

    ngx_memzero(&m, sizeof(ngx_chat_message_t));

    m.room = room;
    m.room_len = room_len;
    m.seq = atoll(PQgetvalue(res, row, c));
    m.rev = atoll(PQgetvalue(res, row, c + 11));
    m.msg_id = atoll(PQgetvalue(res, row, c + 1));
    m.from = PQgetvalue(res, row, c + 2);
    m.from_len = PQgetlength(res, row, c + 2);

    if (!PQgetisnull(res, row, c + 3)) {
        m.name = PQgetvalue(res, row, c + 3);
        m.name_len = PQgetlength(res, row, c + 3);
    }

    m.deleted = PQgetvalue(res, row, c + 9)[0] == 't';

    if (!m.deleted) {
        m.body = PQgetvalue(res, row, c + 4);
        m.body_len = PQgetlength(res, row, c + 4);

        if (!PQgetisnull(res, row, c + 7)) {
            m.meta = PQgetvalue(res, row, c + 7);
            m.meta_len = PQgetlength(res, row, c + 7);
        }
    }

    if (!PQgetisnull(res, row, c + 5)) {
        m.client_msg_id = PQgetvalue(res, row, c + 5);
        m.cid_len = PQgetlength(res, row, c + 5);
    }

    if (!PQgetisnull(res, row, c + 6)) {
        m.reply_to = atoll(PQgetvalue(res, row, c + 6));
    }

    m.ts = atoll(PQgetvalue(res, row, c + 8));
    m.with_type = event ? 1 : 0;

    if (ngx_chat_json_message_open(j, &m) != 0) {
        return NGX_ERROR;
    }

    if (!m.deleted && !PQgetisnull(res, row, c + 10)) {
        ngx_chat_json_kv_int(j, "edited_at",
                             atoll(PQgetvalue(res, row, c + 10)));
    }

    return ngx_chat_json_end(j) == 0 ? NGX_OK : NGX_ERROR;
}


/*
 * The rows [first, last) of NGX_CHAT_SQL_MESSAGE_COLUMNS, from column c
 * on, as a JSON array of history entries; room NULL: each row's room is
 * its column 0.
 */
void
ngx_chat_sql_rows_messages(PGresult *res, int first, int last, int c,
    const char *room, size_t room_len, ngx_chat_json_t *j)
{
    int  i;

    ngx_chat_json_char(j, '[');

    for (i = first; i < last; i++) {
        ngx_chat_json_sep(j);

        if (ngx_chat_sql_row_message(res, i, c,
                                     room ? room : PQgetvalue(res, i, 0),
                                     room ? room_len
                                          : (size_t) PQgetlength(res, i, 0),
                                     0, j)
            != NGX_OK)
        {
            break;
        }
    }

    ngx_chat_json_char(j, ']');
}


/*
 * A short member row of NGX_CHAT_SQL_LOG (sql/018): the event's text as
 * chat_room_event_add published it, keys in the same order (replays and
 * live events are compared as text).  Ids are of protocol characters, so
 * the escaping of both sides cannot differ.
 */
static ngx_chat_buf_t *
ngx_chat_sql_row_member(PGresult *res, int row, const char *room,
    size_t room_len, int64_t rev)
{
    const char      *action;
    ngx_chat_buf_t  *b;
    ngx_chat_json_t  j;

    switch (PQgetvalue(res, row, NGX_CHAT_SQL_LOG_ACTION)[0]) {
    case 'j':
        action = "joined";
        break;
    case 'l':
        action = "left";
        break;
    default:
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "chat: unknown member action \"%s\" at rev %L",
                      PQgetvalue(res, row, NGX_CHAT_SQL_LOG_ACTION), rev);
        return NULL;
    }

    ngx_chat_json_init(&j, 128 + room_len
                           + PQgetlength(res, row, NGX_CHAT_SQL_LOG_USER));

    ngx_chat_json_raw(&j, "{\"type\":\"member\",\"room\":",
                      sizeof("{\"type\":\"member\",\"room\":") - 1);
    ngx_chat_json_str(&j, room, room_len);
    ngx_chat_json_raw(&j, ",\"user\":", sizeof(",\"user\":") - 1);
    ngx_chat_json_str(&j, PQgetvalue(res, row, NGX_CHAT_SQL_LOG_USER),
                      PQgetlength(res, row, NGX_CHAT_SQL_LOG_USER));
    ngx_chat_json_raw(&j, ",\"rev\":", sizeof(",\"rev\":") - 1);
    ngx_chat_json_int(&j, rev);
    ngx_chat_json_raw(&j, ",\"action\":", sizeof(",\"action\":") - 1);
    ngx_chat_json_str(&j, action, ngx_strlen(action));
    ngx_chat_json_char(&j, '}');

    b = j.failed ? NULL : ngx_chat_buf_text_frame(j.data, j.len, rev);

    ngx_chat_json_free(&j);

    return b;
}


/*
 * One row of NGX_CHAT_SQL_LOG as an event frame, ordered by its rev; NULL
 * when out of memory.
 */
ngx_chat_buf_t *
ngx_chat_sql_row_event(PGresult *res, int row, const char *room,
    size_t room_len)
{
    int64_t          rev;
    ngx_chat_buf_t  *b;
    ngx_chat_json_t  j;

    rev = atoll(PQgetvalue(res, row, NGX_CHAT_SQL_LOG_REV));

    if (!PQgetisnull(res, row, 0)) {
        return ngx_chat_buf_text_frame(PQgetvalue(res, row, 0),
                                       PQgetlength(res, row, 0), rev);
    }

    if (!PQgetisnull(res, row, NGX_CHAT_SQL_LOG_USER)) {
        return ngx_chat_sql_row_member(res, row, room, room_len, rev);
    }

    ngx_chat_json_init(&j, 512);
    b = NULL;

    if (ngx_chat_sql_row_message(res, row, 1, room, room_len, 1, &j)
        == NGX_OK && !j.failed)
    {
        b = ngx_chat_buf_text_frame(j.data, j.len, rev);

        if (b) {
            b->seq = atoll(PQgetvalue(res, row, 1));
        }
    }

    ngx_chat_json_free(&j);

    return b;
}


void
ngx_chat_sql_room_create_rate(u_char *interval, int *interval_len,
    u_char *burst, int *burst_len)
{
    uint64_t           ms;
    ngx_chat_limit_t  *lim;

    lim = &ngx_chat_worker.mcf->room_create_rate;

    /* off is 0; a rate faster than one room a millisecond is one */
    ms = lim->interval / 1000;

    if (lim->interval && ms == 0) {
        ms = 1;
    }

    *interval_len = ngx_sprintf(interval, "%uL", ms) - interval;
    *burst_len = ngx_sprintf(burst, "%uL", lim->burst) - burst;
}


ngx_int_t
ngx_chat_sql_batch_query(const char *sql, ngx_chat_json_t *j,
    ngx_chat_pg_handler_pt handler, void *data)
{
    u_char       interval[NGX_INT64_LEN];
    u_char       burst[NGX_INT64_LEN];
    int          lengths[4];
    const char  *values[4];

    values[0] = j->data;
    lengths[0] = j->len;
    values[1] = ngx_chat_worker.mcf->autocreate ? "t" : "f";
    lengths[1] = 1;
    values[2] = (char *) interval;
    values[3] = (char *) burst;
    ngx_chat_sql_room_create_rate(interval, &lengths[2], burst, &lengths[3]);

    /* a group commit goes before queued reads, as a named statement */
    return ngx_chat_pg_query_prepared(sql, 4, values, lengths, handler, data);
}


/* a wait in ms, as the statements answer it, as the protocol's seconds */
long long
ngx_chat_sql_retry_after(const char *ms)
{
    long long  n;

    n = atoll(ms);

    return ngx_chat_limit_seconds(n > 0 ? (uint64_t) n * 1000 : 0);
}
