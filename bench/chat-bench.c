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
 * lat_p999_us lat_max_us ack_p50_us ack_p99_us gen_cpu_s gen_wall_s
 * gen_saturated [srv_cpu_s srv_us_per_delivery, chat: srv_us_per_send]
 * [machine_busy_cores other_cores]; idle: [rss_kb rss_kb_per_conn] sock_kb
 * sock_kb_per_conn [srv_cpu_s cpu_idle_pct, with --duration]; connect:
 * conn_p50_us conn_p90_us conn_p99_us conn_max_us; last errors closes.
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
 * Build: gcc -std=gnu99 -O2 -Wall -Wextra -Werror -o chat-bench \
 *            chat-bench.c -lcrypto
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>


#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif

#define CB_RBUF_SIZE      (256 * 1024)
#define CB_FRAME_MAX      (4 * 1024 * 1024)
#define CB_HTTP_MAX       8192
#define CB_ACK_RING       4096            /* sends in flight, a sender */
#define CB_ACK_RING_CHAT  256             /* chat: many slow senders */
#define CB_HIST_SIZE      4096
#define CB_MAX_EVENTS     1024
#define CB_MAX_PROCS      256
#define CB_MAX_GROUPS     8
#define CB_MAX_ERRCODES   32
#define CB_MAX_RATES      64
#define CB_MAX_KIDS       64
#define CB_FD_RESERVE     32              /* fds besides connections */
#define CB_JOIN_ID        1
#define CB_NO_ROOM        UINT32_MAX

#define CB_SEC            1000000000LL
#define CB_MS             1000000LL


typedef unsigned char  u_char;


enum {
    CB_SC_FANOUT = 1,
    CB_SC_ROOMS,
    CB_SC_IDLE,
    CB_SC_CHAT,
    CB_SC_CONNECT
};


enum {
    CB_PROTO_NGX_CHAT = 0,
    CB_PROTO_LIMIT,
    CB_PROTO_NCHAN,
    CB_PROTO_SIO
};


enum {
    CB_ST_FREE = 0,
    CB_ST_CONNECTING,
    CB_ST_HANDSHAKE,
    CB_ST_WELCOME,
    CB_ST_SIO_CONNECT,                  /* sio: "40" sent, awaiting "40{" */
    CB_ST_JOIN,
    CB_ST_READY,
    CB_ST_CLOSED
};


enum {
    CB_PH_SETUP = 0,
    CB_PH_WARMUP,
    CB_PH_MEASURE,
    CB_PH_DRAIN,
    CB_PH_DONE
};


typedef struct {
    uint64_t            counts[CB_HIST_SIZE];
    uint64_t            n;
    uint64_t            max;
    double              sum;
} cb_hist_t;


typedef struct {
    int64_t             sent;           /* CLOCK_MONOTONIC ns */
    uint32_t            id;             /* low 32 bits; 0: free */
    uint32_t            room;           /* where it was sent */
} cb_ack_t;


/* counters over the whole run; a step's are the difference to its start */

typedef struct {
    uint64_t            sent;
    uint64_t            backlog;        /* slots skipped: socket blocked */
    uint64_t            notready;       /* slots skipped: sender gone */
    uint64_t            acked;
    uint64_t            send_errors;
    uint64_t            expected;       /* deliveries due for acked sends */
    uint64_t            delivered;
    uint64_t            late;           /* acks, deliveries of a past step */
} cb_counts_t;


typedef struct {
    int                 fd;
    int                 state;
    uint32_t            user;
    uint32_t            room;
    uint32_t            room2;          /* chat: the group, or CB_NO_ROOM */
    unsigned            sender:1;       /* has an ack ring; nchan: /pub/ */
    unsigned            want_out:1;
    unsigned            in_frag:1;
    unsigned            counted:1;      /* counted in members[room(2)] */
    unsigned            joins:2;        /* join replies still due */
    unsigned            rr:1;           /* chat: the next send to room2 */

    int64_t             t_conn;         /* connect() called */

    u_char             *pend;           /* unparsed input */
    size_t              pend_len;
    size_t              pend_cap;

    u_char             *frag;           /* fragmented message assembly */
    size_t              frag_len;
    size_t              frag_cap;

    u_char             *out;            /* unsent output */
    size_t              out_pos;
    size_t              out_len;
    size_t              out_cap;

    uint64_t            next_id;        /* senders: next request id */
    uint64_t            ack_next;       /* nchan: oldest unanswered id */
    cb_ack_t           *ack_ring;       /* senders: send time by id */
} cb_conn_t;


typedef struct {
    int                 pid;
    int                 group;
    int                 gone;
    uint64_t            cpu0;           /* clock ticks */
    uint64_t            cpu1;
    uint64_t            rss0;           /* KiB */
    uint64_t            rss1;
} cb_proc_t;


typedef struct {
    char                label[64];
} cb_group_t;


typedef struct {
    char                name[32];
    uint64_t            count;
} cb_errcode_t;


/* idle, connect: a helper process holding connections lo..hi-1 */

typedef struct {
    int                 pid;
    int                 fd;             /* our end of its socketpair */
    uint32_t            lo;
    uint32_t            hi;
    size_t              got;            /* bytes of its report so far */
    u_char             *report;         /* its cb_bench_t; NULL: done */
} cb_kid_t;


typedef struct {
    /* options */
    const char         *host;
    int                 port;
    const char         *path;
    const char         *secret_file;
    const char         *room_prefix;
    const char         *user_prefix;
    int                 scenario;
    int                 proto;
    uint32_t            ports;          /* proto limit: PORT..PORT+N-1 */
    int                 nchan_echo;     /* a subscriber per publisher */
    uint32_t            subs;
    uint32_t            senders;
    uint32_t            rooms;
    uint32_t            conns;
    uint32_t            pairs;
    uint32_t            chat_groups;
    uint32_t            group_size;
    double              rate;           /* of the current step */
    double              rates[CB_MAX_RATES];
    uint32_t            nrates;
    int                 stepped;        /* --rates given */
    char                rates_str[512];
    double              stop_p99_ms;
    double              duration;
    double              warmup;
    double              drain;
    double              setup_timeout;
    uint32_t            size;
    uint32_t            src_addrs;
    uint32_t            conc;
    uint32_t            user_base;
    int                 verbose;

    /* server processes */
    cb_proc_t           procs[CB_MAX_PROCS];
    int                 nprocs;
    cb_group_t          groups[CB_MAX_GROUPS];
    int                 ngroups;
    int                 master_pids[CB_MAX_GROUPS];
    int                 nmasters;
    char               *pid_list;

    /* more connections than RLIMIT_NOFILE allows: helper processes */
    cb_kid_t            kids[CB_MAX_KIDS];
    int                 nkids;
    int                 is_kid;
    int                 kid_fd;         /* a kid: its end to the parent */
    uint32_t            conn_lo;        /* this process connects lo..hi-1 */
    uint32_t            conn_hi;
    uint32_t            nexpect;        /* ready + failed when set up */

    /* runtime */
    u_char              secret[1024];
    size_t              secret_len;
    struct sockaddr_in  dst;
    int                 ep;
    cb_conn_t          *c;
    uint32_t            n;
    uint32_t           *members;        /* ready connections per room */
    uint32_t           *sender_idx;     /* connection index of each sender */
    uint32_t            nsenders;
    uint32_t            nrooms;
    uint32_t            pub_base;       /* nchan chat: publisher of room 0 */
    uint32_t            ack_ring;       /* slots of a sender's ack ring */
    u_char             *rbuf;

    int                 phase;
    uint32_t            step;
    int                 stopped;        /* the step ended the steps */
    int                 reported;       /* the step's report is out */
    int64_t             t_start;
    int64_t             t_setup_done;
    int64_t             t_send_start;
    int64_t             t_meas_start;
    int64_t             t_meas_end;
    int64_t             t_drain_end;
    int64_t             t_last_ready;

    uint32_t            next_connect;
    uint32_t            inflight;
    uint32_t            ready;
    uint32_t            setup_failed;
    uint32_t            open;
    uint32_t            ready_setup;    /* ready when the setup ended */
    uint32_t            ready_sample;   /* ready at the idle memory sample */

    /* counters: totals, and their values when the step began */
    uint64_t            sched;          /* send slots scheduled, this step */
    cb_counts_t         cnt;
    cb_counts_t         base;
    uint64_t            foreign;        /* message events not ours */
    uint64_t            other_events;
    uint64_t            bytes_in;
    uint64_t            bytes_out;

    /* counters: measurement window */
    uint64_t            w_sent;
    uint64_t            w_acked;
    uint64_t            w_delivered;
    uint64_t            w_backlog;

    cb_hist_t           lat;            /* delivery latency, window */
    cb_hist_t           ack;            /* send -> ok latency, window */
    cb_hist_t           conn;           /* connect -> joined */

    uint64_t            closes[5000];   /* close codes from the server */
    uint64_t            closed_by_server;
    uint64_t            http_status[600];
    uint64_t            connect_errno[256];
    cb_errcode_t        errcodes[CB_MAX_ERRCODES];
    int                 nerrcodes;

    /* measurements */
    struct rusage       ru0;
    struct rusage       ru1;
    int64_t             sock_pages0;
    int64_t             sock_pages1;
    int64_t             conn_rate_t;    /* ns from first connect to last */
    uint64_t            sys_busy0;      /* /proc/stat, all CPUs, ticks */
    uint64_t            sys_busy1;
    uint64_t            sys_steal0;
    uint64_t            sys_steal1;
} cb_bench_t;


static cb_bench_t  B;
static volatile sig_atomic_t  cb_interrupted;


static void cb_usage(void);
static int64_t cb_now(void);
static void cb_die(const char *fmt, ...);
static int cb_parse_args(int argc, char **argv);
static int cb_read_secret(void);
static size_t cb_b64url(u_char *dst, const u_char *src, size_t len);
static size_t cb_make_jwt(char *dst, size_t cap, uint32_t user);
static uint64_t cb_raise_nofile(uint64_t need);
static int cb_connect(cb_conn_t *c, uint32_t i);
static void cb_on_event(cb_conn_t *c, uint32_t events);
static void cb_on_connected(cb_conn_t *c);
static void cb_read(cb_conn_t *c);
static ssize_t cb_parse(cb_conn_t *c, u_char *buf, size_t len);
static ssize_t cb_parse_http(cb_conn_t *c, u_char *buf, size_t len);
static int cb_on_text(cb_conn_t *c, u_char *p, size_t len);
static void cb_on_close_frame(cb_conn_t *c, u_char *p, size_t len);
static int cb_write(cb_conn_t *c, const u_char *data, size_t len);
static int cb_flush(cb_conn_t *c);
static int cb_send_frame(cb_conn_t *c, unsigned opcode, const u_char *p,
    size_t len);
static void cb_close(cb_conn_t *c, int code);
static void cb_set_ready(cb_conn_t *c);
static void cb_ack(cb_conn_t *c, uint64_t id, int ok);
static int cb_room_name(uint32_t room, char *buf, size_t cap);
static int cb_on_nchan_pub(cb_conn_t *c, u_char *p, size_t len);
static int cb_on_sio(cb_conn_t *c, u_char *p, size_t len);
static void cb_tick(int64_t now);
static void cb_send_one(cb_conn_t *c, uint32_t from, uint32_t room,
    int64_t now);
static void cb_hist_add(cb_hist_t *h, uint64_t v);
static uint64_t cb_hist_pct(cb_hist_t *h, double p);
static void cb_count_errcode(const u_char *p, size_t len, uint64_t n);
static void cb_procs_init(void);
static void cb_procs_sample(int cpu, int rss);
static int64_t cb_sockstat_pages(void);
static void cb_report(void);


static int64_t
cb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * CB_SEC + ts.tv_nsec;
}


static void
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


