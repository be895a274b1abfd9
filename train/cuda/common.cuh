// Device helpers shared by the kernels (C++ only): warp sums, bf16 stores,
// dropout masks from sq/philox.h and the launch geometry.
#ifndef SQ_TRAIN_CUDA_COMMON_CUH
#define SQ_TRAIN_CUDA_COMMON_CUH

#include "kernels.h"

#include "sq/philox.h"

#include <cuda_bf16.h>

static inline int sq_cdiv(long long a, long long b) { return (int)((a + b - 1) / b); }

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ void store_act(sq_cu_act a, size_t i, float x) {
    if (a.f) a.f[i] = x;
    if (a.h) reinterpret_cast<__nv_bfloat16 *>(a.h)[i] = __float2bfloat16_rn(x);
}

// The factor dropout multiplies element `elem` of token row `row` by: 0 or
// 1 / (1 - p), or 1 when p == 0 (as train/cpu/dropout.c).
__device__ __forceinline__ float drop_factor(const sq_cu_tokens &tk, sq_cu_drop d, int row, uint32_t elem) {
    if (d.p <= 0.0f) return 1.0f;
    return sq_dropout_keep(tk.seed, tk.step, tk.sample[row], d.layer, d.site, elem, d.p) ? 1.0f / (1.0f - d.p)
                                                                                       : 0.0f;
}

#endif
