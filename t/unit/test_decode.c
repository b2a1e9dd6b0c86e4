
/*
 * Unit tests of src/core/ngx_chat_decode.c: request decoding, its codes
 * and messages, and the request ids it keeps.
 */


#include <stdlib.h>
#include <stdint.h>
#include <limits.h>

#include <jansson.h>

#include "unit.h"
#include "unit_json.h"
#include "ngx_chat_decode.h"
#include "ngx_chat_json.h"


static const ngx_chat_proto_limits_t  small_limits = { 10, 32 };


/* decodes a NUL-terminated frame with the default limits */
static int
dec(const char *s, ngx_chat_request_t *r, const char **code,
    const char **msg)
{
    return ngx_chat_request_decode(s, strlen(s), NULL, r, code, msg);
}


/* the same with small_limits */
static int
dec_l(const char *s, ngx_chat_request_t *r, const char **code,
    const char **msg)
{
    return ngx_chat_request_decode(s, strlen(s), &small_limits, r, code, msg);
}


static int
str_eq(const char *p, size_t len, const char *s)
{
    return p != NULL && strlen(s) == len && memcmp(p, s, len) == 0;
}


/*
 * expects a failure with code; id is the expected id JSON text or NULL
 * when the error must carry no id
 */
static void
expect_err_lim(int line, const char *frame, size_t len,
    const ngx_chat_proto_limits_t *lim, const char *want_code,
    const char *want_id)
{
    int                  rc;
    const char          *code, *msg;
    ngx_chat_request_t   r;

    rc = ngx_chat_request_decode(frame, len, lim, &r, &code, &msg);

    UNIT_CHECK(rc == -1, "line %d: %s: expected failure", line, frame);

    if (rc == -1) {
        UNIT_CHECK(code != NULL && strcmp(code, want_code) == 0,
                   "line %d: %s: code %s, want %s", line, frame,
                   code ? code : "(null)", want_code);
        UNIT_CHECK(msg != NULL && msg[0] != '\0', "line %d: no message",
                   line);

        if (want_id == NULL) {
            UNIT_CHECK(r.id_len == 0, "line %d: %s: id %.*s kept", line,
                       frame, (int) r.id_len, r.id);

        } else {
            UNIT_CHECK(str_eq(r.id, r.id_len, want_id),
                       "line %d: %s: id %.*s, want %s", line, frame,
                       (int) r.id_len, r.id, want_id);
        }
    }

    ngx_chat_request_free(&r);
}


#define expect_err(frame, code, id)                                           \
    expect_err_lim(__LINE__, frame, strlen(frame), NULL, code, id)

#define expect_err_l(frame, lim, code, id)                                    \
    expect_err_lim(__LINE__, frame, strlen(frame), lim, code, id)


static void
expect_ok_lim(int line, const char *frame, const ngx_chat_proto_limits_t *lim,
    ngx_chat_req_type_e type)
{
    int                  rc;
    const char          *code, *msg;
    ngx_chat_request_t   r;

    rc = ngx_chat_request_decode(frame, strlen(frame), lim, &r, &code, &msg);

    UNIT_CHECK(rc == 0 && r.type == type, "line %d: %s: rc %d %s", line,
               frame, rc, rc ? msg : "");

    ngx_chat_request_free(&r);
}


#define expect_ok(frame, type)  expect_ok_lim(__LINE__, frame, NULL, type)
#define expect_ok_l(frame, lim, type)                                         \
    expect_ok_lim(__LINE__, frame, lim, type)


