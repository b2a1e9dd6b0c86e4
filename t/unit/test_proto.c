
/*
 * Unit tests of src/core/ngx_chat_proto.c: request decoding, id validation and
 * the JSON writer.
 */


#include <stdlib.h>
#include <stdint.h>
#include <limits.h>

#include <jansson.h>

#include "unit.h"
#include "ngx_chat_proto.h"


static const ngx_chat_proto_limits_t  small_limits = { 10, 32 };


/* decodes a NUL-terminated frame with the default limits */
static int
dec(const char *s, ngx_chat_request_t *r, const char **code,
    const char **msg)
{
    return ngx_chat_request_decode(s, strlen(s), NULL, r, code, msg);
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


static char *
repeat(char c, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    memset(p, c, n);
    p[n] = '\0';

    return p;
}


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

    id = repeat('c', 64);
    snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"room\":\"r\","
             "\"body\":\"b\",\"client_msg_id\":\"%s\"}", id);
    expect_ok(frame, NGX_CHAT_REQ_SEND);
    free(id);

    id = repeat('c', 65);
    snprintf(frame, sizeof(frame), "{\"type\":\"send\",\"id\":2,"
             "\"room\":\"r\",\"body\":\"b\",\"client_msg_id\":\"%s\"}", id);
    expect_err(frame, "bad_request", "2");
    free(id);
}


