
/*
 * chatctl commands over the REST API (protocol.md sections 7 and 9):
 * rooms, history, search, dm, kick, ban, unban, mute, unmute.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatctl.h"


#define NGX_CHATCTL_PATH_MAX  2048


enum {
    NGX_CHATCTL_REST_JSON = 256,
    NGX_CHATCTL_REST_LIMIT,
    NGX_CHATCTL_REST_BEFORE,
    NGX_CHATCTL_REST_AFTER,
    NGX_CHATCTL_REST_ALL,
    NGX_CHATCTL_REST_ROOM,
    NGX_CHATCTL_REST_UNTIL,
    NGX_CHATCTL_REST_REASON
};


typedef struct {
    int          json;
    int          all;
    const char  *limit;
    const char  *before;
    const char  *after;
    const char  *room;
    const char  *reason;
    long long    until;
    int          has_until;
} ngx_chatctl_rest_t;


static const struct option  ngx_chatctl_rest_options[] = {
    { "json",   no_argument,       NULL, NGX_CHATCTL_REST_JSON },
    { "limit",  required_argument, NULL, NGX_CHATCTL_REST_LIMIT },
    { "before", required_argument, NULL, NGX_CHATCTL_REST_BEFORE },
    { "after",  required_argument, NULL, NGX_CHATCTL_REST_AFTER },
    { "all",    no_argument,       NULL, NGX_CHATCTL_REST_ALL },
    { "room",   required_argument, NULL, NGX_CHATCTL_REST_ROOM },
    { "until",  required_argument, NULL, NGX_CHATCTL_REST_UNTIL },
    { "reason", required_argument, NULL, NGX_CHATCTL_REST_REASON },
    { NULL, 0, NULL, 0 }
};


static int ngx_chatctl_rest_opt(void *ctx, int opt, const char *arg);
static int ngx_chatctl_rest_args(ngx_chatctl_conf_t *cf, const char *name,
    int argc, char **argv, int want, ngx_chatctl_rest_t *o, char ***args);
static int ngx_chatctl_history_page(ngx_chatctl_conf_t *cf,
    const char *room, ngx_chatctl_rest_t *o, const char *before,
    json_t **page);
static void ngx_chatctl_print_entries(json_t *list, int json,
    const char *room);


static int
ngx_chatctl_rest_opt(void *ctx, int opt, const char *arg)
{
    long long            n;
    ngx_chatctl_rest_t  *o;

    o = ctx;

    switch (opt) {

    case NGX_CHATCTL_REST_JSON:
        o->json = 1;
        return 1;

    case NGX_CHATCTL_REST_ALL:
        o->all = 1;
        return 1;

    case NGX_CHATCTL_REST_LIMIT:
    case NGX_CHATCTL_REST_BEFORE:
    case NGX_CHATCTL_REST_AFTER:
        if (ngx_chatctl_number(arg, &n) != 0 || n < 0) {
            return -1;
        }

        if (opt == NGX_CHATCTL_REST_LIMIT) {
            o->limit = arg;

        } else if (opt == NGX_CHATCTL_REST_BEFORE) {
            o->before = arg;

        } else {
            o->after = arg;
        }

        return 1;

    case NGX_CHATCTL_REST_ROOM:
        o->room = arg;
        return 1;

    case NGX_CHATCTL_REST_REASON:
        o->reason = arg;
        return 1;

    case NGX_CHATCTL_REST_UNTIL:
        if (ngx_chatctl_until(arg, &o->until) != 0) {
            return -1;
        }

        o->has_until = 1;
        return 1;
    }

    return 0;
}


/*
 * The command's options and exactly "want" arguments into *args.
 * Returns NGX_CHATCTL_OK, or the exit code (negative: --help was shown).
 */

static int
ngx_chatctl_rest_args(ngx_chatctl_conf_t *cf, const char *name, int argc,
    char **argv, int want, ngx_chatctl_rest_t *o, char ***args)
{
    int                       rc;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command(name);
    memset(o, 0, sizeof(ngx_chatctl_rest_t));

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, ngx_chatctl_rest_options,
                           ngx_chatctl_rest_opt, o);
    if (rc == NGX_CHATCTL_HELP) {
        return -1;
    }

    if (rc < 0) {
        return -rc;
    }

    if (argc - rc != want) {
        return ngx_chatctl_usage_error(cmd, "%s takes %d argument%s", name,
                                       want, want == 1 ? "" : "s");
    }

    *args = argv + rc;

    return NGX_CHATCTL_OK;
}


/* --help answers 0 */
#define ngx_chatctl_args_exit(rc)  ((rc) < 0 ? NGX_CHATCTL_OK : (rc))


