/* The CUDA layers of BERT behind a plain C interface: the CPU functions of
 * train/cpu/layers.h with a cuda_ prefix, the same argument order, device
 * pointers, and the batch as packed tokens (sq_cu_tokens) instead of B x T.
 * Every launcher enqueues on `stream` and returns nothing: the backend checks
 * cudaGetLastError once per phase.  Dimensions must fit in int.
 *
 * Precision: fp32 buffers hold what LayerNorm, softmax, the loss and the
 * residual stream need; a bf16 copy (sq_cu_act.h) is written beside a
 * matmul operand when the backend runs in bf16 and is NULL otherwise. */
#ifndef SQ_TRAIN_CUDA_KERNELS_H
#define SQ_TRAIN_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t sq_bf16; /* bit pattern of a __nv_bfloat16 */

/* An activation: fp32 values and/or their bf16 copy (either may be NULL). */
typedef struct {
    float *f;
    sq_bf16 *h;
} sq_cu_act;

/* A micro-batch on the device as packed tokens.  Row b computes tokens
 * [cu[b], cu[b+1]): its len[b] real tokens when unpadded, all T when padded;
 * keys t >= len[b] are masked either way.  Token i is position pos[i] of row
 * row[i].  Dropout keys (sq/philox.h) use the position, so a mask does not
 * depend on the layout. */
typedef struct {
    int B, T, n;            /* rows, padded length (logit layout), computed tokens */
    int max_rows_len;       /* longest row's computed tokens */
    const int32_t *cu;      /* [B + 1] */
    const int32_t *len;     /* [B] */
    const int32_t *row, *pos; /* [n] */
    const int32_t *ids, *types; /* [n] */
    const uint32_t *sample; /* [B] global sample index */
    uint64_t seed;
    uint32_t step;
} sq_cu_tokens;

/* Dropout site for a kernel: layer and site of sq_dropout_keep, p = 0 off.
 * mask (attention probabilities only, may be NULL): the keep bits drawn by
 * cuda_attention_mask for this micro-batch, read instead of drawn again. */
typedef struct {
    uint32_t layer, site;
    float p;
    const uint32_t *mask;
} sq_cu_drop;

/* out = wte[ids] + wpe[pos] + wtt[types] (fp32). */
void cuda_embedding_forward(float *out, const sq_cu_tokens *tk, const float *wte, const float *wpe,
                            const float *wtt, int C, cudaStream_t s);
/* Segmented sums for the embedding tables, deterministic (no atomics):
 * table[seg_row[k]] += sum of dout[tok[j]] for j in [seg_off[k], seg_off[k+1]),
 * in list order.  The host builds the lists (tokens sorted by id or position). */
void cuda_embedding_backward_rows(float *table, const float *dout, const int32_t *seg_row, const int32_t *seg_off,
                                  const int32_t *tok, int n_segs, int C, cudaStream_t s);

/* The fused residual LayerNorm of a BERT sublayer:
 *   r = res + dropout_pre(y)   (r = y when res is NULL)
 *   out = dropout_post(LayerNorm(r) * w + b)
 * pre applies only when res is given, and then r_out must be given (it
 * keeps r for backward; it may be y itself); out.f/out.h get the result
 * where not NULL. */
void cuda_layernorm_forward(sq_cu_act out, float *mean, float *rstd, float *r_out, const float *y, const float *res,
                            const float *w, const float *b, const sq_cu_tokens *tk, sq_cu_drop pre, sq_cu_drop post,
                            int C, float eps, cudaStream_t s);
/* Backward of the above for one LayerNorm: dout is the gradient of out before
 * dropout_post is undone (post is applied to it first).
 *   din   = d LayerNorm input (fp32): the residual's gradient
 *   dy    = dropout_pre backward of din (fp32 and/or bf16; may be all NULL)
 * dw, db (db may be NULL) accumulate, deterministically: partial holds
 * 2 * cuda_colsum_scratch(C) doubles.  pre applies only to a sublayer (the
 * forward had res); post only to the embeddings' LayerNorm. */
void cuda_layernorm_backward(float *din, sq_cu_act dy, float *dw, float *db, const float *dout, const float *in,
                             const float *w, const float *mean, const float *rstd, const sq_cu_tokens *tk,
                             sq_cu_drop pre, sq_cu_drop post, double *partial, int C, cudaStream_t s);

