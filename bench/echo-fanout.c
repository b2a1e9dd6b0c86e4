/*
 * echo-fanout: a tiny stand-in for ngx_chat, to validate chat-bench end to
 * end without the module.  Single-threaded epoll WebSocket server on
 * 127.0.0.1: answers the upgrade (the Bearer token is decoded, not
 * verified), sends "welcome", answers "join", "leave", "ping" and "send"
 * with "ok"/"pong", and fans every "send" out as a "message" event to all
 * connections joined to the room (the sender's included).  Nothing is
 * stored; seq counts per room from 1.
 *
 * Usage: echo-fanout [PORT]   (default 18999)
 *
 * Build: gcc -std=gnu99 -O2 -Wall -Wextra -Werror -o echo-fanout \
 *            echo-fanout.c -lcrypto
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>


#define EF_OUT_MAX    (4 * 1024 * 1024)
#define EF_IN_MAX     (1024 * 1024)
#define EF_HASH       4096
#define EF_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


typedef unsigned char  u_char;

typedef struct ef_room_s  ef_room_t;

typedef struct {
    int           fd;
    int           ws;             /* upgraded */
    int           closing;
    char          user[72];
    u_char       *in;
    size_t        in_len;
    size_t        in_cap;
    u_char       *out;
    size_t        out_pos;
    size_t        out_len;
    size_t        out_cap;
    int           want_out;
    ef_room_t   **rooms;
    int           nrooms;
} ef_conn_t;

struct ef_room_s {
    ef_room_t    *next;
    char         *name;
    uint64_t      seq;
    ef_conn_t   **members;
    int           n;
    int           cap;
};

typedef struct {
    u_char       *p;
    size_t        len;
    int           str;
} ef_span_t;


static int         ef_ep;
static ef_room_t  *ef_rooms[EF_HASH];
static uint64_t    ef_msg_id;
static u_char      ef_frame[EF_OUT_MAX];
static ef_conn_t **ef_dead;
static int         ef_ndead;
static int         ef_dead_cap;


static void ef_close(ef_conn_t *c);
static int ef_flush(ef_conn_t *c);


static int64_t
ef_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
ef_append(u_char **buf, size_t *len, size_t *cap, const u_char *p, size_t n)
{
    size_t   ncap;
    u_char  *nb;

    if (*len + n > *cap) {
        ncap = *cap ? *cap : 4096;
        while (ncap < *len + n) {
            ncap *= 2;
        }
        nb = realloc(*buf, ncap);
        if (nb == NULL) {
            abort();
        }
        *buf = nb;
        *cap = ncap;
    }

    memcpy(*buf + *len, p, n);
    *len += n;
}


static void
ef_write(ef_conn_t *c, const u_char *p, size_t n)
{
    ssize_t             w;
    struct epoll_event  ev;

    if (c->closing || c->fd == -1) {
        return;
    }

    if (c->out_len == c->out_pos) {
        c->out_len = c->out_pos = 0;
        w = write(c->fd, p, n);
        if (w == -1) {
            if (errno != EAGAIN) {
                c->closing = 1;
                return;
            }
            w = 0;
        }
        p += w;
        n -= w;
        if (n == 0) {
            return;
        }
    }

    if (c->out_len - c->out_pos + n > EF_OUT_MAX) {
        /* a slow reader: 1013 as the protocol says; just drop it here */
        c->closing = 1;
        return;
    }

    ef_append(&c->out, &c->out_len, &c->out_cap, p, n);

    if (!c->want_out) {
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = c;
        epoll_ctl(ef_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 1;
    }
}


static size_t
ef_frame_hdr(u_char *f, unsigned op, size_t len)
{
    f[0] = 0x80 | op;

    if (len < 126) {
        f[1] = len;
        return 2;
    }

    if (len < 65536) {
        f[1] = 126;
        f[2] = len >> 8;
        f[3] = len;
        return 4;
    }

    f[1] = 127;
    for (int i = 0; i < 8; i++) {
        f[2 + i] = (uint64_t) len >> (56 - 8 * i);
    }

    return 10;
}


static void
ef_send(ef_conn_t *c, unsigned op, const char *p, size_t len)
{
    size_t  h;

    h = ef_frame_hdr(ef_frame, op, len);
    memcpy(ef_frame + h, p, len);
    ef_write(c, ef_frame, h + len);
}


/* JSON: top-level members type, id, room, body as raw spans */

static u_char *
ef_ws(u_char *p, u_char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }
    return p;
}


