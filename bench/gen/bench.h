/*
 * chat-bench: what its files share (see main.c for what it does): the
 * limits, the connection, the peer table, the run's state B, and the
 * functions each file offers the others.
 */

#ifndef BENCH_GEN_BENCH_H
#define BENCH_GEN_BENCH_H

#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "../lib/json.h"
#include "../lib/ws.h"


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
#define CB_LIST_SIZE      512             /* "k:v,k:v" in a report */

#define CB_SEC            1000000000LL
#define CB_MS             1000000LL


enum {
    CB_SC_FANOUT = 1,
    CB_SC_ROOMS,
    CB_SC_IDLE,
    CB_SC_CHAT,
    CB_SC_CONNECT
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


typedef struct cb_peer_s  cb_peer_t;
typedef struct cb_fig_s   cb_fig_t;


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
    uint64_t            rev_checked;    /* soak: events checked by rev */
    uint64_t            rev_gaps;       /* soak: revs a joined one missed */
    uint64_t            rev_dups;       /* soak: revs it got again */
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
    unsigned            closing:1;      /* soak: our close frame is out */
    unsigned            again:1;        /* soak: a reconnect, not setup */
    unsigned            frag_z:1;       /* the message assembled has RSV1 */
    uint16_t            tries;          /* soak: reconnects since ready */
    int64_t             t_retry;        /* soak: reconnect due; 0: none */
    int64_t             t_closing;      /* soak: when our close went out */

    int64_t             t_conn;         /* connect() called */
    int64_t             t_up;           /* welcome read, joins sent */
    int64_t             rev[2];         /* soak: room, room2's last rev */

    u_char             *pend;           /* unparsed input */
    size_t              pend_len;
    size_t              pend_cap;

    u_char             *frag;           /* fragmented message assembly */
    size_t              frag_len;
    size_t              frag_cap;

    ws_out_t            out;            /* unsent output */

    uint64_t            next_id;        /* senders: next request id */
    uint64_t            ack_next;       /* nchan: oldest unanswered id */
    cb_ack_t           *ack_ring;       /* senders: send time by id */
} cb_conn_t;


/* the members of a server's JSON text chat-bench reads */

enum {
    CB_J_TYPE = 0,
    CB_J_ID,
    CB_J_BODY,
    CB_J_CODE,
    CB_J_ROOM,
    CB_J_REV,
    CB_J_N
};


typedef struct {
    int                 pid;
    int                 group;
    int                 gone;
    uint64_t            cpu0;           /* clock ticks */
    uint64_t            cpu1;
    uint64_t            rss0;           /* KiB */
    uint64_t            rss1;
    uint64_t            rssb;           /* idle, --base-conns held */
} cb_proc_t;


typedef struct {
    char                label[64];
    int                 pg;             /* a PostgreSQL postmaster */
    uint64_t            tree0;          /* its tree's CPU, ticks */
    uint64_t            tree1;
} cb_group_t;


typedef struct {
    char                name[32];
    uint64_t            count;
} cb_errcode_t;


/*
 * A system under test (--proto): what differs between ngx_chat and the
 * peers it is compared with (bench/peers/): how a connection is addressed
 * and upgraded, what it sends and how it reads what comes back, how the
 * scenario's connections map onto its rooms, and how the report names it.
 */

struct cb_peer_s {
    const char         *name;           /* --proto */
    const char         *alias;
    const char         *ready_label;    /* connect time: connect -> this */
    const char         *ack_label;      /* ack latency: send -> this */
    size_t              msg_extra;      /* a send's bytes besides the body */
    unsigned            pub_member:1;   /* a sender gets its own copy */
    unsigned            echo:1;         /* takes --nchan-echo */

    /* options given: defaults and checks */
    void              (*options)(int port_set, int path_set,
                                 int senders_set);
    /* the scenario's rooms and connections laid out: the peer's own */
    void              (*layout)(uint32_t base);
    void              (*assign)(cb_conn_t *c, uint32_t i);

    /* the upgrade request: the port, the path and extra header lines */
    int               (*port)(cb_conn_t *c);
    void              (*request)(cb_conn_t *c, char *path, size_t pcap,
                                 char *hdrs, size_t hcap);
    void              (*upgraded)(cb_conn_t *c);
    int               (*join)(char *buf, size_t cap, const char *room);
                                        /* NULL: ready once upgraded */
    int               (*on_text)(cb_conn_t *c, u_char *p, size_t len);

