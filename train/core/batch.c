/* sq_batch storage: one allocation per array, sized for the largest
 * micro-batch, reused for every step. */
#include "core/model.h"

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
