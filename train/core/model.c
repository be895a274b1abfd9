/* The parameter table (HF names, shapes, offsets in HF named_parameters()
 * order), the flat buffers, HF initialisation and HF checkpoint I/O. */
#include "core/model.h"

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"
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

/* ---- HF checkpoints: files, folders, shards and names ---- */

static bool is_dir(const char *p) {
    struct stat s;
    return !stat(p, &s) && S_ISDIR(s.st_mode);
}

static bool exists(const char *p) {
    struct stat s;
    return !stat(p, &s);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The first dir_len bytes of dir, a '/', then name (a bare name when
 * dir_len is 0); malloc'd. */
static char *join(const char *dir, size_t dir_len, const char *name) {
    while (dir_len && dir[dir_len - 1] == '/') dir_len--;
    char *p = sq_malloc(dir_len + strlen(name) + 2);
    if (!p) return NULL;
    if (dir_len || dir[0] == '/') sprintf(p, "%.*s/%s", (int)dir_len, dir, name);
    else strcpy(p, name);
    return p;
}

/* Length of the folder part of a file path: 0 for a bare name. */
static size_t dir_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

/* The weights --init names: the file itself, or what an HF folder holds, in
 * from_pretrained's order (model.safetensors, then its shard index). */
static char *weights_path(const char *init) {
    if (!is_dir(init)) return sq_strdup(init);
    static const char *const names[] = {"model.safetensors", "model.safetensors.index.json"};
    for (int i = 0; i < 2; i++) {
        char *p = join(init, strlen(init), names[i]);
        if (!p || exists(p)) return p;
        free(p);
    }
    char *bin = join(init, strlen(init), "pytorch_model.bin");
    bool pickle = bin && exists(bin);
    free(bin);
    if (pickle)
        sq_err("%s: holds pytorch_model.bin, a PyTorch pickle that sq does not read: save the model as "
               "safetensors (model.save_pretrained(DIR, safe_serialization=True)) and give that folder", init);
    else
        sq_err("%s: no model.safetensors or model.safetensors.index.json in this folder (an HF model folder "
               "holds config.json, model.safetensors and vocab.txt; scripts/get-model.sh fetches one)", init);
    return NULL;
}

/* One tensor of the checkpoint and the file it is in (for errors). */
typedef struct {
    const sq_tensor *t;
    const char *file;
} ckpt_entry;

/* A checkpoint read whole: one safetensors file, or every shard of a
 * model.safetensors.index.json (transformers' sharded format: {"metadata":
 * {...}, "weight_map": {tensor: shard file beside the index}}). */
typedef struct {
    int n_files;
    sq_st **st;
    char **files;
    int n;
    ckpt_entry *e;
} ckpt;

static void ckpt_free(ckpt *c) {
    for (int i = 0; i < c->n_files; i++) {
        sq_st_free(c->st[i]);
        free(c->files[i]);
    }
    free(c->st);
    free(c->files);
    free(c->e);
    memset(c, 0, sizeof *c);
}

static int ckpt_add_file(ckpt *c, char *path) {
    sq_st **st = sq_realloc(c->st, (size_t)(c->n_files + 1) * sizeof *st);
    if (!st) return free(path), -1;
    c->st = st;
    char **files = sq_realloc(c->files, (size_t)(c->n_files + 1) * sizeof *files);
    if (!files) return free(path), -1;
    c->files = files;
    c->files[c->n_files] = path;
    if (sq_st_read(path, &c->st[c->n_files])) return free(path), -1;
    c->n_files++;
    return 0;
}

/* A shard name from an index: a relative path that stays in the folder. */
static bool safe_shard_name(const char *s) {
    if (!*s || *s == '/') return false;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && !strncmp(p, "..", 2)) return false;
        p += n + (p[n] == '/');
    }
    return true;
}

static int ckpt_read_index(ckpt *c, const char *index) {
    json_t *j = sq_json_load(index);
    if (!j) return -1;
    json_t *map = json_object_get(j, "weight_map");
    int rc = 0;
    if (!json_is_object(map) || !json_object_size(map)) {
        rc = sq_err("%s: no \"weight_map\" object naming each tensor's shard", index);
        goto done;
    }
    c->e = sq_calloc(json_object_size(map), sizeof *c->e);
    if (!c->e) goto fail;
    const char *name;
    json_t *file;
    size_t folder = dir_len(index), listed = 0;
    json_object_foreach(map, name, file) {
        if (!json_is_string(file) || !safe_shard_name(json_string_value(file))) {
            rc = sq_err("%s: weight_map[\"%s\"]: expected the name of a shard file in the index's folder",
                        index, name);
            goto done;
        }
        const char *f = json_string_value(file);
        char *path = join(index, folder, f);
        if (!path) goto fail;
        int k = 0;
        while (k < c->n_files && strcmp(c->files[k], path)) k++;
        if (k < c->n_files) {
            free(path);
        } else if (ckpt_add_file(c, path)) {
            rc = sq_err_ctx("%s: shard %s", index, f);
            goto done;
        }
        const sq_tensor *t = sq_st_find(c->st[k], name);
        if (!t) {
            rc = sq_err("%s: weight_map puts %s in %s, which does not hold it", index, name, f);
            goto done;
        }
        c->e[c->n++] = (ckpt_entry){t, c->files[k]};
    }
    /* Every tensor of every shard listed, where the index says. */
    for (int k = 0; k < c->n_files; k++) listed += sq_st_count(c->st[k]);
    for (int k = 0; k < c->n_files && listed != (size_t)c->n; k++)
        for (size_t i = 0; i < sq_st_count(c->st[k]); i++) {
            const sq_tensor *t = sq_st_tensor(c->st[k], i);
            json_t *f = json_object_get(map, t->name);
            char *path = f ? join(index, folder, json_string_value(f)) : NULL;
            bool there = path && !strcmp(path, c->files[k]);
            free(path);
            if (!there) {
                rc = sq_err("%s: %s holds %s, which the weight_map does not put there", index, c->files[k],
                            t->name);
                goto done;
            }
        }
    goto done;
fail:
    rc = -1;
done:
    json_decref(j);
    return rc;
}

