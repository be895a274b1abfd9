// The CUDA kernel harness (llm.c dev/cuda style): every kernel of
// train/cuda/ against its CPU reference of the same name in train/cpu/ on
// random inputs, then optionally a timing sweep at BERT-base shapes, and the
// whole CUDA backend against the CPU backend on a random model (with the
// batch contract of core/batch.h: both backends accept and refuse the same
// batches).
//
//   build/tests/cuda/kernels                  all correctness checks (exit 1 on a failure)
//   build/tests/cuda/kernels attention [V]    one check (all its versions, or version V)
//   build/tests/cuda/kernels --sweep [NAME]   timings at B 32 x T 384 (real SQuAD-like lengths)
//   build/tests/cuda/kernels backend [--bert-base]   CUDA (fp32, bf16, padded, each switch) vs CPU backend
//   build/tests/cuda/kernels bgrad | device_norm | lt_buckets   one candidate switch's check
//
// Tolerances are relative L2 errors per tensor: fp32 kernels 1e-5, bf16
// matmuls 2e-2; dropout masks must agree exactly (zero patterns).
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"

extern "C" {
#include "core/backend.h"
#include "core/optim.h"
#include "cpu/layers.h"
#include "core/model.h"
#include "sq/error.h"
}

#include <algorithm>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

