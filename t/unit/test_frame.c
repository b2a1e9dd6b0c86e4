/*
 * Unit tests of the RFC 6455 frame codec: reader rules, same events for
 * any split of the input, writers.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "ngx_chat_frame.h"


#define FIN       0x80
#define TEXT      NGX_CHAT_WS_TEXT
#define CONT      NGX_CHAT_WS_CONT
#define BINARY    NGX_CHAT_WS_BINARY
#define CLOSE     NGX_CHAT_WS_CLOSE
#define PING      NGX_CHAT_WS_PING
#define PONG      NGX_CHAT_WS_PONG

#define EV_MSG    NGX_CHAT_WS_EV_MESSAGE
#define EV_PING   NGX_CHAT_WS_EV_PING
#define EV_PONG   NGX_CHAT_WS_EV_PONG
#define EV_CLOSE  NGX_CHAT_WS_EV_CLOSE
#define EV_ERROR  NGX_CHAT_WS_EV_ERROR

#define MAX_EVENTS  32


/* 1: the reader under test is a client's (reads unmasked server frames) */
static int  reader_client;
/* run_stream renews the reader whenever it rests, as a session does */
static int  reader_renew;


/* a byte stream of client frames */

typedef struct {
    uint8_t   *p;
    size_t     len;
    size_t     cap;
    unsigned   key;
} stream_t;


typedef struct {
    int        type;
    uint16_t   code;
    uint8_t   *data;
    size_t     len;
} rec_t;


typedef struct {
    rec_t      ev[MAX_EVENTS];
    int        n;
    int        bad;     /* an API invariant was broken */
} run_t;


static void
stream_reserve(stream_t *s, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->p = realloc(s->p, s->cap);

        if (s->p == NULL) {
            abort();
        }
    }
}


static void
put_raw(stream_t *s, const void *p, size_t n)
{
    stream_reserve(s, n);
    memcpy(s->p + s->len, p, n);
    s->len += n;
}


/*
 * Appends a client frame; b0 is the first byte (FIN, RSV, opcode); lenbytes
 * forces a length encoding (0 minimal, 2 or 8 extended).
 */

