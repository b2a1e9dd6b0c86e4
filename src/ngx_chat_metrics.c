/*
 * Metrics of the whole host.
 *
 * One shared memory zone, "ngx_chat_metrics", created by the module
 * itself: counters that every worker adds to with ngx_atomic_fetch_add
 * (no lock), histograms kept the same way, and a slot per worker for its
 * gauges (open connections, backend connections up), which only that
 * worker writes and which goes with it when it exits or dies.  Any worker
 * answers "chat_metrics" with the sum, in the Prometheus text format.
 *
 * A reload with the same module reuses the zone: counters keep counting,
 * and the old workers' gauges count until those workers exit.
 */

#include "ngx_chat.h"
#include "ngx_chat_session.h"
#include "ngx_chat_error.h"
#include "ngx_chat_http.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_prom.h"


#define NGX_CHAT_METRICS_ZONE     "ngx_chat_metrics"
#define NGX_CHAT_METRICS_MAGIC    0x6d63686174763032ULL  /* layout "v02" */
#define NGX_CHAT_METRICS_SLOTS    128       /* workers, old and new */
#define NGX_CHAT_METRICS_REASONS  32        /* error codes; last: other */
#define NGX_CHAT_METRICS_BUCKETS  16

/* a worker's gauges */
typedef enum {
    NGX_CHAT_METRICS_G_OPEN = 0,
    NGX_CHAT_METRICS_G_AUTHED,
    NGX_CHAT_METRICS_G_REDIS_SUB,
    NGX_CHAT_METRICS_G_REDIS_CMD,
    NGX_CHAT_METRICS_G_PG,
    NGX_CHAT_METRICS_GAUGES
} ngx_chat_metrics_gauge_e;

typedef enum {
    NGX_CHAT_METRICS_H_BATCH = 0,
    NGX_CHAT_METRICS_H_COMMIT,
    NGX_CHAT_METRICS_H_FANOUT,
    NGX_CHAT_METRICS_HISTOGRAMS
} ngx_chat_metrics_hist_e;


typedef struct {
    ngx_atomic_t              pid;        /* 0: free */
    ngx_atomic_t              gauge[NGX_CHAT_METRICS_GAUGES];
} ngx_chat_metrics_slot_t;


typedef struct {
    ngx_atomic_t              count[NGX_CHAT_METRICS_BUCKETS + 1];
    ngx_atomic_t              sum;
} ngx_chat_metrics_hist_t;


typedef struct {
    uint64_t                  magic;
    ngx_atomic_t              counter[NGX_CHAT_METRICS_COUNTERS];
    ngx_atomic_t              redis_reconnects[2];
    ngx_atomic_t              limited[NGX_CHAT_METRICS_LIMITS];
    ngx_atomic_t              rejected[2][NGX_CHAT_METRICS_REASONS];
    ngx_atomic_t              closes[2][NGX_CHAT_METRICS_BUCKETS];
    ngx_atomic_t              http[2][5];
    ngx_chat_metrics_hist_t   hist[NGX_CHAT_METRICS_HISTOGRAMS];
    ngx_chat_metrics_slot_t   slot[NGX_CHAT_METRICS_SLOTS];
    ngx_atomic_t              generation;  /* configurations loaded */
} ngx_chat_metrics_sh_t;


typedef struct {
    ngx_shm_zone_t           *zone;
    ngx_flag_t                used;       /* chat_metrics seen */
} ngx_chat_metrics_main_conf_t;


static void *ngx_chat_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_chat_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_chat_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_chat_metrics_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_chat_metrics_postconf(ngx_conf_t *cf);
static ngx_int_t ngx_chat_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_chat_metrics_init_process(ngx_cycle_t *cycle);
static void ngx_chat_metrics_exit_process(ngx_cycle_t *cycle);
static ngx_uint_t ngx_chat_metrics_alive(ngx_pid_t pid);
static void ngx_chat_metrics_close_count(uint16_t code, ngx_uint_t by_client);
static void ngx_chat_metrics_gauge(ngx_chat_metrics_gauge_e g,
    ngx_int_t delta);
static void ngx_chat_metrics_observe(ngx_chat_metrics_hist_e h,
    uint64_t value);
