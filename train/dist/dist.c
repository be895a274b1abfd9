/* The strategies of dist.h.  Everything is a range of the flat buffer:
 * rank r owns [shard[r], shard[r+1]) (an even split of the floats, so with
 * 3 ranks the shards differ by one), a bucket is the union of consecutive
 * layers' ranges as the backward completes them (the table is in HF order
 * and the backward runs from the QA head down, so the ranges arrive from the
 * top of the buffer down and always join), and a reduce-scatter or
 * all-gather of [lo, hi) moves each rank's part of it.
 *
 * Buffers: with nccl the collectives work in place on the backend's own
 * buffers (sq_backend.buffer: device memory), ordered with its stream
 * (core/backend.h: stream; dist/comm.h: bind_stream), and every all-gather is followed
 * by the backend's params_changed (the CUDA backend's bf16 shadow); with mpi
 * they work on the host mirrors in sq_model, and a backend with memory of
 * its own is staged: gradients and parameters are pulled to the host, moved
 * there, and pushed back (no overlap with backward then). */
#include "dist/dist.h"

#include "dist/dist_internal.h"

#include "cuda/cuda_backend.h"

#include "sq/cli.h"
#include "sq/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sq_strategy_parse(const char *s, sq_strategy *out) {
    static const char *names[] = {"single", "ddp", "zero1", "zero2", "fsdp"};
    for (int i = 0; i < 5; i++) {
        if (!strcmp(s, names[i])) {
            *out = (sq_strategy)i;
            return 0;
        }
    }
    return sq_err("--strategy: '%s' is not single, ddp, zero1, zero2 or fsdp", s);
}

const char *sq_strategy_name(sq_strategy s) {
    static const char *names[] = {"single", "ddp", "zero1", "zero2", "fsdp"};
    return names[s];
}

int sq_dist_launch(sq_launch *l) { return sq_launch_detect(l); }

int sq_dist_open(const sq_dist_opts *o, const char *device, sq_dist **out) {
    sq_dist *d = sq_calloc(1, sizeof *d);
    if (!d) return -1;
    if (sq_launch_detect(&d->launch)) goto fail;
    const char *strat = o->strategy ? o->strategy : d->launch.world > 1 ? "ddp" : "single";
    if (sq_strategy_parse(strat, &d->strat)) goto fail;
    if (d->strat == SQ_SINGLE && d->launch.world > 1) {
        sq_err("--strategy single: %d ranks were started (%s); use ddp, zero1, zero2 or fsdp", d->launch.world,
               d->launch.source);
        goto fail;
    }
    const char *comm = o->comm ? o->comm : !strcmp(device, "cuda") ? "nccl" : "mpi";
    d->bucket_mb = o->bucket_mb > 0 ? o->bucket_mb : 25;
    if (strcmp(comm, "mpi") && strcmp(comm, "nccl")) {
        sq_err("--comm: '%s' is not nccl or mpi", comm);
        goto fail;
    }
    if (!strcmp(comm, "nccl") && strcmp(device, "cuda")) {
        sq_err("--comm nccl needs --device cuda (NCCL moves GPU memory); use --comm mpi on the CPU");
        goto fail;
    }
    /* A rank's GPU by its local rank, for mpi as for nccl (which binds it
     * again), before the backend allocates anything. */
    if (!strcmp(device, "cuda") && sq_cuda_bind_device && sq_cuda_bind_device(d->launch.local_rank)) goto fail;
    int rc;
    if (d->strat == SQ_SINGLE) {
        /* One process moves nothing: no MPI or NCCL to start, even under
         * mpirun -np 1. */
        sq_launch solo = d->launch;
        solo.mpi = false;
        rc = sq_comm_mpi_open(&solo, &d->comm);
    } else if (!strcmp(comm, "mpi")) {
        rc = sq_comm_mpi_open(&d->launch, &d->comm);
    } else {
        rc = sq_comm_nccl_open(&d->launch, o->rendezvous, &d->comm);
    }
    if (rc) goto fail;
    *out = d;
    return 0;
fail:
    sq_dist_close(d);
    return -1;
}

