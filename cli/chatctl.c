
/*
 * chatctl: the command-line client of ngx_chat.  Main, the commands'
 * table and help, option parsing, errors and exit codes, and how events
 * are printed.
 */


#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "chatctl.h"
#include "ngx_chat_ids.h"


#define NGX_CHATCTL_OPTIONS_MAX  64


volatile int  ngx_chatctl_stop;
int           ngx_chatctl_quiet;


static void ngx_chatctl_help(FILE *f);
static void ngx_chatctl_time(char *buf, size_t size, json_t *ms);


const ngx_chatctl_cmd_t  ngx_chatctl_commands[] = {

    { "register", ngx_chatctl_cmd_register,
      "create an account (chat_accounts on)",
      "usage: chatctl register USER [--name NAME] [--password-stdin]\n"
      "\n"
      "POST /auth/register (protocol.md section 10).  The password is read\n"
      "as by login.  Then: chatctl login USER.\n" },

    { "login", ngx_chatctl_cmd_login,
      "log in with the gateway's accounts, store the tokens",
      "usage: chatctl login USER [--password-stdin]\n"
      "\n"
      "POST /auth/login (protocol.md section 10, chat_accounts on).  The\n"
      "password is read from the terminal without echo, else from the\n"
      "first line of stdin (or CHATCTL_PASSWORD unless --password-stdin).\n"
      "The access and refresh tokens go to the config file (mode 0600);\n"
      "later commands refresh the access token with /auth/refresh when it\n"
      "has expired, or when the server refuses it.\n" },

    { "logout", ngx_chatctl_cmd_logout,
      "revoke the session, forget the stored tokens",
      "usage: chatctl logout\n"
      "\n"
      "POST /auth/logout, then removes the tokens from the config file.\n" },

    { "token", ngx_chatctl_cmd_token,
      "mint a development token with a local key (as chat-token)",
      NULL },

    { "rooms", ngx_chatctl_cmd_rooms,
      "list my rooms with unread counts",
      "usage: chatctl rooms [--json]\n"
      "\n"
      "GET /rooms.  Prints ROOM KIND UNREAD LAST_SEQ NAME, one room a line;\n"
      "--json prints the answer as received.\n" },

    { "join", ngx_chatctl_cmd_join,
      "chat in a room: lines typed are sent, events printed",
      "usage: chatctl join ROOM [--since-rev N] [--json]\n"
      "\n"
      "Joins ROOM over WebSocket and prints its events as they come; each\n"
      "line read from stdin is sent as a message (with a client_msg_id, so\n"
      "a message resent after a reconnect is stored once).  \"/quit\" or the\n"
      "end of stdin leaves, once every message sent is acknowledged.  A\n"
      "lost connection is reopened and the room rejoined with since_rev:\n"
      "nothing is missed, nothing shown twice.  Exits 0, or with the code\n"
      "of the last send that failed.\n" },

    { "send", ngx_chatctl_cmd_send,
      "send messages (for scripts); reads stdin without TEXT",
      "usage: chatctl send ROOM [TEXT] [--all] [--client-msg-id ID]\n"
      "                    [--retries N] [--json]\n"
      "\n"
      "POST /rooms/ROOM/messages.  Without TEXT, each line of stdin is one\n"
      "message (empty lines are skipped); with --all the whole input is one\n"
      "message.  Every message has a client_msg_id: ID for TEXT or --all,\n"
      "ID-N for the N-th line of stdin (ID random when not given).  When\n"
      "the connection fails or the server is unavailable the send is\n"
      "retried (--retries, default 3) and stored once; the same command\n"
      "run again with the same ID stores nothing twice either.  Prints\n"
      "the seq of each acknowledged message (--json: the answer).  Exits\n"
      "0 only when every message was acknowledged; stops at the first\n"
      "that was not.\n" },

    { "tail", ngx_chatctl_cmd_tail,
      "print a room's live events",
      "usage: chatctl tail ROOM [--json] [--since-rev N] [--count N]\n"
      "\n"
      "Joins ROOM over WebSocket and prints its events; --json prints each\n"
      "event exactly as received, one JSON object per line.  --since-rev N\n"
      "first replays every durable event after rev N.  When the connection\n"
      "is lost it reconnects (backing off) and rejoins with since_rev: no\n"
      "event lost, none printed twice.  --count N exits after N events.\n"
      "A connection silent for three --timeout is pinged, and reopened\n"
      "when nothing comes a --timeout later (a network gone).\n" },

    { "history", ngx_chatctl_cmd_history,
      "print a room's messages, page by page",
      "usage: chatctl history ROOM [--limit N] [--before SEQ] [--after SEQ]\n"
      "                       [--all] [--json]\n"
      "\n"
      "GET /rooms/ROOM/messages: the newest page (--limit, default 50),\n"
      "or the one before SEQ; --all pages back to the first message.\n"
      "Prints messages in ascending seq, one a line (--json: each entry).\n"
      "Without --all, when older messages exist, the last line (stderr)\n"
      "says the --before to use for the next page.\n" },

    { "search", ngx_chatctl_cmd_search,
      "full-text search in my rooms",
      "usage: chatctl search TERM [--room ROOM] [--limit N] [--before ID]\n"
      "                      [--json]\n"
      "\n"
      "GET /search: matches, newest first; --before pages on with a\n"
      "msg_id.\n" },

    { "dm", ngx_chatctl_cmd_dm,
      "open the direct-message room with a user",
      "usage: chatctl dm USER [--json]\n"
      "\n"
      "POST /dm/USER; prints the room id (dm:a:b) to use with send, join.\n" },

    { "kick", ngx_chatctl_cmd_moderate,
      "end a user's membership of a room",
      "usage: chatctl kick ROOM USER\n"
      "\n"
      "DELETE /rooms/ROOM/members/USER (moderator, owner or admin).\n" },

    { "ban", ngx_chatctl_cmd_moderate,
      "ban a user from a room",
      "usage: chatctl ban ROOM USER [--until WHEN] [--reason TEXT]\n"
      "\n"
      "POST /rooms/ROOM/bans/USER.  WHEN is milliseconds since the epoch,\n"
      "or a duration from now: 90s, 10m, 2h, 7d.  Without it, until\n"
      "unban.\n" },

    { "unban", ngx_chatctl_cmd_moderate,
      "lift a ban",
      "usage: chatctl unban ROOM USER\n"
      "\n"
      "DELETE /rooms/ROOM/bans/USER.\n" },

    { "mute", ngx_chatctl_cmd_moderate,
      "mute a user in a room",
      "usage: chatctl mute ROOM USER [--until WHEN]\n"
      "\n"
      "POST /rooms/ROOM/mutes/USER; WHEN as for ban.\n" },

    { "unmute", ngx_chatctl_cmd_moderate,
      "lift a mute",
      "usage: chatctl unmute ROOM USER\n"
      "\n"
      "DELETE /rooms/ROOM/mutes/USER.\n" },

    { "migrate", ngx_chatctl_cmd_migrate,
      "apply sql/ migrations to a PostgreSQL database",
      "usage: chatctl migrate CONNINFO [--sql-dir DIR] [--dry-run]\n"
      "\n"
      "Applies the migrations of DIR (default: sql/ beside the build\n"
      "directory of this binary, or CHATCTL_SQL_DIR) that the database has\n"
      "not seen (chat_schema_version), each in its own transaction, in\n"
      "order, as scripts/chat-migrate does.  An advisory lock makes\n"
      "concurrent runs wait for each other.  --dry-run lists what would be\n"
      "applied.  CONNINFO is a libpq connection string or URI.\n" },

    { NULL, NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    int                       c, rc;
    struct option             opts[NGX_CHATCTL_OPTIONS_MAX];
    ngx_chatctl_conf_t        cf;
    const ngx_chatctl_cmd_t  *cmd;

    memset(&cf, 0, sizeof(ngx_chatctl_conf_t));

    /* a peer gone mid-write is an error to report, not a signal */
    signal(SIGPIPE, SIG_IGN);

    /* events are read by scripts as they come */
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (c = 0; ngx_chatctl_conf_options[c].name; c++) {
        opts[c] = ngx_chatctl_conf_options[c];
    }

    memset(&opts[c], 0, sizeof(struct option));
    opts[c].name = "help";
    opts[c].val = 'h';
    memset(&opts[c + 1], 0, sizeof(struct option));

    opterr = 0;

    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            ngx_chatctl_help(stdout);
            return NGX_CHATCTL_OK;
        }

        rc = ngx_chatctl_conf_opt(&cf, c, optarg);

        if (rc <= 0) {
            fprintf(stderr, "chatctl: usage: bad option %s\n",
                    argv[optind - 1]);
            ngx_chatctl_help(stderr);
            return NGX_CHATCTL_USAGE;
        }
    }

    if (optind >= argc) {
        ngx_chatctl_help(stderr);
        return NGX_CHATCTL_USAGE;
    }

    cmd = ngx_chatctl_command(argv[optind]);

    if (cmd == NULL) {
        fprintf(stderr, "chatctl: usage: unknown command \"%s\" "
                "(chatctl --help lists them)\n", argv[optind]);
        return NGX_CHATCTL_USAGE;
    }

    if (cmd->run == ngx_chatctl_cmd_token) {
        rc = ngx_chatctl_conf_load(&cf);
        if (rc != NGX_CHATCTL_OK) {
            return rc;
        }
    }

    return cmd->run(&cf, argc - optind, argv + optind);
}


