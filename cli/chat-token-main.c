
/*
 * chat-token: sign a JWT for ngx_chat (development and tests).  The
 * command line is in chat-token.c, shared with "chatctl token".
 */


#include "ngx_chat_token.h"


int
main(int argc, char **argv)
{
    return ngx_chat_token_main(argc, argv);
}
