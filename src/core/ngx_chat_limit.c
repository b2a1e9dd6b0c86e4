/*
 * Request rates: a generic cell rate algorithm.  The state is the
 * theoretical arrival time (TAT) of the next request at the rate; a
 * request passes when the TAT is at most burst intervals ahead of now,
 * and then moves it one interval on.  That is limit_req's leaky bucket
 * (with nodelay) in one number instead of an excess and a time.
 */

#include "ngx_chat_limit.h"


static int
ngx_chat_limit_number(const char *s, size_t len, uint64_t *n)
{
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > 7) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (v > NGX_CHAT_LIMIT_MAX) {
        return -1;
    }

    *n = v;

    return 0;
}


int
ngx_chat_limit_parse_rate(const char *s, size_t len, ngx_chat_limit_t *lim,
    const char **err)
{
    size_t    i;
    uint64_t  n, per, scale;

    /* "Nr/s", "Nr/m", or with a period: "Nr/Ps", "Nr/Pm" */
    for (i = 0; i + 2 < len; i++) {
        if (s[i] == 'r' && s[i + 1] == '/') {
            break;
        }
    }

    if (i + 2 < len && (s[len - 1] == 's' || s[len - 1] == 'm')) {
        scale = (s[len - 1] == 's') ? 1 : 60;
        per = 1;

        if (ngx_chat_limit_number(s, i, &n) == 0 && n > 0
            && (i + 3 == len
                || (ngx_chat_limit_number(s + i + 2, len - i - 3, &per) == 0
                    && per > 0 && per <= 3600)))
        {
            lim->interval = scale * per * 1000000 / n;
            return 0;
        }
    }

    *err = "a rate is \"Nr/s\", \"Nr/m\", \"Nr/Ps\" or \"Nr/Pm\" with N "
           "from 1 to 1000000 and P from 1 to 3600";

    return -1;
}


int
ngx_chat_limit_parse_burst(const char *s, size_t len, ngx_chat_limit_t *lim,
    const char **err)
{
    uint64_t  n;

    if (len > 6 && s[0] == 'b' && s[1] == 'u' && s[2] == 'r' && s[3] == 's'
        && s[4] == 't' && s[5] == '='
        && ngx_chat_limit_number(s + 6, len - 6, &n) == 0)
    {
        lim->burst = n;
        return 0;
    }

    *err = "a burst is \"burst=N\" with N from 0 to 1000000";

    return -1;
}


uint64_t
ngx_chat_limit_take(uint64_t *tat, uint64_t now, const ngx_chat_limit_t *lim)
{
    uint64_t  t, ahead;

    if (lim->interval == 0) {
        return 0;
    }

    t = (*tat > now) ? *tat : now;
    ahead = lim->burst * lim->interval;

    if (t - now > ahead) {
        return t - now - ahead;
    }

    *tat = t + lim->interval;

    return 0;
}


long long
ngx_chat_limit_seconds(uint64_t wait)
{
    uint64_t  s;

    s = (wait + 999999) / 1000000;

    return s ? (long long) s : 1;
}
