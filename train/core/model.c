/* The parameter table (HF names, shapes, offsets in HF named_parameters()
 * order), the flat buffers, HF initialisation and HF checkpoint I/O. */
#include "core/model.h"

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/philox.h"
#include "sq/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    sq_param_info *t;
    int n;
    size_t off;
} table_builder;

static void add(table_builder *b, int layer, bool decay, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void add(table_builder *b, int layer, bool decay, int64_t d0, int64_t d1, const char *fmt, ...) {
    sq_param_info *p = &b->t[b->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->ndim = d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p->offset = b->off;
    p->decay = decay;
    p->layer = layer;
    b->off += p->numel;
}

/* Linear: weight [out, in] (decayed) and bias [out]. */
static void linear(table_builder *b, int layer, int64_t out, int64_t in, const char *prefix) {
    add(b, layer, true, out, in, "%s.weight", prefix);
    add(b, layer, false, out, 0, "%s.bias", prefix);
}

static void layernorm(table_builder *b, int layer, int64_t c, const char *prefix) {
    add(b, layer, false, c, 0, "%s.weight", prefix);
    add(b, layer, false, c, 0, "%s.bias", prefix);
}

int sq_model_new(const sq_bert_config *cfg, bool training, sq_model **out) {
    sq_model *m = sq_calloc(1, sizeof *m);
    if (!m) return -1;
    m->cfg = *cfg;
    int L = cfg->layers;
    int64_t C = cfg->hidden, I = cfg->intermediate;
    m->table = sq_calloc((size_t)(5 + 16 * L + 2), sizeof *m->table);
    if (!m->table) goto fail;
    table_builder b = {m->table, 0, 0};
    add(&b, -1, true, cfg->vocab_size, C, "bert.embeddings.word_embeddings.weight");
    add(&b, -1, true, cfg->max_position, C, "bert.embeddings.position_embeddings.weight");
    add(&b, -1, true, cfg->type_vocab, C, "bert.embeddings.token_type_embeddings.weight");
    layernorm(&b, -1, C, "bert.embeddings.LayerNorm");
    for (int l = 0; l < L; l++) {
        char p[64];
#define P(s) (snprintf(p, sizeof p, "bert.encoder.layer.%d.%s", l, s), p)
        linear(&b, l, C, C, P("attention.self.query"));
        linear(&b, l, C, C, P("attention.self.key"));
        linear(&b, l, C, C, P("attention.self.value"));
        linear(&b, l, C, C, P("attention.output.dense"));
        layernorm(&b, l, C, P("attention.output.LayerNorm"));
        linear(&b, l, I, C, P("intermediate.dense"));
        linear(&b, l, C, I, P("output.dense"));
        layernorm(&b, l, C, P("output.LayerNorm"));
#undef P
    }
    linear(&b, L, 2, C, "qa_outputs");
    m->n_tensors = b.n;
    m->n_params = b.off;
    m->params = sq_calloc(m->n_params, sizeof(float));
    if (!m->params) goto fail;
    if (training) {
        m->grads = sq_calloc(m->n_params, sizeof(float));
        m->m = sq_calloc(m->n_params, sizeof(float));
        m->v = sq_calloc(m->n_params, sizeof(float));
        if (!m->grads || !m->m || !m->v) goto fail;
    }
    *out = m;
    return 0;
fail:
    sq_model_free(m);
    return -1;
}

void sq_model_free(sq_model *m) {
    if (!m) return;
    free(m->table);
    free(m->params);
    free(m->grads);
    free(m->m);
    free(m->v);
    free(m);
}

const sq_param_info *sq_model_find(const sq_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->table[i].name, name)) return &m->table[i];
    return NULL;
}

