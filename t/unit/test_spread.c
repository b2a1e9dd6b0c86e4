/*
 * Unit tests of the spread (src/core/ngx_chat_spread.c): the slices of
 * an exiting worker's sessions after a reload.
 */

#include "unit.h"
#include "ngx_chat_spread.h"


typedef struct {
    uint64_t  slices;       /* ticks that did something */
    uint64_t  most;         /* the largest slice */
    uint64_t  least;        /* the smallest slice but 0 */
    int64_t   first;        /* ms of the first slice */
    int64_t   last;         /* ms of the last */
} spread_t;


/*
 * n things over window ms, a tick every tick ms, each tick late by late
 * ms, and gone by themselves: one every "gone" ticks (0: none).
 */
static void
run(uint64_t n, int64_t window, int64_t tick, int64_t late, uint64_t gone,
    spread_t *sp)
{
    int64_t   now;
    uint64_t  left, k, i;

    sp->slices = 0;
    sp->most = 0;
    sp->least = n;
    sp->first = -1;
    sp->last = 0;

    for (left = n, now = tick + late, i = 1; left; now += tick + late, i++) {
        if (gone && i % gone == 0) {
            left--;
            continue;
        }

        k = ngx_chat_spread_slice(left, n, window - now, window);

        UNIT_CHECK(k <= left, "slice %llu of %llu at %lld",
                   (unsigned long long) k, (unsigned long long) left,
                   (long long) now);
        UNIT_CHECK(now <= window + tick + late, "%llu left at %lld",
                   (unsigned long long) left, (long long) now);
        if (k > left || now > window + tick + late) {
            return;
        }

        if (k == 0) {
            continue;
        }

        left -= k;
        sp->slices++;
        sp->most = k > sp->most ? k : sp->most;
        sp->least = k < sp->least ? k : sp->least;
        sp->first = sp->first < 0 ? now : sp->first;
        sp->last = now;
    }
}


static void
test_even(void)
{
    spread_t  sp;

    /* 1000 over 2 s, a tick every 100 ms: 20 slices of 50 */
    run(1000, 2000, 100, 0, 0, &sp);
    UNIT_CHECK(sp.slices == 20, "%llu slices", (unsigned long long) sp.slices);
    UNIT_CHECK(sp.most == 50 && sp.least == 50, "slices of %llu to %llu",
               (unsigned long long) sp.least, (unsigned long long) sp.most);
    UNIT_CHECK(sp.last == 2000, "the last at %lld ms", (long long) sp.last);

    /* uneven: slices differ by one at most */
    run(1013, 5000, 100, 0, 0, &sp);
    UNIT_CHECK(sp.slices == 50, "%llu slices", (unsigned long long) sp.slices);
    UNIT_CHECK(sp.most - sp.least <= 1, "slices of %llu to %llu",
               (unsigned long long) sp.least, (unsigned long long) sp.most);
    UNIT_CHECK(sp.last == 5000, "the last at %lld ms", (long long) sp.last);

    /* fewer than ticks: one at a time, over the whole window */
    run(7, 2000, 100, 0, 0, &sp);
    UNIT_CHECK(sp.slices == 7 && sp.most == 1, "%llu slices, most %llu",
               (unsigned long long) sp.slices, (unsigned long long) sp.most);
    UNIT_CHECK(sp.first <= 300 && sp.last >= 1700, "from %lld to %lld ms",
               (long long) sp.first, (long long) sp.last);

    /* one thing: half-way, not at once */
    run(1, 2000, 100, 0, 0, &sp);
    UNIT_CHECK(sp.slices == 1 && sp.first >= 900 && sp.first <= 1100,
               "at %lld ms", (long long) sp.first);
}


static void
test_late(void)
{
    spread_t  sp;

    /* ticks 30 ms late: fewer slices, each its time's share (65) */
    run(1000, 2000, 100, 30, 0, &sp);
    UNIT_CHECK(sp.last <= 2000 + 130, "the last at %lld ms",
               (long long) sp.last);
    UNIT_CHECK(sp.slices >= 15, "%llu slices", (unsigned long long) sp.slices);
    UNIT_CHECK(sp.most <= 66, "slices of %llu to %llu",
               (unsigned long long) sp.least, (unsigned long long) sp.most);
}


static void
test_gone(void)
{
    spread_t  sp;

    /*
     * 20 over 2 s, one of them going by itself every other tick: those
     * count, the spread closes the others, none more than one a tick
     */
    run(20, 2000, 100, 0, 2, &sp);
    UNIT_CHECK(sp.most == 1, "most %llu", (unsigned long long) sp.most);
    UNIT_CHECK(sp.slices <= 10, "%llu slices", (unsigned long long) sp.slices);
}


static void
test_edges(void)
{
    /* at or past the end: everything */
    UNIT_CHECK(ngx_chat_spread_slice(500, 500, 0, 2000) == 500, "at the end");
    UNIT_CHECK(ngx_chat_spread_slice(500, 500, -40, 2000) == 500, "past it");

    /* no window: everything at once */
    UNIT_CHECK(ngx_chat_spread_slice(500, 500, 1000, 0) == 500, "no window");

    /* nothing left */
    UNIT_CHECK(ngx_chat_spread_slice(0, 500, 1000, 2000) == 0, "nothing");

    /* more than at the start (late handshakes): those above the line */
    UNIT_CHECK(ngx_chat_spread_slice(260, 500, 1000, 2000) == 10,
               "late ones");

    /* the line at the start: nothing yet, whatever the clock says */
    UNIT_CHECK(ngx_chat_spread_slice(500, 500, 3000, 2000) == 0,
               "before the window");

    /* a large count over a long window does not overflow */
    UNIT_CHECK(ngx_chat_spread_slice(1000000, 1000000, 1800000, 3600000)
               == 500000, "a large spread");
}


int
main(void)
{
    test_even();
    test_late();
    test_gone();
    test_edges();

    return UNIT_DONE();
}
