/*
 * The room table: lookup, growth, membership lists, held events and the
 * pending buffer that puts out-of-order events back in seq order.
 */

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ngx_chat_room.h"
#include "unit.h"


static ngx_chat_buf_t *
ev(int64_t seq)
{
    char             text[32];
    ngx_chat_buf_t  *b;

    snprintf(text, sizeof(text), "{\"seq\":%lld}", (long long) seq);
    b = ngx_chat_buf_text_frame(text, strlen(text), seq);

    return b;
}


static void
count_room(ngx_chat_room_t *room, void *arg)
{
    (void) room;
    (*(size_t *) arg)++;
}


static void
test_table(void)
{
    char                    id[32], longest[64];
    size_t                  i, n;
    ngx_chat_room_t        *r, *a, *b;
    ngx_chat_room_table_t   t;

    UNIT_CHECK(ngx_chat_room_table_init(&t, 4, 0) == 0, "init");

    a = ngx_chat_room_add(&t, "alpha", 5);
    b = ngx_chat_room_add(&t, "beta", 4);
    UNIT_CHECK(a && b && a != b, "add");
    UNIT_CHECK(ngx_chat_room_find(&t, "alpha", 5) == a, "find alpha");
    UNIT_CHECK(ngx_chat_room_find(&t, "alph", 4) == NULL, "prefix");
    UNIT_CHECK(ngx_chat_room_find(&t, "alphax", 6) == NULL, "longer");
    UNIT_CHECK(a->gen != b->gen, "generations differ");
    UNIT_CHECK(ngx_chat_room_add(&t, "", 0) == NULL, "empty id");
    UNIT_CHECK(ngx_chat_room_add(&t, id, 65) == NULL, "65-byte id");
    UNIT_CHECK(a->id_len == 5 && strcmp(a->id, "alpha") == 0,
               "id kept, NUL-terminated");
    memset(longest, 'x', sizeof(longest));
    r = ngx_chat_room_add(&t, longest, 64);
    UNIT_CHECK(r && r->id[64] == '\0' && memcmp(r->id, longest, 64) == 0
               && ngx_chat_room_find(&t, longest, 64) == r, "64-byte id");
    if (r) {
        ngx_chat_room_delete(&t, r);
    }

    /* growth keeps every room reachable */
    for (i = 0; i < 1000; i++) {
        n = snprintf(id, sizeof(id), "room-%zu", i);
        UNIT_CHECK(ngx_chat_room_add(&t, id, n) != NULL, "add %zu", i);
    }

    UNIT_CHECK(t.nbuckets > 4, "grew to %zu buckets", t.nbuckets);
    UNIT_CHECK(t.count == 1002, "count %zu", t.count);

    for (i = 0; i < 1000; i++) {
        n = snprintf(id, sizeof(id), "room-%zu", i);
        r = ngx_chat_room_find(&t, id, n);
        UNIT_CHECK(r && r->id_len == n && memcmp(r->id, id, n) == 0,
                   "find %zu", i);
    }

    n = 0;
    ngx_chat_room_each(&t, count_room, &n);
    UNIT_CHECK(n == 1002, "each visits %zu", n);

    ngx_chat_room_delete(&t, a);
    UNIT_CHECK(ngx_chat_room_find(&t, "alpha", 5) == NULL, "deleted");
    UNIT_CHECK(ngx_chat_room_find(&t, "beta", 4) == b, "others stay");
    UNIT_CHECK(t.count == 1001, "count after delete %zu", t.count);
    UNIT_CHECK(b->data == NULL, "no data without data_size");

    ngx_chat_room_table_free(&t);

    /* the caller's state comes with the room: aligned, zeroed, its own */
    UNIT_CHECK(ngx_chat_room_table_init(&t, 4, 40) == 0, "init with data");

    for (i = 1; i <= 64; i++) {
        memset(longest, 'a' + i % 26, i);
        r = ngx_chat_room_add(&t, longest, i);
        UNIT_CHECK(r && r->data && ((uintptr_t) r->data & 7) == 0
                   && (char *) r->data >= r->id + i + 1,
                   "data of a %zu-byte id", i);
        if (r == NULL || r->data == NULL) {
            continue;
        }
        for (n = 0; n < 40 && ((char *) r->data)[n] == 0; n++) { /* void */ }
        UNIT_CHECK(n == 40, "data zeroed");
        memset(r->data, 0xff, 40);
        UNIT_CHECK(r->id[i] == '\0' && r->id_len == i, "id intact");
    }

    ngx_chat_room_table_free(&t);
}


