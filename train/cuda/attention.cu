// Variable-length multi-head attention (BertSelfAttention, eager semantics)
// on packed tokens without any T x T matrix: the forward keeps only each
// row's log-sum-exp, and the backward recomputes the probabilities from it
// (FlashAttention's recurrences: Dao et al. 2022, 2023).  Dropout on the
// probabilities draws the CPU's Philox bits for element
// (head * max_pos + query) * max_pos + key of the sample.
//
// Version 1, the reference every faster version is checked against: one
// warp per (token, head), fp32, the other side's tokens in chunks of 32 (one
// per lane for the dot products, then broadcast for the weighted sums).  The
// backward is two passes without atomics: dq per query (which also stores
// delta = dctx . ctx), then dk and dv per key.  Head size at most 128.
#include "common.cuh"

#include <math.h>

namespace {

constexpr int WARPS = 4, MAX_HS = 128, PER_LANE = MAX_HS / 32;

struct attn_geom {
    int C, NH, hs, max_pos;
    float scale;
};

__device__ __forceinline__ float dot_row(const float *a_shared, const float *b, int hs) {
    float s = 0.0f;
    for (int d = 0; d < hs; d++) s += a_shared[d] * b[d];
    return s;
}

__device__ __forceinline__ uint32_t attn_elem(const attn_geom &g, int h, int tq, int tk) {
    return ((uint32_t)h * (uint32_t)g.max_pos + (uint32_t)tq) * (uint32_t)g.max_pos + (uint32_t)tk;
}

__global__ void attn_forward_v1(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                                sq_cu_tokens tk, sq_cu_drop drop, attn_geom g) {
    __shared__ float sq[WARPS][MAX_HS];
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, i = blockIdx.x * WARPS + w, h = blockIdx.y;
    if (i >= tk.n) return;
    int b = tk.row[i], tq = tk.pos[i], kbeg = tk.cu[b], klen = tk.len[b];
    size_t hoff = (size_t)h * g.hs;
    for (int d = lane; d < g.hs; d += 32) sq[w][d] = q[(size_t)i * g.C + hoff + d];
    __syncwarp();
    float acc[PER_LANE] = {0}, m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < klen; j0 += 32) {
        int j = j0 + lane;
        float s = j < klen ? dot_row(sq[w], k + (size_t)(kbeg + j) * g.C + hoff, g.hs) * g.scale : -INFINITY;
        float m_new = fmaxf(m, warp_max(s)); // finite: lane 0 always has a key
        float corr = expf(m - m_new), p = j < klen ? expf(s - m_new) : 0.0f;
        l = l * corr + warp_sum(p);
        for (int r = 0; r < PER_LANE; r++) acc[r] *= corr;
        float pd = j < klen ? p * drop_factor(tk, drop, b, attn_elem(g, h, tq, j)) : 0.0f;
        int nj = klen - j0 < 32 ? klen - j0 : 32;
        for (int jj = 0; jj < nj; jj++) {
            float pj = __shfl_sync(0xffffffffu, pd, jj);
            if (pj == 0.0f) continue; // dropped (uniform across the warp)
            const float *vr = v + (size_t)(kbeg + j0 + jj) * g.C + hoff;
            for (int r = 0; r < PER_LANE; r++)
                if (lane + 32 * r < g.hs) acc[r] += pj * vr[lane + 32 * r];
        }
        m = m_new;
    }
    for (int r = 0; r < PER_LANE; r++)
        if (lane + 32 * r < g.hs) store_act(ctx, (size_t)i * g.C + hoff + lane + 32 * r, acc[r] / l);
    if (lane == 0) lse[(size_t)i * g.NH + h] = m + logf(l);
}

// dq of query token i, and delta = dctx . ctx for the key pass.
__global__ void attn_backward_dq_v1(sq_cu_act dq, float *delta, const float *dctx, const float *ctx, const float *q,
                                    const float *k, const float *v, const float *lse, sq_cu_tokens tk, sq_cu_drop drop,
                                    attn_geom g) {
    __shared__ float sq[WARPS][MAX_HS], sdo[WARPS][MAX_HS];
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, i = blockIdx.x * WARPS + w, h = blockIdx.y;
    if (i >= tk.n) return;
    int b = tk.row[i], tq = tk.pos[i], kbeg = tk.cu[b], klen = tk.len[b];
    size_t hoff = (size_t)h * g.hs, io = (size_t)i * g.C + hoff;
    float dd = 0.0f;
    for (int d = lane; d < g.hs; d += 32) {
        sq[w][d] = q[io + d];
        sdo[w][d] = dctx[io + d];
        dd += dctx[io + d] * ctx[io + d];
    }
    __syncwarp();
    float D = warp_sum(dd), L = lse[(size_t)i * g.NH + h];
    if (lane == 0) delta[(size_t)i * g.NH + h] = D;
    float acc[PER_LANE] = {0};
    for (int j0 = 0; j0 < klen; j0 += 32) {
        int j = j0 + lane;
        float ds = 0.0f;
        if (j < klen) {
            size_t jo = (size_t)(kbeg + j) * g.C + hoff;
            float p = expf(dot_row(sq[w], k + jo, g.hs) * g.scale - L);
            float f = drop_factor(tk, drop, b, attn_elem(g, h, tq, j));
            float dp = f == 0.0f ? 0.0f : dot_row(sdo[w], v + jo, g.hs) * f;
            ds = p * (dp - D);
        }
        int nj = klen - j0 < 32 ? klen - j0 : 32;
        for (int jj = 0; jj < nj; jj++) {
            float sj = __shfl_sync(0xffffffffu, ds, jj);
            if (sj == 0.0f) continue;
            const float *kr = k + (size_t)(kbeg + j0 + jj) * g.C + hoff;
            for (int r = 0; r < PER_LANE; r++)
                if (lane + 32 * r < g.hs) acc[r] += sj * kr[lane + 32 * r];
        }
    }
    for (int r = 0; r < PER_LANE; r++)
        if (lane + 32 * r < g.hs) store_act(dq, io + lane + 32 * r, acc[r] * g.scale);
}

