
/*
 * ngx_chat identities: user, room and request ids, their limits and
 * their validation (protocol.md section 2).
 *
 * This file knows nothing of nginx: standard C only.
 */


#ifndef _NGX_CHAT_IDS_H_INCLUDED_
#define _NGX_CHAT_IDS_H_INCLUDED_


#include <stddef.h>


#define NGX_CHAT_USER_ID_MAX        64
#define NGX_CHAT_ROOM_ID_MAX        64
#define NGX_CHAT_CLIENT_MSG_ID_MAX  64

/* a string request id: at most this many bytes of content */
#define NGX_CHAT_REQ_ID_MAX         64
/*
 * size of ngx_chat_request_t.id, which holds the id as JSON text plus a
 * terminating NUL; a string id whose escaped form does not fit is rejected
 */
#define NGX_CHAT_REQ_ID_JSON_SIZE   72

/* a direct-message room is "dm:" user ":" user */
#define NGX_CHAT_DM_PREFIX          "dm:"
#define NGX_CHAT_DM_PREFIX_LEN      (sizeof(NGX_CHAT_DM_PREFIX) - 1)


/* the following return 1 when valid / true, 0 otherwise */
int ngx_chat_user_id_valid(const char *p, size_t len);
int ngx_chat_room_id_valid(const char *p, size_t len);
/* a prefix test only ("dm:"); use ngx_chat_room_id_valid() for the rest */
int ngx_chat_room_is_dm(const char *p, size_t len);
/* room is a valid DM room and user is one of its two members */
int ngx_chat_dm_has_member(const char *room, size_t room_len,
    const char *user, size_t user_len);
/*
 * builds the DM room id of two different valid users into buf (at least
 * NGX_CHAT_ROOM_ID_MAX + 1 bytes, NUL-terminated); returns its length, or
 * 0 when the users are invalid, equal, or the id would be too long
 */
size_t ngx_chat_dm_room(char *buf, const char *a, size_t a_len,
    const char *b, size_t b_len);


#endif /* _NGX_CHAT_IDS_H_INCLUDED_ */