static void
put_frame_ex(stream_t *s, unsigned b0, int masked, const void *payload,
    size_t len, int lenbytes)
{
    int       i;
    size_t    k;
    uint8_t   hdr[14], mask[4];
    uint8_t  *out;

    if (lenbytes == 0) {
        lenbytes = (len < 126) ? 0 : (len <= 0xffff ? 2 : 8);
    }

    hdr[0] = (uint8_t) b0;
    k = 2;

    if (lenbytes == 0) {
        hdr[1] = (uint8_t) len;

    } else if (lenbytes == 2) {
        hdr[1] = 126;
        hdr[2] = (uint8_t) (len >> 8);
        hdr[3] = (uint8_t) len;
        k = 4;

    } else {
        hdr[1] = 127;

        for (i = 0; i < 8; i++) {
            hdr[2 + i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        }

        k = 10;
    }

    if (masked) {
        hdr[1] |= 0x80;

        /* vary the key, zero bytes included */

        s->key = s->key * 1103515245 + 12345;
        mask[0] = (uint8_t) (s->key >> 8);
        mask[1] = (uint8_t) (s->key >> 16);
        mask[2] = (uint8_t) (s->key >> 24);
        mask[3] = (s->key & 0x100) ? 0 : (uint8_t) (s->key >> 4);

        memcpy(hdr + k, mask, 4);
        k += 4;
    }

    put_raw(s, hdr, k);
    stream_reserve(s, len);
    out = s->p + s->len;

    for (k = 0; k < len; k++) {
        out[k] = ((const uint8_t *) payload)[k];

        if (masked) {
            out[k] ^= mask[k & 3];
        }
    }

    s->len += len;
}


static void
put_frame(stream_t *s, unsigned b0, const void *payload, size_t len)
{
    put_frame_ex(s, b0, 1, payload, len, 0);
}


static void
put_str(stream_t *s, unsigned b0, const char *str)
{
    put_frame(s, b0, str, strlen(str));
}


/* a text message in n frames: a byte of data in each while it lasts */

static void
put_fragments(stream_t *s, const char *data, size_t len, size_t n)
{
    size_t    i, k;
    unsigned  b0;

    for (i = 0; i < n; i++) {
        k = (i < len) ? 1 : 0;
        b0 = (i == 0) ? TEXT : CONT;

        if (i == n - 1) {
            b0 |= FIN;
        }

        put_frame(s, b0, data + (k ? i : 0), k);
    }
}


static void
put_close(stream_t *s, uint16_t code, const char *reason, size_t len)
{
    uint8_t  pl[125];

    pl[0] = (uint8_t) (code >> 8);
    pl[1] = (uint8_t) code;
    memcpy(pl + 2, reason, len);

    put_frame(s, FIN | CLOSE, pl, 2 + len);
}


static void
run_free(run_t *run)
{
    int  i;

    for (i = 0; i < run->n; i++) {
        free(run->ev[i].data);
    }

    run->n = 0;
}


/*
 * Feeds s cut at cuts[0..ncuts) (ascending), each chunk in its own exact
 * malloc'd block so that the sanitizers see any read out of it, and
 * records the events.
 */

static void
run_stream(const stream_t *s, const size_t *cuts, size_t ncuts,
    size_t frame_max, size_t message_max, run_t *run)
{
    size_t                   c, from, to, off, used, left;
    uint8_t                 *chunk;
    rec_t                   *rec;
    ngx_chat_ws_ev_e         rc;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    memset(run, 0, sizeof(run_t));

    if (reader_client) {
        ngx_chat_frame_reader_init_client(&r, frame_max, message_max);

    } else {
        ngx_chat_frame_reader_init(&r, frame_max, message_max);
    }

    from = 0;

    for (c = 0; c <= ncuts; c++) {
        to = (c < ncuts) ? cuts[c] : s->len;

        chunk = malloc(to - from + 1);
        if (chunk == NULL) {
            abort();
        }

        memcpy(chunk, s->p + from, to - from);
        off = 0;

        for ( ;; ) {
            left = to - from - off;
            used = (size_t) -1;

            rc = ngx_chat_frame_reader_feed(&r, chunk + off, left, &used,
                                            &ev);

            if (used > left || rc != ev.type) {
                run->bad++;
                break;
            }

            off += used;

            if (rc == NGX_CHAT_WS_EV_NONE) {
                if (off != to - from) {
                    run->bad++;
                }

                if (reader_renew && ngx_chat_frame_reader_rests(&r)) {
                    ngx_chat_frame_reader_free(&r);
                    memset(&r, 0xa5, sizeof(r));

                    if (reader_client) {
                        ngx_chat_frame_reader_init_client(&r, frame_max,
                                                          message_max);

                    } else {
                        ngx_chat_frame_reader_init(&r, frame_max,
                                                   message_max);
                    }
                }

                break;
            }

            if (run->n == MAX_EVENTS) {
                run->bad++;
                break;
            }

            rec = &run->ev[run->n++];
            rec->type = rc;
            rec->code = ev.code;
            rec->len = ev.len;
            rec->data = malloc(ev.len + 1);

            if (ev.len) {
                memcpy(rec->data, ev.data, ev.len);
            }

            if (rc == EV_ERROR) {
                if (ev.reason == NULL) {
                    run->bad++;
                }

                break;
            }

            if (ev.data == NULL) {
                run->bad++;
            }
        }

        free(chunk);

        if (run->n && run->ev[run->n - 1].type == EV_ERROR) {

            /* the error is sticky */

            rc = ngx_chat_frame_reader_feed(&r, s->p, 0, &used, &ev);

            if (rc != EV_ERROR || used != 0
                || ev.code != run->ev[run->n - 1].code)
            {
                run->bad++;
            }

            break;
        }

        from = to;
    }

    ngx_chat_frame_reader_free(&r);
}


static int
run_equal(const run_t *a, const run_t *b)
{
    int  i;

    if (a->n != b->n || a->bad || b->bad) {
        return 0;
    }

    for (i = 0; i < a->n; i++) {
        if (a->ev[i].type != b->ev[i].type
            || a->ev[i].code != b->ev[i].code
            || a->ev[i].len != b->ev[i].len
            || memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


/* expected events: type, code, data; data NULL means do not compare */

typedef struct {
    int          type;
    uint16_t     code;
    const char  *data;
} want_t;


typedef struct {
    const char  *name;
    stream_t     s;
    size_t       frame_max;
    size_t       message_max;
    want_t       want[8];
    int          nwant;
    const char  *bigdata;   /* expected data of a large message */
    size_t       biglen;
} scenario_t;


static void
check_whole(scenario_t *sc, run_t *run)
{
    int       i;
    size_t    len;
    want_t   *w;
    rec_t    *e;

    UNIT_CHECK(run->bad == 0, "%s: API invariants", sc->name);
    UNIT_CHECK(run->n == sc->nwant, "%s: %d events, expected %d", sc->name,
               run->n, sc->nwant);

    for (i = 0; i < run->n && i < sc->nwant; i++) {
        w = &sc->want[i];
        e = &run->ev[i];

        UNIT_CHECK(e->type == w->type, "%s: event %d type %d, expected %d",
                   sc->name, i, e->type, w->type);

        if (w->type == EV_ERROR || w->type == EV_CLOSE) {
            UNIT_CHECK(e->code == w->code, "%s: event %d code %u, "
                       "expected %u", sc->name, i, e->code, w->code);
        }

        if (w->data) {
            len = strlen(w->data);
            UNIT_CHECK(e->len == len && memcmp(e->data, w->data, len) == 0,
                       "%s: event %d data \"%.*s\", expected \"%s\"",
                       sc->name, i, (int) e->len, e->data, w->data);

        } else if (w->type == EV_MSG && sc->bigdata) {
            UNIT_CHECK(e->len == sc->biglen
                       && memcmp(e->data, sc->bigdata, sc->biglen) == 0,
                       "%s: event %d big data", sc->name, i);
        }
    }
}


static int
cmp_size(const void *a, const void *b)
{
    size_t  x, y;

    x = *(const size_t *) a;
    y = *(const size_t *) b;

    return (x > y) - (x < y);
}


static void
check_splits(scenario_t *sc, const run_t *whole)
{
    int      i, k, bad, nrand;
    size_t   n, len, pos, step, *cuts;
    run_t    run;

    len = sc->s.len;
    cuts = malloc((len + 1) * sizeof(size_t));

    /* byte by byte */

    for (n = 0; n + 1 < len; n++) {
        cuts[n] = n + 1;
    }

    run_stream(&sc->s, cuts, len ? len - 1 : 0, sc->frame_max,
               sc->message_max, &run);
    UNIT_CHECK(run_equal(&run, whole), "%s: byte by byte", sc->name);
    run_free(&run);

    /* every 2-way split (sampled in the middle of long streams) */

    bad = 0;
    step = (len > 4096) ? 997 : 1;

    for (pos = 0; pos <= len; pos++) {
        if (step > 1 && pos > 300 && pos + 300 < len && pos % step) {
            continue;
        }

        cuts[0] = pos;
        run_stream(&sc->s, cuts, 1, sc->frame_max, sc->message_max, &run);

        if (!run_equal(&run, whole)) {
            if (bad++ == 0) {
                fprintf(stderr, "%s: split at %zu differs\n", sc->name, pos);
            }
        }

        run_free(&run);
    }

    UNIT_CHECK(bad == 0, "%s: %d 2-way splits differ", sc->name, bad);

    /* random splits, with empty chunks too */

    bad = 0;
    nrand = 50;

    for (i = 0; i < nrand; i++) {
        k = len ? rand() % (int) (len < 40 ? len : 40) : 0;

        for (n = 0; n < (size_t) k; n++) {
            cuts[n] = (size_t) rand() % (len + 1);
        }

        qsort(cuts, (size_t) k, sizeof(size_t), cmp_size);

        run_stream(&sc->s, cuts, (size_t) k, sc->frame_max,
                   sc->message_max, &run);

        bad += !run_equal(&run, whole);
        run_free(&run);
    }

    UNIT_CHECK(bad == 0, "%s: %d random splits differ", sc->name, bad);

    free(cuts);
}


static void
scenario_run(scenario_t *sc)
{
    run_t  whole;

    if (sc->frame_max == 0) {
        sc->frame_max = 16384;
    }

    if (sc->message_max == 0) {
        sc->message_max = 65536;
    }

    run_stream(&sc->s, NULL, 0, sc->frame_max, sc->message_max, &whole);
    check_whole(sc, &whole);
    check_splits(sc, &whole);
    run_free(&whole);

    free(sc->s.p);
}


#define WANT(t, c, d)                                                         \
    do {                                                                      \
        sc.want[sc.nwant].type = (t);                                         \
        sc.want[sc.nwant].code = (c);                                         \
        sc.want[sc.nwant].data = (d);                                         \
        sc.nwant++;                                                           \
    } while (0)

#define SCENARIO(n)                                                           \
    memset(&sc, 0, sizeof(scenario_t));                                       \
    sc.name = (n)


static void
test_streams(void)
{
    size_t       i;
    uint8_t      hdr[10];
    char        *big, pl[200];
    scenario_t   sc;

    big = malloc(70000);

    for (i = 0; i < 70000; i++) {
        big[i] = (char) ('a' + i % 26);
    }

    SCENARIO("single frame");
    put_str(&sc.s, FIN | TEXT, "Hello");
    WANT(EV_MSG, 0, "Hello");
    scenario_run(&sc);

    SCENARIO("empty text");
    put_str(&sc.s, FIN | TEXT, "");
    put_frame(&sc.s, FIN | PING, NULL, 0);
    put_str(&sc.s, TEXT, "");
    put_str(&sc.s, FIN | CONT, "");
    WANT(EV_MSG, 0, "");
    WANT(EV_PING, 0, "");
    WANT(EV_MSG, 0, "");
    scenario_run(&sc);

    SCENARIO("7-bit length 125");
    put_frame(&sc.s, FIN | TEXT, big, 125);
    WANT(EV_MSG, 0, NULL);
    sc.bigdata = big; sc.biglen = 125;
    scenario_run(&sc);

    SCENARIO("16-bit length 126");
    put_frame(&sc.s, FIN | TEXT, big, 126);
    WANT(EV_MSG, 0, NULL);
    sc.bigdata = big; sc.biglen = 126;
    scenario_run(&sc);

    SCENARIO("16-bit length 65535");
    put_frame(&sc.s, FIN | TEXT, big, 65535);
    WANT(EV_MSG, 0, NULL);
    sc.bigdata = big; sc.biglen = 65535;
    sc.frame_max = 65535;
    sc.message_max = 65535;
    scenario_run(&sc);

    SCENARIO("64-bit length 65536");
    put_frame(&sc.s, FIN | TEXT, big, 65536);
    put_str(&sc.s, FIN | TEXT, "after");
    WANT(EV_MSG, 0, NULL);
    WANT(EV_MSG, 0, "after");
    sc.bigdata = big; sc.biglen = 65536;
    sc.frame_max = 1 << 20;
    sc.message_max = 1 << 20;
    scenario_run(&sc);

    SCENARIO("non-minimal lengths");
    put_frame_ex(&sc.s, FIN | TEXT, 1, "abc", 3, 2);
    put_frame_ex(&sc.s, FIN | TEXT, 1, "defg", 4, 8);
    WANT(EV_MSG, 0, "abc");
    WANT(EV_MSG, 0, "defg");
    scenario_run(&sc);

    SCENARIO("fragmented with control frames between");
    put_str(&sc.s, TEXT, "Hel");
    put_str(&sc.s, FIN | PING, "ping!");
    put_str(&sc.s, CONT, "lo ");
    put_str(&sc.s, FIN | PONG, "");
    put_str(&sc.s, CONT, "");
    put_str(&sc.s, FIN | CONT, "world");
    put_str(&sc.s, FIN | TEXT, "next");
    WANT(EV_PING, 0, "ping!");
    WANT(EV_PONG, 0, "");
    WANT(EV_MSG, 0, "Hello world");
    WANT(EV_MSG, 0, "next");
    scenario_run(&sc);

    SCENARIO("multibyte UTF-8 split across fragments");
    put_str(&sc.s, TEXT, "\xce\xba\xe1");               /* kappa, o.. */
    put_str(&sc.s, CONT, "\xbd");
    put_str(&sc.s, CONT, "\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f");
    put_str(&sc.s, FIN | PING, "x");
    put_str(&sc.s, CONT, "\x98");
    put_str(&sc.s, FIN | CONT, "\x80!");
    WANT(EV_PING, 0, "x");
    WANT(EV_MSG, 0,
         "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80!");
    scenario_run(&sc);

    SCENARIO("close with reason");
    put_str(&sc.s, FIN | TEXT, "bye now");
    put_close(&sc.s, 1000, "d\xc3\xa9j\xc3\xa0 vu", 9);
    WANT(EV_MSG, 0, "bye now");
    WANT(EV_CLOSE, 1000, "d\xc3\xa9j\xc3\xa0 vu");
    scenario_run(&sc);

    SCENARIO("close without payload");
    put_frame(&sc.s, FIN | CLOSE, NULL, 0);
    WANT(EV_CLOSE, 1005, "");
    scenario_run(&sc);

    SCENARIO("control payload of 125");
    memset(pl, 'p', 125);
    put_frame(&sc.s, FIN | PING, pl, 125);
    put_close(&sc.s, 4999, big, 123);
    WANT(EV_PING, 0, NULL);
    WANT(EV_CLOSE, 4999, NULL);
    scenario_run(&sc);

    SCENARIO("invalid UTF-8 across fragments");
    put_str(&sc.s, FIN | TEXT, "ok");
    put_str(&sc.s, TEXT, "abc\xed");
    put_str(&sc.s, FIN | PING, "");
    put_str(&sc.s, FIN | CONT, "\xa0\x80xyz");      /* surrogate */
    WANT(EV_MSG, 0, "ok");
    WANT(EV_PING, 0, "");
    WANT(EV_ERROR, 1007, NULL);
    scenario_run(&sc);

    SCENARIO("invalid UTF-8 fails fast mid-frame");
    memcpy(pl, "abc\xff", 4);
    memset(pl + 4, 'x', 196);
    put_frame(&sc.s, FIN | TEXT, pl, 200);
    sc.s.len -= 100;                    /* the frame never completes */
    WANT(EV_ERROR, 1007, NULL);
    scenario_run(&sc);

    SCENARIO("truncated code point at FIN");
    put_str(&sc.s, TEXT, "abc");
    put_str(&sc.s, FIN | CONT, "\xe2\x82");
    WANT(EV_ERROR, 1007, NULL);
    scenario_run(&sc);

    SCENARIO("truncated code point in a single frame");
    put_str(&sc.s, FIN | TEXT, "\xf0\x9f\x98");
    WANT(EV_ERROR, 1007, NULL);
    scenario_run(&sc);

    SCENARIO("unmasked frame");
    put_str(&sc.s, FIN | TEXT, "a");
    put_frame_ex(&sc.s, FIN | TEXT, 0, "b", 1, 0);
    put_str(&sc.s, FIN | TEXT, "c");
    WANT(EV_MSG, 0, "a");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("binary frame");
    put_frame(&sc.s, FIN | BINARY, "\x01\x02", 2);
    WANT(EV_ERROR, 1003, NULL);
    scenario_run(&sc);

    SCENARIO("binary frame decided at the header");
    put_frame(&sc.s, FIN | BINARY, big, 70000);
    sc.s.len = 2;                       /* only two bytes ever arrive */
    WANT(EV_ERROR, 1003, NULL);
    scenario_run(&sc);

    SCENARIO("frame larger than frame_max");
    put_frame(&sc.s, FIN | TEXT, big, 101);
    WANT(EV_ERROR, 1009, NULL);
    sc.frame_max = 100;
    scenario_run(&sc);

    SCENARIO("frame larger than frame_max decided at the header");
    put_raw(&sc.s, "\x81\xff\x00\x00\x00\x01\x00\x00\x00\x00"
                   "\x01\x02\x03\x04", 14);
    WANT(EV_ERROR, 1009, NULL);
    scenario_run(&sc);

    SCENARIO("message larger than message_max");
    put_frame(&sc.s, TEXT, big, 60);
    put_frame(&sc.s, CONT, big, 40);
    put_frame(&sc.s, FIN | CONT, big, 1);
    WANT(EV_ERROR, 1009, NULL);
    sc.frame_max = 100;
    sc.message_max = 100;
    scenario_run(&sc);

    SCENARIO("message of exactly message_max");
    put_frame(&sc.s, TEXT, big, 60);
    put_frame(&sc.s, FIN | CONT, big + 60, 40);
    put_frame(&sc.s, FIN | TEXT, big, 100);
    WANT(EV_MSG, 0, NULL);
    WANT(EV_MSG, 0, NULL);
    sc.bigdata = big; sc.biglen = 100;
    sc.frame_max = 100;
    sc.message_max = 100;
    scenario_run(&sc);

    /* every frame of a message counts at least one byte of message_max */

    SCENARIO("one-byte fragments up to message_max");
    put_fragments(&sc.s, big, 40, 40);
    WANT(EV_MSG, 0, NULL);
    sc.bigdata = big; sc.biglen = 40;
    sc.frame_max = 40;
    sc.message_max = 40;
    scenario_run(&sc);

    SCENARIO("one-byte fragments past message_max");
    put_fragments(&sc.s, big, 41, 41);
    WANT(EV_ERROR, 1009, NULL);
    sc.frame_max = 40;
    sc.message_max = 40;
    scenario_run(&sc);

    SCENARIO("empty continuations up to message_max");
    put_fragments(&sc.s, "ab", 2, 40);
    put_str(&sc.s, FIN | TEXT, "next");
    WANT(EV_MSG, 0, "ab");
    WANT(EV_MSG, 0, "next");
    sc.frame_max = 40;
    sc.message_max = 40;
    scenario_run(&sc);

    SCENARIO("empty continuations past message_max");
    put_fragments(&sc.s, "", 0, 41);
    WANT(EV_ERROR, 1009, NULL);
    sc.frame_max = 40;
    sc.message_max = 40;
    scenario_run(&sc);

    SCENARIO("the fragment count starts again with each message");
    put_fragments(&sc.s, "m", 1, 40);
    put_fragments(&sc.s, "m", 1, 40);
    put_fragments(&sc.s, "m", 1, 40);
    WANT(EV_MSG, 0, "m");
    WANT(EV_MSG, 0, "m");
    WANT(EV_MSG, 0, "m");
    sc.frame_max = 40;
    sc.message_max = 40;
    scenario_run(&sc);

    SCENARIO("64-bit length with top bit");
    put_raw(&sc.s, "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05"
                   "\x01\x02\x03\x04", 14);
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("continuation without start");
    put_str(&sc.s, FIN | TEXT, "x");
    put_str(&sc.s, FIN | CONT, "y");
    WANT(EV_MSG, 0, "x");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("new text inside a fragmented message");
    put_str(&sc.s, TEXT, "x");
    put_str(&sc.s, FIN | TEXT, "y");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("binary inside a fragmented message");
    put_str(&sc.s, TEXT, "x");
    put_str(&sc.s, FIN | BINARY, "y");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("fragmented control frame");
    put_str(&sc.s, PING, "a");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("control frame of 126");
    memset(pl, 'p', 126);
    put_frame(&sc.s, FIN | PING, pl, 126);
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("close with 1 byte");
    put_frame(&sc.s, FIN | CLOSE, "\x03", 1);
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("close with invalid code");
    put_close(&sc.s, 1005, "", 0);
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("close with invalid UTF-8 reason");
    put_close(&sc.s, 1000, "ab\xc0\xaf", 4);
    WANT(EV_ERROR, 1007, NULL);
    scenario_run(&sc);

    SCENARIO("reserved bits");
    put_str(&sc.s, FIN | 0x40 | TEXT, "x");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    /* a 64-bit length header of the largest legal size */

    SCENARIO("huge 64-bit length");
    i = ngx_chat_frame_header(hdr, TEXT, 0x7fffffffffffffffULL);
    hdr[1] |= 0x80;
    put_raw(&sc.s, hdr, i);
    put_raw(&sc.s, "\x00\x00\x00\x00", 4);
    WANT(EV_ERROR, 1009, NULL);
    scenario_run(&sc);

    free(big);
}


/* where in a stream a reader rests: between messages only */

static void
test_rests(void)
{
    size_t                   used;
    uint8_t                  in[16];
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    ngx_chat_frame_reader_init(&r, 1024, 1024);
    UNIT_CHECK(ngx_chat_frame_reader_rests(&r), "rests: a new reader");

    /* a masked text frame "ab" cut after 1, 4 and 7 of its 8 bytes */
    memcpy(in, "\x81\x82\x00\x00\x00\x00" "ab", 8);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 1, &used, &ev) == NGX_CHAT_WS_EV_NONE
               && !ngx_chat_frame_reader_rests(&r), "rests: half a header");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 1, 3, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && !ngx_chat_frame_reader_rests(&r),
               "rests: half a mask");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 4, 3, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && !ngx_chat_frame_reader_rests(&r),
               "rests: half a payload");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 7, 1, &used, &ev)
               == EV_MSG && ngx_chat_frame_reader_rests(&r),
               "rests: the message delivered");

    /* a first fragment: the message is open */
    memcpy(in, "\x01\x81\x00\x00\x00\x00" "a", 7);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 7, &used, &ev) == NGX_CHAT_WS_EV_NONE
               && used == 7 && !ngx_chat_frame_reader_rests(&r),
               "rests: a fragment begun");

    /* a ping between the fragments, cut in its payload */
    memcpy(in, "\x89\x82\x00\x00\x00\x00pq", 8);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 7, &used, &ev) == NGX_CHAT_WS_EV_NONE
               && !ngx_chat_frame_reader_rests(&r), "rests: half a ping");
    ngx_chat_frame_reader_free(&r);

    /* failed: the error stays */
    ngx_chat_frame_reader_init(&r, 1024, 1024);
    memcpy(in, "\x81\x02" "ab", 4);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 4, &used, &ev) == EV_ERROR
               && !ngx_chat_frame_reader_rests(&r), "rests: failed");
    ngx_chat_frame_reader_free(&r);
}


