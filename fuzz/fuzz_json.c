/*
 * The JSON writer (src/core/ngx_chat_json.c): values taken from the input
 * are written, the text is parsed back with jansson and must give the
 * same values (a round trip).  Covers strings of every byte (made valid
 * UTF-8 first, the writer's precondition), integers at their limits,
 * messages and their five parts, errors, events and ngx_chat_json_quote().
 */

#include <limits.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ngx_chat_json.h"
#include "ngx_chat_utf8.h"


typedef struct {
    const uint8_t  *p;
    size_t          left;
} input_t;


#define NSTR  6

typedef struct {
    char    *s;
    size_t   len;
} str_t;


static size_t take_str(input_t *in, char *out, size_t max);
static long long take_int(input_t *in);
static json_t *parse(const ngx_chat_json_t *j);
static int str_is(json_t *v, const char *s, size_t len);
static int int_is(json_t *v, long long n);
static void check_object(input_t *in, str_t *str);
static void check_message(input_t *in, str_t *str);
static void check_quote(input_t *in, str_t *str);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       i;
    char      buf[NSTR][300];
    str_t     str[NSTR];
    input_t   in;

    in.p = data;
    in.left = size;

    for (i = 0; i < NSTR; i++) {
        str[i].s = buf[i];
        str[i].len = take_str(&in, buf[i], sizeof(buf[i]));
    }

    check_message(&in, str);
    check_quote(&in, str);
    check_object(&in, str);

    return 0;
}


/*
 * a string of up to 255 bytes, NUL-terminated; invalid UTF-8 loses its
 * high bits
 */
static size_t
take_str(input_t *in, char *out, size_t max)
{
    size_t  n, i;

    out[0] = '\0';

    if (in->left == 0) {
        return 0;
    }

    n = in->p[0];
    in->p++;
    in->left--;

    if (n > in->left) {
        n = in->left;
    }

    if (n > max - 1) {
        n = max - 1;
    }

    memcpy(out, in->p, n);
    out[n] = '\0';
    in->p += n;
    in->left -= n;

    if (!ngx_chat_utf8_valid((const uint8_t *) out, n)) {
        for (i = 0; i < n; i++) {
            out[i] &= 0x7f;
        }
    }

    return n;
}


static long long
take_int(input_t *in)
{
    size_t               n;
    unsigned long long   v;

    if (in->left == 0) {
        return 0;
    }

    /* a small one, or any 64-bit value */
    if (in->p[0] < 0x80 || in->left < 9) {
        v = in->p[0];
        in->p++;
        in->left--;
        return (long long) v - 0x40;
    }

    v = 0;

    for (n = 1; n < 9; n++) {
        v = v << 8 | in->p[n];
    }

    in->p += 9;
    in->left -= 9;

    return (long long) v;
}


