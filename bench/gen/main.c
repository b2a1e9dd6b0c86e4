/*
 * chat-bench: WebSocket load generator for ngx_chat.
 *
 * Single-threaded, epoll, non-blocking.  Opens N WebSocket clients to
 * ws://HOST:PORT/PATH (loopback only), authenticates each with an HS256 JWT
 * signed in-process, joins rooms and then either sends messages at a fixed
 * rate (scenarios "fanout", "rooms" and "chat") or just holds the
 * connections ("idle") to measure the server's memory per connection, or
 * only opens them as fast as the server takes them ("connect").
 *
 * Scenarios:
 *   fanout   one room of --subs subscribers and --senders senders
 *   rooms    --rooms rooms of 2, one sender each
 *   chat     --pairs rooms of 2 over 2 x pairs connections, plus --groups
 *            rooms of --group-size taken from the same connections
 *            (connection k is in group k / size for k < groups x size);
 *            everyone sends, to its rooms in turn
 *   idle     --conns connections in rooms of 2, held: memory per
 *            connection, and server CPU while idle over --duration
 *   connect  --conns connections in rooms of 2, opened, authenticated and
 *            joined with --conc handshakes in flight, then closed: the
 *            rate and the time each took (connect -> joined)
 *   reload   the soak's chat at 200 msgs/s with no churn and an "nginx -s
 *            reload" (--reload-pid) after --reload-after s: the reconnect
 *            rate over time, until every closed connection is back
 *            (reload.c)
 *   soak     chat (--pairs 5000 --groups 10, 500 msgs/s) held for
 *            --duration: what the server closes reconnects after a
 *            jittered backoff, --churn connections a second close
 *            themselves and reconnect, and every --interval seconds a line
 *            "INTERVAL ..." gives that interval's counts (soak.c)
 *
 * Stepped rates (--rates R1,R2,...; fanout, rooms, chat): the connections
 * are set up once, then each rate in turn is warmed up (--warmup), measured
 * (--duration) and drained (--drain: the acks and deliveries of that step;
 * whatever of it comes later is counted as late, never in the next step),
 * and reported in its own block and RESULT line (step=, rates=, stopped=).
 * The steps stop after the first whose p99 latency passes --stop-p99-ms,
 * whose deliveries trail the offered load (behind=1) or that lost messages.
 *
 * Output: a human-readable block and one line "RESULT key=value ..." per
 * run (per step with --rates): scenario conns ready failed conn_rate
 * open_at_end, [proto ports nchan_echo], with --rates step rates stopped
 * late, chat: pairs groups group_size; then fanout, rooms, chat: rate
 * window_s sent sent_per_s acked_per_s deliveries deliveries_per_s backlog
 * send_errors lost unacked members behind lat_p50_us lat_p90_us lat_p99_us
 * lat_p999_us [rx_p50_us rx_p90_us rx_p99_us rx_p999_us, with --rx-stamp]
 * lat_max_us ack_p50_us ack_p99_us gen_cpu_s gen_wall_s
 * gen_saturated [srv_cpu_s srv_us_per_delivery, chat: srv_us_per_send]
 * [machine_busy_cores other_cores]; idle: [rss_kb rss_kb_per_conn] sock_kb
 * sock_kb_per_conn [srv_cpu_s cpu_idle_pct, with --duration]; connect:
 * conn_p50_us conn_p90_us conn_p99_us conn_max_us [srv_cpu_s
 * srv_us_per_conn srv_detail: from the first connect to the last joined,
 * before any is closed; srv_busy: srv_cpu_s per second of it;
 * srv_cores srv_cores_idle_pct: the first --master-pid's CPUs and their
 * idle share then] [up_p50_us up_p99_us join_p50_us join_p99_us:
 * connect -> welcome, welcome -> joined, ngx_chat and sio]; last errors
 * closes.
 * Keys in [] need --pids or --master-pid, or the proto, or /proc/stat.
 *
 * RLIMIT_NOFILE: the soft limit is raised to the hard one (and past it
 * where allowed).  If one process still may not hold every connection,
 * idle and connect spread them over forked helper processes, which report
 * their setup to the parent and hold their connections until it ends (the
 * other scenarios stop with a message).
 *
 * Message bodies are "<t> <seq> <padding>", t being CLOCK_MONOTONIC in ns at
 * send time; every receiver computes latency = now - t.
 *
 * --proto limit (fanout, idle, connect) drives bench/peers/limit, the
 * syscalls-only baseline: no token, no welcome, no join (idle and connect:
 * the upgrade only, connections round-robin over the ports).  It has no
 * rooms, hence no chat scenario.  Its worker k listens on
 * PORT + k (--ports N); the subscribers are spread round-robin over the
 * ports and each message goes out once per port, over one sender
 * connection per port, as the very text of an ngx_chat "message" event,
 * which limit sends back verbatim to everyone on that port: the receive
 * path is the same as with ngx_chat.  A sender's own copy stands for the
 * "ok" of ngx_chat (the ack).
 *
 * --proto nchan drives the nchan peer (bench/peers/nchan, default port
 * 18980): subscribers open ws://HOST:PORT/sub/<room> and are subscribed
 * once upgraded (no auth, no welcome, no join); senders publish over a
 * WebSocket to /pub/<room>, one text frame per message, holding the very
 * text of an ngx_chat "message" event, which nchan delivers verbatim: the
 * receive path is the same as with ngx_chat.  nchan answers each publish
 * with one channel-info text frame, in order: that is the send's ack.  A
 * publisher is not a subscriber and gets no copy, so it is not counted as
 * a member (rooms: 1 delivery per message, fanout: --subs).  In the chat
 * scenario each room has its publisher connection, which sends for all its
 * members, and a member of two rooms subscribes to both over one WebSocket
 * with nchan's channel multiplexing, /subm/<room1>/<room2>, a location the
 * peer's nginx.conf must have:
 *     location ~ ^/subm/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$ {
 *         nchan_subscriber websocket; nchan_channel_id $1 $2; ... }
 * A member thus gets its own messages back, as with ngx_chat and sio.
 *
 * --proto sio drives the Socket.IO 4 peer (bench/peers/socketio, default
 * port 18970) over a raw WebSocket to /socket.io/?EIO=4&transport=websocket:
 * open packet "0{...}", "40" -> "40{...}", 42<n>["join","<room>"] ->
 * 43<n>[{"ok":true,...}], 42<n>["send",{"room":...,"body":...}] ->
 * 43<n>[{"ok":true,...}] (the ack); deliveries are 42["message",{...,
 * "body":...}] to every member, the sender included; "2" is answered "3".
 *
 * Files (bench/gen/): main.c the run, options.c the command line,
 * scenario.c the scenarios and their phases, soak.c what the soak adds to
 * chat, reload.c what the reload adds to the soak, conn.c a connection,
 * text.c
 * what the servers send, peer_*.c one table of functions per --proto
 * (peer.c what they share), measure.c histograms and /proc, kids.c the
 * helper processes, report.c the report; bench/lib/ the WebSocket, HS256
 * and JSON code shared with echo-fanout and peers/limit.
 *
 * Build: make -C bench chat-bench
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"


cb_bench_t              B;
volatile sig_atomic_t   cb_interrupted;

/* xorshift64*: masks and handshake keys need no cryptographic strength */
static uint64_t         cb_rng = 0x9e3779b97f4a7c15ULL;


