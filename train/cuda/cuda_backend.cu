// The CUDA backend of sq-train: train/cpu/cpu_backend.c's pass over packed
// tokens.  A micro-batch's rows are packed densely (cu_seqlens from len[]),
// so embeddings, every linear layer, LayerNorm, GELU and dropout run on real
// tokens only; --padded computes all B x T positions instead (and so does a
// batch with hf_padded_logits, whose padded logits take part in the loss).
//
// Memory: the flat fp32 parameters, gradients and AdamW moments live on the
// device (sq_model's host buffers are mirrors, moved by pull/push); in bf16
// a bf16 shadow of the parameters, rewritten by every AdamW step, feeds the
// matmuls.  Activations and scratch are one allocation sized for the largest
// micro-batch, so a step allocates nothing.  The host syncs where the
// interface returns a number (loss, gradient norm) and before a grad hook;
// in deferred mode (core/backend.h, SQ_DEVICE_NORM=1) the loss and the norm
// stay on the device and a step has no sync.
//
// Candidate versions, off until a GPU run shows them correct and faster
// (docs/cuda.md, "Switches"): SQ_BGRAD_EPILOGUE=1 (bf16 bias gradients in
// the weight gradients' GEMMs), SQ_MEM_PLAN=1 (the first row of the memory
// plan: fp32 LayerNorm outputs as shared forward scratch), SQ_DEVICE_NORM=1,
// SQ_LT_TOKEN_BUCKETS=1 (cuBLASLt algorithms cached by token bucket in the
// weight gradients' GEMMs too).
//
// --profile: while the trace records, CUDA events around each kernel family
// become spans on the trace's "gpu" track (cuda/profile.h).
#include "cuda/common.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/profile.h"

extern "C" {
#include "core/optim.h"
#include "report/trace.h"
#include "sq/error.h"
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

sq_cuda_opts g_opts = {1, 0};

typedef __nv_bfloat16 bf16_t;

struct layer_acts {
    float *q, *k, *v, *lse, *r1, *mean1, *rstd1, *f, *r2, *mean2, *rstd2;
    uint32_t *mask; // attention dropout keep bits, drawn in forward, read again in backward
    sq_cu_act ctx, h1, g, h2;
};

// Host staging of a micro-batch (pinned), copied in one transfer to the same
// layout on the device.  Capacities are for the largest micro-batch.
struct staging {
    int32_t *cu, *len, *row, *pos, *ids, *types, *spos, *epos;
    uint32_t *sample;
    int32_t *wte_row, *wte_off, *wte_tok; // tokens by word id (pad id left out)
    int32_t *wpe_row, *wpe_off, *wpe_tok; // tokens by position
    size_t bytes;
};

struct cuda_be {
    sq_model *model;
    int max_B, max_T, bf16, padded_opt;
    int attn_version; // 1, or 2 (tensor cores, bf16 only) from SQ_ATTN_VERSION
    int mem_plan;     // SQ_MEM_PLAN: rows of docs/cuda.md's memory plan applied (0 or 1)
    bool bgrad_epi;   // SQ_BGRAD_EPILOGUE=1 (bf16 only)
    bool lt_tokens;   // SQ_LT_TOKEN_BUCKETS=1
    size_t max_N;
    cudaStream_t stream;
    cudaEvent_t staged; // the last host-to-device copy of the staging block
    sq_cu_blas *blas;
    float *params, *grads, *m, *v; // device, n_params each
    bf16_t *p16;
    sq_param_ptrs P, G;
    // AdamW chunks (device) and their count
    int64_t *chunk_lo, *chunk_hi;
    uint8_t *chunk_decay;
    int n_chunks;
    // activations and scratch
    char *arena;
    size_t arena_used;
    float *x0, *emean, *erstd;
    sq_cu_act h0;
    layer_acts *la;
    float *tmp, *logits2, *dlogits2, *start, *end, *dres, *dh1, *dctx, *delta;
    sq_cu_act dy, dI, dq, dk, dv;
    double *loss_rows, *partial, *sumsq_partial, *sumsq_out;
    sq_cu_step_numbers *numbers; // deferred mode's loss and norm (device)
    // the batch
    staging host, dev;
    void *host_block, *dev_block;
    double *host_loss; // pinned: loss_rows and the norm
    sq_cu_step_numbers *host_numbers; // pinned: read_numbers' copy
    uint64_t *sort_keys; // [max_N] host
    sq_cu_tokens tk;   // of the last forward (device pointers)
    int n_wte_segs, n_wpe_segs, last_B, last_T;
    bool have_batch;
    double attn_len2; // sum of len[b]^2 over the batch's rows: attention FLOPs
    size_t bytes_allocated;
    sq_cu_prof prof;
};

__global__ void probe_kernel() {}

int cuda_fail(cudaError_t e, const char *what) {
    if (e == cudaErrorMemoryAllocation) return sq_err("%s: out of GPU memory", what);
    return sq_err("%s: %s", what, cudaGetErrorString(e));
}

#define CU(call, what)                                                                                                 \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) return cuda_fail(e_, what);                                                            \
    } while (0)

// Where the host has just synchronised the stream.  A profiling failure
// ends the run like any CUDA error (it means the device is in trouble).
int flush_spans(cuda_be *c) {
    cudaError_t e = sq_cu_prof_flush(&c->prof);
    return e == cudaSuccess ? 0 : cuda_fail(e, "--profile: timing GPU kernels");
}

// FLOPs of a matmul [N, K] x [K, M] (forward; its backward does dX and dW,
// twice this).
double mm_flops(int N, int K, int M) { return 2.0 * N * K * M; }

// Bytes a memory-bound kernel moves over n x w elements: `f32` fp32 tensors
// read or written, plus `copies` bf16 copies written in bf16 (the main
// tensors only: LayerNorm statistics and partial sums are left out).
double io_bytes(const cuda_be *c, size_t n, int w, int f32, int copies) {
    return (double)n * w * (4.0 * f32 + (c->bf16 ? 2.0 * copies : 0));
}

// Slices of the arena, 256-byte aligned; a NULL arena only measures.
void *take(cuda_be *c, size_t bytes) {
    void *p = c->arena ? c->arena + c->arena_used : NULL;
    c->arena_used += (bytes + 255) & ~(size_t)255;
    return p;
}
float *takef(cuda_be *c, size_t n) { return (float *)take(c, n * sizeof(float)); }
sq_bf16 *takeh(cuda_be *c, size_t n) { return c->bf16 ? (sq_bf16 *)take(c, n * sizeof(sq_bf16)) : NULL; }

// Whether the fp32 LayerNorm outputs h0, h1, h2 may share two buffers
// (SQ_MEM_PLAN >= 1, the first row of docs/cuda.md's memory plan): only
// when no backward reads them, as bf16 training (its matmuls read the bf16
// copies) and inference do.  In the forward, layer l's h1 is read by its
// own output LayerNorm (the residual) and its intermediate matmul, and h2
// (h0 for layer 0) by layer l + 1's attention LayerNorm and QKV matmuls:
// each is dead before the same buffer is written again.  The last h2 stays,
// for the QA head's forward and backward.  Saves (2L - 1) x N x C x 4
// bytes: 0.81 GiB for BERT-base at 32 x 384.
bool share_ln_out(const cuda_be *c, bool train) { return c->mem_plan >= 1 && (c->bf16 || !train); }

