
/*
 * ngx_chat room channel messages: see ngx_chat_channel.h.  Standard C
 * only.
 */


#include "ngx_chat_channel.h"


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