static u_char *
ef_str_end(u_char *p, u_char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}


static u_char *
ef_skip(u_char *p, u_char *e)
{
    int  depth;

    if (p >= e) {
        return NULL;
    }

    if (*p == '"') {
        return ef_str_end(p, e);
    }

    if (*p == '{' || *p == '[') {
        for (depth = 0; p < e; ) {
            if (*p == '"') {
                if ((p = ef_str_end(p, e)) == NULL) {
                    return NULL;
                }
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if ((*p == '}' || *p == ']') && --depth == 0) {
                return p + 1;
            }
            p++;
        }
        return NULL;
    }

    while (p < e && *p != ',' && *p != '}' && *p != ' ') {
        p++;
    }

    return p;
}


static int
ef_json(u_char *p, size_t len, ef_span_t *type, ef_span_t *id,
    ef_span_t *room, ef_span_t *body)
{
    u_char     *e, *k, *ke, *v, *ve;
    size_t      kl;
    ef_span_t  *dst;

    e = p + len;
    memset(type, 0, sizeof(*type));
    memset(id, 0, sizeof(*id));
    memset(room, 0, sizeof(*room));
    memset(body, 0, sizeof(*body));

    p = ef_ws(p, e);
    if (p == e || *p != '{') {
        return -1;
    }
    p = ef_ws(p + 1, e);

    while (p < e && *p == '"') {
        k = p + 1;
        if ((ke = ef_str_end(p, e)) == NULL) {
            return -1;
        }
        kl = ke - 1 - k;
        p = ef_ws(ke, e);
        if (p == e || *p != ':') {
            return -1;
        }
        v = ef_ws(p + 1, e);
        if ((ve = ef_skip(v, e)) == NULL) {
            return -1;
        }

        dst = NULL;
        if (kl == 4 && memcmp(k, "type", 4) == 0) {
            dst = type;
        } else if (kl == 2 && memcmp(k, "id", 2) == 0) {
            dst = id;
        } else if (kl == 4 && memcmp(k, "room", 4) == 0) {
            dst = room;
        } else if (kl == 4 && memcmp(k, "body", 4) == 0) {
            dst = body;
        }

        if (dst) {
            dst->str = (*v == '"');
            dst->p = dst->str ? v + 1 : v;
            dst->len = dst->str ? (size_t) (ve - v - 2) : (size_t) (ve - v);
        }

        p = ef_ws(ve, e);
        if (p < e && *p == ',') {
            p = ef_ws(p + 1, e);
        }
    }

    return 0;
}


static ef_room_t *
ef_room(ef_span_t *name, int create)
{
    uint32_t    h;
    size_t      i;
    ef_room_t  *r;

    h = 2166136261u;
    for (i = 0; i < name->len; i++) {
        h = (h ^ name->p[i]) * 16777619u;
    }
    h %= EF_HASH;

    for (r = ef_rooms[h]; r; r = r->next) {
        if (strlen(r->name) == name->len
            && memcmp(r->name, name->p, name->len) == 0)
        {
            return r;
        }
    }

    if (!create) {
        return NULL;
    }

    r = calloc(1, sizeof(ef_room_t));
    r->name = strndup((char *) name->p, name->len);
    r->next = ef_rooms[h];
    ef_rooms[h] = r;

    return r;
}


static void
ef_leave(ef_conn_t *c, ef_room_t *r)
{
    int  i;

    for (i = 0; i < r->n; i++) {
        if (r->members[i] == c) {
            r->members[i] = r->members[--r->n];
            break;
        }
    }

    for (i = 0; i < c->nrooms; i++) {
        if (c->rooms[i] == r) {
            c->rooms[i] = c->rooms[--c->nrooms];
            break;
        }
    }
}


static void
ef_reply_id(ef_conn_t *c, const char *fmt_head, ef_span_t *id,
    const char *tail)
{
    char  buf[512];
    int   n;

    if (id->p) {
        n = snprintf(buf, sizeof(buf), "%s,\"id\":%s%.*s%s%s", fmt_head,
                     id->str ? "\"" : "", (int) id->len, id->p,
                     id->str ? "\"" : "", tail);
    } else {
        n = snprintf(buf, sizeof(buf), "%s%s", fmt_head, tail);
    }

    if (n > 0 && (size_t) n < sizeof(buf)) {
        ef_send(c, 0x1, buf, n);
    }
}


static void
ef_on_text(ef_conn_t *c, u_char *p, size_t len)
{
    int         i, n, head;
    char        buf[512], *ev;
    ef_room_t  *r;
    ef_span_t   type, id, room, body;
    size_t      h, elen;
    int64_t     ts;

    if (ef_json(p, len, &type, &id, &room, &body) == -1 || type.p == NULL) {
        ef_reply_id(c, "{\"type\":\"error\"", &id,
                    ",\"code\":\"bad_request\",\"message\":\"bad json\"}");
        return;
    }

#define IS(lit)  (type.len == sizeof(lit) - 1 \
                  && memcmp(type.p, lit, sizeof(lit) - 1) == 0)

    if (IS("ping")) {
        ef_reply_id(c, "{\"type\":\"pong\"", &id, "}");
        return;
    }

    if ((IS("join") || IS("leave") || IS("send"))
        && (room.p == NULL || !room.str || room.len == 0 || room.len > 64))
    {
        ef_reply_id(c, "{\"type\":\"error\"", &id,
                    ",\"code\":\"bad_request\",\"message\":\"room\"}");
        return;
    }

    if (IS("join")) {
        r = ef_room(&room, 1);
        for (i = 0; i < c->nrooms && c->rooms[i] != r; i++) { /* void */ }

        if (i == c->nrooms) {
            if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 4;
                r->members = realloc(r->members, r->cap * sizeof(void *));
            }
            r->members[r->n++] = c;
            c->rooms = realloc(c->rooms, (c->nrooms + 1) * sizeof(void *));
            c->rooms[c->nrooms++] = r;
        }

        snprintf(buf, sizeof(buf), ",\"room\":\"%s\",\"seq\":%llu}",
                 r->name, (unsigned long long) r->seq);
        ef_reply_id(c, "{\"type\":\"ok\"", &id, buf);
        return;
    }

    if (IS("leave")) {
        r = ef_room(&room, 0);
        if (r) {
            ef_leave(c, r);
        }
        ef_reply_id(c, "{\"type\":\"ok\"", &id, "}");
        return;
    }

    if (IS("send")) {
        if (body.p == NULL || !body.str || body.len == 0 || body.len > 2048) {
            ef_reply_id(c, "{\"type\":\"error\"", &id,
                        ",\"code\":\"too_large\",\"message\":\"body\"}");
            return;
        }

        r = ef_room(&room, 1);
        r->seq++;
        ef_msg_id++;
        ts = ef_ms();

        snprintf(buf, sizeof(buf), ",\"room\":\"%s\",\"seq\":%llu,"
                 "\"msg_id\":%llu,\"ts\":%lld}", r->name,
                 (unsigned long long) r->seq, (unsigned long long) ef_msg_id,
                 (long long) ts);
        ef_reply_id(c, "{\"type\":\"ok\"", &id, buf);

        /* the event, built once; the body is copied raw (still escaped) */
        ev = (char *) ef_frame + 10;
        n = snprintf(ev, 512, "{\"type\":\"message\",\"room\":\"%s\","
                     "\"seq\":%llu,\"msg_id\":%llu,\"from\":\"%s\","
                     "\"ts\":%lld,\"body\":\"", r->name,
                     (unsigned long long) r->seq,
                     (unsigned long long) ef_msg_id, c->user, (long long) ts);
        memcpy(ev + n, body.p, body.len);
        elen = n + body.len;
        memcpy(ev + elen, "\"}", 2);
        elen += 2;

        head = (int) ef_frame_hdr((u_char *) buf, 0x1, elen);
        h = 10 - head;
        memcpy(ef_frame + h, buf, head);

        for (i = 0; i < r->n; i++) {
            ef_write(r->members[i], ef_frame + h, head + elen);
        }

        for (i = 0; i < r->n; i++) {
            if (r->members[i]->closing) {
                ef_close(r->members[i]);
                i--;                     /* ef_close() swapped one in */
            }
        }
        return;
    }

    /* anything else: ok, loosely */
    ef_reply_id(c, "{\"type\":\"ok\"", &id, "}");

