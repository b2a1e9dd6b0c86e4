
/*
 * ngx_chat: JWT verification and signing.
 *
 * Verification is done here, with OpenSSL, not with libjwt: libjwt 1.10
 * takes the algorithm from the token header, validates no claims, and
 * parses a PEM public key again for every token (about 1 ms each).  The
 * header and payload are decoded and checked here, only keys bound to the
 * header's algorithm are tried, RS256 and ES256 keys are parsed once when
 * the configuration is read (ngx_chat_jwt_key_load()), and the claims
 * come from this file's own parse of exactly the payload bytes whose
 * signature was checked.
 *
 * Signing (chat-token, tests) still uses libjwt.
 */


#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ngx_chat_flat.h"
#include "ngx_chat_ids.h"
#include "ngx_chat_jwt.h"
#include "ngx_chat_utf8.h"


#define ngx_chat_jwt_value_(n)  #n
#define ngx_chat_jwt_value(n)   ngx_chat_jwt_value_(n)

/* a key file is configuration, not data: anything larger is a mistake */
#define NGX_CHAT_JWT_KEY_MAX    (64 * 1024)

/* OpenSSL verifies no larger RSA keys (OPENSSL_RSA_MAX_MODULUS_BITS) */
#define NGX_CHAT_JWT_RSA_MAX_BITS  16384
#define NGX_CHAT_JWT_SIG_MAX    (NGX_CHAT_JWT_RSA_MAX_BITS / 8)

#define NGX_CHAT_JWT_HS_SIG_LEN 32
#define NGX_CHAT_JWT_HS_BLOCK   64      /* SHA-256's block, HMAC's pads */

/* {"alg":"HS256","typ":"JWT"}, the header most HS256 signers write */
#define NGX_CHAT_JWT_HS256_HEADER  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define NGX_CHAT_JWT_ES_SIG_LEN 64      /* R || S, 32 bytes each */


/*
 * The claims: a flat object read from the decoded payload (raw), as most
 * tokens are, or jansson's tree of it.
 */
typedef struct {
    unsigned char             *raw;
    ngx_chat_flat_t           *flat;
    json_t                    *root;
    ngx_chat_flat_t            members;
} ngx_chat_jwt_obj_t;


static int ngx_chat_jwt_b64_value(unsigned char c);
static int ngx_chat_jwt_b64url_decode(const char *src, size_t len,
    unsigned char *dst, size_t *out);
static int ngx_chat_jwt_b64url_exact(const char *src, size_t len,
    unsigned char *dst, size_t n);
static int ngx_chat_jwt_split(const char *token, size_t len, size_t *hlen,
    size_t *plen);
static unsigned char *ngx_chat_jwt_segment_raw(const char *seg, size_t len,
    size_t *n);
static json_t *ngx_chat_jwt_object_load(const unsigned char *raw, size_t n);
static json_t *ngx_chat_jwt_segment_json(const char *seg, size_t len);
static const char *ngx_chat_jwt_header(const char *seg, size_t len,
    ngx_chat_jwt_alg_e *alg);
static int ngx_chat_jwt_payload(const char *seg, size_t len,
    ngx_chat_jwt_obj_t *obj);
static void ngx_chat_jwt_obj_free(ngx_chat_jwt_obj_t *obj);
static void ngx_chat_jwt_get(const ngx_chat_jwt_obj_t *obj,
    const char *name, ngx_chat_flat_value_t *v);
static int ngx_chat_jwt_sig_ok(const ngx_chat_jwt_key_t *key,
    const unsigned char *msg, size_t mlen, const char *sig, size_t slen);
static int ngx_chat_jwt_hs256_ok(const ngx_chat_jwt_key_t *key,
    const unsigned char *msg, size_t mlen, const char *sig, size_t slen);
static int ngx_chat_jwt_hmac_sha256(const unsigned char *key, size_t klen,
    const unsigned char *msg, size_t mlen, unsigned char *mac);
static int ngx_chat_jwt_sha256(EVP_MD_CTX *ctx, const EVP_MD *md,
    const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, unsigned char *out);
static int ngx_chat_jwt_rs256_ok(EVP_PKEY *pkey, const unsigned char *msg,
    size_t mlen, const char *sig, size_t slen);
static int ngx_chat_jwt_es256_ok(EVP_PKEY *pkey, const unsigned char *msg,
    size_t mlen, const char *sig, size_t slen);
static int ngx_chat_jwt_digest_verify(EVP_PKEY *pkey, int rsa,
    const unsigned char *sig, size_t slen, const unsigned char *msg,
    size_t mlen);
static jwt_alg_t ngx_chat_jwt_libjwt_alg(ngx_chat_jwt_alg_e alg);
static int ngx_chat_jwt_no_passphrase(char *buf, int size, int rwflag,
    void *data);
static const char *ngx_chat_jwt_pkey_check(ngx_chat_jwt_alg_e alg,
    EVP_PKEY *pkey);
static const char *ngx_chat_jwt_key_load_pem(ngx_chat_jwt_key_t *key,
    ngx_chat_jwt_alg_e alg, const unsigned char *data, size_t len,
    int private);
static const char *ngx_chat_jwt_pem_load(ngx_chat_jwt_alg_e alg,
    const unsigned char *key, size_t len, int private, EVP_PKEY **out);
