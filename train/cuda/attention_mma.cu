// Attention version 3: FlashAttention-2 on the tensor cores with mma.sync
// (m16n8k16, bf16 operands, fp32 accumulation) and ldmatrix, head size 64.
// Unlike version 2, scores never leave the registers: the accumulator layout
// of S = Q K^T is reused as the A operand of P V (Dao 2023, section 3.1), the
// online softmax reduces across the four lanes that share a row, and the
// dropout mask is drawn in registers, each group of four elements that share
// a Philox counter drawn by one lane and shuffled to the lanes that need it.  Semantics, masks and the deterministic two-kernel
// backward (dk/dv per key tile, dq per query tile, no atomics) are version
// 2's; see attention.cu.
#include "attention_mma.cuh"

#include <math.h>

namespace {

constexpr int TILE = 64, HS = 64, LD = HS + 8; // +8 bf16: ldmatrix rows land on distinct banks
constexpr int ROWS = 128, THREADS = 256;       // a block's chunk: 8 warps of 16 rows
constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

struct geom3 {
    int C, NH, max_pos;
    float scale, scale_log2; // 1/sqrt(hs), and that times log2(e) for exp2f
};

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], const __nv_bfloat16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}

__device__ __forceinline__ void ldsm4_t(uint32_t (&r)[4], const __nv_bfloat16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}

__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); // lo in the low half: the smaller column
    return *reinterpret_cast<uint32_t *>(&v);
}

// Rows [r0, r0 + rows) of x [.., C] at column hoff, as bf16 rows of dst;
// rows at or beyond n are zero (a masked key's V row must be finite).  Each
// thread has UNROLL loads in flight before it converts and stores any: with
// one block per SM nothing else hides the latency of a load.
constexpr int UNROLL = 8;
__device__ __forceinline__ void load_rows(__nv_bfloat16 *dst, const float *x, int first, int r0, int rows, int n,
                                          int C, int hoff) {
    const int total = rows * (HS / 4);
    for (int base = threadIdx.x; base < total; base += UNROLL * blockDim.x) {
        float4 v[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int i = base + u * blockDim.x, r = i / (HS / 4), c = (i % (HS / 4)) * 4;
            v[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (i < total && r0 + r < n)
                v[u] = __ldg(reinterpret_cast<const float4 *>(x + (size_t)(first + r0 + r) * C + hoff + c));
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int i = base + u * blockDim.x, r = i / (HS / 4), c = (i % (HS / 4)) * 4;
            if (i < total)
                *reinterpret_cast<uint2 *>(dst + r * LD + c) =
                    make_uint2(pack_bf16(v[u].x, v[u].y), pack_bf16(v[u].z, v[u].w));
        }
    }
}

// The mask words of the block's rows [r0, r0 + ROWS) (those below n) for head h.
__device__ __forceinline__ void load_mask_rows(uint32_t *smask, const uint32_t *mask, int first, int r0, int n, int h,
                                               int NH, int words) {
    for (int i = threadIdx.x; i < ROWS * words; i += blockDim.x) {
        int r = i / words, wd = i % words;
        smask[i] = r0 + r < n ? mask[((size_t)(first + r0 + r) * NH + h) * words + wd] : 0u;
    }
}

// A fragments of the warp's 16 rows (from row0) of a tile, for the four
// 16-wide steps over the head dimension.
__device__ __forceinline__ void load_a(uint32_t (&a)[4][4], const __nv_bfloat16 *t, int row0) {
    int lane = threadIdx.x % 32;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) ldsm4(a[kk], t + (row0 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
}

// s (16 x 64) = A (16 x 64, fragments) times x^T, x a 64 x 64 tile whose
// rows index the result's columns.
__device__ __forceinline__ void mma_abt(float (&s)[8][4], const uint32_t (&a)[4][4], const __nv_bfloat16 *x) {
    int lane = threadIdx.x % 32;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
#pragma unroll
        for (int np = 0; np < 4; np++) {
            uint32_t b[4];
            ldsm4(b, x + (np * 16 + lane % 8 + (lane / 16) * 8) * LD + kk * 16 + ((lane / 8) % 2) * 8);
            mma16816(s[2 * np], a[kk], b[0], b[1]);
            mma16816(s[2 * np + 1], a[kk], b[2], b[3]);
        }
}

// o (16 x 64) += p (16 x 64, accumulator layout, rounded to bf16) times y,
// a 64 x 64 tile whose rows index p's columns.
__device__ __forceinline__ void mma_py(float (&o)[8][4], const float (&p)[8][4], const __nv_bfloat16 *y) {
    int lane = threadIdx.x % 32;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                         pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int dp = 0; dp < 4; dp++) {
            uint32_t b[4];
            ldsm4_t(b, y + (kk * 16 + lane % 16) * LD + dp * 16 + (lane / 16) * 8);
            mma16816(o[2 * dp], a, b[0], b[1]);
            mma16816(o[2 * dp + 1], a, b[2], b[3]);
        }
    }
}