static ngx_int_t ngx_chat_metrics_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_chat_metrics_handler(ngx_http_request_t *r);
static void ngx_chat_metrics_write(ngx_chat_prom_t *p);
static void ngx_chat_metrics_write_gauges(ngx_chat_prom_t *p);
static void ngx_chat_metrics_write_traffic(ngx_chat_prom_t *p);
static void ngx_chat_metrics_write_backends(ngx_chat_prom_t *p);
static void ngx_chat_metrics_write_refusals(ngx_chat_prom_t *p);
static void ngx_chat_metrics_write_hist(ngx_chat_prom_t *p,
    ngx_chat_metrics_hist_e h, const char *name, const char *help);
static void ngx_chat_metrics_roles_write(ngx_chat_prom_t *p,
    const char *name, const char *type, const char *help, uint64_t *values);
static void ngx_chat_metrics_one(ngx_chat_prom_t *p, const char *name,
    const char *type, const char *help, uint64_t value);


/* the close codes the module sends or echoes; the last slot: others */
static const uint16_t  ngx_chat_metrics_codes[] = {
    1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1011, 1012, 1013,
    4001, 4003, 4008
};

#define NGX_CHAT_METRICS_NCODES                                               \
    (sizeof(ngx_chat_metrics_codes) / sizeof(ngx_chat_metrics_codes[0]))

static const char  *ngx_chat_metrics_limits[] = {
    "request", "user_send", "room_create", "connections"
};

static const char  *ngx_chat_metrics_roles[] = { "pubsub", "command" };
static const char  *ngx_chat_metrics_via[] = { "ws", "http" };
static const char  *ngx_chat_metrics_by[] = { "server", "client" };
static const char  *ngx_chat_metrics_apis[] = { "rest", "ws" };
static const char  *ngx_chat_metrics_classes[] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"
};

/* latencies in microseconds, shown in seconds */
static const uint64_t  ngx_chat_metrics_latency[] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

static const uint64_t  ngx_chat_metrics_sizes[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000
};

static const ngx_chat_prom_buckets_t  ngx_chat_metrics_buckets[] = {
    { ngx_chat_metrics_sizes,
      sizeof(ngx_chat_metrics_sizes) / sizeof(uint64_t), 1 },
    { ngx_chat_metrics_latency,
      sizeof(ngx_chat_metrics_latency) / sizeof(uint64_t), 1000000 },
    { ngx_chat_metrics_latency,
      sizeof(ngx_chat_metrics_latency) / sizeof(uint64_t), 1000000 },
};


static ngx_chat_metrics_sh_t    *ngx_chat_metrics_sh;
static ngx_atomic_uint_t         ngx_chat_metrics_generation;
static ngx_chat_metrics_slot_t  *ngx_chat_metrics_me;
static ngx_chat_metrics_slot_t   ngx_chat_metrics_nowhere;


static ngx_command_t  ngx_chat_metrics_commands[] = {

    { ngx_string("chat_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_chat_metrics_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chat_ws_log_at_close"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chat_metrics_loc_conf_t, log_at_close),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_chat_metrics_module_ctx = {
    ngx_chat_metrics_add_variables,        /* preconfiguration */
    ngx_chat_metrics_postconf,             /* postconfiguration */

    ngx_chat_metrics_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_chat_metrics_create_loc_conf,      /* create location configuration */
    ngx_chat_metrics_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_chat_metrics_module = {
    NGX_MODULE_V1,
    &ngx_chat_metrics_module_ctx,          /* module context */
    ngx_chat_metrics_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_chat_metrics_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_chat_metrics_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_chat_metrics_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_chat_metrics_main_conf_t));
}


static void *
ngx_chat_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_chat_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_chat_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->log_at_close = NGX_CONF_UNSET;

    return mlcf;
}


static char *
ngx_chat_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_chat_metrics_loc_conf_t *prev = parent;
    ngx_chat_metrics_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->log_at_close, prev->log_at_close, 0);

    return NGX_CONF_OK;
}


static char *
ngx_chat_metrics_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_chat_metrics_main_conf_t  *mmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_chat_metrics_handler;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_chat_metrics_module);
    mmcf->used = 1;

    return NGX_CONF_OK;
}


