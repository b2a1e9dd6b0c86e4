/*
 * Unit tests of the request rates (src/core/ngx_chat_limit.c).
 */

#include "unit.h"
#include "ngx_chat_limit.h"


static int
rate(const char *s, ngx_chat_limit_t *lim)
{
    const char  *err;

    return ngx_chat_limit_parse_rate(s, strlen(s), lim, &err);
}


static int
burst(const char *s, ngx_chat_limit_t *lim)
{
    const char  *err;

    return ngx_chat_limit_parse_burst(s, strlen(s), lim, &err);
}


static void
test_parse(void)
{
    size_t             i;
    ngx_chat_limit_t   lim;
    static const char *bad_rates[] = {
        "", "r/s", "0r/s", "20", "20r", "20r/", "20r/h", "20 r/s", "-1r/s",
        "20R/s", "1000001r/s", "99999999r/s", "x20r/s", "20r/ss", "2.5r/s",
        "10r/0s", "10r/3601s", "10r/-5s", "10r/5", "10r/5h", "10r/ 5s"
    };
    static const char *bad_bursts[] = {
        "", "burst", "burst=", "burst=-1", "burst=1000001", "burst=1x",
        "bursts=1", "Burst=1", "100", "burst=99999999"
    };

    UNIT_CHECK(rate("20r/s", &lim) == 0 && lim.interval == 50000,
               "20r/s is 50 ms");
    UNIT_CHECK(rate("10r/m", &lim) == 0 && lim.interval == 6000000,
               "10r/m is 6 s");
    UNIT_CHECK(rate("1r/m", &lim) == 0 && lim.interval == 60000000,
               "1r/m is 60 s");
    UNIT_CHECK(rate("3r/s", &lim) == 0 && lim.interval == 333333,
               "3r/s");
    UNIT_CHECK(rate("1000000r/s", &lim) == 0 && lim.interval == 1,
               "the fastest rate is 1 us");
    UNIT_CHECK(rate("10r/5s", &lim) == 0 && lim.interval == 500000,
               "10r/5s is 500 ms");
    UNIT_CHECK(rate("1r/2m", &lim) == 0 && lim.interval == 120000000,
               "1r/2m is 120 s");
    UNIT_CHECK(rate("10r/1s", &lim) == 0 && lim.interval == 100000,
               "10r/1s is 10r/s");

    for (i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++) {
        UNIT_CHECK(rate(bad_rates[i], &lim) == -1, "rate \"%s\"",
                   bad_rates[i]);
    }

    UNIT_CHECK(burst("burst=0", &lim) == 0 && lim.burst == 0, "burst=0");
    UNIT_CHECK(burst("burst=100", &lim) == 0 && lim.burst == 100,
               "burst=100");
    UNIT_CHECK(burst("burst=1000000", &lim) == 0 && lim.burst == 1000000,
               "burst=1000000");

    for (i = 0; i < sizeof(bad_bursts) / sizeof(bad_bursts[0]); i++) {
        UNIT_CHECK(burst(bad_bursts[i], &lim) == -1, "burst \"%s\"",
                   bad_bursts[i]);
    }
}


static void
test_take(void)
{
    int               i, passed;
    uint64_t          tat, now, wait;
    ngx_chat_limit_t  lim;

    /* 10r/s burst=4: 5 at once, then one every 100 ms */
    lim.interval = 100000;
    lim.burst = 4;
    tat = 0;
    now = 5000000000ULL;

    for (i = 0; i < 5; i++) {
        UNIT_CHECK(ngx_chat_limit_take(&tat, now, &lim) == 0,
                   "request %d of the burst passes", i);
    }

    wait = ngx_chat_limit_take(&tat, now, &lim);
    UNIT_CHECK(wait == 100000, "the 6th waits 100 ms, not %llu",
               (unsigned long long) wait);
    UNIT_CHECK(ngx_chat_limit_take(&tat, now, &lim) == wait,
               "a refused request does not move the state");

    UNIT_CHECK(ngx_chat_limit_take(&tat, now + 99999, &lim) == 1,
               "1 us early");
    UNIT_CHECK(ngx_chat_limit_take(&tat, now + 100000, &lim) == 0,
               "on time");
    UNIT_CHECK(ngx_chat_limit_take(&tat, now + 100000, &lim) == 100000,
               "and the next one waits again");

    /* an idle second refills the whole burst, no more */
    now += 10000000;
    passed = 0;

    for (i = 0; i < 10; i++) {
        passed += ngx_chat_limit_take(&tat, now, &lim) == 0;
    }

    UNIT_CHECK(passed == 5, "after idling, burst + 1 pass: %d", passed);

    /* steady at the rate: every request passes */
    passed = 0;

    for (i = 1; i <= 100; i++) {
        passed += ngx_chat_limit_take(&tat, now + i * 100000, &lim) == 0;
    }

    UNIT_CHECK(passed >= 95, "at the rate, requests pass: %d", passed);

    /* burst 0: one, then one per interval */
    lim.burst = 0;
    tat = 0;
    UNIT_CHECK(ngx_chat_limit_take(&tat, 7, &lim) == 0, "burst 0: first");
    UNIT_CHECK(ngx_chat_limit_take(&tat, 7, &lim) == 100000,
               "burst 0: second waits");

    /* no limit */
    lim.interval = 0;
    tat = 0;

    for (i = 0; i < 1000; i++) {
        UNIT_CHECK(ngx_chat_limit_take(&tat, 1, &lim) == 0, "off");
    }

    UNIT_CHECK(ngx_chat_limit_seconds(1) == 1, "1 us is 1 s");
    UNIT_CHECK(ngx_chat_limit_seconds(0) == 1, "at least 1 s");
    UNIT_CHECK(ngx_chat_limit_seconds(1000000) == 1, "1 s");
    UNIT_CHECK(ngx_chat_limit_seconds(1000001) == 2, "rounded up");
    UNIT_CHECK(ngx_chat_limit_seconds(60000000) == 60, "60 s");
}


int
main(void)
{
    test_parse();
    test_take();

    return UNIT_DONE();
}
