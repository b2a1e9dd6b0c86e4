/*
 * The WebSocket pieces the benchmark programs share (chat-bench, the
 * client; echo-fanout and peers/limit, servers): frame headers, masking,
 * the upgrade's key and accept value, and an output queue over a
 * non-blocking socket.  No event loop: each program keeps its own.
 */

#ifndef BENCH_WS_H
#define BENCH_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


typedef unsigned char  u_char;


#define WS_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_MAX      64              /* Sec-WebSocket-Key we accept */
#define WS_HEADER_MAX   14


typedef struct {
    unsigned            fin;
    unsigned            op;
    unsigned            masked;
    u_char              mask[4];
    size_t              hlen;           /* header bytes, mask included */
    uint64_t            len;            /* payload bytes */
} ws_frame_t;


/* unsent output: buf[pos..len) */

typedef struct {
    u_char             *buf;
    size_t              pos;
    size_t              len;
    size_t              cap;
} ws_out_t;


int ws_grow(u_char **buf, size_t *cap, size_t need);
int ws_keep_rest(u_char **pend, size_t *plen, size_t *pcap,
    const u_char *buf, size_t len, size_t used);

size_t ws_frame_header(u_char *f, unsigned op, uint64_t len,
    const u_char *mask);
int ws_frame_parse(const u_char *p, size_t avail, ws_frame_t *f);
void ws_mask(u_char *dst, const u_char *src, size_t len,
    const u_char mask[4]);

void ws_client_key(char *dst, const u_char raw[16]);
const u_char *ws_http_header(const u_char *head, const u_char *eoh,
    const char *name, size_t *len);
int ws_upgrade_response(char *dst, size_t cap, const u_char *key,
    size_t klen);

ssize_t ws_out_write(ws_out_t *o, int fd, const u_char *p, size_t len,
    size_t max);
ssize_t ws_out_flush(ws_out_t *o, int fd);
void ws_out_free(ws_out_t *o);
int ws_want_out(int ep, int fd, void *data, int on);


#define ws_out_pending(o)  ((o)->len - (o)->pos)


#endif /* BENCH_WS_H */
