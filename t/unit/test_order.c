/*
 * Unit tests of ordered delivery (src/core/ngx_chat_order.c): each
 * decision alone, then a room driven through shuffled, repeated and lost
 * events, which must deliver every rev once, in order.
 */

#include <stdlib.h>

#include "unit.h"
#include "ngx_chat_order.h"


static void
test_arrive(void)
{
    ngx_chat_order_t  o;

    memset(&o, 0, sizeof(o));
    o.logged = 1;

    UNIT_CHECK(ngx_chat_order_arrive(&o, 1) == NGX_CHAT_ORDER_HOLD,
               "an opening room holds");

    o.ready = 1;
    o.delivered = 5;

    UNIT_CHECK(ngx_chat_order_arrive(&o, 6) == NGX_CHAT_ORDER_DELIVER,
               "the next rev is delivered");
    UNIT_CHECK(ngx_chat_order_arrive(&o, 5) == NGX_CHAT_ORDER_DUPLICATE,
               "the last rev again is a duplicate");
    UNIT_CHECK(ngx_chat_order_arrive(&o, 1) == NGX_CHAT_ORDER_DUPLICATE,
               "an old rev is a duplicate");
    UNIT_CHECK(ngx_chat_order_arrive(&o, 7) == NGX_CHAT_ORDER_GAP,
               "a rev after a gap waits for it");

    o.logged = 0;
    o.ready = 0;

    UNIT_CHECK(ngx_chat_order_arrive(&o, 7) == NGX_CHAT_ORDER_DELIVER
               && ngx_chat_order_arrive(&o, 3) == NGX_CHAT_ORDER_DELIVER,
               "without a log, every event is shown as it comes");
}


static void
test_expect_fill(void)
{
    ngx_chat_order_t  o;

    memset(&o, 0, sizeof(o));
    o.logged = 1;
    o.ready = 1;
    o.delivered = 10;

    UNIT_CHECK(ngx_chat_order_expect(&o, 10) == 0 && o.expected == 0,
               "a log at the room's rev: nothing to wait for");
    UNIT_CHECK(!ngx_chat_order_must_fill(&o, 0), "nothing to fill");
    UNIT_CHECK(ngx_chat_order_must_fill(&o, 1), "held events: fill");

    UNIT_CHECK(ngx_chat_order_expect(&o, 12) == 1 && o.expected == 12,
               "a log ahead: wait, then fill");
    UNIT_CHECK(ngx_chat_order_expect(&o, 11) == 1 && o.expected == 12,
               "expected never goes back");
    UNIT_CHECK(ngx_chat_order_must_fill(&o, 0), "behind the log: fill");

    o.delivered = 12;
    UNIT_CHECK(!ngx_chat_order_must_fill(&o, 0),
               "what the log had came meanwhile");

    o.ready = 0;
    UNIT_CHECK(ngx_chat_order_expect(&o, 20) == 0 && o.expected == 20,
               "an opening room notes the log, waits for nothing yet");

    o.logged = 0;
    o.ready = 1;
    UNIT_CHECK(ngx_chat_order_expect(&o, 30) == 0
               && !ngx_chat_order_must_fill(&o, 3),
               "without a log nothing is filled");
}


static void
test_join(void)
{
    UNIT_CHECK(ngx_chat_order_join_target(5, 3, -1) == 5,
               "the room ahead of its check");
    UNIT_CHECK(ngx_chat_order_join_target(3, 5, -1) == 5,
               "the log ahead of the room");
    UNIT_CHECK(ngx_chat_order_join_target(3, 5, 9) == 9,
               "a client ahead of both");
    UNIT_CHECK(ngx_chat_order_join_target(3, 5, 4) == 5,
               "a client behind");
    UNIT_CHECK(ngx_chat_order_join_target(0, 0, 0) == 0, "an empty room");

    UNIT_CHECK(ngx_chat_order_member_takes(5, 6)
               && !ngx_chat_order_member_takes(5, 5)
               && !ngx_chat_order_member_takes(5, 1)
               && ngx_chat_order_member_takes(5, 0),
               "a member takes what is after its replay, and ephemerals");
}


#define N  2000

/*
 * A room fed the revs 1..N shuffled a little (as two workers publish),
 * some twice, some never (a lost publish): it holds what comes early,
 * fills from the log what never comes, and delivers 1..N once each.
 */
static void
test_room(unsigned seed)
{
    int               i, j, k, nin, held[N + 1], nheld, ok;
    int64_t           in[2 * N], out[N + 1], nout, t, top;
    ngx_chat_order_t  o;

    srand(seed);
    nin = 0;

    for (i = 1; i <= N; i++) {
        if (rand() % 20 == 0) {
            continue;                       /* lost */
        }

        in[nin++] = i;

        if (rand() % 10 == 0) {
            in[nin++] = i;                  /* came back through Redis */
        }
    }

    for (i = 0; i < nin; i++) {             /* a few places out of order */
        j = i + rand() % 4;

        if (j < nin) {
            t = in[i];
            in[i] = in[j];
            in[j] = t;
        }
    }

    memset(&o, 0, sizeof(o));
    memset(held, 0, sizeof(held));
    o.logged = 1;
    o.ready = 1;
    nheld = 0;
    nout = 0;
    top = 0;
    ok = 1;

    for (i = 0; i <= nin; i++) {
        if (i == nin) {
            /* the last publish is lost too: the sync learns of N */
            ngx_chat_order_expect(&o, N);
        }

        switch (i < nin ? ngx_chat_order_arrive(&o, in[i])
                        : NGX_CHAT_ORDER_HOLD)
        {
        case NGX_CHAT_ORDER_DELIVER:
            out[nout++] = in[i];
            o.delivered = in[i];
            break;

        case NGX_CHAT_ORDER_GAP:
            nheld += !held[in[i]];
            held[in[i]] = 1;
            break;

        default:
            break;
        }

        /* held ones that follow now */
        while (o.delivered < N && held[o.delivered + 1]) {
            held[++o.delivered] = 0;
            nheld--;
            out[nout++] = o.delivered;
        }

        /*
         * the gap wait is over at the end, or after a long hold: the log
         * is read from what was delivered up to what it holds (what
         * arrived so far, or what the sync saw)
         */
        if (i < nin && in[i] > top) {
            top = in[i];
        }

        if ((i == nin || nheld > 8) && ngx_chat_order_must_fill(&o, nheld)) {
            for (k = o.delivered + 1; k <= top || k <= o.expected; k++) {
                if (ngx_chat_order_arrive(&o, k) != NGX_CHAT_ORDER_DELIVER) {
                    ok = 0;
                    break;
                }

                held[k] = 0;
                out[nout++] = k;
                o.delivered = k;
            }

            nheld = 0;
        }
    }

    UNIT_CHECK(ok, "seed %u: a fill reads on from what was delivered", seed);
    UNIT_CHECK(nout == N, "seed %u: %lld delivered of %d", seed,
               (long long) nout, N);

    for (i = 0; i < nout && i < N; i++) {
        if (out[i] != i + 1) {
            break;
        }
    }

    UNIT_CHECK(i == N, "seed %u: every rev once, in order (first wrong at %d)",
               seed, i);
    UNIT_CHECK(!ngx_chat_order_must_fill(&o, 0), "seed %u: nothing left",
               seed);
}


int
main(void)
{
    unsigned  seed;

    test_arrive();
    test_expect_fill();
    test_join();

    for (seed = 1; seed <= 20; seed++) {
        test_room(seed);
    }

    return UNIT_DONE();
}
