
/*
 * ngx_chat protocol layer: request decoding and the JSON writer.
 * No nginx types here: standard C and jansson only.
 */


#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>

#include <jansson.h>

#include "ngx_chat_proto.h"


typedef unsigned char  ngx_chat_u_char;


#define NGX_CHAT_BAD_REQUEST   "bad_request"
#define NGX_CHAT_TOO_LARGE     "too_large"
#define NGX_CHAT_INTERNAL      "internal"


/* the fields of protocol.md section 4 */
#define NGX_CHAT_F_TOKEN       0x0001
#define NGX_CHAT_F_ROOM        0x0002
#define NGX_CHAT_F_BODY        0x0004
#define NGX_CHAT_F_CMID        0x0008
#define NGX_CHAT_F_SEQ         0x0010
#define NGX_CHAT_F_SINCE       0x0020
#define NGX_CHAT_F_BEFORE      0x0040
#define NGX_CHAT_F_AFTER       0x0080
#define NGX_CHAT_F_LIMIT       0x0100
#define NGX_CHAT_F_REPLY_TO    0x0200
#define NGX_CHAT_F_META        0x0400


typedef struct {
    const char           *name;
    unsigned              required;
    unsigned              optional;
} ngx_chat_req_spec_t;


/* indexed by ngx_chat_req_type_e - 1 */
static const ngx_chat_req_spec_t  ngx_chat_req_specs[] = {
    { "auth", NGX_CHAT_F_TOKEN, 0 },
    { "refresh", NGX_CHAT_F_TOKEN, 0 },
    { "ping", 0, 0 },
    { "join", NGX_CHAT_F_ROOM, NGX_CHAT_F_SINCE },
    { "leave", NGX_CHAT_F_ROOM, 0 },
    { "send", NGX_CHAT_F_ROOM|NGX_CHAT_F_BODY,
      NGX_CHAT_F_CMID|NGX_CHAT_F_REPLY_TO|NGX_CHAT_F_META },
    { "history", NGX_CHAT_F_ROOM,
      NGX_CHAT_F_BEFORE|NGX_CHAT_F_AFTER|NGX_CHAT_F_LIMIT },
    { "read", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ, 0 },
    { "typing", NGX_CHAT_F_ROOM, 0 },
    { "edit", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ|NGX_CHAT_F_BODY, 0 },
    { "delete", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ, 0 },
    { "presence", NGX_CHAT_F_ROOM, 0 }
};

#define NGX_CHAT_REQ_NTYPES                                                   \
    (sizeof(ngx_chat_req_specs) / sizeof(ngx_chat_req_specs[0]))


/*
 * How a byte is written inside a JSON string: 0 as is, 'u' as \u00XX,
 * any other value v as \v.  Bytes >= 0x80 are copied: the input is valid
 * UTF-8 already (jansson or the frame layer checked it).
 */
static const ngx_chat_u_char  ngx_chat_json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',      /* 0x00 */
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',      /* 0x08 */
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',      /* 0x10 */
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',      /* 0x18 */
    0, 0, '"', 0, 0, 0, 0, 0,                    /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,                      /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,                      /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,                      /* 0x50 */
    0, 0, 0, 0, '\\', 0, 0, 0
    /* the rest is 0 */
};

static const char  ngx_chat_hex[] = "0123456789abcdef";

/* "00" to "99", for writing integers two digits at a time */
static const char  ngx_chat_digits[] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";


static int ngx_chat_json_grow(ngx_chat_json_t *j, size_t need);
static size_t ngx_chat_json_escaped_len(const ngx_chat_u_char *s, size_t n);
static ngx_chat_u_char *ngx_chat_json_escape(ngx_chat_u_char *d,
    const ngx_chat_u_char *s, size_t n);
static int ngx_chat_decode_id(json_t *v, ngx_chat_request_t *req);
static int ngx_chat_request_decode_type(const char *buf, size_t len,
    const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg, ngx_chat_req_type_e as);
static int ngx_chat_get_str(json_t *root, const char *name, const char **p,
    size_t *len);
static int ngx_chat_get_int(json_t *root, const char *name, long long min,
    long long max, long long *out);
static const char *ngx_chat_load_error(const json_error_t *err,
    const char **code);
static int ngx_chat_scan_member(const char *buf, size_t len,
    const char *name, const char **val, size_t *val_len);
static void ngx_chat_recover_id(const char *buf, size_t len,
    ngx_chat_request_t *req);


#define ngx_chat_json_lit(j, s)  ngx_chat_json_put(j, s, sizeof(s) - 1)


/* identities */


static int
ngx_chat_user_char(ngx_chat_u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9')
           || c == '_' || c == '.' || c == '@' || c == '-';
}


int
ngx_chat_user_id_valid(const char *p, size_t len)
{
    size_t  i;

    if (p == NULL || len == 0 || len > NGX_CHAT_USER_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_chat_user_char((ngx_chat_u_char) p[i])) {
            return 0;
        }
    }

    return 1;
}


int
ngx_chat_room_is_dm(const char *p, size_t len)
{
    return p != NULL && len >= 3 && memcmp(p, "dm:", 3) == 0;
}


/* bytewise order, a shorter prefix first */
static int
ngx_chat_bytecmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int  rc;

    rc = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (rc != 0) {
        return rc;
    }

    return (a_len > b_len) - (a_len < b_len);
}


/*
 * Splits a "dm:a:b" room into its two users, checking that both are valid
 * and in strict bytewise order (so also different).
 */
static int
ngx_chat_dm_split(const char *p, size_t len, const char **a, size_t *a_len,
    const char **b, size_t *b_len)
{
    const char  *rest, *colon;
    size_t       rest_len;

    if (!ngx_chat_room_is_dm(p, len) || len > NGX_CHAT_ROOM_ID_MAX) {
        return 0;
    }

    rest = p + 3;
    rest_len = len - 3;

    colon = memchr(rest, ':', rest_len);
    if (colon == NULL) {
        return 0;
    }

    *a = rest;
    *a_len = colon - rest;
    *b = colon + 1;
    *b_len = rest_len - *a_len - 1;

    /* user ids have no ':', so a third part fails here */

    if (!ngx_chat_user_id_valid(*a, *a_len)
        || !ngx_chat_user_id_valid(*b, *b_len))
    {
        return 0;
    }

    return ngx_chat_bytecmp(*a, *a_len, *b, *b_len) < 0;
}