static void
cb_usage(void)
{
    fprintf(stderr,
"usage: chat-bench --scenario S --secret FILE [options]\n"
"       chat-bench --scenario fanout|idle|connect --proto limit [--ports N]\n"
"                  [options]\n"
"       chat-bench --scenario S --proto nchan|sio [options]\n"
"  --scenario S        fanout: one room, --subs subscribers, --senders\n"
"                      senders; rooms: --rooms rooms of 2, one sender each;\n"
"                      chat: --pairs rooms of 2 plus --groups rooms of\n"
"                      --group-size from the same connections, everyone\n"
"                      sending to its rooms in turn; idle: --conns held\n"
"                      (memory, CPU while idle); connect: --conns opened\n"
"                      and joined as fast as possible, then closed\n"
"  --host ADDR         server address, 127.0.0.0/8 only (127.0.0.1)\n"
"  --port N            server port (8080; nchan 18980, sio 18970)\n"
"  --path PATH         WebSocket path (/chat/ws; sio /socket.io/, to which\n"
"                      ?EIO=4&transport=websocket is added; nchan: unused,\n"
"                      always /sub/<room> and /pub/<room>; chat: members\n"
"                      of two rooms /subm/<room1>/<room2>)\n"
"  --secret FILE       HS256 secret; trailing CR/LF stripped (ngx_chat)\n"
"  --proto P           ngx_chat, or limit: bench/peers/limit, fanout, idle\n"
"                      and connect only, no auth or join, one sender per\n"
"                      port, or nchan: bench/peers/nchan, or sio:\n"
"                      bench/peers/socketio (ngx_chat)\n"
"  --nchan-echo        nchan: one more subscriber per publisher, on its\n"
"                      room, standing for the sender's own copy that\n"
"                      ngx_chat and Socket.IO deliver (rooms: 2 members;\n"
"                      ignored by chat, idle and connect)\n"
"  --ports N           proto limit: limit's workers on PORT..PORT+N-1 (2)\n"
"  --subs N            fanout: subscribers in the room (1000)\n"
"  --senders N         fanout: sending connections (1)\n"
"  --rooms N           rooms: rooms of 2 members, one sender each (1000)\n"
"  --pairs N           chat: rooms of 2, over 2N connections (1000)\n"
"  --groups G          chat: rooms of --group-size (20)\n"
"  --group-size S      chat: connection k < G*S is in group k / S (50)\n"
"  --conns N           idle, connect: connections, rooms of 2 (idle 1000,\n"
"                      connect 5000)\n"
"  --rate R            messages/s offered in total (fanout 200, rooms 5000,\n"
"                      chat 2000)\n"
"  --rates R1,R2,...   fanout, rooms, chat: one step per rate on the same\n"
"                      connections, each warmed up, measured and drained,\n"
"                      a report and a RESULT line per step\n"
"  --stop-p99-ms MS    --rates: stop after the first step whose p99 passes\n"
"                      MS (0: never), that fell behind, lost messages or\n"
"                      had sends unanswered or refused (100)\n"
"  --duration S        measured seconds (10; a step's with --rates; idle:\n"
"                      hold after sampling, server CPU over it, 0)\n"
"  --warmup S          seconds of sending before measuring (2; idle: 1)\n"
"  --drain S           at most S seconds to wait for stragglers (3)\n"
"  --size B            message body bytes (64)\n"
"  --pids P,P,...      server processes for CPU and memory\n"
"  --master-pid P      a server master: it and its children (repeatable)\n"
"  --room-prefix S     room id prefix (bench)\n"
"  --user-prefix S     user id prefix: sub=<prefix><n> (u)\n"
"  --user-base N       first user number (0)\n"
"  --src-addrs N       spread over source addresses 127.0.0.2.. (16)\n"
"  --conc N            at most N connections in handshake at once (256;\n"
"                      connect 1000)\n"
"  --setup-timeout S   give up connecting after S seconds (60)\n"
"  -v, --verbose       progress every second on stderr\n");
}


static double
cb_num(const char *name, const char *s, double min, double max)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno || end == s || *end != '\0' || v < min || v > max) {
        cb_die("bad value for %s: \"%s\" (%g..%g)", name, s, min, max);
    }

    return v;
}


/* --rates R1,R2,...: B.rates, and B.rates_str as printed in RESULT */

static void
cb_parse_rates(const char *arg)
{
    char    *copy, *tok, *save;
    size_t   l;

    copy = strdup(arg);
    if (copy == NULL) {
        cb_die("out of memory");
    }

    B.nrates = 0;
    l = 0;

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        if (B.nrates == CB_MAX_RATES) {
            cb_die("--rates: at most %d rates", CB_MAX_RATES);
        }

        B.rates[B.nrates] = cb_num("--rates", tok, 0, 1e7);
        l += snprintf(B.rates_str + l, sizeof(B.rates_str) - l, "%s%g",
                      l ? "," : "", B.rates[B.nrates]);
        if (l >= sizeof(B.rates_str)) {
            cb_die("--rates: too long");
        }
        B.nrates++;
    }

    free(copy);

    if (B.nrates == 0) {
        cb_die("--rates: no rate");
    }

    B.stepped = 1;
}


static int
cb_parse_args(int argc, char **argv)
{
    int                   ch, idx, senders_set, port_set, path_set, conc_set;
    const char           *s;
    const char           *name;
    static struct option  opts[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "path", required_argument, NULL, 'P' },
        { "secret", required_argument, NULL, 'k' },
        { "proto", required_argument, NULL, 'o' },
        { "ports", required_argument, NULL, 'n' },
        { "nchan-echo", no_argument, NULL, 'E' },
        { "scenario", required_argument, NULL, 's' },
        { "subs", required_argument, NULL, 'S' },
        { "senders", required_argument, NULL, 'e' },
        { "rooms", required_argument, NULL, 'r' },
        { "conns", required_argument, NULL, 'c' },
        { "pairs", required_argument, NULL, 'A' },
        { "groups", required_argument, NULL, 'G' },
        { "group-size", required_argument, NULL, 'Z' },
        { "rate", required_argument, NULL, 'R' },
        { "rates", required_argument, NULL, 'L' },
        { "stop-p99-ms", required_argument, NULL, 'Q' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "drain", required_argument, NULL, 'D' },
        { "size", required_argument, NULL, 'z' },
        { "pids", required_argument, NULL, 'i' },
        { "master-pid", required_argument, NULL, 'm' },
        { "room-prefix", required_argument, NULL, 'x' },
        { "user-prefix", required_argument, NULL, 'u' },
        { "user-base", required_argument, NULL, 'b' },
        { "src-addrs", required_argument, NULL, 'a' },
        { "conc", required_argument, NULL, 'C' },
        { "setup-timeout", required_argument, NULL, 'T' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    B.host = "127.0.0.1";
    B.port = 8080;
    B.path = "/chat/ws";
    B.room_prefix = "bench";
    B.user_prefix = "u";
    B.subs = 1000;
    B.senders = 1;
    B.rooms = 1000;
    B.conns = 0;
    B.pairs = 1000;
    B.chat_groups = 20;
    B.group_size = 50;
    B.stop_p99_ms = 100;
    B.rate = -1;
    B.duration = -1;
    B.warmup = -1;
    B.drain = 3;
    B.setup_timeout = 60;
    B.size = 64;
    B.src_addrs = 16;
    B.conc = 256;
    B.ports = 2;
    senders_set = 0;
    port_set = 0;
    path_set = 0;
    conc_set = 0;

    for ( ;; ) {
        ch = getopt_long(argc, argv, "vh", opts, &idx);
        if (ch == -1) {
            break;
        }

        name = (ch == 'v' || ch == 'h' || ch == 'E' || ch == '?')
               ? "" : opts[idx].name;

        switch (ch) {
        case 'H': B.host = optarg; break;
        case 'p': B.port = (int) cb_num(name, optarg, 1, 65535);
                  port_set = 1;
                  break;
        case 'P': B.path = optarg; path_set = 1; break;
        case 'k': B.secret_file = optarg; break;
        case 'o':
            if (strcmp(optarg, "ngx_chat") == 0) {
                B.proto = CB_PROTO_NGX_CHAT;
            } else if (strcmp(optarg, "limit") == 0) {
                B.proto = CB_PROTO_LIMIT;
            } else if (strcmp(optarg, "nchan") == 0) {
                B.proto = CB_PROTO_NCHAN;
            } else if (strcmp(optarg, "sio") == 0
                       || strcmp(optarg, "socketio") == 0)
            {
                B.proto = CB_PROTO_SIO;
            } else {
                cb_die("unknown proto \"%s\"", optarg);
            }
            break;
        case 'n': B.ports = (uint32_t) cb_num(name, optarg, 1, 64); break;
        case 'E': B.nchan_echo = 1; break;
        case 's':
            if (strcmp(optarg, "fanout") == 0) {
                B.scenario = CB_SC_FANOUT;
            } else if (strcmp(optarg, "rooms") == 0) {
                B.scenario = CB_SC_ROOMS;
            } else if (strcmp(optarg, "idle") == 0) {
                B.scenario = CB_SC_IDLE;
            } else if (strcmp(optarg, "chat") == 0) {
                B.scenario = CB_SC_CHAT;
            } else if (strcmp(optarg, "connect") == 0) {
                B.scenario = CB_SC_CONNECT;
            } else {
                cb_die("unknown scenario \"%s\"", optarg);
            }
            break;
        case 'S': B.subs = (uint32_t) cb_num(name, optarg, 0, 1e6); break;
        case 'e': B.senders = (uint32_t) cb_num(name, optarg, 1, 1e5);
                  senders_set = 1;
                  break;
        case 'r': B.rooms = (uint32_t) cb_num(name, optarg, 1, 5e5); break;
        case 'c': B.conns = (uint32_t) cb_num(name, optarg, 1, 1e6); break;
        case 'A': B.pairs = (uint32_t) cb_num(name, optarg, 1, 5e5); break;
        case 'G': B.chat_groups = (uint32_t) cb_num(name, optarg, 0, 5e5);
                  break;
        case 'Z': B.group_size = (uint32_t) cb_num(name, optarg, 2, 1e6);
                  break;
        case 'R': B.rate = cb_num(name, optarg, 0, 1e7); break;
        case 'L': cb_parse_rates(optarg); break;
        case 'Q': B.stop_p99_ms = cb_num(name, optarg, 0, 1e6); break;
        case 'd': B.duration = cb_num(name, optarg, 0, 3600); break;
        case 'w': B.warmup = cb_num(name, optarg, 0, 600); break;
        case 'D': B.drain = cb_num(name, optarg, 0, 10); break;
        case 'z': B.size = (uint32_t) cb_num(name, optarg, 1, 1 << 20); break;
        case 'i': B.pid_list = optarg; break;
        case 'm':
            if (B.nmasters == CB_MAX_GROUPS - 1) {
                cb_die("too many --master-pid");
            }
            B.master_pids[B.nmasters++] = (int) cb_num(name, optarg, 1,
                                                       1 << 30);
            break;
        case 'x': B.room_prefix = optarg; break;
        case 'u': B.user_prefix = optarg; break;
        case 'b': B.user_base = (uint32_t) cb_num(name, optarg, 0, 1e9);
                  break;
        case 'a': B.src_addrs = (uint32_t) cb_num(name, optarg, 0, 250);
                  break;
        case 'C': B.conc = (uint32_t) cb_num(name, optarg, 1, 1e6);
                  conc_set = 1;
                  break;
        case 'T': B.setup_timeout = cb_num(name, optarg, 1, 3600); break;
        case 'v': B.verbose = 1; break;
        case 'h': cb_usage(); exit(0);
        default: cb_usage(); exit(2);
        }
    }

    if (optind != argc) {
        cb_usage();
        exit(2);
    }

    if (B.scenario == 0) {
        cb_die("--scenario is required");
    }

    if (B.proto == CB_PROTO_LIMIT) {
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

    } else if (B.proto == CB_PROTO_NCHAN) {
        if (B.scenario != CB_SC_FANOUT && B.scenario != CB_SC_ROOMS) {
            B.nchan_echo = 0;            /* chat: members get their own */
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

    } else if (B.proto == CB_PROTO_SIO) {
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

    } else if (B.secret_file == NULL) {
        cb_die("--secret is required");
    }

    if (B.nchan_echo && B.proto != CB_PROTO_NCHAN) {
        cb_die("--nchan-echo is for --proto nchan");
    }

    if (strlen(B.room_prefix) > 40 || strlen(B.user_prefix) > 40) {
        cb_die("prefix too long");
    }

    if (B.scenario == CB_SC_CHAT
        && (uint64_t) B.chat_groups * B.group_size > 2 * (uint64_t) B.pairs)
    {
        cb_die("chat: --groups x --group-size (%llu) is more than the %u "
               "connections of --pairs %u",
               (unsigned long long) B.chat_groups * B.group_size,
               2 * B.pairs, B.pairs);
    }

    if (B.stepped) {
        if (B.rate >= 0) {
            cb_die("--rate and --rates: one or the other");
        }
        if (B.scenario == CB_SC_IDLE || B.scenario == CB_SC_CONNECT) {
            cb_die("--rates is for the fanout, rooms and chat scenarios");
        }
        B.rate = B.rates[0];

    } else {
        if (B.rate < 0) {
            B.rate = (B.scenario == CB_SC_ROOMS) ? 5000
                     : (B.scenario == CB_SC_CHAT) ? 2000 : 200;
        }
        B.rates[0] = B.rate;
        B.nrates = 1;
        snprintf(B.rates_str, sizeof(B.rates_str), "%g", B.rate);
    }

    if (B.conns == 0) {
        B.conns = (B.scenario == CB_SC_CONNECT) ? 5000 : 1000;
    }

    if (!conc_set && B.scenario == CB_SC_CONNECT) {
        B.conc = 1000;
    }

    if (B.warmup < 0) {
        B.warmup = (B.scenario == CB_SC_IDLE) ? 1 : 2;
    }

    if (B.duration < 0) {
        B.duration = (B.scenario == CB_SC_IDLE
                      || B.scenario == CB_SC_CONNECT) ? 0 : 10;
    }

    return 0;
}


static int
cb_read_secret(void)
{
    int      fd;
    ssize_t  n;
    size_t   len;

    fd = open(B.secret_file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        cb_die("open(\"%s\"): %s", B.secret_file, strerror(errno));
    }

    len = 0;

    for ( ;; ) {
        n = read(fd, B.secret + len, sizeof(B.secret) - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            cb_die("read(\"%s\"): %s", B.secret_file, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        len += n;
        if (len == sizeof(B.secret)) {
            cb_die("secret file \"%s\" is too large", B.secret_file);
        }
    }

    close(fd);

    while (len && (B.secret[len - 1] == '\n' || B.secret[len - 1] == '\r')) {
        len--;
    }

    if (len == 0) {
        cb_die("secret file \"%s\" is empty", B.secret_file);
    }

    B.secret_len = len;

    return 0;
}


static size_t
cb_b64url(u_char *dst, const u_char *src, size_t len)
{
    u_char         *d;
    uint32_t        v;
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    d = dst;

    while (len >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
        *d++ = tab[v & 63];
        src += 3;
        len -= 3;
    }

    if (len == 1) {
        v = (uint32_t) src[0] << 16;
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];

    } else if (len == 2) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8;
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
    }

    return d - dst;
}


static size_t
cb_make_jwt(char *dst, size_t cap, uint32_t user)
{
    int           n;
    char          claims[256];
    size_t        len;
    time_t        now;
    u_char        mac[EVP_MAX_MD_SIZE];
    unsigned int  maclen;
    static const char  hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    now = time(NULL);

    n = snprintf(claims, sizeof(claims),
                 "{\"sub\":\"%s%u\",\"exp\":%lld,\"iat\":%lld}",
                 B.user_prefix, user, (long long) now + 3600,
                 (long long) now);

    if (cap < 512) {
        cb_die("jwt buffer too small");
    }

    len = cb_b64url((u_char *) dst, (u_char *) hdr, sizeof(hdr) - 1);
    dst[len++] = '.';
    len += cb_b64url((u_char *) dst + len, (u_char *) claims, n);

    if (HMAC(EVP_sha256(), B.secret, (int) B.secret_len, (u_char *) dst, len,
             mac, &maclen)
        == NULL)
    {
        cb_die("HMAC failed");
    }

    dst[len++] = '.';
    len += cb_b64url((u_char *) dst + len, mac, maclen);
    dst[len] = '\0';

    return len;
}


/*
 * RLIMIT_NOFILE: the soft limit up to the hard one, and past it to "need"
 * if allowed (CAP_SYS_RESOURCE); returns the soft limit
 */

static uint64_t
cb_raise_nofile(uint64_t need)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        cb_die("getrlimit: %s", strerror(errno));
    }

    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    if (rl.rlim_cur < need) {
        rl.rlim_cur = need;
        rl.rlim_max = need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }

    return rl.rlim_cur;
}