static void
test_types(void)
{
    const char          *code, *msg;
    ngx_chat_request_t   r;

    UNIT_CHECK(dec("{\"type\":\"auth\",\"id\":1,\"token\":\"abc.def\"}", &r,
                   &code, &msg) == 0, "auth");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_AUTH, "auth type");
    UNIT_CHECK(str_eq(r.id, r.id_len, "1"), "auth id");
    UNIT_CHECK(str_eq(r.token, r.token_len, "abc.def"), "auth token");
    UNIT_CHECK(r.token[r.token_len] == '\0', "token NUL-terminated");
    UNIT_CHECK(r.room == NULL && r.body == NULL, "auth other fields");
    ngx_chat_request_free(&r);
    UNIT_CHECK(r.root == NULL && r.meta == NULL, "free clears");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"refresh\",\"token\":\"t2\"}", &r, &code,
                   &msg) == 0, "refresh");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_REFRESH && r.id_len == 0,
               "refresh type, no id");
    UNIT_CHECK(str_eq(r.token, r.token_len, "t2"), "refresh token");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"id\":\"p1\",\"type\":\"ping\"}", &r, &code, &msg)
               == 0, "ping");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_PING, "ping type");
    UNIT_CHECK(str_eq(r.id, r.id_len, "\"p1\""), "ping id %.*s",
               (int) r.id_len, r.id);
    UNIT_CHECK(r.id[r.id_len] == '\0', "id NUL-terminated");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"join\",\"id\":2,\"room\":\"general\","
                   "\"since\":5}", &r, &code, &msg) == 0, "join");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_JOIN, "join type");
    UNIT_CHECK(str_eq(r.room, r.room_len, "general"), "join room");
    UNIT_CHECK(r.has_since && r.since == 5, "join since");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"join\",\"room\":\"general\",\"since\":0}",
                   &r, &code, &msg) == 0, "join since 0");
    UNIT_CHECK(r.has_since && r.since == 0, "join since 0 value");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"join\",\"room\":\"dm:alice:bob\"}", &r,
                   &code, &msg) == 0, "join dm");
    UNIT_CHECK(!r.has_since, "join without since");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"join\",\"room\":\"general\","
                   "\"since_rev\":7}", &r, &code, &msg) == 0, "join since_rev");
    UNIT_CHECK(r.has_since_rev && r.since_rev == 7 && !r.has_since,
               "join since_rev value");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"leave\",\"room\":\"r1\"}", &r, &code, &msg)
               == 0, "leave");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_LEAVE
               && str_eq(r.room, r.room_len, "r1"), "leave fields");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"send\",\"id\":\"s-1\",\"room\":\"general\","
                   "\"body\":\"h\\u00e9llo\\n\",\"client_msg_id\":\"c1\","
                   "\"reply_to\":7,\"meta\":{\"a\": [1, 2], \"b\": \"x\","
                   " \"c\": {\"d\": null}}, \"extra\": [true]}",
                   &r, &code, &msg) == 0, "send: %s", msg);
    UNIT_CHECK(r.type == NGX_CHAT_REQ_SEND, "send type");
    UNIT_CHECK(str_eq(r.id, r.id_len, "\"s-1\""), "send id");
    UNIT_CHECK(str_eq(r.room, r.room_len, "general"), "send room");
    UNIT_CHECK(str_eq(r.body, r.body_len, "h\xc3\xa9llo\n"), "send body");
    UNIT_CHECK(str_eq(r.client_msg_id, r.client_msg_id_len, "c1"),
               "send client_msg_id");
    UNIT_CHECK(r.has_reply_to && r.reply_to == 7, "send reply_to");
    UNIT_CHECK(r.meta != NULL
               && str_eq(r.meta, r.meta_len,
                         "{\"a\": [1, 2], \"b\": \"x\", \"c\": {\"d\": null}}"),
               "send meta %s", r.meta ? r.meta : "(null)");
    UNIT_CHECK(r.meta != NULL && r.meta[r.meta_len] == '\0',
               "meta NUL-terminated");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"send\",\"room\":\"general\",\"body\":\"x\"}",
                   &r, &code, &msg) == 0, "send minimal");
    UNIT_CHECK(r.client_msg_id == NULL && !r.has_reply_to && r.meta == NULL
               && r.meta_len == 0, "send minimal optional absent");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"history\",\"id\":3,\"room\":\"general\","
                   "\"before\":100,\"after\":0,\"limit\":200}", &r, &code,
                   &msg) == 0, "history");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_HISTORY, "history type");
    UNIT_CHECK(r.has_before && r.before == 100, "history before");
    UNIT_CHECK(r.has_after && r.after == 0, "history after");
    UNIT_CHECK(r.has_limit && r.limit == 200, "history limit");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"history\",\"room\":\"general\"}", &r, &code,
                   &msg) == 0, "history minimal");
    UNIT_CHECK(!r.has_before && !r.has_after && !r.has_limit
               && r.limit == NGX_CHAT_HISTORY_LIMIT_DEF,
               "history defaults, limit %lld", r.limit);
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"read\",\"room\":\"general\",\"seq\":42}",
                   &r, &code, &msg) == 0, "read");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_READ && r.has_seq && r.seq == 42,
               "read fields");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"typing\",\"room\":\"general\"}", &r, &code,
                   &msg) == 0, "typing");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_TYPING, "typing type");
    UNIT_CHECK(r.stop == 0, "typing without stop");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"typing\",\"room\":\"general\","
                   "\"stop\":true}", &r, &code, &msg) == 0, "typing stop");
    UNIT_CHECK(r.stop == 1, "typing stop true");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"typing\",\"room\":\"general\","
                   "\"stop\":false}", &r, &code, &msg) == 0,
               "typing stop false");
    UNIT_CHECK(r.stop == 0, "typing stop false value");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"edit\",\"id\":9,\"room\":\"general\","
                   "\"seq\":3,\"body\":\"fixed\"}", &r, &code, &msg) == 0,
               "edit");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_EDIT && r.has_seq && r.seq == 3
               && str_eq(r.body, r.body_len, "fixed"), "edit fields");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"delete\",\"room\":\"general\",\"seq\":"
                   "9223372036854775807}", &r, &code, &msg) == 0, "delete");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_DELETE && r.seq == LLONG_MAX,
               "delete fields");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"read\",\"room\":\"g\",\"seq\":4}", &r,
                   &code, &msg) == 0, "read");
    UNIT_CHECK(r.seq == 4 && r.state == NULL && !ngx_chat_req_delivered(&r),
               "read without state: read");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"read\",\"room\":\"g\",\"seq\":4,"
                   "\"state\":\"read\"}", &r, &code, &msg) == 0,
               "read state read");
    UNIT_CHECK(str_eq(r.state, r.state_len, "read")
               && !ngx_chat_req_delivered(&r), "read state read value");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"read\",\"room\":\"g\",\"seq\":4,"
                   "\"state\":\"delivered\"}", &r, &code, &msg) == 0,
               "read state delivered");
    UNIT_CHECK(ngx_chat_req_delivered(&r), "read state delivered value");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"presence\",\"room\":\"general\"}", &r,
                   &code, &msg) == 0, "presence");
    UNIT_CHECK(r.type == NGX_CHAT_REQ_PRESENCE, "presence type");
    ngx_chat_request_free(&r);

    /* fields of other types are ignored, whatever their type */
    expect_ok("{\"type\":\"send\",\"room\":\"r\",\"body\":\"b\","
              "\"since\":\"x\",\"limit\":-1,\"token\":5}", NGX_CHAT_REQ_SEND);
    expect_ok("{\"type\":\"ping\",\"room\":\"bad room\",\"seq\":-1}",
              NGX_CHAT_REQ_PING);

    UNIT_CHECK(strcmp(ngx_chat_req_type_name(NGX_CHAT_REQ_AUTH), "auth") == 0,
               "type name auth");
    UNIT_CHECK(strcmp(ngx_chat_req_type_name(NGX_CHAT_REQ_PRESENCE),
                      "presence") == 0, "type name presence");
    UNIT_CHECK(strcmp(ngx_chat_req_type_name(NGX_CHAT_REQ_HISTORY),
                      "history") == 0, "type name history");
    UNIT_CHECK(strcmp(ngx_chat_req_type_name((ngx_chat_req_type_e) 0),
                      "unknown") == 0, "type name 0");
    UNIT_CHECK(strcmp(ngx_chat_req_type_name((ngx_chat_req_type_e) 13),
                      "unknown") == 0, "type name 13");
}


