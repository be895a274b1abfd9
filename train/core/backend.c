/* --device: the CPU reference, or the CUDA backend when train/cuda/ links
 * one in (sq_backend_cuda_new is a weak symbol, NULL otherwise). */
#include "core/backend.h"
#include "cuda/cuda_backend.h"

#include "sq/error.h"

#include <cblas.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>

void sq_train_set_threads(int n) {
    /* OpenMP owns the threads; OpenBLAS runs single-threaded inside them
     * (cpu/layers.h sgemm_rows). */
    openblas_set_num_threads(1);
    if (n > 0) omp_set_num_threads(n);
}

const char *sq_default_device(void) {
    return sq_cuda_device_count && sq_cuda_device_count() > 0 ? "cuda" : "cpu";
}

int sq_backend_open(const char *device, sq_model *m, int max_B, int max_T, sq_backend **out) {
    if (!strcmp(device, "cpu")) return sq_backend_cpu_new(m, max_B, max_T, out);
    if (!strcmp(device, "cuda")) {
        if (!sq_backend_cuda_new) return sq_err("--device cuda: this sq-train was built without the CUDA backend");
        return sq_backend_cuda_new(m, max_B, max_T, out);
    }
    return sq_err("--device: \"%s\" is not cpu or cuda", device);
}

/* Row lengths summing to n over min(B, n) rows, none above T. */
static void warm_batch(sq_batch *b, const sq_bert_config *c, int B, int T, int n, int k) {
    int rows = n < B ? n : B, longest = (n + rows - 1) / rows;
    b->B = rows;
    b->T = longest <= T ? longest : T;
    for (int r = 0; r < rows; r++) {
        b->len[r] = n / rows + (r < n % rows);
        for (int t = 0; t < b->T; t++) {
            size_t i = (size_t)r * b->T + t;
            b->ids[i] = t < b->len[r] ? 1 + (r * 131 + t * 7 + k) % (c->vocab_size - 1) : c->pad_token_id;
            b->types[i] = c->type_vocab > 1 && t >= b->len[r] / 2;
        }
        b->start[r] = b->len[r] / 3;
        b->end[r] = b->len[r] / 2;
        b->sample[r] = (uint32_t)r;
    }
    b->step = (uint32_t)k;
    b->seed = 0;
    b->n_start = b->n_end = rows;
    b->hf_padded_logits = false;
}

int sq_backend_warm(sq_backend *be, int max_B, int max_T, int *n_shapes) {
    const char *env = getenv("SQ_WARM_SHAPES");
    int bucket = be->shape_bucket;
    if (n_shapes) *n_shapes = 0;
    if (bucket <= 0 || !be->model->grads || (env && !strcmp(env, "0"))) return 0;
    long max_n = (long)max_B * max_T;
    sq_batch b;
    if (sq_batch_alloc(&b, max_B, max_T)) return -1;
    int rc = 0, k = 0;
    /* n at the top of each bucket, where the backend chooses for the bucket */
    for (long n = bucket; !rc; n += bucket, k++) {
        if (n > max_n) n = max_n;
        double loss;
        warm_batch(&b, &be->model->cfg, max_B, max_T, (int)n, k);
        rc = be->forward(be, &b, true, &loss) || be->backward(be, &b, NULL) ? -1 : 0;
        if (n == max_n) break;
    }
    if (!rc) rc = be->zero_grads(be);
    if (!rc && n_shapes) *n_shapes = k + 1;
    if (rc) sq_err_ctx("warming up the backend's shapes");
    sq_batch_free(&b);
    return rc;
}

bool sq_backend_defer_numbers(sq_backend *be) {
    const char *env = getenv("SQ_DEVICE_NORM");
    be->deferred = be->adamw_clipped && be->read_numbers && env && !strcmp(env, "1");
    return be->deferred;
}
