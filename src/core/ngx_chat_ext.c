/*
 * Sec-WebSocket-Extensions: offers of permessage-deflate.
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" ( token | quoted-string ) ]
 *
 * A quoted value must be a token once unquoted (RFC 6455 section 9.1).
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_chat_ext.h"


#define NGX_CHAT_EXT_NAME  "permessage-deflate"

/* the parameters of RFC 7692 section 7.1, as bits seen */
#define NGX_CHAT_EXT_SNCT  0x01    /* server_no_context_takeover */
#define NGX_CHAT_EXT_CNCT  0x02    /* client_no_context_takeover */
#define NGX_CHAT_EXT_SMWB  0x04    /* server_max_window_bits */
#define NGX_CHAT_EXT_CMWB  0x08    /* client_max_window_bits */


typedef struct {
    const uint8_t  *p;
    const uint8_t  *last;
} ngx_chat_ext_cursor_t;


static int ngx_chat_ext_tchar(uint8_t c);
static void ngx_chat_ext_space(ngx_chat_ext_cursor_t *c);
static size_t ngx_chat_ext_token(ngx_chat_ext_cursor_t *c,
    const uint8_t **start);
static int ngx_chat_ext_value(ngx_chat_ext_cursor_t *c, uint8_t *buf,
    size_t size, size_t *len);
static int ngx_chat_ext_param(ngx_chat_ext_t *ext, unsigned *seen,
    const uint8_t *name, size_t name_len, const uint8_t *value,
    size_t value_len, int has_value);
static int ngx_chat_ext_is(const uint8_t *p, size_t len, const char *name);


int
ngx_chat_ext_offer(ngx_chat_ext_t *ext, const uint8_t *value, size_t len)
{
    int                     ok, has;
    size_t                  n, vlen;
    uint8_t                 v[8];
    unsigned                seen;
    const uint8_t          *name;
    ngx_chat_ext_t          cand;
    ngx_chat_ext_cursor_t   c;

    if (ext->deflate) {
        return 1;
    }

    c.p = value;
    c.last = value + len;

    for ( ;; ) {

        /* empty list elements are allowed: "a, , b" */

        ngx_chat_ext_space(&c);

        while (c.p < c.last && *c.p == ',') {
            c.p++;
            ngx_chat_ext_space(&c);
        }

        if (c.p == c.last) {
            return 0;
        }

        n = ngx_chat_ext_token(&c, &name);
        if (n == 0) {
            return 0;
        }

        ok = ngx_chat_ext_is(name, n, NGX_CHAT_EXT_NAME);
        memset(&cand, 0, sizeof(ngx_chat_ext_t));
        seen = 0;

        for ( ;; ) {
            ngx_chat_ext_space(&c);

            if (c.p == c.last || *c.p == ',') {
                break;
            }

            if (*c.p != ';') {
                return 0;
            }

            c.p++;
            ngx_chat_ext_space(&c);

            n = ngx_chat_ext_token(&c, &name);
            if (n == 0) {
                return 0;
            }

            ngx_chat_ext_space(&c);
            has = 0;
            vlen = 0;

            if (c.p < c.last && *c.p == '=') {
                c.p++;
                ngx_chat_ext_space(&c);

                has = ngx_chat_ext_value(&c, v, sizeof(v), &vlen);
                if (has < 0) {
                    return 0;
                }
            }

            if (ok && !ngx_chat_ext_param(&cand, &seen, name, n, v, vlen,
                                          has))
            {
                ok = 0;
            }
        }

        if (ok) {
            cand.deflate = 1;
            *ext = cand;
            return 1;
        }
    }
}


size_t
ngx_chat_ext_answer(const ngx_chat_ext_t *ext, char *buf)
{
    int  n;

    n = snprintf(buf, NGX_CHAT_EXT_ANSWER_MAX,
                 NGX_CHAT_EXT_NAME "; server_no_context_takeover"
                 "; client_no_context_takeover");

    if (ext->server_bits) {
        n += snprintf(buf + n, NGX_CHAT_EXT_ANSWER_MAX - n,
                      "; server_max_window_bits=%u",
                      (unsigned) ext->server_bits);
    }

    return (size_t) n;
}


