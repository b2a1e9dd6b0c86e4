/*
 * abuse: the attacker of "make abuse" (bench/abuse/run.sh).  One
 * single-threaded epoll loop drives N connections to the demo stack, all
 * doing one abusive thing (a scenario) until SIGTERM or --seconds, and
 * then prints what was sent and what came back on one "ATTACK" line:
 * counts of HTTP statuses, WebSocket replies by type or error code, close
 * codes, resets and end-of-files.
 *
 * A scenario is a set of plans; connection i follows plan i mod nplans
 * (or the first plan's "count" connections follow it, see below).  A
 * plan is: open a TCP connection from 127.0.0.2.., write a head (an HTTP
 * request or the upgrade, then wait for 101), then a prefix (frames such
 * as a join), then a cycle written again and again as fast as the socket
 * takes it (prebuilt buffers, no per-frame work), or a set number of
 * times.  Whatever ends a connection (a close frame, EOF, a reset, a
 * deliberate reset of our own) counts, and the slot reconnects.
 *
 * Nothing here knows the server's limits: the figures say what it did.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../lib/ws.h"
#include "../lib/hs256.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif


enum { P_WS, P_HTTP, P_SLOW };

enum { ST_IDLE, ST_CONNECTING, ST_HEAD, ST_WAIT101, ST_PREFIX, ST_CYCLE,
       ST_WAITRESP, ST_HOLD };


typedef struct {
    u_char             *p;
    size_t              len;
} buf_t;


typedef struct {
    const char         *name;
    int                 proto;
    int                 auth;           /* ws: Authorization header */
    int                 read;           /* 0: stop reading after the 101 */
    int                 rcvbuf;         /* SO_RCVBUF when > 0 */
    int                 reset;          /* RST once everything is written */
    int                 close_after;    /* close after one HTTP response */
    unsigned            count;          /* plan 0 only: its connections */
    buf_t               head;           /* http, slow: the request head */
    const char         *ws_path;
    size_t              ws_pad;         /* ws: an X-Pad header this big */
    buf_t               prefix;
    buf_t               cycle;
    unsigned            cycle_units;    /* frames/requests per cycle */
    unsigned            cycle_times;    /* 0: forever */
    unsigned            pipeline;       /* http: responses per cycle */
    const char         *unit;
} plan_t;


typedef struct {
    int                 fd;
    unsigned            idx;
    int                 state;
    plan_t             *plan;
    u_char             *head;           /* ws: own upgrade request */
    size_t              head_len;
    const u_char       *out;
    size_t              out_len;
    size_t              out_pos;
    unsigned            reps;
    unsigned            inflight;
    u_char             *in;
    size_t              in_len;
    size_t              in_cap;
    uint64_t            skip;           /* payload bytes still to drop */
    uint64_t            wake;           /* ns: reconnect, or next drip */
    int                 in_on;
    int                 out_on;
    int                 counted;        /* at its cycle now */
    int                 ever;           /* got that far once, or closed */
    int                 hs;             /* counted in A.in_handshake */
} conn_t;


typedef struct {
    char                key[56];
    uint64_t            n;
} stat_t;


static struct {
    const char         *scenario;
    const char         *host;
    int                 port;
    const char         *secret_file;
    u_char              secret[256];
    size_t              secret_len;
    unsigned            nconns;
    unsigned            nsrc;
    unsigned            conc;
    double              seconds;
    double              min_seconds;
    const char         *ready_file;
    const char         *only;
    const char         *room;
    const char         *probe_room;
    const char         *prefix;
    unsigned            drip_ms;

    plan_t              plans[4];
    unsigned            nplans;

    conn_t             *conns;
    int                 ep;
    unsigned            in_handshake;
    unsigned            active;
    unsigned            ever;
    uint64_t            opened;
    uint64_t            connect_fail;
    uint64_t            bytes_out;
    stat_t              stats[96];
    unsigned            nstats;
    char                rest_token[HS256_JWT_MAX];
} A;


static volatile sig_atomic_t  stop;


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec;
}


static void
stat_add(const char *key, uint64_t n)
{
    unsigned  i;

    for (i = 0; i < A.nstats; i++) {
        if (strcmp(A.stats[i].key, key) == 0) {
            A.stats[i].n += n;
            return;
        }
    }

    if (A.nstats < sizeof(A.stats) / sizeof(A.stats[0])) {
        snprintf(A.stats[A.nstats].key, sizeof(A.stats[0].key), "%s", key);
        A.stats[A.nstats++].n = n;
    }
}


static void
die(const char *what)
{
    perror(what);
    exit(1);
}


static void *
xmalloc(size_t n)
{
    void  *p = malloc(n);

    if (p == NULL) {
        die("malloc");
    }
    return p;
}


/* buffers */

