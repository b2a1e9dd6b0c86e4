
/*
 * chatctl send: messages for scripts, over REST (POST /rooms/{room}/
 * messages), each with a client_msg_id so that a retry is stored once.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chatctl.h"
#include "ngx_chat_ids.h"
#include "ngx_chat_utf8.h"


/* room left for "-N" after a client_msg_id given with several lines */
#define NGX_CHATCTL_CMID_BASE_MAX  (NGX_CHAT_CLIENT_MSG_ID_MAX - 12)


enum {
    NGX_CHATCTL_SEND_ALL = 256,
    NGX_CHATCTL_SEND_CMID,
    NGX_CHATCTL_SEND_RETRIES,
    NGX_CHATCTL_SEND_JSON
};


typedef struct {
    int          all;
    int          json;
    long long    retries;
    const char  *cmid;
} ngx_chatctl_send_t;


static const struct option  ngx_chatctl_send_options[] = {
    { "all",           no_argument,       NULL, NGX_CHATCTL_SEND_ALL },
    { "client-msg-id", required_argument, NULL, NGX_CHATCTL_SEND_CMID },
    { "retries",       required_argument, NULL, NGX_CHATCTL_SEND_RETRIES },
    { "json",          no_argument,       NULL, NGX_CHATCTL_SEND_JSON },
    { NULL, 0, NULL, 0 }
};


static int ngx_chatctl_send_opt(void *ctx, int opt, const char *arg);
static int ngx_chatctl_send_one(ngx_chatctl_conf_t *cf, const char *room,
    const char *body, size_t len, const char *cmid, ngx_chatctl_send_t *o);
static int ngx_chatctl_send_lines(ngx_chatctl_conf_t *cf, const char *room,
    const char *base, int numbered, ngx_chatctl_send_t *o);
static char *ngx_chatctl_read_all(size_t *len);


static int
ngx_chatctl_send_opt(void *ctx, int opt, const char *arg)
{
    ngx_chatctl_send_t  *o;

    o = ctx;

    switch (opt) {

    case NGX_CHATCTL_SEND_ALL:
        o->all = 1;
        return 1;

    case NGX_CHATCTL_SEND_JSON:
        o->json = 1;
        return 1;

    case NGX_CHATCTL_SEND_CMID:
        if (*arg == '\0' || strlen(arg) > NGX_CHATCTL_CMID_BASE_MAX) {
            return -1;
        }

        o->cmid = arg;
        return 1;

    case NGX_CHATCTL_SEND_RETRIES:
        if (ngx_chatctl_number(arg, &o->retries) != 0 || o->retries < 0
            || o->retries > 100)
        {
            return -1;
        }

        return 1;
    }

    return 0;
}


int
ngx_chatctl_cmd_send(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                       rc, i;
    char                      base[NGX_CHAT_CLIENT_MSG_ID_MAX + 1], *text;
    size_t                    len, n;
    uint8_t                   raw[8];
    ngx_chatctl_send_t        o;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command("send");

    memset(&o, 0, sizeof(ngx_chatctl_send_t));
    o.retries = 3;

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, ngx_chatctl_send_options,
                           ngx_chatctl_send_opt, &o);
    if (rc < 0) {
        return ngx_chatctl_parse_exit(rc);
    }

    if (argc - rc < 1) {
        return ngx_chatctl_usage_error(cmd, "send needs a ROOM");
    }

    if (ngx_chatctl_check_room(argv[rc]) != NGX_CHATCTL_OK) {
        return NGX_CHATCTL_USAGE;
    }

    if (o.cmid) {
        snprintf(base, sizeof(base), "%s", o.cmid);

    } else {
        ngx_chatctl_random(raw, sizeof(raw));
        n = (size_t) snprintf(base, sizeof(base), "chatctl-");

        for (i = 0; i < 8; i++) {
            n += (size_t) snprintf(base + n, sizeof(base) - n, "%02x",
                                   raw[i]);
        }
    }

    if (argc - rc == 1 && !o.all) {
        return ngx_chatctl_send_lines(cf, argv[rc], base, o.cmid == NULL, &o);
    }

    if (argc - rc == 1) {
        text = ngx_chatctl_read_all(&len);

        if (text == NULL) {
            return ngx_chatctl_fail("internal", "cannot read stdin");
        }

        /* what "echo" adds is not part of the message */

        if (len > 0 && text[len - 1] == '\n') {
            len--;
        }

    } else {

        /* the words of TEXT, as the shell split them, joined again */

        len = 0;

        for (i = rc + 1; i < argc; i++) {
            len += strlen(argv[i]) + 1;
        }

        text = malloc(len);

        if (text == NULL) {
            return ngx_chatctl_fail("internal", "out of memory");
        }

        len = 0;

        for (i = rc + 1; i < argc; i++) {
            len += (size_t) sprintf(text + len, "%s%s", i > rc + 1 ? " " : "",
                                    argv[i]);
        }
    }

    rc = ngx_chatctl_send_one(cf, argv[rc], text, len, base, &o);
    free(text);

    return rc;
}


