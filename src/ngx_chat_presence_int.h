/*
 * What the presence files share, and no other area sees: the worker's
 * presence state (its counts, the changes not sent yet, its instance id
 * in Redis) and the calls from one presence file into another.  The rest
 * of the module goes through ngx_chat_presence.h.
 */

#ifndef _NGX_CHAT_PRESENCE_INT_H_INCLUDED_
#define _NGX_CHAT_PRESENCE_INT_H_INCLUDED_

#include "ngx_chat.h"
#include "ngx_chat_presence.h"
#include "ngx_chat_redis.h"


#define NGX_CHAT_PRESENCE_ID_LEN    32
#define NGX_CHAT_PRESENCE_RETIRE    8       /* old ids kept to retire */


typedef struct ngx_chat_presence_user_s  ngx_chat_presence_user_t;

/*
 * A user with authenticated connections on this worker: the user is
 * online ("u <user>") while its list of sessions is not empty, and
 * present in a room ("r <kind> <room> <user>") while one of them has a
 * live member in it.  The room counts are the sessions' member lists,
 * read where a count would move: most users have one session here, and
 * a session has few rooms.
 */
struct ngx_chat_presence_user_s {
    ngx_chat_presence_user_t   *next;
    ngx_chat_session_t         *sessions;   /* by their unext */
    uint32_t                    hash;
    uint32_t                    len;
    u_char                      user[1];
};


typedef struct {
    ngx_chat_presence_user_t  **buckets;
    ngx_uint_t                  nbuckets;
    ngx_uint_t                  nentries;   /* users */

    /* changes not sent yet: "+key\0" or "-key\0" */
    u_char                     *ops;
    size_t                      ops_len;
    size_t                      ops_cap;
    ngx_uint_t                  nops;

    ngx_event_t                 flush;
    ngx_event_t                 beat;

    u_char                      id[NGX_CHAT_PRESENCE_ID_LEN];
    size_t                      id_len;
    ngx_uint_t                  gen;        /* of the id */
    u_char                      retire[NGX_CHAT_PRESENCE_RETIRE]
                                      [NGX_CHAT_PRESENCE_ID_LEN];
    size_t                      retire_len[NGX_CHAT_PRESENCE_RETIRE];
    ngx_uint_t                  nretire;

    ngx_msec_t                  interval;   /* of the beats */
    u_char                      expiry[NGX_INT_T_LEN];
    size_t                      expiry_len;

    unsigned                    answered:1; /* Redis has seen the id */
    unsigned                    dirty:1;    /* Redis may be wrong */
    unsigned                    active:1;
} ngx_chat_presence_t;


/* the worker's; ngx_chat_presence.c owns it */
extern ngx_chat_presence_t  ngx_chat_presence;


/* ngx_chat_presence_sync.c: the worker's side of what Redis holds */
void ngx_chat_presence_sync_init(ngx_log_t *log);
void ngx_chat_presence_sync_exit(void);
void ngx_chat_presence_change(u_char sign, u_char *key, size_t len);

/* ngx_chat_presence.c: a change for every user and room held, for Redis */
void ngx_chat_presence_rewrite(void);

/* ngx_chat_presence_script.c: EVAL of the script in mode with args */
ngx_int_t ngx_chat_presence_eval(const char *mode, ngx_uint_t n,
    const char **args, size_t *lens, ngx_chat_redis_reply_pt handler,
    void *data);

#endif /* _NGX_CHAT_PRESENCE_INT_H_INCLUDED_ */