    /* a message: its text around the body, and one send slot */
    int               (*msg_head)(char *p, uint64_t id, const char *room,
                                  uint32_t from);
    int               (*msg_tail)(char *p);
    void              (*send_slot)(int64_t now);

    /* the report: what it ran against, the sends, the RESULT fields */
    const char       *(*banner)(void);
    void              (*describe)(int sending);
    void              (*report_sends)(const cb_fig_t *f);
    double            (*frames_per_msg)(void);
    void              (*result)(void);
};



/* a report's figures: this step's counters and what follows from them */

struct cb_fig_s {
    cb_counts_t         st;
    const char         *sc;             /* the scenario's name */
    int                 sending;
    int                 saturated;
    int                 behind;
    long                hz;
    double              wall;
    double              gcpu;
    double              sent_s;
    double              ack_s;
    double              del_s;
    double              srv_s;
    double              srv_us;
    double              rss_kb;
    double              conn_rate;
    double              sock_kb;
    double              members;
    double              fpm;            /* frames a message */
    double              sys_busy;
    double              other;
    double              gsrv[CB_MAX_GROUPS];
    double              grss[CB_MAX_GROUPS];
    double              mrss_kb;        /* idle: from the base sample */
    double              gmrss[CB_MAX_GROUPS];
    int                 pg;             /* a PostgreSQL group is measured */
    double              pg_s;           /* its CPU over the window */
    double              pg_us;          /* per message committed */
    uint64_t            lost;
    uint64_t            unacked;
    char                errs[CB_LIST_SIZE];
    char                closes[CB_LIST_SIZE];
    char                fails[CB_LIST_SIZE];
};


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
    const cb_peer_t    *peer;           /* --proto */
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
    int                 deflate;        /* --deflate: offered, inflated */
    int                 rx_stamp;       /* --rx-stamp */
    double              min_msgs;       /* --min-msgs */
    int64_t             rx_t;           /* the last read's arrival, or 0 */

    /* soak (--scenario soak): the chat scenario run long, reconnecting */
    int                 soak;
    double              churn;          /* own closes a second, in all */
    double              interval;       /* s between INTERVAL lines */
    double              retry_first;    /* s: first reconnect delay cap */
    double              retry_max;      /* s: reconnect delay cap */

    /* reload (--scenario reload): the soak's reconnects, and a SIGHUP */
    int                 reload;
    int                 reload_pid;     /* --reload-pid: the master */
    double              reload_after;   /* s of sending before it */

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
    int64_t            *room_rev;       /* soak: the highest rev seen */
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

    /*
     * idle, --base-conns: the first connections held (helpers wait for
     * them), the memory sampled once they settled, then the rest opened
     */
    uint32_t            base_conns;
    int                 base_done;      /* sampled, or nothing to wait */
    uint32_t            ready_base;     /* ready at that sample */
    int64_t             t_base_ready;   /* the first K were set up */
    int64_t             base_pause;     /* setup time spent waiting */

    /* counters: totals, and their values when the step began */
    uint64_t            sched;          /* send slots scheduled, this step */
    cb_counts_t         cnt;
    cb_counts_t         base;
    uint64_t            foreign;        /* message events not ours */
    uint64_t            other_events;
    uint64_t            bytes_in;
    uint64_t            bytes_out;
    uint64_t            w_bytes_in0;    /* bytes_in when the window opened */
    uint64_t            w_bytes_in1;    /* and when it closed */
    uint64_t            inflated;       /* messages that came compressed */

    /* counters: measurement window */
    uint64_t            w_sent;
    uint64_t            w_acked;
    uint64_t            w_delivered;
    uint64_t            w_backlog;

    cb_hist_t           lat;            /* delivery latency, window */
    cb_hist_t           lat_rx;         /* send -> arrival at the socket */
    cb_hist_t           ack;            /* send -> ok latency, window */
    cb_hist_t           conn;           /* connect -> joined */
    cb_hist_t           conn_up;        /* connect -> welcome (upgraded,
                                           authenticated) */
    cb_hist_t           conn_join;      /* welcome -> joined */

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
    char                srv_cores[64];  /* the first master's CPUs */
    uint64_t            srv_idle0;      /* /proc/stat, those CPUs, ticks */
    uint64_t            srv_idle1;
    uint64_t            srv_total0;
    uint64_t            srv_total1;
} cb_bench_t;



