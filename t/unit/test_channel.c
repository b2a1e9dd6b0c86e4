/*
 * Unit tests of src/core/ngx_chat_channel.c: the payload of an event on a
 * room's Redis channel.
 */

#include <string.h>

#include "unit.h"
#include "ngx_chat_channel.h"


static int
parse(const char *s, ngx_chat_channel_event_t *ev)
{
    return ngx_chat_channel_parse(s, strlen(s), ev);
}


int
main(void)
{
    const char                *s;
    ngx_chat_channel_event_t   ev;

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
