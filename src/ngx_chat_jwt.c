
/*
 * ngx_chat: JWT verification and signing.
 *
 * libjwt 1.10 takes the algorithm from the token header and validates no
 * claims, so: the header is decoded and checked here first, only keys
 * bound to the header's algorithm are tried, the algorithm libjwt used is
 * compared with the key's afterwards, and every claim is checked here.
 */


#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#include <openssl/ec.h>
#endif

#include "ngx_chat_jwt.h"


#define NGX_CHAT_JWT_SUB_MAX    64
#define NGX_CHAT_JWT_NAME_MAX   128
#define NGX_CHAT_JWT_JTI_MAX    128

/* a key file is configuration, not data: anything larger is a mistake */
#define NGX_CHAT_JWT_KEY_MAX    (64 * 1024)


static int ngx_chat_jwt_b64_value(unsigned char c);
static int ngx_chat_jwt_b64url_decode(const char *src, size_t len,
    unsigned char *dst, size_t *out);
static int ngx_chat_jwt_split(const char *token, size_t len, size_t *hlen,
    size_t *plen);
static json_t *ngx_chat_jwt_segment_json(const char *seg, size_t len);
static const char *ngx_chat_jwt_header(const char *seg, size_t len,
    ngx_chat_jwt_alg_e *alg);
static const char *ngx_chat_jwt_payload(const char *seg, size_t len);
static jwt_alg_t ngx_chat_jwt_libjwt_alg(ngx_chat_jwt_alg_e alg);
static int ngx_chat_jwt_no_passphrase(char *buf, int size, int rwflag,
    void *data);
static const char *ngx_chat_jwt_pkey_check(ngx_chat_jwt_alg_e alg,
    EVP_PKEY *pkey);
static const char *ngx_chat_jwt_pem_check(ngx_chat_jwt_alg_e alg,
    const unsigned char *key, size_t len, int private);
static const char *ngx_chat_jwt_claims(const ngx_chat_jwt_conf_t *conf,
    json_t *root, long long now, ngx_chat_jwt_claims_t *claims);
static const char *ngx_chat_jwt_time_claim(json_t *root, const char *name,
    long long *value);
static int ngx_chat_jwt_string_eq(json_t *v, const char *s);
static int ngx_chat_jwt_valid_user(const char *p, size_t len);
static int ngx_chat_jwt_valid_utf8(const unsigned char *p, size_t len);


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
        return ngx_chat_jwt_pem_check(alg, key, len, 0);
    }

    return "unknown JWT algorithm";
}


int
ngx_chat_jwt_verify(const ngx_chat_jwt_conf_t *conf, const char *token,
    size_t len, long long now, ngx_chat_jwt_claims_t *claims,
    const char **err)
{
    int                        tried;
    char                      *buf, *grants;
    size_t                     i, max, hlen, plen;
    json_t                    *root;
    jwt_t                     *jwt;
    const char                *e;
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

    e = ngx_chat_jwt_payload(token + hlen + 1, plen);
    if (e != NULL) {
        *err = e;
        return -1;
    }

    buf = malloc(len + 1);
    if (buf == NULL) {
        *err = "out of memory";
        return -1;
    }

    memcpy(buf, token, len);
    buf[len] = '\0';

    jwt = NULL;
    tried = 0;

    for (i = 0; i < conf->nkeys; i++) {
        key = &conf->keys[i];

        /*
         * libjwt accepts "alg: none" and keyless HMACs when given no key,
         * so an empty key is never passed, whatever the configuration says
         */

        if (key->alg != alg || key->key == NULL || key->key_len == 0
            || key->key_len > INT_MAX)
        {
            continue;
        }

        tried = 1;

        if (jwt_decode(&jwt, buf, key->key, (int) key->key_len) == 0) {
            break;
        }

        /* libjwt leaves OpenSSL errors behind; nginx would log them later */
        ERR_clear_error();

        /* jwt_decode() sets jwt to NULL on failure and frees its own */
        jwt = NULL;
    }

    free(buf);

    if (jwt == NULL) {
        *err = tried ? "bad token signature" : "token algorithm not accepted";
        return -1;
    }

    if (jwt_get_alg(jwt) != ngx_chat_jwt_libjwt_alg(alg)) {
        jwt_free(jwt);
        *err = "token algorithm mismatch";
        return -1;
    }

    grants = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);

    if (grants == NULL) {
        *err = "malformed token claims";
        return -1;
    }

    root = json_loads(grants, JSON_REJECT_DUPLICATES, NULL);
    free(grants);

    if (root == NULL) {
        *err = "malformed token claims";
        return -1;
    }

    e = ngx_chat_jwt_claims(conf, root, now, claims);
    json_decref(root);

    if (e != NULL) {
        memset(claims, 0, sizeof(ngx_chat_jwt_claims_t));
        *err = e;
        return -1;
    }

    return 0;
}


