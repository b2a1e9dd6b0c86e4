
/*
 * ngx_chat request decoding.  The fields of protocol.md section 4 are
 * described once, in a table: a request type names the ones it takes and
 * the ones it requires, and one loop reads them.  No nginx types here:
 * standard C and jansson only.
 */


#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>

#include <jansson.h>

#include "ngx_chat_decode.h"
#include "ngx_chat_flat.h"
#include "ngx_chat_json.h"
#include "ngx_chat_scan.h"


#define NGX_CHAT_BAD_REQUEST   "bad_request"
#define NGX_CHAT_TOO_LARGE     "too_large"
#define NGX_CHAT_INTERNAL      "internal"

#define ngx_chat_value_(n)     #n
#define ngx_chat_value(n)      ngx_chat_value_(n)


/* the fields of protocol.md section 4 */
#define NGX_CHAT_F_TOKEN       0x0001
#define NGX_CHAT_F_ROOM        0x0002
#define NGX_CHAT_F_BODY        0x0004
#define NGX_CHAT_F_CMID        0x0008
#define NGX_CHAT_F_SEQ         0x0010
#define NGX_CHAT_F_SINCE       0x0020
#define NGX_CHAT_F_SINCE_REV   0x0040
#define NGX_CHAT_F_BEFORE      0x0080
#define NGX_CHAT_F_AFTER       0x0100
#define NGX_CHAT_F_LIMIT       0x0200
#define NGX_CHAT_F_REPLY_TO    0x0400
#define NGX_CHAT_F_META        0x0800
#define NGX_CHAT_F_STOP        0x1000
#define NGX_CHAT_F_STATE       0x2000


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
    { "join", NGX_CHAT_F_ROOM, NGX_CHAT_F_SINCE|NGX_CHAT_F_SINCE_REV },
    { "leave", NGX_CHAT_F_ROOM, 0 },
    { "send", NGX_CHAT_F_ROOM|NGX_CHAT_F_BODY,
      NGX_CHAT_F_CMID|NGX_CHAT_F_REPLY_TO|NGX_CHAT_F_META },
    { "history", NGX_CHAT_F_ROOM,
      NGX_CHAT_F_BEFORE|NGX_CHAT_F_AFTER|NGX_CHAT_F_LIMIT },
    { "read", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ, NGX_CHAT_F_STATE },
    { "typing", NGX_CHAT_F_ROOM, NGX_CHAT_F_STOP },
    { "edit", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ|NGX_CHAT_F_BODY, 0 },
    { "delete", NGX_CHAT_F_ROOM|NGX_CHAT_F_SEQ, 0 },
    { "presence", NGX_CHAT_F_ROOM, 0 }
};

#define NGX_CHAT_REQ_NTYPES                                                   \
    (sizeof(ngx_chat_req_specs) / sizeof(ngx_chat_req_specs[0]))


typedef enum {
    NGX_CHAT_FIELD_STR = 0,     /* const char * and size_t at off, len */
    NGX_CHAT_FIELD_INT,         /* long long at off */
    NGX_CHAT_FIELD_BOOL,        /* int at off, 0 or 1 */
    NGX_CHAT_FIELD_OBJECT       /* its source text, malloc'd, at off, len */
} ngx_chat_field_type_e;


/* where a field's upper bound comes from, besides the table */
typedef enum {
    NGX_CHAT_BOUND_TABLE = 0,
    NGX_CHAT_BOUND_BODY,        /* ngx_chat_proto_limits_t.body_max */
    NGX_CHAT_BOUND_META         /* ngx_chat_proto_limits_t.meta_max */
} ngx_chat_field_bound_e;


/*
 * A field: its JSON type and bounds (a string's length in bytes, an
 * integer's value, an object's text), where it goes, and the message of
 * each way it can be wrong.  A message left NULL is "invalid"'s; a "big"
 * failure has its own code when big_code is set.
 */