static const char *ngx_chat_jwt_claims(const ngx_chat_jwt_conf_t *conf,
    const ngx_chat_jwt_obj_t *root, long long now,
    ngx_chat_jwt_claims_t *claims);
static const char *ngx_chat_jwt_claims_time(const ngx_chat_jwt_conf_t *conf,
    const ngx_chat_jwt_obj_t *root, long long now,
    ngx_chat_jwt_claims_t *claims);
static const char *ngx_chat_jwt_claims_issuer(
    const ngx_chat_jwt_conf_t *conf, const ngx_chat_jwt_obj_t *root);
static const char *ngx_chat_jwt_claims_user(const ngx_chat_jwt_obj_t *root,
    ngx_chat_jwt_claims_t *claims);
static int ngx_chat_jwt_claim_id(const ngx_chat_jwt_obj_t *root,
    const char *name,
    char *dst);
static const char *ngx_chat_jwt_claims_roles(const ngx_chat_jwt_obj_t *root,
    ngx_chat_jwt_claims_t *claims);
static const char *ngx_chat_jwt_time_claim(const ngx_chat_jwt_obj_t *root,
    const char *name,
    long long *value);
static int ngx_chat_jwt_string_eq(const ngx_chat_flat_value_t *v,
    const char *s);


int
ngx_chat_jwt_alg_parse(const char *name, ngx_chat_jwt_alg_e *alg)
{
    /* JWS algorithm names are case-sensitive (RFC 7515, 4.1.1) */

    if (strcmp(name, "HS256") == 0) {
        *alg = NGX_CHAT_JWT_HS256;
        return 0;
    }

    if (strcmp(name, "RS256") == 0) {
        *alg = NGX_CHAT_JWT_RS256;
        return 0;
    }

    if (strcmp(name, "ES256") == 0) {
        *alg = NGX_CHAT_JWT_ES256;
        return 0;
    }

    return -1;
}


const char *
ngx_chat_jwt_alg_name(ngx_chat_jwt_alg_e alg)
{
    switch (alg) {
    case NGX_CHAT_JWT_HS256:
        return "HS256";
    case NGX_CHAT_JWT_RS256:
        return "RS256";
    case NGX_CHAT_JWT_ES256:
        return "ES256";
    }

    return "unknown";
}


size_t
ngx_chat_jwt_key_trim(const unsigned char *key, size_t len)
{
    /* editors and "echo secret > file" add a newline nobody means */

    while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r')) {
        len--;
    }

    return len;
}


const char *
ngx_chat_jwt_key_check(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t len)
{
    switch (alg) {

    case NGX_CHAT_JWT_HS256:
        if (len < NGX_CHAT_JWT_HS_MIN_KEY) {
            return "HS256 secret is shorter than 32 bytes";
        }

        if (len > NGX_CHAT_JWT_KEY_MAX) {
            return "HS256 secret is too long";
        }

        return NULL;

    case NGX_CHAT_JWT_RS256:
    case NGX_CHAT_JWT_ES256:
        return ngx_chat_jwt_pem_load(alg, key, len, 0, NULL);
    }

    return "unknown JWT algorithm";
}


const char *
ngx_chat_jwt_key_load(ngx_chat_jwt_key_t *key, ngx_chat_jwt_alg_e alg,
    const unsigned char *data, size_t len)
{
    return ngx_chat_jwt_key_load_pem(key, alg, data, len, 0);
}


const char *
ngx_chat_jwt_signing_key_load(ngx_chat_jwt_key_t *key,
    ngx_chat_jwt_alg_e alg, const unsigned char *data, size_t len)
{
    /* a private key holds its public half: it verifies as well */
    return ngx_chat_jwt_key_load_pem(key, alg, data, len, 1);
}


/* a key of either kind: RS256 and ES256 PEM keys private or public */
static const char *
ngx_chat_jwt_key_load_pem(ngx_chat_jwt_key_t *key, ngx_chat_jwt_alg_e alg,
    const unsigned char *data, size_t len, int private)
{
    EVP_PKEY    *pkey;
    const char  *e;

    memset(key, 0, sizeof(ngx_chat_jwt_key_t));

    pkey = NULL;

    switch (alg) {

    case NGX_CHAT_JWT_HS256:
        e = ngx_chat_jwt_key_check(alg, data, len);
        break;

    case NGX_CHAT_JWT_RS256:
    case NGX_CHAT_JWT_ES256:
        e = ngx_chat_jwt_pem_load(alg, data, len, private, &pkey);
        break;

    default:
        e = "unknown JWT algorithm";
    }

    if (e != NULL) {
        return e;
    }

    key->alg = alg;
    key->key = (unsigned char *) data;
    key->key_len = len;
    key->pkey = pkey;

    return NULL;
}


void
ngx_chat_jwt_pkey_free(void *pkey)
{
    EVP_PKEY_free(pkey);
}


