#include "CTLS.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct east_tls_stream {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char error[256];
};

/// The reason OpenSSL queued (certificate verification first: it is the
/// failure users must act on), else `fallback`.
static void describe(SSL *ssl, const char *fallback, char *error, size_t size) {
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long code = ERR_get_error();
    if (verify != X509_V_OK) {
        snprintf(error, size, "TLS certificate verification failed: %s", X509_verify_cert_error_string(verify));
    } else if (code != 0) {
        char text[160];
        ERR_error_string_n(code, text, sizeof text);
        snprintf(error, size, "%s: %s", fallback, text);
    } else if (errno != 0) {
        snprintf(error, size, "%s: %s", fallback, errno == EAGAIN ? "timed out" : strerror(errno));
    } else {
        snprintf(error, size, "%s", fallback);
    }
    ERR_clear_error();
}

/// A TCP connection to the first address of host:port that answers within
/// the timeout; -1 with the reason in `error`.
static int connect_tcp(const char *host, int port, double timeout, char *error, size_t size) {
    struct addrinfo hints = {0}, *addresses = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int status = getaddrinfo(host, service, &hints, &addresses);
    if (status != 0) {
        snprintf(error, size, "cannot resolve %s: %s", host, gai_strerror(status));
        return -1;
    }
    int fd = -1;
    snprintf(error, size, "cannot connect to %s:%d", host, port);
    for (struct addrinfo *a = addresses; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        int flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (poll(&p, 1, (int)(timeout * 1000)) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
                rc = 0;
            } else {
                snprintf(error, size, "cannot connect to %s:%d: %s", host, port, soerr ? strerror(soerr) : "timed out");
            }
        } else if (rc < 0) {
            snprintf(error, size, "cannot connect to %s:%d: %s", host, port, strerror(errno));
        }
        if (rc < 0) {
            close(fd);
            fd = -1;
            continue;
        }
        fcntl(fd, F_SETFL, flags);
    }
    freeaddrinfo(addresses);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = (time_t)timeout, .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

east_tls_stream *east_tls_connect(const char *host, int port, const char *ca_file,
                                  double timeout_seconds, char *error, size_t error_size) {
    east_tls_stream *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    s->fd = connect_tcp(host, port, timeout_seconds, error, error_size);
    if (s->fd < 0) goto fail;
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx) {
        describe(NULL, "cannot create a TLS context", error, error_size);
        goto fail;
    }
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file ? SSL_CTX_load_verify_locations(s->ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(s->ctx);
    if (loaded != 1) {
        errno = 0;
        describe(NULL, ca_file ? "cannot read the CA file" : "cannot load the system CA store", error, error_size);
        if (ca_file) snprintf(error, error_size, "cannot read the CA file %s", ca_file);
        goto fail;
    }
    s->ssl = SSL_new(s->ctx);
    if (!s->ssl) {
        describe(NULL, "cannot create a TLS session", error, error_size);
        goto fail;
    }
    // The name to verify: an IP address must match an IP SAN, a name a DNS SAN.
    X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, host, 0);
        SSL_set_tlsext_host_name(s->ssl, host);
    }
    SSL_set_fd(s->ssl, s->fd);
    errno = 0;
    if (SSL_connect(s->ssl) != 1) {
        describe(s->ssl, "TLS handshake failed", error, error_size);
        goto fail;
    }
    return s;
fail:
    if (s->ssl) SSL_free(s->ssl);
    if (s->ctx) SSL_CTX_free(s->ctx);
    if (s->fd >= 0) close(s->fd);
    free(s);
    return NULL;
}

/// Writing to a connection the server closed raises SIGPIPE, which would end
/// the process: writers block it on their thread and swallow one raised.
static sigset_t block_sigpipe(void) {
    sigset_t pipe, old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    return old;
}

static void restore_sigpipe(sigset_t old) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    struct timespec none = {0, 0};
    while (sigtimedwait(&pipe, NULL, &none) > 0) {}
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int east_tls_write(east_tls_stream *s, const void *bytes, size_t length) {
    sigset_t old = block_sigpipe();
    const char *p = bytes;
    int result = 0;
    while (length > 0) {
        errno = 0;
        int n = SSL_write(s->ssl, p, length > 1 << 30 ? 1 << 30 : (int)length);
        if (n <= 0) {
            describe(s->ssl, "TLS write failed", s->error, sizeof s->error);
            result = -1;
            break;
        }
        p += n;
        length -= (size_t)n;
    }
    restore_sigpipe(old);
    return result;
}

ssize_t east_tls_read(east_tls_stream *s, void *buffer, size_t capacity) {
    errno = 0;
    int n = SSL_read(s->ssl, buffer, capacity > 1 << 30 ? 1 << 30 : (int)capacity);
    if (n > 0) return n;
    int reason = SSL_get_error(s->ssl, n);
    if (reason == SSL_ERROR_ZERO_RETURN) return 0;
    if (reason == SSL_ERROR_SYSCALL && errno == 0) {
        snprintf(s->error, sizeof s->error, "the server closed the connection");
        return 0;
    }
    describe(s->ssl, "TLS read failed", s->error, sizeof s->error);
    return -1;
}

const char *east_tls_error(const east_tls_stream *s) { return s->error; }

void east_tls_close(east_tls_stream *s) {
    if (!s) return;
    sigset_t old = block_sigpipe();
    SSL_shutdown(s->ssl);
    restore_sigpipe(old);
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
    close(s->fd);
    free(s);
}

int east_tls_use_system_cas(void *ssl_ctx) { return SSL_CTX_set_default_verify_paths((SSL_CTX *)ssl_ctx); }
