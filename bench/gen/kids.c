/*
 * chat-bench: more connections than one process may hold.  idle and
 * connect spread them over helper processes forked here, each connecting
 * its share and reporting its setup (its cb_bench_t, whole) to the parent,
 * which merges it; a helper then holds its connections until the parent
 * closes its end.  The server figures are the parent's alone, as ever.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"


static void cb_merge(const cb_bench_t *o);
static void cb_kid_wait_go(void);


void
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

            if (B.base_conns) {
                cb_kid_wait_go();
            }

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

    cb_hist_merge(&B.conn, &o->conn);
    cb_hist_merge(&B.conn_up, &o->conn_up);
    cb_hist_merge(&B.conn_join, &o->conn_join);

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

void
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

void
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

void
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


/* a helper, set up: report to the parent, hold until it lets go, exit */

void
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


/*
 * --base-conns: a helper connects nothing until the parent's first
 * connections are held and sampled; the parent then writes a byte
 */

static void
cb_kid_wait_go(void)
{
    u_char   go;
    ssize_t  n;

    do {
        n = read(B.kid_fd, &go, 1);
    } while (n == -1 && errno == EINTR && !cb_interrupted);

    if (n != 1) {
        _exit(1);                        /* the parent is gone */
    }

    B.t_start = cb_now();
}


void
cb_kids_go(void)
{
    int     k;
    u_char  go;

    go = 'g';

    for (k = 0; k < B.nkids; k++) {
        if (B.kids[k].report && write(B.kids[k].fd, &go, 1) != 1) {
            fprintf(stderr, "chat-bench: helper %d: %s\n", B.kids[k].pid,
                    strerror(errno));
        }
    }
}