typedef struct {
    const char              *name;
    unsigned                 flag;          /* NGX_CHAT_F_* */
    ngx_chat_field_type_e    type;
    long long                min;
    long long                max;
    ngx_chat_field_bound_e   bound;
    long long                def;           /* an absent integer's value */
    size_t                   off;
    size_t                   len;           /* strings, objects */
    int                    (*valid)(const char *p, size_t len);
    unsigned                 excludes;      /* NGX_CHAT_F_* */

    const char              *missing;
    const char              *invalid;       /* wrong type, out of bounds */
    const char              *small;
    const char              *big;
    const char              *big_code;
    const char              *bad_value;     /* valid() said no */
    const char              *excluded;
} ngx_chat_field_t;


#define ngx_chat_req_field(f)  offsetof(ngx_chat_request_t, f)


/* in the order they are checked: the first wrong field is the one told */
static int ngx_chat_receipt_state_valid(const char *p, size_t len);


static const ngx_chat_field_t  ngx_chat_fields[] = {

    { .name = "room", .flag = NGX_CHAT_F_ROOM,
      .type = NGX_CHAT_FIELD_STR, .max = LLONG_MAX,
      .off = ngx_chat_req_field(room), .len = ngx_chat_req_field(room_len),
      .valid = ngx_chat_room_id_valid,
      .missing = "missing \"room\"",
      .invalid = "\"room\" must be a string",
      .bad_value = "invalid room id" },

    /*
     * an empty token is a bad token, not a bad frame: the auth layer
     * rejects it the way it rejects any other bad token
     */
    { .name = "token", .flag = NGX_CHAT_F_TOKEN,
      .type = NGX_CHAT_FIELD_STR, .max = LLONG_MAX,
      .off = ngx_chat_req_field(token),
      .len = ngx_chat_req_field(token_len),
      .missing = "missing \"token\"",
      .invalid = "\"token\" must be a string" },

    { .name = "seq", .flag = NGX_CHAT_F_SEQ,
      .type = NGX_CHAT_FIELD_INT, .min = 1, .max = LLONG_MAX,
      .off = ngx_chat_req_field(seq),
      .missing = "missing \"seq\"",
      .invalid = "\"seq\" must be an integer >= 1" },

    { .name = "body", .flag = NGX_CHAT_F_BODY,
      .type = NGX_CHAT_FIELD_STR, .min = 1, .bound = NGX_CHAT_BOUND_BODY,
      .off = ngx_chat_req_field(body), .len = ngx_chat_req_field(body_len),
      .missing = "missing \"body\"",
      .invalid = "\"body\" must be a string",
      .small = "\"body\" must not be empty",
      .big = "\"body\" is too long", .big_code = NGX_CHAT_TOO_LARGE },

    { .name = "client_msg_id", .flag = NGX_CHAT_F_CMID,
      .type = NGX_CHAT_FIELD_STR,
      .min = 1, .max = NGX_CHAT_CLIENT_MSG_ID_MAX,
      .off = ngx_chat_req_field(client_msg_id),
      .len = ngx_chat_req_field(client_msg_id_len),
      .invalid = "\"client_msg_id\" must be a string of 1 to "
                 ngx_chat_value(NGX_CHAT_CLIENT_MSG_ID_MAX) " bytes" },

    { .name = "since", .flag = NGX_CHAT_F_SINCE,
      .type = NGX_CHAT_FIELD_INT, .min = 0, .max = LLONG_MAX,
      .off = ngx_chat_req_field(since),
      .invalid = "\"since\" must be an integer >= 0" },

    { .name = "since_rev", .flag = NGX_CHAT_F_SINCE_REV,
      .type = NGX_CHAT_FIELD_INT, .min = 0, .max = LLONG_MAX,
      .off = ngx_chat_req_field(since_rev),
      .excludes = NGX_CHAT_F_SINCE,
      .invalid = "\"since_rev\" must be an integer >= 0",
      .excluded = "\"since\" and \"since_rev\" exclude each other" },

    { .name = "before", .flag = NGX_CHAT_F_BEFORE,
      .type = NGX_CHAT_FIELD_INT, .min = 0, .max = LLONG_MAX,
      .off = ngx_chat_req_field(before),
      .invalid = "\"before\" must be an integer >= 0" },

    { .name = "after", .flag = NGX_CHAT_F_AFTER,
      .type = NGX_CHAT_FIELD_INT, .min = 0, .max = LLONG_MAX,
      .off = ngx_chat_req_field(after),
      .invalid = "\"after\" must be an integer >= 0" },

    { .name = "limit", .flag = NGX_CHAT_F_LIMIT,
      .type = NGX_CHAT_FIELD_INT,
      .min = 1, .max = NGX_CHAT_HISTORY_LIMIT_MAX,
      .def = NGX_CHAT_HISTORY_LIMIT_DEF,
      .off = ngx_chat_req_field(limit),
      .invalid = "\"limit\" must be an integer from 1 to "
                 ngx_chat_value(NGX_CHAT_HISTORY_LIMIT_MAX) },

    { .name = "reply_to", .flag = NGX_CHAT_F_REPLY_TO,
      .type = NGX_CHAT_FIELD_INT, .min = 1, .max = LLONG_MAX,
      .off = ngx_chat_req_field(reply_to),
      .invalid = "\"reply_to\" must be an integer >= 1" },

    { .name = "stop", .flag = NGX_CHAT_F_STOP,
      .type = NGX_CHAT_FIELD_BOOL,
      .off = ngx_chat_req_field(stop),
      .invalid = "\"stop\" must be true or false" },

    { .name = "state", .flag = NGX_CHAT_F_STATE,
      .type = NGX_CHAT_FIELD_STR, .max = LLONG_MAX,
      .off = ngx_chat_req_field(state), .len = ngx_chat_req_field(state_len),
      .valid = ngx_chat_receipt_state_valid,
      .invalid = "\"state\" must be \"read\" or \"delivered\"",
      .bad_value = "\"state\" must be \"read\" or \"delivered\"" },

    { .name = "meta", .flag = NGX_CHAT_F_META,
      .type = NGX_CHAT_FIELD_OBJECT, .bound = NGX_CHAT_BOUND_META,
      .off = ngx_chat_req_field(meta), .len = ngx_chat_req_field(meta_len),
      .invalid = "\"meta\" must be an object",
      .big = "\"meta\" is too large", .big_code = NGX_CHAT_TOO_LARGE }
};