int
ngx_chat_jwt_verify(const ngx_chat_jwt_conf_t *conf, const char *token,
    size_t len, long long now, ngx_chat_jwt_claims_t *claims,
    const char **err)
{
    int                        tried, ok;
    size_t                     i, max, hlen, plen, mlen;
    const char                *e;
    ngx_chat_jwt_obj_t         root;
    ngx_chat_jwt_alg_e         alg;
    const ngx_chat_jwt_key_t  *key;

    memset(claims, 0, sizeof(ngx_chat_jwt_claims_t));

    max = conf->max_len ? conf->max_len : NGX_CHAT_JWT_MAX_LEN;

    if (len == 0) {
        *err = "empty token";
        return -1;
    }

    if (len > max) {
        *err = "token too long";
        return -1;
    }

    if (ngx_chat_jwt_split(token, len, &hlen, &plen) != 0) {
        *err = "malformed token";
        return -1;
    }

    e = ngx_chat_jwt_header(token, hlen, &alg);
    if (e != NULL) {
        *err = e;
        return -1;
    }

    /*
     * The claims used are this parse of the payload segment, and the
     * signature is checked over the same bytes: "header.payload", the
     * first mlen bytes of the token.
     */

    if (ngx_chat_jwt_payload(token + hlen + 1, plen, &root) != 0) {
        *err = "malformed token claims";
        return -1;
    }

    mlen = hlen + 1 + plen;

    tried = 0;
    ok = 0;

    for (i = 0; i < conf->nkeys; i++) {
        key = &conf->keys[i];

        if (key->alg != alg) {
            continue;
        }

        /* an empty secret would make keyless HMACs valid: never tried */

        if (alg == NGX_CHAT_JWT_HS256
            ? (key->key == NULL || key->key_len == 0
               || key->key_len > INT_MAX)
            : key->pkey == NULL)
        {
            continue;
        }

        tried = 1;

        if (ngx_chat_jwt_sig_ok(key, (const unsigned char *) token, mlen,
                                token + mlen + 1, len - mlen - 1))
        {
            ok = 1;
            break;
        }
    }

    /* OpenSSL leaves errors behind on failures; nginx would log them later */
    ERR_clear_error();

    if (!ok) {
        ngx_chat_jwt_obj_free(&root);
        *err = tried ? "bad token signature" : "token algorithm not accepted";
        return -1;
    }

    e = ngx_chat_jwt_claims(conf, &root, now, claims);
    ngx_chat_jwt_obj_free(&root);

    if (e != NULL) {
        memset(claims, 0, sizeof(ngx_chat_jwt_claims_t));
        *err = e;
        return -1;
    }

    return 0;
}


/*
 * base64url's alphabet, each letter's value plus one (0: not a letter):
 * every byte of a token is looked up twice, once to split it and once to
 * decode it
 */
static const unsigned char  ngx_chat_jwt_b64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64
};


static int
ngx_chat_jwt_b64_value(unsigned char c)
{
    return (int) ngx_chat_jwt_b64[c] - 1;
}


/*
 * Unpadded base64url (RFC 7515, 2).  Non-canonical input (a length of
 * 4n+1, or nonzero bits after the last byte) is refused, so that one
 * header has exactly one spelling.  dst holds at least len * 3 / 4 bytes.
 */

static int
ngx_chat_jwt_b64url_decode(const char *src, size_t len, unsigned char *dst,
    size_t *out)
{
    int       v;
    size_t    i, n;
    unsigned  acc, bits;

    if (len % 4 == 1) {
        return -1;
    }

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_chat_jwt_b64_value((unsigned char) src[i]);
        if (v < 0) {
            return -1;
        }

        acc = ((acc << 6) | (unsigned) v) & 0x3fff;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char) (acc >> bits);
        }
    }

    if (acc & ((1u << bits) - 1)) {
        return -1;
    }

    *out = n;

    return 0;
}


/*
 * Exactly n bytes, spelled the one canonical way: a signature has a fixed
 * length for each key, so any other segment length is refused before
 * decoding.  dst holds n bytes.
 */

static int
ngx_chat_jwt_b64url_exact(const char *src, size_t len, unsigned char *dst,
    size_t n)
{
    size_t  out;

    if (len != n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0)) {
        return -1;
    }

    if (ngx_chat_jwt_b64url_decode(src, len, dst, &out) != 0 || out != n) {
        return -1;
    }

    return 0;
}


/*
 * A compact JWS: three nonempty base64url segments separated by dots.
 * Checking the alphabet here keeps NULs and other bytes away from
 * everything after.
 */

static int
ngx_chat_jwt_split(const char *token, size_t len, size_t *hlen,
    size_t *plen)
{
    size_t  i, dots, seg;

    dots = 0;
    seg = 0;
    *hlen = 0;
    *plen = 0;

    for (i = 0; i < len; i++) {

        if (token[i] == '.') {
            if (seg == 0) {
                return -1;
            }

            if (dots == 0) {
                *hlen = i;

            } else if (dots == 1) {
                *plen = seg;
            }

            dots++;
            seg = 0;
            continue;
        }

        if (ngx_chat_jwt_b64_value((unsigned char) token[i]) < 0) {
            return -1;
        }

        seg++;
    }

    if (dots != 2 || seg == 0) {
        return -1;
    }

    return 0;
}


/* A segment's bytes, base64url-decoded into a buffer of its own, or NULL */

static unsigned char *
ngx_chat_jwt_segment_raw(const char *seg, size_t len, size_t *n)
{
    unsigned char  *raw;

    raw = malloc(len * 3 / 4 + 1);
    if (raw == NULL) {
        return NULL;
    }

    if (ngx_chat_jwt_b64url_decode(seg, len, raw, n) != 0) {
        free(raw);
        return NULL;
    }

    return raw;
}