int
ngx_chatctl_cmd_rooms(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                  rc;
    char               **args;
    size_t               i;
    json_t              *rooms, *r;
    ngx_chatctl_res_t    res;
    ngx_chatctl_rest_t   o;

    rc = ngx_chatctl_rest_args(cf, "rooms", argc, argv, 0, &o, &args);
    if (rc != NGX_CHATCTL_OK) {
        return ngx_chatctl_args_exit(rc);
    }

    rc = ngx_chatctl_api(cf, "GET", "/rooms", NULL, 0, &res);

    if (rc == NGX_CHATCTL_OK) {
        if (o.json) {
            printf("%.*s\n", (int) res.body_len, res.body);

        } else {
            rooms = json_object_get(res.json, "rooms");

            json_array_foreach(rooms, i, r) {
                printf("%s\t%s\t%lld\t%lld\t%s\n",
                       ngx_chatctl_str(r, "room"), ngx_chatctl_str(r, "kind"),
                       ngx_chatctl_int(r, "unread"),
                       ngx_chatctl_int(r, "last_seq"),
                       *ngx_chatctl_str(r, "name")
                       ? ngx_chatctl_str(r, "name") : "-");
            }
        }
    }

    ngx_chatctl_res_free(&res);

    return rc;
}


int
ngx_chatctl_cmd_history(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                  rc;
    char               **args, before[32];
    json_t              *page, *all, *msgs, *first;
    ngx_chatctl_rest_t   o;

    rc = ngx_chatctl_rest_args(cf, "history", argc, argv, 1, &o, &args);
    if (rc != NGX_CHATCTL_OK) {
        return ngx_chatctl_args_exit(rc);
    }

    if ((rc = ngx_chatctl_check_room(args[0])) != NGX_CHATCTL_OK) {
        return rc;
    }

    rc = ngx_chatctl_history_page(cf, args[0], &o, o.before, &page);
    if (rc != NGX_CHATCTL_OK) {
        return rc;
    }

    /* --all: pages back, each put in front of those after it */

    all = json_deep_copy(json_object_get(page, "messages"));

    while (o.all && json_is_true(json_object_get(page, "has_more"))) {
        first = json_array_get(all, 0);

        if (first == NULL) {
            break;
        }

        snprintf(before, sizeof(before), "%lld",
                 ngx_chatctl_int(first, "seq"));
        json_decref(page);

        rc = ngx_chatctl_history_page(cf, args[0], &o, before, &page);
        if (rc != NGX_CHATCTL_OK) {
            json_decref(all);
            return rc;
        }

        msgs = json_deep_copy(json_object_get(page, "messages"));
        json_array_extend(msgs, all);
        json_decref(all);
        all = msgs;
    }

    ngx_chatctl_print_entries(all, o.json, args[0]);

    first = json_array_get(all, 0);

    if (!o.all && first && json_is_true(json_object_get(page, "has_more"))) {
        fprintf(stderr, "chatctl: more: older messages: --before %lld\n",
                ngx_chatctl_int(first, "seq"));
    }

    json_decref(all);
    json_decref(page);

    return NGX_CHATCTL_OK;
}


static int
ngx_chatctl_history_page(ngx_chatctl_conf_t *cf, const char *room,
    ngx_chatctl_rest_t *o, const char *before, json_t **page)
{
    int                rc;
    char               path[NGX_CHATCTL_PATH_MAX];
    ngx_chatctl_res_t  res;

    ngx_chatctl_path(path, sizeof(path), "/rooms/%s/messages", room);

    if (o->limit) {
        ngx_chatctl_query(path, sizeof(path), "limit", o->limit);
    }

    if (before) {
        ngx_chatctl_query(path, sizeof(path), "before", before);
    }

    if (o->after) {
        ngx_chatctl_query(path, sizeof(path), "after", o->after);
    }

    rc = ngx_chatctl_api(cf, "GET", path, NULL, 0, &res);

    if (rc == NGX_CHATCTL_OK) {
        if (!json_is_array(json_object_get(res.json, "messages"))) {
            rc = ngx_chatctl_fail("internal", "no messages in the answer");

        } else {
            *page = json_incref(res.json);
        }
    }

    ngx_chatctl_res_free(&res);

    return rc;
}


static void
ngx_chatctl_print_entries(json_t *list, int json, const char *room)
{
    char    *s;
    size_t   i;
    json_t  *m;

    json_array_foreach(list, i, m) {
        if (json) {
            s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("%s\n", s ? s : "null");
            free(s);

        } else {
            ngx_chatctl_print_event(m, room);
        }
    }
}


