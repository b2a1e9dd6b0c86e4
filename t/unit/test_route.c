/*
 * Unit tests of src/core/ngx_chat_route.c: REST route patterns, query
 * arguments, percent-decoding and integer arguments.
 */

#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "ngx_chat_route.h"


#define S(s)  s, sizeof(s) - 1


static int
match(const char *pattern, const char *path, ngx_chat_route_caps_t *c)
{
    return ngx_chat_route_match(pattern, path, strlen(path), c);
}


static int
cap_is(const char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}


static void
test_match(void)
{
    ngx_chat_route_caps_t  c;

    UNIT_CHECK(match("health", "health", &c) && c.room == NULL
               && c.seq == 0, "health");
    UNIT_CHECK(!match("health", "healthz", &c), "healthz");
    UNIT_CHECK(!match("health", "health/", &c), "trailing slash");
    UNIT_CHECK(!match("health", "", &c), "empty path");
    UNIT_CHECK(!match("rooms", "rooms/x", &c), "longer path");
    UNIT_CHECK(!match("rooms/{room}", "rooms", &c), "shorter path");
    UNIT_CHECK(match("rooms/{room}", "rooms/lobby", &c)
               && cap_is(c.room, c.room_len, "lobby"), "room capture");
    UNIT_CHECK(!match("rooms/{room}", "rooms//", &c), "empty segment");
    UNIT_CHECK(match("rooms/{room}/members/{user}",
                     "rooms/a:b/members/bob", &c)
               && cap_is(c.room, c.room_len, "a:b")
               && cap_is(c.user, c.user_len, "bob"), "room and user");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}", "rooms/r/messages/42",
                     &c) && c.seq == 42, "seq");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}", "rooms/r/messages/0",
                     &c) && c.seq == -1, "seq 0 matches, invalid");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}", "rooms/r/messages/-3",
                     &c) && c.seq == -1, "negative seq");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}", "rooms/r/messages/4x",
                     &c) && c.seq == -1, "seq with a letter");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}",
                     "rooms/r/messages/9223372036854775807", &c)
               && c.seq == INT64_MAX, "seq INT64_MAX");
    UNIT_CHECK(match("rooms/{room}/messages/{seq}",
                     "rooms/r/messages/9223372036854775808", &c)
               && c.seq == -1, "seq over INT64_MAX");
    UNIT_CHECK(!match("rooms/{room}/read", "rooms/r/reads", &c),
               "other last segment");
    UNIT_CHECK(!match("auth/login", "Auth/login", &c), "case matters");
}


static int
arg(const char *args, const char *name, const char *want)
{
    size_t       len;
    const char  *v;

    if (!ngx_chat_query_arg(args, strlen(args), name, strlen(name), &v,
                            &len))
    {
        return want == NULL;
    }

    return want != NULL && cap_is(v, len, want);
}


static void
test_query(void)
{
    UNIT_CHECK(arg("", "q", NULL), "empty query");
    UNIT_CHECK(arg("q=hi", "q", "hi"), "one");
    UNIT_CHECK(arg("a=1&q=hi&b=2", "q", "hi"), "middle");
    UNIT_CHECK(arg("a=1&q=", "q", ""), "empty value at the end");
    UNIT_CHECK(arg("a=1&q", "q", NULL), "no = at the end");
    UNIT_CHECK(arg("aq=1", "q", NULL), "suffix of another name");
    UNIT_CHECK(arg("qq=1&q=2", "q", "2"), "prefix of another name");
    UNIT_CHECK(arg("Q=3", "q", "3"), "name case-insensitive");
    UNIT_CHECK(arg("limit=5&limit=6", "limit", "5"), "the first");
    UNIT_CHECK(arg("x=q=1", "q", NULL), "inside a value");
    UNIT_CHECK(arg("before=10&", "before", "10"), "trailing &");
}


static int
unesc(const char *in, const char *want)
{
    char    out[64];
    size_t  len;

    if (ngx_chat_unescape(in, strlen(in), out, &len) != 0) {
        return want == NULL;
    }

    return want != NULL && len == strlen(want)
           && memcmp(out, want, len) == 0;
}


static void
test_unescape(void)
{
    char    out[4];
    size_t  len;

    UNIT_CHECK(unesc("abc", "abc"), "plain");
    UNIT_CHECK(unesc("a%20b", "a b"), "space");
    UNIT_CHECK(unesc("%3a%3A", "::"), "hex case");
    UNIT_CHECK(unesc("a+b", "a+b"), "plus kept");
    UNIT_CHECK(unesc("%", NULL), "lone percent sign");
    UNIT_CHECK(unesc("%4", NULL), "one digit");
    UNIT_CHECK(unesc("%4g", NULL), "not hex");
    UNIT_CHECK(unesc("%zz%20", NULL), "bad then good");
    UNIT_CHECK(ngx_chat_unescape(S("%00"), out, &len) == 0 && len == 1
               && out[0] == '\0', "NUL");
}


static void
test_int(void)
{
    int64_t  v;

    v = 7;
    UNIT_CHECK(ngx_chat_parse_int(S("0"), 0, 10, &v) == 0 && v == 0, "0");
    UNIT_CHECK(ngx_chat_parse_int(S("200"), 1, 200, &v) == 0 && v == 200,
               "max");
    UNIT_CHECK(ngx_chat_parse_int(S("201"), 1, 200, &v) == -1, "over max");
    UNIT_CHECK(ngx_chat_parse_int(S("0"), 1, 200, &v) == -1, "under min");
    UNIT_CHECK(ngx_chat_parse_int(S(""), 0, 10, &v) == -1, "empty");
    UNIT_CHECK(ngx_chat_parse_int(S("-1"), -5, 10, &v) == -1, "sign");
    UNIT_CHECK(ngx_chat_parse_int(S(" 1"), 0, 10, &v) == -1, "space");
    UNIT_CHECK(ngx_chat_parse_int(S("9223372036854775807"), 0, INT64_MAX,
                                  &v) == 0 && v == INT64_MAX, "INT64_MAX");
    UNIT_CHECK(ngx_chat_parse_int(S("9223372036854775808"), 0, INT64_MAX,
                                  &v) == -1, "overflow");
    UNIT_CHECK(ngx_chat_parse_int(S("00000000000000000000001"), 0, 10, &v)
               == 0 && v == 1, "leading zeros");
}


int
main(void)
{
    test_match();
    test_query();
    test_unescape();
    test_int();

    return UNIT_DONE();
}
