/*
 * The group commit of durable room events to PostgreSQL: the framework
 * each kind of event (ngx_chat_commit_kinds[] in ngx_chat_batch.c) fills.
 */

#ifndef _NGX_CHAT_BATCH_H_INCLUDED_
#define _NGX_CHAT_BATCH_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_op.h"


typedef struct ngx_chat_commit_s  ngx_chat_commit_t;

/* writes the element of the statement's JSON array for c */
typedef void (*ngx_chat_commit_write_pt)(ngx_chat_json_t *j,
    ngx_chat_commit_t *c);
/*
 * c is committed as row of res: publish its event, answer its op; or
 * (refused) the statement refused it: answer its op
 */
typedef void (*ngx_chat_commit_done_pt)(ngx_chat_commit_t *c,
    PGresult *res, int row);

typedef struct {
    const char                  *name;
    /*
     * $1 the JSON array, $2 chat_room_autocreate, $3 and $4
     * chat_room_create_rate; the columns of NGX_CHAT_COMMIT_* first
     */
    const char                  *sql;
    ngx_chat_commit_write_pt     write;
    ngx_chat_commit_done_pt      done;
    ngx_chat_commit_done_pt      refused;   /* NULL: the messages' words */
    /* the column with the statement's own words for a refusal, or 0 */
    int                          message;
} ngx_chat_commit_kind_t;

#define NGX_CHAT_COMMIT_STATUS       1
#define NGX_CHAT_COMMIT_REV          2
#define NGX_CHAT_COMMIT_RETRY_AFTER  3
#define NGX_CHAT_COMMIT_COLUMNS      4

/* an event waiting for its commit; each kind extends it */
struct ngx_chat_commit_s {
    ngx_queue_t                     queue;
    const ngx_chat_commit_kind_t   *kind;
    ngx_chat_op_t                  *op;       /* who waits for the answer */
    uint64_t                        queued;   /* when added (metrics) */
};


ngx_int_t ngx_chat_batch_init(ngx_cycle_t *cycle);
void ngx_chat_batch_exit(void);

const ngx_chat_commit_kind_t *ngx_chat_commit_kind(const char *name);
/* c (allocated with ngx_alloc, c->op set) waits for the next commit */
void ngx_chat_batch_add(ngx_chat_commit_t *c,
    const ngx_chat_commit_kind_t *kind);
/* answers c's op and frees c */
void ngx_chat_commit_ok(ngx_chat_commit_t *c, ngx_chat_json_t *fields);
void ngx_chat_commit_fail(ngx_chat_commit_t *c, const char *code,
    const char *message);

/* ngx_chat_edit.c: the kinds "edited" and "deleted" */
void ngx_chat_change_write(ngx_chat_json_t *j, ngx_chat_commit_t *c);
void ngx_chat_change_done(ngx_chat_commit_t *c, PGresult *res, int row);
void ngx_chat_change_refused(ngx_chat_commit_t *c, PGresult *res, int row);

#endif /* _NGX_CHAT_BATCH_H_INCLUDED_ */