/*
 * More connections than one process may hold: idle and connect spread
 * them over helper processes forked here, each connecting its share and
 * reporting its setup (its cb_bench_t, whole) to the parent, which merges
 * it; a helper then holds its connections until the parent closes its
 * end.  The server figures are the parent's alone, as ever.
 */

static void
cb_spread(void)
{
    int        sv[2], k, pid, ppid;
    uint32_t   per, nproc, slice, lo, hi;
    uint64_t   lim;
    cb_kid_t  *kid;

    lim = cb_raise_nofile((uint64_t) B.n + CB_FD_RESERVE);

    B.conn_lo = 0;
    B.conn_hi = B.n;
    B.nexpect = B.n;

    if ((uint64_t) B.n + CB_FD_RESERVE <= lim) {
        return;
    }

    /* per process: the connections, the reserve, a socket per helper */
    per = (lim > CB_FD_RESERVE + CB_MAX_KIDS + 100)
          ? lim - CB_FD_RESERVE - CB_MAX_KIDS - 2 : 0;
    nproc = per ? (B.n + per - 1) / per : 0;

    if ((B.scenario != CB_SC_IDLE && B.scenario != CB_SC_CONNECT)
        || nproc == 0 || nproc > CB_MAX_KIDS + 1)
    {
        cb_die("%u connections need %u open files; RLIMIT_NOFILE is %llu "
               "and could not be raised (CAP_SYS_RESOURCE): raise the hard "
               "limit (ulimit -Hn, limits.conf, the container's nofile), or "
               "use fewer connections%s", B.n, B.n + CB_FD_RESERVE,
               (unsigned long long) lim,
               B.scenario == CB_SC_IDLE || B.scenario == CB_SC_CONNECT
               ? "" : " (only idle and connect spread over processes)");
    }

    /* even slices: a room of 2 stays in one process */
    slice = ((B.n + nproc - 1) / nproc + 1) & ~1U;

    B.conc = B.conc / nproc ? B.conc / nproc : 1;

    fprintf(stderr, "chat-bench: RLIMIT_NOFILE %llu: %u connections over "
            "%u processes\n", (unsigned long long) lim, B.n, nproc);

    ppid = getpid();

    for (lo = slice; lo < B.n; lo += slice) {
        hi = (B.n - lo > slice) ? lo + slice : B.n;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
            cb_die("socketpair: %s", strerror(errno));
        }

        pid = fork();

        if (pid == -1) {
            cb_die("fork: %s", strerror(errno));
        }

        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != ppid) {
                _exit(1);                /* the parent is already gone */
            }

            for (k = 0; k < B.nkids; k++) {
                close(B.kids[k].fd);
            }
            close(sv[0]);

            B.nkids = 0;
            B.nprocs = 0;
            B.is_kid = 1;
            B.kid_fd = sv[1];
            B.conn_lo = lo;
            B.conn_hi = hi;
            B.nexpect = hi - lo;
            B.verbose = 0;
            return;
        }

        close(sv[1]);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);

        kid = &B.kids[B.nkids++];
        kid->pid = pid;
        kid->fd = sv[0];
        kid->lo = lo;
        kid->hi = hi;
        kid->got = 0;
        kid->report = malloc(sizeof(cb_bench_t));
        if (kid->report == NULL) {
            cb_die("out of memory");
        }
    }

    B.conn_hi = slice;
}


/* add the setup of a helper (its whole cb_bench_t) to ours */

static void
cb_merge(const cb_bench_t *o)
{
    size_t  i;

    B.ready += o->ready;
    B.setup_failed += o->setup_failed;
    B.closed_by_server += o->closed_by_server;
    B.other_events += o->other_events;
    B.foreign += o->foreign;

    if (o->t_last_ready > B.t_last_ready) {
        B.t_last_ready = o->t_last_ready;
    }

    for (i = 0; i < CB_HIST_SIZE; i++) {
        B.conn.counts[i] += o->conn.counts[i];
    }

    B.conn.n += o->conn.n;
    B.conn.sum += o->conn.sum;
    if (o->conn.max > B.conn.max) {
        B.conn.max = o->conn.max;
    }

    for (i = 0; i < sizeof(B.closes) / sizeof(B.closes[0]); i++) {
        B.closes[i] += o->closes[i];
    }

    for (i = 0; i < sizeof(B.http_status) / sizeof(B.http_status[0]); i++) {
        B.http_status[i] += o->http_status[i];
    }

    for (i = 0; i < sizeof(B.connect_errno) / sizeof(B.connect_errno[0]);
         i++)
    {
        B.connect_errno[i] += o->connect_errno[i];
    }

    for (i = 0; i < (size_t) o->nerrcodes; i++) {
        cb_count_errcode((const u_char *) o->errcodes[i].name,
                         strlen(o->errcodes[i].name), o->errcodes[i].count);
    }
}


/* the parent: a helper's report came in, or the helper is gone */

static void
cb_kid_read(cb_kid_t *kid)
{
    ssize_t  n;

    for ( ;; ) {
        n = read(kid->fd, kid->report + kid->got,
                 sizeof(cb_bench_t) - kid->got);

        if (n > 0) {
            kid->got += n;
            if (kid->got < sizeof(cb_bench_t)) {
                continue;
            }
            cb_merge((cb_bench_t *) kid->report);
            break;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        /* gone without a report: its connections failed */
        fprintf(stderr, "chat-bench: helper %d (connections %u..%u) "
                "ended without a report\n", kid->pid, kid->lo, kid->hi - 1);
        B.setup_failed += kid->hi - kid->lo;
        break;
    }

    epoll_ctl(B.ep, EPOLL_CTL_DEL, kid->fd, NULL);
    free(kid->report);
    kid->report = NULL;
}


/* the parent, setup timed out: helpers not heard of count as failed */

static void
cb_kids_give_up(void)
{
    int  k;

    for (k = 0; k < B.nkids; k++) {
        if (B.kids[k].report) {
            fprintf(stderr, "chat-bench: helper %d: no report in time\n",
                    B.kids[k].pid);
            B.setup_failed += B.kids[k].hi - B.kids[k].lo;
            epoll_ctl(B.ep, EPOLL_CTL_DEL, B.kids[k].fd, NULL);
            free(B.kids[k].report);
            B.kids[k].report = NULL;
        }
    }
}


/* the parent, at the end: helpers close their connections and exit */

static void
cb_kids_end(void)
{
    int  k;

    for (k = 0; k < B.nkids; k++) {
        close(B.kids[k].fd);
    }

    for (k = 0; k < B.nkids; k++) {
        while (waitpid(B.kids[k].pid, NULL, 0) == -1 && errno == EINTR) {
            /* void */
        }
    }
}


/* xorshift64*: masks and handshake keys need no cryptographic strength */

static uint64_t  cb_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
cb_rand(void)
{
    cb_rng ^= cb_rng >> 12;
    cb_rng ^= cb_rng << 25;
    cb_rng ^= cb_rng >> 27;

    return cb_rng * 0x2545f4914f6cdd1dULL;
}


static int
cb_connect(cb_conn_t *c, uint32_t i)
{
    int                 fd, one;
    struct sockaddr_in  src, dst;
    struct epoll_event  ev;

    dst = B.dst;

    if (B.proto == CB_PROTO_LIMIT) {
        dst.sin_port = htons(B.port + c->room);     /* room = port index */
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -errno;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

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
    int        err, port;
    char       jwt[1024], auth[1100], path[512], req[2048];
    u_char     key[16], key64[32];
    size_t     n;
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
    memcpy(key, &r, 8);
    r = cb_rand();
    memcpy(key + 8, &r, 8);

    n = cb_b64url(key64, key, 16);
    /* standard base64 with padding for the key: 16 bytes -> 22 + "==" */
    for (size_t i = 0; i < n; i++) {
        if (key64[i] == '-') {
            key64[i] = '+';
        } else if (key64[i] == '_') {
            key64[i] = '/';
        }
    }
    key64[n++] = '=';
    key64[n++] = '=';
    key64[n] = '\0';

    port = B.port;
    auth[0] = '\0';

    switch (B.proto) {

    case CB_PROTO_LIMIT:
        port += c->room;                 /* room = port index */
        snprintf(path, sizeof(path), "%s", B.path);
        break;

    case CB_PROTO_NCHAN:
        /* /pub/<room>, /sub/<room>, chat: /subm/<room>/<room2> */
        n = snprintf(path, sizeof(path), "/%s/", c->sender ? "pub"
                     : c->room2 != CB_NO_ROOM ? "subm" : "sub");
        n += cb_room_name(c->room, path + n, sizeof(path) - n);
        if (!c->sender && c->room2 != CB_NO_ROOM) {
            path[n++] = '/';
            cb_room_name(c->room2, path + n, sizeof(path) - n);
        }
        break;

    case CB_PROTO_SIO:
        snprintf(path, sizeof(path), "%s%cEIO=4&transport=websocket",
                 B.path, strchr(B.path, '?') ? '&' : '?');
        break;

    default:
        snprintf(path, sizeof(path), "%s", B.path);
        cb_make_jwt(jwt, sizeof(jwt), c->user);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", jwt);
        break;
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
                 path, B.host, port, key64, auth);

    c->state = CB_ST_HANDSHAKE;

    cb_write(c, (u_char *) req, n);
}


static void
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


static int
cb_ensure(u_char **buf, size_t *cap, size_t need)
{
    size_t   ncap;
    u_char  *p;

    if (*cap >= need) {
        return 0;
    }

    ncap = *cap ? *cap : 4096;
    while (ncap < need) {
        ncap *= 2;
    }

    p = realloc(*buf, ncap);
    if (p == NULL) {
        cb_die("out of memory");
    }

    *buf = p;
    *cap = ncap;

    return 0;
}


static void
cb_read(cb_conn_t *c)
{
    int       iter;
    u_char   *buf;
    size_t    len, cap, rest;
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

        n = read(c->fd, buf + len, cap - len);

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

        rest = len - used;

        if (buf == B.rbuf) {
            if (rest) {
                cb_ensure(&c->pend, &c->pend_cap, rest);
                memcpy(c->pend, buf + used, rest);
            }

        } else if (rest && used) {
            memmove(c->pend, c->pend + used, rest);
        }

        c->pend_len = rest;

        if (rest == 0 && c->pend_cap > 65536) {
            free(c->pend);
            c->pend = NULL;
            c->pend_cap = 0;
        }

        if ((size_t) n < cap - (len - n)) {
            return;                      /* the socket is drained */
        }
    }
}


/* returns the bytes consumed, or -1 if the connection was closed */

static ssize_t
cb_parse(cb_conn_t *c, u_char *buf, size_t len)
{
    u_char    *p, *end, *pl;
    size_t     hlen;
    ssize_t    used;
    unsigned   fin, op;
    uint64_t   plen;

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
        fin = p[0] & 0x80;
        op = p[0] & 0x0f;
        plen = p[1] & 0x7f;
        hlen = 2;

        if (p[1] & 0x80) {
            /* a masked server frame: protocol error */
            cb_close(c, 1002);
            return -1;
        }

        if (plen == 126) {
            if (end - p < 4) {
                break;
            }
            plen = (uint64_t) p[2] << 8 | p[3];
            hlen = 4;

        } else if (plen == 127) {
            if (end - p < 10) {
                break;
            }
            plen = 0;
            for (int i = 2; i < 10; i++) {
                plen = plen << 8 | p[i];
            }
            hlen = 10;
        }

        if (plen > CB_FRAME_MAX) {
            cb_close(c, 1009);
            return -1;
        }

        if ((uint64_t) (end - p) < hlen + plen) {
            /* incomplete: make sure the buffer will hold it */
            cb_ensure(&c->pend, &c->pend_cap, hlen + plen);
            break;
        }

        pl = p + hlen;
        p += hlen + plen;

        switch (op) {

        case 0x1:
        case 0x2:
            if (c->in_frag) {
                cb_close(c, 1002);
                return -1;
            }
            if (fin) {
                if (op == 0x1 && cb_on_text(c, pl, plen) == -1) {
                    return -1;
                }
                break;
            }
            c->in_frag = 1;
            c->frag_len = 0;
            /* fall through */

        case 0x0:
            if (!c->in_frag) {
                cb_close(c, 1002);
                return -1;
            }
            cb_ensure(&c->frag, &c->frag_cap, c->frag_len + plen);
            memcpy(c->frag + c->frag_len, pl, plen);
            c->frag_len += plen;

            if (c->frag_len > CB_FRAME_MAX) {
                cb_close(c, 1009);
                return -1;
            }

            if (fin) {
                c->in_frag = 0;
                if (cb_on_text(c, c->frag, c->frag_len) == -1) {
                    return -1;
                }
                free(c->frag);
                c->frag = NULL;
                c->frag_cap = 0;
                c->frag_len = 0;
            }
            break;

        case 0x8:
            cb_on_close_frame(c, pl, plen);
            return -1;

        case 0x9:
            if (cb_send_frame(c, 0xA, pl, plen) == -1) {
                return -1;
            }
            break;

        case 0xA:
            break;

        default:
            cb_close(c, 1002);
            return -1;
        }

        if (c->state == CB_ST_CLOSED) {
            return -1;
        }
    }

    return p - buf;
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

    if (B.proto == CB_PROTO_LIMIT || B.proto == CB_PROTO_NCHAN) {
        cb_set_ready(c);                 /* no welcome, no join */

    } else {
        c->state = CB_ST_WELCOME;
    }

    return eoh + 4 - buf;
}