__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

__device__ __forceinline__ uint32_t attn_elem(const geom3 &g, int h, int tq, int tk) {
    return ((uint32_t)h * (uint32_t)g.max_pos + (uint32_t)tq) * (uint32_t)g.max_pos + (uint32_t)tk;
}

// Keep bits of dropout elements e .. e + 3 (bit i: element e + i).  With
// e a multiple of 4 (max_pos % 4 == 0) that is one Philox draw; the lanes
// of a warp then share the bits by shuffles, so each element is drawn once
// per kernel instead of once per lane that needs it.
__device__ __forceinline__ uint32_t keep4(const sq_cu_tokens &tk, const sq_cu_drop &d, uint32_t sample, uint32_t e) {
    sq_philox_ctr r = sq_dropout_draw(tk.seed, tk.step, sample, d.layer, d.site, e);
    uint32_t bits = 0;
    if ((e & 3) == 0) { // the usual case: one draw, lanes in order
#pragma unroll
        for (uint32_t i = 0; i < 4; i++) bits |= (uint32_t)(sq_philox_uniform(r.v[i]) >= d.p) << i;
        return bits;
    }
#pragma unroll
    for (uint32_t i = 0; i < 4; i++) {
        if (i > 0 && ((e + i) & 3) == 0) r = sq_dropout_draw(tk.seed, tk.step, sample, d.layer, d.site, e + i);
        bits |= (uint32_t)sq_dropout_lane_keep(r, e + i, d.p) << i;
    }
    return bits;
}

// Row-major score tiles (rows: queries, columns: keys): the keep bits of
// this lane's four elements of n-tile columns [key0, key0 + 8), as factors.
// Lanes 2i and 2i + 1 need the same two groups of four keys for rows gr and
// gr + 8: each draws one and they swap.
__device__ __forceinline__ void drop_rows(float (&f)[4], const sq_cu_tokens &tk, const sq_cu_drop &d, uint32_t sample,
                                          const geom3 &g, int h, const int (&tq)[2], int key0, float inv_keep) {
    int lane = threadIdx.x % 32, tc = 2 * (lane % 4);
    uint32_t mine = keep4(tk, d, sample, attn_elem(g, h, lane & 1 ? tq[1] : tq[0], key0 + (tc & ~3)));
    uint32_t other = __shfl_xor_sync(0xffffffffu, mine, 1);
    uint32_t n0 = lane & 1 ? other : mine, n1 = lane & 1 ? mine : other;
    int sh = tc & 3;
    f[0] = (n0 >> sh) & 1 ? inv_keep : 0.0f;
    f[1] = (n0 >> (sh + 1)) & 1 ? inv_keep : 0.0f;
    f[2] = (n1 >> sh) & 1 ? inv_keep : 0.0f;
    f[3] = (n1 >> (sh + 1)) & 1 ? inv_keep : 0.0f;
}