const ngx_chatctl_cmd_t *
ngx_chatctl_command(const char *name)
{
    const ngx_chatctl_cmd_t  *cmd;

    for (cmd = ngx_chatctl_commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }

    return NULL;
}


static void
ngx_chatctl_help(FILE *f)
{
    const ngx_chatctl_cmd_t  *cmd;

    fprintf(f,
        "usage: chatctl [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "The command-line client of ngx_chat.  COMMAND --help says more.\n"
        "\n"
        "Commands:\n");

    for (cmd = ngx_chatctl_commands; cmd->name; cmd++) {
        fprintf(f, "  %-9s %s\n", cmd->name, cmd->summary);
    }

    fprintf(f,
        "\n%s"
        "\n"
        "Exit codes:\n"
        "  0  ok\n"
        "  1  usage: bad command line (also an invalid room or user id)\n"
        "     or config file\n"
        "  2  unavailable: no connection, timeout, or the server said\n"
        "     \"unavailable\" (a backend is down)\n"
        "  3  unauthenticated or forbidden (no token, bad or expired token,\n"
        "     banned, muted, not a moderator)\n"
        "  4  not found\n"
        "  5  rate limited\n"
        "  6  refused: bad_request, too_large or conflict\n"
        "  7  internal error, protocol error or a local failure\n"
        "\n"
        "Errors go to stderr as \"chatctl: CODE: MESSAGE\", CODE being the\n"
        "protocol's error code (protocol.md section 3) where there is one.\n",
        ngx_chatctl_conf_help);
}