/* JSON: the top-level members we need, as raw spans */

enum {
    CB_J_TYPE = 0,
    CB_J_ID,
    CB_J_BODY,
    CB_J_CODE,
    CB_J_N
};


typedef struct {
    u_char   *p;
    size_t    len;
} cb_span_t;


static u_char *
cb_json_ws(u_char *p, u_char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/* p points at '"'; returns the position after the closing quote */

static u_char *
cb_json_str(u_char *p, u_char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


static u_char *
cb_json_skip(u_char *p, u_char *end)
{
    int  depth;

    if (p >= end) {
        return NULL;
    }

    if (*p == '"') {
        return cb_json_str(p, end);
    }

    if (*p == '{' || *p == '[') {
        depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = cb_json_str(p, end);
                if (p == NULL) {
                    return NULL;
                }
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) {
                    return p + 1;
                }
            }
            p++;
        }
        return NULL;
    }

    while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t'
           && *p != '\r' && *p != '\n')
    {
        p++;
    }

    return p;
}


static int
cb_json_scan(u_char *p, size_t len, cb_span_t *v)
{
    int       k;
    u_char   *end, *key, *ke, *val, *ve;
    size_t    klen;

    end = p + len;

    memset(v, 0, sizeof(cb_span_t) * CB_J_N);

    p = cb_json_ws(p, end);
    if (p == end || *p != '{') {
        return -1;
    }

    p = cb_json_ws(p + 1, end);

    while (p < end && *p == '"') {
        key = p + 1;
        ke = cb_json_str(p, end);
        if (ke == NULL) {
            return -1;
        }
        klen = ke - 1 - key;

        p = cb_json_ws(ke, end);
        if (p == end || *p != ':') {
            return -1;
        }
        val = cb_json_ws(p + 1, end);
        ve = cb_json_skip(val, end);
        if (ve == NULL) {
            return -1;
        }

        k = -1;

        switch (klen) {
        case 2:
            if (memcmp(key, "id", 2) == 0) {
                k = CB_J_ID;
            }
            break;
        case 4:
            if (memcmp(key, "type", 4) == 0) {
                k = CB_J_TYPE;
            } else if (memcmp(key, "body", 4) == 0) {
                k = CB_J_BODY;
            } else if (memcmp(key, "code", 4) == 0) {
                k = CB_J_CODE;
            }
            break;
        }

        if (k >= 0) {
            if (*val == '"') {
                v[k].p = val + 1;
                v[k].len = ve - val - 2;
            } else {
                v[k].p = val;
                v[k].len = ve - val;
            }
        }

        p = cb_json_ws(ve, end);
        if (p < end && *p == ',') {
            p = cb_json_ws(p + 1, end);
        }
    }

    return 0;
}


static int
cb_span_is(cb_span_t *s, const char *lit, size_t n)
{
    return s->len == n && memcmp(s->p, lit, n) == 0;
}


static uint64_t
cb_span_u64(cb_span_t *s, int *ok)
{
    size_t    i;
    uint64_t  v;

    v = 0;
    *ok = 0;

    for (i = 0; i < s->len && s->p[i] >= '0' && s->p[i] <= '9'; i++) {
        v = v * 10 + (s->p[i] - '0');
        *ok = 1;
    }

    return v;
}


/*
 * a room's name (ngx_chat room, nchan channel, sio room): fanout "-fanout",
 * rooms "-r<n>", chat pairs "-c<n>" and groups "-g<n>", idle and connect
 * "-i<n>"
 */

static int
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


/*
 * a message body "<t> <seq> ...": 1 counted, 0 sent in an earlier step
 * (late, counted lost there), -1 not ours
 */

static int
cb_deliver(cb_span_t *body)
{
    int      ok;
    int64_t  now, t;

    now = cb_now();
    t = (int64_t) cb_span_u64(body, &ok);

    if (!ok || t > now || t < B.t_start || body->len < 3) {
        B.foreign++;
        return -1;
    }

    if (t < B.t_send_start) {
        B.cnt.late++;
        return 0;
    }

    B.cnt.delivered++;

    if (B.phase == CB_PH_MEASURE) {
        B.w_delivered++;
        cb_hist_add(&B.lat, now - t);
    }

    return 1;
}


/* ngx_chat, sio: join the connection's room(s), all with CB_JOIN_ID */

static void
cb_join(cb_conn_t *c)
{
    int       k, n;
    char      room[128], buf[256];
    uint32_t  rooms[2];

    c->state = CB_ST_JOIN;
    c->joins = 0;
    rooms[0] = c->room;
    rooms[1] = c->room2;

    for (k = 0; k < 2 && rooms[k] != CB_NO_ROOM; k++) {
        cb_room_name(rooms[k], room, sizeof(room));

        if (B.proto == CB_PROTO_SIO) {
            n = snprintf(buf, sizeof(buf), "42%d[\"join\",\"%s\"]",
                         CB_JOIN_ID, room);
        } else {
            n = snprintf(buf, sizeof(buf),
                         "{\"type\":\"join\",\"id\":%d,\"room\":\"%s\"}",
                         CB_JOIN_ID, room);
        }

        c->joins++;

        if (cb_send_frame(c, 0x1, (u_char *) buf, n) == -1) {
            return;
        }
    }
}


/* a join's reply: ready once every room is joined */

static void
cb_joined(cb_conn_t *c)
{
    if (--c->joins == 0) {
        cb_set_ready(c);
    }
}


