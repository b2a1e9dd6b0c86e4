
/*
 * Unit tests for src/core/ngx_chat_jwt.c: token verification, key checks and
 * the signing code chat-token uses.
 *
 * Keys are generated here with OpenSSL.  Tokens with hand-made headers
 * and payloads are signed with HMAC here, independently of libjwt.
 * If CHAT_TOKEN names a chat-token binary, its output is verified too.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ngx_chat_jwt.h"
#include "unit.h"


#define NOW     1767139200LL
#define LATER   (NOW + 3600)

#define SECRET  "0123456789abcdef0123456789abcdef-hs256"
#define SECRET2 "another-secret-that-is-long-enough-32b"


typedef struct {
    char  *pub;        /* PEM public key */
    char  *priv;       /* PEM private key */
} test_pem_t;


static char  *test_kept[4096];
static int    test_nkept;

static test_pem_t  rsa1, rsa2, rsa_small, ec1, ec2, ec384;


static void *
xmalloc(size_t n)
{
    void  *p;

    p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    return p;
}


static char *
keep(char *p)
{
    if (p != NULL && test_nkept < 4096) {
        test_kept[test_nkept++] = p;
    }

    return p;
}


static void
pem_of(EVP_PKEY *pkey, test_pem_t *pem)
{
    BIO   *bio;
    char  *data;
    long   n;

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    n = BIO_get_mem_data(bio, &data);
    pem->pub = keep(strndup(data, n));
    BIO_free(bio);

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &data);
    pem->priv = keep(strndup(data, n));
    BIO_free(bio);
}


static void
make_keys(void)
{
    EVP_PKEY  *k;

    k = EVP_RSA_gen(2048);
    pem_of(k, &rsa1);
    EVP_PKEY_free(k);

    k = EVP_RSA_gen(2048);
    pem_of(k, &rsa2);
    EVP_PKEY_free(k);

    k = EVP_RSA_gen(1024);
    pem_of(k, &rsa_small);
    EVP_PKEY_free(k);

    k = EVP_EC_gen("P-256");
    pem_of(k, &ec1);
    EVP_PKEY_free(k);

    k = EVP_EC_gen("P-256");
    pem_of(k, &ec2);
    EVP_PKEY_free(k);

    k = EVP_EC_gen("P-384");
    pem_of(k, &ec384);
    EVP_PKEY_free(k);
}


static char *
b64url(const unsigned char *p, size_t n)
{
    char           *out;
    size_t          i, j;
    unsigned        v;
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    out = xmalloc(n * 4 / 3 + 4);
    j = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
        out[j++] = alphabet[(v >> 18) & 63];
        out[j++] = alphabet[(v >> 12) & 63];
        out[j++] = alphabet[(v >> 6) & 63];
        out[j++] = alphabet[v & 63];
    }

    if (n - i == 1) {
        v = p[i] << 16;
        out[j++] = alphabet[(v >> 18) & 63];
        out[j++] = alphabet[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (p[i] << 16) | (p[i + 1] << 8);
        out[j++] = alphabet[(v >> 18) & 63];
        out[j++] = alphabet[(v >> 12) & 63];
        out[j++] = alphabet[(v >> 6) & 63];
    }

    out[j] = '\0';

    return out;
}


static int
b64url_decode(const char *s, size_t len, unsigned char *out)
{
    size_t    i, n;
    unsigned  acc, bits;
    int       v;

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '-') {
            v = 62;
        } else if (c == '_') {
            v = 63;
        } else {
            return -1;
        }

        acc = ((acc << 6) | v) & 0x3fff;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
        }
    }

    return (int) n;
}


/*
 * header.payload[.sig]: sig is a literal segment, or NULL for no third
 * segment; when secret is given the HS256 HMAC is computed here.
 */

static char *
craft(const char *header, const char *payload, const char *secret,
    const char *sig)
{
    char           *h, *p, *s, *out;
    size_t          n;
    unsigned int    mlen;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    h = b64url((const unsigned char *) header, strlen(header));
    p = b64url((const unsigned char *) payload, strlen(payload));

    n = strlen(h) + strlen(p) + 200;
    out = xmalloc(n);
    snprintf(out, n, "%s.%s", h, p);

    if (secret != NULL) {
        HMAC(EVP_sha256(), secret, (int) strlen(secret),
             (unsigned char *) out, strlen(out), mac, &mlen);
        s = b64url(mac, mlen);
        strcat(out, ".");
        strcat(out, s);
        free(s);

    } else if (sig != NULL) {
        strcat(out, ".");
        strcat(out, sig);
    }

    free(h);
    free(p);

    return keep(out);
}


static char *
sign_json(ngx_chat_jwt_alg_e alg, const char *key, const char *json)
{
    char        *t;
    const char  *err;

    err = NULL;
    t = ngx_chat_jwt_sign_json(alg, (const unsigned char *) key, strlen(key),
                               json, &err);

    UNIT_CHECK(t != NULL, "sign_json: %s", err ? err : "?");

    return keep(t);
}


static char *
hs(const char *fmt, ...)
{
    char     json[16384];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);

    return sign_json(NGX_CHAT_JWT_HS256, SECRET, json);
}


static int
verify(const ngx_chat_jwt_conf_t *conf, const char *tok, size_t len,
    ngx_chat_jwt_claims_t *c, const char **err)
{
    *err = NULL;

    return ngx_chat_jwt_verify(conf, tok, len, NOW, c, err);
}


static void
expect_ok(const char *what, const ngx_chat_jwt_conf_t *conf, const char *tok,
    ngx_chat_jwt_claims_t *out)
{
    int                    rc;
    const char            *err;
    ngx_chat_jwt_claims_t  c;

    if (tok == NULL) {
        UNIT_CHECK(tok != NULL, "%s: no token", what);
        return;
    }

    rc = verify(conf, tok, strlen(tok), &c, &err);
    UNIT_CHECK(rc == 0, "%s: rejected: %s", what, err ? err : "(null)");
    UNIT_CHECK(ERR_peek_error() == 0, "%s: OpenSSL errors left", what);
    ERR_clear_error();

    if (out != NULL) {
        *out = c;
    }
}


static void
expect_fail(const char *what, const ngx_chat_jwt_conf_t *conf,
    const char *tok, size_t len, const char *want)
{
    int                    rc;
    const char            *err;
    ngx_chat_jwt_claims_t  c, zero;

    if (tok == NULL) {
        UNIT_CHECK(tok != NULL, "%s: no token", what);
        return;
    }

    memset(&c, 0x5a, sizeof(c));
    rc = verify(conf, tok, len, &c, &err);

    UNIT_CHECK(rc == -1, "%s: accepted", what);
    UNIT_CHECK(err != NULL && *err != '\0', "%s: no error text", what);
    UNIT_CHECK(ERR_peek_error() == 0, "%s: OpenSSL errors left", what);
    ERR_clear_error();

    if (rc != -1 || err == NULL) {
        return;
    }

    if (getenv("JWT_TEST_VERBOSE") != NULL) {
        printf("rejected %s: %s\n", what, err);
    }

    if (want != NULL) {
        UNIT_CHECK(strcmp(err, want) == 0, "%s: error \"%s\", want \"%s\"",
                   what, err, want);
    }

    /* error texts go to logs: never any token content */
    UNIT_CHECK(strstr(err, "zz") == NULL && strchr(err, '.') == NULL,
               "%s: error text \"%s\" looks like token content", what, err);

    memset(&zero, 0, sizeof(zero));
    UNIT_CHECK(memcmp(&c, &zero, sizeof(c)) == 0,
               "%s: claims not cleared", what);
}


static void
test_basics(void)
{
    ngx_chat_jwt_alg_e  alg;

    UNIT_CHECK(ngx_chat_jwt_alg_parse("HS256", &alg) == 0
               && alg == NGX_CHAT_JWT_HS256, "HS256");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("RS256", &alg) == 0
               && alg == NGX_CHAT_JWT_RS256, "RS256");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("ES256", &alg) == 0
               && alg == NGX_CHAT_JWT_ES256, "ES256");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("none", &alg) == -1, "none");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("hs256", &alg) == -1, "hs256");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("HS384", &alg) == -1, "HS384");
    UNIT_CHECK(ngx_chat_jwt_alg_parse("", &alg) == -1, "empty");

    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "abc\n", 4) == 3,
               "trim LF");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "abc\r\n", 5) == 3,
               "trim CRLF");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "abc\n\n", 5) == 3,
               "trim LF LF");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "abc", 3) == 3,
               "trim none");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "a b \n", 5) == 4,
               "trim keeps spaces");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "\n", 1) == 0,
               "trim all");
    UNIT_CHECK(ngx_chat_jwt_key_trim((unsigned char *) "", 0) == 0,
               "trim empty");
}


