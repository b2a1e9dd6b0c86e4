/*
 * Payloads of the users' control channel from Redis
 * (ngx_chat_channel_control_parse() in src/core/ngx_chat_channel.c)
 * against a reference written here from the grammar of
 * ngx_chat_channel.h: "<op> <user>[ <arg>]", the user a valid user id, R
 * and B with a number that fits int64_t, J and S with a non-empty rest, U
 * with nothing after the user.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_chat_channel.h"


/* INT64_MAX */
#define MAX  "9223372036854775807"


static int ref_user_char(char c);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc, ok;
    char                        *buf;
    size_t                       i;
    int64_t                      n;
    const char                  *end, *sp;
    ngx_chat_channel_control_t   c;

    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    end = buf + size;

    rc = ngx_chat_channel_control_parse(buf, size, &c);

    ok = 0;
    n = 0;
    sp = NULL;

    if (size >= 3 && buf[1] == ' ') {
        sp = memchr(buf + 2, ' ', size - 2);
        if (sp == NULL) {
            sp = end;
        }

        ok = (sp > buf + 2 && sp - (buf + 2) <= 64);

        for (i = 2; ok && buf + i < sp; i++) {
            ok = ref_user_char(buf[i]);
        }

        if (ok) {
            switch (buf[0]) {
            case 'U': ok = (sp == end); break;
            case 'J':
            case 'S': ok = (sp < end && end - sp > 1); break;
            case 'R':
            case 'B':
                ok = (sp < end && fuzz_ref_number(sp + 1, end, MAX, &n));
                break;
            default: ok = 0;
            }
        }
    }

    FUZZ_CHECK((rc == 0) == ok, "accepted or not");

    if (ok) {
        FUZZ_CHECK(c.op == buf[0], "op");
        FUZZ_CHECK(c.user == buf + 2 && c.user_len == (size_t) (sp - buf - 2),
                   "user");
        FUZZ_CHECK(c.n == n, "number");

        if (buf[0] == 'J' || buf[0] == 'S') {
            FUZZ_CHECK(c.arg == sp + 1 && c.arg_len == (size_t) (end - sp - 1),
                       "argument");
        }
    }

    free(buf);

    return 0;
}


static int
ref_user_char(char c)
{
    return strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_.@-", c) != NULL && c != '\0';
}

