/* --init reads every BERT checkpoint that transformers' from_pretrained
 * reads into BertForQuestionAnswering: the hub's legacy LayerNorm gamma/beta
 * names, BertModel names without "bert.", BertForPreTraining and
 * BertForMaskedLM heads (ignored), F16/BF16, sharded checkpoints
 * (model.safetensors.index.json) and HF model folders -- each loads to the
 * bits of the reference model -- and refuses, in one message naming the
 * culprit, what from_pretrained could not load either.  The checkpoints are
 * written here from tests/train/fixtures/micro (1 layer, hidden 32). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/model.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"
#include "sq/safetensors.h"

static char tmp[64];
static sq_bert_config cfg;
static sq_model *ref; /* the micro fixture, BertForQuestionAnswering names */

static const char *root(void) {
    const char *r = getenv("SQ_ROOT");
    return r && *r ? r : ".";
}

static int setup(void **state) {
    strcpy(tmp, "/tmp/sq-test-hf-load-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/train/fixtures/micro/model.safetensors", root());
    bool qa_new;
    if (sq_model_config_for(p, NULL, &cfg) || sq_model_new(&cfg, false, &ref) || sq_model_load(ref, p, 1, &qa_new))
        fail_msg("%s", sq_errmsg());
    return 0;
}

static int teardown(void **state) {
    sq_model_free(ref);
    sq_rmtree(tmp);
    return 0;
}

/* How a variant names and stores the reference's tensors. */
enum {
    PREFIX = 1,        /* "bert." in front of the backbone's names */
    LEGACY = 2,        /* LayerNorm.gamma / .beta */
    HEAD = 4,          /* qa_outputs */
    POOLER = 8,        /* pooler.dense (BertModel, BertForPreTraining) */
    CLS_MLM = 16,      /* cls.predictions.* (BertForMaskedLM) */
    CLS_NSP = 32,      /* cls.seq_relationship.* (BertForPreTraining with CLS_MLM) */
    POSITION_IDS = 64, /* the embeddings' position_ids buffer, I64, as older transformers saved it */
};

typedef struct {
    char name[128];
    sq_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;
} out_tensor;

typedef struct {
    out_tensor t[64];
    int n;
} variant;