// The activations and scratch of the largest micro-batch as slices of one
// arena; returns its size.  train: the model has gradients (a backward).
size_t plan(cuda_be *c, const sq_bert_config *cfg, bool train) {
    size_t N = c->max_N, C = (size_t)cfg->hidden, I = (size_t)cfg->intermediate, NH = (size_t)cfg->heads;
    size_t B = (size_t)c->max_B, T = (size_t)c->max_T;
    c->arena_used = 0;
    c->x0 = takef(c, N * C), c->emean = takef(c, N), c->erstd = takef(c, N);
    bool share = share_ln_out(c, train);
    float *h1_shared = share ? takef(c, N * C) : NULL, *h2_shared = share ? takef(c, N * C) : NULL;
    c->h0.f = share ? h2_shared : takef(c, N * C), c->h0.h = takeh(c, N * C);
    for (int l = 0; l < cfg->layers; l++) {
        layer_acts *a = &c->la[l];
        a->q = takef(c, N * C), a->k = takef(c, N * C), a->v = takef(c, N * C), a->lse = takef(c, N * NH);
        a->mask = train && c->attn_version == 3 && cfg->attention_dropout > 0
                      ? (uint32_t *)take(c, N * NH * (size_t)cuda_attention_mask_words((int)T) * sizeof(uint32_t))
                      : NULL;
        a->ctx.f = takef(c, N * C), a->ctx.h = takeh(c, N * C);
        a->r1 = train ? takef(c, N * C) : NULL, a->mean1 = takef(c, N), a->rstd1 = takef(c, N);
        a->h1.f = share ? h1_shared : takef(c, N * C), a->h1.h = takeh(c, N * C);
        a->f = takef(c, N * I);
        // GELU's output only feeds matmuls: bf16 alone in bf16
        a->g.f = c->bf16 ? NULL : takef(c, N * I), a->g.h = takeh(c, N * I);
        a->r2 = train ? takef(c, N * C) : NULL, a->mean2 = takef(c, N), a->rstd2 = takef(c, N);
        a->h2.f = share ? h2_shared : takef(c, N * C), a->h2.h = takeh(c, N * C);
    }
    c->tmp = takef(c, N * C), c->logits2 = takef(c, 2 * N), c->dlogits2 = takef(c, 2 * N);
    c->start = takef(c, B * T), c->end = takef(c, B * T);
    c->loss_rows = (double *)take(c, 2 * B * sizeof(double));
    size_t cs = cuda_colsum_scratch((int)(I > C ? I : C));
    c->partial = (double *)take(c, 2 * cs * sizeof(double));
    c->sumsq_partial = (double *)take(c, (size_t)cuda_sumsq_blocks() * sizeof(double));
    c->sumsq_out = (double *)take(c, sizeof(double));
    c->numbers = (sq_cu_step_numbers *)take(c, sizeof(sq_cu_step_numbers));
    if (train) {
        c->dres = takef(c, N * C), c->dh1 = takef(c, N * C), c->dctx = takef(c, N * C), c->delta = takef(c, N * NH);
        c->dy.f = takef(c, N * C), c->dy.h = takeh(c, N * C);
        c->dI.f = takef(c, N * I), c->dI.h = takeh(c, N * I);
        c->dq.f = takef(c, N * C), c->dq.h = takeh(c, N * C);
        c->dk.f = takef(c, N * C), c->dk.h = takeh(c, N * C);
        c->dv.f = takef(c, N * C), c->dv.h = takeh(c, N * C);
    }
    return c->arena_used;
}

// The staging layout (int32 words), identical on host and device.
size_t stage_layout(staging *s, void *base, int B, int T, size_t N) {
    size_t off = 0;
    auto slot = [&](size_t n) {
        int32_t *p = base ? (int32_t *)base + off : NULL;
        off += (n + 63) & ~(size_t)63;
        return p;
    };
    s->cu = slot((size_t)B + 1), s->len = slot((size_t)B), s->row = slot(N), s->pos = slot(N), s->ids = slot(N);
    s->types = slot(N), s->spos = slot((size_t)B), s->epos = slot((size_t)B), s->sample = (uint32_t *)slot((size_t)B);
    s->wte_row = slot(N), s->wte_off = slot(N + 1), s->wte_tok = slot(N);
    s->wpe_row = slot((size_t)T), s->wpe_off = slot((size_t)T + 1), s->wpe_tok = slot(N);
    s->bytes = off * sizeof(int32_t);
    return s->bytes;
}

int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Packs the batch into the staging block and starts its copy.
int stage_batch(cuda_be *c, const sq_batch *b) {
    CU(cudaEventSynchronize(c->staged), "staging a batch"); // the previous copy has left the host block
    staging *h = &c->host;
    bool padded = c->padded_opt || b->hf_padded_logits;
    int B = b->B, T = b->T, n = 0, longest = 0;
    double len2 = 0;
    for (int r = 0; r < B; r++) {
        int L = padded ? T : b->len[r];
        len2 += (double)b->len[r] * b->len[r];
        h->cu[r] = n;
        h->len[r] = b->len[r];
        h->spos[r] = b->start ? b->start[r] : 0;
        h->epos[r] = b->end ? b->end[r] : 0;
        h->sample[r] = b->sample ? b->sample[r] : 0;
        for (int t = 0; t < L; t++, n++) {
            h->row[n] = r;
            h->pos[n] = t;
            h->ids[n] = b->ids[(size_t)r * T + t];
            h->types[n] = b->types[(size_t)r * T + t];
        }
        longest = L > longest ? L : longest;
    }
    h->cu[B] = n;
    c->attn_len2 = len2;
    c->n_wte_segs = c->n_wpe_segs = 0;
    if (c->model->grads) {
        // word rows: tokens sorted by (id, token) without the padding id
        int k = 0;
        uint64_t *sk = c->sort_keys;
        for (int i = 0; i < n; i++)
            if (h->ids[i] != c->model->cfg.pad_token_id) sk[k++] = (uint64_t)(uint32_t)h->ids[i] << 32 | (uint32_t)i;
        qsort(sk, (size_t)k, sizeof *sk, cmp_u64);
        int segs = 0;
        for (int j = 0; j < k; j++) {
            int id = (int)(sk[j] >> 32);
            if (!j || id != h->wte_row[segs - 1]) {
                h->wte_row[segs] = id;
                h->wte_off[segs++] = j;
            }
            h->wte_tok[j] = (int32_t)(uint32_t)sk[j];
        }
        h->wte_off[segs] = k;
        c->n_wte_segs = segs;
        // position rows: tokens by (position, row), the CPU's summation order
        int j = 0;
        for (int t = 0; t < longest; t++) {
            h->wpe_row[t] = t;
            h->wpe_off[t] = j;
            for (int r = 0; r < B; r++)
                if (h->cu[r] + t < h->cu[r + 1]) h->wpe_tok[j++] = h->cu[r] + t;
        }
        h->wpe_off[longest] = j;
        c->n_wpe_segs = longest;
    }
    PROFILE_SPAN(&c->prof, "batch to device", "copy", -1, 0, (double)h->bytes)
        CU(cudaMemcpyAsync(c->dev_block, c->host_block, h->bytes, cudaMemcpyHostToDevice, c->stream),
           "staging a batch");
    CU(cudaEventRecord(c->staged, c->stream), "staging a batch");
    sq_cu_tokens tk = {B, T, n, longest, c->dev.cu, c->dev.len, c->dev.row, c->dev.pos, c->dev.ids, c->dev.types,
                       c->dev.sample, b->seed, b->step};
    c->tk = tk;
    c->last_B = B;
    c->last_T = T;
    c->have_batch = true;
    return 0;
}