#define NGX_CHAT_NFIELDS                                                      \
    (sizeof(ngx_chat_fields) / sizeof(ngx_chat_fields[0]))


/* what a decoding needs besides the request: the text and its limits */
typedef struct {
    const char           *buf;
    size_t                len;
    json_t               *root;     /* or flat: */
    ngx_chat_flat_t      *flat;
    size_t                body_max;
    size_t                meta_max;
    const char          **code;
    const char          **msg;
} ngx_chat_decode_t;


static int ngx_chat_request_decode_type(const char *buf, size_t len,
    const ngx_chat_proto_limits_t *lim, ngx_chat_request_t *req,
    const char **code, const char **msg, ngx_chat_req_type_e as);
static const ngx_chat_req_spec_t *ngx_chat_decode_head(ngx_chat_decode_t *d,
    ngx_chat_request_t *req);
static int ngx_chat_decode_fields(ngx_chat_decode_t *d, unsigned want,
    unsigned need, ngx_chat_request_t *req);
static int ngx_chat_decode_load(ngx_chat_decode_t *d,
    ngx_chat_request_t *req, ngx_chat_req_type_e as);
static int ngx_chat_decode_field(ngx_chat_decode_t *d,
    const ngx_chat_field_t *f, const ngx_chat_flat_value_t *v,
    ngx_chat_request_t *req);
static int ngx_chat_decode_object(ngx_chat_decode_t *d,
    const ngx_chat_field_t *f, size_t max, ngx_chat_request_t *req);
static int ngx_chat_decode_fail(ngx_chat_decode_t *d, const char *code,
    const char *msg);
static void ngx_chat_decode_has(ngx_chat_request_t *req, unsigned got);
static int ngx_chat_decode_id(const ngx_chat_flat_value_t *v,
    ngx_chat_request_t *req);
static const char *ngx_chat_load_error(const json_error_t *err,
    const char **code);
static void ngx_chat_recover_id(const char *buf, size_t len,
    ngx_chat_request_t *req);


