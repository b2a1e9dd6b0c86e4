/*
 * Flat JSON objects (src/core/ngx_chat_flat.c) on client text: whatever
 * it reads, jansson (as the decoder and the JWT check call it) reads to
 * the same object: the same members, of the same types and values, and
 * the strings it hands out are NUL-terminated where they end.  What it
 * refuses is left untouched.
 */

#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ngx_chat_flat.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc;
    char                    *buf, name[64];
    size_t                   i;
    json_t                  *root, *v;
    ngx_chat_flat_t          obj;
    ngx_chat_flat_value_t    got;
    ngx_chat_flat_member_t  *m;

    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    root = memchr(buf, '\0', size) ? NULL
           : json_loadb(buf, size, JSON_REJECT_DUPLICATES, NULL);

    rc = ngx_chat_flat_parse(buf, size, &obj);

    if (rc == 0) {
        FUZZ_CHECK(size == 0 || memcmp(buf, data, size) == 0,
                   "a refused text was changed");
        goto done;
    }

    FUZZ_CHECK(rc == 1, "rc is 0 or 1");
    FUZZ_CHECK(root != NULL && json_is_object(root),
               "read a text jansson refuses");
    FUZZ_CHECK(obj.n == json_object_size(root), "members differ in number");

    for (i = 0; i < obj.n; i++) {
        m = &obj.member[i];

        FUZZ_CHECK(m->name >= buf && m->name + m->name_len <= buf + size,
                   "a name outside the text");

        v = json_object_getn(root, m->name, m->name_len);
        FUZZ_CHECK(v != NULL, "a member jansson does not have");

        ngx_chat_flat_from_tree(v, &got);
        FUZZ_CHECK(got.type == m->value.type, "types differ");

        switch (got.type) {

        case NGX_CHAT_FLAT_STRING:
            FUZZ_CHECK(got.len == m->value.len
                       && memcmp(got.str, m->value.str, got.len) == 0,
                       "strings differ");
            FUZZ_CHECK(m->value.str[m->value.len] == '\0',
                       "a string not NUL-terminated");
            FUZZ_CHECK(memchr(m->value.str, '\0', m->value.len) == NULL,
                       "a NUL inside a string");
            break;

        case NGX_CHAT_FLAT_INTEGER:
            FUZZ_CHECK(got.integer == m->value.integer, "integers differ");
            break;

        default:
            break;
        }

        /* the callers' lookup by name finds this very member */
        if (m->name_len < sizeof(name)) {
            memcpy(name, m->name, m->name_len);
            name[m->name_len] = '\0';

            ngx_chat_flat_get(&obj, NULL, name, &got);
            FUZZ_CHECK(got.type == m->value.type && got.str == m->value.str
                       && got.integer == m->value.integer,
                       "the lookup by name finds another member");
        }
    }

    ngx_chat_flat_get(&obj, NULL, "no such member \x7f", &got);
    FUZZ_CHECK(got.type == NGX_CHAT_FLAT_ABSENT
               || json_object_get(root, "no such member \x7f") != NULL,
               "an absent member found");

done:

    json_decref(root);
    free(buf);

    return 0;
}