// dk and dv of key token j: sums over the row's query tokens.
__global__ void attn_backward_dkv_v1(sq_cu_act dk, sq_cu_act dv, const float *delta, const float *dctx,
                                     const float *q, const float *k, const float *v, const float *lse, sq_cu_tokens tk,
                                     sq_cu_drop drop, attn_geom g) {
    __shared__ float sk[WARPS][MAX_HS], sv[WARPS][MAX_HS];
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, j = blockIdx.x * WARPS + w, h = blockIdx.y;
    if (j >= tk.n) return;
    int b = tk.row[j], tj = tk.pos[j], qbeg = tk.cu[b], qlen = tk.cu[b + 1] - tk.cu[b];
    size_t hoff = (size_t)h * g.hs, jo = (size_t)j * g.C + hoff;
    float ak[PER_LANE] = {0}, av[PER_LANE] = {0};
    if (tj < tk.len[b]) { // masked keys (padded layout) get no gradient
        for (int d = lane; d < g.hs; d += 32) {
            sk[w][d] = k[jo + d];
            sv[w][d] = v[jo + d];
        }
        __syncwarp();
        for (int i0 = 0; i0 < qlen; i0 += 32) {
            int i = i0 + lane;
            float pd = 0.0f, ds = 0.0f;
            if (i < qlen) {
                size_t t = (size_t)(qbeg + i), io = t * g.C + hoff;
                float p = expf(dot_row(sk[w], q + io, g.hs) * g.scale - lse[t * g.NH + h]);
                float f = drop_factor(tk, drop, b, attn_elem(g, h, i, tj));
                float dp = f == 0.0f ? 0.0f : dot_row(sv[w], dctx + io, g.hs) * f;
                pd = p * f;
                ds = p * (dp - delta[t * g.NH + h]);
            }
            int ni = qlen - i0 < 32 ? qlen - i0 : 32;
            for (int ii = 0; ii < ni; ii++) {
                float pi = __shfl_sync(0xffffffffu, pd, ii), si = __shfl_sync(0xffffffffu, ds, ii);
                size_t io = (size_t)(qbeg + i0 + ii) * g.C + hoff;
                for (int r = 0; r < PER_LANE; r++) {
                    int d = lane + 32 * r;
                    if (d >= g.hs) continue;
                    av[r] += pi * dctx[io + d];
                    ak[r] += si * q[io + d];
                }
            }
        }
    }
    for (int r = 0; r < PER_LANE; r++)
        if (lane + 32 * r < g.hs) {
            store_act(dk, jo + lane + 32 * r, ak[r] * g.scale);
            store_act(dv, jo + lane + 32 * r, av[r]);
        }
}

attn_geom geom(int C, int NH, int max_pos) {
    attn_geom g = {C, NH, C / NH, max_pos, 1.0f / sqrtf((float)(C / NH))};
    return g;
}

} // namespace

extern "C" void cuda_attention_forward(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                                       const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, int version,
                                       cudaStream_t s) {
    (void)version; // version 1 is the only one so far
    if (tk->n < 1) return;
    dim3 grid(sq_cdiv(tk->n, WARPS), NH);
    attn_forward_v1<<<grid, WARPS * 32, 0, s>>>(ctx, lse, q, k, v, *tk, d, geom(C, NH, max_pos));
}

extern "C" void cuda_attention_backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, float *delta, const float *dctx,
                                        const float *ctx, const float *q, const float *k, const float *v,
                                        const float *lse, const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C,
                                        int NH, int version, cudaStream_t s) {
    (void)version;
    if (tk->n < 1) return;
    dim3 grid(sq_cdiv(tk->n, WARPS), NH);
    attn_geom g = geom(C, NH, max_pos);
    attn_backward_dq_v1<<<grid, WARPS * 32, 0, s>>>(dq, delta, dctx, ctx, q, k, v, lse, *tk, d, g);
    attn_backward_dkv_v1<<<grid, WARPS * 32, 0, s>>>(dk, dv, delta, dctx, q, k, v, lse, *tk, d, g);
}