/* one message a line; the n-th line's client_msg_id is base-n */

static int
ngx_chatctl_send_lines(ngx_chatctl_conf_t *cf, const char *room,
    const char *base, int numbered, ngx_chatctl_send_t *o)
{
    int       rc, n, sent;
    char     *line, cmid[NGX_CHAT_CLIENT_MSG_ID_MAX + 1];
    size_t    cap;
    ssize_t   len;

    (void) numbered;

    line = NULL;
    cap = 0;
    n = 0;
    sent = 0;
    rc = NGX_CHATCTL_OK;

    while ((len = getline(&line, &cap, stdin)) >= 0) {
        n++;

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }

        if (len == 0) {
            continue;
        }

        if (snprintf(cmid, sizeof(cmid), "%s-%d", base, n)
            >= (int) sizeof(cmid))
        {
            rc = ngx_chatctl_fail("usage", "client_msg_id too long");
            break;
        }

        rc = ngx_chatctl_send_one(cf, room, line, (size_t) len, cmid, o);

        if (rc != NGX_CHATCTL_OK) {
            break;
        }

        sent++;
    }

    free(line);

    if (rc == NGX_CHATCTL_OK && sent == 0) {
        return ngx_chatctl_fail("usage", "nothing to send: no TEXT and no "
                                "line on stdin");
    }

    return rc;
}


/*
 * One message, retried with the same client_msg_id while the gateway
 * cannot be reached or is unavailable.
 */

static int
ngx_chatctl_send_one(ngx_chatctl_conf_t *cf, const char *room,
    const char *body, size_t len, const char *cmid, ngx_chatctl_send_t *o)
{
    int                 rc;
    char                path[1024];
    long long           attempt, delay;
    ngx_chat_json_t     j;
    struct timespec     ts;
    ngx_chatctl_res_t   res;

    if (len == 0) {
        return ngx_chatctl_fail("usage", "an empty message");
    }

    if (!ngx_chat_utf8_valid((const uint8_t *) body, len)
        || memchr(body, '\0', len) != NULL)
    {
        return ngx_chatctl_fail("usage", "the message is not UTF-8 text");
    }

    ngx_chatctl_path(path, sizeof(path), "/rooms/%s/messages", room);

    ngx_chat_json_init(&j, len + 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "body", body, len);
    ngx_chat_json_kv_str(&j, "client_msg_id", cmid, strlen(cmid));

    if (ngx_chat_json_end(&j) != 0) {
        ngx_chat_json_free(&j);
        return ngx_chatctl_fail("internal", "out of memory");
    }

    delay = 250;

    for (attempt = 0; /* void */; attempt++) {
        rc = ngx_chatctl_api(cf, "POST", path, j.data, j.len, &res);

        if (rc != NGX_CHATCTL_UNAVAILABLE || attempt >= o->retries
            || ngx_chatctl_stop)
        {
            break;
        }

        ngx_chatctl_res_free(&res);

        fprintf(stderr, "chatctl: retrying in %lld ms (client_msg_id %s)\n",
                delay, cmid);

        ts.tv_sec = delay / 1000;
        ts.tv_nsec = (delay % 1000) * 1000000;
        nanosleep(&ts, NULL);

        delay *= 2;
    }

    ngx_chat_json_free(&j);

    if (rc == NGX_CHATCTL_OK) {
        if (o->json) {
            printf("%.*s\n", (int) res.body_len, res.body);

        } else {
            printf("%lld\n", ngx_chatctl_int(res.json, "seq"));
        }
    }

    ngx_chatctl_res_free(&res);

    return rc;
}


static char *
ngx_chatctl_read_all(size_t *len)
{
    char    *buf, *p;
    size_t   n, cap, got;

    cap = 4096;
    n = 0;
    buf = malloc(cap);

    while (buf != NULL) {
        got = fread(buf + n, 1, cap - n, stdin);
        n += got;

        if (got == 0) {
            if (ferror(stdin)) {
                free(buf);
                return NULL;
            }

            *len = n;
            return buf;
        }

        if (n == cap) {
            cap *= 2;
            p = realloc(buf, cap);

            if (p == NULL) {
                free(buf);
                return NULL;
            }

            buf = p;
        }
    }

    return NULL;
}
