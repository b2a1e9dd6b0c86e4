
/*
 * ngx_chat identities: user and room ids, direct-message rooms.
 * No nginx types here: standard C only.
 */


#include <string.h>

#include "ngx_chat_ids.h"


typedef unsigned char  ngx_chat_u_char;


static int ngx_chat_user_char(ngx_chat_u_char c);
static int ngx_chat_bytecmp(const char *a, size_t a_len, const char *b,
    size_t b_len);
static int ngx_chat_dm_split(const char *p, size_t len, const char **a,
    size_t *a_len, const char **b, size_t *b_len);



static int
ngx_chat_user_char(ngx_chat_u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9')
           || c == '_' || c == '.' || c == '@' || c == '-';
}


int
ngx_chat_user_id_valid(const char *p, size_t len)
{
    size_t  i;

    if (p == NULL || len == 0 || len > NGX_CHAT_USER_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_chat_user_char((ngx_chat_u_char) p[i])) {
            return 0;
        }
    }

    return 1;
}


int
ngx_chat_room_is_dm(const char *p, size_t len)
{
    return p != NULL && len >= NGX_CHAT_DM_PREFIX_LEN
           && memcmp(p, NGX_CHAT_DM_PREFIX, NGX_CHAT_DM_PREFIX_LEN) == 0;
}


/* bytewise order, a shorter prefix first */
static int
ngx_chat_bytecmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int  rc;

    rc = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (rc != 0) {
        return rc;
    }

    return (a_len > b_len) - (a_len < b_len);
}


/*
 * Splits a "dm:a:b" room into its two users, checking that both are valid
 * and in strict bytewise order (so also different).
 */
static int
ngx_chat_dm_split(const char *p, size_t len, const char **a, size_t *a_len,
    const char **b, size_t *b_len)
{
    const char  *rest, *colon;
    size_t       rest_len;

    if (!ngx_chat_room_is_dm(p, len) || len > NGX_CHAT_ROOM_ID_MAX) {
        return 0;
    }

    rest = p + NGX_CHAT_DM_PREFIX_LEN;
    rest_len = len - NGX_CHAT_DM_PREFIX_LEN;

    colon = memchr(rest, ':', rest_len);
    if (colon == NULL) {
        return 0;
    }

    *a = rest;
    *a_len = colon - rest;
    *b = colon + 1;
    *b_len = rest_len - *a_len - 1;

    /* user ids have no ':', so a third part fails here */

    if (!ngx_chat_user_id_valid(*a, *a_len)
        || !ngx_chat_user_id_valid(*b, *b_len))
    {
        return 0;
    }

    return ngx_chat_bytecmp(*a, *a_len, *b, *b_len) < 0;
}


int
ngx_chat_room_id_valid(const char *p, size_t len)
{
    size_t       i, a_len, b_len;
    const char  *a, *b;

    if (p == NULL || len == 0 || len > NGX_CHAT_ROOM_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] != ':' && !ngx_chat_user_char((ngx_chat_u_char) p[i])) {
            return 0;
        }
    }

    if (ngx_chat_room_is_dm(p, len)) {
        return ngx_chat_dm_split(p, len, &a, &a_len, &b, &b_len);
    }

    return 1;
}


int
ngx_chat_dm_has_member(const char *room, size_t room_len, const char *user,
    size_t user_len)
{
    size_t       a_len, b_len;
    const char  *a, *b;

    if (user == NULL
        || !ngx_chat_dm_split(room, room_len, &a, &a_len, &b, &b_len))
    {
        return 0;
    }

    return (user_len == a_len && memcmp(user, a, a_len) == 0)
           || (user_len == b_len && memcmp(user, b, b_len) == 0);
}


size_t
ngx_chat_dm_room(char *buf, const char *a, size_t a_len, const char *b,
    size_t b_len)
{
    int          rc;
    char        *p;
    size_t       t;
    const char  *s;

    if (!ngx_chat_user_id_valid(a, a_len) || !ngx_chat_user_id_valid(b, b_len)
        || NGX_CHAT_DM_PREFIX_LEN + a_len + 1 + b_len
           > NGX_CHAT_ROOM_ID_MAX)
    {
        return 0;
    }

    rc = ngx_chat_bytecmp(a, a_len, b, b_len);

    if (rc == 0) {
        return 0;
    }

    if (rc > 0) {
        s = a; a = b; b = s;
        t = a_len; a_len = b_len; b_len = t;
    }

    p = buf;
    memcpy(p, NGX_CHAT_DM_PREFIX, NGX_CHAT_DM_PREFIX_LEN);
    p += NGX_CHAT_DM_PREFIX_LEN;
    memcpy(p, a, a_len);
    p += a_len;
    *p++ = ':';
    memcpy(p, b, b_len);
    p += b_len;
    *p = '\0';

    return p - buf;
}