sq_cu_drop drop(double p, bool on, int layer, int site) {
    sq_cu_drop d = {layer < 0 ? (uint32_t)SQ_DROP_EMB_LAYER : (uint32_t)layer, (uint32_t)site, on ? (float)p : 0.0f};
    return d;
}

// A weight as a matmul operand: fp32 master and its bf16 shadow.
sq_cu_act wt(const cuda_be *c, float *w) {
    sq_cu_act a = {w, c->p16 ? (sq_bf16 *)(c->p16 + (w - c->params)) : NULL};
    return a;
}

sq_cu_act fonly(float *f) {
    sq_cu_act a = {f, NULL};
    return a;
}

int launched(const char *what) {
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : cuda_fail(e, what);
}

bool attn_dropout_on(const cuda_be *c) { return c->model->grads && c->model->cfg.attention_dropout > 0; }

// An empty micro-batch (core/batch.h): nothing to compute, loss 0; its
// backward still calls the hook for every layer.
int empty_batch(sq_backend *be, cuda_be *c, const sq_batch *b, double *loss) {
    sq_cu_tokens tk = {0, b->T, 0, 0, c->dev.cu, c->dev.len, c->dev.row, c->dev.pos, c->dev.ids, c->dev.types,
                       c->dev.sample, b->seed, b->step};
    c->tk = tk;
    c->attn_len2 = 0;
    c->last_B = 0;
    c->last_T = b->T;
    c->have_batch = true;
    if (loss) *loss = be->deferred ? NAN : 0; // deferred: nothing to add to the device's sum
    return 0;
}

int cu_forward(sq_backend *be, const sq_batch *b, bool train, double *loss) {
    cuda_be *c = (cuda_be *)be->impl;
    const sq_bert_config *cfg = &c->model->cfg;
    if (sq_batch_check(b, cfg, c->max_B, c->max_T)) return -1;
    if (!b->B) return empty_batch(be, c, b, loss);
    if (stage_batch(c, b)) return -1;
    const sq_cu_tokens *tk = &c->tk;
    int N = tk->n, C = cfg->hidden, I = cfg->intermediate, NH = cfg->heads, P = cfg->max_position, bf = c->bf16;
    float eps = (float)cfg->layer_norm_eps;
    double hp = cfg->hidden_dropout, ap = cfg->attention_dropout;
    cudaStream_t s = c->stream;
    sq_cu_drop none = {0, 0, 0.0f};
    sq_param_ptrs *W = &c->P;

    // Spans: FLOPs on the tokens computed for matmuls, on real tokens for
    // attention (4 len^2 hs per head and row: QK^T and PV); bytes for the
    // memory-bound kernels (io_bytes).
    PROFILE_SPAN(&c->prof, "embedding", "embedding", -1, 0, io_bytes(c, N, C, 4, 0)) // 3 rows read, 1 written
        cuda_embedding_forward(c->x0, tk, W->wte, W->wpe, W->wtt, C, s);
    PROFILE_SPAN(&c->prof, "embedding layernorm", "layernorm", -1, 0, io_bytes(c, N, C, 2, 1))
        cuda_layernorm_forward(c->h0, c->emean, c->erstd, NULL, c->x0, NULL, W->lnew, W->lneb, tk, none,
                               drop(hp, train, -1, SQ_DROP_EMB), C, eps, s);
    sq_cu_act x = c->h0;
    for (int l = 0; l < cfg->layers; l++) {
        layer_acts *a = &c->la[l];
        sq_layer_params *w = &W->layer[l];
        PROFILE_SPAN(&c->prof, "qkv", "matmul", l, 3 * mm_flops(N, C, C), 0) {
            if (cuda_matmul_forward(c->blas, a->q, x, wt(c, w->qw), w->qb, N, C, C, bf, s) ||
                cuda_matmul_forward(c->blas, a->k, x, wt(c, w->kw), w->kb, N, C, C, bf, s) ||
                cuda_matmul_forward(c->blas, a->v, x, wt(c, w->vw), w->vb, N, C, C, bf, s))
                return sq_err_ctx("layer %d attention", l);
        }
        PROFILE_SPAN(&c->prof, "attention", "attention_fwd", l, 4.0 * c->attn_len2 * C, 0) {
            sq_cu_drop ad = drop(ap, train && attn_dropout_on(c), l, SQ_DROP_ATTN_PROBS);
            if (ad.p > 0 && a->mask) {
                cuda_attention_mask(a->mask, tk, ad, P, NH, s);
                ad.mask = a->mask;
            }
            cuda_attention_forward(a->ctx, a->lse, a->q, a->k, a->v, tk, ad, P, C, NH, c->attn_version, s);
        }
        PROFILE_SPAN(&c->prof, "attention output", "matmul", l, mm_flops(N, C, C), 0)
            if (cuda_matmul_forward(c->blas, c->tmp, a->ctx, wt(c, w->aow), w->aob, N, C, C, bf, s))
                return sq_err_ctx("layer %d attention output", l);
        // inference keeps no residual sums: r is written over the branch output
        PROFILE_SPAN(&c->prof, "attention layernorm", "layernorm", l, 0, io_bytes(c, N, C, 4, 1))
            cuda_layernorm_forward(a->h1, a->mean1, a->rstd1, a->r1 ? a->r1 : c->tmp, c->tmp, x.f, w->ln1w, w->ln1b, tk,
                                   drop(hp, train, l, SQ_DROP_ATTN_OUT), none, C, eps, s);
        PROFILE_SPAN(&c->prof, "intermediate", "matmul", l, mm_flops(N, C, I), 0)
            if (cuda_matmul_forward(c->blas, a->f, a->h1, wt(c, w->iw), w->ib, N, C, I, bf, s))
                return sq_err_ctx("layer %d intermediate", l);
        PROFILE_SPAN(&c->prof, "gelu", "gelu", l, 0, io_bytes(c, N, I, bf ? 1 : 2, 1))
            cuda_gelu_forward(a->g, a->f, (size_t)N * I, s);
        PROFILE_SPAN(&c->prof, "output", "matmul", l, mm_flops(N, I, C), 0)
            if (cuda_matmul_forward(c->blas, c->tmp, a->g, wt(c, w->ow), w->ob, N, I, C, bf, s))
                return sq_err_ctx("layer %d output", l);
        PROFILE_SPAN(&c->prof, "output layernorm", "layernorm", l, 0, io_bytes(c, N, C, 4, 1))
            cuda_layernorm_forward(a->h2, a->mean2, a->rstd2, a->r2 ? a->r2 : c->tmp, c->tmp, a->h1.f, w->ln2w, w->ln2b,
                                   tk, drop(hp, train, l, SQ_DROP_FFN_OUT), none, C, eps, s);
        x = a->h2;
        if (launched("forward")) return sq_err_ctx("layer %d", l);
    }
    // The QA head in fp32 (2 outputs: nothing to gain from bf16).
    PROFILE_SPAN(&c->prof, "qa_outputs", "matmul", -1, mm_flops(N, C, 2), 0)
        if (cuda_matmul_forward(c->blas, c->logits2, fonly(x.f), fonly(W->qaw), W->qab, N, C, 2, 0, s))
            return sq_err_ctx("qa_outputs");
    PROFILE_SPAN(&c->prof, "qa_loss", "qa_loss", -1, 0, 0) {
        cuda_qa_split_logits(c->start, c->end, c->logits2, tk, b->hf_padded_logits, s);
        if (loss)
            cuda_qa_loss_forward_backward(c->dlogits2, c->loss_rows, c->start, c->end, c->dev.spos, c->dev.epos, tk,
                                          b->hf_padded_logits, b->n_start, b->n_end, s);
    }
    if (!loss) return launched("forward");
    if (be->deferred) { // summed on the device, read with the step's norm (cu_read_numbers)
        cuda_loss_accumulate(c->numbers, c->loss_rows, 2 * b->B, s);
        *loss = NAN;
        return launched("forward");
    }
    CU(cudaMemcpyAsync(c->host_loss, c->loss_rows, 2 * (size_t)b->B * sizeof(double), cudaMemcpyDeviceToHost, s),
       "forward");
    CU(cudaStreamSynchronize(s), "forward");
    if (flush_spans(c)) return -1;
    double sum = 0;
    for (int i = 0; i < 2 * b->B; i++) sum += c->host_loss[i]; // the CPU's order: rows, then start/end
    *loss = sum;
    return 0;
}

