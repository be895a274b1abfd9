/* Host-side optimizer kernels on the flat buffer (the CPU backend's AdamW
 * and norm; a CUDA backend provides its own with the same semantics). */
#ifndef SQ_TRAIN_OPTIM_H
#define SQ_TRAIN_OPTIM_H

#include "core/model.h"

/* Sum of g[i]^2 over [begin, end) in double, independent of thread count. */
double grad_sumsq(const float *g, size_t begin, size_t end);
/* PyTorch AdamW on [begin, end); weight decay per tensor from the table. */
void adamw_update(float *p, const float *g, float *m, float *v, const sq_param_info *table, int n_tensors,
                  size_t begin, size_t end, const sq_adamw_args *a);

#endif
