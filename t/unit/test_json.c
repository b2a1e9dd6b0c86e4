
/*
 * Unit tests of src/core/ngx_chat_json.c: the JSON writer and the builders
 * of replies and events.
 */


#include <stdlib.h>
#include <stdint.h>
#include <limits.h>

#include <jansson.h>

#include "unit.h"
#include "unit_json.h"
#include "ngx_chat_json.h"
#include "ngx_chat_decode.h"


/* the bound of a message's text holds for the worst message */
static void
test_message_max(void)
{
    char                *body, *name, *meta, *cid, room[65], from[65];
    size_t               max;
    ngx_chat_json_t      j;
    ngx_chat_message_t   m;

    body = unit_repeat('\x01', 2048);
    name = unit_repeat('\x1f', 128);
    cid = unit_repeat('\x02', 64);
    meta = unit_repeat(' ', 4096);
    meta[0] = '{';
    meta[4095] = '}';
    memset(room, 'r', 64);
    room[64] = '\0';
    memset(from, 'f', 64);
    from[64] = '\0';

    memset(&m, 0, sizeof(m));
    m.room = room;
    m.room_len = 64;
    m.seq = LLONG_MIN;
    m.msg_id = LLONG_MIN;
    m.ts = LLONG_MIN;
    m.from = from;
    m.from_len = 64;
    m.name = name;
    m.name_len = 128;
    m.body = body;
    m.body_len = 2048;
    m.client_msg_id = cid;
    m.cid_len = 64;
    m.reply_to = LLONG_MIN;
    m.meta = meta;
    m.meta_len = 4096;
    m.with_type = 1;

    ngx_chat_json_init(&j, 64);
    ngx_chat_json_char(&j, '[');
    ngx_chat_json_str(&j, "x", 1);
    UNIT_CHECK(ngx_chat_json_message_open(&j, &m) == 0, "worst message");
    ngx_chat_json_kv_int(&j, "edited_at", LLONG_MIN);
    ngx_chat_json_end(&j);
    ngx_chat_json_kv_bool(&j, "deleted", 1);

    max = ngx_chat_json_message_max(2048, 4096, 128);
    UNIT_CHECK(j.len - 4 <= max, "worst message %zu bytes, bound %zu",
               j.len - 4, max);
    UNIT_CHECK(max < 2 * (j.len - 4), "the bound is close: %zu for %zu",
               max, j.len - 4);
    UNIT_CHECK(ngx_chat_json_message_max(SIZE_MAX / 2, 0, 0) == 0,
               "overflow is 0");

    ngx_chat_json_free(&j);
    free(body);
    free(name);
    free(cid);
    free(meta);
}


static int
json_text_eq(const ngx_chat_json_t *j, const char *s)
{
    return j->len == strlen(s) && memcmp(j->data, s, j->len) == 0;
}


