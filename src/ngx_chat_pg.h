/*
 * The PostgreSQL pool: non-blocking libpq connections on nginx events.
 */

#ifndef _NGX_CHAT_PG_H_INCLUDED_
#define _NGX_CHAT_PG_H_INCLUDED_

#include "ngx_chat.h"
#include <libpq-fe.h>


/* SQLSTATE of a room creation over chat_room_create_rate (sql/005) */
#define NGX_CHAT_STATE_RATE_LIMITED  "RL429"


typedef void (*ngx_chat_pg_handler_pt)(void *data, PGresult *res,
    ngx_uint_t status);

#define NGX_CHAT_PG_OK           0
#define NGX_CHAT_PG_UNAVAILABLE  1   /* no connection, or it was lost */
#define NGX_CHAT_PG_FAILED       2   /* the statement failed */

ngx_int_t ngx_chat_pg_init(ngx_cycle_t *cycle);
void ngx_chat_pg_exit(void);
ngx_int_t ngx_chat_pg_up(void);
/*
 * The handler runs once, with the result (valid only during the call):
 * NGX_CHAT_PG_OK, NGX_CHAT_PG_FAILED (the error result: see
 * ngx_chat_pg_error_code), or NGX_CHAT_PG_UNAVAILABLE with NULL.
 * NGX_DECLINED: no backend.
 */
ngx_int_t ngx_chat_pg_query(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);
/* the same, queued before every query but others queued first */
ngx_int_t ngx_chat_pg_query_first(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);
/*
 * the same as a named statement each connection prepares once (sql lives
 * as long as the worker): one whose result changed with the schema is
 * prepared again and the query sent again; a connection that lost one (a
 * pooler in between) sends the query again, and from then on, unnamed
 */
ngx_int_t ngx_chat_pg_query_prepared(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);
/*
 * a named statement as ngx_chat_pg_query_prepared(), queued as
 * ngx_chat_pg_query(): a read whose generic plan serves every call
 */
ngx_int_t ngx_chat_pg_query_named(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);
const char *ngx_chat_pg_error_code(ngx_uint_t status, PGresult *res);
const char *ngx_chat_pg_state_code(const char *state);

#endif /* _NGX_CHAT_PG_H_INCLUDED_ */
