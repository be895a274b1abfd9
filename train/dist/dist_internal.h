/* The state of a distributed run, shared by dist.c (the strategies),
 * dist_ckpt.c (sharded checkpoints) and dist_mem.c (the memory report). */
#ifndef SQ_TRAIN_DIST_INTERNAL_H
#define SQ_TRAIN_DIST_INTERNAL_H

#include "dist/dist.h"

#include <stdbool.h>
#include <stddef.h>

struct sq_dist {
    sq_strategy strat;
    sq_launch launch;
    sq_comm *comm;
    sq_backend *be;
    double bucket_mb;
    size_t bucket_bytes;
    size_t n;                 /* floats in the flat buffer */
    int model_layers;
    size_t *shard;            /* [world + 1]: rank r owns [shard[r], shard[r+1]) */
    size_t *counts;           /* [world] scratch for the sharded calls */
    float *P, *G;             /* the buffers the collectives work on */
    bool host;                /* P and G are host memory */
    bool staged;              /* the backend has its own memory: pull, move on the host, push */
    sq_grad_hook hook;
    bool final;               /* this backward is the step's last micro-batch */
    size_t pend_lo, pend_hi;  /* the bucket being filled */
    int prefetch;             /* fsdp: the gather in flight, -1 when none */
    size_t pre_lo, pre_hi;    /* its range, refreshed in the backend when it arrives */
    bool quiet;
    double t_mark;            /* when the last layer's backward ended */
    double *layer_s;          /* [layers + 2] backward seconds per layer, QA head first */
    long backwards;
};

bool sq_dist_sharded(const sq_dist *d);
/* Prints what this rank holds (every rank) and the per-strategy totals
 * (rank 0), unless quiet. */
void sq_dist_mem_report(const sq_dist *d, int micro_rows, int max_T, bool quiet);

#endif
