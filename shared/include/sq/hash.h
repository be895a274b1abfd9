/* Content hashes (OpenSSL's SHA-256): input files in manifests, vocabularies
 * in file headers (the first 8 bytes, little-endian, as a uint64). */
#ifndef SQ_HASH_H
#define SQ_HASH_H

#include <stddef.h>
#include <stdint.h>

int sq_sha256(const void *data, size_t len, uint8_t out[32]);
int sq_sha256_file(const char *path, uint8_t out[32]);
/* 64 lowercase hex digits and a NUL. */
void sq_hex(const uint8_t *bytes, size_t n, char *out);
uint64_t sq_hash64(const uint8_t digest[32]);

#endif
