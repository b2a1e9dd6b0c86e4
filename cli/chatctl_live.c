
/*
 * chatctl tail and join: a room's live events over WebSocket, resumed
 * with since_rev after a reconnect (protocol.md section 5a); join also
 * sends the lines read from stdin.
 */


#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatctl.h"
#include "ngx_chat_ids.h"
#include "ngx_chat_utf8.h"


#define NGX_CHATCTL_BACKOFF_MIN   100
#define NGX_CHATCTL_BACKOFF_MAX   3000
#define NGX_CHATCTL_LINE_MAX      (64 * 1024)


typedef struct {
    long long              id;          /* the request id of its send */
    char                  *body;
    size_t                 len;
    char                   cmid[NGX_CHAT_CLIENT_MSG_ID_MAX + 1];
} ngx_chatctl_pending_t;


typedef struct {
    ngx_chatctl_conf_t    *cf;
    const char            *room;
    int                    json;
    int                    interactive;  /* join: stdin lines are sent */
    long long              last_rev;     /* -1: none yet */
    long long              count;        /* exit after this many; 0: no */
    long long              printed;
    long long              next_id;
    long long              join_id;
    int                    joined;
    int                    connected;
    int                    ever;         /* was joined once */
    int                    done;
    int                    rc;           /* the exit code once done */
    int                    failed_rc;    /* of the last failed send */
    char                   user[NGX_CHAT_USER_ID_MAX + 1];
    char                   cmid_base[24];
    long long              lines;
    ngx_chatctl_ws_t       ws;

    ngx_chatctl_pending_t *pending;
    size_t                 npending;
    int                    eof;
    char                  *in;           /* stdin bytes not yet a line */
    size_t                 in_len;
} ngx_chatctl_live_t;


enum {
    NGX_CHATCTL_LIVE_JSON = 256,
    NGX_CHATCTL_LIVE_SINCE_REV,
    NGX_CHATCTL_LIVE_COUNT
};


static const struct option  ngx_chatctl_live_options[] = {
    { "json",      no_argument,       NULL, NGX_CHATCTL_LIVE_JSON },
    { "since-rev", required_argument, NULL, NGX_CHATCTL_LIVE_SINCE_REV },
    { "count",     required_argument, NULL, NGX_CHATCTL_LIVE_COUNT },
    { NULL, 0, NULL, 0 }
};


static int ngx_chatctl_live_opt(void *ctx, int opt, const char *arg);
static int ngx_chatctl_live(ngx_chatctl_conf_t *cf, const char *name,
    int interactive, int argc, char **argv);
static int ngx_chatctl_live_run(ngx_chatctl_live_t *l);
static int ngx_chatctl_live_connect(ngx_chatctl_live_t *l);
static int ngx_chatctl_live_wait(ngx_chatctl_live_t *l, int what);
static void ngx_chatctl_live_frame(ngx_chatctl_live_t *l, const char *msg,
    size_t len);
static void ngx_chatctl_live_reply(ngx_chatctl_live_t *l, json_t *j);
static void ngx_chatctl_live_event(ngx_chatctl_live_t *l, json_t *j,
    const char *msg, size_t len);
static int ngx_chatctl_live_closed(ngx_chatctl_live_t *l);
static int ngx_chatctl_live_read(ngx_chatctl_live_t *l);
static void ngx_chatctl_live_line(ngx_chatctl_live_t *l, char *line,
    size_t len);
static void ngx_chatctl_live_send(ngx_chatctl_live_t *l,
    ngx_chatctl_pending_t *p);
static void ngx_chatctl_live_signal(int signo);


static int
ngx_chatctl_live_opt(void *ctx, int opt, const char *arg)
{
    long long            n;
    ngx_chatctl_live_t  *l;

    l = ctx;

    switch (opt) {

    case NGX_CHATCTL_LIVE_JSON:
        l->json = 1;
        return 1;

    case NGX_CHATCTL_LIVE_SINCE_REV:
    case NGX_CHATCTL_LIVE_COUNT:
        if (ngx_chatctl_number(arg, &n) != 0 || n < 0) {
            return -1;
        }

        if (opt == NGX_CHATCTL_LIVE_COUNT) {
            l->count = n;

        } else {
            l->last_rev = n;
        }

        return 1;
    }

    return 0;
}


int
ngx_chatctl_cmd_tail(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    return ngx_chatctl_live(cf, "tail", 0, argc, argv);
}


