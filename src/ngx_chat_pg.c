/*
 * A small pool of non-blocking libpq connections per worker, driven by
 * nginx events.  libpq reads and writes what it can per call, so its
 * sockets are watched level-triggered, and only in the direction libpq
 * waits for.
 */

#include "ngx_chat.h"
#include "ngx_chat_pg.h"
#include "ngx_chat_socket.h"
#include "ngx_chat_metrics.h"
#include "ngx_chat_reload.h"


#define NGX_CHAT_PG_CLOSED      0
#define NGX_CHAT_PG_CONNECTING  1
#define NGX_CHAT_PG_CHECKING    2
#define NGX_CHAT_PG_IDLE        3
#define NGX_CHAT_PG_BUSY        4

/*
 * While PostgreSQL is away one connection per worker probes it, at most
 * this often; the others follow as soon as it is back.
 */
#define NGX_CHAT_PG_BACKOFF_MIN   100
#define NGX_CHAT_PG_BACKOFF_MAX   250

/* the probe's failures, after the first, are logged this often at most */
#define NGX_CHAT_PG_LOG_EVERY     5000

#define NGX_CHAT_PG_WAITING_MAX   100000

/*
 * the named statements a connection keeps: the kinds of group commit and
 * the replays (seven now), with room for more; beyond it a statement goes
 * unnamed, planned at each call
 */
#define NGX_CHAT_PG_PREPARED_MAX  16

/* how ngx_chat_pg_enqueue() queues and sends a query */
#define NGX_CHAT_PG_FIRST         1
#define NGX_CHAT_PG_PREPARE       2


typedef struct {
    ngx_queue_t              queue;
    ngx_chat_pg_handler_pt   handler;
    void                    *data;
    const char              *sql;
    int                      nparams;
    char                   **values;
    int                     *lengths;
    PGresult                *result;
    unsigned                 prepare:1;   /* as a named statement */
    unsigned                 named:1;     /* sent as one */
    unsigned                 retried:1;   /* sent again once already */
} ngx_chat_pg_query_t;


/*
 * A statement prepared on a connection, named "ngx_chat_<crc>_<id>": the
 * CRC of its text makes a name mean the same text on every connection,
 * should a pooler hand one connection's statements to another's session.
 */
typedef struct {
    const char              *sql;
    uint32_t                 crc;
    ngx_uint_t               id;
} ngx_chat_pg_prepared_t;

#define NGX_CHAT_PG_NAME_LEN  (sizeof("ngx_chat__") + 8 + NGX_INT_T_LEN)


typedef struct {
    PGconn                  *conn;
    ngx_chat_socket_t        sock;
    ngx_uint_t               state;
    ngx_chat_pg_query_t     *query;
    ngx_event_t              timer;
    ngx_event_t              retry;
    ngx_msec_t               backoff;
    ngx_uint_t               index;
    ngx_msec_t               logged;
    ngx_chat_pg_prepared_t   prepared[NGX_CHAT_PG_PREPARED_MAX];
    ngx_uint_t               nprepared;
    ngx_uint_t               next_id;
    unsigned                 failing:1;
    unsigned                 preparing:1;  /* the query's Parse is out */
    unsigned                 unnamed:1;    /* prepares nothing */
} ngx_chat_pg_conn_t;