#undef IS
}


static int
ef_b64(u_char *dst, const u_char *src, size_t len)
{
    return EVP_EncodeBlock(dst, src, (int) len);
}


static void
ef_user_from_token(ef_conn_t *c, const char *tok, size_t len)
{
    const char  *d1, *d2, *s;
    char         b64[2048];
    u_char       json[2048];
    size_t       n, i;
    int          jl;

    snprintf(c->user, sizeof(c->user), "anonymous");

    d1 = memchr(tok, '.', len);
    if (d1 == NULL) {
        return;
    }
    d2 = memchr(d1 + 1, '.', tok + len - d1 - 1);
    if (d2 == NULL || (size_t) (d2 - d1 - 1) > sizeof(b64) - 4) {
        return;
    }

    n = d2 - d1 - 1;
    for (i = 0; i < n; i++) {
        b64[i] = d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
    }
    while (n % 4) {
        b64[n++] = '=';
    }

    jl = EVP_DecodeBlock(json, (u_char *) b64, (int) n);
    if (jl <= 0) {
        return;
    }
    json[jl] = '\0';

    s = strstr((char *) json, "\"sub\":\"");
    if (s) {
        s += 7;
        for (i = 0; s[i] && s[i] != '"' && i < 64; i++) {
            c->user[i] = s[i];
        }
        c->user[i] = '\0';
    }
}


