/* The CPU backend's optimizer kernels: PyTorch's AdamW on a range of the
 * flat buffer and the squared gradient norm (train/cuda/adamw.cu is the
 * twin). */
#include "cpu/layers.h"

#include <math.h>

/* Fixed chunks summed in order: the same result for any thread count. */
#define CHUNK 65536

double grad_sumsq(const float *g, size_t begin, size_t end) {
    if (end <= begin) return 0;
    size_t nchunks = (end - begin + CHUNK - 1) / CHUNK;
    double total = 0;
#pragma omp parallel for ordered schedule(static, 1)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = begin + c * CHUNK, hi = lo + CHUNK < end ? lo + CHUNK : end;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
#pragma omp ordered
        total += s;
    }
    return total;
}

void adamw_update(float *p, const float *g, float *m, float *v, const sq_param_info *table, int n_tensors,
                  size_t begin, size_t end, const sq_adamw_args *a) {
    double bc1 = 1.0 - pow(a->beta1, (double)a->t), bc2 = 1.0 - pow(a->beta2, (double)a->t);
    double step_size = a->lr / bc1, bc2_sqrt = sqrt(bc2);
    for (int ti = 0; ti < n_tensors; ti++) {
        const sq_param_info *t = &table[ti];
        size_t lo = t->offset > begin ? t->offset : begin;
        size_t hi = t->offset + t->numel < end ? t->offset + t->numel : end;
        if (lo >= hi) continue;
        double decay = 1.0 - a->lr * (t->decay ? a->weight_decay : 0.0);
#pragma omp parallel for
        for (size_t i = lo; i < hi; i++) {
            /* torch _single_tensor_adamw: decoupled decay, lerp for m,
             * addcmul for v, eps after the bias-corrected square root. */
            double gi = (double)(float)(g[i] * (float)a->grad_scale);
            double pi = p[i] * decay;
            double mi = m[i] + (1.0 - a->beta1) * (gi - m[i]);
            double vi = a->beta2 * v[i] + (1.0 - a->beta2) * gi * gi;
            m[i] = (float)mi;
            v[i] = (float)vi;
            p[i] = (float)(pi - step_size * mi / (sqrt(vi) / bc2_sqrt + a->eps));
        }
    }
}