static void
test_fields(void)
{
    /* missing required fields, id kept */
    expect_err("{\"type\":\"auth\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"refresh\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"leave\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"body\":\"x\"}", "bad_request",
               "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\"}", "bad_request",
               "1");
    expect_err("{\"type\":\"history\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\"}", "bad_request",
               "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"seq\":1}", "bad_request", "1");
    expect_err("{\"type\":\"typing\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"typing\",\"id\":1,\"room\":\"r\",\"stop\":1}",
               "bad_request", "1");
    expect_err("{\"type\":\"typing\",\"id\":1,\"room\":\"r\","
               "\"stop\":\"yes\"}", "bad_request", "1");
    expect_err("{\"type\":\"edit\",\"id\":1,\"room\":\"r\",\"seq\":1}",
               "bad_request", "1");
    expect_err("{\"type\":\"edit\",\"id\":1,\"room\":\"r\",\"body\":\"b\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"edit\",\"id\":1,\"seq\":1,\"body\":\"b\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"delete\",\"id\":1,\"room\":\"r\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"delete\",\"id\":1,\"seq\":2}", "bad_request",
               "1");
    expect_err("{\"type\":\"presence\",\"id\":1}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1,"
               "\"state\":\"seen\"}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1,"
               "\"state\":\"Read\"}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1,"
               "\"state\":1}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1,"
               "\"state\":null}", "bad_request", "1");

    /* mistyped required fields */
    expect_err("{\"type\":\"auth\",\"id\":\"a\",\"token\":5}",
               "bad_request", "\"a\"");
    expect_err("{\"type\":\"auth\",\"token\":null}", "bad_request", NULL);
    expect_err("{\"type\":\"refresh\",\"id\":1,\"token\":[\"x\"]}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":5}", "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":null}", "bad_request",
               "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":5}",
               "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":{}}",
               "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":\"1\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":0}",
               "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":-3}",
               "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1.0}",
               "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"r\",\"seq\":1e3}",
               "bad_request", "1");
    expect_err("{\"type\":\"edit\",\"id\":1,\"room\":\"r\",\"seq\":true,"
               "\"body\":\"b\"}", "bad_request", "1");
    expect_err("{\"type\":\"delete\",\"id\":1,\"room\":\"r\",\"seq\":null}",
               "bad_request", "1");

    /* mistyped optional fields */
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"r\",\"since\":1,"
               "\"since_rev\":1}", "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"r\",\"since_rev\":-1}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"r\",\"since\":-1}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"r\",\"since\":\"0\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"r\",\"since\":null}",
               "bad_request", "1");
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\",\"limit\":0}",
               "bad_request", "1");
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\",\"limit\":201}",
               "bad_request", "1");
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\",\"limit\":-5}",
               "bad_request", "1");
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\",\"limit\":2.5}",
               "bad_request", "1");
    expect_ok("{\"type\":\"history\",\"room\":\"r\",\"limit\":1}",
              NGX_CHAT_REQ_HISTORY);
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\","
               "\"before\":-1}", "bad_request", "1");
    expect_err("{\"type\":\"history\",\"id\":1,\"room\":\"r\","
               "\"after\":\"x\"}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"reply_to\":0}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"reply_to\":\"3\"}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"client_msg_id\":\"\"}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"client_msg_id\":7}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"meta\":[1]}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"meta\":\"{}\"}", "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"b\","
               "\"meta\":null}", "bad_request", "1");

    /* type */
    expect_err("{\"id\":5}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":7}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":\"PING\"}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":\"nope\"}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":\"\"}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":\"pingx\"}", "bad_request", "5");
    expect_err("{\"id\":5,\"type\":\"pin\"}", "bad_request", "5");
}


static void
test_client_msg_id(void)
{
    char  *id, frame[256];

    id = unit_repeat('c', 64);
    snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"room\":\"r\","
             "\"body\":\"b\",\"client_msg_id\":\"%s\"}", id);
    expect_ok(frame, NGX_CHAT_REQ_SEND);
    free(id);

    id = unit_repeat('c', 65);
    snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"id\":2,"
             "\"room\":\"r\",\"body\":\"b\",\"client_msg_id\":\"%s\"}", id);
    expect_err(frame, "bad_request", "2");
    free(id);
}


static void
test_room_fields(void)
{
    char  *s, frame[256];

    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"\"}", "bad_request",
               "1");
    s = unit_repeat('r', 65);
    snprintf(frame, sizeof(frame), "{\"type\":\"join\",\"id\":1,"
             "\"room\":\"%s\"}", s);
    expect_err(frame, "bad_request", "1");
    snprintf(frame, sizeof(frame), "{\"type\":\"join\",\"id\":1,"
             "\"room\":\"%.64s\"}", s);
    expect_ok(frame, NGX_CHAT_REQ_JOIN);
    free(s);
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"a b\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"caf\\u00e9\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"dm:bob:alice\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"dm:bob:bob\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"dm:a:b:c\"}",
               "bad_request", "1");
    expect_err("{\"type\":\"send\",\"id\":1,\"room\":\"dm:a$:b\","
               "\"body\":\"x\"}", "bad_request", "1");
    expect_err("{\"type\":\"read\",\"id\":1,\"room\":\"dm:\",\"seq\":1}",
               "bad_request", "1");
    expect_ok("{\"type\":\"send\",\"room\":\"dm:a:b\",\"body\":\"x\"}",
              NGX_CHAT_REQ_SEND);
}