static int
ef_on_http(ef_conn_t *c)
{
    int      n;
    char    *hdr, *eoh, *key, *auth, *e;
    char     resp[512], welcome[256];
    u_char   sha[SHA_DIGEST_LENGTH], acc[64], kbuf[128];
    size_t   klen;

    hdr = (char *) c->in;
    eoh = memmem(hdr, c->in_len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return c->in_len > 8192 ? -1 : 0;
    }

    *eoh = '\0';

    key = strcasestr(hdr, "\r\nSec-WebSocket-Key:");
    if (key == NULL) {
        n = snprintf(resp, sizeof(resp), "HTTP/1.1 400 Bad Request\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        ef_write(c, (u_char *) resp, n);
        return -1;
    }

    key += 20;
    while (*key == ' ') {
        key++;
    }
    e = strstr(key, "\r\n");
    klen = e ? (size_t) (e - key) : strlen(key);
    if (klen > 64) {
        return -1;
    }

    memcpy(kbuf, key, klen);
    memcpy(kbuf + klen, EF_GUID, sizeof(EF_GUID) - 1);
    SHA1(kbuf, klen + sizeof(EF_GUID) - 1, sha);
    ef_b64(acc, sha, SHA_DIGEST_LENGTH);

    auth = strcasestr(hdr, "\r\nAuthorization: Bearer ");
    if (auth) {
        auth += 24;
        e = strstr(auth, "\r\n");
        ef_user_from_token(c, auth, e ? (size_t) (e - auth) : strlen(auth));
    } else {
        snprintf(c->user, sizeof(c->user), "anonymous");
    }

    n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
    ef_write(c, (u_char *) resp, n);

    n = snprintf(welcome, sizeof(welcome), "{\"type\":\"welcome\","
                 "\"user\":\"%s\",\"expires_at\":%lld,\"server_time\":%lld}",
                 c->user, (long long) (ef_ms() / 1000 + 3600),
                 (long long) ef_ms());
    ef_send(c, 0x1, welcome, n);

    c->ws = 1;

    return (int) (eoh + 4 - hdr);
}


/* returns bytes consumed, -1 to close */

static ssize_t
ef_on_frames(ef_conn_t *c, u_char *p, size_t len)
{
    u_char    *start, *pl;
    size_t     h, i;
    uint64_t   plen;
    unsigned   op;
    u_char     close_frame[4];

    start = p;

    while (len >= 2) {
        op = p[0] & 0x0f;

        if (!(p[1] & 0x80)) {
            close_frame[0] = 0x88;
            close_frame[1] = 2;
            close_frame[2] = 1002 >> 8;
            close_frame[3] = 1002 & 0xff;
            ef_write(c, close_frame, 4);
            return -1;
        }

        plen = p[1] & 0x7f;
        h = 2;

        if (plen == 126) {
            if (len < 4) {
                break;
            }
            plen = (uint64_t) p[2] << 8 | p[3];
            h = 4;
        } else if (plen == 127) {
            if (len < 10) {
                break;
            }
            plen = 0;
            for (i = 2; i < 10; i++) {
                plen = plen << 8 | p[i];
            }
            h = 10;
        }

        if (plen > EF_IN_MAX) {
            return -1;
        }

        if (len < h + 4 + plen) {
            break;
        }

        pl = p + h + 4;
        for (i = 0; i < plen; i++) {
            pl[i] ^= p[h + (i & 3)];
        }

        p += h + 4 + plen;
        len -= h + 4 + plen;

        switch (op) {
        case 0x1:
            ef_on_text(c, pl, plen);
            break;
        case 0x8:
            ef_send(c, 0x8, (char *) pl, plen >= 2 ? 2 : 0);
            return -1;
        case 0x9:
            ef_send(c, 0xA, (char *) pl, plen);
            break;
        case 0xA:
            break;
        default:
            /* fragments and binary are not needed here */
            return -1;
        }

        if (c->closing) {
            return -1;
        }
    }

    return p - start;
}


/* freed after the current batch of events: others may still point here */

static void
ef_close(ef_conn_t *c)
{
    if (c->fd == -1) {
        return;
    }

    while (c->nrooms) {
        ef_leave(c, c->rooms[0]);
    }

    ef_flush(c);
    close(c->fd);
    c->fd = -1;
    c->closing = 1;

    if (ef_ndead == ef_dead_cap) {
        ef_dead_cap = ef_dead_cap ? ef_dead_cap * 2 : 64;
        ef_dead = realloc(ef_dead, ef_dead_cap * sizeof(void *));
    }
    ef_dead[ef_ndead++] = c;
}


static void
ef_reap(void)
{
    ef_conn_t  *c;

    while (ef_ndead) {
        c = ef_dead[--ef_ndead];
        free(c->in);
        free(c->out);
        free(c->rooms);
        free(c);
    }
}


static int
ef_flush(ef_conn_t *c)
{
    ssize_t             w;
    struct epoll_event  ev;

    if (c->fd == -1) {
        return -1;
    }

    while (c->out_pos < c->out_len) {
        w = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);
        if (w == -1) {
            return errno == EAGAIN ? 0 : -1;
        }
        c->out_pos += w;
    }

    c->out_pos = c->out_len = 0;

    if (c->want_out) {
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ef_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }

    return 0;
}


