/*
 * chat-bench: a client connection.  Connecting (from 127.0.0.2.. with
 * --src-addrs), the upgrade, reading and parsing the server's frames,
 * writing with an output queue, the join of its rooms, and its close.
 * What differs between the systems under test is asked of B.peer.
 */

#include <ctype.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench.h"


#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif


static void cb_setup_failed(cb_conn_t *c);
static void cb_ensure(u_char **buf, size_t *cap, size_t need);
static void cb_on_connected(cb_conn_t *c);
static void cb_read(cb_conn_t *c);
static ssize_t cb_recv(int fd, u_char *buf, size_t len);
static ssize_t cb_parse(cb_conn_t *c, u_char *buf, size_t len);
static int cb_on_frame(cb_conn_t *c, ws_frame_t *f, u_char *pl);
static int cb_on_data(cb_conn_t *c, ws_frame_t *f, u_char *pl, int z);
static int cb_on_text(cb_conn_t *c, u_char *p, size_t len, int z);
static ssize_t cb_parse_http(cb_conn_t *c, u_char *buf, size_t len);
static void cb_on_close_frame(cb_conn_t *c, u_char *p, size_t len);
static int cb_write(cb_conn_t *c, const u_char *data, size_t len);
static int cb_flush(cb_conn_t *c);
static void cb_want_out(cb_conn_t *c, int on);


int
cb_connect(cb_conn_t *c, uint32_t i)
{
    int                 fd, one;
    struct sockaddr_in  src, dst;
    struct epoll_event  ev;

    dst = B.dst;
    dst.sin_port = htons(B.peer->port(c));

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -errno;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (B.rx_stamp) {
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    }

    if (B.src_addrs) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                   sizeof(one));

        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002 + i % B.src_addrs);

        if (bind(fd, (struct sockaddr *) &src, sizeof(src)) == -1) {
            one = -errno;
            close(fd);
            return one;
        }
    }

    if (connect(fd, (struct sockaddr *) &dst, sizeof(dst)) == -1
        && errno != EINPROGRESS)
    {
        one = -errno;
        close(fd);
        return one;
    }

    c->fd = fd;
    c->state = CB_ST_CONNECTING;
    c->t_conn = cb_now();

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;

    if (epoll_ctl(B.ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        cb_die("epoll_ctl: %s", strerror(errno));
    }

    c->want_out = 1;
    B.open++;

    return 0;
}


static void
cb_setup_failed(cb_conn_t *c)
{
    if (c->state != CB_ST_READY && c->state != CB_ST_CLOSED
        && c->state != CB_ST_FREE)
    {
        B.setup_failed++;
        B.inflight--;
    }
}


static void
cb_on_connected(cb_conn_t *c)
{
    int        err, n;
    char       key[32], hdrs[1100], path[512], req[2048];
    u_char     raw[16];
    uint64_t   r;
    socklen_t  len;

    len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err) {
        B.connect_errno[err < 256 ? err : 255]++;
        cb_close(c, -1);
        return;
    }

    r = cb_rand();
    memcpy(raw, &r, 8);
    r = cb_rand();
    memcpy(raw + 8, &r, 8);

    ws_client_key(key, raw);

    hdrs[0] = '\0';
    B.peer->request(c, path, sizeof(path), hdrs, sizeof(hdrs));

    if (B.deflate) {
        n = strlen(hdrs);
        snprintf(hdrs + n, sizeof(hdrs) - n, "Sec-WebSocket-Extensions: "
                 "permessage-deflate; client_max_window_bits\r\n");
    }

    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s"
                 "\r\n",
                 path, B.host, B.peer->port(c), key, hdrs);

    c->state = CB_ST_HANDSHAKE;

    cb_write(c, (u_char *) req, n);
}


void
cb_on_event(cb_conn_t *c, uint32_t events)
{
    if (c->state == CB_ST_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            cb_on_connected(c);
        }
        return;
    }

    if ((events & EPOLLOUT) && c->state != CB_ST_CLOSED) {
        if (cb_flush(c) == -1) {
            return;
        }
    }

    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        && c->state != CB_ST_CLOSED)
    {
        cb_read(c);
    }
}


