/* The BERT question-answering model as every sq-train backend sees it
 * (HuggingFace BertForQuestionAnswering): the config, the parameter table and
 * ONE contiguous fp32 parameter buffer in HF order, with gradients and AdamW
 * moments mirroring it (llm.c style), so an optimizer step, an all-reduce
 * bucket or a ZeRO shard is a plain [begin, end) range of floats, and a
 * checkpoint is the table plus the bytes.
 *
 * sq_model owns its table and host buffers.  What runs the model on them (the
 * backends, the batch they take) is core/backend.h; the optimizer's recipe
 * is core/optim.h. */
#ifndef SQ_TRAIN_MODEL_H
#define SQ_TRAIN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int vocab_size, hidden, layers, heads, intermediate, max_position, type_vocab;
    int pad_token_id;
    double layer_norm_eps, initializer_range;
    double hidden_dropout, attention_dropout;
} sq_bert_config;

/* Parses an HF config.json text; hidden_act must be "gelu" (exact erf GELU)
 * and position_embedding_type "absolute".  name is used in errors. */
int sq_config_parse(const char *name, const char *json, size_t len, sq_bert_config *out);
/* The config.json that BertForQuestionAnswering.from_pretrained reads;
 * malloc'd, caller frees. */
char *sq_config_to_json(const sq_bert_config *c);

typedef struct {
    char name[80];        /* HF name: "bert.encoder.layer.3.attention.self.query.weight" */
    int ndim;
    int64_t shape[2];
    size_t offset, numel; /* in floats, within the flat buffer */
    bool decay;           /* AdamW weight decay: not for biases and LayerNorm (HF run_qa) */
    int layer;            /* -1 embeddings, 0..L-1 encoder layers, L the QA head */
} sq_param_info;

/* Pointers into the flat buffer (params, grads, or moments alike). */
typedef struct {
    float *qw, *qb, *kw, *kb, *vw, *vb, *aow, *aob, *ln1w, *ln1b;
    float *iw, *ib, *ow, *ob, *ln2w, *ln2b;
} sq_layer_params;

typedef struct {
    float *wte, *wpe, *wtt, *lnew, *lneb;
    sq_layer_params *layer; /* [layers] */
    float *qaw, *qab;
} sq_param_ptrs;

typedef struct {
    sq_bert_config cfg;
    int n_tensors;
    sq_param_info *table; /* HF named_parameters() order */
    size_t n_params;      /* floats */
    float *params, *grads, *m, *v; /* host, n_params each; grads/m/v NULL when inference only */
} sq_model;

/* Builds the table and allocates the host buffers (params zeroed; with
 * training, grads and moments too). */
int sq_model_new(const sq_bert_config *cfg, bool training, sq_model **out);
void sq_model_free(sq_model *m);
const sq_param_info *sq_model_find(const sq_model *m, const char *name);
/* Pointers of buf (params, grads, m or v of m) by tensor. */
int sq_model_ptrs(const sq_model *m, float *buf, sq_param_ptrs *out);
void sq_param_ptrs_free(sq_param_ptrs *p);
/* [begin, end) of a layer's tensors (-1 embeddings, L the QA head): contiguous
 * because the table is in HF order. */
void sq_model_layer_range(const sq_model *m, int layer, size_t *begin, size_t *end);

/* HF _init_weights from seed: Linear and Embedding weights ~ N(0,
 * initializer_range), the padding row of word_embeddings zero, biases 0,
 * LayerNorm 1/0.  The normals come from Philox keyed by (seed, tensor). */
void sq_model_init_tensor(sq_model *m, int tensor, uint64_t seed);
void sq_model_init(sq_model *m, uint64_t seed);
/* What sq_model_load_hf read, for the one line a command prints about it. */
typedef struct {
    int files;          /* safetensors files read: 1, or the shards of an index */
    int loaded;         /* tensors of the table found in the checkpoint */
    unsigned dtypes;    /* bit (1 << sq_dtype) for each dtype loaded */
    int renamed;        /* LayerNorm.gamma / .beta read as .weight / .bias */
    int prefixed;       /* names read without their "bert." prefix (BertModel) */
    int ignored;        /* tensors the model has no place for (pooler, cls.*, buffers) */
    char ignored_names[200]; /* a summary: "pooler.* (2), cls.* (6), embeddings.position_ids" */
    bool qa_initialised;     /* no qa_outputs: initialised from the seed as HF does */
} sq_load_info;

/* Loads what transformers' BertForQuestionAnswering.from_pretrained loads.
 * init is a safetensors file, a model.safetensors.index.json (shards), or an
 * HF model folder (config.json with model.safetensors or its index).  Names
 * as HF maps them (transformers' conversion_mapping "legacy" renamings and
 * base_model_prefix handling): "LayerNorm.gamma"/".beta" are ".weight"/".bias",
 * and a name found with "bert." in front is the model's (BertModel has no
 * prefix; BertForPreTraining, BertForMaskedLM and BertForQuestionAnswering
 * have it).  Tensors with no place in the model (pooler, cls.*, position_ids)
 * are ignored; a missing qa_outputs is initialised from seed; every other
 * tensor must be there, F32, F16 or BF16, with the config's shape.  Two
 * checkpoint tensors for one parameter are an error.  info may be NULL. */
int sq_model_load_hf(sq_model *m, const char *init, uint64_t seed, sq_load_info *info);
/* The same; *qa_initialised tells whether the head was missing. */
int sq_model_load(sq_model *m, const char *path, uint64_t seed, bool *qa_initialised);
/* One line for the user about a load: "103 tensors (BF16) from 2 shards;
 * LayerNorm gamma/beta read as weight/bias (25); ...". */
void sq_load_info_format(const sq_load_info *info, char *buf, size_t size);
/* Whether a load did more than read BertForQuestionAnswering's names. */
bool sq_load_info_notable(const sq_load_info *info);
/* Reads the config for --init: config if not NULL, else config.json in the
 * folder init names or beside the file it names, else the safetensors
 * metadata "config" of its weights (init may be NULL when config is not). */
int sq_model_config_for(const char *init, const char *config, sq_bert_config *out);
/* Writes params as F32 safetensors with HF names and the config in the
 * metadata. */
int sq_model_save(const sq_model *m, const float *params, const char *path);

/* Training FLOPs of one row of n real tokens: the encoder's matmuls and
 * attention, forward and backward counted as 3x forward (the formula of
 * ../shared/tools/torch_baseline.py, so that sq's MFU compares with it). */
double sq_model_row_flops(const sq_bert_config *c, double n);

#endif