static int
cb_on_text(cb_conn_t *c, u_char *p, size_t len)
{
    int        ok;
    u_char    *q, *qe;
    uint64_t   id;
    cb_span_t  v[CB_J_N];

    if (B.proto == CB_PROTO_SIO) {
        return cb_on_sio(c, p, len);
    }

    if (B.proto == CB_PROTO_NCHAN && c->sender) {
        return cb_on_nchan_pub(c, p, len);
    }

    if (cb_json_scan(p, len, v) == -1 || v[CB_J_TYPE].p == NULL) {
        B.other_events++;
        return 0;
    }

    switch (v[CB_J_TYPE].len) {

    case 7:
        if (cb_span_is(&v[CB_J_TYPE], "message", 7)) {
            if (cb_deliver(&v[CB_J_BODY]) == -1) {
                return 0;
            }

            if (B.proto == CB_PROTO_LIMIT && c->ack_ring) {
                /* a sender's own copy is its ack: "<t> <id> ..." */
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
            }

            return 0;
        }

        if (cb_span_is(&v[CB_J_TYPE], "welcome", 7)) {
            if (c->state == CB_ST_WELCOME) {
                cb_join(c);
            }
            return 0;
        }

        break;

    case 2:
        if (!cb_span_is(&v[CB_J_TYPE], "ok", 2)) {
            break;
        }

        id = cb_span_u64(&v[CB_J_ID], &ok);
        if (!ok) {
            B.other_events++;
            return 0;
        }

        if (c->state == CB_ST_JOIN && id == CB_JOIN_ID) {
            cb_joined(c);
            return 0;
        }

        if (c->ack_ring && id > CB_JOIN_ID && id < c->next_id) {
            cb_ack(c, id, 1);
            return 0;
        }

        B.other_events++;
        return 0;

    case 5:
        if (!cb_span_is(&v[CB_J_TYPE], "error", 5)) {
            break;
        }

        cb_count_errcode(v[CB_J_CODE].p, v[CB_J_CODE].len, 1);

        id = cb_span_u64(&v[CB_J_ID], &ok);

        if (c->state == CB_ST_WELCOME || c->state == CB_ST_JOIN) {
            if (B.verbose) {
                fprintf(stderr, "chat-bench: user %u: setup error: %.*s\n",
                        c->user, (int) len, p);
            }
            cb_close(c, -1);
            return -1;
        }

        if (ok && c->ack_ring && id > CB_JOIN_ID && id < c->next_id) {
            cb_ack(c, id, 0);
        }

        return 0;
    }

    B.other_events++;

    return 0;
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


/* Socket.IO 4 (Engine.IO 4) packets, one per text frame */

static int
cb_on_sio(cb_conn_t *c, u_char *p, size_t len)
{
    int        ok;
    u_char    *q, *end, *e;
    uint64_t   id;
    cb_span_t  v[CB_J_N];

    static const char  msg[] = "42[\"message\",";

    end = p + len;

    if (len == 0) {
        B.other_events++;
        return 0;
    }

    /* the hot path first: a delivery */

    if (len > sizeof(msg) - 1 && memcmp(p, msg, sizeof(msg) - 1) == 0) {
        q = p + sizeof(msg) - 1;

        if (cb_json_scan(q, end - q, v) == -1 || v[CB_J_BODY].p == NULL) {
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
        if (len < 2) {
            break;
        }

        if (p[1] == '0') {               /* connect reply */
            if (c->state == CB_ST_SIO_CONNECT) {
                cb_join(c);
                return 0;
            }
            break;
        }

        if (p[1] == '4') {               /* connect error */
            cb_count_errcode((u_char *) "sio_connect_error", 17, 1);
            if (B.verbose) {
                fprintf(stderr, "chat-bench: user %u: %.*s\n", c->user,
                        (int) len, p);
            }
            cb_close(c, -1);
            return -1;
        }

        if (p[1] == '1') {               /* disconnect */
            cb_close(c, 1000);
            return -1;
        }

        if (p[1] != '3') {               /* 42: some other event */
            break;
        }

        /* an ack: 43<id>[{"ok":true,...}] */

        id = 0;
        ok = 0;

        for (q = p + 2; q < end && *q >= '0' && *q <= '9'; q++) {
            id = id * 10 + (*q - '0');
            ok = 1;
        }

        if (!ok) {
            break;
        }

        ok = (memmem(q, end - q, "\"ok\":true", 9) != NULL);

        if (c->state == CB_ST_JOIN && id == CB_JOIN_ID) {
            if (ok) {
                cb_joined(c);
                return 0;
            }

            cb_count_errcode((u_char *) "sio_join_failed", 15, 1);
            if (B.verbose) {
                fprintf(stderr, "chat-bench: user %u: setup error: %.*s\n",
                        c->user, (int) len, p);
            }
            cb_close(c, -1);
            return -1;
        }

        if (c->ack_ring && id > CB_JOIN_ID && id < c->next_id) {
            if (ok) {
                cb_ack(c, id, 1);
                return 0;
            }

            /* {"ok":false,"error":"..."} */
            e = memmem(q, end - q, "\"error\":\"", 9);
            if (e) {
                e += 9;
                for (q = e; q < end && *q != '"'; q++) { /* void */ }
                cb_count_errcode(e, q - e, 1);
            } else {
                cb_count_errcode(NULL, 0, 1);
            }

            cb_ack(c, id, 0);
            return 0;
        }

        break;
    }

    B.other_events++;

    return 0;
}


static void
cb_set_ready(cb_conn_t *c)
{
    int64_t  now;

    now = cb_now();

    c->state = CB_ST_READY;
    B.ready++;
    B.inflight--;
    B.t_last_ready = now;
    cb_hist_add(&B.conn, now - c->t_conn);

    /* an nchan publisher gets no copy: not a member */
    if (!(B.proto == CB_PROTO_NCHAN && c->sender)) {
        c->counted = 1;
        B.members[c->room]++;
        if (c->room2 != CB_NO_ROOM) {
            B.members[c->room2]++;
        }
    }
}


/* the answer to send "id": ok, or an error (ok = 0) */

static void
cb_ack(cb_conn_t *c, uint64_t id, int ok)
{
    int        mine;
    uint32_t   room;
    cb_ack_t  *slot;

    slot = &c->ack_ring[id % B.ack_ring];
    mine = (slot->id == (uint32_t) id);
    room = mine ? slot->room : c->room;
    slot->id = 0;

    if (mine && slot->sent < B.t_send_start) {
        B.cnt.late++;                    /* of an earlier step */
        return;
    }

    if (!ok) {
        B.cnt.send_errors++;
        return;
    }

    B.cnt.acked++;
    B.cnt.expected += B.members[room];

    /* acks received in the window, whenever sent */
    if (B.phase == CB_PH_MEASURE) {
        B.w_acked++;
        if (mine) {
            cb_hist_add(&B.ack, cb_now() - slot->sent);
        }
    }
}


static void
cb_on_close_frame(cb_conn_t *c, u_char *p, size_t len)
{
    int       code;
    u_char    f[8];
    ssize_t   n;
    uint32_t  m;

    code = (len >= 2) ? (p[0] << 8 | p[1]) : 1005;

    if (B.verbose && c->state != CB_ST_READY) {
        fprintf(stderr, "chat-bench: user %u: close %d during setup: %.*s\n",
                c->user, code, len > 2 ? (int) len - 2 : 0, p + 2);
    }

    /* echo the code in a masked close frame, best effort, then close */
    m = (uint32_t) cb_rand();
    f[0] = 0x88;
    f[1] = 0x80 | (len >= 2 ? 2 : 0);
    memcpy(f + 2, &m, 4);

    if (len >= 2) {
        f[6] = p[0] ^ f[2];
        f[7] = p[1] ^ f[3];
    }

    n = write(c->fd, f, len >= 2 ? 8 : 6);
    (void) n;

    cb_close(c, code);
}


static int
cb_write(cb_conn_t *c, const u_char *data, size_t len)
{
    ssize_t             n;
    struct epoll_event  ev;

    if (c->state == CB_ST_CLOSED) {
        return -1;
    }

    if (c->out_len > c->out_pos) {
        if (c->out_len - c->out_pos > CB_FRAME_MAX) {
            cb_close(c, -1);
            return -1;
        }
        cb_ensure(&c->out, &c->out_cap, c->out_len + len);
        memcpy(c->out + c->out_len, data, len);
        c->out_len += len;
        return 0;
    }

    n = write(c->fd, data, len);

    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR) {
            cb_close(c, 1006);
            return -1;
        }
        n = 0;
    }

    B.bytes_out += n;

    if ((size_t) n == len) {
        if (c->want_out) {
            ev.events = EPOLLIN;
            ev.data.ptr = c;
            epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
            c->want_out = 0;
        }
        return 0;
    }

    c->out_pos = 0;
    c->out_len = len - n;
    cb_ensure(&c->out, &c->out_cap, c->out_len);
    memcpy(c->out, data + n, c->out_len);

    if (!c->want_out) {
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = c;
        epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 1;
    }

    return 0;
}


static int
cb_flush(cb_conn_t *c)
{
    ssize_t             n;
    struct epoll_event  ev;

    while (c->out_len > c->out_pos) {
        n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);

        if (n == -1) {
            if (errno == EAGAIN) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            cb_close(c, 1006);
            return -1;
        }

        B.bytes_out += n;
        c->out_pos += n;
    }

    c->out_pos = 0;
    c->out_len = 0;

    if (c->out_cap > 65536) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }

    if (c->want_out) {
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }

    return 0;
}


static int
cb_send_frame(cb_conn_t *c, unsigned opcode, const u_char *p, size_t len)
{
    int        rc;
    size_t     h, i;
    u_char     stack[4096], *f, mask[4];
    uint32_t   m;

    f = (len + 14 <= sizeof(stack)) ? stack : malloc(len + 14);
    if (f == NULL) {
        cb_die("out of memory");
    }

    f[0] = 0x80 | opcode;

    if (len < 126) {
        f[1] = 0x80 | len;
        h = 2;

    } else if (len < 65536) {
        f[1] = 0x80 | 126;
        f[2] = len >> 8;
        f[3] = len & 0xff;
        h = 4;

    } else {
        f[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) {
            f[2 + i] = (uint64_t) len >> (56 - 8 * i);
        }
        h = 10;
    }

    m = (uint32_t) cb_rand();
    memcpy(mask, &m, 4);
    memcpy(f + h, mask, 4);
    h += 4;

    for (i = 0; i < len; i++) {
        f[h + i] = p[i] ^ mask[i & 3];
    }

    rc = cb_write(c, f, h + len);

    if (f != stack) {
        free(f);
    }

    return rc;
}


/*
 * code: the close code the server sent, 1006 for a dropped connection,
 * 0 for our own close at the end, -1 for a setup failure of ours.
 */

static void
cb_close(cb_conn_t *c, int code)
{
    if (c->state == CB_ST_CLOSED || c->state == CB_ST_FREE) {
        return;
    }

    if (code > 0 && B.phase != CB_PH_DONE) {
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
    free(c->out);
    c->pend = c->frag = c->out = NULL;
    c->pend_len = c->pend_cap = 0;
    c->frag_len = c->frag_cap = 0;
    c->out_len = c->out_pos = c->out_cap = 0;
}


/* one message to "room" over connection c, from user "from" */

static void
cb_send_one(cb_conn_t *c, uint32_t from, uint32_t room, int64_t now)
{
    int              n, pad;
    char             buf[128 + 4096], rn[128], *body;
    uint64_t         id;
    size_t           blen, extra;
    char            *p, *big;
    cb_ack_t        *slot;
    struct timespec  ts;

    if (c->out_len > c->out_pos) {
        B.cnt.backlog++;
        if (B.phase == CB_PH_MEASURE) {
            B.w_backlog++;
        }
        return;
    }

    id = c->next_id++;

    big = NULL;
    p = buf;

    extra = (B.proto == CB_PROTO_LIMIT || B.proto == CB_PROTO_NCHAN)
            ? 512 : 256;

    if (B.size + extra > sizeof(buf)) {
        big = malloc(B.size + extra);
        if (big == NULL) {
            cb_die("out of memory");
        }
        p = big;
    }

    cb_room_name(room, rn, sizeof(rn));

    if (B.proto == CB_PROTO_LIMIT || B.proto == CB_PROTO_NCHAN) {
        /* the event ngx_chat would send for it, which limit echoes and
         * nchan delivers verbatim */
        n = sprintf(p, "{\"type\":\"message\",\"room\":\"%s\","
                    "\"seq\":%llu,\"msg_id\":%llu,\"from\":\"%s%u\","
                    "\"body\":\"", rn, (unsigned long long) id,
                    (unsigned long long) id, B.user_prefix, from);

    } else if (B.proto == CB_PROTO_SIO) {
        n = sprintf(p, "42%llu[\"send\",{\"room\":\"%s\",\"body\":\"",
                    (unsigned long long) id, rn);

    } else {
        n = sprintf(p, "{\"type\":\"send\",\"id\":%llu,\"room\":\"%s\","
                    "\"body\":\"", (unsigned long long) id, rn);
    }

    body = p + n;
    blen = sprintf(body, "%lld %llu", (long long) now,
                   (unsigned long long) id);

    pad = (int) B.size - (int) blen;
    if (pad > 0) {
        body[blen++] = ' ';
        pad--;
        memset(body + blen, 'x', pad);
        blen += pad;
    }

    if (B.proto == CB_PROTO_LIMIT || B.proto == CB_PROTO_NCHAN) {
        clock_gettime(CLOCK_REALTIME, &ts);
        n += blen;
        n += sprintf(p + n, "\",\"ts\":%lld}",
                     (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);

    } else if (B.proto == CB_PROTO_SIO) {
        memcpy(body + blen, "\"}]", 3);
        n += blen + 3;

    } else {
        memcpy(body + blen, "\"}", 2);
        n += blen + 2;
    }

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


static void
cb_tick(int64_t now)
{
    uint32_t    k, room;
    uint64_t    due;
    cb_conn_t  *c, *w;

    if (B.phase < CB_PH_WARMUP || B.phase > CB_PH_MEASURE
        || B.nsenders == 0)
    {
        return;
    }

    due = (uint64_t) ((double) (now - B.t_send_start) * B.rate / CB_SEC);

    while (B.sched < due) {

        if (B.proto == CB_PROTO_LIMIT) {
            /* each message once per port, by that port's sender */
            B.sched++;

            for (k = 0; k < B.nsenders; k++) {
                c = &B.c[B.sender_idx[k]];

                if (c->state != CB_ST_READY) {
                    B.cnt.notready++;
                    continue;
                }

                cb_send_one(c, c->user, c->room, now);
            }

            continue;
        }

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

        if (c->state != CB_ST_READY || w->state != CB_ST_READY) {
            B.cnt.notready++;
            continue;
        }

        cb_send_one(w, c->user, room, now);
    }
}


static void
cb_hist_add(cb_hist_t *h, uint64_t v)
{
    int       e;
    uint32_t  idx;

    if (v < 64) {
        idx = v;

    } else {
        e = 63 - __builtin_clzll(v);
        idx = (e - 5) * 64 + ((v >> (e - 6)) & 63);
    }

    h->counts[idx]++;
    h->n++;
    h->sum += v;

    if (v > h->max) {
        h->max = v;
    }
}


static uint64_t
cb_hist_pct(cb_hist_t *h, double p)
{
    int       e;
    uint32_t  i;
    uint64_t  want, seen, sub, lo;

    if (h->n == 0) {
        return 0;
    }

    want = (uint64_t) (p / 100.0 * h->n + 0.999999);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (i = 0; i < CB_HIST_SIZE; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            break;
        }
    }

    if (i < 64) {
        return i;
    }

    e = i / 64 + 5;
    sub = i % 64;
    lo = (64 + sub) << (e - 6);
    lo += (1ULL << (e - 6)) / 2;         /* middle of the bucket */

    return lo < h->max ? lo : h->max;
}


static void
cb_count_errcode(const u_char *p, size_t len, uint64_t n)
{
    int  i;

    if (p == NULL) {
        p = (const u_char *) "(none)";
        len = 6;
    }

    if (len > 31) {
        len = 31;
    }

    for (i = 0; i < B.nerrcodes; i++) {
        if (strlen(B.errcodes[i].name) == len
            && memcmp(B.errcodes[i].name, p, len) == 0)
        {
            B.errcodes[i].count += n;
            return;
        }
    }

    if (B.nerrcodes == CB_MAX_ERRCODES) {
        i = CB_MAX_ERRCODES - 1;
        B.errcodes[i].count += n;
        return;
    }

    memcpy(B.errcodes[i].name, p, len);
    B.errcodes[i].name[len] = '\0';
    B.errcodes[i].count = n;
    B.nerrcodes++;
}


/* server processes: /proc/PID/stat and /proc/PID/status */

static int
cb_proc_stat(int pid, int *ppid, uint64_t *cpu, char *comm, size_t ccap)
{
    int            fd, i;
    char           buf[1024], *p, *lp, *rp;
    ssize_t        n;
    unsigned long  ut, st;

    snprintf(buf, sizeof(buf), "/proc/%d/stat", pid);

    fd = open(buf, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);

    if (n <= 0) {
        return -1;
    }

    buf[n] = '\0';

    lp = strchr(buf, '(');
    rp = strrchr(buf, ')');
    if (lp == NULL || rp == NULL || rp < lp) {
        return -1;
    }

    if (comm) {
        snprintf(comm, ccap, "%.*s", (int) (rp - lp - 1), lp + 1);
    }

    /* after ") ": state(3) ppid(4) ... utime(14) stime(15) */
    p = rp + 2;

    for (i = 3; i < 14 && p; i++) {
        if (i == 4 && ppid) {
            *ppid = atoi(p);
        }
        p = strchr(p, ' ');
        if (p) {
            p++;
        }
    }

    if (p == NULL || sscanf(p, "%lu %lu", &ut, &st) != 2) {
        return -1;
    }

    if (cpu) {
        *cpu = (uint64_t) ut + st;
    }

    return 0;
}


/*
 * A process's memory: its proportional set size (Pss in smaps_rollup),
 * where pages shared between processes (nginx workers and their master,
 * PostgreSQL backends and shared buffers, Node's cluster) count once in
 * all, not once per process as VmRSS would count them.  VmRSS where
 * smaps_rollup is missing.
 */
static uint64_t
cb_proc_rss(int pid)
{
    int                 i;
    FILE               *f;
    char                line[256];
    const char         *file[2] = { "smaps_rollup", "status" };
    const char         *key[2] = { "Pss: %llu", "VmRSS: %llu" };
    unsigned long long  kb;

    for (i = 0; i < 2; i++) {
        snprintf(line, sizeof(line), "/proc/%d/%s", pid, file[i]);

        f = fopen(line, "re");
        if (f == NULL) {
            continue;
        }

        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, key[i], &kb) == 1) {
                fclose(f);
                return kb;
            }
        }

        fclose(f);
    }

    return 0;
}


