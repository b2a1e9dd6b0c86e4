/*
 * chat-bench --scenario soak: the chat scenario held for --duration
 * seconds as clients behave over hours.  A connection the server closes
 * (1012 on a reload, 1006 when it drops) reconnects after a random delay,
 * doubling its cap on each failed try (full jitter: uniform in
 * [0, min(--reconnect-max-ms, --reconnect-ms x 2^tries))); --churn
 * connections a second, picked at random, close themselves with 1000 and
 * reconnect the same way.  Every --interval seconds one line
 * "INTERVAL key=value ..." on stdout: the counts of that interval and its
 * latency percentiles (bench/soak.sh reads them).
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"


#define CB_SOAK_SCAN      (50 * CB_MS)  /* due reconnects looked for */
#define CB_SOAK_CLOSE_T   (5 * CB_SEC)  /* our close unanswered: drop */


typedef struct {
    uint64_t            reconnects;     /* tries started */
    uint64_t            reconnected;    /* tries that got to ready */
    uint64_t            churned;        /* own closes started */
    uint64_t            churn_timeouts; /* ... the server never answered */
} cb_soak_counts_t;


/* totals, and their values at the last INTERVAL line */

static cb_soak_counts_t  sk, sk0;
static cb_counts_t       cnt0;
static uint64_t          closes0[5000];
static uint64_t          http0[600];
static uint64_t          errno0[256];
static uint64_t          err0[CB_MAX_ERRCODES];
static uint32_t          failed0;

static cb_hist_t         lat;           /* this interval's */
static cb_hist_t         ack;

static int64_t           t_interval;    /* the last line */
static int64_t           t_scan;
static int64_t           t_churn;
static double            churn_due;


static void cb_soak_schedule(cb_conn_t *c, int64_t now);
static void cb_soak_reconnect(cb_conn_t *c, int64_t now);
static void cb_soak_churn(int64_t now);
static size_t cb_soak_list(char *buf, size_t cap, size_t l,
    const uint64_t *now, const uint64_t *then, size_t n, int how);
static void cb_soak_errs(char *buf, size_t cap);


void
cb_soak_defaults(int pairs_set, int groups_set, int prefix_set)
{
    if (B.peer != &cb_peer_ngx_chat) {
        cb_die("--scenario soak runs against ngx_chat only");
    }

    if (B.stepped) {
        cb_die("--scenario soak takes --rate, not --rates");
    }

    B.scenario = CB_SC_CHAT;

    /* 10 000 connections: 5 000 rooms of 2, 10 rooms of 50 among them */
    if (!pairs_set) {
        B.pairs = 5000;
    }
    if (!groups_set) {
        B.chat_groups = 10;
    }
    if (!prefix_set) {
        B.room_prefix = "soak";
        B.user_prefix = "soak-u";
    }
    if (B.rate < 0) {
        B.rate = 500;
    }
    if (B.duration < 0) {
        B.duration = 60;
    }

    B.warmup = 0;
}


/* the event loop's turn, while sending: reconnects, churn, the lines */

void
cb_soak_tick(int64_t now)
{
    uint32_t    k;
    cb_conn_t  *c;

    if (B.phase != CB_PH_MEASURE) {
        return;
    }

    if (t_interval == 0) {
        t_interval = t_scan = t_churn = now;
    }

    cb_soak_churn(now);

    if (now - t_scan >= CB_SOAK_SCAN) {
        t_scan = now;

        for (k = 0; k < B.n; k++) {
            c = &B.c[k];

            if (c->closing && now - c->t_closing > CB_SOAK_CLOSE_T) {
                sk.churn_timeouts++;
                cb_close(c, 0);          /* schedules its reconnect */

            } else if (c->state == CB_ST_CLOSED && c->t_retry
                       && now >= c->t_retry && B.inflight < B.conc)
            {
                cb_soak_reconnect(c, now);
            }
        }
    }

    if (now - t_interval >= (int64_t) (B.interval * CB_SEC)) {
        cb_soak_interval(now);
    }
}


