/*
 * chat-bench: the report of a run (or of a step): a human-readable block
 * and one RESULT line, which bench/run.sh, bench/compare.sh and
 * bench/report.pl parse.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"


static void cb_figures(cb_fig_t *f);
static void cb_server_figures(cb_fig_t *f);
static void cb_lists(cb_fig_t *f);
static void cb_list_add(char *list, size_t *len, const char *key,
    uint64_t n);
static void cb_print_head(cb_fig_t *f);
static void cb_print_window(cb_fig_t *f);
static void cb_print_cpu(cb_fig_t *f);
static void cb_print_idle(cb_fig_t *f);
static void cb_print_sockets(cb_fig_t *f);
static void cb_print_result(cb_fig_t *f);
static void cb_result_sending(cb_fig_t *f);
static void cb_result_idle(cb_fig_t *f);
static void cb_print_connect_cpu(cb_fig_t *f);
static void cb_result_connect(cb_fig_t *f);
static void cb_result_storm(cb_fig_t *f);


void
cb_report(void)
{
    cb_fig_t  f;

    cb_figures(&f);
    cb_lists(&f);

    cb_print_head(&f);

    if (B.scenario == CB_SC_CONNECT) {
        /* connected, then closed: the server's CPU for it */
        cb_print_connect_cpu(&f);

    } else if (B.t_send_start == 0) {
        printf("not run         no connection became ready\n");

    } else if (f.sending) {
        cb_print_window(&f);
        cb_print_cpu(&f);

    } else {
        cb_print_idle(&f);
    }

    cb_print_sockets(&f);
    cb_print_result(&f);

    fflush(stdout);
}


static void
cb_figures(cb_fig_t *f)
{
    size_t           l;
    uint64_t        *d;
    const uint64_t  *a, *b;

    memset(f, 0, sizeof(cb_fig_t));

    f->hz = sysconf(_SC_CLK_TCK);
    /* reload: the chat under the reload, beside its own RESULT line */
    f->sc = B.reload ? "reload-chat"
            : B.soak ? "soak" : cb_scenario_names[B.scenario];
    f->sending = (B.scenario != CB_SC_IDLE && B.scenario != CB_SC_CONNECT);

    /* this step's counters (cb_counts_t: uint64_t members only) */
    d = (uint64_t *) &f->st;
    a = (const uint64_t *) &B.cnt;
    b = (const uint64_t *) &B.base;
    for (l = 0; l < sizeof(cb_counts_t) / sizeof(uint64_t); l++) {
        d[l] = a[l] - b[l];
    }

    f->wall = (double) (B.t_meas_end - B.t_meas_start) / CB_SEC;
    if (f->wall <= 0) {
        f->wall = 1e-9;
    }

    f->gcpu = cb_ru_cpu(&B.ru0, &B.ru1);
    f->saturated = (f->sending && f->wall > 0.1 && f->gcpu > 0.9 * f->wall);

    /* average members per room at ack time; behind: deliveries trail */
    f->members = f->st.acked ? (double) f->st.expected / f->st.acked : 0;
    f->behind = (B.w_sent && B.w_delivered < 0.95 * B.w_sent * f->members);

    /* proto limit: a message is one frame per port; report messages */
    f->fpm = B.peer->frames_per_msg();

    f->sent_s = B.w_sent / f->wall / f->fpm;
    f->ack_s = B.w_acked / f->wall / f->fpm;
    f->del_s = B.w_delivered / f->wall;
    f->conn_rate = B.conn_rate_t > 0
                   ? (double) B.ready_setup
                     / ((double) B.conn_rate_t / CB_SEC)
                   : 0;

    cb_server_figures(f);

    f->lost = f->st.expected > f->st.delivered
              ? f->st.expected - f->st.delivered : 0;
    f->unacked = f->st.sent - f->st.acked - f->st.send_errors;

    /* steps: this one is the last if it did not hold */
    B.stopped = B.stepped
                && ((B.stop_p99_ms > 0
                     && cb_hist_pct(&B.lat, 99) > B.stop_p99_ms * CB_MS)
                    || f->behind || f->lost || f->unacked
                    || f->st.send_errors);
    B.reported = 1;
}


/* the server processes' CPU and memory; the machine's; socket memory */

