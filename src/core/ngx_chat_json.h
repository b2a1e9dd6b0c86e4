
/*
 * ngx_chat JSON writer: an append-only buffer with headroom for a
 * WebSocket header, and the builders of the protocol's replies and events
 * (protocol.md sections 4 and 5).
 *
 * This file knows nothing of nginx: standard C only.
 */


#ifndef _NGX_CHAT_JSON_H_INCLUDED_
#define _NGX_CHAT_JSON_H_INCLUDED_


#include <stddef.h>


/*
 * what a history page's reply holds besides its entries, at most:
 * {"type":"ok","id":ID,"room":ROOM,"messages":[],"has_more":false}
 */
#define NGX_CHAT_PAGE_HEAD_MAX      512

/* default headroom kept in front of JSON text for a WebSocket header */
#define NGX_CHAT_JSON_HEAD          16


/*
 * The JSON writer.  data/len is the JSON text written so far; head bytes
 * before data are free headroom (data - base == head), so the caller may
 * write a WebSocket header of up to head bytes at data - n without a copy.
 * The allocation is base (malloc'd); cap is the room from data on.  After a
 * failed allocation "failed" is set, all later calls do nothing and the
 * builders return -1.  To keep the buffer, take base (and data/len) and
 * clear the struct instead of calling ngx_chat_json_free().
 */
typedef struct {
    char                 *data;
    size_t                len;
    size_t                cap;
    int                   failed;
    char                 *base;
    size_t                head;
} ngx_chat_json_t;


/* capacity "reserve" with NGX_CHAT_JSON_HEAD bytes of headroom */
void ngx_chat_json_init(ngx_chat_json_t *j, size_t reserve);
void ngx_chat_json_init_head(ngx_chat_json_t *j, size_t reserve,
    size_t head);
void ngx_chat_json_free(ngx_chat_json_t *j);
/* forget the text but keep the allocation (and clear "failed") */
void ngx_chat_json_reset(ngx_chat_json_t *j);

void ngx_chat_json_raw(ngx_chat_json_t *j, const char *s, size_t n);
void ngx_chat_json_char(ngx_chat_json_t *j, char c);
/* a quoted and escaped string */
void ngx_chat_json_str(ngx_chat_json_t *j, const char *s, size_t n);
void ngx_chat_json_int(ngx_chat_json_t *j, long long v);
void ngx_chat_json_bool(ngx_chat_json_t *j, int v);

/*
 * A separator: "," unless nothing is written yet or the last byte is one
 * of "{[,:".  The kv helpers and ngx_chat_json_message() call it, so they
 * can be chained after an object or array opening without comma logic.
 */
void ngx_chat_json_sep(ngx_chat_json_t *j);
/* [,]"key": (key NUL-terminated, escaped) */
void ngx_chat_json_key(ngx_chat_json_t *j, const char *key);
void ngx_chat_json_kv_str(ngx_chat_json_t *j, const char *key,
    const char *s, size_t n);
void ngx_chat_json_kv_int(ngx_chat_json_t *j, const char *key,
    long long v);
void ngx_chat_json_kv_bool(ngx_chat_json_t *j, const char *key, int v);
/* value s is JSON text, copied as is */
void ngx_chat_json_kv_raw(ngx_chat_json_t *j, const char *key,
    const char *s, size_t n);

/* appends "}" and returns 0, or -1 if the writer failed */
int ngx_chat_json_end(ngx_chat_json_t *j);


/* frames: each builder returns 0, or -1 if the writer failed */

/* {"type":"error","id":ID,"code":...,"message":...}, id omitted if none */
int ngx_chat_json_error(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *code, const char *message);
/* the same with "retry_after" (seconds), for rate_limited */
int ngx_chat_json_error_retry(ngx_chat_json_t *j, const char *id,
    size_t id_len, const char *code, const char *message,
    long long retry_after);
/* the REST error body {"error":{"code":...,"message":...}} */
int ngx_chat_json_rest_error(ngx_chat_json_t *j, const char *code,
    const char *message);

