/*
 * limit: what this machine itself can do for a WebSocket fanout, as a
 * baseline for ngx_chat.  Only the syscalls a fanout cannot avoid: accept,
 * one read per incoming frame batch, one write per recipient.  No parsing
 * beyond the WebSocket framing, no JSON, no storage, no authentication.
 *
 * One room with everyone in it: every complete text frame a client sends
 * is re-framed once (unmasked) and sent to every upgraded connection of
 * the same process, the sender's included.  Frames that arrive in one read
 * go out together, in one write per recipient.
 *
 * Workers: --workers N processes are forked (default 2, as nginx's two
 * workers here), and the processes share nothing: no broker, no shared
 * memory, no relay.  So that a message still reaches everyone, worker k
 * listens on its own port, PORT + k, instead of sharing one port with
 * SO_REUSEPORT (where a client cannot choose its worker).  The load
 * generator spreads its subscribers round-robin over the ports and sends
 * each message once per port, over one sender connection per port
 * ("chat-bench --scenario fanout --proto limit --port PORT --ports N").
 * The N sends per message are a cost paid by the generator, not here.
 *
 * --hold-ms MS (default 0: off) holds the frames received for up to MS
 * milliseconds and fans them out together, one write per connection: a
 * lower bound for a server that batches its deliveries (ngx_chat delivers
 * what one PostgreSQL group commit acknowledged together), at the cost of
 * up to MS of latency.
 *
 * A slow reader is dropped when its unsent output passes 1 MiB.  Nothing
 * is printed per message.  SIGTERM or SIGINT to the parent stops the
 * workers and then the parent; a worker exits when the parent dies.
 *
 * Usage: limit [--port PORT] [--workers N] [--hold-ms MS]   (18990, 2, 0)
 *
 * Build: make -C bench peers/limit (with lib/ws.c)
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/ws.h"


#define LM_OUT_MAX      (1024 * 1024)   /* unsent output: drop beyond */
#define LM_FRAME_MAX    (1024 * 1024)   /* incoming frame payload */
#define LM_HTTP_MAX     8192
#define LM_RBUF_SIZE    65536
#define LM_MAX_EVENTS   512
#define LM_MAX_WORKERS  64


typedef struct {
    int                 fd;
    int                 idx;            /* in lm_all, -1 before upgrade */
    unsigned            want_out:1;
    unsigned            closed:1;

    u_char             *in;             /* unparsed input */
    size_t              in_len;
    size_t              in_cap;

    ws_out_t            out;            /* unsent output */
} lm_conn_t;


static int          lm_ep;
static u_char       lm_rbuf[LM_RBUF_SIZE];

static lm_conn_t  **lm_all;             /* upgraded connections: the room */
static int          lm_nall;
static int          lm_all_cap;

static lm_conn_t  **lm_dead;            /* freed after the event batch */
static int          lm_ndead;
static int          lm_dead_cap;

static u_char      *lm_batch;           /* frames to fan out, unmasked */
static size_t       lm_batch_len;
static size_t       lm_batch_cap;

static int          lm_hold_ms;         /* 0: fan out at once */
static int64_t      lm_batch_due;       /* ms; 0: nothing held */

static volatile sig_atomic_t  lm_stop;


static void lm_close(lm_conn_t *c);


static int64_t
lm_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
lm_grow(u_char **buf, size_t *cap, size_t need)
{
    if (ws_grow(buf, cap, need) == -1) {
        fprintf(stderr, "limit: out of memory\n");
        exit(1);
    }
}


static void
lm_push(lm_conn_t ***arr, int *n, int *cap, lm_conn_t *c)
{
    lm_conn_t  **p;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        p = realloc(*arr, *cap * sizeof(lm_conn_t *));
        if (p == NULL) {
            fprintf(stderr, "limit: out of memory\n");
            exit(1);
        }
        *arr = p;
    }

    (*arr)[(*n)++] = c;
}


static void
lm_want_out(lm_conn_t *c, int on)
{
    if (c->want_out == (unsigned) on) {
        return;
    }

    ws_want_out(lm_ep, c->fd, c, on);
    c->want_out = on;
}


/*
 * One write if nothing is queued (write, not send: it is counted in
 * /proc/PID/io syscw, as nginx's writes are); the rest is queued; more
 * than 1 MiB queued: drop.  SIGPIPE is ignored.
 */