// Transposed tiles (rows: the warp's 16 keys from key0, columns: queries
// [q0c, q0c + 8)): lane L draws the group (query L % 8, keys 4 (L / 8) ..),
// and each lane gathers its four elements' bits.
__device__ __forceinline__ void drop_cols(float (&f)[4], const sq_cu_tokens &tk, const sq_cu_drop &d, uint32_t sample,
                                          const geom3 &g, int h, int q0c, int key0, float inv_keep) {
    int lane = threadIdx.x % 32, gr = lane / 4, tc = 2 * (lane % 4);
    uint32_t nib = keep4(tk, d, sample, attn_elem(g, h, q0c + lane % 8, key0 + 4 * (lane / 8)));
    int src0 = tc + 8 * (gr >> 2), bit = gr & 3;
    uint32_t b0 = __shfl_sync(0xffffffffu, nib, src0), b1 = __shfl_sync(0xffffffffu, nib, src0 + 1);
    uint32_t b2 = __shfl_sync(0xffffffffu, nib, src0 + 16), b3 = __shfl_sync(0xffffffffu, nib, src0 + 17);
    f[0] = (b0 >> bit) & 1 ? inv_keep : 0.0f;
    f[1] = (b1 >> bit) & 1 ? inv_keep : 0.0f;
    f[2] = (b2 >> bit) & 1 ? inv_keep : 0.0f;
    f[3] = (b3 >> bit) & 1 ? inv_keep : 0.0f;
}

// The same factors from a mask staged in shared memory (cuda_attention_mask).
// Row-major: smask holds `words` words per row of the block's chunk; this
// lane's rows are r and r + 8, its keys key and key + 1 (key even).
__device__ __forceinline__ void mask_rows(float (&f)[4], const uint32_t *smask, int words, int r, int key,
                                          float inv_keep) {
    uint32_t w0 = smask[r * words + key / 32], w1 = smask[(r + 8) * words + key / 32];
    int sh = key % 32;
    f[0] = (w0 >> sh) & 1 ? inv_keep : 0.0f;
    f[1] = (w0 >> (sh + 1)) & 1 ? inv_keep : 0.0f;
    f[2] = (w1 >> sh) & 1 ? inv_keep : 0.0f;
    f[3] = (w1 >> (sh + 1)) & 1 ? inv_keep : 0.0f;
}

// Transposed: smask holds, per query row, the 4 words of the block's 128
// keys; this lane's keys are bits `bit` and bit + 8 of word j, its queries
// c and c + 1.
__device__ __forceinline__ void mask_cols(float (&f)[4], const uint32_t *smask, int j, int bit, int c,
                                          float inv_keep) {
    uint32_t w0 = smask[c * 4 + j], w1 = smask[(c + 1) * 4 + j];
    f[0] = (w0 >> bit) & 1 ? inv_keep : 0.0f;
    f[1] = (w1 >> bit) & 1 ? inv_keep : 0.0f;
    f[2] = (w0 >> (bit + 8)) & 1 ? inv_keep : 0.0f;
    f[3] = (w1 >> (bit + 8)) & 1 ? inv_keep : 0.0f;
}

__device__ __forceinline__ void store_pair(sq_cu_act a, size_t i, float x0, float x1) {
    if (a.f) *reinterpret_cast<float2 *>(a.f + i) = make_float2(x0, x1);
    if (a.h) *reinterpret_cast<uint32_t *>(a.h + i) = pack_bf16(x0, x1);
}

