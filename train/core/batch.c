/* sq_batch storage (one allocation per array, sized for the largest
 * micro-batch, reused for every step) and the contract every backend checks
 * a batch against. */
#include "core/batch.h"

#include "sq/error.h"

#include <stdlib.h>

int sq_batch_alloc(sq_batch *b, int B, int T) {
    *b = (sq_batch){0};
    size_t n = (size_t)B * T;
    b->ids = sq_calloc(n, sizeof *b->ids);
    b->types = sq_calloc(n, sizeof *b->types);
    b->len = sq_calloc((size_t)B, sizeof *b->len);
    b->start = sq_calloc((size_t)B, sizeof *b->start);
    b->end = sq_calloc((size_t)B, sizeof *b->end);
    b->sample = sq_calloc((size_t)B, sizeof *b->sample);
    if (b->ids && b->types && b->len && b->start && b->end && b->sample) return 0;
    sq_batch_free(b);
    return -1;
}

void sq_batch_free(sq_batch *b) {
    free(b->ids);
    free(b->types);
    free(b->len);
    free(b->start);
    free(b->end);
    free(b->sample);
    *b = (sq_batch){0};
}

int sq_batch_check(const sq_batch *b, const sq_bert_config *cfg, int max_B, int max_T) {
    /* B = 0 is a micro-batch of its own (an epoch's last global batch
     * smaller than world x grad-accum): the hooks still fire, the loss is 0. */
    if (b->B < 0 || b->B > max_B || b->T < 1 || b->T > max_T)
        return sq_err("batch %d x %d exceeds the %d x %d the backend was sized for", b->B, b->T, max_B, max_T);
    if (b->T > cfg->max_position)
        return sq_err("sequence length %d exceeds max_position_embeddings %d", b->T, cfg->max_position);
    for (int i = 0; i < b->B; i++)
        if (b->len[i] < 1 || b->len[i] > b->T) return sq_err("row %d: length %d outside [1, %d]", i, b->len[i], b->T);
    for (size_t i = 0; i < (size_t)b->B * b->T; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= cfg->vocab_size)
            return sq_err("token id %d outside the vocabulary (%d)", b->ids[i], cfg->vocab_size);
        if (b->types[i] < 0 || b->types[i] >= cfg->type_vocab)
            return sq_err("token type %d outside [0, %d)", b->types[i], cfg->type_vocab);
    }
    return 0;
}
