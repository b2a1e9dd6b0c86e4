
/*
 * ngx_chat room channel messages: see ngx_chat_channel.h.  Standard C
 * only.
 */


#include "ngx_chat_channel.h"
#include "ngx_chat_ids.h"


int
ngx_chat_channel_parse(const char *payload, size_t len,
    ngx_chat_channel_event_t *ev)
{
    int64_t      n[2];
    unsigned     i;
    const char  *p, *last, *start;

    p = payload;
    last = payload + len;
    n[0] = 0;
    n[1] = 0;
    ev->skip = NULL;
    ev->skip_len = 0;

    for (i = 0; i < 2; i++) {

        if (i == 1 && n[0] == 0 && p < last && *p == '@') {
            start = ++p;

            while (p < last && *p != '\n') {
                p++;
            }

            if (p == last || p == start) {
                return -1;
            }

            ev->skip = start;
            ev->skip_len = p - start;
            break;
        }

        start = p;

        while (p < last && *p >= '0' && *p <= '9' && n[i] < INT64_MAX / 10) {
            n[i] = n[i] * 10 + (*p++ - '0');
        }

        if (p == start || p == last) {
            return -1;
        }

        if (*p == '\n') {
            break;
        }

        if (*p != ' ' || i == 1) {
            return -1;
        }

        p++;
    }

    ev->rev = n[0];
    ev->seq = n[1];
    ev->json = p + 1;

    return 0;
}


int
ngx_chat_channel_control_parse(const char *payload, size_t len,
    ngx_chat_channel_control_t *c)
{
    int64_t      n;
    const char  *p, *last, *sp;

    if (len < 3 || payload[1] != ' ') {
        return -1;
    }

    c->op = payload[0];
    c->user = payload + 2;
    last = payload + len;

    for (sp = c->user; sp < last && *sp != ' '; sp++) {
        /* void */
    }

    c->user_len = sp - c->user;

    if (!ngx_chat_user_id_valid(c->user, c->user_len)) {
        return -1;
    }

    c->arg = sp < last ? sp + 1 : last;
    c->arg_len = last - c->arg;
    c->n = 0;

    switch (c->op) {

    case 'U':
        return sp == last ? 0 : -1;

    case 'J':
    case 'S':
        return c->arg_len ? 0 : -1;

    case 'R':
    case 'B':
        if (c->arg_len == 0) {
            return -1;
        }

        n = 0;

        for (p = c->arg; p < last; p++) {
            if (*p < '0' || *p > '9' || n > (INT64_MAX - (*p - '0')) / 10) {
                return -1;
            }

            n = n * 10 + (*p - '0');
        }

        c->n = n;
        return 0;

    default:
        return -1;
    }
}