int
ngx_chat_room_id_valid(const char *p, size_t len)
{
    size_t       i, a_len, b_len;
    const char  *a, *b;

    if (p == NULL || len == 0 || len > NGX_CHAT_ROOM_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] != ':' && !ngx_chat_user_char((ngx_chat_u_char) p[i])) {
            return 0;
        }
    }

    if (ngx_chat_room_is_dm(p, len)) {
        return ngx_chat_dm_split(p, len, &a, &a_len, &b, &b_len);
    }

    return 1;
}


int
ngx_chat_dm_has_member(const char *room, size_t room_len, const char *user,
    size_t user_len)
{
    size_t       a_len, b_len;
    const char  *a, *b;

    if (user == NULL
        || !ngx_chat_dm_split(room, room_len, &a, &a_len, &b, &b_len))
    {
        return 0;
    }

    return (user_len == a_len && memcmp(user, a, a_len) == 0)
           || (user_len == b_len && memcmp(user, b, b_len) == 0);
}


size_t
ngx_chat_dm_room(char *buf, const char *a, size_t a_len, const char *b,
    size_t b_len)
{
    int          rc;
    char        *p;
    size_t       t;
    const char  *s;

    if (!ngx_chat_user_id_valid(a, a_len) || !ngx_chat_user_id_valid(b, b_len)
        || 3 + a_len + 1 + b_len > NGX_CHAT_ROOM_ID_MAX)
    {
        return 0;
    }

    rc = ngx_chat_bytecmp(a, a_len, b, b_len);

    if (rc == 0) {
        return 0;
    }

    if (rc > 0) {
        s = a; a = b; b = s;
        t = a_len; a_len = b_len; b_len = t;
    }

    p = buf;
    memcpy(p, "dm:", 3);
    p += 3;
    memcpy(p, a, a_len);
    p += a_len;
    *p++ = ':';
    memcpy(p, b, b_len);
    p += b_len;
    *p = '\0';

    return p - buf;
}


const char *
ngx_chat_req_type_name(ngx_chat_req_type_e t)
{
    if ((int) t < 1 || (size_t) t > NGX_CHAT_REQ_NTYPES) {
        return "unknown";
    }

    return ngx_chat_req_specs[t - 1].name;
}


/* decoding */


#define ngx_chat_fail(c, m)                                                   \
    do { *code = (c); *msg = (m); return -1; } while (0)

#define ngx_chat_bad(m)  ngx_chat_fail(NGX_CHAT_BAD_REQUEST, m)


int
ngx_chat_request_decode(const char *buf, size_t len,
    const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg)
{
    return ngx_chat_request_decode_type(buf, len, lim, req, code, msg, 0);
}


/*
 * A REST body: the fields of a request of the given type, without "id",
 * "type" and "room" (the room is in the URL).
 */
int
ngx_chat_request_decode_as(ngx_chat_req_type_e type, const char *buf,
    size_t len, const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg)
{
    return ngx_chat_request_decode_type(buf, len, lim, req, code, msg, type);
}


static int
ngx_chat_request_decode_type(const char *buf, size_t len,
    const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg, ngx_chat_req_type_e as)
{
    int                         rc;
    char                       *text;
    json_t                     *root, *v;
    size_t                      i, n, body_max, meta_max;
    unsigned                    want, need;
    const char                 *type, *p;
    json_error_t                err;
    const ngx_chat_req_spec_t  *spec;

    memset(req, 0, sizeof(ngx_chat_request_t));

    *code = NULL;
    *msg = NULL;

    body_max = NGX_CHAT_BODY_MAX_DEFAULT;
    meta_max = NGX_CHAT_META_MAX_DEFAULT;

    if (lim != NULL) {
        if (lim->body_max) {
            body_max = lim->body_max;
        }

        if (lim->meta_max) {
            meta_max = lim->meta_max;
        }
    }

    if (buf == NULL) {
        buf = "";
        len = 0;
    }

    /*
     * Duplicate keys are refused: two "room" members could otherwise be
     * read differently by us and by whatever logs or relays the frame.
     * NUL inside strings is refused by jansson by default, so every string
     * we hand out is a proper C string as well.
     */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        *msg = ngx_chat_load_error(&err, code);

        /* the client waits for an answer with its id, if it had one */
        if (!as) {
            ngx_chat_recover_id(buf, len, req);
        }

        return -1;
    }

    req->root = root;

    if (!json_is_object(root)) {
        ngx_chat_bad("a frame must be a JSON object");
    }

    if (as) {
        req->type = as;
        spec = &ngx_chat_req_specs[as - 1];
        need = spec->required & ~NGX_CHAT_F_ROOM;
        want = (spec->required | spec->optional) & ~NGX_CHAT_F_ROOM;
        goto fields;
    }

    /* the id first, so that every later error can carry it */

    v = json_object_get(root, "id");

    if (v != NULL && ngx_chat_decode_id(v, req) != 0) {
        ngx_chat_bad("\"id\" must be an integer or a string of at most "
                     "64 bytes");
    }

    v = json_object_get(root, "type");

    if (v == NULL) {
        ngx_chat_bad("missing \"type\"");
    }

    if (!json_is_string(v)) {
        ngx_chat_bad("\"type\" must be a string");
    }

    type = json_string_value(v);
    n = json_string_length(v);
    spec = NULL;

    for (i = 0; i < NGX_CHAT_REQ_NTYPES; i++) {
        if (strlen(ngx_chat_req_specs[i].name) == n
            && memcmp(ngx_chat_req_specs[i].name, type, n) == 0)
        {
            spec = &ngx_chat_req_specs[i];
            req->type = (ngx_chat_req_type_e) (i + 1);
            break;
        }
    }

    if (spec == NULL) {
        ngx_chat_bad("unknown \"type\"");
    }

    need = spec->required;
    want = spec->required | spec->optional;