static void
cb_server_figures(cb_fig_t *f)
{
    int       i;
    uint64_t  srv_ticks;

    srv_ticks = 0;

    for (i = 0; i < B.nprocs; i++) {
        if (B.procs[i].gone) {
            continue;
        }
        srv_ticks += B.procs[i].cpu1 - B.procs[i].cpu0;
        f->gsrv[B.procs[i].group] += B.procs[i].cpu1 - B.procs[i].cpu0;
        f->grss[B.procs[i].group] += (double) B.procs[i].rss1
                                     - (double) B.procs[i].rss0;
        f->rss_kb += (double) B.procs[i].rss1 - (double) B.procs[i].rss0;

        if (B.base_done) {
            f->gmrss[B.procs[i].group] += (double) B.procs[i].rss1
                                          - (double) B.procs[i].rssb;
            f->mrss_kb += (double) B.procs[i].rss1
                          - (double) B.procs[i].rssb;
        }
    }

    f->srv_s = (double) srv_ticks / f->hz;
    f->srv_us = B.w_delivered ? f->srv_s * 1e6 / B.w_delivered : 0;

    /* PostgreSQL's CPU per message committed (acknowledged) */
    for (i = 0; i < B.nmasters; i++) {
        if (B.groups[i].pg && B.groups[i].tree1 >= B.groups[i].tree0) {
            f->pg = 1;
            f->pg_s += (double) (B.groups[i].tree1 - B.groups[i].tree0)
                       / f->hz;
        }
    }

    f->pg_us = B.w_acked ? f->pg_s * 1e6 / (B.w_acked / f->fpm) : 0;

    if (f->sending && B.t_send_start && B.sys_busy1 > B.sys_busy0) {
        f->sys_busy = (double) (B.sys_busy1 - B.sys_busy0) / f->hz;
        f->other = f->sys_busy - f->gcpu - f->srv_s;
    }

    if (B.scenario == CB_SC_IDLE && B.t_send_start && B.sock_pages0 >= 0
        && B.sock_pages1 >= 0)
    {
        f->sock_kb = (double) (B.sock_pages1 - B.sock_pages0)
                     * sysconf(_SC_PAGESIZE) / 1024;
    }
}


/* error codes, close codes and setup failures as "k:v,k:v" */

static void
cb_lists(cb_fig_t *f)
{
    int          i;
    char         key[32];
    size_t       le, lc, lf;
    const char  *name;

    le = lc = lf = 0;
    f->errs[0] = f->closes[0] = f->fails[0] = '\0';

    for (i = 0; i < B.nerrcodes; i++) {
        cb_list_add(f->errs, &le, B.errcodes[i].name, B.errcodes[i].count);
    }

    for (i = 0; i < 5000; i++) {
        if (B.closes[i]) {
            snprintf(key, sizeof(key), "%d", i);
            cb_list_add(f->closes, &lc, key, B.closes[i]);
        }
    }

    for (i = 0; i < 600; i++) {
        if (B.http_status[i]) {
            snprintf(key, sizeof(key), "http%d", i);
            cb_list_add(f->fails, &lf, key, B.http_status[i]);
        }
    }

    for (i = 0; i < 256; i++) {
        if (B.connect_errno[i]) {
            name = strerrorname_np(i);
            cb_list_add(f->fails, &lf, name ? name : "errno",
                        B.connect_errno[i]);
        }
    }
}


/* ",key:n" to a list of CB_LIST_SIZE bytes, while there is room */

static void
cb_list_add(char *list, size_t *len, const char *key, uint64_t n)
{
    if (*len < CB_LIST_SIZE - 64) {
        *len += snprintf(list + *len, CB_LIST_SIZE - *len, "%s%s:%llu",
                         *len ? "," : "", key, (unsigned long long) n);
    }
}


static void
cb_print_head(cb_fig_t *f)
{
    if (B.stepped) {
        printf("\n== chat-bench %s: step %u of rates %s: %g msgs/s ==\n", f->sc,
               B.step, B.rates_str, B.rate);
    } else {
        printf("\n== chat-bench %s ==\n", f->sc);
    }

    B.peer->describe(f->sending);

    printf("connections     %u ready of %u (%u failed%s%s), "
           "%.0f conn/s (connect+auth+join); %u still open at the end\n",
           B.ready_setup, B.n, B.setup_failed, f->fails[0] ? ": " : "",
           f->fails, f->conn_rate, B.ready);

    if (B.conn.n) {
        printf("connect time    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms "
               "(connect -> %s, %llu connections)\n",
               cb_hist_pct(&B.conn, 50) / 1e6, cb_hist_pct(&B.conn, 90) / 1e6,
               cb_hist_pct(&B.conn, 99) / 1e6, B.conn.max / 1e6,
               B.peer->ready_label, (unsigned long long) B.conn.n);
    }
}


