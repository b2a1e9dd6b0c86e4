
/*
 * ngx_chat protocol layer: ids, request decoding and the JSON writer, one
 * header each; this one includes the three.
 */


#ifndef _NGX_CHAT_PROTO_H_INCLUDED_
#define _NGX_CHAT_PROTO_H_INCLUDED_


#include "ngx_chat_ids.h"
#include "ngx_chat_decode.h"
#include "ngx_chat_json.h"


#endif /* _NGX_CHAT_PROTO_H_INCLUDED_ */
