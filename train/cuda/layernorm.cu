// The fused residual LayerNorm of BERT (BertSelfOutput / BertOutput:
// LayerNorm(dropout(dense(x)) + input_tensor); BertEmbeddings:
// dropout(LayerNorm(x))), one warp per token.  Row statistics in double and
// the output rounded as train/cpu/layernorm.c does, so fp32 matches the CPU to a
// few ulps.  Parameter gradients are column sums reduced in a fixed order
// (no atomics): the same bits on every run.  cuda_colsum, the same reduction
// for bias gradients and token types, lives here too.
#include "common.cuh"

namespace {

constexpr int ROWS = 8; // warps (tokens) per block
constexpr int CHUNKS = 64; // row chunks of the column reductions

__global__ void ln_forward_kernel(sq_cu_act out, float *mean, float *rstd, float *r_out, const float *y,
                                  const float *res, const float *w, const float *b, sq_cu_tokens tk, sq_cu_drop pre,
                                  sq_cu_drop post, int C, float eps) {
    int n = blockIdx.x * ROWS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= tk.n) return;
    int row = tk.row[n];
    uint32_t base = (uint32_t)tk.pos[n] * (uint32_t)C;
    size_t off = (size_t)n * C;
    const float *x = y + off;
    double s = 0;
    if (res) {
        for (int c = lane; c < C; c += 32) {
            float v = y[off + c];
            float f = drop_factor(tk, pre, row, base + (uint32_t)c);
            v = (f == 0.0f ? 0.0f : v * f) + res[off + c];
            r_out[off + c] = v;
            s += v;
        }
        x = r_out + off; // this lane re-reads only what it wrote
    } else {
        for (int c = lane; c < C; c += 32) s += x[c];
    }
    double mu = warp_sum(s) / C, var = 0;
    for (int c = lane; c < C; c += 32) var += ((double)x[c] - mu) * ((double)x[c] - mu);
    double r = 1.0 / sqrt(warp_sum(var) / C + (double)eps);
    for (int c = lane; c < C; c += 32) {
        float o = (float)(((double)x[c] - mu) * r) * w[c] + b[c];
        float f = drop_factor(tk, post, row, base + (uint32_t)c);
        store_act(out, off + c, f == 0.0f ? 0.0f : o * f);
    }
    if (lane == 0) {
        mean[n] = (float)mu;
        rstd[n] = (float)r;
    }
}

__global__ void ln_backward_kernel(float *din, sq_cu_act dy, const float *dout, const float *in, const float *w,
                                   const float *mean, const float *rstd, sq_cu_tokens tk, sq_cu_drop pre,
                                   sq_cu_drop post, int C) {
    int n = blockIdx.x * ROWS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= tk.n) return;
    int row = tk.row[n];
    uint32_t base = (uint32_t)tk.pos[n] * (uint32_t)C;
    size_t off = (size_t)n * C;
    double mu = mean[n], rs = rstd[n], mg = 0, mgx = 0;
    for (int c = lane; c < C; c += 32) {
        double g = (double)dout[off + c] * drop_factor(tk, post, row, base + (uint32_t)c);
        double xh = ((double)in[off + c] - mu) * rs;
        mg += g * w[c];
        mgx += g * w[c] * xh;
    }
    mg = warp_sum(mg) / C;
    mgx = warp_sum(mgx) / C;
    for (int c = lane; c < C; c += 32) {
        double g = (double)dout[off + c] * drop_factor(tk, post, row, base + (uint32_t)c);
        double xh = ((double)in[off + c] - mu) * rs;
        float d = (float)((g * w[c] - mg - xh * mgx) * rs);
        din[off + c] = d;
        if (dy.f || dy.h) {
            float f = drop_factor(tk, pre, row, base + (uint32_t)c);
            store_act(dy, off + c, f == 0.0f ? 0.0f : d * f);
        }
    }
}

