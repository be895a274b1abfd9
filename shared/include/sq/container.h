/* sq's own binary container, shared by tokens files (.sqt) and feature
 * shards: a fixed 80-byte little-endian header, zstd-compressed frames each
 * with a CRC32 of its compressed bytes (and zstd's own content checksum), and
 * a frame index at the end whose CRC32 sits in the header.  Readers verify
 * everything before use and name the file and byte offset of any damage.
 * See docs/formats.md. */
#ifndef SQ_CONTAINER_H
#define SQ_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

/* The kinds of sq file (8-byte magics). */
#define SQ_KIND_TOKENS "SQTOKENS"
#define SQ_KIND_FEATURES "SQFEATUR"

typedef struct {
    char kind[8];          /* one of SQ_KIND_* (not NUL-terminated) */
    uint32_t version;      /* format version of that kind */
    uint32_t flags;        /* kind-specific bits */
    uint64_t vocab_hash;   /* sq_hash64 of the vocabulary's sha256 */
    uint64_t counts[4];    /* kind-specific counts (see docs/formats.md) */
} sq_container_info;

typedef struct sq_cwriter sq_cwriter;
/* Opens path through sq_afile (temporary name until close). */
sq_cwriter *sq_cwriter_open(const char *path, const sq_container_info *info, int zstd_level);
/* Appends one frame: compresses len bytes. */
int sq_cwriter_frame(sq_cwriter *w, const void *data, size_t len);
/* info counts may be updated before closing (they are known only at the end). */
sq_container_info *sq_cwriter_info(sq_cwriter *w);
/* Writes the index and header, commits atomically; frees w either way. */
int sq_cwriter_close(sq_cwriter *w);
void sq_cwriter_abort(sq_cwriter *w);

typedef struct sq_creader sq_creader;
/* Reads and verifies header and index.  kind may be NULL (any kind). */
int sq_creader_open(const char *path, const char *kind, sq_creader **out);
/* As above from memory (the buffer is copied); name is used in errors. */
int sq_creader_openb(const char *name, const void *buf, size_t len, const char *kind, sq_creader **out);
const sq_container_info *sq_creader_info(const sq_creader *r);
size_t sq_creader_frames(const sq_creader *r);
size_t sq_creader_frame_size(const sq_creader *r, size_t i); /* decompressed */
/* Decompresses and verifies frame i into a malloc'd buffer (caller frees). */
int sq_creader_frame(sq_creader *r, size_t i, void **data, size_t *len);
void sq_creader_close(sq_creader *r);

#endif
