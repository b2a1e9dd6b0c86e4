/*
 * chat-bench, --proto ngx_chat (the default): the module itself.  Each
 * connection upgrades with an HS256 token of its own (sub=<prefix><n>,
 * signed with --secret), awaits "welcome", joins its room(s) and sends
 * {"type":"send"} requests, each answered by an "ok" (the ack).
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/hs256.h"
#include "bench.h"


static void cb_chat_options(int port_set, int path_set, int senders_set);
static void cb_read_secret(void);
static void cb_chat_request(cb_conn_t *c, char *path, size_t pcap,
    char *hdrs, size_t hcap);
static int cb_chat_join(char *buf, size_t cap, const char *room);
static int cb_chat_msg_head(char *p, uint64_t id, const char *room,
    uint32_t from);
static int cb_chat_msg_tail(char *p);
static void cb_chat_describe(int sending);
static void cb_chat_result(void);


const cb_peer_t  cb_peer_ngx_chat = {
    .name = "ngx_chat",
    .ready_label = "joined",
    .ack_label = "ok",
    .msg_extra = 256,
    .pub_member = 1,
    .options = cb_chat_options,
    .layout = cb_no_layout,
    .assign = cb_no_assign,
    .port = cb_port_fixed,
    .request = cb_chat_request,
    .upgraded = cb_await_welcome,
    .join = cb_chat_join,
    .on_text = cb_on_chat_text,
    .msg_head = cb_chat_msg_head,
    .msg_tail = cb_chat_msg_tail,
    .send_slot = cb_send_slot_turn,
    .banner = cb_no_banner,
    .describe = cb_chat_describe,
    .report_sends = cb_report_sends,
    .frames_per_msg = cb_one_frame,
    .result = cb_chat_result
};


static void
cb_chat_options(int port_set, int path_set, int senders_set)
{
    (void) port_set;
    (void) path_set;
    (void) senders_set;

    if (B.secret_file == NULL) {
        cb_die("--secret is required");
    }

    cb_read_secret();
}


static void
cb_read_secret(void)
{
    int      fd;
    ssize_t  n;
    size_t   len;

    fd = open(B.secret_file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        cb_die("open(\"%s\"): %s", B.secret_file, strerror(errno));
    }

    len = 0;

    for ( ;; ) {
        n = read(fd, B.secret + len, sizeof(B.secret) - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            cb_die("read(\"%s\"): %s", B.secret_file, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        len += n;
        if (len == sizeof(B.secret)) {
            cb_die("secret file \"%s\" is too large", B.secret_file);
        }
    }

    close(fd);

    while (len && (B.secret[len - 1] == '\n' || B.secret[len - 1] == '\r')) {
        len--;
    }

    if (len == 0) {
        cb_die("secret file \"%s\" is empty", B.secret_file);
    }

    B.secret_len = len;
}


static void
cb_chat_request(cb_conn_t *c, char *path, size_t pcap, char *hdrs,
    size_t hcap)
{
    int     n;
    char    jwt[1024], claims[256];
    time_t  now;

    snprintf(path, pcap, "%s", B.path);

    now = time(NULL);

    n = snprintf(claims, sizeof(claims),
                 "{\"sub\":\"%s%u\",\"exp\":%lld,\"iat\":%lld}",
                 B.user_prefix, c->user, (long long) now + 3600,
                 (long long) now);

    if (hs256_sign(jwt, sizeof(jwt), claims, n, B.secret, B.secret_len)
        == 0)
    {
        cb_die("HMAC failed");
    }

    snprintf(hdrs, hcap, "Authorization: Bearer %s\r\n", jwt);
}


static int
cb_chat_join(char *buf, size_t cap, const char *room)
{
    return snprintf(buf, cap, "{\"type\":\"join\",\"id\":%d,\"room\":\"%s\"}",
                    CB_JOIN_ID, room);
}


static int
cb_chat_msg_head(char *p, uint64_t id, const char *room, uint32_t from)
{
    (void) from;

    return sprintf(p, "{\"type\":\"send\",\"id\":%llu,\"room\":\"%s\","
                   "\"body\":\"", (unsigned long long) id, room);
}


static int
cb_chat_msg_tail(char *p)
{
    memcpy(p, "\"}", 2);

    return 2;
}


static void
cb_chat_describe(int sending)
{
    printf("target          ws://%s:%d%s\n", B.host, B.port, B.path);

    cb_describe_shape(sending);
}


static void
cb_chat_result(void)
{
    /* the default: no proto= field */
}
