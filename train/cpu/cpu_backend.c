/* The CPU reference backend: the whole BertForQuestionAnswering forward and
 * backward pass as a sequence of layers.h calls on activations allocated
 * once for the largest micro-batch.  Parameters, gradients and moments are
 * the host buffers of sq_model itself, so pull/push have nothing to do. */
#include "core/backend.h"
#include "cpu/layers.h"

#include "sq/error.h"
#include "sq/philox.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *q, *k, *v, *ctx, *probs, *probs_drop, *r1, *h1, *f, *g, *r2, *h2;
    float *mean1, *rstd1, *mean2, *rstd2;
} layer_acts;

typedef struct {
    int max_B, max_T;
    sq_param_ptrs P, G;
    float *x0, *emean, *erstd, *h0;
    layer_acts *la;
    float *logits2, *dlogits2, *start, *end, *tmp;
    float *dres, *dtmp, *dtmp2, *dh1, *dq, *dk, *dv, *dctx, *dI, *datt;
    float *arena;
    size_t used;
    size_t last_n; /* B * T of the last forward */
} cpu;

static float *take(cpu *c, size_t n) {
    float *p = c->arena ? c->arena + c->used : NULL; /* NULL: sizing pass */
    c->used += (n + 15) & ~(size_t)15; /* 64-byte aligned slices */
    return p;
}

/* Lays out the arena (or, with a NULL arena, measures it); the backward
 * buffers only when training. */
static size_t plan(cpu *c, const sq_bert_config *cfg, bool training, bool attn_drop) {
    size_t N = (size_t)c->max_B * c->max_T, C = (size_t)cfg->hidden, I = (size_t)cfg->intermediate;
    size_t att = (size_t)c->max_B * cfg->heads * c->max_T * c->max_T;
    c->x0 = take(c, N * C), c->emean = take(c, N), c->erstd = take(c, N), c->h0 = take(c, N * C);
    for (int l = 0; l < cfg->layers; l++) {
        layer_acts *a = &c->la[l];
        a->q = take(c, N * C), a->k = take(c, N * C), a->v = take(c, N * C), a->ctx = take(c, N * C);
        a->probs = take(c, att), a->probs_drop = attn_drop ? take(c, att) : NULL;
        a->r1 = take(c, N * C), a->h1 = take(c, N * C), a->f = take(c, N * I), a->g = take(c, N * I);
        a->r2 = take(c, N * C), a->h2 = take(c, N * C);
        a->mean1 = take(c, N), a->rstd1 = take(c, N), a->mean2 = take(c, N), a->rstd2 = take(c, N);
    }
    c->logits2 = take(c, 2 * N), c->dlogits2 = take(c, 2 * N), c->start = take(c, N), c->end = take(c, N);
    c->tmp = take(c, N * C);
    if (!training) return c->used;
    c->dres = take(c, N * C), c->dtmp = take(c, N * C), c->dtmp2 = take(c, N * C), c->dh1 = take(c, N * C);
    c->dq = take(c, N * C), c->dk = take(c, N * C), c->dv = take(c, N * C), c->dctx = take(c, N * C);
    c->dI = take(c, N * I), c->datt = take(c, (size_t)omp_get_max_threads() * c->max_T * c->max_T);
    return c->used;
}

static sq_dropout drop(const sq_batch *b, bool on, double p, int layer, int site, int max_pos) {
    sq_dropout d = {b->seed, b->step, b->sample, layer < 0 ? SQ_DROP_EMB_LAYER : (uint32_t)layer, (uint32_t)site,
                    on ? (float)p : 0.0f, max_pos};
    return d;
}

static int before(const sq_layer_hook *h, const sq_model *m, int layer) {
    if (!h || !h->before) return 0;
    size_t lo, hi;
    sq_model_layer_range(m, layer, &lo, &hi);
    return h->before(h->ctx, layer, lo, hi);
}