fields:

    if (want & NGX_CHAT_F_ROOM) {
        rc = ngx_chat_get_str(root, "room", &req->room, &req->room_len);

        if (rc == 0) {
            ngx_chat_bad("missing \"room\"");
        }

        if (rc < 0) {
            ngx_chat_bad("\"room\" must be a string");
        }

        if (!ngx_chat_room_id_valid(req->room, req->room_len)) {
            ngx_chat_bad("invalid room id");
        }
    }

    if (want & NGX_CHAT_F_TOKEN) {
        /*
         * an empty token is a bad token, not a bad frame: the auth layer
         * rejects it the way it rejects any other bad token
         */
        rc = ngx_chat_get_str(root, "token", &req->token, &req->token_len);

        if (rc == 0) {
            ngx_chat_bad("missing \"token\"");
        }

        if (rc < 0) {
            ngx_chat_bad("\"token\" must be a string");
        }
    }

    if (want & NGX_CHAT_F_SEQ) {
        rc = ngx_chat_get_int(root, "seq", 1, LLONG_MAX, &req->seq);

        if (rc == 0 && (need & NGX_CHAT_F_SEQ)) {
            ngx_chat_bad("missing \"seq\"");
        }

        if (rc < 0) {
            ngx_chat_bad("\"seq\" must be an integer >= 1");
        }

        req->has_seq = (rc > 0);
    }

    if (want & NGX_CHAT_F_BODY) {
        rc = ngx_chat_get_str(root, "body", &req->body, &req->body_len);

        if (rc == 0) {
            ngx_chat_bad("missing \"body\"");
        }

        if (rc < 0) {
            ngx_chat_bad("\"body\" must be a string");
        }

        if (req->body_len == 0) {
            ngx_chat_bad("\"body\" must not be empty");
        }

        if (req->body_len > body_max) {
            ngx_chat_fail(NGX_CHAT_TOO_LARGE, "\"body\" is too long");
        }
    }

    if (want & NGX_CHAT_F_CMID) {
        rc = ngx_chat_get_str(root, "client_msg_id", &req->client_msg_id,
                              &req->client_msg_id_len);

        if (rc < 0
            || (rc > 0
                && (req->client_msg_id_len == 0
                    || req->client_msg_id_len > NGX_CHAT_CLIENT_MSG_ID_MAX)))
        {
            ngx_chat_bad("\"client_msg_id\" must be a string of 1 to 64 "
                         "bytes");
        }
    }

    if (want & NGX_CHAT_F_SINCE) {
        rc = ngx_chat_get_int(root, "since", 0, LLONG_MAX, &req->since);

        if (rc < 0) {
            ngx_chat_bad("\"since\" must be an integer >= 0");
        }

        req->has_since = (rc > 0);

        rc = ngx_chat_get_int(root, "since_rev", 0, LLONG_MAX,
                              &req->since_rev);

        if (rc < 0) {
            ngx_chat_bad("\"since_rev\" must be an integer >= 0");
        }

        req->has_since_rev = (rc > 0);

        if (req->has_since && req->has_since_rev) {
            ngx_chat_bad("\"since\" and \"since_rev\" exclude each other");
        }
    }

    if (want & NGX_CHAT_F_BEFORE) {
        rc = ngx_chat_get_int(root, "before", 0, LLONG_MAX, &req->before);

        if (rc < 0) {
            ngx_chat_bad("\"before\" must be an integer >= 0");
        }

        req->has_before = (rc > 0);
    }

    if (want & NGX_CHAT_F_AFTER) {
        rc = ngx_chat_get_int(root, "after", 0, LLONG_MAX, &req->after);

        if (rc < 0) {
            ngx_chat_bad("\"after\" must be an integer >= 0");
        }

        req->has_after = (rc > 0);
    }

    if (want & NGX_CHAT_F_LIMIT) {
        rc = ngx_chat_get_int(root, "limit", 1, NGX_CHAT_HISTORY_LIMIT_MAX,
                              &req->limit);

        if (rc < 0) {
            ngx_chat_bad("\"limit\" must be an integer from 1 to 200");
        }

        req->has_limit = (rc > 0);

        if (rc == 0) {
            req->limit = NGX_CHAT_HISTORY_LIMIT_DEF;
        }
    }

    if (want & NGX_CHAT_F_REPLY_TO) {
        rc = ngx_chat_get_int(root, "reply_to", 1, LLONG_MAX, &req->reply_to);

        if (rc < 0) {
            ngx_chat_bad("\"reply_to\" must be an integer >= 1");
        }

        req->has_reply_to = (rc > 0);
    }

    if (want & NGX_CHAT_F_META) {
        v = json_object_get(root, "meta");

        if (v != NULL) {
            if (!json_is_object(v)) {
                ngx_chat_bad("\"meta\" must be an object");
            }

            /*
             * what the client sent, byte for byte: jansson's own output
             * would expand numbers (1e308) and lose their spelling
             */
            if (ngx_chat_scan_member(buf, len, "meta", &p, &n) != 1) {
                ngx_chat_fail(NGX_CHAT_INTERNAL, "cannot find \"meta\"");
            }

            if (n > meta_max) {
                ngx_chat_fail(NGX_CHAT_TOO_LARGE, "\"meta\" is too large");
            }

            text = malloc(n + 1);
            if (text == NULL) {
                ngx_chat_fail(NGX_CHAT_INTERNAL, "out of memory");
            }

            memcpy(text, p, n);
            text[n] = '\0';
            req->meta = text;
            req->meta_len = n;
        }
    }

    return 0;
}


void
ngx_chat_request_free(ngx_chat_request_t *req)
{
    if (req == NULL) {
        return;
    }

    if (req->root != NULL) {
        json_decref((json_t *) req->root);
    }

    free(req->meta);

    memset(req, 0, sizeof(ngx_chat_request_t));
}


