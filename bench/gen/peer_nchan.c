/*
 * chat-bench, --proto nchan: bench/peers/nchan.  Subscribers open
 * ws://HOST:PORT/sub/<room> and are subscribed once upgraded (no auth, no
 * welcome, no join); senders publish over a WebSocket to /pub/<room>, one
 * text frame per message holding the very text of an ngx_chat "message"
 * event, which nchan delivers verbatim.  nchan answers each publish with
 * one channel-info text frame, in order: that is the send's ack.  A
 * publisher gets no copy, so it is no member.  In the chat scenario each
 * room has its publisher connection, which sends for all its members, and
 * a member of two rooms subscribes to both over one WebSocket with nchan's
 * channel multiplexing, /subm/<room1>/<room2>.  --nchan-echo adds a
 * subscriber per publisher, on its room, standing for the sender's own
 * copy that ngx_chat and Socket.IO deliver.
 */

#include <ctype.h>
#include <string.h>

#include "bench.h"


static void cb_nchan_options(int port_set, int path_set, int senders_set);
static void cb_nchan_layout(uint32_t base);
static void cb_nchan_assign(cb_conn_t *c, uint32_t i);
static void cb_nchan_request(cb_conn_t *c, char *path, size_t pcap,
    char *hdrs, size_t hcap);
static int cb_nchan_on_text(cb_conn_t *c, u_char *p, size_t len);
static int cb_on_nchan_pub(cb_conn_t *c, u_char *p, size_t len);
static const char *cb_nchan_banner(void);
static void cb_nchan_describe(int sending);
static void cb_nchan_result(void);


const cb_peer_t  cb_peer_nchan = {
    .name = "nchan",
    .ready_label = "upgraded",
    .ack_label = "ok",
    .msg_extra = 512,
    .pub_member = 0,
    .echo = 1,
    .options = cb_nchan_options,
    .layout = cb_nchan_layout,
    .assign = cb_nchan_assign,
    .port = cb_port_fixed,
    .request = cb_nchan_request,
    .upgraded = cb_set_ready,
    .join = NULL,
    .on_text = cb_nchan_on_text,
    .msg_head = cb_event_head,
    .msg_tail = cb_event_tail,
    .send_slot = cb_send_slot_turn,
    .banner = cb_nchan_banner,
    .describe = cb_nchan_describe,
    .report_sends = cb_report_sends,
    .frames_per_msg = cb_one_frame,
    .result = cb_nchan_result
};


static void
cb_nchan_options(int port_set, int path_set, int senders_set)
{
    const char  *s;

    (void) path_set;
    (void) senders_set;

    if (B.scenario != CB_SC_FANOUT && B.scenario != CB_SC_ROOMS) {
        B.nchan_echo = 0;                /* chat: members get their own */
    }
    if (!port_set) {
        B.port = 18980;
    }
    B.path = "/sub/";

    /* nchan channel ids: [A-Za-z0-9_.-]+ */
    for (s = B.room_prefix; *s; s++) {
        if (!isalnum((u_char) *s) && *s != '_' && *s != '.'
            && *s != '-')
        {
            cb_die("--proto nchan: --room-prefix must be "
                   "[A-Za-z0-9_.-]");
        }
    }
}


/* --nchan-echo: a subscriber per sender, last; chat: a publisher a room */

static void
cb_nchan_layout(uint32_t base)
{
    if (B.nchan_echo) {
        B.n += B.nsenders;
    }

    if (B.scenario == CB_SC_CHAT) {
        B.pub_base = base;
        B.n += B.nrooms;
    }
}


/* chat: the members send over their room's publisher */

static void
cb_nchan_assign(cb_conn_t *c, uint32_t i)
{
    (void) i;

    if (B.scenario == CB_SC_CHAT) {
        c->sender = 0;
    }
}


/* /pub/<room>, /sub/<room>, chat: /subm/<room>/<room2> */

