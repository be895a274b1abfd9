/* The batch contract (core/batch.h) on the CPU backend: sq_batch_check
 * accepts and refuses what the backends do (the kernel harness runs the
 * same cases on the CUDA backend), an empty micro-batch has loss 0, fires
 * every hook and adds nothing, and a hook's error ends the pass with its
 * message (errors travel one way: by return value). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/batch.h"
#include "core/model.h"

#include "sq/error.h"

static const sq_bert_config cfg = {.vocab_size = 29, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12,
                                   .max_position = 12, .type_vocab = 2, .pad_token_id = 0, .layer_norm_eps = 1e-12,
                                   .initializer_range = 0.3, .hidden_dropout = 0.1, .attention_dropout = 0.1};
enum { MAX_B = 3, MAX_T = 10 };

/* B rows of T tokens, every row full; row 0's length, token id and type
 * set apart so that a case can break one of them. */
static void fill(sq_batch *b, int B, int T, int len0, int id0, int type0) {
    b->B = B;
    b->T = T;
    for (int r = 0; r < B; r++) {
        b->len[r] = r ? T : len0;
        for (int t = 0; t < T; t++) {
            b->ids[r * T + t] = 1 + (r + t) % 28;
            b->types[r * T + t] = t > T / 2;
        }
        b->start[r] = 1;
        b->end[r] = 2;
        b->sample[r] = (uint32_t)r;
    }
    if (B && T) b->ids[0] = id0, b->types[0] = type0;
    b->step = 1;
    b->seed = 3;
    b->n_start = b->n_end = B ? B : 1;
}

typedef struct {
    const char *name;
    int B, T, len0, id0, type0;
    const char *error; /* NULL: accepted; else a part of the message */
} contract_case;

static const contract_case cases[] = {
    {"B = 0", 0, MAX_T, 1, 1, 0, NULL},
    {"B = max", MAX_B, MAX_T, MAX_T, 1, 0, NULL},
    {"T = 1", 1, 1, 1, 1, 0, NULL},
    {"B > max", MAX_B + 1, MAX_T, MAX_T, 1, 0, "exceeds the 3 x 10"},
    {"B < 0", -1, MAX_T, MAX_T, 1, 0, "exceeds the 3 x 10"},
    {"T = 0", 1, 0, 1, 1, 0, "exceeds the 3 x 10"},
    {"T > max", 1, MAX_T + 1, 1, 1, 0, "exceeds the 3 x 10"},
    {"len 0", 1, MAX_T, 0, 1, 0, "row 0: length 0 outside [1, 10]"},
    {"len > T", 1, MAX_T, MAX_T + 1, 1, 0, "row 0: length 11 outside [1, 10]"},
    {"id = vocab", 2, MAX_T, MAX_T, 29, 0, "token id 29 outside the vocabulary (29)"},
    {"id < 0", 2, MAX_T, MAX_T, -1, 0, "token id -1 outside the vocabulary"},
    {"type = type_vocab", 2, MAX_T, MAX_T, 1, 2, "token type 2 outside [0, 2)"},
};

static void test_check(void **state) {
    sq_batch b;
    assert_int_equal(sq_batch_alloc(&b, MAX_B + 1, MAX_T + 1), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const contract_case *k = &cases[i];
        fill(&b, k->B < 0 ? 0 : k->B, k->T, k->len0, k->id0, k->type0);
        b.B = k->B;
        int rc = sq_batch_check(&b, &cfg, MAX_B, MAX_T);
        if (!k->error) {
            assert_int_equal(rc, 0);
            continue;
        }
        assert_int_equal(rc, -1);
        if (!strstr(sq_errmsg(), k->error)) fail_msg("%s: '%s' lacks '%s'", k->name, sq_errmsg(), k->error);
    }
    /* T within the backend's size but past max_position_embeddings */
    sq_bert_config short_pos = cfg;
    short_pos.max_position = 8;
    fill(&b, 1, 9, 9, 1, 0);
    assert_int_equal(sq_batch_check(&b, &short_pos, MAX_B, MAX_T), -1);
    assert_non_null(strstr(sq_errmsg(), "sequence length 9 exceeds max_position_embeddings 8"));
    sq_batch_free(&b);
}