static void
cb_ensure(u_char **buf, size_t *cap, size_t need)
{
    if (ws_grow(buf, cap, need) == -1) {
        cb_die("out of memory");
    }
}


static void
cb_read(cb_conn_t *c)
{
    int       iter;
    u_char   *buf;
    size_t    len, cap;
    ssize_t   n, used;

    for (iter = 0; iter < 4; iter++) {

        if (c->pend_len == 0) {
            buf = B.rbuf;
            cap = CB_RBUF_SIZE;
            len = 0;

        } else {
            cb_ensure(&c->pend, &c->pend_cap, c->pend_len + 16384);
            buf = c->pend;
            cap = c->pend_cap;
            len = c->pend_len;
        }

        n = cb_recv(c->fd, buf + len, cap - len);

        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            cb_close(c, 1006);
            return;
        }

        if (n == 0) {
            cb_close(c, 1006);
            return;
        }

        B.bytes_in += n;
        len += n;

        used = cb_parse(c, buf, len);
        if (used == -1) {
            return;                      /* closed */
        }

        if (ws_keep_rest(&c->pend, &c->pend_len, &c->pend_cap, buf, len,
                         used)
            == -1)
        {
            cb_die("out of memory");
        }

        if ((size_t) n < cap - (len - n)) {
            return;                      /* the socket is drained */
        }
    }
}


/*
 * read(), or with --rx-stamp recvmsg() and the kernel's time stamp of
 * the last segment read (CLOCK_REALTIME), turned into CLOCK_MONOTONIC in
 * B.rx_t for the frames parsed from it: a frame completed by this read
 * counts from the segment that completed it
 */

static ssize_t
cb_recv(int fd, u_char *buf, size_t len)
{
    ssize_t           n;
    struct iovec      iov;
    struct msghdr     msg;
    struct cmsghdr   *cm;
    struct timespec  *ts, real, mono;
    union {
        char             buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr   align;
    } ctl;

    B.rx_t = 0;

    if (!B.rx_stamp) {
        return read(fd, buf, len);
    }

    iov.iov_base = buf;
    iov.iov_len = len;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);

    n = recvmsg(fd, &msg, 0);
    if (n <= 0) {
        return n;
    }

    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS) {
            continue;
        }

        ts = (struct timespec *) CMSG_DATA(cm);
        clock_gettime(CLOCK_REALTIME, &real);
        clock_gettime(CLOCK_MONOTONIC, &mono);

        B.rx_t = (int64_t) mono.tv_sec * CB_SEC + mono.tv_nsec
                 - ((int64_t) real.tv_sec - ts->tv_sec) * CB_SEC
                 - (real.tv_nsec - ts->tv_nsec);
    }

    return n;
}


/* returns the bytes consumed, or -1 if the connection was closed */

static ssize_t
cb_parse(cb_conn_t *c, u_char *buf, size_t len)
{
    u_char      *p, *end, *pl, b0;
    ssize_t      used;
    ws_frame_t   f;

    p = buf;
    end = buf + len;

    if (c->state == CB_ST_HANDSHAKE) {
        used = cb_parse_http(c, buf, len);
        if (used <= 0) {
            return used;
        }
        p += used;
    }

    while (end - p >= 2) {
        if (p[1] & 0x80) {
            /* a masked server frame: protocol error */
            cb_close(c, 1002);
            return -1;
        }

        if (!ws_frame_parse(p, end - p, &f)) {
            break;
        }

        if (f.len > CB_FRAME_MAX) {
            cb_close(c, 1009);
            return -1;
        }

        if ((uint64_t) (end - p) < f.hlen + f.len) {
            /* incomplete: make sure the buffer will hold it */
            cb_ensure(&c->pend, &c->pend_cap, f.hlen + f.len);
            break;
        }

        b0 = p[0];
        pl = p + f.hlen;
        p += f.hlen + f.len;

        /* RSV1: permessage-deflate, if it was offered */
        if ((b0 & 0x40) && !B.deflate) {
            cb_close(c, 1002);
            return -1;
        }

        if (f.op == 0x1 && (b0 & 0x40)) {
            c->frag_z = 1;
        }

        if (cb_on_frame(c, &f, pl) == -1 || c->state == CB_ST_CLOSED) {
            return -1;
        }
    }

    return p - buf;
}