static void
cb_nchan_request(cb_conn_t *c, char *path, size_t pcap, char *hdrs,
    size_t hcap)
{
    size_t  n;

    (void) hdrs;
    (void) hcap;

    n = snprintf(path, pcap, "/%s/", c->sender ? "pub"
                 : c->room2 != CB_NO_ROOM ? "subm" : "sub");
    n += cb_room_name(c->room, path + n, pcap - n);
    if (!c->sender && c->room2 != CB_NO_ROOM) {
        path[n++] = '/';
        cb_room_name(c->room2, path + n, pcap - n);
    }
}


static int
cb_nchan_on_text(cb_conn_t *c, u_char *p, size_t len)
{
    if (c->sender) {
        return cb_on_nchan_pub(c, p, len);
    }

    return cb_on_chat_text(c, p, len);
}


/*
 * nchan publisher: every published frame is answered, in order, by one
 * channel-info frame ("queued messages: N\n..."): the ack of the oldest.
 */

static int
cb_on_nchan_pub(cb_conn_t *c, u_char *p, size_t len)
{
    static const char  info[] = "queued messages:";

    if (c->ack_ring == NULL || c->ack_next >= c->next_id) {
        B.other_events++;
        return 0;
    }

    if (len >= sizeof(info) - 1 && memcmp(p, info, sizeof(info) - 1) == 0) {
        cb_ack(c, c->ack_next++, 1);
        return 0;
    }

    if (B.verbose) {
        fprintf(stderr, "chat-bench: publisher %u: %.*s\n", c->user,
                (int) (len > 200 ? 200 : len), p);
    }

    cb_count_errcode((u_char *) "nchan_publish", 13, 1);
    cb_ack(c, c->ack_next++, 0);

    return 0;
}


static const char *
cb_nchan_banner(void)
{
    return B.scenario == CB_SC_CHAT ? "<room> or /subm/<room>/<room> "
                                      "(publishers /pub/<room>)"
                                    : "<room> (publishers /pub/<room>)";
}


static void
cb_nchan_describe(int sending)
{
    (void) sending;

    printf("target          ws://%s:%d/sub/<room>%s (proto nchan: "
           "publishers on /pub/<room>, no auth, no join)\n",
           B.host, B.port, B.scenario == CB_SC_CHAT
           ? " and /subm/<room>/<room>" : "");
    printf("                a publisher gets no copy and is no member; "
           "acked = nchan's channel-info reply\n");

    switch (B.scenario) {

    case CB_SC_FANOUT:
        printf("shape           1 channel x %u subscribers + %u publisher(s)%s"
               ", %u members\n", B.subs + (B.nchan_echo ? B.senders : 0),
               B.senders, B.nchan_echo ? " (--nchan-echo: 1 subscriber "
               "per publisher included)" : "",
               B.subs + (B.nchan_echo ? B.senders : 0));
        break;
    case CB_SC_ROOMS:
        if (B.nchan_echo) {
            printf("shape           %u channels x (1 publisher + 2 "
                   "subscribers, one standing for the publisher's own "
                   "copy), 2 members each\n", B.rooms);
        } else {
            printf("shape           %u channels x (1 publisher + 1 "
                   "subscriber), 1 member each\n", B.rooms);
        }
        break;
    case CB_SC_CHAT:
        printf("shape           %u channels of 2 + %u of %u over %u "
               "subscribers (those in two: /subm/), + %u publishers, one\n"
               "                per channel, each sending for its members;"
               " a member gets its own messages\n", B.pairs, B.chat_groups,
               B.group_size, 2 * B.pairs, B.nrooms);
        break;
    case CB_SC_IDLE:
    case CB_SC_CONNECT:
        printf("shape           %u subscribers, channels of 2\n", B.conns);
        break;
    }
}


static void
cb_nchan_result(void)
{
    printf(" proto=nchan%s", B.nchan_echo ? " nchan_echo=1" : "");
}