int cu_logits(sq_backend *be, float *start, float *end) {
    cuda_be *c = (cuda_be *)be->impl;
    if (!c->have_batch) return sq_err("logits before any forward");
    size_t n = (size_t)c->last_B * c->last_T * sizeof(float);
    CU(cudaMemcpyAsync(start, c->start, n, cudaMemcpyDeviceToHost, c->stream), "logits");
    CU(cudaMemcpyAsync(end, c->end, n, cudaMemcpyDeviceToHost, c->stream), "logits");
    CU(cudaStreamSynchronize(c->stream), "logits");
    return flush_spans(c);
}

int ready(cuda_be *c, const sq_grad_hook *h, int layer) {
    if (!h || !h->ready) return 0;
    CU(cudaStreamSynchronize(c->stream), "backward");
    if (flush_spans(c)) return -1;
    size_t lo, hi;
    sq_model_layer_range(c->model, layer, &lo, &hi);
    return h->ready(h->ctx, layer, lo, hi);
}

int cu_backward(sq_backend *be, const sq_batch *b, const sq_grad_hook *hook) {
    cuda_be *c = (cuda_be *)be->impl;
    const sq_bert_config *cfg = &c->model->cfg;
    if (!c->model->grads) return sq_err("backward on a model loaded for inference");
    if (!c->have_batch || b->B != c->last_B || b->T != c->last_T) return sq_err("backward without its forward");
    if (!b->B) { // nothing to add, but every layer's hook still fires
        for (int l = cfg->layers; l >= -1; l--)
            if (ready(c, hook, l)) return -1;
        return 0;
    }
    const sq_cu_tokens *tk = &c->tk;
    int N = tk->n, C = cfg->hidden, I = cfg->intermediate, NH = cfg->heads, P = cfg->max_position, L = cfg->layers;
    int bf = c->bf16;
    double hp = cfg->hidden_dropout, ap = cfg->attention_dropout;
    cudaStream_t s = c->stream;
    sq_cu_drop none = {0, 0, 0.0f};
    sq_cu_act no_act = {NULL, NULL};
    sq_param_ptrs *W = &c->P, *G = &c->G;
    sq_cu_act top = L ? c->la[L - 1].h2 : c->h0;

    // qa_outputs.bias, the last LayerNorm's bias and the key biases keep a
    // zero gradient, as train/cpu/cpu_backend.c explains.  Span FLOPs: a matmul's
    // dX and dW (its bias gradient rides in the span), and for attention
    // 10 len^2 hs per head and row on real tokens, 2.5x the forward: S
    // recomputed, dP, dV, dQ, dK: the algorithm's count, so a kernel that
    // recomputes more, as two-pass ones do, shows less than it executes.
    PROFILE_SPAN(&c->prof, "qa_outputs", "matmul_bwd", -1, 2 * mm_flops(N, C, 2), 0)
        if (cuda_matmul_backward(c->blas, c->dres, G->qaw, NULL, fonly(c->dlogits2), fonly(top.f), fonly(W->qaw), N, C,
                                 2, 0, 0, c->partial, s))
            return sq_err_ctx("qa_outputs backward");
    if (ready(c, hook, L)) return -1;
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &c->la[l];
        sq_layer_params *w = &W->layer[l], *g = &G->layer[l];
        sq_cu_act x = l ? c->la[l - 1].h2 : c->h0;
        // output LayerNorm, FFN branch and its residual
        PROFILE_SPAN(&c->prof, "output layernorm", "layernorm_bwd", l, 0, io_bytes(c, N, C, 4, 1))
            cuda_layernorm_backward(c->dh1, c->dy, g->ln2w, l == L - 1 ? NULL : g->ln2b, c->dres, a->r2, w->ln2w,
                                    a->mean2, a->rstd2, tk, drop(hp, true, l, SQ_DROP_FFN_OUT), none, c->partial, C, s);
        PROFILE_SPAN(&c->prof, "output", "matmul_bwd", l, 2 * mm_flops(N, I, C), 0)
            if (cuda_matmul_backward(c->blas, c->dI.f, g->ow, g->ob, c->dy, a->g, wt(c, w->ow), N, I, C, 0, bf,
                                     c->partial, s))
                return sq_err_ctx("layer %d output backward", l);
        PROFILE_SPAN(&c->prof, "gelu", "gelu_bwd", l, 0, io_bytes(c, N, I, 3, 1))
            cuda_gelu_backward(c->dI, a->f, c->dI.f, (size_t)N * I, s);
        PROFILE_SPAN(&c->prof, "intermediate", "matmul_bwd", l, 2 * mm_flops(N, C, I), 0)
            if (cuda_matmul_backward(c->blas, c->dh1, g->iw, g->ib, c->dI, a->h1, wt(c, w->iw), N, C, I, 1, bf,
                                     c->partial, s))
                return sq_err_ctx("layer %d intermediate backward", l);
        // attention output LayerNorm, attention branch and its residual
        PROFILE_SPAN(&c->prof, "attention layernorm", "layernorm_bwd", l, 0, io_bytes(c, N, C, 4, 1))
            cuda_layernorm_backward(c->dres, c->dy, g->ln1w, g->ln1b, c->dh1, a->r1, w->ln1w, a->mean1, a->rstd1, tk,
                                    drop(hp, true, l, SQ_DROP_ATTN_OUT), none, c->partial, C, s);
        PROFILE_SPAN(&c->prof, "attention output", "matmul_bwd", l, 2 * mm_flops(N, C, C), 0)
            if (cuda_matmul_backward(c->blas, c->dctx, g->aow, g->aob, c->dy, a->ctx, wt(c, w->aow), N, C, C, 0, bf,
                                     c->partial, s))
                return sq_err_ctx("layer %d attention output backward", l);
        PROFILE_SPAN(&c->prof, "attention", "attention_bwd", l, 10.0 * c->attn_len2 * C, 0) {
            sq_cu_drop ad = drop(ap, attn_dropout_on(c), l, SQ_DROP_ATTN_PROBS);
            ad.mask = a->mask; // the forward's bits (NULL: drawn again)
            cuda_attention_backward(c->dq, c->dk, c->dv, c->delta, c->dctx, a->ctx.f, a->q, a->k, a->v, a->lse, tk, ad,
                                    P, C, NH, c->attn_version, s);
        }
        PROFILE_SPAN(&c->prof, "qkv", "matmul_bwd", l, 3 * 2 * mm_flops(N, C, C), 0) {
            if (cuda_matmul_backward(c->blas, c->dres, g->qw, g->qb, c->dq, x, wt(c, w->qw), N, C, C, 1, bf, c->partial,
                                     s) ||
                cuda_matmul_backward(c->blas, c->dres, g->kw, NULL, c->dk, x, wt(c, w->kw), N, C, C, 1, bf, c->partial,
                                     s) ||
                cuda_matmul_backward(c->blas, c->dres, g->vw, g->vb, c->dv, x, wt(c, w->vw), N, C, C, 1, bf, c->partial,
                                     s))
                return sq_err_ctx("layer %d attention backward", l);
        }
        if (launched("backward")) return sq_err_ctx("layer %d", l);
        if (ready(c, hook, l)) return -1;
    }
    // embeddings: dropout, LayerNorm, then the three tables
    PROFILE_SPAN(&c->prof, "embedding layernorm", "layernorm_bwd", -1, 0, io_bytes(c, N, C, 3, 0))
        cuda_layernorm_backward(c->dh1, no_act, G->lnew, G->lneb, c->dres, c->x0, W->lnew, c->emean, c->erstd, tk, none,
                                drop(hp, true, -1, SQ_DROP_EMB), c->partial, C, s);
    PROFILE_SPAN(&c->prof, "embedding", "embedding_bwd", -1, 0, io_bytes(c, N, C, 2 + cfg->type_vocab, 0)) {
        const staging *d = &c->dev;
        cuda_embedding_backward_rows(G->wte, c->dh1, d->wte_row, d->wte_off, d->wte_tok, c->n_wte_segs, C, s);
        cuda_embedding_backward_rows(G->wpe, c->dh1, d->wpe_row, d->wpe_off, d->wpe_tok, c->n_wpe_segs, C, s);
        for (int t = 0; t < cfg->type_vocab; t++)
            cuda_colsum(G->wtt + (size_t)t * C, c->dh1, tk->types, t, c->partial, N, C, s);
        // dh1 read once per table and token type (the table rows written are few)
    }
    if (launched("backward")) return sq_err_ctx("embeddings");
    return ready(c, hook, -1);
}

