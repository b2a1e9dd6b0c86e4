/*
 * WebSocket framing and output queueing shared by chat-bench, echo-fanout
 * and peers/limit (see ws.h).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws.h"


#define WS_OUT_KEEP  65536              /* a drained queue keeps this much */


/* *buf holds at least need bytes (doubling from 4 KiB); -1: no memory */

int
ws_grow(u_char **buf, size_t *cap, size_t need)
{
    size_t   ncap;
    u_char  *p;

    if (*cap >= need) {
        return 0;
    }

    ncap = *cap ? *cap : 4096;
    while (ncap < need) {
        ncap *= 2;
    }

    p = realloc(*buf, ncap);
    if (p == NULL) {
        return -1;
    }

    *buf = p;
    *cap = ncap;

    return 0;
}


/*
 * After a parse of buf[0..len) took its first used bytes, the rest waits
 * in *pend for more input.  buf is the caller's shared read buffer, or
 * *pend itself.  -1: no memory.
 */

int
ws_keep_rest(u_char **pend, size_t *plen, size_t *pcap, const u_char *buf,
    size_t len, size_t used)
{
    size_t  rest;

    rest = len - used;

    if (buf != *pend) {
        if (rest) {
            if (ws_grow(pend, pcap, rest) == -1) {
                return -1;
            }
            memcpy(*pend, buf + used, rest);
        }

    } else if (rest && used) {
        memmove(*pend, *pend + used, rest);
    }

    *plen = rest;

    if (rest == 0 && *pcap > WS_OUT_KEEP) {
        free(*pend);
        *pend = NULL;
        *pcap = 0;
    }

    return 0;
}


/* a final frame's header; mask NULL: a server's, unmasked */

size_t
ws_frame_header(u_char *f, unsigned op, uint64_t len, const u_char *mask)
{
    size_t    h;
    unsigned  i, m;

    m = mask ? 0x80 : 0;

    f[0] = 0x80 | op;

    if (len < 126) {
        f[1] = m | len;
        h = 2;

    } else if (len < 65536) {
        f[1] = m | 126;
        f[2] = len >> 8;
        f[3] = len & 0xff;
        h = 4;

    } else {
        f[1] = m | 127;
        for (i = 0; i < 8; i++) {
            f[2 + i] = len >> (56 - 8 * i);
        }
        h = 10;
    }

    if (mask) {
        memcpy(f + h, mask, 4);
        h += 4;
    }

    return h;
}


/* 1: the header at p is complete and in f; 0: more bytes needed */

int
ws_frame_parse(const u_char *p, size_t avail, ws_frame_t *f)
{
    size_t  i;

    if (avail < 2) {
        return 0;
    }

    f->fin = (p[0] & 0x80) ? 1 : 0;
    f->op = p[0] & 0x0f;
    f->masked = (p[1] & 0x80) ? 1 : 0;
    f->len = p[1] & 0x7f;
    f->hlen = 2;

    if (f->len == 126) {
        if (avail < 4) {
            return 0;
        }
        f->len = (uint64_t) p[2] << 8 | p[3];
        f->hlen = 4;

    } else if (f->len == 127) {
        if (avail < 10) {
            return 0;
        }
        f->len = 0;
        for (i = 2; i < 10; i++) {
            f->len = f->len << 8 | p[i];
        }
        f->hlen = 10;
    }

    if (f->masked) {
        if (avail < f->hlen + 4) {
            return 0;
        }
        memcpy(f->mask, p + f->hlen, 4);
        f->hlen += 4;
    }

    return 1;
}


/* dst = src ^ mask (dst may be src) */

void
ws_mask(u_char *dst, const u_char *src, size_t len, const u_char mask[4])
{
    size_t  i;

    for (i = 0; i < len; i++) {
        dst[i] = src[i] ^ mask[i & 3];
    }
}


/* Sec-WebSocket-Key of 16 random bytes: 24 characters and a NUL */

void
ws_client_key(char *dst, const u_char raw[16])
{
    EVP_EncodeBlock((u_char *) dst, raw, 16);
}


/* the value of header "name" (with its colon) in head..eoh, trimmed */

const u_char *
ws_http_header(const u_char *head, const u_char *eoh, const char *name,
    size_t *len)
{
    size_t         n, l;
    const u_char  *p, *e, *v;

    n = strlen(name);

    for (p = head; p < eoh; p = e + 2) {
        e = memmem(p, eoh + 2 - p, "\r\n", 2);
        if (e == NULL) {
            break;
        }

        if ((size_t) (e - p) <= n
            || strncasecmp((const char *) p, name, n) != 0)
        {
            continue;
        }

        v = p + n;
        while (v < e && (*v == ' ' || *v == '\t')) {
            v++;
        }
        l = e - v;
        while (l && (v[l - 1] == ' ' || v[l - 1] == '\t')) {
            l--;
        }

        *len = l;
        return v;
    }

    return NULL;
}


/* the 101 answer to a key; -1: no key or a key too long */

int
ws_upgrade_response(char *dst, size_t cap, const u_char *key, size_t klen)
{
    u_char  buf[WS_KEY_MAX + sizeof(WS_GUID)];
    u_char  sha[SHA_DIGEST_LENGTH], acc[4 * SHA_DIGEST_LENGTH / 3 + 4];

    if (key == NULL || klen == 0 || klen > WS_KEY_MAX) {
        return -1;
    }

    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
    SHA1(buf, klen + sizeof(WS_GUID) - 1, sha);
    EVP_EncodeBlock(acc, sha, SHA_DIGEST_LENGTH);

    return snprintf(dst, cap, "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: %s\r\n"
                    "\r\n", acc);
}


/*
 * One write when nothing is queued; what it did not take is queued.
 * Returns the bytes written now; -1: a write error (errno), -2: the queue
 * would pass max bytes, -3: no memory.  Nothing is queued on an error.
 */

ssize_t
ws_out_write(ws_out_t *o, int fd, const u_char *p, size_t len, size_t max)
{
    ssize_t  n;

    n = 0;

    if (o->pos == o->len) {
        o->pos = 0;
        o->len = 0;

        n = write(fd, p, len);

        if (n == -1) {
            if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
            n = 0;
        }

        if ((size_t) n == len) {
            return n;
        }

        p += n;
        len -= n;
    }

    if (o->len - o->pos + len > max) {
        return -2;
    }

    if (o->pos && o->len + len > o->cap) {
        memmove(o->buf, o->buf + o->pos, o->len - o->pos);
        o->len -= o->pos;
        o->pos = 0;
    }

    if (ws_grow(&o->buf, &o->cap, o->len + len) == -1) {
        return -3;
    }

    memcpy(o->buf + o->len, p, len);
    o->len += len;

    return n;
}


/* writes the queue; returns the bytes written, -1 on a write error */

ssize_t
ws_out_flush(ws_out_t *o, int fd)
{
    ssize_t  n, total;

    total = 0;

    while (o->pos < o->len) {
        n = write(fd, o->buf + o->pos, o->len - o->pos);

        if (n == -1) {
            if (errno == EAGAIN) {
                return total;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }

        o->pos += n;
        total += n;
    }

    o->pos = 0;
    o->len = 0;

    if (o->cap > WS_OUT_KEEP) {
        ws_out_free(o);
    }

    return total;
}


void
ws_out_free(ws_out_t *o)
{
    free(o->buf);
    o->buf = NULL;
    o->pos = 0;
    o->len = 0;
    o->cap = 0;
}


/* epoll: readable, and writable too while output waits */

int
ws_want_out(int ep, int fd, void *data, int on)
{
    struct epoll_event  ev;

    ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.ptr = data;

    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}
