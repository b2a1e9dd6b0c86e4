
/*
 * chatctl WebSocket client: the upgrade (token in the Authorization
 * header, protocol.md section 2), masked frames out, the frame codec's
 * client mode in.
 */


#define _GNU_SOURCE     /* strcasestr() */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "chatctl.h"


#define NGX_CHATCTL_WS_IN       65536
#define NGX_CHATCTL_WS_MSG_MAX  (64 * 1024 * 1024)
#define NGX_CHATCTL_WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"



static int ngx_chatctl_ws_handshake(ngx_chatctl_conf_t *cf,
    ngx_chatctl_ws_t *ws, const char *token);
static int ngx_chatctl_ws_refused(char *head, size_t len);
static int ngx_chatctl_ws_frame(ngx_chatctl_ws_t *ws, unsigned opcode,
    const void *payload, size_t len);


/* 0, or the exit code of the failure (printed) */

int
ngx_chatctl_ws_open(ngx_chatctl_conf_t *cf, ngx_chatctl_ws_t *ws)
{
    int          rc;
    const char  *token;

    memset(ws, 0, sizeof(ngx_chatctl_ws_t));
    ws->conn.fd = -1;

    token = ngx_chatctl_token(cf, 0);

    if (token == NULL) {
        return NGX_CHATCTL_AUTH;
    }

    ws->in = malloc(NGX_CHATCTL_WS_IN);

    if (ws->in == NULL) {
        return ngx_chatctl_fail("internal", "out of memory");
    }

    if (ngx_chatctl_conn_open(cf, &ws->conn) != 0) {
        free(ws->in);
        ws->in = NULL;
        return ngx_chatctl_fail("unavailable", "%s", ngx_chatctl_net_error());
    }

    rc = ngx_chatctl_ws_handshake(cf, ws, token);

    if (rc != NGX_CHATCTL_OK) {
        ngx_chatctl_conn_close(&ws->conn);
        free(ws->in);
        ws->in = NULL;
        return rc;
    }

    ngx_chat_frame_reader_init_client(&ws->reader, NGX_CHATCTL_WS_MSG_MAX,
                                      NGX_CHATCTL_WS_MSG_MAX);

    ws->last_rx = ngx_chatctl_now_ms();
    ws->last_ping = ws->last_rx;

    return NGX_CHATCTL_OK;
}


static int
ngx_chatctl_ws_handshake(ngx_chatctl_conf_t *cf, ngx_chatctl_ws_t *ws,
    const char *token)
{
    char           key[32], accept[64], both[128], *req, *end;
    size_t         n, len;
    ssize_t        got;
    uint8_t        raw[16], sha[SHA_DIGEST_LENGTH];
    const char    *v;

    ngx_chatctl_random(raw, sizeof(raw));
    ngx_chatctl_base64(key, raw, sizeof(raw));

    len = strlen(cf->ws_path) + strlen(cf->u.host) + strlen(token) + 512;
    req = malloc(len);

    if (req == NULL) {
        return ngx_chatctl_fail("internal", "out of memory");
    }

    snprintf(req, len,
             "GET %s HTTP/1.1\r\n"
             "Host: %s%s%s:%s\r\n"
             "User-Agent: chatctl\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Authorization: Bearer %s\r\n\r\n",
             cf->ws_path, ngx_chatctl_host(&cf->u), key, token);

    if (ngx_chatctl_conn_write(&ws->conn, req, strlen(req)) != 0) {
        free(req);
        return ngx_chatctl_fail("unavailable", "%s", ngx_chatctl_net_error());
    }

    free(req);

    /* the answer's head; bytes after it are the first frames */

    n = 0;
    end = NULL;

    while (end == NULL) {
        if (n == NGX_CHATCTL_WS_IN - 1) {
            return ngx_chatctl_fail("internal", "upgrade answer too long");
        }

        got = ngx_chatctl_conn_read(&ws->conn, ws->in + n,
                                    NGX_CHATCTL_WS_IN - 1 - n,
                                    cf->timeout_ms);

        if (got == -2 && ngx_chatctl_conn_pending(&ws->conn)) {
            continue;
        }

        if (got <= 0) {
            return ngx_chatctl_fail("unavailable", "%s",
                                    got == 0 ? "connection closed during "
                                               "the upgrade"
                                    : got == -2 ? "no upgrade answer within "
                                                  "the timeout"
                                    : ngx_chatctl_net_error());
        }

        n += (size_t) got;
        ws->in[n] = '\0';
        end = strstr((char *) ws->in, "\r\n\r\n");
    }

    if (strncmp((char *) ws->in, "HTTP/1.1 101", 12) != 0) {
        return ngx_chatctl_ws_refused((char *) ws->in, n);
    }

    *end = '\0';

    len = (size_t) snprintf(both, sizeof(both), "%s%s", key,
                            NGX_CHATCTL_WS_GUID);

    if (EVP_Digest(both, len, sha, NULL, EVP_sha1(), NULL) != 1) {
        return ngx_chatctl_fail("internal", "SHA-1 failed");
    }
    ngx_chatctl_base64(accept, sha, sizeof(sha));

    v = strcasestr((char *) ws->in, "\r\nSec-WebSocket-Accept:");

    if (v == NULL) {
        return ngx_chatctl_fail("internal", "upgrade without "
                                "Sec-WebSocket-Accept");
    }

    v += 23;
    v += strspn(v, " \t");

    if (strncmp(v, accept, strlen(accept)) != 0) {
        return ngx_chatctl_fail("internal", "wrong Sec-WebSocket-Accept");
    }

    ws->in_pos = (size_t) (end + 4 - (char *) ws->in);
    ws->in_len = n;

    return NGX_CHATCTL_OK;
}


