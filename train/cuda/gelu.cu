// Exact erf GELU (HF "gelu"; cuBLASLt's GELU epilogue is the tanh
// approximation, so it is not used): train/cpu/gelu.c's twin.
#include "common.cuh"

namespace {

__global__ void gelu_forward_kernel(sq_cu_act out, const float *in, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = in[i];
    store_act(out, i, 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)));
}

__global__ void gelu_backward_kernel(sq_cu_act din, const float *in, const float *dout, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = in[i];
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    store_act(din, i, dout[i] * (cdf + x * 0.3989422804014327f * expf(-0.5f * x * x)));
}

} // namespace

extern "C" void cuda_gelu_forward(sq_cu_act out, const float *in, size_t n, cudaStream_t s) {
    if (n) gelu_forward_kernel<<<sq_cdiv((long long)n, 256), 256, 0, s>>>(out, in, n);
}

extern "C" void cuda_gelu_backward(sq_cu_act din, const float *in, const float *dout, size_t n, cudaStream_t s) {
    if (n) gelu_backward_kernel<<<sq_cdiv((long long)n, 256), 256, 0, s>>>(din, in, dout, n);
}
