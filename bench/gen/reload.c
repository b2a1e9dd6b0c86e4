/*
 * chat-bench --scenario reload (ngx_chat only): the chat scenario of the
 * soak (--pairs 5000 --groups 10: 10 000 connections, all joined, sending
 * at --rate 200), and --reload-after seconds into it "nginx -s reload"
 * (SIGHUP to --reload-pid, the master).  Every connection the server
 * closes reconnects after a random delay below --reconnect-ms (1000), as
 * protocol.md asks of a client that gets 1012, doubling its cap on each
 * failed try (soak.c).  Measured: the server's closes after the reload by
 * code and when they came, the reconnects that got to ready per
 * CB_RELOAD_BUCKET (the new workers' connect rate over time: its peak and
 * its mean) and how long each took (connect -> joined), the failed tries,
 * the time until every connection closed by the reload is ready again,
 * the sends still unanswered when their connection closed (a client sends
 * them again, with their client_msg_id) and, of those, the ones stored all
 * the same (a member got the message: acks lost, which must be 0).  The
 * run ends a second after all are back, or after --duration (60) seconds.
 *
 * Output, besides the chat report: "RELOAD_TIMELINE t_s:per_s,..." (each
 * bucket's reconnect rate, from the reload) and
 * "RESULT scenario=reload conns= ready= closes_1012= closes_other=
 * first_close_ms= last_close_ms= reconnects= reconnected= failed= back_s=
 * peak_per_s= mean_per_s= reconn_p50_us= reconn_p99_us= reconn_max_us=
 * rate= sent= acked= unanswered= acks_lost="
 * (back_s -1: not all were back).
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"


#define CB_RELOAD_BUCKET    (250 * CB_MS)
#define CB_RELOAD_BUCKETS   2400            /* 10 minutes */


static int64_t    t_hup;              /* 0: not yet */
static int64_t    t_back;             /* all back; 0: not yet */
static int64_t    t_first_close;
static int64_t    t_last_close;
static uint32_t   ready_before;
static uint64_t   closes_1012;
static uint64_t   closes_other;
static uint64_t   tries;
static uint64_t   back;
static uint64_t   failed;
static uint32_t   buckets[CB_RELOAD_BUCKETS];
static uint32_t   nbuckets;
static cb_hist_t  took;               /* a reconnect: connect -> ready */

/*
 * A send the server closed the connection on without answering was
 * stored or not: it was if any member got its message.  Stored and not
 * answered is an ack lost.  seen[k * ring + slot]: the id of connection
 * k's send in that slot of its ack ring that some member got while the
 * sender still waited; gone: the sends still unanswered at a close and
 * not yet seen.
 */
typedef struct {
    uint32_t      conn;
    uint32_t      id;
} cb_reload_send_t;

static uint32_t          *seen;
static cb_reload_send_t  *gone;
static size_t             ngone;
static size_t             gone_cap;
static uint64_t           unanswered;
static uint64_t           acks_lost;


static void cb_reload_unanswered(cb_conn_t *c);


void
cb_reload_defaults(int pairs_set, int groups_set, int prefix_set,
    int retry_set)
{
    if (B.peer != &cb_peer_ngx_chat) {
        cb_die("--scenario reload runs against ngx_chat only");
    }

    if (B.reload_pid <= 0) {
        cb_die("--scenario reload needs --reload-pid (the nginx master)");
    }

    if (B.rate < 0) {
        B.rate = 200;
    }

    if (B.duration < 0) {
        B.duration = 60;
    }

    if (!prefix_set) {
        B.room_prefix = "reload";
        B.user_prefix = "reload-u";
        prefix_set = 1;
    }

    if (!retry_set) {
        B.retry_first = 1;
    }

    /* the soak's shape and reconnects, no churn, no INTERVAL lines */
    cb_soak_defaults(pairs_set, groups_set, prefix_set);

    B.churn = 0;
    B.interval = 3600;
}


/* the event loop's turn: the reload, then whether all are back */