namespace {

using vec = std::vector<float>;
int failures = 0;
int version = 0;

#define CK(call)                                                                                                       \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            fprintf(stderr, "kernels: %s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));                       \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

uint64_t rng_state = 0x9E3779B97F4A7C15ull;
float frand() { // uniform in [-1, 1)
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
vec randv(size_t n, float scale = 1.0f) {
    vec v(n);
    for (auto &x : v) x = frand() * scale;
    return v;
}

template <typename T> T *dev(const std::vector<T> &h) {
    T *d;
    CK(cudaMalloc(&d, h.size() * sizeof(T) + 16));
    CK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}
float *devz(size_t n) {
    float *d;
    CK(cudaMalloc(&d, n * sizeof(float) + 16));
    CK(cudaMemset(d, 0, n * sizeof(float)));
    return d;
}
sq_bf16 *devh(size_t n) {
    sq_bf16 *d;
    CK(cudaMalloc(&d, n * sizeof(sq_bf16) + 16));
    return d;
}
vec host(const float *d, size_t n) {
    vec h(n);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

double relerr(const vec &want, const vec &got) {
    double d = 0, n = 0;
    for (size_t i = 0; i < want.size(); i++) {
        if (isinf(want[i]) && want[i] == got[i]) continue;
        d += ((double)want[i] - got[i]) * ((double)want[i] - got[i]);
        n += (double)want[i] * want[i];
    }
    return sqrt(d) / fmax(sqrt(n), 1e-6);
}

void check(const char *what, const vec &want, const vec &got, double tol) {
    double r = want.size() == got.size() ? relerr(want, got) : INFINITY;
    bool ok = r <= tol;
    printf("  %-40s rel err %.3g (tol %.0e) %s\n", what, r, tol, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

// Zero patterns agree: the dropout masks are the CPU's.
void check_zeros(const char *what, const vec &want, const vec &got) {
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); i++) bad += (want[i] == 0.0f) != (got[i] == 0.0f);
    printf("  %-40s %zu mask mismatches %s\n", what, bad, bad ? "FAIL" : "ok");
    if (bad) failures++;
}

// A batch of B rows padded to T with random lengths, and its packed tokens.
struct batch {
    int B, T, n;
    bool padded;
    std::vector<int32_t> len, cu, row, pos, ids, types;
    std::vector<uint32_t> sample;
    sq_cu_tokens tk;
    int32_t *d_cu, *d_len, *d_row, *d_pos, *d_ids, *d_types;
    uint32_t *d_sample;

    batch(int B_, int T_, bool padded_, int min_len, int vocab = 1000) : B(B_), T(T_), padded(padded_) {
        for (int b = 0; b < B; b++) {
            int l = b == 0 ? T : min_len + (int)((frand() + 1.0f) * 0.5f * (T - min_len));
            len.push_back(l < 1 ? 1 : l > T ? T : l);
            sample.push_back(1000u + 7u * b);
        }
        n = 0;
        for (int b = 0; b < B; b++) {
            cu.push_back(n);
            int L = padded ? T : len[b];
            for (int t = 0; t < L; t++, n++) row.push_back(b), pos.push_back(t);
        }
        cu.push_back(n);
        for (int i = 0; i < B * T; i++) {
            ids.push_back((int32_t)((frand() + 1.0f) * 0.5f * (vocab - 1)));
            types.push_back(i % T >= T / 3);
        }
        std::vector<int32_t> pids(n), ptypes(n);
        for (int i = 0; i < n; i++) pids[i] = ids[(size_t)row[i] * T + pos[i]], ptypes[i] = types[(size_t)row[i] * T + pos[i]];
        d_cu = dev(cu), d_len = dev(len), d_row = dev(row), d_pos = dev(pos), d_ids = dev(pids), d_types = dev(ptypes);
        d_sample = dev(sample);
        int longest = 0;
        for (int b = 0; b < B; b++) longest = cu[b + 1] - cu[b] > longest ? cu[b + 1] - cu[b] : longest;
        tk = sq_cu_tokens{B, T, n, longest, d_cu, d_len, d_row, d_pos, d_ids, d_types, d_sample, 0x5eedull, 7u};
    }
    // padded [B*T, C] -> packed [n, C]
    vec pack(const vec &p, int C) const {
        vec o((size_t)n * C);
        for (int i = 0; i < n; i++) memcpy(&o[(size_t)i * C], &p[((size_t)row[i] * T + pos[i]) * C], C * sizeof(float));
        return o;
    }
    // zero the rows at or beyond each length (what the unpadded layout drops)
    void mask_rows(vec &p, int C) const {
        for (int b = 0; b < B; b++)
            for (int t = padded ? T : len[b]; t < T; t++) memset(&p[((size_t)b * T + t) * C], 0, C * sizeof(float));
    }
    sq_dropout cpu_drop(uint32_t layer, uint32_t site, float p, int max_pos) const {
        sq_dropout d = {tk.seed, tk.step, sample.data(), layer, site, p, max_pos};
        return d;
    }
};

void test_layernorm(bool padded, int C = 96) { // C % 4 == 0: the float4 kernels; else the scalar ones
    printf("layernorm (fused dropout + residual + LayerNorm), %s, C %d\n", padded ? "padded" : "unpadded", C);
    int B = 5, T = 40;
    float p = 0.1f, eps = 1e-12f;
    batch bt(B, T, padded, 3);
    size_t NT = (size_t)B * T;
    vec y = randv(NT * C), res = randv(NT * C), w = randv(C), bias = randv(C), dout = randv(NT * C);
    bt.mask_rows(dout, C);
    // CPU: r = dropout(y) + res; out = LN(r); backward: din = LN'(dout), dy = dropout'(din)
    sq_dropout d = bt.cpu_drop(3, SQ_DROP_ATTN_OUT, p, T);
    vec r(NT * C), out(NT * C), mean(NT), rstd(NT), din(NT * C), dy(NT * C), dw(C, 0.0f), db(C, 0.0f);
    dropout_forward(r.data(), y.data(), res.data(), &d, B, T, C);
    layernorm_forward(out.data(), mean.data(), rstd.data(), r.data(), w.data(), bias.data(), (int)NT, C, eps);
    layernorm_backward(din.data(), dw.data(), db.data(), dout.data(), r.data(), w.data(), mean.data(), rstd.data(),
                       (int)NT, C);
    dropout_backward(dy.data(), din.data(), &d, B, T, C);

    size_t n = bt.n;
    float *gy = dev(bt.pack(y, C)), *gres = dev(bt.pack(res, C)), *gw = dev(w), *gb = dev(bias);
    float *gr = devz(n * C), *gout = devz(n * C), *gmean = devz(n), *grstd = devz(n);
    sq_cu_act oact = {gout, NULL};
    sq_cu_drop pre = {3, SQ_DROP_ATTN_OUT, p}, none = {0, 0, 0.0f};
    cuda_layernorm_forward(oact, gmean, grstd, gr, gy, gres, gw, gb, &bt.tk, pre, none, C, eps, 0);
    CK(cudaGetLastError());
    check("forward: r = res + dropout(y)", bt.pack(r, C), host(gr, n * C), 1e-6);
    check("forward: out", bt.pack(out, C), host(gout, n * C), 1e-5);
    vec packmean(n), packrstd(n);
    for (size_t i = 0; i < n; i++) packmean[i] = mean[(size_t)bt.row[i] * T + bt.pos[i]], packrstd[i] = rstd[(size_t)bt.row[i] * T + bt.pos[i]];
    check("forward: mean", packmean, host(gmean, n), 1e-6);
    check("forward: rstd", packrstd, host(grstd, n), 1e-6);
    // the mask alone: with a zero residual, r is exactly 0 where dropped
    vec zero(NT * C, 0.0f), r0(NT * C);
    dropout_forward(r0.data(), y.data(), zero.data(), &d, B, T, C);
    float *gzero = devz(n * C), *gr0 = devz(n * C), *gjunk = devz(n * C);
    sq_cu_act junk = {gjunk, NULL};
    cuda_layernorm_forward(junk, gmean, grstd, gr0, gy, gzero, gw, gb, &bt.tk, pre, none, C, eps, 0);
    CK(cudaGetLastError());
    check_zeros("forward: dropout mask", bt.pack(r0, C), host(gr0, n * C));

    float *gdout = dev(bt.pack(dout, C)), *gdin = devz(n * C), *gdy = devz(n * C), *gdw = devz(C), *gdb = devz(C);
    double *partial;
    CK(cudaMalloc(&partial, 2 * cuda_colsum_scratch(C) * sizeof(double)));
    CK(cudaMemcpy(gmean, packmean.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(grstd, packrstd.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(gr, bt.pack(r, C).data(), n * C * 4, cudaMemcpyHostToDevice));
    sq_cu_act dyact = {gdy, NULL};
    cuda_layernorm_backward(gdin, dyact, gdw, gdb, gdout, gr, gw, gmean, grstd, &bt.tk, pre, none, partial, C, 0);
    CK(cudaGetLastError());
    check("backward: din", bt.pack(din, C), host(gdin, n * C), 1e-5);
    check("backward: dy", bt.pack(dy, C), host(gdy, n * C), 1e-5);
    check_zeros("backward: dropout mask", bt.pack(dy, C), host(gdy, n * C));
    check("backward: dw", dw, host(gdw, C), 1e-5);
    check("backward: db", db, host(gdb, C), 1e-5);

    // the embeddings' order: out = dropout(LN(x)), no residual
    sq_dropout de = bt.cpu_drop(SQ_DROP_EMB_LAYER, SQ_DROP_EMB, p, T);
    layernorm_forward(out.data(), mean.data(), rstd.data(), y.data(), w.data(), bias.data(), (int)NT, C, eps);
    dropout_forward(out.data(), out.data(), NULL, &de, B, T, C);
    sq_cu_drop post = {SQ_DROP_EMB_LAYER, SQ_DROP_EMB, p};
    cuda_layernorm_forward(oact, gmean, grstd, NULL, gy, NULL, gw, gb, &bt.tk, none, post, C, eps, 0);
    CK(cudaGetLastError());
    check("embeddings forward: dropout(LN(x))", bt.pack(out, C), host(gout, n * C), 1e-5);
    check_zeros("embeddings forward: dropout mask", bt.pack(out, C), host(gout, n * C));
    vec g2(NT * C);
    dropout_backward(g2.data(), dout.data(), &de, B, T, C);
    std::fill(dw.begin(), dw.end(), 0.0f), std::fill(db.begin(), db.end(), 0.0f);
    layernorm_backward(din.data(), dw.data(), db.data(), g2.data(), y.data(), w.data(), mean.data(), rstd.data(), (int)NT, C);
    for (size_t i = 0; i < n; i++) packmean[i] = mean[(size_t)bt.row[i] * T + bt.pos[i]], packrstd[i] = rstd[(size_t)bt.row[i] * T + bt.pos[i]];
    CK(cudaMemcpy(gmean, packmean.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(grstd, packrstd.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(gdw, 0, C * 4));
    CK(cudaMemset(gdb, 0, C * 4));
    sq_cu_act nody = {NULL, NULL};
    cuda_layernorm_backward(gdin, nody, gdw, gdb, gdout, gy, gw, gmean, grstd, &bt.tk, none, post, partial, C, 0);
    CK(cudaGetLastError());
    check("embeddings backward: din", bt.pack(din, C), host(gdin, n * C), 1e-5);
    check("embeddings backward: dw", dw, host(gdw, C), 1e-5);
    check("embeddings backward: db", db, host(gdb, C), 1e-5);
}

void test_attention(int ver, bool padded, float p, bool mask = false) {
    printf("attention v%d, %s, dropout %.2f%s\n", ver, padded ? "padded" : "unpadded", p,
           mask ? ", mask drawn once" : "");
    double tol = ver >= 2 ? 2e-2 : 1e-5; // versions 2 and 3 round q, k, v, p and dctx to bf16
    int B = 4, T = 70, NH = 3, hs = 64, C = NH * hs, P = 80;
    batch bt(B, T, padded, 5);
    size_t NT = (size_t)B * T, n = bt.n;
    vec q = randv(NT * C), k = randv(NT * C), v = randv(NT * C), dctx = randv(NT * C);
    bt.mask_rows(dctx, C);
    vec ctx(NT * C), probs(NT * NH * T), probs_drop(NT * NH * T), dq(NT * C), dk(NT * C), dv(NT * C);
    vec scratch((size_t)T * T * omp_get_max_threads()); // per OpenMP thread (cpu/layers.h)
    sq_dropout d = bt.cpu_drop(1, SQ_DROP_ATTN_PROBS, p, P);
    attention_forward(ctx.data(), probs.data(), probs_drop.data(), q.data(), k.data(), v.data(), bt.len.data(), &d, B, T,
                      C, NH);
    attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), dctx.data(), q.data(), k.data(), v.data(),
                       probs.data(), probs_drop.data(), bt.len.data(), &d, B, T, C, NH);
    float *gq = dev(bt.pack(q, C)), *gk = dev(bt.pack(k, C)), *gv = dev(bt.pack(v, C)), *gctx = devz(n * C);
    float *glse = devz(n * NH), *gdelta = devz(n * NH), *gdctx = dev(bt.pack(dctx, C));
    float *gdq = devz(n * C), *gdk = devz(n * C), *gdv = devz(n * C);
    sq_cu_drop gd = {1, SQ_DROP_ATTN_PROBS, p};
    if (mask) {
        uint32_t *gmask;
        CK(cudaMalloc(&gmask, n * NH * cuda_attention_mask_words(bt.tk.max_rows_len) * sizeof(uint32_t)));
        cuda_attention_mask(gmask, &bt.tk, gd, P, NH, 0);
        gd.mask = gmask;
    }
    sq_cu_act cact = {gctx, NULL}, aq = {gdq, NULL}, ak = {gdk, NULL}, av = {gdv, NULL};
    cuda_attention_forward(cact, glse, gq, gk, gv, &bt.tk, gd, P, C, NH, ver, 0);
    CK(cudaGetLastError());
    vec want = ctx;
    bt.mask_rows(want, C); // unpadded: only real queries exist
    check("forward: ctx", bt.pack(want, C), host(gctx, n * C), tol);
    cuda_attention_backward(aq, ak, av, gdelta, gdctx, gctx, gq, gk, gv, glse, &bt.tk, gd, P, C, NH, ver, 0);
    CK(cudaGetLastError());
    check("backward: dq", bt.pack(dq, C), host(gdq, n * C), tol);
    check("backward: dk", bt.pack(dk, C), host(gdk, n * C), tol);
    check("backward: dv", bt.pack(dv, C), host(gdv, n * C), tol);
}

void test_gelu() {
    printf("gelu\n");
    size_t n = 10007;
    vec x = randv(n, 4.0f), dout = randv(n), y(n), dx(n);
    gelu_forward(y.data(), x.data(), n);
    gelu_backward(dx.data(), x.data(), dout.data(), n);
    float *gx = dev(x), *gy = devz(n), *gd = dev(dout), *gdx = devz(n);
    sq_cu_act ya = {gy, NULL}, da = {gdx, NULL};
    cuda_gelu_forward(ya, gx, n, 0);
    cuda_gelu_backward(da, gx, gd, n, 0);
    CK(cudaGetLastError());
    check("forward", y, host(gy, n), 1e-6);
    check("backward", dx, host(gdx, n), 1e-6);
}

// nn.Linear against the CPU.  bgrad: the bias gradient in the weight
// gradient's GEMM (cuBLASLt BGRADB, SQ_BGRAD_EPILOGUE=1), which must add to
// what db held, agree with the column sums it replaces within bf16's
// rounding of dout, give the same bits twice, and -- where must_fuse, at
// BERT's shapes -- really run (cuBLASLt may refuse it, and then db is summed).
void test_matmul(sq_cu_blas *blas, int bf16, bool bgrad = false, int N = 300, int C = 96, int OC = 136,
                 bool must_fuse = false) {
    printf("matmul %s (cuBLASLt)%s, N %d C %d OC %d\n", bf16 ? "bf16" : "fp32",
           bgrad ? ", bias gradient in the GEMM epilogue" : "", N, C, OC);
    double tol = bf16 ? 2e-2 : 1e-5;
    vec x = randv((size_t)N * C), w = randv((size_t)OC * C), b = randv(OC), dout = randv((size_t)N * OC);
    vec y((size_t)N * OC), dx((size_t)N * C, 0.0f), dw((size_t)OC * C, 0.0f), db(OC, 0.0f);
    matmul_forward(y.data(), x.data(), w.data(), b.data(), N, C, OC);
    matmul_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C, OC);
    float *gx = dev(x), *gw = dev(w), *gb = dev(b), *gd = dev(dout), *gy = devz((size_t)N * OC);
    sq_bf16 *hx = devh((size_t)N * C), *hw = devh((size_t)OC * C), *hd = devh((size_t)N * OC);
    cuda_to_bf16(hx, gx, (size_t)N * C, 0), cuda_to_bf16(hw, gw, (size_t)OC * C, 0), cuda_to_bf16(hd, gd, (size_t)N * OC, 0);
    sq_cu_act ax = {gx, hx}, aw = {gw, hw}, ad = {gd, hd};
    double *partial;
    CK(cudaMalloc(&partial, cuda_colsum_scratch(OC) * sizeof(double)));
    vec db0 = bgrad ? randv(OC) : vec(OC, 0.0f); // db accumulates: it starts from db0
    vec got_dw[2], got_db[2];
    long fused0, summed0, fused1, summed1;
    cuda_blas_bgrad_counts(blas, &fused0, &summed0);
    cuda_blas_bgrad_epilogue(blas, bgrad);
    for (int run = 0; run < (bgrad ? 2 : 1); run++) {
        float *gdx = devz((size_t)N * C), *gdw = devz((size_t)OC * C), *gdb = dev(db0);
        if ((run == 0 && cuda_matmul_forward(blas, gy, ax, aw, gb, N, C, OC, bf16, 0)) ||
            cuda_matmul_backward(blas, gdx, gdw, gdb, ad, ax, aw, N, C, OC, 1, bf16, partial, 0)) {
            printf("  %s FAIL\n", sq_errmsg());
            failures++;
            cuda_blas_bgrad_epilogue(blas, 0);
            return;
        }
        if (run == 0) {
            check("forward", y, host(gy, (size_t)N * OC), tol);
            check("backward: din", dx, host(gdx, (size_t)N * C), tol);
        }
        got_dw[run] = host(gdw, (size_t)OC * C), got_db[run] = host(gdb, OC);
        CK(cudaFree(gdx));
        CK(cudaFree(gdw));
        CK(cudaFree(gdb));
    }
    cuda_blas_bgrad_epilogue(blas, 0);
    cuda_blas_bgrad_counts(blas, &fused1, &summed1);
    check("backward: dweight", dw, got_dw[0], tol);
    if (!bgrad) {
        check("backward: dbias", db, got_db[0], 1e-5);
        return;
    }
    vec want = db;
    for (int i = 0; i < OC; i++) want[i] += db0[i];
    // bf16 (fp32 keeps its column sums: the epilogue must not apply)
    check("backward: db0 + dbias", want, got_db[0], bf16 ? 1e-2 : 1e-5);
    bool same = got_dw[0] == got_dw[1] && got_db[0] == got_db[1];
    printf("  %-40s %s\n", "the same bits twice", same ? "ok" : "FAIL");
    if (!same) failures++;
    long fused = fused1 - fused0, summed = summed1 - summed0;
    bool ok = bf16 ? (!must_fuse || (fused == 2 && summed == 0)) : fused == 0;
    printf("  %-40s %ld by the epilogue, %ld by column sums %s\n", "bias gradients", fused, summed,
           ok ? "ok" : bf16 ? "FAIL (cuBLASLt refused BGRADB at this shape)" : "FAIL (fp32 must sum)");
    if (!ok) failures++;
}

void test_qa_loss(bool padded, int hf) {
    printf("qa loss, %s%s\n", padded ? "padded" : "unpadded", hf ? ", HF padded logits" : "");
    int B = 6, T = 50;
    batch bt(B, T, padded, 4);
    size_t NT = (size_t)B * T, n = bt.n;
    vec l2 = randv(NT * 2, 3.0f), start(NT), end(NT), dl(NT * 2);
    std::vector<int32_t> sp(B), ep(B);
    for (int b = 0; b < B; b++) sp[b] = (b * 7) % (T + 3) - 1, ep[b] = (b * 11) % T;
    qa_split_logits(start.data(), end.data(), l2.data(), bt.len.data(), hf, B, T);
    double loss = qa_loss_forward_backward(dl.data(), start.data(), end.data(), sp.data(), ep.data(), bt.len.data(), hf,
                                           B + 1, B - 1, B, T);
    float *g2 = dev(bt.pack(l2, 2)), *gs = devz(NT), *ge = devz(NT), *gdl = devz(n * 2);
    double *rows;
    CK(cudaMalloc(&rows, 2 * B * sizeof(double)));
    int32_t *gsp = dev(sp), *gep = dev(ep);
    cuda_qa_split_logits(gs, ge, g2, &bt.tk, hf, 0);
    cuda_qa_loss_forward_backward(gdl, rows, gs, ge, gsp, gep, &bt.tk, hf, B + 1, B - 1, 0);
    CK(cudaGetLastError());
    check("start logits", start, host(gs, NT), 1e-6);
    check("end logits", end, host(ge, NT), 1e-6);
    check("dlogits", bt.pack(dl, 2), host(gdl, n * 2), 1e-6);
    std::vector<double> lr(2 * B);
    CK(cudaMemcpy(lr.data(), rows, 2 * B * sizeof(double), cudaMemcpyDeviceToHost));
    double got = 0;
    for (double x : lr) got += x;
    vec a = {(float)loss}, g = {(float)got};
    check("loss", a, g, 1e-6);
}

void test_adamw() {
    printf("adamw and the gradient norm\n");
    sq_param_info t[3] = {};
    size_t sizes[3] = {70001, 130, 200003}, off = 0;
    for (int i = 0; i < 3; i++) t[i].offset = off, t[i].numel = sizes[i], t[i].decay = i != 1, off += sizes[i];
    vec p = randv(off), g = randv(off), m = randv(off, 0.1f), v = randv(off, 0.1f);
    for (auto &x : v) x = fabsf(x);
    sq_adamw_args a = {1e-3, 0.9, 0.999, 1e-8, 0.01, 5, 0.5};
    float *gp = dev(p), *gg = dev(g), *gm = dev(m), *gv = dev(v);
    sq_bf16 *p16 = devh(off);
    std::vector<int64_t> lo, hi;
    std::vector<uint8_t> dec;
    for (int i = 0; i < 3; i++)
        for (size_t o = 0; o < t[i].numel; o += 65536)
            lo.push_back((int64_t)(t[i].offset + o)), hi.push_back((int64_t)(t[i].offset + std::min(o + 65536, t[i].numel))),
                dec.push_back(t[i].decay);
    int64_t *glo = dev(lo), *ghi = dev(hi);
    uint8_t *gdec = dev(dec);
    size_t begin = 1000, end = off - 77; // a ZeRO-like range
    double want_ss = grad_sumsq(g.data(), begin, end);
    adamw_update(p.data(), g.data(), m.data(), v.data(), t, 3, begin, end, &a);
    sq_cu_adamw_args ca = {a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.grad_scale, a.t};
    cuda_adamw_update(gp, p16, gg, gm, gv, glo, ghi, gdec, (int)lo.size(), (int64_t)begin, (int64_t)end, &ca, NULL, 0);
    double *partial, *out, got_ss;
    CK(cudaMalloc(&partial, cuda_sumsq_blocks() * sizeof(double)));
    CK(cudaMalloc(&out, sizeof(double)));
    cuda_grad_sumsq(out, partial, gg, (int64_t)begin, (int64_t)end, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(&got_ss, out, sizeof got_ss, cudaMemcpyDeviceToHost));
    check("params", p, host(gp, off), 1e-7);
    check("m", m, host(gm, off), 1e-7);
    check("v", v, host(gv, off), 1e-7);
    vec a1 = {(float)want_ss}, a2 = {(float)got_ss};
    check("sum of squares", a1, a2, 1e-7);
}

void test_embedding() {
    printf("embedding forward, and backward through segment lists\n");
    int B = 3, T = 20, C = 40, V = 50;
    batch bt(B, T, false, 5, V);
    size_t NT = (size_t)B * T, n = bt.n;
    vec wte = randv((size_t)V * C), wpe = randv((size_t)T * C), wtt = randv(2 * C), out(NT * C), dout = randv(NT * C);
    bt.mask_rows(dout, C);
    embedding_forward(out.data(), bt.ids.data(), bt.types.data(), wte.data(), wpe.data(), wtt.data(), B, T, C);
    vec dwte((size_t)V * C, 0.0f), dwpe((size_t)T * C, 0.0f), dwtt(2 * C, 0.0f);
    embedding_backward(dwte.data(), dwpe.data(), dwtt.data(), dout.data(), bt.ids.data(), bt.types.data(), 0, B, T, C);
    float *gte = dev(wte), *gpe = dev(wpe), *gtt = dev(wtt), *gout = devz(n * C), *gd = dev(bt.pack(dout, C));
    cuda_embedding_forward(gout, &bt.tk, gte, gpe, gtt, C, 0);
    check("forward", bt.pack(out, C), host(gout, n * C), 1e-6);
    // word rows: tokens by (id, index), pad id 0 left out, as the backend builds them
    std::vector<int32_t> srow, soff, stok;
    for (int id = 1; id < V; id++) {
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (bt.ids[(size_t)bt.row[i] * T + bt.pos[i]] != id) continue;
            if (first) srow.push_back(id), soff.push_back((int32_t)stok.size()), first = false;
            stok.push_back((int32_t)i);
        }
    }
    soff.push_back((int32_t)stok.size());
    float *gdte = devz((size_t)V * C), *gdtt = devz(2 * C);
    int32_t *a = dev(srow), *b = dev(soff), *c = dev(stok);
    cuda_embedding_backward_rows(gdte, gd, a, b, c, (int)srow.size(), C, 0);
    double *partial;
    CK(cudaMalloc(&partial, cuda_colsum_scratch(C) * sizeof(double)));
    for (int t = 0; t < 2; t++) cuda_colsum(gdtt + t * C, gd, bt.tk.types, t, partial, (int)n, C, 0);
    CK(cudaGetLastError());
    check("backward: word embeddings", dwte, host(gdte, (size_t)V * C), 1e-5);
    check("backward: token type embeddings", dwtt, host(gdtt, 2 * C), 1e-5); // the CPU sums in float
}

// One backend configuration of the backend check: the options, the
// attention version and the candidate switches (environment variables, as
// sq-train reads them), and what it is compared with beside the CPU.
struct be_mode {
    const char *name;
    int bf16, padded;
    const char *attn, *env; // SQ_ATTN_VERSION; "NAME=VALUE" or NULL
    int ref;                // -1, or the mode it must equal (same bits) or follow
    bool same_bits;         // equal to ref bit for bit (a switch that changes storage only)
};

// What one backend configuration computed.
struct be_result {
    bool ok = false;
    double loss = 0;
    vec start, end, grads;
    size_t arena = 0;
    long fused = 0;
};

const char *const SWITCHES[] = {"SQ_BGRAD_EPILOGUE", "SQ_MEM_PLAN", "SQ_DEVICE_NORM", "SQ_LT_TOKEN_BUCKETS"};

void set_switch(const char *env) {
    for (const char *k : SWITCHES) unsetenv(k);
    if (!env) return;
    char name[64];
    const char *eq = strchr(env, '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - env), env);
    setenv(name, eq + 1, 1);
}

bool bits_equal(const vec &a, const vec &b) { return a.size() == b.size() && !memcmp(a.data(), b.data(), a.size() * 4); }

// The whole backend: CUDA (fp32 unpadded, fp32 padded, bf16 with each
// attention version, and each candidate switch) against the CPU backend on
// one random model and batch, dropout on; each switch also against the
// default it replaces.
void test_backend(bool bert_base) {
    sq_bert_config cfg = {1000, 128, 2, 2, 512, 96, 2, 0, 1e-12, 0.02, 0.1, 0.1}; // head size 64: attention v2 applies
    if (bert_base) cfg = sq_bert_config{30522, 768, 12, 12, 3072, 512, 2, 0, 1e-12, 0.02, 0.1, 0.1};
    int B = 4, T = bert_base ? 384 : 80;
    printf("backend vs CPU: hidden %d, %d layers, batch %d x %d\n", cfg.hidden, cfg.layers, B, T);
    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
    sq_model_init(m, 7);
    sq_batch b;
    sq_batch_alloc(&b, B, T);
    b.B = B, b.T = T, b.seed = 99, b.step = 3, b.n_start = B, b.n_end = B;
    for (int r = 0; r < B; r++) {
        b.len[r] = r == 0 ? T : T / 3 + (r * 13) % (T / 2);
        b.start[r] = (r * 5) % b.len[r], b.end[r] = (r * 9) % b.len[r], b.sample[r] = 40 + r;
        for (int t = 0; t < T; t++) {
            b.ids[r * T + t] = t < b.len[r] ? 1 + (r * 31 + t * 17) % (cfg.vocab_size - 1) : 0;
            b.types[r * T + t] = t > T / 4;
        }
    }
    size_t NP = m->n_params;
    sq_backend *cpu;
    if (sq_backend_cpu_new(m, B, T, &cpu)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
    double cpu_loss;
    vec cs((size_t)B * T), ce((size_t)B * T);
    cpu->zero_grads(cpu);
    cpu->forward(cpu, &b, true, &cpu_loss);
    cpu->logits(cpu, cs.data(), ce.data());
    cpu->backward(cpu, &b, NULL);
    vec cg(m->grads, m->grads + NP);
    const be_mode modes[] = {
        {"fp32 unpadded", 0, 0, "1", NULL, -1, false},
        {"fp32 padded", 0, 1, "1", NULL, -1, false},
        {"bf16 unpadded, attention v1", 1, 0, "1", NULL, -1, false},
        {"bf16 unpadded, attention v2", 1, 0, "2", NULL, -1, false},
        {"bf16 unpadded, attention v3", 1, 0, "3", NULL, -1, false},
        {"bf16 padded, attention v3", 1, 1, "3", NULL, -1, false},
        // the candidate switches (docs/cuda.md, "Switches")
        {"bf16, SQ_MEM_PLAN=1", 1, 0, "3", "SQ_MEM_PLAN=1", 4, true},
        {"bf16 padded, SQ_MEM_PLAN=1", 1, 1, "3", "SQ_MEM_PLAN=1", 5, true},
        {"fp32, SQ_MEM_PLAN=1 (does not apply)", 0, 0, "1", "SQ_MEM_PLAN=1", 0, true},
        {"bf16, SQ_BGRAD_EPILOGUE=1", 1, 0, "3", "SQ_BGRAD_EPILOGUE=1", 4, false},
        {"fp32, SQ_BGRAD_EPILOGUE=1 (does not apply)", 0, 0, "1", "SQ_BGRAD_EPILOGUE=1", 0, true},
    };
    const int n_modes = (int)(sizeof modes / sizeof modes[0]);
    std::vector<be_result> res(n_modes);
    for (int mode = 0; mode < n_modes; mode++) {
        const be_mode &md = modes[mode];
        sq_cuda_opts o = {md.bf16, md.padded};
        sq_cuda_configure(&o);
        setenv("SQ_ATTN_VERSION", md.attn, 1);
        set_switch(md.env);
        bool bf = md.bf16;
        double tol = bf ? 2e-2 : 1e-5;
        sq_backend *cu;
        if (sq_backend_cuda_new(m, B, T, &cu) || cu->push(cu, SQ_BUF_PARAMS | SQ_BUF_MOMENTS)) {
            printf("  %s: %s FAIL\n", md.name, sq_errmsg());
            failures++;
            continue;
        }
        be_result &r = res[mode];
        r.start.resize((size_t)B * T), r.end.resize((size_t)B * T);
        if (cu->zero_grads(cu) || cu->forward(cu, &b, true, &r.loss) || cu->logits(cu, r.start.data(), r.end.data()) ||
            cu->backward(cu, &b, NULL) || cu->pull(cu, SQ_BUF_GRADS)) {
            printf("  %s: %s FAIL\n", md.name, sq_errmsg());
            failures++;
            cu->free(cu);
            continue;
        }
        sq_cuda_info info;
        if (sq_cuda_get_info(cu, &info)) {
            printf("  %s: %s FAIL\n", md.name, sq_errmsg());
            failures++;
            cu->free(cu);
            continue;
        }
        r.ok = true, r.arena = info.arena_bytes, r.fused = info.bgrad_fused;
        r.grads.assign(m->grads, m->grads + NP);
        printf(" %s%s%s\n", md.name, info.switches[0] ? "; in effect: " : "", info.switches);
        vec l1 = {(float)cpu_loss}, l2 = {(float)r.loss};
        check("loss", l1, l2, bf ? 2e-2 : 1e-6);
        check("start logits", cs, r.start, tol);
        check("end logits", ce, r.end, tol);
        double worst = 0;
        const char *wname = "";
        for (int t = 0; t < m->n_tensors; t++) {
            const sq_param_info *pi = &m->table[t];
            vec a(cg.begin() + pi->offset, cg.begin() + pi->offset + pi->numel);
            vec g(m->grads + pi->offset, m->grads + pi->offset + pi->numel);
            double e = relerr(a, g);
            if (e > worst) worst = e, wname = pi->name;
        }
        printf("  %-40s rel err %.3g (%s) %s\n", "gradients, worst tensor", worst, wname,
               worst <= (bf ? 5e-2 : 1e-5) ? "ok" : "FAIL");
        if (!(worst <= (bf ? 5e-2 : 1e-5))) failures++;
        memcpy(m->grads, cg.data(), NP * sizeof(float)); // the CPU backend's buffer again
        cu->free(cu);
        if (md.ref < 0) continue;
        const be_result &ref = res[md.ref];
        if (!ref.ok) {
            printf("  %-40s FAIL (mode \"%s\" failed)\n", "against the default", modes[md.ref].name);
            failures++;
            continue;
        }
        if (md.same_bits) {
            bool same = r.loss == ref.loss && bits_equal(r.start, ref.start) && bits_equal(r.end, ref.end) &&
                        bits_equal(r.grads, ref.grads);
            printf("  %-40s %s\n", "loss, logits, gradients: default's bits", same ? "ok" : "FAIL");
            if (!same) failures++;
        }
        if (md.env && !strcmp(md.env, "SQ_MEM_PLAN=1")) {
            // plan()'s arithmetic: h0, h1, h2 of every layer in fp32 become two buffers
            // where nothing reads them in backward (bf16); fp32 keeps them
            size_t NC4 = (size_t)B * T * cfg.hidden * sizeof(float), want = bf ? (2 * (size_t)cfg.layers - 1) * NC4 : 0;
            size_t plan_b = sq_cuda_plan_bytes(&cfg, B, T, bf, 1, 1);
            bool ok = ref.arena - r.arena == want && plan_b == r.arena;
            printf("  %-40s %zu bytes less (want %zu), plan %zu %s\n", "activations", ref.arena - r.arena, want,
                   plan_b, ok ? "ok" : "FAIL");
            if (!ok) failures++;
        }
        if (md.env && !strcmp(md.env, "SQ_BGRAD_EPILOGUE=1") && bf) {
            // the bias gradients (the QA head's and the key biases' stay 0) follow
            // the column sums within bf16's rounding of dout; the rest is the
            // same product, its algorithm perhaps another
            double wb = 0, wo = 0;
            for (int t = 0; t < m->n_tensors; t++) {
                const sq_param_info *pi = &m->table[t];
                vec a(ref.grads.begin() + pi->offset, ref.grads.begin() + pi->offset + pi->numel);
                vec g(r.grads.begin() + pi->offset, r.grads.begin() + pi->offset + pi->numel);
                double e = relerr(a, g);
                bool linear_bias = strstr(pi->name, ".bias") && !strstr(pi->name, "LayerNorm");
                if (linear_bias) wb = fmax(wb, e);
                else wo = fmax(wo, e);
            }
            bool ok = wb <= 1e-2 && wo <= 1e-4 && r.fused > 0 && r.loss == ref.loss && bits_equal(r.start, ref.start);
            printf("  %-40s biases %.3g, others %.3g, %ld fused %s\n", "against the column sums", wb, wo, r.fused,
                   ok ? "ok" : "FAIL");
            if (!ok) failures++;
        }
    }
    set_switch(NULL);
    unsetenv("SQ_ATTN_VERSION");
    cpu->free(cpu);
    sq_batch_free(&b);
    sq_model_free(m);
}

// Deferred steps (SQ_DEVICE_NORM=1, core/backend.h): the loss, the norm,
// the clip factor and AdamW on the device give the host-driven steps' bits
// (two steps, the second of two micro-batches, clipping active); a
// non-finite norm leaves the parameters as they were and is reported with
// its step.
void test_device_norm() {
    sq_bert_config cfg = {1000, 128, 2, 2, 512, 96, 2, 0, 1e-12, 0.02, 0.1, 0.1};
    const int B = 3, T = 48;
    printf("deferred step numbers (SQ_DEVICE_NORM=1) vs the host's, bf16 and fp32\n");
    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
    sq_model_init(m, 11);
    size_t NP = m->n_params;
    vec p0(m->params, m->params + NP);
    sq_batch b;
    sq_batch_alloc(&b, B, T);
    sq_optim opt;
    sq_optim_defaults(&opt);
    opt.lr = 1e-3, opt.max_grad_norm = 0.05, opt.total_steps = 10, opt.warmup_steps = 1; // the clip acts
    auto fill = [&](int k) {
        b.B = B, b.T = T, b.seed = 5, b.step = (uint32_t)k, b.n_start = b.n_end = 2 * B;
        for (int r = 0; r < B; r++) {
            b.len[r] = T - (r * 7 + k) % 20, b.start[r] = r + k, b.end[r] = r + k + 3, b.sample[r] = (uint32_t)(10 * k + r);
            for (int t = 0; t < T; t++) b.ids[r * T + t] = t < b.len[r] ? 1 + (r * 13 + t * 7 + k) % 999 : 0, b.types[r * T + t] = t > 9;
        }
    };
    for (int bf = 1; bf >= 0; bf--) {
        sq_cuda_opts o = {bf, 0};
        sq_cuda_configure(&o);
        double loss[2][2], gn[2][2];
        vec params[2];
        bool ok = true;
        for (int deferred = 0; deferred < 2 && ok; deferred++) {
            memcpy(m->params, p0.data(), NP * sizeof(float));
            memset(m->m, 0, NP * sizeof(float)), memset(m->v, 0, NP * sizeof(float));
            sq_backend *be;
            if (sq_backend_cuda_new(m, B, T, &be)) { printf("  %s FAIL\n", sq_errmsg()); ok = false; break; }
            be->deferred = deferred;
            for (long s = 0; s < 2 && ok; s++) {
                double l = 0, lr, total = 0;
                ok = !be->zero_grads(be);
                for (int micro = 0; micro <= s && ok; micro++) { // step 2: two micro-batches
                    fill((int)(2 * s + micro));
                    ok = !be->forward(be, &b, true, &l) && !be->backward(be, &b, NULL);
                    total += l;
                }
                ok = ok && !sq_optimizer_step(be, &opt, s, &lr, &gn[deferred][s]);
                loss[deferred][s] = total;
                if (ok && deferred) {
                    ok = isnan(total) && isnan(gn[1][s]); // nothing read inside the step
                    if (!ok) printf("  deferred step %ld returned numbers without reading them FAIL\n", s + 1);
                    ok = ok && !sq_optimizer_read(be, &loss[1][s], &gn[1][s]);
                }
            }
            if (ok) ok = !be->pull(be, SQ_BUF_PARAMS | SQ_BUF_MOMENTS);
            if (!ok && sq_errmsg()[0]) printf("  %s\n", sq_errmsg());
            params[deferred].assign(m->params, m->params + NP);
            if (ok && deferred) { // a non-finite gradient: step 3 refused, parameters kept
                double lr, g, l2, g2;
                vec before(m->params, m->params + NP);
                fill(7);
                ok = !be->zero_grads(be) && !be->forward(be, &b, true, &l2) && !be->backward(be, &b, NULL) &&
                     !be->pull(be, SQ_BUF_GRADS);
                m->grads[NP / 3] = NAN;
                ok = ok && !be->push(be, SQ_BUF_GRADS) && !sq_optimizer_step(be, &opt, 2, &lr, &g);
                int rc = ok ? sq_optimizer_read(be, &l2, &g2) : 0;
                bool reported = rc && strstr(sq_errmsg(), "step 3: the gradient norm is not finite");
                ok = ok && !be->pull(be, SQ_BUF_PARAMS);
                bool kept = ok && bits_equal(before, vec(m->params, m->params + NP));
                printf("  %-40s %s, parameters %s %s\n", "a non-finite norm at step 3", reported ? "reported" : "not reported",
                       kept ? "kept" : "changed", reported && kept ? "ok" : "FAIL");
                if (!(reported && kept)) failures++;
            }
            be->free(be);
        }
        if (!ok) { printf("  %s: a step failed FAIL\n", bf ? "bf16" : "fp32"); failures++; continue; }
        for (int s = 0; s < 2; s++) {
            bool same = loss[0][s] == loss[1][s] && gn[0][s] == gn[1][s];
            printf("  %s step %d: loss %.9g / %.9g, norm %.9g / %.9g %s\n", bf ? "bf16" : "fp32", s + 1, loss[0][s],
                   loss[1][s], gn[0][s], gn[1][s], same ? "ok" : "FAIL");
            if (!same) failures++;
        }
        bool same = bits_equal(params[0], params[1]);
        printf("  %-40s %s\n", bf ? "bf16 parameters: the host step's bits" : "fp32 parameters: the host step's bits",
               same ? "ok" : "FAIL");
        if (!same) failures++;
    }
    sq_batch_free(&b);
    sq_model_free(m);
}

// SQ_LT_TOKEN_BUCKETS=1 (cuda_blas_token_buckets): once the top of a token
// bucket has been met, no other token count of that bucket makes a cuBLASLt
// heuristic query, in any GEMM of a linear layer -- forward, input gradient,
// weight gradient (tokens in k), the QA head's shape (2 outputs) included --
// and the results stay the CPU's; then the same through the backend after
// its shape warm-up (what make test-gpu section 6 asks of bench).  The
// default's queries are printed beside, for comparison.
void test_lt_buckets() {
    printf("cuBLASLt algorithms by token bucket (SQ_LT_TOKEN_BUCKETS=1)\n");
    const int C = 96, Ns[] = {512, 300, 401, 257, 511}, OCs[] = {136, 2};
    long new_queries[2] = {0, 0};
    for (int on = 0; on < 2; on++) {
        sq_cu_blas *h;
        if (cuda_blas_new(32u << 20, &h)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
        cuda_blas_token_buckets(h, on);
        double worst = 0;
        long q1 = 0;
        for (int i = 0; i < 5; i++) {
            for (int OC : OCs) {
                int N = Ns[i];
                vec x = randv((size_t)N * C), w = randv((size_t)OC * C), dout = randv((size_t)N * OC);
                vec y((size_t)N * OC), dx((size_t)N * C, 0.0f), dw((size_t)OC * C, 0.0f);
                matmul_forward(y.data(), x.data(), w.data(), NULL, N, C, OC);
                matmul_backward(dx.data(), dw.data(), NULL, dout.data(), x.data(), w.data(), N, C, OC);
                float *gx = dev(x), *gw = dev(w), *gd = dev(dout), *gy = devz((size_t)N * OC);
                float *gdx = devz((size_t)N * C), *gdw = devz((size_t)OC * C);
                sq_bf16 *hx = devh((size_t)N * C), *hw = devh((size_t)OC * C), *hd = devh((size_t)N * OC);
                cuda_to_bf16(hx, gx, (size_t)N * C, 0), cuda_to_bf16(hw, gw, (size_t)OC * C, 0);
                cuda_to_bf16(hd, gd, (size_t)N * OC, 0);
                sq_cu_act ax = {gx, hx}, aw = {gw, hw}, ad = {gd, hd};
                if (cuda_matmul_forward(h, gy, ax, aw, NULL, N, C, OC, 1, 0) ||
                    cuda_matmul_backward(h, gdx, gdw, NULL, ad, ax, aw, N, C, OC, 0, 1, NULL, 0)) {
                    printf("  %s FAIL\n", sq_errmsg());
                    failures++;
                    cuda_blas_free(h);
                    return;
                }
                worst = fmax(worst, fmax(relerr(y, host(gy, (size_t)N * OC)),
                                         fmax(relerr(dx, host(gdx, (size_t)N * C)), relerr(dw, host(gdw, (size_t)OC * C)))));
                for (void *p : {(void *)gx, (void *)gw, (void *)gd, (void *)gy, (void *)gdx, (void *)gdw, (void *)hx,
                                (void *)hw, (void *)hd})
                    CK(cudaFree(p));
            }
            if (i == 0) q1 = cuda_blas_queries(h);
        }
        new_queries[on] = cuda_blas_queries(h) - q1;
        bool ok = worst <= 2e-2 && (!on || new_queries[on] == 0);
        printf("  %-40s %ld queries after the bucket's top, rel err %.3g %s\n", on ? "token buckets" : "default (for comparison)",
               new_queries[on], worst, ok ? "ok" : "FAIL");
        if (!ok) failures++;
        cuda_blas_free(h);
    }

    // the backend: after sq_backend_warm, steps of other token counts query nothing
    sq_bert_config cfg = {1000, 128, 2, 2, 512, 96, 2, 0, 1e-12, 0.02, 0.1, 0.1};
    const int B = 4, T = 80;
    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
    sq_model_init(m, 3);
    sq_batch b;
    sq_batch_alloc(&b, B, T);
    sq_cuda_opts o = {1, 0};
    sq_cuda_configure(&o);
    for (int on = 0; on < 2; on++) {
        set_switch(on ? "SQ_LT_TOKEN_BUCKETS=1" : NULL);
        sq_backend *be;
        int shapes = 0;
        if (sq_backend_cuda_new(m, B, T, &be) || sq_backend_warm(be, B, T, &shapes)) {
            printf("  %s FAIL\n", sq_errmsg());
            failures++;
            continue;
        }
        long q0 = sq_cuda_heuristic_queries(be);
        bool ok = true;
        for (int k = 0; k < 4 && ok; k++) { // token counts 4 x (29, 49, 69, 75): both buckets, none a top
            b.B = B, b.T = T, b.seed = 1, b.step = (uint32_t)k, b.n_start = b.n_end = B;
            for (int r = 0; r < B; r++) {
                b.len[r] = k == 3 ? 75 - r : 29 + 20 * k + r, b.start[r] = 1, b.end[r] = 2, b.sample[r] = (uint32_t)r;
                for (int t = 0; t < T; t++) b.ids[r * T + t] = t < b.len[r] ? 1 + (r * 7 + t) % 999 : 0, b.types[r * T + t] = 0;
            }
            double loss;
            ok = !be->zero_grads(be) && !be->forward(be, &b, true, &loss) && !be->backward(be, &b, NULL);
        }
        long q = sq_cuda_heuristic_queries(be) - q0;
        bool pass = ok && (!on || q == 0);
        printf("  %-40s %d shapes warmed, %ld queries in 4 steps %s\n", on ? "backend, token buckets" : "backend, default",
               shapes, q, pass ? "ok" : "FAIL");
        if (!pass) failures++;
        be->free(be);
    }
    set_switch(NULL);
    sq_batch_free(&b);
    sq_model_free(m);
}

int count_hook(void *ctx, int layer, size_t lo, size_t hi) {
    ++*(int *)ctx;
    return 0;
}

// The batch contract (core/batch.h) on both backends: the same batches are
// accepted and refused, and an empty micro-batch (B = 0, what an epoch's
// last partial global batch gives with --grad-accum) has loss 0, fires the
// grad hook for every layer and adds nothing to the gradients.
void test_batch_contract() {
    sq_bert_config cfg = {1000, 128, 2, 2, 512, 96, 2, 0, 1e-12, 0.02, 0.1, 0.1};
    const int B = 3, T = 40;
    printf("batch contract, CPU and CUDA backends\n");
    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) { printf("  %s FAIL\n", sq_errmsg()); failures++; return; }
    sq_model_init(m, 5);
    sq_backend *be[2] = {NULL, NULL};
    sq_cuda_opts o = {1, 0};
    sq_cuda_configure(&o);
    if (sq_backend_cpu_new(m, B, T, &be[0]) || sq_backend_cuda_new(m, B, T, &be[1])) {
        printf("  %s FAIL\n", sq_errmsg());
        failures++;
        if (be[0]) be[0]->free(be[0]);
        sq_model_free(m);
        return;
    }
    sq_batch b;
    sq_batch_alloc(&b, B + 1, T + 1);
    // case: {B, T, len of row 0, id of token 0, type of token 0}; accepted?
    struct { const char *name; int B, T, len0, id0, type0; bool ok; } cases[] = {
        {"B = 0", 0, T, 1, 1, 0, true},          {"B = max", B, T, T, 1, 0, true},
        {"B > max", B + 1, T, T, 1, 0, false},   {"T > max", 1, T + 1, 1, 1, 0, false},
        {"T = 0", 1, 0, 1, 1, 0, false},         {"len 0", 1, T, 0, 1, 0, false},
        {"len > T", 1, T, T + 1, 1, 0, false},   {"id = vocab", 1, T, T, 1000, 0, false},
        {"id < 0", 1, T, T, -1, 0, false},       {"type = type_vocab", 1, T, T, 1, 2, false},
    };
    for (const auto &k : cases) {
        b.B = k.B, b.T = k.T, b.seed = 1, b.step = 1, b.n_start = b.n_end = k.B ? k.B : 1;
        for (int r = 0; r < k.B; r++) {
            b.len[r] = r ? 1 : k.len0;
            b.start[r] = b.end[r] = 0, b.sample[r] = (uint32_t)r;
            for (int t = 0; t < k.T; t++) b.ids[r * k.T + t] = 1, b.types[r * k.T + t] = 0;
        }
        if (k.B && k.T) b.ids[0] = k.id0, b.types[0] = k.type0;
        bool ok[2];
        double loss[2] = {-1, -1};
        int hooks[2] = {0, 0};
        for (int i = 0; i < 2; i++) {
            sq_grad_hook h = {count_hook, &hooks[i]};
            ok[i] = !be[i]->zero_grads(be[i]) && !be[i]->forward(be[i], &b, true, &loss[i]) &&
                    !be[i]->backward(be[i], &b, &h);
            if (ok[i] && be[i]->pull(be[i], SQ_BUF_GRADS)) ok[i] = false;
            if (ok[i] && !k.B)
                for (size_t j = 0; j < m->n_params; j++)
                    if (m->grads[j] != 0) ok[i] = false;
        }
        bool pass = ok[0] == k.ok && ok[1] == k.ok &&
                    (!k.ok || k.B || (loss[0] == 0 && loss[1] == 0 && hooks[0] == cfg.layers + 2 &&
                                      hooks[1] == cfg.layers + 2));
        printf("  %-40s cpu %s, cuda %s (want %s) %s\n", k.name, ok[0] ? "accepted" : "refused",
               ok[1] ? "accepted" : "refused", k.ok ? "accepted" : "refused", pass ? "ok" : "FAIL");
        if (!pass) failures++;
    }
    be[0]->free(be[0]);
    be[1]->free(be[1]);
    sq_batch_free(&b);
    sq_model_free(m);
}

// Timing at BERT-base shapes: B 32, lengths like SQuAD's (mean ~150 of 384).
void sweep(const char *only, sq_cu_blas *blas) {
    int B = 32, T = 384, C = 768, NH = 12, I = 3072, ver = version ? version : 3;
    rng_state = 42;
    batch bt(B, T, false, 100);
    size_t n = bt.n;
    printf("sweep: %d rows, %zu real tokens of %d; attention version %d\n", B, n, B * T, ver);
    float *x = dev(randv(n * C)), *y = dev(randv(n * C)), *z = devz(n * C), *big = devz(n * I), *big2 = dev(randv(n * I));
    float *w = dev(randv((size_t)I * C, 0.05f)), *bias = dev(randv(I)), *st = devz(n), *st2 = devz(n), *lse = devz(n * NH);
    float *delta = devz(n * NH);
    float *q = dev(randv(n * C)), *k = dev(randv(n * C)), *v = dev(randv(n * C)), *dq = devz(n * C), *dk = devz(n * C), *dv = devz(n * C);
    sq_bf16 *xh = devh(n * C), *wh = devh((size_t)I * C), *bigh = devh(n * I);
    cuda_to_bf16(xh, x, n * C, 0), cuda_to_bf16(wh, w, (size_t)I * C, 0), cuda_to_bf16(bigh, big2, n * I, 0);
    double *partial;
    CK(cudaMalloc(&partial, 2 * cuda_colsum_scratch(I) * sizeof(double)));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    sq_cu_drop d = {0, SQ_DROP_ATTN_OUT, 0.1f}, none = {0, 0, 0.0f}, ad = {0, SQ_DROP_ATTN_PROBS, 0.1f};
    sq_cu_act zf = {z, NULL}, xa = {x, xh}, wa = {w, wh}, ba = {big, NULL}, b2 = {big2, bigh};
    sq_cu_act qa = {dq, NULL}, ka = {dk, NULL}, va = {dv, NULL};
    auto bench = [&](const char *name, double bytes, double flops, auto fn) {
        if (only && !strstr(name, only)) return;
        fn();
        CK(cudaEventRecord(e0));
        const int reps = 20;
        for (int i = 0; i < reps; i++) fn();
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaGetLastError());
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ms /= reps;
        printf("  %-34s %8.3f ms  %7.1f GB/s  %7.1f TFLOP/s\n", name, ms, bytes / ms / 1e6, flops / ms / 1e9);
    };
    double NC = (double)n * C;
    bench("layernorm_forward (fused)", NC * 4 * 4, 0, [&] {
        cuda_layernorm_forward(zf, st, st2, z, y, x, w, bias, &bt.tk, d, none, C, 1e-12f, 0);
    });
    bench("layernorm_backward (fused)", NC * 4 * 5, 0, [&] {
        sq_cu_act dya = {dk, NULL};
        cuda_layernorm_backward(dq, dya, w, bias, y, x, w, st, st2, &bt.tk, d, none, partial, C, 0);
    });
    bench("gelu_forward", (double)n * I * 8, 0, [&] { cuda_gelu_forward(ba, big2, n * I, 0); });
    bench("colsum (bias grad, 3072)", (double)n * I * 4, 0, [&] { cuda_colsum(bias, big2, NULL, 0, partial, (int)n, I, 0); });
    bench("matmul fwd bf16 768->3072", 0, 2.0 * n * C * I, [&] {
        if (cuda_matmul_forward(blas, big, xa, wa, bias, (int)n, C, I, 1, 0)) exit(1);
    });
    bench("matmul bwd bf16 3072->768", 0, 4.0 * n * C * I, [&] {
        if (cuda_matmul_backward(blas, big, w, NULL, b2, xa, wa, (int)n, C, I, 0, 1, partial, 0)) exit(1);
    });
    double attn_f = 0;
    for (int b = 0; b < B; b++) attn_f += 4.0 * bt.len[b] * bt.len[b] * C;
    bench("attention_forward", 0, attn_f, [&] {
        sq_cu_act ca = {z, NULL};
        cuda_attention_forward(ca, lse, q, k, v, &bt.tk, ad, 512, C, NH, ver, 0);
    });
    bench("attention_backward", 0, 2.5 * attn_f, [&] {
        cuda_attention_backward(qa, ka, va, delta, y, z, q, k, v, lse, &bt.tk, ad, 512, C, NH, ver, 0);
    });
    uint32_t *gmask;
    CK(cudaMalloc(&gmask, n * NH * cuda_attention_mask_words(bt.tk.max_rows_len) * sizeof(uint32_t)));
    sq_cu_drop adm = ad;
    adm.mask = gmask;
    bench("attention_mask (Philox, drawn once)", 0, 0, [&] { cuda_attention_mask(gmask, &bt.tk, ad, 512, NH, 0); });
    bench("attention_forward, mask", 0, attn_f, [&] {
        sq_cu_act ca = {z, NULL};
        cuda_attention_forward(ca, lse, q, k, v, &bt.tk, adm, 512, C, NH, ver, 0);
    });
    bench("attention_backward, mask", 0, 2.5 * attn_f, [&] {
        cuda_attention_backward(qa, ka, va, delta, y, z, q, k, v, lse, &bt.tk, adm, 512, C, NH, ver, 0);
    });
    bench("attention_forward, no dropout", 0, attn_f, [&] {
        sq_cu_act ca = {z, NULL};
        cuda_attention_forward(ca, lse, q, k, v, &bt.tk, none, 512, C, NH, ver, 0);
    });
    bench("attention_backward, no dropout", 0, 2.5 * attn_f, [&] {
        cuda_attention_backward(qa, ka, va, delta, y, z, q, k, v, lse, &bt.tk, none, 512, C, NH, ver, 0);
    });
}

} // namespace

int main(int argc, char **argv) {
    const char *only = NULL;
    bool do_sweep = false, bert_base = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sweep")) do_sweep = true;
        else if (!strcmp(argv[i], "--bert-base")) bert_base = true;
        else if (argv[i][0] >= '0' && argv[i][0] <= '9') version = atoi(argv[i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: kernels [NAME [VERSION]] [--sweep] [--bert-base]\n");
            return 2;
        } else only = argv[i];
    }
    sq_train_set_threads(0); // as sq-train: OpenMP threads, single-threaded OpenBLAS
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "kernels: no CUDA device\n");
        return 1;
    }
    sq_cu_blas *blas;
    if (cuda_blas_new(32u << 20, &blas)) {
        fprintf(stderr, "kernels: %s\n", sq_errmsg());
        return 1;
    }
    if (do_sweep) {
        sweep(only, blas);
        return 0;
    }
    auto want = [&](const char *name) { return !only || !strcmp(only, name); };
    if (want("layernorm")) test_layernorm(false), test_layernorm(true), test_layernorm(false, 90);
    if (want("attention"))
        for (int v = 1; v <= 3; v++)
            if (!version || v == version)
                test_attention(v, false, 0.0f), test_attention(v, false, 0.1f), test_attention(v, true, 0.1f);
    if (want("attention") && (!version || version == 3))
        test_attention(3, false, 0.1f, true), test_attention(3, true, 0.1f, true);
    if (want("gelu")) test_gelu();
    if (want("matmul")) test_matmul(blas, 0), test_matmul(blas, 1);
    if (want("matmul") || want("bgrad")) // SQ_BGRAD_EPILOGUE=1: an odd shape, BERT-base's two, and fp32 unaffected
        test_matmul(blas, 1, true), test_matmul(blas, 1, true, 1000, 768, 3072, true),
            test_matmul(blas, 1, true, 1000, 3072, 768, true), test_matmul(blas, 0, true);
    if (want("qa_loss")) test_qa_loss(false, 0), test_qa_loss(true, 0), test_qa_loss(true, 1);
    if (want("adamw")) test_adamw();
    if (want("embedding")) test_embedding();
    if (want("backend")) test_backend(bert_base), test_batch_contract();
    if (want("backend") || want("device_norm")) test_device_norm();
    if (want("matmul") || want("lt_buckets")) test_lt_buckets();
    cuda_blas_free(blas);
    printf("%s: %d failure%s\n", failures ? "FAIL" : "ok", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
