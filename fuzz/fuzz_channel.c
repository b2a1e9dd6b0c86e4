/*
 * Room channel payloads from Redis (src/core/ngx_chat_channel.c) against
 * a reference written here from the grammar of ngx_chat_channel.h:
 * "<rev> <seq>\n", "<rev>\n" or "0 @<user>\n", then the JSON text; a
 * number is decimal digits worth at most 9223372036854775799.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_chat_channel.h"


/* the largest number the parser takes (ngx_chat_channel.h) */
#define MAX  "9223372036854775799"




int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                        rc, ok;
    char                      *buf;
    int64_t                    rev, seq;
    const char                *nl, *sp, *skip;
    ngx_chat_channel_event_t   ev;

    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    rc = ngx_chat_channel_parse(buf, size, &ev);

    /* the reference: split the first line at its first space */
    nl = memchr(buf, '\n', size);
    ok = 0;
    rev = 0;
    seq = 0;
    skip = NULL;

    if (nl) {
        sp = memchr(buf, ' ', nl - buf);

        if (sp == NULL) {
            ok = fuzz_ref_number(buf, nl, MAX, &rev);

        } else if (fuzz_ref_number(buf, sp, MAX, &rev)) {
            if (sp[1] == '@') {
                ok = (rev == 0 && nl - sp > 2);
                skip = sp + 2;

            } else {
                ok = fuzz_ref_number(sp + 1, nl, MAX, &seq);
            }
        }
    }

    FUZZ_CHECK((rc == 0) == ok, "accepted or not");

    if (ok) {
        FUZZ_CHECK(ev.rev == rev && ev.seq == seq, "numbers");
        FUZZ_CHECK(ev.json == nl + 1, "where the JSON starts");
        FUZZ_CHECK(skip ? ev.skip == skip && ev.skip_len
                          == (size_t) (nl - skip)
                        : ev.skip == NULL, "skip");
    }

    free(buf);

    return 0;
}