static void
test_members(void)
{
    int                     s1, s2, s3;
    ngx_chat_room_t        *r;
    ngx_chat_member_t       m1, m2, m3, *m;
    ngx_chat_held_t         h;
    ngx_chat_room_table_t   t;
    ngx_chat_buf_t         *b;

    ngx_chat_room_table_init(&t, 8, 0);
    r = ngx_chat_room_add(&t, "r", 1);

    memset(&m1, 0, sizeof(m1));
    memset(&m2, 0, sizeof(m2));
    memset(&m3, 0, sizeof(m3));
    m1.session = &s1;
    m2.session = &s2;
    m3.session = &s3;

    ngx_chat_room_link(r, &m1);
    ngx_chat_room_link(r, &m2);
    ngx_chat_room_link(r, &m3);
    UNIT_CHECK(r->nmembers == 3, "three members");

    ngx_chat_room_unlink(&m2);
    UNIT_CHECK(r->nmembers == 2 && m2.room == NULL, "middle unlinked");

    for (m = r->members; m; m = m->next) {
        UNIT_CHECK(m != &m2, "m2 gone from the list");
    }

    ngx_chat_room_unlink(&m3);
    ngx_chat_room_unlink(&m1);
    UNIT_CHECK(r->nmembers == 0 && r->members == NULL, "empty");
    ngx_chat_room_unlink(&m1);
    UNIT_CHECK(r->nmembers == 0, "unlinking twice is harmless");

    /* held events keep a reference each */
    memset(&h, 0, sizeof(h));
    b = ev(5);
    UNIT_CHECK(ngx_chat_held_add(&h, b) == 0, "hold");
    UNIT_CHECK(ngx_chat_held_add(&h, b) == 0, "hold again");
    UNIT_CHECK(b->refs == 3 && h.n == 2, "refs %u", b->refs);
    UNIT_CHECK(h.bytes == 2 * (size_t) b->len, "held bytes %zu", h.bytes);
    ngx_chat_held_free(&h);
    UNIT_CHECK(b->refs == 1 && h.bufs == NULL && h.bytes == 0,
               "released");
    ngx_chat_buf_unref(b);

    ngx_chat_room_table_free(&t);
}


static void
test_pending(void)
{
    int64_t                 order[] = { 5, 3, 4, 9, 2, 3, 7, 1, 8, 6 };
    size_t                  i;
    int64_t                 expect;
    ngx_chat_buf_t         *b;
    ngx_chat_room_t        *r;
    ngx_chat_room_table_t   t;

    ngx_chat_room_table_init(&t, 8, 0);
    r = ngx_chat_room_add(&t, "r", 1);
    r->delivered = 0;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        b = ev(order[i]);
        (void) ngx_chat_room_pending_add(r, b);
        ngx_chat_buf_unref(b);
    }

    UNIT_CHECK(r->npending == 9, "duplicate 3 kept once: %u", r->npending);

    for (i = 1; i < r->npending; i++) {
        UNIT_CHECK(r->pending[i - 1]->rev < r->pending[i]->rev,
                   "ascending at %zu", i);
    }

    expect = 1;

    while ((b = ngx_chat_room_pending_next(r)) != NULL) {
        UNIT_CHECK(b->rev == expect, "next %lld, expected %lld",
                   (long long) b->rev, (long long) expect);
        r->delivered = b->rev;
        ngx_chat_buf_unref(b);
        expect++;
    }

    UNIT_CHECK(expect == 10 && r->npending == 0, "all ten out in order");
    UNIT_CHECK(r->pending == NULL && r->pending_cap == 0,
               "an empty list is freed");

    /* a gap stops the drain; what was delivered meanwhile is dropped */
    b = ev(12);
    UNIT_CHECK(ngx_chat_room_pending_add(r, b) == 1, "12 pending");
    ngx_chat_buf_unref(b);
    b = ev(11);
    ngx_chat_room_pending_add(r, b);
    ngx_chat_buf_unref(b);
    UNIT_CHECK(ngx_chat_room_pending_next(r) == NULL, "gap at 10");

    b = ev(9);
    UNIT_CHECK(ngx_chat_room_pending_add(r, b) == 0, "old seq ignored");
    ngx_chat_buf_unref(b);

    r->delivered = 11;          /* 10 and 11 came from the store */
    b = ngx_chat_room_pending_next(r);
    UNIT_CHECK(b && b->rev == 12, "12 follows after the gap fill");
    if (b) {
        ngx_chat_buf_unref(b);
    }

    UNIT_CHECK(r->npending == 0, "nothing left");

    b = ev(20);
    ngx_chat_room_pending_add(r, b);
    ngx_chat_buf_unref(b);
    ngx_chat_room_pending_clear(r);
    UNIT_CHECK(r->npending == 0 && r->pending == NULL, "cleared and freed");

    /* a room that was freed takes events again */
    b = ev(13);
    UNIT_CHECK(ngx_chat_room_pending_add(r, b) == 1 && r->npending == 1,
               "pending again after a free");
    ngx_chat_buf_unref(b);
    ngx_chat_room_pending_clear(r);

    ngx_chat_room_table_free(&t);
}


static void
test_frames(void)
{
    char             big[70000];
    ngx_chat_buf_t  *b;

    b = ngx_chat_buf_text_frame("hi", 2, 3);
    UNIT_CHECK(b->len == 4 && b->data[0] == 0x81 && b->data[1] == 2
               && memcmp(b->data + 2, "hi", 2) == 0 && b->rev == 3,
               "small text frame");
    ngx_chat_buf_unref(b);

    memset(big, 'x', sizeof(big));
    b = ngx_chat_buf_text_frame(big, 300, 0);
    UNIT_CHECK(b->len == 304 && b->data[1] == 126
               && b->data[2] == 1 && b->data[3] == 44, "16-bit length");
    ngx_chat_buf_unref(b);

    b = ngx_chat_buf_text_frame(big, sizeof(big), 0);
    UNIT_CHECK(b->len == sizeof(big) + 10 && b->data[1] == 127,
               "64-bit length");
    ngx_chat_buf_unref(b);
}


int
main(void)
{
    test_table();
    test_members();
    test_pending();
    test_frames();

    return UNIT_DONE();
}