/*
 * A JSON object read from raw, or NULL.  Duplicate members are refused: a
 * token whose "alg" or "sub" reads differently to another JWT parser
 * (which might keep the first or the last) is no token.
 */

static json_t *
ngx_chat_jwt_object_load(const unsigned char *raw, size_t n)
{
    json_t  *root;

    root = json_loadb((const char *) raw, n, JSON_REJECT_DUPLICATES, NULL);

    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }

    return root;
}


/* A segment's JSON object, or NULL */

static json_t *
ngx_chat_jwt_segment_json(const char *seg, size_t len)
{
    size_t          n;
    json_t         *root;
    unsigned char  *raw;

    raw = ngx_chat_jwt_segment_raw(seg, len, &n);
    if (raw == NULL) {
        return NULL;
    }

    root = ngx_chat_jwt_object_load(raw, n);
    free(raw);

    return root;
}


static const char *
ngx_chat_jwt_header(const char *seg, size_t len, ngx_chat_jwt_alg_e *alg)
{
    int          i;
    json_t      *root, *v;
    const char  *e, *name;

    /* these very bytes would parse to HS256 and nothing else: no parse */

    if (len == sizeof(NGX_CHAT_JWT_HS256_HEADER) - 1
        && memcmp(seg, NGX_CHAT_JWT_HS256_HEADER, len) == 0)
    {
        *alg = NGX_CHAT_JWT_HS256;
        return NULL;
    }

    root = ngx_chat_jwt_segment_json(seg, len);
    if (root == NULL) {
        return "malformed token header";
    }

    v = json_object_get(root, "typ");
    if (v != NULL
        && (!json_is_string(v) || strcasecmp(json_string_value(v), "JWT")))
    {
        e = "unsupported token type";
        goto done;
    }

    /* no header extensions are understood (RFC 7515, 4.1.11) */

    if (json_object_get(root, "crit") != NULL) {
        e = "unsupported critical token header";
        goto done;
    }

    v = json_object_get(root, "alg");
    if (v == NULL || !json_is_string(v)) {
        e = "malformed token header";
        goto done;
    }

    name = json_string_value(v);

    if (strcasecmp(name, "none") == 0) {
        e = "unsigned token";
        goto done;
    }

    i = ngx_chat_jwt_alg_parse(name, alg);
    if (i != 0 || json_string_length(v) != strlen(name)) {
        e = "token algorithm not accepted";
        goto done;
    }

    e = NULL;

done:

    json_decref(root);

    return e;
}


/*
 * The claims object: 0, or -1 when the payload is not one.  Parsed before
 * the signature is checked (but used only after), so that a malformed
 * payload is told from a bad signature and costs no public-key operation.
 * A flat object (ngx_chat_flat.h) is read in place, without jansson's
 * allocations per claim; any other payload is jansson's, as the header.
 */

static int
ngx_chat_jwt_payload(const char *seg, size_t len, ngx_chat_jwt_obj_t *obj)
{
    size_t  n;

    obj->flat = NULL;
    obj->root = NULL;

    obj->raw = ngx_chat_jwt_segment_raw(seg, len, &n);
    if (obj->raw == NULL) {
        return -1;
    }

    if (ngx_chat_flat_parse((char *) obj->raw, n, &obj->members)) {
        obj->flat = &obj->members;
        return 0;
    }

    obj->root = ngx_chat_jwt_object_load(obj->raw, n);

    free(obj->raw);
    obj->raw = NULL;

    return obj->root != NULL ? 0 : -1;
}


static void
ngx_chat_jwt_obj_free(ngx_chat_jwt_obj_t *obj)
{
    free(obj->raw);
    obj->raw = NULL;

    if (obj->root != NULL) {
        json_decref(obj->root);
        obj->root = NULL;
    }

    obj->flat = NULL;
}


static void
ngx_chat_jwt_get(const ngx_chat_jwt_obj_t *obj, const char *name,
    ngx_chat_flat_value_t *v)
{
    ngx_chat_flat_get(obj->flat, obj->root, name, v);
}


/* 1: sig is key's signature over msg; 0: it is not, or an error occurred */

static int
ngx_chat_jwt_sig_ok(const ngx_chat_jwt_key_t *key, const unsigned char *msg,
    size_t mlen, const char *sig, size_t slen)
{
    switch (key->alg) {

    case NGX_CHAT_JWT_HS256:
        return ngx_chat_jwt_hs256_ok(key, msg, mlen, sig, slen);

    case NGX_CHAT_JWT_RS256:
        return ngx_chat_jwt_rs256_ok(key->pkey, msg, mlen, sig, slen);

    case NGX_CHAT_JWT_ES256:
        return ngx_chat_jwt_es256_ok(key->pkey, msg, mlen, sig, slen);
    }

    return 0;
}


