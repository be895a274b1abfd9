// The optimizer on the flat buffer: one launch of torch AdamW over all
// tensors (chunks of one tensor each, so weight decay is per block), writing
// the bf16 shadow of the weights that the bf16 matmuls read; and the sum of
// squared gradients for the global-norm clip, reduced in a fixed order; and
// the bf16 shadow written outside a step (a push, an all-gather), with
// AdamW's rounding; and the step's numbers kept on the device (deferred
// mode): the loss sum and the clip factor, computed as the host computes
// them (double, IEEE sqrt and division), so that the update is bitwise the
// host-driven one.
#include "common.cuh"

#include <math.h>

namespace {

constexpr int SUMSQ_BLOCKS = 1024, SUMSQ_THREADS = 256;

struct adamw_consts {
    double lr, beta1, beta2, eps, weight_decay, grad_scale, step_size, bc2_sqrt;
};

__global__ void adamw_kernel(float *p, __nv_bfloat16 *p16, const float *g, float *m, float *v, const int64_t *chunk_lo,
                             const int64_t *chunk_hi, const uint8_t *chunk_decay, int64_t begin, int64_t end,
                             adamw_consts a, const sq_cu_step_numbers *dev) {
    if (dev && dev->bad_step) return; // a non-finite norm: the parameters stay as they were
    int k = blockIdx.x;
    int64_t lo = chunk_lo[k] > begin ? chunk_lo[k] : begin, hi = chunk_hi[k] < end ? chunk_hi[k] : end;
    double decay = 1.0 - a.lr * (chunk_decay[k] ? a.weight_decay : 0.0);
    float gs = (float)(dev ? dev->scale : a.grad_scale);
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        // torch _single_tensor_adamw, as train/cpu/adamw.c
        double gi = (double)(float)(g[i] * gs);
        double pi = p[i] * decay;
        double mi = m[i] + (1.0 - a.beta1) * (gi - m[i]);
        double vi = a.beta2 * v[i] + (1.0 - a.beta2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        float np = (float)(pi - a.step_size * mi / (sqrt(vi) / a.bc2_sqrt + a.eps));
        p[i] = np;
        if (p16) p16[i] = __float2bfloat16_rn(np);
    }
}

__global__ void sumsq_partial_kernel(double *partial, const float *g, int64_t begin, int64_t end) {
    __shared__ double s[SUMSQ_THREADS];
    double a = 0;
    for (int64_t i = begin + (int64_t)blockIdx.x * SUMSQ_THREADS + threadIdx.x; i < end;
         i += (int64_t)SUMSQ_BLOCKS * SUMSQ_THREADS)
        a += (double)g[i] * g[i];
    s[threadIdx.x] = a;
    __syncthreads();
    for (int h = SUMSQ_THREADS / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

__global__ void sumsq_finish_kernel(double *out, const double *partial) {
    __shared__ double s[SUMSQ_BLOCKS];
    s[threadIdx.x] = partial[threadIdx.x];
    __syncthreads();
    for (int h = SUMSQ_BLOCKS / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = s[0];
}

// One thread: the host's loop, in its order.
__global__ void loss_accumulate_kernel(sq_cu_step_numbers *d, const double *rows, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += rows[i];
    d->loss_sum += sum;
}

// core/optim.c: sq_optimizer_apply's norm and sq_clip_coef, in double.
__global__ void clip_factor_kernel(sq_cu_step_numbers *d, const double *sumsq, double max_norm, long long step) {
    double norm = sqrt(*sumsq);
    d->loss = d->loss_sum;
    d->loss_sum = 0;
    d->norm = norm;
    double c = max_norm / (norm + 1e-6);
    d->scale = max_norm > 0 && c < 1.0 ? c : 1.0;
    if (!isfinite(norm) && !d->bad_step) {
        d->bad_step = step;
        d->bad_norm = norm;
    }
}

__global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2bfloat16_rn(src[i]);
}

} // namespace

extern "C" void cuda_adamw_update(float *p, sq_bf16 *p16, const float *g, float *m, float *v, const int64_t *chunk_lo,
                                  const int64_t *chunk_hi, const uint8_t *chunk_decay, int n_chunks, int64_t begin,
                                  int64_t end, const sq_cu_adamw_args *a, const sq_cu_step_numbers *dev,
                                  cudaStream_t s) {
    if (n_chunks < 1 || end <= begin) return;
    double bc1 = 1.0 - pow(a->beta1, (double)a->t), bc2 = 1.0 - pow(a->beta2, (double)a->t);
    adamw_consts c = {a->lr, a->beta1, a->beta2, a->eps, a->weight_decay, a->grad_scale, a->lr / bc1, sqrt(bc2)};
    adamw_kernel<<<n_chunks, 256, 0, s>>>(p, reinterpret_cast<__nv_bfloat16 *>(p16), g, m, v, chunk_lo, chunk_hi,
                                          chunk_decay, begin, end, c, dev);
}

extern "C" void cuda_loss_accumulate(sq_cu_step_numbers *d, const double *loss_rows, int n, cudaStream_t s) {
    loss_accumulate_kernel<<<1, 1, 0, s>>>(d, loss_rows, n);
}

extern "C" void cuda_clip_factor(sq_cu_step_numbers *d, const double *sumsq, double max_norm, long step,
                                 cudaStream_t s) {
    clip_factor_kernel<<<1, 1, 0, s>>>(d, sumsq, max_norm, (long long)step);
}

extern "C" int cuda_sumsq_blocks(void) { return SUMSQ_BLOCKS; }

extern "C" void cuda_grad_sumsq(double *out, double *partial, const float *g, int64_t begin, int64_t end,
                                cudaStream_t s) {
    sumsq_partial_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, s>>>(partial, g, begin, end);
    sumsq_finish_kernel<<<1, SUMSQ_BLOCKS, 0, s>>>(out, partial);
}

extern "C" void cuda_to_bf16(sq_bf16 *dst, const float *src, size_t n, cudaStream_t s) {
    if (n) to_bf16_kernel<<<sq_cdiv((long long)n, 256), 256, 0, s>>>(reinterpret_cast<__nv_bfloat16 *>(dst), src, n);
}