static void
test_key_check(void)
{
#define KC(alg, s)                                                            \
    ngx_chat_jwt_key_check(alg, (const unsigned char *) (s), strlen(s))

    UNIT_CHECK(KC(NGX_CHAT_JWT_HS256, SECRET) == NULL, "hs ok");
    UNIT_CHECK(KC(NGX_CHAT_JWT_HS256, "0123456789abcdef0123456789abcdef")
               == NULL, "hs 32");
    UNIT_CHECK(KC(NGX_CHAT_JWT_HS256, "0123456789abcdef0123456789abcde")
               != NULL, "hs 31");
    UNIT_CHECK(KC(NGX_CHAT_JWT_HS256, "") != NULL, "hs empty");

    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, rsa1.pub) == NULL, "rs ok");
    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, rsa_small.pub) != NULL, "rs 1024");
    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, ec1.pub) != NULL, "rs with ec");
    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, rsa1.priv) != NULL, "rs private");
    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, SECRET) != NULL, "rs garbage");
    UNIT_CHECK(KC(NGX_CHAT_JWT_RS256, "") != NULL, "rs empty");

    UNIT_CHECK(KC(NGX_CHAT_JWT_ES256, ec1.pub) == NULL, "es ok");
    UNIT_CHECK(KC(NGX_CHAT_JWT_ES256, ec384.pub) != NULL, "es p384");
    UNIT_CHECK(KC(NGX_CHAT_JWT_ES256, rsa1.pub) != NULL, "es with rsa");
    UNIT_CHECK(KC(NGX_CHAT_JWT_ES256, ec1.priv) != NULL, "es private");
    UNIT_CHECK(KC(NGX_CHAT_JWT_ES256, "-----BEGIN PUBLIC KEY-----\n")
               != NULL, "es truncated");

    UNIT_CHECK(ngx_chat_jwt_key_check(NGX_CHAT_JWT_ES256, NULL, 0) != NULL,
               "es null");

    /* the signer refuses keys libjwt would misuse */
    UNIT_CHECK(ngx_chat_jwt_sign_json(NGX_CHAT_JWT_ES256,
                   (unsigned char *) ec384.priv, strlen(ec384.priv),
                   "{}", &(const char *) { NULL }) == NULL, "sign p384");
    UNIT_CHECK(ngx_chat_jwt_sign_json(NGX_CHAT_JWT_RS256,
                   (unsigned char *) ec1.priv, strlen(ec1.priv),
                   "{}", &(const char *) { NULL }) == NULL, "sign rs ec");
    UNIT_CHECK(ngx_chat_jwt_sign_json(NGX_CHAT_JWT_HS256,
                   (unsigned char *) "", 0,
                   "{}", &(const char *) { NULL }) == NULL, "sign hs empty");
    UNIT_CHECK(ngx_chat_jwt_sign_json(NGX_CHAT_JWT_HS256,
                   (unsigned char *) SECRET, strlen(SECRET),
                   "[1]", &(const char *) { NULL }) == NULL, "sign array");

#undef KC
}


/*
 * A key as the module loads it: RS256/ES256 PEM parsed once, cached here
 * by (alg, text) and freed at exit.  A key that does not load is still
 * returned, with pkey NULL, for the tests of unusable keys.
 */

typedef struct {
    ngx_chat_jwt_alg_e   alg;
    const char          *text;
    ngx_chat_jwt_key_t   key;
} test_key_cache_t;

static test_key_cache_t  test_keys[64];
static int               test_nkeys;


static ngx_chat_jwt_key_t
key_of(ngx_chat_jwt_alg_e alg, const char *s)
{
    int                  i;
    ngx_chat_jwt_key_t   k;

    for (i = 0; i < test_nkeys; i++) {
        if (test_keys[i].alg == alg && test_keys[i].text == s) {
            return test_keys[i].key;
        }
    }

    if (ngx_chat_jwt_key_load(&k, alg, (const unsigned char *) s, strlen(s))
        != NULL)
    {
        k.alg = alg;
        k.key = (unsigned char *) s;
        k.key_len = strlen(s);
        k.pkey = NULL;
    }

    if (test_nkeys < 64) {
        test_keys[test_nkeys].alg = alg;
        test_keys[test_nkeys].text = s;
        test_keys[test_nkeys].key = k;
        test_nkeys++;

    } else {
        fprintf(stderr, "key cache full\n");
        exit(2);
    }

    return k;
}


static void
free_keys(void)
{
    int  i;

    for (i = 0; i < test_nkeys; i++) {
        ngx_chat_jwt_pkey_free(test_keys[i].key.pkey);
    }

    test_nkeys = 0;
}


static void
conf_init(ngx_chat_jwt_conf_t *conf, const ngx_chat_jwt_key_t *keys,
    size_t n)
{
    memset(conf, 0, sizeof(ngx_chat_jwt_conf_t));
    conf->keys = keys;
    conf->nkeys = n;
    conf->leeway = 60;
    conf->max_len = 8192;
}


static void
test_valid(void)
{
    char                  *t;
    ngx_chat_jwt_key_t     khs, krs, kes;
    ngx_chat_jwt_conf_t    chs, crs, ces;
    ngx_chat_jwt_claims_t  c;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    krs = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);

    conf_init(&chs, &khs, 1);
    conf_init(&crs, &krs, 1);
    conf_init(&ces, &kes, 1);

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld,"
           "\"name\":\"Alice A.\",\"jti\":\"j-1\","
           "\"roles\":[\"admin\",\"moderator\",\"other\"]}",
           LATER, NOW - 10, NOW - 5);

    memset(&c, 0, sizeof(c));
    expect_ok("hs256", &chs, t, &c);
    UNIT_CHECK(strcmp(c.sub, "alice") == 0, "sub %s", c.sub);
    UNIT_CHECK(strcmp(c.name, "Alice A.") == 0, "name %s", c.name);
    UNIT_CHECK(strcmp(c.jti, "j-1") == 0, "jti %s", c.jti);
    UNIT_CHECK(c.exp == LATER && c.iat == NOW - 10 && c.nbf == NOW - 5,
               "times %lld %lld %lld", c.exp, c.iat, c.nbf);
    UNIT_CHECK(c.roles == (NGX_CHAT_ROLE_ADMIN | NGX_CHAT_ROLE_MODERATOR),
               "roles %u", c.roles);

    /* the same token, not NUL-terminated, inside a larger buffer */
    {
        char                  buf[4096];
        int                   rc;
        size_t                n;
        const char           *err;

        n = strlen(t);
        memcpy(buf, t, n);
        memcpy(buf + n, "Xjunk", 6);
        rc = verify(&chs, buf, n, &c, &err);
        UNIT_CHECK(rc == 0, "unterminated: %s", err);
    }

    t = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv,
                  "{\"sub\":\"bob\",\"exp\":1767142800}");
    memset(&c, 0, sizeof(c));
    expect_ok("rs256", &crs, t, &c);
    UNIT_CHECK(strcmp(c.sub, "bob") == 0 && c.exp == LATER
               && c.iat == 0 && c.nbf == 0 && c.name[0] == '\0'
               && c.jti[0] == '\0' && c.roles == 0, "rs256 claims");

    t = sign_json(NGX_CHAT_JWT_ES256, ec1.priv,
                  "{\"sub\":\"carol@example.org\",\"exp\":1767142800}");
    memset(&c, 0, sizeof(c));
    expect_ok("es256", &ces, t, &c);
    UNIT_CHECK(strcmp(c.sub, "carol@example.org") == 0, "es256 sub");

    /* max_len 0 means the default, not "reject everything" */
    ces.max_len = 0;
    expect_ok("es256 default max_len", &ces, t, NULL);
}


static void
test_alg_attacks(void)
{
    char                 *t, *pem_hs;
    ngx_chat_jwt_key_t    khs, krs, kes, both[2], empty;
    ngx_chat_jwt_conf_t   chs, crs, ces, cboth, cempty;
    const char           *payload;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    krs = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);

    conf_init(&chs, &khs, 1);
    conf_init(&crs, &krs, 1);
    conf_init(&ces, &kes, 1);

    payload = "{\"sub\":\"mallory\",\"exp\":1767142800}";

    /* alg none, with an empty, a missing and a bogus signature segment */

    t = craft("{\"alg\":\"none\"}", payload, NULL, "");
    expect_fail("none empty sig hs", &chs, t, strlen(t), NULL);
    expect_fail("none empty sig rs", &crs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"none\"}", payload, NULL, NULL);
    expect_fail("none no sig", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, "AAAA");
    expect_fail("none with sig", &chs, t, strlen(t), "unsigned token");

    t = craft("{\"alg\":\"None\"}", payload, NULL, "AAAA");
    expect_fail("None", &chs, t, strlen(t), "unsigned token");

    t = craft("{\"alg\":\"NONE\"}", payload, NULL, "");
    expect_fail("NONE", &chs, t, strlen(t), NULL);

    /* unsigned tokens also fail when libjwt is given a (nonempty) key */
    t = craft("{\"alg\":\"none\"}", payload, NULL, "");
    expect_fail("none with hs + rs keys", &crs, t, strlen(t), NULL);

    /* an empty configured key is never given to libjwt */
    empty.alg = NGX_CHAT_JWT_HS256;
    empty.key = (unsigned char *) "";
    empty.key_len = 0;
    empty.pkey = NULL;
    conf_init(&cempty, &empty, 1);
    expect_fail("none, empty key", &cempty, t, strlen(t), NULL);
    t = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, "", NULL);
    expect_fail("hs256 keyless hmac, empty key", &cempty, t, strlen(t),
                NULL);
    conf_init(&cempty, &empty, 0);
    expect_fail("no keys", &cempty, t, strlen(t), NULL);

    /*
     * HS256 signed with the RSA public key PEM text as secret: libjwt 1.10
     * would accept it if handed the PEM for an HS256 header
     */

    pem_hs = sign_json(NGX_CHAT_JWT_HS256, rsa1.pub, payload);
    expect_fail("hs256 with rsa pem secret", &crs, pem_hs, strlen(pem_hs),
                "token algorithm not accepted");

    /* even when an HS256 key is configured beside it */
    both[0] = krs;
    both[1] = khs;
    conf_init(&cboth, both, 2);
    expect_fail("hs256 with rsa pem secret, hs+rs", &cboth, pem_hs,
                strlen(pem_hs), "bad token signature");

    /* EC public key PEM as secret */
    t = sign_json(NGX_CHAT_JWT_HS256, ec1.pub, payload);
    expect_fail("hs256 with ec pem secret", &ces, t, strlen(t), NULL);

    /* header alg that matches no configured key */

    t = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv, payload);
    expect_fail("rs256 token, hs key", &chs, t, strlen(t),
                "token algorithm not accepted");
    expect_fail("rs256 token, es key", &ces, t, strlen(t),
                "token algorithm not accepted");

    t = sign_json(NGX_CHAT_JWT_ES256, ec1.priv, payload);
    expect_fail("es256 token, rs key", &crs, t, strlen(t),
                "token algorithm not accepted");

    t = hs("%s", payload);
    expect_fail("hs256 token, rs key", &crs, t, strlen(t),
                "token algorithm not accepted");

    t = craft("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, SECRET, NULL);
    expect_fail("hs512", &chs, t, strlen(t), "token algorithm not accepted");

    t = craft("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", payload, SECRET, NULL);
    expect_fail("lower-case alg", &chs, t, strlen(t), NULL);

    /* header trickery */

    t = craft("{\"alg\":\"RS256\",\"alg\":\"HS256\"}", payload, SECRET, NULL);
    expect_fail("duplicate alg", &chs, t, strlen(t), NULL);
    expect_fail("duplicate alg rs+hs", &cboth, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload, SECRET, NULL);
    expect_ok("typ jwt", &chs, t, NULL);

    t = craft("{\"alg\":\"HS256\"}", payload, SECRET, NULL);
    expect_ok("no typ", &chs, t, NULL);

    t = craft("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", payload, SECRET,
              NULL);
    expect_fail("typ at+jwt", &chs, t, strlen(t), "unsupported token type");

    t = craft("{\"alg\":\"HS256\",\"typ\":1}", payload, SECRET, NULL);
    expect_fail("typ number", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", payload,
              SECRET, NULL);
    expect_fail("crit", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":256}", payload, SECRET, NULL);
    expect_fail("alg number", &chs, t, strlen(t), NULL);

    t = craft("{\"typ\":\"JWT\"}", payload, SECRET, NULL);
    expect_fail("no alg", &chs, t, strlen(t), NULL);

    t = craft("[\"HS256\"]", payload, SECRET, NULL);
    expect_fail("header array", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\\u0000x\"}", payload, SECRET, NULL);
    expect_fail("alg with NUL", &chs, t, strlen(t), NULL);

    /* payloads that are not claims objects */

    t = craft("{\"alg\":\"HS256\"}", "[1,2]", SECRET, NULL);
    expect_fail("payload array", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\"}", "not json", SECRET, NULL);
    expect_fail("payload garbage", &chs, t, strlen(t),
                "malformed token claims");

    t = craft("{\"alg\":\"HS256\"}",
              "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1767142800}", SECRET,
              NULL);
    /* libjwt would keep the last; both parsers must see the same claims */
    expect_fail("duplicate sub", &chs, t, strlen(t),
                "malformed token claims");
}