int cu_zero_grads(sq_backend *be) {
    cuda_be *c = (cuda_be *)be->impl;
    if (!c->grads) return sq_err("zero_grads on a model loaded for inference");
    PROFILE_SPAN(&c->prof, "zero_grads", "memset", -1, 0, io_bytes(c, c->model->n_params, 1, 1, 0))
        CU(cudaMemsetAsync(c->grads, 0, c->model->n_params * sizeof(float), c->stream), "zero_grads");
    return 0;
}

int cu_grad_sumsq(sq_backend *be, size_t begin, size_t end, double *out) {
    cuda_be *c = (cuda_be *)be->impl;
    if (!c->grads) return sq_err("grad_sumsq on a model loaded for inference");
    if (end > c->model->n_params || begin > end) return sq_err("grad_sumsq: range [%zu, %zu) outside the buffer", begin, end);
    PROFILE_SPAN(&c->prof, "grad_norm", "grad_norm", -1, 0, io_bytes(c, end - begin, 1, 1, 0))
        cuda_grad_sumsq(c->sumsq_out, c->sumsq_partial, c->grads, (int64_t)begin, (int64_t)end, c->stream);
    CU(cudaMemcpyAsync(c->host_loss, c->sumsq_out, sizeof(double), cudaMemcpyDeviceToHost, c->stream), "grad_sumsq");
    CU(cudaStreamSynchronize(c->stream), "grad_sumsq");
    if (flush_spans(c)) return -1;
    *out = c->host_loss[0];
    return 0;
}

// AdamW on [begin, end), scaled by a->grad_scale or, with dev, by the clip
// factor on the device (deferred mode).
int adamw_range(cuda_be *c, const sq_adamw_args *a, size_t begin, size_t end, const sq_cu_step_numbers *dev) {
    if (!c->grads) return sq_err("adamw on a model loaded for inference");
    if (end > c->model->n_params || begin > end) return sq_err("adamw: range [%zu, %zu) outside the buffer", begin, end);
    sq_cu_adamw_args ca = {a->lr, a->beta1, a->beta2, a->eps, a->weight_decay, a->grad_scale, a->t};
    // p, g, m, v read; p, m, v and the bf16 shadow written
    PROFILE_SPAN(&c->prof, "adamw", "adamw", -1, 0, io_bytes(c, end - begin, 1, 7, 1))
        cuda_adamw_update(c->params, (sq_bf16 *)c->p16, c->grads, c->m, c->v, c->chunk_lo, c->chunk_hi, c->chunk_decay,
                          c->n_chunks, (int64_t)begin, (int64_t)end, &ca, dev, c->stream);
    if (launched("adamw")) return -1;
    // The step's last kernel: while profiling, its spans are read now (the
    // one sync profiling adds), so that each step's spans reach the trace
    // within the step.
    if (!sq_cu_prof_pending(&c->prof)) return 0;
    CU(cudaStreamSynchronize(c->stream), "adamw");
    return flush_spans(c);
}

