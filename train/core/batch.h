/* The micro-batch every backend takes: sq-train's loader fills it, a
 * backend's forward and backward read it.  Its arrays are owned by whoever
 * called sq_batch_alloc and are reused for every step. */
#ifndef SQ_TRAIN_BATCH_H
#define SQ_TRAIN_BATCH_H

#include "core/model.h"

#include <stdbool.h>
#include <stdint.h>

/* A micro-batch, padded to its longest feature T.  Attention masks are
 * prefixes: token t of row b is real iff t < len[b].  B may be 0 (a last
 * partial batch smaller than the number of micro-batches): forward gives
 * loss 0 and backward adds nothing but still calls the hook for every
 * layer, so that ranks' collectives stay matched. */
typedef struct {
    int B, T;
    int32_t *ids, *types;  /* B*T */
    int32_t *len;          /* B */
    int32_t *start, *end;  /* B; clamped to [0, T] by the loss, T ignored (HF) */
    uint32_t *sample;      /* B: global sample index, keys dropout */
    uint32_t step;         /* optimizer step, keys dropout */
    uint64_t seed;         /* dropout seed (--seed) */
    /* The loss of the global batch is (sum of CE(start) / n_start + sum of
     * CE(end) / n_end) / 2, with n_* counted over the whole global batch, so
     * that splitting it into micro-batches and ranks changes nothing. */
    int n_start, n_end;
    /* HF pads every feature and lets padded positions compete in the
     * softmax; sq-train masks them (logit -inf) so that a result does not
     * depend on padding.  replay sets this to reproduce HF exactly. */
    bool hf_padded_logits;
} sq_batch;

int sq_batch_alloc(sq_batch *b, int B, int T);
void sq_batch_free(sq_batch *b);

/* The contract every backend checks a batch against before a pass, so that
 * the CPU and CUDA backends accept and refuse the same batches: 0 <= B <=
 * max_B, 1 <= T <= max_T and T <= max_position_embeddings, each row's len in
 * [1, T], token ids inside the vocabulary and types inside type_vocab_size.
 * The error (sq_err) names the first violation. */
int sq_batch_check(const sq_batch *b, const sq_bert_config *cfg, int max_B, int max_T);

#endif