static void
test_bad_opcodes(void)
{
    unsigned                 op, rsv;
    size_t                   used;
    uint8_t                  in[8];
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    for (op = 0; op < 16; op++) {
        if (op <= BINARY || (op >= CLOSE && op <= PONG)) {
            continue;
        }

        ngx_chat_frame_reader_init(&r, 1024, 1024);
        memcpy(in, "\x80\x80\x00\x00\x00\x00", 6);
        in[0] |= op;

        UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 6, &used, &ev)
                   == EV_ERROR && ev.code == 1002,
                   "opcode %u: code %u", op, ev.code);
        ngx_chat_frame_reader_free(&r);
    }

    for (rsv = 1; rsv < 8; rsv++) {
        ngx_chat_frame_reader_init(&r, 1024, 1024);
        memcpy(in, "\x81\x81\x00\x00\x00\x00x", 7);
        in[0] |= rsv << 4;

        UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, 7, &used, &ev)
                   == EV_ERROR && ev.code == 1002,
                   "rsv %u: code %u", rsv, ev.code);
        ngx_chat_frame_reader_free(&r);
    }
}


static void
test_close_codes(void)
{
    int                      valid;
    size_t                   i, n, used;
    uint8_t                  in[16];
    stream_t                 s;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    static const uint16_t  good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
                                      1009, 1010, 1011, 1012, 1013, 1014,
                                      3000, 3999, 4000, 4999 };
    static const uint16_t  bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
                                     1016, 1100, 2000, 2999, 5000, 65535 };

    for (i = 0; i < sizeof(good) / 2 + sizeof(bad) / 2; i++) {
        valid = i < sizeof(good) / 2;

        memset(&s, 0, sizeof(stream_t));
        put_close(&s, valid ? good[i] : bad[i - sizeof(good) / 2], "r", 1);
        n = s.len;
        memcpy(in, s.p, n);
        free(s.p);

        ngx_chat_frame_reader_init(&r, 1024, 1024);
        ngx_chat_frame_reader_feed(&r, in, n, &used, &ev);

        if (valid) {
            UNIT_CHECK(ev.type == EV_CLOSE && ev.code == good[i]
                       && ev.len == 1 && ev.data[0] == 'r' && used == n,
                       "close code %u accepted", good[i]);
        } else {
            UNIT_CHECK(ev.type == EV_ERROR && ev.code == 1002,
                       "close code %u rejected",
                       bad[i - sizeof(good) / 2]);
        }

        ngx_chat_frame_reader_free(&r);
    }
}


