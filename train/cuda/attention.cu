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
//
// Version 2 (head size 64, bf16 operands): FlashAttention-2's tiling on the
// tensor cores through WMMA (bf16 16x16x16, fp32 accumulation): 64 x 64
// tiles of q and k/v in shared memory, the online softmax and dropout done
// on the score tile in shared memory by the warp that owns its 16 rows.  The
// backward is deterministic like version 1: delta, then one kernel per key
// tile (dk, dv) and one per query tile (dq), each recomputing the scores.
//
// Version 3 (attention_mma.cu, the bf16 default): version 2's algorithm with
// the scores kept in registers (mma.sync and ldmatrix).
#include "attention_mma.cuh"
#include "common.cuh"

#include <math.h>
#include <mma.h>

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

// ---- version 2 -------------------------------------------------------------

namespace wm = nvcuda::wmma;
constexpr int TILE = 64, HS2 = 64, LDH = TILE + 8, LDF = TILE + 4; // padded leading dimensions
typedef wm::fragment<wm::accumulator, 16, 16, 16, float> frag_acc;
typedef wm::fragment<wm::matrix_a, 16, 16, 16, __nv_bfloat16, wm::row_major> frag_a;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, __nv_bfloat16, wm::row_major> frag_b_row;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, __nv_bfloat16, wm::col_major> frag_b_col;

struct fwd_smem {
    __nv_bfloat16 q[TILE * LDH], k[TILE * LDH], v[TILE * LDH], p[TILE * LDH];
    float s[TILE * LDF], o[TILE * LDF], m[TILE], l[TILE];
};
struct bwd_smem {
    __nv_bfloat16 q[TILE * LDH], dout[TILE * LDH], k[TILE * LDH], v[TILE * LDH], pd[TILE * LDH], ds[TILE * LDH];
    float s[TILE * LDF], dp[TILE * LDF], lse[TILE], delta[TILE];
};

// Rows [r0, r0 + TILE) of x [.., C] at column hoff into a bf16 tile; rows at
// or beyond n are zero.
__device__ void load_tile(__nv_bfloat16 *dst, const float *x, size_t first, int r0, int n, int C, size_t hoff) {
    for (int i = threadIdx.x; i < TILE * HS2; i += blockDim.x) {
        int r = i / HS2, d = i % HS2;
        float val = r0 + r < n ? x[(first + r0 + r) * C + hoff + d] : 0.0f;
        dst[r * LDH + d] = __float2bfloat16_rn(val);
    }
}

// out (16 x 64, fp32, ld LDF) = A (16 x 64 of a, row-major) times B^T where
// B is 64 rows of b (row-major, so B^T is b read column-major).
__device__ void rows_times_rows_t(float *out, const __nv_bfloat16 *a, const __nv_bfloat16 *b) {
    for (int j = 0; j < TILE / 16; j++) {
        frag_acc acc;
        wm::fill_fragment(acc, 0.0f);
        for (int kk = 0; kk < HS2 / 16; kk++) {
            frag_a fa;
            frag_b_col fb;
            wm::load_matrix_sync(fa, a + kk * 16, LDH);
            wm::load_matrix_sync(fb, b + (j * 16) * LDH + kk * 16, LDH);
            wm::mma_sync(acc, fa, fb, acc);
        }
        wm::store_matrix_sync(out + j * 16, acc, LDF, wm::mem_row_major);
    }
}

// acc[j] += A (16 x 64 of a, row-major) times b (64 x 64, row-major), for
// the four 16-column blocks j of the result.
__device__ void rows_times_tile(frag_acc *acc, const __nv_bfloat16 *a, const __nv_bfloat16 *b) {
    for (int j = 0; j < HS2 / 16; j++)
        for (int kk = 0; kk < TILE / 16; kk++) {
            frag_a fa;
            frag_b_row fb;
            wm::load_matrix_sync(fa, a + kk * 16, LDH);
            wm::load_matrix_sync(fb, b + (kk * 16) * LDH + j * 16, LDH);
            wm::mma_sync(acc[j], fa, fb, acc[j]);
        }
}

