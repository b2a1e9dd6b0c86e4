
/*
 * ngx_chat flat JSON objects: the members of an object whose values are
 * all plain (strings of ASCII without escapes or control bytes; integers;
 * true, false, null), read without building a tree.  A connection's
 * token claims and its join frame are such objects: reading them this
 * way saves jansson's allocations, one or two per value, on every
 * connection.  Anything else (nesting, escapes, other bytes, numbers with
 * a fraction or an exponent, duplicate keys, bad JSON) is refused, and
 * the caller parses the text with jansson, which tells what is wrong:
 * a text read here is one jansson reads to the same members.
 *
 * This file knows nothing of nginx: standard C and jansson only.
 */


#ifndef _NGX_CHAT_FLAT_H_INCLUDED_
#define _NGX_CHAT_FLAT_H_INCLUDED_


#include <stddef.h>


/* more members than this: refused (jansson reads them) */
#define NGX_CHAT_FLAT_MAX  16


typedef enum {
    NGX_CHAT_FLAT_ABSENT = 0,
    NGX_CHAT_FLAT_STRING,
    NGX_CHAT_FLAT_INTEGER,
    NGX_CHAT_FLAT_TRUE,
    NGX_CHAT_FLAT_FALSE,
    NGX_CHAT_FLAT_NULL,
    NGX_CHAT_FLAT_REAL,         /* these three: only from a jansson tree */
    NGX_CHAT_FLAT_OBJECT,
    NGX_CHAT_FLAT_ARRAY
} ngx_chat_flat_type_e;


/*
 * A member's value.  A string is str/len, NUL-terminated, without NUL
 * inside; an integer is integer; tree is the jansson value when the
 * member was read from a tree (json_t *), NULL otherwise.
 */
typedef struct {
    ngx_chat_flat_type_e   type;
    const char            *str;
    size_t                 len;
    long long              integer;
    void                  *tree;
} ngx_chat_flat_value_t;


typedef struct {
    const char            *name;
    size_t                 name_len;
    ngx_chat_flat_value_t  value;
} ngx_chat_flat_member_t;


typedef struct {
    size_t                 n;
    ngx_chat_flat_member_t member[NGX_CHAT_FLAT_MAX];
} ngx_chat_flat_t;


/*
 * Reads the object in buf[0 .. len).  1: it is flat, its members are in
 * obj, and each string value has been NUL-terminated in buf (over its
 * closing quote), so buf must be the caller's own copy and outlive obj.
 * 0: it is not, buf is untouched; jansson must read it.
 */
int ngx_chat_flat_parse(char *buf, size_t len, ngx_chat_flat_t *obj);

/*
 * The member "name" of obj or, when obj is NULL, of the jansson object
 * tree (json_t *); v->type NGX_CHAT_FLAT_ABSENT when there is none.
 */
void ngx_chat_flat_get(const ngx_chat_flat_t *obj, void *tree,
    const char *name, ngx_chat_flat_value_t *v);

/* a jansson value (json_t *) as a value of this file */
void ngx_chat_flat_from_tree(void *tree, ngx_chat_flat_value_t *v);

/* the first byte at or after p that is not JSON white space, or end */
const char *ngx_chat_flat_ws(const char *p, const char *end);


#endif /* _NGX_CHAT_FLAT_H_INCLUDED_ */