static int ckpt_read(const char *weights, ckpt *c) {
    memset(c, 0, sizeof *c);
    int rc;
    if (ends_with(weights, ".index.json")) {
        rc = ckpt_read_index(c, weights);
    } else {
        char *path = sq_strdup(weights);
        rc = path ? ckpt_add_file(c, path) : -1;
        if (!rc) {
            c->e = sq_calloc(sq_st_count(c->st[0]) ? sq_st_count(c->st[0]) : 1, sizeof *c->e);
            if (!c->e) rc = -1;
            for (size_t i = 0; !rc && i < sq_st_count(c->st[0]); i++)
                c->e[c->n++] = (ckpt_entry){sq_st_tensor(c->st[0], i), c->files[0]};
        }
    }
    if (rc) ckpt_free(c);
    return rc;
}

/* transformers' "legacy" renaming (conversion_mapping.py): checkpoints
 * ported from TensorFlow, google-bert/bert-base-uncased among them, call
 * LayerNorm's parameters gamma and beta. */
static bool legacy_name(const char *name, char *out, size_t size) {
    static const char *const from[] = {"LayerNorm.gamma", "LayerNorm.beta"};
    static const char *const to[] = {"LayerNorm.weight", "LayerNorm.bias"};
    for (int i = 0; i < 2; i++) {
        const char *at = strstr(name, from[i]);
        if (!at) continue;
        snprintf(out, size, "%.*s%s%s", (int)(at - name), name, to[i], at + strlen(from[i]));
        return true;
    }
    snprintf(out, size, "%s", name);
    return false;
}

static int table_index(const sq_model *m, const char *name) {
    const sq_param_info *p = sq_model_find(m, name);
    return p ? (int)(p - m->table) : -1;
}

/* The part of an ignored name its group is shown by: "cls" for
 * "cls.predictions.bias", "bert.pooler" for "bert.pooler.dense.weight". */
static size_t group_len(const char *name) {
    size_t skip = strncmp(name, "bert.", 5) ? 0 : 5;
    return skip + strcspn(name + skip, ".");
}

static void summarise_ignored(const ckpt *c, const bool *used, sq_load_info *info) {
    size_t k = 0, size = sizeof info->ignored_names;
    info->ignored_names[0] = 0;
    for (int i = 0; i < c->n; i++) {
        if (used[i]) continue;
        const char *name = c->e[i].t->name;
        size_t g = group_len(name);
        bool seen = false;
        int count = 0;
        for (int j = 0; j < c->n; j++) {
            if (used[j] || strncmp(c->e[j].t->name, name, g) || group_len(c->e[j].t->name) != g) continue;
            if (j < i) seen = true;
            count++;
        }
        if (seen) continue;
        char item[128];
        if (count == 1) snprintf(item, sizeof item, "%s", name);
        else snprintf(item, sizeof item, "%.*s.* (%d)", (int)g, name, count);
        if (k + strlen(item) + 8 >= size) {
            snprintf(info->ignored_names + k, size - k, "%s...", k ? ", " : "");
            return;
        }
        k += (size_t)snprintf(info->ignored_names + k, size - k, "%s%s", k ? ", " : "", item);
    }
}