static int
ngx_chat_jwt_hs256_ok(const ngx_chat_jwt_key_t *key, const unsigned char *msg,
    size_t mlen, const char *sig, size_t slen)
{
    int            ok;
    unsigned char  mac[NGX_CHAT_JWT_HS_SIG_LEN], raw[NGX_CHAT_JWT_HS_SIG_LEN];

    if (ngx_chat_jwt_b64url_exact(sig, slen, raw, sizeof(raw)) != 0) {
        return 0;
    }

    if (!ngx_chat_jwt_hmac_sha256(key->key, key->key_len, msg, mlen, mac)) {
        return 0;
    }

    ok = CRYPTO_memcmp(mac, raw, NGX_CHAT_JWT_HS_SIG_LEN) == 0;

    /* the right MAC for a forged payload is worth something: leave none */
    OPENSSL_cleanse(mac, sizeof(mac));

    return ok;
}


/*
 * HMAC-SHA256 (RFC 2104) over one digest context kept by the process:
 * OpenSSL 3's HMAC() looks the algorithms up and allocates its contexts
 * again for every call, which cost three times the hashing itself, once
 * per connection.  1: mac is filled in.
 */
static int
ngx_chat_jwt_hmac_sha256(const unsigned char *key, size_t klen,
    const unsigned char *msg, size_t mlen, unsigned char *mac)
{
    int                  ok;
    size_t               i;
    unsigned char        pad[NGX_CHAT_JWT_HS_BLOCK];
    unsigned char        inner[NGX_CHAT_JWT_HS_SIG_LEN];
    static EVP_MD       *md;
    static EVP_MD_CTX   *ctx;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ctx = EVP_MD_CTX_new();

        if (md == NULL || ctx == NULL) {
            EVP_MD_free(md);
            EVP_MD_CTX_free(ctx);
            md = NULL;
            ctx = NULL;
            return 0;
        }
    }

    memset(pad, 0, sizeof(pad));

    /* a key longer than a block is its digest */

    if (klen > NGX_CHAT_JWT_HS_BLOCK) {
        if (!ngx_chat_jwt_sha256(ctx, md, key, klen, NULL, 0, pad)) {
            return 0;
        }

    } else {
        memcpy(pad, key, klen);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] ^= 0x36;
    }

    ok = ngx_chat_jwt_sha256(ctx, md, pad, sizeof(pad), msg, mlen, inner);

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }

    ok = ok && ngx_chat_jwt_sha256(ctx, md, pad, sizeof(pad), inner,
                                   sizeof(inner), mac);

    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));

    return ok;
}


/* out = SHA-256(a || b); 1: done */
static int
ngx_chat_jwt_sha256(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *a,
    size_t alen, const unsigned char *b, size_t blen, unsigned char *out)
{
    unsigned int  n;

    n = 0;

    return EVP_DigestInit_ex(ctx, md, NULL) == 1
           && EVP_DigestUpdate(ctx, a, alen) == 1
           && (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1)
           && EVP_DigestFinal_ex(ctx, out, &n) == 1
           && n == NGX_CHAT_JWT_HS_SIG_LEN;
}


/* RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518, 3.3) */

static int
ngx_chat_jwt_rs256_ok(EVP_PKEY *pkey, const unsigned char *msg, size_t mlen,
    const char *sig, size_t slen)
{
    int            n;
    unsigned char  raw[NGX_CHAT_JWT_SIG_MAX];

    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        return 0;
    }

    /* the signature is exactly as long as the modulus (RFC 8017, 8.2.2) */

    n = EVP_PKEY_size(pkey);
    if (n <= 0 || (size_t) n > sizeof(raw)) {
        return 0;
    }

    if (ngx_chat_jwt_b64url_exact(sig, slen, raw, (size_t) n) != 0) {
        return 0;
    }

    return ngx_chat_jwt_digest_verify(pkey, 1, raw, (size_t) n, msg, mlen);
}


/*
 * ECDSA on P-256 with SHA-256 (RFC 7518, 3.4).  The JWS signature is R || S
 * as two 32-byte big-endian numbers; OpenSSL wants DER.  A DER signature
 * in the token is refused, as is a zero R or S; R and S of at least the
 * group order are refused by OpenSSL.  A high S (n - S) verifies: ECDSA
 * signatures are malleable, which does not matter to a JWT.
 */

static int
ngx_chat_jwt_es256_ok(EVP_PKEY *pkey, const unsigned char *msg, size_t mlen,
    const char *sig, size_t slen)
{
    int             ok, n;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *der, raw[NGX_CHAT_JWT_ES_SIG_LEN];

    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_EC) {
        return 0;
    }

    if (ngx_chat_jwt_b64url_exact(sig, slen, raw, sizeof(raw)) != 0) {
        return 0;
    }

    r = BN_bin2bn(raw, NGX_CHAT_JWT_ES_SIG_LEN / 2, NULL);
    s = BN_bin2bn(raw + NGX_CHAT_JWT_ES_SIG_LEN / 2,
                  NGX_CHAT_JWT_ES_SIG_LEN / 2, NULL);
    es = ECDSA_SIG_new();

    if (r == NULL || s == NULL || es == NULL || BN_is_zero(r)
        || BN_is_zero(s) || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return 0;
    }

    /* es owns r and s now */

    der = NULL;
    n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);

    if (n <= 0 || der == NULL) {
        OPENSSL_free(der);
        return 0;
    }

    ok = ngx_chat_jwt_digest_verify(pkey, 0, der, (size_t) n, msg, mlen);

    OPENSSL_free(der);

    return ok;
}