static void
test_room_ids(void)
{
    char  *s, frame[256], buf[NGX_CHAT_ROOM_ID_MAX + 1];

    UNIT_CHECK(ngx_chat_user_id_valid("alice", 5), "user alice");
    UNIT_CHECK(ngx_chat_user_id_valid("A-z_0.9@x", 9), "user chars");
    UNIT_CHECK(!ngx_chat_user_id_valid("", 0), "user empty");
    UNIT_CHECK(!ngx_chat_user_id_valid(NULL, 0), "user NULL");
    UNIT_CHECK(!ngx_chat_user_id_valid("a:b", 3), "user colon");
    UNIT_CHECK(!ngx_chat_user_id_valid("a b", 3), "user space");
    UNIT_CHECK(!ngx_chat_user_id_valid("a\0b", 3), "user NUL");
    UNIT_CHECK(!ngx_chat_user_id_valid("\xc3\xa9", 2), "user UTF-8");

    s = repeat('u', 65);
    UNIT_CHECK(ngx_chat_user_id_valid(s, 64), "user 64");
    UNIT_CHECK(!ngx_chat_user_id_valid(s, 65), "user 65");
    UNIT_CHECK(ngx_chat_room_id_valid(s, 64), "room 64");
    UNIT_CHECK(!ngx_chat_room_id_valid(s, 65), "room 65");
    free(s);

    UNIT_CHECK(!ngx_chat_room_id_valid("", 0), "room empty");
    UNIT_CHECK(ngx_chat_room_id_valid("team:general", 12), "room colon");
    UNIT_CHECK(ngx_chat_room_id_valid("a.b-c_d@e", 9), "room chars");
    UNIT_CHECK(!ngx_chat_room_id_valid("a/b", 3), "room slash");
    UNIT_CHECK(!ngx_chat_room_id_valid("a b", 3), "room space");
    UNIT_CHECK(!ngx_chat_room_id_valid("\xc3\xa9t\xc3\xa9", 6), "room UTF-8");
    UNIT_CHECK(ngx_chat_room_id_valid("DM:x", 4), "DM: is a channel");
    UNIT_CHECK(ngx_chat_room_id_valid("dm", 2), "dm is a channel");

    UNIT_CHECK(ngx_chat_room_id_valid("dm:alice:bob", 12), "dm ok");
    UNIT_CHECK(ngx_chat_room_id_valid("dm:a:ab", 7), "dm prefix order");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:ab:a", 7), "dm prefix unsorted");
    UNIT_CHECK(ngx_chat_room_id_valid("dm:Bob:alice", 12),
               "dm bytewise (B < a)");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:bob:alice", 12), "dm unsorted");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice:alice", 14), "dm same");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:a:b:c", 8), "dm three parts");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:al!ce:bob", 12), "dm bad user");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:", 3), "dm: alone");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice", 8), "dm one user");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm::bob", 7), "dm empty first");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice:", 9), "dm empty second");

    UNIT_CHECK(ngx_chat_room_is_dm("dm:x", 4), "is_dm");
    UNIT_CHECK(!ngx_chat_room_is_dm("dm", 2), "is_dm short");
    UNIT_CHECK(!ngx_chat_room_is_dm("general", 7), "is_dm channel");

    UNIT_CHECK(ngx_chat_dm_has_member("dm:alice:bob", 12, "alice", 5),
               "member alice");
    UNIT_CHECK(ngx_chat_dm_has_member("dm:alice:bob", 12, "bob", 3),
               "member bob");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:alice:bob", 12, "bo", 2),
               "member bo");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:alice:bob", 12, "carol", 5),
               "member carol");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:bob:alice", 12, "bob", 3),
               "member of an invalid dm");
    UNIT_CHECK(!ngx_chat_dm_has_member("general", 7, "general", 7),
               "member of a channel");

    UNIT_CHECK(ngx_chat_dm_room(buf, "bob", 3, "alice", 5) == 12
               && strcmp(buf, "dm:alice:bob") == 0, "dm_room %s", buf);
    UNIT_CHECK(ngx_chat_dm_room(buf, "alice", 5, "bob", 3) == 12
               && strcmp(buf, "dm:alice:bob") == 0, "dm_room sorted");
    UNIT_CHECK(ngx_chat_dm_room(buf, "alice", 5, "alice", 5) == 0,
               "dm_room same");
    UNIT_CHECK(ngx_chat_dm_room(buf, "al:ce", 5, "bob", 3) == 0,
               "dm_room bad user");
    s = repeat('x', 64);
    UNIT_CHECK(ngx_chat_dm_room(buf, s, 30, "bob", 3) == 37,
               "dm_room 37");
    UNIT_CHECK(ngx_chat_room_id_valid(buf, 37), "dm_room output valid");
    UNIT_CHECK(ngx_chat_dm_room(buf, s, 60, "bob", 3) == 0,
               "dm_room too long");
    free(s);

    /* through the decoder */
    expect_err("{\"type\":\"join\",\"id\":1,\"room\":\"\"}", "bad_request",
               "1");
    s = repeat('r', 65);
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

    s = repeat('b', NGX_CHAT_BODY_MAX_DEFAULT);
    snprintf(frame, size + 64, "{\"type\":\"send\",\"room\":\"r\","
             "\"body\":\"%s\"}", s);
    expect_ok(frame, NGX_CHAT_REQ_SEND);
    free(s);

    s = repeat('b', NGX_CHAT_BODY_MAX_DEFAULT + 1);
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
    s = repeat('i', 64);
    snprintf(frame, sizeof(frame), "{\"type\":\"ping\",\"id\":\"%s\"}", s);
    UNIT_CHECK(dec(frame, &r, &code, &msg) == 0, "64-byte id");
    UNIT_CHECK(r.id_len == 66 && r.id[0] == '"' && r.id[65] == '"'
               && memcmp(r.id + 1, s, 64) == 0 && r.id[66] == '\0',
               "64-byte id text");
    ngx_chat_request_free(&r);
    free(s);

    s = repeat('i', 65);
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


