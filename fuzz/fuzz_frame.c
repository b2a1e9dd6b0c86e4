/*
 * The WebSocket frame reader (src/core/ngx_chat_frame.c), server and
 * client modes: the input fed whole and fed in chunks of sizes derived
 * from it gives the same events (messages, control payloads, close and
 * error codes), and every event keeps the reader's promises.
 *
 * Input: byte 0 bit 0 client mode, byte 1 and 2 the limits, the rest
 * the bytes from the peer.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_chat_frame.h"
#include "ngx_chat_utf8.h"


typedef struct {
    uint8_t  *data;
    size_t    len;
    size_t    cap;
} fuzz_log_t;


static void fuzz_log_add(fuzz_log_t *log, const void *p, size_t n);
static void fuzz_reader_init(ngx_chat_frame_reader_t *r, const uint8_t *data);
static int fuzz_feed(ngx_chat_frame_reader_t *r, const uint8_t *in, size_t len,
    fuzz_log_t *log);
static void fuzz_event(ngx_chat_frame_reader_t *r, ngx_chat_ws_event_t *ev,
    fuzz_log_t *log);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       failed;
    size_t                    pos, n;
    fuzz_log_t                whole, chunked;
    fuzz_rand_t               rnd;
    ngx_chat_frame_reader_t   r;

    if (size < 3) {
        return 0;
    }

    memset(&whole, 0, sizeof(fuzz_log_t));
    memset(&chunked, 0, sizeof(fuzz_log_t));

    fuzz_reader_init(&r, data);
    (void) fuzz_feed(&r, data + 3, size - 3, &whole);
    ngx_chat_frame_reader_free(&r);

    fuzz_reader_init(&r, data);
    fuzz_rand_init(&rnd, data, size);

    failed = 0;

    for (pos = 3; pos < size && !failed; pos += n) {
        /* mostly tiny chunks, which split headers and masks */
        n = fuzz_rand(&rnd) % 4 == 0 ? 1 + fuzz_rand(&rnd) % 300
                                     : 1 + fuzz_rand(&rnd) % 3;
        if (n > size - pos) {
            n = size - pos;
        }

        failed = fuzz_feed(&r, data + pos, n, &chunked);
    }

    ngx_chat_frame_reader_free(&r);

    FUZZ_CHECK(whole.len == chunked.len
               && (whole.len == 0
                   || memcmp(whole.data, chunked.data, whole.len) == 0),
               "events differ when the input is fed in chunks");

    free(whole.data);
    free(chunked.data);

    return 0;
}


static void
fuzz_reader_init(ngx_chat_frame_reader_t *r, const uint8_t *data)
{
    size_t  frame_max, message_max;

    frame_max = 16 + (size_t) data[1] * 16;
    message_max = frame_max + (size_t) data[2] * 32;

    if (data[0] & 1) {
        ngx_chat_frame_reader_init_client(r, frame_max, message_max);

    } else {
        ngx_chat_frame_reader_init(r, frame_max, message_max);
    }
}


/* feeds a copy of in (unmasked in place); 1 once the reader has failed */

static int
fuzz_feed(ngx_chat_frame_reader_t *r, const uint8_t *in, size_t len,
    fuzz_log_t *log)
{
    size_t               used, off, guard;
    uint8_t             *buf;
    ngx_chat_ws_ev_e     rc;
    ngx_chat_ws_event_t  ev;

    /* an exact copy: ASan sees any read past the bytes received */
    buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, in, len);

    off = 0;

    for (guard = 0; ; guard++) {
        FUZZ_CHECK(guard <= len + 1, "no progress");

        rc = ngx_chat_frame_reader_feed(r, buf + off, len - off, &used, &ev);

        FUZZ_CHECK(used <= len - off, "used more than given");
        FUZZ_CHECK(rc == ev.type, "return value and event differ");

        off += used;

        if (rc == NGX_CHAT_WS_EV_NONE) {
            FUZZ_CHECK(off == len, "no event but input left");
            break;
        }

        fuzz_event(r, &ev, log);

        if (rc == NGX_CHAT_WS_EV_ERROR) {
            /* sticky: the same error again, nothing consumed */
            rc = ngx_chat_frame_reader_feed(r, buf + off, len - off, &used,
                                            &ev);
            FUZZ_CHECK(rc == NGX_CHAT_WS_EV_ERROR && used == 0,
                       "the error is not sticky");
            free(buf);
            return 1;
        }
    }

    free(buf);

    return 0;
}


static void
fuzz_event(ngx_chat_frame_reader_t *r, ngx_chat_ws_event_t *ev,
    fuzz_log_t *log)
{
    uint8_t   type;
    uint64_t  len;

    switch (ev->type) {

    case NGX_CHAT_WS_EV_MESSAGE:
        FUZZ_CHECK(ev->len <= r->message_max, "message over message_max");
        FUZZ_CHECK(ngx_chat_utf8_valid(ev->data, ev->len),
                   "message is not UTF-8");
        break;

    case NGX_CHAT_WS_EV_PING:
    case NGX_CHAT_WS_EV_PONG:
        FUZZ_CHECK(ev->len <= 125, "control payload over 125 bytes");
        break;

    case NGX_CHAT_WS_EV_CLOSE:
        FUZZ_CHECK(ev->len <= 123, "close reason over 123 bytes");
        FUZZ_CHECK(ngx_chat_utf8_valid(ev->data, ev->len),
                   "close reason is not UTF-8");
        FUZZ_CHECK(ev->code >= 1000, "close code under 1000");
        break;

    case NGX_CHAT_WS_EV_ERROR:
        FUZZ_CHECK(ev->code >= 1000 && ev->reason != NULL,
                   "error without code or reason");
        break;

    default:
        FUZZ_CHECK(0, "unknown event");
    }

    type = (uint8_t) ev->type;
    len = ev->len;

    fuzz_log_add(log, &type, 1);
    fuzz_log_add(log, &ev->code, sizeof(ev->code));
    fuzz_log_add(log, &len, sizeof(len));

    if (ev->len) {
        fuzz_log_add(log, ev->data, ev->len);
    }

    if (ev->reason) {
        fuzz_log_add(log, ev->reason, strlen(ev->reason));
    }
}


static void
fuzz_log_add(fuzz_log_t *log, const void *p, size_t n)
{
    size_t    cap;
    uint8_t  *d;

    if (log->len + n > log->cap) {
        cap = (log->len + n) * 2;
        d = realloc(log->data, cap);
        FUZZ_CHECK(d != NULL, "out of memory");
        log->data = d;
        log->cap = cap;
    }

    memcpy(log->data + log->len, p, n);
    log->len += n;
}