int sq_dist_rank(const sq_dist *d) { return d->launch.rank; }
int sq_dist_world(const sq_dist *d) { return d->launch.world; }
sq_strategy sq_dist_strategy(const sq_dist *d) { return d->strat; }
int sq_dist_barrier(sq_dist *d) { return d->comm->barrier(d->comm); }

bool sq_dist_sharded(const sq_dist *d) { return d->strat >= SQ_ZERO1; }

static void layer_range(const sq_dist *d, int layer, size_t *lo, size_t *hi) {
    sq_model_layer_range(d->be->model, layer, lo, hi);
}

/* Parameters a rank does not own are NaN outside their gather windows in
 * fsdp (host buffers only), so that a read outside a window shows in the
 * result instead of silently using stale values. */
static void poison(sq_dist *d, size_t lo, size_t hi) {
    if (d->strat != SQ_FSDP || !d->host) return;
    float *p = d->P;
    size_t a = d->shard[d->launch.rank], b = d->shard[d->launch.rank + 1];
    for (size_t i = lo; i < hi && i < a; i++) p[i] = NAN;
    for (size_t i = b > lo ? b : lo; i < hi; i++) p[i] = NAN;
}

/* Parameters [lo, hi) of the backend's own buffer were gathered in place:
 * what it derives from them (a bf16 shadow) is refreshed.  Host mirrors
 * need nothing (a staged backend's push refreshes its copy). */
static int changed(sq_dist *d, size_t lo, size_t hi) {
    sq_backend *be = d->be;
    return !d->host && be->params_changed ? be->params_changed(be, lo, hi) : 0;
}

/* With req the call is only started: prefetch/wait_prefetch refresh the
 * range once it has arrived. */
static int gather(sq_dist *d, size_t lo, size_t hi, int *req) {
    sq_comm_split(d->shard, d->launch.world, lo, hi, d->counts);
    if (d->comm->allgather(d->comm, d->P + lo, d->counts, req)) return -1;
    return req ? 0 : changed(d, lo, hi);
}

/* fsdp: a layer's gather started ahead of its use, and its wait. */
static int prefetch(sq_dist *d, int layer) {
    layer_range(d, layer, &d->pre_lo, &d->pre_hi);
    return gather(d, d->pre_lo, d->pre_hi, &d->prefetch);
}

static int wait_prefetch(sq_dist *d) {
    if (d->prefetch < 0) return 0;
    int req = d->prefetch;
    d->prefetch = -1;
    return d->comm->wait(d->comm, req) || changed(d, d->pre_lo, d->pre_hi) ? -1 : 0;
}

static int scatter(sq_dist *d, size_t lo, size_t hi, int *req) {
    sq_comm_split(d->shard, d->launch.world, lo, hi, d->counts);
    size_t own = d->shard[d->launch.rank] > lo ? d->shard[d->launch.rank] : lo;
    if (own > hi) own = hi;
    return d->comm->reduce_scatter(d->comm, d->G + lo, d->G + own, d->counts, req);
}

/* A bucket's gradients are complete: all-reduce (ddp) or reduce-scatter
 * (zero, fsdp) them. */
static int flush(sq_dist *d) {
    if (d->pend_hi <= d->pend_lo) return 0;
    size_t lo = d->pend_lo, hi = d->pend_hi;
    d->pend_lo = d->pend_hi = 0;
    int req; /* asynchronous: sq_dist_step waits for every call */
    if (d->strat == SQ_DDP) return d->comm->allreduce(d->comm, d->G + lo, hi - lo, &req);
    return scatter(d, lo, hi, &req);
}