int sq_model_ptrs(const sq_model *m, float *buf, sq_param_ptrs *p) {
    int L = m->cfg.layers;
    p->layer = sq_calloc((size_t)L, sizeof *p->layer);
    if (!p->layer) return -1;
    const sq_param_info *t = m->table;
    p->wte = buf + t[0].offset;
    p->wpe = buf + t[1].offset;
    p->wtt = buf + t[2].offset;
    p->lnew = buf + t[3].offset;
    p->lneb = buf + t[4].offset;
    for (int l = 0; l < L; l++) {
        const sq_param_info *q = &t[5 + 16 * l];
        sq_layer_params *lp = &p->layer[l];
        float **f[16] = {&lp->qw, &lp->qb, &lp->kw, &lp->kb, &lp->vw, &lp->vb, &lp->aow, &lp->aob,
                         &lp->ln1w, &lp->ln1b, &lp->iw, &lp->ib, &lp->ow, &lp->ob, &lp->ln2w, &lp->ln2b};
        for (int i = 0; i < 16; i++) *f[i] = buf + q[i].offset;
    }
    p->qaw = buf + t[5 + 16 * L].offset;
    p->qab = buf + t[6 + 16 * L].offset;
    return 0;
}

void sq_param_ptrs_free(sq_param_ptrs *p) {
    free(p->layer);
    p->layer = NULL;
}

void sq_model_layer_range(const sq_model *m, int layer, size_t *begin, size_t *end) {
    *begin = m->n_params;
    *end = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const sq_param_info *t = &m->table[i];
        if (t->layer != layer) continue;
        if (t->offset < *begin) *begin = t->offset;
        if (t->offset + t->numel > *end) *end = t->offset + t->numel;
    }
}

static bool is_layernorm(const char *name) { return strstr(name, "LayerNorm") != NULL; }
static bool is_bias(const char *name) {
    size_t n = strlen(name);
    return n >= 5 && !strcmp(name + n - 5, ".bias");
}

void sq_model_init_tensor(sq_model *m, int i, uint64_t seed) {
    const sq_param_info *t = &m->table[i];
    float *p = m->params + t->offset;
    if (is_layernorm(t->name) || is_bias(t->name)) {
        float v = is_layernorm(t->name) && !is_bias(t->name) ? 1.0f : 0.0f;
        for (size_t e = 0; e < t->numel; e++) p[e] = v;
        return;
    }
    /* Box-Muller on Philox pairs; counter word 2 and 3 all ones keep these
     * draws apart from dropout's (whose step never reaches 2^32 - 1). */
    double sd = m->cfg.initializer_range;
    for (size_t e = 0; e < t->numel; e += 2) {
        sq_philox_ctr c = {{(uint32_t)(e >> 1), (uint32_t)i, 0xFFFFFFFFu, 0xFFFFFFFFu}};
        sq_philox_ctr r = sq_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        double u1 = ((double)r.v[0] + 1.0) / 4294967296.0, u2 = (double)r.v[1] / 4294967296.0;
        double rad = sqrt(-2.0 * log(u1));
        p[e] = (float)(sd * rad * cos(2 * M_PI * u2));
        if (e + 1 < t->numel) p[e + 1] = (float)(sd * rad * sin(2 * M_PI * u2));
    }
    /* HF BertEmbeddings: nn.Embedding(padding_idx=pad_token_id) zeroes that row. */
    if (i == 0) memset(p + (size_t)m->cfg.pad_token_id * t->shape[1], 0, (size_t)t->shape[1] * sizeof(float));
}

void sq_model_init(sq_model *m, uint64_t seed) {
    for (int i = 0; i < m->n_tensors; i++) sq_model_init_tensor(m, i, seed);
}

/* HF names as stored by BertModel ("embeddings...") or the heads with a
 * "bert." prefix. */
static const sq_tensor *find_tensor(const sq_st *st, const char *name) {
    const sq_tensor *t = sq_st_find(st, name);
    if (!t && !strncmp(name, "bert.", 5)) t = sq_st_find(st, name + 5);
    return t;
}