/* zero copy, buffer release, sticky error, *used values */

static void
test_buffers(void)
{
    size_t                   used, half;
    uint8_t                 *in;
    stream_t                 s;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;
    char                     text[3000];

    memset(text, 'z', sizeof(text));
    memset(&s, 0, sizeof(stream_t));

    put_str(&s, FIN | TEXT, "zero copy");
    put_frame(&s, FIN | TEXT, text, sizeof(text));
    put_str(&s, FIN | TEXT, "tail");

    in = malloc(s.len);
    memcpy(in, s.p, s.len);

    ngx_chat_frame_reader_init(&r, 4096, 4096);

    UNIT_CHECK(sizeof(ngx_chat_frame_reader_t) <= 112, "reader is %zu bytes",
               sizeof(ngx_chat_frame_reader_t));

    /* the first message lies whole in the input: delivered in place */

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, s.len, &used, &ev)
               == EV_MSG, "zero copy message");
    UNIT_CHECK(ev.data == in + 6 && ev.len == 9
               && memcmp(ev.data, "zero copy", 9) == 0, "in place");
    UNIT_CHECK(used == 15, "used %zu", used);
    UNIT_CHECK(r.buf == NULL, "no assembly buffer");

    /* the second is split across two feeds: assembled */

    half = 1000;
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 15, half, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == half, "first half");
    UNIT_CHECK(r.buf != NULL && r.buf_cap <= 4096, "assembling, cap %zu",
               r.buf_cap);

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 15 + half,
                                          s.len - 15 - half, &used, &ev)
               == EV_MSG, "assembled message");
    UNIT_CHECK(ev.len == sizeof(text) && ev.data == r.buf
               && memcmp(ev.data, text, sizeof(text)) == 0,
               "assembled data");
    UNIT_CHECK(used == 2 + 2 + 4 + sizeof(text) - half, "used %zu", used);

    half += used;

    /* the next call releases the buffer */

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in + 15 + half,
                                          s.len - 15 - half, &used, &ev)
               == EV_MSG && ev.len == 4, "tail message");
    UNIT_CHECK(r.buf == NULL && r.buf_cap == 0, "buffer released");

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, NULL, 0, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == 0, "empty feed");

    ngx_chat_frame_reader_free(&r);
    free(in);
    free(s.p);

    /* a sticky error, and a buffer freed on error */

    memset(&s, 0, sizeof(stream_t));
    put_str(&s, TEXT, "part");
    put_frame_ex(&s, FIN | CONT, 0, "x", 1, 0);

    ngx_chat_frame_reader_init(&r, 4096, 4096);

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len, &used, &ev)
               == EV_ERROR && ev.code == 1002 && ev.reason != NULL,
               "unmasked continuation");
    UNIT_CHECK(r.buf == NULL, "buffer freed on error");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len, &used, &ev)
               == EV_ERROR && ev.code == 1002 && used == 0, "sticky");

    ngx_chat_frame_reader_free(&r);
    free(s.p);
}


