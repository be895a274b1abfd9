// BertForQuestionAnswering's head after qa_outputs: start/end logits in the
// [B, T] layout the trainer reads (-inf where masked, as train/cpu/qa_loss.c),
// and (CE(start)/n_start + CE(end)/n_end) / 2 with its gradient, one block
// per row and side; log-sum-exp in double as the CPU.
#include "common.cuh"

#include <math.h>

namespace {

constexpr int THREADS = 256;

__global__ void split_kernel(float *start, float *end, const float *logits2, sq_cu_tokens tk, int hf_padded) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= tk.B * tk.T) return;
    int b = i / tk.T, t = i % tk.T;
    int computed = t < tk.cu[b + 1] - tk.cu[b];
    int masked = !computed || (!hf_padded && t >= tk.len[b]);
    size_t n = (size_t)tk.cu[b] + t;
    start[i] = masked ? -INFINITY : logits2[2 * n];
    end[i] = masked ? -INFINITY : logits2[2 * n + 1];
}

__global__ void loss_kernel(float *dlogits2, double *loss_rows, const float *start, const float *end,
                            const int32_t *spos, const int32_t *epos, sq_cu_tokens tk, int hf_padded, int n_start,
                            int n_end) {
    __shared__ float smax[THREADS];
    __shared__ double ssum[THREADS];
    int b = blockIdx.x / 2, side = blockIdx.x % 2, T = tk.T;
    int rows_len = tk.cu[b + 1] - tk.cu[b];
    int n = hf_padded ? T : tk.len[b];
    int cnt = side ? n_end : n_start;
    int p = side ? epos[b] : spos[b];
    p = p < 0 ? 0 : p > T ? T : p;
    const float *lg = (side ? end : start) + (size_t)b * T;
    float *dl = dlogits2 + (size_t)tk.cu[b] * 2 + side;
    if (p >= n || cnt <= 0) { // ignored label (HF ignore_index = T)
        for (int t = threadIdx.x; t < rows_len; t += THREADS) dl[2 * t] = 0.0f;
        if (threadIdx.x == 0) loss_rows[blockIdx.x] = 0.0;
        return;
    }
    float mx = -INFINITY;
    for (int t = threadIdx.x; t < n; t += THREADS) mx = fmaxf(mx, lg[t]);
    smax[threadIdx.x] = mx;
    __syncthreads();
    for (int h = THREADS / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + h]);
        __syncthreads();
    }
    mx = smax[0];
    double s = 0;
    for (int t = threadIdx.x; t < n; t += THREADS) s += exp((double)lg[t] - mx);
    ssum[threadIdx.x] = s;
    __syncthreads();
    for (int h = THREADS / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) ssum[threadIdx.x] += ssum[threadIdx.x + h];
        __syncthreads();
    }
    double lse = mx + log(ssum[0]), w = 0.5 / cnt;
    for (int t = threadIdx.x; t < rows_len; t += THREADS) {
        float g = t < n ? (float)(w * exp((double)lg[t] - lse)) : 0.0f;
        if (t == p) g -= (float)w;
        dl[2 * t] = g;
    }
    if (threadIdx.x == 0) loss_rows[blockIdx.x] = w * (lse - lg[p]);
}

} // namespace

extern "C" void cuda_qa_split_logits(float *start, float *end, const float *logits2, const sq_cu_tokens *tk,
                                     int hf_padded, cudaStream_t s) {
    int n = tk->B * tk->T;
    if (n) split_kernel<<<sq_cdiv(n, 256), 256, 0, s>>>(start, end, logits2, *tk, hf_padded);
}

extern "C" void cuda_qa_loss_forward_backward(float *dlogits2, double *loss_rows, const float *start, const float *end,
                                              const int32_t *spos, const int32_t *epos, const sq_cu_tokens *tk,
                                              int hf_padded, int n_start, int n_end, cudaStream_t s) {
    if (tk->B) loss_kernel<<<2 * tk->B, THREADS, 0, s>>>(dlogits2, loss_rows, start, end, spos, epos, *tk, hf_padded,
                                                         n_start, n_end);
}
