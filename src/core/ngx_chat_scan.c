
/*
 * A scanner of the top level of a JSON object, for what jansson's tree
 * cannot give: the exact source text of a member, and the members of a
 * text that jansson refused.  It follows the structure (strings, nesting,
 * separators) but reads neither escapes nor numbers: whether they are
 * valid is jansson's question.  No nginx types here: standard C and
 * jansson only.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ngx_chat_flat.h"
#include "ngx_chat_scan.h"


/* jansson's limit (JSON_PARSER_MAX_DEPTH) */
#define NGX_CHAT_SCAN_DEPTH  2048


typedef unsigned char  ngx_chat_u_char;


/* the open levels of a value: a bit each, set for an object */
typedef struct {
    size_t                  depth;
    size_t                  cap;
    ngx_chat_u_char        *bits;
    ngx_chat_u_char         local[NGX_CHAT_SCAN_DEPTH / 8];
} ngx_chat_scan_stack_t;


static const ngx_chat_u_char *ngx_chat_scan_ws(const ngx_chat_u_char *p,
    const ngx_chat_u_char *end);
static const ngx_chat_u_char *ngx_chat_scan_string(const ngx_chat_u_char *p,
    const ngx_chat_u_char *end);
static const ngx_chat_u_char *ngx_chat_scan_scalar(const ngx_chat_u_char *p,
    const ngx_chat_u_char *end);
static const ngx_chat_u_char *ngx_chat_scan_key(const ngx_chat_u_char *p,
    const ngx_chat_u_char *end);
static const ngx_chat_u_char *ngx_chat_scan_value(const ngx_chat_u_char *p,
    const ngx_chat_u_char *end);
static int ngx_chat_scan_push(ngx_chat_scan_stack_t *st, int obj,
    size_t left);
static const ngx_chat_u_char *ngx_chat_scan_next(ngx_chat_scan_stack_t *st,
    const ngx_chat_u_char *p, const ngx_chat_u_char *end);
static int ngx_chat_scan_key_is(const ngx_chat_u_char *p, size_t len,
    const char *name);


static const ngx_chat_u_char *
ngx_chat_scan_ws(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    return (const ngx_chat_u_char *) ngx_chat_flat_ws((const char *) p,
                                                      (const char *) end);
}


/* p is at the opening quote; returns the byte after the closing one */
static const ngx_chat_u_char *
ngx_chat_scan_string(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    for (p++; p < end; p++) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            p++;

            if (p == end) {
                break;
            }
        }
    }

    return NULL;
}


/* a number or a literal: its characters, not its grammar */
static const ngx_chat_u_char *
ngx_chat_scan_scalar(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    const ngx_chat_u_char  *start;

    start = p;

    while (p < end
           && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
               || (*p >= 'A' && *p <= 'Z')
               || *p == '-' || *p == '+' || *p == '.'))
    {
        p++;
    }

    return p == start ? NULL : p;
}


/* a key and its colon, p at the key's quote; the byte after the colon */
static const ngx_chat_u_char *
ngx_chat_scan_key(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    if (p == end || *p != '"') {
        return NULL;
    }

    p = ngx_chat_scan_string(p, end);

    if (p == NULL) {
        return NULL;
    }

    p = ngx_chat_scan_ws(p, end);

    if (p == end || *p != ':') {
        return NULL;
    }

    return p + 1;
}


/*
 * One value, nested ones included, p at its first byte; returns the byte
 * after its last.
 */
static const ngx_chat_u_char *
ngx_chat_scan_value(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    int                     obj;
    const ngx_chat_u_char  *rv;
    ngx_chat_scan_stack_t   st;

    st.depth = 0;
    st.cap = NGX_CHAT_SCAN_DEPTH;
    st.bits = st.local;
    rv = NULL;

    for ( ;; ) {

        /* a value starts at p */

        p = ngx_chat_scan_ws(p, end);

        if (p == end) {
            break;
        }

        if (*p == '{' || *p == '[') {
            obj = (*p == '{');

            if (ngx_chat_scan_push(&st, obj, end - p) != 0) {
                break;
            }

            p = ngx_chat_scan_ws(p + 1, end);

            if (p == end || *p != (obj ? '}' : ']')) {

                if (obj) {
                    p = ngx_chat_scan_key(p, end);

                    if (p == NULL) {
                        break;
                    }
                }

                continue;
            }

            /* an empty container */

            st.depth--;
            p++;

        } else {
            p = (*p == '"') ? ngx_chat_scan_string(p, end)
                            : ngx_chat_scan_scalar(p, end);

            if (p == NULL) {
                break;
            }
        }

        p = ngx_chat_scan_next(&st, p, end);

        if (p == NULL) {
            break;
        }

        if (st.depth == 0) {
            rv = p;
            break;
        }
    }

    if (st.bits != st.local) {
        free(st.bits);
    }

    return rv;
}


