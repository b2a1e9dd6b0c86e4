
/*
 * chatctl tokens: register, login, logout and refresh with the gateway's
 * accounts (protocol.md section 10), the token in use, and "token", which
 * mints a development token with a local key (the code of chat-token).
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chatctl.h"
#include "ngx_chat_token.h"


/* refresh this long before the access token expires */
#define NGX_CHATCTL_REFRESH_AHEAD  30


static int ngx_chatctl_store_tokens(ngx_chatctl_conf_t *cf, json_t *j,
    const char *user);
static int ngx_chatctl_password(char *buf, size_t size);
static int ngx_chatctl_login_opt(void *ctx, int opt, const char *arg);
static int ngx_chatctl_account(ngx_chatctl_conf_t *cf, int argc,
    char **argv, const char *call);


static const char  *ngx_chatctl_token_keys[] = {
    "token", "refresh_token", "expires_at", "user"
};


/*
 * The access token to use, refreshed first when it came from the config
 * file with a refresh token and has expired (or force is set).  NULL when
 * there is none; the error is printed.
 */

const char *
ngx_chatctl_token(ngx_chatctl_conf_t *cf, int force)
{
    int                 rc;
    ngx_chat_json_t     j;
    ngx_chatctl_res_t   res;

    if (cf->token == NULL) {
        ngx_chatctl_fail("unauthenticated", "no token: run \"chatctl "
                         "login\", or set CHATCTL_TOKEN or --token");
        return NULL;
    }

    if (!cf->token_from_file || cf->refresh_token == NULL) {
        return cf->token;
    }

    if (!force && (cf->expires_at == 0
                   || cf->expires_at > (long long) time(NULL)
                                        + NGX_CHATCTL_REFRESH_AHEAD))
    {
        return cf->token;
    }

    ngx_chat_json_init(&j, 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "refresh_token", cf->refresh_token,
                         strlen(cf->refresh_token));
    ngx_chat_json_end(&j);

    rc = ngx_chatctl_http(cf, "POST", "/auth/refresh", j.data, j.len, NULL,
                          &res);
    ngx_chat_json_free(&j);

    if (rc != 0) {
        ngx_chatctl_fail("unavailable", "%s", ngx_chatctl_net_error());
        return NULL;
    }

    if (res.status != 200) {
        ngx_chatctl_res_error(&res);
        ngx_chatctl_res_free(&res);
        fprintf(stderr, "chatctl: the session could not be refreshed: "
                "log in again with \"chatctl login\"\n");
        return NULL;
    }

    rc = ngx_chatctl_store_tokens(cf, res.json, NULL);
    ngx_chatctl_res_free(&res);

    return (rc == NGX_CHATCTL_OK) ? cf->token : NULL;
}


/* {"access_token","expires_at","refresh_token"} into cf and the file */

static int
ngx_chatctl_store_tokens(ngx_chatctl_conf_t *cf, json_t *j,
    const char *user)
{
    char         exp[32];
    const char  *access, *refresh, *values[4];
    json_int_t   expires;

    access = json_string_value(json_object_get(j, "access_token"));
    refresh = json_string_value(json_object_get(j, "refresh_token"));
    expires = json_integer_value(json_object_get(j, "expires_at"));

    if (access == NULL || refresh == NULL) {
        return ngx_chatctl_fail("internal", "the answer has no "
                                "access_token or refresh_token");
    }

    snprintf(exp, sizeof(exp), "%lld", (long long) expires);

    values[0] = access;
    values[1] = refresh;
    values[2] = exp;
    values[3] = user;

    free(cf->token);
    free(cf->refresh_token);
    cf->token = strdup(access);
    cf->refresh_token = strdup(refresh);
    cf->expires_at = expires;
    cf->token_from_file = 1;

    return ngx_chatctl_conf_store(cf, ngx_chatctl_token_keys, values,
                                  user ? 4 : 3);
}


enum {
    NGX_CHATCTL_LOGIN_PASSWORD_STDIN = 256,
    NGX_CHATCTL_LOGIN_NAME
};


typedef struct {
    int                       from_stdin;
    const char               *name;
} ngx_chatctl_login_t;


static const struct option  ngx_chatctl_login_options[] = {
    { "password-stdin", no_argument, NULL, NGX_CHATCTL_LOGIN_PASSWORD_STDIN },
    { "name", required_argument, NULL, NGX_CHATCTL_LOGIN_NAME },
    { NULL, 0, NULL, 0 }
};


static int
ngx_chatctl_login_opt(void *ctx, int opt, const char *arg)
{
    ngx_chatctl_login_t  *o;

    o = ctx;

    if (opt == NGX_CHATCTL_LOGIN_PASSWORD_STDIN) {
        o->from_stdin = 1;
        return 1;
    }

    if (opt == NGX_CHATCTL_LOGIN_NAME) {
        o->name = arg;
        return 1;
    }

    return 0;
}


int
ngx_chatctl_cmd_login(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    return ngx_chatctl_account(cf, argc, argv, "login");
}


int
ngx_chatctl_cmd_register(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    return ngx_chatctl_account(cf, argc, argv, "register");
}


/*
 * POST /auth/login or /auth/register {"user","password"(,"name")}; a
 * login stores the tokens
 */