static void
test_body_limits(void)
{
    char                     *s, *frame;
    size_t                    size;
    ngx_chat_proto_limits_t   lim;

    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":\"0123456789\"}",
                &small_limits, NGX_CHAT_REQ_SEND);
    expect_err_l("{\"type\":\"send\",\"id\":4,\"room\":\"r\","
                 "\"body\":\"0123456789a\"}", &small_limits, "too_large",
                 "4");
    expect_err_l("{\"type\":\"send\",\"id\":4,\"room\":\"r\",\"body\":\"\"}",
                 &small_limits, "bad_request", "4");
    expect_err_l("{\"type\":\"edit\",\"id\":4,\"room\":\"r\",\"seq\":1,"
                 "\"body\":\"0123456789a\"}", &small_limits, "too_large",
                 "4");
    expect_err_l("{\"type\":\"edit\",\"id\":4,\"room\":\"r\",\"seq\":1,"
                 "\"body\":\"\"}", &small_limits, "bad_request", "4");

    /* bytes, not characters: 5 two-byte characters are 10 bytes */
    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":"
                "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}", &small_limits,
                NGX_CHAT_REQ_SEND);
    expect_err_l("{\"type\":\"send\",\"room\":\"r\",\"body\":"
                 "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9x\"}", &small_limits,
                 "too_large", NULL);

    /* the defaults: 2048 */
    size = 2100;
    frame = malloc(size + 64);

    s = unit_repeat('b', NGX_CHAT_BODY_MAX_DEFAULT);
    snprintf(frame, size + 64, "{\"type\":\"send\",\"room\":\"r\","
             "\"body\":\"%s\"}", s);
    expect_ok(frame, NGX_CHAT_REQ_SEND);
    free(s);

    s = unit_repeat('b', NGX_CHAT_BODY_MAX_DEFAULT + 1);
    snprintf(frame, size + 64, "{\"type\":\"send\",\"id\":\"x\","
             "\"room\":\"r\",\"body\":\"%s\"}", s);
    expect_err(frame, "too_large", "\"x\"");
    free(s);
    free(frame);

    /* zero limits mean the defaults too */
    lim.body_max = 0;
    lim.meta_max = 0;
    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":\"x\"}", &lim,
                NGX_CHAT_REQ_SEND);

    /* meta: 32 bytes with small_limits */
    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":\"x\","
                "\"meta\":{\"k\":\"012345678901234567890123\"}}",
                &small_limits, NGX_CHAT_REQ_SEND);
    expect_err_l("{\"type\":\"send\",\"id\":1,\"room\":\"r\",\"body\":\"x\","
                 "\"meta\":{\"k\":\"0123456789012345678901234\"}}",
                 &small_limits, "too_large", "1");
    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":\"x\","
                "\"meta\":{}}", &small_limits, NGX_CHAT_REQ_SEND);
}


static void
test_ids(void)
{
    char                *s, frame[512];
    json_t              *v;
    const char          *code, *msg;
    ngx_chat_request_t   r;

    expect_err("{\"type\":\"nope\",\"id\":12}", "bad_request", "12");
    expect_err("{\"type\":\"nope\",\"id\":-12}", "bad_request", "-12");
    expect_err("{\"type\":\"nope\",\"id\":0}", "bad_request", "0");
    expect_err("{\"type\":\"nope\",\"id\":9223372036854775807}",
               "bad_request", "9223372036854775807");
    expect_err("{\"type\":\"nope\",\"id\":-9223372036854775808}",
               "bad_request", "-9223372036854775808");
    expect_err("{\"type\":\"nope\",\"id\":\"abc\"}", "bad_request",
               "\"abc\"");
    expect_err("{\"type\":\"nope\",\"id\":\"\"}", "bad_request", "\"\"");
    expect_err("{\"type\":\"nope\",\"id\":\"a\\\"b\"}", "bad_request",
               "\"a\\\"b\"");
    expect_err("{\"type\":\"nope\",\"id\":\"a\\\\b\\/c\"}", "bad_request",
               "\"a\\\\b/c\"");
    expect_err("{\"type\":\"nope\",\"id\":\"\\u00e9\"}", "bad_request",
               "\"\xc3\xa9\"");
    expect_err("{\"type\":\"nope\",\"id\":\"t\\tn\\n\\u0001\"}",
               "bad_request", "\"t\\tn\\n\\u0001\"");

    /* integer ids that are too big are not JSON integers we accept */
    expect_err("{\"type\":\"ping\",\"id\":9223372036854775808}",
               "bad_request", NULL);

    /* not an integer or a string: no id in the error */
    expect_err("{\"type\":\"ping\",\"id\":1.5}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1.0}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1e2}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":true}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":false}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":null}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":{}}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":[1]}", "bad_request", NULL);

    /* 64 bytes: fine; 65: too long */
    s = unit_repeat('i', 64);
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":\"%s\"}", s);
    UNIT_CHECK(dec(frame, &r, &code, &msg) == 0, "64-byte id");
    UNIT_CHECK(r.id_len == 66 && r.id[0] == '"' && r.id[65] == '"'
               && memcmp(r.id + 1, s, 64) == 0 && r.id[66] == '\0',
               "64-byte id text");
    ngx_chat_request_free(&r);
    free(s);

    s = unit_repeat('i', 65);
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":\"%s\"}", s);
    expect_err(frame, "bad_request", NULL);
    free(s);

    /* 64 bytes of which 5 need a two-byte escape: still fits */
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":"
             "\"\\\"\\\"\\\"\\\"\\\"%.59s\"}",
             "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii");
    UNIT_CHECK(dec(frame, &r, &code, &msg) == 0, "escaped 64-byte id: %s",
               msg);
    UNIT_CHECK(r.id_len == 71, "escaped id len %zu", r.id_len);
    v = json_loadb(r.id, r.id_len, JSON_DECODE_ANY, NULL);
    UNIT_CHECK(v != NULL && json_is_string(v)
               && json_string_length(v) == 64
               && memcmp(json_string_value(v), "\"\"\"\"\"iii", 8) == 0,
               "escaped id round trip");
    json_decref(v);
    ngx_chat_request_free(&r);

    /* an id whose JSON form does not fit the fixed buffer */
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":"
             "\"\\u0001\\u0001abc\"}");
    expect_ok(frame, NGX_CHAT_REQ_PING);
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":"
             "\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001"
             "\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\"}");
    expect_err(frame, "bad_request", NULL);
}