int
ngx_chatctl_cmd_join(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    return ngx_chatctl_live(cf, "join", 1, argc, argv);
}


static int
ngx_chatctl_live(ngx_chatctl_conf_t *cf, const char *name, int interactive,
    int argc, char **argv)
{
    int                       rc, i;
    uint8_t                   raw[6];
    struct sigaction          sa;
    ngx_chatctl_live_t        l;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command(name);

    memset(&l, 0, sizeof(ngx_chatctl_live_t));
    l.cf = cf;
    l.last_rev = -1;
    l.interactive = interactive;
    l.next_id = 1;
    l.ws.closed = 1;

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, ngx_chatctl_live_options,
                           ngx_chatctl_live_opt, &l);
    if (rc < 0) {
        return ngx_chatctl_parse_exit(rc);
    }

    if (argc - rc != 1) {
        return ngx_chatctl_usage_error(cmd, "%s takes one ROOM", name);
    }

    l.room = argv[rc];

    if ((rc = ngx_chatctl_check_room(l.room)) != NGX_CHATCTL_OK) {
        return rc;
    }

    ngx_chatctl_random(raw, sizeof(raw));
    rc = snprintf(l.cmid_base, sizeof(l.cmid_base), "chatctl-");

    for (i = 0; i < 6; i++) {
        rc += snprintf(l.cmid_base + rc, sizeof(l.cmid_base) - rc, "%02x",
                       raw[i]);
    }

    /* no SA_RESTART: a signal ends the poll() */

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ngx_chatctl_live_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = ngx_chatctl_live_run(&l);

    if (!l.ws.closed) {
        ngx_chatctl_ws_close(&l.ws, NGX_CHAT_CLOSE_NORMAL);
    }

    return rc;
}


static void
ngx_chatctl_live_signal(int signo)
{
    (void) signo;

    ngx_chatctl_stop = 1;
}


static int
ngx_chatctl_live_run(ngx_chatctl_live_t *l)
{
    int        rc, backoff, delay;
    uint8_t    jitter;

    backoff = NGX_CHATCTL_BACKOFF_MIN;

    while (!l->done && !ngx_chatctl_stop) {

        if (!l->connected) {
            ngx_chatctl_quiet = l->ever;
            rc = ngx_chatctl_live_connect(l);
            ngx_chatctl_quiet = 0;

            if (rc == NGX_CHATCTL_OK) {
                backoff = NGX_CHATCTL_BACKOFF_MIN;
                continue;
            }

            /* the first connection must work; later ones are retried */

            if (rc != NGX_CHATCTL_UNAVAILABLE || !l->ever) {
                return rc;
            }

            ngx_chatctl_random(&jitter, 1);
            delay = backoff * 3 / 4 + (backoff / 2) * jitter / 255;
            backoff = (backoff * 2 > NGX_CHATCTL_BACKOFF_MAX)
                      ? NGX_CHATCTL_BACKOFF_MAX : backoff * 2;

            /* stdin is still read while the connection is down */

            if (ngx_chatctl_live_wait(l, delay) != NGX_CHATCTL_OK) {
                return l->rc;
            }

            continue;
        }

        if (ngx_chatctl_live_wait(l, 1000) != NGX_CHATCTL_OK) {
            return l->rc;
        }
    }

    if (l->done) {
        return l->rc;
    }

    return l->failed_rc;
}


/*
 * Waits up to timeout_ms for the connection (when up) and stdin (join),
 * and handles what came.  NGX_CHATCTL_OK to go on; otherwise l->rc is
 * the exit code.
 */