static void
buf_cat(buf_t *b, const void *p, size_t len)
{
    b->p = realloc(b->p, b->len + len);
    if (b->p == NULL) {
        die("realloc");
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
}


static void
buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(buf_t *b, const char *fmt, ...)
{
    char    *tmp;
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vasprintf(&tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        die("vasprintf");
    }
    buf_cat(b, tmp, (size_t) n);
    free(tmp);
}


/* one masked client frame; fin 0 starts or continues a fragmented one */

static void
buf_frame(buf_t *b, unsigned fin, unsigned op, const void *payload,
    size_t len)
{
    u_char  h[WS_HEADER_MAX], mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    u_char *m;
    size_t  hl;

    hl = ws_frame_header(h, op, len, mask);
    if (!fin) {
        h[0] &= 0x7f;
    }
    buf_cat(b, h, hl);

    m = xmalloc(len + 1);
    ws_mask(m, payload, len, mask);
    buf_cat(b, m, len);
    free(m);
}


static void
buf_text(buf_t *b, const char *s)
{
    buf_frame(b, 1, 1, s, strlen(s));
}


static void
make_token(char *dst, const char *sub)
{
    char    claims[256];
    time_t  t = time(NULL);
    int     n;

    n = snprintf(claims, sizeof(claims),
                 "{\"sub\":\"%s\",\"exp\":%ld,\"iat\":%ld}", sub,
                 (long) t + 3600, (long) t - 5);

    if (hs256_sign(dst, HS256_JWT_MAX, claims, n, A.secret, A.secret_len)
        == 0)
    {
        fprintf(stderr, "abuse: cannot sign a token\n");
        exit(1);
    }
}


/* the scenarios */

static plan_t *
plan(const char *name, int proto)
{
    plan_t  *p = &A.plans[A.nplans++];

    memset(p, 0, sizeof(*p));
    p->name = name;
    p->proto = proto;
    p->read = 1;
    p->ws_path = "/chat/ws";
    p->unit = "frames";
    return p;
}


static plan_t *
ws_plan(const char *name)
{
    plan_t  *p = plan(name, P_WS);

    p->auth = 1;
    return p;
}


/* an HTTP/1.1 request with the REST user's token; body may be NULL */

static void
http_req(buf_t *b, const char *method, const char *path, const char *body,
    size_t blen, const char *extra)
{
    buf_printf(b, "%s /chat/api%s HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\n%s", method, path, A.host,
               A.rest_token, extra ? extra : "");
    if (body) {
        buf_printf(b, "Content-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n", blen);
        buf_cat(b, body, blen);

    } else {
        buf_cat(b, "\r\n", 2);
    }
}


static void
ws_cycle(plan_t *p, unsigned n, const char *fmt)
{
    char      f[1024];
    unsigned  i;

    for (i = 0; i < n; i++) {
        snprintf(f, sizeof(f), fmt, A.room, i + 1);
        buf_text(&p->cycle, f);
    }
    p->cycle_units = n;
}


static void
ws_join(plan_t *p, const char *room)
{
    char  f[256];

    snprintf(f, sizeof(f), "{\"type\":\"join\",\"id\":\"j\",\"room\":\"%s\"}",
             room);
    buf_text(&p->prefix, f);
}


static char *
nested(size_t depth, const char *pre, const char *post)
{
    size_t  a = strlen(pre), z = strlen(post);
    char   *s = xmalloc(a + 2 * depth + z + 1);

    memcpy(s, pre, a);
    memset(s + a, '[', depth);
    memset(s + a + depth, ']', depth);
    memcpy(s + a + 2 * depth, post, z + 1);
    return s;
}


static int
setup_flood(const char *type)
{
    plan_t  *p;
    char     path[256], f[256];
    unsigned i;
    const char *body = "{\"body\":\"flood\"}";

    if (strncmp(type, "rest-", 5) == 0) {
        p = plan(type, P_HTTP);
        p->unit = "requests";
        p->pipeline = 16;

        for (i = 0; i < p->pipeline; i++) {
            if (strcmp(type, "rest-rooms") == 0) {
                http_req(&p->cycle, "GET", "/rooms", NULL, 0, NULL);

            } else if (strcmp(type, "rest-history") == 0) {
                snprintf(path, sizeof(path),
                         "/rooms/%s/messages?limit=200", A.room);
                http_req(&p->cycle, "GET", path, NULL, 0, NULL);

            } else if (strcmp(type, "rest-send") == 0) {
                snprintf(path, sizeof(path), "/rooms/%s/messages", A.room);
                http_req(&p->cycle, "POST", path, body, strlen(body), NULL);

            } else if (strcmp(type, "rest-search") == 0) {
                http_req(&p->cycle, "GET", "/search?q=flood&limit=50",
                         NULL, 0, NULL);

            } else {
                return -1;
            }
        }

        p->cycle_units = p->pipeline;
        return 0;
    }

    p = ws_plan(type);
    ws_join(p, A.room);

    if (strcmp(type, "send") == 0) {
        ws_cycle(p, 64, "{\"type\":\"send\",\"id\":%2$u,\"room\":\"%1$s\","
                 "\"body\":\"flood\"}");
    } else if (strcmp(type, "history") == 0) {
        ws_cycle(p, 64, "{\"type\":\"history\",\"id\":%2$u,"
                 "\"room\":\"%1$s\",\"limit\":200}");
    } else if (strcmp(type, "join") == 0) {
        /* leave and join again: presence events to the room */
        for (i = 0; i < 32; i++) {
            snprintf(f, sizeof(f), "{\"type\":\"leave\",\"id\":%u,"
                     "\"room\":\"%s\"}", i, A.room);
            buf_text(&p->cycle, f);
            snprintf(f, sizeof(f), "{\"type\":\"join\",\"id\":%u,"
                     "\"room\":\"%s\"}", i, A.room);
            buf_text(&p->cycle, f);
        }
        p->cycle_units = 64;
    } else if (strcmp(type, "typing") == 0) {
        ws_cycle(p, 64, "{\"type\":\"typing\",\"id\":%2$u,"
                 "\"room\":\"%1$s\"}");
    } else if (strcmp(type, "presence") == 0) {
        ws_cycle(p, 64, "{\"type\":\"presence\",\"id\":%2$u,"
                 "\"room\":\"%1$s\"}");
    } else if (strcmp(type, "read") == 0) {
        ws_cycle(p, 64, "{\"type\":\"read\",\"id\":%2$u,\"room\":\"%1$s\","
                 "\"seq\":1}");
    } else if (strcmp(type, "edit") == 0) {
        ws_cycle(p, 64, "{\"type\":\"edit\",\"id\":%2$u,\"room\":\"%1$s\","
                 "\"seq\":1,\"body\":\"edited\"}");
    } else if (strcmp(type, "ping") == 0) {
        ws_cycle(p, 64, "{\"type\":\"ping\",\"id\":%2$u}%1$.0s");
    } else if (strcmp(type, "junk") == 0) {
        ws_cycle(p, 64, "{\"type\":\"nonsense\",\"id\":%2$u,%1$.0s");
    } else {
        return -1;
    }

    return 0;
}


static int
setup(void)
{
    plan_t   *p;
    char     *s, path[256];
    unsigned  i;
    buf_t     body = { NULL, 0 };
    static u_char  zero[65536];

    make_token(A.rest_token, "abuse-rest");

    if (strcmp(A.scenario, "slowloris") == 0) {
        /* an upgrade whose headers never end, one byte at a time */
        p = plan("slow", P_SLOW);
        buf_printf(&p->head, "GET /chat/ws HTTP/1.1\r\nHost: %s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n", A.host);
        for (i = 0; i < 4096; i++) {
            buf_printf(&p->head, "X-Drip-%u: slowly\r\n", i);
        }
        p->unit = "bytes";
        if (!A.nconns) A.nconns = 2000;

    } else if (strcmp(A.scenario, "unauth") == 0) {
        p = plan("unauth", P_WS);   /* upgraded, never an auth frame */
        if (!A.nconns) A.nconns = 10000;

    } else if (strcmp(A.scenario, "ping") == 0) {
        /* control pings as fast as the socket takes them; the first
         * connection never reads its pongs */
        p = ws_plan("ping-noread");
        p->read = 0;
        p->rcvbuf = 4096;
        p->count = 1;
        for (i = 0; i < 256; i++) {
            buf_frame(&p->cycle, 1, 9, "abcdefgh", 8);
        }
        p->cycle_units = 256;
        p = ws_plan("ping");
        p->cycle = A.plans[0].cycle;
        p->cycle_units = 256;
        if (!A.nconns) A.nconns = 32;

    } else if (strcmp(A.scenario, "fragments") == 0) {
        /* one text message in 100 000 empty continuation frames */
        p = ws_plan("fragments");
        buf_frame(&p->cycle, 0, 1, "{\"type\":\"ping\"", 14);
        for (i = 0; i < 100000; i++) {
            buf_frame(&p->cycle, 0, 0, "", 0);
        }
        buf_frame(&p->cycle, 1, 0, ",\"id\":\"f\"}", 10);
        p->cycle_units = 100002;
        if (!A.nconns) A.nconns = 8;

    } else if (strncmp(A.scenario, "flood-", 6) == 0) {
        if (setup_flood(A.scenario + 6) != 0) {
            return -1;
        }
        if (!A.nconns) A.nconns = 64;

    } else if (strcmp(A.scenario, "nonreader") == 0) {
        /* one member of the probe's room and of a busy room never reads;
         * everyone else sends 2 KB messages to the busy room */
        p = ws_plan("nonreader");
        p->read = 0;
        p->rcvbuf = 4096;
        p->count = 1;
        ws_join(p, A.probe_room);
        ws_join(p, A.room);
        p = ws_plan("sender");
        s = xmalloc(2001);
        memset(s, 'x', 2000);
        s[2000] = '\0';
        for (i = 0; i < 16; i++) {
            body.len = 0;
            buf_printf(&body, "{\"type\":\"send\",\"room\":\"%s\","
                       "\"body\":\"%s\"}", A.room, s);
            buf_frame(&p->cycle, 1, 1, body.p, body.len);
        }
        free(s);
        free(body.p);
        p->cycle_units = 16;
        if (!A.nconns) A.nconns = 101;

    } else if (strcmp(A.scenario, "rest-reset") == 0) {
        /* reset (SO_LINGER 0) mid-header, mid-body, after the body */
        snprintf(path, sizeof(path), "/rooms/%s/messages", A.room);
        http_req(&body, "POST", path, "{\"body\":\"reset me\"}", 19, NULL);

        p = plan("mid-header", P_HTTP);
        buf_cat(&p->head, body.p, 40);
        p->reset = 1;
        p = plan("mid-body", P_HTTP);
        buf_cat(&p->head, body.p, body.len - 8);
        p->reset = 1;
        p = plan("after-body", P_HTTP);
        p->head = body;
        p->reset = 1;
        for (i = 0; i < A.nplans; i++) {
            A.plans[i].unit = "resets";
        }
        if (!A.nconns) A.nconns = 48;

    } else if (strcmp(A.scenario, "oversize") == 0) {
        p = plan("ws-header", P_WS);   /* a 64 KB header on the upgrade */
        p->ws_pad = 65536;
        p->close_after = 1;

        p = plan("rest-header", P_HTTP);
        s = xmalloc(65536 + 16);
        memcpy(s, "X-Pad: ", 7);
        memset(s + 7, 'p', 65536);
        memcpy(s + 7 + 65536, "\r\n", 3);
        http_req(&p->head, "GET", "/rooms", NULL, 0, s);
        free(s);
        p->close_after = 1;

        p = plan("rest-body", P_HTTP);   /* 64 MB announced and streamed */
        snprintf(path, sizeof(path), "/rooms/%s/messages", A.room);
        buf_printf(&p->head, "POST /chat/api%s HTTP/1.1\r\nHost: %s\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: "
                   "application/json\r\nContent-Length: %u\r\n\r\n"
                   "{\"body\":\"", path, A.host, A.rest_token, 64u << 20);
        memset(zero, 'a', sizeof(zero));
        buf_cat(&p->cycle, zero, sizeof(zero));
        p->cycle_times = 1024;
        p->cycle_units = 1;
        p->close_after = 1;
        p->unit = "64KB";

        p = ws_plan("ws-frame");    /* a frame announcing 1 GiB */
        {
            u_char  h[WS_HEADER_MAX], mask[4] = { 1, 2, 3, 4 };
            size_t  hl = ws_frame_header(h, 1, 1ull << 30, mask);

            buf_cat(&p->prefix, h, hl);
            memset(zero, 'b', sizeof(zero));
            buf_cat(&p->cycle, zero, sizeof(zero));
            p->cycle_times = 16384;
            p->cycle_units = 1;
            p->unit = "64KB";
        }
        if (!A.nconns) A.nconns = 16;

    } else if (strcmp(A.scenario, "bombs") == 0) {
        /* JSON nested 8 000 deep in a 16 KB frame and in a 16 KB REST
         * body, small enough to reach the parser */
        p = ws_plan("ws-bomb");
        s = nested(8000, "{\"type\":\"send\",\"room\":\"x\",\"body\":\"b\","
                   "\"meta\":", "}");
        for (i = 0; i < 8; i++) {
            buf_text(&p->cycle, s);
        }
        free(s);
        p->cycle_units = 8;

        p = plan("rest-bomb", P_HTTP);
        s = nested(8000, "{\"body\":\"b\",\"meta\":", "}");
        snprintf(path, sizeof(path), "/rooms/%s/messages", A.room);
        http_req(&p->cycle, "POST", path, s, strlen(s), NULL);
        free(s);
        p->pipeline = 1;
        p->cycle_units = 1;
        p->unit = "requests";
        if (!A.nconns) A.nconns = 16;

    } else {
        return -1;
    }

    return 0;
}


/* connections */

static void
want(conn_t *c, int in, int out)
{
    struct epoll_event  ev;

    if (c->in_on == in && c->out_on == out) {
        return;
    }

    ev.events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(A.ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        die("epoll_ctl");
    }
    c->in_on = in;
    c->out_on = out;
}


/* out of the connect and upgrade phase that --conc bounds */

static void
hs_done(conn_t *c)
{
    if (c->hs) {
        c->hs = 0;
        A.in_handshake--;
    }
}


static void
conn_close(conn_t *c, const char *why, int rst)
{
    struct linger  l = { 1, 0 };
    char           k[64];

    if (why) {
        snprintf(k, sizeof(k), "%s:%s", c->plan->name, why);
        stat_add(k, 1);
    }

    if (rst) {
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }

    hs_done(c);
    if (c->counted) {
        A.active--;
        c->counted = 0;
    }
    if (!c->ever && c->state > ST_CONNECTING) {
        c->ever = 1;
        A.ever++;
    }

    close(c->fd);
    c->fd = -1;
    c->state = ST_IDLE;
    c->in_len = 0;
    c->skip = 0;
    /* reconnect on the next tick: a refused slot does not spin */
    c->wake = now_ns() + 20000000;
}


static void
conn_open(conn_t *c)
{
    struct sockaddr_in  sa, src;
    struct epoll_event  ev;
    int                 fd, one = 1;
    plan_t             *p = c->plan;
    char                sub[64], tok[HS256_JWT_MAX], key[32];
    u_char              raw[16];
    buf_t               h = { NULL, 0 };

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        A.connect_fail++;
        c->wake = now_ns() + 100000000;
        return;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (p->rcvbuf) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &p->rcvbuf, sizeof(int));
    }

    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002 + c->idx % A.nsrc);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(A.port);
    inet_pton(AF_INET, A.host, &sa.sin_addr);

    if (bind(fd, (struct sockaddr *) &src, sizeof(src)) != 0
        || (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
            && errno != EINPROGRESS))
    {
        close(fd);
        A.connect_fail++;
        c->wake = now_ns() + 100000000;
        return;
    }

    c->fd = fd;
    c->state = ST_CONNECTING;
    c->reps = 0;
    c->inflight = 0;
    c->in_len = 0;
    c->skip = 0;
    A.opened++;
    A.in_handshake++;
    c->hs = 1;

    if (p->proto == P_WS) {
        RAND_bytes(raw, sizeof(raw));
        ws_client_key(key, raw);
        buf_printf(&h, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: %s\r\n", p->ws_path, A.host, key);
        if (p->auth) {
            snprintf(sub, sizeof(sub), "%s-%s-%u", A.prefix, p->name, c->idx);
            make_token(tok, sub);
            buf_printf(&h, "Authorization: Bearer %s\r\n", tok);
        }
        if (p->ws_pad) {
            buf_cat(&h, "X-Pad: ", 7);
            while (h.len < p->ws_pad) {
                buf_cat(&h, "pppppppppppppppppppppppppppppppp", 32);
            }
            buf_cat(&h, "\r\n", 2);
        }
        buf_cat(&h, "\r\n", 2);
        free(c->head);
        c->head = h.p;
        c->head_len = h.len;
        c->out = c->head;
        c->out_len = c->head_len;

    } else {
        c->out = p->head.p;
        c->out_len = p->head.len;
    }
    c->out_pos = 0;
    if (p->proto == P_SLOW) {
        c->wake = now_ns() + (uint64_t) (c->idx % A.drip_ms) * 1000000;
    }

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    c->in_on = 1;
    c->out_on = 1;
    if (epoll_ctl(A.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        die("epoll_ctl add");
    }
}


static void
reached_cycle(conn_t *c)
{
    if (!c->counted) {
        c->counted = 1;
        A.active++;
    }
    if (!c->ever) {
        c->ever = 1;
        A.ever++;
    }
}


/* the next thing to write once the current buffer is out */

static void
next_segment(conn_t *c)
{
    plan_t  *p = c->plan;
    char     k[64];

    c->out_pos = 0;

    switch (c->state) {

    case ST_HEAD:
        if (p->proto == P_WS) {
            c->state = ST_WAIT101;
            c->out = NULL;
            c->out_len = 0;
            return;
        }
        hs_done(c);
        /* fall through */

    case ST_WAIT101:
    case ST_PREFIX:
        if (c->state != ST_PREFIX && p->prefix.len) {
            c->state = ST_PREFIX;
            c->out = p->prefix.p;
            c->out_len = p->prefix.len;
            return;
        }
        reached_cycle(c);
        c->state = ST_CYCLE;
        c->out = p->cycle.p;
        c->out_len = p->cycle.len;
        if (c->out_len == 0) {
            c->state = ST_HOLD;
        }
        return;

    case ST_CYCLE:
        c->reps++;
        snprintf(k, sizeof(k), "%s:sent_%s", p->name, p->unit);
        stat_add(k, p->cycle_units);
        if (p->cycle_times && c->reps >= p->cycle_times) {
            c->state = ST_HOLD;
            c->out = NULL;
            c->out_len = 0;
            return;
        }
        if (p->pipeline) {
            c->inflight += p->pipeline;
            c->state = ST_WAITRESP;
            c->out = NULL;
            c->out_len = 0;
            return;
        }
        return;

    default:
        c->out = NULL;
        c->out_len = 0;
        return;
    }
}


static void
on_write(conn_t *c)
{
    ssize_t  n;
    int      err = 0;
    socklen_t el = sizeof(err);

    if (c->state == ST_CONNECTING) {
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            A.connect_fail++;
            conn_close(c, "connect_failed", 0);
            return;
        }
        c->state = ST_HEAD;
        if (c->plan->proto == P_SLOW) {
            hs_done(c);
            reached_cycle(c);
            want(c, 1, 0);          /* the drip is written by the tick */
            return;
        }
    }

    for (;;) {
        if (c->out == NULL || c->out_pos >= c->out_len) {
            if (c->state != ST_HEAD && c->state != ST_PREFIX
                && c->state != ST_CYCLE)
            {
                break;
            }
            next_segment(c);
            if (c->plan->reset && c->state > ST_WAIT101) {
                conn_close(c, "reset_sent", 1);
                return;
            }
            if (c->out == NULL || c->out_len == 0) {
                break;
            }
            continue;
        }

        n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);
        if (n < 0) {
            if (errno == EAGAIN) {
                want(c, c->in_on || c->state < ST_PREFIX, 1);
                return;
            }
            conn_close(c, errno == EPIPE ? "write_epipe" : "write_reset", 0);
            return;
        }
        A.bytes_out += n;
        c->out_pos += n;
    }

    want(c, c->plan->read || c->state <= ST_WAIT101, 0);
}