static void
test_writer_basic(void)
{
    int              i;
    char             ctl[32], want[32 * 6 + 3], *p;
    size_t           total;
    ngx_chat_json_t  j;

    ngx_chat_json_init(&j, 16);
    UNIT_CHECK(!j.failed && j.data == j.base + NGX_CHAT_JSON_HEAD
               && j.head == NGX_CHAT_JSON_HEAD && j.len == 0,
               "init headroom");

    ngx_chat_json_str(&j, "a\"b\\c/d", 7);
    UNIT_CHECK(json_text_eq(&j, "\"a\\\"b\\\\c/d\""), "escape quotes: %s",
               j.data);
    UNIT_CHECK(j.data[j.len] == '\0', "NUL after text");
    ngx_chat_json_reset(&j);

    ngx_chat_json_str(&j, "\b\f\n\r\t", 5);
    UNIT_CHECK(json_text_eq(&j, "\"\\b\\f\\n\\r\\t\""), "short escapes: %s",
               j.data);
    ngx_chat_json_reset(&j);

    for (i = 0; i < 32; i++) {
        ctl[i] = (char) i;
    }

    ngx_chat_json_str(&j, ctl, 32);
    p = want;
    *p++ = '"';
    for (i = 0; i < 32; i++) {
        switch (i) {
        case '\b': p += sprintf(p, "\\b"); break;
        case '\f': p += sprintf(p, "\\f"); break;
        case '\n': p += sprintf(p, "\\n"); break;
        case '\r': p += sprintf(p, "\\r"); break;
        case '\t': p += sprintf(p, "\\t"); break;
        default: p += sprintf(p, "\\u%04x", i);
        }
    }
    *p++ = '"';
    *p = '\0';
    UNIT_CHECK(json_text_eq(&j, want), "all control chars: %s", j.data);
    ngx_chat_json_reset(&j);

    ngx_chat_json_str(&j, "\x7f h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
    UNIT_CHECK(json_text_eq(&j, "\"\x7f h\xc3\xa9 \xe2\x82\xac "
                            "\xf0\x9f\x98\x80\""), "UTF-8 as is: %s",
               j.data);
    ngx_chat_json_reset(&j);

    ngx_chat_json_str(&j, "", 0);
    ngx_chat_json_str(&j, NULL, 0);
    UNIT_CHECK(json_text_eq(&j, "\"\"\"\""), "empty strings");
    ngx_chat_json_reset(&j);

    ngx_chat_json_str(&j, "a\0b", 3);
    UNIT_CHECK(json_text_eq(&j, "\"a\\u0000b\""), "NUL escaped");
    ngx_chat_json_reset(&j);

    ngx_chat_json_int(&j, 0);
    ngx_chat_json_char(&j, ' ');
    ngx_chat_json_int(&j, -1);
    ngx_chat_json_char(&j, ' ');
    ngx_chat_json_int(&j, 1234567890123LL);
    ngx_chat_json_char(&j, ' ');
    ngx_chat_json_int(&j, LLONG_MAX);
    ngx_chat_json_char(&j, ' ');
    ngx_chat_json_int(&j, LLONG_MIN);
    ngx_chat_json_char(&j, ' ');
    ngx_chat_json_int(&j, -10);
    UNIT_CHECK(json_text_eq(&j, "0 -1 1234567890123 9223372036854775807 "
                            "-9223372036854775808 -10"), "ints: %s", j.data);
    ngx_chat_json_reset(&j);

    ngx_chat_json_bool(&j, 1);
    ngx_chat_json_bool(&j, 0);
    UNIT_CHECK(json_text_eq(&j, "truefalse"), "bools");
    ngx_chat_json_reset(&j);

    /* separators */
    ngx_chat_json_char(&j, '{');
    ngx_chat_json_kv_str(&j, "a", "x", 1);
    ngx_chat_json_kv_int(&j, "b", 2);
    ngx_chat_json_key(&j, "c");
    ngx_chat_json_char(&j, '[');
    ngx_chat_json_sep(&j);
    ngx_chat_json_int(&j, 1);
    ngx_chat_json_sep(&j);
    ngx_chat_json_int(&j, 2);
    ngx_chat_json_char(&j, ']');
    ngx_chat_json_kv_raw(&j, "d", "{\"e\":null}", 10);
    ngx_chat_json_kv_bool(&j, "f", 1);
    ngx_chat_json_kv_str(&j, "g\"", "", 0);
    UNIT_CHECK(ngx_chat_json_end(&j) == 0, "end");
    UNIT_CHECK(json_text_eq(&j, "{\"a\":\"x\",\"b\":2,\"c\":[1,2],"
                            "\"d\":{\"e\":null},\"f\":true,\"g\\\"\":\"\"}"),
               "kv: %s", j.data);
    ngx_chat_json_free(&j);
    UNIT_CHECK(j.base == NULL && j.data == NULL && j.len == 0, "freed");

    /* growth across many appends, from a tiny reserve */
    ngx_chat_json_init_head(&j, 1, 10);
    total = 0;
    for (i = 0; i < 100000; i++) {
        ngx_chat_json_str(&j, "ab\"c\n", 5);
        total += 9;
        ngx_chat_json_int(&j, i % 10);
        total += 1;
    }
    UNIT_CHECK(!j.failed && j.len == total, "growth len %zu / %zu", j.len,
               total);
    UNIT_CHECK(j.data == j.base + 10 && j.cap > j.len, "growth headroom");
    for (i = 0; i < 100000; i++) {
        if (memcmp(j.data + i * 10, "\"ab\\\"c\\n\"", 9) != 0
            || j.data[i * 10 + 9] != '0' + i % 10)
        {
            break;
        }
    }
    UNIT_CHECK(i == 100000, "growth content broken at %d", i);
    ngx_chat_json_free(&j);

    /* one big string at once */
    p = unit_repeat('\n', 1 << 20);
    ngx_chat_json_init(&j, 0);
    ngx_chat_json_str(&j, p, 1 << 20);
    UNIT_CHECK(!j.failed && j.len == 2 + 2 * (1 << 20)
               && memcmp(j.data + j.len - 3, "\\n\"", 3) == 0,
               "big escaped string");
    ngx_chat_json_free(&j);
    free(p);

    /* a zeroed writer works, without headroom */
    memset(&j, 0, sizeof(j));
    ngx_chat_json_raw(&j, "{}", 2);
    UNIT_CHECK(!j.failed && json_text_eq(&j, "{}") && j.data == j.base,
               "zeroed writer");
    ngx_chat_json_free(&j);

    /* a failed writer stays failed and quiet */
    ngx_chat_json_init(&j, 64);
    ngx_chat_json_raw(&j, "{", 1);
    j.failed = 1;
    ngx_chat_json_str(&j, "x", 1);
    ngx_chat_json_int(&j, 5);
    ngx_chat_json_kv_str(&j, "k", "v", 1);
    UNIT_CHECK(j.len == 1, "failed writer wrote");
    UNIT_CHECK(ngx_chat_json_end(&j) == -1, "failed end");
    UNIT_CHECK(ngx_chat_json_error(&j, "1", 1, "internal", "x") == -1,
               "failed error");
    UNIT_CHECK(ngx_chat_json_ok_begin(&j, NULL, 0) == -1, "failed ok");
    ngx_chat_json_free(&j);
}


/* a plain reference escaper, byte by byte */
static size_t
ref_escape(char *d, const unsigned char *s, size_t n)
{
    char    *p;
    size_t   i;

    p = d;
    *p++ = '"';

    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '"': p += sprintf(p, "\\\""); break;
        case '\\': p += sprintf(p, "\\\\"); break;
        case '\b': p += sprintf(p, "\\b"); break;
        case '\f': p += sprintf(p, "\\f"); break;
        case '\n': p += sprintf(p, "\\n"); break;
        case '\r': p += sprintf(p, "\\r"); break;
        case '\t': p += sprintf(p, "\\t"); break;
        default:
            if (s[i] < 0x20) {
                p += sprintf(p, "\\u%04x", s[i]);
            } else {
                *p++ = (char) s[i];
            }
        }
    }

    *p++ = '"';

    return p - d;
}


