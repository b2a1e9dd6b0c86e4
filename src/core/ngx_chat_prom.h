/*
 * The Prometheus text exposition format (version 0.0.4): families with
 * their HELP and TYPE lines, samples with labels, histograms.  Knows
 * nothing of nginx so that unit tests drive it directly.
 */

#ifndef _NGX_CHAT_PROM_H_INCLUDED_
#define _NGX_CHAT_PROM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* a growing text; failed once an allocation failed */
typedef struct {
    char        *data;
    size_t       len;
    size_t       cap;
    int          failed;
} ngx_chat_prom_t;


/* a histogram's buckets: bound[i] in units of 1 / scale (scale 10^k) */
typedef struct {
    const uint64_t  *bound;
    size_t           n;
    uint64_t         scale;
} ngx_chat_prom_buckets_t;


void ngx_chat_prom_init(ngx_chat_prom_t *p);
void ngx_chat_prom_free(ngx_chat_prom_t *p);

/* "# HELP" and "# TYPE" of a family: "counter", "gauge", "histogram" */
void ngx_chat_prom_family(ngx_chat_prom_t *p, const char *name,
    const char *type, const char *help);

/*
 * A sample "name{k="v",...} value": labels holds nlabels pairs of name
 * and value (label values are escaped); none: no braces.
 */
void ngx_chat_prom_sample(ngx_chat_prom_t *p, const char *name,
    const char *const *labels, size_t nlabels, uint64_t value);

/*
 * The samples of a histogram: counts[i] observations in bucket i (not
 * cumulative; counts[n] above the last bound), sum in units of 1 / scale.
 * The _bucket lines are cumulative, +Inf equals _count.
 */
void ngx_chat_prom_histogram(ngx_chat_prom_t *p, const char *name,
    const ngx_chat_prom_buckets_t *b, const uint64_t *counts,
    uint64_t sum);

/* the bucket of value (in the buckets' units): 0 .. b->n */
size_t ngx_chat_prom_bucket(const ngx_chat_prom_buckets_t *b,
    uint64_t value);


#endif /* _NGX_CHAT_PROM_H_INCLUDED_ */