/* a server text frame: count it by type, or error code */

static void
count_text(conn_t *c, const u_char *p, size_t len)
{
    char        k[96], v[40];
    const char *t, *e, *key = "\"type\":\"";
    size_t      n;

    t = memmem(p, len, key, 8);
    if (t == NULL) {
        stat_add("ws:untyped", 1);
        return;
    }
    t += 8;
    e = memchr(t, '"', (const char *) p + len - t);
    n = e ? (size_t) (e - t) : 0;
    if (n >= sizeof(v)) n = sizeof(v) - 1;
    memcpy(v, t, n);
    v[n] = '\0';

    if (strcmp(v, "error") == 0 && (t = memmem(p, len, "\"code\":\"", 8))) {
        t += 8;
        e = memchr(t, '"', (const char *) p + len - t);
        n = e ? (size_t) (e - t) : 0;
        if (n > 32) n = 32;
        snprintf(k, sizeof(k), "%s:error_%.*s", c->plan->name, (int) n, t);

    } else {
        snprintf(k, sizeof(k), "%s:%s", c->plan->name, v);
    }
    stat_add(k, 1);
}


/* frames in c->in; returns -1 when the connection was closed */

static int
parse_frames(conn_t *c)
{
    ws_frame_t  f;
    size_t      pos = 0, take;
    char        k[64];
    unsigned    code;

    for (;;) {
        if (c->skip) {
            take = c->in_len - pos < c->skip ? c->in_len - pos : c->skip;
            pos += take;
            c->skip -= take;
            if (c->skip) break;
        }
        if (!ws_frame_parse(c->in + pos, c->in_len - pos, &f)) break;

        if (f.op == 8) {
            if (c->in_len - pos < f.hlen + f.len && f.len <= 125) break;
            code = f.len >= 2 ? (c->in[pos + f.hlen] << 8
                                 | c->in[pos + f.hlen + 1]) : 1005;
            snprintf(k, sizeof(k), "close_%u", code);
            conn_close(c, k, 0);
            return -1;
        }

        if (f.op == 1 && c->in_len - pos < f.hlen + f.len) {
            if (f.len > 65536) {            /* count it, drop the rest */
                count_text(c, c->in + pos + f.hlen, c->in_len - pos - f.hlen);
                c->skip = f.hlen + f.len - (c->in_len - pos);
                pos = c->in_len;
                continue;
            }
            break;
        }

        if (c->in_len - pos < f.hlen + f.len) {
            c->skip = f.hlen + f.len - (c->in_len - pos);
            pos = c->in_len;
            continue;
        }

        if (f.op == 1) {
            count_text(c, c->in + pos + f.hlen, f.len);
        } else if (f.op == 10) {
            snprintf(k, sizeof(k), "%s:pong", c->plan->name);
            stat_add(k, 1);
        }
        pos += f.hlen + f.len;
    }

    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return 0;
}