static void
test_signatures(void)
{
    char                 *t, *bad;
    size_t                n, i;
    ngx_chat_jwt_key_t    khs, krs, kes, all[3];
    ngx_chat_jwt_conf_t   chs, crs, ces, call;
    const char           *payload;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    krs = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);

    conf_init(&chs, &khs, 1);
    conf_init(&crs, &krs, 1);
    conf_init(&ces, &kes, 1);

    all[0] = khs;
    all[1] = krs;
    all[2] = kes;
    conf_init(&call, all, 3);

    payload = "{\"sub\":\"mallory\",\"exp\":1767142800}";

    t = sign_json(NGX_CHAT_JWT_HS256, SECRET2, payload);
    expect_fail("hs other secret", &chs, t, strlen(t),
                "bad token signature");

    t = sign_json(NGX_CHAT_JWT_RS256, rsa2.priv, payload);
    expect_fail("rs other key", &crs, t, strlen(t), "bad token signature");

    t = sign_json(NGX_CHAT_JWT_ES256, ec2.priv, payload);
    expect_fail("es other key", &ces, t, strlen(t), "bad token signature");

    /* a changed signature, payload or header byte */

    {
        const char  *toks[3];
        ngx_chat_jwt_conf_t  *confs[3];
        int          k;

        toks[0] = sign_json(NGX_CHAT_JWT_HS256, SECRET, payload);
        toks[1] = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv, payload);
        toks[2] = sign_json(NGX_CHAT_JWT_ES256, ec1.priv, payload);
        confs[0] = &chs;
        confs[1] = &crs;
        confs[2] = &ces;

        for (k = 0; k < 3; k++) {
            if (toks[k] == NULL) {
                continue;
            }

            expect_ok("before tamper", confs[k], toks[k], NULL);
            expect_ok("all keys", &call, toks[k], NULL);

            n = strlen(toks[k]);
            bad = keep(strdup(toks[k]));

            /* the signature's first character */
            i = strrchr(bad, '.') - bad + 1;
            bad[i] = bad[i] == 'A' ? 'B' : 'A';
            expect_fail("tampered sig", confs[k], bad, n, NULL);
            bad[i] = toks[k][i];

            /* a valid payload swapped in under the old signature */
            {
                char        *p2, *spliced;
                const char  *d1, *d2;
                static const char  forged[] =
                    "{\"sub\":\"admin\",\"exp\":1767142800}";

                d1 = strchr(toks[k], '.');
                d2 = strrchr(toks[k], '.');
                p2 = b64url((const unsigned char *) forged,
                            sizeof(forged) - 1);
                spliced = keep(xmalloc(n + strlen(p2) + 1));

                snprintf(spliced, n + strlen(p2) + 1, "%.*s.%s%s",
                         (int) (d1 - toks[k]), toks[k], p2, d2);
                free(p2);
                expect_fail("swapped payload", confs[k], spliced,
                            strlen(spliced), "bad token signature");
            }

            /* every truncation */
            for (i = 0; i < n; i++) {
                expect_fail("truncated", confs[k], toks[k], i, NULL);
            }

            /* the signature segment removed, keeping its dot */
            i = strrchr(toks[k], '.') - toks[k] + 1;
            expect_fail("no sig", confs[k], toks[k], i, NULL);

            /* appended garbage */
            bad = xmalloc(n + 8);
            memcpy(bad, toks[k], n);
            memcpy(bad + n, ".AAAA", 6);
            keep(bad);
            expect_fail("four segments", confs[k], bad, n + 5, NULL);
            memcpy(bad + n, "=", 2);
            expect_fail("padding", confs[k], bad, n + 1, NULL);
            memcpy(bad + n, "\0", 1);
            expect_fail("trailing NUL", confs[k], bad, n + 1, NULL);
        }
    }
}


static void
test_garbage(void)
{
    size_t               i;
    char                 buf[10000];
    ngx_chat_jwt_key_t   khs;
    ngx_chat_jwt_conf_t  chs;
    static const char   *bad[] = {
        "", ".", "..", "...", "a.b", "a.b.c.d", "!!!.@@@.###",
        "eyJhbGciOiJIUzI1NiJ9..AAAA", ".eyJzdWIiOiJhIn0.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.",
        "eyJhbGciOiJIUzI1NiJ9=.eyJzdWIiOiJhIn0.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0=.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi OiJhIn0.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi+OiJhIn0.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi/OiJhIn0.AAAA",
        "eyJhbGciOiJIUzI1NiJ.eyJzdWIiOiJhIn0.AAAA",     /* 4n+3, bad tail */
        "eyJhbGciOiJIUzI1NiJ9A.eyJzdWIiOiJhIn0.AAAA",   /* 4n+1 */
        "e.e.e", "AAAA.AAAA.AAAA", "____.____.____",
        "eyJhbGciOiJIUzI1NiJ9\n.eyJzdWIiOiJhIn0.AAAA",
        NULL
    };

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    conf_init(&chs, &khs, 1);

    for (i = 0; bad[i] != NULL; i++) {
        expect_fail(bad[i], &chs, bad[i], strlen(bad[i]), NULL);
    }

    expect_fail("empty", &chs, "", 0, "empty token");

    /* NUL bytes inside the given length */
    memcpy(buf, "eyJhbGciOiJIUzI1NiJ9.\0yJzdWIiOiJhIn0.AAAA", 42);
    expect_fail("embedded NUL", &chs, buf, 42, NULL);

    /* oversize: refused before anything is looked at */
    memset(buf, 'A', sizeof(buf));
    expect_fail("oversize", &chs, buf, 8193, "token too long");
    expect_fail("oversize 10000", &chs, buf, sizeof(buf), "token too long");

    {
        char  *t;

        t = hs("{\"sub\":\"alice\",\"exp\":%lld}", LATER);
        chs.max_len = strlen(t);
        expect_ok("exactly max_len", &chs, t, NULL);
        chs.max_len = strlen(t) - 1;
        expect_fail("max_len - 1", &chs, t, strlen(t), "token too long");
        chs.max_len = 8192;

        /* a valid, signed token padded to just over the limit */
        memset(buf, 'x', 8300);
        buf[8300] = '\0';
        t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"pad\":\"%s\"}", LATER, buf);
        expect_fail("signed oversize", &chs, t, strlen(t), "token too long");
    }
}