static void
cb_add_proc(int pid, int group)
{
    int  i;

    for (i = 0; i < B.nprocs; i++) {
        if (B.procs[i].pid == pid) {
            return;
        }
    }

    if (B.nprocs == CB_MAX_PROCS) {
        return;
    }

    B.procs[B.nprocs].pid = pid;
    B.procs[B.nprocs].group = group;
    B.nprocs++;
}


static void
cb_procs_init(void)
{
    int             i, g, pid, ppid, nkids;
    char            comm[64], *s, *tok, *save;
    DIR            *d;
    struct dirent  *de;

    for (i = 0; i < B.nmasters; i++) {
        g = B.ngroups++;

        if (cb_proc_stat(B.master_pids[i], NULL, NULL, comm, sizeof(comm))
            == -1)
        {
            cb_die("no process %d (--master-pid)", B.master_pids[i]);
        }

        cb_add_proc(B.master_pids[i], g);

        nkids = 0;
        d = opendir("/proc");
        if (d == NULL) {
            cb_die("opendir(/proc): %s", strerror(errno));
        }

        while ((de = readdir(d)) != NULL) {
            if (!isdigit((u_char) de->d_name[0])) {
                continue;
            }
            pid = atoi(de->d_name);
            ppid = 0;
            if (cb_proc_stat(pid, &ppid, NULL, NULL, 0) == 0
                && ppid == B.master_pids[i])
            {
                cb_add_proc(pid, g);
                nkids++;
            }
        }

        closedir(d);

        snprintf(B.groups[g].label, sizeof(B.groups[g].label),
                 "%.20s[%d]+%d", comm, B.master_pids[i], nkids);
    }

    if (B.pid_list) {
        g = B.ngroups++;
        s = strdup(B.pid_list);
        snprintf(B.groups[g].label, sizeof(B.groups[g].label), "pids");

        for (tok = strtok_r(s, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
        {
            pid = atoi(tok);
            if (pid <= 0 || cb_proc_stat(pid, NULL, NULL, comm, sizeof(comm))
                            == -1)
            {
                cb_die("no process \"%s\" (--pids)", tok);
            }
            cb_add_proc(pid, g);
            if (B.nprocs == 1 || strlen(B.groups[g].label) < 40) {
                size_t l = strlen(B.groups[g].label);
                snprintf(B.groups[g].label + l, sizeof(B.groups[g].label) - l,
                         "%s%s", l == 4 ? ":" : ",", comm);
            }
        }

        free(s);
    }
}


/* cpu, rss: into sample 0 or 1, or -1: not now */

static void
cb_procs_sample(int cpu, int rss)
{
    int        i;
    uint64_t   ticks;
    cb_proc_t  *p;

    for (i = 0; i < B.nprocs; i++) {
        p = &B.procs[i];

        if (cb_proc_stat(p->pid, NULL, &ticks, NULL, 0) == -1) {
            p->gone = 1;
            continue;
        }

        if (cpu >= 0) {
            *(cpu ? &p->cpu1 : &p->cpu0) = ticks;
        }

        if (rss >= 0) {
            *(rss ? &p->rss1 : &p->rss0) = cb_proc_rss(p->pid);
        }
    }
}


static int64_t
cb_sockstat_pages(void)
{
    FILE       *f;
    char        line[256], *m;
    long long   pages;

    f = fopen("/proc/net/sockstat", "re");
    if (f == NULL) {
        return -1;
    }

    pages = -1;

    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "TCP:", 4) == 0) {
            m = strstr(line, " mem ");
            if (m) {
                pages = atoll(m + 5);
            }
        }
    }

    fclose(f);

    return pages;
}


static void
cb_sys_cpu(uint64_t *busy, uint64_t *steal)
{
    FILE                *f;
    unsigned long long   v[8];

    *busy = 0;
    *steal = 0;

    f = fopen("/proc/stat", "re");
    if (f == NULL) {
        return;
    }

    memset(v, 0, sizeof(v));

    /* user nice system idle iowait irq softirq steal */
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
        >= 7)
    {
        *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        *steal = v[7];
    }

    fclose(f);
}


static double
cb_tv(struct timeval *tv)
{
    return tv->tv_sec + tv->tv_usec / 1e6;
}


static double
cb_ru_cpu(struct rusage *a, struct rusage *b)
{
    return cb_tv(&b->ru_utime) - cb_tv(&a->ru_utime)
           + cb_tv(&b->ru_stime) - cb_tv(&a->ru_stime);
}


static void
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


static void
cb_phase(int phase, int64_t now)
{
    static const char  *names[] = {
        "setup", "warmup", "measure", "drain", "done"
    };

    B.phase = phase;

    fprintf(stderr, "chat-bench: %.2fs: %s (ready %u/%u)\n",
            (double) (now - B.t_start) / CB_SEC, names[phase], B.ready, B.n);
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


static void
cb_setup_conns(void)
{
    uint32_t    i, r, base, stride;
    cb_conn_t  *c;

    switch (B.scenario) {

    case CB_SC_FANOUT:
        B.n = B.subs + B.senders;
        B.nrooms = (B.proto == CB_PROTO_LIMIT) ? B.ports : 1;
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
        B.nrooms = (B.proto == CB_PROTO_LIMIT) ? B.ports : (B.conns + 1) / 2;
        B.nsenders = 0;
        break;
    }

    base = B.n;

    if (B.nchan_echo) {
        B.n += B.nsenders;              /* after everything else */
    }

    if (B.proto == CB_PROTO_NCHAN && B.scenario == CB_SC_CHAT) {
        B.pub_base = base;              /* a publisher per room, last */
        B.n += B.nrooms;
    }

    B.c = calloc(B.n, sizeof(cb_conn_t));
    B.members = calloc(B.nrooms, sizeof(uint32_t));
    B.sender_idx = calloc(B.nsenders + 1, sizeof(uint32_t));

    if (B.c == NULL || B.members == NULL || B.sender_idx == NULL) {
        cb_die("out of memory");
    }

    /* chat: every member sends, slowly; nchan: publishers, faster */
    B.ack_ring = (B.scenario == CB_SC_CHAT && !B.pub_base)
                 ? CB_ACK_RING_CHAT : CB_ACK_RING;

    /*
     * chat: the senders take turns in an order spread by a golden-ratio
     * stride, so that any second has its share of group members (in
     * connection order the groups would all send in one part of a round)
     */
    stride = 1;
    if (B.scenario == CB_SC_CHAT) {
        stride = (uint32_t) (B.nsenders * 0.618034) | 1;
        while (cb_gcd(stride, B.nsenders) != 1) {
            stride++;
        }
    }

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

        } else if (B.scenario == CB_SC_FANOUT) {
            c->room = 0;
            if (i >= B.subs) {
                c->sender = 1;
                B.sender_idx[r++] = i;
            }
            if (B.proto == CB_PROTO_LIMIT) {
                /* the "room" is the port: round-robin, sender k on k */
                c->room = (i < B.subs) ? i % B.ports : i - B.subs;
            }

        } else if (B.scenario == CB_SC_CHAT) {
            c->room = i / 2;
            if (i < B.chat_groups * B.group_size) {
                c->room2 = B.pairs + i / B.group_size;
                c->rr = i & 1;          /* half begin with the group */
            }
            /* everyone sends; nchan: over the room's publisher */
            c->sender = (B.proto != CB_PROTO_NCHAN);
            B.sender_idx[(uint64_t) r++ * stride % B.nsenders] = i;

        } else if (B.proto == CB_PROTO_LIMIT) {
            c->room = i % B.ports;      /* idle, connect: the port */

        } else {
            c->room = i / 2;
            if (B.scenario == CB_SC_ROOMS && i % 2 == 0) {
                c->sender = 1;
                B.sender_idx[r++] = i;
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


/* a polite close of every connection, then drop them */

static void
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


/* a helper, set up: report to the parent, hold until it lets go, exit */

static void
cb_kid_hold(void)
{
    int                 i, n, done;
    size_t              off;
    ssize_t             w;
    struct epoll_event  ev, events[CB_MAX_EVENTS];

    for (off = 0; off < sizeof(cb_bench_t); off += w) {
        w = write(B.kid_fd, (u_char *) &B + off, sizeof(cb_bench_t) - off);
        if (w == -1 && errno == EINTR && !cb_interrupted) {
            w = 0;
            continue;
        }
        if (w <= 0) {
            break;                       /* the parent is gone */
        }
    }

    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = NULL;
    epoll_ctl(B.ep, EPOLL_CTL_ADD, B.kid_fd, &ev);

    /* answer pings and the like; a read event on kid_fd: the end */
    for (done = 0; !done && !cb_interrupted; ) {
        n = epoll_wait(B.ep, events, CB_MAX_EVENTS, 1000);

        for (i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                done = 1;
            } else {
                cb_on_event(events[i].data.ptr, events[i].events);
            }
        }
    }

    cb_close_all();
    _exit(0);
}


/* a step: sending at B.rates[B.step], counted from zero */

static void
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
    memset(&B.ack, 0, sizeof(B.ack));
    memset(&B.ru1, 0, sizeof(B.ru1));
    B.sys_busy0 = B.sys_busy1 = 0;
    B.sys_steal0 = B.sys_steal1 = 0;
    B.reported = 0;
    B.stopped = 0;

    B.t_send_start = now;
    B.t_meas_start = now + (int64_t) (B.warmup * CB_SEC);
    B.t_meas_end = B.t_meas_start + (int64_t) (B.duration * CB_SEC);

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

static void
cb_window(int end, int64_t now)
{
    int  idle;

    idle = (B.scenario == CB_SC_IDLE);

    getrusage(RUSAGE_SELF, end ? &B.ru1 : &B.ru0);
    cb_procs_sample(end, (!end && idle) ? 1 : -1);
    cb_sys_cpu(end ? &B.sys_busy1 : &B.sys_busy0,
               end ? &B.sys_steal1 : &B.sys_steal0);

    if (end) {
        B.t_meas_end = now;
        B.t_drain_end = now + (int64_t) (B.drain * CB_SEC);
        cb_phase(CB_PH_DRAIN, now);
        return;
    }

    if (idle) {
        B.sock_pages1 = cb_sockstat_pages();
        B.ready_sample = B.ready;
    }

    B.t_meas_start = now;
    B.t_meas_end = now + (int64_t) (B.duration * CB_SEC);
    cb_phase(CB_PH_MEASURE, now);
}


/* every send of the step answered and every delivery due arrived */

static int
cb_step_drained(void)
{
    return B.cnt.acked - B.base.acked + B.cnt.send_errors
           - B.base.send_errors >= B.cnt.sent - B.base.sent
           && B.cnt.delivered - B.base.delivered
              >= B.cnt.expected - B.base.expected;
}


int
main(int argc, char **argv)
{
    int                  i, n, timeout, rc;
    int64_t              now, deadline;
    uint32_t             k;
    cb_conn_t           *c;
    struct sigaction     sa;
    struct epoll_event   ev, events[CB_MAX_EVENTS];

    cb_parse_args(argc, argv);

    if (B.proto == CB_PROTO_NGX_CHAT) {
        cb_read_secret();
    }

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

    cb_setup_conns();
    cb_procs_init();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cb_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* "before" samples for the idle scenario */
    cb_procs_sample(-1, 0);
    B.sock_pages0 = cb_sockstat_pages();

    B.t_start = cb_now();
    deadline = B.t_start + (int64_t) (B.setup_timeout * CB_SEC);

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
                argv[0], B.n, B.host, B.port, B.path,
                B.proto != CB_PROTO_NCHAN ? ""
                : B.scenario == CB_SC_CHAT ? "<room> or /subm/<room>/<room> "
                                             "(publishers /pub/<room>)"
                : "<room> (publishers /pub/<room>)");
    }

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
            break;
        }

        /* phase transitions */

        if (B.phase == CB_PH_SETUP) {

            while (B.next_connect < B.conn_hi && B.inflight < B.conc) {
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
                || now > deadline + (B.nkids ? 2 * CB_SEC : 0))
            {
                for (k = 0; k < B.n; k++) {
                    c = &B.c[k];
                    if (c->state != CB_ST_READY && c->state != CB_ST_CLOSED) {
                        cb_close(c, -1);   /* timed out */
                    }
                }

                if (B.is_kid) {
                    cb_kid_hold();         /* no return */
                }

                cb_kids_give_up();

                B.t_setup_done = now;
                B.conn_rate_t = B.t_last_ready - B.t_start;
                B.ready_setup = B.ready;

                if (B.ready == 0 || B.scenario == CB_SC_CONNECT) {
                    cb_phase(CB_PH_DONE, now);
                    break;
                }

                cb_step_begin(now);

                if (B.warmup == 0) {
                    continue;
                }
            }

        } else if (B.phase == CB_PH_WARMUP && now >= B.t_meas_start) {
            cb_window(0, now);

        } else if (B.phase == CB_PH_MEASURE && now >= B.t_meas_end) {
            cb_window(1, now);

        } else if (B.phase == CB_PH_DRAIN) {
            if (B.scenario == CB_SC_IDLE) {
                cb_phase(CB_PH_DONE, now);
                break;
            }

            if (now >= B.t_drain_end || cb_step_drained()) {
                cb_report();

                if (B.stopped || B.step + 1 == B.nrates) {
                    cb_phase(CB_PH_DONE, now);
                    break;
                }

                B.step++;
                cb_step_begin(now);
                continue;
            }
        }

        cb_tick(now);
        cb_progress(now);

        timeout = (B.phase == CB_PH_SETUP) ? 10 : 1;

        n = epoll_wait(B.ep, events, CB_MAX_EVENTS, timeout);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
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

    rc = (B.ready_setup == 0) ? 1 : 0;

    cb_close_all();
    cb_kids_end();

    return rc;
}


