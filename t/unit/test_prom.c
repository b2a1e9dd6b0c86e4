/*
 * Unit tests of the exposition format writer (src/core/ngx_chat_prom.c).
 */

#include "unit.h"
#include "ngx_chat_prom.h"


static int
text_is(ngx_chat_prom_t *p, const char *want)
{
    return !p->failed && p->len == strlen(want)
           && memcmp(p->data, want, p->len) == 0;
}


static void
test_family(void)
{
    ngx_chat_prom_t      p;
    static const char   *labels[] = { "reason", "bad\"x\\y\nz", "via", "ws" };

    ngx_chat_prom_init(&p);
    ngx_chat_prom_family(&p, "ngx_chat_x_total", "counter",
                         "a \\ back\nslash \"quoted\"");
    ngx_chat_prom_sample(&p, "ngx_chat_x_total", NULL, 0, 0);
    ngx_chat_prom_sample(&p, "ngx_chat_x_total", labels, 2,
                         18446744073709551615ULL);

    UNIT_CHECK(text_is(&p,
        "# HELP ngx_chat_x_total a \\\\ back\\nslash \"quoted\"\n"
        "# TYPE ngx_chat_x_total counter\n"
        "ngx_chat_x_total 0\n"
        "ngx_chat_x_total{reason=\"bad\\\"x\\\\y\\nz\",via=\"ws\"} "
        "18446744073709551615\n"),
        "family, escapes and labels: %.*s", (int) p.len, p.data);

    ngx_chat_prom_free(&p);
    UNIT_CHECK(p.data == NULL && p.len == 0, "freed");
}


static void
test_histogram(void)
{
    ngx_chat_prom_t                 p;
    static const uint64_t           us[] = { 1000, 2500, 1000000, 10000000 };
    static const uint64_t           n[] = { 1, 5, 100 };
    static const uint64_t           counts[] = { 2, 0, 3, 1, 4 };
    static const uint64_t           none[] = { 0, 0, 0, 0 };
    static const ngx_chat_prom_buckets_t  lat = { us, 4, 1000000 };
    static const ngx_chat_prom_buckets_t  size = { n, 3, 1 };

    ngx_chat_prom_init(&p);
    ngx_chat_prom_histogram(&p, "h", &lat, counts, 12345678);

    UNIT_CHECK(text_is(&p,
        "h_bucket{le=\"0.001\"} 2\n"
        "h_bucket{le=\"0.0025\"} 2\n"
        "h_bucket{le=\"1\"} 5\n"
        "h_bucket{le=\"10\"} 6\n"
        "h_bucket{le=\"+Inf\"} 10\n"
        "h_sum 12.345678\n"
        "h_count 10\n"),
        "cumulative buckets in seconds: %.*s", (int) p.len, p.data);

    ngx_chat_prom_free(&p);

    ngx_chat_prom_init(&p);
    ngx_chat_prom_histogram(&p, "b", &size, none, 0);

    UNIT_CHECK(text_is(&p,
        "b_bucket{le=\"1\"} 0\n"
        "b_bucket{le=\"5\"} 0\n"
        "b_bucket{le=\"100\"} 0\n"
        "b_bucket{le=\"+Inf\"} 0\n"
        "b_sum 0\n"
        "b_count 0\n"),
        "an empty histogram in plain units: %.*s", (int) p.len, p.data);

    ngx_chat_prom_free(&p);

    UNIT_CHECK(ngx_chat_prom_bucket(&lat, 0) == 0, "0 in the first");
    UNIT_CHECK(ngx_chat_prom_bucket(&lat, 1000) == 0, "a bound is its own");
    UNIT_CHECK(ngx_chat_prom_bucket(&lat, 1001) == 1, "past a bound");
    UNIT_CHECK(ngx_chat_prom_bucket(&lat, 10000001) == 4, "above all: +Inf");
    UNIT_CHECK(ngx_chat_prom_bucket(&size, 100) == 2, "the last bound");
}


static void
test_growth(void)
{
    size_t           i;
    ngx_chat_prom_t  p;

    ngx_chat_prom_init(&p);

    for (i = 0; i < 1000; i++) {
        ngx_chat_prom_sample(&p, "ngx_chat_some_rather_long_metric_name",
                             NULL, 0, i);
    }

    UNIT_CHECK(!p.failed && p.len > 4096 && p.cap >= p.len,
               "grows past its first block: %zu", p.len);
    UNIT_CHECK(memcmp(p.data + p.len - 5, " 999\n", 5) == 0, "last line");

    ngx_chat_prom_free(&p);
}


int
main(void)
{
    test_family();
    test_histogram();
    test_growth();

    return UNIT_DONE();
}