static int
ngx_chat_jwt_digest_verify(EVP_PKEY *pkey, int rsa, const unsigned char *sig,
    size_t slen, const unsigned char *msg, size_t mlen)
{
    int            ok;
    EVP_MD_CTX    *md;
    EVP_PKEY_CTX  *pctx;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return 0;
    }

    pctx = NULL;

    ok = EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1
         && (!rsa
             || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0)
         && EVP_DigestVerify(md, sig, slen, msg, mlen) == 1;

    /* pctx belongs to md */
    EVP_MD_CTX_free(md);

    return ok;
}


static jwt_alg_t
ngx_chat_jwt_libjwt_alg(ngx_chat_jwt_alg_e alg)
{
    switch (alg) {
    case NGX_CHAT_JWT_HS256:
        return JWT_ALG_HS256;
    case NGX_CHAT_JWT_RS256:
        return JWT_ALG_RS256;
    case NGX_CHAT_JWT_ES256:
        return JWT_ALG_ES256;
    }

    return JWT_ALG_INVAL;
}


static int
ngx_chat_jwt_no_passphrase(char *buf, int size, int rwflag, void *data)
{
    /* never prompt on a terminal for an encrypted key: refuse it */

    (void) buf;
    (void) size;
    (void) rwflag;
    (void) data;

    return -1;
}


static const char *
ngx_chat_jwt_pkey_check(ngx_chat_jwt_alg_e alg, EVP_PKEY *pkey)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    char           group[64];
    size_t         n;
#else
    const EC_KEY  *ec;
#endif

    if (alg == NGX_CHAT_JWT_RS256) {

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            return "RS256 key is not an RSA key";
        }

        if (EVP_PKEY_get_bits(pkey) < NGX_CHAT_JWT_RSA_MIN_BITS) {
            return "RS256 key is shorter than "
                   ngx_chat_jwt_value(NGX_CHAT_JWT_RSA_MIN_BITS) " bits";
        }

        if (EVP_PKEY_get_bits(pkey) > NGX_CHAT_JWT_RSA_MAX_BITS) {
            return "RS256 key is longer than "
                   ngx_chat_jwt_value(NGX_CHAT_JWT_RSA_MAX_BITS) " bits";
        }
#else
        if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
            return "RS256 key is not an RSA key";
        }

        if (EVP_PKEY_bits(pkey) < NGX_CHAT_JWT_RSA_MIN_BITS) {
            return "RS256 key is shorter than "
                   ngx_chat_jwt_value(NGX_CHAT_JWT_RSA_MIN_BITS) " bits";
        }

        if (EVP_PKEY_bits(pkey) > NGX_CHAT_JWT_RSA_MAX_BITS) {
            return "RS256 key is longer than "
                   ngx_chat_jwt_value(NGX_CHAT_JWT_RSA_MAX_BITS) " bits";
        }
#endif

        return NULL;
    }

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
        return "ES256 key is not an EC key";
    }

    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &n) != 1
        || OBJ_sn2nid(group) != NID_X9_62_prime256v1)
    {
        return "ES256 key is not on curve P-256";
    }
#else
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_EC) {
        return "ES256 key is not an EC key";
    }

    ec = EVP_PKEY_get0_EC_KEY(pkey);
    if (ec == NULL
        || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec))
           != NID_X9_62_prime256v1)
    {
        return "ES256 key is not on curve P-256";
    }
#endif

    return NULL;
}


/*
 * Parses and checks a PEM key for alg.  out NULL: the key is only checked;
 * else *out is the parsed key, for the caller to free, or NULL on error.
 */

static const char *
ngx_chat_jwt_pem_load(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t len, int private, EVP_PKEY **out)
{
    BIO         *bio;
    EVP_PKEY    *pkey;
    const char  *e;

    if (out != NULL) {
        *out = NULL;
    }

    if (key == NULL || len == 0) {
        return "key is empty";
    }

    if (len > NGX_CHAT_JWT_KEY_MAX) {
        return "key is too long";
    }

    bio = BIO_new_mem_buf(key, (int) len);
    if (bio == NULL) {
        ERR_clear_error();
        return "out of memory";
    }

    if (private) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, ngx_chat_jwt_no_passphrase,
                                       NULL);
    } else {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, ngx_chat_jwt_no_passphrase,
                                   NULL);
    }

    BIO_free(bio);

    if (pkey == NULL) {
        ERR_clear_error();
        return private ? "key is not an unencrypted PEM private key"
                       : "key is not a PEM public key";
    }

    e = ngx_chat_jwt_pkey_check(alg, pkey);

    if (e == NULL && out != NULL) {
        *out = pkey;

    } else {
        EVP_PKEY_free(pkey);
    }

    ERR_clear_error();

    return e;
}


static const char *
ngx_chat_jwt_claims(const ngx_chat_jwt_conf_t *conf,
    const ngx_chat_jwt_obj_t *root, long long now,
    ngx_chat_jwt_claims_t *claims)
{
    const char  *e;

    e = ngx_chat_jwt_claims_time(conf, root, now, claims);
    if (e != NULL) {
        return e;
    }

    e = ngx_chat_jwt_claims_issuer(conf, root);
    if (e != NULL) {
        return e;
    }

    e = ngx_chat_jwt_claims_user(root, claims);
    if (e != NULL) {
        return e;
    }

    return ngx_chat_jwt_claims_roles(root, claims);
}


