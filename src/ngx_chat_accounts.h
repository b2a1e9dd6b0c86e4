/*
 * Accounts (protocol.md section 10, chat_accounts on): the statements of
 * sql/012 and their answers (ngx_chat_accounts.c), called by the REST
 * calls under /auth/ (ngx_chat_api_accounts.c).
 */

#ifndef _NGX_CHAT_ACCOUNTS_H_INCLUDED_
#define _NGX_CHAT_ACCOUNTS_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_op.h"


/* a password's bytes: bcrypt hashes their SHA-256, so all of them count */
#define NGX_CHAT_ACCOUNTS_PASSWORD_MIN  8
#define NGX_CHAT_ACCOUNTS_PASSWORD_MAX  1024

/* a refresh token is 43 bytes; anything much longer is not one */
#define NGX_CHAT_ACCOUNTS_REFRESH_MAX   256


/* what an /auth/ call asks for, checked; strings NUL-terminated */
typedef struct {
    const char     *user;
    const char     *password;
    const char     *name;         /* NULL: none */
    const char     *refresh;
    const char     *sid;          /* logout: the token's session */
    ngx_str_t       addr;         /* the client's address */
} ngx_chat_accounts_req_t;


/* each answers op: 201, 200 with tokens, or an error */
void ngx_chat_accounts_register(ngx_chat_op_t *op,
    ngx_chat_accounts_req_t *req);
void ngx_chat_accounts_login(ngx_chat_op_t *op, ngx_chat_accounts_req_t *req);
void ngx_chat_accounts_refresh(ngx_chat_op_t *op,
    ngx_chat_accounts_req_t *req);
/* op->user's session req->sid ends, on every host */
void ngx_chat_accounts_logout(ngx_chat_op_t *op,
    ngx_chat_accounts_req_t *req);

#endif /* _NGX_CHAT_ACCOUNTS_H_INCLUDED_ */