__global__ void __launch_bounds__(128) attn_forward_v2(sq_cu_act ctx, float *lse, const float *q, const float *k,
                                                       const float *v, sq_cu_tokens tk, sq_cu_drop drop, attn_geom g) {
    extern __shared__ __align__(128) unsigned char raw[];
    fwd_smem &sm = *reinterpret_cast<fwd_smem *>(raw);
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TILE;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (q0 >= qlen) return; // the whole block
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t hoff = (size_t)h * HS2;
    load_tile(sm.q, q, first, q0, qlen, g.C, hoff);
    for (int i = threadIdx.x; i < TILE * HS2; i += blockDim.x) sm.o[(i / HS2) * LDF + i % HS2] = 0.0f;
    if (threadIdx.x < TILE) sm.m[threadIdx.x] = -INFINITY, sm.l[threadIdx.x] = 0.0f;
    for (int k0 = 0; k0 < klen; k0 += TILE) {
        __syncthreads(); // the previous tiles are consumed (and q, o, m, l are in place)
        load_tile(sm.k, k, first, k0, klen, g.C, hoff);
        load_tile(sm.v, v, first, k0, klen, g.C, hoff);
        __syncthreads();
        // this warp's 16 query rows: scores, online softmax, dropout, p @ v
        rows_times_rows_t(sm.s + (w * 16) * LDF, sm.q + (w * 16) * LDH, sm.k);
        __syncwarp();
        for (int rr = 0; rr < 16; rr++) {
            int r = w * 16 + rr, tq = q0 + r;
            float *srow = sm.s + r * LDF;
            bool v0 = k0 + lane < klen, v1 = k0 + lane + 32 < klen;
            float s0 = v0 ? srow[lane] * g.scale : -INFINITY, s1 = v1 ? srow[lane + 32] * g.scale : -INFINITY;
            float m_old = sm.m[r], m_new = fmaxf(m_old, warp_max(fmaxf(s0, s1))); // finite: key k0 is real
            float corr = expf(m_old - m_new), p0 = expf(s0 - m_new), p1 = expf(s1 - m_new);
            float sum = warp_sum(p0 + p1);
            if (tq < qlen) {
                if (v0) p0 *= drop_factor(tk, drop, b, attn_elem(g, h, tq, k0 + lane));
                if (v1) p1 *= drop_factor(tk, drop, b, attn_elem(g, h, tq, k0 + lane + 32));
            }
            sm.p[r * LDH + lane] = __float2bfloat16_rn(p0);
            sm.p[r * LDH + lane + 32] = __float2bfloat16_rn(p1);
            sm.o[r * LDF + lane] *= corr;
            sm.o[r * LDF + lane + 32] *= corr;
            __syncwarp(); // every lane has read m[r] and l[r]
            if (lane == 0) sm.m[r] = m_new, sm.l[r] = sm.l[r] * corr + sum;
        }
        __syncwarp();
        frag_acc acc[HS2 / 16];
        for (int j = 0; j < HS2 / 16; j++)
            wm::load_matrix_sync(acc[j], sm.o + (w * 16) * LDF + j * 16, LDF, wm::mem_row_major);
        rows_times_tile(acc, sm.p + (w * 16) * LDH, sm.v);
        for (int j = 0; j < HS2 / 16; j++)
            wm::store_matrix_sync(sm.o + (w * 16) * LDF + j * 16, acc[j], LDF, wm::mem_row_major);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < TILE * HS2; i += blockDim.x) {
        int r = i / HS2, d = i % HS2;
        if (q0 + r < qlen) store_act(ctx, (size_t)(first + q0 + r) * g.C + hoff + d, sm.o[r * LDF + d] / sm.l[r]);
    }
    if (threadIdx.x < TILE && q0 + threadIdx.x < qlen)
        lse[(size_t)(first + q0 + threadIdx.x) * g.NH + h] = sm.m[threadIdx.x] + logf(sm.l[threadIdx.x]);
}

