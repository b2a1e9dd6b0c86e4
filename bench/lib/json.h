/*
 * The few top-level members of a JSON object the benchmark programs read
 * (type, id, room, body, code), as raw spans into the text: no decoding,
 * no allocation.
 */

#ifndef BENCH_JSON_H
#define BENCH_JSON_H

#include <stddef.h>


typedef struct {
    unsigned char      *p;              /* NULL: absent */
    size_t              len;
    int                 str;            /* a string: p, len inside quotes */
} json_span_t;


int json_scan(unsigned char *p, size_t len, const char *const *keys,
    size_t nkeys, json_span_t *v);
int json_span_is(const json_span_t *s, const char *lit, size_t n);


#endif /* BENCH_JSON_H */
