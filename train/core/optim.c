#include "core/optim.h"

#include "sq/error.h"

#include <math.h>

void sq_optim_defaults(sq_optim *o) {
    *o = (sq_optim){.lr = 3e-5, .weight_decay = 0.01, .max_grad_norm = 1.0, .beta1 = 0.9, .beta2 = 0.999,
                    .eps = 1e-8};
}

double sq_lr_at(double lr, long s, long warmup, long total) {
    /* transformers get_linear_schedule_with_warmup */
    if (s < warmup) return lr * (double)s / (double)(warmup > 1 ? warmup : 1);
    double f = (double)(total - s) / (double)(total - warmup > 1 ? total - warmup : 1);
    return lr * (f > 0 ? f : 0);
}

double sq_clip_coef(double grad_norm, double max_norm) {
    /* torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), clamped to 1 */
    double c = max_norm / (grad_norm + 1e-6);
    return c < 1.0 ? c : 1.0;
}

int sq_optimizer_apply(sq_backend *be, const sq_optim *o, long step, double sumsq, size_t begin, size_t end,
                       double *lr, double *grad_norm) {
    *grad_norm = sqrt(sumsq);
    if (!isfinite(*grad_norm)) return sq_err("step %ld: the gradient norm is not finite (%g)", step + 1, *grad_norm);
    *lr = sq_lr_at(o->lr, step, o->warmup_steps, o->total_steps);
    sq_adamw_args a = {*lr, o->beta1, o->beta2, o->eps, o->weight_decay, step + 1,
                       o->max_grad_norm > 0 ? sq_clip_coef(*grad_norm, o->max_grad_norm) : 1.0};
    return be->adamw(be, &a, begin, end);
}

int sq_optimizer_step(sq_backend *be, const sq_optim *o, long step, double *lr, double *grad_norm) {
    size_t n = be->model->n_params;
    double ss;
    if (be->deferred) {
        *lr = sq_lr_at(o->lr, step, o->warmup_steps, o->total_steps);
        *grad_norm = NAN;
        sq_adamw_args a = {*lr, o->beta1, o->beta2, o->eps, o->weight_decay, step + 1, 1.0};
        return be->adamw_clipped(be, &a, o->max_grad_norm);
    }
    if (be->grad_sumsq(be, 0, n, &ss)) return -1;
    return sq_optimizer_apply(be, o, step, ss, 0, n, lr, grad_norm);
}

int sq_optimizer_read(sq_backend *be, double *loss, double *grad_norm) {
    long bad;
    double bad_norm;
    if (!be->deferred) return sq_err("sq_optimizer_read: the backend's steps are not deferred");
    if (be->read_numbers(be, loss, grad_norm, &bad, &bad_norm)) return -1;
    if (bad) return sq_err("step %ld: the gradient norm is not finite (%g)", bad, bad_norm);
    return 0;
}