/*
 * getopt_long over the command's own options, the common ones and
 * --help; then the configuration is loaded.  Returns the index of the
 * first argument, NGX_CHATCTL_HELP, or minus an exit code.
 */

int
ngx_chatctl_parse(ngx_chatctl_conf_t *cf, const ngx_chatctl_cmd_t *cmd,
    int argc, char **argv, const struct option *own, ngx_chatctl_opt_pt h,
    void *ctx)
{
    int            c, n, i, rc;
    struct option  opts[NGX_CHATCTL_OPTIONS_MAX];

    n = 0;

    for (i = 0; own != NULL && own[i].name; i++) {
        opts[n++] = own[i];
    }

    for (i = 0; ngx_chatctl_conf_options[i].name; i++) {
        opts[n++] = ngx_chatctl_conf_options[i];
    }

    memset(&opts[n], 0, 2 * sizeof(struct option));
    opts[n].name = "help";
    opts[n].val = 'h';

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {

        if (c == 'h') {
            printf("%s\n%s", cmd->usage, ngx_chatctl_conf_help);
            return NGX_CHATCTL_HELP;
        }

        rc = ngx_chatctl_conf_opt(cf, c, optarg);

        if (rc == 0 && h != NULL && c != '?' && c != ':') {
            rc = h(ctx, c, optarg);
        }

        if (rc < 0) {
            return -ngx_chatctl_usage_error(cmd, "bad value \"%s\" for %s",
                                            optarg ? optarg : "",
                                            argv[optind - 1]);
        }

        if (rc == 0) {
            return -ngx_chatctl_usage_error(cmd, "unknown or incomplete "
                                            "option %s", argv[optind - 1]);
        }
    }

    rc = ngx_chatctl_conf_load(cf);

    if (rc != NGX_CHATCTL_OK) {
        return -rc;
    }

    return optind;
}


int
ngx_chatctl_usage_error(const ngx_chatctl_cmd_t *cmd, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "chatctl: usage: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", cmd->usage ? cmd->usage : "");

    return NGX_CHATCTL_USAGE;
}


/* prints "chatctl: CODE: MESSAGE"; returns the exit code of CODE */

int
ngx_chatctl_fail(const char *code, const char *fmt, ...)
{
    va_list  ap;

    if (!ngx_chatctl_quiet || strcmp(code, "unavailable") != 0) {
        fprintf(stderr, "chatctl: %s: ", code);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
    }

    return ngx_chatctl_exit_code(code);
}


int
ngx_chatctl_exit_code(const char *code)
{
    size_t  i;

    static const struct {
        const char  *code;
        int          rc;
    } map[] = {
        { "usage", NGX_CHATCTL_USAGE },
        { "config", NGX_CHATCTL_USAGE },
        { "unavailable", NGX_CHATCTL_UNAVAILABLE },
        { "unauthenticated", NGX_CHATCTL_AUTH },
        { "forbidden", NGX_CHATCTL_AUTH },
        { "not_found", NGX_CHATCTL_NOT_FOUND },
        { "rate_limited", NGX_CHATCTL_RATE_LIMITED },
        { "bad_request", NGX_CHATCTL_REJECTED },
        { "too_large", NGX_CHATCTL_REJECTED },
        { "conflict", NGX_CHATCTL_REJECTED }
    };

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].code, code) == 0) {
            return map[i].rc;
        }
    }

    return NGX_CHATCTL_ERROR;
}