static const char *
ngx_chat_load_error(const json_error_t *err, const char **code)
{
    *code = NGX_CHAT_BAD_REQUEST;

    switch (json_error_code(err)) {

    case json_error_out_of_memory:
        *code = NGX_CHAT_INTERNAL;
        return "out of memory";

    case json_error_stack_overflow:
        return "JSON nested too deeply";

    case json_error_invalid_utf8:
        return "invalid UTF-8 in JSON";

    case json_error_premature_end_of_input:
        return "truncated JSON";

    case json_error_end_of_input_expected:
        return "trailing data after the JSON object";

    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character in a JSON string";

    case json_error_duplicate_key:
        return "duplicate key in JSON object";

    case json_error_numeric_overflow:
        return "number out of range";

    default:
        return "malformed JSON";
    }
}


static int
ngx_chat_decode_id(json_t *v, ngx_chat_request_t *req)
{
    int                     n;
    size_t                  len, size;
    ngx_chat_u_char        *d;
    const ngx_chat_u_char  *s;

    if (json_is_integer(v)) {
        n = snprintf(req->id, sizeof(req->id), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));

        if (n <= 0 || (size_t) n >= sizeof(req->id)) {
            return -1;
        }

        req->id_len = n;
        return 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    s = (const ngx_chat_u_char *) json_string_value(v);
    len = json_string_length(v);

    if (len > NGX_CHAT_REQ_ID_MAX) {
        return -1;
    }

    /* quotes, escapes and the NUL must fit in the fixed buffer */

    size = ngx_chat_json_escaped_len(s, len);

    if (size + 3 > sizeof(req->id)) {
        return -1;
    }

    d = (ngx_chat_u_char *) req->id;
    *d++ = '"';
    d = ngx_chat_json_escape(d, s, len);
    *d++ = '"';
    *d = '\0';

    req->id_len = size + 2;

    return 0;
}


/* 1: a string, 0: absent, -1: another type (null included) */

static int
ngx_chat_get_str(json_t *root, const char *name, const char **p, size_t *len)
{
    json_t  *v;

    v = json_object_get(root, name);

    if (v == NULL) {
        return 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    *p = json_string_value(v);
    *len = json_string_length(v);

    return 1;
}


/* 1: an integer in [min, max], 0: absent, -1: anything else */

static int
ngx_chat_get_int(json_t *root, const char *name, long long min,
    long long max, long long *out)
{
    json_t     *v;
    long long   n;

    v = json_object_get(root, name);

    if (v == NULL) {
        return 0;
    }

    if (!json_is_integer(v)) {
        return -1;
    }

    n = json_integer_value(v);

    if (n < min || n > max) {
        return -1;
    }

    *out = n;

    return 1;
}


/*
 * A scanner of the top level of a JSON object, for what jansson's tree
 * cannot give: the exact source text of a member, and the members of a
 * text that jansson refused.  It follows the structure (strings, nesting,
 * separators) but reads neither escapes nor numbers: whether they are
 * valid is jansson's question.
 */


/* jansson's limit (JSON_PARSER_MAX_DEPTH) */
#define NGX_CHAT_SCAN_DEPTH  2048


static const ngx_chat_u_char *
ngx_chat_scan_ws(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* p is at the opening quote; returns the byte after the closing one */
static const ngx_chat_u_char *
ngx_chat_scan_string(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    for (p++; p < end; p++) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            p++;

            if (p == end) {
                break;
            }
        }
    }

    return NULL;
}


/* a number or a literal: its characters, not its grammar */
static const ngx_chat_u_char *
ngx_chat_scan_scalar(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    const ngx_chat_u_char  *start;

    start = p;

    while (p < end
           && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
               || (*p >= 'A' && *p <= 'Z')
               || *p == '-' || *p == '+' || *p == '.'))
    {
        p++;
    }

    return p == start ? NULL : p;
}


/* a key and its colon, p at the key's quote; the byte after the colon */
static const ngx_chat_u_char *
ngx_chat_scan_key(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    if (p == end || *p != '"') {
        return NULL;
    }

    p = ngx_chat_scan_string(p, end);

    if (p == NULL) {
        return NULL;
    }

    p = ngx_chat_scan_ws(p, end);

    if (p == end || *p != ':') {
        return NULL;
    }

    return p + 1;
}


/*
 * One value, nested ones included, p at its first byte; returns the byte
 * after its last.  A bit per open level says whether it is an object: on
 * the stack for the depths jansson accepts, on the heap for the deeper
 * frames it refuses, whose id is still wanted.
 */
static const ngx_chat_u_char *
ngx_chat_scan_value(const ngx_chat_u_char *p, const ngx_chat_u_char *end)
{
    size_t                  depth, cap;
    unsigned                obj;
    ngx_chat_u_char         c, local[NGX_CHAT_SCAN_DEPTH / 8], *bits, *nb;
    const ngx_chat_u_char  *rv;

    depth = 0;
    cap = NGX_CHAT_SCAN_DEPTH;
    bits = local;
    rv = NULL;

    for ( ;; ) {

        /* a value starts at p */

        p = ngx_chat_scan_ws(p, end);

        if (p == end) {
            goto done;
        }

        c = *p;

        if (c == '{' || c == '[') {

            if (depth == cap) {
                /* each level takes a byte of input: end - p bounds them */
                cap = ((size_t) (end - p) + depth + 8) & ~(size_t) 7;
                nb = malloc(cap / 8);

                if (nb == NULL) {
                    goto done;
                }

                memcpy(nb, bits, depth / 8);

                if (bits != local) {
                    free(bits);
                }

                bits = nb;
            }

            obj = (c == '{');

            if (obj) {
                bits[depth / 8] |= (ngx_chat_u_char) (1 << (depth % 8));

            } else {
                bits[depth / 8] &= (ngx_chat_u_char) ~(1 << (depth % 8));
            }

            depth++;
            p = ngx_chat_scan_ws(p + 1, end);

            if (p < end && *p == (obj ? '}' : ']')) {
                depth--;
                p++;
                goto next;
            }

            if (obj) {
                p = ngx_chat_scan_key(p, end);

                if (p == NULL) {
                    goto done;
                }
            }

            continue;
        }

        p = (c == '"') ? ngx_chat_scan_string(p, end)
                       : ngx_chat_scan_scalar(p, end);

        if (p == NULL) {
            goto done;
        }

    next:

        /* after a value: a separator, or the end of its container */

        while (depth) {
            obj = bits[(depth - 1) / 8] & (1 << ((depth - 1) % 8));
            p = ngx_chat_scan_ws(p, end);

            if (p == end) {
                goto done;
            }

            if (*p == ',') {
                p = ngx_chat_scan_ws(p + 1, end);

                if (obj) {
                    p = ngx_chat_scan_key(p, end);

                    if (p == NULL) {
                        goto done;
                    }
                }

                break;
            }

            if (*p != (obj ? '}' : ']')) {
                goto done;
            }

            depth--;
            p++;
        }

        if (depth == 0) {
            rv = p;
            goto done;
        }
    }

done:

    if (bits != local) {
        free(bits);
    }

    return rv;
}