int sq_model_load(sq_model *m, const char *path, uint64_t seed, bool *qa_initialised) {
    sq_st *st;
    if (sq_st_read(path, &st)) return -1;
    *qa_initialised = false;
    int rc = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const sq_param_info *p = &m->table[i];
        const sq_tensor *t = find_tensor(st, p->name);
        if (!t) {
            if (p->layer == m->cfg.layers) { /* qa_outputs: a backbone-only checkpoint */
                sq_model_init_tensor(m, i, seed);
                *qa_initialised = true;
                continue;
            }
            rc = sq_err("%s: missing tensor %s", path, p->name);
            break;
        }
        if (t->dtype != SQ_F32 && t->dtype != SQ_F16 && t->dtype != SQ_BF16) {
            rc = sq_err("%s: %s: dtype %s is not F32, F16 or BF16", path, t->name, sq_dtype_name(t->dtype));
            break;
        }
        bool same = t->ndim == p->ndim && t->shape[0] == p->shape[0] && (p->ndim == 1 || t->shape[1] == p->shape[1]);
        if (!same) {
            char want[48], got[96] = "";
            if (p->ndim == 1) snprintf(want, sizeof want, "[%lld]", (long long)p->shape[0]);
            else snprintf(want, sizeof want, "[%lld, %lld]", (long long)p->shape[0], (long long)p->shape[1]);
            size_t k = 0;
            for (int d = 0; d < t->ndim && k + 24 < sizeof got; d++)
                k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            rc = sq_err("%s: %s: shape [%s] does not match the config's %s", path, t->name, got, want);
            break;
        }
        if (sq_tensor_to_f32(t, m->params + p->offset)) rc = sq_err_ctx("%s: %s", path, t->name);
    }
    sq_st_free(st);
    return rc;
}

static int config_file(const char *path, sq_bert_config *out) {
    char *buf;
    size_t len;
    if (sq_read_file(path, (size_t)1 << 20, &buf, &len)) return -1;
    int rc = sq_config_parse(path, buf, len, out);
    free(buf);
    return rc;
}

int sq_model_config_for(const char *init, const char *config, sq_bert_config *out) {
    if (config) return config_file(config, out);
    const char *slash = strrchr(init, '/');
    size_t dir = slash ? (size_t)(slash - init) + 1 : 0;
    char *beside = sq_malloc(dir + sizeof "config.json");
    if (!beside) return -1;
    memcpy(beside, init, dir);
    strcpy(beside + dir, "config.json");
    struct stat s;
    int rc;
    if (!stat(beside, &s)) {
        rc = config_file(beside, out);
    } else {
        sq_st *st;
        rc = sq_st_read(init, &st);
        if (!rc) {
            const char *meta = sq_st_meta(st, "config");
            rc = meta ? sq_config_parse(init, meta, strlen(meta), out)
                      : sq_err("%s: no config (give --config, put config.json beside it, or a \"config\" "
                               "metadata entry)", init);
            sq_st_free(st);
        }
    }
    free(beside);
    return rc;
}

int sq_model_save(const sq_model *m, const float *params, const char *path) {
    char *cfg = sq_config_to_json(&m->cfg);
    if (!cfg) return -1;
    sq_stw *w = sq_stw_new();
    int rc = w ? 0 : -1;
    /* transformers refuses safetensors whose metadata format is not "pt". */
    if (!rc) rc = sq_stw_meta(w, "format", "pt") || sq_stw_meta(w, "config", cfg) ? -1 : 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const sq_param_info *t = &m->table[i];
        rc = sq_stw_add(w, t->name, SQ_F32, t->ndim, t->shape, params + t->offset);
    }
    if (!rc) rc = sq_stw_write(w, path);
    sq_stw_free(w);
    free(cfg);
    return rc;
}

double sq_model_row_flops(const sq_bert_config *c, double n) {
    double D = c->hidden, F = c->intermediate;
    return 3.0 * c->layers * (2.0 * n * (4.0 * D * D + 2.0 * D * F) + 4.0 * n * n * D);
}