static int
ngx_chat_jwt_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
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
 * A compact JWS: three nonempty base64url segments separated by dots.
 * Checking the alphabet here keeps NULs and other bytes that libjwt's
 * string handling would misread away from it.
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


/*
 * A segment's JSON.  Duplicate members are refused: otherwise this parser
 * and libjwt's (which keeps the last) could each see a different "alg",
 * or a different "sub".
 */

static json_t *
ngx_chat_jwt_segment_json(const char *seg, size_t len)
{
    size_t          n;
    json_t         *root;
    unsigned char  *raw;

    raw = malloc(len * 3 / 4 + 1);
    if (raw == NULL) {
        return NULL;
    }

    if (ngx_chat_jwt_b64url_decode(seg, len, raw, &n) != 0) {
        free(raw);
        return NULL;
    }

    root = json_loadb((const char *) raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);

    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }

    return root;
}


static const char *
ngx_chat_jwt_header(const char *seg, size_t len, ngx_chat_jwt_alg_e *alg)
{
    int          i;
    json_t      *root, *v;
    const char  *e, *name;

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
 * The claims are read from libjwt after the signature check; parsing them
 * here first as well rejects duplicate claims and tells a malformed
 * payload from a bad signature, which libjwt reports alike.
 */

static const char *
ngx_chat_jwt_payload(const char *seg, size_t len)
{
    json_t  *root;

    root = ngx_chat_jwt_segment_json(seg, len);
    if (root == NULL) {
        return "malformed token claims";
    }

    json_decref(root);

    return NULL;
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
            return "RS256 key is shorter than 2048 bits";
        }
#else
        if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
            return "RS256 key is not an RSA key";
        }

        if (EVP_PKEY_bits(pkey) < NGX_CHAT_JWT_RSA_MIN_BITS) {
            return "RS256 key is shorter than 2048 bits";
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


static const char *
ngx_chat_jwt_pem_check(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t len, int private)
{
    BIO         *bio;
    EVP_PKEY    *pkey;
    const char  *e;

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

    EVP_PKEY_free(pkey);
    ERR_clear_error();

    return e;
}


static const char *
ngx_chat_jwt_claims(const ngx_chat_jwt_conf_t *conf, json_t *root,
    long long now, ngx_chat_jwt_claims_t *claims)
{
    int          found;
    size_t       i, n;
    json_t      *v, *el;
    const char  *e, *s;

    if (!json_is_object(root)) {
        return "malformed token claims";
    }

    /* exp is required and gets no leeway: the issuer chose it */

    if (json_object_get(root, "exp") == NULL) {
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

    if (conf->iss != NULL) {
        v = json_object_get(root, "iss");
        if (v == NULL || !ngx_chat_jwt_string_eq(v, conf->iss)) {
            return "token issuer not accepted";
        }
    }

    if (conf->aud != NULL) {
        v = json_object_get(root, "aud");
        found = 0;

        if (v != NULL && json_is_array(v)) {
            n = json_array_size(v);

            for (i = 0; i < n; i++) {
                el = json_array_get(v, i);

                if (!json_is_string(el)) {
                    return "invalid aud claim";
                }

                if (ngx_chat_jwt_string_eq(el, conf->aud)) {
                    found = 1;
                }
            }

        } else if (v != NULL) {
            found = ngx_chat_jwt_string_eq(v, conf->aud);
        }

        if (!found) {
            return "token audience not accepted";
        }
    }

    v = json_object_get(root, "sub");
    if (v == NULL) {
        return "token has no sub claim";
    }

    if (!json_is_string(v)
        || !ngx_chat_jwt_valid_user(json_string_value(v),
                                    json_string_length(v)))
    {
        return "invalid sub claim";
    }

    memcpy(claims->sub, json_string_value(v), json_string_length(v) + 1);

    v = json_object_get(root, "name");
    if (v != NULL) {
        if (!json_is_string(v)) {
            return "invalid name claim";
        }

        s = json_string_value(v);
        n = json_string_length(v);

        /* an embedded NUL would make the C string differ from the claim */

        if (n > NGX_CHAT_JWT_NAME_MAX || memchr(s, '\0', n) != NULL
            || !ngx_chat_jwt_valid_utf8((const unsigned char *) s, n))
        {
            return "invalid name claim";
        }

        memcpy(claims->name, s, n + 1);
    }

    v = json_object_get(root, "jti");
    if (v != NULL) {
        if (!json_is_string(v)) {
            return "invalid jti claim";
        }

        s = json_string_value(v);
        n = json_string_length(v);

        if (n > NGX_CHAT_JWT_JTI_MAX || memchr(s, '\0', n) != NULL) {
            return "invalid jti claim";
        }

        memcpy(claims->jti, s, n + 1);
    }

    v = json_object_get(root, "roles");
    if (v != NULL) {
        if (!json_is_array(v)) {
            return "invalid roles claim";
        }

        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            el = json_array_get(v, i);

            if (!json_is_string(el)) {
                return "invalid roles claim";
            }

            if (ngx_chat_jwt_string_eq(el, "admin")) {
                claims->roles |= NGX_CHAT_ROLE_ADMIN;

            } else if (ngx_chat_jwt_string_eq(el, "moderator")) {
                claims->roles |= NGX_CHAT_ROLE_MODERATOR;
            }
        }
    }

    return NULL;
}


/* an absent claim leaves *value alone (0); a present one is an integer */

static const char *
ngx_chat_jwt_time_claim(json_t *root, const char *name, long long *value)
{
    json_t  *v;

    v = json_object_get(root, name);
    if (v == NULL) {
        return NULL;
    }

    if (!json_is_integer(v)) {
        switch (name[0]) {
        case 'e':
            return "exp claim is not an integer";
        case 'n':
            return "nbf claim is not an integer";
        default:
            return "iat claim is not an integer";
        }
    }

    *value = (long long) json_integer_value(v);

    return NULL;
}


static int
ngx_chat_jwt_string_eq(json_t *v, const char *s)
{
    size_t  n;

    if (!json_is_string(v)) {
        return 0;
    }

    n = strlen(s);

    return json_string_length(v) == n
           && memcmp(json_string_value(v), s, n) == 0;
}


static int
ngx_chat_jwt_valid_user(const char *p, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > NGX_CHAT_JWT_SUB_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '_' || c == '.' || c == '@' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/* jansson already insists on UTF-8; this keeps the claim's guarantee local */

static int
ngx_chat_jwt_valid_utf8(const unsigned char *p, size_t len)
{
    size_t    i, n, k;
    unsigned  c, min;

    for (i = 0; i < len; i += n) {
        c = p[i];

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            c &= 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            c &= 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            c &= 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
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
        e = ngx_chat_jwt_pem_check(alg, key, key_len, 1);

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
