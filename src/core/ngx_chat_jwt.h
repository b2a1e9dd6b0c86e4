
/*
 * ngx_chat: JWT verification and signing.
 *
 * Knows nothing of nginx: standard C, libjwt, jansson and OpenSSL only,
 * so that unit tests, fuzzers and the chat-token CLI can use it directly.
 *
 * Verification does not use libjwt: the header, the signature (HMAC,
 * RSASSA-PKCS1-v1_5 or ECDSA, with OpenSSL) and every claim are checked
 * here.  RS256 and ES256 public keys are parsed once, by
 * ngx_chat_jwt_key_load(), when the configuration is read.  Signing
 * (chat-token, tests) still uses libjwt, which trusts the token's "alg"
 * header and checks no claims (see design.md, "Traps we know about").
 */


#ifndef _NGX_CHAT_JWT_H_INCLUDED_
#define _NGX_CHAT_JWT_H_INCLUDED_


#include <stddef.h>

#include "ngx_chat_ids.h"


/* the claims kept, in bytes: sub is a user id */
#define NGX_CHAT_JWT_SUB_MAX      NGX_CHAT_USER_ID_MAX
#define NGX_CHAT_JWT_NAME_MAX     128
#define NGX_CHAT_JWT_JTI_MAX      128

#define NGX_CHAT_JWT_MAX_LEN      8192     /* used when max_len is 0 */
#define NGX_CHAT_JWT_LEEWAY       60
#define NGX_CHAT_JWT_HS_MIN_KEY   32
#define NGX_CHAT_JWT_RSA_MIN_BITS 2048

#define NGX_CHAT_ROLE_ADMIN       0x1
#define NGX_CHAT_ROLE_MODERATOR   0x2


typedef enum {
    NGX_CHAT_JWT_HS256 = 1,
    NGX_CHAT_JWT_RS256,
    NGX_CHAT_JWT_ES256
} ngx_chat_jwt_alg_e;


typedef struct {
    ngx_chat_jwt_alg_e         alg;
    /* HS256: secret bytes; RS256/ES256: PEM public key text */
    unsigned char             *key;
    size_t                     key_len;
    /*
     * RS256/ES256: the parsed public key, an EVP_PKEY *, set by
     * ngx_chat_jwt_key_load() and freed with ngx_chat_jwt_pkey_free();
     * verification uses only this, never the PEM text.  A key of these
     * algorithms with pkey NULL is never tried.  HS256: NULL.
     */
    void                      *pkey;
} ngx_chat_jwt_key_t;


typedef struct {
    const ngx_chat_jwt_key_t  *keys;
    size_t                     nkeys;
    const char                *iss;      /* NULL: not checked */
    const char                *aud;      /* NULL: not checked */
    long long                  leeway;   /* seconds, for nbf and iat */
    size_t                     max_len;  /* 0: NGX_CHAT_JWT_MAX_LEN */
} ngx_chat_jwt_conf_t;


typedef struct {
    char                       sub[NGX_CHAT_JWT_SUB_MAX + 1];
    char                       name[NGX_CHAT_JWT_NAME_MAX + 1];  /* or "" */
    char                       jti[NGX_CHAT_JWT_JTI_MAX + 1];    /* or "" */
    char                       sid[NGX_CHAT_JWT_JTI_MAX + 1];    /* or "" */
    long long                  exp;
    long long                  iat;        /* 0 if absent */
    long long                  nbf;        /* 0 if absent */
    unsigned                   roles;      /* NGX_CHAT_ROLE_* */
} ngx_chat_jwt_claims_t;


/* what chat-token puts in a token; NULL strings are left out */
typedef struct {
    const char                *sub;
    const char                *iss;
    const char                *aud;
    const char                *name;
    const char                *jti;
    const char                *sid;      /* the session (chat_accounts) */
    const char                *roles;    /* comma-separated */
    long long                  exp;
    long long                  nbf;
    long long                  iat;
    unsigned                   set_exp:1;
    unsigned                   set_nbf:1;
    unsigned                   set_iat:1;
} ngx_chat_jwt_spec_t;


int ngx_chat_jwt_alg_parse(const char *name, ngx_chat_jwt_alg_e *alg);
const char *ngx_chat_jwt_alg_name(ngx_chat_jwt_alg_e alg);

/*
 * The length of a key file's content without its trailing CR/LF bytes;
 * applied to HS256 secrets by both the module and chat-token.
 */
size_t ngx_chat_jwt_key_trim(const unsigned char *key, size_t len);

/*
 * Checks a (trimmed) key for alg at configuration time: NULL if usable,
 * else a static error text.  HS256: at least 32 bytes; RS256: a PEM RSA
 * public key of at least 2048 bits; ES256: a PEM EC public key on P-256.
 */
const char *ngx_chat_jwt_key_check(ngx_chat_jwt_alg_e alg,
    const unsigned char *key, size_t len);

/*
 * The same checks, and fills in *key for verification: alg, key and
 * key_len (data itself, not a copy: it must outlive *key) and, for RS256
 * and ES256, pkey, the public key parsed here once.  NULL if usable, else
 * a static error text and *key is zeroed, with nothing to free.
 *
 * The caller owns key->pkey and frees it with ngx_chat_jwt_pkey_free()
 * when the configuration goes; NULL is fine.  The parsed key is only read
 * while verifying, so processes forked after loading may share it.
 */
const char *ngx_chat_jwt_key_load(ngx_chat_jwt_key_t *key,
    ngx_chat_jwt_alg_e alg, const unsigned char *data, size_t len);

/*
 * As ngx_chat_jwt_key_load(), for a key that signs: the HS256 secret, or
 * for RS256 and ES256 a PEM private key (key->key, for signing), whose
 * public half (key->pkey) verifies.
 */
const char *ngx_chat_jwt_signing_key_load(ngx_chat_jwt_key_t *key,
    ngx_chat_jwt_alg_e alg, const unsigned char *data, size_t len);

/* frees key->pkey; the signature of an ngx_pool_cleanup_pt handler */
void ngx_chat_jwt_pkey_free(void *pkey);

/*
 * 0: the token is valid and claims are filled in; -1: *err is a static
 * text, free of token and claim content.  token need not be NUL-terminated.
 * conf->keys come from ngx_chat_jwt_key_load().
 */
int ngx_chat_jwt_verify(const ngx_chat_jwt_conf_t *conf, const char *token,
    size_t len, long long now, ngx_chat_jwt_claims_t *claims,
    const char **err);

/*
 * Signing (chat-token and tests).  key: the HS256 secret or a PEM private
 * key.  Return a malloc()ed NUL-terminated token to free(), or NULL with
 * *err set.
 */
char *ngx_chat_jwt_sign_json(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t key_len, const char *claims_json, const char **err);
char *ngx_chat_jwt_sign(ngx_chat_jwt_alg_e alg, const unsigned char *key,
    size_t key_len, const ngx_chat_jwt_spec_t *spec, const char **err);


#endif /* _NGX_CHAT_JWT_H_INCLUDED_ */
