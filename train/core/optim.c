#include "core/optim.h"

#include "sq/error.h"

#include <math.h>

void sq_optim_defaults(sq_optim *o) {
    *o = (sq_optim){.lr = 3e-5, .weight_decay = 0.01, .max_grad_norm = 1.0, .beta1 = 0.9, .beta2 = 0.999,
                    .eps = 1e-8};
}

int sq_optimizer_step(sq_backend *be, const sq_optim *o, long step, double *lr, double *grad_norm) {
    size_t n = be->model->n_params;
    double ss;
    if (be->grad_sumsq(be, 0, n, &ss)) return -1;
    *grad_norm = sqrt(ss);
    if (!isfinite(*grad_norm)) return sq_err("step %ld: the gradient norm is not finite (%g)", step + 1, *grad_norm);
    *lr = sq_lr_at(o->lr, step, o->warmup_steps, o->total_steps);
    sq_adamw_args a = {*lr, o->beta1, o->beta2, o->eps, o->weight_decay, step + 1,
                       o->max_grad_norm > 0 ? sq_clip_coef(*grad_norm, o->max_grad_norm) : 1.0};
    return be->adamw(be, &a, 0, n);
}
