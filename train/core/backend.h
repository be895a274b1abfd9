/* The backend interface: what runs the model (core/model.h) on a batch
 * (core/batch.h) -- forward, backward with its per-layer hooks, the
 * optimizer's kernels and the moves between the backend's buffers and the
 * host mirrors -- its two implementations (train/cpu/, train/cuda/) and
 * their selection by --device.
 *
 * A backend owns its activations, allocated once for the largest
 * micro-batch, and runs forward/backward/AdamW on its copy of the model's
 * buffers; pull/push move them to and from the host mirrors in sq_model.
 * Every backend checks a batch with sq_batch_check (core/batch.h). */
#ifndef SQ_TRAIN_BACKEND_H
#define SQ_TRAIN_BACKEND_H

#include "core/batch.h"
#include "core/model.h"

#include <stdbool.h>
#include <stddef.h>

/* Called during backward when the gradients of a layer's tensors ([begin,
 * end) of the flat buffer) are complete for this micro-batch: QA head first,
 * then layers L-1..0, then the embeddings.  Where DDP starts a bucket's
 * all-reduce or ZeRO-2 its reduce-scatter.  A non-zero return (the message
 * set with sq_err) ends the backward with -1. */
typedef struct {
    int (*ready)(void *ctx, int layer, size_t begin, size_t end);
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

enum { SQ_BUF_PARAMS = 1, SQ_BUF_GRADS = 2, SQ_BUF_MOMENTS = 4 };

struct sq_trace;    /* report/trace.h */
struct sq_adamw_args; /* core/optim.h */

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
    int (*adamw)(sq_backend *be, const struct sq_adamw_args *a, size_t begin, size_t end);
    /* Copies buffers (SQ_BUF_* bits) backend -> host mirrors / host -> backend. */
    int (*pull)(sq_backend *be, int bufs);
    int (*push)(sq_backend *be, int bufs);
    void (*free)(sq_backend *be);
    /* Optional (NULL: the host mirrors are the backend's buffers): the
     * backend's own copy of one buffer (SQ_BUF_PARAMS or SQ_BUF_GRADS;
     * device memory on CUDA), which the nccl communication layer moves in
     * place (dist/dist.h). */
    float *(*buffer)(sq_backend *be, int buf);
    /* Optional (NULL: its work is finished when a call returns, as on the
     * CPU): the CUDA stream (a cudaStream_t) the backend queues all its work
     * on, in order.  The contract with the nccl layer (dist/comm.h bind_stream):
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
     * --profile trace (report/trace.h) the backend adds its kernel spans to, on
     * track "gpu", while the trace records; NULL detaches it (call that
     * before sq_trace_close). */
    int (*set_trace)(sq_backend *be, struct sq_trace *t);
    /* 0: what the backend runs depends on a batch's shape only through its
     * sizes.  Otherwise the token-count granularity of choices it makes per
     * shape on first meeting it (the CUDA backend's cuBLASLt algorithms, and
     * the kernels they pick, loaded lazily by the driver), which
     * sq_backend_warm (below) settles before the first step. */
    int shape_bucket;
    /* Optional (NULL: the loss and the gradient norm reach the host within
     * every step, as on the CPU): a step that queues its work without
     * waiting for it, turned on by setting deferred (sq_backend_defer_numbers)
     * once the training steps start.  Then forward(train, loss != NULL) adds
     * the micro-batch's loss to a sum kept on the device and sets *loss to
     * NAN; adamw_clipped ends the step there: the global norm of the whole
     * gradient buffer, the clip factor (sq_clip_coef of max_norm; none when
     * max_norm <= 0) and AdamW scaled by it (a->grad_scale is ignored) -- a
     * non-finite norm skips that update and every later one, so the
     * parameters stay as the host step, which refuses it, leaves them;
     * read_numbers waits for the device and returns the last such step's
     * loss (summed over its forwards) and norm, and the first step (a->t)
     * whose norm was not finite with that norm (*bad_step 0: none).  The
     * numbers and the updates are bitwise the host-driven step's. */
    bool deferred;
    int (*adamw_clipped)(sq_backend *be, const struct sq_adamw_args *a, double max_norm);
    int (*read_numbers)(sq_backend *be, double *loss, double *grad_norm, long *bad_step, double *bad_norm);
};

/* The CPU reference backend (OpenBLAS + OpenMP), activations sized for
 * micro-batches up to max_B x max_T. */
int sq_backend_cpu_new(sq_model *m, int max_B, int max_T, sq_backend **out);
/* The CUDA backend, when train/cuda/ provides it (weak: NULL otherwise). */
int sq_backend_cuda_new(sq_model *m, int max_B, int max_T, sq_backend **out) __attribute__((weak));

/* OpenMP threads (0: the default, all cores); OpenBLAS single-threaded. */
void sq_train_set_threads(int n);
/* "cuda" when this build has the CUDA backend and a GPU is present, else "cpu". */
const char *sq_default_device(void);
int sq_backend_open(const char *device, sq_model *m, int max_B, int max_T, sq_backend **out);

/* Meets every shape bucket of be->shape_bucket tokens up to max_B x max_T
 * before training: one training forward and backward of a synthetic
 * micro-batch per bucket, then zero_grads.  A step that meets a new bucket
 * otherwise pays for the backend's per-shape choices (on an H100, SQuAD
 * steps that did took up to twice the median).  Parameters and moments are
 * not touched, and the choices depend on the shape alone, so training
 * computes the same bits with or without it.  Nothing to do (*n_shapes 0)
 * when shape_bucket is 0, the model has no gradients, or SQ_WARM_SHAPES=0.
 * n_shapes may be NULL. */
int sq_backend_warm(sq_backend *be, int max_B, int max_T, int *n_shapes);

/* Turns on be->deferred when the backend offers it and SQ_DEVICE_NORM=1
 * asks for it (the default is off until a GPU run shows it faster); the
 * caller then reads the step's numbers with sq_optimizer_read (core/optim.h)
 * where it reports or saves them.  Returns be->deferred. */
bool sq_backend_defer_numbers(sq_backend *be);

#endif