static void
test_times(void)
{
    char                 *t;
    ngx_chat_jwt_key_t    khs;
    ngx_chat_jwt_conf_t   chs;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    conf_init(&chs, &khs, 1);

    t = hs("{\"sub\":\"alice\"}");
    expect_fail("no exp", &chs, t, strlen(t), "token has no exp claim");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld}", NOW);
    expect_fail("exp == now", &chs, t, strlen(t), "token expired");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld}", NOW - 1);
    expect_fail("expired", &chs, t, strlen(t), "token expired");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld}", NOW - 30);
    expect_fail("expired within leeway", &chs, t, strlen(t),
                "token expired");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld}", NOW + 1);
    expect_ok("exp now + 1", &chs, t, NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":\"%lld\"}", LATER);
    expect_fail("exp string", &chs, t, strlen(t),
                "exp claim is not an integer");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld.5}", LATER);
    expect_fail("exp real", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":1.7671428e9}");
    expect_fail("exp exponent", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":true}");
    expect_fail("exp bool", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":null}");
    expect_fail("exp null", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":[%lld]}", LATER);
    expect_fail("exp array", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":9223372036854775807}");
    expect_ok("exp max", &chs, t, NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":-1}");
    expect_fail("exp negative", &chs, t, strlen(t), "token expired");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld}", LATER, NOW + 61);
    expect_fail("nbf beyond leeway", &chs, t, strlen(t),
                "token not yet valid");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld}", LATER, NOW + 60);
    expect_ok("nbf within leeway", &chs, t, NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld}", LATER, NOW - 60);
    expect_ok("nbf past", &chs, t, NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":\"0\"}", LATER);
    expect_fail("nbf string", &chs, t, strlen(t),
                "nbf claim is not an integer");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"iat\":%lld}", LATER, NOW + 61);
    expect_fail("iat beyond leeway", &chs, t, strlen(t),
                "token issued in the future");

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"iat\":%lld}", LATER, NOW + 60);
    expect_ok("iat within leeway", &chs, t, NULL);

    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"iat\":1.5}", LATER);
    expect_fail("iat real", &chs, t, strlen(t),
                "iat claim is not an integer");

    /* leeway 0 */
    chs.leeway = 0;
    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld}", LATER, NOW + 1);
    expect_fail("nbf, leeway 0", &chs, t, strlen(t), NULL);
    t = hs("{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld}", LATER, NOW);
    expect_ok("nbf now, leeway 0", &chs, t, NULL);
}


static void
test_iss_aud(void)
{
    char                 *t;
    ngx_chat_jwt_key_t    khs;
    ngx_chat_jwt_conf_t   chs;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    conf_init(&chs, &khs, 1);

    /* not configured: not checked */
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":5,\"aud\":{}}", LATER);
    expect_ok("iss/aud unchecked", &chs, t, NULL);

    chs.iss = "https://auth.example";

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://auth.example\"}",
           LATER);
    expect_ok("iss", &chs, t, NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://evil.example\"}",
           LATER);
    expect_fail("wrong iss", &chs, t, strlen(t), "token issuer not accepted");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://auth.examplE\"}",
           LATER);
    expect_fail("iss case", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://auth.example "
           "\"}", LATER);
    expect_fail("iss suffix", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld}", LATER);
    expect_fail("no iss", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"iss\":[\"https://auth.example\"]}",
           LATER);
    expect_fail("iss array", &chs, t, strlen(t), NULL);

    chs.iss = NULL;
    chs.aud = "chat";

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":\"chat\"}", LATER);
    expect_ok("aud", &chs, t, NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":\"chat2\"}", LATER);
    expect_fail("wrong aud", &chs, t, strlen(t),
                "token audience not accepted");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":\"cha\"}", LATER);
    expect_fail("aud prefix", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld}", LATER);
    expect_fail("no aud", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[\"web\",\"chat\"]}", LATER);
    expect_ok("aud array containing", &chs, t, NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[\"web\",\"mail\"]}", LATER);
    expect_fail("aud array not containing", &chs, t, strlen(t),
                "token audience not accepted");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[]}", LATER);
    expect_fail("aud empty array", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[\"chat\",7]}", LATER);
    expect_fail("aud array with number", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":[[\"chat\"]]}", LATER);
    expect_fail("aud nested array", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"aud\":7}", LATER);
    expect_fail("aud number", &chs, t, strlen(t), NULL);
}


static void
test_sub_name_roles(void)
{
    char                   *t, big[300];
    ngx_chat_jwt_key_t      khs;
    ngx_chat_jwt_conf_t     chs;
    ngx_chat_jwt_claims_t   c;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    conf_init(&chs, &khs, 1);

    t = hs("{\"exp\":%lld}", LATER);
    expect_fail("no sub", &chs, t, strlen(t), "token has no sub claim");

    t = hs("{\"sub\":\"\",\"exp\":%lld}", LATER);
    expect_fail("empty sub", &chs, t, strlen(t), "invalid sub claim");

    memset(big, 'a', 64);
    big[64] = '\0';
    t = hs("{\"sub\":\"%s\",\"exp\":%lld}", big, LATER);
    expect_ok("64-byte sub", &chs, t, &c);
    UNIT_CHECK(strcmp(c.sub, big) == 0, "64-byte sub copied");

    big[64] = 'a';
    big[65] = '\0';
    t = hs("{\"sub\":\"%s\",\"exp\":%lld}", big, LATER);
    expect_fail("65-byte sub", &chs, t, strlen(t), "invalid sub claim");

    t = hs("{\"sub\":\"A-Z_a.z@0-9\",\"exp\":%lld}", LATER);
    expect_ok("sub charset", &chs, t, NULL);

    t = hs("{\"sub\":\"a b\",\"exp\":%lld}", LATER);
    expect_fail("sub space", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a/b\",\"exp\":%lld}", LATER);
    expect_fail("sub slash", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a:b\",\"exp\":%lld}", LATER);
    expect_fail("sub colon", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"\\u00e9\",\"exp\":%lld}", LATER);
    expect_fail("sub non-ascii", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\\nb\",\"exp\":%lld}", LATER);
    expect_fail("sub newline", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":42,\"exp\":%lld}", LATER);
    expect_fail("sub number", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":null,\"exp\":%lld}", LATER);
    expect_fail("sub null", &chs, t, strlen(t), NULL);

    /* name */

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"\"}", LATER);
    expect_ok("empty name", &chs, t, &c);

    memset(big, 'n', 128);
    big[128] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"%s\"}", LATER, big);
    expect_ok("128-byte name", &chs, t, &c);
    UNIT_CHECK(strcmp(c.name, big) == 0, "name copied");

    big[128] = 'n';
    big[129] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"%s\"}", LATER, big);
    expect_fail("129-byte name", &chs, t, strlen(t), "invalid name claim");

    /* 64 two-byte characters = 128 bytes; one more is too long */
    {
        char  *p;
        int    i;

        p = big;
        for (i = 0; i < 64; i++) {
            p += sprintf(p, "\xc3\xa9");
        }

        t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"%s\"}", LATER, big);
        expect_ok("128-byte utf-8 name", &chs, t, &c);
        UNIT_CHECK(strcmp(c.name, big) == 0, "utf-8 name copied");

        sprintf(p, "\xc3\xa9");
        t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"%s\"}", LATER, big);
        expect_fail("130-byte utf-8 name", &chs, t, strlen(t), NULL);
    }

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":\"\\ud83d\\ude00 A\"}",
           LATER);
    expect_ok("emoji name", &chs, t, &c);
    UNIT_CHECK(strcmp(c.name, "\xf0\x9f\x98\x80 A") == 0, "emoji copied");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":7}", LATER);
    expect_fail("name number", &chs, t, strlen(t), "invalid name claim");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"name\":null}", LATER);
    expect_fail("name null", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\"}",
              "{\"sub\":\"a\",\"exp\":1767142800,\"name\":\"\xff\"}", SECRET,
              NULL);
    expect_fail("name invalid utf-8", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\"}",
              "{\"sub\":\"a\",\"exp\":1767142800,\"name\":\"a\\u0000b\"}",
              SECRET, NULL);
    expect_fail("name NUL", &chs, t, strlen(t), NULL);

    /* jti */

    memset(big, 'j', 128);
    big[128] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"jti\":\"%s\"}", LATER, big);
    expect_ok("128-byte jti", &chs, t, &c);
    UNIT_CHECK(strcmp(c.jti, big) == 0, "jti copied");

    big[128] = 'j';
    big[129] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"jti\":\"%s\"}", LATER, big);
    expect_fail("129-byte jti", &chs, t, strlen(t), "invalid jti claim");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"jti\":12}", LATER);
    expect_fail("jti number", &chs, t, strlen(t), "invalid jti claim");

    /* sid: a session id (chat_accounts), with the rules of jti */

    memset(big, 's', 128);
    big[128] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"sid\":\"%s\"}", LATER, big);
    expect_ok("128-byte sid", &chs, t, &c);
    UNIT_CHECK(strcmp(c.sid, big) == 0 && c.jti[0] == '\0', "sid copied");

    big[128] = 's';
    big[129] = '\0';
    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"sid\":\"%s\"}", LATER, big);
    expect_fail("129-byte sid", &chs, t, strlen(t), "invalid sid claim");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"sid\":[\"x\"]}", LATER);
    expect_fail("sid array", &chs, t, strlen(t), "invalid sid claim");

    t = craft("{\"alg\":\"HS256\"}",
              "{\"sub\":\"a\",\"exp\":4102444800,\"sid\":\"a\\u0000b\"}",
              SECRET, NULL);
    expect_fail("sid NUL", &chs, t, strlen(t), NULL);

    t = hs("{\"sub\":\"a\",\"exp\":%lld}", LATER);
    expect_ok("no sid", &chs, t, &c);
    UNIT_CHECK(c.sid[0] == '\0', "no sid: empty");

    /* roles */

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[\"moderator\"]}", LATER);
    expect_ok("moderator", &chs, t, &c);
    UNIT_CHECK(c.roles == NGX_CHAT_ROLE_MODERATOR, "roles %u", c.roles);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[\"admin\"]}", LATER);
    expect_ok("admin", &chs, t, &c);
    UNIT_CHECK(c.roles == NGX_CHAT_ROLE_ADMIN, "roles %u", c.roles);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[\"Admin\",\"root\","
           "\"admins\",\"\"]}", LATER);
    expect_ok("other roles", &chs, t, &c);
    UNIT_CHECK(c.roles == 0, "roles %u", c.roles);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[]}", LATER);
    expect_ok("no roles", &chs, t, &c);
    UNIT_CHECK(c.roles == 0, "roles %u", c.roles);

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":\"admin\"}", LATER);
    expect_fail("roles string", &chs, t, strlen(t), "invalid roles claim");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":[\"admin\",1]}", LATER);
    expect_fail("roles with number", &chs, t, strlen(t),
                "invalid roles claim");

    t = hs("{\"sub\":\"a\",\"exp\":%lld,\"roles\":{\"admin\":true}}", LATER);
    expect_fail("roles object", &chs, t, strlen(t), NULL);

    t = craft("{\"alg\":\"HS256\"}",
              "{\"sub\":\"a\",\"exp\":1767142800,"
              "\"roles\":[\"admin\\u0000x\"]}", SECRET, NULL);
    expect_fail("role with NUL", &chs, t, strlen(t), NULL);
}


