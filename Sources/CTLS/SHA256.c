#include "CTLS.h"

#include <openssl/evp.h>

// One-shot SHA-256 through OpenSSL's EVP interface (libcrypto is linked for
// TLS already), for the content-addressed policy store.
int east_sha256(const void *bytes, size_t length, unsigned char digest[32]) {
    unsigned int size = 0;
    return EVP_Digest(bytes, length, digest, &size, EVP_sha256(), NULL) == 1 && size == 32 ? 0 : -1;
}