static void
ef_on_read(ef_conn_t *c)
{
    u_char   buf[65536];
    ssize_t  n, used;

    n = read(c->fd, buf, sizeof(buf));

    if (n == 0 || (n == -1 && errno != EAGAIN)) {
        ef_close(c);
        return;
    }

    if (n == -1) {
        return;
    }

    ef_append(&c->in, &c->in_len, &c->in_cap, buf, n);

    if (!c->ws) {
        used = ef_on_http(c);
        if (used == -1) {
            ef_close(c);
            return;
        }
        if (used == 0) {
            return;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }

    used = ef_on_frames(c, c->in, c->in_len);
    if (used == -1 || c->closing) {
        ef_close(c);
        return;
    }

    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
}


int
main(int argc, char **argv)
{
    int                  lfd, fd, one, port, n, i;
    ef_conn_t           *c;
    struct rlimit        rl;
    struct sockaddr_in   sin;
    struct epoll_event   ev, events[512];

    port = argc > 1 ? atoi(argv[1]) : 18999;

    signal(SIGPIPE, SIG_IGN);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(lfd, 4096) == -1)
    {
        perror("echo-fanout: bind/listen");
        return 1;
    }

    ef_ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ef_ep, EPOLL_CTL_ADD, lfd, &ev);

    fprintf(stderr, "echo-fanout: listening on 127.0.0.1:%d\n", port);

    for ( ;; ) {
        n = epoll_wait(ef_ep, events, 512, -1);

        for (i = 0; i < n; i++) {
            c = events[i].data.ptr;

            if (c == NULL) {
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one));
                    c = calloc(1, sizeof(ef_conn_t));
                    c->fd = fd;
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ef_ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }

            if (c->fd == -1) {
                continue;
            }

            if ((events[i].events & EPOLLOUT) && ef_flush(c) == -1) {
                ef_close(c);
                continue;
            }

            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ef_on_read(c);
            }
        }

        ef_reap();
    }

    return 0;
}
