/* The BERT question-answering model as every sq-train backend sees it
 * (HuggingFace BertForQuestionAnswering): the config, the parameter table and
 * ONE contiguous fp32 parameter buffer in HF order, with gradients and AdamW
 * moments mirroring it (llm.c style), so an optimizer step, an all-reduce
 * bucket or a ZeRO shard is a plain [begin, end) range of floats, and a
 * checkpoint is the table plus the bytes.
 *
 * A backend (CPU here, CUDA in train/cuda/) owns the activations, allocated
 * once for the largest micro-batch, and runs forward/backward/AdamW on its
 * copy of the buffers; pull/push move them to and from the host mirrors in
 * sq_model.  sq_model owns its table and host buffers. */
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

/* A micro-batch, padded to its longest feature T.  Attention masks are
 * prefixes: token t of row b is real iff t < len[b].  B may be 0 (a last
 * partial batch smaller than the number of micro-batches): forward gives
 * loss 0 and backward adds nothing but still calls the hook for every
 * layer, so that ranks' collectives stay matched. */
typedef struct {
    int B, T;
    int32_t *ids, *types;  /* B*T */
    int32_t *len;          /* B */
    int32_t *start, *end;  /* B; clamped to [0, T] by the loss, T ignored (HF) */
    uint32_t *sample;      /* B: global sample index, keys dropout */
    uint32_t step;         /* optimizer step, keys dropout */
    uint64_t seed;         /* dropout seed (--seed) */
    /* The loss of the global batch is (sum of CE(start) / n_start + sum of
     * CE(end) / n_end) / 2, with n_* counted over the whole global batch, so
     * that splitting it into micro-batches and ranks changes nothing. */
    int n_start, n_end;
    /* HF pads every feature and lets padded positions compete in the
     * softmax; sq-train masks them (logit -inf) so that a result does not
     * depend on padding.  replay sets this to reproduce HF exactly. */
    bool hf_padded_logits;
} sq_batch;

int sq_batch_alloc(sq_batch *b, int B, int T);
void sq_batch_free(sq_batch *b);

/* Called during backward when the gradients of a layer's tensors ([begin,
 * end) of the flat buffer) are complete for this micro-batch: QA head first,
 * then layers L-1..0, then the embeddings.  Where DDP starts a bucket's
 * all-reduce or ZeRO-2 its reduce-scatter. */
typedef struct {
    void (*ready)(void *ctx, int layer, size_t begin, size_t end);
    void *ctx;
} sq_grad_hook;

/* Called during a forward_hooked pass just before a layer's parameters
 * ([begin, end) of the flat buffer) are first read: the embeddings (-1),
 * layers 0..L-1, then the QA head (L) -- for an empty batch too, so that
 * ranks' collectives stay matched.  Where fsdp gathers that layer (and starts
 * the next one's gather) and drops the previous one.  A non-zero return (the
 * message set with sq_err) ends the forward with -1. */
typedef struct {
    int (*before)(void *ctx, int layer, size_t begin, size_t end);
    void *ctx;
} sq_layer_hook;

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    long t;            /* 1-based step, for bias correction */
    double grad_scale; /* multiplies every gradient first (clipping) */
} sq_adamw_args;

enum { SQ_BUF_PARAMS = 1, SQ_BUF_GRADS = 2, SQ_BUF_MOMENTS = 4 };

struct sq_trace; /* trace.h */

