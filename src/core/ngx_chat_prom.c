/*
 * The Prometheus text exposition format, version 0.0.4.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_chat_prom.h"


#define NGX_CHAT_PROM_NUM_LEN  48


static void ngx_chat_prom_put(ngx_chat_prom_t *p, const char *s, size_t len);
static void ngx_chat_prom_puts(ngx_chat_prom_t *p, const char *s);
static void ngx_chat_prom_escaped(ngx_chat_prom_t *p, const char *s,
    int quote);
static void ngx_chat_prom_uint(ngx_chat_prom_t *p, uint64_t v);
static void ngx_chat_prom_scaled(ngx_chat_prom_t *p, uint64_t v,
    uint64_t scale);


void
ngx_chat_prom_init(ngx_chat_prom_t *p)
{
    p->data = NULL;
    p->len = 0;
    p->cap = 0;
    p->failed = 0;
}


void
ngx_chat_prom_free(ngx_chat_prom_t *p)
{
    free(p->data);
    ngx_chat_prom_init(p);
}


void
ngx_chat_prom_family(ngx_chat_prom_t *p, const char *name, const char *type,
    const char *help)
{
    ngx_chat_prom_puts(p, "# HELP ");
    ngx_chat_prom_puts(p, name);
    ngx_chat_prom_put(p, " ", 1);
    ngx_chat_prom_escaped(p, help, 0);
    ngx_chat_prom_puts(p, "\n# TYPE ");
    ngx_chat_prom_puts(p, name);
    ngx_chat_prom_put(p, " ", 1);
    ngx_chat_prom_puts(p, type);
    ngx_chat_prom_put(p, "\n", 1);
}


void
ngx_chat_prom_sample(ngx_chat_prom_t *p, const char *name,
    const char *const *labels, size_t nlabels, uint64_t value)
{
    size_t  i;

    ngx_chat_prom_puts(p, name);

    for (i = 0; i < nlabels; i++) {
        ngx_chat_prom_put(p, i ? "," : "{", 1);
        ngx_chat_prom_puts(p, labels[2 * i]);
        ngx_chat_prom_put(p, "=\"", 2);
        ngx_chat_prom_escaped(p, labels[2 * i + 1], 1);
        ngx_chat_prom_put(p, "\"", 1);
    }

    ngx_chat_prom_puts(p, nlabels ? "} " : " ");
    ngx_chat_prom_uint(p, value);
    ngx_chat_prom_put(p, "\n", 1);
}


void
ngx_chat_prom_histogram(ngx_chat_prom_t *p, const char *name,
    const ngx_chat_prom_buckets_t *b, const uint64_t *counts, uint64_t sum)
{
    size_t    i;
    uint64_t  total;

    total = 0;

    for (i = 0; i <= b->n; i++) {
        total += counts[i];

        ngx_chat_prom_puts(p, name);
        ngx_chat_prom_puts(p, "_bucket{le=\"");

        if (i < b->n) {
            ngx_chat_prom_scaled(p, b->bound[i], b->scale);

        } else {
            ngx_chat_prom_puts(p, "+Inf");
        }

        ngx_chat_prom_puts(p, "\"} ");
        ngx_chat_prom_uint(p, total);
        ngx_chat_prom_put(p, "\n", 1);
    }

    ngx_chat_prom_puts(p, name);
    ngx_chat_prom_puts(p, "_sum ");
    ngx_chat_prom_scaled(p, sum, b->scale);
    ngx_chat_prom_put(p, "\n", 1);

    ngx_chat_prom_puts(p, name);
    ngx_chat_prom_puts(p, "_count ");
    ngx_chat_prom_uint(p, total);
    ngx_chat_prom_put(p, "\n", 1);
}


size_t
ngx_chat_prom_bucket(const ngx_chat_prom_buckets_t *b, uint64_t value)
{
    size_t  i;

    for (i = 0; i < b->n; i++) {
        if (value <= b->bound[i]) {
            break;
        }
    }

    return i;
}


static void
ngx_chat_prom_put(ngx_chat_prom_t *p, const char *s, size_t len)
{
    char    *data;
    size_t   cap;

    if (p->failed) {
        return;
    }

    if (p->len + len > p->cap) {
        cap = p->cap ? p->cap : 4096;

        while (cap < p->len + len) {
            cap *= 2;
        }

        data = realloc(p->data, cap);
        if (data == NULL) {
            p->failed = 1;
            return;
        }

        p->data = data;
        p->cap = cap;
    }

    memcpy(p->data + p->len, s, len);
    p->len += len;
}


static void
ngx_chat_prom_puts(ngx_chat_prom_t *p, const char *s)
{
    ngx_chat_prom_put(p, s, strlen(s));
}


/* HELP text escapes \ and newline; a label value also " */
static void
ngx_chat_prom_escaped(ngx_chat_prom_t *p, const char *s, int quote)
{
    const char  *start;

    for (start = s; *s; s++) {
        if (*s != '\\' && *s != '\n' && !(quote && *s == '"')) {
            continue;
        }

        ngx_chat_prom_put(p, start, s - start);
        ngx_chat_prom_put(p, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\",
                          2);
        start = s + 1;
    }

    ngx_chat_prom_put(p, start, s - start);
}


static void
ngx_chat_prom_uint(ngx_chat_prom_t *p, uint64_t v)
{
    int   n;
    char  buf[NGX_CHAT_PROM_NUM_LEN];

    n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
    ngx_chat_prom_put(p, buf, n);
}


/* v / scale in decimal, without trailing zeros: 2500 / 1000000 "0.0025" */
static void
ngx_chat_prom_scaled(ngx_chat_prom_t *p, uint64_t v, uint64_t scale)
{
    int        n, digits;
    char       buf[NGX_CHAT_PROM_NUM_LEN];
    uint64_t   s;

    if (scale <= 1) {
        ngx_chat_prom_uint(p, v);
        return;
    }

    for (digits = 0, s = scale; s > 1; s /= 10) {
        digits++;
    }

    n = snprintf(buf, sizeof(buf), "%llu.%0*llu",
                 (unsigned long long) (v / scale), digits,
                 (unsigned long long) (v % scale));

    while (buf[n - 1] == '0') {
        n--;
    }

    if (buf[n - 1] == '.') {
        n--;
    }

    ngx_chat_prom_put(p, buf, n);
}