void
cb_reload_tick(int64_t now)
{
    if (B.phase != CB_PH_MEASURE) {
        return;
    }

    if (t_hup == 0) {
        if (now - B.t_meas_start < (int64_t) (B.reload_after * CB_SEC)) {
            return;
        }

        seen = calloc((size_t) B.n * B.ack_ring, sizeof(uint32_t));
        if (seen == NULL) {
            cb_die("out of memory");
        }

        ready_before = B.ready;
        t_hup = now;

        if (kill(B.reload_pid, SIGHUP) == -1) {
            cb_die("reload: kill %d: %s", B.reload_pid, strerror(errno));
        }

        fprintf(stderr, "chat-bench: reload (SIGHUP to %d) with %u "
                "connections ready\n", B.reload_pid, ready_before);
        return;
    }

    if (t_back == 0 && closes_1012 + closes_other > 0
        && back >= closes_1012 + closes_other && B.ready >= ready_before)
    {
        t_back = now;

        /* a second more of sending on the new workers, then the drain */
        if (B.t_meas_end > now + CB_SEC) {
            B.t_meas_end = now + CB_SEC;
        }
    }
}


/* a connection the server closed, after the reload */

void
cb_reload_closed(cb_conn_t *c, int code)
{
    int64_t  now;

    if (t_hup == 0 || c->closing) {
        return;
    }

    if (c->again) {
        /* a try that did not get to ready (-1: refused, or ours) */
        failed += (code != 0);
        return;
    }

    if (code <= 0) {
        return;
    }

    now = cb_now();

    if (closes_1012 + closes_other == 0) {
        t_first_close = now;
    }

    t_last_close = now;

    if (code == 1012) {
        closes_1012++;
    } else {
        closes_other++;
    }

    cb_reload_unanswered(c);
}


/* the sends a closed connection waits for: answers that will not come */

static void
cb_reload_unanswered(cb_conn_t *c)
{
    size_t     k, i;
    cb_ack_t  *slot;

    if (c->ack_ring == NULL) {
        return;
    }

    k = (size_t) (c - B.c);

    for (i = 0; i < B.ack_ring; i++) {
        slot = &c->ack_ring[i];

        if (slot->id == 0) {
            continue;
        }

        unanswered++;

        if (seen[k * B.ack_ring + i] == slot->id) {
            acks_lost++;                /* a member got it: stored */

        } else {
            if (ngone == gone_cap) {
                gone_cap = gone_cap ? 2 * gone_cap : 64;
                gone = realloc(gone, gone_cap * sizeof(cb_reload_send_t));
                if (gone == NULL) {
                    cb_die("out of memory");
                }
            }

            gone[ngone].conn = (uint32_t) k;
            gone[ngone].id = slot->id;
            ngone++;
        }

        slot->id = 0;
    }
}


/* a message "<t> <id> <sender>" arrived at a member */

void
cb_reload_delivered(const u_char *p, size_t len)
{
    size_t     i, f;
    uint64_t   v[3];
    cb_ack_t  *slot;

    if (seen == NULL) {
        return;
    }

    for (i = 0, f = 0; f < 3; f++) {
        v[f] = 0;

        if (i >= len || p[i] < '0' || p[i] > '9') {
            return;
        }

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            v[f] = v[f] * 10 + (p[i++] - '0');
        }

        i++;                            /* the space */
    }

    if (v[2] >= B.n || B.c[v[2]].ack_ring == NULL) {
        return;
    }

    slot = &B.c[v[2]].ack_ring[v[1] % B.ack_ring];

    if (slot->id == (uint32_t) v[1]) {
        /* delivered while its sender waits: its answer may yet come */
        seen[v[2] * B.ack_ring + v[1] % B.ack_ring] = (uint32_t) v[1];
        return;
    }

    for (i = 0; i < ngone; i++) {
        if (gone[i].conn == v[2] && gone[i].id == (uint32_t) v[1]) {
            acks_lost++;                /* stored after all */
            gone[i] = gone[--ngone];
            return;
        }
    }
}


void
cb_reload_try(int ok)
{
    if (t_hup == 0) {
        return;
    }

    tries++;

    if (!ok) {
        failed++;
    }
}


/* a reconnect got to ready: counted in its bucket from the reload */

