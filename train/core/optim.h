/* One optimizer step after the gradients of a global batch are in place:
 * the global norm, clipping, the scheduled learning rate and AdamW, the
 * recipe of HF Trainer / run_qa.  A distributed strategy calls the same
 * backend operations on its shard's range (and reduces the norm first). */
#ifndef SQ_TRAIN_STEP_H
#define SQ_TRAIN_STEP_H

#include "core/model.h"

typedef struct {
    double lr, weight_decay, max_grad_norm, beta1, beta2, eps;
    long warmup_steps, total_steps;
} sq_optim;

/* Defaults: betas (0.9, 0.999), eps 1e-8 (torch.optim.AdamW). */
void sq_optim_defaults(sq_optim *o);
/* Applies step `step` (0-based) to the whole buffer; reports the learning
 * rate used and the gradient norm before clipping.  A non-finite norm is an
 * error (the parameters are left untouched). */
int sq_optimizer_step(sq_backend *be, const sq_optim *o, long step, double *lr, double *grad_norm);

#endif