// delta = dctx . ctx per (token, head): one warp each.
__global__ void attn_delta_v2(float *delta, const float *dctx, const float *ctx, sq_cu_tokens tk, attn_geom g) {
    int i = blockIdx.x * WARPS + threadIdx.x / 32, h = blockIdx.y, lane = threadIdx.x % 32;
    if (i >= tk.n) return;
    size_t io = (size_t)i * g.C + (size_t)h * g.hs;
    float dd = 0.0f;
    for (int d = lane; d < g.hs; d += 32) dd += dctx[io + d] * ctx[io + d];
    dd = warp_sum(dd);
    if (lane == 0) delta[(size_t)i * g.NH + h] = dd;
}

// Writes this warp's 16 rows of a 64-wide fp32 staging tile, times `scale`,
// to rows [r0 + 16 w, ...) of out (those below n).
__device__ void store_rows(sq_cu_act out, const float *stage, size_t first, int r0, int n, int C, size_t hoff,
                           float scale) {
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int rr = 0; rr < 16; rr++) {
        int r = w * 16 + rr;
        if (r0 + r >= n) break;
        for (int d = lane; d < HS2; d += 32)
            store_act(out, (first + r0 + r) * C + hoff + d, stage[r * LDF + d] * scale);
    }
}

// dk and dv of key tile k0: the warp owning 16 keys sums over all query tiles.
__global__ void __launch_bounds__(128) attn_backward_dkv_v2(sq_cu_act dk, sq_cu_act dv, const float *delta,
                                                            const float *dctx, const float *q, const float *k,
                                                            const float *v, const float *lse, sq_cu_tokens tk,
                                                            sq_cu_drop drop, attn_geom g) {
    extern __shared__ __align__(128) unsigned char raw[];
    bwd_smem &sm = *reinterpret_cast<bwd_smem *>(raw);
    int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * TILE;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (k0 >= qlen) return; // no such tokens (keys beyond len still get their zeros below)
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t hoff = (size_t)h * HS2;
    load_tile(sm.k, k, first, k0, klen, g.C, hoff);
    load_tile(sm.v, v, first, k0, klen, g.C, hoff);
    frag_acc adk[HS2 / 16], adv[HS2 / 16];
    for (int j = 0; j < HS2 / 16; j++) wm::fill_fragment(adk[j], 0.0f), wm::fill_fragment(adv[j], 0.0f);
    for (int q0 = 0; q0 < qlen && k0 < klen; q0 += TILE) {
        __syncthreads(); // the previous query tile is consumed
        load_tile(sm.q, q, first, q0, qlen, g.C, hoff);
        load_tile(sm.dout, dctx, first, q0, qlen, g.C, hoff);
        if (threadIdx.x < TILE) {
            int t = q0 + threadIdx.x;
            sm.lse[threadIdx.x] = t < qlen ? lse[(size_t)(first + t) * g.NH + h] : 0.0f;
            sm.delta[threadIdx.x] = t < qlen ? delta[(size_t)(first + t) * g.NH + h] : 0.0f;
        }
        __syncthreads();
        // transposed scores of this warp's 16 keys: s[key][query], dp[key][query]
        rows_times_rows_t(sm.s + (w * 16) * LDF, sm.k + (w * 16) * LDH, sm.q);
        rows_times_rows_t(sm.dp + (w * 16) * LDF, sm.v + (w * 16) * LDH, sm.dout);
        __syncwarp();
        for (int rr = 0; rr < 16; rr++) {
            int r = w * 16 + rr, key = k0 + r;
            for (int c = lane; c < TILE; c += 32) {
                int tq = q0 + c;
                float pd = 0.0f, ds = 0.0f;
                if (key < klen && tq < qlen) {
                    float p = expf(sm.s[r * LDF + c] * g.scale - sm.lse[c]);
                    float f = drop_factor(tk, drop, b, attn_elem(g, h, tq, key));
                    pd = p * f;
                    ds = p * (f == 0.0f ? -sm.delta[c] : sm.dp[r * LDF + c] * f - sm.delta[c]);
                }
                sm.pd[r * LDH + c] = __float2bfloat16_rn(pd);
                sm.ds[r * LDH + c] = __float2bfloat16_rn(ds);
            }
        }
        __syncwarp();
        rows_times_tile(adv, sm.pd + (w * 16) * LDH, sm.dout);
        rows_times_tile(adk, sm.ds + (w * 16) * LDH, sm.q);
    }
    __syncwarp();
    for (int j = 0; j < HS2 / 16; j++) {
        wm::store_matrix_sync(sm.s + (w * 16) * LDF + j * 16, adk[j], LDF, wm::mem_row_major);
        wm::store_matrix_sync(sm.dp + (w * 16) * LDF + j * 16, adv[j], LDF, wm::mem_row_major);
    }
    __syncwarp();
    store_rows(dk, sm.s, first, k0, qlen, g.C, hoff, g.scale);
    store_rows(dv, sm.dp, first, k0, qlen, g.C, hoff, 1.0f);
}