static int
ngx_chatctl_live_wait(ngx_chatctl_live_t *l, int timeout_ms)
{
    int            n, rc;
    size_t         len;
    const char    *msg;
    struct pollfd  p[2];

    n = 0;

    if (l->connected) {
        p[n].fd = ngx_chatctl_ws_fd(&l->ws);
        p[n].events = POLLIN;
        p[n].revents = 0;
        n++;
    }

    if (l->interactive && !l->eof) {
        p[n].fd = STDIN_FILENO;
        p[n].events = POLLIN;
        p[n].revents = 0;
        n++;
    }

    if (l->connected && ngx_chatctl_ws_pending(&l->ws)) {
        timeout_ms = 0;
    }

    rc = poll(p, (nfds_t) n, timeout_ms);

    if (rc < 0 && errno != EINTR) {
        l->rc = ngx_chatctl_fail("internal", "poll: %s", strerror(errno));
        return NGX_CHATCTL_ERROR;
    }

    if (l->interactive && !l->eof && n > 0 && p[n - 1].revents) {
        if (ngx_chatctl_live_read(l) != NGX_CHATCTL_OK) {
            return NGX_CHATCTL_ERROR;
        }
    }

    while (l->connected && !l->done) {
        rc = ngx_chatctl_ws_recv(&l->ws, 0, &msg, &len);

        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            if (ngx_chatctl_live_closed(l) != NGX_CHATCTL_OK) {
                return NGX_CHATCTL_ERROR;
            }

            break;
        }

        ngx_chatctl_live_frame(l, msg, len);
    }

    if (l->connected && !l->done && !ngx_chatctl_ws_alive(&l->ws)) {
        if (ngx_chatctl_live_closed(l) != NGX_CHATCTL_OK) {
            return NGX_CHATCTL_ERROR;
        }
    }

    /* join: leave once stdin ended and every send is acknowledged */

    if (l->interactive && l->eof && l->npending == 0 && !l->done) {
        l->done = 1;
        l->rc = l->failed_rc;
    }

    return l->done ? NGX_CHATCTL_ERROR : NGX_CHATCTL_OK;
}


/*
 * Opens the connection, waits for welcome, joins (with since_rev once a
 * rev is known: the replay comes first, then the reply) and resends what
 * was not acknowledged.  Returns an exit code.
 */

static int
ngx_chatctl_live_connect(ngx_chatctl_live_t *l)
{
    int               rc;
    size_t            len, i;
    long long         deadline;
    const char       *msg;
    ngx_chat_json_t   j;

    rc = ngx_chatctl_ws_open(l->cf, &l->ws);
    if (rc != NGX_CHATCTL_OK) {
        return rc;
    }

    l->connected = 1;
    l->joined = 0;
    l->join_id = l->next_id++;

    ngx_chat_json_init(&j, 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "type", "join", 4);
    ngx_chat_json_kv_int(&j, "id", l->join_id);
    ngx_chat_json_kv_str(&j, "room", l->room, strlen(l->room));

    if (l->last_rev >= 0) {
        ngx_chat_json_kv_int(&j, "since_rev", l->last_rev);
    }

    ngx_chat_json_end(&j);

    rc = ngx_chatctl_ws_send(&l->ws, j.data, j.len);
    ngx_chat_json_free(&j);

    deadline = ngx_chatctl_now_ms() + l->cf->timeout_ms;

    while (rc == 0 && !l->joined && !l->done) {
        rc = ngx_chatctl_ws_recv(&l->ws, 200, &msg, &len);

        if (rc > 0) {
            ngx_chatctl_live_frame(l, msg, len);
            rc = 0;
            continue;
        }

        if (rc == 0 && ngx_chatctl_now_ms() > deadline) {
            ngx_chatctl_ws_close(&l->ws, NGX_CHAT_CLOSE_NORMAL);
            l->connected = 0;
            return ngx_chatctl_fail("unavailable", "no answer to join "
                                    "within the timeout");
        }
    }

    if (l->done) {
        return l->rc;
    }

    if (rc < 0) {
        rc = ngx_chatctl_live_closed(l);
        return (rc == NGX_CHATCTL_OK) ? NGX_CHATCTL_UNAVAILABLE : l->rc;
    }

    l->ever = 1;

    for (i = 0; i < l->npending; i++) {
        ngx_chatctl_live_send(l, &l->pending[i]);
    }

    return NGX_CHATCTL_OK;
}


static void
ngx_chatctl_live_frame(ngx_chatctl_live_t *l, const char *msg, size_t len)
{
    json_t  *j;

    j = json_loadb(msg, len, 0, NULL);

    if (!json_is_object(j)) {
        fprintf(stderr, "chatctl: internal: a frame that is not a JSON "
                "object: %.*s\n", (int) len, msg);
        json_decref(j);
        return;
    }

    if (json_object_get(j, "id") != NULL) {
        ngx_chatctl_live_reply(l, j);

    } else {
        ngx_chatctl_live_event(l, j, msg, len);
    }

    json_decref(j);
}


