
/*
 * ngx_chat REST paths and query strings (protocol.md section 7): route
 * patterns with captures, query arguments, percent-decoding and integer
 * arguments.  The route table and the HTTP side stay in ngx_chat_api.c.
 *
 * This file knows nothing of nginx: standard C only, so unit tests and
 * fuzzers can drive it directly.
 */


#ifndef _NGX_CHAT_ROUTE_H_INCLUDED_
#define _NGX_CHAT_ROUTE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    const char           *room;     /* {room} as sent, or NULL */
    size_t                room_len;
    const char           *user;     /* {user} as sent, or NULL */
    size_t                user_len;
    int64_t               seq;      /* {seq}: 0 none, -1 not from 1 */
} ngx_chat_route_caps_t;


/*
 * 1 when path[0..len) has the segments of pattern ("rooms/{room}/..."):
 * "{room}", "{user}" and "{seq}" match any non-empty segment and are
 * captured into caps, other segments must be equal; 0 otherwise.
 */
int ngx_chat_route_match(const char *pattern, const char *path, size_t len,
    ngx_chat_route_caps_t *caps);

/*
 * The value of the argument name (ASCII case-insensitive) in the query
 * string args[0..len), as sent: 1 with *val and *val_len set, or 0 when
 * it is not there.  The first "name=" at the start or after "&" counts.
 */
int ngx_chat_query_arg(const char *args, size_t len, const char *name,
    size_t name_len, const char **val, size_t *val_len);

/*
 * Percent-decodes in[0..len) into out (room for len bytes) and sets
 * *out_len.  0, or -1 on a malformed escape ("%" not followed by two
 * hex digits).  "+" is kept as is.
 */
int ngx_chat_unescape(const char *in, size_t len, char *out,
    size_t *out_len);

/*
 * Decimal digits only, no sign, into [min, max]: 0 and *value, or -1
 * (empty, another byte, over INT64_MAX or out of range).
 */
int ngx_chat_parse_int(const char *p, size_t len, int64_t min, int64_t max,
    int64_t *value);


#endif /* _NGX_CHAT_ROUTE_H_INCLUDED_ */