typedef struct sq_backend sq_backend;
struct sq_backend {
    const char *name;
    sq_model *model;
    void *impl;
    /* Training forward (dropout on) or inference; *loss is this micro-batch's
     * share of the global loss (see sq_batch).  Labels are ignored when loss
     * is NULL. */
    int (*forward)(sq_backend *be, const sq_batch *b, bool train, double *loss);
    /* Start/end logits of the last forward, B*T each, padded positions -inf
     * unless hf_padded_logits. */
    int (*logits)(sq_backend *be, float *start, float *end);
    /* Accumulates the gradients of the last forward's batch into grads. */
    int (*backward)(sq_backend *be, const sq_batch *b, const sq_grad_hook *hook);
    int (*zero_grads)(sq_backend *be);
    /* Sum of squared gradients over [begin, end), in double. */
    int (*grad_sumsq)(sq_backend *be, size_t begin, size_t end, double *out);
    /* PyTorch AdamW on [begin, end) (a ZeRO shard is such a range). */
    int (*adamw)(sq_backend *be, const sq_adamw_args *a, size_t begin, size_t end);
    /* Copies buffers (SQ_BUF_* bits) backend -> host mirrors / host -> backend. */
    int (*pull)(sq_backend *be, int bufs);
    int (*push)(sq_backend *be, int bufs);
    void (*free)(sq_backend *be);
    /* Optional (NULL: the host mirrors are the backend's buffers): the
     * backend's own copy of one buffer (SQ_BUF_PARAMS or SQ_BUF_GRADS;
     * device memory on CUDA), which the nccl communication layer moves in
     * place (dist.h). */
    float *(*buffer)(sq_backend *be, int buf);
    /* Optional (NULL: its work is finished when a call returns, as on the
     * CPU): the CUDA stream (a cudaStream_t) the backend queues all its work
     * on, in order.  The contract with the nccl layer (comm.h bind_stream):
     * a collective on buffer() starts after the work queued on this stream
     * when it is issued (so a grad hook may issue it as soon as the layer's
     * kernels are queued, and a gather may follow an adamw still running),
     * and the work queued after the layer's wait starts after it (so
     * grad_sumsq, adamw and forward see what it wrote).  Between issue and
     * wait the backend's queued work must not touch the range moved. */
    void *(*stream)(sq_backend *be);
    /* Optional (NULL: nothing derives from the parameters): parameters
     * [begin, end) of buffer(SQ_BUF_PARAMS) were written in place (an
     * all-gather, after its wait); the backend refreshes what it derives
     * from them (the CUDA backend's bf16 shadow), queued on stream. */
    int (*params_changed)(sq_backend *be, size_t begin, size_t end);
    /* Optional (NULL: the backend has no per-layer forward hook, and fsdp
     * gathers every layer before forward): forward calling hook before each
     * layer (hook NULL: forward itself). */
    int (*forward_hooked)(sq_backend *be, const sq_batch *b, bool train, double *loss, const sq_layer_hook *hook);
    /* Optional (NULL: host phases are the whole profile, as on the CPU): the
     * --profile trace (trace.h) the backend adds its kernel spans to, on
     * track "gpu", while the trace records; NULL detaches it (call that
     * before sq_trace_close). */
    int (*set_trace)(sq_backend *be, struct sq_trace *t);
    /* 0: what the backend runs depends on a batch's shape only through its
     * sizes.  Otherwise the token-count granularity of choices it makes per
     * shape on first meeting it (the CUDA backend's cuBLASLt algorithms, and
     * the kernels they pick, loaded lazily by the driver), which
     * sq_backend_warm (backend.h) settles before the first step. */
    int shape_bucket;
};

/* The CPU reference backend (OpenBLAS + OpenMP), activations sized for
 * micro-batches up to max_B x max_T. */
int sq_backend_cpu_new(sq_model *m, int max_B, int max_T, sq_backend **out);
/* The CUDA backend, when train/cuda/ provides it (weak: NULL otherwise). */
int sq_backend_cuda_new(sq_model *m, int max_B, int max_T, sq_backend **out) __attribute__((weak));

/* Training FLOPs of one row of n real tokens: the encoder's matmuls and
 * attention, forward and backward counted as 3x forward (the formula of
 * ../shared/tools/torch_baseline.py, so that sq's MFU compares with it). */
double sq_model_row_flops(const sq_bert_config *c, double n);

/* HF get_linear_schedule_with_warmup at 0-based step s. */
double sq_lr_at(double lr, long s, long warmup, long total);
/* torch.nn.utils.clip_grad_norm_: the factor gradients are multiplied by. */
double sq_clip_coef(double grad_norm, double max_norm);

#endif