static void
lm_write(lm_conn_t *c, const u_char *p, size_t len)
{
    ssize_t  rc;

    if (c->closed) {
        return;
    }

    rc = ws_out_write(&c->out, c->fd, p, len, LM_OUT_MAX);

    if (rc == -3) {
        fprintf(stderr, "limit: out of memory\n");
        exit(1);
    }

    if (rc < 0) {
        lm_close(c);
        return;
    }

    if (ws_out_pending(&c->out)) {
        lm_want_out(c, 1);
    }
}


static void
lm_flush(lm_conn_t *c)
{
    if (ws_out_flush(&c->out, c->fd) == -1) {
        lm_close(c);
        return;
    }

    if (ws_out_pending(&c->out) == 0) {
        lm_want_out(c, 0);
    }
}


/* everyone, the sender included; last to first, as lm_close() swaps */

static void
lm_fanout(void)
{
    int  i;

    for (i = lm_nall - 1; i >= 0; i--) {
        if (i < lm_nall) {
            lm_write(lm_all[i], lm_batch, lm_batch_len);
        }
    }

    lm_batch_len = 0;
}


static void
lm_close(lm_conn_t *c)
{
    if (c->closed) {
        return;
    }

    if (c->idx >= 0) {
        lm_all[c->idx] = lm_all[--lm_nall];
        lm_all[c->idx]->idx = c->idx;
        c->idx = -1;
    }

    close(c->fd);
    c->fd = -1;
    c->closed = 1;

    lm_push(&lm_dead, &lm_ndead, &lm_dead_cap, c);
}


static void
lm_reap(void)
{
    lm_conn_t  *c;

    while (lm_ndead) {
        c = lm_dead[--lm_ndead];
        free(c->in);
        ws_out_free(&c->out);
        free(c);
    }
}


/* the upgrade: any request with a Sec-WebSocket-Key gets its 101 */

static ssize_t
lm_handshake(lm_conn_t *c, u_char *buf, size_t len)
{
    int            n;
    char           resp[256];
    size_t         klen;
    const u_char  *eoh, *key;

    eoh = memmem(buf, len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return len > LM_HTTP_MAX ? -1 : 0;
    }

    key = ws_http_header(buf, eoh, "Sec-WebSocket-Key:", &klen);

    n = ws_upgrade_response(resp, sizeof(resp), key, klen);
    if (n == -1) {
        return -1;
    }

    lm_write(c, (u_char *) resp, n);
    if (c->closed) {
        return -1;
    }

    c->idx = lm_nall;
    lm_push(&lm_all, &lm_nall, &lm_all_cap, c);

    return eoh + 4 - buf;
}


/*
 * Complete frames in buf: text frames are unmasked into lm_batch behind a
 * server frame header; a close frame closes.  Returns the bytes consumed,
 * or -1 to close (after the frames before it went out).
 */

static ssize_t
lm_frames(u_char *buf, size_t len)
{
    size_t      h;
    u_char     *p, *end, *pl, *d;
    ws_frame_t  f;

    p = buf;
    end = buf + len;

    while (ws_frame_parse(p, end - p, &f)) {
        if (f.len > LM_FRAME_MAX) {
            return -1;
        }

        if ((uint64_t) (end - p) < f.hlen + f.len) {
            break;
        }

        pl = p + f.hlen;
        p += f.hlen + f.len;

        if (f.op == 0x8) {
            return -1;
        }

        if (f.op != 0x1 || !f.fin) {
            continue;                    /* pings, binary, fragments */
        }

        lm_grow(&lm_batch, &lm_batch_cap, lm_batch_len + 10 + f.len);
        d = lm_batch + lm_batch_len;

        h = ws_frame_header(d, 0x1, f.len, NULL);

        if (f.masked) {
            ws_mask(d + h, pl, f.len, f.mask);

        } else {
            memcpy(d + h, pl, f.len);
        }

        lm_batch_len += h + f.len;
    }

    return p - buf;
}