// Shared memory holds a block's chunk of ROWS rows and the whole other side
// of the sequence (BERT's rows are at most max_position_embeddings long), so
// each warp runs its loop over 64-row tiles with no barrier and nothing
// loaded twice by the block.
template <bool MASK>
__global__ void __launch_bounds__(THREADS) attn_forward_v3(sq_cu_act ctx, float *lse, const float *q, const float *k,
                                                           const float *v, sq_cu_tokens tk, sq_cu_drop drop, geom3 g,
                                                           int kmax, int words) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *sq = reinterpret_cast<__nv_bfloat16 *>(smem), *sk = sq + ROWS * LD, *sv = sk + kmax * LD;
    uint32_t *smask = reinterpret_cast<uint32_t *>(sv + kmax * LD);
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ROWS;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (q0 >= qlen) return;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, gr = lane / 4, tc = 2 * (lane % 4), hoff = h * HS;
    int kr = (klen + TILE - 1) / TILE * TILE;
    load_rows(sq, q, first, q0, ROWS, qlen, g.C, hoff);
    load_rows(sk, k, first, 0, kr, klen, g.C, hoff);
    load_rows(sv, v, first, 0, kr, klen, g.C, hoff);
    if (MASK) load_mask_rows(smask, drop.mask, first, q0, qlen, h, g.NH, words);
    __syncthreads();
    if (q0 + w * 16 >= qlen) return; // no rows for this warp
    uint32_t qa[4][4];
    load_a(qa, sq, w * 16);
    float o[8][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    int tq[2] = {q0 + w * 16 + gr, q0 + w * 16 + gr + 8};
    uint32_t sample = tk.sample[b];
    float inv_keep = drop.p > 0.0f ? 1.0f / (1.0f - drop.p) : 1.0f;
    for (int k0 = 0; k0 < klen; k0 += TILE) {
        float s[8][4];
        mma_abt(s, qa, sk + k0 * LD);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + nt * 8 + tc + (e & 1);
                s[nt][e] = key < klen ? s[nt][e] * g.scale_log2 : -INFINITY;
                mx[e >> 1] = fmaxf(mx[e >> 1], s[nt][e]);
            }
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            float mn = fmaxf(m[hr], quad_max(mx[hr])); // finite: key k0 is real
            float corr = exp2f(m[hr] - mn);
            m[hr] = mn, l[hr] *= corr;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) o[nt][2 * hr] *= corr, o[nt][2 * hr + 1] *= corr;
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float p = exp2f(s[nt][e] - m[e >> 1]);
                l[e >> 1] += p; // this lane's share of the row sum, before dropout
                s[nt][e] = p;
            }
        if (drop.p > 0.0f)
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                float f[4];
                if (MASK)
                    mask_rows(f, smask, words, w * 16 + gr, k0 + nt * 8 + tc, inv_keep);
                else
                    drop_rows(f, tk, drop, sample, g, h, tq, k0 + nt * 8, inv_keep);
#pragma unroll
                for (int e = 0; e < 4; e++) s[nt][e] *= f[e];
            }
        mma_py(o, s, sv + k0 * LD);
    }
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        float lt = quad_sum(l[hr]);
        if (tq[hr] >= qlen) continue;
        size_t row = (size_t)(first + tq[hr]);
        float inv = 1.0f / lt;
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            store_pair(ctx, row * g.C + hoff + nt * 8 + tc, o[nt][2 * hr] * inv, o[nt][2 * hr + 1] * inv);
        if (lane % 4 == 0) lse[row * g.NH + h] = (m[hr] + log2f(lt)) * LN2;
    }
}