static int load_tensor(sq_model *m, int i, const ckpt_entry *e) {
    const sq_param_info *p = &m->table[i];
    const sq_tensor *t = e->t;
    if (t->dtype != SQ_F32 && t->dtype != SQ_F16 && t->dtype != SQ_BF16)
        return sq_err("%s: %s: dtype %s is not F32, F16 or BF16 (convert the checkpoint's floats)", e->file,
                      t->name, sq_dtype_name(t->dtype));
    bool same = t->ndim == p->ndim && t->shape[0] == p->shape[0] && (p->ndim == 1 || t->shape[1] == p->shape[1]);
    if (!same) {
        char want[48], got[96] = "";
        if (p->ndim == 1) snprintf(want, sizeof want, "[%lld]", (long long)p->shape[0]);
        else snprintf(want, sizeof want, "[%lld, %lld]", (long long)p->shape[0], (long long)p->shape[1]);
        size_t k = 0;
        for (int d = 0; d < t->ndim && k + 24 < sizeof got; d++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        return sq_err("%s: %s: shape [%s] does not match the config's %s", e->file, t->name, got, want);
    }
    if (sq_tensor_to_f32(t, m->params + p->offset)) return sq_err_ctx("%s: %s", e->file, t->name);
    return 0;
}

int sq_model_load_hf(sq_model *m, const char *init, uint64_t seed, sq_load_info *info) {
    sq_load_info scratch;
    if (!info) info = &scratch;
    memset(info, 0, sizeof *info);
    char *weights = weights_path(init);
    if (!weights) return -1;
    ckpt c;
    int rc = ckpt_read(weights, &c);
    free(weights);
    if (rc) return -1;
    int *src = sq_malloc((size_t)m->n_tensors * sizeof *src);
    bool *used = sq_calloc((size_t)(c.n ? c.n : 1), sizeof *used);
    if (!src || !used) goto fail;
    for (int i = 0; i < m->n_tensors; i++) src[i] = -1;
    for (int k = 0; k < c.n; k++) {
        char name[sizeof m->table[0].name + 8], prefixed[sizeof name + 5];
        const char *orig = c.e[k].t->name;
        if (strlen(orig) >= sizeof m->table[0].name) continue; /* no parameter has so long a name */
        bool renamed = legacy_name(orig, name, sizeof name);
        int i = table_index(m, name);
        bool added = false;
        if (i < 0) {
            snprintf(prefixed, sizeof prefixed, "bert.%s", name);
            i = table_index(m, prefixed);
            added = i >= 0;
        }
        if (i < 0) continue;
        if (src[i] >= 0) {
            rc = sq_err("%s: both %s and %s are %s", c.e[k].file, c.e[src[i]].t->name, orig, m->table[i].name);
            goto done;
        }
        src[i] = k;
        used[k] = true;
        info->renamed += renamed;
        info->prefixed += added;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        if (src[i] < 0) {
            if (m->table[i].layer == m->cfg.layers) { /* qa_outputs: a backbone-only checkpoint */
                sq_model_init_tensor(m, i, seed);
                info->qa_initialised = true;
                continue;
            }
            rc = sq_err("%s: missing tensor %s", init, m->table[i].name);
            goto done;
        }
        if (load_tensor(m, i, &c.e[src[i]])) goto fail;
        info->loaded++;
        info->dtypes |= 1u << c.e[src[i]].t->dtype;
    }
    info->files = c.n_files;
    info->ignored = c.n - info->loaded;
    summarise_ignored(&c, used, info);
    goto done;
fail:
    rc = -1;
done:
    free(src);
    free(used);
    ckpt_free(&c);
    return rc;
}

int sq_model_load(sq_model *m, const char *path, uint64_t seed, bool *qa_initialised) {
    sq_load_info info;
    int rc = sq_model_load_hf(m, path, seed, &info);
    *qa_initialised = info.qa_initialised;
    return rc;
}

bool sq_load_info_notable(const sq_load_info *info) {
    return info->renamed || info->prefixed || info->ignored || info->qa_initialised;
}

void sq_load_info_format(const sq_load_info *info, char *buf, size_t size) {
    size_t k = 0;
#define PUT(...) (k += (size_t)snprintf(buf + k, k < size ? size - k : 0, __VA_ARGS__))
    PUT("%d tensors (", info->loaded);
    int nd = 0;
    for (int d = 0; d < SQ_DTYPE_COUNT; d++)
        if (info->dtypes & (1u << d)) PUT("%s%s", nd++ ? ", " : "", sq_dtype_name((sq_dtype)d));
    PUT(")");
    if (info->files > 1) PUT(" from %d shards", info->files);
    if (info->renamed) PUT("; LayerNorm gamma/beta read as weight/bias (%d)", info->renamed);
    if (info->prefixed) PUT("; names without \"bert.\" (%d, BertModel)", info->prefixed);
    if (info->ignored) PUT("; ignored %d: %s", info->ignored, info->ignored_names);
    if (info->qa_initialised) PUT("; no qa_outputs; initialised as HF does");
#undef PUT
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
    char *weights = weights_path(init);
    if (!weights) return -1;
    char *beside = join(weights, dir_len(weights), "config.json");
    int rc = -1;
    if (!beside) goto done;
    if (exists(beside)) {
        rc = config_file(beside, out);
        goto done;
    }
    /* A lone file: sq's own checkpoints carry the config in their metadata
     * (for an index, the first shard's). */
    ckpt c;
    if (ckpt_read(weights, &c)) goto done;
    const char *meta = sq_st_meta(c.st[0], "config");
    rc = meta ? sq_config_parse(c.files[0], meta, strlen(meta), out)
              : sq_err("%s: no config (give --config, put config.json beside it, or a \"config\" metadata entry)",
                       init);
    ckpt_free(&c);
done:
    free(beside);
    free(weights);
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
