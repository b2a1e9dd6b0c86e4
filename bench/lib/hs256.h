/*
 * HS256 JSON Web Tokens for the benchmark programs: chat-bench signs one
 * per connection, echo-fanout reads the claims of the one it is given
 * (without verifying it).
 */

#ifndef BENCH_HS256_H
#define BENCH_HS256_H

#include <stddef.h>
#include <sys/types.h>


#define HS256_JWT_MAX   512             /* a token of claims up to 256 */


size_t hs256_b64url(unsigned char *dst, const unsigned char *src,
    size_t len);
size_t hs256_sign(char *dst, size_t cap, const char *claims, size_t len,
    const unsigned char *secret, size_t slen);
ssize_t hs256_claims(const char *tok, size_t len, unsigned char *dst,
    size_t cap);


#endif /* BENCH_HS256_H */
