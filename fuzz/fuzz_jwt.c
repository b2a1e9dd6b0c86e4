/*
 * JWT verification (src/core/ngx_chat_jwt.c) with a fixed HS256 secret
 * and fixed RS256 and ES256 public keys (fuzz_keys.h).  A token verifies
 * only if its signature is one that the key of its "alg" makes: checked
 * here again with OpenSSL on every success.  Tokens the harness signs
 * itself from the input's header and claims: with the right keys they may
 * verify; alg "none", HS256 keyed with the public keys' bytes or another
 * secret, and a signature of one algorithm under another's name never do.
 *
 * Input: byte 0 picks raw (even) or signed (odd), byte 1 how it is
 * signed; the rest is the token, or header JSON, NUL, claims JSON (the
 * header is fixed for a signature under another algorithm's name).
 */

#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "fuzz_keys.h"
#include "ngx_chat_jwt.h"


#define FUZZ_NOW     1767139200LL
#define FUZZ_SECRET  "fuzz-secret-0123456789abcdef-0123456789"
#define FUZZ_OTHER   "fuzz-other-secret-0123456789abcdef-01234"

/* how a signed input is signed; the first three may verify */
enum {
    SIGN_HS256 = 0,
    SIGN_RS256,
    SIGN_ES256,
    SIGN_NONE,
    SIGN_HS_RSA_PEM,
    SIGN_HS_EC_PEM,
    SIGN_HS_OTHER,
    SIGN_RS_AS_ES,
    SIGN_ES_AS_RS,
    SIGN_HS_AS_RS,
    SIGN_LAST
};


static void fuzz_init(void);
static EVP_PKEY *pem_private(const char *pem);
static size_t b64url(char *out, const uint8_t *p, size_t n);
static int b64url_decode(const char *s, size_t n, uint8_t *out, size_t *len);
static size_t sign(int how, const char *msg, size_t n, uint8_t *sig);
static int sig_genuine(const char *token, size_t len);
static int verify(const char *token, size_t len, ngx_chat_jwt_claims_t *c);
static void signed_token(const uint8_t *data, size_t size, int how);


static ngx_chat_jwt_key_t   keys[3];
static ngx_chat_jwt_conf_t  conf;
static EVP_PKEY            *rsa_priv, *ec_priv;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_chat_jwt_claims_t  claims;

    if (size < 2) {
        return 0;
    }

    fuzz_init();

    if (data[0] & 1) {
        signed_token(data + 2, size - 2, data[1] % SIGN_LAST);

    } else if (verify((const char *) data + 2, size - 2, &claims) == 0) {
        FUZZ_CHECK(sig_genuine((const char *) data + 2, size - 2),
                   "a token verified without a signature of its key");
    }

    return 0;
}


static void
fuzz_init(void)
{
    const char  *e;

    if (rsa_priv != NULL) {
        return;
    }

    e = ngx_chat_jwt_key_load(&keys[0], NGX_CHAT_JWT_HS256,
                              (const unsigned char *) FUZZ_SECRET,
                              sizeof(FUZZ_SECRET) - 1);
    FUZZ_CHECK(e == NULL, e);
    e = ngx_chat_jwt_key_load(&keys[1], NGX_CHAT_JWT_RS256,
                              (const unsigned char *) FUZZ_RSA_PUB,
                              sizeof(FUZZ_RSA_PUB) - 1);
    FUZZ_CHECK(e == NULL, e);
    e = ngx_chat_jwt_key_load(&keys[2], NGX_CHAT_JWT_ES256,
                              (const unsigned char *) FUZZ_EC_PUB,
                              sizeof(FUZZ_EC_PUB) - 1);
    FUZZ_CHECK(e == NULL, e);

    conf.keys = keys;
    conf.nkeys = 3;
    conf.leeway = NGX_CHAT_JWT_LEEWAY;

    ec_priv = pem_private(FUZZ_EC_PRIV);
    rsa_priv = pem_private(FUZZ_RSA_PRIV);
}


static EVP_PKEY *
pem_private(const char *pem)
{
    BIO       *bio;
    EVP_PKEY  *k;

    bio = BIO_new_mem_buf(pem, -1);
    k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FUZZ_CHECK(k != NULL, "fuzz_keys.h: a bad private key");

    return k;
}


static int
verify(const char *token, size_t len, ngx_chat_jwt_claims_t *claims)
{
    int          rc;
    char        *copy;
    const char  *err;

    /* an exact copy: ASan sees any read past the token */
    copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, token, len);

    err = NULL;
    rc = ngx_chat_jwt_verify(&conf, copy, len, FUZZ_NOW, claims, &err);
    free(copy);

    FUZZ_CHECK(rc == 0 || (rc == -1 && err != NULL), "no reason to refuse");

    if (rc == 0) {
        FUZZ_CHECK(claims->sub[0] != '\0', "verified without a subject");
    }

    return rc;
}


/* header.claims from the input, signed as "how" says, then verified */