/* the zone and the log phase handler, when anything of the module is used */
static ngx_int_t
ngx_chat_metrics_postconf(ngx_conf_t *cf)
{
    size_t                         size;
    ngx_str_t                      name;
    ngx_http_handler_pt           *h;
    ngx_chat_main_conf_t          *mcf;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_chat_metrics_main_conf_t  *mmcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_chat_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_chat_metrics_module);

    if (!mcf->used && !mmcf->used) {
        return NGX_OK;
    }

    /* the layout and the slab pool's own pages */
    size = ngx_align(sizeof(ngx_chat_metrics_sh_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    ngx_str_set(&name, NGX_CHAT_METRICS_ZONE);

    mmcf->zone = ngx_shared_memory_add(cf, &name, size,
                                       &ngx_chat_metrics_module);
    if (mmcf->zone == NULL) {
        return NGX_ERROR;
    }

    mmcf->zone->init = ngx_chat_metrics_init_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_chat_metrics_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_chat_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t        *shpool;
    ngx_chat_metrics_sh_t  *sh;

    /* a reload: the same zone, its counters go on */
    if (data) {
        sh = data;

        if (sh->magic == NGX_CHAT_METRICS_MAGIC) {
            zone->data = sh;

            /* the old workers learn from it that they go for a reload */
            (void) ngx_atomic_fetch_add(&sh->generation, 1);
            return NGX_OK;
        }
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_chat_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->magic = NGX_CHAT_METRICS_MAGIC;
    shpool->data = sh;
    zone->data = sh;

    return NGX_OK;
}


/*
 * The worker takes a free slot for its gauges, or that of a worker that
 * died (its gauges went with it).
 */
static ngx_int_t
ngx_chat_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i, g;
    ngx_atomic_uint_t              pid;
    ngx_chat_metrics_slot_t       *slot;
    ngx_chat_metrics_main_conf_t  *mmcf;

    ngx_chat_metrics_sh = NULL;
    ngx_chat_metrics_me = &ngx_chat_metrics_nowhere;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_chat_metrics_module);
    if (mmcf == NULL || mmcf->zone == NULL || mmcf->zone->data == NULL) {
        return NGX_OK;
    }

    ngx_chat_metrics_sh = mmcf->zone->data;
    ngx_chat_metrics_generation = ngx_chat_metrics_sh->generation;

    for (i = 0; i < NGX_CHAT_METRICS_SLOTS; i++) {
        slot = &ngx_chat_metrics_sh->slot[i];
        pid = slot->pid;

        if ((pid == 0 || !ngx_chat_metrics_alive((ngx_pid_t) pid))
            && ngx_atomic_cmp_set(&slot->pid, pid, (ngx_atomic_uint_t) ngx_pid))
        {
            for (g = 0; g < NGX_CHAT_METRICS_GAUGES; g++) {
                slot->gauge[g] = 0;
            }

            ngx_chat_metrics_me = slot;
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "chat: no free slot in the metrics zone, this worker's "
                  "gauges are not shown");

    return NGX_OK;
}


static void
ngx_chat_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                g;
    ngx_chat_metrics_slot_t  *slot;

    slot = ngx_chat_metrics_me;

    if (slot == NULL || slot == &ngx_chat_metrics_nowhere) {
        return;
    }

    for (g = 0; g < NGX_CHAT_METRICS_GAUGES; g++) {
        slot->gauge[g] = 0;
    }

    slot->pid = 0;
    ngx_chat_metrics_me = &ngx_chat_metrics_nowhere;
}


