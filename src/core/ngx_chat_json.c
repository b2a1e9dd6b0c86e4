
/*
 * ngx_chat JSON writer: the buffer, string escaping, numbers, and the
 * builders of replies and events.  No nginx types here: standard C only.
 */


#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "ngx_chat_ids.h"
#include "ngx_chat_json.h"


/* the smallest buffer allocated */
#define NGX_CHAT_JSON_MIN_CAP  64


typedef unsigned char  ngx_chat_u_char;


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
static void ngx_chat_json_code(ngx_chat_json_t *j, const char *code,
    const char *message);
static void ngx_chat_json_event_begin(ngx_chat_json_t *j, const char *lit,
    size_t n, const char *room, size_t room_len, int of_user,
    const char *user, size_t user_len);


#define ngx_chat_json_lit(j, s)  ngx_chat_json_put(j, s, sizeof(s) - 1)


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

    if (reserve < NGX_CHAT_JSON_MIN_CAP) {
        reserve = NGX_CHAT_JSON_MIN_CAP;
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

    cap = j->cap ? j->cap : NGX_CHAT_JSON_MIN_CAP;

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


size_t
ngx_chat_json_quote(char *buf, size_t size, const char *s, size_t n)
{
    size_t            len;
    ngx_chat_u_char  *d;

    /* the quotes and the NUL must fit as well */

    len = ngx_chat_json_escaped_len((const ngx_chat_u_char *) s, n);

    if (len < n || len > size || size - len < 3) {
        return 0;
    }

    d = (ngx_chat_u_char *) buf;
    *d++ = '"';
    d = ngx_chat_json_escape(d, (const ngx_chat_u_char *) s, n);
    *d++ = '"';
    *d = '\0';

    return len + 2;
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


/* "code":CODE,"message":MESSAGE with a separator before */
static void
ngx_chat_json_code(ngx_chat_json_t *j, const char *code, const char *message)
{
    ngx_chat_json_key(j, "code");
    ngx_chat_json_cstr(j, code);
    ngx_chat_json_lit(j, ",\"message\":");
    ngx_chat_json_cstr(j, message);
}


int
ngx_chat_json_error(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *code, const char *message)
{
    ngx_chat_json_lit(j, "{\"type\":\"error\"");
    ngx_chat_json_id(j, id, id_len);
    ngx_chat_json_code(j, code, message);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_error_retry(ngx_chat_json_t *j, const char *id, size_t id_len,
    const char *code, const char *message, long long retry_after)
{
    ngx_chat_json_lit(j, "{\"type\":\"error\"");
    ngx_chat_json_id(j, id, id_len);
    ngx_chat_json_code(j, code, message);
    ngx_chat_json_lit(j, ",\"retry_after\":");
    ngx_chat_json_put_int(j, retry_after);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_rest_error(ngx_chat_json_t *j, const char *code,
    const char *message)
{
    ngx_chat_json_lit(j, "{\"error\":{");
    ngx_chat_json_code(j, code, message);
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


/* {"type":TYPE,"room":ROOM  and, for an event of a user, ,"user":USER */
static void
ngx_chat_json_event_begin(ngx_chat_json_t *j, const char *lit, size_t n,
    const char *room, size_t room_len, int of_user, const char *user,
    size_t user_len)
{
    ngx_chat_json_put(j, lit, n);
    ngx_chat_json_lit(j, ",\"room\":");
    ngx_chat_json_put_str(j, room, room_len);

    if (of_user) {
        ngx_chat_json_lit(j, ",\"user\":");
        ngx_chat_json_put_str(j, user, user_len);
    }
}


#define ngx_chat_json_event(j, t, room, room_len)                             \
    ngx_chat_json_event_begin(j, "{\"type\":\"" t "\"",                       \
                              sizeof("{\"type\":\"" t "\"") - 1,              \
                              room, room_len, 0, NULL, 0)

#define ngx_chat_json_user_event(j, t, room, room_len, user, user_len)        \
    ngx_chat_json_event_begin(j, "{\"type\":\"" t "\"",                       \
                              sizeof("{\"type\":\"" t "\"") - 1,              \
                              room, room_len, 1, user, user_len)


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
    const char *user, size_t user_len, long long seq, const char *state)
{
    ngx_chat_json_user_event(j, "receipt", room, room_len, user, user_len);
    ngx_chat_json_lit(j, ",\"seq\":");
    ngx_chat_json_put_int(j, seq);
    ngx_chat_json_lit(j, ",\"state\":");
    ngx_chat_json_cstr(j, state);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_typing(ngx_chat_json_t *j, const char *room, size_t room_len,
    const char *user, size_t user_len, int stop)
{
    ngx_chat_json_user_event(j, "typing", room, room_len, user, user_len);

    if (stop) {
        ngx_chat_json_kv_bool(j, "stop", 1);
    }

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_presence(ngx_chat_json_t *j, const char *room,
    size_t room_len, const char *user, size_t user_len, const char *state)
{
    ngx_chat_json_user_event(j, "presence", room, room_len, user,
                             user_len);
    ngx_chat_json_lit(j, ",\"state\":");
    ngx_chat_json_cstr(j, state);

    return ngx_chat_json_end(j);
}


int
ngx_chat_json_member(ngx_chat_json_t *j, const char *room, size_t room_len,
    const char *user, size_t user_len, const char *action)
{
    ngx_chat_json_user_event(j, "member", room, room_len, user, user_len);
    ngx_chat_json_lit(j, ",\"action\":");
    ngx_chat_json_cstr(j, action);

    return ngx_chat_json_end(j);
}