static int on_ready(void *ctx, int layer, size_t lo, size_t hi) {
    sq_dist *d = ctx;
    double now = sq_now();
    d->layer_s[d->model_layers - layer] += now - d->t_mark; /* backward order: head first */
    d->t_mark = now;
    int rc = 0;
    if (d->final && (d->strat == SQ_DDP || d->strat == SQ_ZERO2 || d->strat == SQ_FSDP)) {
        if (d->pend_hi > d->pend_lo && hi != d->pend_lo) {
            rc = sq_err("gradient hook: layer %d's range [%zu, %zu) does not join the bucket at %zu", layer, lo, hi,
                        d->pend_lo);
        } else {
            if (d->pend_hi <= d->pend_lo) d->pend_hi = hi;
            d->pend_lo = lo;
            /* fsdp moves each layer as it completes; the others fill buckets. */
            if (d->strat == SQ_FSDP || (d->pend_hi - d->pend_lo) * sizeof(float) >= d->bucket_bytes || layer < 0)
                rc = flush(d);
        }
    }
    if (!rc && d->strat == SQ_FSDP) {
        /* This layer's backward is done: drop its gathered parameters, wait
         * for the next layer's (started one layer ago) and start the one
         * after. */
        poison(d, lo, hi);
        rc = wait_prefetch(d);
        if (!rc && layer - 2 >= -1) /* backward order: L (head), L-1, ..., 0, -1 (embeddings) */
            rc = prefetch(d, layer - 2);
    }
    d->comm->progress(d->comm);
    return rc;
}

/* Every rank starts from rank 0's parameters (as torch DDP does), so an
 * --init read differently or a seed bug cannot split the replicas.  In the
 * backend's own buffer, an all-gather in which rank 0 owns everything is
 * that broadcast, without a host round trip. */
static int from_rank0(sq_dist *d) {
    sq_backend *be = d->be;
    if (d->host) {
        float *p = be->model->params;
        if (be->pull(be, SQ_BUF_PARAMS) || d->comm->bcast(d->comm, p, d->n * sizeof *p, 0)) return -1;
        return be->push(be, SQ_BUF_PARAMS);
    }
    memset(d->counts, 0, (size_t)d->launch.world * sizeof *d->counts);
    d->counts[0] = d->n;
    return d->comm->allgather(d->comm, d->P, d->counts, NULL) || changed(d, 0, d->n) ? -1 : 0;
}

/* nccl moves the backend's own (device) buffers in place, ordered with its
 * stream (core/backend.h: stream); mpi moves host memory: the host mirrors, staged
 * for a backend with memory of its own. */
static int pick_buffers(sq_dist *d) {
    sq_backend *be = d->be;
    bool nccl = !strcmp(d->comm->name, "nccl");
    float *p = nccl && be->buffer ? be->buffer(be, SQ_BUF_PARAMS) : NULL;
    float *g = nccl && be->buffer ? be->buffer(be, SQ_BUF_GRADS) : NULL;
    if (!p || !g) {
        if (nccl) return sq_err("--comm nccl: the %s backend does not hand out its buffers; use --comm mpi", be->name);
        d->P = be->model->params, d->G = be->model->grads;
        d->host = true;
        d->staged = strcmp(be->name, "cpu") != 0;
        return 0;
    }
    d->P = p, d->G = g;
    d->host = p == be->model->params;
    if (d->host || !be->stream || !d->comm->bind_stream) return 0;
    return d->comm->bind_stream(d->comm, be->stream(be));
}

