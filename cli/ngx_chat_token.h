
/*
 * The command line of chat-token (cli/chat-token.c), shared by
 * build/chat-token and "chatctl token".
 */


#ifndef _NGX_CHAT_TOKEN_H_INCLUDED_
#define _NGX_CHAT_TOKEN_H_INCLUDED_


/* how messages name the program: "chat-token" unless set */
extern const char  *ngx_chat_token_prog;

/*
 * Parses the options with getopt_long (optind must be reset first by a
 * caller that parsed options before), prints the token; returns 0, 2
 * for a usage error, 1 for another error.
 */
int ngx_chat_token_main(int argc, char **argv);


#endif /* _NGX_CHAT_TOKEN_H_INCLUDED_ */
