#include "sq/hash.h"
#include "sq/error.h"

#include <openssl/evp.h>
#include <stdio.h>

int sq_sha256(const void *data, size_t len, uint8_t out[32]) {
    unsigned n = 32;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL)) return sq_err("sha256: OpenSSL failed");
    return 0;
}

int sq_sha256_file(const char *path, uint8_t out[32]) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sq_err_sys("%s", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : sq_err("sha256: OpenSSL failed");
    unsigned char buf[1 << 16];
    size_t got;
    while (!rc && (got = fread(buf, 1, sizeof buf, fp)) > 0)
        if (!EVP_DigestUpdate(ctx, buf, got)) rc = sq_err("sha256: OpenSSL failed");
    if (!rc && ferror(fp)) rc = sq_err_sys("%s: read", path);
    unsigned n = 32;
    if (!rc && !EVP_DigestFinal_ex(ctx, out, &n)) rc = sq_err("sha256: OpenSSL failed");
    EVP_MD_CTX_free(ctx);
    fclose(fp);
    return rc;
}

void sq_hex(const uint8_t *bytes, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[bytes[i] >> 4];
        out[2 * i + 1] = d[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

uint64_t sq_hash64(const uint8_t digest[32]) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | digest[i];
    return v;
}
