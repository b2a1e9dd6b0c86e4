/*
 * Top-level members of a JSON object as raw spans (see json.h).
 */

#include <string.h>

#include "json.h"


static unsigned char *
json_ws(unsigned char *p, unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/* p points at '"'; returns the position after the closing quote */

static unsigned char *
json_str(unsigned char *p, unsigned char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


/* the end of the value at p; NULL: unterminated */

static unsigned char *
json_skip(unsigned char *p, unsigned char *end)
{
    int  depth;

    if (p >= end) {
        return NULL;
    }

    if (*p == '"') {
        return json_str(p, end);
    }

    if (*p == '{' || *p == '[') {
        depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = json_str(p, end);
                if (p == NULL) {
                    return NULL;
                }
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) {
                    return p + 1;
                }
            }
            p++;
        }
        return NULL;
    }

    while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t'
           && *p != '\r' && *p != '\n')
    {
        p++;
    }

    return p;
}


/* v[i]: the member named keys[i]; -1: not an object */

int
json_scan(unsigned char *p, size_t len, const char *const *keys,
    size_t nkeys, json_span_t *v)
{
    size_t          i, klen;
    unsigned char  *end, *key, *ke, *val, *ve;

    end = p + len;

    memset(v, 0, sizeof(json_span_t) * nkeys);

    p = json_ws(p, end);
    if (p == end || *p != '{') {
        return -1;
    }

    p = json_ws(p + 1, end);

    while (p < end && *p == '"') {
        key = p + 1;
        ke = json_str(p, end);
        if (ke == NULL) {
            return -1;
        }
        klen = ke - 1 - key;

        p = json_ws(ke, end);
        if (p == end || *p != ':') {
            return -1;
        }
        val = json_ws(p + 1, end);
        ve = json_skip(val, end);
        if (ve == NULL) {
            return -1;
        }

        for (i = 0; i < nkeys; i++) {
            if (strlen(keys[i]) == klen && memcmp(key, keys[i], klen) == 0) {
                v[i].str = (*val == '"');
                v[i].p = v[i].str ? val + 1 : val;
                v[i].len = v[i].str ? (size_t) (ve - val - 2)
                                    : (size_t) (ve - val);
                break;
            }
        }

        p = json_ws(ve, end);
        if (p < end && *p == ',') {
            p = json_ws(p + 1, end);
        }
    }

    return 0;
}


int
json_span_is(const json_span_t *s, const char *lit, size_t n)
{
    return s->len == n && memcmp(s->p, lit, n) == 0;
}