static void
test_malformed(void)
{
    int                  i, n;
    char                *frame, *p;
    const char          *code, *msg;
    ngx_chat_request_t   r;
    static const char    nul_frame[] = "{\"type\":\"ping\",\"x\":\"a\0b\"}";
    static const char    nul_num[] =
        "{\"type\":\"send\",\"id\":1\0,\"room\":\"r\",\"body\":\"x\"}";
    static const char    nul_num_meta[] =
        "{\"type\":\"send\",\"id\":1\0,\"room\":\"r\",\"body\":\"x\","
        "\"meta\":{\"a\":1}}";

    expect_err("", "bad_request", NULL);
    expect_err("   ", "bad_request", NULL);
    expect_err("{", "bad_request", NULL);
    expect_err("not json", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",}", "bad_request", NULL);
    expect_err("{'type':'ping'}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\"", "bad_request", NULL);
    expect_err("[1,2]", "bad_request", NULL);
    expect_err("[]", "bad_request", NULL);
    expect_err("\"ping\"", "bad_request", NULL);
    expect_err("42", "bad_request", NULL);
    expect_err("null", "bad_request", NULL);
    expect_err("{\"type\":\"ping\"} x", "bad_request", NULL);
    expect_err("{\"type\":\"ping\"}{}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1}]", "bad_request", NULL);
    expect_ok("  {\"type\":\"ping\"} \r\n\t", NGX_CHAT_REQ_PING);

    /* NUL: escaped in a string, raw in the buffer, in a key */
    expect_err("{\"type\":\"send\",\"room\":\"r\",\"body\":\"a\\u0000b\"}",
               "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"a\\u0000b\":1}", "bad_request", NULL);
    expect_err_lim(__LINE__, nul_frame, sizeof(nul_frame) - 1, NULL,
                   "bad_request", NULL);
    expect_err_lim(__LINE__, "{\"type\":\"ping\"}\0", 16, NULL,
                   "bad_request", NULL);

    /*
     * a raw NUL after a number: jansson skips it, the member scanner does
     * not, and "meta" was then "internal" (found by fuzz/fuzz_scan.c)
     */
    expect_err_lim(__LINE__, nul_num, sizeof(nul_num) - 1, NULL,
                   "bad_request", NULL);
    expect_err_lim(__LINE__, nul_num_meta, sizeof(nul_num_meta) - 1, NULL,
                   "bad_request", NULL);

    /* the length bounds the input: no NUL terminator needed */
    expect_err_lim(__LINE__, "{\"type\":\"ping\"}garbage", 16, NULL,
                   "bad_request", NULL);
    UNIT_CHECK(ngx_chat_request_decode("{\"type\":\"ping\"}garbage", 15,
                                       NULL, &r, &code, &msg) == 0,
               "length-bounded frame");
    ngx_chat_request_free(&r);
    UNIT_CHECK(ngx_chat_request_decode(NULL, 0, NULL, &r, &code, &msg) == -1
               && strcmp(code, "bad_request") == 0, "NULL buffer");
    ngx_chat_request_free(&r);

    /* invalid UTF-8 and a lone surrogate escape */
    expect_err("{\"type\":\"send\",\"room\":\"r\",\"body\":\"\xc3\x28\"}",
               "bad_request", NULL);
    expect_err("{\"type\":\"send\",\"room\":\"r\",\"body\":\"\xff\"}",
               "bad_request", NULL);
    expect_err("{\"type\":\"send\",\"room\":\"r\",\"body\":\"\\ud800\"}",
               "bad_request", NULL);

    /* duplicate keys */
    expect_err("{\"type\":\"ping\",\"type\":\"auth\"}", "bad_request",
               NULL);
    expect_err("{\"type\":\"join\",\"room\":\"a\",\"room\":\"b\"}",
               "bad_request", NULL);

    /* numbers out of range */
    expect_err("{\"type\":\"read\",\"room\":\"r\","
               "\"seq\":99999999999999999999}", "bad_request", NULL);

    /* deep nesting, in an ignored field and in meta */
    n = 100000;
    frame = malloc(2 * n + 256);

    p = frame + sprintf(frame, "{\"type\":\"ping\",\"x\":");
    for (i = 0; i < n; i++) {
        *p++ = '[';
    }
    for (i = 0; i < n; i++) {
        *p++ = ']';
    }
    strcpy(p, "}");
    expect_err(frame, "bad_request", NULL);

    p = frame + sprintf(frame, "{\"type\":\"send\",\"id\":1,\"room\":\"r\","
                        "\"body\":\"b\",\"meta\":{\"a\":");
    for (i = 0; i < 100; i++) {
        *p++ = '[';
    }
    for (i = 0; i < 100; i++) {
        *p++ = ']';
    }
    strcpy(p, "}}");
    UNIT_CHECK(dec(frame, &r, &code, &msg) == 0, "meta nested 100");
    UNIT_CHECK(r.meta != NULL && r.meta_len == 206, "meta nested text %zu",
               r.meta_len);
    ngx_chat_request_free(&r);

    free(frame);
}


/* meta is what the client sent, byte for byte */
static void
test_meta_text(void)
{
    char                 frame[512];
    const char          *code, *msg;
    ngx_chat_request_t   r;
    size_t               i;
    static const char   *metas[] = {
        "{\"n\":1e308}",
        "{\"n\":1.0E+2,\"z\":0.1000,\"neg\":-0.0e-5}",
        "{\"u\":\"\\u00e9\\ud83d\\ude00\",\"s\":\"a\\/b\\\"c\\\\\"}",
        "{ \"b\" : 2 ,\n\t\"a\":[ 1 , {} , [ ] ,\"}\" ] }",
        "{\"z\":{\"y\":{\"x\":[true,false,null]}},\"a\":1}",
        "{}"
    };

    for (i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
        snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"room\":\"r\","
                 "\"meta\": \r\n %s \t,\"body\":\"x\"}", metas[i]);

        UNIT_CHECK(dec(frame, &r, &code, &msg) == 0, "meta %s: %s",
                   metas[i], msg ? msg : "");
        UNIT_CHECK(str_eq(r.meta, r.meta_len, metas[i])
                   && r.meta[r.meta_len] == '\0',
                   "meta %s came back as %s", metas[i],
                   r.meta ? r.meta : "(null)");
        ngx_chat_request_free(&r);

        /* a REST body: the same text */
        snprintf(frame, sizeof(frame), "{\"body\":\"x\",\"meta\":%s}",
                 metas[i]);
        UNIT_CHECK(ngx_chat_request_decode_as(NGX_CHAT_REQ_SEND, frame,
                                              strlen(frame), NULL, &r,
                                              &code, &msg) == 0
                   && str_eq(r.meta, r.meta_len, metas[i]),
                   "REST meta %s", metas[i]);
        ngx_chat_request_free(&r);
    }

    /* an escaped key is the same key; "meta" nested elsewhere is not it */
    UNIT_CHECK(dec("{\"type\":\"send\",\"room\":\"r\",\"body\":\"x\","
                   "\"x\":{\"meta\":{\"no\":1}},\"m\\u0065ta\":{\"k\":1.50}}",
                   &r, &code, &msg) == 0
               && str_eq(r.meta, r.meta_len, "{\"k\":1.50}"),
               "escaped meta key: %s", r.meta ? r.meta : msg);
    ngx_chat_request_free(&r);

    /* the cap counts the text as sent, white space included */
    expect_ok_l("{\"type\":\"send\",\"room\":\"r\",\"body\":\"x\","
                "\"meta\":{\"k\":                         1}}",
                &small_limits, NGX_CHAT_REQ_SEND);
    expect_err_l("{\"type\":\"send\",\"id\":2,\"room\":\"r\",\"body\":\"x\","
                 "\"meta\":{\"k\":                          1}}",
                 &small_limits, "too_large", "2");
    expect_err_l("{\"type\":\"send\",\"id\":2,\"room\":\"r\",\"body\":\"x\","
                 "\"meta\":{\"k\":0.00000000000000000000000000001}}",
                 &small_limits, "too_large", "2");
}


