/*
 * The JSON member scanner (src/core/ngx_chat_scan.c) on client text: a
 * member it returns lies inside the input, and when jansson parses the
 * input as an object with unique keys (as the decoder does), the
 * scanner finds the same members and their text parses to the same
 * values.
 */

#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ngx_chat_scan.h"


static const char  *names[] = {
    "type", "id", "room", "body", "meta", "client_msg_id", "token", "x"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    char        *buf;
    size_t       i, vlen;
    json_t      *root, *want, *got;
    const char  *v;

    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    /*
     * as ngx_chat_decode.c parses; it refuses a raw NUL before, which
     * jansson skips after a number and the scanner does not
     */
    root = memchr(buf, '\0', size) ? NULL
           : json_loadb(buf, size, JSON_REJECT_DUPLICATES, NULL);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        rc = ngx_chat_scan_member(buf, size, names[i], &v, &vlen);

        FUZZ_CHECK(rc >= -1 && rc <= 1, "result");
        FUZZ_CHECK(rc != 1 || (v >= buf && v + vlen <= buf + size),
                   "member outside the input");

        if (root == NULL || !json_is_object(root)) {
            continue;
        }

        want = json_object_get(root, names[i]);

        FUZZ_CHECK(rc == (want ? 1 : 0), "scanner and parser disagree");

        if (want) {
            got = json_loadb(v, vlen, JSON_DECODE_ANY, NULL);
            FUZZ_CHECK(got != NULL && json_equal(got, want),
                       "member text differs from the parsed value");
            json_decref(got);
        }
    }

    json_decref(root);
    free(buf);

    return 0;
}
