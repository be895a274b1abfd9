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
} sq_features_info;

typedef struct sq_features sq_features;

/* Opens a feature directory (or, for inspection, one shard file). */
int sq_features_open(const char *path, sq_features **out);
const sq_features_info *sq_features_info_get(const sq_features *f);
size_t sq_features_count(const sq_features *f);
/* Fills *out; pointers stay valid until sq_features_close.  Thread-safe. */
int sq_features_get(sq_features *f, size_t index, sq_feature *out);
/* Question id of feature index's example (from the manifest's example table). */
const char *sq_features_example_id(const sq_features *f, uint32_t example);
void sq_features_close(sq_features *f);

#endif