// dq of query tile q0: the warp owning 16 queries sums over all key tiles.
__global__ void __launch_bounds__(128) attn_backward_dq_v2(sq_cu_act dq, const float *delta, const float *dctx,
                                                           const float *q, const float *k, const float *v,
                                                           const float *lse, sq_cu_tokens tk, sq_cu_drop drop,
                                                           attn_geom g) {
    extern __shared__ __align__(128) unsigned char raw[];
    bwd_smem &sm = *reinterpret_cast<bwd_smem *>(raw);
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TILE;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (q0 >= qlen) return;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t hoff = (size_t)h * HS2;
    load_tile(sm.q, q, first, q0, qlen, g.C, hoff);
    load_tile(sm.dout, dctx, first, q0, qlen, g.C, hoff);
    if (threadIdx.x < TILE) {
        int t = q0 + threadIdx.x;
        sm.lse[threadIdx.x] = t < qlen ? lse[(size_t)(first + t) * g.NH + h] : 0.0f;
        sm.delta[threadIdx.x] = t < qlen ? delta[(size_t)(first + t) * g.NH + h] : 0.0f;
    }
    frag_acc adq[HS2 / 16];
    for (int j = 0; j < HS2 / 16; j++) wm::fill_fragment(adq[j], 0.0f);
    for (int k0 = 0; k0 < klen; k0 += TILE) {
        __syncthreads();
        load_tile(sm.k, k, first, k0, klen, g.C, hoff);
        load_tile(sm.v, v, first, k0, klen, g.C, hoff);
        __syncthreads();
        rows_times_rows_t(sm.s + (w * 16) * LDF, sm.q + (w * 16) * LDH, sm.k);
        rows_times_rows_t(sm.dp + (w * 16) * LDF, sm.dout + (w * 16) * LDH, sm.v);
        __syncwarp();
        for (int rr = 0; rr < 16; rr++) {
            int r = w * 16 + rr, tq = q0 + r;
            for (int c = lane; c < TILE; c += 32) {
                int key = k0 + c;
                float ds = 0.0f;
                if (key < klen && tq < qlen) {
                    float p = expf(sm.s[r * LDF + c] * g.scale - sm.lse[r]);
                    float f = drop_factor(tk, drop, b, attn_elem(g, h, tq, key));
                    ds = p * (f == 0.0f ? -sm.delta[r] : sm.dp[r * LDF + c] * f - sm.delta[r]);
                }
                sm.ds[r * LDH + c] = __float2bfloat16_rn(ds);
            }
        }
        __syncwarp();
        rows_times_tile(adq, sm.ds + (w * 16) * LDH, sm.k);
    }
    __syncwarp();
    for (int j = 0; j < HS2 / 16; j++)
        wm::store_matrix_sync(sm.s + (w * 16) * LDF + j * 16, adq[j], LDF, wm::mem_row_major);
    __syncwarp();
    store_rows(dq, sm.s, first, q0, qlen, g.C, hoff, g.scale);
}