/* an HTTP answer instead of the upgrade: its JSON error (protocol.md 6) */

static int
ngx_chatctl_ws_refused(char *head, size_t len)
{
    int                 rc;
    char               *copy;
    ngx_chatctl_res_t   res;

    /* the rest of a short body has usually arrived with the head */

    copy = malloc(len + 1);

    if (copy == NULL) {
        return ngx_chatctl_fail("internal", "out of memory");
    }

    memcpy(copy, head, len);
    copy[len] = '\0';

    memset(&res, 0, sizeof(ngx_chatctl_res_t));

    res.head = copy;
    res.status = atoi(copy + 9);

    head = strstr(copy, "\r\n\r\n");
    *head = '\0';
    res.body = head + 4;
    res.body_len = len - (size_t) (res.body - copy);
    res.json = json_loadb(res.body, res.body_len, 0, NULL);

    rc = ngx_chatctl_res_error(&res);
    ngx_chatctl_res_free(&res);

    return rc;
}


int
ngx_chatctl_ws_send(ngx_chatctl_ws_t *ws, const char *text, size_t len)
{
    return ngx_chatctl_ws_frame(ws, NGX_CHAT_WS_TEXT, text, len);
}


static int
ngx_chatctl_ws_frame(ngx_chatctl_ws_t *ws, unsigned opcode,
    const void *payload, size_t len)
{
    int       rc;
    uint8_t   mask[4], stack[256], *out;

    if (ws->closed) {
        return -1;
    }

    ngx_chatctl_random(mask, sizeof(mask));

    out = (len + 14 <= sizeof(stack)) ? stack : malloc(len + 14);

    if (out == NULL) {
        return -1;
    }

    len = ngx_chat_frame_client(out, opcode, payload, len, mask);
    rc = ngx_chatctl_conn_write(&ws->conn, out, len);

    if (out != stack) {
        free(out);
    }

    return rc;
}


/*
 * 1: a text message in *msg and *len (valid until the next call); 0: nothing
 * within timeout_ms; -1: the connection is closed or failed (close_code
 * and close_reason say how: 1006 when no close frame came).
 */