static int  fail_alloc;


static void *
failing_realloc(void *p, size_t size)
{
    if (fail_alloc) {
        return NULL;
    }

    return realloc(p, size);
}


/* feeds in[0..len) one byte a call; returns the last event, or NONE */

static ngx_chat_ws_ev_e
feed_bytes(ngx_chat_frame_reader_t *r, uint8_t *in, size_t len,
    ngx_chat_ws_event_t *ev, int *bad)
{
    size_t            i, used;
    ngx_chat_ws_ev_e  rc;

    rc = NGX_CHAT_WS_EV_NONE;

    for (i = 0; i < len; i++) {
        rc = ngx_chat_frame_reader_feed(r, in + i, 1, &used, ev);

        if (used != 1 || (rc != NGX_CHAT_WS_EV_NONE && i + 1 < len)) {
            (*bad)++;
        }
    }

    return rc;
}


/*
 * A control payload is copied only when it is split across feeds, into a
 * buffer that lives until the next feed.
 */

static void
test_control_buffer(void)
{
    int                      bad;
    char                     pl[125];
    size_t                   used, hdr;
    stream_t                 s;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    memset(pl, 'q', sizeof(pl));
    memset(&s, 0, sizeof(stream_t));

    put_str(&s, TEXT, "frag");                  /* 0: 10 bytes */
    put_frame(&s, FIN | PING, pl, 125);         /* 10: 131 bytes */
    put_close(&s, 1000, "bye", 3);              /* 141: 11 bytes */
    put_str(&s, FIN | CONT, "ment");            /* 152 */

    ngx_chat_frame_reader_init(&r, 1024, 1024);
    bad = 0;

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, 10, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == 10 && r.buf != NULL,
               "first fragment");

    /* a ping of 125 bytes, one byte a feed */

    UNIT_CHECK(feed_bytes(&r, s.p + 10, 130, &ev, &bad)
               == NGX_CHAT_WS_EV_NONE && bad == 0, "ping but its last byte");
    UNIT_CHECK(r.ctl != NULL, "control payload buffered");

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 140, 1, &used, &ev)
               == EV_PING && used == 1 && ev.data == r.ctl && ev.len == 125
               && memcmp(ev.data, pl, 125) == 0, "split ping delivered");

    /* the next feed releases it; the open message is kept */

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 141, 0, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == 0, "empty feed");
    UNIT_CHECK(r.ctl == NULL && r.buf != NULL && r.buf_len == 4,
               "control buffer released, fragment kept");

    /* a close split in two, then the message completes */

    hdr = 6;
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 141, hdr + 2, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == hdr + 2 && r.ctl != NULL,
               "close code buffered");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 149, s.len - 149, &used,
                                          &ev)
               == EV_CLOSE && used == 3 && ev.code == 1000 && ev.len == 3
               && memcmp(ev.data, "bye", 3) == 0, "split close delivered");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 152, s.len - 152, &used,
                                          &ev)
               == EV_MSG && ev.len == 8 && memcmp(ev.data, "fragment", 8) == 0
               && r.ctl == NULL, "message after the close frame");

    ngx_chat_frame_reader_free(&r);

    /* a payload split right after the header: nothing of it came yet */

    ngx_chat_frame_reader_init(&r, 1024, 1024);

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 10, 6, &used, &ev)
               == NGX_CHAT_WS_EV_NONE && used == 6 && r.ctl != NULL,
               "header only");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + 16, 125, &used, &ev)
               == EV_PING && ev.len == 125, "payload in one feed");

    ngx_chat_frame_reader_free(&r);
    UNIT_CHECK(r.ctl == NULL, "freed");
    free(s.p);

    /* allocation failure */

    ngx_chat_frame_realloc = failing_realloc;
    fail_alloc = 1;

    memset(&s, 0, sizeof(stream_t));
    put_str(&s, FIN | PING, "whole");
    put_str(&s, FIN | PING, "split");

    ngx_chat_frame_reader_init(&r, 1024, 1024);

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len - 2, &used, &ev)
               == EV_PING && ev.len == 5, "a whole ping needs no memory");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p + used, s.len - 2 - used,
                                          &used, &ev)
               == EV_ERROR && ev.code == 1011 && r.ctl == NULL,
               "split ping without memory");
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len, &used, &ev)
               == EV_ERROR && ev.code == 1011 && used == 0, "sticky");

    ngx_chat_frame_reader_free(&r);
    free(s.p);

    memset(&s, 0, sizeof(stream_t));
    put_str(&s, TEXT, "fragmented");

    ngx_chat_frame_reader_init(&r, 1024, 1024);

    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len, &used, &ev)
               == EV_ERROR && ev.code == 1011 && r.buf == NULL,
               "message assembly without memory");

    ngx_chat_frame_reader_free(&r);
    free(s.p);

    fail_alloc = 0;
    ngx_chat_frame_realloc = realloc;
}