static void
ngx_chatctl_live_reply(ngx_chatctl_live_t *l, json_t *j)
{
    size_t       i;
    json_int_t   id;
    const char  *type, *code, *m;

    id = json_integer_value(json_object_get(j, "id"));
    type = json_string_value(json_object_get(j, "type"));
    type = type ? type : "";

    if (strcmp(type, "welcome") == 0) {
        snprintf(l->user, sizeof(l->user), "%s", ngx_chatctl_str(j, "user"));
        return;
    }

    code = json_string_value(json_object_get(j, "code"));
    m = json_string_value(json_object_get(j, "message"));

    if (id == l->join_id) {
        if (strcmp(type, "ok") != 0) {
            l->done = 1;
            l->rc = ngx_chatctl_fail(code ? code : "internal", "join %s: %s",
                                     l->room, m ? m : type);
            return;
        }

        l->joined = 1;

        if (json_integer_value(json_object_get(j, "rev")) > l->last_rev) {
            l->last_rev = json_integer_value(json_object_get(j, "rev"));
        }

        if (json_is_true(json_object_get(j, "truncated"))) {
            fprintf(stderr, "chatctl: truncated: more events were missed "
                    "than the server replays; see \"chatctl history\"\n");
        }

        return;
    }

    for (i = 0; i < l->npending; i++) {
        if (l->pending[i].id == id) {
            break;
        }
    }

    if (i == l->npending) {
        return;
    }

    if (strcmp(type, "ok") != 0) {
        l->failed_rc = ngx_chatctl_fail(code ? code : "internal",
                                        "message not sent: %s",
                                        m ? m : type);
    }

    free(l->pending[i].body);
    l->pending[i] = l->pending[--l->npending];
}


static void
ngx_chatctl_live_event(ngx_chatctl_live_t *l, json_t *j, const char *msg,
    size_t len)
{
    json_t      *rev;
    const char  *type, *action, *user;

    type = json_string_value(json_object_get(j, "type"));
    type = type ? type : "";
    rev = json_object_get(j, "rev");

    if (strcmp(type, "welcome") == 0) {
        ngx_chatctl_live_reply(l, j);
        return;
    }

    /* a durable event seen before a reconnect is not shown twice */

    if (json_is_integer(rev) && strcmp(type, "error") != 0) {
        if (json_integer_value(rev) <= l->last_rev) {
            return;
        }

        l->last_rev = json_integer_value(rev);
    }

    if (strcmp(type, "error") == 0) {
        ngx_chatctl_print_event(j, l->room);
        return;
    }

    if (l->json) {
        fwrite(msg, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);

    } else {
        ngx_chatctl_print_event(j, l->room);
    }

    l->printed++;

    if (l->count && l->printed >= l->count) {
        l->done = 1;
        l->rc = NGX_CHATCTL_OK;
        return;
    }

    /* kicked or banned: the room sends nothing more */

    action = json_string_value(json_object_get(j, "action"));
    user = json_string_value(json_object_get(j, "user"));

    if (strcmp(type, "member") == 0 && action && user
        && strcmp(user, l->user) == 0
        && (strcmp(action, "kicked") == 0 || strcmp(action, "banned") == 0))
    {
        l->done = 1;
        l->rc = ngx_chatctl_fail("forbidden", "%s from %s", action, l->room);
    }
}


/*
 * The connection closed: reconnect (NGX_CHATCTL_OK) on what a client
 * resumes from, else l->done with the exit code.
 */

static int
ngx_chatctl_live_closed(ngx_chatctl_live_t *l)
{
    uint16_t  code;

    code = l->ws.close_code;
    l->connected = 0;
    l->joined = 0;

    switch (code) {

    case NGX_CHAT_CLOSE_NORMAL:
    case NGX_CHAT_CLOSE_GOING_AWAY:
    case NGX_CHAT_CLOSE_INTERNAL:
    case NGX_CHAT_CLOSE_RESTART:
    case NGX_CHAT_CLOSE_TRY_LATER:
    case 1006:
        if (l->ever) {
            fprintf(stderr, "chatctl: reconnecting: %s (%u)\n",
                    l->ws.close_reason[0] ? l->ws.close_reason : "closed",
                    code);
        }

        return NGX_CHATCTL_OK;

    case NGX_CHAT_CLOSE_AUTH_FAILED:

        /* a stored session may get a new token */

        if (l->cf->token_from_file && l->cf->refresh_token
            && ngx_chatctl_token(l->cf, 1) != NULL)
        {
            return NGX_CHATCTL_OK;
        }

        l->rc = ngx_chatctl_fail("unauthenticated", "closed (%u): %s", code,
                                 l->ws.close_reason);
        break;

    case NGX_CHAT_CLOSE_FORBIDDEN:
        l->rc = ngx_chatctl_fail("forbidden", "closed (%u): %s", code,
                                 l->ws.close_reason);
        break;

    default:
        l->rc = ngx_chatctl_fail("internal", "closed (%u): %s", code,
                                 l->ws.close_reason);
    }

    l->done = 1;

    return NGX_CHATCTL_ERROR;
}


