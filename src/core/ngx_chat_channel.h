
/*
 * ngx_chat room channel messages: the payload of an event published on a
 * room's Redis channel, read back by every worker.
 *
 * This file knows nothing of nginx: standard C only, so unit tests and
 * fuzzers can drive it directly.
 */


#ifndef _NGX_CHAT_CHANNEL_H_INCLUDED_
#define _NGX_CHAT_CHANNEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    int64_t               rev;        /* 0: an ephemeral event */
    int64_t               seq;
    const char           *json;       /* up to the end of the payload */
    const char           *skip;       /* whose connections do not get it */
    size_t                skip_len;
} ngx_chat_channel_event_t;


/*
 * "<rev> <seq>\n<json>" for a durable event, "0\n<json>" for an
 * ephemeral one, or "0 @<user>\n<json>" for one that the user's own
 * connections do not get (typing).  Returns 0 and fills in *ev, or -1.
 */
int ngx_chat_channel_parse(const char *payload, size_t len,
    ngx_chat_channel_event_t *ev);


/* a change to users, published on the one control channel */
typedef struct {
    char                  op;         /* 'R', 'J', 'S', 'B' or 'U' */
    const char           *user;
    size_t                user_len;
    const char           *arg;        /* J: the jti, S: the session id */
    size_t                arg_len;
    int64_t               n;          /* R: a second, B: until (ms, 0) */
} ngx_chat_channel_control_t;


/*
 * "R <user> <second>": the user's tokens issued in or before the second
 * are revoked; "J <user> <jti>": one token; "S <user> <sid>": the tokens
 * of one session; "B <user> <until ms, 0: until lifted>": banned;
 * "U <user>": unbanned.  The user must be a valid user id, a number
 * decimal digits that fit int64_t, a jti or sid not empty.  Returns 0 and
 * fills in *c, or -1.
 */
int ngx_chat_channel_control_parse(const char *payload, size_t len,
    ngx_chat_channel_control_t *c);


#endif /* _NGX_CHAT_CHANNEL_H_INCLUDED_ */