const char *
ngx_chat_req_type_name(ngx_chat_req_type_e t)
{
    if ((int) t < 1 || (size_t) t > NGX_CHAT_REQ_NTYPES) {
        return "unknown";
    }

    return ngx_chat_req_specs[t - 1].name;
}


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
    unsigned                    want, need;
    ngx_chat_flat_t             flat;
    ngx_chat_decode_t           d;
    const ngx_chat_req_spec_t  *spec;

    memset(req, 0, sizeof(ngx_chat_request_t));

    *code = NULL;
    *msg = NULL;

    d.body_max = NGX_CHAT_BODY_MAX_DEFAULT;
    d.meta_max = NGX_CHAT_META_MAX_DEFAULT;

    if (lim != NULL) {
        if (lim->body_max) {
            d.body_max = lim->body_max;
        }

        if (lim->meta_max) {
            d.meta_max = lim->meta_max;
        }
    }

    if (buf == NULL) {
        buf = "";
        len = 0;
    }

    d.buf = buf;
    d.len = len;
    d.root = NULL;
    d.flat = &flat;
    d.code = code;
    d.msg = msg;

    /*
     * A raw NUL byte is never JSON, yet jansson skips one after a number,
     * where ngx_chat_scan_member() (the id, meta as sent) refuses the text.
     */
    if (memchr(buf, '\0', len) != NULL) {
        *code = NGX_CHAT_BAD_REQUEST;
        *msg = "NUL byte in JSON text";
        return -1;
    }

    if (ngx_chat_decode_load(&d, req, as) != 0) {
        return -1;
    }

    if (as) {
        req->type = as;
        spec = &ngx_chat_req_specs[as - 1];
        need = spec->required & ~NGX_CHAT_F_ROOM;
        want = (spec->required | spec->optional) & ~NGX_CHAT_F_ROOM;

    } else {
        spec = ngx_chat_decode_head(&d, req);

        if (spec == NULL) {
            return -1;
        }

        need = spec->required;
        want = spec->required | spec->optional;
    }

    return ngx_chat_decode_fields(&d, want, need, req);
}


/*
 * The text read as a flat object (ngx_chat_flat.h) into a copy that the
 * request keeps, its strings pointing into it: what a connection's join
 * frame and most requests are, without jansson's allocations per value.
 * Any other text is jansson's tree, whose errors are the ones told.
 */
static int
ngx_chat_decode_load(ngx_chat_decode_t *d, ngx_chat_request_t *req,
    ngx_chat_req_type_e as)
{
    char          *text;
    json_error_t   err;

    text = malloc(d->len + 1);

    if (text != NULL) {
        memcpy(text, d->buf, d->len);
        text[d->len] = '\0';

        if (ngx_chat_flat_parse(text, d->len, d->flat)) {
            req->root = text;
            req->root_text = 1;
            return 0;
        }

        free(text);
    }

    d->flat = NULL;

    /*
     * Duplicate keys are refused: two "room" members could otherwise be
     * read differently by us and by whatever logs or relays the frame.
     * NUL inside strings is refused by jansson by default, so every string
     * we hand out is a proper C string as well.
     */
    d->root = json_loadb(d->buf, d->len, JSON_REJECT_DUPLICATES, &err);

    if (d->root == NULL) {
        *d->msg = ngx_chat_load_error(&err, d->code);

        /* the client waits for an answer with its id, if it had one */
        if (!as) {
            ngx_chat_recover_id(d->buf, d->len, req);
        }

        return -1;
    }

    req->root = d->root;

    if (!json_is_object(d->root)) {
        return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                                    "a frame must be a JSON object");
    }

    return 0;
}