static ngx_uint_t
ngx_chat_metrics_alive(ngx_pid_t pid)
{
    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


/* ---- the hooks ---- */

/*
 * 1 when the master has loaded a configuration since this worker started:
 * an exiting worker then goes for a reload (1012), not a shutdown (1001).
 * A reload whose configuration failed after the zones were set up counts
 * too.
 */
ngx_uint_t
ngx_chat_metrics_reloaded(void)
{
    return ngx_chat_metrics_sh
           && ngx_chat_metrics_sh->generation != ngx_chat_metrics_generation;
}


void
ngx_chat_metrics_count(ngx_chat_metrics_counter_e c)
{
    if (ngx_chat_metrics_sh) {
        (void) ngx_atomic_fetch_add(&ngx_chat_metrics_sh->counter[c], 1);
    }
}


void
ngx_chat_metrics_limited(ngx_chat_metrics_limit_e limit)
{
    if (ngx_chat_metrics_sh) {
        (void) ngx_atomic_fetch_add(&ngx_chat_metrics_sh->limited[limit], 1);
    }
}


void
ngx_chat_metrics_rejected(ngx_uint_t via, const char *code)
{
    ngx_uint_t  i;

    if (ngx_chat_metrics_sh == NULL) {
        return;
    }

    i = ngx_chat_error_index(code);
    i = ngx_min(i, NGX_CHAT_METRICS_REASONS - 1);

    (void) ngx_atomic_fetch_add(&ngx_chat_metrics_sh->rejected[via][i], 1);
}


void
ngx_chat_metrics_session_open(ngx_chat_session_t *s)
{
    ngx_chat_metrics_count(NGX_CHAT_METRICS_ACCEPTED);
    ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_OPEN, 1);
    ngx_chat_metrics_vars_session(s);
}


/* called before the session is marked authenticated */
void
ngx_chat_metrics_session_authed(ngx_chat_session_t *s)
{
    if (!s->authed) {
        ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_AUTHED, 1);
    }
}


/* a close frame queued: the module's own, or the echo of the peer's */
void
ngx_chat_metrics_session_close(ngx_chat_session_t *s, uint16_t code)
{
    ngx_chat_metrics_close_count(code, s->close_recv);
}


/* the connection is gone: with no close frame sent, that is a 1006 */
void
ngx_chat_metrics_session_end(ngx_chat_session_t *s)
{
    if (!s->close_sent) {
        ngx_chat_metrics_count(NGX_CHAT_METRICS_ENDED);
    }

    ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_OPEN, -1);

    if (s->authed) {
        ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_AUTHED, -1);
    }
}


static void
ngx_chat_metrics_close_count(uint16_t code, ngx_uint_t by_client)
{
    ngx_uint_t  i;

    if (ngx_chat_metrics_sh == NULL) {
        return;
    }

    for (i = 0; i < NGX_CHAT_METRICS_NCODES; i++) {
        if (ngx_chat_metrics_codes[i] == code) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(
                         &ngx_chat_metrics_sh->closes[by_client ? 1 : 0][i], 1);
}


void
ngx_chat_metrics_frame_in(ngx_uint_t type)
{
    if (type != NGX_CHAT_WS_EV_NONE && type != NGX_CHAT_WS_EV_ERROR) {
        ngx_chat_metrics_count(NGX_CHAT_METRICS_FRAMES_IN);
    }
}


void
ngx_chat_metrics_send(ngx_chat_session_t *s)
{
    ngx_chat_metrics_count(NGX_CHAT_METRICS_MESSAGES_IN);

    if (s) {
        ngx_chat_metrics_vars_send(s);
    }
}


void
ngx_chat_metrics_batch(ngx_uint_t n)
{
    ngx_chat_metrics_observe(NGX_CHAT_METRICS_H_BATCH, n);
}


uint64_t
ngx_chat_metrics_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
ngx_chat_metrics_committed(uint64_t queued_us)
{
    uint64_t  now;

    if (ngx_chat_metrics_sh == NULL) {
        return;
    }

    now = ngx_chat_metrics_now_us();

    ngx_chat_metrics_observe(NGX_CHAT_METRICS_H_COMMIT,
                             now > queued_us ? now - queued_us : 0);
}


/*
 * The delay from the message's commit time (its "ts", PostgreSQL's clock
 * at the statement) to now, on this worker's wall clock: a frame is the
 * header of 2, 4 or 10 bytes and the event, whose first ",\"ts\":" is
 * the field (the fields before it are strings).
 */
void
ngx_chat_metrics_fanout(const u_char *frame, size_t len, int64_t seq)
{
    u_char   *p, *last;
    size_t    head;
    int64_t   ts, now;

    if (ngx_chat_metrics_sh == NULL || seq <= 0 || len < 2) {
        return;
    }

    head = (frame[1] & 0x7f) == 127 ? 10 : (frame[1] & 0x7f) == 126 ? 4 : 2;

    if (len <= head) {
        return;
    }

    last = (u_char *) frame + len;

    p = ngx_strnstr((u_char *) frame + head, ",\"ts\":", len - head);
    if (p == NULL) {
        return;
    }

    ts = 0;

    for (p += sizeof(",\"ts\":") - 1;
         p < last && *p >= '0' && *p <= '9' && ts < INT64_MAX / 10;
         p++)
    {
        ts = ts * 10 + (*p - '0');
    }

    now = ngx_chat_now_ms();

    ngx_chat_metrics_observe(NGX_CHAT_METRICS_H_FANOUT,
                             now > ts ? (uint64_t) (now - ts) * 1000 : 0);
}


/* again: after a loss or a failed attempt */
void
ngx_chat_metrics_redis_up(ngx_uint_t subscriber, ngx_uint_t again)
{
    ngx_chat_metrics_gauge(subscriber ? NGX_CHAT_METRICS_G_REDIS_SUB
                                      : NGX_CHAT_METRICS_G_REDIS_CMD, 1);

    if (again && ngx_chat_metrics_sh) {
        (void) ngx_atomic_fetch_add(
                        &ngx_chat_metrics_sh->redis_reconnects[!subscriber], 1);
    }
}


void
ngx_chat_metrics_redis_down(ngx_uint_t subscriber, ngx_uint_t was_up)
{
    if (was_up) {
        ngx_chat_metrics_gauge(subscriber ? NGX_CHAT_METRICS_G_REDIS_SUB
                                          : NGX_CHAT_METRICS_G_REDIS_CMD, -1);
    }
}


/* a connection passed its schema check; again: after a failure */
void
ngx_chat_metrics_pg_checked(ngx_uint_t again)
{
    if (again) {
        ngx_chat_metrics_count(NGX_CHAT_METRICS_PG_RECONNECTS);
    }
}


/* a query is done; ready: it was the schema check, the connection is up */
void
ngx_chat_metrics_pg_up(ngx_uint_t ready)
{
    if (ready) {
        ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_PG, 1);
    }
}


