/*
 * chat-bench: the scenarios.  How many connections, in which rooms, who
 * sends; the send schedule at the offered rate; a message's text; and the
 * phases of a run and of its steps (warmup, measured window, drain).
 */

#include <stdlib.h>
#include <string.h>

#include "bench.h"


static void cb_layout(void);
static void cb_assign(cb_conn_t *c, uint32_t i);
static uint32_t cb_stride(void);
static uint32_t cb_gcd(uint32_t a, uint32_t b);


/*
 * a room's name (ngx_chat room, nchan channel, sio room): fanout "-fanout",
 * rooms "-r<n>", chat pairs "-c<n>" and groups "-g<n>", idle and connect
 * "-i<n>"
 */

int
cb_room_name(uint32_t room, char *buf, size_t cap)
{
    switch (B.scenario) {

    case CB_SC_FANOUT:
        return snprintf(buf, cap, "%s-fanout", B.room_prefix);

    case CB_SC_CHAT:
        if (room >= B.pairs) {
            return snprintf(buf, cap, "%s-g%u", B.room_prefix,
                            room - B.pairs);
        }
        return snprintf(buf, cap, "%s-c%u", B.room_prefix, room);

    default:
        return snprintf(buf, cap, "%s-%c%u", B.room_prefix,
                        B.scenario == CB_SC_ROOMS ? 'r' : 'i', room);
    }
}


void
cb_setup_conns(void)
{
    uint32_t    i, r, base, stride;
    cb_conn_t  *c;

    cb_layout();

    base = B.n;
    B.peer->layout(base);

    B.c = calloc(B.n, sizeof(cb_conn_t));
    B.members = calloc(B.nrooms, sizeof(uint32_t));
    B.room_rev = calloc(B.nrooms, sizeof(int64_t));
    B.sender_idx = calloc(B.nsenders + 1, sizeof(uint32_t));

    if (B.c == NULL || B.members == NULL || B.room_rev == NULL
        || B.sender_idx == NULL)
    {
        cb_die("out of memory");
    }

    /* chat: every member sends, slowly; nchan: publishers, faster */
    B.ack_ring = (B.scenario == CB_SC_CHAT && !B.pub_base)
                 ? CB_ACK_RING_CHAT : CB_ACK_RING;

    stride = cb_stride();
    r = 0;

    for (i = 0; i < B.n; i++) {
        c = &B.c[i];
        c->fd = -1;
        c->user = B.user_base + i;
        c->next_id = CB_JOIN_ID + 1;
        c->ack_next = CB_JOIN_ID + 1;
        c->room2 = CB_NO_ROOM;

        if (B.pub_base && i >= B.pub_base) {
            /* nchan chat: the publisher of room (i - pub_base) */
            c->room = i - B.pub_base;
            c->sender = 1;

        } else if (i >= base) {
            /* nchan echo: a subscriber on publisher (i - base)'s room */
            c->room = B.c[B.sender_idx[i - base]].room;
            continue;

        } else {
            cb_assign(c, i);

            if (c->sender || B.scenario == CB_SC_CHAT) {
                B.sender_idx[(uint64_t) r++ * stride % B.nsenders] = i;
            }
        }

        if (c->sender) {
            c->ack_ring = calloc(B.ack_ring, sizeof(cb_ack_t));
            if (c->ack_ring == NULL) {
                cb_die("out of memory");
            }
        }
    }
}


/* the scenario's connections, rooms and senders */

static void
cb_layout(void)
{
    switch (B.scenario) {

    case CB_SC_FANOUT:
        B.n = B.subs + B.senders;
        B.nrooms = 1;
        B.nsenders = B.senders;
        break;

    case CB_SC_ROOMS:
        B.n = B.rooms * 2;
        B.nrooms = B.rooms;
        B.nsenders = B.rooms;
        break;

    case CB_SC_CHAT:
        /* rooms 0..pairs-1: the pairs; then the groups */
        B.n = B.pairs * 2;
        B.nrooms = B.pairs + B.chat_groups;
        B.nsenders = B.n;
        break;

    default:
        B.n = B.conns;
        B.nrooms = (B.conns + 1) / 2;
        B.nsenders = 0;
        break;
    }
}


/* connection i of the scenario: its room(s), and whether it sends */

