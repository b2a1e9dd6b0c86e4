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
 * Build: make -C bench echo-fanout (with lib/ws.c, lib/hs256.c,
 *        lib/json.c)
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

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

#include "lib/hs256.h"
#include "lib/json.h"
#include "lib/ws.h"


#define EF_OUT_MAX    (4 * 1024 * 1024)
#define EF_IN_MAX     (1024 * 1024)
#define EF_HASH       4096


typedef struct ef_room_s  ef_room_t;

typedef struct {
    int           fd;
    int           ws;             /* upgraded */
    int           closing;
    char          user[72];
    u_char       *in;
    size_t        in_len;
    size_t        in_cap;
    ws_out_t      out;
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

enum {
    EF_J_TYPE = 0,
    EF_J_ID,
    EF_J_ROOM,
    EF_J_BODY,
    EF_J_N
};

typedef json_span_t  ef_span_t;


static int         ef_ep;
static ef_room_t  *ef_rooms[EF_HASH];
static uint64_t    ef_msg_id;
static u_char      ef_frame[EF_OUT_MAX];
static ef_conn_t **ef_dead;
static int         ef_ndead;
static int         ef_dead_cap;


static void ef_close(ef_conn_t *c);
static int ef_flush(ef_conn_t *c);

static const char *const  ef_keys[EF_J_N] = { "type", "id", "room", "body" };


static int64_t
ef_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
ef_write(ef_conn_t *c, const u_char *p, size_t n)
{
    if (c->closing || c->fd == -1) {
        return;
    }

    /* a slow reader (the queue past EF_OUT_MAX): 1013 as the protocol
     * says; just dropped here */
    if (ws_out_write(&c->out, c->fd, p, n, EF_OUT_MAX) < 0) {
        c->closing = 1;
        return;
    }

    if (ws_out_pending(&c->out) && !c->want_out) {
        ws_want_out(ef_ep, c->fd, c, 1);
        c->want_out = 1;
    }
}


static void
ef_send(ef_conn_t *c, unsigned op, const char *p, size_t len)
{
    size_t  h;

    h = ws_frame_header(ef_frame, op, len, NULL);
    memcpy(ef_frame + h, p, len);
    ef_write(c, ef_frame, h + len);
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
    ef_span_t   v[EF_J_N], type, id, room, body;
    size_t      h, elen;
    int64_t     ts;

    if (json_scan(p, len, ef_keys, EF_J_N, v) == -1) {
        v[EF_J_TYPE].p = NULL;
    }

    type = v[EF_J_TYPE];
    id = v[EF_J_ID];
    room = v[EF_J_ROOM];
    body = v[EF_J_BODY];

    if (type.p == NULL) {
        ef_reply_id(c, "{\"type\":\"error\"", &id,
                    ",\"code\":\"bad_request\",\"message\":\"bad json\"}");
        return;
    }

#define IS(lit)  json_span_is(&type, lit, sizeof(lit) - 1)

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

        head = (int) ws_frame_header((u_char *) buf, 0x1, elen, NULL);
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


static void
ef_user_from_token(ef_conn_t *c, const char *tok, size_t len)
{
    size_t       i;
    u_char       json[2048];
    const char  *s;

    snprintf(c->user, sizeof(c->user), "anonymous");

    if (hs256_claims(tok, len, json, sizeof(json)) == -1) {
        return;
    }

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
    int            n;
    char           resp[512], welcome[256];
    size_t         klen, alen;
    const u_char  *eoh, *key, *auth;

    eoh = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return c->in_len > 8192 ? -1 : 0;
    }

    key = ws_http_header(c->in, eoh, "Sec-WebSocket-Key:", &klen);
    if (key == NULL) {
        n = snprintf(resp, sizeof(resp), "HTTP/1.1 400 Bad Request\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        ef_write(c, (u_char *) resp, n);
        return -1;
    }

    n = ws_upgrade_response(resp, sizeof(resp), key, klen);
    if (n == -1) {
        return -1;
    }

    auth = ws_http_header(c->in, eoh, "Authorization:", &alen);
    if (auth && alen > 7 && strncasecmp((char *) auth, "Bearer ", 7) == 0) {
        ef_user_from_token(c, (char *) auth + 7, alen - 7);
    } else {
        snprintf(c->user, sizeof(c->user), "anonymous");
    }

    ef_write(c, (u_char *) resp, n);

    n = snprintf(welcome, sizeof(welcome), "{\"type\":\"welcome\","
                 "\"user\":\"%s\",\"expires_at\":%lld,\"server_time\":%lld}",
                 c->user, (long long) (ef_ms() / 1000 + 3600),
                 (long long) ef_ms());
    ef_send(c, 0x1, welcome, n);

    c->ws = 1;

    return (int) (eoh + 4 - c->in);
}


/* returns bytes consumed, -1 to close */

static ssize_t
ef_on_frames(ef_conn_t *c, u_char *p, size_t len)
{
    u_char      *start, *pl;
    u_char       close_frame[4];
    ws_frame_t   f;

    start = p;

    while (len >= 2) {
        if (!(p[1] & 0x80)) {
            close_frame[0] = 0x88;
            close_frame[1] = 2;
            close_frame[2] = 1002 >> 8;
            close_frame[3] = 1002 & 0xff;
            ef_write(c, close_frame, 4);
            return -1;
        }

        if (!ws_frame_parse(p, len, &f)) {
            break;
        }

        if (f.len > EF_IN_MAX) {
            return -1;
        }

        if (len < f.hlen + f.len) {
            break;
        }

        pl = p + f.hlen;
        ws_mask(pl, pl, f.len, f.mask);

        p += f.hlen + f.len;
        len -= f.hlen + f.len;

        switch (f.op) {
        case 0x1:
            ef_on_text(c, pl, f.len);
            break;
        case 0x8:
            ef_send(c, 0x8, (char *) pl, f.len >= 2 ? 2 : 0);
            return -1;
        case 0x9:
            ef_send(c, 0xA, (char *) pl, f.len);
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
        ws_out_free(&c->out);
        free(c->rooms);
        free(c);
    }
}


static int
ef_flush(ef_conn_t *c)
{
    if (c->fd == -1 || ws_out_flush(&c->out, c->fd) == -1) {
        return -1;
    }

    if (ws_out_pending(&c->out) == 0 && c->want_out) {
        ws_want_out(ef_ep, c->fd, c, 0);
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

    if (ws_grow(&c->in, &c->in_cap, c->in_len + n) == -1) {
        abort();
    }

    memcpy(c->in + c->in_len, buf, n);
    c->in_len += n;

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