/*
 * {"type":"ok","id":ID  and  {"type":TYPE,"id":ID  without the closing
 * brace: append kv pairs, then ngx_chat_json_end()
 */
int ngx_chat_json_ok_begin(ngx_chat_json_t *j, const char *id,
    size_t id_len);
int ngx_chat_json_type_begin(ngx_chat_json_t *j, const char *type,
    const char *id, size_t id_len);

/* {"type":"welcome","id":ID,"user":...,"expires_at":...,"server_time":...} */
int ngx_chat_json_welcome(ngx_chat_json_t *j, const char *id,
    size_t id_len, const char *user, size_t user_len, long long expires_at,
    long long server_time);


typedef struct {
    const char           *room;
    size_t                room_len;
    long long             seq;
    long long             rev;            /* the room's revision */
    long long             msg_id;
    long long             ts;
    const char           *from;
    size_t                from_len;
    const char           *name;           /* omitted if name_len 0 */
    size_t                name_len;
    const char           *body;
    size_t                body_len;
    const char           *client_msg_id;  /* omitted if cid_len 0 */
    size_t                cid_len;
    long long             reply_to;       /* omitted if 0 */
    const char           *meta;           /* JSON object text, omitted if 0 */
    size_t                meta_len;
    int                   deleted;        /* "deleted":true, no body/meta */
    int                   with_type;      /* 1: event; 0: history entry */
} ngx_chat_message_t;


/*
 * A message event ({"type":"message",...}) or a history entry (no type).
 * It is preceded by a separator when needed (see ngx_chat_json_sep()), so
 * history entries can be appended after "[" one by one.
 */
int ngx_chat_json_message(ngx_chat_json_t *j, const ngx_chat_message_t *m);
/*
 * The most that ngx_chat_json_message() and an "edited_at" field write for
 * a message within these limits (bytes before escaping; room, user and
 * client_msg_id within theirs), separator included.  0 on overflow.
 */
size_t ngx_chat_json_message_max(size_t body_max, size_t meta_max,
    size_t name_max);
/*
 * The same without the closing brace, to append fields such as
 * "edited_at"; finish with ngx_chat_json_end()
 */
int ngx_chat_json_message_open(ngx_chat_json_t *j,
    const ngx_chat_message_t *m);


typedef struct {
    const char           *data;
    size_t                len;
} ngx_chat_json_part_t;

/*
 * A message event whose seq, rev, msg_id and ts come later: appended to j
 * with 0 for the four and cut around them, so that part[0] seq part[1] rev
 * part[2] msg_id part[3] ts part[4] is what ngx_chat_json_message()
 * writes.  The five parts point into j.  Returns 0, or -1.
 */
int ngx_chat_json_message_parts(ngx_chat_json_t *j,
    const ngx_chat_message_t *m, ngx_chat_json_part_t *part);

/* the other events of protocol.md section 5 */
int ngx_chat_json_edited(ngx_chat_json_t *j, const char *room,
    size_t room_len, long long seq, const char *body, size_t body_len,
    long long edited_at);
int ngx_chat_json_deleted(ngx_chat_json_t *j, const char *room,
    size_t room_len, long long seq);
/* state: "read" or "delivered" */
int ngx_chat_json_receipt(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, long long seq,
    const char *state);
/* stop: the user stopped typing ("stop": true) */
int ngx_chat_json_typing(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, int stop);
/* state: "online" or "offline" */
int ngx_chat_json_presence(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, const char *state);
/* action: "joined", "left", "kicked", "banned", "muted", "unmuted" */
int ngx_chat_json_member(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, const char *action);


/*
 * s/n quoted and escaped into buf, NUL-terminated: returns the length
 * written (the NUL aside), or 0 when it does not fit in size bytes
 */
size_t ngx_chat_json_quote(char *buf, size_t size, const char *s, size_t n);


#endif /* _NGX_CHAT_JSON_H_INCLUDED_ */