static void
cb_assign(cb_conn_t *c, uint32_t i)
{
    switch (B.scenario) {

    case CB_SC_FANOUT:
        c->room = 0;
        c->sender = (i >= B.subs);
        break;

    case CB_SC_CHAT:
        c->room = i / 2;
        if (i < B.chat_groups * B.group_size) {
            c->room2 = B.pairs + i / B.group_size;
            c->rr = i & 1;              /* half begin with the group */
        }
        c->sender = 1;                  /* everyone sends */
        break;

    default:
        c->room = i / 2;
        c->sender = (B.scenario == CB_SC_ROOMS && i % 2 == 0);
        break;
    }

    B.peer->assign(c, i);
}


/*
 * chat: the senders take turns in an order spread by a golden-ratio
 * stride, so that any second has its share of group members (in
 * connection order the groups would all send in one part of a round)
 */

static uint32_t
cb_stride(void)
{
    uint32_t  stride;

    if (B.scenario != CB_SC_CHAT) {
        return 1;
    }

    stride = (uint32_t) (B.nsenders * 0.618034) | 1;
    while (cb_gcd(stride, B.nsenders) != 1) {
        stride++;
    }

    return stride;
}


static uint32_t
cb_gcd(uint32_t a, uint32_t b)
{
    uint32_t  t;

    while (b) {
        t = a % b;
        a = b;
        b = t;
    }

    return a;
}


/* one message to "room" over connection c, from user "from" */

void
cb_send_one(cb_conn_t *c, uint32_t from, uint32_t room, int64_t now)
{
    int              n, pad;
    char             buf[128 + 4096], rn[128], *body;
    uint64_t         id;
    size_t           blen, extra;
    char            *p, *big;
    cb_ack_t        *slot;

    if (ws_out_pending(&c->out)) {
        B.cnt.backlog++;
        if (B.phase == CB_PH_MEASURE) {
            B.w_backlog++;
        }
        return;
    }

    id = c->next_id++;

    big = NULL;
    p = buf;

    extra = B.peer->msg_extra;

    if (B.size + extra > sizeof(buf)) {
        big = malloc(B.size + extra);
        if (big == NULL) {
            cb_die("out of memory");
        }
        p = big;
    }

    cb_room_name(room, rn, sizeof(rn));

    n = B.peer->msg_head(p, id, rn, from);

    body = p + n;
    blen = sprintf(body, "%lld %llu", (long long) now,
                   (unsigned long long) id);

    if (B.reload) {
        /* and its sender, to tell a send stored but not answered */
        blen += sprintf(body + blen, " %u", (uint32_t) (c - B.c));
    }

    pad = (int) B.size - (int) blen;
    if (pad > 0) {
        body[blen++] = ' ';
        pad--;
        memset(body + blen, 'x', pad);
        blen += pad;
    }

    n += blen;
    n += B.peer->msg_tail(p + n);

    slot = &c->ack_ring[id % B.ack_ring];
    slot->id = (uint32_t) id;
    slot->sent = now;
    slot->room = room;

    B.cnt.sent++;
    if (B.phase == CB_PH_MEASURE) {
        B.w_sent++;
    }

    cb_send_frame(c, 0x1, (u_char *) p, n);

    free(big);
}


void
cb_tick(int64_t now)
{
    uint64_t  due;

    if (B.phase < CB_PH_WARMUP || B.phase > CB_PH_MEASURE
        || B.nsenders == 0)
    {
        return;
    }

    due = (uint64_t) ((double) (now - B.t_send_start) * B.rate / CB_SEC);

    while (B.sched < due) {
        B.peer->send_slot(now);
    }
}


/* the next sender in turn sends one message */

void
cb_send_slot_turn(int64_t now)
{
    uint32_t    room;
    cb_conn_t  *c, *w;

    c = &B.c[B.sender_idx[B.sched % B.nsenders]];
    B.sched++;

    /* chat: the connection's rooms in turn */
    room = c->room;
    if (c->room2 != CB_NO_ROOM) {
        room = c->rr ? c->room2 : c->room;
        c->rr ^= 1;
    }

    /* nchan chat: over the room's publisher */
    w = B.pub_base ? &B.c[B.pub_base + room] : c;

    if (c->state != CB_ST_READY || w->state != CB_ST_READY || w->closing) {
        B.cnt.notready++;
        return;
    }

    cb_send_one(w, c->user, room, now);
}