static void
test_key_choice(void)
{
    char                 *t;
    ngx_chat_jwt_key_t    keys[6];
    ngx_chat_jwt_conf_t   conf;
    const char           *payload;

    payload = "{\"sub\":\"alice\",\"exp\":1767142800}";

    keys[0] = key_of(NGX_CHAT_JWT_HS256, SECRET2);
    keys[1] = key_of(NGX_CHAT_JWT_RS256, rsa2.pub);
    keys[2] = key_of(NGX_CHAT_JWT_ES256, ec2.pub);
    keys[3] = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    keys[4] = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    keys[5] = key_of(NGX_CHAT_JWT_HS256, SECRET);

    conf_init(&conf, keys, 6);

    t = sign_json(NGX_CHAT_JWT_HS256, SECRET, payload);
    expect_ok("second hs key", &conf, t, NULL);
    t = sign_json(NGX_CHAT_JWT_HS256, SECRET2, payload);
    expect_ok("first hs key", &conf, t, NULL);
    t = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv, payload);
    expect_ok("second rs key", &conf, t, NULL);
    t = sign_json(NGX_CHAT_JWT_ES256, ec1.priv, payload);
    expect_ok("second es key", &conf, t, NULL);
    t = sign_json(NGX_CHAT_JWT_HS256,
                  "a third secret, in no configuration!", payload);
    expect_fail("unknown hs key", &conf, t, strlen(t),
                "bad token signature");

    /* only RS256 keys: an ES256 token is refused without trying them */
    conf_init(&conf, &keys[1], 1);
    keys[1] = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    t = sign_json(NGX_CHAT_JWT_ES256, ec1.priv, payload);
    expect_fail("es token, rs keys", &conf, t, strlen(t),
                "token algorithm not accepted");

    /*
     * A key configured with the wrong alg for its content (an EC PEM
     * under RS256) fails closed; the config check prevents it anyway.
     */
    keys[1] = key_of(NGX_CHAT_JWT_RS256, ec1.pub);
    t = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv, payload);
    expect_fail("rs token, ec pem under rs256", &conf, t, strlen(t), NULL);
}


/* check an ES256 token's signature with OpenSSL directly: raw R || S */

static int
es256_independent(const char *tok, const char *pub)
{
    int              ok, n;
    BIO             *bio;
    BIGNUM          *r, *s;
    EVP_PKEY        *pkey;
    ECDSA_SIG       *sig;
    EVP_MD_CTX      *md;
    const char      *dot;
    unsigned char    raw[128], *der, *p;

    dot = strrchr(tok, '.');
    n = b64url_decode(dot + 1, strlen(dot + 1), raw);
    if (n != 64) {
        return 0;
    }

    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, r, s);

    der = NULL;
    n = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);

    bio = BIO_new_mem_buf(pub, -1);
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    md = EVP_MD_CTX_new();
    p = der;
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1
         && EVP_DigestVerify(md, p, n, (const unsigned char *) tok,
                             dot - tok) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    OPENSSL_free(der);

    return ok;
}


static void
test_es256_format(void)
{
    int                  i, bad, rounds;
    char                *t;
    const char          *err, *env;
    ngx_chat_jwt_key_t   kes;
    ngx_chat_jwt_conf_t  ces;

    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    conf_init(&ces, &kes, 1);

    /*
     * About 1 in 128 signatures has an R or S with a leading zero byte:
     * enough rounds exercise the padding of R || S.
     */

    env = getenv("JWT_ES_ROUNDS");
    rounds = env ? atoi(env) : 400;
    bad = 0;

    for (i = 0; i < rounds; i++) {
        t = ngx_chat_jwt_sign_json(NGX_CHAT_JWT_ES256,
                                   (unsigned char *) ec1.priv,
                                   strlen(ec1.priv),
                                   "{\"sub\":\"a\",\"exp\":1767142800}",
                                   &err);
        if (t == NULL || !es256_independent(t, ec1.pub)) {
            bad++;

        } else {
            ngx_chat_jwt_claims_t  c;

            if (ngx_chat_jwt_verify(&ces, t, strlen(t), NOW, &c, &err)
                != 0)
            {
                bad++;
            }
        }

        free(t);
    }

    UNIT_CHECK(bad == 0, "%d of %d ES256 signatures not raw R||S", bad,
               rounds);
}


/* tok with its signature segment replaced by the encoding of sig[0..n) */

static char *
with_sig(const char *tok, const unsigned char *sig, size_t n)
{
    char        *s, *out;
    size_t       len;
    const char  *dot;

    dot = strrchr(tok, '.');
    s = b64url(sig, n);
    len = (size_t) (dot - tok) + 1 + strlen(s) + 1;
    out = xmalloc(len);
    snprintf(out, len, "%.*s.%s", (int) (dot - tok), tok, s);
    free(s);

    return keep(out);
}


/* the decoded signature segment of tok; out holds 4096 bytes */

static int
sig_of(const char *tok, unsigned char *out)
{
    const char  *dot;

    dot = strrchr(tok, '.');

    if (strlen(dot + 1) > 5000) {
        return -1;
    }

    return b64url_decode(dot + 1, strlen(dot + 1), out);
}


/* tok with signature sig[0..n) must fail as a bad signature */

static void
fail_sig(const char *what, const ngx_chat_jwt_conf_t *conf, const char *tok,
    const unsigned char *sig, size_t n)
{
    char  *v;

    v = with_sig(tok, sig, n);
    expect_fail(what, conf, v, strlen(v), "bad token signature");
}


static void
fail_tok(const char *what, const ngx_chat_jwt_conf_t *conf, const char *tok)
{
    expect_fail(what, conf, tok, strlen(tok), "bad token signature");
}


/*
 * tok with the last character changed in its lowest bit: for the
 * signature lengths of all three algorithms those bits are unused, so
 * the signature decodes the same in a lax decoder.
 */

static char *
last_bit_flipped(const char *tok)
{
    char        *t, *c;
    const char  *p;
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    t = keep(strdup(tok));
    c = t + strlen(t) - 1;
    p = strchr(alphabet, *c);
    *c = alphabet[(p - alphabet) ^ 1];

    return t;
}


static void
test_key_load(void)
{
    const char          *e;
    ngx_chat_jwt_key_t   k;

#define KL(alg, s)                                                            \
    ngx_chat_jwt_key_load(&k, alg, (const unsigned char *) (s), strlen(s))

    memset(&k, 0x5a, sizeof(k));
    e = KL(NGX_CHAT_JWT_HS256, SECRET);
    UNIT_CHECK(e == NULL && k.alg == NGX_CHAT_JWT_HS256
               && k.key == (unsigned char *) SECRET
               && k.key_len == strlen(SECRET) && k.pkey == NULL,
               "load hs: %s", e ? e : "fields");

    memset(&k, 0x5a, sizeof(k));
    e = KL(NGX_CHAT_JWT_RS256, rsa1.pub);
    UNIT_CHECK(e == NULL && k.alg == NGX_CHAT_JWT_RS256
               && k.key == (unsigned char *) rsa1.pub
               && k.key_len == strlen(rsa1.pub) && k.pkey != NULL,
               "load rs: %s", e ? e : "fields");
    ngx_chat_jwt_pkey_free(k.pkey);

    memset(&k, 0x5a, sizeof(k));
    e = KL(NGX_CHAT_JWT_ES256, ec1.pub);
    UNIT_CHECK(e == NULL && k.alg == NGX_CHAT_JWT_ES256 && k.pkey != NULL,
               "load es: %s", e ? e : "fields");
    ngx_chat_jwt_pkey_free(k.pkey);

    ngx_chat_jwt_pkey_free(NULL);

    /* refused keys leave a zeroed struct, nothing to free, no errors */

    {
        static const struct {
            ngx_chat_jwt_alg_e   alg;
            char *const        *pem;
            const char          *want;
            const char          *what;
        } bad[] = {
            { NGX_CHAT_JWT_ES256, &rsa1.pub, "ES256 key is not an EC key",
              "rsa key for es256" },
            { NGX_CHAT_JWT_RS256, &ec1.pub, "RS256 key is not an RSA key",
              "ec key for rs256" },
            { NGX_CHAT_JWT_ES256, &ec384.pub,
              "ES256 key is not on curve P-256", "p-384 key for es256" },
            { NGX_CHAT_JWT_RS256, &rsa_small.pub,
              "RS256 key is shorter than 2048 bits", "rsa 1024" },
            { NGX_CHAT_JWT_RS256, &rsa1.priv, "key is not a PEM public key",
              "rsa private key" },
            { NGX_CHAT_JWT_ES256, &ec1.priv, "key is not a PEM public key",
              "ec private key" },
        };
        size_t              i;
        ngx_chat_jwt_key_t  zero;

        memset(&zero, 0, sizeof(zero));

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            memset(&k, 0x5a, sizeof(k));
            e = KL(bad[i].alg, *bad[i].pem);
            UNIT_CHECK(e != NULL && strcmp(e, bad[i].want) == 0,
                       "load %s: %s", bad[i].what, e ? e : "accepted");
            UNIT_CHECK(memcmp(&k, &zero, sizeof(k)) == 0,
                       "load %s: key not zeroed", bad[i].what);
            UNIT_CHECK(ERR_peek_error() == 0, "load %s: OpenSSL errors left",
                       bad[i].what);
            ERR_clear_error();
        }
    }

    e = KL(NGX_CHAT_JWT_HS256, "0123456789abcdef0123456789abcde");
    UNIT_CHECK(e != NULL && k.key == NULL, "load hs 31 bytes");
    e = KL(NGX_CHAT_JWT_ES256, "");
    UNIT_CHECK(e != NULL && k.pkey == NULL, "load es empty");
    e = KL(NGX_CHAT_JWT_RS256, "-----BEGIN PUBLIC KEY-----\n");
    UNIT_CHECK(e != NULL && k.pkey == NULL, "load rs truncated");
    e = ngx_chat_jwt_key_load(&k, (ngx_chat_jwt_alg_e) 99,
                              (const unsigned char *) SECRET, strlen(SECRET));
    UNIT_CHECK(e != NULL && k.key == NULL, "load unknown alg");
    e = ngx_chat_jwt_key_load(&k, NGX_CHAT_JWT_ES256, NULL, 0);
    UNIT_CHECK(e != NULL && k.pkey == NULL, "load es null");