static void
cb_print_window(cb_fig_t *f)
{
    printf("window          %.2f s after %.1f s warmup, "
           "body %u bytes\n", f->wall, B.warmup, B.size);
    if (B.scenario == CB_SC_CHAT) {
        printf("offered         %.0f msgs/s (%.3f/s from each of %u "
               "connections)\n", B.rate, B.rate / B.nsenders,
               B.nsenders);
    } else {
        printf("offered         %.0f msgs/s\n", B.rate);
    }

    B.peer->report_sends(f);

    printf("deliveries      %.0f /s (%llu in window; total %llu of %llu "
           "expected, %llu missing after drain)\n", f->del_s,
           (unsigned long long) B.w_delivered,
           (unsigned long long) f->st.delivered,
           (unsigned long long) f->st.expected, (unsigned long long) f->lost);
    if (B.soak) {
        printf("revisions       %llu events checked: %llu revs skipped, "
               "%llu repeated, %llu never came (each joined connection, "
               "from its join's rev: protocol.md 5a)\n",
               (unsigned long long) f->st.rev_checked,
               (unsigned long long) f->st.rev_gaps,
               (unsigned long long) f->st.rev_dups,
               (unsigned long long) cb_rev_tail());
    }
    if (f->st.late) {
        printf("                %llu acks and deliveries of earlier "
               "steps came late, in this one\n",
               (unsigned long long) f->st.late);
    }
    printf("latency         p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
           "max %.2f ms (send -> message event, %llu samples)\n",
           cb_hist_pct(&B.lat, 50) / 1e6, cb_hist_pct(&B.lat, 90) / 1e6,
           cb_hist_pct(&B.lat, 99) / 1e6,
           cb_hist_pct(&B.lat, 99.9) / 1e6, B.lat.max / 1e6,
           (unsigned long long) B.lat.n);
    if (B.rx_stamp) {
        printf("at the socket   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
               "max %.2f ms (send -> arrival, before chat-bench read "
               "it)\n", cb_hist_pct(&B.lat_rx, 50) / 1e6,
               cb_hist_pct(&B.lat_rx, 90) / 1e6,
               cb_hist_pct(&B.lat_rx, 99) / 1e6,
               cb_hist_pct(&B.lat_rx, 99.9) / 1e6, B.lat_rx.max / 1e6);
    }
    printf("ack latency     p50 %.2f  p99 %.2f  max %.2f ms "
           "(send -> %s)\n", cb_hist_pct(&B.ack, 50) / 1e6,
           cb_hist_pct(&B.ack, 99) / 1e6, B.ack.max / 1e6,
           B.peer->ack_label);
}


void
cb_report_sends(const cb_fig_t *f)
{
        printf("sent            %.0f msgs/s (%llu in window; %llu skipped "
               "as backlog, %llu sender gone)\n", f->sent_s,
               (unsigned long long) B.w_sent,
               (unsigned long long) f->st.backlog,
               (unsigned long long) f->st.notready);
        printf("acked           %.0f msgs/s (total %llu of %llu sent, "
               "%llu send errors)\n", f->ack_s,
               (unsigned long long) f->st.acked,
               (unsigned long long) f->st.sent,
               (unsigned long long) f->st.send_errors);
}


