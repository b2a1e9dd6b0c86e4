/*
 * Unit test support for JSON text: parse what a writer wrote and look at
 * its members.  Include after unit.h.
 */

#ifndef _NGX_CHAT_UNIT_JSON_H_INCLUDED_
#define _NGX_CHAT_UNIT_JSON_H_INCLUDED_

#include <jansson.h>

#include "ngx_chat_json.h"


static inline json_t *
jload(const ngx_chat_json_t *j)
{
    json_t        *v;
    json_error_t   err;

    v = json_loadb(j->data, j->len, 0, &err);

    UNIT_CHECK(v != NULL, "writer output does not parse: %s: %.*s", err.text,
               (int) j->len, j->data);

    return v;
}


static inline int
jstr(json_t *o, const char *key, const char *want, size_t want_len)
{
    json_t  *v;

    v = json_object_get(o, key);

    return v != NULL && json_is_string(v)
           && json_string_length(v) == want_len
           && memcmp(json_string_value(v), want, want_len) == 0;
}


static inline int
jint(json_t *o, const char *key, long long want)
{
    json_t  *v;

    v = json_object_get(o, key);

    return v != NULL && json_is_integer(v) && json_integer_value(v) == want;
}

#endif /* _NGX_CHAT_UNIT_JSON_H_INCLUDED_ */
