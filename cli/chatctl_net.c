
/*
 * chatctl connections: TCP with a connect timeout, TLS (OpenSSL) with
 * certificate and host name checks, reads with a timeout (poll).
 */


#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "chatctl.h"


static char  ngx_chatctl_net_err[512];


static int ngx_chatctl_connect(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c);
static int ngx_chatctl_tls(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c);
static int ngx_chatctl_wait(int fd, short events, int timeout_ms);


const char *
ngx_chatctl_net_error(void)
{
    return ngx_chatctl_net_err;
}


void
ngx_chatctl_net_fail(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err), fmt, ap);
    va_end(ap);
}


/* http://host:port, https://, ws:// and wss:// alike; a path is ignored */

int
ngx_chatctl_url_parse(const char *s, ngx_chatctl_url_t *u)
{
    size_t       n;
    const char  *p, *end, *colon;

    memset(u, 0, sizeof(ngx_chatctl_url_t));

    if (strncmp(s, "http://", 7) == 0) {
        p = s + 7;

    } else if (strncmp(s, "ws://", 5) == 0) {
        p = s + 5;

    } else if (strncmp(s, "https://", 8) == 0) {
        p = s + 8;
        u->tls = 1;

    } else if (strncmp(s, "wss://", 6) == 0) {
        p = s + 6;
        u->tls = 1;

    } else {
        return -1;
    }

    end = p + strcspn(p, "/?#");

    if (*p == '[') {
        colon = memchr(p, ']', end - p);
        if (colon == NULL) {
            return -1;
        }

        n = colon - p - 1;
        if (n == 0 || n >= sizeof(u->host)) {
            return -1;
        }

        memcpy(u->host, p + 1, n);
        colon = (colon + 1 < end && colon[1] == ':') ? colon + 1 : NULL;

    } else {
        colon = memchr(p, ':', end - p);
        n = (colon ? colon : end) - p;

        if (n == 0 || n >= sizeof(u->host)) {
            return -1;
        }

        memcpy(u->host, p, n);
    }

    if (colon != NULL) {
        n = end - colon - 1;

        if (n == 0 || n >= sizeof(u->port)
            || strspn(colon + 1, "0123456789") < n)
        {
            return -1;
        }

        memcpy(u->port, colon + 1, n);

    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }

    return 0;
}


/* 0, or -1 with ngx_chatctl_net_error() set */

int
ngx_chatctl_conn_open(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c)
{
    memset(c, 0, sizeof(ngx_chatctl_conn_t));
    c->fd = -1;
    c->timeout_ms = cf->timeout_ms;

    if (ngx_chatctl_connect(cf, c) != 0) {
        return -1;
    }

    if (cf->u.tls && ngx_chatctl_tls(cf, c) != 0) {
        ngx_chatctl_conn_close(c);
        return -1;
    }

    return 0;
}


static int
ngx_chatctl_connect(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c)
{
    int               fd, rc, err, flags;
    socklen_t         len;
    struct addrinfo   hints, *res, *ai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(cf->u.host, cf->u.port, &hints, &res);
    if (rc != 0) {
        snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                 "%s: %s", cf->u.host, gai_strerror(rc));
        return -1;
    }

    err = ECONNREFUSED;

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }

        /* non-blocking for the connect timeout only */

        flags = fcntl(fd, F_GETFL);
        (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);

        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);

        if (rc != 0 && errno == EINPROGRESS) {
            rc = ngx_chatctl_wait(fd, POLLOUT, c->timeout_ms);

            if (rc > 0) {
                len = sizeof(err);
                err = 0;
                (void) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                rc = (err == 0) ? 0 : -1;

            } else {
                err = (rc == 0) ? ETIMEDOUT : errno;
                rc = -1;
            }

        } else if (rc != 0) {
            err = errno;
        }

        if (rc == 0) {
            (void) fcntl(fd, F_SETFL, flags);
            c->fd = fd;
            freeaddrinfo(res);
            return 0;
        }

        close(fd);
    }

    freeaddrinfo(res);

    snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
             "connect to %s:%s: %s", cf->u.host, cf->u.port, strerror(err));

    return -1;
}