/*
 * One parameter of a permessage-deflate offer: 1 if it is valid there,
 * 0 if it makes the offer one to decline.
 */
static int
ngx_chat_ext_param(ngx_chat_ext_t *ext, unsigned *seen, const uint8_t *name,
    size_t name_len, const uint8_t *value, size_t value_len, int has_value)
{
    unsigned  bit, bits;

    if (ngx_chat_ext_is(name, name_len, "server_no_context_takeover")) {
        bit = NGX_CHAT_EXT_SNCT;

    } else if (ngx_chat_ext_is(name, name_len, "client_no_context_takeover")) {
        bit = NGX_CHAT_EXT_CNCT;

    } else if (ngx_chat_ext_is(name, name_len, "server_max_window_bits")) {
        bit = NGX_CHAT_EXT_SMWB;

    } else if (ngx_chat_ext_is(name, name_len, "client_max_window_bits")) {
        bit = NGX_CHAT_EXT_CMWB;

    } else {
        return 0;
    }

    if (*seen & bit) {
        return 0;
    }

    *seen |= bit;

    if (bit & (NGX_CHAT_EXT_SNCT | NGX_CHAT_EXT_CNCT)) {
        return !has_value;
    }

    /* client_max_window_bits may come alone: the client can use less */

    if (!has_value) {
        return bit == NGX_CHAT_EXT_CMWB;
    }

    /* 8 to 15, one or two digits, no leading zero */

    if (value_len == 1 && value[0] >= '8' && value[0] <= '9') {
        bits = value[0] - '0';

    } else if (value_len == 2 && value[0] == '1' && value[1] >= '0'
               && value[1] <= '5')
    {
        bits = 10 + value[1] - '0';

    } else {
        return 0;
    }

    if (bit == NGX_CHAT_EXT_SMWB) {
        ext->server_bits = bits;
    }

    return 1;
}


/* a token (RFC 7230 tchar) */
static int
ngx_chat_ext_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
        || (c >= 'A' && c <= 'Z'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static void
ngx_chat_ext_space(ngx_chat_ext_cursor_t *c)
{
    while (c->p < c->last && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}


static size_t
ngx_chat_ext_token(ngx_chat_ext_cursor_t *c, const uint8_t **start)
{
    *start = c->p;

    while (c->p < c->last && ngx_chat_ext_tchar(*c->p)) {
        c->p++;
    }

    return c->p - *start;
}


/*
 * A parameter's value, a token or a quoted string whose content is one,
 * into buf; a value longer than size is kept as size + 1 bytes' worth of
 * length (invalid for every parameter).  1, or -1 on bad grammar.
 */
static int
ngx_chat_ext_value(ngx_chat_ext_cursor_t *c, uint8_t *buf, size_t size,
    size_t *len)
{
    int       quoted;
    uint8_t   ch;

    quoted = (c->p < c->last && *c->p == '"');

    if (quoted) {
        c->p++;
    }

    *len = 0;

    while (c->p < c->last) {
        ch = *c->p;

        if (quoted && ch == '"') {
            break;
        }

        if (quoted && ch == '\\') {
            if (++c->p == c->last) {
                return -1;
            }

            ch = *c->p;
        }

        if (!ngx_chat_ext_tchar(ch)) {
            if (quoted) {
                return -1;
            }

            break;
        }

        if (*len < size) {
            buf[*len] = ch;
        }

        if (*len <= size) {
            (*len)++;
        }

        c->p++;
    }

    if (quoted) {
        if (c->p == c->last) {
            return -1;
        }

        c->p++;
    }

    return *len > 0 ? 1 : -1;
}


static int
ngx_chat_ext_is(const uint8_t *p, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp((const char *) p, name, len) == 0;
}
