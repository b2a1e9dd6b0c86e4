/*
 * chat-bench: the text servers send, read: ngx_chat's JSON events (which
 * limit echoes and nchan delivers verbatim), a delivery's latency, and a
 * send's answer.
 */

#include <stdlib.h>
#include <string.h>

#include "bench.h"


static uint64_t cb_span_u64(const json_span_t *s, int *ok);
static void cb_rev_seen(cb_conn_t *c, json_span_t *v, int joined);


static const char *const  cb_json_keys[CB_J_N] = {
    "type", "id", "body", "code", "room", "rev"
};


int
cb_json_scan(u_char *p, size_t len, json_span_t *v)
{
    return json_scan(p, len, cb_json_keys, CB_J_N, v);
}


static uint64_t
cb_span_u64(const json_span_t *s, int *ok)
{
    size_t    i;
    uint64_t  v;

    v = 0;
    *ok = 0;

    for (i = 0; i < s->len && s->p[i] >= '0' && s->p[i] <= '9'; i++) {
        v = v * 10 + (s->p[i] - '0');
        *ok = 1;
    }

    return v;
}


/*
 * a message body "<t> <seq> ...": 1 counted, 0 sent in an earlier step
 * (late, counted lost there), -1 not ours
 */

int
cb_deliver(json_span_t *body)
{
    int      ok;
    int64_t  now, t;

    now = cb_now();
    t = (int64_t) cb_span_u64(body, &ok);

    if (!ok || t > now || t < B.t_start || body->len < 3) {
        B.foreign++;
        return -1;
    }

    if (t < B.t_send_start) {
        B.cnt.late++;
        return 0;
    }

    B.cnt.delivered++;

    if (B.reload) {
        cb_reload_delivered(body->p, body->len);
    }

    if (B.phase == CB_PH_MEASURE) {
        B.w_delivered++;
        cb_hist_add(&B.lat, now - t);
        if (B.rx_t) {
            cb_hist_add(&B.lat_rx, B.rx_t > t ? B.rx_t - t : 0);
        }
        if (B.soak) {
            cb_soak_latency(0, now - t);
        }
    }

    return 1;
}


/* the answer to send "id": ok, or an error (ok = 0) */

void
cb_ack(cb_conn_t *c, uint64_t id, int ok)
{
    int        mine;
    uint32_t   room;
    cb_ack_t  *slot;

    slot = &c->ack_ring[id % B.ack_ring];
    mine = (slot->id == (uint32_t) id);
    room = mine ? slot->room : c->room;
    slot->id = 0;

    if (mine && slot->sent < B.t_send_start) {
        B.cnt.late++;                    /* of an earlier step */
        return;
    }

    if (!ok) {
        B.cnt.send_errors++;
        return;
    }

    B.cnt.acked++;
    B.cnt.expected += B.members[room];

    /* acks received in the window, whenever sent */
    if (B.phase == CB_PH_MEASURE) {
        B.w_acked++;
        if (mine) {
            cb_hist_add(&B.ack, cb_now() - slot->sent);
            if (B.soak) {
                cb_soak_latency(1, cb_now() - slot->sent);
            }
        }
    }
}


/*
 * The soak checks protocol.md 5a for every joined connection: each
 * durable event of its room once, in rev order, with no gap.  From its
 * join's reply (which gives the room's rev) on, a rev beyond the next
 * counts the revs skipped, one not beyond the last a repeat.  A rejoin
 * starts again from its reply; what came before a reply (a replay) is
 * not checked.  B.room_rev keeps the highest rev anyone saw, for the
 * revs never delivered at all (cb_rev_tail).
 */