/* whether the key text (quotes included) is the name */
static int
ngx_chat_scan_key_is(const ngx_chat_u_char *p, size_t len, const char *name)
{
    int      eq;
    json_t  *v;

    if (memchr(p, '\\', len) == NULL) {
        return len == strlen(name) + 2 && memcmp(p + 1, name, len - 2) == 0;
    }

    /* an escaped key is rare: jansson decodes it, or it is no name */

    v = json_loadb((const char *) p, len, JSON_DECODE_ANY, NULL);

    if (v == NULL) {
        return 0;
    }

    eq = json_is_string(v) && strcmp(json_string_value(v), name) == 0
         && json_string_length(v) == strlen(name);

    json_decref(v);

    return eq;
}


/*
 * The source text of the top-level member "name" of the object in buf,
 * without the white space around it.  Returns 1 and sets *val and
 * *val_len, 0 when the object has no such member, -1 when buf is not an
 * object or has the member twice.
 */
static int
ngx_chat_scan_member(const char *buf, size_t len, const char *name,
    const char **val, size_t *val_len)
{
    int                     found;
    const ngx_chat_u_char  *p, *end, *key, *v;

    p = (const ngx_chat_u_char *) buf;
    end = p + len;
    found = 0;

    p = ngx_chat_scan_ws(p, end);

    if (p == end || *p != '{') {
        return -1;
    }

    p = ngx_chat_scan_ws(p + 1, end);

    if (p < end && *p == '}') {
        p++;
        goto done;
    }

    for ( ;; ) {
        key = p;
        p = ngx_chat_scan_key(p, end);

        if (p == NULL) {
            return -1;
        }

        v = ngx_chat_scan_ws(p, end);
        p = ngx_chat_scan_value(v, end);

        if (p == NULL) {
            return -1;
        }

        if (ngx_chat_scan_key_is(key, ngx_chat_scan_string(key, end) - key,
                                 name))
        {
            if (found) {
                return -1;
            }

            found = 1;
            *val = (const char *) v;
            *val_len = p - v;
        }

        p = ngx_chat_scan_ws(p, end);

        if (p == end) {
            return -1;
        }

        if (*p == '}') {
            p++;
            break;
        }

        if (*p != ',') {
            return -1;
        }

        p = ngx_chat_scan_ws(p + 1, end);
    }

done:

    p = ngx_chat_scan_ws(p, end);

    return p == end ? found : -1;
}


/*
 * The id of a frame that jansson refused, when the frame is an object
 * with one "id" member that is a valid id on its own.
 */
static void
ngx_chat_recover_id(const char *buf, size_t len, ngx_chat_request_t *req)
{
    size_t       n;
    json_t      *v;
    const char  *p;

    if (ngx_chat_scan_member(buf, len, "id", &p, &n) != 1) {
        return;
    }

    v = json_loadb(p, n, JSON_DECODE_ANY, NULL);

    if (v == NULL) {
        return;
    }

    if (ngx_chat_decode_id(v, req) != 0) {
        req->id_len = 0;
    }

    json_decref(v);
}


/* the writer */


void
ngx_chat_json_init(ngx_chat_json_t *j, size_t reserve)
{
    ngx_chat_json_init_head(j, reserve, NGX_CHAT_JSON_HEAD);
}


void
ngx_chat_json_init_head(ngx_chat_json_t *j, size_t reserve, size_t head)
{
    memset(j, 0, sizeof(ngx_chat_json_t));

    if (reserve < 64) {
        reserve = 64;
    }

    if (head > SIZE_MAX / 2 || reserve > SIZE_MAX / 2) {
        j->failed = 1;
        return;
    }

    j->base = malloc(head + reserve);

    if (j->base == NULL) {
        j->failed = 1;
        return;
    }

    j->head = head;
    j->data = j->base + head;
    j->cap = reserve;
    j->data[0] = '\0';
}


void
ngx_chat_json_free(ngx_chat_json_t *j)
{
    free(j->base);
    memset(j, 0, sizeof(ngx_chat_json_t));
}


void
ngx_chat_json_reset(ngx_chat_json_t *j)
{
    if (j->base == NULL) {
        return;
    }

    j->failed = 0;
    j->len = 0;
    j->data[0] = '\0';
}


/*
 * Makes room for need more bytes plus the NUL kept after the text (handy
 * for logging and debuggers; it is not part of len).
 */
static inline int
ngx_chat_json_reserve(ngx_chat_json_t *j, size_t need)
{
    if (!j->failed && need < j->cap - j->len) {
        return 0;
    }

    return ngx_chat_json_grow(j, need);
}


static int
ngx_chat_json_grow(ngx_chat_json_t *j, size_t need)
{
    char    *p;
    size_t   cap;

    if (j->failed) {
        return -1;
    }

    /* a zeroed struct works too: realloc(NULL) allocates */

    if (need > SIZE_MAX / 4 - j->len - j->head) {
        j->failed = 1;
        return -1;
    }

    cap = j->cap ? j->cap : 64;

    while (cap <= j->len + need) {
        cap *= 2;
    }

    p = realloc(j->base, j->head + cap);

    if (p == NULL) {
        /* the old buffer stays owned by j and is freed by json_free */
        j->failed = 1;
        return -1;
    }

    j->base = p;
    j->data = p + j->head;
    j->cap = cap;

    return 0;
}


