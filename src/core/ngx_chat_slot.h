/*
 * Redis Cluster hash slots: CRC16 (XMODEM) of a key, or of its hash tag,
 * modulo 16384; and the node addresses of a CLUSTER SLOTS answer.
 */

#ifndef _NGX_CHAT_SLOT_H_INCLUDED_
#define _NGX_CHAT_SLOT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define NGX_CHAT_SLOTS        16384

/* the longest tag ngx_chat_slot_tag writes, NUL included */
#define NGX_CHAT_SLOT_TAG_MAX  8


uint16_t ngx_chat_crc16(const char *buf, size_t len);

/*
 * The slot of a key as Redis computes it: when the key holds "{...}" with
 * at least one byte between the first "{" and the first "}" after it,
 * only those bytes are hashed.
 */
unsigned ngx_chat_slot(const char *key, size_t len);

/*
 * A short text whose slot is slot, for keys that must live beside a given
 * slot ("{<tag>}"): the same for a slot on every host.  Returns its
 * length; NUL-terminated.  The first call fills a table (16384 tags).
 */
size_t ngx_chat_slot_tag(unsigned slot, char *buf);

/*
 * "host:port" of a MOVED or ASK error ("MOVED 3999 127.0.0.1:6381"): the
 * slot, and the address split (host is not NUL-terminated).  0: parsed,
 * -1: not such an error.
 */
int ngx_chat_slot_redirect(const char *err, size_t len, int *ask,
    unsigned *slot, const char **host, size_t *host_len, unsigned *port);

#endif /* _NGX_CHAT_SLOT_H_INCLUDED_ */