#undef KL
}


static void
test_es256_sigs(void)
{
    int                     n, dl;
    char                   *t, *v;
    BIGNUM                 *r, *s, *hs;
    EC_GROUP               *g;
    ECDSA_SIG              *es;
    const BIGNUM           *order;
    unsigned char           raw[4096], mod[160], *der;
    ngx_chat_jwt_key_t      kes;
    ngx_chat_jwt_conf_t     ces;
    ngx_chat_jwt_claims_t   c;

    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    conf_init(&ces, &kes, 1);

    t = sign_json(NGX_CHAT_JWT_ES256, ec1.priv,
                  "{\"sub\":\"eve\",\"exp\":1767142800}");
    expect_ok("es base", &ces, t, NULL);

    n = sig_of(t, raw);
    UNIT_CHECK(n == 64, "es signature is %d bytes", n);
    if (n != 64) {
        return;
    }

    /* the very signature, re-encoded here: still fine */
    expect_ok("es re-encoded", &ces, with_sig(t, raw, 64), NULL);

    /* wrong lengths */

    fail_sig("es sig 63 bytes", &ces, t, raw, 63);
    memcpy(mod, raw, 64);
    mod[64] = 0;
    fail_sig("es sig 65 bytes", &ces, t, mod, 65);
    mod[0] = 0;
    memcpy(mod + 1, raw, 64);
    fail_sig("es sig 0 || R || S", &ces, t, mod, 65);

    /* R and S each with a leading zero byte, 33 + 33 */
    mod[0] = 0;
    memcpy(mod + 1, raw, 32);
    mod[33] = 0;
    memcpy(mod + 34, raw + 32, 32);
    fail_sig("es sig 66 bytes", &ces, t, mod, 66);

    fail_sig("es sig 32 bytes", &ces, t, raw, 32);
    fail_sig("es sig 1 byte", &ces, t, raw, 1);
    memset(mod, 0, sizeof(mod));
    memcpy(mod + 32, raw, 64);
    fail_sig("es sig 96 bytes", &ces, t, mod, 96);
    memcpy(mod, raw, 64);
    memcpy(mod + 64, raw, 64);
    fail_sig("es sig 128 bytes", &ces, t, mod, 128);

    /* the unused low bits of the last character must be zero */
    fail_tok("es sig non-canonical base64", &ces, last_bit_flipped(t));

    /* zero R, zero S */

    memcpy(mod, raw, 64);
    memset(mod, 0, 32);
    fail_sig("es zero R", &ces, t, mod, 64);
    memcpy(mod, raw, 64);
    memset(mod + 32, 0, 32);
    fail_sig("es zero S", &ces, t, mod, 64);
    memset(mod, 0, 64);
    fail_sig("es zero R and S", &ces, t, mod, 64);

    /* R and S swapped */
    memcpy(mod, raw + 32, 32);
    memcpy(mod + 32, raw, 32);
    fail_sig("es R S swapped", &ces, t, mod, 64);

    /* R or S equal to the group order, or all ones */

    g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    order = EC_GROUP_get0_order(g);

    memcpy(mod, raw, 64);
    BN_bn2binpad(order, mod, 32);
    fail_sig("es R = n", &ces, t, mod, 64);
    memcpy(mod, raw, 64);
    BN_bn2binpad(order, mod + 32, 32);
    fail_sig("es S = n", &ces, t, mod, 64);
    memset(mod, 0xff, 64);
    fail_sig("es R, S all ones", &ces, t, mod, 64);

    /* high S: (R, n - S) is valid too, and accepted */

    s = BN_bin2bn(raw + 32, 32, NULL);
    hs = BN_new();
    BN_sub(hs, order, s);
    memcpy(mod, raw, 64);
    BN_bn2binpad(hs, mod + 32, 32);
    UNIT_CHECK(memcmp(mod + 32, raw + 32, 32) != 0, "high S differs");
    v = with_sig(t, mod, 64);
    UNIT_CHECK(es256_independent(v, ec1.pub), "high S valid for OpenSSL");
    memset(&c, 0, sizeof(c));
    expect_ok("es high S", &ces, v, &c);
    UNIT_CHECK(strcmp(c.sub, "eve") == 0, "high S claims");
    BN_free(s);
    BN_free(hs);
    EC_GROUP_free(g);

    /* a DER signature, as OpenSSL makes them: JWS wants R || S */

    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, r, s);
    der = NULL;
    dl = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    UNIT_CHECK(dl >= 68 && dl <= 72, "der length %d", dl);
    fail_sig("es DER signature", &ces, t, der, dl);
    OPENSSL_free(der);

    /* an ES256 token signed with another P-256 key, R || S well-formed */
    v = sign_json(NGX_CHAT_JWT_ES256, ec2.priv,
                  "{\"sub\":\"eve\",\"exp\":1767142800}");
    expect_fail("es other key", &ces, v, strlen(v), "bad token signature");
}


/* an RS256 signature over tok's "header.payload", made here with OpenSSL */

static char *
rs256_resign(const char *tok, const char *priv, int pss)
{
    BIO            *bio;
    char           *out;
    size_t          n;
    EVP_PKEY       *pkey;
    EVP_MD_CTX     *md;
    const char     *dot;
    EVP_PKEY_CTX   *pctx;
    unsigned char   sig[1024];

    bio = BIO_new_mem_buf(priv, -1);
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    dot = strrchr(tok, '.');
    md = EVP_MD_CTX_new();
    n = sizeof(sig);
    out = NULL;

    if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1
        && (!pss
            || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0)
        && EVP_DigestSign(md, sig, &n, (const unsigned char *) tok,
                          dot - tok) == 1)
    {
        out = with_sig(tok, sig, n);
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    return out;
}


static void
test_rs256_sigs(void)
{
    int                   n;
    char                 *t, *v;
    unsigned char         raw[4096], mod[600];
    ngx_chat_jwt_key_t    krs, kes, wrong;
    ngx_chat_jwt_conf_t   crs, cwrong;

    krs = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    conf_init(&crs, &krs, 1);

    t = sign_json(NGX_CHAT_JWT_RS256, rsa1.priv,
                  "{\"sub\":\"rita\",\"exp\":1767142800}");
    expect_ok("rs base", &crs, t, NULL);

    n = sig_of(t, raw);
    UNIT_CHECK(n == 256, "rs signature is %d bytes", n);
    if (n != 256) {
        return;
    }

    fail_sig("rs sig 255 bytes", &crs, t, raw, 255);
    memcpy(mod, raw, 256);
    mod[256] = 0;
    fail_sig("rs sig 257 bytes", &crs, t, mod, 257);
    mod[0] = 0;
    memcpy(mod + 1, raw, 256);
    fail_sig("rs sig 0 || sig", &crs, t, mod, 257);
    memset(mod, 0, 256);
    fail_sig("rs sig zero", &crs, t, mod, 256);
    memset(mod, 0xff, 256);
    fail_sig("rs sig all ones", &crs, t, mod, 256);
    fail_tok("rs sig non-canonical base64", &crs, last_bit_flipped(t));

    /* PKCS#1 v1.5 made by OpenSSL here verifies; PSS (that is PS256) not */
    v = rs256_resign(t, rsa1.priv, 0);
    UNIT_CHECK(v != NULL, "rs resign");
    expect_ok("rs signed by OpenSSL", &crs, v, NULL);
    v = rs256_resign(t, rsa1.priv, 1);
    UNIT_CHECK(v != NULL, "rs resign pss");
    expect_fail("rs PSS signature", &crs, v, v ? strlen(v) : 0,
                "bad token signature");

    /* a parsed key of the wrong type under an alg fails closed */
    kes = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    wrong = krs;
    wrong.pkey = kes.pkey;
    conf_init(&cwrong, &wrong, 1);
    expect_fail("rs token, ec pkey", &cwrong, t, strlen(t),
                "bad token signature");

    v = sign_json(NGX_CHAT_JWT_ES256, ec1.priv,
                  "{\"sub\":\"rita\",\"exp\":1767142800}");
    wrong = kes;
    wrong.pkey = krs.pkey;
    expect_fail("es token, rsa pkey", &cwrong, v, strlen(v),
                "bad token signature");

    /* an RS256 key that did not load (pkey NULL) is never tried */
    wrong = krs;
    wrong.pkey = NULL;
    expect_fail("rs key not loaded", &cwrong, t, strlen(t),
                "token algorithm not accepted");
}