/* the bound of a message's text holds for the worst message */
static void
test_message_max(void)
{
    char                *body, *name, *meta, *cid, room[65], from[65];
    size_t               max;
    ngx_chat_json_t      j;
    ngx_chat_message_t   m;

    body = repeat('\x01', 2048);
    name = repeat('\x1f', 128);
    cid = repeat('\x02', 64);
    meta = repeat(' ', 4096);
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
    p = repeat('\n', 1 << 20);
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


static json_t *
load(const ngx_chat_json_t *j)
{
    json_t        *v;
    json_error_t   err;

    v = json_loadb(j->data, j->len, 0, &err);

    UNIT_CHECK(v != NULL, "writer output does not parse: %s: %.*s", err.text,
               (int) j->len, j->data);

    return v;
}


static int
jstr(json_t *o, const char *key, const char *want, size_t want_len)
{
    json_t  *v;

    v = json_object_get(o, key);

    return v != NULL && json_is_string(v)
           && json_string_length(v) == want_len
           && memcmp(json_string_value(v), want, want_len) == 0;
}


static int
jint(json_t *o, const char *key, long long want)
{
    json_t  *v;

    v = json_object_get(o, key);

    return v != NULL && json_is_integer(v) && json_integer_value(v) == want;
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

    /* error, with an id taken from a decoded request */
    UNIT_CHECK(dec("{\"type\":\"nope\",\"id\":\"q\\\"\\n\\u00e9\"}", &r, &code,
                   &msg) == -1, "decode for error");
    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_error(&j, r.id, r.id_len, code, msg) == 0,
               "error builder");
    v = load(&j);
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
    v = load(&j);
    UNIT_CHECK(v && json_object_get(v, "id") == NULL, "error without id");
    UNIT_CHECK(v && jstr(v, "message", "no \"way\"", 8), "error message 2");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_error_retry(&j, "17", 2, "rate_limited",
                                         "slow down", 3) == 0,
               "error_retry builder");
    v = load(&j);
    UNIT_CHECK(v && jint(v, "id", 17) && jstr(v, "code", "rate_limited", 12)
               && jint(v, "retry_after", 3)
               && jstr(v, "message", "slow down", 9)
               && jstr(v, "type", "error", 5), "error_retry fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_rest_error(&j, "not_found", "no such room")
               == 0, "rest_error builder");
    v = load(&j);
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

    v = load(&j);
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
    v = load(&j);
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
    v = load(&j);
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
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "edited", 6) && jstr(v, "room", "g", 1)
               && jint(v, "seq", 9) && jstr(v, "body", "new\tbody", 8)
               && jint(v, "edited_at", 123) && json_object_size(v) == 5,
               "edited fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_deleted(&j, "g", 1, 9) == 0, "deleted");
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "deleted", 7) && jstr(v, "room", "g", 1)
               && jint(v, "seq", 9) && json_object_size(v) == 3,
               "deleted fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_receipt(&j, "g", 1, "bob", 3, 12) == 0,
               "receipt");
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "receipt", 7) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jint(v, "seq", 12)
               && json_object_size(v) == 4, "receipt fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_typing(&j, "g", 1, "bob", 3) == 0, "typing");
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "typing", 6) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && json_object_size(v) == 3,
               "typing fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_presence(&j, "g", 1, "bob", 3, "online") == 0,
               "presence");
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "presence", 8) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jstr(v, "state", "online", 6)
               && json_object_size(v) == 4, "presence fields");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_json_init(&j, 0);
    UNIT_CHECK(ngx_chat_json_member(&j, "g", 1, "bob", 3, "kicked") == 0,
               "member");
    v = load(&j);
    UNIT_CHECK(v && jstr(v, "type", "member", 6) && jstr(v, "room", "g", 1)
               && jstr(v, "user", "bob", 3) && jstr(v, "action", "kicked", 6)
               && json_object_size(v) == 4, "member fields");
    json_decref(v);
    ngx_chat_json_free(&j);
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
    v = load(&j);
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
    v = load(&j);
    UNIT_CHECK(v && json_equal(json_object_get(v, "id"),
                               json_object_get((json_t *) r.root, "id")),
               "id round trip");
    json_decref(v);
    ngx_chat_json_free(&j);

    ngx_chat_request_free(&r);
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


int
main(void)
{
    test_types();
    test_fields();
    test_client_msg_id();
    test_room_ids();
    test_body_limits();
    test_ids();
    test_malformed();
    test_meta_text();
    test_refused_ids();
    test_message_max();
    test_mutations();
    test_writer_basic();
    test_writer_exhaustive();
    test_builders();
    test_round_trip();
    test_message_parts();

    return UNIT_DONE();
}
