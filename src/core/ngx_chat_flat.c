
/*
 * Flat JSON objects read without a tree (see ngx_chat_flat.h).  What is
 * read here is a strict subset of JSON, chosen so that jansson reads the
 * same members from it: every other text is left to jansson, whose errors
 * are the ones a client is told.  No nginx types here: standard C and
 * jansson only.
 */


#include <string.h>

#include <jansson.h>

#include "ngx_chat_flat.h"


/* at most 18 digits: no integer read here can overflow a long long */
#define NGX_CHAT_FLAT_DIGITS  18


static const char *ngx_chat_flat_string(const char *p, const char *end,
    const char **s, size_t *len);
static const char *ngx_chat_flat_value(const char *p, const char *end,
    ngx_chat_flat_value_t *v);
static const char *ngx_chat_flat_integer(const char *p, const char *end,
    long long *value);


int
ngx_chat_flat_parse(char *buf, size_t len, ngx_chat_flat_t *obj)
{
    size_t                   i;
    const char              *p, *end;
    ngx_chat_flat_member_t  *m;

    obj->n = 0;

    p = buf;
    end = buf + len;

    p = ngx_chat_flat_ws(p, end);

    if (p == end || *p != '{') {
        return 0;
    }

    p = ngx_chat_flat_ws(p + 1, end);

    if (p < end && *p == '}') {
        p++;
        goto done;
    }

    for ( ;; ) {
        if (obj->n == NGX_CHAT_FLAT_MAX) {
            return 0;
        }

        m = &obj->member[obj->n];

        p = ngx_chat_flat_string(p, end, &m->name, &m->name_len);
        if (p == NULL) {
            return 0;
        }

        /* a duplicate: jansson refuses it, and says so */

        for (i = 0; i < obj->n; i++) {
            if (obj->member[i].name_len == m->name_len
                && memcmp(obj->member[i].name, m->name, m->name_len) == 0)
            {
                return 0;
            }
        }

        p = ngx_chat_flat_ws(p, end);

        if (p == end || *p != ':') {
            return 0;
        }

        p = ngx_chat_flat_value(ngx_chat_flat_ws(p + 1, end), end,
                                &m->value);
        if (p == NULL) {
            return 0;
        }

        obj->n++;

        p = ngx_chat_flat_ws(p, end);

        if (p == end) {
            return 0;
        }

        if (*p == '}') {
            p++;
            break;
        }

        if (*p != ',') {
            return 0;
        }

        p = ngx_chat_flat_ws(p + 1, end);
    }

done:

    if (ngx_chat_flat_ws(p, end) != end) {
        return 0;
    }

    /* read: the closing quotes become the strings' NULs */

    for (i = 0; i < obj->n; i++) {
        m = &obj->member[i];

        if (m->value.type == NGX_CHAT_FLAT_STRING) {
            buf[(m->value.str - buf) + m->value.len] = '\0';
        }
    }

    return 1;
}


void
ngx_chat_flat_get(const ngx_chat_flat_t *obj, void *tree, const char *name,
    ngx_chat_flat_value_t *v)
{
    size_t                        i, n;
    const ngx_chat_flat_member_t  *m;

    if (obj == NULL) {
        ngx_chat_flat_from_tree(json_object_get(tree, name), v);
        return;
    }

    n = strlen(name);

    for (i = 0; i < obj->n; i++) {
        m = &obj->member[i];

        if (m->name_len == n && memcmp(m->name, name, n) == 0) {
            *v = m->value;
            return;
        }
    }

    memset(v, 0, sizeof(ngx_chat_flat_value_t));
}


void
ngx_chat_flat_from_tree(void *tree, ngx_chat_flat_value_t *v)
{
    json_t  *j;

    /* indexed by json_type */
    static const ngx_chat_flat_type_e  types[] = {
        [JSON_OBJECT] = NGX_CHAT_FLAT_OBJECT,
        [JSON_ARRAY] = NGX_CHAT_FLAT_ARRAY,
        [JSON_STRING] = NGX_CHAT_FLAT_STRING,
        [JSON_INTEGER] = NGX_CHAT_FLAT_INTEGER,
        [JSON_REAL] = NGX_CHAT_FLAT_REAL,
        [JSON_TRUE] = NGX_CHAT_FLAT_TRUE,
        [JSON_FALSE] = NGX_CHAT_FLAT_FALSE,
        [JSON_NULL] = NGX_CHAT_FLAT_NULL
    };

    memset(v, 0, sizeof(ngx_chat_flat_value_t));

    j = tree;

    if (j == NULL) {
        return;
    }

    v->tree = j;
    v->type = types[json_typeof(j)];

    if (json_is_string(j)) {
        v->str = json_string_value(j);
        v->len = json_string_length(j);

    } else if (json_is_integer(j)) {
        v->integer = json_integer_value(j);
    }
}


/* JSON's white space (RFC 8259, 2); ngx_chat_scan.c's too */
const char *
ngx_chat_flat_ws(const char *p, const char *end)
{
    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/*
 * A string of ASCII without control bytes or escapes (DEL, which JSON
 * allows unescaped, included): its bytes are its value.
 * A control byte is bad JSON, a byte above 0x7f needs UTF-8 checked,
 * an escape needs decoding: all left to jansson.
 */
static const char *
ngx_chat_flat_string(const char *p, const char *end, const char **s,
    size_t *len)
{
    const char  *start;

    if (p == end || *p != '"') {
        return NULL;
    }

    start = ++p;

    while (p < end && *p != '"') {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7f
            || *p == '\\')
        {
            return NULL;
        }

        p++;
    }

    if (p == end) {
        return NULL;
    }

    *s = start;
    *len = p - start;

    return p + 1;
}


static const char *
ngx_chat_flat_value(const char *p, const char *end, ngx_chat_flat_value_t *v)
{
    memset(v, 0, sizeof(ngx_chat_flat_value_t));

    if (p == end) {
        return NULL;
    }

    switch (*p) {

    case '"':
        v->type = NGX_CHAT_FLAT_STRING;
        return ngx_chat_flat_string(p, end, &v->str, &v->len);

    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            v->type = NGX_CHAT_FLAT_TRUE;
            return p + 4;
        }

        return NULL;

    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            v->type = NGX_CHAT_FLAT_FALSE;
            return p + 5;
        }

        return NULL;

    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            v->type = NGX_CHAT_FLAT_NULL;
            return p + 4;
        }

        return NULL;
    }

    v->type = NGX_CHAT_FLAT_INTEGER;

    return ngx_chat_flat_integer(p, end, &v->integer);
}


/*
 * -?(0|[1-9][0-9]*), at most NGX_CHAT_FLAT_DIGITS digits, followed by
 * neither a fraction nor an exponent nor another digit.
 */
static const char *
ngx_chat_flat_integer(const char *p, const char *end, long long *value)
{
    int          neg;
    long long    n;
    const char  *digits;

    neg = 0;

    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }

    digits = p;
    n = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        if (p - digits == NGX_CHAT_FLAT_DIGITS) {
            return NULL;
        }

        n = n * 10 + (*p - '0');
        p++;
    }

    if (p == digits || (*digits == '0' && p - digits > 1)) {
        return NULL;
    }

    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return NULL;
    }

    *value = neg ? -n : n;

    return p;
}