typedef struct {
    int calls, fail_at; /* fail_at: the layer whose hook fails (-2: none) */
    int layers[8];
} hook_log;

static int on_ready(void *ctx, int layer, size_t lo, size_t hi) {
    hook_log *h = ctx;
    if (h->calls < 8) h->layers[h->calls] = layer;
    h->calls++;
    if (layer == h->fail_at) return sq_err("hook refused layer %d", layer);
    return 0;
}

/* A model with a CPU backend and a batch of MAX_B + 1 rows of MAX_T + 1
 * tokens (room for the refused sizes), made and freed around each test. */
typedef struct {
    sq_model *m;
    sq_backend *be;
    sq_batch b;
} fixture;

static int setup(void **state) {
    static fixture f;
    if (sq_model_new(&cfg, true, &f.m)) return -1;
    sq_model_init(f.m, 5);
    if (sq_backend_cpu_new(f.m, MAX_B, MAX_T, &f.be) || sq_batch_alloc(&f.b, MAX_B + 1, MAX_T + 1)) return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sq_batch_free(&f->b);
    f->be->free(f->be);
    sq_model_free(f->m);
    return 0;
}

/* The backend refuses exactly what sq_batch_check refuses, with its
 * message. */
static void test_backend_keeps_contract(void **state) {
    fixture *f = *state;
    sq_backend *be = f->be;
    sq_batch *b = &f->b;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const contract_case *k = &cases[i];
        fill(b, k->B < 0 ? 0 : k->B, k->T, k->len0, k->id0, k->type0);
        b->B = k->B;
        double loss = -1;
        int rc = be->forward(be, b, true, &loss);
        if (!k->error) {
            assert_int_equal(rc, 0);
            assert_int_equal(be->backward(be, b, NULL), 0);
            continue;
        }
        assert_int_equal(rc, -1);
        if (!strstr(sq_errmsg(), k->error)) fail_msg("%s: '%s' lacks '%s'", k->name, sq_errmsg(), k->error);
    }
}

/* B = 0: loss 0, the grad hook fires for the QA head, every layer and the
 * embeddings in backward order, and the gradients stay as they were. */
static void test_empty_batch(void **state) {
    fixture *f = *state;
    sq_model *m = f->m;
    sq_backend *be = f->be;
    sq_batch *b = &f->b;
    fill(b, 2, MAX_T, MAX_T, 1, 0); /* gradients of a real batch first: B = 0 must leave them */
    double loss;
    assert_int_equal(be->zero_grads(be), 0);
    assert_int_equal(be->forward(be, b, true, &loss), 0);
    assert_int_equal(be->backward(be, b, NULL), 0);
    size_t bytes = m->n_params * sizeof(float);
    float *before = malloc(bytes);
    assert_non_null(before);
    memcpy(before, m->grads, bytes);
    fill(b, 0, MAX_T, 1, 1, 0);
    loss = -1;
    assert_int_equal(be->forward(be, b, true, &loss), 0);
    assert_true(loss == 0.0);
    hook_log h = {.fail_at = -2};
    sq_grad_hook hook = {on_ready, &h};
    assert_int_equal(be->backward(be, b, &hook), 0);
    assert_int_equal(h.calls, cfg.layers + 2);
    int want[] = {2, 1, 0, -1};
    assert_memory_equal(h.layers, want, sizeof want);
    assert_memory_equal(m->grads, before, bytes);
    free(before);
}

/* A hook's error ends the backward at once with -1 and its message; no
 * later hook runs. */
static void test_hook_error(void **state) {
    fixture *f = *state;
    sq_backend *be = f->be;
    sq_batch *b = &f->b;
    for (int B = 2; B >= 0; B -= 2) {
        fill(b, B, MAX_T, MAX_T, 1, 0);
        double loss;
        assert_int_equal(be->forward(be, b, true, &loss), 0);
        hook_log h = {.fail_at = 1};
        sq_grad_hook hook = {on_ready, &h};
        assert_int_equal(be->backward(be, b, &hook), -1);
        assert_string_equal(sq_errmsg(), "hook refused layer 1");
        assert_int_equal(h.calls, 2); /* the QA head (2), then layer 1 */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test_setup_teardown(test_backend_keeps_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
