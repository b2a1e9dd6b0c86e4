
/*
 * chatctl: the command-line client of ngx_chat.
 *
 * Blocking sockets and poll(); the frame codec, UTF-8 check and JSON
 * writer of src/core; jansson to read replies; OpenSSL for https:// and
 * wss://; libpq for "migrate".
 */


#ifndef _NGX_CHATCTL_H_INCLUDED_
#define _NGX_CHATCTL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <getopt.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "ngx_chat_frame.h"
#include "ngx_chat_json.h"


/* exit codes: documented in "chatctl --help" and README.md */
#define NGX_CHATCTL_OK            0
#define NGX_CHATCTL_USAGE         1
#define NGX_CHATCTL_UNAVAILABLE   2
#define NGX_CHATCTL_AUTH          3
#define NGX_CHATCTL_NOT_FOUND     4
#define NGX_CHATCTL_RATE_LIMITED  5
#define NGX_CHATCTL_REJECTED      6
#define NGX_CHATCTL_ERROR         7

/*
 * ngx_chatctl_parse() returns the index of the first argument, or this
 * after --help was printed, or minus an exit code (the error printed)
 */
#define NGX_CHATCTL_HELP          -100
#define ngx_chatctl_parse_exit(rc)                                           \
    ((rc) == NGX_CHATCTL_HELP ? NGX_CHATCTL_OK : -(rc))

#define NGX_CHATCTL_STR_MAX       512


typedef struct {
    int                tls;
    char               host[256];
    char               port[8];
} ngx_chatctl_url_t;


typedef struct {
    /* what is in effect: flags over environment over the file */
    char              *url;
    char              *token;
    char              *refresh_token;
    long long          expires_at;
    char              *ws_path;
    char              *api_path;
    char              *cacert;
    char              *key;             /* the HS256 key file of "token" */
    int                insecure;
    int                timeout_ms;

    /* the token comes from the file: it may be refreshed and stored */
    int                token_from_file;

    char              *file;            /* the config file's path */
    ngx_chatctl_url_t  u;

    /* what the command line said, applied over the rest at the end */
    char              *flag_url;
    char              *flag_token;
    char              *flag_ws_path;
    char              *flag_api_path;
    char              *flag_cacert;
    char              *flag_file;
    int                flag_insecure;
    int                flag_timeout_ms;
} ngx_chatctl_conf_t;


/* a command: its name, one line of summary and its usage text */
typedef struct {
    const char        *name;
    int              (*run)(ngx_chatctl_conf_t *cf, int argc, char **argv);
    const char        *summary;
    const char        *usage;
} ngx_chatctl_cmd_t;


/* an option of a command: the value getopt_long returns, and the entry */
typedef int (*ngx_chatctl_opt_pt)(void *ctx, int opt, const char *arg);


/* the arguments of "%s%s%s:%s" for a Host header: [v6]:port, host:port */
#define ngx_chatctl_host(u)                                                  \
    strchr((u)->host, ':') ? "[" : "", (u)->host,                            \
    strchr((u)->host, ':') ? "]" : "", (u)->port


/* a connection, plain or TLS */
typedef struct {
    int                fd;
    SSL_CTX           *ctx;
    SSL               *ssl;
    int                timeout_ms;
} ngx_chatctl_conn_t;


typedef struct {
    int                status;
    char              *head;            /* status line and headers */
    char              *body;
    size_t             body_len;
    json_t            *json;            /* the body, if JSON */
    long long          retry_after;
} ngx_chatctl_res_t;


typedef struct {
    ngx_chatctl_conn_t       conn;
    ngx_chat_frame_reader_t  reader;
    uint8_t                 *in;
    size_t                   in_len;
    size_t                   in_pos;
    uint16_t                 close_code;
    char                     close_reason[128];
    int                      closed;
    long long                last_rx;     /* ms: bytes last came */
    long long                last_ping;   /* ms: our last ping */
} ngx_chatctl_ws_t;


/* a string member of a JSON object, "" if none; an integer one, 0 */
#define ngx_chatctl_str(obj, key)                                            \
    (json_string_value(json_object_get(obj, key))                            \
     ? json_string_value(json_object_get(obj, key)) : "")

#define ngx_chatctl_int(obj, key)                                            \
    ((long long) json_integer_value(json_object_get(obj, key)))


/* chatctl.c: options, errors, output */
int ngx_chatctl_parse(ngx_chatctl_conf_t *cf, const ngx_chatctl_cmd_t *cmd,
    int argc, char **argv, const struct option *own, ngx_chatctl_opt_pt h,
    void *ctx);