int sq_dist_attach(sq_dist *d, sq_backend *be, int micro_rows, int max_T, bool quiet) {
    sq_model *m = be->model;
    int W = d->launch.world;
    d->be = be;
    d->n = m->n_params;
    d->model_layers = m->cfg.layers;
    d->bucket_bytes = (size_t)(d->bucket_mb * 1024 * 1024);
    if (d->bucket_bytes < sizeof(float)) d->bucket_bytes = sizeof(float);
    d->shard = sq_calloc((size_t)W + 1, sizeof *d->shard);
    d->counts = sq_calloc((size_t)W, sizeof *d->counts);
    d->layer_s = sq_calloc((size_t)m->cfg.layers + 2, sizeof *d->layer_s);
    if (!d->shard || !d->counts || !d->layer_s) return -1;
    d->quiet = quiet;
    for (int r = 0; r <= W; r++) d->shard[r] = (size_t)((unsigned __int128)d->n * (unsigned)r / (unsigned)W);
    if (pick_buffers(d)) return -1;
    d->hook = (sq_grad_hook){on_ready, d};
    d->prefetch = -1;
    if (from_rank0(d)) return -1;
    poison(d, 0, d->n);
    sq_dist_mem_report(d, micro_rows, max_T, quiet);
    d->comm->bytes = d->comm->seconds = 0;
    return 0;
}

/* fsdp: every layer's parameters before the forward, in forward order
 * (backends without a per-layer forward hook). */
static int gather_all(sq_dist *d) {
    for (int l = -1; l <= d->model_layers; l++) {
        size_t lo, hi;
        layer_range(d, l, &lo, &hi);
        if (gather(d, lo, hi, NULL)) return -1;
    }
    return 0;
}

/* fsdp's forward hook, before layer `layer` (-1 embeddings .. L the head):
 * the previous layer is done, so its parameters are dropped; this layer's
 * gather (prefetched while the previous one ran, or started now for the
 * embeddings) is waited for, and the next layer's is started. */
static int on_forward(void *ctx, int layer, size_t lo, size_t hi) {
    sq_dist *d = ctx;
    if (layer > -1) {
        size_t a, b;
        layer_range(d, layer - 1, &a, &b);
        poison(d, a, b);
    }
    int rc = d->prefetch >= 0 ? wait_prefetch(d) : gather(d, lo, hi, NULL);
    if (!rc && layer < d->model_layers) rc = prefetch(d, layer + 1);
    d->comm->progress(d->comm);
    return rc;
}

int sq_dist_forward(sq_dist *d, const sq_batch *b, double *loss) {
    sq_backend *be = d->be;
    if (d->strat != SQ_FSDP) return be->forward(be, b, true, loss);
    if (d->staged) { /* the shard's fresh values are on the device */
        if (be->pull(be, SQ_BUF_PARAMS) || gather_all(d) || be->push(be, SQ_BUF_PARAMS)) return -1;
        return be->forward(be, b, true, loss);
    }
    if (be->forward_hooked) {
        sq_layer_hook hook = {on_forward, d};
        if (be->forward_hooked(be, b, true, loss, &hook)) return -1;
    } else if (gather_all(d) || be->forward(be, b, true, loss)) {
        return -1;
    }
    /* The forward is done with them: the head's are dropped too and come
     * back before the backward starts (every layer is gathered again before
     * its backward: the bytes bench/scaling predicts), with the top layer's
     * prefetched. */
    poison(d, 0, d->n);
    size_t lo, hi;
    layer_range(d, d->model_layers, &lo, &hi);
    if (gather(d, lo, hi, NULL)) return -1;
    return prefetch(d, d->model_layers - 1);
}

/* Staged backends: the final micro-step's gradients move on the host. */
static int staged_reduce(sq_dist *d) {
    sq_backend *be = d->be;
    if (d->strat == SQ_SINGLE) return 0;
    if (be->pull(be, SQ_BUF_GRADS)) return -1;
    if (d->strat == SQ_DDP ? d->comm->allreduce(d->comm, d->G, d->n, NULL) : scatter(d, 0, d->n, NULL)) return -1;
    return be->push(be, SQ_BUF_GRADS);
}