// The same two kernels for C % 4 == 0 (BERT's sizes): each lane takes four
// consecutive columns, so loads are float4 and one Philox draw serves the
// four dropout elements (sq/philox.h keys groups of four).  Sums are taken in
// another order than above, in double, so results agree to an ulp.
__device__ __forceinline__ void factors4(float (&f)[4], const sq_cu_tokens &tk, const sq_cu_drop &d, int row,
                                         uint32_t elem) {
    if (d.p <= 0.0f) {
        f[0] = f[1] = f[2] = f[3] = 1.0f;
        return;
    }
    sq_philox_ctr r = sq_dropout_draw(tk.seed, tk.step, tk.sample[row], d.layer, d.site, elem);
    float keep = 1.0f / (1.0f - d.p);
#pragma unroll
    for (int i = 0; i < 4; i++) f[i] = sq_philox_uniform(r.v[i]) >= d.p ? keep : 0.0f;
}

__device__ __forceinline__ float4 ld4(const float *p) { return *reinterpret_cast<const float4 *>(p); }

__device__ __forceinline__ void store_act4(sq_cu_act a, size_t i, const float (&x)[4]) {
    if (a.f) *reinterpret_cast<float4 *>(a.f + i) = make_float4(x[0], x[1], x[2], x[3]);
    if (a.h) {
        __nv_bfloat162 lo = __floats2bfloat162_rn(x[0], x[1]), hi = __floats2bfloat162_rn(x[2], x[3]);
        uint2 u = make_uint2(*reinterpret_cast<uint32_t *>(&lo), *reinterpret_cast<uint32_t *>(&hi));
        *reinterpret_cast<uint2 *>(reinterpret_cast<__nv_bfloat16 *>(a.h) + i) = u;
    }
}

__global__ void ln_forward4_kernel(sq_cu_act out, float *mean, float *rstd, float *r_out, const float *y,
                                   const float *res, const float *w, const float *b, sq_cu_tokens tk, sq_cu_drop pre,
                                   sq_cu_drop post, int C, float eps) {
    int n = blockIdx.x * ROWS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= tk.n) return;
    int row = tk.row[n];
    uint32_t base = (uint32_t)tk.pos[n] * (uint32_t)C;
    size_t off = (size_t)n * C;
    const float *x = y + off;
    double s = 0;
    for (int c = 4 * lane; c < C; c += 128) {
        float4 v = ld4(y + off + c);
        if (res) {
            float f[4];
            factors4(f, tk, pre, row, base + (uint32_t)c);
            float4 r = ld4(res + off + c);
            v.x = (f[0] == 0.0f ? 0.0f : v.x * f[0]) + r.x;
            v.y = (f[1] == 0.0f ? 0.0f : v.y * f[1]) + r.y;
            v.z = (f[2] == 0.0f ? 0.0f : v.z * f[2]) + r.z;
            v.w = (f[3] == 0.0f ? 0.0f : v.w * f[3]) + r.w;
            *reinterpret_cast<float4 *>(r_out + off + c) = v;
        }
        s += (double)v.x + (double)v.y + (double)v.z + (double)v.w;
    }
    if (res) x = r_out + off; // this lane re-reads only what it wrote
    double mu = warp_sum(s) / C, var = 0;
    for (int c = 4 * lane; c < C; c += 128) {
        float4 v = ld4(x + c);
        double d0 = v.x - mu, d1 = v.y - mu, d2 = v.z - mu, d3 = v.w - mu;
        var += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
    }
    double r = 1.0 / sqrt(warp_sum(var) / C + (double)eps);
    for (int c = 4 * lane; c < C; c += 128) {
        float4 v = ld4(x + c), wv = ld4(w + c), bv = ld4(b + c);
        float f[4], o[4];
        factors4(f, tk, post, row, base + (uint32_t)c);
        o[0] = (float)(((double)v.x - mu) * r) * wv.x + bv.x;
        o[1] = (float)(((double)v.y - mu) * r) * wv.y + bv.y;
        o[2] = (float)(((double)v.z - mu) * r) * wv.z + bv.z;
        o[3] = (float)(((double)v.w - mu) * r) * wv.w + bv.w;
#pragma unroll
        for (int i = 0; i < 4; i++) o[i] = f[i] == 0.0f ? 0.0f : o[i] * f[i];
        store_act4(out, off + c, o);
    }
    if (lane == 0) {
        mean[n] = (float)mu;
        rstd[n] = (float)r;
    }
}

