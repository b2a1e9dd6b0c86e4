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
    "meta, ts, deleted, edited_at, rev"

/*
 * The joins of members among a batch of ROOM_OPEN_BATCH's input, with its
 * columns: the room's seq and rev and the member's mute, of one snapshot
 * (members are never banned: a ban ends the membership).  A row for each
 * member, by position; the others are left to ROOM_OPEN_BATCH.  Each
 * join reaches members, rooms and mutes by key (chat_members_open, schema
 * 14): as a plain join, taken for 100 rows, it was a hash join over a
 * whole table.
 */
#define NGX_CHAT_SQL_MEMBERS_OPEN                                             \
    "select o_i, o_seq, null::text, null::text, null::bigint, o_rev,"        \
    " null::bigint, null::text, o_muted from chat_members_open($1::jsonb)"   \
    " order by o_i"

/* retry_after is in ms */
#define NGX_CHAT_SQL_ROOM_OPEN_BATCH                                          \
    "select i, seq, state, message, retry_after, rev, event_rev, event,"     \
    " muted_until from chat_room_open_batch($1::jsonb, $2, $3, $4)"           \
    " order by i"


/*
 * A room's log: its durable events with rev in ($2, $3], at most $4, in
 * rev order ("asc" or "desc": a capped replay keeps the newest).  A row
 * is an event's text (the kinds of chat_room_events), or null and a
 * message's NGX_CHAT_SQL_MESSAGE_COLUMNS, or null and a short member
 * event's user and action (schema 18: a join's or an own leave's row
 * keeps no text); ngx_chat_sql_row_event() makes it a frame.  Messages
 * have no rev index (schema 17): within a room their seq order is their
 * rev order, and one with rev > $2 has seq > last_seq - (last_rev - $2)
 * of the room's row in the same snapshot (sql/017), so the messages half
 * walks the (room_id, seq) index over at most last_rev - $2 entries, the
 * newest or oldest $4 of them; the events half walks the key of
 * chat_room_event_rows (the table behind the view chat_room_events).
 * (Without a room row, which no room served has, the bound is 0: the
 * room's every message.)
 */
#define NGX_CHAT_SQL_LOG_COLUMNS  15
#define NGX_CHAT_SQL_LOG_REV      12
#define NGX_CHAT_SQL_LOG_USER     13
#define NGX_CHAT_SQL_LOG_ACTION   14

#define NGX_CHAT_SQL_LOG(order)                                               \
    "select * from ("                                                        \
    "(select null::text as event, " NGX_CHAT_SQL_MESSAGE_COLUMNS             \
    ", null::text as user_id, null::text as action"                          \
    " from messages where room_id = $1 and rev > $2 and rev <= $3"           \
    " and seq > coalesce((select r.last_seq - (r.last_rev - $2)"             \
    " from rooms r where r.id = $1), 0)"                                     \
    " order by seq " order " limit $4)"                                      \
    " union all "                                                            \
    "(select event::text, null, null, null, null, null, null, null, null,"   \
    " null, null, null, rev, user_id, action::text"                          \
    " from chat_room_event_rows"                                             \
    " where room_id = $1 and rev > $2 and rev <= $3"                         \
    " order by rev " order " limit $4)"                                      \
    ") l order by rev " order " limit $4"

#define NGX_CHAT_SQL_LOG_NEWEST  NGX_CHAT_SQL_LOG("desc")
#define NGX_CHAT_SQL_LOG_OLDEST  NGX_CHAT_SQL_LOG("asc")

/*
 * join with since: the messages with seq > $2 (as log rows), up to rev
 * $3, newest first, at most $4
 */
#define NGX_CHAT_SQL_LOG_SINCE_SEQ                                            \
    "select null::text as event, " NGX_CHAT_SQL_MESSAGE_COLUMNS              \
    ", null::text as user_id, null::text as action"                          \
    " from messages where room_id = $1 and seq > $2 and rev <= $3"           \
    " order by seq desc limit $4"

/*
 * The batch commits of each kind of durable room event (ngx_chat_batch.c):
 * i, status, rev, retry_after (ms), then the kind's own columns
 */