int sq_dist_backward(sq_dist *d, const sq_batch *b, bool final) {
    sq_backend *be = d->be;
    if (d->staged) {
        if (be->backward(be, b, NULL)) return -1;
        return final ? staged_reduce(d) : 0;
    }
    d->final = final;
    d->pend_lo = d->pend_hi = 0;
    /* The hook also times each layer's backward (every strategy, every
     * micro-step): the measured input of bench/scaling. */
    d->t_mark = sq_now();
    d->backwards++;
    int rc = be->backward(be, b, &d->hook);
    if (!rc && final) rc = flush(d);
    if (!rc && final && d->strat == SQ_ZERO1) rc = scatter(d, 0, d->n, NULL);
    if (!rc) rc = wait_prefetch(d);
    return rc;
}

int sq_dist_step(sq_dist *d, const sq_optim *o, long step, double *loss, double *lr, double *grad_norm) {
    sq_backend *be = d->be;
    if (d->comm->wait_all(d->comm)) return -1;
    if (!sq_dist_sharded(d)) {
        /* single, ddp: every rank holds the whole (reduced) gradient and
         * takes the trainer's own step on it; only the loss is summed. */
        if (d->launch.world > 1 && d->comm->allreduce_host(d->comm, loss, 1, false)) return -1;
        return sq_optimizer_step(be, o, step, lr, grad_norm);
    }
    /* The sharded strategies: the optimizer's step on the shard, with the
     * squared norm summed over the shards (with the loss). */
    int r = d->launch.rank;
    size_t lo = d->shard[r], hi = d->shard[r + 1];
    double red[2] = {*loss, 0};
    if (be->grad_sumsq(be, lo, hi, &red[1])) return -1;
    if (d->launch.world > 1 && d->comm->allreduce_host(d->comm, red, 2, false)) return -1;
    *loss = red[0];
    if (sq_optimizer_apply(be, o, step, red[1], lo, hi, lr, grad_norm)) return -1;
    if (d->strat == SQ_ZERO1 || d->strat == SQ_ZERO2) {
        if (d->staged && be->pull(be, SQ_BUF_PARAMS)) return -1;
        if (gather(d, 0, d->n, NULL)) return -1;
        if (d->staged && be->push(be, SQ_BUF_PARAMS)) return -1;
    }
    poison(d, 0, d->n);
    return 0;
}

int sq_dist_full_params(sq_dist *d) {
    if (d->strat != SQ_FSDP) return 0;
    if (d->staged && d->be->pull(d->be, SQ_BUF_PARAMS)) return -1;
    if (gather(d, 0, d->n, NULL)) return -1;
    return d->staged ? d->be->push(d->be, SQ_BUF_PARAMS) : 0;
}

void sq_dist_take_stats(sq_dist *d, double *bytes, double *seconds) {
    *bytes = d->comm->bytes;
    *seconds = d->comm->seconds;
    d->comm->bytes = d->comm->seconds = 0;
}

int sq_dist_sum(sq_dist *d, double *v, int n) {
    return d->launch.world > 1 ? d->comm->allreduce_host(d->comm, v, (size_t)n, false) : 0;
}

int sq_dist_any(sq_dist *d, int flag, int *any) {
    double x = flag;
    if (d->launch.world > 1 && d->comm->allreduce_host(d->comm, &x, 1, true)) return -1;
    *any = x != 0;
    return 0;
}

/* Mean backward seconds per layer, QA head first, for bench/scaling's
 * --layer-ms (the CPU's are exact; a GPU backend's only if its hook runs
 * after the layer's kernels finish). */
static void report_layer_times(const sq_dist *d) {
    if (d->quiet || d->launch.rank || !d->backwards || !d->layer_s) return;
    char line[2048];
    int k = 0;
    for (int i = 0; i < d->model_layers + 2 && k < (int)sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %.3f", 1e3 * d->layer_s[i] / (double)d->backwards);
    sq_info("backward ms per layer (QA head, layers %d..0, embeddings; mean of %ld):%s", d->model_layers - 1,
            d->backwards, line);
}

void sq_dist_close(sq_dist *d) {
    if (!d) return;
    report_layer_times(d);
    if (d->comm) d->comm->free(d->comm);
    free(d->shard);
    free(d->counts);
    free(d->layer_s);
    free(d);
}