/* exp, nbf and iat */
static const char *
ngx_chat_jwt_claims_time(const ngx_chat_jwt_conf_t *conf,
    const ngx_chat_jwt_obj_t *root, long long now,
    ngx_chat_jwt_claims_t *claims)
{
    const char             *e;
    ngx_chat_flat_value_t   v;

    /* exp is required and gets no leeway: the issuer chose it */

    ngx_chat_jwt_get(root, "exp", &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        return "token has no exp claim";
    }

    e = ngx_chat_jwt_time_claim(root, "exp", &claims->exp);
    if (e != NULL) {
        return e;
    }

    if (now >= claims->exp) {
        return "token expired";
    }

    e = ngx_chat_jwt_time_claim(root, "nbf", &claims->nbf);
    if (e != NULL) {
        return e;
    }

    if (claims->nbf > now + conf->leeway) {
        return "token not yet valid";
    }

    e = ngx_chat_jwt_time_claim(root, "iat", &claims->iat);
    if (e != NULL) {
        return e;
    }

    if (claims->iat > now + conf->leeway) {
        return "token issued in the future";
    }

    return NULL;
}


/* iss and aud, when the configuration names them */
static const char *
ngx_chat_jwt_claims_issuer(const ngx_chat_jwt_conf_t *conf,
    const ngx_chat_jwt_obj_t *root)
{
    int                     found;
    size_t                  i, n;
    ngx_chat_flat_value_t   v, el;

    if (conf->iss != NULL) {
        ngx_chat_jwt_get(root, "iss", &v);

        if (!ngx_chat_jwt_string_eq(&v, conf->iss)) {
            return "token issuer not accepted";
        }
    }

    if (conf->aud == NULL) {
        return NULL;
    }

    ngx_chat_jwt_get(root, "aud", &v);
    found = 0;

    /* an array comes from jansson's tree only */

    if (v.type == NGX_CHAT_FLAT_ARRAY) {
        n = json_array_size(v.tree);

        for (i = 0; i < n; i++) {
            ngx_chat_flat_from_tree(json_array_get(v.tree, i), &el);

            if (el.type != NGX_CHAT_FLAT_STRING) {
                return "invalid aud claim";
            }

            if (ngx_chat_jwt_string_eq(&el, conf->aud)) {
                found = 1;
            }
        }

    } else {
        found = ngx_chat_jwt_string_eq(&v, conf->aud);
    }

    if (!found) {
        return "token audience not accepted";
    }

    return NULL;
}


/* sub, name, jti and sid */
static const char *
ngx_chat_jwt_claims_user(const ngx_chat_jwt_obj_t *root,
    ngx_chat_jwt_claims_t *claims)
{
    ngx_chat_flat_value_t  v;

    ngx_chat_jwt_get(root, "sub", &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        return "token has no sub claim";
    }

    if (v.type != NGX_CHAT_FLAT_STRING
        || !ngx_chat_user_id_valid(v.str, v.len))
    {
        return "invalid sub claim";
    }

    memcpy(claims->sub, v.str, v.len + 1);

    ngx_chat_jwt_get(root, "name", &v);

    if (v.type != NGX_CHAT_FLAT_ABSENT) {
        if (v.type != NGX_CHAT_FLAT_STRING) {
            return "invalid name claim";
        }

        /* an embedded NUL would make the C string differ from the claim */

        if (v.len > NGX_CHAT_JWT_NAME_MAX || memchr(v.str, '\0', v.len) != NULL
            || !ngx_chat_utf8_valid((const uint8_t *) v.str, v.len))
        {
            return "invalid name claim";
        }

        memcpy(claims->name, v.str, v.len + 1);
    }

    if (ngx_chat_jwt_claim_id(root, "jti", claims->jti) != 0) {
        return "invalid jti claim";
    }

    if (ngx_chat_jwt_claim_id(root, "sid", claims->sid) != 0) {
        return "invalid sid claim";
    }

    return NULL;
}


/* an optional token or session id: 0 when absent or copied to dst */
static int
ngx_chat_jwt_claim_id(const ngx_chat_jwt_obj_t *root, const char *name,
    char *dst)
{
    ngx_chat_flat_value_t  v;

    ngx_chat_jwt_get(root, name, &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        return 0;
    }

    if (v.type != NGX_CHAT_FLAT_STRING) {
        return -1;
    }

    if (v.len > NGX_CHAT_JWT_JTI_MAX || memchr(v.str, '\0', v.len) != NULL) {
        return -1;
    }

    memcpy(dst, v.str, v.len + 1);

    return 0;
}


static const char *
ngx_chat_jwt_claims_roles(const ngx_chat_jwt_obj_t *root,
    ngx_chat_jwt_claims_t *claims)
{
    size_t                  i, n;
    ngx_chat_flat_value_t   v, el;

    ngx_chat_jwt_get(root, "roles", &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        return NULL;
    }

    /* an array comes from jansson's tree only */

    if (v.type != NGX_CHAT_FLAT_ARRAY) {
        return "invalid roles claim";
    }

    n = json_array_size(v.tree);

    for (i = 0; i < n; i++) {
        ngx_chat_flat_from_tree(json_array_get(v.tree, i), &el);

        if (el.type != NGX_CHAT_FLAT_STRING) {
            return "invalid roles claim";
        }

        if (ngx_chat_jwt_string_eq(&el, "admin")) {
            claims->roles |= NGX_CHAT_ROLE_ADMIN;

        } else if (ngx_chat_jwt_string_eq(&el, "moderator")) {
            claims->roles |= NGX_CHAT_ROLE_MODERATOR;
        }
    }

    return NULL;
}


