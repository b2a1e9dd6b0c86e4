/*
 * Request decoding (src/core/ngx_chat_decode.c): a frame or a REST body
 * from a client.  Whatever the bytes, it succeeds with fields that keep
 * the promises of ngx_chat_decode.h and protocol.md section 4, or fails
 * with one of its codes; nothing leaks, freeing twice is safe.
 *
 * Input: byte 0 picks ngx_chat_request_decode() (0) or
 * ngx_chat_request_decode_as() a type, byte 1 the limits, the rest is
 * the frame.
 */

#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ngx_chat_decode.h"
#include "ngx_chat_ids.h"
#include "ngx_chat_utf8.h"


static void check_request(const ngx_chat_request_t *req,
    const ngx_chat_proto_limits_t *lim);
static void check_text(const char *p, size_t len, size_t max);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       rc, type;
    char                     *buf;
    const char               *code, *msg;
    ngx_chat_request_t        req;
    ngx_chat_proto_limits_t   lim, *limp;

    if (size < 2) {
        return 0;
    }

    type = data[0] % (NGX_CHAT_REQ_PRESENCE + 1);

    /* default limits, or small ones that inputs can reach */
    limp = NULL;

    if (data[1] & 1) {
        lim.body_max = 1 + (data[1] >> 1) % 64;
        lim.meta_max = 2 + (data[1] >> 1);
        limp = &lim;
    }

    size -= 2;
    buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data + 2, size);

    memset(&req, 0, sizeof(ngx_chat_request_t));
    code = NULL;
    msg = NULL;

    if (type == 0) {
        rc = ngx_chat_request_decode(buf, size, limp, &req, &code, &msg);

    } else {
        rc = ngx_chat_request_decode_as((ngx_chat_req_type_e) type, buf,
                                        size, limp, &req, &code, &msg);
    }

    if (rc == 0) {
        FUZZ_CHECK(type == 0 || (int) req.type == type, "another type");
        check_request(&req, limp);

    } else {
        FUZZ_CHECK(rc == -1, "neither 0 nor -1");
        FUZZ_CHECK(code != NULL && msg != NULL, "failure without code");
        /* "internal" is for memory failures only: none here */
        FUZZ_CHECK(strcmp(code, "bad_request") == 0
                   || strcmp(code, "too_large") == 0, "unknown code");
    }

    /* the id is usable on failure too, for the error reply */
    FUZZ_CHECK(req.id_len < NGX_CHAT_REQ_ID_JSON_SIZE
               && req.id[req.id_len] == '\0', "id not terminated");

    if (req.id_len) {
        json_t  *id;

        id = json_loadb(req.id, req.id_len, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(id != NULL && (json_is_integer(id) || json_is_string(id)),
                   "id is not a JSON integer or string");
        json_decref(id);
    }

    ngx_chat_request_free(&req);
    ngx_chat_request_free(&req);
    free(buf);

    return 0;
}


static void
check_request(const ngx_chat_request_t *req,
    const ngx_chat_proto_limits_t *lim)
{
    size_t   body_max, meta_max;
    json_t  *meta;

    FUZZ_CHECK(strcmp(ngx_chat_req_type_name(req->type), "unknown") != 0,
               "a type out of range");

    body_max = (lim && lim->body_max) ? lim->body_max
                                      : NGX_CHAT_BODY_MAX_DEFAULT;
    meta_max = (lim && lim->meta_max) ? lim->meta_max
                                      : NGX_CHAT_META_MAX_DEFAULT;

    if (req->room) {
        FUZZ_CHECK(ngx_chat_room_id_valid(req->room, req->room_len),
                   "an invalid room id passed");
        check_text(req->room, req->room_len, NGX_CHAT_ROOM_ID_MAX);
    }

    if (req->body) {
        check_text(req->body, req->body_len, body_max);
    }

    if (req->client_msg_id) {
        check_text(req->client_msg_id, req->client_msg_id_len,
                   NGX_CHAT_CLIENT_MSG_ID_MAX);
    }

    if (req->token) {
        check_text(req->token, req->token_len, (size_t) -1);
    }

    if (req->state) {
        FUZZ_CHECK(strcmp(req->state, "read") == 0
                   || strcmp(req->state, "delivered") == 0, "bad state");
    }

    if (req->meta) {
        FUZZ_CHECK(strlen(req->meta) == req->meta_len
                   && req->meta_len <= meta_max, "meta text");
        meta = json_loadb(req->meta, req->meta_len, 0, NULL);
        FUZZ_CHECK(meta != NULL && json_is_object(meta),
                   "meta is not a JSON object");
        json_decref(meta);
    }

    if (req->has_limit && req->type == NGX_CHAT_REQ_HISTORY) {
        FUZZ_CHECK(req->limit >= 1
                   && req->limit <= NGX_CHAT_HISTORY_LIMIT_MAX,
                   "history limit out of range");
    }
}


/* a decoded string: NUL-terminated, no NUL inside, UTF-8, within max */
static void
check_text(const char *p, size_t len, size_t max)
{
    FUZZ_CHECK(strlen(p) == len, "length differs from the text");
    FUZZ_CHECK(len <= max, "text over its limit");
    FUZZ_CHECK(ngx_chat_utf8_valid((const uint8_t *) p, len),
               "text is not UTF-8");
}
