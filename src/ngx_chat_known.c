/*
 * The users a worker has seen authenticate, recorded in chat_users (a
 * direct-message room needs its other user to be known).  Users seen in
 * one loop tick are written by one statement; a worker remembers whom it
 * has written, so a known user's reconnect costs nothing.  A write that
 * fails is forgotten: the user's next authentication tries again.
 */

#include "ngx_chat.h"
#include "ngx_chat_members.h"
#include "ngx_chat_pg.h"


#define NGX_CHAT_KNOWN_BUCKETS   4096
/* beyond this many the cache starts over: a cost, never a wrong answer */
#define NGX_CHAT_KNOWN_MAX       100000

#define NGX_CHAT_KNOWN_SQL  "select chat_users_seen($1::jsonb)"


typedef struct ngx_chat_known_s  ngx_chat_known_t;

struct ngx_chat_known_s {
    ngx_chat_known_t  *next;
    ngx_chat_known_t  *batch;       /* the next one written with it */
    uint32_t           len;
    uint32_t           name_len;
    unsigned           stored:1;
    char               user[1];     /* user, then name */
};


static ngx_chat_known_t **ngx_chat_known_find(const char *user, size_t len);
static void ngx_chat_known_flush(ngx_event_t *ev);
static void ngx_chat_known_written(void *data, PGresult *res,
    ngx_uint_t status);
static void ngx_chat_known_forget(ngx_chat_known_t *k);
static void ngx_chat_known_clear(void);


static ngx_chat_known_t  *ngx_chat_users[NGX_CHAT_KNOWN_BUCKETS];
static ngx_uint_t         ngx_chat_known_n;
static ngx_chat_known_t  *ngx_chat_known_waiting;
static ngx_event_t        ngx_chat_known_ev;


void
ngx_chat_known_seen(const char *user, size_t user_len, const char *name,
    size_t name_len)
{
    ngx_chat_known_t  *k, **p;

    p = ngx_chat_known_find(user, user_len);

    if (*p) {
        return;
    }

    if (ngx_chat_known_n >= NGX_CHAT_KNOWN_MAX) {
        ngx_chat_known_clear();
        p = ngx_chat_known_find(user, user_len);
    }

    k = ngx_alloc(offsetof(ngx_chat_known_t, user) + user_len + name_len,
                  ngx_chat_worker.log);
    if (k == NULL) {
        return;
    }

    k->next = NULL;
    k->stored = 0;
    k->len = user_len;
    k->name_len = name_len;
    ngx_memcpy(k->user, user, user_len);
    ngx_memcpy(k->user + user_len, name, name_len);
    *p = k;
    ngx_chat_known_n++;

    k->batch = ngx_chat_known_waiting;
    ngx_chat_known_waiting = k;

    if (!ngx_chat_known_ev.posted) {
        ngx_chat_known_ev.handler = ngx_chat_known_flush;
        ngx_chat_known_ev.data = &ngx_chat_no_connection;
        ngx_chat_known_ev.log = ngx_chat_worker.log;
        ngx_post_event(&ngx_chat_known_ev, &ngx_posted_events);
    }
}


static ngx_chat_known_t **
ngx_chat_known_find(const char *user, size_t len)
{
    ngx_chat_known_t  **p;

    p = &ngx_chat_users[ngx_crc32_short((u_char *) user, len)
                        % NGX_CHAT_KNOWN_BUCKETS];

    while (*p && ((*p)->len != len || ngx_memcmp((*p)->user, user, len) != 0))
    {
        p = &(*p)->next;
    }

    return p;
}


static void
ngx_chat_known_flush(ngx_event_t *ev)
{
    int                lengths[1];
    const char        *values[1];
    ngx_chat_json_t    j;
    ngx_chat_known_t  *k, *batch;

    batch = ngx_chat_known_waiting;
    ngx_chat_known_waiting = NULL;

    if (batch == NULL) {
        return;
    }

    ngx_chat_json_init(&j, 1024);
    ngx_chat_json_char(&j, '[');

    for (k = batch; k; k = k->batch) {
        ngx_chat_json_sep(&j);
        ngx_chat_json_char(&j, '{');
        ngx_chat_json_kv_str(&j, "user", k->user, k->len);

        if (k->name_len) {
            ngx_chat_json_kv_str(&j, "name", k->user + k->len, k->name_len);
        }

        ngx_chat_json_char(&j, '}');
    }

    ngx_chat_json_char(&j, ']');

    values[0] = j.data;
    lengths[0] = j.len;

    if (j.failed
        || ngx_chat_pg_query(NGX_CHAT_KNOWN_SQL, 1, values, lengths,
                             ngx_chat_known_written, batch)
           != NGX_OK)
    {
        ngx_chat_known_written(batch, NULL, NGX_CHAT_PG_UNAVAILABLE);
    }

    ngx_chat_json_free(&j);
}


static void
ngx_chat_known_written(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_known_t  *k, *next;

    for (k = data; k; k = next) {
        next = k->batch;
        k->batch = NULL;

        if (status == NGX_CHAT_PG_OK
            && *ngx_chat_known_find(k->user, k->len) == k)
        {
            k->stored = 1;

        } else {
            ngx_chat_known_forget(k);
        }
    }
}


static void
ngx_chat_known_forget(ngx_chat_known_t *k)
{
    ngx_chat_known_t  **p;

    p = ngx_chat_known_find(k->user, k->len);

    if (*p == k) {
        *p = k->next;
        ngx_chat_known_n--;
    }

    ngx_free(k);
}


/* entries waiting for their write stay linked in their batch */
static void
ngx_chat_known_clear(void)
{
    ngx_uint_t         i;
    ngx_chat_known_t  *k, *next;

    for (i = 0; i < NGX_CHAT_KNOWN_BUCKETS; i++) {
        for (k = ngx_chat_users[i]; k; k = next) {
            next = k->next;

            if (k->stored) {
                ngx_free(k);

            } else {
                /* freed when written: no longer the table's */
                k->next = NULL;
            }
        }

        ngx_chat_users[i] = NULL;
    }

    ngx_chat_known_n = 0;
}