static void push(variant *v, const char *name, sq_dtype d, int ndim, int64_t d0, int64_t d1, void *data) {
    out_tensor *o = &v->t[v->n++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->dtype = d;
    o->ndim = ndim;
    o->shape[0] = d0;
    o->shape[1] = d1;
    o->data = data;
}

/* A buffer of n values v in dtype d (the heads' contents do not matter:
 * they must be ignored). */
static void *filled(sq_dtype d, size_t n, float v) {
    void *p = malloc(n * sq_dtype_size(d) + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        if (d == SQ_F32) ((float *)p)[i] = v;
        else if (d == SQ_BF16) ((uint16_t *)p)[i] = sq_f32_to_bf16(v);
        else if (d == SQ_F16) ((uint16_t *)p)[i] = sq_f32_to_f16(v);
        else if (d == SQ_I64) ((int64_t *)p)[i] = (int64_t)i;
        else if (d == SQ_I32) ((int32_t *)p)[i] = (int32_t)v;
    }
    return p;
}

static void make_variant(variant *v, int flags, sq_dtype d) {
    v->n = 0;
    int64_t C = cfg.hidden;
    for (int i = 0; i < ref->n_tensors; i++) {
        const sq_param_info *p = &ref->table[i];
        bool head = p->layer == cfg.layers;
        if (head && !(flags & HEAD)) continue;
        char name[128];
        const char *base = head || (flags & PREFIX) ? p->name : p->name + 5;
        snprintf(name, sizeof name, "%s", base);
        char *ln = strstr(name, "LayerNorm.");
        if (ln && (flags & LEGACY)) strcpy(ln + 10, !strcmp(ln + 10, "weight") ? "gamma" : "beta");
        void *data = filled(d, p->numel, 0);
        for (size_t k = 0; k < p->numel; k++) {
            float x = ref->params[p->offset + k];
            if (d == SQ_F32) ((float *)data)[k] = x;
            else ((uint16_t *)data)[k] = d == SQ_BF16 ? sq_f32_to_bf16(x) : sq_f32_to_f16(x);
        }
        push(v, name, d, p->ndim, p->shape[0], p->shape[1], data);
    }
    const char *pre = flags & PREFIX ? "bert." : "";
    char name[128];
    if (flags & POSITION_IDS) {
        snprintf(name, sizeof name, "%sembeddings.position_ids", pre);
        push(v, name, SQ_I64, 2, 1, cfg.max_position, filled(SQ_I64, (size_t)cfg.max_position, 0));
    }
    if (flags & POOLER) {
        snprintf(name, sizeof name, "%spooler.dense.weight", pre);
        push(v, name, d, 2, C, C, filled(d, (size_t)(C * C), 7));
        snprintf(name, sizeof name, "%spooler.dense.bias", pre);
        push(v, name, d, 1, C, 0, filled(d, (size_t)C, 7));
    }
    const char *g = flags & LEGACY ? "gamma" : "weight", *b = flags & LEGACY ? "beta" : "bias";
    if (flags & CLS_MLM) {
        push(v, "cls.predictions.bias", d, 1, cfg.vocab_size, 0, filled(d, (size_t)cfg.vocab_size, 7));
        push(v, "cls.predictions.transform.dense.weight", d, 2, C, C, filled(d, (size_t)(C * C), 7));
        push(v, "cls.predictions.transform.dense.bias", d, 1, C, 0, filled(d, (size_t)C, 7));
        snprintf(name, sizeof name, "cls.predictions.transform.LayerNorm.%s", g);
        push(v, name, d, 1, C, 0, filled(d, (size_t)C, 7));
        snprintf(name, sizeof name, "cls.predictions.transform.LayerNorm.%s", b);
        push(v, name, d, 1, C, 0, filled(d, (size_t)C, 7));
    }
    if (flags & CLS_NSP) {
        push(v, "cls.seq_relationship.weight", d, 2, 2, C, filled(d, (size_t)(2 * C), 7));
        push(v, "cls.seq_relationship.bias", d, 1, 2, 0, filled(d, 2, 7));
    }
}

static void variant_free(variant *v) {
    for (int i = 0; i < v->n; i++) free(v->t[i].data);
    v->n = 0;
}

static void write_st(const variant *v, int begin, int end, const char *path) {
    sq_stw *w = sq_stw_new();
    assert_non_null(w);
    assert_int_equal(sq_stw_meta(w, "format", "pt"), 0);
    for (int i = begin; i < end; i++)
        assert_int_equal(sq_stw_add(w, v->t[i].name, v->t[i].dtype, v->t[i].ndim, v->t[i].shape, v->t[i].data), 0);
    if (sq_stw_write(w, path)) fail_msg("%s", sq_errmsg());
    sq_stw_free(w);
}

static char *path_in(const char *dir, const char *name) {
    static char buf[4][4200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* A model folder as save_pretrained writes it: config.json, then one file
 * or n shards with their index. */
static void write_folder(const variant *v, const char *dir, int shards) {
    mkdir(dir, 0755);
    char *cj = sq_config_to_json(&cfg);
    assert_non_null(cj);
    assert_int_equal(sq_write_file_atomic(path_in(dir, "config.json"), cj, strlen(cj)), 0);
    free(cj);
    if (shards <= 1) {
        write_st(v, 0, v->n, path_in(dir, "model.safetensors"));
        return;
    }
    json_t *map = json_object();
    for (int s = 0; s < shards; s++) {
        char file[64];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
        int begin = v->n * s / shards, end = v->n * (s + 1) / shards;
        write_st(v, begin, end, path_in(dir, file));
        for (int i = begin; i < end; i++) json_object_set_new(map, v->t[i].name, json_string(file));
    }
    json_t *idx = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 0, "weight_map", map);
    assert_int_equal(sq_json_save(path_in(dir, "model.safetensors.index.json"), idx, JSON_INDENT(2)), 0);
    json_decref(idx);
}

/* Loads init and checks every backbone parameter against the reference
 * (rounded to dtype d), and the head: the reference's, or HF's init. */
static sq_load_info load_same(const char *init, sq_dtype d, bool head) {
    sq_bert_config c;
    if (sq_model_config_for(init, NULL, &c)) fail_msg("%s: %s", init, sq_errmsg());
    assert_memory_equal(&c, &cfg, sizeof c);
    sq_model *m;
    sq_load_info info;
    assert_int_equal(sq_model_new(&c, false, &m), 0);
    if (sq_model_load_hf(m, init, 3, &info)) fail_msg("%s: %s", init, sq_errmsg());
    for (int i = 0; i < m->n_tensors; i++) {
        const sq_param_info *p = &m->table[i];
        bool is_head = p->layer == cfg.layers;
        for (size_t k = 0; k < p->numel; k++) {
            float x = ref->params[p->offset + k], want = x;
            if (d == SQ_BF16) want = sq_bf16_to_f32(sq_f32_to_bf16(x));
            if (d == SQ_F16) want = sq_f16_to_f32(sq_f32_to_f16(x));
            if (is_head && !head) continue;
            if (m->params[p->offset + k] != want)
                fail_msg("%s: %s[%zu] = %g, want %g", init, p->name, k, m->params[p->offset + k], want);
        }
    }
    assert_int_equal(info.qa_initialised, !head);
    if (!head) { /* HF _init_weights: bias 0, weight ~ N(0, 0.02) from the seed */
        const sq_param_info *w = sq_model_find(m, "qa_outputs.weight"), *b = sq_model_find(m, "qa_outputs.bias");
        assert_true(m->params[b->offset] == 0 && m->params[b->offset + 1] == 0);
        assert_true(m->params[w->offset] != 0);
    }
    sq_model_free(m);
    return info;
}

/* The hub's google-bert/bert-base-uncased layout: BertForPreTraining with
 * "bert.", LayerNorm gamma/beta and the pooler, in a folder. */
static void test_hub_pretraining(void **state) {
    variant v;
    make_variant(&v, PREFIX | LEGACY | POOLER | CLS_MLM | CLS_NSP, SQ_F32);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hub", tmp);
    write_folder(&v, dir, 1);
    sq_load_info info = load_same(dir, SQ_F32, false);
    assert_int_equal(info.files, 1);
    assert_int_equal(info.loaded, ref->n_tensors - 2);
    assert_int_equal(info.renamed, 2 * (1 + 2 * cfg.layers));
    assert_int_equal(info.prefixed, 0);
    assert_int_equal(info.ignored, 2 + 5 + 2);
    assert_string_equal(info.ignored_names, "bert.pooler.* (2), cls.* (7)");
    char line[512];
    sq_load_info_format(&info, line, sizeof line);
    assert_string_equal(line, "21 tensors (F32); LayerNorm gamma/beta read as weight/bias (6); "
                              "ignored 9: bert.pooler.* (2), cls.* (7); no qa_outputs; initialised as HF does");
    assert_true(sq_load_info_notable(&info));
    /* The file alone, with its config beside it. */
    load_same(path_in(dir, "model.safetensors"), SQ_F32, false);
    variant_free(&v);
}

/* BertForMaskedLM (cls.predictions only) in BF16; BertModel (no prefix,
 * position_ids, pooler) in F16; BertForQuestionAnswering with legacy names;
 * a BertModel-named backbone with a qa_outputs head (transformers 5 adds the
 * prefix per name). */
static void test_other_classes(void **state) {
    static const struct {
        int flags;
        sq_dtype d;
        int prefixed, ignored;
        const char *ignored_names;
    } cases[] = {
        {PREFIX | CLS_MLM, SQ_BF16, 0, 5, "cls.* (5)"},
        {POSITION_IDS | POOLER, SQ_F16, 21, 3, "embeddings.position_ids, pooler.* (2)"},
        {PREFIX | LEGACY | HEAD, SQ_F32, 0, 0, ""},
        {HEAD | POOLER, SQ_BF16, 21, 2, "pooler.* (2)"},
        {PREFIX | HEAD, SQ_F32, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        variant v;
        make_variant(&v, cases[i].flags, cases[i].d);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/class%zu", tmp, i);
        write_folder(&v, dir, 1);
        bool head = cases[i].flags & HEAD;
        sq_load_info info = load_same(dir, cases[i].d, head);
        assert_int_equal(info.prefixed, cases[i].prefixed);
        assert_int_equal(info.ignored, cases[i].ignored);
        assert_string_equal(info.ignored_names, cases[i].ignored_names);
        assert_int_equal(info.renamed, cases[i].flags & LEGACY ? 6 : 0);
        assert_int_equal(info.dtypes, 1u << cases[i].d);
        /* BertForQuestionAnswering's own names are nothing to report. */
        assert_int_equal(sq_load_info_notable(&info), cases[i].flags != (PREFIX | HEAD));
        variant_free(&v);
    }
}

/* save_pretrained's shards: 3 files and model.safetensors.index.json, as
 * a folder and as the index alone. */
static void test_sharded(void **state) {
    variant v;
    make_variant(&v, PREFIX | LEGACY | POOLER | CLS_MLM | CLS_NSP | HEAD, SQ_BF16);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sharded", tmp);
    write_folder(&v, dir, 3);
    sq_load_info info = load_same(dir, SQ_BF16, true);
    assert_int_equal(info.files, 3);
    assert_int_equal(info.loaded, ref->n_tensors);
    assert_int_equal(info.ignored, 9);
    char line[512];
    sq_load_info_format(&info, line, sizeof line);
    assert_non_null(strstr(line, "23 tensors (BF16) from 3 shards; LayerNorm gamma/beta read as weight/bias (6)"));
    load_same(path_in(dir, "model.safetensors.index.json"), SQ_BF16, true);
    variant_free(&v);
}

static void expect_error(const char *init, const char *want) {
    sq_model *m;
    sq_load_info info;
    assert_int_equal(sq_model_new(&cfg, false, &m), 0);
    assert_int_equal(sq_model_load_hf(m, init, 1, &info), -1);
    if (!strstr(sq_errmsg(), want)) fail_msg("%s: '%s' lacks '%s'", init, sq_errmsg(), want);
    sq_model_free(m);
}

static void write_text(const char *path, const char *text) {
    assert_int_equal(sq_write_file_atomic(path, text, strlen(text)), 0);
}

static void test_errors(void **state) {
    char dir[4096], msg[4400];
    /* A folder without weights, and one with only a PyTorch pickle. */
    snprintf(dir, sizeof dir, "%s/empty", tmp);
    mkdir(dir, 0755);
    snprintf(msg, sizeof msg, "%s: no model.safetensors or model.safetensors.index.json in this folder", dir);
    expect_error(dir, msg);
    sq_bert_config c;
    assert_int_equal(sq_model_config_for(dir, NULL, &c), -1);
    assert_non_null(strstr(sq_errmsg(), "no model.safetensors"));
    write_text(path_in(dir, "pytorch_model.bin"), "PK");
    expect_error(dir, "holds pytorch_model.bin, a PyTorch pickle that sq does not read");

    /* Shard indexes that do not match their shards. */
    variant v;
    make_variant(&v, PREFIX | HEAD, SQ_F32);
    snprintf(dir, sizeof dir, "%s/badshards", tmp);
    write_folder(&v, dir, 2);
    char idx[4300];
    snprintf(idx, sizeof idx, "%s", path_in(dir, "model.safetensors.index.json"));
    char *good;
    size_t len;
    assert_int_equal(sq_read_file(idx, 1 << 20, &good, &len), 0);
    assert_int_equal(rename(path_in(dir, "model-00002-of-00002.safetensors"), path_in(dir, "elsewhere")), 0);
    expect_error(dir, "model.safetensors.index.json: shard model-00002-of-00002.safetensors: ");
    expect_error(dir, "No such file or directory");
    assert_int_equal(rename(path_in(dir, "elsewhere"), path_in(dir, "model-00002-of-00002.safetensors")), 0);
    load_same(dir, SQ_F32, true);
    /* The index moves the last tensor to the first shard. */
    json_t *j = sq_json_load(idx), *map = json_object_get(j, "weight_map");
    json_object_set_new(map, "qa_outputs.bias", json_string("model-00001-of-00002.safetensors"));
    assert_int_equal(sq_json_save(idx, j, 0), 0);
    expect_error(dir, "weight_map puts qa_outputs.bias in model-00001-of-00002.safetensors, which does not hold it");
    /* ... or forgets it. */
    json_object_del(map, "qa_outputs.bias");
    assert_int_equal(sq_json_save(idx, j, 0), 0);
    expect_error(dir, "model-00002-of-00002.safetensors holds qa_outputs.bias, which the weight_map does not put");
    /* ... or names a file outside the folder. */
    json_object_set_new(map, "qa_outputs.bias", json_string("../model-00002-of-00002.safetensors"));
    assert_int_equal(sq_json_save(idx, j, 0), 0);
    expect_error(dir, "weight_map[\"qa_outputs.bias\"]: expected the name of a shard file in the index's folder");
    json_decref(j);
    write_text(idx, "{\"metadata\": {}}");
    expect_error(dir, "no \"weight_map\" object");
    write_text(idx, "{\"weight_map\": ");
    expect_error(dir, "model.safetensors.index.json:1:");
    write_text(idx, good);
    free(good);
    variant_free(&v);

    /* A weight stored as integers. */
    make_variant(&v, PREFIX | HEAD, SQ_F32);
    out_tensor *q = &v.t[5];
    assert_string_equal(q->name, "bert.encoder.layer.0.attention.self.query.weight");
    free(q->data);
    q->dtype = SQ_I32;
    q->data = filled(SQ_I32, (size_t)(q->shape[0] * q->shape[1]), 1);
    snprintf(dir, sizeof dir, "%s/int", tmp);
    write_folder(&v, dir, 1);
    expect_error(dir, "model.safetensors: bert.encoder.layer.0.attention.self.query.weight: dtype I32 is not F32, "
                      "F16 or BF16");
    variant_free(&v);

    /* Two tensors for one parameter: a legacy name beside the new one. */
    make_variant(&v, PREFIX | HEAD, SQ_F32);
    push(&v, "bert.embeddings.LayerNorm.gamma", SQ_F32, 1, cfg.hidden, 0, filled(SQ_F32, (size_t)cfg.hidden, 1));
    snprintf(dir, sizeof dir, "%s/twice", tmp);
    write_folder(&v, dir, 1);
    expect_error(dir, "both bert.embeddings.LayerNorm.weight and bert.embeddings.LayerNorm.gamma are "
                      "bert.embeddings.LayerNorm.weight");
    variant_free(&v);

    /* A backbone tensor missing, and one of another shape. */
    make_variant(&v, PREFIX | HEAD, SQ_F32);
    v.t[7].name[0] = 'x';
    snprintf(dir, sizeof dir, "%s/missing", tmp);
    write_folder(&v, dir, 1);
    snprintf(msg, sizeof msg, "%s: missing tensor bert.encoder.layer.0.attention.self.key.weight", dir);
    expect_error(dir, msg);
    variant_free(&v);
    make_variant(&v, PREFIX | HEAD, SQ_F32);
    v.t[1].shape[0] = 16;
    snprintf(dir, sizeof dir, "%s/shape", tmp);
    write_folder(&v, dir, 1);
    expect_error(dir, "bert.embeddings.position_embeddings.weight: shape [16, 32] does not match the config's [32, 32]");
    variant_free(&v);

    expect_error(path_in(tmp, "nothing-here"), "nothing-here: No such file or directory");
}

/* The config: config.json of the folder or beside the file, else the
 * metadata of the weights; real configs carry keys sq has no use for. */
static void test_config_sources(void **state) {
    const char *hub = "{\"_name_or_path\": \"x\", \"architectures\": [\"BertForMaskedLM\"], "
                      "\"attention_probs_dropout_prob\": 0.1, \"classifier_dropout\": null, "
                      "\"gradient_checkpointing\": false, \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.1, "
                      "\"hidden_size\": 384, \"initializer_range\": 0.02, \"intermediate_size\": 1536, "
                      "\"layer_norm_eps\": 1e-12, \"max_position_embeddings\": 512, \"model_type\": \"bert\", "
                      "\"num_attention_heads\": 12, \"num_hidden_layers\": 6, \"pad_token_id\": 0, "
                      "\"position_embedding_type\": \"absolute\", \"torch_dtype\": \"float32\", "
                      "\"transformers_version\": \"4.8.2\", \"type_vocab_size\": 2, \"use_cache\": true, "
                      "\"vocab_size\": 30522}";
    sq_bert_config c;
    assert_int_equal(sq_config_parse("hub", hub, strlen(hub), &c), 0);
    assert_int_equal(c.hidden, 384);
    assert_int_equal(c.layers, 6);
    assert_int_equal(c.intermediate, 1536);
    assert_int_equal(c.heads, 12);

    /* sq's own file keeps its config in the metadata: no config.json needed. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/own", tmp);
    mkdir(dir, 0755);
    assert_int_equal(sq_model_save(ref, ref->params, path_in(dir, "model.safetensors")), 0);
    assert_int_equal(sq_model_config_for(dir, NULL, &c), 0);
    assert_memory_equal(&c, &cfg, sizeof c);
    write_text(path_in(dir, "config.json"), "{\"hidden_size\": 64, \"num_attention_heads\": 4}");
    assert_int_equal(sq_model_config_for(dir, NULL, &c), 0);
    assert_int_equal(c.hidden, 64); /* config.json first, as from_pretrained */
    char cfgfile[4300];
    snprintf(cfgfile, sizeof cfgfile, "%s", path_in(dir, "config.json"));
    write_text(cfgfile, "{\"hidden_size\": 50, \"num_attention_heads\": 4}");
    assert_int_equal(sq_model_config_for(dir, NULL, &c), -1);
    assert_non_null(strstr(sq_errmsg(), "config.json: hidden_size 50 is not a multiple"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_pretraining), cmocka_unit_test(test_other_classes), cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_config_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