/* "id" first, so that every later error can carry it, then "type" */
static const ngx_chat_req_spec_t *
ngx_chat_decode_head(ngx_chat_decode_t *d, ngx_chat_request_t *req)
{
    size_t                  i;
    ngx_chat_flat_value_t   v;

    ngx_chat_flat_get(d->flat, d->root, "id", &v);

    if (v.type != NGX_CHAT_FLAT_ABSENT && ngx_chat_decode_id(&v, req) != 0) {
        ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                             "\"id\" must be an integer or a string of at "
                             "most " ngx_chat_value(NGX_CHAT_REQ_ID_MAX)
                             " bytes");
        return NULL;
    }

    ngx_chat_flat_get(d->flat, d->root, "type", &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST, "missing \"type\"");
        return NULL;
    }

    if (v.type != NGX_CHAT_FLAT_STRING) {
        ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                             "\"type\" must be a string");
        return NULL;
    }

    for (i = 0; i < NGX_CHAT_REQ_NTYPES; i++) {
        if (strlen(ngx_chat_req_specs[i].name) == v.len
            && memcmp(ngx_chat_req_specs[i].name, v.str, v.len) == 0)
        {
            req->type = (ngx_chat_req_type_e) (i + 1);
            return &ngx_chat_req_specs[i];
        }
    }

    ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST, "unknown \"type\"");

    return NULL;
}


/* the fields in want, those in need required */
static int
ngx_chat_decode_fields(ngx_chat_decode_t *d, unsigned want, unsigned need,
    ngx_chat_request_t *req)
{
    size_t                   i;
    unsigned                 got;
    ngx_chat_flat_value_t    v;
    const ngx_chat_field_t  *f;

    got = 0;

    for (i = 0; i < NGX_CHAT_NFIELDS; i++) {
        f = &ngx_chat_fields[i];

        if (!(want & f->flag)) {
            continue;
        }

        ngx_chat_flat_get(d->flat, d->root, f->name, &v);

        if (v.type == NGX_CHAT_FLAT_ABSENT) {
            if (need & f->flag) {
                return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                                            f->missing);
            }

            if (f->type == NGX_CHAT_FIELD_INT) {
                *(long long *) ((char *) req + f->off) = f->def;
            }

            continue;
        }

        if (ngx_chat_decode_field(d, f, &v, req) != 0) {
            return -1;
        }

        got |= f->flag;

        if (got & f->excludes) {
            return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                                        f->excluded);
        }
    }

    ngx_chat_decode_has(req, got);

    return 0;
}


/* one present field, its value v */
static int
ngx_chat_decode_field(ngx_chat_decode_t *d, const ngx_chat_field_t *f,
    const ngx_chat_flat_value_t *v, ngx_chat_request_t *req)
{
    char        *dst;
    size_t       n, max;
    long long    i;
    const char  *s;

    dst = (char *) req + f->off;

    switch (f->bound) {
    case NGX_CHAT_BOUND_BODY:
        max = d->body_max;
        break;
    case NGX_CHAT_BOUND_META:
        max = d->meta_max;
        break;
    default:
        max = (size_t) f->max;
    }

    switch (f->type) {

    case NGX_CHAT_FIELD_INT:
        if (v->type != NGX_CHAT_FLAT_INTEGER) {
            break;
        }

        i = v->integer;

        if (i < f->min || i > f->max) {
            break;
        }

        *(long long *) dst = i;
        return 0;

    case NGX_CHAT_FIELD_BOOL:
        if (v->type != NGX_CHAT_FLAT_TRUE && v->type != NGX_CHAT_FLAT_FALSE) {
            break;
        }

        *(int *) dst = (v->type == NGX_CHAT_FLAT_TRUE);
        return 0;

    case NGX_CHAT_FIELD_STR:
        if (v->type != NGX_CHAT_FLAT_STRING) {
            break;
        }

        s = v->str;
        n = v->len;

        *(const char **) dst = s;
        *(size_t *) ((char *) req + f->len) = n;

        if (n < (size_t) f->min) {
            return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                                        f->small ? f->small : f->invalid);
        }

        if (n > max) {
            return ngx_chat_decode_fail(d, f->big_code, f->big ? f->big
                                                               : f->invalid);
        }

        if (f->valid != NULL && !f->valid(s, n)) {
            return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST,
                                        f->bad_value);
        }

        return 0;

    case NGX_CHAT_FIELD_OBJECT:
        if (v->type != NGX_CHAT_FLAT_OBJECT) {
            break;
        }

        return ngx_chat_decode_object(d, f, max, req);
    }

    return ngx_chat_decode_fail(d, NGX_CHAT_BAD_REQUEST, f->invalid);
}


/*
 * An object field as the client sent it, byte for byte: jansson's own
 * output would expand numbers (1e308) and lose their spelling.
 */
