
/*
 * chatctl configuration: the file, the environment and the options every
 * command takes.  Flags override the environment, which overrides the
 * file.  The file holds "key = value" lines; "login" writes the tokens
 * into it (mode 0600), keeping every other line.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chatctl.h"


#define NGX_CHATCTL_DEFAULT_URL      "http://127.0.0.1:8080"
#define NGX_CHATCTL_DEFAULT_WS       "/chat/ws"
#define NGX_CHATCTL_DEFAULT_API      "/chat/api"
#define NGX_CHATCTL_DEFAULT_TIMEOUT  10000

#define NGX_CHATCTL_LINE_MAX         8192


enum {
    NGX_CHATCTL_OPT_URL = 1000,
    NGX_CHATCTL_OPT_TOKEN,
    NGX_CHATCTL_OPT_CONFIG,
    NGX_CHATCTL_OPT_WS_PATH,
    NGX_CHATCTL_OPT_API_PATH,
    NGX_CHATCTL_OPT_CACERT,
    NGX_CHATCTL_OPT_INSECURE,
    NGX_CHATCTL_OPT_TIMEOUT
};


const struct option  ngx_chatctl_conf_options[] = {
    { "url",      required_argument, NULL, NGX_CHATCTL_OPT_URL },
    { "token",    required_argument, NULL, NGX_CHATCTL_OPT_TOKEN },
    { "config",   required_argument, NULL, NGX_CHATCTL_OPT_CONFIG },
    { "ws-path",  required_argument, NULL, NGX_CHATCTL_OPT_WS_PATH },
    { "api-path", required_argument, NULL, NGX_CHATCTL_OPT_API_PATH },
    { "cacert",   required_argument, NULL, NGX_CHATCTL_OPT_CACERT },
    { "insecure", no_argument,       NULL, NGX_CHATCTL_OPT_INSECURE },
    { "timeout",  required_argument, NULL, NGX_CHATCTL_OPT_TIMEOUT },
    { NULL, 0, NULL, 0 }
};


const char  *ngx_chatctl_conf_help =
    "Options of every command (flags override the environment, which\n"
    "overrides the config file):\n"
    "  --url URL        http(s)://host:port of the gateway  (CHATCTL_URL,\n"
    "                   file: url; default " NGX_CHATCTL_DEFAULT_URL ")\n"
    "  --token JWT      the access token  (CHATCTL_TOKEN, file: token)\n"
    "  --config FILE    the config file  (CHATCTL_CONFIG; default\n"
    "                   $XDG_CONFIG_HOME/chatctl/config or\n"
    "                   ~/.config/chatctl/config)\n"
    "  --ws-path P      WebSocket location  (CHATCTL_WS_PATH, file: ws_path;\n"
    "                   default " NGX_CHATCTL_DEFAULT_WS ")\n"
    "  --api-path P     REST location  (CHATCTL_API_PATH, file: api_path;\n"
    "                   default " NGX_CHATCTL_DEFAULT_API ")\n"
    "  --cacert FILE    CA certificates for https:// and wss://\n"
    "                   (CHATCTL_CACERT, file: cacert; default: the\n"
    "                   system's)\n"
    "  --insecure       do not verify the server's certificate\n"
    "  --timeout SECS   connect and reply timeout (default 10)\n";


static void ngx_chatctl_conf_override(ngx_chatctl_conf_t *cf);
static char *ngx_chatctl_conf_default_path(void);
static int ngx_chatctl_conf_line(ngx_chatctl_conf_t *cf, char *line,
    const char *path, int lineno);
static char *ngx_chatctl_trim(char *s);
static void ngx_chatctl_set(char **dst, const char *value);


int
ngx_chatctl_conf_opt(ngx_chatctl_conf_t *cf, int opt, const char *arg)
{
    long long  n;

    switch (opt) {

    case NGX_CHATCTL_OPT_URL:
        cf->flag_url = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_TOKEN:
        cf->flag_token = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_CONFIG:
        cf->flag_file = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_WS_PATH:
        cf->flag_ws_path = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_API_PATH:
        cf->flag_api_path = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_CACERT:
        cf->flag_cacert = (char *) arg;
        return 1;

    case NGX_CHATCTL_OPT_INSECURE:
        cf->flag_insecure = 1;
        return 1;

    case NGX_CHATCTL_OPT_TIMEOUT:
        if (ngx_chatctl_number(arg, &n) != 0 || n <= 0 || n > 3600) {
            return -1;
        }

        cf->flag_timeout_ms = (int) n * 1000;
        return 1;
    }

    return 0;
}


/* reads the file, then the environment, then applies the flags */