/*
 * every byte value at every position of a word, on plain and on high-bit
 * backgrounds, against the reference: checks the word-at-a-time scan
 */
static void
test_writer_exhaustive(void)
{
    int               b, pos, bg, bad;
    char              want[256];
    size_t            n, len;
    unsigned char     s[24];
    ngx_chat_json_t   j;
    long long         v, w;
    char              num[32];
    static const int  backgrounds[] = { 'a', 0x80, 0xff, 0x21, 0x5d, 0x1f };

    ngx_chat_json_init(&j, 0);
    bad = 0;

    for (bg = 0; bg < 6; bg++) {
        for (b = 0; b < 256; b++) {
            for (pos = 0; pos < 24; pos++) {
                for (n = (size_t) pos + 1; n <= 24; n += 7) {
                    memset(s, backgrounds[bg], sizeof(s));
                    s[pos] = (unsigned char) b;

                    len = ref_escape(want, s, n);
                    ngx_chat_json_reset(&j);
                    ngx_chat_json_str(&j, (char *) s, n);

                    if (j.failed || j.len != len
                        || memcmp(j.data, want, len) != 0)
                    {
                        bad++;
                    }
                }
            }
        }
    }

    UNIT_CHECK(bad == 0, "exhaustive escaping: %d mismatches", bad);

    /* integers around every power of ten */
    bad = 0;

    for (v = 1; v > 0 && v <= LLONG_MAX / 10; v *= 10) {
        for (w = v - 2; w <= v + 2; w++) {
            ngx_chat_json_reset(&j);
            ngx_chat_json_int(&j, w);
            len = snprintf(num, sizeof(num), "%lld", w);
            bad += (j.len != len || memcmp(j.data, num, len) != 0);

            ngx_chat_json_reset(&j);
            ngx_chat_json_int(&j, -w);
            len = snprintf(num, sizeof(num), "%lld", -w);
            bad += (j.len != len || memcmp(j.data, num, len) != 0);
        }
    }

    UNIT_CHECK(bad == 0, "integers: %d mismatches", bad);

    ngx_chat_json_free(&j);
}