// dq of a chunk of queries: each warp sums dS K over all keys for its 16.
template <bool MASK>
__global__ void __launch_bounds__(THREADS) attn_backward_dq_v3(sq_cu_act dq, const float *delta, const float *dctx,
                                                               const float *q, const float *k, const float *v,
                                                               const float *lse, sq_cu_tokens tk, sq_cu_drop drop,
                                                               geom3 g, int kmax, int words) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *sq = reinterpret_cast<__nv_bfloat16 *>(smem), *sdo = sq + ROWS * LD, *sk = sdo + ROWS * LD,
                  *sv = sk + kmax * LD;
    uint32_t *smask = reinterpret_cast<uint32_t *>(sv + kmax * LD);
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ROWS;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (q0 >= qlen) return;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, gr = lane / 4, tc = 2 * (lane % 4), hoff = h * HS;
    int kr = (klen + TILE - 1) / TILE * TILE;
    load_rows(sq, q, first, q0, ROWS, qlen, g.C, hoff);
    load_rows(sdo, dctx, first, q0, ROWS, qlen, g.C, hoff);
    load_rows(sk, k, first, 0, kr, klen, g.C, hoff);
    load_rows(sv, v, first, 0, kr, klen, g.C, hoff);
    if (MASK) load_mask_rows(smask, drop.mask, first, q0, qlen, h, g.NH, words);
    __syncthreads();
    if (q0 + w * 16 >= qlen) return;
    uint32_t qa[4][4], da[4][4];
    load_a(qa, sq, w * 16);
    load_a(da, sdo, w * 16);
    int tq[2] = {q0 + w * 16 + gr, q0 + w * 16 + gr + 8};
    float lse2[2], dl[2];
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        bool ok = tq[hr] < qlen;
        lse2[hr] = ok ? lse[(size_t)(first + tq[hr]) * g.NH + h] * LOG2E : INFINITY; // p = 0 on rows not computed
        dl[hr] = ok ? delta[(size_t)(first + tq[hr]) * g.NH + h] : 0.0f;
    }
    uint32_t sample = tk.sample[b];
    float inv_keep = drop.p > 0.0f ? 1.0f / (1.0f - drop.p) : 1.0f;
    float acc[8][4] = {};
    for (int k0 = 0; k0 < klen; k0 += TILE) {
        float s[8][4], dp[8][4];
        mma_abt(s, qa, sk + k0 * LD);
        mma_abt(dp, da, sv + k0 * LD);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            float f[4] = {1.0f, 1.0f, 1.0f, 1.0f};
            if (drop.p > 0.0f) {
                if (MASK)
                    mask_rows(f, smask, words, w * 16 + gr, k0 + nt * 8 + tc, inv_keep);
                else
                    drop_rows(f, tk, drop, sample, g, h, tq, k0 + nt * 8, inv_keep);
            }
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + nt * 8 + tc + (e & 1);
                float p = key < klen ? exp2f(s[nt][e] * g.scale_log2 - lse2[e >> 1]) : 0.0f;
                s[nt][e] = p * (dp[nt][e] * f[e] - dl[e >> 1]); // dS
            }
        }
        mma_py(acc, s, sk + k0 * LD);
    }
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        if (tq[hr] >= qlen) continue;
        size_t row = (size_t)(first + tq[hr]);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            store_pair(dq, row * g.C + hoff + nt * 8 + tc, acc[nt][2 * hr] * g.scale, acc[nt][2 * hr + 1] * g.scale);
    }
}

