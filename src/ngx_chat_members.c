/*
 * Moderation on live connections.  A durable member event reaches every
 * worker joined to its room in rev order (ngx_chat_deliver.c); right
 * after queuing it to the room's sessions, the worker applies it here:
 * a kick, ban or leave takes the user's sessions out of the room (they
 * get that event and nothing more from it), a mute or a ban is kept in
 * the worker's table that typing consults.
 */

#include "ngx_chat.h"
#include "ngx_chat_members.h"
#include "ngx_chat_rooms.h"

#include <jansson.h>


#define NGX_CHAT_MUTE_BUCKETS  1024


typedef struct ngx_chat_mute_s  ngx_chat_mute_t;

struct ngx_chat_mute_s {
    ngx_chat_mute_t  *next;
    int64_t           until;
    size_t            len;
    char              key[1];        /* kind, room, space, user */
};


static void ngx_chat_mark_set(char kind, const char *room, size_t room_len,
    const char *user, size_t user_len, int64_t until);
static ngx_uint_t ngx_chat_marked(char kind, const char *room,
    size_t room_len, const char *user, size_t user_len);
static ngx_chat_mute_t **ngx_chat_mute_find(const char *key, size_t len);
static size_t ngx_chat_mute_key(char *buf, char kind, const char *room,
    size_t room_len, const char *user, size_t user_len);


static ngx_chat_mute_t  *ngx_chat_mutes[NGX_CHAT_MUTE_BUCKETS];


void
ngx_chat_members_event(ngx_chat_room_t *room, ngx_chat_buf_t *b)
{
    size_t         hlen, len;
    int64_t        until;
    json_t        *root, *action, *user, *v;
    const char    *act, *json;
    json_error_t   err;

    static const char  prefix[] = "{\"type\":\"member\"";

    if (b->seq || b->len < 2) {
        return;
    }

    /* the frame's header: 2 bytes, or 4 or 10 with an extended length */
    hlen = (b->data[1] & 0x7f) == 126 ? 4 : (b->data[1] & 0x7f) == 127
                                            ? 10 : 2;

    if (b->len < hlen + sizeof(prefix) - 1) {
        return;
    }

    json = (const char *) b->data + hlen;
    len = b->len - hlen;

    if (ngx_strncmp(json, prefix, sizeof(prefix) - 1) != 0) {
        return;
    }

    root = json_loadb(json, len, 0, &err);
    if (root == NULL) {
        return;
    }

    action = json_object_get(root, "action");
    user = json_object_get(root, "user");

    if (!json_is_string(action) || !json_is_string(user)) {
        json_decref(root);
        return;
    }

    act = json_string_value(action);

    v = json_object_get(root, "until");
    until = json_is_integer(v) ? json_integer_value(v) : INT64_MAX;

    if (ngx_strcmp(act, "banned") == 0) {
        ngx_chat_mark_set('b', room->id, room->id_len,
                          json_string_value(user), json_string_length(user),
                          until);
    }

    if (ngx_strcmp(act, "kicked") == 0 || ngx_strcmp(act, "banned") == 0
        || ngx_strcmp(act, "left") == 0)
    {
        ngx_chat_fanout_drop_user(room, json_string_value(user),
                                  json_string_length(user));

    } else if (ngx_strcmp(act, "muted") == 0) {
        ngx_chat_mark_set('m', room->id, room->id_len,
                          json_string_value(user), json_string_length(user),
                          until);

    } else if (ngx_strcmp(act, "unmuted") == 0
               || ngx_strcmp(act, "unbanned") == 0)
    {
        ngx_chat_mark_set(act[2] == 'm' ? 'm' : 'b', room->id, room->id_len,
                          json_string_value(user), json_string_length(user),
                          0);
    }

    json_decref(root);
}


/* columns of NGX_CHAT_SQL_ROOM_OPEN_BATCH */
#define NGX_CHAT_ENTER_EVENT_REV    6
#define NGX_CHAT_ENTER_EVENT        7
#define NGX_CHAT_ENTER_MUTED_UNTIL  8

