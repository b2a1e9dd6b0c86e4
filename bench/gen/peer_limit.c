/*
 * chat-bench, --proto limit: bench/peers/limit, the syscalls-only
 * baseline (fanout, idle and connect).  No token, no welcome, no join: a
 * connection is ready once upgraded.  limit has no rooms: its worker k
 * listens on PORT + k (--ports N), the subscribers are spread round-robin
 * over the ports (the "room" of a connection is its port's index) and each
 * message goes out once per port, over one sender connection per port, as
 * the very text of an ngx_chat "message" event, which limit sends back
 * verbatim to everyone on that port.  A sender's own copy stands for the
 * "ok" of ngx_chat (the ack).
 */

#include <string.h>

#include "bench.h"


static void cb_limit_options(int port_set, int path_set, int senders_set);
static void cb_limit_layout(uint32_t base);
static void cb_limit_assign(cb_conn_t *c, uint32_t i);
static int cb_limit_port(cb_conn_t *c);
static void cb_limit_request(cb_conn_t *c, char *path, size_t pcap,
    char *hdrs, size_t hcap);
static int cb_limit_on_text(cb_conn_t *c, u_char *p, size_t len);
static void cb_limit_send_slot(int64_t now);
static void cb_limit_describe(int sending);
static void cb_limit_report_sends(const cb_fig_t *f);
static double cb_limit_frames(void);
static void cb_limit_result(void);


const cb_peer_t  cb_peer_limit = {
    .name = "limit",
    .ready_label = "upgraded",
    .ack_label = "own copy",
    .msg_extra = 512,
    .pub_member = 1,
    .options = cb_limit_options,
    .layout = cb_limit_layout,
    .assign = cb_limit_assign,
    .port = cb_limit_port,
    .request = cb_limit_request,
    .upgraded = cb_set_ready,
    .join = NULL,
    .on_text = cb_limit_on_text,
    .msg_head = cb_event_head,
    .msg_tail = cb_event_tail,
    .send_slot = cb_limit_send_slot,
    .banner = cb_no_banner,
    .describe = cb_limit_describe,
    .report_sends = cb_limit_report_sends,
    .frames_per_msg = cb_limit_frames,
    .result = cb_limit_result
};


static void
cb_limit_options(int port_set, int path_set, int senders_set)
{
    (void) port_set;
    (void) path_set;

    if (B.scenario == CB_SC_CHAT) {
        cb_die("--proto limit has no rooms (everyone on a port gets "
               "everything): no chat scenario; fanout, idle and connect "
               "only");
    }

    if (B.scenario == CB_SC_ROOMS) {
        cb_die("--proto limit runs the fanout, idle and connect "
               "scenarios only");
    }

    if (senders_set && B.senders != B.ports) {
        cb_die("--proto limit: one sender per port (--senders %u)",
               B.ports);
    }

    if (B.port + B.ports - 1 > 65535) {
        cb_die("--port + --ports goes past 65535");
    }

    B.senders = B.ports;
}


/* a "room" per port */

static void
cb_limit_layout(uint32_t base)
{
    (void) base;

    B.nrooms = B.ports;
}


/* fanout: subscribers round-robin, sender k on port k; else round-robin */

static void
cb_limit_assign(cb_conn_t *c, uint32_t i)
{
    if (B.scenario == CB_SC_FANOUT && i >= B.subs) {
        c->room = i - B.subs;

    } else {
        c->room = i % B.ports;
    }
}


static int
cb_limit_port(cb_conn_t *c)
{
    return B.port + c->room;            /* room = port index */
}


static void
cb_limit_request(cb_conn_t *c, char *path, size_t pcap, char *hdrs,
    size_t hcap)
{
    (void) c;
    (void) hdrs;
    (void) hcap;

    snprintf(path, pcap, "%s", B.path);
}


/* events back: deliveries, and a sender's own copy is its ack */

static int
cb_limit_on_text(cb_conn_t *c, u_char *p, size_t len)
{
    int          ok;
    u_char      *q, *qe;
    uint64_t     id;
    json_span_t  v[CB_J_N];

    if (cb_json_scan(p, len, v) == -1 || v[CB_J_TYPE].p == NULL
        || !json_span_is(&v[CB_J_TYPE], "message", 7))
    {
        B.other_events++;
        return 0;
    }

    if (cb_deliver(&v[CB_J_BODY]) == -1 || c->ack_ring == NULL) {
        return 0;
    }

    /* the body: "<t> <id> ..." */
    id = 0;
    ok = 0;
    q = v[CB_J_BODY].p;
    qe = q + v[CB_J_BODY].len;

    while (q < qe && *q >= '0' && *q <= '9') {
        q++;
    }

    if (q < qe && *q == ' ') {
        for (q++; q < qe && *q >= '0' && *q <= '9'; q++) {
            id = id * 10 + (*q - '0');
            ok = 1;
        }
    }

    if (ok && id > CB_JOIN_ID && id < c->next_id) {
        cb_ack(c, id, 1);
    }

    return 0;
}


/* each message once per port, by that port's sender */

static void
cb_limit_send_slot(int64_t now)
{
    uint32_t    k;
    cb_conn_t  *c;

    B.sched++;

    for (k = 0; k < B.nsenders; k++) {
        c = &B.c[B.sender_idx[k]];

        if (c->state != CB_ST_READY) {
            B.cnt.notready++;
            continue;
        }

        cb_send_one(c, c->user, c->room, now);
    }
}


static void
cb_limit_describe(int sending)
{
    (void) sending;

    printf("target          ws://%s:%d-%d%s (proto limit: %u ports, "
           "no auth, no join)\n", B.host, B.port,
           B.port + (int) B.ports - 1, B.path, B.ports);
    if (B.scenario == CB_SC_FANOUT) {
        printf("shape           1 room per port x %u subscribers in all "
               "(round-robin) + 1 sender per port, %u members;\n"
               "                each message is sent once per port; "
               "acked = the sender's own copy back;\n"
               "                backlog and sender gone count frames\n",
               B.subs, B.subs + B.senders);
    } else {
        printf("shape           %u connections round-robin over the "
               "ports, upgraded only\n", B.conns);
    }
}


static void
cb_limit_report_sends(const cb_fig_t *f)
{
    printf("sent            %.0f msgs/s (%.0f in window, %llu frames;"
           " %llu frames skipped as backlog, %llu sender gone)\n",
           f->sent_s, B.w_sent / f->fpm, (unsigned long long) B.w_sent,
           (unsigned long long) f->st.backlog,
           (unsigned long long) f->st.notready);
    printf("acked           %.0f msgs/s (total %llu of %llu frames "
           "came back to their sender)\n", f->ack_s,
           (unsigned long long) f->st.acked,
           (unsigned long long) f->st.sent);
}


/* a message is one frame per port: the report counts messages */

static double
cb_limit_frames(void)
{
    return B.nsenders ? B.nsenders : 1;
}


static void
cb_limit_result(void)
{
    printf(" proto=limit ports=%u", B.ports);
}
