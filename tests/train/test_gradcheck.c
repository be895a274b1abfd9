/* The CPU backend's backward pass against central finite differences of its
 * own forward pass, with dropout on (replay checks only dropout 0 against
 * HF), in both loss modes (padded logits masked, and HF's), with gradient
 * accumulation over two micro-batches and the global-batch normalisation;
 * and the gradient hook's order and ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "sq/error.h"

static const sq_bert_config cfg = {.vocab_size = 23, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12,
                                   .max_position = 9, .type_vocab = 2, .pad_token_id = 0, .layer_norm_eps = 1e-12,
                                   .initializer_range = 0.3, .hidden_dropout = 0.2, .attention_dropout = 0.25};

static void fill(sq_batch *b, int B, int T, uint32_t first_sample, bool hf) {
    b->B = B;
    b->T = T;
    for (int r = 0; r < B; r++) {
        b->len[r] = r % 2 ? T - 2 : T;
        for (int t = 0; t < T; t++) {
            b->ids[r * T + t] = t < b->len[r] ? 1 + (r * 7 + t * 5) % 22 : 0;
            b->types[r * T + t] = t < b->len[r] && t > 2;
        }
        b->start[r] = (r + 1) % b->len[r];
        b->end[r] = (r + 3) % b->len[r];
        b->sample[r] = first_sample + (uint32_t)r;
    }
    b->step = 5;
    b->seed = 99;
    b->hf_padded_logits = hf;
}

/* Loss of the global batch (two micro-batches), and with grads its gradient. */
static double run(sq_backend *be, sq_batch *mb, bool grads) {
    double total = 0, l;
    if (grads) assert_int_equal(be->zero_grads(be), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(be->forward(be, &mb[i], true, &l), 0);
        if (grads) assert_int_equal(be->backward(be, &mb[i], NULL), 0);
        total += l;
    }
    return total;
}

static void check(bool hf) {
    sq_model *m;
    sq_backend *be;
    assert_int_equal(sq_model_new(&cfg, true, &m), 0);
    sq_model_init(m, 3);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] += 0.05f * (float)sin((double)i * 1.7);
    assert_int_equal(sq_backend_cpu_new(m, 3, 7, &be), 0);
    sq_batch mb[2];
    assert_int_equal(sq_batch_alloc(&mb[0], 3, 7), 0);
    assert_int_equal(sq_batch_alloc(&mb[1], 3, 7), 0);
    fill(&mb[0], 3, 7, 10, hf);
    fill(&mb[1], 2, 5, 13, hf);
    for (int i = 0; i < 2; i++) mb[i].n_start = mb[i].n_end = 5; /* over the global batch of 5 */
    run(be, mb, true);
    int bad = 0, checked = 0;
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const sq_param_info *t = &m->table[ti];
        for (size_t k = 0; k < t->numel; k += t->numel / 3 + 1) {
            size_t i = t->offset + k;
            if (ti == 0 && k < (size_t)cfg.hidden) continue; /* the padding row gets no gradient by design */
            float keep = m->params[i];
            double h = 1e-2;
            m->params[i] = keep + (float)h;
            double up = run(be, mb, false);
            m->params[i] = keep - (float)h;
            double down = run(be, mb, false);
            m->params[i] = keep;
            double num = (up - down) / (2 * h), ana = m->grads[i];
            checked++;
            if (fabs(num - ana) > 2e-3 + 3e-2 * fabs(num)) {
                printf("%s[%zu]: numeric %.6g, analytic %.6g\n", t->name, k, num, ana);
                bad++;
            }
        }
    }
    printf("%s: %d of %d gradients checked agree\n", hf ? "HF padded logits" : "masked padding", checked - bad,
           checked);
    assert_int_equal(bad, 0);
    sq_batch_free(&mb[0]);
    sq_batch_free(&mb[1]);
    be->free(be);
    sq_model_free(m);
}

/* The gradient hook fires once per layer, head first, embeddings last,
 * with contiguous ranges covering the buffer -- also for an empty batch;
 * forward_hooked's hook once per layer in the opposite order, and its loss
 * is forward's. */
typedef struct {
    int calls, layers[8];
    size_t lo[8], hi[8];
} hook_log;

static int on_ready(void *ctx, int layer, size_t lo, size_t hi) {
    hook_log *h = ctx;
    if (h->calls < 8) {
        h->layers[h->calls] = layer;
        h->lo[h->calls] = lo;
        h->hi[h->calls] = hi;
    }
    h->calls++;
    return 0;
}

static int on_before(void *ctx, int layer, size_t lo, size_t hi) { return on_ready(ctx, layer, lo, hi); }

static void test_hook(void **state) {
    sq_model *m;
    sq_backend *be;
    assert_int_equal(sq_model_new(&cfg, true, &m), 0);
    sq_model_init(m, 3);
    assert_int_equal(sq_backend_cpu_new(m, 3, 7, &be), 0);
    sq_batch b;
    assert_int_equal(sq_batch_alloc(&b, 3, 7), 0);
    for (int B = 3; B >= 0; B -= 3) {
        fill(&b, 3, 7, 0, false);
        b.B = B;
        b.n_start = b.n_end = 3;
        hook_log h = {0};
        sq_grad_hook hook = {on_ready, &h};
        double loss;
        assert_int_equal(be->zero_grads(be), 0);
        hook_log f = {0};
        sq_layer_hook before = {on_before, &f};
        double hooked_loss;
        assert_int_equal(be->forward_hooked(be, &b, true, &hooked_loss, &before), 0);
        assert_int_equal(f.calls, cfg.layers + 2);
        for (int i = 0; i < f.calls; i++) assert_int_equal(f.layers[i], i - 1);
        assert_int_equal(f.lo[0], 0);
        for (int i = 1; i < f.calls; i++) assert_int_equal(f.lo[i], f.hi[i - 1]);
        assert_int_equal(f.hi[f.calls - 1], m->n_params);
        assert_int_equal(be->forward(be, &b, true, &loss), 0);
        assert_true(loss == hooked_loss);
        assert_int_equal(be->backward(be, &b, &hook), 0);
        assert_int_equal(h.calls, cfg.layers + 2);
        for (int i = 0; i < h.calls; i++) assert_int_equal(h.layers[i], cfg.layers - i);
        assert_int_equal(h.hi[0], m->n_params);
        for (int i = 1; i < h.calls; i++) assert_int_equal(h.hi[i], h.lo[i - 1]);
        assert_int_equal(h.lo[h.calls - 1], 0);
        if (!B) {
            assert_true(loss == 0);
            for (size_t i = 0; i < m->n_params; i++) assert_true(m->grads[i] == 0);
        }
    }
    sq_batch_free(&b);
    be->free(be);
    sq_model_free(m);
}

static void test_masked(void **state) { check(false); }
static void test_hf_padded(void **state) { check(true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masked),
        cmocka_unit_test(test_hf_padded),
        cmocka_unit_test(test_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