/* Deterministic column sums: dst[c] += sum over rows n (in a fixed order) of
 * src[n * C + c], only rows whose types[n] == type when types is not NULL.
 * partial holds cuda_colsum_scratch(C) doubles. */
size_t cuda_colsum_scratch(int C);
void cuda_colsum(float *dst, const float *src, const int32_t *types, int type, double *partial, int N, int C,
                 cudaStream_t s);

/* Exact erf GELU: out = gelu(in); din = dout * gelu'(in) (din.f may be dout). */
void cuda_gelu_forward(sq_cu_act out, const float *in, size_t n, cudaStream_t s);
void cuda_gelu_backward(sq_cu_act din, const float *in, const float *dout, size_t n, cudaStream_t s);

/* Variable-length attention over NH heads of q, k, v [n, C] (fp32), with
 * Philox dropout on the probabilities; ctx gets the result, lse [n, NH] the
 * row log-sum-exp kept for backward.  No T x T matrix is stored.
 * version 1: one warp per (query, head), keys in chunks of 32, fp32;
 * version 2: 64 x 64 tiles on the tensor cores (WMMA, bf16 operands, fp32
 * accumulation), head size 64 only (other sizes run version 1). */
void cuda_attention_forward(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                            const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, int version,
                            cudaStream_t s);
/* The attention-probability dropout mask of a micro-batch, drawn once so
 * that attention version 3 reads bits in its forward and both backward
 * passes instead of running Philox in each: word w of (token i, head h),
 * mask[(i * NH + h) * words + w] with words = cuda_attention_mask_words of
 * the batch's longest row, keeps key 32 w + j of token i's row in bit j.
 * Only version 3 reads it; the others ignore d.mask. */
int cuda_attention_mask_words(int max_rows_len);
void cuda_attention_mask(uint32_t *mask, const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int NH, cudaStream_t s);
/* dq, dk, dv (overwritten; fp32 and/or bf16); delta [n, NH] is scratch.
 * Keys at or beyond a row's length get zero gradients. */
void cuda_attention_backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, float *delta, const float *dctx,
                             const float *ctx, const float *q, const float *k, const float *v, const float *lse,
                             const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, int version,
                             cudaStream_t s);

/* Start/end logits [B, T] from logits2 [n, 2]: -inf where not computed or,
 * unless hf_padded, at or beyond the row's length. */
void cuda_qa_split_logits(float *start, float *end, const float *logits2, const sq_cu_tokens *tk, int hf_padded,
                          cudaStream_t s);
/* Per row and side, loss_rows[2 b + side] = that CE's share of the global
 * loss (0 when ignored), and dlogits2 [n, 2] (overwritten); spos/epos [B]. */
void cuda_qa_loss_forward_backward(float *dlogits2, double *loss_rows, const float *start, const float *end,
                                   const int32_t *spos, const int32_t *epos, const sq_cu_tokens *tk, int hf_padded,
                                   int n_start, int n_end, cudaStream_t s);

/* AdamW (torch semantics, as train/cpu/adamw.c) on [begin, end) of the flat
 * buffer, over host-prepared chunks that never straddle a tensor
 * (chunk_lo/hi/decay [n_chunks]); p16 (may be NULL) gets the bf16 copy. */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay, grad_scale;
    long t;
} sq_cu_adamw_args;
/* A step's numbers kept on the device, so that a step queues its work
 * without waiting for it (the backend's deferred mode, SQ_DEVICE_NORM=1):
 * the loss summed over the step's forwards, then the global gradient norm,
 * the clip factor AdamW applies, and the first step whose norm was not
 * finite, after which no update is applied (the host step refuses it). */
typedef struct {
    double loss_sum;    /* forwards since the last cuda_clip_factor */
    double loss, norm;  /* of the last step */
    double scale;       /* its clip factor: the gradients' multiplier */
    double bad_norm;    /* the first non-finite norm */
    long long bad_step; /* its step (1-based); 0: none */
} sq_cu_step_numbers;
/* d->loss_sum += the sum of loss_rows[0..n) in order (the host's order). */
void cuda_loss_accumulate(sq_cu_step_numbers *d, const double *loss_rows, int n, cudaStream_t s);
/* Ends a step on the device: loss = loss_sum (which restarts at 0), norm =
 * sqrt(*sumsq), scale = core/optim.c's sq_clip_coef(norm, max_norm) (1 when
 * max_norm <= 0), and bad_step = step when norm is not finite and none was. */
