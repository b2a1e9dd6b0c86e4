/*
 * HS256 JSON Web Tokens (see hs256.h).
 */

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hs256.h"


/* base64url without padding; returns the characters written */

size_t
hs256_b64url(unsigned char *dst, const unsigned char *src, size_t len)
{
    uint32_t            v;
    unsigned char      *d;
    static const char   tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    d = dst;

    while (len >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
        *d++ = tab[v & 63];
        src += 3;
        len -= 3;
    }

    if (len == 1) {
        v = (uint32_t) src[0] << 16;
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];

    } else if (len == 2) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8;
        *d++ = tab[(v >> 18) & 63];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
    }

    return d - dst;
}


/*
 * header.claims.signature, NUL-terminated, for the claims JSON given;
 * returns its length, 0 when dst (at least HS256_JWT_MAX) or the claims
 * (at most 256 bytes) do not fit, or HMAC failed
 */

size_t
hs256_sign(char *dst, size_t cap, const char *claims, size_t len,
    const unsigned char *secret, size_t slen)
{
    size_t              n;
    unsigned int        maclen;
    unsigned char       mac[EVP_MAX_MD_SIZE];
    static const char   hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    if (cap < HS256_JWT_MAX || len > 256) {
        return 0;
    }

    n = hs256_b64url((unsigned char *) dst, (const unsigned char *) hdr,
                     sizeof(hdr) - 1);
    dst[n++] = '.';
    n += hs256_b64url((unsigned char *) dst + n,
                      (const unsigned char *) claims, len);

    if (HMAC(EVP_sha256(), secret, (int) slen, (unsigned char *) dst, n,
             mac, &maclen)
        == NULL)
    {
        return 0;
    }

    dst[n++] = '.';
    n += hs256_b64url((unsigned char *) dst + n, mac, maclen);
    dst[n] = '\0';

    return n;
}


/*
 * The claims JSON of a token, decoded into dst and NUL-terminated (the
 * signature is not checked); its length, or -1
 */

ssize_t
hs256_claims(const char *tok, size_t len, unsigned char *dst, size_t cap)
{
    int          n;
    char         b64[2048];
    size_t       i, l;
    const char  *d1, *d2;

    d1 = memchr(tok, '.', len);
    if (d1 == NULL) {
        return -1;
    }

    d2 = memchr(d1 + 1, '.', tok + len - d1 - 1);
    if (d2 == NULL || (size_t) (d2 - d1 - 1) > sizeof(b64) - 4) {
        return -1;
    }

    l = d2 - d1 - 1;

    if ((l + 3) / 4 * 3 + 1 > cap) {
        return -1;
    }

    for (i = 0; i < l; i++) {
        b64[i] = d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
    }
    while (l % 4) {
        b64[l++] = '=';
    }

    n = EVP_DecodeBlock(dst, (unsigned char *) b64, (int) l);
    if (n <= 0) {
        return -1;
    }

    dst[n] = '\0';

    return n;
}
