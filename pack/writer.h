/* Writing a feature directory (layout in sq/features.h): every window of
 * every question of a tokens file, in question order, as shards built in
 * parallel, then examples.sqf, then manifest.json last. */
#ifndef PACK_WRITER_H
#define PACK_WRITER_H

#include <stdint.h>

#include "sq/tokens.h"
#include "window.h"

typedef struct {
    pack_options window;
    uint32_t shard_size;
    int zstd_level;
} pack_config;

/* What the input was, for the manifest (reuse decisions compare it). */
typedef struct {
    uint8_t sha256[32];
    uint64_t bytes;
} pack_input;

typedef struct {
    uint64_t examples, paragraphs, features, tokens;
    uint32_t truncated_questions, max_len, shards;
} pack_stats;

/* Fills dir, an existing empty directory; on error dir may hold part of the
 * output (the caller removes it). */
int pack_write(const char *dir, const sq_tokens *t, const pack_config *c, const pack_input *in, pack_stats *st);

#define PACK_MANIFEST "manifest.json"

#endif