int
ngx_chatctl_cmd_search(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                  rc;
    char               **args, path[NGX_CHATCTL_PATH_MAX];
    json_t              *msgs, *last;
    ngx_chatctl_res_t    res;
    ngx_chatctl_rest_t   o;

    rc = ngx_chatctl_rest_args(cf, "search", argc, argv, 1, &o, &args);
    if (rc != NGX_CHATCTL_OK) {
        return ngx_chatctl_args_exit(rc);
    }

    snprintf(path, sizeof(path), "/search");
    ngx_chatctl_query(path, sizeof(path), "q", args[0]);

    if (o.room) {
        if ((rc = ngx_chatctl_check_room(o.room)) != NGX_CHATCTL_OK) {
            return rc;
        }

        ngx_chatctl_query(path, sizeof(path), "room", o.room);
    }

    if (o.limit) {
        ngx_chatctl_query(path, sizeof(path), "limit", o.limit);
    }

    if (o.before) {
        ngx_chatctl_query(path, sizeof(path), "before", o.before);
    }

    rc = ngx_chatctl_api(cf, "GET", path, NULL, 0, &res);

    if (rc == NGX_CHATCTL_OK) {
        msgs = json_object_get(res.json, "messages");
        ngx_chatctl_print_entries(msgs, o.json, NULL);

        last = json_array_get(msgs, json_array_size(msgs) - 1);

        if (last && json_is_true(json_object_get(res.json, "has_more"))) {
            fprintf(stderr, "chatctl: more: older matches: --before %lld\n",
                    ngx_chatctl_int(last, "msg_id"));
        }
    }

    ngx_chatctl_res_free(&res);

    return rc;
}


int
ngx_chatctl_cmd_dm(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                  rc;
    char               **args, path[NGX_CHATCTL_PATH_MAX];
    ngx_chatctl_res_t    res;
    ngx_chatctl_rest_t   o;

    rc = ngx_chatctl_rest_args(cf, "dm", argc, argv, 1, &o, &args);
    if (rc != NGX_CHATCTL_OK) {
        return ngx_chatctl_args_exit(rc);
    }

    if ((rc = ngx_chatctl_check_user(args[0])) != NGX_CHATCTL_OK) {
        return rc;
    }

    ngx_chatctl_path(path, sizeof(path), "/dm/%s", args[0]);

    rc = ngx_chatctl_api(cf, "POST", path, NULL, 0, &res);

    if (rc == NGX_CHATCTL_OK) {
        if (o.json) {
            printf("%.*s\n", (int) res.body_len, res.body);

        } else {
            printf("%s\n", ngx_chatctl_str(res.json, "room"));
        }
    }

    ngx_chatctl_res_free(&res);

    return rc;
}


/* kick, ban, unban, mute, unmute: which call each one is */

int
ngx_chatctl_cmd_moderate(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                  rc;
    char               **args, path[NGX_CHATCTL_PATH_MAX];
    const char          *method, *fmt, *name;
    ngx_chat_json_t      j;
    ngx_chatctl_res_t    res;
    ngx_chatctl_rest_t   o;

    name = argv[0];

    rc = ngx_chatctl_rest_args(cf, name, argc, argv, 2, &o, &args);
    if (rc != NGX_CHATCTL_OK) {
        return ngx_chatctl_args_exit(rc);
    }

    if ((rc = ngx_chatctl_check_room(args[0])) != NGX_CHATCTL_OK
        || (rc = ngx_chatctl_check_user(args[1])) != NGX_CHATCTL_OK)
    {
        return rc;
    }

    method = (strncmp(name, "un", 2) == 0 || strcmp(name, "kick") == 0)
             ? "DELETE" : "POST";

    fmt = (strcmp(name, "kick") == 0) ? "/rooms/%s/members/%s"
          : (strstr(name, "ban") != NULL) ? "/rooms/%s/bans/%s"
          : "/rooms/%s/mutes/%s";

    if ((o.has_until || o.reason)
        && (strcmp(method, "DELETE") == 0
            || (o.reason && strcmp(name, "mute") == 0)))
    {
        return ngx_chatctl_usage_error(ngx_chatctl_command(name),
                                       "%s takes no --until or --reason",
                                       name);
    }

    ngx_chatctl_path(path, sizeof(path), fmt, args[0], args[1]);

    ngx_chat_json_init(&j, 256);

    if (strcmp(method, "POST") == 0) {
        ngx_chat_json_char(&j, '{');

        if (o.has_until) {
            ngx_chat_json_kv_int(&j, "until", o.until);
        }

        if (o.reason) {
            ngx_chat_json_kv_str(&j, "reason", o.reason, strlen(o.reason));
        }

        ngx_chat_json_end(&j);
    }

    rc = ngx_chatctl_api(cf, method, path, j.len ? j.data : NULL, j.len,
                         &res);

    ngx_chat_json_free(&j);
    ngx_chatctl_res_free(&res);

    return rc;
}