// Versions 2 and 3 apply to head size 64; anything else runs version 1.
bool use_v2(int version, const attn_geom &g) { return version == 2 && g.hs == HS2; }

template <typename K> void allow_smem(K kernel, size_t bytes) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

attn_geom geom(int C, int NH, int max_pos) {
    attn_geom g = {C, NH, C / NH, max_pos, 1.0f / sqrtf((float)(C / NH))};
    return g;
}

} // namespace

extern "C" void cuda_attention_forward(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                                       const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, int version,
                                       cudaStream_t s) {
    if (tk->n < 1) return;
    attn_geom g = geom(C, NH, max_pos);
    if (version == 3 && attn_v3_supported(C, NH, tk->max_rows_len, q, k, v)) {
        attn_v3_forward(ctx, lse, q, k, v, tk, d, max_pos, C, NH, s);
        return;
    }
    if (use_v2(version, g)) {
        allow_smem(attn_forward_v2, sizeof(fwd_smem));
        dim3 grid2(sq_cdiv(tk->max_rows_len, TILE), NH, tk->B);
        attn_forward_v2<<<grid2, 128, sizeof(fwd_smem), s>>>(ctx, lse, q, k, v, *tk, d, g);
        return;
    }
    dim3 grid(sq_cdiv(tk->n, WARPS), NH);
    attn_forward_v1<<<grid, WARPS * 32, 0, s>>>(ctx, lse, q, k, v, *tk, d, g);
}

extern "C" void cuda_attention_backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, float *delta, const float *dctx,
                                        const float *ctx, const float *q, const float *k, const float *v,
                                        const float *lse, const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C,
                                        int NH, int version, cudaStream_t s) {
    if (tk->n < 1) return;
    dim3 grid(sq_cdiv(tk->n, WARPS), NH);
    attn_geom g = geom(C, NH, max_pos);
    if (version == 3 && attn_v3_supported(C, NH, tk->max_rows_len, q, k, v)) {
        attn_delta_v2<<<grid, WARPS * 32, 0, s>>>(delta, dctx, ctx, *tk, g);
        attn_v3_backward(dq, dk, dv, delta, dctx, q, k, v, lse, tk, d, max_pos, C, NH, s);
        return;
    }
    if (use_v2(version, g)) {
        allow_smem(attn_backward_dkv_v2, sizeof(bwd_smem));
        allow_smem(attn_backward_dq_v2, sizeof(bwd_smem));
        dim3 grid2(sq_cdiv(tk->max_rows_len, TILE), NH, tk->B);
        attn_delta_v2<<<grid, WARPS * 32, 0, s>>>(delta, dctx, ctx, *tk, g);
        attn_backward_dkv_v2<<<grid2, 128, sizeof(bwd_smem), s>>>(dk, dv, delta, dctx, q, k, v, lse, *tk, d, g);
        attn_backward_dq_v2<<<grid2, 128, sizeof(bwd_smem), s>>>(dq, delta, dctx, q, k, v, lse, *tk, d, g);
        return;
    }
    attn_backward_dq_v1<<<grid, WARPS * 32, 0, s>>>(dq, delta, dctx, ctx, q, k, v, lse, *tk, d, g);
    attn_backward_dkv_v1<<<grid, WARPS * 32, 0, s>>>(dk, dv, delta, dctx, q, k, v, lse, *tk, d, g);
}