/* a frame that jansson refuses still gets its id back */
static void
test_refused_ids(void)
{
    int     i, n;
    char   *frame, *p;

    /* the refusals of issue 8 */
    expect_err("{\"type\":\"send\",\"id\":7,\"room\":\"r\","
               "\"body\":\"a\\u0000b\"}", "bad_request", "7");
    expect_err("{\"id\":\"q\",\"type\":\"send\",\"room\":\"r\","
               "\"body\":\"\\ud800\"}", "bad_request", "\"q\"");
    expect_err("{\"type\":\"send\",\"room\":\"r\",\"body\":\"b\","
               "\"meta\":{\"k\":1,\"k\":2},\"id\":\"dup\"}", "bad_request",
               "\"dup\"");
    expect_err("{\"type\":\"read\",\"id\":9,\"room\":\"r\","
               "\"seq\":9223372036854775808}", "bad_request", "9");

    /* other refusals of the text */
    expect_err("{\"type\":\"ping\",\"type\":\"auth\",\"id\":-3}",
               "bad_request", "-3");
    expect_err("{\"type\":\"send\",\"id\":4,\"room\":\"r\",\"body\":\"b\","
               "\"meta\":{\"k\":1e999}}", "bad_request", "4");
    expect_err("{\"type\":\"send\",\"id\":5,\"room\":\"r\","
               "\"body\":\"\xc3\x28\"}", "bad_request", "5");
    expect_err("{\"type\":\"send\",\"id\":6,\"room\":\"r\","
               "\"body\":\"tab\there\"}", "bad_request", "6");
    expect_err("{\"type\":\"ping\",\"id\":\"a\\\"b\",\"x\\u0000\":1}",
               "bad_request", "\"a\\\"b\"");
    expect_err("{\"type\":\"send\",\"\\u0069d\":8,\"room\":\"r\","
               "\"body\":\"\\udc00\"}", "bad_request", "8");
    expect_err(" {\"id\" : \"sp\" ,\"type\":\"send\",\"room\":\"r\","
               "\"body\":\"\\u0000\"} \n", "bad_request", "\"sp\"");
    expect_err("{\"type\":\"send\",\"id\":\"\\u00e9\",\"room\":\"r\","
               "\"body\":\"\\u0000\"}", "bad_request", "\"\xc3\xa9\"");

    /* deeper than jansson goes, before and after the id */
    n = 5000;
    frame = malloc(4 * n + 256);

    p = frame + sprintf(frame, "{\"type\":\"ping\",\"x\":");
    for (i = 0; i < n; i++) {
        *p++ = (i % 2) ? '[' : '{';
        if (i % 2 == 0) {
            p += sprintf(p, "\"k\":");
        }
    }
    for (i = n - 1; i >= 0; i--) {
        *p++ = (i % 2) ? ']' : '}';
    }
    strcpy(p, ",\"id\":10}");
    expect_err(frame, "bad_request", "10");

    /* the same with a bracket that does not match: no id */
    p[-1] = ']';
    expect_err(frame, "bad_request", NULL);
    free(frame);

    /* an id that is unusable itself: no id */
    expect_err("{\"type\":\"send\",\"id\":\"a\\u0000\",\"room\":\"r\","
               "\"body\":\"b\"}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":\"\\ud800\"}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":9223372036854775808}",
               "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1.5,\"x\":\"\\u0000\"}",
               "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1,\"id\":2}", "bad_request", NULL);
    expect_err("{\"type\":\"ping\",\"id\":1,\"\\u0069d\":1}", "bad_request",
               NULL);

    /* not an object, or not JSON: nothing to recover */
    expect_err("[{\"id\":1},\"\\u0000\"]", "bad_request", NULL);
    expect_err("{\"id\":1,\"type\":\"ping\",}", "bad_request", NULL);
    expect_err("{\"id\":1,\"type\":\"ping\"", "bad_request", NULL);
    expect_err("{\"id\":1,\"x\":\"\\u0000\"} {}", "bad_request", NULL);
    expect_err("{\"id\":1,\"x\":[1}}", "bad_request", NULL);
    expect_err("{\"id\":1,\"x\":{1:2}}", "bad_request", NULL);
    expect_err("{\"id\":1,\"x\":\"unterminated}", "bad_request", NULL);
    expect_err("{\"id\":1,\"x\":\"\\", "bad_request", NULL);
}