static void
lm_read(lm_conn_t *c)
{
    u_char   *buf;
    size_t    len, cap;
    ssize_t   n, used, u;

    if (c->in_len == 0) {
        buf = lm_rbuf;
        cap = LM_RBUF_SIZE;
        len = 0;

    } else {
        lm_grow(&c->in, &c->in_cap, c->in_len + LM_RBUF_SIZE);
        buf = c->in;
        cap = c->in_cap;
        len = c->in_len;
    }

    n = read(c->fd, buf + len, cap - len);

    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR) {
            lm_close(c);
        }
        return;
    }

    if (n == 0) {
        lm_close(c);
        return;
    }

    len += n;
    used = 0;

    if (c->idx == -1) {
        used = lm_handshake(c, buf, len);
        if (used == -1) {
            lm_close(c);
            return;
        }
        if (used == 0) {
            goto keep;
        }
    }

    u = lm_frames(buf + used, len - used);

    if (lm_batch_len) {
        if (lm_hold_ms == 0) {
            lm_fanout();                 /* may close c: c stays allocated */

        } else if (lm_batch_due == 0) {
            lm_batch_due = lm_now_ms() + lm_hold_ms;
        }
    }

    if (u == -1 || c->closed) {
        lm_close(c);
        return;
    }

    used += u;

keep:

    if (ws_keep_rest(&c->in, &c->in_len, &c->in_cap, buf, len, used) == -1) {
        fprintf(stderr, "limit: out of memory\n");
        exit(1);
    }
}


static void
lm_accept(int lfd)
{
    int                 fd, one;
    lm_conn_t          *c;
    struct epoll_event  ev;

    one = 1;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN) {
                fprintf(stderr, "limit: accept4: %s\n", strerror(errno));
            }
            return;
        }

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c = calloc(1, sizeof(lm_conn_t));
        if (c == NULL) {
            close(fd);
            continue;
        }

        c->fd = fd;
        c->idx = -1;

        ev.events = EPOLLIN;
        ev.data.ptr = c;

        if (epoll_ctl(lm_ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
            close(fd);
            free(c);
        }
    }
}


static void
lm_worker(int lfd, int port)
{
    int                 i, n, timeout;
    int64_t             now;
    lm_conn_t          *c;
    struct epoll_event  ev, events[LM_MAX_EVENTS];

    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    lm_ep = epoll_create1(EPOLL_CLOEXEC);
    if (lm_ep == -1) {
        fprintf(stderr, "limit: epoll_create1: %s\n", strerror(errno));
        exit(1);
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(lm_ep, EPOLL_CTL_ADD, lfd, &ev);

    fprintf(stderr, "limit: worker %d listening on 127.0.0.1:%d\n",
            (int) getpid(), port);

    for ( ;; ) {
        timeout = -1;

        if (lm_batch_due) {
            now = lm_now_ms();
            timeout = (lm_batch_due > now) ? (int) (lm_batch_due - now) : 0;
        }

        n = epoll_wait(lm_ep, events, LM_MAX_EVENTS, timeout);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "limit: epoll_wait: %s\n", strerror(errno));
            exit(1);
        }

        for (i = 0; i < n; i++) {
            c = events[i].data.ptr;

            if (c == NULL) {
                lm_accept(lfd);
                continue;
            }

            if (c->closed) {
                continue;
            }

            if (events[i].events & EPOLLOUT) {
                lm_flush(c);
                if (c->closed) {
                    continue;
                }
            }

            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                lm_read(c);
            }
        }

        if (lm_batch_due && lm_now_ms() >= lm_batch_due) {
            lm_batch_due = 0;
            lm_fanout();
        }

        lm_reap();
    }
}


static void
lm_on_signal(int signo)
{
    (void) signo;
    lm_stop = 1;
}


static void
lm_usage(void)
{
    fprintf(stderr,
"usage: limit [--port PORT] [--workers N] [--hold-ms MS]\n"
"  --port PORT     first port: worker k listens on 127.0.0.1:PORT+k (18990)\n"
"  --workers N     worker processes (2)\n"
"  --hold-ms MS    fan out what arrived within MS ms together (0: at once)\n"
);
}


/* 0: go on, else the exit code (help, a bad option) */

