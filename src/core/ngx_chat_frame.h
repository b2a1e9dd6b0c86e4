/*
 * RFC 6455 frame codec.  Server side: parses (masked) client frames into
 * messages and control events, writes unmasked server frames.  Client side
 * (chatctl): parses unmasked server frames, writes masked client frames.
 * Knows nothing of nginx so that unit tests and fuzzers can drive it
 * directly.
 */

#ifndef _NGX_CHAT_FRAME_H_INCLUDED_
#define _NGX_CHAT_FRAME_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

/* close codes (RFC 6455 section 7.4, protocol.md section 6) */
#define NGX_CHAT_CLOSE_NORMAL        1000
#define NGX_CHAT_CLOSE_GOING_AWAY    1001
#define NGX_CHAT_CLOSE_PROTOCOL      1002
#define NGX_CHAT_CLOSE_UNSUPPORTED   1003
#define NGX_CHAT_CLOSE_NO_STATUS     1005   /* received only: no payload */
#define NGX_CHAT_CLOSE_INVALID_DATA  1007
#define NGX_CHAT_CLOSE_POLICY        1008
#define NGX_CHAT_CLOSE_TOO_BIG       1009
#define NGX_CHAT_CLOSE_INTERNAL      1011
#define NGX_CHAT_CLOSE_RESTART       1012
#define NGX_CHAT_CLOSE_TRY_LATER     1013
#define NGX_CHAT_CLOSE_AUTH_FAILED   4001
#define NGX_CHAT_CLOSE_FORBIDDEN     4003
#define NGX_CHAT_CLOSE_AUTH_TIMEOUT  4008


enum {
    NGX_CHAT_WS_CONT = 0,
    NGX_CHAT_WS_TEXT = 1,
    NGX_CHAT_WS_BINARY = 2,
    NGX_CHAT_WS_CLOSE = 8,
    NGX_CHAT_WS_PING = 9,
    NGX_CHAT_WS_PONG = 10
};


typedef enum {
    NGX_CHAT_WS_EV_NONE = 0,  /* all input consumed, nothing complete yet */
    NGX_CHAT_WS_EV_MESSAGE,   /* complete text message (valid UTF-8) */
    NGX_CHAT_WS_EV_PING,      /* data/len: ping payload (<= 125) */
    NGX_CHAT_WS_EV_PONG,      /* data/len: pong payload (<= 125) */
    NGX_CHAT_WS_EV_CLOSE,     /* code (1005 if no payload), data/len: reason */
    NGX_CHAT_WS_EV_ERROR      /* fail the connection: send close code */
} ngx_chat_ws_ev_e;


typedef struct {
    ngx_chat_ws_ev_e   type;
    const uint8_t     *data;    /* valid until the next feed() call */
    size_t             len;
    uint16_t           code;
    uint8_t            compressed;  /* EV_MESSAGE: RSV1, data not inflated */
    const char        *reason;  /* EV_ERROR only: static text for logs */
} ngx_chat_ws_event_t;


/*
 * All fields are private to ngx_chat_frame.c.  Message assembly, and a
 * control payload split across feeds, are malloc'd on demand and released
 * after delivery, so an idle connection costs sizeof() only.
 */

typedef struct {
    uint8_t           *buf;          /* message assembly */
    uint8_t           *ctl;          /* control payload split across feeds */
    size_t             buf_len;
    size_t             buf_cap;
    /* 4 GiB at most: every connection holds a reader while it lives */
    uint32_t           frame_max;
    uint32_t           message_max;
    uint64_t           payload_len;  /* of the current frame */
    uint64_t           payload_got;
    uint32_t           utf8;         /* UTF-8 state of the current message */
    uint16_t           err_code;
    const char        *err_reason;
    uint8_t            state;
    uint8_t            opcode;
    uint8_t            fin;
    uint8_t            in_message;   /* a fragmented message is open */
    uint8_t            release;      /* buf was delivered: drop it */
    uint8_t            hdr_len;
    uint8_t            client;       /* reads server frames: unmasked */
    uint8_t            deflate;      /* RSV1 allowed: permessage-deflate */
    uint8_t            compressed;   /* the current message has RSV1 */
    uint8_t            hdr[14];
    uint8_t            mask[4];
    uint32_t           fragments;    /* frames of the current message */
} ngx_chat_frame_reader_t;


/* the reader's allocator: realloc(3); unit tests make it fail */
extern void *(*ngx_chat_frame_realloc)(void *p, size_t size);


/*
 * frame_max limits the payload of one data frame, message_max the sum of
 * the payloads of one (fragmented) message, where every frame counts as
 * at least one byte: a message has at most message_max frames, so empty
 * continuations cannot go on forever (1009, "too many fragments").
 * Control frames are limited to 125 bytes by the RFC.
 */
void ngx_chat_frame_reader_init(ngx_chat_frame_reader_t *r, size_t frame_max,
    size_t message_max);
/*
 * The same for the client side: frames must be unmasked (a masked one
 * fails with 1002, RFC 6455 section 5.1); every other rule is the same.
 */
void ngx_chat_frame_reader_init_client(ngx_chat_frame_reader_t *r,
    size_t frame_max, size_t message_max);

/*
 * Parses from in[0..len), unmasking in place.  Stops after at most one
 * event and sets *used to the bytes consumed; the caller calls again with
 * the rest until all is consumed and it gets NGX_CHAT_WS_EV_NONE.  After
 * NGX_CHAT_WS_EV_ERROR every call returns the same error.
 */
ngx_chat_ws_ev_e ngx_chat_frame_reader_feed(ngx_chat_frame_reader_t *r,
    uint8_t *in, size_t len, size_t *used, ngx_chat_ws_event_t *ev);

void ngx_chat_frame_reader_free(ngx_chat_frame_reader_t *r);

/*
 * 1: the reader is between messages with nothing held (no header, payload
 * or fragment begun, not failed): after free() a fresh init() with the
 * same limits and deflate() reads the rest of the stream the same way.
 */
int ngx_chat_frame_reader_rests(const ngx_chat_frame_reader_t *r);

/*
 * permessage-deflate was negotiated: the first frame of a text message
 * may have RSV1 set (else 1002, RFC 7692 section 6.1).  Such a message is
 * delivered with ev->compressed set, not checked for UTF-8: the caller
 * inflates it, checks its size and its UTF-8.  The limits above apply
 * to its compressed bytes.
 */
void ngx_chat_frame_reader_deflate(ngx_chat_frame_reader_t *r);


/* unmasked frame header with FIN set into buf[10]; returns its length */
size_t ngx_chat_frame_header(uint8_t *buf, unsigned opcode,
    uint64_t payload_len);

/*
 * Whole close frame into buf[127]; returns its length.  The reason is cut
 * on a UTF-8 boundary to fit 125 bytes of payload; code 0 gives an empty
 * payload.
 */
size_t ngx_chat_frame_close(uint8_t *buf, uint16_t code, const char *reason,
    size_t reason_len);

/*
 * A whole masked client frame with FIN set into out, which has room for
 * len + 14 bytes: header, mask (4 bytes) and the payload masked with it.
 * Returns the frame's length.
 */
size_t ngx_chat_frame_client(uint8_t *out, unsigned opcode,
    const uint8_t *payload, size_t len, const uint8_t *mask);


#endif /* _NGX_CHAT_FRAME_H_INCLUDED_ */