static inline void
ngx_chat_json_put(ngx_chat_json_t *j, const char *s, size_t n)
{
    if (ngx_chat_json_reserve(j, n) != 0) {
        return;
    }

    if (n) {
        memcpy(j->data + j->len, s, n);
        j->len += n;
    }

    j->data[j->len] = '\0';
}


static inline void
ngx_chat_json_putc(ngx_chat_json_t *j, char c)
{
    if (ngx_chat_json_reserve(j, 1) != 0) {
        return;
    }

    j->data[j->len++] = c;
    j->data[j->len] = '\0';
}


/*
 * Whether 8 bytes need no escaping (no byte below 0x20, no '"', no '\\'),
 * tested a word at a time: (x - k * 0x0101..) & ~x & 0x8080.. is nonzero
 * exactly when some byte of x is below k (k <= 0x80), and x ^ c has a
 * zero byte where x has byte c.  Message bodies are mostly plain text, so
 * most of them are skipped 8 bytes per step.
 */
static inline int
ngx_chat_json_word_plain(const ngx_chat_u_char *p)
{
    uint64_t  x, q, b;

    memcpy(&x, p, 8);

    q = x ^ 0x2222222222222222ULL;
    b = x ^ 0x5c5c5c5c5c5c5c5cULL;

    return ((((x - 0x2020202020202020ULL) & ~x)
             | ((q - 0x0101010101010101ULL) & ~q)
             | ((b - 0x0101010101010101ULL) & ~b))
            & 0x8080808080808080ULL) == 0;
}


static size_t
ngx_chat_json_escaped_len(const ngx_chat_u_char *s, size_t n)
{
    size_t                  size;
    ngx_chat_u_char         c;
    const ngx_chat_u_char  *end, *stop;

    size = n;
    end = s + n;

    while (s < end) {

        if (end - s >= 8 && ngx_chat_json_word_plain(s)) {
            s += 8;
            continue;
        }

        stop = (end - s >= 8) ? s + 8 : end;

        for ( /* void */ ; s < stop; s++) {
            c = ngx_chat_json_esc[*s];

            if (c) {
                size += (c == 'u') ? 5 : 1;
            }
        }
    }

    return size;
}


static ngx_chat_u_char *
ngx_chat_json_escape(ngx_chat_u_char *d, const ngx_chat_u_char *s, size_t n)
{
    ngx_chat_u_char         c;
    const ngx_chat_u_char  *end, *run;

    end = s + n;

    while (s < end) {

        /* copy the runs that need no escaping in one go */

        run = s;

        while (end - s >= 8 && ngx_chat_json_word_plain(s)) {
            s += 8;
        }

        while (s < end && ngx_chat_json_esc[*s] == 0) {
            s++;
        }

        if (s != run) {
            memcpy(d, run, s - run);
            d += s - run;
        }

        if (s == end) {
            break;
        }

        c = ngx_chat_json_esc[*s];
        *d++ = '\\';

        if (c == 'u') {
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = ngx_chat_hex[*s >> 4];
            *d++ = ngx_chat_hex[*s & 0xf];

        } else {
            *d++ = c;
        }

        s++;
    }

    return d;
}


static void
ngx_chat_json_put_str(ngx_chat_json_t *j, const char *s, size_t n)
{
    size_t                  size;
    ngx_chat_u_char        *d;
    const ngx_chat_u_char  *p;

    if (j->failed) {
        return;
    }

    p = (const ngx_chat_u_char *) s;
    size = ngx_chat_json_escaped_len(p, n);

    if (size < n || ngx_chat_json_reserve(j, size + 2) != 0) {
        j->failed = 1;
        return;
    }

    d = (ngx_chat_u_char *) j->data + j->len;
    *d++ = '"';

    if (size == n) {
        if (n) {
            memcpy(d, p, n);
        }
        d += n;

    } else {
        d = ngx_chat_json_escape(d, p, n);
    }

    *d++ = '"';

    j->len = (char *) d - j->data;
    j->data[j->len] = '\0';
}


static void
ngx_chat_json_put_int(ngx_chat_json_t *j, long long v)
{
    char                 buf[24], *p;
    unsigned             d;
    unsigned long long   u;

    /* negate in unsigned arithmetic: -LLONG_MIN overflows a long long */
    u = (v < 0) ? 0ULL - (unsigned long long) v : (unsigned long long) v;

    p = buf + sizeof(buf);

    /* two digits per division: times are 13 digits long */

    while (u >= 100) {
        d = (unsigned) (u % 100) * 2;
        u /= 100;
        *--p = ngx_chat_digits[d + 1];
        *--p = ngx_chat_digits[d];
    }

    if (u >= 10) {
        d = (unsigned) u * 2;
        *--p = ngx_chat_digits[d + 1];
        *--p = ngx_chat_digits[d];

    } else {
        *--p = (char) ('0' + u);
    }

    if (v < 0) {
        *--p = '-';
    }

    ngx_chat_json_put(j, p, buf + sizeof(buf) - p);
}


static inline void
ngx_chat_json_put_sep(ngx_chat_json_t *j)
{
    char  c;

    if (j->failed || j->len == 0) {
        return;
    }

    c = j->data[j->len - 1];

    if (c == '{' || c == '[' || c == ',' || c == ':') {
        return;
    }

    ngx_chat_json_putc(j, ',');
}


void
ngx_chat_json_raw(ngx_chat_json_t *j, const char *s, size_t n)
{
    ngx_chat_json_put(j, s, n);
}


void
ngx_chat_json_char(ngx_chat_json_t *j, char c)
{
    ngx_chat_json_putc(j, c);
}


void
ngx_chat_json_str(ngx_chat_json_t *j, const char *s, size_t n)
{
    ngx_chat_json_put_str(j, s, n);
}


void
ngx_chat_json_int(ngx_chat_json_t *j, long long v)
{
    ngx_chat_json_put_int(j, v);
}


void
ngx_chat_json_sep(ngx_chat_json_t *j)
{
    ngx_chat_json_put_sep(j);
}


void
ngx_chat_json_bool(ngx_chat_json_t *j, int v)
{
    if (v) {
        ngx_chat_json_lit(j, "true");

    } else {
        ngx_chat_json_lit(j, "false");
    }
}


