
/*
 * ngx_chat REST paths and query strings: see ngx_chat_route.h.
 * Standard C only.
 */


#include <string.h>

#include "ngx_chat_route.h"


static int ngx_chat_route_hex(unsigned char c);
static int ngx_chat_route_lower(int c);


int
ngx_chat_route_match(const char *pattern, const char *path, size_t len,
    ngx_chat_route_caps_t *caps)
{
    size_t       n;
    const char  *p, *last, *end, *s, *e;

    memset(caps, 0, sizeof(ngx_chat_route_caps_t));

    p = path;
    last = path + len;
    s = pattern;

    for ( ;; ) {
        e = strchr(s, '/');
        if (e == NULL) {
            e = s + strlen(s);
        }

        end = memchr(p, '/', last - p);
        if (end == NULL) {
            end = last;
        }

        n = end - p;

        if (n == 0) {
            return 0;
        }

        if (strncmp(s, "{room}", 6) == 0) {
            caps->room = p;
            caps->room_len = n;

        } else if (strncmp(s, "{user}", 6) == 0) {
            caps->user = p;
            caps->user_len = n;

        } else if (strncmp(s, "{seq}", 5) == 0) {
            if (ngx_chat_parse_int(p, n, 1, INT64_MAX, &caps->seq) != 0) {
                caps->seq = -1;     /* matched, but invalid */
            }

        } else if ((size_t) (e - s) != n || memcmp(p, s, n) != 0) {
            return 0;
        }

        if (*e == '\0') {
            return end == last;
        }

        if (end == last) {
            return 0;
        }

        s = e + 1;
        p = end + 1;
    }
}


int
ngx_chat_query_arg(const char *args, size_t len, const char *name,
    size_t name_len, const char **val, size_t *val_len)
{
    size_t       i, k;
    const char  *p, *end;

    if (name_len == 0) {
        return 0;
    }

    /* "name=" must fit: the value may be empty */

    for (i = 0; i + name_len < len; i++) {
        if (i > 0 && args[i - 1] != '&') {
            continue;
        }

        for (k = 0; k < name_len; k++) {
            if (ngx_chat_route_lower((unsigned char) args[i + k])
                != ngx_chat_route_lower((unsigned char) name[k]))
            {
                break;
            }
        }

        if (k < name_len || args[i + name_len] != '=') {
            continue;
        }

        p = args + i + name_len + 1;
        end = memchr(p, '&', args + len - p);

        *val = p;
        *val_len = (end ? end : args + len) - p;

        return 1;
    }

    return 0;
}


int
ngx_chat_unescape(const char *in, size_t len, char *out, size_t *out_len)
{
    int          hi, lo;
    char        *d;
    const char  *p, *last;

    p = in;
    last = in + len;
    d = out;

    while (p < last) {
        if (*p != '%') {
            *d++ = *p++;
            continue;
        }

        if (last - p < 3) {
            return -1;
        }

        hi = ngx_chat_route_hex((unsigned char) p[1]);
        lo = ngx_chat_route_hex((unsigned char) p[2]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *d++ = (char) (hi * 16 + lo);
        p += 3;
    }

    *out_len = d - out;

    return 0;
}


int
ngx_chat_parse_int(const char *p, size_t len, int64_t min, int64_t max,
    int64_t *value)
{
    int      d;
    size_t   i;
    int64_t  v;

    if (len == 0) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        d = p[i] - '0';

        if (v > (INT64_MAX - d) / 10) {
            return -1;
        }

        v = v * 10 + d;
    }

    if (v < min || v > max) {
        return -1;
    }

    *value = v;

    return 0;
}


static int
ngx_chat_route_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
ngx_chat_route_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? (c | 0x20) : c;
}