static void
cb_print_cpu(cb_fig_t *f)
{
    int  g;

    printf("generator CPU   %.2f s over %.2f s wall (%.0f%% of one core)"
           "%s\n", f->gcpu, f->wall, 100 * f->gcpu / f->wall,
           f->saturated ? "  ** GENERATOR SATURATED: throughput and "
                       "latency measure the client **" : "");
    if (B.w_delivered) {
        printf("                %.2f us generator CPU per delivery\n",
               f->gcpu * 1e6 / B.w_delivered);
    }

    if (B.sys_busy1 > B.sys_busy0) {
        printf("machine CPU     %.2f of %ld cores busy over the window; "
               "other processes ~%.2f core%s%s\n", f->sys_busy / f->wall,
               sysconf(_SC_NPROCESSORS_ONLN),
               f->other > 0 ? f->other / f->wall : 0,
               B.nprocs ? "" : " (incl. the server: no --pids)",
               B.sys_steal1 > B.sys_steal0 ? ", some steal" : "");
    }

    if (f->behind) {
        printf("note            deliveries trail the offered load "
               "(%.0f%%): the system under test did not keep up, or\n"
               "                the machine is busy (see machine CPU); "
               "latency includes queueing\n",
               100.0 * B.w_delivered / (B.w_sent * f->members));
    }

    if (B.stopped) {
        printf("stopped         the last step:%s%s%s%s%s\n",
               B.stop_p99_ms > 0
               && cb_hist_pct(&B.lat, 99) > B.stop_p99_ms * CB_MS
               ? " p99 over --stop-p99-ms;" : "",
               f->behind ? " deliveries behind;" : "",
               f->lost ? " deliveries lost;" : "",
               f->unacked ? " sends unanswered after the drain;" : "",
               f->st.send_errors ? " send errors;" : "");
    }

    if (B.nprocs) {
        printf("server CPU      %.2f s over the window = %.1f%% of one "
               "core; %.2f us per delivery\n",
               f->srv_s, 100.0 * f->srv_s / f->wall, f->srv_us);
        if (B.scenario == CB_SC_CHAT) {
            printf("                %.2f us per send\n",
                   B.w_sent ? f->srv_s * 1e6 / B.w_sent : 0);
        }
        for (g = 0; g < B.ngroups; g++) {
            printf("                %-28s %.2f s  %.2f us/delivery\n",
                   B.groups[g].label, f->gsrv[g] / f->hz,
                   B.w_delivered ? f->gsrv[g] * 1e6 / f->hz / B.w_delivered
                                 : 0);
        }
    }

    if (f->pg) {
        printf("PostgreSQL CPU  %.2f s over the window (every process, "
               "short-lived ones too); %.1f us per message committed\n",
               f->pg_s, f->pg_us);
    }
}


static void
cb_print_idle(cb_fig_t *f)
{
    int       g;
    uint32_t  n;

    if (B.nprocs) {
        printf("server memory   %+.0f KiB (PSS) for %u connections = "
               "%.2f KiB/conn\n", f->rss_kb, B.ready_sample,
               B.ready_sample ? f->rss_kb / B.ready_sample : 0);
        for (g = 0; g < B.ngroups; g++) {
            printf("                %-28s %+.0f KiB  %.2f KiB/conn\n",
                   B.groups[g].label, f->grss[g],
                   B.ready_sample ? f->grss[g] / B.ready_sample : 0);
        }
    }

    if (B.nprocs && B.base_done && B.ready_sample > B.ready_base) {
        n = B.ready_sample - B.ready_base;
        printf("beyond the first %u (memory paid once left out): %+.0f KiB "
               "for %u connections = %.2f KiB/conn\n", B.ready_base,
               f->mrss_kb, n, f->mrss_kb / n);
        for (g = 0; g < B.ngroups; g++) {
            printf("                %-28s %+.0f KiB  %.2f KiB/conn\n",
                   B.groups[g].label, f->gmrss[g], f->gmrss[g] / n);
        }
    }

    if (B.nprocs && B.duration > 0) {
        printf("server CPU      %.2f s over %.2f s idle = %.2f%% of one "
               "core\n", f->srv_s, f->wall, 100.0 * f->srv_s / f->wall);
        for (g = 0; g < B.ngroups; g++) {
            printf("                %-28s %.2f s\n", B.groups[g].label,
                   f->gsrv[g] / f->hz);
        }
    }
}


static void
cb_print_sockets(cb_fig_t *f)
{
    if (B.scenario == CB_SC_IDLE && B.t_send_start && B.sock_pages0 >= 0
        && B.sock_pages1 >= 0)
    {
        printf("socket memory   TCP mem %lld -> %lld pages = %+.0f KiB = "
               "%.2f KiB/conn\n"
               "                (system-wide /proc/net/sockstat: both ends "
               "of each connection and any other TCP traffic)\n",
               (long long) B.sock_pages0, (long long) B.sock_pages1,
               f->sock_kb, B.ready_sample ? f->sock_kb / B.ready_sample : 0);
    }

    if (f->sending && B.w_delivered) {
        printf("wire            %.1f bytes read per delivery%s "
               "(%llu messages came compressed)\n",
               (double) (B.w_bytes_in1 - B.w_bytes_in0) / B.w_delivered,
               B.deflate ? ", permessage-deflate offered" : "",
               (unsigned long long) B.inflated);
    }

    printf("server errors   %s\n", f->errs[0] ? f->errs : "none");
    printf("server closes   %s\n", f->closes[0] ? f->closes : "none");
    printf("other events    %llu (presence/member/...), %llu foreign "
           "messages\n", (unsigned long long) B.other_events,
           (unsigned long long) B.foreign);
}