__global__ void ln_backward4_kernel(float *din, sq_cu_act dy, const float *dout, const float *in, const float *w,
                                    const float *mean, const float *rstd, sq_cu_tokens tk, sq_cu_drop pre,
                                    sq_cu_drop post, int C) {
    int n = blockIdx.x * ROWS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= tk.n) return;
    int row = tk.row[n];
    uint32_t base = (uint32_t)tk.pos[n] * (uint32_t)C;
    size_t off = (size_t)n * C;
    double mu = mean[n], rs = rstd[n], mg = 0, mgx = 0;
    for (int c = 4 * lane; c < C; c += 128) {
        float4 gv = ld4(dout + off + c), xv = ld4(in + off + c), wv = ld4(w + c);
        float f[4];
        factors4(f, tk, post, row, base + (uint32_t)c);
        const float g4[4] = {gv.x, gv.y, gv.z, gv.w}, x4[4] = {xv.x, xv.y, xv.z, xv.w}, w4[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            double g = (double)g4[i] * f[i], xh = ((double)x4[i] - mu) * rs;
            mg += g * w4[i];
            mgx += g * w4[i] * xh;
        }
    }
    mg = warp_sum(mg) / C;
    mgx = warp_sum(mgx) / C;
    for (int c = 4 * lane; c < C; c += 128) {
        float4 gv = ld4(dout + off + c), xv = ld4(in + off + c), wv = ld4(w + c);
        float f[4], fp[4], d[4], o[4];
        factors4(f, tk, post, row, base + (uint32_t)c);
        const float g4[4] = {gv.x, gv.y, gv.z, gv.w}, x4[4] = {xv.x, xv.y, xv.z, xv.w}, w4[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            double g = (double)g4[i] * f[i], xh = ((double)x4[i] - mu) * rs;
            d[i] = (float)((g * w4[i] - mg - xh * mgx) * rs);
        }
        *reinterpret_cast<float4 *>(din + off + c) = make_float4(d[0], d[1], d[2], d[3]);
        if (dy.f || dy.h) {
            factors4(fp, tk, pre, row, base + (uint32_t)c);
#pragma unroll
            for (int i = 0; i < 4; i++) o[i] = fp[i] == 0.0f ? 0.0f : d[i] * fp[i];
            store_act4(dy, off + c, o);
        }
    }
}

// Partial column sums of g * xhat (dw) and g (db) over row chunk blockIdx.y.
__global__ void ln_param_partial_kernel(double *partial, const float *dout, const float *in, const float *mean,
                                        const float *rstd, sq_cu_tokens tk, sq_cu_drop post, int C) {
    __shared__ double sw[8][33], sb[8][33];
    int tx = threadIdx.x % 32, ty = threadIdx.x / 32, c = blockIdx.x * 32 + tx;
    int lo = (int)((long long)tk.n * blockIdx.y / CHUNKS), hi = (int)((long long)tk.n * (blockIdx.y + 1) / CHUNKS);
    double aw = 0, ab = 0;
    if (c < C)
        for (int n = lo + ty; n < hi; n += 8) {
            size_t i = (size_t)n * C + c;
            double g = (double)dout[i] * drop_factor(tk, post, tk.row[n], (uint32_t)tk.pos[n] * (uint32_t)C + (uint32_t)c);
            aw += g * (((double)in[i] - mean[n]) * rstd[n]);
            ab += g;
        }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int j = 1; j < 8; j++) aw += sw[j][tx], ab += sb[j][tx];
        partial[(size_t)blockIdx.y * C + c] = aw;
        partial[(size_t)(CHUNKS + blockIdx.y) * C + c] = ab;
    }
}