/* HTTP responses; returns -1 when the connection was closed */

static int
parse_http(conn_t *c)
{
    u_char  *eoh, *cl;
    size_t   pos = 0, blen, hl;
    int      status;
    char     k[64];

    for (;;) {
        if (c->skip) {
            hl = c->in_len - pos < c->skip ? c->in_len - pos : c->skip;
            pos += hl;
            c->skip -= hl;
            if (c->skip) break;
        }
        eoh = memmem(c->in + pos, c->in_len - pos, "\r\n\r\n", 4);
        if (eoh == NULL) break;
        hl = eoh + 4 - (c->in + pos);

        status = 0;
        sscanf((char *) c->in + pos, "HTTP/1.%*d %d", &status);
        cl = memmem(c->in + pos, hl, "Content-Length:", 15);
        blen = cl ? strtoul((char *) cl + 15, NULL, 10) : 0;

        if (c->plan->proto == P_WS && c->state == ST_WAIT101
            && status == 101)
        {
            snprintf(k, sizeof(k), "%s:upgraded", c->plan->name);
            stat_add(k, 1);
            pos += hl;
            memmove(c->in, c->in + pos, c->in_len - pos);
            c->in_len -= pos;
            hs_done(c);
            next_segment(c);
            if (c->plan->close_after) {
                conn_close(c, NULL, 0);
                return -1;
            }
            on_write(c);
            if (c->fd < 0) return -1;
            if (!c->plan->read) {
                want(c, 0, c->out_on);
                return -1;
            }
            return c->in_len ? parse_frames(c) : 0;
        }

        snprintf(k, sizeof(k), "%s:http_%d", c->plan->name, status);
        stat_add(k, 1);
        pos += hl;
        c->skip = blen;

        if (c->plan->proto == P_WS || c->plan->close_after) {
            conn_close(c, NULL, 0);
            return -1;
        }

        if (c->inflight) c->inflight--;
        if (c->inflight == 0 && c->state == ST_WAITRESP) {
            c->state = ST_CYCLE;
            c->out = c->plan->cycle.p;
            c->out_len = c->plan->cycle.len;
            c->out_pos = 0;
            want(c, 1, 1);
        }
    }

    if (c->skip == 0 || pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return 0;
}


static void
on_read(conn_t *c)
{
    ssize_t  n;

    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 32768;
            c->in = realloc(c->in, c->in_cap);
            if (c->in == NULL) die("realloc");
        }

        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0) {
            conn_close(c, "eof", 0);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN) return;
            conn_close(c, errno == ECONNRESET ? "reset_by_server" : "read_error", 0);
            return;
        }
        c->in_len += n;

        if (c->plan->proto == P_WS && c->state > ST_WAIT101) {
            if (parse_frames(c) < 0) return;
        } else if (c->state >= ST_HEAD || c->plan->proto != P_WS) {
            if (parse_http(c) < 0) return;
        }
        if (c->in_len > (8u << 20)) {   /* nothing parses: give up */
            conn_close(c, "garbage", 0);
            return;
        }
    }
}