int cu_adamw(sq_backend *be, const sq_adamw_args *a, size_t begin, size_t end) {
    return adamw_range((cuda_be *)be->impl, a, begin, end, NULL);
}

// Deferred mode (core/backend.h): the step's norm, clip factor and update,
// queued with no host wait.
int cu_adamw_clipped(sq_backend *be, const sq_adamw_args *a, double max_norm) {
    cuda_be *c = (cuda_be *)be->impl;
    if (!c->grads) return sq_err("adamw on a model loaded for inference");
    size_t n = c->model->n_params;
    PROFILE_SPAN(&c->prof, "grad_norm", "grad_norm", -1, 0, io_bytes(c, n, 1, 1, 0)) {
        cuda_grad_sumsq(c->sumsq_out, c->sumsq_partial, c->grads, 0, (int64_t)n, c->stream);
        cuda_clip_factor(c->numbers, c->sumsq_out, max_norm, a->t, c->stream);
    }
    if (launched("grad_norm")) return -1;
    return adamw_range(c, a, 0, n, c->numbers);
}

int cu_read_numbers(sq_backend *be, double *loss, double *grad_norm, long *bad_step, double *bad_norm) {
    cuda_be *c = (cuda_be *)be->impl;
    CU(cudaMemcpyAsync(c->host_numbers, c->numbers, sizeof *c->numbers, cudaMemcpyDeviceToHost, c->stream),
       "reading the step's loss and norm");
    CU(cudaStreamSynchronize(c->stream), "reading the step's loss and norm");
    if (flush_spans(c)) return -1;
    *loss = c->host_numbers->loss;
    *grad_norm = c->host_numbers->norm;
    *bad_step = (long)c->host_numbers->bad_step;
    *bad_norm = c->host_numbers->bad_norm;
    return 0;
}

int cu_copy(cuda_be *c, int bufs, bool to_device) {
    sq_model *m = c->model;
    size_t bytes = m->n_params * sizeof(float), moved = 0;
    float *dev[4] = {c->params, c->grads, c->m, c->v};
    float *host[4] = {m->params, m->grads, m->m, m->v};
    int bit[4] = {SQ_BUF_PARAMS, SQ_BUF_GRADS, SQ_BUF_MOMENTS, SQ_BUF_MOMENTS};
    bool move[4];
    for (int i = 0; i < 4; i++) {
        move[i] = (bufs & bit[i]) && dev[i] && host[i];
        moved += move[i] ? bytes : 0;
    }
    PROFILE_SPAN(&c->prof, to_device ? "push" : "pull", "copy", -1, 0, (double)moved) {
        for (int i = 0; i < 4; i++) {
            if (!move[i]) continue;
            if (to_device)
                CU(cudaMemcpyAsync(dev[i], host[i], bytes, cudaMemcpyHostToDevice, c->stream), "push");
            else
                CU(cudaMemcpyAsync(host[i], dev[i], bytes, cudaMemcpyDeviceToHost, c->stream), "pull");
        }
        if (to_device && (bufs & SQ_BUF_PARAMS) && c->p16) {
            cuda_to_bf16((sq_bf16 *)c->p16, c->params, m->n_params, c->stream);
            if (launched("push")) return -1;
        }
    }
    CU(cudaStreamSynchronize(c->stream), to_device ? "push" : "pull");
    return flush_spans(c);
}

int cu_pull(sq_backend *be, int bufs) { return cu_copy((cuda_be *)be->impl, bufs, false); }
int cu_push(sq_backend *be, int bufs) { return cu_copy((cuda_be *)be->impl, bufs, true); }

// The device buffers the nccl layer moves in place (core/backend.h: buffer, stream
// and params_changed are its contract with this backend).
float *cu_buffer(sq_backend *be, int buf) {
    cuda_be *c = (cuda_be *)be->impl;
    return buf == SQ_BUF_PARAMS ? c->params : buf == SQ_BUF_GRADS ? c->grads : NULL;
}

void *cu_stream(sq_backend *be) { return ((cuda_be *)be->impl)->stream; }

// An all-gather wrote fp32 parameters in place: the bf16 shadow the matmuls
// read is converted again over that range (AdamW writes it only for the
// range it updates).  The same rounding as AdamW's, so the bits agree.
int cu_params_changed(sq_backend *be, size_t begin, size_t end) {
    cuda_be *c = (cuda_be *)be->impl;
    if (end > c->model->n_params || begin > end)
        return sq_err("params_changed: range [%zu, %zu) outside the buffer", begin, end);
    if (!c->p16 || begin == end) return 0;
    PROFILE_SPAN(&c->prof, "bf16 shadow", "copy", -1, 0, 6.0 * (double)(end - begin))
        cuda_to_bf16((sq_bf16 *)(c->p16 + begin), c->params + begin, end - begin, c->stream);
    return launched("params_changed");
}

// Spans still pending go to the trace they were recorded for.
int cu_set_trace(sq_backend *be, sq_trace *t) {
    cuda_be *c = (cuda_be *)be->impl;
    if (sq_cu_prof_pending(&c->prof)) {
        CU(cudaStreamSynchronize(c->stream), "--profile");
        if (flush_spans(c)) return -1;
    }
    c->prof.trace = t;
    return 0;
}

void cu_free(sq_backend *be) {
    if (!be) return;
    cuda_be *c = (cuda_be *)be->impl;
    if (c) {
        if (c->stream) cudaStreamSynchronize(c->stream);
        cuda_blas_free(c->blas);
        cudaFree(c->params);
        cudaFree(c->grads);
        cudaFree(c->m);
        cudaFree(c->v);
        cudaFree(c->p16);
        cudaFree(c->chunk_lo);
        cudaFree(c->chunk_hi);
        cudaFree(c->chunk_decay);
        cudaFree(c->arena);
        cudaFree(c->dev_block);
        cudaFreeHost(c->host_block);
        cudaFreeHost(c->host_loss);
        cudaFreeHost(c->host_numbers);
        if (c->staged) cudaEventDestroy(c->staged);
        sq_cu_prof_free(&c->prof);
        if (c->stream) cudaStreamDestroy(c->stream);
        sq_param_ptrs_free(&c->P);
        sq_param_ptrs_free(&c->G);
        free(c->sort_keys);
        free(c->la);
        free(c);
    }
    free(be);
}

