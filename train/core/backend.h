/* Backend selection by --device name. */
#ifndef SQ_TRAIN_BACKEND_H
#define SQ_TRAIN_BACKEND_H

#include "core/model.h"

/* OpenMP threads (0: the default, all cores); OpenBLAS single-threaded. */
void sq_train_set_threads(int n);
/* "cuda" when this build has the CUDA backend and a GPU is present, else "cpu". */
const char *sq_default_device(void);
int sq_backend_open(const char *device, sq_model *m, int max_B, int max_T, sq_backend **out);

/* Meets every shape bucket of be->shape_bucket tokens up to max_B x max_T
 * before training: one training forward and backward of a synthetic
 * micro-batch per bucket, then zero_grads.  A step that meets a new bucket
 * otherwise pays for the backend's per-shape choices (on an H100, SQuAD
 * steps that did took up to twice the median).  Parameters and moments are
 * not touched, and the choices depend on the shape alone, so training
 * computes the same bits with or without it.  Nothing to do (*n_shapes 0)
 * when shape_bucket is 0, the model has no gradients, or SQ_WARM_SHAPES=0.
 * n_shapes may be NULL. */
int sq_backend_warm(sq_backend *be, int max_B, int max_T, int *n_shapes);

#endif