void
ngx_chat_metrics_pg_down(ngx_uint_t was_up)
{
    if (was_up) {
        ngx_chat_metrics_gauge(NGX_CHAT_METRICS_G_PG, -1);
    }
}


/* only this worker writes its slot */
static void
ngx_chat_metrics_gauge(ngx_chat_metrics_gauge_e g, ngx_int_t delta)
{
    ngx_chat_metrics_me->gauge[g] += (ngx_atomic_uint_t) delta;
}


static void
ngx_chat_metrics_observe(ngx_chat_metrics_hist_e h, uint64_t value)
{
    size_t                    i;
    ngx_chat_metrics_hist_t  *hist;

    if (ngx_chat_metrics_sh == NULL) {
        return;
    }

    hist = &ngx_chat_metrics_sh->hist[h];
    i = ngx_chat_prom_bucket(&ngx_chat_metrics_buckets[h], value);

    (void) ngx_atomic_fetch_add(&hist->count[i], 1);
    (void) ngx_atomic_fetch_add(&hist->sum, (ngx_atomic_int_t) value);
}


/* REST responses and WebSocket handshakes by status class */
static ngx_int_t
ngx_chat_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                 api, status;
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_chat_metrics_sh == NULL) {
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->handler == ngx_chat_api_handler) {
        api = 0;

    } else if (clcf->handler == ngx_chat_ws_handler) {
        api = 1;

    } else {
        return NGX_OK;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status < 100 || status > 599) {
        /* closed before an answer: nginx logs such a request as 499 */
        status = 499;
    }

    (void) ngx_atomic_fetch_add(
                         &ngx_chat_metrics_sh->http[api][status / 100 - 1], 1);

    return NGX_OK;
}


/* ---- the exposition ---- */