static void
signed_token(const uint8_t *data, size_t size, int how)
{
    int                     rc;
    char                   *token, *p;
    size_t                  n;
    uint8_t                 sig[600];
    const char             *cross, *h;
    const uint8_t          *nul;
    ngx_chat_jwt_claims_t   claims;

    static const char       hs[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char       rs[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    static const char       es[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";

    /* a signature of one algorithm under the name of another */
    cross = (how == SIGN_RS_AS_ES) ? es
            : (how == SIGN_ES_AS_RS || how == SIGN_HS_AS_RS) ? rs : NULL;

    nul = memchr(data, '\0', size);

    token = malloc(2 * (size + sizeof(hs)) + 1000);
    FUZZ_CHECK(token != NULL, "out of memory");

    if (nul == NULL || cross) {
        h = cross ? cross : hs;
        p = token + b64url(token, (const uint8_t *) h, strlen(h));
        *p++ = '.';

    } else {
        p = token + b64url(token, data, nul - data);
        *p++ = '.';
    }

    if (nul == NULL) {
        p += b64url(p, data, size);

    } else {
        p += b64url(p, nul + 1, size - (nul - data) - 1);
    }

    n = sign(how, token, p - token, sig);
    *p++ = '.';
    p += b64url(p, sig, n);

    rc = verify(token, p - token, &claims);

    if (rc == 0) {
        FUZZ_CHECK(how == SIGN_HS256 || how == SIGN_RS256
                   || how == SIGN_ES256, "a forged token verified");
        FUZZ_CHECK(sig_genuine(token, p - token), "verified, not genuine");
    }

    free(token);
}


static size_t
sign(int how, const char *msg, size_t n, uint8_t *sig)
{
    int                   rsa;
    size_t                len;
    unsigned int          hlen;
    EVP_MD_CTX           *md;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *der;
    unsigned char         buf[600];

    switch (how) {

    case SIGN_NONE:
        return 0;

    case SIGN_HS256:
    case SIGN_HS_RSA_PEM:
    case SIGN_HS_EC_PEM:
    case SIGN_HS_OTHER:
    case SIGN_HS_AS_RS:
        der = (const unsigned char *)
              (how == SIGN_HS256 || how == SIGN_HS_AS_RS ? FUZZ_SECRET
               : how == SIGN_HS_RSA_PEM ? FUZZ_RSA_PUB
               : how == SIGN_HS_EC_PEM ? FUZZ_EC_PUB : FUZZ_OTHER);
        HMAC(EVP_sha256(), der, (int) strlen((const char *) der),
             (const unsigned char *) msg, n, sig, &hlen);
        return hlen;

    default:
        break;
    }

    rsa = (how == SIGN_RS256 || how == SIGN_RS_AS_ES);

    md = EVP_MD_CTX_new();
    len = sizeof(buf);
    FUZZ_CHECK(md != NULL
               && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
                                     rsa ? rsa_priv : ec_priv) == 1
               && EVP_DigestSign(md, buf, &len, (const unsigned char *) msg,
                                 n) == 1, "signing failed");
    EVP_MD_CTX_free(md);

    if (rsa) {
        memcpy(sig, buf, len);
        return len;
    }

    /* JWS wants r || s, 32 bytes each, not DER */
    der = buf;
    es = d2i_ECDSA_SIG(NULL, &der, (long) len);
    FUZZ_CHECK(es != NULL, "ECDSA signature");
    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    ECDSA_SIG_free(es);

    return 64;
}


/*
 * The signature of token (known to have three segments) checked here
 * with OpenSSL: whatever the header says, it must be an HMAC with the
 * secret, or verify with the RSA or the EC public key.
 */
static int
sig_genuine(const char *token, size_t len)
{
    int            ok;
    size_t         mlen, slen, n;
    uint8_t        sig[1024], mac[EVP_MAX_MD_SIZE];
    EVP_MD_CTX    *md;
    ECDSA_SIG     *es;
    const char    *dot;
    unsigned int   maclen;
    unsigned char  der[200], *d;

    dot = memchr(token, '.', len);
    FUZZ_CHECK(dot != NULL, "verified without a dot");
    dot = memchr(dot + 1, '.', len - (dot + 1 - token));
    FUZZ_CHECK(dot != NULL, "verified without a second dot");

    mlen = dot - token;
    slen = len - mlen - 1;

    if (slen > 4 * sizeof(sig) / 3
        || b64url_decode(dot + 1, slen, sig, &n) != 0)
    {
        return 0;
    }

    HMAC(EVP_sha256(), FUZZ_SECRET, sizeof(FUZZ_SECRET) - 1,
         (const unsigned char *) token, mlen, mac, &maclen);

    if (n == maclen && memcmp(sig, mac, n) == 0) {
        return 1;
    }

    md = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, keys[1].pkey) == 1
         && EVP_DigestVerify(md, sig, n, (const unsigned char *) token, mlen)
            == 1;
    EVP_MD_CTX_free(md);

    if (ok || n != 64) {
        ERR_clear_error();
        return ok;
    }

    es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
                   BN_bin2bn(sig + 32, 32, NULL));
    d = der;
    n = i2d_ECDSA_SIG(es, &d);
    ECDSA_SIG_free(es);

    md = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, keys[2].pkey) == 1
         && EVP_DigestVerify(md, der, n, (const unsigned char *) token, mlen)
            == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return ok;
}


static size_t
b64url(char *out, const uint8_t *p, size_t n)
{
    size_t       i, o;
    uint32_t     v;

    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) p[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }

    return o;
}


/* lenient on purpose: what the module accepts must at least decode here */
static int
b64url_decode(const char *s, size_t n, uint8_t *out, size_t *len)
{
    int       c, bits;
    size_t    i, o;
    uint32_t  v;

    v = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c >= 'A' && c <= 'Z') {
            c -= 'A';
        } else if (c >= 'a' && c <= 'z') {
            c = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            c = c - '0' + 52;
        } else if (c == '-') {
            c = 62;
        } else if (c == '_') {
            c = 63;
        } else {
            return -1;
        }

        v = (v << 6) | (uint32_t) c;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t) (v >> bits);
        }
    }

    *len = o;

    return 0;
}