static void
test_writers(void)
{
    size_t   n, i;
    uint8_t  buf[128];
    char     reason[200];

    n = ngx_chat_frame_header(buf, TEXT, 0);
    UNIT_CHECK(n == 2 && buf[0] == 0x81 && buf[1] == 0, "header 0");

    n = ngx_chat_frame_header(buf, TEXT, 125);
    UNIT_CHECK(n == 2 && buf[0] == 0x81 && buf[1] == 125, "header 125");

    n = ngx_chat_frame_header(buf, TEXT, 126);
    UNIT_CHECK(n == 4 && buf[1] == 126 && buf[2] == 0 && buf[3] == 126,
               "header 126");

    n = ngx_chat_frame_header(buf, PONG, 65535);
    UNIT_CHECK(n == 4 && buf[0] == 0x8a && buf[1] == 126 && buf[2] == 0xff
               && buf[3] == 0xff, "header 65535");

    n = ngx_chat_frame_header(buf, TEXT, 65536);
    UNIT_CHECK(n == 10 && buf[1] == 127
               && memcmp(buf + 2, "\0\0\0\0\0\x01\0\0", 8) == 0,
               "header 65536");

    n = ngx_chat_frame_header(buf, TEXT, 0x0102030405060708ULL);
    UNIT_CHECK(n == 10 && memcmp(buf + 2, "\x01\x02\x03\x04\x05\x06\x07\x08",
                                 8) == 0, "header 64-bit");

    n = ngx_chat_frame_close(buf, 0, "ignored", 7);
    UNIT_CHECK(n == 2 && buf[0] == 0x88 && buf[1] == 0, "close empty");

    n = ngx_chat_frame_close(buf, 1000, NULL, 0);
    UNIT_CHECK(n == 4 && buf[1] == 2 && buf[2] == 0x03 && buf[3] == 0xe8,
               "close 1000");

    n = ngx_chat_frame_close(buf, 4001, "token expired", 13);
    UNIT_CHECK(n == 17 && buf[1] == 15 && buf[2] == 0x0f && buf[3] == 0xa1
               && memcmp(buf + 4, "token expired", 13) == 0, "close 4001");

    /* 123 ASCII bytes fit exactly */

    memset(reason, 'r', sizeof(reason));
    n = ngx_chat_frame_close(buf, 1008, reason, 123);
    UNIT_CHECK(n == 127 && buf[1] == 125, "close reason 123");

    n = ngx_chat_frame_close(buf, 1008, reason, sizeof(reason));
    UNIT_CHECK(n == 127 && buf[1] == 125, "close reason truncated");

    /* 2-byte characters: 61 of them (122 bytes) fit, not the 62nd */

    for (i = 0; i + 1 < sizeof(reason); i += 2) {
        reason[i] = (char) 0xc3;
        reason[i + 1] = (char) 0xa9;
    }

    n = ngx_chat_frame_close(buf, 1008, reason, sizeof(reason));
    UNIT_CHECK(n == 4 + 122 && buf[1] == 124
               && memcmp(buf + 4, reason, 122) == 0,
               "close reason cut on a code point, %zu", n);

    /* 4-byte characters: 30 (120 bytes) fit */

    for (i = 0; i + 3 < sizeof(reason); i += 4) {
        memcpy(reason + i, "\xf0\x9f\x98\x80", 4);
    }

    n = ngx_chat_frame_close(buf, 1001, reason, 200);
    UNIT_CHECK(n == 4 + 120 && buf[1] == 122, "close reason 4-byte cut, %zu",
               n);

    /* what the writer makes, the reader takes (after masking) */

    {
        size_t                   used;
        stream_t                 s;
        ngx_chat_ws_event_t      ev;
        ngx_chat_frame_reader_t  r;

        memset(&s, 0, sizeof(stream_t));
        put_frame(&s, buf[0], buf + 2, n - 2);

        ngx_chat_frame_reader_init(&r, 1024, 1024);
        UNIT_CHECK(ngx_chat_frame_reader_feed(&r, s.p, s.len, &used, &ev)
                   == EV_CLOSE && ev.code == 1001 && ev.len == 120,
                   "written close frame reads back");
        ngx_chat_frame_reader_free(&r);
        free(s.p);
    }
}


