/* sq_backend_warm (core/backend.h): it runs one training pass per shape bucket
 * and leaves nothing behind -- parameters and moments untouched, gradients
 * zero, and the next step computes the same bits as without it.  The CPU
 * backend has no per-shape choices (shape_bucket 0); the test gives it a
 * bucket so that the passes run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/model.h"
#include "core/optim.h"

static const sq_bert_config cfg = {.vocab_size = 29, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12,
                                   .max_position = 12, .type_vocab = 2, .pad_token_id = 0, .layer_norm_eps = 1e-12,
                                   .initializer_range = 0.3, .hidden_dropout = 0.1, .attention_dropout = 0.1};
enum { B = 3, T = 10 };

static void fill(sq_batch *b) {
    b->B = B;
    b->T = T;
    for (int r = 0; r < B; r++) {
        b->len[r] = T - 3 * r;
        for (int t = 0; t < T; t++) {
            b->ids[r * T + t] = t < b->len[r] ? 1 + (r * 5 + t * 3) % 28 : 0;
            b->types[r * T + t] = t < b->len[r] && t > 3;
        }
        b->start[r] = 1 + r;
        b->end[r] = 2 + r;
        b->sample[r] = (uint32_t)r;
    }
    b->step = 3;
    b->seed = 7;
    b->n_start = b->n_end = B;
}

/* One training step (forward, backward, AdamW) on the batch: the loss and
 * the updated parameters, pulled into the model's mirrors. */
static double step(sq_backend *be, const sq_batch *b) {
    double loss;
    sq_adamw_args a = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .t = 1,
                       .grad_scale = 1.0};
    assert_int_equal(be->zero_grads(be), 0);
    assert_int_equal(be->forward(be, b, true, &loss), 0);
    assert_int_equal(be->backward(be, b, NULL), 0);
    assert_int_equal(be->adamw(be, &a, 0, be->model->n_params), 0);
    assert_int_equal(be->pull(be, SQ_BUF_PARAMS | SQ_BUF_GRADS | SQ_BUF_MOMENTS), 0);
    return loss;
}

static sq_model *new_model(void) {
    sq_model *m;
    assert_int_equal(sq_model_new(&cfg, true, &m), 0);
    sq_model_init(m, 5);
    return m;
}

static void warm_changes_nothing(void **state) {
    (void)state;
    unsetenv("SQ_WARM_SHAPES");
    sq_model *m0 = new_model(), *m1 = new_model();
    sq_backend *cold, *warm;
    assert_int_equal(sq_backend_cpu_new(m0, B, T, &cold), 0);
    assert_int_equal(sq_backend_cpu_new(m1, B, T, &warm), 0);
    size_t bytes = m1->n_params * sizeof(float);
    float *p = malloc(bytes);
    assert_non_null(p);
    memcpy(p, m1->params, bytes);

    int shapes = -1;
    assert_int_equal(sq_backend_warm(warm, B, T, &shapes), 0);
    assert_int_equal(shapes, 0); /* the CPU backend has nothing to warm */
    warm->shape_bucket = 4;      /* 4, 8, ..., 28, then 30 = B x T */
    assert_int_equal(sq_backend_warm(warm, B, T, &shapes), 0);
    assert_int_equal(shapes, 8);
    assert_int_equal(warm->pull(warm, SQ_BUF_PARAMS | SQ_BUF_GRADS | SQ_BUF_MOMENTS), 0);
    assert_memory_equal(m1->params, p, bytes);
    for (size_t i = 0; i < m1->n_params; i++) {
        assert_true(m1->grads[i] == 0.0f);
        assert_true(m1->m[i] == 0.0f && m1->v[i] == 0.0f);
    }

    sq_batch b;
    assert_int_equal(sq_batch_alloc(&b, B, T), 0);
    fill(&b);
    double l0 = step(cold, &b), l1 = step(warm, &b);
    assert_memory_equal(&l0, &l1, sizeof l0);
    assert_memory_equal(m0->params, m1->params, bytes);
    assert_memory_equal(m0->grads, m1->grads, bytes);
    assert_memory_equal(m0->v, m1->v, bytes);

    /* SQ_WARM_SHAPES=0 turns it off */
    setenv("SQ_WARM_SHAPES", "0", 1);
    assert_int_equal(sq_backend_warm(warm, B, T, &shapes), 0);
    assert_int_equal(shapes, 0);
    unsetenv("SQ_WARM_SHAPES");
    /* a bucket above B x T is one pass at B x T */
    warm->shape_bucket = 256;
    assert_int_equal(sq_backend_warm(warm, B, T, &shapes), 0);
    assert_int_equal(shapes, 1);

    sq_batch_free(&b);
    free(p);
    cold->free(cold);
    warm->free(warm);
    sq_model_free(m0);
    sq_model_free(m1);
}

/* An inference model (no gradients) is left alone. */
static void inference_model_skipped(void **state) {
    (void)state;
    sq_model *m;
    sq_backend *be;
    int shapes = -1;
    assert_int_equal(sq_model_new(&cfg, false, &m), 0);
    assert_int_equal(sq_backend_cpu_new(m, B, T, &be), 0);
    be->shape_bucket = 4;
    assert_int_equal(sq_backend_warm(be, B, T, &shapes), 0);
    assert_int_equal(shapes, 0);
    be->free(be);
    sq_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(warm_changes_nothing),
        cmocka_unit_test(inference_model_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
