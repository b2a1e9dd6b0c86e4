/*
 * REST paths and query strings (src/core/ngx_chat_route.c), each against
 * a plain reference written here: route patterns and their captures,
 * query arguments, percent-decoding and integer arguments.
 *
 * Input: path "?" query string.
 */

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "ngx_chat_route.h"


/* the patterns of ngx_chat_api.c's route table */
static const char  *patterns[] = {
    "health", "rooms", "rooms/{room}", "rooms/{room}/messages",
    "rooms/{room}/read", "rooms/{room}/messages/{seq}", "search",
    "dm/{user}", "rooms/{room}/members", "rooms/{room}/members/{user}",
    "rooms/{room}/bans/{user}", "rooms/{room}/mutes/{user}", "presence",
    "users/{user}/revoke", "users/{user}/ban", "auth/register",
    "auth/login", "auth/refresh", "auth/logout"
};

static const char  *names[] = {
    "q", "room", "before", "after", "limit", "user", "Q", "rooms"
};


static void check_route(const char *path, size_t len);
static int ref_match(const char *pattern, const char *path, size_t len);
static void check_arg(const char *args, size_t len, const char *name);
static void check_unescape(const char *s, size_t len);
static void check_int(const char *s, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *buf;
    size_t       plen, i;
    const char  *q;

    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    q = memchr(buf, '?', size);
    plen = q ? (size_t) (q - buf) : size;

    check_route(buf, plen);

    if (q) {
        q++;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            check_arg(q, size - plen - 1, names[i]);
        }
    }

    check_unescape(buf, size);
    check_int(buf, size);

    free(buf);

    return 0;
}


static void
check_route(const char *path, size_t len)
{
    size_t                 i;
    ngx_chat_route_caps_t  c;

    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        if (!ngx_chat_route_match(patterns[i], path, len, &c)) {
            FUZZ_CHECK(!ref_match(patterns[i], path, len), "missed a match");
            continue;
        }

        FUZZ_CHECK(ref_match(patterns[i], path, len), "matched wrongly");

        FUZZ_CHECK((c.room != NULL) == (strstr(patterns[i], "{room}") != 0)
                   && (c.user != NULL) == (strstr(patterns[i], "{user}") != 0)
                   && (c.seq != 0) == (strstr(patterns[i], "{seq}") != 0),
                   "captures of the pattern");

        FUZZ_CHECK(c.room == NULL
                   || (c.room >= path && c.room + c.room_len <= path + len
                       && c.room_len > 0
                       && memchr(c.room, '/', c.room_len) == NULL),
                   "room capture");
        FUZZ_CHECK(c.user == NULL
                   || (c.user >= path && c.user + c.user_len <= path + len
                       && c.user_len > 0
                       && memchr(c.user, '/', c.user_len) == NULL),
                   "user capture");
        FUZZ_CHECK(c.seq == -1 || c.seq >= 0, "seq capture");
    }
}


/* segment by segment, "{...}" matching any non-empty segment */
static int
ref_match(const char *pattern, const char *path, size_t len)
{
    size_t       plen, slen;
    const char  *pe, *se, *end;

    end = path + len;

    for ( ;; ) {
        pe = strchr(pattern, '/');
        plen = pe ? (size_t) (pe - pattern) : strlen(pattern);
        se = memchr(path, '/', end - path);
        slen = se ? (size_t) (se - path) : (size_t) (end - path);

        if (slen == 0) {
            return 0;
        }

        if (pattern[0] != '{'
            && (plen != slen || memcmp(pattern, path, slen) != 0))
        {
            return 0;
        }

        if (pe == NULL || se == NULL) {
            return pe == NULL && se == NULL;
        }

        pattern = pe + 1;
        path = se + 1;
    }
}


/* the first "&"-separated piece that starts with name "=" */
static void
check_arg(const char *args, size_t len, const char *name)
{
    int          found, rfound;
    size_t       n, vlen, rlen;
    const char  *v, *p, *end, *amp, *rv;

    n = strlen(name);
    found = ngx_chat_query_arg(args, len, name, n, &v, &vlen);

    rfound = 0;
    rv = NULL;
    rlen = 0;
    end = args + len;

    for (p = args; p < end && !rfound; p = amp + 1) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if ((size_t) (amp - p) > n && strncasecmp(p, name, n) == 0
            && p[n] == '=')
        {
            rfound = 1;
            rv = p + n + 1;
            rlen = amp - rv;
        }
    }

    FUZZ_CHECK(found == rfound, "query argument found or not");
    FUZZ_CHECK(!found || (v == rv && vlen == rlen), "query argument value");
}


static void
check_unescape(const char *s, size_t len)
{
    int      rc, bad;
    char    *out, *again, *enc;
    size_t   n, m, i, k;

    out = malloc(len ? len : 1);
    rc = ngx_chat_unescape(s, len, out, &n);

    /* the reference: every "%" needs two hex digits */
    bad = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char) s[i + 1])
                || !isxdigit((unsigned char) s[i + 2]))
            {
                bad = 1;
                break;
            }

            i += 2;
        }
    }

    FUZZ_CHECK((rc == -1) == bad, "malformed escapes");

    if (rc == 0) {
        FUZZ_CHECK(n <= len, "decoded longer than encoded");

        /* every byte encoded decodes back */
        enc = malloc(3 * n + 1);
        again = malloc(3 * n + 1);

        for (i = 0, k = 0; i < n; i++) {
            k += sprintf(enc + k, "%%%02X", (unsigned char) out[i]);
        }

        FUZZ_CHECK(ngx_chat_unescape(enc, k, again, &m) == 0 && m == n
                   && (n == 0 || memcmp(again, out, n) == 0),
                   "percent round trip");
        free(enc);
        free(again);
    }

    free(out);
}


static void
check_int(const char *s, size_t len)
{
    int        rc, digits;
    char       buf[32];
    size_t     i;
    int64_t    v;
    long long  ref;

    rc = ngx_chat_parse_int(s, len, 0, INT64_MAX, &v);

    digits = (len > 0);

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            digits = 0;
        }
    }

    if (!digits) {
        FUZZ_CHECK(rc == -1, "not digits, yet a number");
        return;
    }

    /* strtoll on the digits without leading zeros */
    for (i = 0; i + 1 < len && s[i] == '0'; i++) { /* void */ }

    if (len - i >= sizeof(buf)) {
        FUZZ_CHECK(rc == -1, "too many digits, yet a number");
        return;
    }

    memcpy(buf, s + i, len - i);
    buf[len - i] = '\0';
    errno = 0;
    ref = strtoll(buf, NULL, 10);

    FUZZ_CHECK((rc == 0) == (errno == 0), "overflow");
    FUZZ_CHECK(rc != 0 || v == ref, "value");
}
