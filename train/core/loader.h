/* Batches from a feature directory, prepared by a background thread
 * (shard decompression, padding) while the previous step computes.
 *
 * Order: epoch e is a permutation of the features drawn from (seed, e); step
 * s of the run takes global batch s % steps_per_epoch of epoch
 * s / steps_per_epoch, the last one of an epoch partial.  A global batch of
 * n samples is cut into world * accum micro-batches as evenly as possible
 * (micro-batch j holds [j*n/K, (j+1)*n/K)); rank r runs j = a * world + r for
 * a = 0..accum-1.  Each row carries its feature index (dropout key) and the
 * global batch's label counts (loss normalisation), so any split of the same
 * global batch computes the same thing. */
#ifndef SQ_TRAIN_LOADER_H
#define SQ_TRAIN_LOADER_H

#include "core/batch.h"

#include "sq/features.h"

#include <stdbool.h>

typedef struct {
    sq_features *features;   /* borrowed */
    uint64_t seed;
    long global_batch;
    int world, rank, accum;
    bool shuffle;            /* false: features in order (predict) */
    long first_step, end_step; /* steps [first, end) */
} sq_loader_cfg;

typedef struct sq_loader sq_loader;

long sq_steps_per_epoch(size_t n_features, long global_batch);
/* The features of epoch `epoch` in order: perm[n]. */
void sq_epoch_order(uint64_t seed, long epoch, size_t n, uint32_t *perm);
/* Largest micro-batch rows for this config. */
int sq_loader_max_rows(const sq_loader_cfg *c);

int sq_loader_open(const sq_loader_cfg *c, sq_loader **out);
/* The next micro-batch of this rank (step-major, then accumulation index);
 * valid until the next call.  *step is its step; -1 on a data error. */
int sq_loader_next(sq_loader *l, const sq_batch **out, long *step, int *micro);
void sq_loader_close(sq_loader *l);

#endif