// The device, or a clean error: no driver or GPU, too old a GPU, or a GPU
// this build has no code for (NVCCFLAGS names the architectures).
int open_device(cudaDeviceProp *prop) {
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError(); // clear the sticky "no device" state
        return sq_err("--device cuda: no CUDA device (%s)",
                      e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports no GPU");
    }
    CU(cudaGetDevice(&dev), "--device cuda");
    CU(cudaGetDeviceProperties(prop, dev), "--device cuda");
    if (prop->major < 8)
        return sq_err("--device cuda: %s is sm_%d%d; sq-train needs sm_80 or newer (bf16 tensor cores)", prop->name,
                      prop->major, prop->minor);
    cudaFuncAttributes fa;
    e = cudaFuncGetAttributes(&fa, probe_kernel);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sq_err("--device cuda: %s (sm_%d%d): this sq-train has no code for it (%s); rebuild with "
                      "NVCCFLAGS naming -gencode arch=compute_%d%d,code=sm_%d%d",
                      prop->name, prop->major, prop->minor, cudaGetErrorString(e), prop->major, prop->minor,
                      prop->major, prop->minor);
    }
    return 0;
}

int dmalloc(cuda_be *c, void **p, size_t bytes, const char *what) {
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) {
        c->bytes_allocated += bytes;
        return 0;
    }
    cudaGetLastError();
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    if (e == cudaErrorMemoryAllocation)
        return sq_err("--device cuda: out of GPU memory: %s needs %.2f GiB, %.2f GiB of %.2f free (batch %d x %d; "
                      "try a smaller --batch-size with --grad-accum)",
                      what, bytes / 1073741824.0, fr / 1073741824.0, tot / 1073741824.0, c->max_B, c->max_T);
    return sq_err("--device cuda: allocating %s: %s", what, cudaGetErrorString(e));
}

// AdamW chunks: at most 64 Ki elements, never across a tensor boundary.
int build_chunks(cuda_be *c) {
    const sq_model *m = c->model;
    const size_t CH = 65536;
    int n = 0;
    for (int t = 0; t < m->n_tensors; t++) n += (int)((m->table[t].numel + CH - 1) / CH);
    int64_t *lo = (int64_t *)sq_malloc((size_t)n * sizeof *lo), *hi = (int64_t *)sq_malloc((size_t)n * sizeof *hi);
    uint8_t *dec = (uint8_t *)sq_malloc((size_t)n);
    int rc = -1, k = 0;
    if (!lo || !hi || !dec) goto out;
    for (int t = 0; t < m->n_tensors; t++) {
        const sq_param_info *p = &m->table[t];
        for (size_t o = 0; o < p->numel; o += CH, k++) {
            lo[k] = (int64_t)(p->offset + o);
            hi[k] = (int64_t)(p->offset + (o + CH < p->numel ? o + CH : p->numel));
            dec[k] = p->decay;
        }
    }
    if (dmalloc(c, (void **)&c->chunk_lo, (size_t)n * sizeof *lo, "AdamW chunks") ||
        dmalloc(c, (void **)&c->chunk_hi, (size_t)n * sizeof *hi, "AdamW chunks") ||
        dmalloc(c, (void **)&c->chunk_decay, (size_t)n, "AdamW chunks"))
        goto out;
    if (cudaMemcpy(c->chunk_lo, lo, (size_t)n * sizeof *lo, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(c->chunk_hi, hi, (size_t)n * sizeof *hi, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(c->chunk_decay, dec, (size_t)n, cudaMemcpyHostToDevice) != cudaSuccess) {
        sq_err("--device cuda: copying the AdamW chunks: %s", cudaGetErrorString(cudaGetLastError()));
        goto out;
    }
    c->n_chunks = n;
    rc = 0;
out:
    free(lo);
    free(hi);
    free(dec);
    return rc;
}

int setup(cuda_be *c) {
    sq_model *m = c->model;
    const sq_bert_config *cfg = &m->cfg;
    cudaDeviceProp prop;
    if (open_device(&prop)) return -1;
    if (cfg->heads < 1 || cfg->hidden % cfg->heads || cfg->hidden / cfg->heads > 128)
        return sq_err("--device cuda: head size %d x %d heads: the attention kernels need hidden %% heads == 0 and "
                      "a head size of at most 128", cfg->hidden, cfg->heads);
    c->max_N = (size_t)c->max_B * c->max_T;
    if (c->max_N > (size_t)INT32_MAX / (size_t)(cfg->intermediate > cfg->hidden ? cfg->intermediate : cfg->hidden))
        return sq_err("--device cuda: batch %d x %d is too large", c->max_B, c->max_T);
    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "--device cuda");
    c->prof.stream = c->stream;
    c->prof.cap = 16 * (cfg->layers + 2); // a layer has at most 10 spans in a pass; a full pool drains early
    CU(cudaEventCreateWithFlags(&c->staged, cudaEventDisableTiming), "--device cuda");
    if (cuda_blas_new(32u << 20, &c->blas)) return sq_err_ctx("--device cuda");
    c->bytes_allocated += 32u << 20;
    size_t pb = m->n_params * sizeof(float);
    if (dmalloc(c, (void **)&c->params, pb, "the parameters")) return -1;
    if (c->bf16 && dmalloc(c, (void **)&c->p16, m->n_params * sizeof(bf16_t), "the bf16 parameters")) return -1;
    if (m->grads) {
        if (dmalloc(c, (void **)&c->grads, pb, "the gradients") || dmalloc(c, (void **)&c->m, pb, "AdamW moments") ||
            dmalloc(c, (void **)&c->v, pb, "AdamW moments") || build_chunks(c))
            return -1;
    }
    if (sq_model_ptrs(m, c->params, &c->P) || (c->grads && sq_model_ptrs(m, c->grads, &c->G))) return -1;
    c->la = (layer_acts *)sq_calloc((size_t)(cfg->layers > 0 ? cfg->layers : 1), sizeof *c->la);
    c->sort_keys = (uint64_t *)sq_malloc(c->max_N * sizeof *c->sort_keys);
    if (!c->la || !c->sort_keys) return -1;
    size_t arena = plan(c, cfg, m->grads != NULL);
    if (dmalloc(c, (void **)&c->arena, arena, "the activations")) return -1;
    plan(c, cfg, m->grads != NULL);
    CU(cudaMemset(c->numbers, 0, sizeof *c->numbers), "--device cuda");
    size_t sb = stage_layout(&c->host, NULL, c->max_B, c->max_T, c->max_N);
    CU(cudaMallocHost(&c->host_block, sb), "--device cuda: pinned staging memory");
    CU(cudaMallocHost((void **)&c->host_loss, 2 * (size_t)c->max_B * sizeof(double) + sizeof(double)),
       "--device cuda: pinned staging memory");
    CU(cudaMallocHost((void **)&c->host_numbers, sizeof *c->host_numbers), "--device cuda: pinned staging memory");
    if (dmalloc(c, &c->dev_block, sb, "the batch")) return -1;
    stage_layout(&c->host, c->host_block, c->max_B, c->max_T, c->max_N);
    stage_layout(&c->dev, c->dev_block, c->max_B, c->max_T, c->max_N);
    CU(cudaEventRecord(c->staged, c->stream), "--device cuda");
    // Start as a mirror of the host buffers, as the CPU backend (which uses
    // them directly) does: replay and the tests push nothing.
    return cu_copy(c, SQ_BUF_PARAMS | SQ_BUF_GRADS | SQ_BUF_MOMENTS, true);
}

bool env_is(const char *name, const char *value) {
    const char *e = getenv(name);
    return e && !strcmp(e, value);
}

// bf16 runs the fastest attention (version 3) unless SQ_ATTN_VERSION picks
// another for comparison; versions 2 and 3 round q, k, v to bf16, so fp32
// keeps version 1, the exact one.
int attn_version_for(int bf16) {
    const char *av = getenv("SQ_ATTN_VERSION");
    return !bf16 ? 1 : av && (!strcmp(av, "1") || !strcmp(av, "2")) ? av[0] - '0' : 3;
}

// SQ_MEM_PLAN=N applies the first N rows of docs/cuda.md's memory plan;
// one is written (shared fp32 LayerNorm outputs), so N > 1 means 1.
int mem_plan_env(void) {
    const char *e = getenv("SQ_MEM_PLAN");
    return e && atoi(e) > 0 ? 1 : 0;
}

// Dense bf16 tensor-core peaks from the vendors' data sheets (TFLOP/s),
// for MFU; SQ_PEAK_TFLOPS overrides.
double peak_tflops(const cudaDeviceProp *p) {
    const char *env = getenv("SQ_PEAK_TFLOPS");
    if (env && atof(env) > 0) return atof(env);
    if (strstr(p->name, "H100") && strstr(p->name, "PCIe")) return 756.0;
    if (strstr(p->name, "H100") && strstr(p->name, "NVL")) return 835.0;
    if (strstr(p->name, "H100") || strstr(p->name, "H200") || strstr(p->name, "H800") || strstr(p->name, "GH200"))
        return 989.4;
    if (strstr(p->name, "B200")) return 2250.0;
    if (strstr(p->name, "A100") || strstr(p->name, "A800")) return 312.0;
    if (strstr(p->name, "L40S")) return 362.0;
    if (strstr(p->name, "A10G") || strstr(p->name, "A10")) return 125.0;
    return 0.0;
}

} // namespace