int
ngx_chatctl_check_room(const char *room)
{
    return ngx_chat_room_id_valid(room, strlen(room))
           ? NGX_CHATCTL_OK
           : ngx_chatctl_fail("usage", "\"%s\" is not a valid room id",
                              room);
}


int
ngx_chatctl_check_user(const char *user)
{
    return ngx_chat_user_id_valid(user, strlen(user))
           ? NGX_CHATCTL_OK
           : ngx_chatctl_fail("usage", "\"%s\" is not a valid user id",
                              user);
}


int
ngx_chatctl_number(const char *s, long long *n)
{
    char  *end;

    errno = 0;
    *n = strtoll(s, &end, 10);

    return (errno != 0 || end == s || *end != '\0') ? -1 : 0;
}


/* milliseconds since the epoch, or a duration from now: 90s 10m 2h 7d */

int
ngx_chatctl_until(const char *s, long long *ms)
{
    char       *end;
    long long   n, unit;

    errno = 0;
    n = strtoll(s, &end, 10);

    if (errno != 0 || end == s || n < 0) {
        return -1;
    }

    if (*end == '\0') {
        *ms = n;
        return 0;
    }

    if (end[1] != '\0') {
        return -1;
    }

    switch (*end) {
    case 's': unit = 1000; break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    default: return -1;
    }

    *ms = ngx_chatctl_now_ms() + n * unit;

    return 0;
}


long long
ngx_chatctl_now_ms(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


static void
ngx_chatctl_time(char *buf, size_t size, json_t *ms)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (json_integer_value(ms) / 1000);

    if (t == 0) {
        t = time(NULL);
    }

    localtime_r(&t, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}


/*
 * An event, a history entry or a search match, one line for a person.
 * room: the room's name to print when the entry has none.
 */

void
ngx_chatctl_print_event(json_t *ev, const char *room)
{
    char         t[16], *raw;
    const char  *type, *r, *by;

    type = json_string_value(json_object_get(ev, "type"));
    r = json_string_value(json_object_get(ev, "room"));
    r = r ? r : (room ? room : "");
    by = ngx_chatctl_str(ev, "by");

    if (type == NULL || strcmp(type, "message") == 0) {
        ngx_chatctl_time(t, sizeof(t), json_object_get(ev, "ts"));

        if (json_is_true(json_object_get(ev, "deleted"))) {
            printf("%s %s#%lld %s: (deleted)\n", t, r,
                   ngx_chatctl_int(ev, "seq"), ngx_chatctl_str(ev, "from"));

        } else {
            printf("%s %s#%lld %s: %s%s\n", t, r, ngx_chatctl_int(ev, "seq"),
                   ngx_chatctl_str(ev, "from"), ngx_chatctl_str(ev, "body"),
                   json_object_get(ev, "edited_at") ? " (edited)" : "");
        }

    } else if (strcmp(type, "edited") == 0) {
        ngx_chatctl_time(t, sizeof(t), json_object_get(ev, "edited_at"));
        printf("%s %s#%lld edited by %s: %s\n", t, r,
               ngx_chatctl_int(ev, "seq"), by, ngx_chatctl_str(ev, "body"));

    } else if (strcmp(type, "deleted") == 0) {
        printf("%s#%lld deleted by %s\n", r, ngx_chatctl_int(ev, "seq"), by);

    } else if (strcmp(type, "member") == 0) {
        printf("%s: %s %s%s%s\n", r, ngx_chatctl_str(ev, "user"),
               ngx_chatctl_str(ev, "action"), *by ? " by " : "", by);

    } else if (strcmp(type, "typing") == 0) {
        if (!json_is_true(json_object_get(ev, "stop"))) {
            printf("%s: %s is typing\n", r, ngx_chatctl_str(ev, "user"));
        }

    } else if (strcmp(type, "presence") == 0) {
        printf("%s: %s is %s\n", r, ngx_chatctl_str(ev, "user"),
               ngx_chatctl_str(ev, "state"));

    } else if (strcmp(type, "receipt") == 0) {
        printf("%s: %s %s up to #%lld\n", r, ngx_chatctl_str(ev, "user"),
               ngx_chatctl_str(ev, "state"), ngx_chatctl_int(ev, "seq"));

    } else if (strcmp(type, "error") == 0) {
        fprintf(stderr, "chatctl: %s: %s\n", ngx_chatctl_str(ev, "code"),
                ngx_chatctl_str(ev, "message"));

    } else {
        raw = json_dumps(ev, JSON_COMPACT);
        printf("%s: %s\n", r, raw ? raw : type);
        free(raw);
    }
}