int ngx_chatctl_usage_error(const ngx_chatctl_cmd_t *cmd, const char *fmt,
    ...);
int ngx_chatctl_fail(const char *code, const char *fmt, ...);
int ngx_chatctl_exit_code(const char *code);
/* NGX_CHATCTL_OK, or the usage error printed */
int ngx_chatctl_check_room(const char *room);
int ngx_chatctl_check_user(const char *user);
int ngx_chatctl_number(const char *s, long long *n);
int ngx_chatctl_until(const char *s, long long *ms);
long long ngx_chatctl_now_ms(void);
void ngx_chatctl_print_event(json_t *ev, const char *room);
extern volatile int ngx_chatctl_stop;
/* set while reconnecting: "unavailable" is expected, not printed */
extern int ngx_chatctl_quiet;

/* chatctl_conf.c */
int ngx_chatctl_conf_opt(ngx_chatctl_conf_t *cf, int opt, const char *arg);
int ngx_chatctl_conf_load(ngx_chatctl_conf_t *cf);
int ngx_chatctl_conf_store(ngx_chatctl_conf_t *cf, const char **keys,
    const char **values, size_t n);
extern const struct option  ngx_chatctl_conf_options[];
extern const char          *ngx_chatctl_conf_help;

/* chatctl_net.c */
int ngx_chatctl_url_parse(const char *s, ngx_chatctl_url_t *u);
int ngx_chatctl_conn_open(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c);
int ngx_chatctl_conn_write(ngx_chatctl_conn_t *c, const void *buf,
    size_t len);
ssize_t ngx_chatctl_conn_read(ngx_chatctl_conn_t *c, void *buf, size_t len,
    int timeout_ms);
int ngx_chatctl_conn_pending(ngx_chatctl_conn_t *c);
void ngx_chatctl_conn_close(ngx_chatctl_conn_t *c);
const char *ngx_chatctl_net_error(void);
void ngx_chatctl_net_fail(const char *fmt, ...);
size_t ngx_chatctl_base64(char *out, const uint8_t *in, size_t len);
void ngx_chatctl_random(uint8_t *buf, size_t len);

/* chatctl_http.c */
int ngx_chatctl_http(ngx_chatctl_conf_t *cf, const char *method,
    const char *path, const char *body, size_t body_len, const char *token,
    ngx_chatctl_res_t *res);
int ngx_chatctl_api(ngx_chatctl_conf_t *cf, const char *method,
    const char *path, const char *body, size_t body_len,
    ngx_chatctl_res_t *res);
int ngx_chatctl_res_error(ngx_chatctl_res_t *res);
void ngx_chatctl_res_free(ngx_chatctl_res_t *res);
int ngx_chatctl_http_parse(char *buf, size_t len, ngx_chatctl_res_t *res);
void ngx_chatctl_path(char *buf, size_t size, const char *fmt, ...);
void ngx_chatctl_query(char *buf, size_t size, const char *key,
    const char *value);

/* chatctl_ws.c */
int ngx_chatctl_ws_open(ngx_chatctl_conf_t *cf, ngx_chatctl_ws_t *ws);
int ngx_chatctl_ws_send(ngx_chatctl_ws_t *ws, const char *text, size_t len);
int ngx_chatctl_ws_recv(ngx_chatctl_ws_t *ws, int timeout_ms,
    const char **msg, size_t *len);
void ngx_chatctl_ws_close(ngx_chatctl_ws_t *ws, uint16_t code);
int ngx_chatctl_ws_fd(ngx_chatctl_ws_t *ws);
int ngx_chatctl_ws_pending(ngx_chatctl_ws_t *ws);
int ngx_chatctl_ws_alive(ngx_chatctl_ws_t *ws);

/* chatctl_auth.c: the token in use, refreshed when it expires */
const char *ngx_chatctl_token(ngx_chatctl_conf_t *cf, int force_refresh);

/* the commands */
int ngx_chatctl_cmd_register(ngx_chatctl_conf_t *cf, int argc,
    char **argv);
int ngx_chatctl_cmd_login(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_logout(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_token(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_rooms(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_history(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_search(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_dm(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_moderate(ngx_chatctl_conf_t *cf, int argc,
    char **argv);
int ngx_chatctl_cmd_send(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_tail(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_join(ngx_chatctl_conf_t *cf, int argc, char **argv);
int ngx_chatctl_cmd_migrate(ngx_chatctl_conf_t *cf, int argc, char **argv);

extern const ngx_chatctl_cmd_t  ngx_chatctl_commands[];
const ngx_chatctl_cmd_t *ngx_chatctl_command(const char *name);


#endif /* _NGX_CHATCTL_H_INCLUDED_ */
