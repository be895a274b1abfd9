/* Helpers of the fuzz targets for sq containers (layout of
 * shared/src/container.c): recomputing the CRCs of a damaged file, and
 * wrapping raw frame contents into a valid container, so that a fuzzer gets
 * past the checksums and zstd to the parsers behind them. */
#ifndef SQ_FUZZ_WRAP_H
#define SQ_FUZZ_WRAP_H

#include "sq/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum { HEADER = 80, ENTRY = 32, MAX_FRAMES = 64 };

static inline uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void put(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t crc(const uint8_t *p, size_t n) { return (uint32_t)crc32_z(0, p, n); }

/* The container layout of shared/src/container.c. */
static inline void reseal(uint8_t *b, size_t len) {
    if (len < HEADER) return;
    uint64_t idx = le(b + 64, 8);
    if (idx >= HEADER && idx <= len) {
        for (size_t e = idx; e + ENTRY <= len; e += ENTRY) {
            uint64_t off = le(b + e, 8), c = le(b + e + 8, 8);
            if (off <= len && c <= len - off) put(b + e + 24, crc(b + off, c), 4);
        }
        put(b + 72, crc(b + idx, len - idx), 4);
    }
    put(b + 76, crc(b, 76), 4);
}

/* Wraps d = (u32 flags, u64 counts[4], then frames as u32 length and
 * bytes...) into a container of that kind and version, with correct CRCs
 * and zstd frames; the vocabulary hash is sq_hash64 of frame 0's first 32
 * bytes.  NULL if d is too short. */
static inline uint8_t *wrap(const char kind[8], uint32_t version, const uint8_t *d, size_t n, size_t *out_len) {
    if (n < 36) return NULL;
    const uint8_t *frames[MAX_FRAMES];
    size_t lens[MAX_FRAMES], nf = 0, pos = 36, bound = HEADER;
    while (pos + 4 <= n && nf < MAX_FRAMES) {
        size_t l = (size_t)le(d + pos, 4);
        pos += 4;
        if (l > n - pos) l = n - pos;
        frames[nf] = d + pos;
        lens[nf] = l;
        bound += ZSTD_compressBound(l) + ENTRY;
        pos += l;
        nf++;
    }
    uint8_t *b = calloc(1, bound);
    if (!b) return NULL;
    memcpy(b, kind, 8);
    put(b + 8, version, 4);
    put(b + 12, le(d, 4), 4);
    if (nf && lens[0] >= 32) put(b + 16, sq_hash64(frames[0]), 8);
    memcpy(b + 24, d + 4, 32);
    size_t at = HEADER;
    uint8_t index[MAX_FRAMES * ENTRY] = {0};
    for (size_t i = 0; i < nf; i++) {
        size_t c = ZSTD_compress(b + at, bound - at, frames[i], lens[i], 1);
        if (ZSTD_isError(c)) {
            free(b);
            return NULL;
        }
        uint8_t *e = index + i * ENTRY;
        put(e, at, 8);
        put(e + 8, c, 8);
        put(e + 16, lens[i], 8);
        put(e + 24, crc(b + at, c), 4);
        at += c;
    }
    memcpy(b + at, index, nf * ENTRY);
    put(b + 56, nf, 8);
    put(b + 64, at, 8);
    put(b + 72, crc(index, nf * ENTRY), 4);
    at += nf * ENTRY;
    put(b + 76, crc(b, 76), 4);
    *out_len = at;
    return b;
}

/* The fuzz input as a container file: the first byte picks how the rest is
 * used (bit 0: frame contents to wrap; else raw bytes, with the CRCs
 * recomputed when bit 1 is set).  Caller frees; NULL when there is none. */
static inline uint8_t *fuzz_input(const char kind[8], uint32_t version, const uint8_t *data, size_t size,
                                  size_t *len) {
    if (size == 0) return NULL;
    *len = size - 1;
    if (data[0] & 1) return wrap(kind, version, data + 1, size - 1, len);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf) return NULL;
    memcpy(buf, data + 1, *len);
    if (data[0] & 2) reseal(buf, *len);
    return buf;
}

#endif