// dk and dv of a chunk of keys: the warp owning 16 keys works on the
// transposed scores S^T = K Q^T, so its products are dV += (P o F)^T dO and
// dK += dS^T Q.
template <bool MASK>
__global__ void __launch_bounds__(THREADS) attn_backward_dkv_v3(sq_cu_act dk, sq_cu_act dv, const float *delta,
                                                                const float *dctx, const float *q, const float *k,
                                                                const float *v, const float *lse, sq_cu_tokens tk,
                                                                sq_cu_drop drop, geom3 g, int qmax, int words) {
    extern __shared__ __align__(16) unsigned char smem[];
    __nv_bfloat16 *sk = reinterpret_cast<__nv_bfloat16 *>(smem), *sv = sk + ROWS * LD, *sq = sv + ROWS * LD,
                  *sdo = sq + qmax * LD;
    float *slse = reinterpret_cast<float *>(sdo + qmax * LD), *sdl = slse + qmax;
    uint32_t *smask = reinterpret_cast<uint32_t *>(sdl + qmax); // [qmax][4]: the words of this block's keys
    int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * ROWS;
    int first = tk.cu[b], qlen = tk.cu[b + 1] - first, klen = tk.len[b];
    if (k0 >= qlen) return; // no such tokens (keys beyond len still get their zeros below)
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, gr = lane / 4, tc = 2 * (lane % 4), hoff = h * HS;
    int qr = (qlen + TILE - 1) / TILE * TILE;
    load_rows(sk, k, first, k0, ROWS, klen, g.C, hoff);
    load_rows(sv, v, first, k0, ROWS, klen, g.C, hoff);
    load_rows(sq, q, first, 0, qr, qlen, g.C, hoff);
    load_rows(sdo, dctx, first, 0, qr, qlen, g.C, hoff);
    for (int t = threadIdx.x; t < qr; t += blockDim.x) {
        slse[t] = t < qlen ? lse[(size_t)(first + t) * g.NH + h] * LOG2E : INFINITY;
        sdl[t] = t < qlen ? delta[(size_t)(first + t) * g.NH + h] : 0.0f;
    }
    if (MASK)
        for (int i = threadIdx.x; i < qr * 4; i += blockDim.x) {
            int t = i / 4, wd = k0 / 32 + i % 4;
            smask[i] = t < qlen && wd < words ? drop.mask[((size_t)(first + t) * g.NH + h) * words + wd] : 0u;
        }
    __syncthreads();
    int kw = k0 + w * 16; // this warp's first key
    if (kw >= qlen) return;
    uint32_t ka[4][4], va[4][4];
    load_a(ka, sk, w * 16);
    load_a(va, sv, w * 16);
    int key[2] = {kw + gr, kw + gr + 8};
    uint32_t sample = tk.sample[b];
    float inv_keep = drop.p > 0.0f ? 1.0f / (1.0f - drop.p) : 1.0f;
    float adk[8][4] = {}, adv[8][4] = {};
    for (int q0 = 0; q0 < qlen && kw < klen; q0 += TILE) {
        float s[8][4], dp[8][4];
        mma_abt(s, ka, sq + q0 * LD);
        mma_abt(dp, va, sdo + q0 * LD);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            float f[4] = {1.0f, 1.0f, 1.0f, 1.0f};
            if (drop.p > 0.0f) {
                if (MASK)
                    mask_cols(f, smask, w / 2, (w % 2) * 16 + gr, q0 + nt * 8 + tc, inv_keep);
                else
                    drop_cols(f, tk, drop, sample, g, h, q0 + nt * 8, kw, inv_keep);
            }
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = q0 + nt * 8 + tc + (e & 1);
                float p = key[e >> 1] < klen ? exp2f(s[nt][e] * g.scale_log2 - slse[c]) : 0.0f;
                s[nt][e] = p * f[e];                         // dropped probabilities, for dV
                dp[nt][e] = p * (dp[nt][e] * f[e] - sdl[c]); // dS^T, for dK
            }
        }
        mma_py(adv, s, sdo + q0 * LD);
        mma_py(adk, dp, sq + q0 * LD);
    }
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        if (key[hr] >= qlen) continue;
        size_t row = (size_t)(first + key[hr]);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            size_t i = row * g.C + hoff + nt * 8 + tc;
            store_pair(dk, i, adk[nt][2 * hr] * g.scale, adk[nt][2 * hr + 1] * g.scale);
            store_pair(dv, i, adv[nt][2 * hr], adv[nt][2 * hr + 1]);
        }
    }
}

// One thread per mask word: 8 draws of 4 keys each.
__global__ void attn_mask_v3(uint32_t *mask, sq_cu_tokens tk, sq_cu_drop drop, geom3 g, int words, size_t total) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int wd = (int)(t % words), h = (int)(t / words % g.NH), i = (int)(t / words / g.NH);
    uint32_t sample = tk.sample[tk.row[i]], e = attn_elem(g, h, tk.pos[i], 32 * wd), bits = 0;
#pragma unroll
    for (int j = 0; j < 8; j++) bits |= keep4(tk, drop, sample, e + 4 * j) << (4 * j);
    mask[t] = bits;
}

geom3 geom(int C, int NH, int max_pos) {
    float scale = 1.0f / sqrtf((float)(C / NH));
    geom3 g = {C, NH, max_pos, scale, scale * LOG2E};
    return g;
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

// Dynamic shared memory of the three kernels for rows up to `rows` long
// (mask words included: `words` per row of a chunk, 4 per query for dk/dv).
size_t smem_fwd(int rows, int words) {
    return (size_t)(ROWS + 2 * rows) * LD * sizeof(__nv_bfloat16) + (size_t)ROWS * words * 4;
}
size_t smem_dq(int rows, int words) {
    return (size_t)(2 * ROWS + 2 * rows) * LD * sizeof(__nv_bfloat16) + (size_t)ROWS * words * 4;
}
size_t smem_dkv(int rows) {
    return (size_t)(2 * ROWS + 2 * rows) * LD * sizeof(__nv_bfloat16) + 2 * (size_t)rows * sizeof(float) +
           16 * (size_t)rows;
}
int round_tile(int n) { return (n + TILE - 1) / TILE * TILE; }

template <typename K> void allow(K kernel, size_t bytes) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

} // namespace

