/* The CPU reference layers of BERT, one function per operation, reading like
 * the math (llm.c style).  Shapes: B rows of T tokens, N = B*T, C channels.
 * Backward functions ACCUMULATE (+=) into parameter gradients and into din
 * where noted, so gradient accumulation and residual branches need no copies.
 * The CUDA backend (train/cuda/, one .cu file per layer of the same name)
 * keeps these names and argument orders. */
#ifndef SQ_TRAIN_LAYERS_H
#define SQ_TRAIN_LAYERS_H

#include "core/model.h"
#include "core/optim.h"

#include <stddef.h>
#include <stdint.h>

/* Which dropout masks to draw (sq/philox.h): Philox keyed by seed, step,
 * each row's global sample index, layer and site; p = 0 is the identity. */
typedef struct {
    uint64_t seed;
    uint32_t step;
    const uint32_t *sample; /* [B] */
    uint32_t layer, site;
    float p;
    int max_pos;            /* attention element stride (config max_position_embeddings) */
} sq_dropout;

/* out[b,t] = wte[ids] + wpe[t] + wtt[types] */
void embedding_forward(float *out, const int32_t *ids, const int32_t *types, const float *wte,
                       const float *wpe, const float *wtt, int B, int T, int C);
/* Accumulates; the row pad_id of dwte gets nothing (nn.Embedding padding_idx). */
void embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout, const int32_t *ids,
                        const int32_t *types, int pad_id, int B, int T, int C);

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int N, int C, float eps);
/* din is overwritten; dw, db accumulate (db may be NULL). */
void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* C[M, N] = alpha * op(A) @ op(B) + beta * C (row-major), rows split over
 * the OpenMP threads, each block by single-threaded OpenBLAS.  Call it
 * outside parallel regions. */
void sgemm_rows(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* Makes OpenBLAS single-threaded: OpenMP owns the threads. */
void sgemm_single_threaded(void);

/* out[N, OC] = in[N, C] @ w[OC, C]^T + b */
void matmul_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int OC);
/* din += dout @ w; dw += dout^T @ in; db += sum(dout) (din/db may be NULL). */
void matmul_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                     int N, int C, int OC);

/* Scaled dot-product attention over NH heads of q, k, v [B, T, C]; keys
 * t >= len[b] are masked (probability exactly 0, as HF's finfo.min mask in
 * any precision).  probs [B, NH, T, T] is kept for backward, probs_drop (the
 * same after dropout) too when d->p > 0. */
void attention_forward(float *ctx, float *probs, float *probs_drop, const float *q, const float *k,
                       const float *v, const int32_t *len, const sq_dropout *d, int B, int T, int C, int NH);
/* dq, dk, dv are overwritten; scratch holds T*T floats per OpenMP thread. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dctx, const float *q,
                        const float *k, const float *v, const float *probs, const float *probs_drop,
                        const int32_t *len, const sq_dropout *d, int B, int T, int C, int NH);

/* Exact erf GELU (HF "gelu"). */
void gelu_forward(float *out, const float *in, size_t n);
/* din = dout * gelu'(in), overwritten. */
void gelu_backward(float *din, const float *in, const float *dout, size_t n);

/* out = dropout(in) (+ res when res is not NULL); out may be in. */
void dropout_forward(float *out, const float *in, const float *res, const sq_dropout *d, int B, int T, int C);
/* din = dout * mask / (1 - p), overwritten; din may be dout. */
void dropout_backward(float *din, const float *dout, const sq_dropout *d, int B, int T, int C);

/* Start/end logits from qa_outputs' [N, 2] output, padded positions -inf
 * unless hf_padded. */
void qa_split_logits(float *start, float *end, const float *logits2, const int32_t *len, int hf_padded,
                     int B, int T);
/* This micro-batch's share of (CE(start)/n_start + CE(end)/n_end) / 2, and
 * dlogits2 [N, 2] (overwritten).  Positions are clamped to [0, T]; T is
 * ignored (HF), and without hf_padded so is any position >= len. */
double qa_loss_forward_backward(float *dlogits2, const float *start, const float *end, const int32_t *spos,
                                const int32_t *epos, const int32_t *len, int hf_padded, int n_start, int n_end,
                                int B, int T);

/* Sum of g[i]^2 over [begin, end) in double, independent of thread count. */
double grad_sumsq(const float *g, size_t begin, size_t end);
/* PyTorch AdamW on [begin, end); weight decay per tensor from the table. */
void adamw_update(float *p, const float *g, float *m, float *v, const sq_param_info *table, int n_tensors,
                  size_t begin, size_t end, const sq_adamw_args *a);

#endif