/* a connection closed while sending: when to try again */

void
cb_soak_closed(cb_conn_t *c, int code)
{
    if (B.reload) {
        cb_reload_closed(c, code);
    }

    if (B.phase != CB_PH_MEASURE || (code == 0 && !c->closing)) {
        return;
    }

    cb_soak_schedule(c, cb_now());
}


static void
cb_soak_schedule(cb_conn_t *c, int64_t now)
{
    double  cap;

    cap = B.retry_first * (double) (1ULL << (c->tries < 20 ? c->tries : 20));
    if (cap > B.retry_max) {
        cap = B.retry_max;
    }

    if (c->tries < UINT16_MAX) {
        c->tries++;
    }

    c->t_retry = now + 1
                 + (int64_t) (cap * CB_SEC * (double) (cb_rand() >> 11)
                              / (double) (1ULL << 53));
}


static void
cb_soak_reconnect(cb_conn_t *c, int64_t now)
{
    int  rc;

    c->t_retry = 0;
    c->closing = 0;
    c->in_frag = 0;
    c->joins = 0;
    c->again = 1;

    sk.reconnects++;
    B.inflight++;

    rc = cb_connect(c, (uint32_t) (c - B.c));

    if (B.reload) {
        cb_reload_try(rc == 0);
    }

    if (rc < 0) {
        B.connect_errno[-rc < 256 ? -rc : 255]++;
        B.setup_failed++;
        B.inflight--;
        c->state = CB_ST_CLOSED;
        cb_soak_schedule(c, now);
    }
}


void
cb_soak_ready(cb_conn_t *c)
{
    if (c->again) {
        sk.reconnected++;
        c->again = 0;

        if (B.reload) {
            cb_reload_back(c);
        }
    }

    c->tries = 0;
}


/* --churn a second: a ready connection at random says goodbye (1000) */

static void
cb_soak_churn(int64_t now)
{
    int         pick;
    cb_conn_t  *c;

    churn_due += B.churn * (double) (now - t_churn) / CB_SEC;
    t_churn = now;

    while (churn_due >= 1) {
        churn_due -= 1;

        for (pick = 0; pick < 8; pick++) {
            c = &B.c[cb_rand() % B.n];

            if (c->state == CB_ST_READY && !c->closing
                && ws_out_pending(&c->out) == 0)
            {
                c->closing = 1;
                c->t_closing = now;
                sk.churned++;
                cb_send_frame(c, 0x8, (u_char *) "\x03\xe8", 2);
                break;
            }
        }
    }
}


void
cb_soak_latency(int is_ack, int64_t ns)
{
    cb_hist_add(is_ack ? &ack : &lat, ns > 0 ? (uint64_t) ns : 0);
}


/* one INTERVAL line: what happened since the last */