static json_t *
parse(const ngx_chat_json_t *j)
{
    json_t        *v;
    json_error_t   err;

    FUZZ_CHECK(!j->failed, "the writer failed");

    v = json_loadb(j->data, j->len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    if (v == NULL) {
        fprintf(stderr, "%.*s\n%s\n", (int) j->len, j->data, err.text);
    }

    FUZZ_CHECK(v != NULL, "the writer's text does not parse");

    return v;
}


static int
str_is(json_t *v, const char *s, size_t len)
{
    return json_is_string(v) && json_string_length(v) == len
           && memcmp(json_string_value(v), s, len) == 0;
}


static int
int_is(json_t *v, long long n)
{
    return json_is_integer(v) && json_integer_value(v) == n;
}


/* kv pairs of every kind written after "{", compared with jansson's */
static void
check_object(input_t *in, str_t *str)
{
    int               k;
    char              key[16], *raw;
    str_t            *s;
    json_t           *want, *got, *v;
    long long         n;
    ngx_chat_json_t   j;

    want = json_object();
    ngx_chat_json_init(&j, 0);
    ngx_chat_json_char(&j, '{');

    for (k = 0; in->left > 0 && k < 64; k++) {
        snprintf(key, sizeof(key), "k%d", k);

        switch (in->p[0] % 5) {

        case 0:
            s = &str[in->p[0] / 5 % NSTR];
            ngx_chat_json_kv_str(&j, key, s->s, s->len);
            json_object_set_new(want, key, json_stringn(s->s, s->len));
            in->p++;
            in->left--;
            break;

        case 1:
            in->p++;
            in->left--;
            n = take_int(in);
            ngx_chat_json_kv_int(&j, key, n);
            json_object_set_new(want, key, json_integer(n));
            break;

        case 2:
            ngx_chat_json_kv_bool(&j, key, in->p[0] & 8);
            json_object_set_new(want, key, json_boolean(in->p[0] & 8));
            in->p++;
            in->left--;
            break;

        case 3:
            /* a value as JSON text: jansson writes it, kv_raw copies it */
            v = json_pack("[s#,I]", str[in->p[0] / 5 % NSTR].s,
                          str[in->p[0] / 5 % NSTR].len, (json_int_t) k);
            raw = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            ngx_chat_json_kv_raw(&j, key, raw, strlen(raw));
            json_object_set_new(want, key, v);
            free(raw);
            in->p++;
            in->left--;
            break;

        default:
            /* the separator logic after an opening: a nested array */
            ngx_chat_json_key(&j, key);
            ngx_chat_json_char(&j, '[');
            ngx_chat_json_sep(&j);
            ngx_chat_json_int(&j, k);
            ngx_chat_json_sep(&j);
            ngx_chat_json_str(&j, str[0].s, str[0].len);
            ngx_chat_json_char(&j, ']');
            json_object_set_new(want, key,
                                json_pack("[I,s#]", (json_int_t) k,
                                          str[0].s, str[0].len));
            in->p++;
            in->left--;
            break;
        }
    }

    FUZZ_CHECK(ngx_chat_json_end(&j) == 0, "end failed");

    got = parse(&j);
    FUZZ_CHECK(json_equal(got, want), "the object differs");

    json_decref(got);
    json_decref(want);
    ngx_chat_json_free(&j);
}


static void
check_message(input_t *in, str_t *str)
{
    char                  *meta, *joined, *p;
    json_t                *got, *mv;
    size_t                 max, i;
    ngx_chat_json_t        j, jp;
    ngx_chat_message_t     m;
    ngx_chat_json_part_t   part[5];

    memset(&m, 0, sizeof(ngx_chat_message_t));

    m.room = str[0].s;
    m.room_len = str[0].len;
    m.from = str[1].s;
    m.from_len = str[1].len;
    m.name = str[2].s;
    m.name_len = str[2].len;
    m.body = str[3].s;
    m.body_len = str[3].len;
    m.client_msg_id = str[4].s;
    m.cid_len = str[4].len;
    m.seq = take_int(in);
    m.rev = take_int(in);
    m.msg_id = take_int(in);
    m.ts = take_int(in);
    m.reply_to = take_int(in);
    m.deleted = in->left && (in->p[0] & 1);
    m.with_type = in->left && (in->p[0] & 2);

    mv = json_pack("{s:s#}", "m", str[5].s, str[5].len);
    meta = json_dumps(mv, JSON_COMPACT);
    json_decref(mv);
    m.meta = meta;
    m.meta_len = strlen(meta);

    ngx_chat_json_init(&j, 0);
    FUZZ_CHECK(ngx_chat_json_message(&j, &m) == 0, "message failed");

    got = parse(&j);
    FUZZ_CHECK(json_is_object(got), "message is not an object");
    FUZZ_CHECK(str_is(json_object_get(got, "room"), m.room, m.room_len),
               "room");
    FUZZ_CHECK(str_is(json_object_get(got, "from"), m.from, m.from_len),
               "from");
    FUZZ_CHECK(int_is(json_object_get(got, "seq"), m.seq)
               && int_is(json_object_get(got, "rev"), m.rev)
               && int_is(json_object_get(got, "msg_id"), m.msg_id)
               && int_is(json_object_get(got, "ts"), m.ts), "numbers");
    FUZZ_CHECK(m.name_len == 0
               || str_is(json_object_get(got, "name"), m.name, m.name_len),
               "name");
    FUZZ_CHECK(m.cid_len == 0
               || str_is(json_object_get(got, "client_msg_id"),
                         m.client_msg_id, m.cid_len), "client_msg_id");
    FUZZ_CHECK(m.reply_to == 0
               || int_is(json_object_get(got, "reply_to"), m.reply_to),
               "reply_to");
    FUZZ_CHECK(m.with_type == (json_object_get(got, "type") != NULL),
               "type");
    FUZZ_CHECK(m.deleted
               ? json_is_true(json_object_get(got, "deleted"))
                 && json_object_get(got, "body") == NULL
               : str_is(json_object_get(got, "body"), m.body, m.body_len)
                 && str_is(json_object_get(json_object_get(got, "meta"),
                                           "m"), str[5].s, str[5].len),
               "body, meta, deleted");
    json_decref(got);

    max = ngx_chat_json_message_max(m.body_len, m.meta_len, m.name_len);
    FUZZ_CHECK(m.room_len > 64 || m.from_len > 64 || m.cid_len > 64
               || j.len <= max, "longer than ngx_chat_json_message_max()");

    /* the five parts with the numbers put back give the same text */
    if (m.with_type && !m.deleted) {
        ngx_chat_json_init(&jp, 0);
        FUZZ_CHECK(ngx_chat_json_message_parts(&jp, &m, part) == 0,
                   "message parts failed");

        joined = malloc(jp.len + 100);
        p = joined;

        for (i = 0; i < 5; i++) {
            memcpy(p, part[i].data, part[i].len);
            p += part[i].len;

            if (i < 4) {
                p += sprintf(p, "%lld",
                             i == 0 ? m.seq : i == 1 ? m.rev
                             : i == 2 ? m.msg_id : m.ts);
            }
        }

        FUZZ_CHECK((size_t) (p - joined) == j.len
                   && memcmp(joined, j.data, j.len) == 0,
                   "parts and numbers differ from the message");
        free(joined);
        ngx_chat_json_free(&jp);
    }

    ngx_chat_json_free(&j);

    /* errors and events */
    ngx_chat_json_init(&j, 0);
    FUZZ_CHECK(ngx_chat_json_rest_error(&j, str[0].s, str[1].s) == 0,
               "rest error");
    got = parse(&j);
    FUZZ_CHECK(str_is(json_object_get(json_object_get(got, "error"),
                                      "message"), str[1].s, strlen(str[1].s)),
               "rest error message");
    json_decref(got);

    ngx_chat_json_reset(&j);
    FUZZ_CHECK(ngx_chat_json_edited(&j, m.room, m.room_len, m.seq, m.body,
                                    m.body_len, m.ts) == 0, "edited");
    got = parse(&j);
    FUZZ_CHECK(str_is(json_object_get(got, "body"), m.body, m.body_len)
               && int_is(json_object_get(got, "edited_at"), m.ts),
               "edited event");
    json_decref(got);

    ngx_chat_json_reset(&j);
    FUZZ_CHECK(ngx_chat_json_receipt(&j, m.room, m.room_len, m.from,
                                     m.from_len, m.seq, "read") == 0,
               "receipt");
    got = parse(&j);
    FUZZ_CHECK(str_is(json_object_get(got, "user"), m.from, m.from_len)
               && str_is(json_object_get(got, "room"), m.room, m.room_len),
               "receipt event");
    json_decref(got);

    ngx_chat_json_free(&j);
    free(meta);
}


/* quoting into a buffer of a size taken from the input */
static void
check_quote(input_t *in, str_t *str)
{
    char          *buf;
    json_t        *v;
    size_t         size, n;
    const str_t   *s;

    s = &str[in->left ? in->p[0] % NSTR : 0];
    size = in->left > 1 ? in->p[1] * 7 : 0;

    buf = malloc(size ? size : 1);
    n = ngx_chat_json_quote(buf, size, s->s, s->len);

    if (n > 0) {
        FUZZ_CHECK(n < size && buf[n] == '\0', "quote overflows");
        v = json_loadb(buf, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        FUZZ_CHECK(str_is(v, s->s, s->len), "quote round trip");
        json_decref(v);

    } else {
        /* refused only when the quoted text cannot fit */
        free(buf);
        size = s->len * 6 + 3;
        buf = malloc(size);
        n = ngx_chat_json_quote(buf, size, s->s, s->len);
        FUZZ_CHECK(n >= 2 && n + 1 > (size_t) (in->left > 1 ? in->p[1] * 7
                                                            : 0),
                   "quote refused a string that fits");
    }

    free(buf);
}