/* an absent claim leaves *value alone (0); a present one is an integer */

static const char *
ngx_chat_jwt_time_claim(const ngx_chat_jwt_obj_t *root, const char *name,
    long long *value)
{
    ngx_chat_flat_value_t  v;

    ngx_chat_jwt_get(root, name, &v);

    if (v.type == NGX_CHAT_FLAT_ABSENT) {
        return NULL;
    }

    if (v.type != NGX_CHAT_FLAT_INTEGER) {
        switch (name[0]) {
        case 'e':
            return "exp claim is not an integer";
        case 'n':
            return "nbf claim is not an integer";
        default:
            return "iat claim is not an integer";
        }
    }

    *value = v.integer;

    return NULL;
}


static int
ngx_chat_jwt_string_eq(const ngx_chat_flat_value_t *v, const char *s)
{
    size_t  n;

    if (v->type != NGX_CHAT_FLAT_STRING) {
        return 0;
    }

    n = strlen(s);

    return v->len == n && memcmp(v->str, s, n) == 0;
}


char *
ngx_chat_jwt_sign_json(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t key_len, const char *claims_json, const char **err)
{
    char        *token;
    jwt_t       *jwt;
    json_t      *root;
    const char  *e;

    if (alg == NGX_CHAT_JWT_HS256) {
        e = ngx_chat_jwt_key_check(alg, key, key_len);

    } else if (alg == NGX_CHAT_JWT_RS256 || alg == NGX_CHAT_JWT_ES256) {
        /*
         * libjwt signs ES256 with any EC key and names it ES256 in the
         * header, so the key type and curve are checked here
         */
        e = ngx_chat_jwt_pem_load(alg, key, key_len, 1, NULL);

    } else {
        e = "unknown JWT algorithm";
    }

    if (e != NULL) {
        *err = e;
        return NULL;
    }

    /* libjwt 1.10 merges non-objects silently; refuse them first */

    root = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        *err = "claims are not a JSON object";
        return NULL;
    }

    json_decref(root);

    if (jwt_new(&jwt) != 0) {
        *err = "out of memory";
        return NULL;
    }

    token = NULL;

    if (jwt_add_grants_json(jwt, claims_json) != 0) {
        *err = "claims are not a JSON object";
        goto done;
    }

    if (jwt_set_alg(jwt, ngx_chat_jwt_libjwt_alg(alg), key, (int) key_len)
        != 0)
    {
        *err = "bad signing key";
        goto done;
    }

    token = jwt_encode_str(jwt);
    if (token == NULL) {
        *err = "signing failed";
    }

done:

    jwt_free(jwt);
    ERR_clear_error();

    return token;
}


char *
ngx_chat_jwt_sign(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t key_len, const ngx_chat_jwt_spec_t *spec, const char **err)
{
    int          rc;
    char        *token, *json;
    json_t      *root, *roles;
    const char  *p, *end;

    root = json_object();
    if (root == NULL) {
        *err = "out of memory";
        return NULL;
    }

    /* json_string() refuses invalid UTF-8; set_new() then fails too */

    rc = 0;

    if (spec->sub != NULL) {
        rc |= json_object_set_new(root, "sub", json_string(spec->sub));
    }

    if (spec->iss != NULL) {
        rc |= json_object_set_new(root, "iss", json_string(spec->iss));
    }

    if (spec->aud != NULL) {
        rc |= json_object_set_new(root, "aud", json_string(spec->aud));
    }

    if (spec->name != NULL) {
        rc |= json_object_set_new(root, "name", json_string(spec->name));
    }

    if (spec->jti != NULL) {
        rc |= json_object_set_new(root, "jti", json_string(spec->jti));
    }

    if (spec->sid != NULL) {
        rc |= json_object_set_new(root, "sid", json_string(spec->sid));
    }

    if (spec->set_exp) {
        rc |= json_object_set_new(root, "exp", json_integer(spec->exp));
    }

    if (spec->set_nbf) {
        rc |= json_object_set_new(root, "nbf", json_integer(spec->nbf));
    }

    if (spec->set_iat) {
        rc |= json_object_set_new(root, "iat", json_integer(spec->iat));
    }

    if (spec->roles != NULL) {
        roles = json_array();
        rc |= json_object_set_new(root, "roles", roles);

        for (p = spec->roles; roles != NULL && *p != '\0'; p = end) {
            end = strchr(p, ',');
            if (end == NULL) {
                end = p + strlen(p);
            }

            if (end > p) {
                rc |= json_array_append_new(roles,
                                            json_stringn(p, end - p));
            }

            if (*end == ',') {
                end++;
            }
        }
    }

    if (rc != 0) {
        json_decref(root);
        *err = "claim is not valid UTF-8";
        return NULL;
    }

    json = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    if (json == NULL) {
        *err = "out of memory";
        return NULL;
    }

    token = ngx_chat_jwt_sign_json(alg, key, key_len, json, err);
    free(json);

    return token;
}