void cuda_clip_factor(sq_cu_step_numbers *d, const double *sumsq, double max_norm, long step, cudaStream_t s);
/* dev (may be NULL): the gradients are multiplied by dev->scale instead of
 * a->grad_scale, and nothing is updated once dev->bad_step is set. */
void cuda_adamw_update(float *p, sq_bf16 *p16, const float *g, float *m, float *v, const int64_t *chunk_lo,
                       const int64_t *chunk_hi, const uint8_t *chunk_decay, int n_chunks, int64_t begin, int64_t end,
                       const sq_cu_adamw_args *a, const sq_cu_step_numbers *dev, cudaStream_t s);
/* Sum of squares of g over [begin, end) in double: partial holds
 * cuda_sumsq_blocks() doubles, out one double (device). */
int cuda_sumsq_blocks(void);
void cuda_grad_sumsq(double *out, double *partial, const float *g, int64_t begin, int64_t end, cudaStream_t s);
/* nn.Linear through cuBLASLt (fp32 accumulation; fp32 outputs, so a
 * gradient accumulates in fp32).  Operands are row-major as HF stores
 * them; bf16 != 0 reads the .h copies of in/dout and w, else the .f ones
 * (pure fp32, no TF32).  The bias rides the matmul's epilogue when cuBLASLt
 * takes it.  Errors (a cuBLASLt status) set sq_err and return -1. */
typedef struct sq_cu_blas sq_cu_blas;
/* workspace_bytes of device memory are allocated here, once. */
int cuda_blas_new(size_t workspace_bytes, sq_cu_blas **out);
void cuda_blas_free(sq_cu_blas *h);
// Tokens per algorithm-cache bucket (0: SQ_LT_CACHE=0, no cache).
int cuda_blas_bucket(const sq_cu_blas *h);
// cuBLASLt heuristic queries made so far (each is a shape met for the first time).
long cuda_blas_queries(const sq_cu_blas *h);
/* on != 0: bf16 cuda_matmul_backward computes db in the weight gradient's
 * GEMM (cuBLASLt's BGRADB epilogue, summing the bf16 dout) instead of
 * column sums of dout.f; fp32 always sums.  Off by default. */
void cuda_blas_bgrad_epilogue(sq_cu_blas *h, int on);
/* on != 0: the algorithm cache rounds the token dimension of every GEMM to
 * its bucket, k in the weight gradients' (whose token count the default
 * key holds exactly, so that each new count queries the heuristic again).
 * Off by default (SQ_LT_TOKEN_BUCKETS=1 in the backend); set it before the
 * first matmul, as the cache's keys depend on it. */
void cuda_blas_token_buckets(sq_cu_blas *h, int on);
/* Bias gradients computed so far by the epilogue, and by column sums
 * because cuBLASLt refused the epilogue (with it on). */
void cuda_blas_bgrad_counts(const sq_cu_blas *h, long *fused, long *summed);
/* out[N, OC] = in[N, C] @ w[OC, C]^T + b (b may be NULL) */
int cuda_matmul_forward(sq_cu_blas *h, float *out, sq_cu_act in, sq_cu_act w, const float *b, int N, int C, int OC,
                        int bf16, cudaStream_t s);
/* din (+)= dout @ w (+= when din_accumulate, din may be NULL); dw += dout^T @ in;
 * db += column sums of dout.f (db may be NULL; partial: cuda_colsum_scratch(OC)
 * doubles, 16-byte aligned), or of dout.h in the GEMM (cuda_blas_bgrad_epilogue). */
int cuda_matmul_backward(sq_cu_blas *h, float *din, float *dw, float *db, sq_cu_act dout, sq_cu_act in, sq_cu_act w,
                         int N, int C, int OC, int din_accumulate, int bf16, double *partial, cudaStream_t s);

/* dst[i] = bf16(src[i]). */
void cuda_to_bf16(sq_bf16 *dst, const float *src, size_t n, cudaStream_t s);
/* out[n, OC] += b (when a matmul epilogue cannot take the bias). */
void cuda_add_bias(float *out, const float *b, int N, int OC, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