static int
ngx_chatctl_tls(ngx_chatctl_conf_t *cf, ngx_chatctl_conn_t *c)
{
    int            rc;
    unsigned char  addr[16];
    unsigned long  e;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        goto failed;
    }

    /* a read that finds no application data returns, not blocks */
    SSL_CTX_clear_mode(c->ctx, SSL_MODE_AUTO_RETRY);

    if (cf->insecure) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);

    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);

        rc = cf->cacert
             ? SSL_CTX_load_verify_locations(c->ctx, cf->cacert, NULL)
             : SSL_CTX_set_default_verify_paths(c->ctx);

        if (rc != 1) {
            goto failed;
        }
    }

    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL) {
        goto failed;
    }

    /* an address is checked against the certificate's IP names */

    if (inet_pton(AF_INET, cf->u.host, addr) == 1
        || inet_pton(AF_INET6, cf->u.host, addr) == 1)
    {
        if (!cf->insecure
            && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
                                             cf->u.host) != 1)
        {
            goto failed;
        }

    } else {
        SSL_set_tlsext_host_name(c->ssl, cf->u.host);

        if (!cf->insecure && SSL_set1_host(c->ssl, cf->u.host) != 1) {
            goto failed;
        }
    }

    SSL_set_fd(c->ssl, c->fd);

    if (SSL_connect(c->ssl) != 1) {
        goto failed;
    }

    return 0;

failed:

    e = ERR_get_error();

    snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
             "TLS with %s:%s: %s%s", cf->u.host, cf->u.port,
             e ? ERR_reason_error_string(e) : "handshake failed",
             (c->ssl && SSL_get_verify_result(c->ssl) != X509_V_OK)
             ? " (certificate not trusted: see --cacert)" : "");
    ERR_clear_error();

    return -1;
}


int
ngx_chatctl_conn_write(ngx_chatctl_conn_t *c, const void *buf, size_t len)
{
    ssize_t      n;
    const char  *p;

    p = buf;

    while (len > 0) {
        if (c->ssl) {
            n = SSL_write(c->ssl, p, (int) len);
            if (n <= 0) {
                snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                         "TLS write failed");
                return -1;
            }

        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }

                snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                         "write: %s", strerror(errno));
                return -1;
            }
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}


/*
 * Bytes read; 0 at the end of the stream; -1 on error; -2 when nothing
 * came within timeout_ms (or a TLS record held no data).
 */

ssize_t
ngx_chatctl_conn_read(ngx_chatctl_conn_t *c, void *buf, size_t len,
    int timeout_ms)
{
    int      rc;
    ssize_t  n;

    if (!ngx_chatctl_conn_pending(c)) {
        rc = ngx_chatctl_wait(c->fd, POLLIN, timeout_ms);

        if (rc == 0) {
            return -2;
        }

        if (rc < 0) {
            if (errno == EINTR) {
                return -2;
            }

            snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                     "poll: %s", strerror(errno));
            return -1;
        }
    }

    if (c->ssl) {
        n = SSL_read(c->ssl, buf, (int) len);

        if (n > 0) {
            return n;
        }

        rc = SSL_get_error(c->ssl, (int) n);

        if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE) {
            return -2;
        }

        if (rc == SSL_ERROR_ZERO_RETURN
            || (rc == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        {
            ERR_clear_error();
            return 0;
        }

        ERR_clear_error();
        snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                 "TLS read failed");
        return -1;
    }

    do {
        n = recv(c->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);

    if (n < 0) {
        snprintf(ngx_chatctl_net_err, sizeof(ngx_chatctl_net_err),
                 "read: %s", strerror(errno));
        return -1;
    }

    return n;
}


int
ngx_chatctl_conn_pending(ngx_chatctl_conn_t *c)
{
    return c->ssl ? SSL_pending(c->ssl) > 0 : 0;
}


void
ngx_chatctl_conn_close(ngx_chatctl_conn_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    if (c->ctx) {
        SSL_CTX_free(c->ctx);
        c->ctx = NULL;
    }

    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}


static int
ngx_chatctl_wait(int fd, short events, int timeout_ms)
{
    struct pollfd  p;

    p.fd = fd;
    p.events = events;
    p.revents = 0;

    return poll(&p, 1, timeout_ms);
}


/* standard base64 with padding, NUL-terminated; returns its length */

size_t
ngx_chatctl_base64(char *out, const uint8_t *in, size_t len)
{
    return (size_t) EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}


void
ngx_chatctl_random(uint8_t *buf, size_t len)
{
    if (RAND_bytes(buf, (int) len) != 1) {
        fprintf(stderr, "chatctl: internal: no random bytes\n");
        exit(NGX_CHATCTL_ERROR);
    }
}