extern "C" int cuda_attention_mask_words(int max_rows_len) { return round_tile(max_rows_len) / 32; }

extern "C" void cuda_attention_mask(uint32_t *mask, const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int NH,
                                    cudaStream_t s) {
    if (tk->n < 1 || d.p <= 0.0f) return;
    int words = cuda_attention_mask_words(tk->max_rows_len);
    size_t total = (size_t)tk->n * NH * words;
    geom3 g = {0, NH, max_pos, 0.0f, 0.0f};
    attn_mask_v3<<<sq_cdiv((long long)total, 256), 256, 0, s>>>(mask, *tk, d, g, words, total);
}

bool attn_v3_supported(int C, int NH, int max_rows_len, const float *q, const float *k, const float *v) {
    static int optin = -1; // the device's shared memory per block, opted in
    if (optin < 0) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            optin = 0;
    }
    int rows = round_tile(max_rows_len), words = rows / 32;
    size_t need = smem_dkv(rows) > smem_dq(rows, words) ? smem_dkv(rows) : smem_dq(rows, words);
    return C % NH == 0 && C / NH == HS && need <= (size_t)optin && aligned16(q) && aligned16(k) && aligned16(v);
}

void attn_v3_forward(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                     const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, cudaStream_t s) {
    int rows = round_tile(tk->max_rows_len), words = rows / 32;
    dim3 grid(sq_cdiv(tk->max_rows_len, ROWS), NH, tk->B);
    geom3 g = geom(C, NH, max_pos);
    size_t sm = smem_fwd(rows, words);
    if (d.mask && d.p > 0.0f) {
        allow(attn_forward_v3<true>, sm);
        attn_forward_v3<true><<<grid, THREADS, sm, s>>>(ctx, lse, q, k, v, *tk, d, g, rows, words);
    } else {
        allow(attn_forward_v3<false>, sm);
        attn_forward_v3<false><<<grid, THREADS, sm, s>>>(ctx, lse, q, k, v, *tk, d, g, rows, words);
    }
}

template <bool MASK>
static void backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, const float *delta, const float *dctx, const float *q,
                     const float *k, const float *v, const float *lse, const sq_cu_tokens *tk, sq_cu_drop d,
                     geom3 g, cudaStream_t s) {
    int rows = round_tile(tk->max_rows_len), words = rows / 32;
    dim3 grid(sq_cdiv(tk->max_rows_len, ROWS), g.NH, tk->B);
    allow(attn_backward_dkv_v3<MASK>, smem_dkv(rows));
    allow(attn_backward_dq_v3<MASK>, smem_dq(rows, words));
    attn_backward_dkv_v3<MASK><<<grid, THREADS, smem_dkv(rows), s>>>(dk, dv, delta, dctx, q, k, v, lse, *tk, d, g,
                                                                     rows, words);
    attn_backward_dq_v3<MASK><<<grid, THREADS, smem_dq(rows, words), s>>>(dq, delta, dctx, q, k, v, lse, *tk, d, g,
                                                                          rows, words);
}

void attn_v3_backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, const float *delta, const float *dctx,
                      const float *q, const float *k, const float *v, const float *lse, const sq_cu_tokens *tk,
                      sq_cu_drop d, int max_pos, int C, int NH, cudaStream_t s) {
    geom3 g = geom(C, NH, max_pos);
    if (d.mask && d.p > 0.0f)
        backward<true>(dq, dk, dv, delta, dctx, q, k, v, lse, tk, d, g, s);
    else
        backward<false>(dq, dk, dv, delta, dctx, q, k, v, lse, tk, d, g, s);
}
