/* libFuzzer target: the sq container reader on arbitrary bytes, decoding
 * every frame of whatever it accepts.  When the first input byte is odd the
 * rest has its CRC32s recomputed first (frames, index, header), so that the
 * fuzzer gets past the checksums to the structural checks and to zstd. */
#include "sq/container.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Layout as in shared/src/container.c: 80-byte header, index of 32-byte entries. */
static void reseal(uint8_t *b, size_t len) {
    if (len < 80) return;
    uint64_t idx = le64(b + 64);
    if (idx >= 80 && idx <= len) {
        for (size_t e = idx; e + 32 <= len; e += 32) {
            uint64_t off = le64(b + e), c = le64(b + e + 8);
            if (off <= len && c <= len - off) put32(b + e + 24, (uint32_t)crc32_z(0, b + off, c));
        }
        put32(b + 72, (uint32_t)crc32_z(0, b + idx, len - idx));
    }
    put32(b + 76, (uint32_t)crc32_z(0, b, 76));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1) reseal(copy, size - 1);
    sq_creader *r;
    if (sq_creader_openb("fuzz", copy, size - 1, NULL, &r) == 0) {
        for (size_t i = 0; i < sq_creader_frames(r); i++) {
            void *out;
            size_t n;
            if (sq_creader_frame(r, i, &out, &n) == 0) {
                if (n != sq_creader_frame_size(r, i)) abort();
                free(out);
            }
        }
        sq_creader_close(r);
    }
    free(copy);
    return 0;
}