static void
test_hs256_sigs(void)
{
    int                   n;
    char                 *t, *v;
    unsigned char         raw[4096], mod[100];
    ngx_chat_jwt_key_t    khs;
    ngx_chat_jwt_conf_t   chs;

    khs = key_of(NGX_CHAT_JWT_HS256, SECRET);
    conf_init(&chs, &khs, 1);

    t = hs("{\"sub\":\"hal\",\"exp\":%lld}", LATER);
    expect_ok("hs base", &chs, t, NULL);

    n = sig_of(t, raw);
    UNIT_CHECK(n == 32, "hs signature is %d bytes", n);
    if (n != 32) {
        return;
    }

    fail_sig("hs sig 31 bytes", &chs, t, raw, 31);
    memcpy(mod, raw, 32);
    mod[32] = 0;
    fail_sig("hs sig 33 bytes", &chs, t, mod, 33);
    memcpy(mod + 32, raw, 32);
    fail_sig("hs sig twice", &chs, t, mod, 64);
    fail_tok("hs sig non-canonical base64", &chs, last_bit_flipped(t));

    /* every single-bit change of the MAC */
    for (n = 0; n < 256; n++) {
        memcpy(mod, raw, 32);
        mod[n / 8] ^= (unsigned char) (1 << (n % 8));
        v = with_sig(t, mod, 32);
        expect_fail("hs sig bit flipped", &chs, v, strlen(v),
                    "bad token signature");
    }
}


/*
 * HMAC's key handling at every length around SHA-256's 64-byte block (a
 * longer key is hashed first), against libjwt's signatures and OpenSSL's
 * HMAC(); the usual header, known without a parse, and others, parsed
 */

static void
test_hs256_key_lengths(void)
{
    int                   i;
    char                 *t, key[301], other[301], payload[128];
    ngx_chat_jwt_key_t    k, ko;
    ngx_chat_jwt_conf_t   c, co;
    static const size_t   lens[] = { 32, 63, 64, 65, 100, 300 };

    snprintf(payload, sizeof(payload), "{\"sub\":\"kay\",\"exp\":%lld}",
             LATER);

    for (i = 0; i < (int) (sizeof(lens) / sizeof(lens[0])); i++) {
        memset(key, 'a' + i, lens[i]);
        key[lens[i]] = '\0';
        key[lens[i] / 2] = 'K';
        memcpy(other, key, lens[i] + 1);
        other[lens[i] - 1] ^= 1;

        UNIT_CHECK(ngx_chat_jwt_key_load(&k, NGX_CHAT_JWT_HS256,
                                         (unsigned char *) key, lens[i])
                   == NULL, "key of %zu bytes loads", lens[i]);
        UNIT_CHECK(ngx_chat_jwt_key_load(&ko, NGX_CHAT_JWT_HS256,
                                         (unsigned char *) other, lens[i])
                   == NULL, "other key of %zu bytes loads", lens[i]);
        conf_init(&c, &k, 1);
        conf_init(&co, &ko, 1);

        t = sign_json(NGX_CHAT_JWT_HS256, key, payload);
        UNIT_CHECK(t != NULL && strncmp(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpX"
                                        "VCJ9.", 37) == 0,
                   "libjwt writes the usual header");
        expect_ok("hs key length, libjwt", &c, t, NULL);
        expect_fail("hs key length, libjwt, other key", &co, t, strlen(t),
                    "bad token signature");

        t = craft("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", payload, key,
                  NULL);
        expect_ok("hs key length, header parsed", &c, t, NULL);
        expect_fail("hs key length, header parsed, other key", &co, t,
                    strlen(t), "bad token signature");

        t = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key,
                  NULL);
        expect_ok("hs key length, HMAC()", &c, t, NULL);
    }

    /* the usual header's bytes with another payload and signature */
    t = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, NULL,
              "AAAA");
    expect_fail("usual header, bad signature", &c, t, strlen(t),
                "bad token signature");
}


static double
mono_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* cost per token of each algorithm: printed, not checked */

static void
test_timing(void)
{
    int                     i, k, rounds, bad;
    char                   *t;
    double                  t0, t1, t2;
    const char             *env, *err;
    ngx_chat_jwt_key_t      key;
    ngx_chat_jwt_conf_t     conf;
    ngx_chat_jwt_claims_t   c;
    static const char      *json = "{\"sub\":\"tim\",\"exp\":1767142800,"
                                   "\"name\":\"Tim T\",\"roles\":[\"admin\"]}";
    struct {
        ngx_chat_jwt_alg_e   alg;
        const char          *pub;
        const char          *priv;
        int                  rounds;
    } algs[3];

    algs[0].alg = NGX_CHAT_JWT_HS256;
    algs[0].pub = SECRET;
    algs[0].priv = SECRET;
    algs[0].rounds = 20000;
    algs[1].alg = NGX_CHAT_JWT_RS256;
    algs[1].pub = rsa1.pub;
    algs[1].priv = rsa1.priv;
    algs[1].rounds = 2000;
    algs[2].alg = NGX_CHAT_JWT_ES256;
    algs[2].pub = ec1.pub;
    algs[2].priv = ec1.priv;
    algs[2].rounds = 2000;

    env = getenv("JWT_TIME_ROUNDS");

    for (k = 0; k < 3; k++) {
        rounds = env ? atoi(env) : algs[k].rounds;
        if (rounds <= 0) {
            return;
        }

        t = sign_json(algs[k].alg, algs[k].priv, json);

        /* the parse that used to happen for every token, now once */
        t0 = mono_now();
        err = ngx_chat_jwt_key_load(&key, algs[k].alg,
                                    (const unsigned char *) algs[k].pub,
                                    strlen(algs[k].pub));
        t1 = mono_now();
        UNIT_CHECK(err == NULL, "timing key load: %s", err);
        conf_init(&conf, &key, 1);

        bad = 0;

        for (i = 0; i < rounds; i++) {
            if (ngx_chat_jwt_verify(&conf, t, strlen(t), NOW, &c, &err)
                != 0)
            {
                bad++;
            }
        }

        t2 = mono_now();

        UNIT_CHECK(bad == 0, "timing %s: %d of %d rejected",
                   ngx_chat_jwt_alg_name(algs[k].alg), bad, rounds);

        printf("timing: %s verify %.1f us/token (%d tokens), key load "
               "%.1f us once\n", ngx_chat_jwt_alg_name(algs[k].alg),
               (t2 - t1) * 1e6 / rounds, rounds, (t1 - t0) * 1e6);

        ngx_chat_jwt_pkey_free(key.pkey);
    }
}


static void
test_cli_path(void)
{
    char                   *t;
    ngx_chat_jwt_key_t      keys[3];
    ngx_chat_jwt_conf_t     conf;
    ngx_chat_jwt_spec_t     spec;
    ngx_chat_jwt_claims_t   c;
    const char             *err;
    int                     k;
    static const char      *privs[3];

    keys[0] = key_of(NGX_CHAT_JWT_HS256, SECRET);
    keys[1] = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    keys[2] = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    conf_init(&conf, keys, 3);
    conf.iss = "issuer";
    conf.aud = "chat";

    privs[0] = SECRET;
    privs[1] = rsa1.priv;
    privs[2] = ec1.priv;

    for (k = 0; k < 3; k++) {
        memset(&spec, 0, sizeof(spec));
        spec.sub = "dave";
        spec.iss = "issuer";
        spec.aud = "chat";
        spec.name = "Dave \xc3\x9f";
        spec.jti = "tok-1";
        spec.sid = "s-1";
        spec.roles = "moderator,,admin,";
        spec.exp = LATER;
        spec.set_exp = 1;
        spec.iat = NOW;
        spec.set_iat = 1;
        spec.nbf = NOW - 1;
        spec.set_nbf = 1;

        t = keep(ngx_chat_jwt_sign(keys[k].alg, (unsigned char *) privs[k],
                                   strlen(privs[k]), &spec, &err));
        UNIT_CHECK(t != NULL, "cli sign %d: %s", k, t ? "" : err);

        memset(&c, 0, sizeof(c));
        expect_ok("cli path", &conf, t, &c);
        UNIT_CHECK(strcmp(c.sub, "dave") == 0
                   && strcmp(c.name, "Dave \xc3\x9f") == 0
                   && strcmp(c.jti, "tok-1") == 0
                   && strcmp(c.sid, "s-1") == 0
                   && c.exp == LATER && c.iat == NOW && c.nbf == NOW - 1
                   && c.roles == (NGX_CHAT_ROLE_ADMIN
                                  | NGX_CHAT_ROLE_MODERATOR),
                   "cli claims %d", k);

        /* --no-exp */
        spec.set_exp = 0;
        t = keep(ngx_chat_jwt_sign(keys[k].alg, (unsigned char *) privs[k],
                                   strlen(privs[k]), &spec, &err));
        expect_fail("cli no exp", &conf, t, t ? strlen(t) : 0,
                    "token has no exp claim");
    }

    /* numbers are JSON integers in the payload */
    memset(&spec, 0, sizeof(spec));
    spec.sub = "x";
    spec.exp = 4102444800LL;
    spec.set_exp = 1;
    t = keep(ngx_chat_jwt_sign(NGX_CHAT_JWT_HS256, (unsigned char *) SECRET,
                               strlen(SECRET), &spec, &err));
    if (t != NULL) {
        unsigned char  raw[512];
        const char    *p, *q;
        int            n;

        p = strchr(t, '.') + 1;
        q = strchr(p, '.');
        n = b64url_decode(p, q - p, raw);
        raw[n < 0 ? 0 : n] = '\0';
        UNIT_CHECK(strstr((char *) raw, "\"exp\":4102444800") != NULL,
                   "payload %s", raw);
    }

    /* invalid UTF-8 in a claim is refused by the signer */
    spec.name = "\xff";
    UNIT_CHECK(ngx_chat_jwt_sign(NGX_CHAT_JWT_HS256,
                                 (unsigned char *) SECRET, strlen(SECRET),
                                 &spec, &err) == NULL, "bad utf-8 signed");
}