int
ngx_chatctl_ws_recv(ngx_chatctl_ws_t *ws, int timeout_ms, const char **msg,
    size_t *len)
{
    size_t               used;
    ssize_t              got;
    uint8_t              close[130];
    ngx_chat_ws_ev_e     rc;
    ngx_chat_ws_event_t  ev;

    for ( ;; ) {
        if (ws->closed) {
            return -1;
        }

        rc = ngx_chat_frame_reader_feed(&ws->reader, ws->in + ws->in_pos,
                                        ws->in_len - ws->in_pos, &used, &ev);
        ws->in_pos += used;

        switch (rc) {

        case NGX_CHAT_WS_EV_MESSAGE:
            *msg = (const char *) ev.data;
            *len = ev.len;
            return 1;

        case NGX_CHAT_WS_EV_PING:
            memcpy(close, ev.data, ev.len);
            (void) ngx_chatctl_ws_frame(ws, NGX_CHAT_WS_PONG, close, ev.len);
            continue;

        case NGX_CHAT_WS_EV_PONG:
            continue;

        case NGX_CHAT_WS_EV_CLOSE:
        case NGX_CHAT_WS_EV_ERROR:
            ws->close_code = ev.code;
            snprintf(ws->close_reason, sizeof(ws->close_reason), "%.*s",
                     rc == NGX_CHAT_WS_EV_CLOSE ? (int) ev.len : 0,
                     rc == NGX_CHAT_WS_EV_CLOSE ? (const char *) ev.data
                                                : "");
            if (rc == NGX_CHAT_WS_EV_ERROR) {
                snprintf(ws->close_reason, sizeof(ws->close_reason),
                         "bad frame from the server: %s", ev.reason);
            }

            ngx_chatctl_ws_close(ws, rc == NGX_CHAT_WS_EV_CLOSE
                                     ? NGX_CHAT_CLOSE_NORMAL : ev.code);
            return -1;

        default:
            break;
        }

        /* all input consumed */

        ws->in_pos = 0;
        ws->in_len = 0;

        got = ngx_chatctl_conn_read(&ws->conn, ws->in, NGX_CHATCTL_WS_IN,
                                    timeout_ms);

        if (got == -2) {
            if (ngx_chatctl_conn_pending(&ws->conn)) {
                continue;
            }

            return 0;
        }

        if (got <= 0) {
            ws->close_code = 1006;
            snprintf(ws->close_reason, sizeof(ws->close_reason), "%s",
                     got == 0 ? "connection lost" : ngx_chatctl_net_error());
            ngx_chatctl_ws_close(ws, 0);
            return -1;
        }

        ws->in_len = (size_t) got;
        ws->last_rx = ngx_chatctl_now_ms();

        /* after one read, only what is already there: no second wait */

        timeout_ms = 0;
    }
}


/* sends a close frame (code 0: none) and closes the connection */

void
ngx_chatctl_ws_close(ngx_chatctl_ws_t *ws, uint16_t code)
{
    size_t   n;
    uint8_t  frame[130];

    if (ws->conn.fd >= 0 && code != 0 && !ws->closed) {
        n = ngx_chat_frame_close(frame, code, NULL, 0);
        (void) ngx_chatctl_ws_frame(ws, NGX_CHAT_WS_CLOSE, frame + 2, n - 2);
    }

    ws->closed = 1;
    ngx_chatctl_conn_close(&ws->conn);
    ngx_chat_frame_reader_free(&ws->reader);
    free(ws->in);
    ws->in = NULL;
    ws->in_len = 0;
    ws->in_pos = 0;
}


int
ngx_chatctl_ws_fd(ngx_chatctl_ws_t *ws)
{
    return ws->conn.fd;
}


/* bytes are buffered: call ngx_chatctl_ws_recv() before polling */

int
ngx_chatctl_ws_pending(ngx_chatctl_ws_t *ws)
{
    return !ws->closed && (ws->in_pos < ws->in_len
                           || ngx_chatctl_conn_pending(&ws->conn));
}


/*
 * A connection cut without a FIN or RST (a network gone) shows only as
 * silence: after three timeouts of it (30 s by default) a ping goes out,
 * and when nothing came a timeout later the connection is closed (1006)
 * for the caller to reconnect.  Returns 0 when taken for dead.
 */

int
ngx_chatctl_ws_alive(ngx_chatctl_ws_t *ws)
{
    long long  now, quiet;

    if (ws->closed) {
        return 0;
    }

    now = ngx_chatctl_now_ms();
    quiet = 3 * (long long) ws->conn.timeout_ms;

    if (now - ws->last_rx > quiet + ws->conn.timeout_ms) {
        ws->close_code = 1006;
        snprintf(ws->close_reason, sizeof(ws->close_reason),
                 "no answer for %lld s",
                 (now - ws->last_rx) / 1000);
        ngx_chatctl_ws_close(ws, 0);
        return 0;
    }

    if (now - ws->last_rx > quiet && now - ws->last_ping > quiet) {
        ws->last_ping = now;
        (void) ngx_chatctl_ws_frame(ws, NGX_CHAT_WS_PING, NULL, 0);
    }

    return 1;
}
