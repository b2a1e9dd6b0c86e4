
/*
 * chat-token: sign a JWT for ngx_chat (development and tests); the
 * command line of both build/chat-token (main in chat-token-main.c) and
 * "chatctl token".
 *
 * The claims and signing code live in src/core/ngx_chat_jwt.c, shared with the
 * unit tests, so that what this tool makes is what the tests verify.
 */


#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_chat_jwt.h"
#include "ngx_chat_token.h"


#define NGX_CHAT_TOKEN_KEY_MAX  (64 * 1024)


static void ngx_chat_token_usage(FILE *f);
static int ngx_chat_token_number(const char *opt, const char *s,
    long long *n);
static unsigned char *ngx_chat_token_read(const char *path, size_t *len);


enum {
    NGX_CHAT_TOKEN_ALG = 256,
    NGX_CHAT_TOKEN_KEY,
    NGX_CHAT_TOKEN_SUB,
    NGX_CHAT_TOKEN_TTL,
    NGX_CHAT_TOKEN_EXP,
    NGX_CHAT_TOKEN_NO_EXP,
    NGX_CHAT_TOKEN_NBF,
    NGX_CHAT_TOKEN_IAT,
    NGX_CHAT_TOKEN_NO_IAT,
    NGX_CHAT_TOKEN_ISS,
    NGX_CHAT_TOKEN_AUD,
    NGX_CHAT_TOKEN_NAME,
    NGX_CHAT_TOKEN_ROLES,
    NGX_CHAT_TOKEN_JTI,
    NGX_CHAT_TOKEN_SID,
    NGX_CHAT_TOKEN_HELP
};


static const struct option  ngx_chat_token_options[] = {
    { "alg",    required_argument, NULL, NGX_CHAT_TOKEN_ALG },
    { "key",    required_argument, NULL, NGX_CHAT_TOKEN_KEY },
    { "sub",    required_argument, NULL, NGX_CHAT_TOKEN_SUB },
    { "ttl",    required_argument, NULL, NGX_CHAT_TOKEN_TTL },
    { "exp",    required_argument, NULL, NGX_CHAT_TOKEN_EXP },
    { "no-exp", no_argument,       NULL, NGX_CHAT_TOKEN_NO_EXP },
    { "nbf",    required_argument, NULL, NGX_CHAT_TOKEN_NBF },
    { "iat",    required_argument, NULL, NGX_CHAT_TOKEN_IAT },
    { "no-iat", no_argument,       NULL, NGX_CHAT_TOKEN_NO_IAT },
    { "iss",    required_argument, NULL, NGX_CHAT_TOKEN_ISS },
    { "aud",    required_argument, NULL, NGX_CHAT_TOKEN_AUD },
    { "name",   required_argument, NULL, NGX_CHAT_TOKEN_NAME },
    { "roles",  required_argument, NULL, NGX_CHAT_TOKEN_ROLES },
    { "jti",    required_argument, NULL, NGX_CHAT_TOKEN_JTI },
    { "sid",    required_argument, NULL, NGX_CHAT_TOKEN_SID },
    { "help",   no_argument,       NULL, NGX_CHAT_TOKEN_HELP },
    { NULL, 0, NULL, 0 }
};


/* how messages name the program */
const char  *ngx_chat_token_prog = "chat-token";


