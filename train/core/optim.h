/* The optimizer: one step after the gradients of a global batch are in
 * place -- the global norm, clipping, the scheduled learning rate and AdamW,
 * the recipe of HF Trainer / run_qa -- on the backend's buffers.  A
 * distributed strategy takes the same step on its shard's range, with the
 * norm reduced over the ranks first (sq_optimizer_apply). */
#ifndef SQ_TRAIN_OPTIM_H
#define SQ_TRAIN_OPTIM_H

#include "core/backend.h"

/* One AdamW update's arguments, for a backend's adamw on a range of the
 * flat buffer. */
typedef struct sq_adamw_args {
    double lr, beta1, beta2, eps, weight_decay;
    long t;            /* 1-based step, for bias correction */
    double grad_scale; /* multiplies every gradient first (clipping) */
} sq_adamw_args;

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
/* With be->deferred (core/backend.h), sq_optimizer_step queues the norm,
 * the clip and AdamW on the device and sets *grad_norm to NAN; this waits
 * for them and reads the last step's loss and norm.  A non-finite norm met
 * since deferral began is the error sq_optimizer_step would have returned
 * at its step (the parameters were left untouched from that step on). */
int sq_optimizer_read(sq_backend *be, double *loss, double *grad_norm);
/* The same step on the range [begin, end) of the buffer, given the squared
 * gradient norm of the whole buffer (a ZeRO shard's update, its norm summed
 * over the ranks): sq_optimizer_step is this on [0, n) with the backend's own
 * norm, so every strategy takes one recipe. */
int sq_optimizer_apply(sq_backend *be, const sq_optim *o, long step, double sumsq, size_t begin, size_t end,
                       double *lr, double *grad_norm);

/* HF get_linear_schedule_with_warmup at 0-based step s. */
double sq_lr_at(double lr, long s, long warmup, long total);
/* torch.nn.utils.clip_grad_norm_: the factor gradients are multiplied by. */
double sq_clip_coef(double grad_norm, double max_norm);

#endif