/* slowloris: one byte per connection every drip interval */

static void
tick(uint64_t now)
{
    unsigned  i;
    conn_t   *c;
    ssize_t   n;

    for (i = 0; i < A.nconns; i++) {
        c = &A.conns[i];

        if (c->state == ST_IDLE) {
            if (c->wake <= now && A.in_handshake < A.conc && !stop) {
                conn_open(c);
            }
            continue;
        }

        if (c->plan->proto == P_SLOW && c->state == ST_HEAD && c->wake <= now)
        {
            if (c->out_pos >= c->out_len) {
                c->out_pos = c->out_len / 2;    /* headers forever */
            }
            n = write(c->fd, c->out + c->out_pos, 1);
            if (n == 1) {
                c->out_pos++;
                A.bytes_out++;
                stat_add("slow:sent_bytes", 1);
            }
            c->wake = now + (uint64_t) A.drip_ms * 1000000;
        }
    }
}


static void
on_signal(int s)
{
    (void) s;
    stop = 1;
}


static void
usage(void)
{
    fprintf(stderr,
        "usage: abuse --scenario S --secret FILE [--host 127.0.0.1] "
        "[--port 8080]\n"
        "             [--conns N] [--seconds S] [--min-seconds S] "
        "[--src-addrs N]\n"
        "             [--conc N] [--room R] [--probe-room R] "
        "[--user-prefix P]\n"
        "             [--drip-ms MS] [--ready-file F] [--plan NAME]\n"
        "scenarios: slowloris unauth ping fragments nonreader rest-reset "
        "oversize bombs\n"
        "           flood-{send,history,join,typing,presence,read,edit,"
        "ping,junk}\n"
        "           flood-rest-{rooms,history,send,search}\n"
        "--plan NAME runs one of the scenario's plans alone (the names "
        "prefix the\ncounts).  Runs until SIGTERM or --seconds (not before --min-seconds), then "
        "prints\none ATTACK line: key=count for what was sent and "
        "received.\n");
}