int
ngx_chat_token_main(int argc, char **argv)
{
    int                  c, no_exp, no_iat, have_exp, have_iat;
    char                *token;
    size_t               key_len, file_len;
    long long            now, ttl, exp, iat;
    const char          *alg_name, *key_file, *err;
    unsigned char       *key;
    ngx_chat_jwt_alg_e   alg;
    ngx_chat_jwt_spec_t  spec;

    memset(&spec, 0, sizeof(ngx_chat_jwt_spec_t));

    alg_name = NULL;
    key_file = NULL;
    ttl = 3600;
    exp = 0;
    iat = 0;
    no_exp = 0;
    no_iat = 0;
    have_exp = 0;
    have_iat = 0;

    opterr = 0;

    while ((c = getopt_long(argc, argv, "", ngx_chat_token_options, NULL))
           != -1)
    {
        switch (c) {

        case NGX_CHAT_TOKEN_ALG:
            alg_name = optarg;
            break;

        case NGX_CHAT_TOKEN_KEY:
            key_file = optarg;
            break;

        case NGX_CHAT_TOKEN_SUB:
            spec.sub = optarg;
            break;

        case NGX_CHAT_TOKEN_TTL:
            if (ngx_chat_token_number("--ttl", optarg, &ttl) != 0) {
                return 2;
            }
            break;

        case NGX_CHAT_TOKEN_EXP:
            if (ngx_chat_token_number("--exp", optarg, &exp) != 0) {
                return 2;
            }
            have_exp = 1;
            break;

        case NGX_CHAT_TOKEN_NO_EXP:
            no_exp = 1;
            break;

        case NGX_CHAT_TOKEN_NBF:
            if (ngx_chat_token_number("--nbf", optarg, &spec.nbf) != 0) {
                return 2;
            }
            spec.set_nbf = 1;
            break;

        case NGX_CHAT_TOKEN_IAT:
            if (ngx_chat_token_number("--iat", optarg, &iat) != 0) {
                return 2;
            }
            have_iat = 1;
            break;

        case NGX_CHAT_TOKEN_NO_IAT:
            no_iat = 1;
            break;

        case NGX_CHAT_TOKEN_ISS:
            spec.iss = optarg;
            break;

        case NGX_CHAT_TOKEN_AUD:
            spec.aud = optarg;
            break;

        case NGX_CHAT_TOKEN_NAME:
            spec.name = optarg;
            break;

        case NGX_CHAT_TOKEN_ROLES:
            spec.roles = optarg;
            break;

        case NGX_CHAT_TOKEN_JTI:
            spec.jti = optarg;
            break;

        case NGX_CHAT_TOKEN_SID:
            spec.sid = optarg;
            break;

        case NGX_CHAT_TOKEN_HELP:
            ngx_chat_token_usage(stdout);
            return 0;

        default:
            fprintf(stderr, "%s: unknown or incomplete option %s\n",
                    ngx_chat_token_prog,
                    argv[optind - 1]);
            ngx_chat_token_usage(stderr);
            return 2;
        }
    }

    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument %s\n",
                ngx_chat_token_prog, argv[optind]);
        ngx_chat_token_usage(stderr);
        return 2;
    }

    if (alg_name == NULL || key_file == NULL || spec.sub == NULL) {
        fprintf(stderr, "%s: --alg, --key and --sub are required\n",
                ngx_chat_token_prog);
        ngx_chat_token_usage(stderr);
        return 2;
    }

    if (ngx_chat_jwt_alg_parse(alg_name, &alg) != 0) {
        fprintf(stderr, "%s: unknown algorithm \"%s\" "
                "(HS256, RS256 or ES256)\n", ngx_chat_token_prog, alg_name);
        return 2;
    }

    if (have_exp && no_exp) {
        fprintf(stderr, "%s: --exp and --no-exp conflict\n",
                ngx_chat_token_prog);
        return 2;
    }

    if (have_iat && no_iat) {
        fprintf(stderr, "%s: --iat and --no-iat conflict\n",
                ngx_chat_token_prog);
        return 2;
    }

    now = (long long) time(NULL);

    if (!no_exp) {
        spec.set_exp = 1;
        spec.exp = have_exp ? exp : now + ttl;
    }

    if (!no_iat) {
        spec.set_iat = 1;
        spec.iat = have_iat ? iat : now;
    }

    key = ngx_chat_token_read(key_file, &file_len);
    if (key == NULL) {
        return 1;
    }

    key_len = file_len;

    /* the same rule as the module's, so one secret file serves both */

    if (alg == NGX_CHAT_JWT_HS256) {
        key_len = ngx_chat_jwt_key_trim(key, key_len);
    }

    token = ngx_chat_jwt_sign(alg, key, key_len, &spec, &err);

    /* the key is secret: do not leave it in freed memory */
    memset(key, 0, file_len);
    free(key);

    if (token == NULL) {
        fprintf(stderr, "%s: %s: %s\n", ngx_chat_token_prog, key_file, err);
        return 1;
    }

    if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
        free(token);
        fprintf(stderr, "%s: write error: %s\n",
                ngx_chat_token_prog, strerror(errno));
        return 1;
    }

    free(token);

    return 0;
}


static void
ngx_chat_token_usage(FILE *f)
{
    fprintf(f,
        "usage: %s --alg HS256|RS256|ES256 --key FILE --sub USER\n"
        "                  [--ttl SECONDS] [--exp N | --no-exp] [--nbf N]\n"
        "                  [--iat N | --no-iat] [--iss S] [--aud S]\n"
        "                  [--name S] [--roles a,b] [--jti S] [--sid S]\n"
        "\n"
        "Prints a signed JWT.  FILE is the HS256 secret (trailing newlines\n"
        "are ignored) or a PEM private key for RS256/ES256.  By default\n"
        "iat is now and exp is now + ttl (3600).\n", ngx_chat_token_prog);
}


static int
ngx_chat_token_number(const char *opt, const char *s, long long *n)
{
    char  *end;

    errno = 0;
    *n = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "%s: %s needs an integer, not \"%s\"\n",
                ngx_chat_token_prog,
                opt, s);
        return -1;
    }

    return 0;
}


static unsigned char *
ngx_chat_token_read(const char *path, size_t *len)
{
    FILE           *f;
    size_t          n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n",
                ngx_chat_token_prog, path, strerror(errno));
        return NULL;
    }

    /* one byte more than allowed, to tell a full file from a cut one */

    buf = malloc(NGX_CHAT_TOKEN_KEY_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "%s: out of memory\n", ngx_chat_token_prog);
        return NULL;
    }

    n = fread(buf, 1, NGX_CHAT_TOKEN_KEY_MAX + 1, f);

    if (ferror(f)) {
        fprintf(stderr, "%s: %s: read error\n", ngx_chat_token_prog, path);
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);

    if (n > NGX_CHAT_TOKEN_KEY_MAX) {
        fprintf(stderr, "%s: %s: key file too large\n",
                ngx_chat_token_prog, path);
        memset(buf, 0, n);
        free(buf);
        return NULL;
    }

    *len = n;

    return buf;
}