static int
ngx_chat_decode_object(ngx_chat_decode_t *d, const ngx_chat_field_t *f,
    size_t max, ngx_chat_request_t *req)
{
    char        *text;
    size_t       n;
    const char  *p;

    if (ngx_chat_scan_member(d->buf, d->len, f->name, &p, &n) != 1) {
        /* jansson found it: only a scanner's fault would miss it */
        return ngx_chat_decode_fail(d, NGX_CHAT_INTERNAL,
                                    "cannot find \"meta\"");
    }

    if (n > max) {
        return ngx_chat_decode_fail(d, f->big_code, f->big);
    }

    text = malloc(n + 1);
    if (text == NULL) {
        return ngx_chat_decode_fail(d, NGX_CHAT_INTERNAL, "out of memory");
    }

    memcpy(text, p, n);
    text[n] = '\0';

    *(char **) ((char *) req + f->off) = text;
    *(size_t *) ((char *) req + f->len) = n;

    return 0;
}


/* code NULL: NGX_CHAT_BAD_REQUEST */
static int
ngx_chat_decode_fail(ngx_chat_decode_t *d, const char *code,
    const char *msg)
{
    *d->code = code ? code : NGX_CHAT_BAD_REQUEST;
    *d->msg = msg;

    return -1;
}


/* the flags of the optional fields that were there */
static void
ngx_chat_decode_has(ngx_chat_request_t *req, unsigned got)
{
    req->has_seq = !!(got & NGX_CHAT_F_SEQ);
    req->has_since = !!(got & NGX_CHAT_F_SINCE);
    req->has_since_rev = !!(got & NGX_CHAT_F_SINCE_REV);
    req->has_before = !!(got & NGX_CHAT_F_BEFORE);
    req->has_after = !!(got & NGX_CHAT_F_AFTER);
    req->has_limit = !!(got & NGX_CHAT_F_LIMIT);
    req->has_reply_to = !!(got & NGX_CHAT_F_REPLY_TO);
}


void
ngx_chat_request_free(ngx_chat_request_t *req)
{
    if (req == NULL) {
        return;
    }

    if (req->root_text) {
        free(req->root);

    } else if (req->root != NULL) {
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


/* an integer, or a string of at most NGX_CHAT_REQ_ID_MAX bytes */
static int
ngx_chat_decode_id(const ngx_chat_flat_value_t *v, ngx_chat_request_t *req)
{
    int  n;

    if (v->type == NGX_CHAT_FLAT_INTEGER) {
        n = snprintf(req->id, sizeof(req->id), "%lld", v->integer);

        if (n <= 0 || (size_t) n >= sizeof(req->id)) {
            return -1;
        }

        req->id_len = n;
        return 0;
    }

    if (v->type != NGX_CHAT_FLAT_STRING) {
        return -1;
    }

    if (v->len > NGX_CHAT_REQ_ID_MAX) {
        return -1;
    }

    /* quotes, escapes and the NUL must fit in the fixed buffer */

    req->id_len = ngx_chat_json_quote(req->id, sizeof(req->id), v->str,
                                      v->len);

    return req->id_len ? 0 : -1;
}


/*
 * The id of a frame that jansson refused, when the frame is an object
 * with one "id" member that is a valid id on its own.
 */
static void
ngx_chat_recover_id(const char *buf, size_t len, ngx_chat_request_t *req)
{
    size_t                  n;
    json_t                 *v;
    const char             *p;
    ngx_chat_flat_value_t   id;

    if (ngx_chat_scan_member(buf, len, "id", &p, &n) != 1) {
        return;
    }

    v = json_loadb(p, n, JSON_DECODE_ANY, NULL);

    if (v == NULL) {
        return;
    }

    ngx_chat_flat_from_tree(v, &id);

    if (ngx_chat_decode_id(&id, req) != 0) {
        req->id_len = 0;
    }

    json_decref(v);
}


/* a read cursor's state: "read" or "delivered" */
static int
ngx_chat_receipt_state_valid(const char *p, size_t len)
{
    return (len == 4 && memcmp(p, "read", 4) == 0)
           || (len == 9 && memcmp(p, "delivered", 9) == 0);
}
