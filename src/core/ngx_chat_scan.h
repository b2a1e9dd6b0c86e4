
/*
 * ngx_chat JSON scanner: the source text of a top-level member of a JSON
 * object, for what a parsed tree cannot give (a member's spelling as sent,
 * the members of a text the parser refused).
 *
 * This file knows nothing of nginx: standard C and jansson only.
 */


#ifndef _NGX_CHAT_SCAN_H_INCLUDED_
#define _NGX_CHAT_SCAN_H_INCLUDED_


#include <stddef.h>


/*
 * The source text of the top-level member "name" of the object in buf,
 * without the white space around it.  Returns 1 and sets *val and
 * *val_len, 0 when the object has no such member, -1 when buf is not an
 * object or has the member twice.
 */
int ngx_chat_scan_member(const char *buf, size_t len, const char *name,
    const char **val, size_t *val_len);


#endif /* _NGX_CHAT_SCAN_H_INCLUDED_ */