void
ngx_chat_json_key(ngx_chat_json_t *j, const char *key)
{
    ngx_chat_json_put_sep(j);
    ngx_chat_json_put_str(j, key, strlen(key));
    ngx_chat_json_putc(j, ':');
}


void
ngx_chat_json_kv_str(ngx_chat_json_t *j, const char *key, const char *s,
    size_t n)
{
    ngx_chat_json_key(j, key);
    ngx_chat_json_put_str(j, s, n);
}


void
ngx_chat_json_kv_int(ngx_chat_json_t *j, const char *key, long long v)
{
    ngx_chat_json_key(j, key);
    ngx_chat_json_put_int(j, v);
}


void
ngx_chat_json_kv_bool(ngx_chat_json_t *j, const char *key, int v)
{
    ngx_chat_json_key(j, key);
    ngx_chat_json_bool(j, v);
}


void
ngx_chat_json_kv_raw(ngx_chat_json_t *j, const char *key, const char *s,
    size_t n)
{
    ngx_chat_json_key(j, key);
    ngx_chat_json_put(j, s, n);
}


int
ngx_chat_json_end(ngx_chat_json_t *j)
{
    ngx_chat_json_putc(j, '}');

    return j->failed ? -1 : 0;
}


/* frames */


static void
ngx_chat_json_id(ngx_chat_json_t *j, const char *id, size_t id_len)
{
    if (id != NULL && id_len) {
        ngx_chat_json_lit(j, ",\"id\":");
        ngx_chat_json_put(j, id, id_len);
    }
}


static void
ngx_chat_json_cstr(ngx_chat_json_t *j, const char *s)
{
    if (s == NULL) {
        s = "";
    }

    ngx_chat_json_put_str(j, s, strlen(s));
}


