/*
 * chat-bench, --proto sio: the Socket.IO 4 peer (bench/peers/socketio),
 * over a raw WebSocket to /socket.io/?EIO=4&transport=websocket: open
 * packet "0{...}", "40" -> "40{...}", 42<n>["join","<room>"] ->
 * 43<n>[{"ok":true,...}], 42<n>["send",{"room":...,"body":...}] ->
 * 43<n>[{"ok":true,...}] (the ack); deliveries are 42["message",{...,
 * "body":...}] to every member, the sender included; "2" is answered "3".
 */

#include <string.h>

#include "bench.h"


static void cb_sio_options(int port_set, int path_set, int senders_set);
static void cb_sio_request(cb_conn_t *c, char *path, size_t pcap,
    char *hdrs, size_t hcap);
static int cb_sio_join(char *buf, size_t cap, const char *room);
static int cb_on_sio(cb_conn_t *c, u_char *p, size_t len);
static int cb_sio_packet(cb_conn_t *c, u_char *p, size_t len);
static int cb_sio_ack(cb_conn_t *c, u_char *p, size_t len);
static void cb_sio_failed(cb_conn_t *c, u_char *p, size_t len,
    const char *code);
static int cb_sio_msg_head(char *p, uint64_t id, const char *room,
    uint32_t from);
static int cb_sio_msg_tail(char *p);
static void cb_sio_describe(int sending);
static void cb_sio_result(void);


const cb_peer_t  cb_peer_sio = {
    .name = "sio",
    .alias = "socketio",
    .ready_label = "joined",
    .ack_label = "ok",
    .msg_extra = 256,
    .pub_member = 1,
    .options = cb_sio_options,
    .layout = cb_no_layout,
    .assign = cb_no_assign,
    .port = cb_port_fixed,
    .request = cb_sio_request,
    .upgraded = cb_await_welcome,
    .join = cb_sio_join,
    .on_text = cb_on_sio,
    .msg_head = cb_sio_msg_head,
    .msg_tail = cb_sio_msg_tail,
    .send_slot = cb_send_slot_turn,
    .banner = cb_no_banner,
    .describe = cb_sio_describe,
    .report_sends = cb_report_sends,
    .frames_per_msg = cb_one_frame,
    .result = cb_sio_result
};


static void
cb_sio_options(int port_set, int path_set, int senders_set)
{
    const char  *s;

    (void) senders_set;

    if (!port_set) {
        B.port = 18970;
    }
    if (!path_set) {
        B.path = "/socket.io/";
    }

    for (s = B.room_prefix; *s; s++) {
        if (*s == '"' || *s == '\\' || (u_char) *s < 0x20) {
            cb_die("--proto sio: bad character in --room-prefix");
        }
    }
}


static void
cb_sio_request(cb_conn_t *c, char *path, size_t pcap, char *hdrs,
    size_t hcap)
{
    (void) c;
    (void) hdrs;
    (void) hcap;

    snprintf(path, pcap, "%s%cEIO=4&transport=websocket",
             B.path, strchr(B.path, '?') ? '&' : '?');
}


static int
cb_sio_join(char *buf, size_t cap, const char *room)
{
    return snprintf(buf, cap, "42%d[\"join\",\"%s\"]", CB_JOIN_ID, room);
}


/* Socket.IO 4 (Engine.IO 4) packets, one per text frame */

static int
cb_on_sio(cb_conn_t *c, u_char *p, size_t len)
{
    u_char             *q;
    json_span_t         v[CB_J_N];
    static const char   msg[] = "42[\"message\",";

    if (len == 0) {
        B.other_events++;
        return 0;
    }

    /* the hot path first: a delivery */

    if (len > sizeof(msg) - 1 && memcmp(p, msg, sizeof(msg) - 1) == 0) {
        q = p + sizeof(msg) - 1;

        if (cb_json_scan(q, p + len - q, v) == -1 || v[CB_J_BODY].p == NULL) {
            B.foreign++;
            return 0;
        }

        cb_deliver(&v[CB_J_BODY]);
        return 0;
    }

    switch (p[0]) {

    case '0':                            /* Engine.IO open */
        if (c->state == CB_ST_WELCOME) {
            c->state = CB_ST_SIO_CONNECT;
            return cb_send_frame(c, 0x1, (u_char *) "40", 2);
        }
        break;

    case '2':                            /* ping */
        if (len == 1) {
            return cb_send_frame(c, 0x1, (u_char *) "3", 1);
        }
        break;

    case '1':                            /* Engine.IO close */
        cb_close(c, 1000);
        return -1;

    case '4':                            /* Socket.IO packet */
        if (len >= 2) {
            return cb_sio_packet(c, p, len);
        }
        break;
    }

    B.other_events++;

    return 0;
}