/*
 * The client side: the same reader with the masking rule reversed, fed
 * with what the server writer makes; and the client writer read back by
 * the server's reader.
 */

static void
test_client(void)
{
    int                      i;
    char                    *big;
    size_t                   n, used;
    size_t                   lens[] = { 0, 1, 125, 126, 65535, 65536 };
    uint8_t                  hdr[10], mask[4], *out;
    scenario_t               sc;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    big = malloc(70000);

    for (i = 0; i < 70000; i++) {
        big[i] = (char) ('A' + i % 26);
    }

    reader_client = 1;

    SCENARIO("client: server frames");
    put_frame_ex(&sc.s, FIN | TEXT, 0, "{\"type\":\"welcome\"}", 18, 0);
    put_frame_ex(&sc.s, FIN | PING, 0, "p", 1, 0);
    put_frame_ex(&sc.s, TEXT, 0, "ab", 2, 0);
    put_frame_ex(&sc.s, FIN | CONT, 0, "\xc3\xa9", 2, 0);
    put_frame_ex(&sc.s, FIN | CLOSE, 0, "\x03\xe9" "bye", 5, 0);
    WANT(EV_MSG, 0, "{\"type\":\"welcome\"}");
    WANT(EV_PING, 0, "p");
    WANT(EV_MSG, 0, "ab\xc3\xa9");
    WANT(EV_CLOSE, 1001, "bye");
    scenario_run(&sc);

    SCENARIO("client: 64-bit length, then more");
    put_frame_ex(&sc.s, FIN | TEXT, 0, big, 65536, 0);
    put_frame_ex(&sc.s, FIN | TEXT, 0, "next", 4, 0);
    WANT(EV_MSG, 0, NULL);
    WANT(EV_MSG, 0, "next");
    sc.bigdata = big; sc.biglen = 65536;
    sc.frame_max = 1 << 20;
    sc.message_max = 1 << 20;
    scenario_run(&sc);

    SCENARIO("client: a masked frame fails");
    put_frame_ex(&sc.s, FIN | TEXT, 0, "ok", 2, 0);
    put_frame_ex(&sc.s, FIN | TEXT, 1, "masked", 6, 0);
    WANT(EV_MSG, 0, "ok");
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    SCENARIO("client: other rules hold");
    put_frame_ex(&sc.s, FIN | BINARY, 0, "b", 1, 0);
    WANT(EV_ERROR, 1003, NULL);
    scenario_run(&sc);

    SCENARIO("client: frame_max");
    put_frame_ex(&sc.s, FIN | TEXT, 0, big, 200, 0);
    WANT(EV_ERROR, 1009, NULL);
    sc.frame_max = 100;
    scenario_run(&sc);

    reader_client = 0;

    /* the server reader refuses what the client reader takes */

    SCENARIO("server: an unmasked frame still fails");
    put_frame_ex(&sc.s, FIN | TEXT, 0, "x", 1, 0);
    WANT(EV_ERROR, 1002, NULL);
    scenario_run(&sc);

    /* the server writer's header is what the client reader expects */

    n = ngx_chat_frame_header(hdr, TEXT, 5);
    memset(&sc, 0, sizeof(scenario_t));
    put_raw(&sc.s, hdr, n);
    put_raw(&sc.s, "hello", 5);
    ngx_chat_frame_reader_init_client(&r, 1024, 1024);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, sc.s.p, sc.s.len, &used, &ev)
               == EV_MSG && ev.len == 5 && memcmp(ev.data, "hello", 5) == 0
               && used == sc.s.len, "client reads a server-written frame");
    ngx_chat_frame_reader_free(&r);
    free(sc.s.p);

    /* client writer: masked, and the server reader gets the payload back */

    out = malloc(70000 + 14);
    mask[0] = 0x12; mask[1] = 0; mask[2] = 0xff; mask[3] = 0x7e;

    for (i = 0; i < (int) (sizeof(lens) / sizeof(lens[0])); i++) {
        n = ngx_chat_frame_client(out, TEXT, (uint8_t *) big, lens[i], mask);

        UNIT_CHECK(n == lens[i] + 6 + (lens[i] > 125 ? 2 : 0)
                   + (lens[i] > 65535 ? 6 : 0) && (out[1] & 0x80),
                   "client frame of %zu: length %zu, mask bit", lens[i], n);
        UNIT_CHECK(lens[i] < 3 || memcmp(out + n - lens[i], big, 3) != 0,
                   "client frame of %zu: payload masked", lens[i]);

        ngx_chat_frame_reader_init(&r, 1 << 20, 1 << 20);
        UNIT_CHECK(ngx_chat_frame_reader_feed(&r, out, n, &used, &ev)
                   == EV_MSG && used == n && ev.len == lens[i]
                   && (lens[i] == 0 || memcmp(ev.data, big, lens[i]) == 0),
                   "client frame of %zu reads back", lens[i]);
        ngx_chat_frame_reader_free(&r);
    }

    n = ngx_chat_frame_close(hdr, 1000, NULL, 0);
    n = ngx_chat_frame_client(out, CLOSE, hdr + 2, n - 2, mask);
    ngx_chat_frame_reader_init(&r, 1024, 1024);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, out, n, &used, &ev)
               == EV_CLOSE && ev.code == 1000 && used == n,
               "client close frame reads back");
    ngx_chat_frame_reader_free(&r);

    free(out);
    free(big);
}


/*
 * A text frame that ends inside a UTF-8 sequence fails with the same
 * reason whether it arrives whole or byte by byte (found by
 * fuzz/fuzz_frame.c).
 */
/*
 * permessage-deflate: RSV1 only where it was negotiated, and only on the
 * first frame of a text message; such a message comes out as received,
 * flagged, and its bytes are not taken for UTF-8.
 */

