/*
 * chatctl's reading of an HTTP answer (cli/chatctl_answer.c): whatever a
 * server or a man in the middle sends, the body lies inside the bytes
 * read and ends with a NUL, a chunked body is never longer than what
 * came, and the answer is freed whole.
 */

#include <string.h>

#include "fuzz.h"
#include "chatctl.h"


/* the one function of chatctl_net.c the parser calls: records the failure */
void
ngx_chatctl_net_fail(const char *fmt, ...)
{
    (void) fmt;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    char              *buf;
    ngx_chatctl_res_t  res;

    buf = malloc(size + 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    buf[size] = '\0';

    memset(&res, 0, sizeof(res));
    rc = ngx_chatctl_http_parse(buf, size, &res);

    if (rc != 0) {
        /* the buffer was freed: res holds nothing */
        FUZZ_CHECK(res.head == NULL && res.json == NULL, "nothing kept");
        return 0;
    }

    FUZZ_CHECK(size >= 12 && memcmp(data, "HTTP/1.", 7) == 0, "an answer");
    FUZZ_CHECK(res.head == buf, "the buffer is kept");
    FUZZ_CHECK(res.body > buf && res.body <= buf + size, "body inside");
    FUZZ_CHECK(res.body_len <= (size_t) (buf + size - res.body),
               "body not past the bytes read");
    FUZZ_CHECK(res.body[res.body_len] == '\0', "body ends with a NUL");
    FUZZ_CHECK(res.json == NULL || res.body_len > 0, "JSON only of a body");

    ngx_chatctl_res_free(&res);

    return 0;
}
