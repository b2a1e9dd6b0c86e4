/*
 * Flat JSON objects: what is read without jansson, with which values, and
 * what is left to jansson (refused, the text untouched).
 */

#include <string.h>

#include "unit.h"
#include "ngx_chat_flat.h"


/* rc of ngx_chat_flat_parse() on a copy of text; the copy in *copy */
static int
parse(const char *text, ngx_chat_flat_t *obj, char **copy)
{
    int     rc;
    char   *buf;
    size_t  len;

    len = strlen(text);
    buf = malloc(len + 1);
    memcpy(buf, text, len + 1);

    rc = ngx_chat_flat_parse(buf, len, obj);

    if (rc == 0) {
        UNIT_CHECK(memcmp(buf, text, len) == 0, "refused, untouched: %s",
                   text);
    }

    if (copy) {
        *copy = buf;

    } else {
        free(buf);
    }

    return rc;
}


/* the member name of obj: of type t, and of value i if an integer */
static void
expect(ngx_chat_flat_t *obj, const char *name, ngx_chat_flat_type_e t,
    long long i)
{
    ngx_chat_flat_value_t  v;

    ngx_chat_flat_get(obj, NULL, name, &v);

    UNIT_CHECK(v.type == t, "\"%s\": type %d, not %d", name, (int) v.type,
               (int) t);

    if (t == NGX_CHAT_FLAT_INTEGER) {
        UNIT_CHECK(v.integer == i, "\"%s\": %lld, not %lld", name, v.integer,
                   i);
    }
}


static void
test_read(void)
{
    char                   *buf;
    ngx_chat_flat_t         obj;
    ngx_chat_flat_value_t   v;

    UNIT_CHECK(parse("{\"type\":\"join\",\"id\":1,\"room\":\"ab-i0\"}", &obj,
                     &buf) == 1, "a join frame");
    UNIT_CHECK(obj.n == 3, "3 members: %zu", obj.n);

    ngx_chat_flat_get(&obj, NULL, "room", &v);
    UNIT_CHECK(v.type == NGX_CHAT_FLAT_STRING && v.len == 5
               && strcmp(v.str, "ab-i0") == 0, "room, NUL-terminated");

    ngx_chat_flat_get(&obj, NULL, "type", &v);
    UNIT_CHECK(v.type == NGX_CHAT_FLAT_STRING && strcmp(v.str, "join") == 0,
               "type, NUL-terminated over its quote");

    expect(&obj, "id", NGX_CHAT_FLAT_INTEGER, 1);
    expect(&obj, "since", NGX_CHAT_FLAT_ABSENT, 0);
    expect(&obj, "roo", NGX_CHAT_FLAT_ABSENT, 0);     /* a prefix */

    free(buf);

    UNIT_CHECK(parse(" {\t\"a\" : -0 ,\"b\":true,\"c\":false,\"d\":null,"
                     "\"e\":\"\",\"\":-123456789012345678}\r\n", &obj, &buf)
               == 1, "white space, literals, empty strings and names");

    expect(&obj, "a", NGX_CHAT_FLAT_INTEGER, 0);
    expect(&obj, "b", NGX_CHAT_FLAT_TRUE, 0);
    expect(&obj, "c", NGX_CHAT_FLAT_FALSE, 0);
    expect(&obj, "d", NGX_CHAT_FLAT_NULL, 0);
    expect(&obj, "", NGX_CHAT_FLAT_INTEGER, -123456789012345678LL);

    ngx_chat_flat_get(&obj, NULL, "e", &v);
    UNIT_CHECK(v.type == NGX_CHAT_FLAT_STRING && v.len == 0
               && v.str[0] == '\0', "empty string");

    free(buf);

    UNIT_CHECK(parse("{}", &obj, NULL) == 1 && obj.n == 0, "empty object");
    UNIT_CHECK(parse("{\"a\":\"x\\x7f~ \"}", &obj, NULL) == 0,
               "an escape: jansson's");
    UNIT_CHECK(parse("{\"a\":\"\x7f\"}", &obj, NULL) == 1, "DEL is text");
}


static void
test_refused(void)
{
    size_t           i;
    ngx_chat_flat_t  obj;

    static const char  *no[] = {
        "",
        " ",
        "[1]",
        "\"a\"",
        "1",
        "{",
        "{\"a\"}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,\"a\":1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":2,\"a\":\"x\"}",
        "{\"a\":\"\\u0041\"}",
        "{\"a\\\"\":1}",
        "{\"a\":\"\xc3\xa9\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\t\"}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":-01}",
        "{\"a\":+1}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":1E3}",
        "{\"a\":1234567890123456789}",
        "{\"a\":tru}",
        "{\"a\":True}",
        "{\"a\":nul}",
        "{\"a\":{}}",
        "{\"a\":[]}",
        "{\"a\":\"unterminated}",
        "{\"a\":1 \"b\":2}",
        "{'a':1}",
        "{\"1\":1,\"2\":2,\"3\":3,\"4\":4,\"5\":5,\"6\":6,\"7\":7,\"8\":8,"
        "\"9\":9,\"10\":10,\"11\":11,\"12\":12,\"13\":13,\"14\":14,\"15\":15,"
        "\"16\":16,\"17\":17}"
    };

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        UNIT_CHECK(parse(no[i], &obj, NULL) == 0, "refused: %s", no[i]);
    }

    UNIT_CHECK(parse("{\"1\":1,\"2\":2,\"3\":3,\"4\":4,\"5\":5,\"6\":6,"
                     "\"7\":7,\"8\":8,\"9\":9,\"10\":10,\"11\":11,\"12\":12,"
                     "\"13\":13,\"14\":14,\"15\":15,\"16\":16}", &obj, NULL)
               == 1 && obj.n == NGX_CHAT_FLAT_MAX, "16 members read");
}


int
main(void)
{
    test_read();
    test_refused();

    return UNIT_DONE();
}