void
cb_reload_back(cb_conn_t *c)
{
    int64_t   now;
    uint64_t  k;

    if (t_hup == 0) {
        return;
    }

    now = cb_now();
    back++;
    cb_hist_add(&took, (uint64_t) (now - c->t_conn));

    k = (uint64_t) (now - t_hup) / CB_RELOAD_BUCKET;

    if (k < CB_RELOAD_BUCKETS) {
        buckets[k]++;
        if (k + 1 > nbuckets) {
            nbuckets = (uint32_t) k + 1;
        }
    }
}


void
cb_reload_report(void)
{
    char      back_str[32];
    double    per_s, peak, mean, back_s, span, first_ms, last_ms;
    uint32_t  k;

    peak = 0;
    per_s = (double) CB_SEC / CB_RELOAD_BUCKET;

    printf("RELOAD_TIMELINE");
    for (k = 0; k < nbuckets; k++) {
        printf("%s%.2f:%.0f", k ? "," : " ",
               (double) k * CB_RELOAD_BUCKET / CB_SEC, buckets[k] * per_s);
        if (buckets[k] * per_s > peak) {
            peak = buckets[k] * per_s;
        }
    }
    printf("\n");

    back_s = t_back ? (double) (t_back - t_hup) / CB_SEC : -1;

    /* over the time the reconnects took: from the reload until all back */
    span = t_back ? back_s
           : t_hup ? (double) (cb_now() - t_hup) / CB_SEC : 0;
    mean = span > 0 ? back / span : 0;

    first_ms = t_first_close ? (double) (t_first_close - t_hup) / CB_MS : -1;
    last_ms = t_last_close ? (double) (t_last_close - t_hup) / CB_MS : -1;

    if (t_back) {
        snprintf(back_str, sizeof(back_str), "%.2f s", back_s);
    } else {
        snprintf(back_str, sizeof(back_str), "not all");
    }

    printf("\nreload: %u connections ready, SIGHUP to %d\n"
           "  closes by the server: 1012 %llu, other %llu, "
           "from %.0f ms to %.0f ms after the reload\n"
           "  reconnects: %llu tries, %llu ready, %llu failed\n"
           "  all back after: %s\n"
           "  new workers' connect rate: peak %.0f/s (%.0f ms buckets), "
           "mean %.0f/s\n"
           "  reconnect time: p50 %.2f  p99 %.2f  max %.2f ms "
           "(connect -> joined)\n"
           "  sends: %llu, acked %llu; %llu unanswered at a close "
           "(a client sends them again), of which stored: %llu "
           "(acks lost)\n",
           ready_before, B.reload_pid,
           (unsigned long long) closes_1012,
           (unsigned long long) closes_other, first_ms, last_ms,
           (unsigned long long) tries, (unsigned long long) back,
           (unsigned long long) failed, back_str,
           peak, (double) CB_RELOAD_BUCKET / CB_MS, mean,
           cb_hist_pct(&took, 50) / 1e6, cb_hist_pct(&took, 99) / 1e6,
           took.max / 1e6,
           (unsigned long long) B.cnt.sent, (unsigned long long) B.cnt.acked,
           (unsigned long long) unanswered, (unsigned long long) acks_lost);

    printf("RESULT scenario=reload conns=%u ready=%u closes_1012=%llu "
           "closes_other=%llu first_close_ms=%.0f last_close_ms=%.0f "
           "reconnects=%llu reconnected=%llu failed=%llu back_s=%.2f "
           "peak_per_s=%.0f mean_per_s=%.0f reconn_p50_us=%.0f "
           "reconn_p99_us=%.0f reconn_max_us=%.0f rate=%g sent=%llu "
           "acked=%llu unanswered=%llu acks_lost=%llu\n",
           B.n, ready_before, (unsigned long long) closes_1012,
           (unsigned long long) closes_other, first_ms, last_ms,
           (unsigned long long) tries, (unsigned long long) back,
           (unsigned long long) failed, back_s, peak, mean,
           cb_hist_pct(&took, 50) / 1e3, cb_hist_pct(&took, 99) / 1e3,
           took.max / 1e3, B.rate,
           (unsigned long long) B.cnt.sent, (unsigned long long) B.cnt.acked,
           (unsigned long long) unanswered, (unsigned long long) acks_lost);
    fflush(stdout);
}