/* a whole frame; -1: the connection was closed */

static int
cb_on_frame(cb_conn_t *c, ws_frame_t *f, u_char *pl)
{
    switch (f->op) {

    case 0x0:
    case 0x1:
    case 0x2:
        return cb_on_data(c, f, pl, c->frag_z);

    case 0x8:
        cb_on_close_frame(c, pl, f->len);
        return -1;

    case 0x9:
        return cb_send_frame(c, 0xA, pl, f->len);

    case 0xA:
        return 0;

    default:
        cb_close(c, 1002);
        return -1;
    }
}


/* text, binary and continuation frames: whole text messages go on */

static int
cb_on_data(cb_conn_t *c, ws_frame_t *f, u_char *pl, int z)
{
    if (f->op != 0x0) {
        if (c->in_frag) {
            cb_close(c, 1002);
            return -1;
        }
        if (f->fin) {
            c->frag_z = 0;
            return (f->op == 0x1) ? cb_on_text(c, pl, f->len, z) : 0;
        }
        c->in_frag = 1;
        c->frag_len = 0;

    } else if (!c->in_frag) {
        cb_close(c, 1002);
        return -1;
    }

    cb_ensure(&c->frag, &c->frag_cap, c->frag_len + f->len);
    memcpy(c->frag + c->frag_len, pl, f->len);
    c->frag_len += f->len;

    if (c->frag_len > CB_FRAME_MAX) {
        cb_close(c, 1009);
        return -1;
    }

    if (!f->fin) {
        return 0;
    }

    c->in_frag = 0;
    c->frag_z = 0;
    if (cb_on_text(c, c->frag, c->frag_len, z) == -1) {
        return -1;
    }
    free(c->frag);
    c->frag = NULL;
    c->frag_cap = 0;
    c->frag_len = 0;

    return 0;
}


/*
 * A whole text message to the peer, inflated first if it came compressed:
 * one stream for every connection, reset per message (the server takes
 * no context over)
 */
static int
cb_on_text(cb_conn_t *c, u_char *p, size_t len, int z)
{
    int              rc;
    static u_char    tail[4] = { 0x00, 0x00, 0xff, 0xff };
    static u_char   *out;
    static size_t    cap;
    static z_stream  zs;
    static int       init;

    if (!z) {
        return B.peer->on_text(c, p, len);
    }

    if (!init) {
        if (inflateInit2(&zs, -15) != Z_OK) {
            cb_die("inflateInit2 failed");
        }
        init = 1;
    }

    inflateReset(&zs);
    cb_ensure(&out, &cap, len * 4 + 4096);

    zs.next_out = out;
    zs.avail_out = cap;

    for (rc = 0; rc < 2; rc++) {
        zs.next_in = rc ? tail : p;
        zs.avail_in = rc ? 4 : len;

        while (zs.avail_in > 0) {
            if (zs.avail_out == 0) {
                size_t  used = cap;

                cb_ensure(&out, &cap, cap * 2);
                zs.next_out = out + used;
                zs.avail_out = cap - used;
            }

            switch (inflate(&zs, Z_SYNC_FLUSH)) {
            case Z_OK:
            case Z_BUF_ERROR:
            case Z_STREAM_END:
                break;
            default:
                cb_close(c, 1007);
                return -1;
            }

            if (zs.avail_out > 0 && zs.avail_in > 0) {
                cb_close(c, 1007);
                return -1;
            }
        }
    }

    B.inflated++;

    return B.peer->on_text(c, out, zs.next_out - out);
}