static int cpu_forward_hooked(sq_backend *be, const sq_batch *b, bool train, double *loss, const sq_layer_hook *hook) {
    cpu *c = be->impl;
    const sq_bert_config *cfg = &be->model->cfg;
    if (sq_batch_check(b, cfg, c->max_B, c->max_T)) return -1;
    c->last_n = (size_t)b->B * b->T;
    if (!b->B) { /* an empty micro-batch (core/batch.h): every layer's hook still fires */
        for (int l = -1; l <= cfg->layers; l++)
            if (before(hook, be->model, l)) return -1;
        if (loss) *loss = 0;
        return 0;
    }
    int B = b->B, T = b->T, C = cfg->hidden, I = cfg->intermediate, N = B * T, P = cfg->max_position;
    float eps = (float)cfg->layer_norm_eps;
    double hp = cfg->hidden_dropout, ap = cfg->attention_dropout;

    if (before(hook, be->model, -1)) return -1;
    embedding_forward(c->x0, b->ids, b->types, c->P.wte, c->P.wpe, c->P.wtt, B, T, C);
    layernorm_forward(c->h0, c->emean, c->erstd, c->x0, c->P.lnew, c->P.lneb, N, C, eps);
    sq_dropout d = drop(b, train, hp, -1, SQ_DROP_EMB, P);
    dropout_forward(c->h0, c->h0, NULL, &d, B, T, C);
    const float *x = c->h0;
    for (int l = 0; l < cfg->layers; l++) {
        layer_acts *a = &c->la[l];
        sq_layer_params *w = &c->P.layer[l];
        if (before(hook, be->model, l)) return -1;
        matmul_forward(a->q, x, w->qw, w->qb, N, C, C);
        matmul_forward(a->k, x, w->kw, w->kb, N, C, C);
        matmul_forward(a->v, x, w->vw, w->vb, N, C, C);
        d = drop(b, train && a->probs_drop, ap, l, SQ_DROP_ATTN_PROBS, P);
        attention_forward(a->ctx, a->probs, a->probs_drop, a->q, a->k, a->v, b->len, &d, B, T, C, cfg->heads);
        matmul_forward(c->tmp, a->ctx, w->aow, w->aob, N, C, C);
        d = drop(b, train, hp, l, SQ_DROP_ATTN_OUT, P);
        dropout_forward(a->r1, c->tmp, x, &d, B, T, C);
        layernorm_forward(a->h1, a->mean1, a->rstd1, a->r1, w->ln1w, w->ln1b, N, C, eps);
        matmul_forward(a->f, a->h1, w->iw, w->ib, N, C, I);
        gelu_forward(a->g, a->f, (size_t)N * I);
        matmul_forward(c->tmp, a->g, w->ow, w->ob, N, I, C);
        d = drop(b, train, hp, l, SQ_DROP_FFN_OUT, P);
        dropout_forward(a->r2, c->tmp, a->h1, &d, B, T, C);
        layernorm_forward(a->h2, a->mean2, a->rstd2, a->r2, w->ln2w, w->ln2b, N, C, eps);
        x = a->h2;
    }
    if (before(hook, be->model, cfg->layers)) return -1;
    matmul_forward(c->logits2, x, c->P.qaw, c->P.qab, N, C, 2);
    qa_split_logits(c->start, c->end, c->logits2, b->len, b->hf_padded_logits, B, T);
    if (loss)
        *loss = qa_loss_forward_backward(c->dlogits2, c->start, c->end, b->start, b->end, b->len,
                                         b->hf_padded_logits, b->n_start, b->n_end, B, T);
    return 0;
}

static int cpu_forward(sq_backend *be, const sq_batch *b, bool train, double *loss) {
    return cpu_forward_hooked(be, b, train, loss, NULL);
}

static int cpu_logits(sq_backend *be, float *start, float *end) {
    cpu *c = be->impl;
    memcpy(start, c->start, c->last_n * sizeof(float));
    memcpy(end, c->end, c->last_n * sizeof(float));
    return 0;
}

static int ready(const sq_grad_hook *h, const sq_model *m, int layer) {
    if (!h || !h->ready) return 0;
    size_t lo, hi;
    sq_model_layer_range(m, layer, &lo, &hi);
    return h->ready(h->ctx, layer, lo, hi);
}