extern cb_bench_t              B;
extern volatile sig_atomic_t   cb_interrupted;

extern const char             *cb_scenario_names[];

extern const cb_peer_t         cb_peer_ngx_chat;
extern const cb_peer_t         cb_peer_limit;
extern const cb_peer_t         cb_peer_nchan;
extern const cb_peer_t         cb_peer_sio;


/* main.c */
int64_t cb_now(void);
void cb_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));
uint64_t cb_rand(void);

/* options.c */
void cb_parse_args(int argc, char **argv);

/* conn.c */
int cb_connect(cb_conn_t *c, uint32_t i);
void cb_on_event(cb_conn_t *c, uint32_t events);
int cb_send_frame(cb_conn_t *c, unsigned opcode, const u_char *p,
    size_t len);
void cb_close(cb_conn_t *c, int code);
void cb_close_all(void);
void cb_set_ready(cb_conn_t *c);
void cb_join(cb_conn_t *c);
void cb_joined(cb_conn_t *c);
uint64_t cb_rev_tail(void);

/* text.c: what the servers send */
int cb_json_scan(u_char *p, size_t len, json_span_t *v);
int cb_deliver(json_span_t *body);
void cb_ack(cb_conn_t *c, uint64_t id, int ok);
int cb_on_chat_text(cb_conn_t *c, u_char *p, size_t len);

/* scenario.c */
void cb_setup_conns(void);
int cb_room_name(uint32_t room, char *buf, size_t cap);
void cb_send_one(cb_conn_t *c, uint32_t from, uint32_t room, int64_t now);
void cb_send_slot_turn(int64_t now);
void cb_tick(int64_t now);
void cb_phase(int phase, int64_t now);
void cb_progress(int64_t now);
double cb_measure_secs(void);
void cb_step_begin(int64_t now);
void cb_window(int end, int64_t now);
int cb_step_drained(void);

/* measure.c */
void cb_hist_add(cb_hist_t *h, uint64_t v);
void cb_hist_merge(cb_hist_t *h, const cb_hist_t *o);
uint64_t cb_hist_pct(cb_hist_t *h, double p);
void cb_count_errcode(const u_char *p, size_t len, uint64_t n);
void cb_procs_init(void);
void cb_procs_sample(int cpu, int rss);
int64_t cb_sockstat_pages(void);
void cb_sys_cpu(uint64_t *busy, uint64_t *steal);
void cb_srv_cores_sample(int end);
double cb_ru_cpu(struct rusage *a, struct rusage *b);
uint64_t cb_raise_nofile(uint64_t need);

/* soak.c */
void cb_soak_defaults(int pairs_set, int groups_set, int prefix_set);
void cb_soak_tick(int64_t now);
void cb_soak_interval(int64_t now);
void cb_soak_closed(cb_conn_t *c, int code);
void cb_soak_ready(cb_conn_t *c);
void cb_soak_latency(int ack, int64_t ns);

/* reload.c */
void cb_reload_defaults(int pairs_set, int groups_set, int prefix_set,
    int retry_set);
void cb_reload_tick(int64_t now);
void cb_reload_closed(cb_conn_t *c, int code);
void cb_reload_try(int ok);
void cb_reload_back(cb_conn_t *c);
void cb_reload_delivered(const u_char *p, size_t len);
void cb_reload_report(void);

/* kids.c */
void cb_spread(void);
void cb_kid_read(cb_kid_t *kid);
void cb_kids_give_up(void);
void cb_kids_end(void);
void cb_kid_hold(void);
void cb_kids_go(void);

/* report.c */
void cb_report(void);
void cb_describe_shape(int sending);
void cb_report_sends(const cb_fig_t *f);
double cb_one_frame(void);
const char *cb_no_banner(void);

/* peer.c: what most peers do alike */
void cb_no_layout(uint32_t base);
void cb_no_assign(cb_conn_t *c, uint32_t i);
int cb_port_fixed(cb_conn_t *c);
void cb_await_welcome(cb_conn_t *c);
int cb_event_head(char *p, uint64_t id, const char *room, uint32_t from);
int cb_event_tail(char *p);


#endif /* BENCH_GEN_BENCH_H */
