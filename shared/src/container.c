/* sq's container: header, zstd frames with CRC32s, frame index at the end.
 * Layout (docs/formats.md, "Container"):
 *
 *   0  magic[8]   4 version  4 flags  8 vocab_hash  8x4 counts
 *   56 n_frames u64   64 index_offset u64   72 index_crc32   76 header_crc32
 *   80 frames, back to back (each one zstd frame with a content checksum)
 *   index_offset: n_frames entries of 32 bytes
 *     {offset u64, compressed size u64, raw size u64, crc32 u32, zero u32}
 *   end of file right after the index.
 *
 * The reader checks the header, the index and every frame's bounds at open,
 * so a later sq_creader_frame can fail only on damaged frame bytes. */
#include "sq/container.h"
#include "sq/atomic_file.h"
#include "sq/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum {
    HEADER_SIZE = 80,
    HEADER_CRC_AT = 76,
    ENTRY_SIZE = 32,
};

/* A frame decompresses to at most 4 GiB, and zstd cannot expand one
 * compressed byte to more than about 32 Ki bytes (a 3-byte block header plus
 * one RLE byte stands for at most 128 KiB); a claim beyond either bound is
 * damage, refused before any allocation. */
#define MAX_RAW ((uint64_t)4 << 30)
#define MAX_RATIO 65536u
/* The whole file is read into memory. */
#define MAX_FILE ((size_t)1 << 40)

typedef struct {
    uint64_t offset, csize, rsize;
    uint32_t crc;
} frame_entry;

static const char *const known_kinds[] = {SQ_KIND_TOKENS, SQ_KIND_FEATURES};

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32_z(0, p, n); }

/* ---- writer ---- */

struct sq_cwriter {
    sq_afile *f;
    char *path;
    sq_container_info info;
    ZSTD_CCtx *cctx;
    frame_entry *frames;
    size_t n, cap;
    uint64_t pos; /* where the next frame goes */
    void *buf;    /* compression buffer, reused */
    size_t buf_cap;
};

