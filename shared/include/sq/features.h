/* Feature directories, written by sq-pack and read by sq-train, sq-eval and
 * sq-inspect: manifest.json plus shards in the sq container (kind
 * SQ_KIND_FEATURES).  A feature is one window [CLS] question [SEP] context
 * [SEP], stored unpadded.  Any feature is located in O(1) from the manifest;
 * a shard is decompressed once, on first use, and kept until close.
 *
 * sq_features owns everything returned through it. */
#ifndef SQ_FEATURES_H
#define SQ_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#define SQ_FEATURES_VERSION 1
#define SQ_NO_OFFSET UINT32_MAX

/* On disk (docs/formats.md, "Feature directories"):
 *   manifest.json     options, input and dataset hashes, counts, and per file
 *                     its name, size and sha256 (checked when it is loaded);
 *   examples.sqf      container flags SQ_FEATURES_EXAMPLES, counts[0] =
 *                     examples, one frame: each question id NUL-terminated;
 *   shard-NNNNN.sqf   container flags 0, counts = {features, index of its first
 *                     feature, tokens, context tokens}, one frame: per feature
 *                     a record {u32 example, u16 len, u16 type1_start, u16
 *                     start_position, u16 end_position} (12 bytes), then all
 *                     ids as u16, then per context token its start minus the
 *                     previous token's end (0 before a feature's first context
 *                     token), then its length, modulo 2^32, each one byte when
 *                     below 255, else 255 and the value as u32.
 * All little-endian.  Every shard but the last holds shard_size features. */
#define SQ_FEATURES_EXAMPLES 1u
#define SQ_FEATURES_RECORD_SIZE 12

typedef struct {
    uint32_t example;          /* index of the question in the .sqt */
    uint16_t len;              /* real tokens, [CLS] to the last [SEP] */
    uint16_t type1_start;      /* first token of token type 1 (the context) */
    uint16_t start_position, end_position; /* labels; 0 = [CLS] */
    const uint16_t *ids;       /* len */
    const uint32_t *offsets;   /* 2 * len: code-point [start, end) for context
                                  tokens, SQ_NO_OFFSET pairs otherwise */
} sq_feature;

typedef struct {
    int max_seq, doc_stride, max_query;
    uint64_t n_features, n_tokens, n_examples, n_paragraphs;
    uint32_t n_truncated_questions;
    uint8_t vocab_sha256[32];
    uint8_t input_sha256[32];  /* of the .sqt the features were built from */
    uint8_t dataset_sha256[32];/* of the SQuAD JSON the .sqt was built from */
    uint32_t vocab_size, cls_id, sep_id, pad_id;
    uint32_t max_len;          /* longest feature */
    uint32_t shard_size;       /* features per shard (the last may hold fewer) */
    uint32_t n_shards;
} sq_features_info;

typedef struct sq_features sq_features;

/* Opens a feature directory (or, for inspection, one shard file: with the
 * manifest beside it, the info is the directory's and the features are that
 * shard's; without, only what the shard itself holds is known and
 * sq_features_example_id returns NULL).  Reads the manifest and the example
 * ids; shards are read when first used. */
int sq_features_open(const char *path, sq_features **out);
const sq_features_info *sq_features_info_get(const sq_features *f);
size_t sq_features_count(const sq_features *f);
/* Fills *out; pointers stay valid until sq_features_close.  Thread-safe. */
int sq_features_get(sq_features *f, size_t index, sq_feature *out);
/* Question id of an example (sq_feature.example), from examples.sqf; NULL
 * when unknown (out of range, or a lone shard). */
const char *sq_features_example_id(const sq_features *f, uint32_t example);
/* Index in the whole directory of feature 0 of f: 0, except when one shard
 * was opened. */
uint64_t sq_features_base(const sq_features *f);
/* The shards in view: every shard of a directory, or the one shard opened.
 * Shard i's file, the index of its first feature, its feature count, and
 * its size in bytes from the manifest (0 for a lone shard). */
size_t sq_features_shard_count(const sq_features *f);
void sq_features_shard(const sq_features *f, size_t i, const char **path, uint64_t *first, uint64_t *count,
                       uint64_t *bytes);
/* Checks that every file the manifest lists is there with its size and
 * sha256, without decoding anything (sq-pack's "up to date" test). */
int sq_features_verify(const sq_features *f);
/* Reads and checks every shard now (sq_features_get then cannot fail on
 * damage); for tools that want errors before any output. */
int sq_features_load_all(sq_features *f);
void sq_features_close(sq_features *f);

#endif