static int
lm_options(int argc, char **argv, int *port, int *nworkers)
{
    int                  ch;
    char                *end;
    long                 v;
    static struct option opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "workers", required_argument, NULL, 'w' },
        { "hold-ms", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
        case 'w':
        case 'H':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end != '\0' || v < (ch != 'H')
                || v > (ch == 'p' ? 65535 : ch == 'w' ? LM_MAX_WORKERS
                                                      : 10000))
            {
                fprintf(stderr, "limit: bad value \"%s\"\n", optarg);
                return 2;
            }
            if (ch == 'p') {
                *port = (int) v;
            } else if (ch == 'w') {
                *nworkers = (int) v;
            } else {
                lm_hold_ms = (int) v;
            }
            break;
        case 'h':
            lm_usage();
            return -1;
        default:
            lm_usage();
            return 2;
        }
    }

    if (optind != argc || *port + *nworkers - 1 > 65535) {
        lm_usage();
        return 2;
    }

    return 0;
}


/* the listeners first: a port in use fails here, before any fork */

static int
lm_listen(int *lfd, int port, int nworkers)
{
    int                 k, one;
    struct sockaddr_in  sin;

    one = 1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    for (k = 0; k < nworkers; k++) {
        lfd[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
        if (lfd[k] == -1) {
            fprintf(stderr, "limit: socket: %s\n", strerror(errno));
            return -1;
        }

        setsockopt(lfd[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sin.sin_port = htons(port + k);

        if (bind(lfd[k], (struct sockaddr *) &sin, sizeof(sin)) == -1
            || listen(lfd[k], 4096) == -1)
        {
            fprintf(stderr, "limit: 127.0.0.1:%d: %s\n", port + k,
                    strerror(errno));
            return -1;
        }
    }

    return 0;
}


/* wait for a signal or for a worker to die, then stop the others */

static int
lm_supervise(pid_t *pids, int nworkers)
{
    int    k, rc, left, status;
    pid_t  pid;

    rc = 0;
    left = nworkers;

    while (left > 0 && !lm_stop) {
        pid = waitpid(-1, &status, 0);

        if (pid == -1) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }

        for (k = 0; k < nworkers; k++) {
            if (pids[k] == pid) {
                pids[k] = 0;
                left--;
                fprintf(stderr, "limit: worker %d exited unexpectedly\n",
                        (int) pid);
                rc = 1;
                lm_stop = 1;
            }
        }
    }

    for (k = 0; k < nworkers; k++) {
        if (pids[k] > 0) {
            kill(pids[k], SIGTERM);
        }
    }

    for (k = 0; k < nworkers; k++) {
        if (pids[k] > 0) {
            while (waitpid(pids[k], &status, 0) == -1 && errno == EINTR) {
                /* void */
            }
        }
    }

    return rc;
}


int
main(int argc, char **argv)
{
    int                  i, k, port, nworkers, rc;
    int                  lfd[LM_MAX_WORKERS];
    pid_t                pid, pids[LM_MAX_WORKERS];
    struct rlimit        rl;
    struct sigaction     sa;

    port = 18990;
    nworkers = 2;

    rc = lm_options(argc, argv, &port, &nworkers);
    if (rc) {
        return rc == -1 ? 0 : rc;
    }

    /* as many open files as the hard limit allows */

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    signal(SIGPIPE, SIG_IGN);

    if (lm_listen(lfd, port, nworkers) == -1) {
        return 1;
    }

    getrlimit(RLIMIT_NOFILE, &rl);
    fprintf(stderr, "limit: master %d, %d worker(s) on 127.0.0.1:%d-%d, "
            "hold %d ms, RLIMIT_NOFILE %llu\n", (int) getpid(), nworkers,
            port, port + nworkers - 1, lm_hold_ms,
            (unsigned long long) rl.rlim_cur);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lm_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (k = 0; k < nworkers; k++) {
        pid = fork();

        if (pid == -1) {
            fprintf(stderr, "limit: fork: %s\n", strerror(errno));
            lm_stop = 1;
            nworkers = k;
            break;
        }

        if (pid == 0) {
            for (i = 0; i < nworkers; i++) {
                if (i != k) {
                    close(lfd[i]);
                }
            }
            lm_worker(lfd[k], port + k);
            _exit(0);
        }

        pids[k] = pid;
    }

    for (k = 0; k < nworkers; k++) {
        close(lfd[k]);
    }

    rc = lm_supervise(pids, nworkers);

    fprintf(stderr, "limit: stopped\n");

    return rc;
}
