
/*
 * ngx_chat request decoding: a client's request frame (JSON), or a REST
 * body, checked against protocol.md section 4 into ngx_chat_request_t.
 *
 * This file knows nothing of nginx: standard C and jansson only, so unit
 * tests and fuzzers can drive it directly.
 */


#ifndef _NGX_CHAT_DECODE_H_INCLUDED_
#define _NGX_CHAT_DECODE_H_INCLUDED_


#include <stddef.h>

#include "ngx_chat_ids.h"


/* a history page: entries when "limit" is absent, and at most */
#define NGX_CHAT_HISTORY_LIMIT_DEF  50
#define NGX_CHAT_HISTORY_LIMIT_MAX  200

/* "body" and "meta" sizes in bytes when ngx_chat_proto_limits_t says 0 */
#define NGX_CHAT_BODY_MAX_DEFAULT   2048
#define NGX_CHAT_META_MAX_DEFAULT   4096


typedef enum {
    NGX_CHAT_REQ_AUTH = 1,
    NGX_CHAT_REQ_REFRESH,
    NGX_CHAT_REQ_PING,
    NGX_CHAT_REQ_JOIN,
    NGX_CHAT_REQ_LEAVE,
    NGX_CHAT_REQ_SEND,
    NGX_CHAT_REQ_HISTORY,
    NGX_CHAT_REQ_READ,
    NGX_CHAT_REQ_TYPING,
    NGX_CHAT_REQ_EDIT,
    NGX_CHAT_REQ_DELETE,
    NGX_CHAT_REQ_PRESENCE
} ngx_chat_req_type_e;


typedef struct {
    ngx_chat_req_type_e   type;

    /*
     * the request id re-serialized as compact JSON (12, or "a\"b"),
     * NUL-terminated; id_len is 0 when the frame had no usable id
     */
    char                  id[NGX_CHAT_REQ_ID_JSON_SIZE];
    size_t                id_len;

    /*
     * pointers into root, valid until ngx_chat_request_free(); they are
     * NUL-terminated and contain no NUL
     */
    const char           *room;
    size_t                room_len;
    const char           *token;
    size_t                token_len;
    const char           *body;
    size_t                body_len;
    const char           *client_msg_id;
    size_t                client_msg_id_len;
    const char           *state;    /* read: "read" or "delivered" */
    size_t                state_len;

    long long             since;
    long long             since_rev;
    long long             seq;
    long long             before;
    long long             after;
    long long             limit;
    long long             reply_to;
    int                   stop;     /* typing: "stop": true */

    unsigned              has_since:1;
    unsigned              has_since_rev:1;
    unsigned              has_seq:1;
    unsigned              has_before:1;
    unsigned              has_after:1;
    unsigned              has_limit:1;
    unsigned              has_reply_to:1;

    /* compact JSON text of "meta" (malloc'd, NUL-terminated) or NULL */
    char                 *meta;
    size_t                meta_len;

    /* owned: the jansson tree (json_t *) or, root_text set, the text */
    void                 *root;
    unsigned              root_text:1;
} ngx_chat_request_t;


typedef struct {
    size_t                body_max;   /* chat_message_max; 0: default */
    size_t                meta_max;   /* meta's text; 0: default */
} ngx_chat_proto_limits_t;


/*
 * Returns 0 on success.  On failure returns -1 and sets *code to
 * "bad_request" or "too_large" ("internal" on memory failure) and *msg
 * to a static text; req->id and req->id_len are still set when the id
 * itself was readable, and req->type when the type was known; other
 * fields are meaningful on success only.  lim may be NULL (defaults).
 * Always call ngx_chat_request_free() afterwards, on success and on
 * failure (it is safe on a zeroed or already freed request).
 */
int ngx_chat_request_decode(const char *buf, size_t len,
    const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg);
int ngx_chat_request_decode_as(ngx_chat_req_type_e type, const char *buf,
    size_t len, const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg);
void ngx_chat_request_free(ngx_chat_request_t *req);

/* a read request that moves the delivered cursor only */
#define ngx_chat_req_delivered(req)  ((req)->state_len == 9)

/* "auth", "send", ...; "unknown" for a value out of range */
const char *ngx_chat_req_type_name(ngx_chat_req_type_e t);


#endif /* _NGX_CHAT_DECODE_H_INCLUDED_ */