int
ngx_chatctl_conf_load(ngx_chatctl_conf_t *cf)
{
    int          lineno, rc;
    FILE        *f;
    char         line[NGX_CHATCTL_LINE_MAX];
    const char  *env;

    cf->timeout_ms = NGX_CHATCTL_DEFAULT_TIMEOUT;

    if (cf->flag_file) {
        cf->file = strdup(cf->flag_file);

    } else if ((env = getenv("CHATCTL_CONFIG")) != NULL && *env) {
        cf->file = strdup(env);

    } else {
        cf->file = ngx_chatctl_conf_default_path();
    }

    f = (cf->file != NULL) ? fopen(cf->file, "r") : NULL;

    if (f == NULL && cf->file != NULL && errno != ENOENT) {
        return ngx_chatctl_fail("config", "%s: %s", cf->file,
                                strerror(errno));
    }

    lineno = 0;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        rc = ngx_chatctl_conf_line(cf, line, cf->file, lineno);

        if (rc != NGX_CHATCTL_OK) {
            fclose(f);
            return rc;
        }
    }

    if (f != NULL) {
        fclose(f);

        if (cf->token != NULL) {
            cf->token_from_file = 1;
        }
    }

    ngx_chatctl_conf_override(cf);

    if (cf->url == NULL) {
        ngx_chatctl_set(&cf->url, NGX_CHATCTL_DEFAULT_URL);
    }

    if (cf->ws_path == NULL) {
        ngx_chatctl_set(&cf->ws_path, NGX_CHATCTL_DEFAULT_WS);
    }

    if (cf->api_path == NULL) {
        ngx_chatctl_set(&cf->api_path, NGX_CHATCTL_DEFAULT_API);
    }

    /* a trailing slash would double the one of every call's path */

    rc = (int) strlen(cf->api_path);

    while (rc > 0 && cf->api_path[rc - 1] == '/') {
        cf->api_path[--rc] = '\0';
    }

    if (ngx_chatctl_url_parse(cf->url, &cf->u) != 0) {
        return ngx_chatctl_fail("usage", "bad URL \"%s\": want "
                                "http://HOST:PORT or https://HOST:PORT",
                                cf->url);
    }

    return NGX_CHATCTL_OK;
}


/* the environment over the file, then the flags over both */

static void
ngx_chatctl_conf_override(ngx_chatctl_conf_t *cf)
{
    const char  *env;

    if ((env = getenv("CHATCTL_URL")) != NULL && *env) {
        ngx_chatctl_set(&cf->url, env);
    }

    if ((env = getenv("CHATCTL_TOKEN")) != NULL && *env) {
        ngx_chatctl_set(&cf->token, env);
        cf->token_from_file = 0;
    }

    if ((env = getenv("CHATCTL_WS_PATH")) != NULL && *env) {
        ngx_chatctl_set(&cf->ws_path, env);
    }

    if ((env = getenv("CHATCTL_API_PATH")) != NULL && *env) {
        ngx_chatctl_set(&cf->api_path, env);
    }

    if ((env = getenv("CHATCTL_CACERT")) != NULL && *env) {
        ngx_chatctl_set(&cf->cacert, env);
    }

    if (cf->flag_url) {
        ngx_chatctl_set(&cf->url, cf->flag_url);
    }

    if (cf->flag_token) {
        ngx_chatctl_set(&cf->token, cf->flag_token);
        cf->token_from_file = 0;
    }

    if (cf->flag_ws_path) {
        ngx_chatctl_set(&cf->ws_path, cf->flag_ws_path);
    }

    if (cf->flag_api_path) {
        ngx_chatctl_set(&cf->api_path, cf->flag_api_path);
    }

    if (cf->flag_cacert) {
        ngx_chatctl_set(&cf->cacert, cf->flag_cacert);
    }

    if (cf->flag_insecure) {
        cf->insecure = 1;
    }

    if (cf->flag_timeout_ms) {
        cf->timeout_ms = cf->flag_timeout_ms;
    }
}


static int
ngx_chatctl_conf_line(ngx_chatctl_conf_t *cf, char *line, const char *path,
    int lineno)
{
    char       *key, *value, *eq;
    long long   n;

    key = ngx_chatctl_trim(line);

    if (*key == '\0' || *key == '#') {
        return NGX_CHATCTL_OK;
    }

    eq = strchr(key, '=');
    if (eq == NULL) {
        return ngx_chatctl_fail("config", "%s:%d: want \"key = value\"",
                                path, lineno);
    }

    *eq = '\0';
    key = ngx_chatctl_trim(key);
    value = ngx_chatctl_trim(eq + 1);

    if (strcmp(key, "url") == 0) {
        ngx_chatctl_set(&cf->url, value);

    } else if (strcmp(key, "token") == 0) {
        ngx_chatctl_set(&cf->token, value);

    } else if (strcmp(key, "refresh_token") == 0) {
        ngx_chatctl_set(&cf->refresh_token, value);

    } else if (strcmp(key, "expires_at") == 0) {
        if (ngx_chatctl_number(value, &n) == 0) {
            cf->expires_at = n;
        }

    } else if (strcmp(key, "ws_path") == 0) {
        ngx_chatctl_set(&cf->ws_path, value);

    } else if (strcmp(key, "api_path") == 0) {
        ngx_chatctl_set(&cf->api_path, value);

    } else if (strcmp(key, "cacert") == 0) {
        ngx_chatctl_set(&cf->cacert, value);

    } else if (strcmp(key, "key") == 0) {
        ngx_chatctl_set(&cf->key, value);

    } else if (strcmp(key, "insecure") == 0) {
        cf->insecure = (strcmp(value, "1") == 0
                        || strcmp(value, "yes") == 0
                        || strcmp(value, "true") == 0);
    }

    /* other keys ("user") are kept for people, and ignored */

    return NGX_CHATCTL_OK;
}


