/*
 * chat-bench: what several peers (--proto) do alike, for their tables.
 */

#include <ctype.h>
#include <string.h>
#include <time.h>

#include "bench.h"


void
cb_no_layout(uint32_t base)
{
    (void) base;
}


void
cb_no_assign(cb_conn_t *c, uint32_t i)
{
    (void) c;
    (void) i;
}


int
cb_port_fixed(cb_conn_t *c)
{
    (void) c;

    return B.port;
}


/* upgraded: the server's first word comes next (ngx_chat, sio) */

void
cb_await_welcome(cb_conn_t *c)
{
    c->state = CB_ST_WELCOME;
}


/*
 * limit, nchan: a send is the very event ngx_chat would send for it, which
 * limit echoes and nchan delivers verbatim: the receive path is the same
 */

int
cb_event_head(char *p, uint64_t id, const char *room, uint32_t from)
{
    return sprintf(p, "{\"type\":\"message\",\"room\":\"%s\","
                   "\"seq\":%llu,\"msg_id\":%llu,\"from\":\"%s%u\","
                   "\"body\":\"", room, (unsigned long long) id,
                   (unsigned long long) id, B.user_prefix, from);
}


int
cb_event_tail(char *p)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return sprintf(p, "\",\"ts\":%lld}",
                   (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