sq_cwriter *sq_cwriter_open(const char *path, const sq_container_info *info, int zstd_level) {
    if (strcmp(path, "-") == 0) {
        sq_err("-: an sq container cannot be written to standard output (its header is written last)");
        return NULL;
    }
    sq_cwriter *w = sq_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->info = *info;
    w->pos = HEADER_SIZE;
    w->path = sq_strdup(path);
    w->cctx = ZSTD_createCCtx();
    if (!w->path) goto fail;
    if (!w->cctx) {
        sq_err("%s: cannot create a zstd context", path);
        goto fail;
    }
    /* zstd's content checksum (xxhash64) covers the raw bytes; our CRC32
     * covers the compressed ones, so damage is caught before decoding. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1))) {
        sq_err("%s: bad zstd level %d", path, zstd_level);
        goto fail;
    }
    w->f = sq_afile_open(path);
    if (!w->f) goto fail;
    uint8_t zero[HEADER_SIZE] = {0};
    if (fwrite(zero, 1, sizeof zero, sq_afile_fp(w->f)) != sizeof zero) {
        sq_err_sys("%s: write", path);
        goto fail;
    }
    return w;
fail:
    sq_cwriter_abort(w);
    return NULL;
}

sq_container_info *sq_cwriter_info(sq_cwriter *w) { return &w->info; }

int sq_cwriter_frame(sq_cwriter *w, const void *data, size_t len) {
    if ((uint64_t)len > MAX_RAW)
        return sq_err("%s: frame %zu is %zu bytes, more than the 4 GiB a frame may hold", w->path, w->n, len);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        frame_entry *p = sq_realloc(w->frames, cap * sizeof *p);
        if (!p) return -1;
        w->frames = p;
        w->cap = cap;
    }
    size_t bound = ZSTD_compressBound(len);
    if (bound > w->buf_cap) {
        void *p = sq_realloc(w->buf, bound);
        if (!p) return -1;
        w->buf = p;
        w->buf_cap = bound;
    }
    size_t c = ZSTD_compress2(w->cctx, w->buf, w->buf_cap, data, len);
    if (ZSTD_isError(c)) return sq_err("%s: frame %zu: zstd: %s", w->path, w->n, ZSTD_getErrorName(c));
    if (fwrite(w->buf, 1, c, sq_afile_fp(w->f)) != c) return sq_err_sys("%s: write", w->path);
    w->frames[w->n++] = (frame_entry){w->pos, c, len, crc(w->buf, c)};
    w->pos += c;
    return 0;
}

static void encode_header(uint8_t h[HEADER_SIZE], const sq_container_info *info, uint64_t n_frames,
                          uint64_t index_offset, uint32_t index_crc) {
    memcpy(h, info->kind, 8);
    put32(h + 8, info->version);
    put32(h + 12, info->flags);
    put64(h + 16, info->vocab_hash);
    for (int i = 0; i < 4; i++) put64(h + 24 + 8 * i, info->counts[i]);
    put64(h + 56, n_frames);
    put64(h + 64, index_offset);
    put32(h + 72, index_crc);
    put32(h + HEADER_CRC_AT, crc(h, HEADER_CRC_AT));
}

int sq_cwriter_close(sq_cwriter *w) {
    int rc = -1;
    uint8_t *index = NULL;
    size_t index_len = w->n * ENTRY_SIZE;
    if (index_len) {
        index = sq_calloc(w->n, ENTRY_SIZE);
        if (!index) goto out;
    }
    for (size_t i = 0; i < w->n; i++) {
        uint8_t *e = index + i * ENTRY_SIZE;
        put64(e, w->frames[i].offset);
        put64(e + 8, w->frames[i].csize);
        put64(e + 16, w->frames[i].rsize);
        put32(e + 24, w->frames[i].crc);
    }
    FILE *fp = sq_afile_fp(w->f);
    if (index_len && fwrite(index, 1, index_len, fp) != index_len) {
        sq_err_sys("%s: write", w->path);
        goto out;
    }
    uint8_t h[HEADER_SIZE];
    encode_header(h, &w->info, w->n, w->pos, crc(index, index_len));
    if (fseek(fp, 0, SEEK_SET) || fwrite(h, 1, sizeof h, fp) != sizeof h) {
        sq_err_sys("%s: write", w->path);
        goto out;
    }
    rc = sq_afile_commit(w->f);
    w->f = NULL;
out:
    free(index);
    sq_cwriter_abort(w);
    return rc;
}

void sq_cwriter_abort(sq_cwriter *w) {
    if (!w) return;
    sq_afile_abort(w->f);
    ZSTD_freeCCtx(w->cctx);
    free(w->frames);
    free(w->buf);
    free(w->path);
    free(w);
}

/* ---- reader ---- */

struct sq_creader {
    char *name;
    uint8_t *buf;
    size_t len;
    sq_container_info info;
    frame_entry *frames;
    size_t n;
};

static int kind_known(const char *magic) {
    for (size_t i = 0; i < sizeof known_kinds / sizeof *known_kinds; i++)
        if (memcmp(magic, known_kinds[i], 8) == 0) return 1;
    return 0;
}

/* Checks everything but the frames' bytes; on error the message names r->name. */
static int verify(sq_creader *r, const char *kind) {
    const uint8_t *h = r->buf;
    const char *name = r->name;
    if (r->len < HEADER_SIZE)
        return sq_err("%s: truncated: %zu bytes, shorter than the %d-byte sq container header", name, r->len,
                      HEADER_SIZE);
    if (!kind_known((const char *)h)) return sq_err("%s: not an sq file (unknown magic)", name);
    if (kind && memcmp(h, kind, 8) != 0)
        return sq_err("%s: is a %.8s file, expected %.8s", name, (const char *)h, kind);
    if (get32(h + HEADER_CRC_AT) != crc(h, HEADER_CRC_AT))
        return sq_err("%s: header at offset 0: checksum mismatch", name);
    memcpy(r->info.kind, h, 8);
    r->info.version = get32(h + 8);
    r->info.flags = get32(h + 12);
    r->info.vocab_hash = get64(h + 16);
    for (int i = 0; i < 4; i++) r->info.counts[i] = get64(h + 24 + 8 * i);
    uint64_t n = get64(h + 56), index_offset = get64(h + 64);
    uint32_t index_crc = get32(h + 72);

    if (index_offset < HEADER_SIZE || index_offset > r->len)
        return sq_err("%s: index offset %llu is outside the file (%zu bytes)", name, (unsigned long long)index_offset,
                      r->len);
    uint64_t room = r->len - index_offset;
    if (n > room / ENTRY_SIZE || n * ENTRY_SIZE != room)
        return sq_err("%s: index at offset %llu: %llu frames do not fill the %llu bytes up to the end of the file",
                      name, (unsigned long long)index_offset, (unsigned long long)n, (unsigned long long)room);
    const uint8_t *index = r->buf + index_offset;
    if (crc(index, room) != index_crc)
        return sq_err("%s: index at offset %llu: checksum mismatch", name, (unsigned long long)index_offset);
    if (n) {
        r->frames = sq_calloc(n, sizeof *r->frames);
        if (!r->frames) return -1;
    }
    r->n = n;
    /* Frames sit back to back from the header to the index: no gap, no overlap. */
    uint64_t pos = HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = index + i * ENTRY_SIZE;
        frame_entry *f = &r->frames[i];
        f->offset = get64(e);
        f->csize = get64(e + 8);
        f->rsize = get64(e + 16);
        f->crc = get32(e + 24);
        if (f->offset != pos)
            return sq_err("%s: frame %zu at offset %llu: expected at offset %llu", name, i,
                          (unsigned long long)f->offset, (unsigned long long)pos);
        if (f->csize == 0 || f->csize > index_offset - pos)
            return sq_err("%s: frame %zu at offset %llu: %llu compressed bytes run past the index", name, i,
                          (unsigned long long)f->offset, (unsigned long long)f->csize);
        if (f->rsize > MAX_RAW || f->rsize / MAX_RATIO > f->csize)
            return sq_err("%s: frame %zu at offset %llu: impossible size (%llu bytes from %llu)", name, i,
                          (unsigned long long)f->offset, (unsigned long long)f->rsize, (unsigned long long)f->csize);
        if (get32(e + 28) != 0)
            return sq_err("%s: index entry %zu: reserved field is not zero", name, i);
        pos += f->csize;
    }
    if (pos != index_offset)
        return sq_err("%s: %llu bytes between the last frame and the index at offset %llu", name,
                      (unsigned long long)(index_offset - pos), (unsigned long long)index_offset);
    return 0;
}

