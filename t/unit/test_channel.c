/*
 * Unit tests of src/core/ngx_chat_channel.c: the payload of an event on a
 * room's Redis channel, and of a change on the users' control channel.
 */

#include <string.h>

#include "unit.h"
#include "ngx_chat_channel.h"


static int
parse(const char *s, ngx_chat_channel_event_t *ev)
{
    return ngx_chat_channel_parse(s, strlen(s), ev);
}


static int
control(const char *s, ngx_chat_channel_control_t *c)
{
    return ngx_chat_channel_control_parse(s, strlen(s), c);
}


static int
arg_is(ngx_chat_channel_control_t *c, const char *s)
{
    return c->arg_len == strlen(s) && memcmp(c->arg, s, c->arg_len) == 0;
}


static void
test_control(void)
{
    ngx_chat_channel_control_t  c;

    UNIT_CHECK(control("R alice 1767139200", &c) == 0 && c.op == 'R'
               && c.user_len == 5 && memcmp(c.user, "alice", 5) == 0
               && c.n == 1767139200, "revoked");
    UNIT_CHECK(control("J bob a b c", &c) == 0 && c.op == 'J'
               && c.user_len == 3 && arg_is(&c, "a b c"),
               "jti: the rest of the payload");
    UNIT_CHECK(control("S bob 4f2a", &c) == 0 && c.op == 'S'
               && arg_is(&c, "4f2a"), "session");
    UNIT_CHECK(control("B bob 0", &c) == 0 && c.op == 'B' && c.n == 0,
               "banned until lifted");
    UNIT_CHECK(control("B bob 1767139200123", &c) == 0
               && c.n == 1767139200123LL, "banned until");
    UNIT_CHECK(control("U bob", &c) == 0 && c.op == 'U' && c.user_len == 3,
               "unbanned");
    UNIT_CHECK(control("B bob 9223372036854775807", &c) == 0
               && c.n == INT64_MAX, "largest");

    UNIT_CHECK(control("", &c) == -1, "empty");
    UNIT_CHECK(control("R", &c) == -1, "op only");
    UNIT_CHECK(control("R ", &c) == -1, "no user");
    UNIT_CHECK(control("Ralice 1", &c) == -1, "no space after op");
    UNIT_CHECK(control("X alice 1", &c) == -1, "unknown op");
    UNIT_CHECK(control("R alice", &c) == -1, "no second");
    UNIT_CHECK(control("R alice ", &c) == -1, "empty second");
    UNIT_CHECK(control("R alice -1", &c) == -1, "negative");
    UNIT_CHECK(control("R alice 1x", &c) == -1, "not a number");
    UNIT_CHECK(control("B bob 9223372036854775808", &c) == -1, "too large");
    UNIT_CHECK(control("J bob", &c) == -1, "no jti");
    UNIT_CHECK(control("J bob ", &c) == -1, "empty jti");
    UNIT_CHECK(control("S bob ", &c) == -1, "empty sid");
    UNIT_CHECK(control("U bob x", &c) == -1, "unban with an argument");
    UNIT_CHECK(control("R  1", &c) == -1, "empty user");
    UNIT_CHECK(control("R a\"b 1", &c) == -1, "invalid user id");
    UNIT_CHECK(ngx_chat_channel_control_parse("R al\0ce 1", 10, &c) == -1,
               "NUL in the user id");
}


int
main(void)
{
    const char                *s;
    ngx_chat_channel_event_t   ev;

    test_control();

    s = "12 7\n{\"type\":\"message\"}";
    UNIT_CHECK(parse(s, &ev) == 0 && ev.rev == 12 && ev.seq == 7
               && ev.json == s + 5 && ev.skip == NULL, "durable");

    s = "0\n{}";
    UNIT_CHECK(parse(s, &ev) == 0 && ev.rev == 0 && ev.seq == 0
               && ev.json == s + 2, "ephemeral");

    s = "0 @alice\n{}";
    UNIT_CHECK(parse(s, &ev) == 0 && ev.rev == 0 && ev.skip == s + 3
               && ev.skip_len == 5 && ev.json == s + 9, "typing skip");

    s = "5\n";
    UNIT_CHECK(parse(s, &ev) == 0 && ev.rev == 5 && ev.json == s + 2,
               "empty json");

    UNIT_CHECK(parse("", &ev) == -1, "empty");
    UNIT_CHECK(parse("12", &ev) == -1, "no newline");
    UNIT_CHECK(parse("12 7", &ev) == -1, "no newline after seq");
    UNIT_CHECK(parse("\n{}", &ev) == -1, "no rev");
    UNIT_CHECK(parse("x\n{}", &ev) == -1, "not a number");
    UNIT_CHECK(parse("1 2 3\n{}", &ev) == -1, "three numbers");
    UNIT_CHECK(parse("1 @bob\n{}", &ev) == -1, "skip with a rev");
    UNIT_CHECK(parse("0 @\n{}", &ev) == -1, "empty skip");
    UNIT_CHECK(parse("0 @bob", &ev) == -1, "skip without newline");
    UNIT_CHECK(parse("-1\n{}", &ev) == -1, "negative");
    UNIT_CHECK(parse("9223372036854775799\n", &ev) == 0
               && ev.rev == 9223372036854775799LL, "largest");
    UNIT_CHECK(parse("9223372036854775800\n", &ev) == -1, "too large");
    UNIT_CHECK(parse("99999999999999999999999\n", &ev) == -1, "overflow");

    return UNIT_DONE();
}
