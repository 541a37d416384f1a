#include "CTLS.h"

#include <openssl/evp.h>

// SHA-256 through OpenSSL's EVP interface (libcrypto is linked for TLS
// already): the content addresses of the policy store and of reused samples.
int east_sha256(const void *bytes, size_t length, unsigned char digest[32]) {
    unsigned int size = 0;
    return EVP_Digest(bytes, length, digest, &size, EVP_sha256(), NULL) == 1 && size == 32 ? 0 : -1;
}

void *east_sha256_begin(void) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context && EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(context);
        return NULL;
    }
    return context;
}

int east_sha256_update(void *context, const void *bytes, size_t length) {
    return EVP_DigestUpdate((EVP_MD_CTX *)context, bytes, length) == 1 ? 0 : -1;
}

int east_sha256_finish(void *context, unsigned char digest[32]) {
    unsigned int size = 0;
    int ok = EVP_DigestFinal_ex((EVP_MD_CTX *)context, digest, &size) == 1 && size == 32;
    EVP_MD_CTX_free((EVP_MD_CTX *)context);
    return ok ? 0 : -1;
}