static int open_owned(const char *name, uint8_t *buf, size_t len, const char *kind, sq_creader **out) {
    sq_creader *r = sq_calloc(1, sizeof *r);
    if (!r) {
        free(buf);
        return -1;
    }
    r->buf = buf;
    r->len = len;
    r->name = sq_strdup(name);
    if (!r->name || verify(r, kind)) {
        sq_creader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int sq_creader_open(const char *path, const char *kind, sq_creader **out) {
    char *buf;
    size_t len;
    if (sq_read_file(path, MAX_FILE, &buf, &len)) return -1;
    return open_owned(path, (uint8_t *)buf, len, kind, out);
}

int sq_creader_openb(const char *name, const void *buf, size_t len, const char *kind, sq_creader **out) {
    uint8_t *copy = sq_malloc(len ? len : 1);
    if (!copy) return -1;
    if (len) memcpy(copy, buf, len);
    return open_owned(name, copy, len, kind, out);
}

const sq_container_info *sq_creader_info(const sq_creader *r) { return &r->info; }
size_t sq_creader_frames(const sq_creader *r) { return r->n; }
size_t sq_creader_frame_size(const sq_creader *r, size_t i) { return i < r->n ? (size_t)r->frames[i].rsize : 0; }

/* Touches nothing in r but reads, and decodes with ZSTD_decompress (a
 * context per call), so several threads may call it at once. */
int sq_creader_frame(sq_creader *r, size_t i, void **data, size_t *len) {
    if (i >= r->n) return sq_err("%s: frame %zu does not exist (%zu frames)", r->name, i, r->n);
    const frame_entry *f = &r->frames[i];
    const uint8_t *src = r->buf + f->offset;
    unsigned long long at = (unsigned long long)f->offset;
    if (crc(src, f->csize) != f->crc) return sq_err("%s: frame %zu at offset %llu: checksum mismatch", r->name, i, at);
    unsigned long long content = ZSTD_getFrameContentSize(src, f->csize);
    if (content != f->rsize || ZSTD_findFrameCompressedSize(src, f->csize) != f->csize)
        return sq_err("%s: frame %zu at offset %llu: zstd frame does not match the index", r->name, i, at);
    void *out = sq_malloc(f->rsize ? f->rsize : 1);
    if (!out) return sq_err_ctx("%s: frame %zu", r->name, i);
    size_t got = ZSTD_decompress(out, f->rsize, src, f->csize);
    if (ZSTD_isError(got) || got != f->rsize) {
        free(out);
        return sq_err("%s: frame %zu at offset %llu: %s", r->name, i, at,
                      ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
    }
    *data = out;
    *len = got;
    return 0;
}

void sq_creader_close(sq_creader *r) {
    if (!r) return;
    free(r->name);
    free(r->buf);
    free(r->frames);
    free(r);
}