static void
cb_rev_seen(cb_conn_t *c, json_span_t *v, int joined)
{
    int       k, n, ok;
    char      name[128];
    int64_t   rev;
    uint32_t  rooms[2];

    if (v[CB_J_ROOM].p == NULL || v[CB_J_REV].p == NULL) {
        return;
    }

    rev = (int64_t) cb_span_u64(&v[CB_J_REV], &ok);
    if (!ok) {
        return;
    }

    rooms[0] = c->room;
    rooms[1] = c->room2;

    for (k = 0; k < 2 && rooms[k] != CB_NO_ROOM; k++) {
        n = cb_room_name(rooms[k], name, sizeof(name));

        if ((size_t) n == v[CB_J_ROOM].len
            && memcmp(name, v[CB_J_ROOM].p, n) == 0)
        {
            break;
        }
    }

    if (k == 2 || rooms[k] == CB_NO_ROOM) {
        return;
    }

    if (rev > B.room_rev[rooms[k]]) {
        B.room_rev[rooms[k]] = rev;
    }

    if (joined) {
        c->rev[k] = rev;
        return;
    }

    if (c->rev[k] < 0) {
        return;
    }

    B.cnt.rev_checked++;

    if (rev <= c->rev[k]) {
        B.cnt.rev_dups++;
        return;
    }

    B.cnt.rev_gaps += (uint64_t) (rev - c->rev[k] - 1);
    c->rev[k] = rev;
}


/* the revs the joined connections still miss at the end */

uint64_t
cb_rev_tail(void)
{
    int         k;
    uint32_t    i, room;
    uint64_t    tail;
    cb_conn_t  *c;

    tail = 0;

    for (i = 0; i < B.n; i++) {
        c = &B.c[i];

        if (c->state != CB_ST_READY) {
            continue;
        }

        for (k = 0; k < 2; k++) {
            room = k ? c->room2 : c->room;

            if (room != CB_NO_ROOM && c->rev[k] >= 0
                && B.room_rev[room] > c->rev[k])
            {
                tail += (uint64_t) (B.room_rev[room] - c->rev[k]);
            }
        }
    }

    return tail;
}


/* ngx_chat's events: deliveries, welcome, join and send replies */

int
cb_on_chat_text(cb_conn_t *c, u_char *p, size_t len)
{
    int          ok;
    uint64_t     id;
    json_span_t  v[CB_J_N];

    if (cb_json_scan(p, len, v) == -1 || v[CB_J_TYPE].p == NULL) {
        B.other_events++;
        return 0;
    }

    switch (v[CB_J_TYPE].len) {

    case 7:
        if (json_span_is(&v[CB_J_TYPE], "message", 7)) {
            if (B.soak) {
                cb_rev_seen(c, v, 0);
            }
            cb_deliver(&v[CB_J_BODY]);
            return 0;
        }

        if (json_span_is(&v[CB_J_TYPE], "welcome", 7)) {
            if (c->state == CB_ST_WELCOME) {
                cb_join(c);
            }
            return 0;
        }

        break;

    case 2:
        if (!json_span_is(&v[CB_J_TYPE], "ok", 2)) {
            break;
        }

        id = cb_span_u64(&v[CB_J_ID], &ok);
        if (!ok) {
            B.other_events++;
            return 0;
        }

        if (c->state == CB_ST_JOIN && id == CB_JOIN_ID) {
            if (B.soak) {
                cb_rev_seen(c, v, 1);
            }
            cb_joined(c);
            return 0;
        }

        if (c->ack_ring && id > CB_JOIN_ID && id < c->next_id) {
            cb_ack(c, id, 1);
            return 0;
        }

        B.other_events++;
        return 0;

    case 5:
        if (!json_span_is(&v[CB_J_TYPE], "error", 5)) {
            break;
        }

        cb_count_errcode(v[CB_J_CODE].p, v[CB_J_CODE].len, 1);

        id = cb_span_u64(&v[CB_J_ID], &ok);

        if (c->state == CB_ST_WELCOME || c->state == CB_ST_JOIN) {
            if (B.verbose) {
                fprintf(stderr, "chat-bench: user %u: setup error: %.*s\n",
                        c->user, (int) len, p);
            }
            cb_close(c, -1);
            return -1;
        }

        if (ok && c->ack_ring && id > CB_JOIN_ID && id < c->next_id) {
            cb_ack(c, id, 0);
        }

        return 0;
    }

    if (B.soak) {
        cb_rev_seen(c, v, 0);           /* member, edited, deleted, room */
    }

    B.other_events++;

    return 0;
}