void
cb_soak_interval(int64_t now)
{
    char             errs[CB_LIST_SIZE], closes[CB_LIST_SIZE];
    char             fails[CB_LIST_SIZE];
    size_t           l;
    struct timespec  ts;

    if (t_interval == 0 || now - t_interval < CB_SEC / 10) {
        return;
    }

    clock_gettime(CLOCK_REALTIME, &ts);

    cb_soak_errs(errs, sizeof(errs));
    cb_soak_list(closes, sizeof(closes), 0, B.closes, closes0, 5000, 0);
    l = cb_soak_list(fails, sizeof(fails), 0, B.http_status, http0, 600, 1);
    cb_soak_list(fails, sizeof(fails), l, B.connect_errno, errno0, 256, 2);

    printf("INTERVAL t=%.1f ts=%lld secs=%.2f open=%u ready=%u sent=%llu "
           "acked=%llu send_errors=%llu delivered=%llu backlog=%llu "
           "notready=%llu churned=%llu churn_timeouts=%llu reconnects=%llu "
           "reconnected=%llu connect_fail=%u errors=%s closes=%s fails=%s "
           "lat_p50_us=%.0f lat_p99_us=%.0f lat_max_us=%.0f "
           "ack_p99_us=%.0f rev_gaps=%llu rev_dups=%llu\n",
           (double) (now - B.t_meas_start) / CB_SEC, (long long) ts.tv_sec,
           (double) (now - t_interval) / CB_SEC, B.open, B.ready,
           (unsigned long long) (B.cnt.sent - cnt0.sent),
           (unsigned long long) (B.cnt.acked - cnt0.acked),
           (unsigned long long) (B.cnt.send_errors - cnt0.send_errors),
           (unsigned long long) (B.cnt.delivered - cnt0.delivered),
           (unsigned long long) (B.cnt.backlog - cnt0.backlog),
           (unsigned long long) (B.cnt.notready - cnt0.notready),
           (unsigned long long) (sk.churned - sk0.churned),
           (unsigned long long) (sk.churn_timeouts - sk0.churn_timeouts),
           (unsigned long long) (sk.reconnects - sk0.reconnects),
           (unsigned long long) (sk.reconnected - sk0.reconnected),
           B.setup_failed - failed0,
           errs[0] ? errs : "none", closes[0] ? closes : "none",
           fails[0] ? fails : "none",
           cb_hist_pct(&lat, 50) / 1e3, cb_hist_pct(&lat, 99) / 1e3,
           lat.max / 1e3, cb_hist_pct(&ack, 99) / 1e3,
           (unsigned long long) (B.cnt.rev_gaps - cnt0.rev_gaps),
           (unsigned long long) (B.cnt.rev_dups - cnt0.rev_dups));
    fflush(stdout);

    t_interval = now;
    sk0 = sk;
    cnt0 = B.cnt;
    failed0 = B.setup_failed;
    memcpy(closes0, B.closes, sizeof(closes0));
    memcpy(http0, B.http_status, sizeof(http0));
    memcpy(errno0, B.connect_errno, sizeof(errno0));
    for (l = 0; l < (size_t) B.nerrcodes; l++) {
        err0[l] = B.errcodes[l].count;
    }
    memset(&lat, 0, sizeof(lat));
    memset(&ack, 0, sizeof(ack));
}


/*
 * "k:n,..." after the l bytes in buf, for the counts that grew since
 * "then"; k: i (how 0), "http<i>" (1), the errno's name (2)
 */

static size_t
cb_soak_list(char *buf, size_t cap, size_t l, const uint64_t *now,
    const uint64_t *then, size_t n, int how)
{
    size_t       i;
    char         key[32];
    const char  *name;

    buf[l] = '\0';

    for (i = 0; i < n; i++) {
        if (now[i] == then[i] || l + 64 >= cap) {
            continue;
        }

        name = (how == 2) ? strerrorname_np((int) i) : NULL;

        if (name) {
            snprintf(key, sizeof(key), "%s", name);
        } else {
            snprintf(key, sizeof(key), "%s%zu", how == 1 ? "http"
                     : how == 2 ? "errno" : "", i);
        }

        l += snprintf(buf + l, cap - l, "%s%s:%llu", l ? "," : "", key,
                      (unsigned long long) (now[i] - then[i]));
    }

    return l;
}


static void
cb_soak_errs(char *buf, size_t cap)
{
    int     i;
    size_t  l;

    l = 0;
    buf[0] = '\0';

    for (i = 0; i < B.nerrcodes; i++) {
        if (B.errcodes[i].count != err0[i] && l + 64 < cap) {
            l += snprintf(buf + l, cap - l, "%s%s:%llu", l ? "," : "",
                          B.errcodes[i].name,
                          (unsigned long long) (B.errcodes[i].count
                                                - err0[i]));
        }
    }
}