void
cb_progress(int64_t now)
{
    static int64_t   last;
    static uint64_t  last_deliv, last_sent;
    double           dt;

    if (!B.verbose || now - last < CB_SEC) {
        return;
    }

    dt = last ? (double) (now - last) / CB_SEC : 1;

    fprintf(stderr, "chat-bench: t=%.1fs phase=%d open=%u ready=%u "
            "sent/s=%.0f deliv/s=%.0f backlog=%llu\n",
            (double) (now - B.t_start) / CB_SEC, B.phase, B.open, B.ready,
            (B.cnt.sent - last_sent) / dt,
            (B.cnt.delivered - last_deliv) / dt,
            (unsigned long long) B.cnt.backlog);

    last = now;
    last_deliv = B.cnt.delivered;
    last_sent = B.cnt.sent;
}


void
cb_phase(int phase, int64_t now)
{
    static const char  *names[] = {
        "setup", "warmup", "measure", "drain", "done"
    };

    B.phase = phase;

    fprintf(stderr, "chat-bench: %.2fs: %s (ready %u/%u)\n",
            (double) (now - B.t_start) / CB_SEC, names[phase], B.ready, B.n);
}


/* a step: sending at B.rates[B.step], counted from zero */

/*
 * the measured seconds: --duration, longer at a low rate if --min-msgs
 * asks for more messages (at 25 msgs/s, 2 s hold 50 messages, and the p99
 * of their deliveries is the tail of the slowest one or two)
 */

double
cb_measure_secs(void)
{
    double  secs;

    secs = B.duration;

    if (B.min_msgs > 0 && B.rate > 0 && B.min_msgs / B.rate > secs) {
        secs = B.min_msgs / B.rate;
    }

    return secs;
}


void
cb_step_begin(int64_t now)
{
    B.rate = B.rates[B.step];
    B.base = B.cnt;
    B.sched = 0;
    B.w_sent = 0;
    B.w_acked = 0;
    B.w_delivered = 0;
    B.w_backlog = 0;
    memset(&B.lat, 0, sizeof(B.lat));
    memset(&B.lat_rx, 0, sizeof(B.lat_rx));
    memset(&B.ack, 0, sizeof(B.ack));
    memset(&B.ru1, 0, sizeof(B.ru1));
    B.sys_busy0 = B.sys_busy1 = 0;
    B.sys_steal0 = B.sys_steal1 = 0;
    B.reported = 0;
    B.stopped = 0;

    B.t_send_start = now;
    B.t_meas_start = now + (int64_t) (B.warmup * CB_SEC);
    B.t_meas_end = B.t_meas_start + (int64_t) (cb_measure_secs() * CB_SEC);

    if (B.stepped) {
        fprintf(stderr, "chat-bench: step %u of %u: %g msgs/s\n", B.step,
                B.nrates, B.rate);
    }

    cb_phase(CB_PH_WARMUP, now);
}


/*
 * the measured window opens (end = 0) or closes (end = 1): the samples of
 * CPU (generator, server, machine); idle: the memory "after" at opening,
 * once settled ("before" was before connecting)
 */

void
cb_window(int end, int64_t now)
{
    int  idle;

    idle = (B.scenario == CB_SC_IDLE);

    getrusage(RUSAGE_SELF, end ? &B.ru1 : &B.ru0);
    cb_procs_sample(end, (!end && idle) ? 1 : -1);
    cb_sys_cpu(end ? &B.sys_busy1 : &B.sys_busy0,
               end ? &B.sys_steal1 : &B.sys_steal0);

    if (end) {
        B.w_bytes_in1 = B.bytes_in;

        if (B.soak) {
            cb_soak_interval(now);       /* the last, partial one */
        }
        B.t_meas_end = now;
        B.t_drain_end = now + (int64_t) (B.drain * CB_SEC);
        cb_phase(CB_PH_DRAIN, now);
        return;
    }

    if (idle) {
        B.sock_pages1 = cb_sockstat_pages();
        B.ready_sample = B.ready;
    }

    B.w_bytes_in0 = B.bytes_in;
    B.t_meas_start = now;
    B.t_meas_end = now + (int64_t) (cb_measure_secs() * CB_SEC);
    cb_phase(CB_PH_MEASURE, now);
}


/* every send of the step answered and every delivery due arrived */

int
cb_step_drained(void)
{
    return B.cnt.acked - B.base.acked + B.cnt.send_errors
           - B.base.send_errors >= B.cnt.sent - B.base.sent
           && B.cnt.delivered - B.base.delivered
              >= B.cnt.expected - B.base.expected;
}
