/*
 * chat-bench: what it measures besides its own counters: latency
 * histograms, the error codes servers answer, the server processes' CPU
 * and memory (/proc), socket memory, the machine's CPU, and its own.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"


static int cb_proc_stat(int pid, int *ppid, uint64_t *cpu, uint64_t *waited,
    char *comm, size_t ccap);
static uint64_t cb_tree_cpu(int pid);
static uint64_t cb_proc_rss(int pid);
static void cb_add_proc(int pid, int group);
static double cb_tv(struct timeval *tv);


void
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


/* h takes in the values of o */
void
cb_hist_merge(cb_hist_t *h, const cb_hist_t *o)
{
    int  i;

    for (i = 0; i < CB_HIST_SIZE; i++) {
        h->counts[i] += o->counts[i];
    }

    h->n += o->n;
    h->sum += o->sum;

    if (o->max > h->max) {
        h->max = o->max;
    }
}


uint64_t
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


void
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

/* waited: the CPU of its children it waited for (cutime + cstime) */
static int
cb_proc_stat(int pid, int *ppid, uint64_t *cpu, uint64_t *waited, char *comm,
    size_t ccap)
{
    int            fd, i;
    char           buf[1024], *p, *lp, *rp;
    ssize_t        n;
    unsigned long  ut, st, cut, cst;

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

    if (p == NULL || sscanf(p, "%lu %lu %lu %lu", &ut, &st, &cut, &cst)
                     != 4)
    {
        return -1;
    }

    if (cpu) {
        *cpu = (uint64_t) ut + st;
    }

    if (waited) {
        *waited = (uint64_t) cut + cst;
    }

    return 0;
}


/*
 * A process tree's CPU now: the process, its children alive now (those
 * born since the list of cb_procs_init, as PostgreSQL's autovacuum
 * workers, too) and those it has waited for.  Ticks.
 */
static uint64_t
cb_tree_cpu(int pid)
{
    int             kid, ppid;
    DIR            *d;
    uint64_t        sum, cpu, waited;
    struct dirent  *de;

    if (cb_proc_stat(pid, NULL, &cpu, &waited, NULL, 0) == -1) {
        return 0;
    }

    sum = cpu + waited;

    d = opendir("/proc");
    if (d == NULL) {
        return sum;
    }

    while ((de = readdir(d)) != NULL) {
        if (!isdigit((u_char) de->d_name[0])) {
            continue;
        }
        kid = atoi(de->d_name);
        ppid = 0;
        if (cb_proc_stat(kid, &ppid, &cpu, NULL, NULL, 0) == 0
            && ppid == pid)
        {
            sum += cpu;
        }
    }

    closedir(d);

    return sum;
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


void
cb_procs_init(void)
{
    int             i, g, pid, ppid, nkids;
    char            comm[64], *s, *tok, *save;
    DIR            *d;
    struct dirent  *de;

    for (i = 0; i < B.nmasters; i++) {
        g = B.ngroups++;

        if (cb_proc_stat(B.master_pids[i], NULL, NULL, NULL, comm,
                         sizeof(comm))
            == -1)
        {
            cb_die("no process %d (--master-pid)", B.master_pids[i]);
        }

        B.groups[g].pg = (strcmp(comm, "postgres") == 0);

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
            if (cb_proc_stat(pid, &ppid, NULL, NULL, NULL, 0) == 0
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
            if (pid <= 0
                || cb_proc_stat(pid, NULL, NULL, NULL, comm, sizeof(comm))
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


/* cpu, rss: into sample 0 or 1 (rss 2: the base), or -1: not now */

void
cb_procs_sample(int cpu, int rss)
{
    int        i;
    uint64_t   ticks;
    cb_proc_t  *p;

    for (i = 0; i < B.nprocs; i++) {
        p = &B.procs[i];

        if (cb_proc_stat(p->pid, NULL, &ticks, NULL, NULL, 0) == -1) {
            p->gone = 1;
            continue;
        }

        if (cpu >= 0) {
            *(cpu ? &p->cpu1 : &p->cpu0) = ticks;
        }

        if (rss >= 0) {
            *(rss == 2 ? &p->rssb : rss ? &p->rss1 : &p->rss0)
                = cb_proc_rss(p->pid);
        }
    }

    /* PostgreSQL: the whole tree, its short-lived processes too */
    for (i = 0; cpu >= 0 && i < B.nmasters; i++) {
        if (B.groups[i].pg) {
            *(cpu ? &B.groups[i].tree1 : &B.groups[i].tree0)
                = cb_tree_cpu(B.master_pids[i]);
        }
    }
}


int64_t
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


void
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


/*
 * The idle time of the CPUs the first --master-pid may run on (taskset),
 * from /proc/stat: whether the server waited or worked.  end: 0 before,
 * 1 after.
 */
void
cb_srv_cores_sample(int end)
{
    int                  cpu, n;
    char                 line[256], *p;
    FILE                *f;
    size_t               len;
    uint64_t             idle, total;
    unsigned long long   v[8];
    static cpu_set_t     set;

    if (B.nmasters == 0) {
        return;
    }

    if (!end) {
        CPU_ZERO(&set);
        if (sched_getaffinity(B.master_pids[0], sizeof(set), &set) == -1) {
            return;
        }

        len = 0;
        B.srv_cores[0] = '\0';
        for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (CPU_ISSET(cpu, &set) && len + 8 < sizeof(B.srv_cores)) {
                len += snprintf(B.srv_cores + len, sizeof(B.srv_cores) - len,
                                "%s%d", len ? "+" : "", cpu);
            }
        }
    }

    if (B.srv_cores[0] == '\0') {
        return;
    }

    f = fopen("/proc/stat", "re");
    if (f == NULL) {
        return;
    }

    idle = 0;
    total = 0;

    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "cpu", 3) != 0 || !isdigit((u_char) line[3])) {
            continue;
        }

        cpu = (int) strtol(line + 3, &p, 10);
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set)) {
            continue;
        }

        memset(v, 0, sizeof(v));

        /* user nice system idle iowait irq softirq steal */
        n = sscanf(p, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n < 7) {
            continue;
        }

        idle += v[3] + v[4];
        total += v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    }

    fclose(f);

    *(end ? &B.srv_idle1 : &B.srv_idle0) = idle;
    *(end ? &B.srv_total1 : &B.srv_total0) = total;
}


static double
cb_tv(struct timeval *tv)
{
    return tv->tv_sec + tv->tv_usec / 1e6;
}


double
cb_ru_cpu(struct rusage *a, struct rusage *b)
{
    return cb_tv(&b->ru_utime) - cb_tv(&a->ru_utime)
           + cb_tv(&b->ru_stime) - cb_tv(&a->ru_stime);
}


/*
 * RLIMIT_NOFILE: the soft limit up to the hard one, and past it to "need"
 * if allowed (CAP_SYS_RESOURCE); returns the soft limit
 */

uint64_t
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
