/* The parameter table and weights I/O: HF order and offsets, layer ranges,
 * HF initialisation, loading BertModel-style names (no "bert.", no QA head)
 * in BF16 and F16, shape mismatches naming the tensor, config parsing and
 * its errors, and checkpoints (round trip, newest two kept, temporaries
 * ignored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/checkpoint.h"
#include "core/model.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/safetensors.h"

static char tmp[64];

static int setup(void **state) {
    strcpy(tmp, "/tmp/sq-test-model-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state) {
    sq_rmtree(tmp);
    return 0;
}

static const char *root(void) {
    const char *r = getenv("SQ_ROOT");
    return r && *r ? r : ".";
}

static sq_bert_config micro_config(void) {
    char p[4096];
    sq_bert_config c;
    snprintf(p, sizeof p, "%s/tests/train/fixtures/micro/model.safetensors", root());
    if (sq_model_config_for(p, NULL, &c)) fail_msg("%s", sq_errmsg());
    return c;
}

static void test_table(void **state) {
    sq_bert_config c = micro_config();
    assert_int_equal(c.hidden, 32);
    assert_int_equal(c.layers, 1);
    sq_model *m;
    assert_int_equal(sq_model_new(&c, true, &m), 0);
    assert_int_equal(m->n_tensors, 5 + 16 + 2);
    assert_string_equal(m->table[0].name, "bert.embeddings.word_embeddings.weight");
    assert_string_equal(m->table[5].name, "bert.encoder.layer.0.attention.self.query.weight");
    assert_string_equal(m->table[m->n_tensors - 1].name, "qa_outputs.bias");
    size_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        assert_int_equal(m->table[i].offset, off);
        off += m->table[i].numel;
        bool nodecay = strstr(m->table[i].name, "LayerNorm") || strstr(m->table[i].name, ".bias");
        assert_int_equal(m->table[i].decay, !nodecay);
    }
    assert_int_equal(off, m->n_params);
    size_t b0, e0, b1, e1, b2, e2;
    sq_model_layer_range(m, -1, &b0, &e0);
    sq_model_layer_range(m, 0, &b1, &e1);
    sq_model_layer_range(m, 1, &b2, &e2);
    assert_int_equal(b0, 0);
    assert_int_equal(e0, b1);
    assert_int_equal(e1, b2);
    assert_int_equal(e2, m->n_params);

    sq_model_init(m, 5);
    const sq_param_info *w = sq_model_find(m, "bert.embeddings.word_embeddings.weight");
    for (int k = 0; k < c.hidden; k++) assert_true(m->params[w->offset + (size_t)c.pad_token_id * c.hidden + k] == 0);
    const sq_param_info *ln = sq_model_find(m, "bert.embeddings.LayerNorm.weight");
    assert_true(m->params[ln->offset] == 1.0f);
    const sq_param_info *q = sq_model_find(m, "bert.encoder.layer.0.attention.self.query.weight");
    double s = 0, s2 = 0;
    for (size_t k = 0; k < q->numel; k++) {
        s += m->params[q->offset + k];
        s2 += (double)m->params[q->offset + k] * m->params[q->offset + k];
    }
    double sd = sqrt(s2 / q->numel - (s / q->numel) * (s / q->numel));
    assert_true(fabs(sd - c.initializer_range) < 0.1 * c.initializer_range);
    sq_model_free(m);
}

/* BertModel-style names in BF16 and F16, without the head. */
static void test_backbone_halves(void **state) {
    sq_bert_config c = micro_config();
    char p[4096], out[4200];
    snprintf(p, sizeof p, "%s/tests/train/fixtures/micro/model.safetensors", root());
    sq_model *m, *n;
    bool qa_new;
    assert_int_equal(sq_model_new(&c, false, &m), 0);
    assert_int_equal(sq_model_load(m, p, 1, &qa_new), 0);
    assert_false(qa_new);
    for (int half = 0; half < 2; half++) {
        sq_stw *w = sq_stw_new();
        uint16_t *h = malloc(m->n_params * sizeof *h);
        assert_non_null(h);
        for (size_t i = 0; i < m->n_params; i++)
            h[i] = half ? sq_f32_to_f16(m->params[i]) : sq_f32_to_bf16(m->params[i]);
        for (int i = 0; i < m->n_tensors; i++) {
            const sq_param_info *t = &m->table[i];
            if (t->layer == c.layers) continue;
            assert_int_equal(sq_stw_add(w, t->name + 5, half ? SQ_F16 : SQ_BF16, t->ndim, t->shape, h + t->offset), 0);
        }
        int64_t pooler[2] = {c.hidden, c.hidden};
        float *junk = calloc((size_t)c.hidden * c.hidden, sizeof *junk);
        assert_int_equal(sq_stw_add(w, "pooler.dense.weight", SQ_F32, 2, pooler, junk), 0);
        snprintf(out, sizeof out, "%s/backbone%d.safetensors", tmp, half);
        assert_int_equal(sq_stw_write(w, out), 0);
        sq_stw_free(w);
        assert_int_equal(sq_model_new(&c, false, &n), 0);
        assert_int_equal(sq_model_load(n, out, 9, &qa_new), 0);
        assert_true(qa_new);
        for (int i = 0; i < m->n_tensors; i++) {
            const sq_param_info *t = &m->table[i];
            for (size_t k = 0; k < t->numel; k++) {
                float want = t->layer == c.layers ? NAN
                           : half ? sq_f16_to_f32(h[t->offset + k]) : sq_bf16_to_f32(h[t->offset + k]);
                if (t->layer != c.layers) assert_true(n->params[t->offset + k] == want);
            }
        }
        const sq_param_info *qb = sq_model_find(n, "qa_outputs.bias");
        assert_true(n->params[qb->offset] == 0.0f && n->params[qb->offset + 1] == 0.0f);
        sq_model_free(n);
        free(h);
        free(junk);
    }
    sq_model_free(m);
}