static int
feed_deflate(const stream_t *s, size_t step, int deflate, uint8_t *compressed,
    uint16_t *code, uint8_t *data, size_t *len)
{
    int                      msgs;
    size_t                   off, n, used, pos;
    uint8_t                 *copy;
    ngx_chat_ws_ev_e         rc;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    ngx_chat_frame_reader_init(&r, 1024, 1024);

    if (deflate) {
        ngx_chat_frame_reader_deflate(&r);
    }

    copy = malloc(s->len);
    memcpy(copy, s->p, s->len);
    msgs = 0;
    *code = 0;

    for (off = 0; off < s->len; off += n) {
        n = (s->len - off < step) ? s->len - off : step;
        pos = 0;

        for ( ;; ) {
            rc = ngx_chat_frame_reader_feed(&r, copy + off + pos, n - pos,
                                            &used, &ev);
            pos += used;

            if (rc == EV_MSG) {
                msgs++;
                *compressed = ev.compressed;
                memcpy(data, ev.data, ev.len);
                *len = ev.len;
            }

            if (rc == EV_ERROR) {
                *code = ev.code;
                goto done;
            }

            if (rc == NGX_CHAT_WS_EV_NONE) {
                break;
            }
        }
    }

done:

    ngx_chat_frame_reader_free(&r);
    free(copy);

    return msgs;
}


static void
test_deflate_bits(void)
{
    int        msgs;
    size_t     len, step, i;
    uint8_t    comp, data[64];
    uint16_t   code;
    stream_t   s;

    static const size_t  steps[] = { 1, 3, 1000 };
    static uint8_t       big[1025];

    /* a first frame (none if 0), then a frame b0 of len bytes */
    static const struct {
        unsigned     first;
        unsigned     b0;
        size_t       len;
        uint16_t     code;
        const char  *name;
    } bad[] = {
        { 0x40 | TEXT, FIN | 0x40 | CONT, 1, 1002, "RSV1 continuation" },
        { 0, FIN | 0x40 | PING, 1, 1002, "RSV1 ping" },
        { 0, FIN | 0x20 | TEXT, 1, 1002, "RSV2" },
        { 0, FIN | 0x50 | TEXT, 1, 1002, "RSV1 and RSV3" },
        { 0, FIN | 0x40 | BINARY, 1, 1002, "RSV1 binary" },
        /* the limits count compressed bytes */
        { 0, FIN | 0x40 | TEXT, 1025, 1009, "compressed too big" },
    };

    for (step = 0; step < 3; step++) {

        memset(&s, 0, sizeof(stream_t));
        put_frame(&s, FIN | 0x40 | TEXT, "\xff\x00\xc0", 3);

        msgs = feed_deflate(&s, steps[step], 0, &comp, &code, data, &len);
        UNIT_CHECK(msgs == 0 && code == 1002, "RSV1 not negotiated: %u",
                   code);

        msgs = feed_deflate(&s, steps[step], 1, &comp, &code, data, &len);
        UNIT_CHECK(msgs == 1 && code == 0 && comp == 1 && len == 3
                   && memcmp(data, "\xff\x00\xc0", 3) == 0,
                   "RSV1 negotiated: not UTF-8 checked, step %zu",
                   steps[step]);

        /* a plain message after a compressed one is not flagged */
        put_str(&s, FIN | TEXT, "ok");
        msgs = feed_deflate(&s, steps[step], 1, &comp, &code, data, &len);
        UNIT_CHECK(msgs == 2 && comp == 0 && len == 2, "then plain");

        /* fragments: RSV1 on the first, the whole message flagged */
        free(s.p);
        memset(&s, 0, sizeof(stream_t));
        put_frame(&s, 0x40 | TEXT, "\xc3", 1);
        put_frame(&s, CONT, "\xff", 1);
        put_frame(&s, FIN | CONT, "z", 1);
        msgs = feed_deflate(&s, steps[step], 1, &comp, &code, data, &len);
        UNIT_CHECK(msgs == 1 && comp == 1 && len == 3
                   && memcmp(data, "\xc3\xffz", 3) == 0, "fragmented");

        /* each stream closes with its code */
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            free(s.p);
            memset(&s, 0, sizeof(stream_t));

            if (bad[i].first) {
                put_frame(&s, bad[i].first, "a", 1);
            }

            put_frame(&s, bad[i].b0, big, bad[i].len);
            msgs = feed_deflate(&s, steps[step], 1, &comp, &code, data, &len);
            UNIT_CHECK(msgs == 0 && code == bad[i].code, "%s: %u",
                       bad[i].name, code);
        }

        free(s.p);
    }
}


static void
test_truncated_reason(void)
{
    size_t                   i, used;
    uint8_t                  in[5];
    const char              *whole;
    ngx_chat_ws_event_t      ev;
    ngx_chat_frame_reader_t  r;

    static const uint8_t     frame[5] = { 0x81, 0x03, 'a', 'b', 0xe0 };

    memcpy(in, frame, sizeof(in));
    ngx_chat_frame_reader_init_client(&r, 1000, 1000);
    UNIT_CHECK(ngx_chat_frame_reader_feed(&r, in, sizeof(in), &used, &ev)
               == NGX_CHAT_WS_EV_ERROR && ev.code == 1007,
               "truncated whole: 1007");
    whole = ev.reason;
    ngx_chat_frame_reader_free(&r);

    memcpy(in, frame, sizeof(in));
    ngx_chat_frame_reader_init_client(&r, 1000, 1000);

    for (i = 0; i < sizeof(in); i++) {
        if (ngx_chat_frame_reader_feed(&r, in + i, 1, &used, &ev)
            != NGX_CHAT_WS_EV_NONE)
        {
            break;
        }
    }

    UNIT_CHECK(ev.type == NGX_CHAT_WS_EV_ERROR && ev.code == 1007
               && whole != NULL && ev.reason != NULL
               && strcmp(whole, ev.reason) == 0
               && strcmp(whole, "truncated UTF-8 in text") == 0,
               "truncated: the same reason, whole (%s) or bytewise (%s)",
               whole ? whole : "-", ev.reason ? ev.reason : "-");
    ngx_chat_frame_reader_free(&r);
}



/* limits above 4 GiB are taken as 4 GiB, not cut to their low bits */
static void
test_limits_clamped(void)
{
    ngx_chat_frame_reader_t  r;

    ngx_chat_frame_reader_init(&r, (size_t) 1 << 32, ((size_t) 1 << 33) + 5);
    UNIT_CHECK(r.frame_max == UINT32_MAX && r.message_max == UINT32_MAX,
               "clamped: %u %u", r.frame_max, r.message_max);

    ngx_chat_frame_reader_init(&r, 1024, UINT32_MAX - 1);
    UNIT_CHECK(r.frame_max == 1024 && r.message_max == UINT32_MAX - 1,
               "kept: %u %u", r.frame_max, r.message_max);
}

int
main(void)
{
    srand(4242);

    test_streams();
    test_bad_opcodes();
    test_close_codes();
    test_buffers();
    test_control_buffer();
    test_writers();
    test_client();
    test_truncated_reason();
    test_deflate_bits();
    test_limits_clamped();
    test_rests();

    /* every split again, the reader renewed wherever it rests */
    reader_renew = 1;
    test_streams();
    test_client();
    reader_renew = 0;

    return UNIT_DONE();
}