static void
cb_print_result(cb_fig_t *f)
{
    printf("RESULT scenario=%s conns=%u ready=%u failed=%u conn_rate=%.0f "
           "open_at_end=%u", f->sc, B.n, B.ready_setup, B.setup_failed,
           f->conn_rate, B.ready);

    B.peer->result();

    if (B.stepped) {
        printf(" step=%u rates=%s stopped=%d late=%llu", B.step, B.rates_str,
               B.stopped, (unsigned long long) f->st.late);
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
        cb_result_connect(f);

    } else if (f->sending) {
        cb_result_sending(f);

    } else {
        cb_result_idle(f);
    }

    printf(" errors=%s closes=%s\n", f->errs[0] ? f->errs : "none",
           f->closes[0] ? f->closes : "none");
}


static void
cb_result_sending(cb_fig_t *f)
{
    int                  i;
    static const double  pcts[] = { 50, 90, 99, 99.9 };
    static const char   *pnames[] = { "p50", "p90", "p99", "p999" };

    /* proto limit: messages, each sent once per port (f->fpm frames) */
    printf(" rate=%.0f window_s=%.2f sent=%.0f sent_per_s=%.0f "
           "acked_per_s=%.0f deliveries=%llu deliveries_per_s=%.0f "
           "backlog=%llu send_errors=%llu lost=%llu",
           B.rate, f->wall, B.w_sent / f->fpm, f->sent_s, f->ack_s,
           (unsigned long long) B.w_delivered, f->del_s,
           (unsigned long long) f->st.backlog,
           (unsigned long long) f->st.send_errors,
           (unsigned long long) f->lost);
    printf(" unacked=%.0f members=%.1f behind=%d", f->unacked / f->fpm,
           f->members * f->fpm, f->behind);

    if (B.soak) {
        printf(" rev_checked=%llu rev_gaps=%llu rev_dups=%llu rev_tail=%llu",
               (unsigned long long) f->st.rev_checked,
               (unsigned long long) f->st.rev_gaps,
               (unsigned long long) f->st.rev_dups,
               (unsigned long long) cb_rev_tail());
    }

    for (i = 0; i < 4; i++) {
        printf(" lat_%s_us=%.0f", pnames[i],
               cb_hist_pct(&B.lat, pcts[i]) / 1e3);
    }

    if (B.rx_stamp) {
        for (i = 0; i < 4; i++) {
            printf(" rx_%s_us=%.0f", pnames[i],
                   cb_hist_pct(&B.lat_rx, pcts[i]) / 1e3);
        }
    }

    printf(" lat_max_us=%.0f ack_p50_us=%.0f ack_p99_us=%.0f"
           " gen_cpu_s=%.2f gen_wall_s=%.2f gen_saturated=%d",
           B.lat.max / 1e3, cb_hist_pct(&B.ack, 50) / 1e3,
           cb_hist_pct(&B.ack, 99) / 1e3, f->gcpu, f->wall, f->saturated);

    if (B.nprocs) {
        printf(" srv_cpu_s=%.2f srv_us_per_delivery=%.3f", f->srv_s, f->srv_us);
        if (B.scenario == CB_SC_CHAT) {
            printf(" srv_us_per_send=%.3f",
                   B.w_sent ? f->srv_s * 1e6 / B.w_sent : 0);
        }
    }

    if (B.deflate || B.w_bytes_in1 > B.w_bytes_in0) {
        printf(" deflate=%d wire_bytes_per_delivery=%.1f inflated=%llu",
               B.deflate, B.w_delivered
               ? (double) (B.w_bytes_in1 - B.w_bytes_in0) / B.w_delivered : 0,
               (unsigned long long) B.inflated);
    }

    if (f->pg) {
        printf(" pg_cpu_s=%.2f pg_us_per_msg=%.1f", f->pg_s, f->pg_us);
    }

    if (B.sys_busy1 > B.sys_busy0) {
        printf(" machine_busy_cores=%.2f other_cores=%.2f",
               f->sys_busy / f->wall, f->other > 0 ? f->other / f->wall : 0);
    }
}