static ssize_t
cb_parse_http(cb_conn_t *c, u_char *buf, size_t len)
{
    int      status;
    u_char  *eoh;

    eoh = memmem(buf, len, "\r\n\r\n", 4);

    if (eoh == NULL) {
        if (len > CB_HTTP_MAX) {
            B.http_status[0]++;
            cb_close(c, -1);
            return -1;
        }
        return 0;
    }

    status = 0;

    if (len > 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0
        && isdigit(buf[9]) && isdigit(buf[10]) && isdigit(buf[11]))
    {
        status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + buf[11] - '0';
    }

    if (status != 101) {
        B.http_status[status < 600 ? status : 0]++;
        if (B.verbose) {
            fprintf(stderr, "chat-bench: user %u: %.*s\n", c->user,
                    (int) (eoh - buf), buf);
        }
        cb_close(c, -1);
        return -1;
    }

    B.peer->upgraded(c);

    return eoh + 4 - buf;
}


void
cb_set_ready(cb_conn_t *c)
{
    int64_t  now;

    now = cb_now();

    c->state = CB_ST_READY;
    B.ready++;
    B.inflight--;
    B.t_last_ready = now;
    cb_hist_add(&B.conn, now - c->t_conn);

    if (c->t_up) {
        cb_hist_add(&B.conn_join, now - c->t_up);
        c->t_up = 0;
    }

    if (B.soak) {
        cb_soak_ready(c);
    }

    /* a sender that gets no copy (nchan's publisher) is no member */
    if (B.peer->pub_member || !c->sender) {
        c->counted = 1;
        B.members[c->room]++;
        if (c->room2 != CB_NO_ROOM) {
            B.members[c->room2]++;
        }
    }
}


static void
cb_on_close_frame(cb_conn_t *c, u_char *p, size_t len)
{
    int       code;
    u_char    f[8], mask[4];
    size_t    h;
    ssize_t   n;
    uint32_t  m;

    code = (len >= 2) ? (p[0] << 8 | p[1]) : 1005;

    if (B.verbose && c->state != CB_ST_READY) {
        fprintf(stderr, "chat-bench: user %u: close %d during setup: %.*s\n",
                c->user, code, len > 2 ? (int) len - 2 : 0, p + 2);
    }

    /* soak: the answer to our own close; nothing more to say */
    if (c->closing) {
        cb_close(c, 0);
        return;
    }

    /* echo the code in a masked close frame, best effort, then close */
    m = (uint32_t) cb_rand();
    memcpy(mask, &m, 4);
    h = ws_frame_header(f, 0x8, len >= 2 ? 2 : 0, mask);
    ws_mask(f + h, p, len >= 2 ? 2 : 0, mask);

    n = write(c->fd, f, len >= 2 ? 8 : 6);
    (void) n;

    cb_close(c, code);
}


static int
cb_write(cb_conn_t *c, const u_char *data, size_t len)
{
    ssize_t  n;

    if (c->state == CB_ST_CLOSED) {
        return -1;
    }

    n = ws_out_write(&c->out, c->fd, data, len, CB_FRAME_MAX);

    if (n == -3) {
        cb_die("out of memory");
    }

    if (n < 0) {
        cb_close(c, n == -1 ? 1006 : -1);
        return -1;
    }

    B.bytes_out += n;

    cb_want_out(c, ws_out_pending(&c->out) != 0);

    return 0;
}


static int
cb_flush(cb_conn_t *c)
{
    ssize_t  n;

    n = ws_out_flush(&c->out, c->fd);

    if (n == -1) {
        cb_close(c, 1006);
        return -1;
    }

    B.bytes_out += n;

    if (ws_out_pending(&c->out) == 0) {
        cb_want_out(c, 0);
    }

    return 0;
}