static void
cb_report(void)
{
    int                  i, g, saturated, behind, sending;
    char                 errs[512], closes[512], fails[512];
    size_t               l;
    double               wall, gcpu, sent_s, ack_s, del_s, srv_us, srv_s;
    double               gsrv[CB_MAX_GROUPS], rss_kb, grss[CB_MAX_GROUPS];
    double               conn_rate, sock_kb, members, fpm;
    double               sys_busy = 0, other = 0;
    uint64_t             srv_ticks, lost, unacked, *d;
    const uint64_t      *a, *b;
    long                 hz, pagesz;
    const char          *sc;
    cb_counts_t          st;
    static const double  pcts[] = { 50, 90, 99, 99.9 };
    static const char   *pnames[] = { "p50", "p90", "p99", "p999" };
    static const char   *scs[] = {
        "", "fanout", "rooms", "idle", "chat", "connect"
    };

    hz = sysconf(_SC_CLK_TCK);
    pagesz = sysconf(_SC_PAGESIZE);

    sc = scs[B.scenario];
    sending = (B.scenario != CB_SC_IDLE && B.scenario != CB_SC_CONNECT);

    /* this step's counters (cb_counts_t: uint64_t members only) */
    d = (uint64_t *) &st;
    a = (const uint64_t *) &B.cnt;
    b = (const uint64_t *) &B.base;
    for (l = 0; l < sizeof(cb_counts_t) / sizeof(uint64_t); l++) {
        d[l] = a[l] - b[l];
    }

    wall = (double) (B.t_meas_end - B.t_meas_start) / CB_SEC;
    if (wall <= 0) {
        wall = 1e-9;
    }

    gcpu = cb_ru_cpu(&B.ru0, &B.ru1);
    saturated = (sending && wall > 0.1 && gcpu > 0.9 * wall);

    /* average members per room at ack time; behind: deliveries trail */
    members = st.acked ? (double) st.expected / st.acked : 0;
    behind = (B.w_sent && B.w_delivered < 0.95 * B.w_sent * members);

    /* proto limit: a message is one frame per port; report messages */
    fpm = (B.proto == CB_PROTO_LIMIT && B.nsenders) ? B.nsenders : 1;

    sent_s = B.w_sent / wall / fpm;
    ack_s = B.w_acked / wall / fpm;
    del_s = B.w_delivered / wall;
    conn_rate = B.conn_rate_t > 0
                ? (double) B.ready_setup / ((double) B.conn_rate_t / CB_SEC)
                : 0;

    srv_ticks = 0;
    memset(gsrv, 0, sizeof(gsrv));
    memset(grss, 0, sizeof(grss));
    rss_kb = 0;

    for (i = 0; i < B.nprocs; i++) {
        if (B.procs[i].gone) {
            continue;
        }
        srv_ticks += B.procs[i].cpu1 - B.procs[i].cpu0;
        gsrv[B.procs[i].group] += B.procs[i].cpu1 - B.procs[i].cpu0;
        grss[B.procs[i].group] += (double) B.procs[i].rss1
                                  - (double) B.procs[i].rss0;
        rss_kb += (double) B.procs[i].rss1 - (double) B.procs[i].rss0;
    }

    srv_s = (double) srv_ticks / hz;
    srv_us = B.w_delivered ? srv_s * 1e6 / B.w_delivered : 0;

    lost = st.expected > st.delivered ? st.expected - st.delivered : 0;
    unacked = st.sent - st.acked - st.send_errors;

    /* steps: this one is the last if it did not hold */
    B.stopped = B.stepped
                && ((B.stop_p99_ms > 0
                     && cb_hist_pct(&B.lat, 99) > B.stop_p99_ms * CB_MS)
                    || behind || lost || unacked || st.send_errors);
    B.reported = 1;

    /* error codes, close codes and setup failures as "k:v,k:v" */

    errs[0] = '\0';
    for (i = 0, l = 0; i < B.nerrcodes && l < sizeof(errs) - 64; i++) {
        l += snprintf(errs + l, sizeof(errs) - l, "%s%s:%llu", l ? "," : "",
                      B.errcodes[i].name,
                      (unsigned long long) B.errcodes[i].count);
    }

    closes[0] = '\0';
    for (i = 0, l = 0; i < 5000 && l < sizeof(closes) - 64; i++) {
        if (B.closes[i]) {
            l += snprintf(closes + l, sizeof(closes) - l, "%s%d:%llu",
                          l ? "," : "", i,
                          (unsigned long long) B.closes[i]);
        }
    }

    fails[0] = '\0';
    for (i = 0, l = 0; i < 600 && l < sizeof(fails) - 64; i++) {
        if (B.http_status[i]) {
            l += snprintf(fails + l, sizeof(fails) - l, "%shttp%d:%llu",
                          l ? "," : "", i,
                          (unsigned long long) B.http_status[i]);
        }
    }
    for (i = 0; i < 256 && l < sizeof(fails) - 64; i++) {
        if (B.connect_errno[i]) {
            l += snprintf(fails + l, sizeof(fails) - l, "%s%s:%llu",
                          l ? "," : "", strerrorname_np(i)
                                        ? strerrorname_np(i) : "errno",
                          (unsigned long long) B.connect_errno[i]);
        }
    }

    if (B.stepped) {
        printf("\n== chat-bench %s: step %u of rates %s: %g msgs/s ==\n", sc,
               B.step, B.rates_str, B.rate);
    } else {
        printf("\n== chat-bench %s ==\n", sc);
    }

    if (B.proto == CB_PROTO_LIMIT) {
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

    } else if (B.proto == CB_PROTO_NCHAN) {
        printf("target          ws://%s:%d/sub/<room>%s (proto nchan: "
               "publishers on /pub/<room>, no auth, no join)\n",
               B.host, B.port, B.scenario == CB_SC_CHAT
               ? " and /subm/<room>/<room>" : "");
        printf("                a publisher gets no copy and is no member; "
               "acked = nchan's channel-info reply\n");

    } else if (B.proto == CB_PROTO_SIO) {
        printf("target          ws://%s:%d%s%cEIO=4&transport=websocket "
               "(proto sio: Socket.IO 4, no auth)\n", B.host, B.port,
               B.path, strchr(B.path, '?') ? '&' : '?');
        if (sending) {
            printf("                acked = the send's ack callback, "
                   "answered once emitted (nothing stored)\n");
        }

    } else {
        printf("target          ws://%s:%d%s\n", B.host, B.port, B.path);
    }

    switch (B.proto == CB_PROTO_LIMIT ? 0
            : B.proto == CB_PROTO_NCHAN ? -B.scenario : B.scenario)
    {
    case -CB_SC_FANOUT:
        printf("shape           1 channel x %u subscribers + %u publisher(s)%s"
               ", %u members\n", B.subs + (B.nchan_echo ? B.senders : 0),
               B.senders, B.nchan_echo ? " (--nchan-echo: 1 subscriber "
               "per publisher included)" : "",
               B.subs + (B.nchan_echo ? B.senders : 0));
        break;
    case -CB_SC_ROOMS:
        if (B.nchan_echo) {
            printf("shape           %u channels x (1 publisher + 2 "
                   "subscribers, one standing for the publisher's own "
                   "copy), 2 members each\n", B.rooms);
        } else {
            printf("shape           %u channels x (1 publisher + 1 "
                   "subscriber), 1 member each\n", B.rooms);
        }
        break;
    case -CB_SC_CHAT:
        printf("shape           %u channels of 2 + %u of %u over %u "
               "subscribers (those in two: /subm/), + %u publishers, one\n"
               "                per channel, each sending for its members;"
               " a member gets its own messages\n", B.pairs, B.chat_groups,
               B.group_size, 2 * B.pairs, B.nrooms);
        break;
    case -CB_SC_IDLE:
    case -CB_SC_CONNECT:
        printf("shape           %u subscribers, channels of 2\n", B.conns);
        break;
    case 0:
        break;
    case CB_SC_FANOUT:
        printf("shape           1 room x %u subscribers + %u sender(s), "
               "%u members\n", B.subs, B.senders, B.subs + B.senders);
        break;
    case CB_SC_ROOMS:
        printf("shape           %u rooms x 2 members, 1 sender each\n",
               B.rooms);
        break;
    case CB_SC_CHAT:
        printf("shape           %u rooms of 2 + %u rooms of %u over %u "
               "connections; everyone sends, to its rooms\n"
               "                in turn, and gets its own messages back\n",
               B.pairs, B.chat_groups, B.group_size, 2 * B.pairs);
        break;
    default:
        printf("shape           %u connections, rooms of 2\n", B.conns);
        break;
    }

    printf("connections     %u ready of %u (%u failed%s%s), "
           "%.0f conn/s (connect+auth+join); %u still open at the end\n",
           B.ready_setup, B.n, B.setup_failed, fails[0] ? ": " : "", fails,
           conn_rate, B.ready);

    if (B.conn.n) {
        printf("connect time    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms "
               "(connect -> %s, %llu connections)\n",
               cb_hist_pct(&B.conn, 50) / 1e6, cb_hist_pct(&B.conn, 90) / 1e6,
               cb_hist_pct(&B.conn, 99) / 1e6, B.conn.max / 1e6,
               B.proto == CB_PROTO_LIMIT || B.proto == CB_PROTO_NCHAN
               ? "upgraded" : "joined", (unsigned long long) B.conn.n);
    }

    if (B.scenario == CB_SC_CONNECT) {
        /* connected, then closed: nothing more */

    } else if (B.t_send_start == 0) {
        printf("not run         no connection became ready\n");

    } else if (sending) {
        printf("window          %.2f s after %.1f s warmup, "
               "body %u bytes\n", wall, B.warmup, B.size);
        if (B.scenario == CB_SC_CHAT) {
            printf("offered         %.0f msgs/s (%.3f/s from each of %u "
                   "connections)\n", B.rate, B.rate / B.nsenders,
                   B.nsenders);
        } else {
            printf("offered         %.0f msgs/s\n", B.rate);
        }
        if (B.proto == CB_PROTO_LIMIT) {
            printf("sent            %.0f msgs/s (%.0f in window, %llu frames;"
                   " %llu frames skipped as backlog, %llu sender gone)\n",
                   sent_s, B.w_sent / fpm, (unsigned long long) B.w_sent,
                   (unsigned long long) st.backlog,
                   (unsigned long long) st.notready);
            printf("acked           %.0f msgs/s (total %llu of %llu frames "
                   "came back to their sender)\n", ack_s,
                   (unsigned long long) st.acked,
                   (unsigned long long) st.sent);

        } else {
            printf("sent            %.0f msgs/s (%llu in window; %llu skipped "
                   "as backlog, %llu sender gone)\n", sent_s,
                   (unsigned long long) B.w_sent,
                   (unsigned long long) st.backlog,
                   (unsigned long long) st.notready);
            printf("acked           %.0f msgs/s (total %llu of %llu sent, "
                   "%llu send errors)\n", ack_s,
                   (unsigned long long) st.acked,
                   (unsigned long long) st.sent,
                   (unsigned long long) st.send_errors);
        }
        printf("deliveries      %.0f /s (%llu in window; total %llu of %llu "
               "expected, %llu missing after drain)\n", del_s,
               (unsigned long long) B.w_delivered,
               (unsigned long long) st.delivered,
               (unsigned long long) st.expected, (unsigned long long) lost);
        if (st.late) {
            printf("                %llu acks and deliveries of earlier "
                   "steps came late, in this one\n",
                   (unsigned long long) st.late);
        }
        printf("latency         p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
               "max %.2f ms (send -> message event, %llu samples)\n",
               cb_hist_pct(&B.lat, 50) / 1e6, cb_hist_pct(&B.lat, 90) / 1e6,
               cb_hist_pct(&B.lat, 99) / 1e6,
               cb_hist_pct(&B.lat, 99.9) / 1e6, B.lat.max / 1e6,
               (unsigned long long) B.lat.n);
        printf("ack latency     p50 %.2f  p99 %.2f  max %.2f ms "
               "(send -> %s)\n", cb_hist_pct(&B.ack, 50) / 1e6,
               cb_hist_pct(&B.ack, 99) / 1e6, B.ack.max / 1e6,
               B.proto == CB_PROTO_LIMIT ? "own copy" : "ok");
        printf("generator CPU   %.2f s over %.2f s wall (%.0f%% of one core)"
               "%s\n", gcpu, wall, 100 * gcpu / wall,
               saturated ? "  ** GENERATOR SATURATED: throughput and "
                           "latency measure the client **" : "");
        if (B.w_delivered) {
            printf("                %.2f us generator CPU per delivery\n",
                   gcpu * 1e6 / B.w_delivered);
        }

        if (B.sys_busy1 > B.sys_busy0) {
            sys_busy = (double) (B.sys_busy1 - B.sys_busy0) / hz;
            other = sys_busy - gcpu - srv_s;
            printf("machine CPU     %.2f of %ld cores busy over the window; "
                   "other processes ~%.2f core%s%s\n", sys_busy / wall,
                   sysconf(_SC_NPROCESSORS_ONLN), other > 0 ? other / wall : 0,
                   B.nprocs ? "" : " (incl. the server: no --pids)",
                   B.sys_steal1 > B.sys_steal0 ? ", some steal" : "");
        }

        if (behind) {
            printf("note            deliveries trail the offered load "
                   "(%.0f%%): the system under test did not keep up, or\n"
                   "                the machine is busy (see machine CPU); "
                   "latency includes queueing\n",
                   100.0 * B.w_delivered / (B.w_sent * members));
        }

        if (B.stopped) {
            printf("stopped         the last step:%s%s%s%s%s\n",
                   B.stop_p99_ms > 0
                   && cb_hist_pct(&B.lat, 99) > B.stop_p99_ms * CB_MS
                   ? " p99 over --stop-p99-ms;" : "",
                   behind ? " deliveries behind;" : "",
                   lost ? " deliveries lost;" : "",
                   unacked ? " sends unanswered after the drain;" : "",
                   st.send_errors ? " send errors;" : "");
        }

        if (B.nprocs) {
            printf("server CPU      %.2f s over the window = %.1f%% of one "
                   "core; %.2f us per delivery\n",
                   srv_s, 100.0 * srv_s / wall, srv_us);
            if (B.scenario == CB_SC_CHAT) {
                printf("                %.2f us per send\n",
                       B.w_sent ? srv_s * 1e6 / B.w_sent : 0);
            }
            for (g = 0; g < B.ngroups; g++) {
                printf("                %-28s %.2f s  %.2f us/delivery\n",
                       B.groups[g].label, gsrv[g] / hz,
                       B.w_delivered ? gsrv[g] * 1e6 / hz / B.w_delivered
                                     : 0);
            }
        }

    } else {
        if (B.nprocs) {
            printf("server memory   %+.0f KiB (PSS) for %u connections = "
                   "%.2f KiB/conn\n", rss_kb, B.ready_sample,
                   B.ready_sample ? rss_kb / B.ready_sample : 0);
            for (g = 0; g < B.ngroups; g++) {
                printf("                %-28s %+.0f KiB  %.2f KiB/conn\n",
                       B.groups[g].label, grss[g],
                       B.ready_sample ? grss[g] / B.ready_sample : 0);
            }
        }

        if (B.nprocs && B.duration > 0) {
            printf("server CPU      %.2f s over %.2f s idle = %.2f%% of one "
                   "core\n", srv_s, wall, 100.0 * srv_s / wall);
            for (g = 0; g < B.ngroups; g++) {
                printf("                %-28s %.2f s\n", B.groups[g].label,
                       gsrv[g] / hz);
            }
        }
    }

    sock_kb = 0;
    if (B.scenario == CB_SC_IDLE && B.t_send_start && B.sock_pages0 >= 0
        && B.sock_pages1 >= 0)
    {
        sock_kb = (double) (B.sock_pages1 - B.sock_pages0) * pagesz / 1024;
        printf("socket memory   TCP mem %lld -> %lld pages = %+.0f KiB = "
               "%.2f KiB/conn\n"
               "                (system-wide /proc/net/sockstat: both ends "
               "of each connection and any other TCP traffic)\n",
               (long long) B.sock_pages0, (long long) B.sock_pages1, sock_kb,
               B.ready_sample ? sock_kb / B.ready_sample : 0);
    }

    printf("server errors   %s\n", errs[0] ? errs : "none");
    printf("server closes   %s\n", closes[0] ? closes : "none");
    printf("other events    %llu (presence/member/...), %llu foreign "
           "messages\n", (unsigned long long) B.other_events,
           (unsigned long long) B.foreign);

    printf("RESULT scenario=%s conns=%u ready=%u failed=%u conn_rate=%.0f "
           "open_at_end=%u", sc, B.n, B.ready_setup, B.setup_failed,
           conn_rate, B.ready);

    if (B.proto == CB_PROTO_LIMIT) {
        printf(" proto=limit ports=%u", B.ports);

    } else if (B.proto == CB_PROTO_NCHAN) {
        printf(" proto=nchan%s", B.nchan_echo ? " nchan_echo=1" : "");

    } else if (B.proto == CB_PROTO_SIO) {
        printf(" proto=sio");
    }

    if (B.stepped) {
        printf(" step=%u rates=%s stopped=%d late=%llu", B.step, B.rates_str,
               B.stopped, (unsigned long long) st.late);
    }

    if (B.scenario == CB_SC_CHAT) {
        printf(" pairs=%u groups=%u group_size=%u", B.pairs, B.chat_groups,
               B.group_size);
    }

    if (B.scenario == CB_SC_CONNECT) {
        printf(" conn_p50_us=%.0f conn_p90_us=%.0f conn_p99_us=%.0f "
               "conn_max_us=%.0f", cb_hist_pct(&B.conn, 50) / 1e3,
               cb_hist_pct(&B.conn, 90) / 1e3, cb_hist_pct(&B.conn, 99) / 1e3,
               B.conn.max / 1e3);

    } else if (sending) {
        /* proto limit: messages, each sent once per port (fpm frames) */
        printf(" rate=%.0f window_s=%.2f sent=%.0f sent_per_s=%.0f "
               "acked_per_s=%.0f deliveries=%llu deliveries_per_s=%.0f "
               "backlog=%llu send_errors=%llu lost=%llu",
               B.rate, wall, B.w_sent / fpm, sent_s, ack_s,
               (unsigned long long) B.w_delivered, del_s,
               (unsigned long long) st.backlog,
               (unsigned long long) st.send_errors,
               (unsigned long long) lost);
        printf(" unacked=%.0f members=%.1f behind=%d", unacked / fpm,
               members * fpm, behind);

        for (i = 0; i < 4; i++) {
            printf(" lat_%s_us=%.0f", pnames[i],
                   cb_hist_pct(&B.lat, pcts[i]) / 1e3);
        }

        printf(" lat_max_us=%.0f ack_p50_us=%.0f ack_p99_us=%.0f"
               " gen_cpu_s=%.2f gen_wall_s=%.2f gen_saturated=%d",
               B.lat.max / 1e3, cb_hist_pct(&B.ack, 50) / 1e3,
               cb_hist_pct(&B.ack, 99) / 1e3, gcpu, wall, saturated);

        if (B.nprocs) {
            printf(" srv_cpu_s=%.2f srv_us_per_delivery=%.3f", srv_s, srv_us);
            if (B.scenario == CB_SC_CHAT) {
                printf(" srv_us_per_send=%.3f",
                       B.w_sent ? srv_s * 1e6 / B.w_sent : 0);
            }
        }

        if (B.sys_busy1 > B.sys_busy0) {
            printf(" machine_busy_cores=%.2f other_cores=%.2f",
                   sys_busy / wall, other > 0 ? other / wall : 0);
        }

    } else {
        if (B.nprocs) {
            printf(" rss_kb=%.0f rss_kb_per_conn=%.2f", rss_kb,
                   B.ready_sample ? rss_kb / B.ready_sample : 0);
            printf(" mem_detail=");
            for (g = 0; g < B.ngroups; g++) {
                printf("%s%s:%.2f", g ? "," : "", B.groups[g].label,
                       B.ready_sample ? grss[g] / B.ready_sample : 0);
            }
        }
        printf(" sock_kb=%.0f sock_kb_per_conn=%.2f", sock_kb,
               B.ready_sample ? sock_kb / B.ready_sample : 0);
        if (B.nprocs && B.duration > 0) {
            printf(" srv_cpu_s=%.2f cpu_idle_pct=%.2f", srv_s,
                   100.0 * srv_s / wall);
        }
    }

    printf(" errors=%s closes=%s\n", errs[0] ? errs : "none",
           closes[0] ? closes : "none");

    fflush(stdout);
}