static ngx_int_t
ngx_chat_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t        rc;
    ngx_chat_prom_t  p;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_chat_prom_init(&p);
    ngx_chat_metrics_write(&p);

    if (p.failed) {
        ngx_chat_prom_free(&p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;

    rc = ngx_chat_http_body(r, "text/plain; version=0.0.4", (u_char *) p.data,
                            p.len);
    ngx_chat_prom_free(&p);

    return rc;
}


static void
ngx_chat_metrics_write(ngx_chat_prom_t *p)
{
    if (ngx_chat_metrics_sh == NULL) {
        /* nothing of the module runs in this worker */
        ngx_chat_metrics_one(p, "ngx_chat_workers", "gauge",
                             "Worker processes with the module running", 0);
        return;
    }

    ngx_chat_metrics_write_gauges(p);
    ngx_chat_metrics_write_traffic(p);
    ngx_chat_metrics_write_backends(p);
    ngx_chat_metrics_write_refusals(p);
}


/* the slots of live workers, summed */
static void
ngx_chat_metrics_write_gauges(ngx_chat_prom_t *p)
{
    int64_t                   sum[NGX_CHAT_METRICS_GAUGES];
    uint64_t                  workers, roles[2];
    ngx_uint_t                i, g;
    ngx_atomic_uint_t         pid;
    ngx_chat_metrics_slot_t  *slot;

    ngx_memzero(sum, sizeof(sum));
    workers = 0;

    for (i = 0; i < NGX_CHAT_METRICS_SLOTS; i++) {
        slot = &ngx_chat_metrics_sh->slot[i];
        pid = slot->pid;

        if (pid == 0 || !ngx_chat_metrics_alive((ngx_pid_t) pid)) {
            continue;
        }

        workers++;

        for (g = 0; g < NGX_CHAT_METRICS_GAUGES; g++) {
            sum[g] += (ngx_atomic_int_t) slot->gauge[g];
        }
    }

    for (g = 0; g < NGX_CHAT_METRICS_GAUGES; g++) {
        sum[g] = ngx_max(sum[g], 0);
    }

    ngx_chat_metrics_one(p, "ngx_chat_workers", "gauge",
                         "Worker processes with the module running (the "
                         "old ones of a reload count until they exit)",
                         workers);

    ngx_chat_metrics_one(p, "ngx_chat_ws_connections", "gauge",
                         "Open WebSocket connections",
                         sum[NGX_CHAT_METRICS_G_OPEN]);

    ngx_chat_metrics_one(p, "ngx_chat_ws_sessions_authenticated", "gauge",
                         "Open WebSocket connections that have "
                         "authenticated", sum[NGX_CHAT_METRICS_G_AUTHED]);

    roles[0] = sum[NGX_CHAT_METRICS_G_REDIS_SUB];
    roles[1] = sum[NGX_CHAT_METRICS_G_REDIS_CMD];

    ngx_chat_metrics_roles_write(p, "ngx_chat_redis_connections", "gauge",
                                 "Redis connections up, summed over the "
                                 "workers (each has one of each role)",
                                 roles);

    ngx_chat_metrics_one(p, "ngx_chat_postgres_connections", "gauge",
                         "PostgreSQL connections up (past their schema "
                         "check), summed over the workers' pools",
                         sum[NGX_CHAT_METRICS_G_PG]);
}


static void
ngx_chat_metrics_write_traffic(ngx_chat_prom_t *p)
{
    ngx_atomic_t  *c;

    c = ngx_chat_metrics_sh->counter;

    ngx_chat_metrics_one(p, "ngx_chat_ws_connections_accepted_total",
                         "counter", "WebSocket connections upgraded",
                         c[NGX_CHAT_METRICS_ACCEPTED]);

    ngx_chat_metrics_one(p, "ngx_chat_ws_frames_received_total", "counter",
                         "WebSocket messages (a fragmented one counts once) "
                         "and control frames received",
                         c[NGX_CHAT_METRICS_FRAMES_IN]);

    ngx_chat_metrics_one(p, "ngx_chat_ws_frames_sent_total", "counter",
                         "WebSocket frames written whole to connections "
                         "(and each connection's 101 response head)",
                         c[NGX_CHAT_METRICS_FRAMES_OUT]);

    ngx_chat_metrics_one(p, "ngx_chat_messages_received_total", "counter",
                         "Sends asked for (WebSocket send requests and "
                         "REST POSTs of messages), before the send rate "
                         "and the commit", c[NGX_CHAT_METRICS_MESSAGES_IN]);

    ngx_chat_metrics_one(p, "ngx_chat_events_sent_total", "counter",
                         "Room events, durable and ephemeral (typing, "
                         "presence), queued to joined connections, one per "
                         "connection", c[NGX_CHAT_METRICS_EVENTS_OUT]);

    ngx_chat_metrics_one(p, "ngx_chat_ws_deflated_total", "counter",
                         "Frames compressed for connections that "
                         "negotiated permessage-deflate: once per frame "
                         "and worker, whatever the number of connections "
                         "it goes to", c[NGX_CHAT_METRICS_DEFLATED]);

    ngx_chat_metrics_one(p, "ngx_chat_ws_inflated_total", "counter",
                         "Compressed messages received and inflated",
                         c[NGX_CHAT_METRICS_INFLATED]);

    ngx_chat_metrics_one(p, "ngx_chat_joins_cached_total", "counter",
                         "Joins of members answered from the worker's "
                         "membership cache, without an access check in "
                         "PostgreSQL", c[NGX_CHAT_METRICS_JOINS_CACHED]);

    ngx_chat_metrics_write_hist(p, NGX_CHAT_METRICS_H_BATCH,
                                "ngx_chat_commit_batch_size",
                                "Durable room events per group commit "
                                "statement; its count is the statements "
                                "sent");

    ngx_chat_metrics_one(p, "ngx_chat_commits_failed_total", "counter",
                         "Group commit statements that failed as a whole "
                         "or could not be sent",
                         c[NGX_CHAT_METRICS_COMMITS_FAILED]);

    ngx_chat_metrics_one(p, "ngx_chat_commits_held_total", "counter",
                         "Group commits that waited for more events "
                         "(chat_batch_hold) before they left",
                         c[NGX_CHAT_METRICS_COMMITS_HELD]);

    ngx_chat_metrics_write_hist(p, NGX_CHAT_METRICS_H_COMMIT,
                                "ngx_chat_commit_duration_seconds",
                                "Time from a durable room event (a send, "
                                "edit, delete, membership change) entering "
                                "the group commit to its statement's answer "
                                "(acknowledged or refused), per event, on "
                                "the monotonic clock");

    ngx_chat_metrics_write_hist(p, NGX_CHAT_METRICS_H_FANOUT,
                                "ngx_chat_fanout_delay_seconds",
                                "Time from a message's commit timestamp (ts, "
                                "PostgreSQL's clock) to a worker queuing it "
                                "for its joined connections, per message "
                                "and worker holding the room, on the wall "
                                "clock in milliseconds");
}


static void
ngx_chat_metrics_write_backends(ngx_chat_prom_t *p)
{
    uint64_t  roles[2];

    roles[0] = ngx_chat_metrics_sh->redis_reconnects[0];
    roles[1] = ngx_chat_metrics_sh->redis_reconnects[1];

    ngx_chat_metrics_roles_write(p, "ngx_chat_redis_reconnects_total",
                                 "counter", "Redis connections established "
                                 "after a loss or a failed attempt", roles);

    ngx_chat_metrics_one(p, "ngx_chat_postgres_reconnects_total", "counter",
                         "PostgreSQL connections that passed their schema "
                         "check after a failure",
                         ngx_chat_metrics_sh->counter[
                             NGX_CHAT_METRICS_PG_RECONNECTS]);
}


static void
ngx_chat_metrics_write_refusals(ngx_chat_prom_t *p)
{
    u_char       code[NGX_INT_T_LEN + 1];
    ngx_uint_t   i, k;
    const char  *labels[4], *name;

    ngx_chat_prom_family(p, "ngx_chat_rejected_total", "counter",
                         "Requests answered with an error, by error code: "
                         "error frames (via ws) and HTTP error responses of "
                         "the REST API and the handshake (via http)");

    for (k = 0; k < 2; k++) {
        for (i = 0; i < NGX_CHAT_METRICS_REASONS; i++) {
            name = ngx_chat_error_code(i);

            if (name == NULL && i < NGX_CHAT_METRICS_REASONS - 1) {
                continue;
            }

            labels[0] = "via";
            labels[1] = ngx_chat_metrics_via[k];
            labels[2] = "reason";
            labels[3] = name ? name : "other";

            ngx_chat_prom_sample(p, "ngx_chat_rejected_total", labels, 2,
                                 ngx_chat_metrics_sh->rejected[k][i]);
        }
    }

    ngx_chat_prom_family(p, "ngx_chat_ws_closes_total", "counter",
                         "WebSocket connections closed, by code: by server "
                         "when the module sent the first close frame, by "
                         "client when it answered the peer's; by none, code "
                         "1006: the connection ended with no close frame "
                         "sent (the peer went away, a write failed, a ping "
                         "went unanswered)");

    for (k = 0; k < 2; k++) {
        for (i = 0; i <= NGX_CHAT_METRICS_NCODES; i++) {

            if (i < NGX_CHAT_METRICS_NCODES) {
                *ngx_sprintf(code, "%ui",
                             (ngx_uint_t) ngx_chat_metrics_codes[i]) = '\0';
            }

            labels[0] = "code";
            labels[1] = i < NGX_CHAT_METRICS_NCODES ? (char *) code : "other";
            labels[2] = "by";
            labels[3] = ngx_chat_metrics_by[k];

            ngx_chat_prom_sample(p, "ngx_chat_ws_closes_total", labels, 2,
                                 ngx_chat_metrics_sh->closes[k][i]);
        }
    }

    labels[1] = "1006";
    labels[3] = "none";

    ngx_chat_prom_sample(p, "ngx_chat_ws_closes_total", labels, 2,
                         ngx_chat_metrics_sh->counter[NGX_CHAT_METRICS_ENDED]);

    ngx_chat_prom_family(p, "ngx_chat_rate_limited_total", "counter",
                         "Requests refused as rate_limited, by the limit");

    labels[0] = "limit";

    for (i = 0; i < NGX_CHAT_METRICS_LIMITS; i++) {
        labels[1] = ngx_chat_metrics_limits[i];
        ngx_chat_prom_sample(p, "ngx_chat_rate_limited_total", labels, 1,
                             ngx_chat_metrics_sh->limited[i]);
    }

    ngx_chat_prom_family(p, "ngx_chat_http_responses_total", "counter",
                         "HTTP responses of chat_api (api rest) and chat_ws "
                         "(api ws: 101 upgrades and refused handshakes) by "
                         "status class, counted when logged");

    for (k = 0; k < 2; k++) {
        for (i = 0; i < 5; i++) {
            labels[0] = "api";
            labels[1] = ngx_chat_metrics_apis[k];
            labels[2] = "class";
            labels[3] = ngx_chat_metrics_classes[i];

            ngx_chat_prom_sample(p, "ngx_chat_http_responses_total", labels,
                                 2, ngx_chat_metrics_sh->http[k][i]);
        }
    }
}


static void
ngx_chat_metrics_write_hist(ngx_chat_prom_t *p, ngx_chat_metrics_hist_e h,
    const char *name, const char *help)
{
    size_t                    i;
    uint64_t                  counts[NGX_CHAT_METRICS_BUCKETS + 1];
    ngx_chat_metrics_hist_t  *hist;

    hist = &ngx_chat_metrics_sh->hist[h];

    for (i = 0; i <= ngx_chat_metrics_buckets[h].n; i++) {
        counts[i] = hist->count[i];
    }

    ngx_chat_prom_family(p, name, "histogram", help);
    ngx_chat_prom_histogram(p, name, &ngx_chat_metrics_buckets[h], counts,
                            hist->sum);
}


/* a family of two samples, role pubsub and command */
static void
ngx_chat_metrics_roles_write(ngx_chat_prom_t *p, const char *name,
    const char *type, const char *help, uint64_t *values)
{
    ngx_uint_t   i;
    const char  *labels[2];

    ngx_chat_prom_family(p, name, type, help);

    labels[0] = "role";

    for (i = 0; i < 2; i++) {
        labels[1] = ngx_chat_metrics_roles[i];
        ngx_chat_prom_sample(p, name, labels, 1, values[i]);
    }
}


static void
ngx_chat_metrics_one(ngx_chat_prom_t *p, const char *name, const char *type,
    const char *help, uint64_t value)
{
    ngx_chat_prom_family(p, name, type, help);
    ngx_chat_prom_sample(p, name, NULL, 0, value);
}