/* what stdin has; whole lines are sent, the rest kept */

static int
ngx_chatctl_live_read(ngx_chatctl_live_t *l)
{
    char     *p, *nl;
    ssize_t   n;

    if (l->in == NULL) {
        l->in = malloc(NGX_CHATCTL_LINE_MAX);

        if (l->in == NULL) {
            l->rc = ngx_chatctl_fail("internal", "out of memory");
            l->done = 1;
            return NGX_CHATCTL_ERROR;
        }
    }

    n = read(STDIN_FILENO, l->in + l->in_len,
             NGX_CHATCTL_LINE_MAX - l->in_len);

    if (n < 0 && errno == EINTR) {
        return NGX_CHATCTL_OK;
    }

    if (n <= 0) {
        l->eof = 1;

        if (l->in_len > 0) {
            ngx_chatctl_live_line(l, l->in, l->in_len);
            l->in_len = 0;
        }

        return NGX_CHATCTL_OK;
    }

    l->in_len += (size_t) n;
    p = l->in;

    while ((nl = memchr(p, '\n', l->in_len - (size_t) (p - l->in))) != NULL) {
        ngx_chatctl_live_line(l, p, (size_t) (nl - p));
        p = nl + 1;
    }

    l->in_len -= (size_t) (p - l->in);
    memmove(l->in, p, l->in_len);

    if (l->in_len == NGX_CHATCTL_LINE_MAX) {
        ngx_chatctl_fail("too_large", "a line longer than %d bytes: "
                         "dropped", NGX_CHATCTL_LINE_MAX);
        l->in_len = 0;
    }

    return NGX_CHATCTL_OK;
}


static void
ngx_chatctl_live_line(ngx_chatctl_live_t *l, char *line, size_t len)
{
    ngx_chatctl_pending_t  *p;

    while (len > 0 && line[len - 1] == '\r') {
        len--;
    }

    if (len == 0) {
        return;
    }

    if (len == 5 && memcmp(line, "/quit", 5) == 0) {
        l->eof = 1;
        return;
    }

    if (!ngx_chat_utf8_valid((const uint8_t *) line, len)) {
        l->failed_rc = ngx_chatctl_fail("bad_request", "a line that is not "
                                        "UTF-8: not sent");
        return;
    }

    p = realloc(l->pending, (l->npending + 1) * sizeof(*p));

    if (p == NULL) {
        l->failed_rc = ngx_chatctl_fail("internal", "out of memory");
        return;
    }

    l->pending = p;
    p = &l->pending[l->npending];

    p->body = malloc(len);

    if (p->body == NULL) {
        l->failed_rc = ngx_chatctl_fail("internal", "out of memory");
        return;
    }

    memcpy(p->body, line, len);
    p->len = len;
    p->id = 0;
    snprintf(p->cmid, sizeof(p->cmid), "%s-%lld", l->cmid_base, ++l->lines);

    l->npending++;

    if (l->connected && l->joined) {
        ngx_chatctl_live_send(l, p);
    }
}


/* (re)sends with a new request id and the same client_msg_id */

static void
ngx_chatctl_live_send(ngx_chatctl_live_t *l, ngx_chatctl_pending_t *p)
{
    ngx_chat_json_t  j;

    p->id = l->next_id++;

    ngx_chat_json_init(&j, p->len + 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "type", "send", 4);
    ngx_chat_json_kv_int(&j, "id", p->id);
    ngx_chat_json_kv_str(&j, "room", l->room, strlen(l->room));
    ngx_chat_json_kv_str(&j, "body", p->body, p->len);
    ngx_chat_json_kv_str(&j, "client_msg_id", p->cmid, strlen(p->cmid));

    if (ngx_chat_json_end(&j) == 0) {

        /* a failed write shows as a closed connection on the next read */

        (void) ngx_chatctl_ws_send(&l->ws, j.data, j.len);
    }

    ngx_chat_json_free(&j);
}