static int
ngx_chatctl_account(ngx_chatctl_conf_t *cf, int argc, char **argv,
    const char *call)
{
    int                       rc, login;
    char                      password[1024], path[32];
    const char               *user, *env;
    ngx_chat_json_t           j;
    ngx_chatctl_res_t         res;
    ngx_chatctl_login_t       o;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command(call);
    login = (strcmp(call, "login") == 0);
    memset(&o, 0, sizeof(ngx_chatctl_login_t));

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, ngx_chatctl_login_options,
                           ngx_chatctl_login_opt, &o);
    if (rc < 0) {
        return ngx_chatctl_parse_exit(rc);
    }

    if (argc - rc != 1 || (login && o.name)) {
        return ngx_chatctl_usage_error(cmd, "%s takes one USER%s", call,
                                       login ? " and no --name" : "");
    }

    user = argv[rc];
    env = getenv("CHATCTL_PASSWORD");

    if (!o.from_stdin && env != NULL && *env) {
        snprintf(password, sizeof(password), "%s", env);

    } else if (ngx_chatctl_password(password, sizeof(password)) != 0) {
        return ngx_chatctl_fail("usage", "no password given");
    }

    ngx_chat_json_init(&j, 256);
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "user", user, strlen(user));
    ngx_chat_json_kv_str(&j, "password", password, strlen(password));

    if (o.name) {
        ngx_chat_json_kv_str(&j, "name", o.name, strlen(o.name));
    }

    ngx_chat_json_end(&j);

    memset(password, 0, sizeof(password));
    snprintf(path, sizeof(path), "/auth/%s", call);

    rc = ngx_chatctl_http(cf, "POST", path, j.data, j.len, NULL, &res);

    memset(j.data, 0, j.len);
    ngx_chat_json_free(&j);

    if (rc != 0) {
        return ngx_chatctl_fail("unavailable", "%s", ngx_chatctl_net_error());
    }

    if (res.status != (login ? 200 : 201)) {
        rc = ngx_chatctl_res_error(&res);
        ngx_chatctl_res_free(&res);
        return rc;
    }

    rc = login ? ngx_chatctl_store_tokens(cf, res.json, user)
               : NGX_CHATCTL_OK;
    ngx_chatctl_res_free(&res);

    if (rc == NGX_CHATCTL_OK) {
        if (login) {
            printf("logged in as %s; tokens stored in %s\n", user, cf->file);

        } else {
            printf("registered %s; now: chatctl login %s\n", user, user);
        }
    }

    return rc;
}


/* from the terminal without echo, else the first line of stdin */

static int
ngx_chatctl_password(char *buf, size_t size)
{
    int             tty;
    size_t          n;
    struct termios  old, quiet;

    tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;

    if (tty) {
        fprintf(stderr, "Password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }

    if (fgets(buf, (int) size, stdin) == NULL) {
        buf[0] = '\0';
    }

    if (tty) {
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }

    n = strcspn(buf, "\r\n");
    buf[n] = '\0';

    return (n == 0) ? -1 : 0;
}


int
ngx_chatctl_cmd_logout(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                       rc;
    const char               *values[4];
    ngx_chatctl_res_t         res;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command("logout");

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, NULL, NULL, NULL);
    if (rc < 0) {
        return ngx_chatctl_parse_exit(rc);
    }

    if (argc != rc) {
        return ngx_chatctl_usage_error(cmd, "logout takes no argument");
    }

    rc = ngx_chatctl_api(cf, "POST", "/auth/logout", NULL, 0, &res);
    ngx_chatctl_res_free(&res);

    if (rc != NGX_CHATCTL_OK && rc != NGX_CHATCTL_AUTH) {
        return rc;
    }

    /* an already refused token is as good as revoked: forget it too */

    memset(values, 0, sizeof(values));

    if (cf->token_from_file) {
        rc = ngx_chatctl_conf_store(cf, ngx_chatctl_token_keys, values, 3);
    }

    return rc;
}


/*
 * chat-token's command line, with --alg HS256 and --key from the config
 * ("key = FILE") or CHATCTL_KEY unless given
 */

int
ngx_chatctl_cmd_token(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int          i, n, has_alg, has_key, rc;
    char       **args;
    const char  *key;

    has_alg = 0;
    has_key = 0;

    for (i = 1; i < argc; i++) {
        has_alg |= (strncmp(argv[i], "--alg", 5) == 0);
        has_key |= (strncmp(argv[i], "--key", 5) == 0);
    }

    key = getenv("CHATCTL_KEY");

    if (key == NULL || *key == '\0') {
        key = cf->key;
    }

    args = calloc((size_t) argc + 5, sizeof(char *));

    if (args == NULL) {
        return ngx_chatctl_fail("internal", "out of memory");
    }

    n = 0;
    args[n++] = "chatctl token";

    if (!has_alg) {
        args[n++] = "--alg";
        args[n++] = "HS256";
    }

    if (!has_key && key != NULL) {
        args[n++] = "--key";
        args[n++] = (char *) key;
    }

    for (i = 1; i < argc; i++) {
        args[n++] = argv[i];
    }

    ngx_chat_token_prog = "chatctl token";
    optind = 0;

    rc = ngx_chat_token_main(n, args);
    free(args);

    /* chat-token's 2 is a usage error, its 1 a local failure */

    return (rc == 0) ? NGX_CHATCTL_OK
                     : (rc == 2) ? NGX_CHATCTL_USAGE : NGX_CHATCTL_ERROR;
}