static char *
write_temp(const char *data)
{
    int    fd;
    char  *path;

    path = keep(strdup("/tmp/test_jwt_XXXXXX"));
    fd = mkstemp(path);
    if (fd < 0) {
        return NULL;
    }

    if (write(fd, data, strlen(data)) != (ssize_t) strlen(data)) {
        close(fd);
        return NULL;
    }

    close(fd);

    return path;
}


static char *
run_cli(const char *bin, const char *args)
{
    FILE    *f;
    char     cmd[2048], out[4096];
    size_t   n;

    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", bin, args);

    f = popen(cmd, "r");
    if (f == NULL) {
        return NULL;
    }

    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';

    if (pclose(f) != 0) {
        return NULL;
    }

    if (n == 0 || out[n - 1] != '\n') {
        return NULL;
    }

    out[n - 1] = '\0';

    return keep(strdup(out));
}


/* a signing key (chat_accounts_key) verifies what it signs */
static void
test_signing_key(void)
{
    int                     k;
    char                   *t;
    const char             *e, *err;
    ngx_chat_jwt_key_t      key, other;
    ngx_chat_jwt_conf_t     conf;
    ngx_chat_jwt_spec_t     spec;
    ngx_chat_jwt_claims_t   c;
    ngx_chat_jwt_alg_e      algs[3];
    const char             *privs[3], *pubs[3];

    algs[0] = NGX_CHAT_JWT_HS256;
    algs[1] = NGX_CHAT_JWT_RS256;
    algs[2] = NGX_CHAT_JWT_ES256;
    privs[0] = SECRET;
    privs[1] = rsa1.priv;
    privs[2] = ec1.priv;
    pubs[0] = SECRET;
    pubs[1] = rsa2.pub;
    pubs[2] = ec2.pub;

    for (k = 0; k < 3; k++) {
        e = ngx_chat_jwt_signing_key_load(&key, algs[k],
                                          (const unsigned char *) privs[k],
                                          strlen(privs[k]));
        UNIT_CHECK(e == NULL && key.alg == algs[k]
                   && key.key == (unsigned char *) privs[k]
                   && (k == 0) == (key.pkey == NULL),
                   "signing key %d: %s", k, e ? e : "fields");

        memset(&spec, 0, sizeof(spec));
        spec.sub = "sam";
        spec.sid = "s-7";
        spec.jti = "s-7.1";
        spec.exp = LATER;
        spec.set_exp = 1;
        spec.iat = NOW;
        spec.set_iat = 1;

        t = keep(ngx_chat_jwt_sign(key.alg, key.key, key.key_len, &spec,
                                   &err));
        UNIT_CHECK(t != NULL, "signed %d: %s", k, t ? "" : err);

        conf_init(&conf, &key, 1);
        memset(&c, 0, sizeof(c));
        expect_ok("signing key verifies", &conf, t, &c);
        UNIT_CHECK(strcmp(c.sid, "s-7") == 0 && strcmp(c.jti, "s-7.1") == 0,
                   "signing key claims %d", k);

        if (k > 0) {
            /* another pair's public key does not verify it */
            other = key_of(algs[k], pubs[k]);
            conf_init(&conf, &other, 1);
            expect_fail("another pair", &conf, t, t ? strlen(t) : 0,
                        "bad token signature");
        }

        ngx_chat_jwt_pkey_free(key.pkey);
    }

    /* a public key cannot sign */
    e = ngx_chat_jwt_signing_key_load(&key, NGX_CHAT_JWT_ES256,
                                      (const unsigned char *) ec1.pub,
                                      strlen(ec1.pub));
    UNIT_CHECK(e != NULL && key.pkey == NULL, "a public key as signing key");

    /* nor a key of the other algorithm */
    e = ngx_chat_jwt_signing_key_load(&key, NGX_CHAT_JWT_RS256,
                                      (const unsigned char *) ec1.priv,
                                      strlen(ec1.priv));
    UNIT_CHECK(e != NULL && key.pkey == NULL, "an EC key for RS256");

    e = ngx_chat_jwt_signing_key_load(&key, NGX_CHAT_JWT_HS256,
                                      (const unsigned char *) "short", 5);
    UNIT_CHECK(e != NULL, "a short HS256 secret");
}


static void
test_cli_binary(void)
{
    int                     i;
    char                   *hs_file, *rs_file, *es_file, *t;
    char                    args[1024];
    const char             *bin;
    ngx_chat_jwt_key_t      keys[3];
    ngx_chat_jwt_conf_t     conf;
    ngx_chat_jwt_claims_t   c;
    const char             *err;

    bin = getenv("CHAT_TOKEN");
    if (bin == NULL || *bin == '\0') {
        printf("CHAT_TOKEN not set: chat-token binary not tested\n");
        return;
    }

    /* the secret file has a trailing newline, which both sides drop */
    hs_file = write_temp(SECRET "\n");
    rs_file = write_temp(rsa1.priv);
    es_file = write_temp(ec1.priv);

    keys[0] = key_of(NGX_CHAT_JWT_HS256, SECRET);
    keys[1] = key_of(NGX_CHAT_JWT_RS256, rsa1.pub);
    keys[2] = key_of(NGX_CHAT_JWT_ES256, ec1.pub);
    conf_init(&conf, keys, 3);

    {
        const char  *algs[3] = { "HS256", "RS256", "ES256" };
        const char  *files[3];

        files[0] = hs_file;
        files[1] = rs_file;
        files[2] = es_file;

        for (i = 0; i < 3; i++) {
            snprintf(args, sizeof(args),
                     "--alg %s --key %s --sub erin --name 'Erin E' "
                     "--roles admin --jti j9 --sid s9 --aud chat --iss me",
                     algs[i], files[i]);
            t = run_cli(bin, args);
            UNIT_CHECK(t != NULL, "cli %s ran", algs[i]);
            if (t == NULL) {
                continue;
            }

            /* the CLI uses the real clock; verify against it */
            memset(&c, 0, sizeof(c));
            UNIT_CHECK(ngx_chat_jwt_verify(&conf, t, strlen(t),
                                           (long long) time(NULL), &c, &err)
                       == 0, "cli %s token: %s", algs[i], err);
            UNIT_CHECK(strcmp(c.sub, "erin") == 0
                       && strcmp(c.name, "Erin E") == 0
                       && strcmp(c.jti, "j9") == 0
                       && strcmp(c.sid, "s9") == 0
                       && c.roles == NGX_CHAT_ROLE_ADMIN
                       && c.exp == c.iat + 3600, "cli %s claims", algs[i]);
        }
    }

    snprintf(args, sizeof(args), "--alg HS256 --key %s --sub erin "
             "--exp %lld --iat %lld --nbf %lld", hs_file, LATER, NOW, NOW);
    t = run_cli(bin, args);
    expect_ok("cli fixed times", &conf, t, &c);
    UNIT_CHECK(c.exp == LATER && c.iat == NOW && c.nbf == NOW, "cli times");

    snprintf(args, sizeof(args), "--alg HS256 --key %s --sub erin --no-exp",
             hs_file);
    t = run_cli(bin, args);
    expect_fail("cli --no-exp", &conf, t, t ? strlen(t) : 0,
                "token has no exp claim");

    snprintf(args, sizeof(args), "--alg HS256 --key %s --sub erin --ttl 0",
             hs_file);
    t = run_cli(bin, args);
    if (t != NULL) {
        UNIT_CHECK(ngx_chat_jwt_verify(&conf, t, strlen(t),
                                       (long long) time(NULL) + 1, &c, &err)
                   == -1, "cli ttl 0 is expired");
    }

    /* bad invocations fail */
    snprintf(args, sizeof(args), "--alg ES256 --key %s --sub x", rs_file);
    UNIT_CHECK(run_cli(bin, args) == NULL, "cli ES256 with RSA key");
    snprintf(args, sizeof(args), "--alg none --key %s --sub x", hs_file);
    UNIT_CHECK(run_cli(bin, args) == NULL, "cli alg none");
    snprintf(args, sizeof(args), "--alg HS256 --key %s", hs_file);
    UNIT_CHECK(run_cli(bin, args) == NULL, "cli no sub");

    unlink(hs_file);
    unlink(rs_file);
    unlink(es_file);
}


int
main(void)
{
    int  i;

    make_keys();

    test_basics();
    test_key_check();
    test_valid();
    test_alg_attacks();
    test_signatures();
    test_garbage();
    test_times();
    test_iss_aud();
    test_sub_name_roles();
    test_key_choice();
    test_es256_format();
    test_key_load();
    test_es256_sigs();
    test_rs256_sigs();
    test_hs256_sigs();
    test_hs256_key_lengths();
    test_cli_path();
    test_cli_binary();
    test_signing_key();
    test_timing();

    free_keys();

    for (i = 0; i < test_nkept; i++) {
        free(test_kept[i]);
    }

    return UNIT_DONE();
}