void
ngx_chat_members_entered(const char *room, size_t room_len,
    const char *user, size_t user_len, PGresult *res, int row)
{
    int64_t  until, rev;

    if (PQnfields(res) <= NGX_CHAT_ENTER_MUTED_UNTIL) {
        return;
    }

    until = PQgetisnull(res, row, NGX_CHAT_ENTER_MUTED_UNTIL)
            ? 0 : atoll(PQgetvalue(res, row, NGX_CHAT_ENTER_MUTED_UNTIL));

    ngx_chat_mark_set('m', room, room_len, user, user_len, until);
    ngx_chat_mark_set('b', room, room_len, user, user_len, 0);

    if (!PQgetisnull(res, row, NGX_CHAT_ENTER_EVENT)) {
        rev = atoll(PQgetvalue(res, row, NGX_CHAT_ENTER_EVENT_REV));
        ngx_chat_fanout_committed(room, room_len, rev, 0,
                                  PQgetvalue(res, row, NGX_CHAT_ENTER_EVENT),
                                  PQgetlength(res, row, NGX_CHAT_ENTER_EVENT));
    }
}


/* why the user may not type in the room (banned, muted), or NULL */
const char *
ngx_chat_members_refused(const char *room, size_t room_len,
    const char *user, size_t user_len)
{
    if (ngx_chat_marked('b', room, room_len, user, user_len)) {
        return "banned from this room";
    }

    if (ngx_chat_marked('m', room, room_len, user, user_len)) {
        return "muted in this room";
    }

    return NULL;
}


/* a mute ('m') or ban ('b') of the user in the room; until 0: none */
static void
ngx_chat_mark_set(char kind, const char *room, size_t room_len,
    const char *user, size_t user_len, int64_t until)
{
    char              key[NGX_CHAT_ROOM_ID_MAX + NGX_CHAT_USER_ID_MAX + 3];
    size_t            len;
    ngx_chat_mute_t  *m, **p;

    len = ngx_chat_mute_key(key, kind, room, room_len, user, user_len);
    p = ngx_chat_mute_find(key, len);

    if (*p) {
        if (until > ngx_chat_now_ms()) {
            (*p)->until = until;
            return;
        }

        m = *p;
        *p = m->next;
        ngx_free(m);
        return;
    }

    if (until <= ngx_chat_now_ms()) {
        return;
    }

    m = ngx_alloc(sizeof(ngx_chat_mute_t) + len, ngx_chat_worker.log);
    if (m == NULL) {
        return;
    }

    m->until = until;
    m->len = len;
    ngx_memcpy(m->key, key, len);
    m->next = NULL;
    *p = m;
}


static ngx_uint_t
ngx_chat_marked(char kind, const char *room, size_t room_len,
    const char *user, size_t user_len)
{
    char              key[NGX_CHAT_ROOM_ID_MAX + NGX_CHAT_USER_ID_MAX + 3];
    size_t            len;
    ngx_chat_mute_t  *m, **p;

    len = ngx_chat_mute_key(key, kind, room, room_len, user, user_len);
    p = ngx_chat_mute_find(key, len);
    m = *p;

    if (m == NULL) {
        return 0;
    }

    if (m->until > ngx_chat_now_ms()) {
        return 1;
    }

    /* the mute has run out */
    *p = m->next;
    ngx_free(m);

    return 0;
}


/* where the entry of key is, or where it would be linked */
static ngx_chat_mute_t **
ngx_chat_mute_find(const char *key, size_t len)
{
    ngx_chat_mute_t  **p;

    p = &ngx_chat_mutes[ngx_crc32_short((u_char *) key, len)
                        % NGX_CHAT_MUTE_BUCKETS];

    while (*p && ((*p)->len != len || ngx_memcmp((*p)->key, key, len) != 0))
    {
        p = &(*p)->next;
    }

    return p;
}


/* room ids hold no space: "<kind>room user" names one user in one room */
static size_t
ngx_chat_mute_key(char *buf, char kind, const char *room, size_t room_len,
    const char *user, size_t user_len)
{
    char  *p;

    p = buf;
    *p++ = kind;
    p = (char *) ngx_cpymem(p, room, room_len);
    *p++ = ' ';
    p = (char *) ngx_cpymem(p, user, user_len);

    return p - buf;
}