int
main(int argc, char **argv)
{
    int                 i, n, fd;
    unsigned            k, left;
    struct epoll_event  evs[512];
    struct rlimit       rl;
    uint64_t            t0, now, next_tick = 0;
    conn_t             *c;
    int                 ready = 0;
    FILE               *fp;

    A.host = "127.0.0.1";
    A.port = 8080;
    A.nsrc = 16;
    A.conc = 500;
    A.seconds = 120;
    A.room = "abuse-flood";
    A.probe_room = "abprobe-c0";
    A.prefix = "abuse";
    A.drip_ms = 1000;

    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage();
            return 0;
        }
        if (v == NULL) { usage(); return 2; }
        i++;
        if (strcmp(o, "--scenario") == 0) A.scenario = v;
        else if (strcmp(o, "--host") == 0) A.host = v;
        else if (strcmp(o, "--port") == 0) A.port = atoi(v);
        else if (strcmp(o, "--secret") == 0) A.secret_file = v;
        else if (strcmp(o, "--conns") == 0) A.nconns = atoi(v);
        else if (strcmp(o, "--seconds") == 0) A.seconds = atof(v);
        else if (strcmp(o, "--min-seconds") == 0) A.min_seconds = atof(v);
        else if (strcmp(o, "--src-addrs") == 0) A.nsrc = atoi(v);
        else if (strcmp(o, "--conc") == 0) A.conc = atoi(v);
        else if (strcmp(o, "--room") == 0) A.room = v;
        else if (strcmp(o, "--probe-room") == 0) A.probe_room = v;
        else if (strcmp(o, "--user-prefix") == 0) A.prefix = v;
        else if (strcmp(o, "--drip-ms") == 0) A.drip_ms = atoi(v);
        else if (strcmp(o, "--ready-file") == 0) A.ready_file = v;
        else if (strcmp(o, "--plan") == 0) A.only = v;
        else { usage(); return 2; }
    }

    if (A.scenario == NULL || A.secret_file == NULL || A.nsrc == 0
        || A.drip_ms == 0)
    {
        usage();
        return 2;
    }

    fd = open(A.secret_file, O_RDONLY);
    if (fd < 0) die(A.secret_file);
    n = read(fd, A.secret, sizeof(A.secret));
    close(fd);
    if (n <= 0) die("read secret");
    while (n > 0 && (A.secret[n - 1] == '\n' || A.secret[n - 1] == '\r')) n--;
    A.secret_len = n;

    if (setup() != 0) {
        fprintf(stderr, "abuse: unknown scenario %s\n", A.scenario);
        usage();
        return 2;
    }

    /* --plan: one of the scenario's plans alone, to tell them apart */
    if (A.only) {
        for (k = 0; k < A.nplans && strcmp(A.plans[k].name, A.only); k++) {
            /* void */
        }
        if (k == A.nplans) {
            fprintf(stderr, "abuse: %s has no plan %s\n", A.scenario, A.only);
            return 2;
        }
        A.plans[0] = A.plans[k];
        A.plans[0].count = 0;
        A.nplans = 1;
    }

    /* room for every connection, and its reconnect */
    rl.rlim_cur = rl.rlim_max = A.nconns + 256;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < A.nconns + 64) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    A.ep = epoll_create1(0);
    if (A.ep < 0) die("epoll_create1");

    A.conns = calloc(A.nconns, sizeof(conn_t));
    if (A.conns == NULL) die("calloc");

    left = A.plans[0].count ? A.plans[0].count : 0;
    for (k = 0; k < A.nconns; k++) {
        c = &A.conns[k];
        c->fd = -1;
        c->idx = k;
        if (left) {
            c->plan = &A.plans[0];
            left--;
        } else if (A.plans[0].count) {
            c->plan = &A.plans[1 + (k - A.plans[0].count) % (A.nplans - 1)];
        } else {
            c->plan = &A.plans[k % A.nplans];
        }
    }

    t0 = now_ns();

    for (;;) {
        now = now_ns();
        if (now >= next_tick) {
            tick(now);
            next_tick = now + 20000000;
        }

        if (!ready && (A.ever >= A.nconns || now - t0 > 15000000000ull)) {
            ready = 1;
            fprintf(stderr, "abuse: %s: %u of %u connections at work after "
                    "%.1f s\n", A.scenario, A.active, A.nconns,
                    (now - t0) / 1e9);
            if (A.ready_file && (fp = fopen(A.ready_file, "w"))) {
                fprintf(fp, "%u\n", A.active);
                fclose(fp);
            }
        }

        if ((stop && now - t0 >= A.min_seconds * 1e9)
            || now - t0 >= A.seconds * 1e9)
        {
            break;
        }

        n = epoll_wait(A.ep, evs, 512, 10);
        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->in_on || c->state == ST_CONNECTING) {
                    on_read(c);
                } else if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                    conn_close(c, "hangup", 0);
                }
            }
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) {
                on_write(c);
            }
        }
    }

    printf("ATTACK scenario=%s conns=%u at_work=%u opened=%llu "
           "connect_failed=%llu bytes_out=%llu seconds=%.1f",
           A.scenario, A.nconns, A.active, (unsigned long long) A.opened,
           (unsigned long long) A.connect_fail,
           (unsigned long long) A.bytes_out, (now_ns() - t0) / 1e9);
    for (k = 0; k < A.nstats; k++) {
        printf(" %s=%llu", A.stats[k].key, (unsigned long long) A.stats[k].n);
    }
    printf("\n");

    return 0;
}