/*
 * Sets keys[i] to values[i] (NULL: removes the key) in the file, keeping
 * its other lines; written to a temporary file renamed over it, 0600.
 */

int
ngx_chatctl_conf_store(ngx_chatctl_conf_t *cf, const char **keys,
    const char **values, size_t n)
{
    int      fd;
    char     line[NGX_CHATCTL_LINE_MAX], copy[NGX_CHATCTL_LINE_MAX];
    char     tmp[4096], *k, *eq, *slash;
    FILE    *in, *out;
    size_t   i, done;

    if (cf->file == NULL) {
        return ngx_chatctl_fail("config", "no config file: set "
                                "CHATCTL_CONFIG or HOME");
    }

    /* the directory, as ~/.config/chatctl may not exist yet */

    snprintf(tmp, sizeof(tmp), "%s", cf->file);
    slash = strrchr(tmp, '/');

    if (slash != NULL && slash != tmp) {
        *slash = '\0';
        k = tmp;

        for (eq = k + 1; *eq; eq++) {
            if (*eq == '/') {
                *eq = '\0';
                (void) mkdir(k, 0700);
                *eq = '/';
            }
        }

        (void) mkdir(k, 0700);
    }

    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", cf->file, (int) getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    out = (fd >= 0) ? fdopen(fd, "w") : NULL;

    if (out == NULL) {
        return ngx_chatctl_fail("config", "%s: %s", tmp, strerror(errno));
    }

    done = 0;
    in = fopen(cf->file, "r");

    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        snprintf(copy, sizeof(copy), "%s", line);
        k = ngx_chatctl_trim(copy);
        eq = strchr(k, '=');

        if (*k != '#' && eq != NULL) {
            *eq = '\0';
            k = ngx_chatctl_trim(k);

            for (i = 0; i < n; i++) {
                if (strcmp(k, keys[i]) == 0) {
                    break;
                }
            }

            if (i < n) {
                if (values[i] != NULL && !(done & (1u << i))) {
                    fprintf(out, "%s = %s\n", keys[i], values[i]);
                }

                done |= 1u << i;
                continue;
            }
        }

        fputs(line, out);

        if (line[strlen(line) - 1] != '\n') {
            fputc('\n', out);
        }
    }

    if (in != NULL) {
        fclose(in);
    }

    for (i = 0; i < n; i++) {
        if (values[i] != NULL && !(done & (1u << i))) {
            fprintf(out, "%s = %s\n", keys[i], values[i]);
        }
    }

    if (fclose(out) != 0 || rename(tmp, cf->file) != 0) {
        unlink(tmp);
        return ngx_chatctl_fail("config", "%s: %s", cf->file,
                                strerror(errno));
    }

    return NGX_CHATCTL_OK;
}


static char *
ngx_chatctl_conf_default_path(void)
{
    char        buf[4096];
    const char  *xdg, *home;

    xdg = getenv("XDG_CONFIG_HOME");

    if (xdg != NULL && *xdg == '/') {
        snprintf(buf, sizeof(buf), "%s/chatctl/config", xdg);
        return strdup(buf);
    }

    home = getenv("HOME");

    if (home == NULL || *home == '\0') {
        return NULL;
    }

    snprintf(buf, sizeof(buf), "%s/.config/chatctl/config", home);

    return strdup(buf);
}


static char *
ngx_chatctl_trim(char *s)
{
    size_t  n;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    n = strlen(s);

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'
                     || s[n - 1] == '\n' || s[n - 1] == '\r'))
    {
        s[--n] = '\0';
    }

    return s;
}


static void
ngx_chatctl_set(char **dst, const char *value)
{
    char  *p;

    p = strdup(value);

    if (p == NULL) {
        fprintf(stderr, "chatctl: internal: out of memory\n");
        exit(NGX_CHATCTL_ERROR);
    }

    free(*dst);
    *dst = p;
}