static void
cb_want_out(cb_conn_t *c, int on)
{
    if (c->want_out != (unsigned) on) {
        ws_want_out(B.ep, c->fd, c, on);
        c->want_out = on;
    }
}


int
cb_send_frame(cb_conn_t *c, unsigned opcode, const u_char *p, size_t len)
{
    int        rc;
    size_t     h;
    u_char     stack[4096], *f, mask[4];
    uint32_t   m;

    f = (len + WS_HEADER_MAX <= sizeof(stack))
        ? stack : malloc(len + WS_HEADER_MAX);
    if (f == NULL) {
        cb_die("out of memory");
    }

    m = (uint32_t) cb_rand();
    memcpy(mask, &m, 4);

    h = ws_frame_header(f, opcode, len, mask);
    ws_mask(f + h, p, len, mask);

    rc = cb_write(c, f, h + len);

    if (f != stack) {
        free(f);
    }

    return rc;
}


/*
 * code: the close code the server sent, 1006 for a dropped connection,
 * 0 for our own close (at the end; soak: churn), -1 for a setup failure
 * of ours.
 */

void
cb_close(cb_conn_t *c, int code)
{
    if (c->state == CB_ST_CLOSED || c->state == CB_ST_FREE) {
        return;
    }

    /* soak: once our close is out, however it ends is ours */
    if (code > 0 && B.phase != CB_PH_DONE && !c->closing) {
        B.closes[code < 5000 ? code : 0]++;
        B.closed_by_server++;
    }

    if (c->state != CB_ST_READY && code != 0) {
        cb_setup_failed(c);
    }

    if (c->state == CB_ST_READY) {
        B.ready--;
        if (B.phase == CB_PH_SETUP && code != 0) {
            B.setup_failed++;            /* lost before the setup ended */
        }
    }

    if (c->counted) {
        B.members[c->room]--;
        if (c->room2 != CB_NO_ROOM) {
            B.members[c->room2]--;
        }
        c->counted = 0;
    }

    close(c->fd);
    c->fd = -1;
    c->state = CB_ST_CLOSED;
    B.open--;

    free(c->pend);
    free(c->frag);
    ws_out_free(&c->out);
    c->pend = c->frag = NULL;
    c->pend_len = c->pend_cap = 0;
    c->frag_len = c->frag_cap = 0;

    if (B.soak) {
        cb_soak_closed(c, code);         /* may schedule a reconnect */
        c->closing = 0;
    }
}


/* a polite close of every connection, then drop them */

void
cb_close_all(void)
{
    uint32_t    k;
    cb_conn_t  *c;

    for (k = 0; k < B.n; k++) {
        c = &B.c[k];
        if (c->state >= CB_ST_WELCOME && c->state <= CB_ST_READY) {
            cb_send_frame(c, 0x8, (u_char *) "\x03\xe8", 2);
        }
        cb_close(c, 0);
    }
}


/* ngx_chat, sio: join the connection's room(s), all with CB_JOIN_ID */

void
cb_join(cb_conn_t *c)
{
    int       k, n;
    char      room[128], buf[256];
    uint32_t  rooms[2];

    c->state = CB_ST_JOIN;
    c->joins = 0;

    /* the connect storm's timeline: upgraded and authenticated, then joined */
    c->t_up = cb_now();
    cb_hist_add(&B.conn_up, c->t_up - c->t_conn);
    rooms[0] = c->room;
    rooms[1] = c->room2;
    c->rev[0] = -1;                     /* set by the joins' replies */
    c->rev[1] = -1;

    for (k = 0; k < 2 && rooms[k] != CB_NO_ROOM; k++) {
        cb_room_name(rooms[k], room, sizeof(room));
        n = B.peer->join(buf, sizeof(buf), room);

        c->joins++;

        if (cb_send_frame(c, 0x1, (u_char *) buf, n) == -1) {
            return;
        }
    }
}


/* a join's reply: ready once every room is joined */

void
cb_joined(cb_conn_t *c)
{
    if (--c->joins == 0) {
        cb_set_ready(c);
    }
}