static void cb_on_signal(int signo);
static void cb_init(int argc, char **argv);
static void cb_target(void);
static void cb_run(void);
static int cb_setup_step(int64_t now, int64_t deadline);
static void cb_setup_base(int64_t now);
static int cb_setup_done(int64_t now);
static int cb_drain_step(int64_t now);
static void cb_poll(void);


int64_t
cb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * CB_SEC + ts.tv_nsec;
}


void
cb_die(const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "chat-bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}


static void
cb_on_signal(int signo)
{
    (void) signo;
    cb_interrupted = 1;
}


uint64_t
cb_rand(void)
{
    cb_rng ^= cb_rng >> 12;
    cb_rng ^= cb_rng << 25;
    cb_rng ^= cb_rng >> 27;

    return cb_rng * 0x2545f4914f6cdd1dULL;
}


int
main(int argc, char **argv)
{
    int  rc;

    cb_init(argc, argv);
    cb_run();

    if (B.is_kid) {
        cb_close_all();
        _exit(1);
    }

    if (B.ru1.ru_utime.tv_sec == 0 && B.ru1.ru_utime.tv_usec == 0) {
        getrusage(RUSAGE_SELF, &B.ru1);
    }

    /* not an unmeasured step after reported ones (interrupted) */
    if (!B.reported && (B.step == 0 || B.phase != CB_PH_WARMUP)) {
        cb_report();
    }

    if (B.reload) {
        cb_reload_report();
    }

    rc = (B.ready_setup == 0) ? 1 : 0;

    cb_close_all();
    cb_kids_end();

    return rc;
}


static void
cb_init(int argc, char **argv)
{
    int                  i;
    struct sigaction     sa;
    struct epoll_event   ev;

    cb_parse_args(argc, argv);
    cb_target();

    cb_setup_conns();
    cb_procs_init();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cb_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* "before" samples: memory for idle, CPU for connect */
    cb_procs_sample(B.scenario == CB_SC_CONNECT ? 0 : -1, 0);
    if (B.scenario == CB_SC_CONNECT) {
        cb_srv_cores_sample(0);
    }
    B.sock_pages0 = cb_sockstat_pages();

    B.t_start = cb_now();

    cb_spread();                         /* may fork helpers */

    cb_rng ^= (uint64_t) cb_now() ^ ((uint64_t) getpid() << 32);

    B.rbuf = malloc(CB_RBUF_SIZE);
    B.ep = epoll_create1(EPOLL_CLOEXEC);
    if (B.rbuf == NULL || B.ep == -1) {
        cb_die("init failed: %s", strerror(errno));
    }

    for (i = 0; i < B.nkids; i++) {
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = &B.kids[i];
        if (epoll_ctl(B.ep, EPOLL_CTL_ADD, B.kids[i].fd, &ev) == -1) {
            cb_die("epoll_ctl: %s", strerror(errno));
        }
    }

    B.next_connect = B.conn_lo;

    if (!B.is_kid) {
        fprintf(stderr, "chat-bench: %s: %u connections to %s:%d%s%s\n",
                argv[0], B.n, B.host, B.port, B.path, B.peer->banner());
    }
}


/* the server's address: loopback only */

static void
cb_target(void)
{
    memset(&B.dst, 0, sizeof(B.dst));
    B.dst.sin_family = AF_INET;
    B.dst.sin_port = htons(B.port);

    if (strcmp(B.host, "localhost") == 0) {
        B.host = "127.0.0.1";
    }

    if (inet_pton(AF_INET, B.host, &B.dst.sin_addr) != 1) {
        cb_die("--host must be an IPv4 address: \"%s\"", B.host);
    }

    if ((ntohl(B.dst.sin_addr.s_addr) >> 24) != 127) {
        cb_die("--host must be in 127.0.0.0/8 (loopback only)");
    }
}


/* the event loop, phase by phase, until the run is done or interrupted */

static void
cb_run(void)
{
    int64_t  now, deadline;

    deadline = B.t_start + (int64_t) (B.setup_timeout * CB_SEC);

    for ( ;; ) {
        now = cb_now();

        if (cb_interrupted) {
            if (B.is_kid) {
                cb_close_all();
                _exit(1);
            }
            fprintf(stderr, "chat-bench: interrupted\n");
            if (B.phase == CB_PH_MEASURE) {
                cb_window(1, now);
            }
            return;
        }

        /* phase transitions */

        if (B.phase == CB_PH_SETUP) {
            switch (cb_setup_step(now, deadline)) {
            case -1:
                return;
            case 1:
                continue;
            }

        } else if (B.phase == CB_PH_WARMUP && now >= B.t_meas_start) {
            cb_window(0, now);

        } else if (B.phase == CB_PH_MEASURE && now >= B.t_meas_end) {
            cb_window(1, now);

        } else if (B.phase == CB_PH_DRAIN) {
            switch (cb_drain_step(now)) {
            case -1:
                return;
            case 1:
                continue;
            }
        }

        cb_tick(now);
        if (B.soak) {
            cb_soak_tick(now);
        }
        if (B.reload) {
            cb_reload_tick(now);
        }
        cb_progress(now);
        cb_poll();
    }
}


/*
 * setup: connect, at most --conc in flight, until every connection is
 * ready or failed; -1: the run is over, 1: the first step began at once
 */

static int
cb_setup_step(int64_t now, int64_t deadline)
{
    int         rc;
    uint32_t    hi;
    cb_conn_t  *c;

    hi = B.conn_hi;

    if (B.base_conns && !B.base_done) {
        if (B.conn_hi - B.conn_lo > B.base_conns) {
            hi = B.conn_lo + B.base_conns;
        }

        if (B.ready + B.setup_failed == hi - B.conn_lo) {
            cb_setup_base(now);
        }
    }

    while (B.next_connect < hi && B.inflight < B.conc) {
        c = &B.c[B.next_connect];
        rc = cb_connect(c, B.next_connect);
        B.next_connect++;
        B.inflight++;
        if (rc < 0) {
            B.connect_errno[-rc < 256 ? -rc : 255]++;
            B.setup_failed++;
            B.inflight--;
            c->state = CB_ST_CLOSED;
        }
    }

    /* parent: helpers' connections count once they report */
    if (B.ready + B.setup_failed == B.nexpect
        || now > deadline + B.base_pause + (B.nkids ? 2 * CB_SEC : 0))
    {
        return cb_setup_done(now);
    }

    return 0;
}


/*
 * idle, --base-conns: the parent's first K are set up (the helpers have
 * not begun); once they settled (--warmup, as the final sample waits),
 * the memory is sampled and every process connects the rest
 */

static void
cb_setup_base(int64_t now)
{
    if (B.t_base_ready == 0) {
        B.t_base_ready = now;
        return;
    }

    if (now < B.t_base_ready + (int64_t) (B.warmup * CB_SEC)) {
        return;
    }

    cb_procs_sample(-1, 2);
    B.ready_base = B.ready;
    B.base_done = 1;
    B.base_pause = now - B.t_start;

    fprintf(stderr, "chat-bench: base sample at %u connections held\n",
            B.ready_base);

    cb_kids_go();
}


static int
cb_setup_done(int64_t now)
{
    uint32_t    k;
    cb_conn_t  *c;

    for (k = 0; k < B.n; k++) {
        c = &B.c[k];
        if (c->state != CB_ST_READY && c->state != CB_ST_CLOSED) {
            cb_close(c, -1);             /* timed out */
        }
    }

    if (B.is_kid) {
        cb_kid_hold();                   /* no return */
    }

    cb_kids_give_up();

    B.t_setup_done = now;
    B.conn_rate_t = B.t_last_ready - B.t_start;
    B.ready_setup = B.ready;

    if (B.scenario == CB_SC_CONNECT) {
        /* the server's CPU for the storm, before anything is closed */
        cb_procs_sample(1, -1);
        cb_srv_cores_sample(1);
    }

    if (B.ready == 0 || B.scenario == CB_SC_CONNECT) {
        cb_phase(CB_PH_DONE, now);
        return -1;
    }

    cb_step_begin(now);

    return (B.warmup == 0) ? 1 : 0;
}


/* drain: the step's report once drained; -1: done, 1: the next step */

static int
cb_drain_step(int64_t now)
{
    if (B.scenario == CB_SC_IDLE) {
        cb_phase(CB_PH_DONE, now);
        return -1;
    }

    if (now < B.t_drain_end && !cb_step_drained()) {
        return 0;
    }

    cb_report();

    if (B.stopped || B.step + 1 == B.nrates) {
        cb_phase(CB_PH_DONE, now);
        return -1;
    }

    B.step++;
    cb_step_begin(now);

    return 1;
}


static void
cb_poll(void)
{
    int                 i, n, timeout;
    struct epoll_event  events[CB_MAX_EVENTS];

    timeout = (B.phase == CB_PH_SETUP) ? 10 : 1;

    n = epoll_wait(B.ep, events, CB_MAX_EVENTS, timeout);

    if (n == -1) {
        if (errno == EINTR) {
            return;
        }
        cb_die("epoll_wait: %s", strerror(errno));
    }

    for (i = 0; i < n; i++) {
        if ((cb_kid_t *) events[i].data.ptr >= B.kids
            && (cb_kid_t *) events[i].data.ptr < B.kids + CB_MAX_KIDS)
        {
            cb_kid_read(events[i].data.ptr);
        } else {
            cb_on_event(events[i].data.ptr, events[i].events);
        }
    }
}