static void
test_builders(void)
{
    json_t              *v, *a, *e;
    const char          *code, *msg;
    ngx_chat_json_t      j;
    ngx_chat_message_t   m;
    ngx_chat_request_t   r;
    static const char    body[] = "multi\nline \"quoted\" \\ \x01 h\xc3\xa9";
    static const char    nope[] =
        "{\"type\":\"nope\",\"id\":\"q\\\"\\n\\u00e9\"}";

    /* error, with an id taken from a decoded request */
    UNIT_CHECK(ngx_chat_request_decode(nope, sizeof(nope) - 1, NULL, &r,
                                       &code, &msg) == -1,
               "decode for error");
    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_error(&j, r.id, r.id_len, code, msg) == 0,
               "error builder");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "error", 5), "error type");
    UNIT_CHECK(v && jstr(v, "id", "q\"\n\xc3\xa9", 5), "error id");
    UNIT_CHECK(v && jstr(v, "code", "bad_request", 11), "error code");
    UNIT_CHECK(v && jstr(v, "message", msg, strlen(msg)), "error message");
    UNIT_CHECK(v && json_object_size(v) == 4, "error size");
    json_decref(v);
    ngx_chat_request_free(&r);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_error(&j, NULL, 0, "forbidden", "no \"way\"")
               == 0, "error builder without id");
    v = jload(&j);
    UNIT_CHECK(v && json_object_get(v, "id") == NULL, "error without id");
    UNIT_CHECK(v && jstr(v, "message", "no \"way\"", 8), "error message 2");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_error_retry(&j, "17", 2, "rate_limited",
                                         "slow down", 3) == 0,
               "error_retry builder");
    v = jload(&j);
    UNIT_CHECK(v && jint(v, "id", 17) && jstr(v, "code", "rate_limited", 12)
               && jint(v, "retry_after", 3)
               && jstr(v, "message", "slow down", 9)
               && jstr(v, "type", "error", 5), "error_retry fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_rest_error(&j, "not_found", "no such room")
               == 0, "rest_error builder");
    v = jload(&j);
    e = v ? json_object_get(v, "error") : NULL;
    UNIT_CHECK(e && jstr(e, "code", "not_found", 9)
               && jstr(e, "message", "no such room", 12)
               && json_object_size(v) == 1, "rest_error fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    /* ok with fields and a history array */
    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_ok_begin(&j, "\"h1\"", 4) == 0, "ok_begin");
    ngx_chat_json_kv_str(&j, "room", "general", 7);
    ngx_chat_json_key(&j, "messages");
    ngx_chat_json_char(&j, '[');

    memset(&m, 0, sizeof(m));
    m.room = "general";
    m.room_len = 7;
    m.seq = 1;
    m.msg_id = 1001;
    m.ts = 1767139200123LL;
    m.from = "alice";
    m.from_len = 5;
    m.body = body;
    m.body_len = sizeof(body) - 1;
    UNIT_CHECK(ngx_chat_json_message(&j, &m) == 0, "history entry 1");

    m.seq = 2;
    m.msg_id = 1002;
    m.deleted = 1;
    m.meta = "{\"x\":1}";
    m.meta_len = 7;
    UNIT_CHECK(ngx_chat_json_message(&j, &m) == 0, "history entry 2");

    m.seq = 3;
    m.deleted = 0;
    UNIT_CHECK(ngx_chat_json_message_open(&j, &m) == 0, "history entry 3");
    ngx_chat_json_kv_int(&j, "edited_at", 1767139209999LL);
    ngx_chat_json_end(&j);

    ngx_chat_json_char(&j, ']');
    ngx_chat_json_kv_bool(&j, "has_more", 0);
    UNIT_CHECK(ngx_chat_json_end(&j) == 0, "ok end");

    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "ok", 2) && jstr(v, "id", "h1", 2)
               && jstr(v, "room", "general", 7)
               && json_is_false(json_object_get(v, "has_more")),
               "ok fields");
    a = v ? json_object_get(v, "messages") : NULL;
    UNIT_CHECK(a && json_is_array(a) && json_array_size(a) == 3,
               "messages array");

    e = a ? json_array_get(a, 0) : NULL;
    UNIT_CHECK(e && json_object_get(e, "type") == NULL
               && jstr(e, "room", "general", 7) && jint(e, "seq", 1)
               && jint(e, "msg_id", 1001) && jint(e, "ts", 1767139200123LL)
               && jstr(e, "from", "alice", 5)
               && jstr(e, "body", body, sizeof(body) - 1)
               && json_object_get(e, "name") == NULL
               && json_object_get(e, "client_msg_id") == NULL
               && json_object_get(e, "reply_to") == NULL
               && json_object_get(e, "meta") == NULL
               && json_object_get(e, "deleted") == NULL, "entry 1 fields");

    e = a ? json_array_get(a, 1) : NULL;
    UNIT_CHECK(e && jint(e, "seq", 2)
               && json_is_true(json_object_get(e, "deleted"))
               && json_object_get(e, "body") == NULL
               && json_object_get(e, "meta") == NULL, "entry 2 deleted");

    e = a ? json_array_get(a, 2) : NULL;
    UNIT_CHECK(e && jint(e, "seq", 3) && jint(e, "edited_at", 1767139209999LL)
               && jint(json_object_get(e, "meta"), "x", 1)
               && json_object_get(e, "deleted") == NULL, "entry 3 edited");
    json_decref(v);
    ngx_chat_json_free(&j);

    /* a message event with every field */
    memset(&m, 0, sizeof(m));
    m.room = "dm:alice:bob";
    m.room_len = 12;
    m.seq = LLONG_MAX;
    m.rev = LLONG_MAX - 1;
    m.msg_id = 77;
    m.ts = 5;
    m.from = "bob";
    m.from_len = 3;
    m.name = "Bob \"the\" Builder";
    m.name_len = strlen(m.name);
    m.body = "hi";
    m.body_len = 2;
    m.client_msg_id = "c-1";
    m.cid_len = 3;
    m.reply_to = 4;
    m.meta = "{\"a\":[1,2],\"b\":{\"c\":\"d\"}}";
    m.meta_len = strlen(m.meta);
    m.with_type = 1;

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_message(&j, &m) == 0, "message event");
    UNIT_CHECK(j.data[0] == '{', "message event starts the buffer");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "message", 7)
               && jstr(v, "room", "dm:alice:bob", 12)
               && jint(v, "seq", LLONG_MAX) && jint(v, "msg_id", 77)
               && jint(v, "rev", LLONG_MAX - 1)
               && jint(v, "ts", 5) && jstr(v, "from", "bob", 3)
               && jstr(v, "name", m.name, m.name_len)
               && jstr(v, "body", "hi", 2)
               && jstr(v, "client_msg_id", "c-1", 3)
               && jint(v, "reply_to", 4)
               && json_object_get(v, "id") == NULL
               && json_object_size(v) == 12, "message event fields");
    e = v ? json_object_get(v, "meta") : NULL;
    UNIT_CHECK(e && json_is_object(e)
               && jstr(json_object_get(e, "b"), "c", "d", 1),
               "message meta");
    json_decref(v);
    ngx_chat_json_free(&j);

    /* type_begin: pong, welcome by hand and by builder */
    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_type_begin(&j, "pong", "-3", 2) == 0
               && ngx_chat_json_end(&j) == 0, "pong");
    UNIT_CHECK(json_text_eq(&j, "{\"type\":\"pong\",\"id\":-3}"), "pong: %s",
               j.data);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_type_begin(&j, "pong", NULL, 0) == 0
               && ngx_chat_json_end(&j) == 0, "pong without id");
    UNIT_CHECK(json_text_eq(&j, "{\"type\":\"pong\"}"), "pong 2: %s", j.data);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_ok_begin(&j, NULL, 0) == 0
               && ngx_chat_json_end(&j) == 0, "bare ok");
    UNIT_CHECK(json_text_eq(&j, "{\"type\":\"ok\"}"), "bare ok: %s", j.data);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_welcome(&j, "1", 1, "alice", 5, 1767225600LL,
                                     1767139200123LL) == 0, "welcome");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "welcome", 7) && jint(v, "id", 1)
               && jstr(v, "user", "alice", 5)
               && jint(v, "expires_at", 1767225600LL)
               && jint(v, "server_time", 1767139200123LL), "welcome fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    /* the other events */
    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_edited(&j, "g", 1, 9, "new\tbody", 8, 123) == 0,
               "edited");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "edited", 6) && jstr(v, "room", "g", 1)
               && jint(v, "seq", 9) && jstr(v, "body", "new\tbody", 8)
               && jint(v, "edited_at", 123) && json_object_size(v) == 5,
               "edited fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_deleted(&j, "g", 1, 9) == 0, "deleted");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "deleted", 7) && jstr(v, "room", "g", 1)
               && jint(v, "seq", 9) && json_object_size(v) == 3,
               "deleted fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_receipt(&j, "g", 1, "bob", 3, 12, "read") == 0,
               "receipt");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "receipt", 7) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jint(v, "seq", 12)
               && jstr(v, "state", "read", 4)
               && json_object_size(v) == 5, "receipt fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_receipt(&j, "g", 1, "bob", 3, 7, "delivered")
               == 0, "receipt delivered");
    v = jload(&j);
    UNIT_CHECK(v && jint(v, "seq", 7) && jstr(v, "state", "delivered", 9)
               && json_object_size(v) == 5, "receipt delivered fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_typing(&j, "g", 1, "bob", 3, 0) == 0, "typing");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "typing", 6) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && json_object_size(v) == 3,
               "typing fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_typing(&j, "g", 1, "bob", 3, 1) == 0,
               "typing stop");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "user", "bob", 3)
               && json_is_true(json_object_get(v, "stop"))
               && json_object_size(v) == 4, "typing stop fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_presence(&j, "g", 1, "bob", 3, "online") == 0,
               "presence");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "presence", 8) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jstr(v, "state", "online", 6)
               && json_object_size(v) == 4, "presence fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_member(&j, "g", 1, "bob", 3, "kicked") == 0,
               "member");
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "type", "member", 6) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jstr(v, "action", "kicked", 6)
               && json_object_size(v) == 4, "member fields");
    json_decref(v);
    ngx_chat_json_free(&j);
}