/* robustness: random damage to valid frames must never crash or leak */
static void
test_mutations(void)
{
    int                  i, k, rc, ok, bad;
    char                 buf[512];
    size_t               len;
    const char          *code, *msg;
    unsigned             seed;
    ngx_chat_request_t   r;
    static const char   *frames[] = {
        ("{\"type\":\"send\",\"id\":\"x\",\"room\":\"dm:alice:bob\","
         "\"body\":\"h\\u00e9\\n\",\"client_msg_id\":\"c\",\"reply_to\":3,"
         "\"meta\":{\"a\":[1,{\"b\":null}],\"c\":1.5}}"),
        ("{\"type\":\"history\",\"id\":7,\"room\":\"g\",\"before\":10,"
         "\"after\":1,\"limit\":20}"),
        "{\"type\":\"auth\",\"id\":1,\"token\":\"aaa.bbb.ccc\"}",
        "{\"type\":\"edit\",\"room\":\"g\",\"seq\":2,\"body\":\"x\"}"
    };
    static const char    alphabet[] = "{}[]\":,\\ 0-1e.tnu\x01\x80\xc3\xff";

    seed = 12345;
    ok = 0;
    bad = 0;

    for (i = 0; i < 40000; i++) {
        len = strlen(frames[i % 4]);
        memcpy(buf, frames[i % 4], len);

        for (k = 0; k < 1 + i % 3; k++) {
            seed = seed * 1103515245 + 12345;

            switch ((seed >> 8) % 3) {
            case 0:
                buf[(seed >> 12) % len] = alphabet[(seed >> 20)
                                                   % (sizeof(alphabet) - 1)];
                break;
            case 1:
                len = (seed >> 12) % len + 1;
                break;
            default:
                buf[(seed >> 12) % len] = (char) (seed >> 16);
            }
        }

        rc = ngx_chat_request_decode(buf, len, &small_limits, &r, &code,
                                     &msg);
        if (rc == 0) {
            ok++;
            if (r.room != NULL && !ngx_chat_room_id_valid(r.room,
                                                          r.room_len))
            {
                UNIT_CHECK(0, "accepted an invalid room");
            }

        } else {
            bad++;
            if (code == NULL || msg == NULL
                || (strcmp(code, "bad_request") != 0
                    && strcmp(code, "too_large") != 0))
            {
                UNIT_CHECK(0, "odd error code %s", code ? code : "(null)");
            }
        }

        ngx_chat_request_free(&r);
    }

    UNIT_CHECK(ok > 0 && bad > 0, "mutations: %d ok, %d bad", ok, bad);
}


/* decode -> writer -> parse: what a client sent comes back unchanged */
static void
test_round_trip(void)
{
    json_t              *v;
    const char          *code, *msg;
    ngx_chat_json_t      j;
    ngx_chat_message_t   m;
    ngx_chat_request_t   r;

    UNIT_CHECK(dec("{\"type\":\"send\",\"id\":\"r\\\\t\",\"room\":\"g\","
                   "\"body\":\"\\u0007\\u001f\\\"\\\\\\/\\u00e9\\ud83d\\ude00"
                   "\\n\",\"client_msg_id\":\"\\\"x\\\"\","
                   "\"meta\":{\"k\":\"v\\u0001\",\"n\":[1,2.5,true]}}",
                   &r, &code, &msg) == 0, "decode for round trip: %s", msg);

    memset(&m, 0, sizeof(m));
    m.room = r.room;
    m.room_len = r.room_len;
    m.seq = 1;
    m.msg_id = 2;
    m.ts = 3;
    m.from = "u";
    m.from_len = 1;
    m.body = r.body;
    m.body_len = r.body_len;
    m.client_msg_id = r.client_msg_id;
    m.cid_len = r.client_msg_id_len;
    m.meta = r.meta;
    m.meta_len = r.meta_len;
    m.with_type = 1;

    ngx_chat_json_init(&j, 0);
    ngx_chat_json_message(&j, &m);
    v = jload(&j);
    UNIT_CHECK(v && jstr(v, "body", "\x07\x1f\"\\/\xc3\xa9\xf0\x9f\x98\x80\n",
                         12), "body round trip");
    UNIT_CHECK(v && jstr(v, "client_msg_id", "\"x\"", 3), "cid round trip");
    UNIT_CHECK(v && json_equal(json_object_get(v, "meta"),
                               json_object_get((json_t *) r.root, "meta")),
               "meta round trip");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    ngx_chat_json_ok_begin(&j, r.id, r.id_len);
    ngx_chat_json_end(&j);
    v = jload(&j);
    UNIT_CHECK(v && json_equal(json_object_get(v, "id"),
                               json_object_get((json_t *) r.root, "id")),
               "id round trip");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_request_free(&r);
}


/*
 * Every code and message the decoder gives, byte for byte: clients and
 * the integration tests compare them.  as 0 is a WebSocket frame, else a
 * REST body of that type.
 */