#define NGX_CHAT_SQL_COMMIT_MESSAGES                                          \
    "select i, status, rev, retry_after, seq, msg_id, ts, joined"            \
    " from chat_send_batch_quota($1::jsonb, $2, $3, $4)"

/*
 * edits and deletes (ngx_chat_edit.c): then edited_at, the event's text,
 * the reason of a refusal
 */
#define NGX_CHAT_SQL_COMMIT_CHANGES                                           \
    "select i, status, rev, retry_after, edited_at, event, message"          \
    " from chat_change_batch($1::jsonb, $2, $3, $4)"

/*
 * GET /search: $1 user, $2 query, $3 room (or null), $4 before (or
 * null), $5 limit, $6 chat_search_language; a row is the room, then
 * NGX_CHAT_SQL_MESSAGE_COLUMNS
 */
#define NGX_CHAT_SQL_SEARCH                                                   \
    "select * from chat_search($1, $2, $3, $4, $5, $6)"

/* membership, moderation, room changes: then event, reply, message */
#define NGX_CHAT_SQL_COMMIT_MEMBERS                                           \
    "select i, status, rev, retry_after, event, reply, message"              \
    " from chat_member_batch($1::jsonb, $2, $3, $4)"

/* chat_history returns NGX_CHAT_SQL_MESSAGE_COLUMNS */
#define NGX_CHAT_SQL_HISTORY                                                  \
    "select * from chat_history($1, $2, $3, $4, $5)"

/* $4: "read" or "delivered" */
/* the cursor moved (or null), then a first read's "joined" rev and event */
#define NGX_CHAT_SQL_READ                                                     \
    "select o_cursor, o_rev, o_event from chat_read_enter($1, $2, $3, $4)"

/* chat_rooms_of returns NGX_CHAT_ROOM_COLUMNS, then a message's columns */
#define NGX_CHAT_SQL_ROOMS_OF                                                 \
    "select * from chat_rooms_of($1, $2)"

#define NGX_CHAT_ROOM_COLUMNS  10

#define NGX_CHAT_SQL_ROOM_CREATE                                              \
    "select * from chat_room_create($1, $2, $3, $4, $5, $6, $7)"

#define NGX_CHAT_RESYNC_ROWS  1000

/*
 * The rooms' latest revs, for rooms listed as a text[] literal: one
 * primary key lookup each ("offset 0" keeps the join a nested loop).
 * With "id = any($1)" a list of a thousand made the planner read the
 * whole table, every second, and hold every room's page in memory.
 */
#define NGX_CHAT_SQL_ROOMS_LATEST                                             \
    "select u.id, r.last_rev from unnest($1::text[]) as u(id)"                \
    " cross join lateral (select last_rev from rooms"                         \
    " where rooms.id = u.id offset 0) r"


/*
 * chat_room_create_rate as the statements above take it: the interval in
 * ms and the burst, as text in buffers of NGX_INT64_LEN
 */
void ngx_chat_sql_room_create_rate(u_char *interval, int *interval_len,
    u_char *burst, int *burst_len);
long long ngx_chat_sql_retry_after(const char *ms);
/*
 * Runs a batch statement: $1 the JSON array in j, $2 chat_room_autocreate,
 * $3 and $4 chat_room_create_rate, as ngx_chat_pg_query()
 */
ngx_int_t ngx_chat_sql_batch_query(const char *sql, ngx_chat_json_t *j,
    ngx_chat_pg_handler_pt handler, void *data);

ngx_int_t ngx_chat_sql_row_message(PGresult *res, int row, int c,
    const char *room, size_t room_len, ngx_uint_t event, ngx_chat_json_t *j);
void ngx_chat_sql_rows_messages(PGresult *res, int first, int last, int c,
    const char *room, size_t room_len, ngx_chat_json_t *j);
ngx_chat_buf_t *ngx_chat_sql_row_event(PGresult *res, int row,
    const char *room, size_t room_len);

#endif /* _NGX_CHAT_SQL_H_INCLUDED_ */
