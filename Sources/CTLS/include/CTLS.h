// OpenSSL for the transport: a blocking TLS client stream, for Redis over
// TLS (`rediss://`), and SHA-256, which names the blobs of the policy store.
//
// Why this exists: Debian 12's hiredis (0.14.1) is built without SSL, so
// RedisConnection opens the TLS connection here and keeps using hiredis only
// for the protocol (redisFormatCommandArgv to encode, redisReader to decode).
// The peer's certificate and host name (or IP address) are always verified.
#ifndef EAST_CTLS_H
#define EAST_CTLS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct east_tls_stream east_tls_stream;

/// Connects to host:port over TCP, then TLS, verifying the server against
/// `ca_file` (a PEM file; NULL: the system's CA store). Every connect, read
/// and write waits at most `timeout_seconds`. NULL on failure, with the
/// reason in `error` (always NUL-terminated).
east_tls_stream *east_tls_connect(const char *host, int port, const char *ca_file,
                                  double timeout_seconds, char *error, size_t error_size);

/// Writes all `length` bytes: 0 on success, -1 on failure (see east_tls_error).
int east_tls_write(east_tls_stream *stream, const void *bytes, size_t length);

/// Reads what is available, waiting for at least one byte: the count read,
/// 0 when the server closed the connection, -1 on failure or timeout.
ssize_t east_tls_read(east_tls_stream *stream, void *buffer, size_t capacity);

/// Why the last call on `stream` failed.
const char *east_tls_error(const east_tls_stream *stream);

/// Shuts the TLS session down, closes the socket and frees the stream.
void east_tls_close(east_tls_stream *stream);

/// Makes an OpenSSL SSL_CTX (passed as void*, e.g. rabbitmq-c's
/// amqp_ssl_socket_get_context) trust the system's CA store: 1 on success.
int east_tls_use_system_cas(void *ssl_ctx);

/// SHA-256 of `length` bytes into `digest`: 0 on success, -1 on failure.
int east_sha256(const void *bytes, size_t length, unsigned char digest[32]);

/// SHA-256 of data given piece by piece (a model's tensors, without one
/// copy of them all): begin, any number of updates, finish (which frees the
/// context). NULL or -1 on failure.
void *east_sha256_begin(void);
int east_sha256_update(void *context, const void *bytes, size_t length);
int east_sha256_finish(void *context, unsigned char digest[32]);

#endif