static void test_mismatch(void **state) {
    sq_bert_config c = micro_config();
    c.intermediate = 65;
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/train/fixtures/micro/model.safetensors", root());
    sq_model *m;
    bool qa_new;
    assert_int_equal(sq_model_new(&c, false, &m), 0);
    assert_int_equal(sq_model_load(m, p, 1, &qa_new), -1);
    assert_non_null(strstr(sq_errmsg(), "bert.encoder.layer.0.intermediate.dense.weight: shape [64, 32]"));
    sq_model_free(m);
    c = micro_config();
    c.layers = 2;
    assert_int_equal(sq_model_new(&c, false, &m), 0);
    assert_int_equal(sq_model_load(m, p, 1, &qa_new), -1);
    assert_non_null(strstr(sq_errmsg(), "missing tensor bert.encoder.layer.1.attention.self.query.weight"));
    sq_model_free(m);
}

static void test_config(void **state) {
    sq_bert_config c, d;
    const char *ok = "{\"hidden_size\": 48, \"num_attention_heads\": 3, \"num_hidden_layers\": 1}";
    assert_int_equal(sq_config_parse("c", ok, strlen(ok), &c), 0);
    assert_int_equal(c.hidden, 48);
    assert_int_equal(c.vocab_size, 30522); /* BertConfig defaults */
    assert_int_equal(c.intermediate, 3072);
    assert_true(c.layer_norm_eps == 1e-12);
    char *j = sq_config_to_json(&c);
    assert_non_null(j);
    assert_non_null(strstr(j, "BertForQuestionAnswering"));
    assert_int_equal(sq_config_parse("j", j, strlen(j), &d), 0);
    assert_memory_equal(&c, &d, sizeof c);
    free(j);
    static const struct { const char *json, *msg; } bad[] = {
        {"{\"hidden_size\": 50}", "not a multiple of num_attention_heads"},
        {"{\"hidden_act\": \"gelu_new\"}", "hidden_act"},
        {"{\"model_type\": \"roberta\"}", "model_type"},
        {"{\"position_embedding_type\": \"relative_key\"}", "position_embedding_type"},
        {"{\"num_hidden_layers\": -1}", "num_hidden_layers"},
        {"{\"hidden_dropout_prob\": 1.5}", "hidden_dropout_prob"},
        {"{\"vocab_size\": \"big\"}", "vocab_size"},
        {"[1]", "expected a JSON object"},
        {"{\"a\": ", "c:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sq_config_parse("c", bad[i].json, strlen(bad[i].json), &c), -1);
        if (!strstr(sq_errmsg(), bad[i].msg)) fail_msg("%s: '%s' lacks '%s'", bad[i].json, sq_errmsg(), bad[i].msg);
    }
}

/* torch_baseline.py's FLOPs of a BERT-base row of 384 tokens, worked out
 * by hand: 36 x (768 x 7,077,888 + 4 x 384^2 x 768). */
static void test_row_flops(void **state) {
    sq_bert_config c = {.hidden = 768, .layers = 12, .heads = 12, .intermediate = 3072};
    assert_true(sq_model_row_flops(&c, 384) == 211996901376.0);
    assert_true(sq_model_row_flops(&c, 0) == 0);
}

static void test_checkpoints(void **state) {
    sq_bert_config c = micro_config();
    sq_model *m, *n;
    assert_int_equal(sq_model_new(&c, true, &m), 0);
    sq_model_init(m, 4);
    for (size_t i = 0; i < m->n_params; i++) {
        m->m[i] = (float)i * 1e-3f;
        m->v[i] = (float)i * 1e-6f;
    }
    char dir[4096], tmpdir[4200];
    snprintf(dir, sizeof dir, "%s/run", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (long s = 1; s <= 4; s++) {
        sq_ckpt_state st = {s * 10, 100, 8, 25, 77, 50.5 + (double)s, s * 10 - 5, s - 1, s == 4};
        m->params[0] = (float)s;
        assert_int_equal(sq_ckpt_save(dir, m, &st), 0);
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/checkpoints/step-00000050.tmp-1-0", dir);
    assert_int_equal(mkdir(tmpdir, 0755), 0); /* a torn checkpoint is not one */
    struct stat sb;
    snprintf(tmpdir, sizeof tmpdir, "%s/checkpoints/step-00000020", dir);
    assert_int_not_equal(stat(tmpdir, &sb), 0);
    snprintf(tmpdir, sizeof tmpdir, "%s/checkpoints/step-00000030", dir);
    assert_int_equal(stat(tmpdir, &sb), 0);
    char *latest;
    assert_int_equal(sq_ckpt_latest(dir, &latest), 0);
    assert_non_null(strstr(latest, "step-00000040"));
    assert_int_equal(sq_model_new(&c, true, &n), 0);
    sq_ckpt_state got;
    assert_int_equal(sq_ckpt_load(latest, n, &got), 0);
    assert_int_equal(got.step, 40);
    assert_int_equal(got.total_steps, 100);
    assert_int_equal(got.seed, 77);
    /* What --save-best and --early-stop go on from, and the end marker. */
    assert_true(got.best_f1 == 54.5);
    assert_int_equal(got.best_step, 35);
    assert_int_equal(got.evals_since_best, 3);
    assert_true(got.complete);
    assert_memory_equal(n->params, m->params, m->n_params * sizeof(float));
    assert_memory_equal(n->m, m->m, m->n_params * sizeof(float));
    assert_memory_equal(n->v, m->v, m->n_params * sizeof(float));
    free(latest);
    /* The next save removes what a stopped one left. */
    sq_ckpt_state next = {50, 100, 8, 25, 77, 0, 0, 0, false};
    assert_int_equal(sq_ckpt_save(dir, m, &next), 0);
    snprintf(tmpdir, sizeof tmpdir, "%s/checkpoints/step-00000050.tmp-1-0", dir);
    assert_int_not_equal(stat(tmpdir, &sb), 0);
    snprintf(tmpdir, sizeof tmpdir, "%s/empty", tmp);
    assert_int_equal(sq_ckpt_latest(tmpdir, &latest), 0);
    assert_null(latest);
    sq_model_free(m);
    sq_model_free(n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),    cmocka_unit_test(test_backbone_halves), cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_config),   cmocka_unit_test(test_checkpoints), cmocka_unit_test(test_row_flops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