static void
test_messages(void)
{
    int                  rc;
    size_t               i;
    const char          *code, *msg;
    ngx_chat_request_t   r;

    static const struct {
        ngx_chat_req_type_e   as;
        const char           *frame;
        const char           *code;
        const char           *msg;
    } cases[] = {
        { 0, "[1]", "bad_request", "a frame must be a JSON object" },
        { 0, "{\"id\":1", "bad_request", "truncated JSON" },
        { 0, "{\"id\":1} x", "bad_request",
          "trailing data after the JSON object" },
        { 0, "{\"id\":1,\"id\":2}", "bad_request",
          "duplicate key in JSON object" },
        { 0, "{\"id\":1,\"a\":\"\\u0000\"}", "bad_request",
          "NUL character in a JSON string" },
        { 0, "{\"id\":1,\"a\":\"\xff\"}", "bad_request",
          "invalid UTF-8 in JSON" },
        { 0, "{\"id\":1,\"a\":1e999999}", "bad_request",
          "number out of range" },
        { 0, "{\"id\":1,\"a\":tru}", "bad_request", "malformed JSON" },
        { 0, "{\"id\":1.5,\"type\":\"ping\"}", "bad_request",
          "\"id\" must be an integer or a string of at most 64 bytes" },
        { 0, "{\"id\":1}", "bad_request", "missing \"type\"" },
        { 0, "{\"type\":1}", "bad_request", "\"type\" must be a string" },
        { 0, "{\"type\":\"nope\"}", "bad_request", "unknown \"type\"" },
        { 0, "{\"type\":\"join\"}", "bad_request", "missing \"room\"" },
        { 0, "{\"type\":\"join\",\"room\":1}", "bad_request",
          "\"room\" must be a string" },
        { 0, "{\"type\":\"join\",\"room\":\"a b\"}", "bad_request",
          "invalid room id" },
        { 0, "{\"type\":\"auth\"}", "bad_request", "missing \"token\"" },
        { 0, "{\"type\":\"auth\",\"token\":null}", "bad_request",
          "\"token\" must be a string" },
        { 0, "{\"type\":\"read\",\"room\":\"g\"}", "bad_request",
          "missing \"seq\"" },
        { 0, "{\"type\":\"read\",\"room\":\"g\",\"seq\":0}", "bad_request",
          "\"seq\" must be an integer >= 1" },
        { 0, "{\"type\":\"send\",\"room\":\"g\"}", "bad_request",
          "missing \"body\"" },
        { 0, "{\"type\":\"send\",\"room\":\"g\",\"body\":1}", "bad_request",
          "\"body\" must be a string" },
        { 0, "{\"type\":\"send\",\"room\":\"g\",\"body\":\"\"}",
          "bad_request", "\"body\" must not be empty" },
        { 0, "{\"type\":\"send\",\"room\":\"g\",\"body\":\"x\","
             "\"client_msg_id\":\"\"}", "bad_request",
          "\"client_msg_id\" must be a string of 1 to 64 bytes" },
        { 0, "{\"type\":\"send\",\"room\":\"g\",\"body\":\"x\","
             "\"reply_to\":0}", "bad_request",
          "\"reply_to\" must be an integer >= 1" },
        { 0, "{\"type\":\"send\",\"room\":\"g\",\"body\":\"x\","
             "\"meta\":[]}", "bad_request", "\"meta\" must be an object" },
        { 0, "{\"type\":\"join\",\"room\":\"g\",\"since\":-1}",
          "bad_request", "\"since\" must be an integer >= 0" },
        { 0, "{\"type\":\"join\",\"room\":\"g\",\"since_rev\":\"1\"}",
          "bad_request", "\"since_rev\" must be an integer >= 0" },
        { 0, "{\"type\":\"join\",\"room\":\"g\",\"since\":1,"
             "\"since_rev\":1}", "bad_request",
          "\"since\" and \"since_rev\" exclude each other" },
        { 0, "{\"type\":\"history\",\"room\":\"g\",\"before\":-1}",
          "bad_request", "\"before\" must be an integer >= 0" },
        { 0, "{\"type\":\"history\",\"room\":\"g\",\"after\":true}",
          "bad_request", "\"after\" must be an integer >= 0" },
        { 0, "{\"type\":\"history\",\"room\":\"g\",\"limit\":201}",
          "bad_request", "\"limit\" must be an integer from 1 to 200" },
        { NGX_CHAT_REQ_SEND, "{\"body\":\"\"}", "bad_request",
          "\"body\" must not be empty" },
        { NGX_CHAT_REQ_SEND, "{}", "bad_request", "missing \"body\"" },
        { NGX_CHAT_REQ_EDIT, "{\"body\":\"x\"}", "bad_request",
          "missing \"seq\"" },
        { NGX_CHAT_REQ_JOIN, "{\"room\":1}", NULL, NULL },
        { NGX_CHAT_REQ_SEND, "[1]", "bad_request",
          "a frame must be a JSON object" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].as) {
            rc = ngx_chat_request_decode_as(cases[i].as, cases[i].frame,
                                            strlen(cases[i].frame), NULL,
                                            &r, &code, &msg);

        } else {
            rc = dec(cases[i].frame, &r, &code, &msg);
        }

        if (cases[i].code == NULL) {
            UNIT_CHECK(rc == 0, "%s: %s", cases[i].frame, msg);

        } else {
            UNIT_CHECK(rc == -1 && strcmp(code, cases[i].code) == 0
                       && strcmp(msg, cases[i].msg) == 0,
                       "%s: %s %s", cases[i].frame, code ? code : "-",
                       msg ? msg : "-");
        }

        ngx_chat_request_free(&r);
    }

    /* the limits' own codes */

    rc = dec_l("{\"type\":\"send\",\"room\":\"g\",\"body\":\"12345678901\"}",
               &r, &code, &msg);
    UNIT_CHECK(rc == -1 && strcmp(code, "too_large") == 0
               && strcmp(msg, "\"body\" is too long") == 0,
               "body too long: %s %s", code, msg);
    ngx_chat_request_free(&r);

    rc = dec_l("{\"type\":\"send\",\"room\":\"g\",\"body\":\"x\","
               "\"meta\":{\"k\":\"0123456789012345678901234567\"}}",
               &r, &code, &msg);
    UNIT_CHECK(rc == -1 && strcmp(code, "too_large") == 0
               && strcmp(msg, "\"meta\" is too large") == 0,
               "meta too large: %s %s", code, msg);
    ngx_chat_request_free(&r);
}


/* what absent fields read as, and the flags of present ones */
static void
test_defaults(void)
{
    const char          *code, *msg;
    ngx_chat_request_t   r;

    UNIT_CHECK(dec("{\"type\":\"history\",\"room\":\"g\"}", &r, &code,
                   &msg) == 0
               && r.limit == NGX_CHAT_HISTORY_LIMIT_DEF && !r.has_limit
               && !r.has_before && !r.has_after, "history defaults");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"history\",\"room\":\"g\",\"limit\":200,"
                   "\"before\":0}", &r, &code, &msg) == 0
               && r.limit == NGX_CHAT_HISTORY_LIMIT_MAX && r.has_limit
               && r.has_before && r.before == 0 && !r.has_after,
               "history limit 200");
    ngx_chat_request_free(&r);

    UNIT_CHECK(dec("{\"type\":\"join\",\"room\":\"g\",\"since_rev\":0}",
                   &r, &code, &msg) == 0
               && r.has_since_rev && !r.has_since, "join since_rev 0");
    ngx_chat_request_free(&r);

    UNIT_CHECK(ngx_chat_request_decode_as(NGX_CHAT_REQ_SEND,
                                          "{\"body\":\"b\",\"reply_to\":4}",
                                          25, NULL, &r, &code, &msg) == 0
               && r.room == NULL && r.body_len == 1 && r.has_reply_to
               && r.reply_to == 4 && r.id_len == 0, "REST send");
    ngx_chat_request_free(&r);
}


int
main(void)
{
    test_types();
    test_fields();
    test_client_msg_id();
    test_room_fields();
    test_body_limits();
    test_ids();
    test_malformed();
    test_meta_text();
    test_refused_ids();
    test_mutations();
    test_round_trip();
    test_messages();
    test_defaults();

    return UNIT_DONE();
}