int
ngx_chat_json_error(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *code, const char *message)
{
    ngx_chat_json_lit(j, "{\"type\":\"error\"");
    ngx_chat_json_id(j, id, id_len);
    ngx_chat_json_lit(j, ",\"code\":");
    ngx_chat_json_cstr(j, code);
    ngx_chat_json_lit(j, ",\"message\":");
    ngx_chat_json_cstr(j, message);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_error_retry(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *code, const char *message, long long retry_after)
{
    ngx_chat_json_lit(j, "{\"type\":\"error\"");
    ngx_chat_json_id(j, id, id_len);
    ngx_chat_json_lit(j, ",\"code\":");
    ngx_chat_json_cstr(j, code);
    ngx_chat_json_lit(j, ",\"message\":");
    ngx_chat_json_cstr(j, message);
    ngx_chat_json_lit(j, ",\"retry_after\":");
    ngx_chat_json_put_int(j, retry_after);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_rest_error(ngx_chat_json_t *j, const char *code,
    const char *message)
{
    ngx_chat_json_lit(j, "{\"error\":{\"code\":");
    ngx_chat_json_cstr(j, code);
    ngx_chat_json_lit(j, ",\"message\":");
    ngx_chat_json_cstr(j, message);
    ngx_chat_json_putc(j, '}');

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_ok_begin(ngx_chat_json_t *j, const char *id, size_t id_len)
{
    ngx_chat_json_lit(j, "{\"type\":\"ok\"");
    ngx_chat_json_id(j, id, id_len);

    return j->failed ? -1 : 0;
}


int
ngx_chat_json_type_begin(ngx_chat_json_t *j, const char *type,
    const char *id, size_t id_len)
{
    ngx_chat_json_lit(j, "{\"type\":");
    ngx_chat_json_cstr(j, type);
    ngx_chat_json_id(j, id, id_len);

    return j->failed ? -1 : 0;
}


int
ngx_chat_json_welcome(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *user, size_t user_len, long long expires_at,
    long long server_time)
{
    ngx_chat_json_lit(j, "{\"type\":\"welcome\"");
    ngx_chat_json_id(j, id, id_len);
    ngx_chat_json_lit(j, ",\"user\":");
    ngx_chat_json_put_str(j, user, user_len);
    ngx_chat_json_lit(j, ",\"expires_at\":");
    ngx_chat_json_put_int(j, expires_at);
    ngx_chat_json_lit(j, ",\"server_time\":");
    ngx_chat_json_put_int(j, server_time);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_message_open(ngx_chat_json_t *j, const ngx_chat_message_t *m)
{
    size_t  size;

    /* one growth at most for the usual message: escapes aside */
    size = 160 + m->room_len + m->from_len + m->name_len + m->body_len
           + m->cid_len + m->meta_len;

    if (ngx_chat_json_reserve(j, size) != 0) {
        return -1;
    }

    ngx_chat_json_put_sep(j);

    if (m->with_type) {
        ngx_chat_json_lit(j, "{\"type\":\"message\",\"room\":");

    } else {
        ngx_chat_json_lit(j, "{\"room\":");
    }

    ngx_chat_json_put_str(j, m->room, m->room_len);
    ngx_chat_json_lit(j, ",\"seq\":");
    ngx_chat_json_put_int(j, m->seq);
    ngx_chat_json_lit(j, ",\"rev\":");
    ngx_chat_json_put_int(j, m->rev);
    ngx_chat_json_lit(j, ",\"msg_id\":");
    ngx_chat_json_put_int(j, m->msg_id);
    ngx_chat_json_lit(j, ",\"from\":");
    ngx_chat_json_put_str(j, m->from, m->from_len);

    if (m->name_len) {
        ngx_chat_json_lit(j, ",\"name\":");
        ngx_chat_json_put_str(j, m->name, m->name_len);
    }

    if (!m->deleted) {
        ngx_chat_json_lit(j, ",\"body\":");
        ngx_chat_json_put_str(j, m->body, m->body_len);
    }

    ngx_chat_json_lit(j, ",\"ts\":");
    ngx_chat_json_put_int(j, m->ts);

    if (m->cid_len) {
        ngx_chat_json_lit(j, ",\"client_msg_id\":");
        ngx_chat_json_put_str(j, m->client_msg_id, m->cid_len);
    }

    if (m->reply_to) {
        ngx_chat_json_lit(j, ",\"reply_to\":");
        ngx_chat_json_put_int(j, m->reply_to);
    }

    /* a deleted message keeps its place, not its content */

    if (m->meta_len && !m->deleted) {
        ngx_chat_json_lit(j, ",\"meta\":");
        ngx_chat_json_put(j, m->meta, m->meta_len);
    }

    if (m->deleted) {
        ngx_chat_json_lit(j, ",\"deleted\":true");
    }

    return j->failed ? -1 : 0;
}


size_t
ngx_chat_json_message_max(size_t body_max, size_t meta_max, size_t name_max)
{
    size_t  text;

    /* strings grow six times at most (\u00XX); meta is copied as is */

    if (body_max > SIZE_MAX / 16 || meta_max > SIZE_MAX / 16
        || name_max > SIZE_MAX / 16)
    {
        return 0;
    }

    text = NGX_CHAT_ROOM_ID_MAX + NGX_CHAT_USER_ID_MAX
           + NGX_CHAT_CLIENT_MSG_ID_MAX + body_max + name_max;

    /* the field names, the punctuation and seven 20-digit numbers */

    return 288 + 6 * text + meta_max;
}


int
ngx_chat_json_message(ngx_chat_json_t *j, const ngx_chat_message_t *m)
{
    if (ngx_chat_json_message_open(j, m) != 0) {
        return -1;
    }

    return ngx_chat_json_end(j);
}


static const char *
ngx_chat_json_find(const char *p, const char *last, const char *s)
{
    size_t  n;

    n = strlen(s);

    for ( /* void */ ; (size_t) (last - p) >= n; p++) {
        if (memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/*
 * The first ",\"ts\":0" is the field: the fields before it are strings,
 * and a quote inside a JSON string is always escaped.
 */
int
ngx_chat_json_message_parts(ngx_chat_json_t *j, const ngx_chat_message_t *m,
    ngx_chat_json_part_t *part)
{
    size_t               start;
    const char          *p, *last, *seq, *ts;
    ngx_chat_message_t   z;

    z = *m;
    z.seq = 0;
    z.rev = 0;
    z.msg_id = 0;
    z.ts = 0;
    z.deleted = 0;
    z.with_type = 1;

    start = j->len;

    if (ngx_chat_json_message(j, &z) != 0) {
        return -1;
    }

    p = j->data + start;
    last = j->data + j->len;

    seq = ngx_chat_json_find(p, last, "\"seq\":0,\"rev\":0,\"msg_id\":0,");
    ts = seq ? ngx_chat_json_find(seq, last, ",\"ts\":0") : NULL;

    if (ts == NULL) {
        return -1;
    }

    seq += sizeof("\"seq\":") - 1;
    ts += sizeof(",\"ts\":") - 1;

    part[0].data = p;
    part[0].len = seq - p;
    part[1].data = seq + 1;
    part[1].len = sizeof(",\"rev\":") - 1;
    part[2].data = part[1].data + part[1].len + 1;
    part[2].len = sizeof(",\"msg_id\":") - 1;
    part[3].data = part[2].data + part[2].len + 1;
    part[3].len = ts - part[3].data;
    part[4].data = ts + 1;
    part[4].len = last - part[4].data;

    return 0;
}


static void
ngx_chat_json_event_begin(ngx_chat_json_t *j, const char *lit, size_t n,
    const char *room, size_t room_len)
{
    ngx_chat_json_put(j, lit, n);
    ngx_chat_json_lit(j, ",\"room\":");
    ngx_chat_json_put_str(j, room, room_len);
}


#define ngx_chat_json_event(j, t, room, room_len)                             \
    ngx_chat_json_event_begin(j, "{\"type\":\"" t "\"",                       \
                              sizeof("{\"type\":\"" t "\"") - 1,              \
                              room, room_len)


int
ngx_chat_json_edited(ngx_chat_json_t *j, const char *room, size_t room_len,
    long long seq, const char *body, size_t body_len, long long edited_at)
{
    ngx_chat_json_event(j, "edited", room, room_len);
    ngx_chat_json_lit(j, ",\"seq\":");
    ngx_chat_json_put_int(j, seq);
    ngx_chat_json_lit(j, ",\"body\":");
    ngx_chat_json_put_str(j, body, body_len);
    ngx_chat_json_lit(j, ",\"edited_at\":");
    ngx_chat_json_put_int(j, edited_at);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_deleted(ngx_chat_json_t *j, const char *room, size_t room_len,
    long long seq)
{
    ngx_chat_json_event(j, "deleted", room, room_len);
    ngx_chat_json_lit(j, ",\"seq\":");
    ngx_chat_json_put_int(j, seq);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_receipt(ngx_chat_json_t *j, const char *room, size_t room_len,
    const char *user, size_t user_len, long long seq)
{
    ngx_chat_json_event(j, "receipt", room, room_len);
    ngx_chat_json_lit(j, ",\"user\":");
    ngx_chat_json_put_str(j, user, user_len);
    ngx_chat_json_lit(j, ",\"seq\":");
    ngx_chat_json_put_int(j, seq);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_typing(ngx_chat_json_t *j, const char *room, size_t room_len,
    const char *user, size_t user_len)
{
    ngx_chat_json_event(j, "typing", room, room_len);
    ngx_chat_json_lit(j, ",\"user\":");
    ngx_chat_json_put_str(j, user, user_len);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_presence(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, const char *state)
{
    ngx_chat_json_event(j, "presence", room, room_len);
    ngx_chat_json_lit(j, ",\"user\":");
    ngx_chat_json_put_str(j, user, user_len);
    ngx_chat_json_lit(j, ",\"state\":");
    ngx_chat_json_cstr(j, state);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_member(ngx_chat_json_t *j, const char *room, size_t room_len,
    const char *user, size_t user_len, const char *action)
{
    ngx_chat_json_event(j, "member", room, room_len);
    ngx_chat_json_lit(j, ",\"user\":");
    ngx_chat_json_put_str(j, user, user_len);
    ngx_chat_json_lit(j, ",\"action\":");
    ngx_chat_json_cstr(j, action);

    return ngx_chat_json_end(j);
}