/*
 * Opens a level.  A bit per open level says whether it is an object: on
 * the stack for the depths jansson accepts, on the heap for the deeper
 * frames it refuses, whose id is still wanted.
 */
static int
ngx_chat_scan_push(ngx_chat_scan_stack_t *st, int obj, size_t left)
{
    size_t            depth;
    ngx_chat_u_char  *nb;

    depth = st->depth;

    if (depth == st->cap) {
        /* each level takes a byte of input: what is left bounds them */
        st->cap = (left + depth + 8) & ~(size_t) 7;
        nb = malloc(st->cap / 8);

        if (nb == NULL) {
            return -1;
        }

        memcpy(nb, st->bits, depth / 8);

        if (st->bits != st->local) {
            free(st->bits);
        }

        st->bits = nb;
    }

    if (obj) {
        st->bits[depth / 8] |= (ngx_chat_u_char) (1 << (depth % 8));

    } else {
        st->bits[depth / 8] &= (ngx_chat_u_char) ~(1 << (depth % 8));
    }

    st->depth++;

    return 0;
}


/*
 * After a value, p at its end: the separators and the ends of the open
 * levels up to the next value (its key read), or to the end of the
 * outermost one.  NULL on anything else.
 */
static const ngx_chat_u_char *
ngx_chat_scan_next(ngx_chat_scan_stack_t *st, const ngx_chat_u_char *p,
    const ngx_chat_u_char *end)
{
    int  obj;

    while (st->depth) {
        obj = st->bits[(st->depth - 1) / 8] & (1 << ((st->depth - 1) % 8));
        p = ngx_chat_scan_ws(p, end);

        if (p == end) {
            return NULL;
        }

        if (*p == ',') {
            p = ngx_chat_scan_ws(p + 1, end);

            return obj ? ngx_chat_scan_key(p, end) : p;
        }

        if (*p != (obj ? '}' : ']')) {
            return NULL;
        }

        st->depth--;
        p++;
    }

    return p;
}


/* whether the key text (quotes included) is the name */
static int
ngx_chat_scan_key_is(const ngx_chat_u_char *p, size_t len, const char *name)
{
    int      eq;
    json_t  *v;

    if (memchr(p, '\\', len) == NULL) {
        return len == strlen(name) + 2 && memcmp(p + 1, name, len - 2) == 0;
    }

    /* an escaped key is rare: jansson decodes it, or it is no name */

    v = json_loadb((const char *) p, len, JSON_DECODE_ANY, NULL);

    if (v == NULL) {
        return 0;
    }

    eq = json_is_string(v) && strcmp(json_string_value(v), name) == 0
         && json_string_length(v) == strlen(name);

    json_decref(v);

    return eq;
}


int
ngx_chat_scan_member(const char *buf, size_t len, const char *name,
    const char **val, size_t *val_len)
{
    int                     found;
    const ngx_chat_u_char  *p, *end, *key, *v;

    p = (const ngx_chat_u_char *) buf;
    end = p + len;
    found = 0;

    p = ngx_chat_scan_ws(p, end);

    if (p == end || *p != '{') {
        return -1;
    }

    p = ngx_chat_scan_ws(p + 1, end);

    if (p < end && *p == '}') {
        p++;
        goto done;
    }

    for ( ;; ) {
        key = p;
        p = ngx_chat_scan_key(p, end);

        if (p == NULL) {
            return -1;
        }

        v = ngx_chat_scan_ws(p, end);
        p = ngx_chat_scan_value(v, end);

        if (p == NULL) {
            return -1;
        }

        if (ngx_chat_scan_key_is(key, ngx_chat_scan_string(key, end) - key,
                                 name))
        {
            if (found) {
                return -1;
            }

            found = 1;
            *val = (const char *) v;
            *val_len = p - v;
        }

        p = ngx_chat_scan_ws(p, end);

        if (p == end) {
            return -1;
        }

        if (*p == '}') {
            p++;
            break;
        }

        if (*p != ',') {
            return -1;
        }

        p = ngx_chat_scan_ws(p + 1, end);
    }

done:

    p = ngx_chat_scan_ws(p, end);

    return p == end ? found : -1;
}