static int cpu_backward(sq_backend *be, const sq_batch *b, const sq_grad_hook *hook) {
    cpu *c = be->impl;
    const sq_bert_config *cfg = &be->model->cfg;
    int B = b->B, T = b->T, C = cfg->hidden, I = cfg->intermediate, N = B * T, P = cfg->max_position;
    double hp = cfg->hidden_dropout, ap = cfg->attention_dropout;
    size_t NC = (size_t)N * C * sizeof(float);
    const float *top = cfg->layers ? c->la[cfg->layers - 1].h2 : c->h0;
    if (!be->model->grads) return sq_err("backward on a model loaded for inference");
    if (!B) { /* nothing to add, but every layer's hook still fires */
        for (int l = cfg->layers; l >= -1; l--)
            if (ready(hook, be->model, l)) return -1;
        return 0;
    }

    /* Three gradients are identically zero in exact arithmetic, because a
     * softmax's gradient sums to zero over its row: qa_outputs.bias (the CE
     * rows), the last LayerNorm's bias (the sum over tokens of dlogits @ W)
     * and every attention key bias (shift invariance of the scores).  They
     * are left at exactly zero: computed, they would be fp32 rounding noise
     * (~1e-9) that AdamW's normalisation (eps 1e-8) turns into lr-sized
     * steps, where HF in float64 does not move these parameters at all. */
    memset(c->dres, 0, NC);
    matmul_backward(c->dres, c->G.qaw, NULL, c->dlogits2, top, c->P.qaw, N, C, 2);
    if (ready(hook, be->model, cfg->layers)) return -1;
    for (int l = cfg->layers - 1; l >= 0; l--) {
        layer_acts *a = &c->la[l];
        sq_layer_params *w = &c->P.layer[l], *g = &c->G.layer[l];
        const float *x = l ? c->la[l - 1].h2 : c->h0;
        /* output LayerNorm, FFN branch and its residual */
        layernorm_backward(c->dtmp, g->ln2w, l == cfg->layers - 1 ? NULL : g->ln2b, c->dres, a->r2, w->ln2w,
                           a->mean2, a->rstd2, N, C);
        memcpy(c->dh1, c->dtmp, NC);
        sq_dropout d = drop(b, true, hp, l, SQ_DROP_FFN_OUT, P);
        dropout_backward(c->dtmp2, c->dtmp, &d, B, T, C);
        memset(c->dI, 0, (size_t)N * I * sizeof(float));
        matmul_backward(c->dI, g->ow, g->ob, c->dtmp2, a->g, w->ow, N, I, C);
        gelu_backward(c->dI, a->f, c->dI, (size_t)N * I);
        matmul_backward(c->dh1, g->iw, g->ib, c->dI, a->h1, w->iw, N, C, I);
        /* attention output LayerNorm, attention branch and its residual */
        layernorm_backward(c->dtmp, g->ln1w, g->ln1b, c->dh1, a->r1, w->ln1w, a->mean1, a->rstd1, N, C);
        memcpy(c->dres, c->dtmp, NC);
        d = drop(b, true, hp, l, SQ_DROP_ATTN_OUT, P);
        dropout_backward(c->dtmp2, c->dtmp, &d, B, T, C);
        memset(c->dctx, 0, NC);
        matmul_backward(c->dctx, g->aow, g->aob, c->dtmp2, a->ctx, w->aow, N, C, C);
        d = drop(b, a->probs_drop != NULL, ap, l, SQ_DROP_ATTN_PROBS, P);
        attention_backward(c->dq, c->dk, c->dv, c->datt, c->dctx, a->q, a->k, a->v, a->probs, a->probs_drop,
                           b->len, &d, B, T, C, cfg->heads);
        matmul_backward(c->dres, g->qw, g->qb, c->dq, x, w->qw, N, C, C);
        matmul_backward(c->dres, g->kw, NULL, c->dk, x, w->kw, N, C, C);
        matmul_backward(c->dres, g->vw, g->vb, c->dv, x, w->vw, N, C, C);
        if (ready(hook, be->model, l)) return -1;
    }
    sq_dropout d = drop(b, true, hp, -1, SQ_DROP_EMB, P);
    dropout_backward(c->dtmp, c->dres, &d, B, T, C);
    layernorm_backward(c->dres, c->G.lnew, c->G.lneb, c->dtmp, c->x0, c->P.lnew, c->emean, c->erstd, N, C);
    embedding_backward(c->G.wte, c->G.wpe, c->G.wtt, c->dres, b->ids, b->types, cfg->pad_token_id, B, T, C);
    return ready(hook, be->model, -1);
}

static int cpu_zero_grads(sq_backend *be) {
    memset(be->model->grads, 0, be->model->n_params * sizeof(float));
    return 0;
}

static int cpu_grad_sumsq(sq_backend *be, size_t begin, size_t end, double *out) {
    *out = grad_sumsq(be->model->grads, begin, end);
    return 0;
}

static int cpu_adamw(sq_backend *be, const sq_adamw_args *a, size_t begin, size_t end) {
    sq_model *m = be->model;
    adamw_update(m->params, m->grads, m->m, m->v, m->table, m->n_tensors, begin, end, a);
    return 0;
}

static int cpu_nothing(sq_backend *be, int bufs) { return 0; }

static void cpu_free(sq_backend *be) {
    if (!be) return;
    cpu *c = be->impl;
    if (c) {
        sq_param_ptrs_free(&c->P);
        sq_param_ptrs_free(&c->G);
        free(c->la);
        free(c->arena);
        free(c);
    }
    free(be);
}

int sq_backend_cpu_new(sq_model *m, int max_B, int max_T, sq_backend **out) {
    sq_backend *be = sq_calloc(1, sizeof *be);
    cpu *c = sq_calloc(1, sizeof *c);
    if (!be || !c) goto fail;
    be->impl = c;
    be->name = "cpu";
    be->model = m;
    c->max_B = max_B;
    c->max_T = max_T;
    sgemm_single_threaded();
    c->la = sq_calloc((size_t)m->cfg.layers, sizeof *c->la);
    if (!c->la || sq_model_ptrs(m, m->params, &c->P)) goto fail;
    if (m->grads && sq_model_ptrs(m, m->grads, &c->G)) goto fail;
    bool training = m->grads != NULL, attn_drop = training && m->cfg.attention_dropout > 0;
    size_t n = plan(c, &m->cfg, training, attn_drop);
    c->used = 0;
    c->arena = sq_malloc(n * sizeof(float));
    if (!c->arena) goto fail;
    plan(c, &m->cfg, training, attn_drop);
    be->forward = cpu_forward;
    be->forward_hooked = cpu_forward_hooked;
    be->logits = cpu_logits;
    be->backward = cpu_backward;
    be->zero_grads = cpu_zero_grads;
    be->grad_sumsq = cpu_grad_sumsq;
    be->adamw = cpu_adamw;
    be->pull = cpu_nothing;
    be->push = cpu_nothing;
    be->free = cpu_free;
    *out = be;
    return 0;
fail:
    if (be) be->impl = c;
    cpu_free(be);
    return -1;
}