/*
 * A message cut for Redis, put together again with the numbers, is the
 * event ngx_chat_json_message() writes, whatever the strings contain.
 */
static void
test_message_parts(void)
{
    size_t                 i, k;
    char                   buf[1024], *p;
    const char            *prefix;
    ngx_chat_json_t        j, want;
    ngx_chat_message_t     m;
    ngx_chat_json_part_t   part[5];

    static const char  *nums[4] = { "42", "42", "9001", "1767139200456" };

    static const char  *bodies[] = {
        "hi",
        ",\"ts\":0,\"seq\":0,\"rev\":0,\"msg_id\":0,",
        "\\\",\"ts\":0",
        "0"
    };

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]) * 2; i++) {
        memset(&m, 0, sizeof(m));
        m.room = "lobby";
        m.room_len = 5;
        m.from = "alice";
        m.from_len = 5;
        m.body = bodies[i / 2];
        m.body_len = strlen(m.body);
        m.with_type = 1;

        if (i % 2) {
            m.name = "Al \",\"ts\":0 \"";
            m.name_len = strlen(m.name);
            m.client_msg_id = ",\"ts\":0";
            m.cid_len = strlen(m.client_msg_id);
            m.reply_to = 7;
            m.meta = "{\"ts\":0,\"seq\":0}";
            m.meta_len = strlen(m.meta);
        }

        /* also after what the buffer holds already */
        prefix = (i % 4 == 3) ? "[" : "";

        ngx_chat_json_init(&j, 0);
        ngx_chat_json_raw(&j, prefix, strlen(prefix));
        UNIT_CHECK(ngx_chat_json_message_parts(&j, &m, part) == 0,
                   "parts %zu", i);

        p = buf;

        for (k = 0; k < 5; k++) {
            memcpy(p, part[k].data, part[k].len);
            p += part[k].len;

            if (k < 4) {
                p += sprintf(p, "%s", nums[k]);
            }
        }

        m.seq = 42;
        m.rev = 42;
        m.msg_id = 9001;
        m.ts = 1767139200456LL;

        ngx_chat_json_init(&want, 0);
        ngx_chat_json_message(&want, &m);

        UNIT_CHECK((size_t) (p - buf) == want.len
                   && memcmp(buf, want.data, want.len) == 0,
                   "parts %zu put together: %.*s", i, (int) (p - buf), buf);
        UNIT_CHECK(part[0].data == j.data + strlen(prefix),
                   "parts %zu start after the prefix", i);

        ngx_chat_json_free(&want);
        ngx_chat_json_free(&j);
    }
}


/* a quoted string into a fixed buffer: all of it, or nothing */
static void
test_quote(void)
{
    char  buf[8];

    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "abc", 3) == 5
               && strcmp(buf, "\"abc\"") == 0, "quote abc: %s", buf);
    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "abcde", 5) == 7
               && strcmp(buf, "\"abcde\"") == 0, "quote fills the buffer");
    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "abcdef", 6) == 0,
               "quote one byte over");
    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "a\"b", 3) == 6
               && strcmp(buf, "\"a\\\"b\"") == 0, "quote escapes: %s", buf);
    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "\x01", 1) == 0,
               "quote: \\u0001 does not fit in 8");
    UNIT_CHECK(ngx_chat_json_quote(buf, sizeof(buf), "", 0) == 2
               && strcmp(buf, "\"\"") == 0, "quote empty");
    UNIT_CHECK(ngx_chat_json_quote(buf, 2, "", 0) == 0, "quote in 2");
}


int
main(void)
{
    test_message_max();
    test_writer_basic();
    test_writer_exhaustive();
    test_builders();
    test_message_parts();
    test_quote();

    return UNIT_DONE();
}