static void ngx_chat_pg_connect(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_unwrap(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_poll(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_ready(void *data, ngx_uint_t write);
static void ngx_chat_pg_input(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_dispatch(ngx_chat_pg_conn_t *pc,
    ngx_chat_pg_query_t *q);
static int ngx_chat_pg_send(ngx_chat_pg_conn_t *pc, ngx_chat_pg_query_t *q);
static ngx_uint_t ngx_chat_pg_prepared(ngx_chat_pg_conn_t *pc,
    ngx_chat_pg_query_t *q);
static ngx_uint_t ngx_chat_pg_stale(ngx_chat_pg_conn_t *pc,
    ngx_chat_pg_query_t *q, const char *state);
static void ngx_chat_pg_next(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_complete(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_broken(ngx_chat_pg_conn_t *pc, const char *what);
static void ngx_chat_pg_close(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_timer(ngx_event_t *ev);
static void ngx_chat_pg_retry(ngx_event_t *ev);
static void ngx_chat_pg_fail_waiting(ngx_event_t *ev);
static ngx_int_t ngx_chat_pg_enqueue(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data, ngx_uint_t flags);
static ngx_chat_pg_query_t *ngx_chat_pg_take(void);
static ngx_uint_t ngx_chat_pg_up_or_coming(void);
static ngx_uint_t ngx_chat_pg_probing(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_follow(ngx_chat_pg_conn_t *pc);
static void ngx_chat_pg_schema_checked(void *data, PGresult *res,
    ngx_uint_t status);
static ngx_chat_pg_query_t *ngx_chat_pg_query_create(const char *sql,
    int nparams, const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data);


static ngx_chat_pg_conn_t  *ngx_chat_pg_conns;
static ngx_uint_t           ngx_chat_pg_nconns;
static ngx_queue_t          ngx_chat_pg_waiting;
static ngx_uint_t           ngx_chat_pg_nwaiting;
/* the last of the queries queued first (commits), or NULL */
static ngx_queue_t         *ngx_chat_pg_first_last;
static ngx_event_t          ngx_chat_pg_fail_ev;
static ngx_log_t           *ngx_chat_pg_log;


ngx_int_t
ngx_chat_pg_init(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_chat_pg_conn_t    *pc;
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    ngx_chat_pg_log = cycle->log;
    ngx_chat_pg_nconns = mcf->pg_pool;
    ngx_queue_init(&ngx_chat_pg_waiting);
    ngx_chat_pg_nwaiting = 0;
    ngx_chat_pg_first_last = NULL;

    ngx_chat_pg_conns = ngx_pcalloc(cycle->pool,
                                    mcf->pg_pool * sizeof(ngx_chat_pg_conn_t));
    if (ngx_chat_pg_conns == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ngx_chat_pg_fail_ev, sizeof(ngx_event_t));
    ngx_chat_pg_fail_ev.handler = ngx_chat_pg_fail_waiting;
    ngx_chat_pg_fail_ev.data = &ngx_chat_no_connection;
    ngx_chat_pg_fail_ev.log = cycle->log;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        pc = &ngx_chat_pg_conns[i];
        pc->index = i;

        ngx_chat_socket_init(&pc->sock, ngx_chat_pg_ready, pc, cycle->log);

        pc->timer.handler = ngx_chat_pg_timer;
        pc->timer.data = pc;
        pc->timer.log = cycle->log;

        pc->retry.handler = ngx_chat_pg_retry;
        pc->retry.data = pc;
        pc->retry.log = cycle->log;
        pc->retry.cancelable = 1;

        pc->backoff = NGX_CHAT_PG_BACKOFF_MIN;

        ngx_chat_pg_connect(pc);
    }

    return NGX_OK;
}


void
ngx_chat_pg_exit(void)
{
    ngx_uint_t            i;
    ngx_chat_pg_conn_t   *pc;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        pc = &ngx_chat_pg_conns[i];

        if (pc->query) {
            ngx_free(pc->query);
            pc->query = NULL;
        }

        ngx_chat_pg_close(pc);

        if (pc->retry.timer_set) {
            ngx_del_timer(&pc->retry);
        }
    }

    while (!ngx_queue_empty(&ngx_chat_pg_waiting)) {
        ngx_free(ngx_chat_pg_take());
    }

    if (ngx_chat_pg_fail_ev.posted) {
        ngx_delete_posted_event(&ngx_chat_pg_fail_ev);
    }
}


ngx_int_t
ngx_chat_pg_up(void)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        if (ngx_chat_pg_conns[i].state >= NGX_CHAT_PG_IDLE) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_chat_pg_query(const char *sql, int nparams, const char *const *values,
    const int *lengths, ngx_chat_pg_handler_pt handler, void *data)
{
    return ngx_chat_pg_enqueue(sql, nparams, values, lengths, handler, data,
                               0);
}


/*
 * A commit waits behind other commits only: reads (history, search,
 * cursors) that a flood queued by the thousand do not hold back the
 * sends of everyone else.
 */
ngx_int_t
ngx_chat_pg_query_first(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data)
{
    return ngx_chat_pg_enqueue(sql, nparams, values, lengths, handler, data,
                               NGX_CHAT_PG_FIRST);
}


/*
 * A group commit runs once per batch: parsed and planned once per
 * connection, as a named statement, it is only bound and executed.
 */
ngx_int_t
ngx_chat_pg_query_prepared(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data)
{
    return ngx_chat_pg_enqueue(sql, nparams, values, lengths, handler, data,
                               NGX_CHAT_PG_FIRST|NGX_CHAT_PG_PREPARE);
}


/*
 * The replay of a room's log: planned for each call as an unnamed
 * statement, its planning cost more than its run (the union of two
 * halves over every month partition); its plan is the same whatever the
 * revs (sql/017).
 */
ngx_int_t
ngx_chat_pg_query_named(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data)
{
    return ngx_chat_pg_enqueue(sql, nparams, values, lengths, handler, data,
                               NGX_CHAT_PG_PREPARE);
}


static ngx_int_t
ngx_chat_pg_enqueue(const char *sql, int nparams, const char *const *values,
    const int *lengths, ngx_chat_pg_handler_pt handler, void *data,
    ngx_uint_t flags)
{
    ngx_uint_t            i, first;
    ngx_chat_pg_query_t  *q;

    first = flags & NGX_CHAT_PG_FIRST;

    /* a connection being made (a worker just started) is worth waiting for */
    if (!ngx_chat_pg_up_or_coming()
        || (!first && ngx_chat_pg_nwaiting >= NGX_CHAT_PG_WAITING_MAX))
    {
        return NGX_DECLINED;
    }

    q = ngx_chat_pg_query_create(sql, nparams, values, lengths, handler,
                                 data);
    if (q == NULL) {
        return NGX_ERROR;
    }

    q->prepare = (flags & NGX_CHAT_PG_PREPARE) ? 1 : 0;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        if (ngx_chat_pg_conns[i].state == NGX_CHAT_PG_IDLE) {
            ngx_chat_pg_dispatch(&ngx_chat_pg_conns[i], q);
            return NGX_OK;
        }
    }

    if (!first) {
        ngx_queue_insert_tail(&ngx_chat_pg_waiting, &q->queue);

    } else if (ngx_chat_pg_first_last) {
        /* the first ones keep their order among themselves */
        ngx_queue_insert_after(ngx_chat_pg_first_last, &q->queue);
        ngx_chat_pg_first_last = &q->queue;

    } else {
        ngx_queue_insert_head(&ngx_chat_pg_waiting, &q->queue);
        ngx_chat_pg_first_last = &q->queue;
    }

    ngx_chat_pg_nwaiting++;

    return NGX_OK;
}


/* the head of the waiting queue, taken out */
static ngx_chat_pg_query_t *
ngx_chat_pg_take(void)
{
    ngx_queue_t  *q;

    q = ngx_queue_head(&ngx_chat_pg_waiting);
    ngx_queue_remove(q);
    ngx_chat_pg_nwaiting--;

    /* the first ones are a prefix of the queue: none is left */
    if (q == ngx_chat_pg_first_last) {
        ngx_chat_pg_first_last = NULL;
    }

    return ngx_queue_data(q, ngx_chat_pg_query_t, queue);
}


/* the protocol's error code for a failed statement */
const char *
ngx_chat_pg_error_code(ngx_uint_t status, PGresult *res)
{
    char  *state;

    if (status == NGX_CHAT_PG_UNAVAILABLE || res == NULL) {
        return "unavailable";
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return ngx_chat_pg_state_code(state ? state : "");
}


/* the protocol's error code for a SQLSTATE the schema raises */
const char *
ngx_chat_pg_state_code(const char *state)
{
    if (ngx_strcmp(state, "42501") == 0) {
        return "forbidden";
    }

    if (ngx_strcmp(state, "P0002") == 0) {
        return "not_found";
    }

    if (ngx_strcmp(state, "23505") == 0) {
        return "conflict";
    }

    /* a deadlock, a serialization failure, a lock wait given up: retry */
    if (ngx_strncmp(state, "40", 2) == 0 || ngx_strcmp(state, "55P03") == 0)
    {
        return "unavailable";
    }

    return "internal";
}


static ngx_uint_t
ngx_chat_pg_up_or_coming(void)
{
    ngx_uint_t           i;
    ngx_chat_pg_conn_t  *pc;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        pc = &ngx_chat_pg_conns[i];

        /* a probe of a PostgreSQL that is away is not worth waiting for */
        if (pc->state != NGX_CHAT_PG_CLOSED
            && !(pc->state == NGX_CHAT_PG_CONNECTING && pc->failing))
        {
            return 1;
        }
    }

    return 0;
}


/* another connection of a failing pool is trying to reach PostgreSQL */
static ngx_uint_t
ngx_chat_pg_probing(ngx_chat_pg_conn_t *pc)
{
    ngx_uint_t           i;
    ngx_chat_pg_conn_t  *o;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        o = &ngx_chat_pg_conns[i];

        if (o != pc && o->failing
            && (o->retry.timer_set || o->state == NGX_CHAT_PG_CONNECTING
                || o->state == NGX_CHAT_PG_CHECKING))
        {
            return 1;
        }
    }

    return 0;
}


/* PostgreSQL is back: the connections that waited for the probe follow */
static void
ngx_chat_pg_follow(ngx_chat_pg_conn_t *pc)
{
    ngx_uint_t           i;
    ngx_chat_pg_conn_t  *o;

    for (i = 0; i < ngx_chat_pg_nconns; i++) {
        o = &ngx_chat_pg_conns[i];

        if (o == pc || o->state != NGX_CHAT_PG_CLOSED) {
            continue;
        }

        o->backoff = NGX_CHAT_PG_BACKOFF_MIN;

        if (o->retry.timer_set) {
            ngx_del_timer(&o->retry);
        }

        /* from the event loop, not from within this answer */
        ngx_add_timer(&o->retry, 1);
    }
}


static ngx_chat_pg_query_t *
ngx_chat_pg_query_create(const char *sql, int nparams,
    const char *const *values, const int *lengths,
    ngx_chat_pg_handler_pt handler, void *data)
{
    u_char               *p;
    size_t                size;
    ngx_int_t             i;
    ngx_chat_pg_query_t  *q;

    /* parameters are copied: a query may wait for a free connection */
    size = sizeof(ngx_chat_pg_query_t)
           + nparams * (sizeof(char *) + sizeof(int));

    for (i = 0; i < nparams; i++) {
        size += values[i] ? (size_t) lengths[i] + 1 : 0;
    }

    q = ngx_alloc(size, ngx_chat_pg_log);
    if (q == NULL) {
        return NULL;
    }

    q->handler = handler;
    q->data = data;
    q->sql = sql;
    q->nparams = nparams;
    q->result = NULL;
    q->prepare = 0;
    q->named = 0;
    q->retried = 0;
    q->values = (char **) (q + 1);
    q->lengths = (int *) (q->values + nparams);

    p = (u_char *) (q->lengths + nparams);

    for (i = 0; i < nparams; i++) {
        q->lengths[i] = values[i] ? lengths[i] : 0;

        if (values[i] == NULL) {
            q->values[i] = NULL;
            continue;
        }

        q->values[i] = (char *) p;
        p = ngx_cpymem(p, values[i], lengths[i]);
        *p++ = '\0';
    }

    return q;
}


static void
ngx_chat_pg_connect(ngx_chat_pg_conn_t *pc)
{
    ngx_chat_main_conf_t  *mcf;

    mcf = ngx_chat_worker.mcf;

    pc->conn = PQconnectStart((char *) mcf->pg_conninfo.data);

    if (pc->conn == NULL || PQstatus(pc->conn) == CONNECTION_BAD) {
        ngx_chat_pg_broken(pc, "connect failed");
        return;
    }

    if (PQsetnonblocking(pc->conn, 1) != 0
        || ngx_chat_socket_wrap(&pc->sock, PQsocket(pc->conn)) != NGX_OK)
    {
        ngx_chat_pg_close(pc);
        return;
    }

    pc->state = NGX_CHAT_PG_CONNECTING;

    /* libpq starts by waiting for the socket to become writable */
    if (ngx_chat_socket_want(&pc->sock, 0, 1) != NGX_OK) {
        ngx_chat_pg_close(pc);
        return;
    }

    ngx_add_timer(&pc->timer, ngx_chat_worker.mcf->pg_timeout);
}


static void
ngx_chat_pg_unwrap(ngx_chat_pg_conn_t *pc)
{
    ngx_uint_t  closed;

    if (pc->sock.c == NULL) {
        return;
    }

    /*
     * libpq closes its socket itself when it finds the connection lost
     * (or moves to another one while connecting).
     */
    closed = pc->conn == NULL || PQsocket(pc->conn) != (int) pc->sock.c->fd;

    ngx_chat_socket_unwrap(&pc->sock, closed);
}


static void
ngx_chat_pg_ready(void *data, ngx_uint_t write)
{
    ngx_chat_pg_conn_t  *pc = data;

    int  rc;

    switch (pc->state) {

    case NGX_CHAT_PG_CONNECTING:
        ngx_chat_pg_poll(pc);
        return;

    case NGX_CHAT_PG_CLOSED:
        return;
    }

    if (write) {
        rc = PQflush(pc->conn);

        if (rc < 0) {
            ngx_chat_pg_broken(pc, "send failed");
            return;
        }

        if (rc == 0 && ngx_chat_socket_want(&pc->sock, 1, 0) != NGX_OK) {
            ngx_chat_pg_broken(pc, "event failed");
        }

        return;
    }

    ngx_chat_pg_input(pc);
}


static void
ngx_chat_pg_poll(ngx_chat_pg_conn_t *pc)
{
    PostgresPollingStatusType  st;

    /*
     * libpq may close its socket and open another while it tries
     * addresses, possibly with the same number: its events go first.
     */
    if (ngx_chat_socket_want(&pc->sock, 0, 0) != NGX_OK) {
        ngx_chat_pg_broken(pc, "event failed");
        return;
    }

    st = PQconnectPoll(pc->conn);

    if (st != PGRES_POLLING_FAILED
        && PQsocket(pc->conn) != (int) pc->sock.c->fd)
    {
        ngx_chat_pg_unwrap(pc);

        if (ngx_chat_socket_wrap(&pc->sock, PQsocket(pc->conn)) != NGX_OK)
        {
            ngx_chat_pg_broken(pc, "connect failed");
            return;
        }
    }

    switch (st) {

    case PGRES_POLLING_READING:
        if (ngx_chat_socket_want(&pc->sock, 1, 0) != NGX_OK) {
            ngx_chat_pg_broken(pc, "event failed");
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ngx_chat_socket_want(&pc->sock, 0, 1) != NGX_OK) {
            ngx_chat_pg_broken(pc, "event failed");
        }
        return;

    case PGRES_POLLING_OK:
        break;

    default:
        ngx_chat_pg_broken(pc, "connect failed");
        return;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    /* the module refuses a schema it does not know */
    pc->state = NGX_CHAT_PG_CHECKING;
    pc->query = ngx_chat_pg_query_create(
                    "select coalesce(max(version), 0) from chat_schema_version",
                    0, NULL, NULL, ngx_chat_pg_schema_checked, pc);

    if (pc->query == NULL) {
        ngx_chat_pg_broken(pc, "out of memory");
        return;
    }

    ngx_chat_pg_dispatch(pc, pc->query);
}


static void
ngx_chat_pg_schema_checked(void *data, PGresult *res, ngx_uint_t status)
{
    ngx_chat_pg_conn_t  *pc = data;

    long  version;

    if (status != NGX_CHAT_PG_OK) {
        /* any failure here leaves the connection unusable */
        pc->state = NGX_CHAT_PG_CLOSED;

        if (status == NGX_CHAT_PG_FAILED && !pc->failing) {
            ngx_log_error(NGX_LOG_ALERT, ngx_chat_pg_log, 0,
                          "chat: the database has no ngx_chat schema, "
                          "apply sql/ with scripts/chat-migrate");
        }

        return;
    }

    version = PQntuples(res) == 1 ? atol(PQgetvalue(res, 0, 0)) : -1;

    if (version != NGX_CHAT_SCHEMA_VERSION) {
        if (!pc->failing) {
            ngx_log_error(NGX_LOG_ALERT, ngx_chat_pg_log, 0,
                          "chat: the database schema is version %l, this "
                          "module works with version %d only; apply sql/ "
                          "with scripts/chat-migrate or use a matching "
                          "module", version, NGX_CHAT_SCHEMA_VERSION);
        }

        pc->state = NGX_CHAT_PG_CLOSED;
        return;
    }

    if (pc->failing) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_chat_pg_log, 0,
                      "chat: postgres connection %ui is back", pc->index);
    }

    ngx_chat_metrics_pg_checked(pc->failing);
    pc->failing = 0;
    pc->backoff = NGX_CHAT_PG_BACKOFF_MIN;

    if (ngx_chat_worker.active && ngx_chat_reload_backends_kept()) {
        ngx_chat_pg_follow(pc);
    }
}


static void
ngx_chat_pg_input(ngx_chat_pg_conn_t *pc)
{
    PGresult  *res;
    PGnotify  *n;

    if (!PQconsumeInput(pc->conn)) {
        ngx_chat_pg_broken(pc, "connection lost");
        return;
    }

    while ((n = PQnotifies(pc->conn)) != NULL) {
        PQfreemem(n);
    }

    if (pc->query == NULL) {
        if (PQstatus(pc->conn) != CONNECTION_OK) {
            ngx_chat_pg_broken(pc, "connection lost");
        }

        return;
    }

    while (!PQisBusy(pc->conn)) {
        res = PQgetResult(pc->conn);

        if (res == NULL) {
            ngx_chat_pg_complete(pc);
            return;
        }

        if (pc->query->result == NULL) {
            pc->query->result = res;

        } else {
            PQclear(res);
        }
    }
}


static void
ngx_chat_pg_dispatch(ngx_chat_pg_conn_t *pc, ngx_chat_pg_query_t *q)
{
    int  rc;

    pc->query = q;

    if (pc->state == NGX_CHAT_PG_IDLE) {
        pc->state = NGX_CHAT_PG_BUSY;
    }

    if (!ngx_chat_pg_send(pc, q)) {
        ngx_chat_pg_broken(pc, "send failed");
        return;
    }

    rc = PQflush(pc->conn);

    if (rc < 0 || ngx_chat_socket_want(&pc->sock, 1, rc == 1) != NGX_OK) {
        ngx_chat_pg_broken(pc, "send failed");
        return;
    }

    /* not cancelable: a worker shutting down waits for its commits */
    ngx_add_timer(&pc->timer, ngx_chat_worker.mcf->pg_timeout);
}


/*
 * A query to prepare goes as a named statement: executed if the
 * connection has it, else prepared first (its Parse answers in
 * ngx_chat_pg_complete(), which then sends it again).
 */
static int
ngx_chat_pg_send(ngx_chat_pg_conn_t *pc, ngx_chat_pg_query_t *q)
{
    u_char                   name[NGX_CHAT_PG_NAME_LEN];
    ngx_uint_t               k;
    ngx_chat_pg_prepared_t  *p;

    q->named = 0;

    k = q->prepare && !pc->unnamed ? ngx_chat_pg_prepared(pc, q) : 0;

    /* a connection with every slot taken sends the others unnamed */
    if (k == NGX_CHAT_PG_PREPARED_MAX) {
        q->prepare = 0;
    }

    if (!q->prepare || pc->unnamed) {
        return PQsendQueryParams(pc->conn, q->sql, q->nparams, NULL,
                                 (const char *const *) q->values, q->lengths,
                                 NULL, 0);
    }

    p = &pc->prepared[k];

    if (k == pc->nprepared) {
        /* counted among the prepared ones once its Parse succeeded */
        p->sql = NULL;
        p->crc = ngx_crc32_short((u_char *) q->sql, ngx_strlen(q->sql));
        p->id = pc->next_id++;
        pc->preparing = 1;
    }

    ngx_sprintf(name, "ngx_chat_%08xD_%ui%Z", p->crc, p->id);

    if (k == pc->nprepared) {
        return PQsendPrepare(pc->conn, (char *) name, q->sql, q->nparams,
                             NULL);
    }

    q->named = 1;

    return PQsendQueryPrepared(pc->conn, (char *) name, q->nparams,
                               (const char *const *) q->values, q->lengths,
                               NULL, 0);
}


/* the index of q's statement among pc's prepared ones, or nprepared */
static ngx_uint_t
ngx_chat_pg_prepared(ngx_chat_pg_conn_t *pc, ngx_chat_pg_query_t *q)
{
    ngx_uint_t  k;

    for (k = 0; k < pc->nprepared; k++) {
        if (pc->prepared[k].sql == q->sql) {
            break;
        }
    }

    return k;
}


/*
 * The named statement failed before it ran, and nothing of it was done
 * (it is one transaction): it is forgotten and the query sent once more.
 * Its result changed with the schema (0A000, "cached plan must not change
 * result type"): prepared again.  It is gone from the session (26000): a
 * pooler between the module and PostgreSQL may hand each statement to
 * another server connection, so this connection sends unnamed from now.
 */
static ngx_uint_t
ngx_chat_pg_stale(ngx_chat_pg_conn_t *pc, ngx_chat_pg_query_t *q,
    const char *state)
{
    ngx_uint_t  k;

    if (!q->named || q->retried || state == NULL) {
        return 0;
    }

    if (ngx_strcmp(state, "26000") == 0) {
        if (!pc->unnamed) {
            ngx_log_error(NGX_LOG_WARN, ngx_chat_pg_log, 0,
                          "chat: postgres connection %ui lost a prepared "
                          "statement, it sends its statements unnamed",
                          pc->index);
        }

        pc->unnamed = 1;

    } else if (ngx_strcmp(state, "0A000") != 0) {
        return 0;
    }

    k = ngx_chat_pg_prepared(pc, q);

    if (k < pc->nprepared) {
        pc->prepared[k] = pc->prepared[--pc->nprepared];
    }

    q->retried = 1;

    return 1;
}


static void
ngx_chat_pg_complete(ngx_chat_pg_conn_t *pc)
{
    char                 *state;
    PGresult             *res;
    ngx_uint_t            status;
    ExecStatusType        rs;
    ngx_chat_pg_query_t  *q;

    q = pc->query;
    res = q->result;
    rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if ((pc->preparing || ngx_chat_pg_stale(pc, q, state))
        && PQstatus(pc->conn) == CONNECTION_OK)
    {
        if (pc->preparing) {
            pc->preparing = 0;

            /* a name that exists means the same text (a pooler) */
            if (rs == PGRES_COMMAND_OK
                || (state && ngx_strcmp(state, "42P05") == 0))
            {
                pc->prepared[pc->nprepared++].sql = q->sql;

            } else {
                /* this once, and on this connection, it goes unnamed */
                ngx_log_error(NGX_LOG_WARN, ngx_chat_pg_log, 0,
                              "chat: postgres: prepare failed: %s",
                              res ? PQresultErrorMessage(res)
                                  : PQerrorMessage(pc->conn));
                q->prepare = 0;
            }
        }

        if (res) {
            PQclear(res);
            q->result = NULL;
        }

        /* the query itself now: its timer starts again */
        ngx_chat_pg_dispatch(pc, q);
        return;
    }

    pc->preparing = 0;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    pc->query = NULL;

    if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
        status = NGX_CHAT_PG_OK;

    } else {
        /* connection trouble, shutdown, or overload: try again later */
        if (state == NULL
            || ngx_strncmp(state, "08", 2) == 0
            || ngx_strncmp(state, "57", 2) == 0
            || ngx_strncmp(state, "53", 2) == 0)
        {
            status = NGX_CHAT_PG_UNAVAILABLE;

        } else {
            status = NGX_CHAT_PG_FAILED;
        }

        /* refusals the schema raises on purpose are answers, not errors */
        if (status == NGX_CHAT_PG_UNAVAILABLE
            || ngx_strcmp(ngx_chat_pg_error_code(status, res), "internal")
               == 0)
        {
            ngx_log_error(NGX_LOG_ERR, ngx_chat_pg_log, 0,
                          "chat: postgres: %s",
                          res ? PQresultErrorMessage(res)
                              : PQerrorMessage(pc->conn));
        }
    }

    q->handler(q->data, status == NGX_CHAT_PG_UNAVAILABLE ? NULL : res,
               status);

    if (res) {
        PQclear(res);
    }

    ngx_free(q);

    if (pc->state == NGX_CHAT_PG_CLOSED) {
        ngx_chat_pg_broken(pc, "schema refused");
        return;
    }

    if (PQstatus(pc->conn) != CONNECTION_OK) {
        ngx_chat_pg_broken(pc, "connection lost");
        return;
    }

    ngx_chat_metrics_pg_up(pc->state == NGX_CHAT_PG_CHECKING);
    pc->state = NGX_CHAT_PG_IDLE;
    ngx_chat_pg_next(pc);
}


static void
ngx_chat_pg_next(ngx_chat_pg_conn_t *pc)
{
    ngx_chat_pg_query_t  *query;

    if (ngx_queue_empty(&ngx_chat_pg_waiting)) {
        return;
    }

    query = ngx_chat_pg_take();
    ngx_chat_pg_dispatch(pc, query);
}


static void
ngx_chat_pg_broken(ngx_chat_pg_conn_t *pc, const char *what)
{
    ngx_uint_t            level;
    ngx_chat_pg_query_t  *q;

    /*
     * While PostgreSQL stays down, only the first failure is an error;
     * the probe's next ones are noted now and then.
     */
    if (!pc->failing
        || ngx_current_msec - pc->logged >= NGX_CHAT_PG_LOG_EVERY)
    {
        level = pc->failing ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, ngx_chat_pg_log, 0,
                      "chat: postgres connection %ui: %s%s%s", pc->index,
                      what, pc->conn ? ": " : "",
                      pc->conn ? PQerrorMessage(pc->conn) : "");
        pc->logged = ngx_current_msec;
    }

    pc->failing = 1;

    q = pc->query;
    pc->query = NULL;

    ngx_chat_pg_close(pc);

    if (q) {
        if (q->result) {
            PQclear(q->result);
        }

        q->handler(q->data, NULL, NGX_CHAT_PG_UNAVAILABLE);
        ngx_free(q);
    }
}


static void
ngx_chat_pg_close(ngx_chat_pg_conn_t *pc)
{
    ngx_chat_pg_unwrap(pc);

    if (pc->conn) {
        PQfinish(pc->conn);
        pc->conn = NULL;
    }

    ngx_chat_metrics_pg_down(pc->state >= NGX_CHAT_PG_IDLE);
    pc->state = NGX_CHAT_PG_CLOSED;

    /* a new connection is a new session: nothing is prepared there */
    pc->nprepared = 0;
    pc->preparing = 0;
    pc->unnamed = 0;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    /* while another connection probes, this one waits for its news */
    if (ngx_chat_reload_backends_kept()
        && !pc->retry.timer_set
        && ngx_chat_worker.active
        && !(pc->failing && ngx_chat_pg_probing(pc)))
    {
        ngx_add_timer(&pc->retry, pc->backoff);
        pc->backoff = ngx_min(pc->backoff * 2, NGX_CHAT_PG_BACKOFF_MAX);
    }

    /* with no connection left or coming, queued queries fail, never
     * synchronously */
    if (!ngx_chat_pg_up_or_coming() && !ngx_queue_empty(&ngx_chat_pg_waiting)
        && !ngx_chat_pg_fail_ev.posted)
    {
        ngx_post_event(&ngx_chat_pg_fail_ev, &ngx_posted_events);
    }
}


static void
ngx_chat_pg_timer(ngx_event_t *ev)
{
    ngx_chat_pg_conn_t  *pc = ev->data;

    ngx_chat_pg_broken(pc, pc->state == NGX_CHAT_PG_CONNECTING
                           ? "connect timed out" : "query timed out");
}


static void
ngx_chat_pg_retry(ngx_event_t *ev)
{
    ngx_chat_pg_conn_t  *pc = ev->data;

    if (pc->state == NGX_CHAT_PG_CLOSED) {
        ngx_chat_pg_connect(pc);
    }
}


static void
ngx_chat_pg_fail_waiting(ngx_event_t *ev)
{
    ngx_chat_pg_query_t  *query;

    while (!ngx_chat_pg_up_or_coming()
           && !ngx_queue_empty(&ngx_chat_pg_waiting))
    {
        query = ngx_chat_pg_take();
        query->handler(query->data, NULL, NGX_CHAT_PG_UNAVAILABLE);
        ngx_free(query);
    }
}