extern "C" void sq_cuda_configure(const sq_cuda_opts *o) { g_opts = *o; }

extern "C" int sq_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" int sq_backend_cuda_new(sq_model *m, int max_B, int max_T, sq_backend **out) {
    sq_backend *be = (sq_backend *)sq_calloc(1, sizeof *be);
    cuda_be *c = (cuda_be *)sq_calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return -1;
    }
    be->impl = c;
    be->name = "cuda";
    be->model = m;
    c->model = m;
    c->max_B = max_B;
    c->max_T = max_T;
    c->bf16 = g_opts.bf16;
    c->padded_opt = g_opts.padded;
    c->attn_version = attn_version_for(c->bf16);
    c->mem_plan = mem_plan_env();
    // fp32 keeps its exact column sums (the CPU's)
    c->bgrad_epi = c->bf16 && env_is("SQ_BGRAD_EPILOGUE", "1");
    c->lt_tokens = env_is("SQ_LT_TOKEN_BUCKETS", "1");
    if (max_B < 1 || max_T < 1) {
        cu_free(be);
        return sq_err("--device cuda: batch %d x %d", max_B, max_T);
    }
    if (setup(c)) {
        cu_free(be);
        return -1;
    }
    cuda_blas_bgrad_epilogue(c->blas, c->bgrad_epi);
    cuda_blas_token_buckets(c->blas, c->lt_tokens); // before the first matmul (the warm-up's)
    be->forward = cu_forward;
    be->logits = cu_logits;
    be->backward = cu_backward;
    be->zero_grads = cu_zero_grads;
    be->grad_sumsq = cu_grad_sumsq;
    be->adamw = cu_adamw;
    be->pull = cu_pull;
    be->push = cu_push;
    be->free = cu_free;
    be->set_trace = cu_set_trace;
    be->buffer = cu_buffer;
    be->stream = cu_stream;
    be->params_changed = cu_params_changed;
    be->adamw_clipped = cu_adamw_clipped;
    be->read_numbers = cu_read_numbers;
    be->shape_bucket = cuda_blas_bucket(c->blas);
    *out = be;
    return 0;
}

extern "C" int sq_cuda_get_info(sq_backend *be, sq_cuda_info *out) {
    cuda_be *c = (cuda_be *)be->impl;
    cudaDeviceProp prop;
    int dev;
    memset(out, 0, sizeof *out);
    CU(cudaGetDevice(&dev), "device info");
    CU(cudaGetDeviceProperties(&prop, dev), "device info");
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->sm = prop.major * 10 + prop.minor;
    out->peak_bf16_tflops = peak_tflops(&prop);
    out->bytes_allocated = c->bytes_allocated;
    out->arena_bytes = c->arena_used;
    long fused = 0, summed = 0;
    cuda_blas_bgrad_counts(c->blas, &fused, &summed);
    out->bgrad_fused = fused;
    out->bgrad_summed = summed;
    // the candidate versions in effect (docs/cuda.md, "Switches"), for reports
    snprintf(out->switches, sizeof out->switches, "%s%s%s%s", c->bgrad_epi ? "bgrad_epilogue " : "",
             share_ln_out(c, c->model->grads != NULL) ? "mem_plan=1 " : "", be->deferred ? "device_norm " : "",
             c->lt_tokens ? "lt_token_buckets " : "");
    size_t k = strlen(out->switches);
    if (k) out->switches[k - 1] = '\0';
    size_t fr = 0, tot = 0;
    CU(cudaMemGetInfo(&fr, &tot), "device info");
    out->device_bytes_used = tot - fr;
    out->device_bytes_total = tot;
    return 0;
}

extern "C" size_t sq_cuda_plan_bytes(const sq_bert_config *cfg, int max_B, int max_T, int bf16, int train,
                                     int mem_plan) {
    cuda_be c;
    memset(&c, 0, sizeof c);
    c.max_B = max_B, c.max_T = max_T, c.max_N = (size_t)max_B * max_T;
    c.bf16 = bf16, c.mem_plan = mem_plan, c.attn_version = attn_version_for(bf16);
    c.la = (layer_acts *)calloc((size_t)(cfg->layers > 0 ? cfg->layers : 1), sizeof *c.la);
    if (!c.la) return 0;
    size_t bytes = plan(&c, cfg, train != 0); // a NULL arena: measures only
    free(c.la);
    return bytes;
}

extern "C" long sq_cuda_heuristic_queries(sq_backend *be) { return cuda_blas_queries(((cuda_be *)be->impl)->blas); }

extern "C" int sq_cuda_sync(sq_backend *be) {
    cuda_be *c = (cuda_be *)be->impl;
    CU(cudaStreamSynchronize(c->stream), "device sync");
    return flush_spans(c);
}

extern "C" int sq_cuda_bind_device(int local_rank) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1) {
        cudaGetLastError(); // no GPU: the backend says so when it is created
        return 0;
    }
    CU(cudaSetDevice(local_rank % n), "--device cuda: binding the rank's GPU");
    return 0;
}