static void
cb_result_idle(cb_fig_t *f)
{
    int       g;
    uint32_t  n;

    if (B.nprocs) {
        printf(" rss_kb=%.0f rss_kb_per_conn=%.2f", f->rss_kb,
               B.ready_sample ? f->rss_kb / B.ready_sample : 0);
        printf(" mem_detail=");
        for (g = 0; g < B.ngroups; g++) {
            printf("%s%s:%.2f", g ? "," : "", B.groups[g].label,
                   B.ready_sample ? f->grss[g] / B.ready_sample : 0);
        }
    }
    if (B.nprocs && B.base_done && B.ready_sample > B.ready_base) {
        n = B.ready_sample - B.ready_base;
        printf(" base_conns=%u rss_kb_per_conn_marginal=%.2f mem_marginal=",
               B.ready_base, f->mrss_kb / n);
        for (g = 0; g < B.ngroups; g++) {
            printf("%s%s:%.2f", g ? "," : "", B.groups[g].label,
                   f->gmrss[g] / n);
        }
    }
    printf(" sock_kb=%.0f sock_kb_per_conn=%.2f", f->sock_kb,
           B.ready_sample ? f->sock_kb / B.ready_sample : 0);
    if (B.nprocs && B.duration > 0) {
        printf(" srv_cpu_s=%.2f cpu_idle_pct=%.2f", f->srv_s,
               100.0 * f->srv_s / f->wall);
    }
}


/* connect: the server's CPU per connection ready, by process tree */

static void
cb_print_connect_cpu(cb_fig_t *f)
{
    int  g;

    if (B.nprocs == 0 || B.ready_setup == 0) {
        return;
    }

    printf("server CPU      %.2f s for %u connections = %.1f us/conn "
           "(first connect to last joined)\n", f->srv_s, B.ready_setup,
           f->srv_s * 1e6 / B.ready_setup);

    for (g = 0; g < B.ngroups; g++) {
        printf("                %-28s %.1f us/conn\n", B.groups[g].label,
               f->gsrv[g] / f->hz * 1e6 / B.ready_setup);
    }
}


static void
cb_result_connect(cb_fig_t *f)
{
    int  g;

    if (B.nprocs == 0 || B.ready_setup == 0) {
        return;
    }

    printf(" srv_cpu_s=%.2f srv_us_per_conn=%.1f srv_detail=", f->srv_s,
           f->srv_s * 1e6 / B.ready_setup);

    for (g = 0; g < B.ngroups; g++) {
        printf("%s%s:%.1f", g ? "," : "", B.groups[g].label,
               f->gsrv[g] / f->hz * 1e6 / B.ready_setup);
    }

    cb_result_storm(f);
}


/*
 * Bound by CPU or by waiting: the server processes' CPU seconds per
 * second of the storm (1.00: one core's worth), the idle share of the
 * cores the server may run on, and where a connection's time went
 */
static void
cb_result_storm(cb_fig_t *f)
{
    double  secs;

    secs = (double) (B.t_setup_done - B.t_start) / CB_SEC;

    if (secs > 0) {
        printf(" srv_busy=%.2f", f->srv_s / secs);
    }

    if (B.srv_total1 > B.srv_total0) {
        printf(" srv_cores=%s srv_cores_idle_pct=%.1f", B.srv_cores,
               100.0 * (B.srv_idle1 - B.srv_idle0)
               / (B.srv_total1 - B.srv_total0));
    }

    if (B.conn_up.n) {
        printf(" up_p50_us=%.0f up_p99_us=%.0f join_p50_us=%.0f "
               "join_p99_us=%.0f", cb_hist_pct(&B.conn_up, 50) / 1e3,
               cb_hist_pct(&B.conn_up, 99) / 1e3,
               cb_hist_pct(&B.conn_join, 50) / 1e3,
               cb_hist_pct(&B.conn_join, 99) / 1e3);
    }
}


/* the shape of the scenario, for a peer with ngx_chat's rooms */

void
cb_describe_shape(int sending)
{
    (void) sending;

    switch (B.scenario) {

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
}


double
cb_one_frame(void)
{
    return 1;
}


const char *
cb_no_banner(void)
{
    return "";
}
