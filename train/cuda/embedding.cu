// BertEmbeddings before its LayerNorm (word + position + token type), and
// the table gradients as segmented sums over host-sorted token lists: each
// table row is owned by one block, which adds its tokens in list order, so
// the result is deterministic without atomics.
#include "common.cuh"

namespace {

__global__ void embedding_forward_kernel(float *out, sq_cu_tokens tk, const float *wte, const float *wpe,
                                         const float *wtt, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)tk.n * C) return;
    int n = (int)(i / C), c = (int)(i % C);
    out[i] = wte[(size_t)tk.ids[n] * C + c] + wpe[(size_t)tk.pos[n] * C + c] + wtt[(size_t)tk.types[n] * C + c];
}

__global__ void embedding_rows_kernel(float *table, const float *dout, const int32_t *seg_row, const int32_t *seg_off,
                                      const int32_t *tok, int C) {
    int k = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float a = 0.0f;
    for (int j = seg_off[k]; j < seg_off[k + 1]; j++) a += dout[(size_t)tok[j] * C + c];
    table[(size_t)seg_row[k] * C + c] += a;
}

} // namespace

extern "C" void cuda_embedding_forward(float *out, const sq_cu_tokens *tk, const float *wte, const float *wpe,
                                       const float *wtt, int C, cudaStream_t s) {
    size_t n = (size_t)tk->n * C;
    if (n) embedding_forward_kernel<<<sq_cdiv((long long)n, 256), 256, 0, s>>>(out, *tk, wte, wpe, wtt, C);
}

extern "C" void cuda_embedding_backward_rows(float *table, const float *dout, const int32_t *seg_row,
                                             const int32_t *seg_off, const int32_t *tok, int n_segs, int C,
                                             cudaStream_t s) {
    if (n_segs > 0) embedding_rows_kernel<<<dim3(n_segs, sq_cdiv(C, 256)), 256, 0, s>>>(table, dout, seg_row, seg_off, tok, C);
}
