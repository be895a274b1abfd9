/* The memory report printed at start: what each rank holds under each
 * strategy (tests check that the sharded parts are 1/N), and, honestly, what
 * the CPU backend allocates anyway: it keeps full parameter, gradient and
 * moment buffers on every rank (sq_model's host buffers), so sharding shows
 * there only as pages never touched (the moments outside the shard) and as
 * values never used (fsdp's parameters outside the gather windows are NaN). */
#include "dist/dist_internal.h"

#include "sq/cli.h"

#include <stdio.h>

typedef struct {
    double params, grads, optimizer, activations;
} holding;

/* Activations as the CPU backend plans them for its largest micro-batch
 * (cpu_backend.c plan(): forward values kept for backward, plus backward
 * scratch), in bytes. */
static double activations(const sq_bert_config *c, int rows, int T) {
    double N = (double)rows * T, C = c->hidden, I = c->intermediate, att = (double)rows * c->heads * T * T;
    double per_layer = 8 * N * C + 2 * N * I + att * (c->attention_dropout > 0 ? 2 : 1) + 4 * N;
    double floats = 2 * N * C + 2 * N + c->layers * per_layer + 6 * N + N * C + 8 * N * C + N * I + (double)T * T;
    return 4 * floats;
}

/* Bytes of the largest layer (fsdp's unit of gathering). */
static double largest_layer(const sq_dist *d) {
    double layer = 0;
    for (int l = -1; l <= d->model_layers; l++) {
        size_t lo, hi;
        sq_model_layer_range(d->be->model, l, &lo, &hi);
        if (4.0 * (double)(hi - lo) > layer) layer = 4.0 * (double)(hi - lo);
    }
    return layer;
}

static holding holds(const sq_dist *d, sq_strategy s, int rank, double act) {
    double P = 4.0 * (double)d->n, own = 4.0 * (double)(d->shard[rank + 1] - d->shard[rank]);
    double layer = largest_layer(d);
    /* Beyond its shard: zero2 a bucket in flight, fsdp the layer in use and
     * the prefetched one (parameters) and the layer just computed (gradients). */
    double rest = P - own, bucket = (double)d->bucket_bytes < rest ? (double)d->bucket_bytes : rest;
    double two = 2 * layer < rest ? 2 * layer : rest, one = layer < rest ? layer : rest;
    switch (s) {
    case SQ_SINGLE:
    case SQ_DDP: return (holding){P, P, 2 * P, act};
    case SQ_ZERO1: return (holding){P, P, 2 * own, act};
    case SQ_ZERO2: return (holding){P, own + bucket, 2 * own, act};
    case SQ_FSDP: return (holding){own + two, own + one, 2 * own, act};
    }
    return (holding){0, 0, 0, 0};
}

static double total(holding h) { return h.params + h.grads + h.optimizer + h.activations; }

void sq_dist_mem_report(const sq_dist *d, int micro_rows, int max_T, bool quiet) {
    if (quiet) return;
    int r = d->launch.rank, W = d->launch.world;
    double act = activations(&d->be->model->cfg, micro_rows, max_T), P = 4.0 * (double)d->n;
    holding h = holds(d, d->strat, r, act);
    double shard = sq_dist_sharded(d) ? 4.0 * (double)(d->shard[r + 1] - d->shard[r]) : P;
    double window = d->strat == SQ_ZERO2 ? (double)d->bucket_bytes : d->strat == SQ_FSDP ? largest_layer(d) : 0;
    sq_info("memory: rank %d/%d %s holds params=%.0f grads=%.0f optimizer=%.0f activations=%.0f total=%.0f bytes "
            "(%.1f MiB); its part of the flat buffer shard=%.0f of %.0f, window=%.0f", r, W,
            sq_strategy_name(d->strat), h.params, h.grads, h.optimizer, h.activations, total(h), total(h) / 1048576,
            shard, P, window);
    /* The CUDA backend too (device buffers as the host mirrors); only host
     * buffers the backend reads itself are poisoned (dist.c poison). */
    if (sq_dist_sharded(d))
        sq_info("memory: rank %d: the %s backend still allocates params=%.0f grads=%.0f optimizer=%.0f bytes; it "
                "never touches the moments outside its shard%s", r, d->be->name, P, P, 2 * P,
                d->strat == SQ_FSDP && d->host && !d->staged ? " and keeps the parameters outside the gather windows NaN"
                                                             : "");
    if (r == 0) {
        char line[512];
        int k = snprintf(line, sizeof line, "memory: per rank at world %d:", W);
        for (sq_strategy s = W > 1 ? SQ_DDP : SQ_SINGLE; s <= SQ_FSDP && k < (int)sizeof line; s++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s %.1f MiB%s", sq_strategy_name(s),
                          total(holds(d, s, 0, act)) / 1048576, s < SQ_FSDP ? "," : "");
        sq_info("%s", line);
    }
}