__global__ void colsum_partial_kernel(double *partial, const float *src, const int32_t *types, int type, int N, int C) {
    __shared__ double sa[8][33];
    int tx = threadIdx.x % 32, ty = threadIdx.x / 32, c = blockIdx.x * 32 + tx;
    int lo = (int)((long long)N * blockIdx.y / CHUNKS), hi = (int)((long long)N * (blockIdx.y + 1) / CHUNKS);
    double a = 0;
    if (c < C)
        for (int n = lo + ty; n < hi; n += 8)
            if (!types || types[n] == type) a += src[(size_t)n * C + c];
    sa[ty][tx] = a;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int j = 1; j < 8; j++) a += sa[j][tx];
        partial[(size_t)blockIdx.y * C + c] = a;
    }
}

// dst[c] += sum of the CHUNKS partials of column c, in chunk order.
__global__ void colsum_finish_kernel(float *dst, const double *partial, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0;
    for (int j = 0; j < CHUNKS; j++) a += partial[(size_t)j * C + c];
    dst[c] += (float)a;
}

// Whether every pointer suits the float4 kernels (16-byte aligned floats,
// 8-byte aligned bf16; NULL is fine): a config with odd tensor sizes can
// leave a LayerNorm weight at any float offset of the flat buffer.
bool vec4_ok() { return true; }
template <typename P, typename... R> bool vec4_ok(P p, R... rest) {
    return ((uintptr_t)p % (sizeof(*p) == 2 ? 8 : 16)) == 0 && vec4_ok(rest...);
}

} // namespace

extern "C" size_t cuda_colsum_scratch(int C) { return (size_t)CHUNKS * C; }

extern "C" void cuda_colsum(float *dst, const float *src, const int32_t *types, int type, double *partial, int N,
                            int C, cudaStream_t s) {
    colsum_partial_kernel<<<dim3(sq_cdiv(C, 32), CHUNKS), 256, 0, s>>>(partial, src, types, type, N, C);
    colsum_finish_kernel<<<sq_cdiv(C, 256), 256, 0, s>>>(dst, partial, C);
}

extern "C" void cuda_layernorm_forward(sq_cu_act out, float *mean, float *rstd, float *r_out, const float *y,
                                       const float *res, const float *w, const float *b, const sq_cu_tokens *tk,
                                       sq_cu_drop pre, sq_cu_drop post, int C, float eps, cudaStream_t s) {
    if (tk->n < 1) return;
    if (C % 4 == 0 && vec4_ok(out.f, out.h, r_out, y, res, w, b))
        ln_forward4_kernel<<<sq_cdiv(tk->n, ROWS), ROWS * 32, 0, s>>>(out, mean, rstd, r_out, y, res, w, b, *tk, pre,
                                                                      post, C, eps);
    else
        ln_forward_kernel<<<sq_cdiv(tk->n, ROWS), ROWS * 32, 0, s>>>(out, mean, rstd, r_out, y, res, w, b, *tk, pre,
                                                                     post, C, eps);
}

extern "C" void cuda_layernorm_backward(float *din, sq_cu_act dy, float *dw, float *db, const float *dout,
                                        const float *in, const float *w, const float *mean, const float *rstd,
                                        const sq_cu_tokens *tk, sq_cu_drop pre, sq_cu_drop post, double *partial,
                                        int C, cudaStream_t s) {
    if (tk->n < 1) return;
    ln_param_partial_kernel<<<dim3(sq_cdiv(C, 32), CHUNKS), 256, 0, s>>>(partial, dout, in, mean, rstd, *tk, post, C);
    colsum_finish_kernel<<<sq_cdiv(C, 256), 256, 0, s>>>(dw, partial, C);
    if (db) colsum_finish_kernel<<<sq_cdiv(C, 256), 256, 0, s>>>(db, partial + (size_t)CHUNKS * C, C);
    if (C % 4 == 0 && vec4_ok(din, dy.f, dy.h, dout, in, w))
        ln_backward4_kernel<<<sq_cdiv(tk->n, ROWS), ROWS * 32, 0, s>>>(din, dy, dout, in, w, mean, rstd, *tk, pre, post,
                                                                       C);
    else
        ln_backward_kernel<<<sq_cdiv(tk->n, ROWS), ROWS * 32, 0, s>>>(din, dy, dout, in, w, mean, rstd, *tk, pre, post,
                                                                      C);
}