static int
cb_sio_packet(cb_conn_t *c, u_char *p, size_t len)
{
    switch (p[1]) {

    case '0':                            /* connect reply */
        if (c->state == CB_ST_SIO_CONNECT) {
            cb_join(c);
            return 0;
        }
        break;

    case '4':                            /* connect error */
        cb_count_errcode((u_char *) "sio_connect_error", 17, 1);
        if (B.verbose) {
            fprintf(stderr, "chat-bench: user %u: %.*s\n", c->user,
                    (int) len, p);
        }
        cb_close(c, -1);
        return -1;

    case '1':                            /* disconnect */
        cb_close(c, 1000);
        return -1;

    case '3':                            /* an ack */
        return cb_sio_ack(c, p, len);
    }

    B.other_events++;                    /* 42: some other event */

    return 0;
}


/* an ack: 43<id>[{"ok":true,...}], or {"ok":false,"error":"..."} */

static int
cb_sio_ack(cb_conn_t *c, u_char *p, size_t len)
{
    int        ok;
    u_char    *q, *end, *e;
    uint64_t   id;

    end = p + len;
    id = 0;
    ok = 0;

    for (q = p + 2; q < end && *q >= '0' && *q <= '9'; q++) {
        id = id * 10 + (*q - '0');
        ok = 1;
    }

    if (!ok) {
        B.other_events++;
        return 0;
    }

    ok = (memmem(q, end - q, "\"ok\":true", 9) != NULL);

    if (c->state == CB_ST_JOIN && id == CB_JOIN_ID) {
        if (ok) {
            cb_joined(c);
            return 0;
        }

        cb_sio_failed(c, p, len, "sio_join_failed");
        return -1;
    }

    if (!c->ack_ring || id <= CB_JOIN_ID || id >= c->next_id) {
        B.other_events++;
        return 0;
    }

    if (!ok) {
        e = memmem(q, end - q, "\"error\":\"", 9);
        if (e) {
            e += 9;
            for (q = e; q < end && *q != '"'; q++) { /* void */ }
            cb_count_errcode(e, q - e, 1);
        } else {
            cb_count_errcode(NULL, 0, 1);
        }
    }

    cb_ack(c, id, ok);

    return 0;
}


static void
cb_sio_failed(cb_conn_t *c, u_char *p, size_t len, const char *code)
{
    cb_count_errcode((const u_char *) code, strlen(code), 1);
    if (B.verbose) {
        fprintf(stderr, "chat-bench: user %u: setup error: %.*s\n",
                c->user, (int) len, p);
    }
    cb_close(c, -1);
}


static int
cb_sio_msg_head(char *p, uint64_t id, const char *room, uint32_t from)
{
    (void) from;

    return sprintf(p, "42%llu[\"send\",{\"room\":\"%s\",\"body\":\"",
                   (unsigned long long) id, room);
}


static int
cb_sio_msg_tail(char *p)
{
    memcpy(p, "\"}]", 3);

    return 3;
}


static void
cb_sio_describe(int sending)
{
    printf("target          ws://%s:%d%s%cEIO=4&transport=websocket "
           "(proto sio: Socket.IO 4, no auth)\n", B.host, B.port,
           B.path, strchr(B.path, '?') ? '&' : '?');
    if (sending) {
        printf("                acked = the send's ack callback, "
               "answered once emitted (nothing stored)\n");
    }

    cb_describe_shape(sending);
}


static void
cb_sio_result(void)
{
    printf(" proto=sio");
}
